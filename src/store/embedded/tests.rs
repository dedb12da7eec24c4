use super::*;
use crate::store::StoredAnswer;
use crate::store::conformance::{ack, record, record_with_time};

/// sled's own threads release the file lock a moment after a handle is dropped, so reopening
/// polls, bounded.
fn when_free<T, E: std::fmt::Debug>(open: impl Fn() -> Result<T, E>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match open() {
            Ok(t) => return t,
            Err(e) if std::time::Instant::now() > deadline => panic!("cannot reopen: {e:?}"),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
}

#[tokio::test]
async fn a_store_of_layout_1_is_moved_into_the_one_tree_on_open() {
    use crate::orchestrator::{Timer, TimerKind};
    let dir = tempfile::tempdir().unwrap();
    let v1 = |value: serde_json::Value| {
        let mut value = value;
        value["v"] = 1.into();
        serde_json::to_vec(&value).unwrap()
    };
    let order = Order::sample("O1");
    let timer = Timer {
        order_id: "O1".into(),
        due_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        kind: TimerKind::AwaitingSeller {
            request_id: "r1".into(),
        },
    };
    {
        // Written as layout 1 wrote it: a tree per entity, JSON values with `"v": 1`.
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let rec = record("M1");
        db.open_tree("inbound")
            .unwrap()
            .insert(1u64.to_be_bytes(), v1(serde_json::to_value(&rec).unwrap()))
            .unwrap();
        db.open_tree("inbound_dedupe")
            .unwrap()
            .insert(
                rec.dedupe_key().to_bytes(),
                v1(serde_json::json!({"seq": 1, "answer": {"status": 200, "body": "first"}})),
            )
            .unwrap();
        db.open_tree("orders")
            .unwrap()
            .insert("O1", v1(serde_json::to_value(&order).unwrap()))
            .unwrap();
        db.open_tree("txn_index")
            .unwrap()
            .insert(order.retail.transaction_id.as_str(), "O1")
            .unwrap();
        let mut log_key = b"O1\0".to_vec();
        log_key.extend_from_slice(&7u64.to_be_bytes());
        db.open_tree("order_log")
            .unwrap()
            .insert(log_key, v1(serde_json::json!({"in": {"seq": 1}})))
            .unwrap();
        let mut timer_key = 1_700_000_000_000u64.to_be_bytes().to_vec();
        timer_key.extend_from_slice(b"O1\0awaiting_seller:r1");
        db.open_tree("timers")
            .unwrap()
            .insert(timer_key, v1(serde_json::to_value(&timer).unwrap()))
            .unwrap();
        db.open_tree("registry_cache").unwrap().insert("k", "v").unwrap();
        db.open_tree("outbox_pending").unwrap().insert("X", "O1").unwrap();
        db.flush().unwrap();
    }
    let store = when_free(|| SledStore::open(dir.path()));
    let audit = store.inbound_after(0, 10).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].1, record_with_time(&audit[0].1, "M1"));
    assert_eq!(
        store.accept_inbound(record("M1"), &ack).await.unwrap(),
        Accepted::Duplicate {
            first: StoredAnswer {
                status: 200,
                body: "first".into()
            }
        },
        "the dedupe record moved with it"
    );
    assert_eq!(store.order("O1").await.unwrap(), Some(order));
    assert_eq!(store.timeline("O1").await.unwrap().len(), 1);
    assert_eq!(store.next_timer().await.unwrap(), Some(timer.due_at));
    assert_eq!(
        store.registry_entries().await.unwrap(),
        vec![("k".to_owned(), b"v".to_vec())]
    );
    drop(store);
    let db = when_free(|| sled::Config::new().path(dir.path()).open());
    let names: Vec<_> = db.tree_names();
    assert!(
        !names
            .iter()
            .any(|n| n.as_ref() == b"inbound" || n.as_ref() == b"outbox_pending"),
        "the old trees are dropped"
    );
}

#[tokio::test]
async fn pruning_removes_whole_past_segment_files() {
    // What pruning keeps and forgets is a conformance check (`store::conformance`); here, that
    // the embedded store does it by deleting whole segment files.
    let dir = tempfile::tempdir().unwrap();
    // Small segments: each record (about 300 bytes) fills one.
    let store = SledStore::open_with(dir.path(), 200).unwrap();
    for id in ["M1", "M2", "M3"] {
        store.accept_inbound(record(id), &ack).await.unwrap();
    }
    let segments = || {
        std::fs::read_dir(dir.path().join("audit"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".seg")
            })
            .count()
    };
    assert_eq!(segments(), 4, "three full segments and the empty tail");
    let an_hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    assert_eq!(
        store.prune_audit(an_hour_ago).await.unwrap(),
        0,
        "nothing is that old"
    );
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    assert_eq!(store.prune_audit(later).await.unwrap(), 3);
    // The prune's own changes go to the tail (with these tiny segments, filling it too).
    for id in 1..=3u64 {
        let name = format!("audit-{id:016x}.seg");
        assert!(
            !dir.path().join("audit").join(name).exists(),
            "segment {id} removed"
        );
    }
    assert!(segments() <= 2, "only the tail and what the prune wrote are left");
}
