use super::*;
use crate::protocol::Action;
use crate::store::StoredAnswer;

fn ack(_: Option<&Order>) -> Decision {
    Decision {
        answer: StoredAnswer {
            status: 200,
            body: "ack".into(),
        },
        effect: None,
    }
}

fn record(message_id: &str) -> InboundRecord {
    InboundRecord {
        sender: "seller.example.com".parse().unwrap(),
        action: Action::OnCancel,
        message_id: crate::protocol::MessageId::parse(message_id).unwrap(),
        transaction_id: crate::protocol::TransactionId::parse("T1").unwrap(),
        received_at: chrono::Utc::now(),
        headers: vec![("authorization".into(), "Signature …".into())],
        body: "{\"a\":1}".into(),
        verification: crate::store::Verification {
            key_id: "seller.example.com|k|ed25519".into(),
            gateway_key_id: None,
        },
        answer: StoredAnswer {
            status: 200,
            body: "ack".into(),
        },
    }
}

#[tokio::test]
async fn a_duplicate_is_answered_as_the_first_and_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let first = store.accept_inbound(record("M1"), &ack).await.unwrap();
    assert!(matches!(first, Accepted::New { .. }));
    let mut again = record("M1");
    again.answer.body = "different".into();
    let different = |_: Option<&Order>| Decision {
        answer: StoredAnswer {
            status: 400,
            body: "nack".into(),
        },
        effect: None,
    };
    assert!(matches!(
        store.accept_inbound(again.clone(), &different).await.unwrap(),
        Accepted::Duplicate { .. }
    ));
    assert_eq!(
        store.accept_inbound(again, &ack).await.unwrap(),
        Accepted::Duplicate {
            first: StoredAnswer {
                status: 200,
                body: "ack".into()
            }
        }
    );
    store.accept_inbound(record("M2"), &ack).await.unwrap();
    let all = store.inbound_after(0, 10).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].1, record_with_time(&all[0].1, "M1"));
}

fn record_with_time(stored: &InboundRecord, id: &str) -> InboundRecord {
    InboundRecord {
        received_at: stored.received_at,
        ..record(id)
    }
}

#[tokio::test]
async fn what_was_acknowledged_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.accept_inbound(record("M1"), &ack).await.unwrap();
        store.put_registry_entry("k", b"v".to_vec()).await.unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.inbound_after(0, 10).await.unwrap().len(), 1);
    assert_eq!(
        store.registry_entries().await.unwrap(),
        vec![("k".to_owned(), b"v".to_vec())]
    );
    assert!(matches!(
        store.accept_inbound(record("M1"), &ack).await.unwrap(),
        Accepted::Duplicate { .. }
    ));
}

#[tokio::test]
async fn a_timer_fires_once_in_due_order_and_survives_reopening() {
    use crate::orchestrator::{Timer, TimerKind};
    let dir = tempfile::tempdir().unwrap();
    let t = |h: i64, id: &str| Timer {
        order_id: id.into(),
        due_at: chrono::DateTime::from_timestamp(1_700_000_000 + h * 3600, 0).unwrap(),
        kind: TimerKind::AwaitingSeller {
            request_id: format!("r-{id}"),
        },
    };
    {
        let store = SledStore::open(dir.path()).unwrap();
        // Written through the path every timer takes: an order change's effect.
        let order = crate::orchestrator::Order::sample("O1");
        assert!(store.insert_order(&order).await.unwrap());
        let effect = |o: &Order| {
            Ok(Effect {
                timers: vec![t(2, "O1"), t(1, "O1")],
                ..Effect::unchanged(o)
            })
        };
        store.update_order("O1", &effect).await.unwrap().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    let at = |h: i64| chrono::DateTime::from_timestamp(1_700_000_000 + h * 3600, 0).unwrap();
    assert!(store.due_timers(at(0), 10).await.unwrap().is_empty());
    assert_eq!(store.next_timer().await.unwrap(), Some(at(1)));
    let due = store.due_timers(at(3), 10).await.unwrap();
    assert_eq!(due, vec![t(1, "O1"), t(2, "O1")], "earliest first");
    let seen = std::sync::atomic::AtomicUsize::new(0);
    let decide = |o: &Order| {
        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(Effect::unchanged(o))
    };
    assert!(store.fire_timer(&due[0], &decide).await.unwrap());
    assert!(!store.fire_timer(&due[0], &decide).await.unwrap(), "fires once");
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(store.due_timers(at(3), 10).await.unwrap(), vec![t(2, "O1")]);
}

#[tokio::test]
async fn the_outbox_is_read_in_due_order_without_the_entries_not_yet_due() {
    let dir = tempfile::tempdir().unwrap();
    let at = |s: i64| chrono::DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap();
    let entry = |id: &str, due: i64| OutboxEntry {
        message_id: crate::protocol::MessageId::parse(id).unwrap(),
        order_id: "O1".into(),
        action: "cancel".into(),
        destination: crate::store::Destination::Webhook,
        url: "http://127.0.0.1:9/".into(),
        body: "{}".into(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: at(due),
        last_error: None,
        created_at: at(0),
        delivered_at: None,
    };
    {
        let store = SledStore::open(dir.path()).unwrap();
        assert!(store.insert_order(&Order::sample("O1")).await.unwrap());
        let effect = |o: &Order| {
            Ok(Effect {
                outbox: vec![entry("M3", 30), entry("M1", 10), entry("M2", 20)],
                ..Effect::unchanged(o)
            })
        };
        store.update_order("O1", &effect).await.unwrap().unwrap();
        let ids = |v: Vec<OutboxEntry>| {
            v.into_iter()
                .map(|e| e.message_id.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(store.next_due().await.unwrap(), Some(at(10)));
        assert!(store.due_outbox(at(9), 10).await.unwrap().is_empty());
        assert_eq!(ids(store.due_outbox(at(20), 10).await.unwrap()), ["M1", "M2"]);
        assert_eq!(
            ids(store.due_outbox(at(99), 1).await.unwrap()),
            ["M1"],
            "the limit keeps the earliest"
        );
        // M1 is retried later, M2 is delivered: the index follows both.
        store
            .save_delivery(&OutboxEntry {
                attempts: 1,
                ..entry("M1", 40)
            })
            .await
            .unwrap();
        store
            .save_delivery(&OutboxEntry {
                status: DeliveryStatus::Delivered,
                ..entry("M2", 20)
            })
            .await
            .unwrap();
        assert_eq!(ids(store.due_outbox(at(99), 10).await.unwrap()), ["M3", "M1"]);
        assert_eq!(store.next_due().await.unwrap(), Some(at(30)));
    }
    let store = when_free(|| SledStore::open(dir.path()));
    assert_eq!(store.next_due().await.unwrap(), Some(at(30)));
    assert_eq!(store.due_outbox(at(99), 10).await.unwrap().len(), 2);
}

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
async fn pruning_removes_whole_past_segments_with_their_dedupe_entries() {
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
    assert_eq!(segments(), 1, "only the tail is left");
    assert!(store.inbound_after(0, 10).await.unwrap().is_empty());
    assert!(
        matches!(
            store.accept_inbound(record("M1"), &ack).await.unwrap(),
            Accepted::New { .. }
        ),
        "its dedupe entry went with it"
    );
    drop(store);
    let store = when_free(|| SledStore::open_with(dir.path(), 200));
    let kept = store.inbound_after(0, 10).await.unwrap();
    assert_eq!(kept.len(), 1, "the copy after pruning survives a restart");
}

#[tokio::test]
async fn an_order_keeps_its_newest_timeline_lines_and_a_user_its_newest_notifications() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path())
        .unwrap()
        .with_bounds(crate::store::Bounds {
            timeline_per_order: 3,
            notifications_per_user: 2,
        });
    assert!(store.insert_order(&Order::sample("O1")).await.unwrap());
    let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let entry = |id: String| OutboxEntry {
        message_id: crate::protocol::MessageId::parse(&id).unwrap(),
        order_id: "O1".into(),
        action: "cancel".into(),
        destination: crate::store::Destination::Webhook,
        url: "http://127.0.0.1:9/".into(),
        body: "{}".into(),
        status: DeliveryStatus::Delivered,
        attempts: 1,
        next_attempt_at: at,
        last_error: None,
        created_at: at,
        delivered_at: None,
    };
    let note = |n: usize| Notification {
        id: format!("N{n}"),
        user_id: "U1".into(),
        order_id: "O1".into(),
        kind: "k".into(),
        request_id: None,
        message: format!("note {n}"),
        at,
    };
    // Five lines and four notifications in one change, then two more of each in another.
    let first = |o: &Order| {
        Ok(Effect {
            outbox: (1..=5).map(|i| entry(format!("M{i}"))).collect(),
            notifications: (1..=4).map(note).collect(),
            ..Effect::unchanged(o)
        })
    };
    store.update_order("O1", &first).await.unwrap().unwrap();
    let second = |o: &Order| {
        Ok(Effect {
            outbox: (6..=7).map(|i| entry(format!("M{i}"))).collect(),
            notifications: (5..=6).map(note).collect(),
            ..Effect::unchanged(o)
        })
    };
    store.update_order("O1", &second).await.unwrap().unwrap();
    let lines: Vec<String> = store
        .timeline("O1")
        .await
        .unwrap()
        .into_iter()
        .map(|l| match l {
            TimelineItem::Out { entry } => entry.message_id.to_string(),
            TimelineItem::In { seq, .. } => seq.to_string(),
        })
        .collect();
    assert_eq!(lines, ["M5", "M6", "M7"]);
    let notes: Vec<String> = store
        .notifications("U1")
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(notes, ["N5", "N6"]);
}
