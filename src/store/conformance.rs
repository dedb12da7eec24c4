//! What every [`Store`] must do, run against each backend: the embedded sled store on a
//! temporary directory, and PostgreSQL on a new database of the server at `DATABASE_URL`
//! (`scripts/test` starts a throwaway one). A test that cannot reach PostgreSQL fails.

use super::{
    Accepted, Bounds, Decision, DeliveryStatus, Destination, Effect, InboundRecord, Notification,
    OutboxEntry, PgOptions, PgStore, SledStore, Store, StoredAnswer, TimelineItem, Verification,
};
use crate::orchestrator::{Order, Timer, TimerKind};
use crate::protocol::{Action, MessageId, TransactionId};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Opens a backend's store, again and again on the same state.
pub(crate) enum Harness {
    Sled(tempfile::TempDir),
    Postgres(String),
}

impl Harness {
    pub(crate) fn sled() -> Self {
        Self::Sled(tempfile::tempdir().expect("a temporary directory"))
    }

    /// A new database on the test server.
    pub(crate) async fn postgres() -> Self {
        let base = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
            panic!("DATABASE_URL is not set: run scripts/test, which starts a throwaway PostgreSQL")
        });
        let name = format!("gw_unit_{}", uuid::Uuid::new_v4().simple());
        let url = super::create_database(&base, &name)
            .await
            .unwrap_or_else(|e| panic!("cannot create a test database at {}: {e:?}", super::redact(&base)));
        Self::Postgres(url)
    }

    pub(crate) async fn open(&self) -> Arc<dyn Store> {
        self.open_bounded(Bounds::default()).await
    }

    pub(crate) async fn open_bounded(&self, bounds: Bounds) -> Arc<dyn Store> {
        match self {
            Self::Sled(dir) => {
                // Small audit segments, so that pruning has whole past segments to remove. sled
                // releases its file lock a moment after the last handle is dropped.
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                loop {
                    match SledStore::open_with(dir.path(), 200) {
                        Ok(s) => return Arc::new(s.with_bounds(bounds)),
                        Err(e) if std::time::Instant::now() > deadline => panic!("cannot reopen: {e:?}"),
                        Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
                    }
                }
            }
            Self::Postgres(url) => Arc::new(
                PgStore::open(PgOptions {
                    url: url.clone(),
                    pool_size: 4,
                    lease: std::time::Duration::from_secs(60),
                    bounds,
                })
                .await
                .expect("the test database opens"),
            ),
        }
    }
}

pub(crate) fn ack(_: Option<&Order>) -> Decision {
    Decision {
        answer: StoredAnswer {
            status: 200,
            body: "ack".into(),
        },
        effect: None,
    }
}

pub(crate) fn record(message_id: &str) -> InboundRecord {
    InboundRecord {
        sender: "seller.example.com".parse().expect("an id"),
        action: Action::OnCancel,
        message_id: MessageId::parse(message_id).expect("an id"),
        transaction_id: TransactionId::parse("T1").expect("an id"),
        received_at: chrono::Utc::now(),
        headers: vec![("authorization".into(), "Signature …".into())],
        body: "{\"a\":1}".into(),
        verification: Verification {
            key_id: "seller.example.com|k|ed25519".into(),
            gateway_key_id: None,
        },
        answer: StoredAnswer {
            status: 200,
            body: "ack".into(),
        },
    }
}

/// `record(id)` as stored: with the time it was stored with.
pub(crate) fn record_with_time(stored: &InboundRecord, id: &str) -> InboundRecord {
    InboundRecord {
        received_at: stored.received_at,
        ..record(id)
    }
}

fn at(secs: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_700_000_000 + secs, 0).expect("a time")
}

fn entry(id: &str, due: i64, status: DeliveryStatus) -> OutboxEntry {
    OutboxEntry {
        message_id: MessageId::parse(id).expect("an id"),
        order_id: "O1".into(),
        action: "cancel".into(),
        destination: Destination::Webhook,
        url: "http://127.0.0.1:9/".into(),
        body: "{}".into(),
        status,
        attempts: 0,
        next_attempt_at: at(due),
        last_error: None,
        created_at: at(0),
        delivered_at: None,
    }
}

/// Notification `N{n}` for user U1 about order O1.
pub(crate) fn notification(n: usize) -> Notification {
    Notification {
        id: format!("N{n}"),
        user_id: "U1".into(),
        order_id: "O1".into(),
        kind: "k".into(),
        request_id: None,
        message: format!("note {n}"),
        at: at(0),
    }
}

/// The ids of user U1's notifications, as `store` lists them.
pub(crate) async fn notification_ids(store: &dyn Store) -> Vec<String> {
    store
        .notifications("U1")
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect()
}

fn ids(v: Vec<OutboxEntry>) -> Vec<String> {
    v.into_iter().map(|e| e.message_id.to_string()).collect()
}

pub(crate) async fn a_duplicate_is_answered_as_the_first_and_stored_once(h: Harness) {
    let store = h.open().await;
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
    assert_eq!(
        store.inbound_after(all[0].0, 10).await.unwrap().len(),
        1,
        "after a sequence number"
    );
}

pub(crate) async fn what_was_acknowledged_survives_reopening(h: Harness) {
    {
        let store = h.open().await;
        store.accept_inbound(record("M1"), &ack).await.unwrap();
        store.put_registry_entry("k", b"v".to_vec()).await.unwrap();
        store.put_registry_entry("k", b"w".to_vec()).await.unwrap();
    }
    let store = h.open().await;
    assert_eq!(store.inbound_after(0, 10).await.unwrap().len(), 1);
    assert_eq!(
        store.registry_entries().await.unwrap(),
        vec![("k".to_owned(), b"w".to_vec())]
    );
    assert!(matches!(
        store.accept_inbound(record("M1"), &ack).await.unwrap(),
        Accepted::Duplicate { .. }
    ));
}

pub(crate) async fn an_order_is_registered_once_and_found_by_its_transactions(h: Harness) {
    let store = h.open().await;
    let order = Order::sample("O1");
    assert!(store.insert_order(&order).await.unwrap());
    assert!(!store.insert_order(&order).await.unwrap(), "the id is taken");
    let mut other = Order::sample("O2");
    other.retail.transaction_id = order.retail.transaction_id.clone();
    assert!(
        !store.insert_order(&other).await.unwrap(),
        "the transaction id is taken"
    );
    assert_eq!(store.order("O2").await.unwrap(), None, "nothing of it was kept");
    assert_eq!(store.order("O1").await.unwrap(), Some(order.clone()));
    // A message on the order's transaction is decided with the order and lands on its timeline.
    let seen = std::sync::Mutex::new(None);
    let decide = |o: Option<&Order>| {
        *seen.lock().unwrap() = o.map(|o| o.id.clone());
        ack(o)
    };
    let mut on_order = record("M1");
    on_order.transaction_id = order.retail.transaction_id.clone();
    store.accept_inbound(on_order, &decide).await.unwrap();
    assert_eq!(seen.lock().unwrap().as_deref(), Some("O1"));
    assert!(matches!(
        store.timeline("O1").await.unwrap().as_slice(),
        [TimelineItem::In { .. }]
    ));
}

pub(crate) async fn a_timer_fires_once_in_due_order_and_survives_reopening(h: Harness) {
    let t = |h: i64, id: &str| Timer {
        order_id: id.into(),
        due_at: at(h * 3600),
        kind: TimerKind::AwaitingSeller {
            request_id: format!("r-{id}"),
        },
    };
    {
        let store = h.open().await;
        // Written through the path every timer takes: an order change's effect.
        let order = Order::sample("O1");
        assert!(store.insert_order(&order).await.unwrap());
        let effect = |o: &Order| {
            Ok(Effect {
                timers: vec![t(2, "O1"), t(1, "O1")],
                ..Effect::unchanged(o)
            })
        };
        store.update_order("O1", &effect).await.unwrap().unwrap();
    }
    let store = h.open().await;
    assert!(store.due_timers(at(0), 10).await.unwrap().is_empty());
    assert_eq!(store.next_timer().await.unwrap(), Some(at(3600)));
    let due = store.due_timers(at(3 * 3600), 10).await.unwrap();
    assert_eq!(due, vec![t(1, "O1"), t(2, "O1")], "earliest first");
    let seen = AtomicUsize::new(0);
    let decide = |o: &Order| {
        seen.fetch_add(1, Ordering::SeqCst);
        Ok(Effect::unchanged(o))
    };
    assert!(store.fire_timer(&due[0], &decide).await.unwrap());
    assert!(!store.fire_timer(&due[0], &decide).await.unwrap(), "fires once");
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    assert_eq!(
        store.due_timers(at(3 * 3600), 10).await.unwrap(),
        vec![t(2, "O1")]
    );
}

pub(crate) async fn the_outbox_is_read_in_due_order_without_the_entries_not_yet_due(h: Harness) {
    let pending = |id, due| entry(id, due, DeliveryStatus::Pending);
    {
        let store = h.open().await;
        assert!(store.insert_order(&Order::sample("O1")).await.unwrap());
        let effect = |o: &Order| {
            Ok(Effect {
                outbox: vec![pending("M3", 30), pending("M1", 10), pending("M2", 20)],
                ..Effect::unchanged(o)
            })
        };
        store.update_order("O1", &effect).await.unwrap().unwrap();
        assert_eq!(store.pending_outbox(), 3);
        assert_eq!(store.next_due().await.unwrap(), Some(at(10)));
        assert!(store.due_outbox(at(9), 10).await.unwrap().is_empty());
        assert_eq!(
            ids(store.due_outbox(at(15), 1).await.unwrap()),
            ["M1"],
            "the limit keeps the earliest"
        );
        assert_eq!(
            ids(store.due_outbox(at(20), 10).await.unwrap())[..],
            ["M2"][..],
            "M1 is taken, M2 due"
        );
        // M1 is retried later, M2 is delivered: the due order follows both.
        store
            .save_delivery(&OutboxEntry {
                attempts: 1,
                ..pending("M1", 40)
            })
            .await
            .unwrap();
        store
            .save_delivery(&entry("M2", 20, DeliveryStatus::Delivered))
            .await
            .unwrap();
        assert_eq!(store.pending_outbox(), 2);
    }
    let store = h.open().await;
    assert_eq!(store.next_due().await.unwrap(), Some(at(30)));
    assert_eq!(ids(store.due_outbox(at(100), 10).await.unwrap()), ["M3", "M1"]);
    let timeline = store.timeline("O1").await.unwrap();
    let delivered = timeline.iter().any(|l| {
        matches!(l, TimelineItem::Out { entry } if entry.message_id.as_str() == "M2" && entry.status == DeliveryStatus::Delivered)
    });
    assert!(delivered, "the timeline shows the delivery: {timeline:?}");
}

pub(crate) async fn a_failed_message_is_requeued_once(h: Harness) {
    use super::RequeueError;
    let store = h.open().await;
    assert!(store.insert_order(&Order::sample("O1")).await.unwrap());
    let effect = |o: &Order| {
        Ok(Effect {
            outbox: vec![entry("M1", 0, DeliveryStatus::Pending)],
            ..Effect::unchanged(o)
        })
    };
    store.update_order("O1", &effect).await.unwrap().unwrap();
    assert_eq!(
        store.requeue_failed("O1", "M1").await.unwrap(),
        Err(RequeueError::NotFailed)
    );
    let claimed = store.due_outbox(at(1), 10).await.unwrap();
    assert_eq!(ids(claimed), ["M1"]);
    store
        .save_delivery(&OutboxEntry {
            attempts: 8,
            ..entry("M1", 0, DeliveryStatus::Failed)
        })
        .await
        .unwrap();
    assert_eq!(
        store.requeue_failed("O2", "M1").await.unwrap(),
        Err(RequeueError::NotFound)
    );
    assert_eq!(
        store.requeue_failed("O1", "M9").await.unwrap(),
        Err(RequeueError::NotFound)
    );
    let back = store.requeue_failed("O1", "M1").await.unwrap().unwrap();
    assert_eq!((back.status, back.attempts), (DeliveryStatus::Pending, 0));
    assert_eq!(
        ids(store.due_outbox(chrono::Utc::now(), 10).await.unwrap()),
        ["M1"]
    );
}

pub(crate) async fn pruning_removes_past_records_with_their_dedupe_entries(h: Harness) {
    let store = h.open().await;
    for id in ["M1", "M2", "M3"] {
        store.accept_inbound(record(id), &ack).await.unwrap();
    }
    let an_hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    assert_eq!(
        store.prune_audit(an_hour_ago).await.unwrap(),
        0,
        "nothing is that old"
    );
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    assert_eq!(store.prune_audit(later).await.unwrap(), 3);
    assert!(store.inbound_after(0, 10).await.unwrap().is_empty());
    assert!(
        matches!(
            store.accept_inbound(record("M1"), &ack).await.unwrap(),
            Accepted::New { .. }
        ),
        "its dedupe entry went with it"
    );
    drop(store);
    let store = h.open().await;
    assert_eq!(
        store.inbound_after(0, 10).await.unwrap().len(),
        1,
        "the copy after pruning survives a restart"
    );
}

pub(crate) async fn an_order_keeps_its_newest_timeline_lines_and_a_user_its_newest_notifications(h: Harness) {
    let store = h
        .open_bounded(Bounds {
            timeline_per_order: 3,
            notifications_per_user: 2,
        })
        .await;
    assert!(store.insert_order(&Order::sample("O1")).await.unwrap());
    let delivered = |id: String| entry(&id, 0, DeliveryStatus::Delivered);
    // Five lines and four notifications in one change, then two more of each in another.
    let first = |o: &Order| {
        Ok(Effect {
            outbox: (1..=5).map(|i| delivered(format!("M{i}"))).collect(),
            notifications: (1..=4).map(notification).collect(),
            ..Effect::unchanged(o)
        })
    };
    store.update_order("O1", &first).await.unwrap().unwrap();
    let second = |o: &Order| {
        Ok(Effect {
            outbox: (6..=7).map(|i| delivered(format!("M{i}"))).collect(),
            notifications: (5..=6).map(notification).collect(),
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
    assert_eq!(notification_ids(&*store).await, ["N5", "N6"]);
}

/// One test per backend for each conformance check.
macro_rules! each_backend {
    ($($check:ident),* $(,)?) => {
        mod sled_backend {
            $(
                #[tokio::test]
                async fn $check() {
                    super::$check(super::Harness::sled()).await
                }
            )*
        }
        mod postgres_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::$check(super::Harness::postgres().await).await
                }
            )*
        }
    };
}

each_backend!(
    a_duplicate_is_answered_as_the_first_and_stored_once,
    what_was_acknowledged_survives_reopening,
    an_order_is_registered_once_and_found_by_its_transactions,
    a_timer_fires_once_in_due_order_and_survives_reopening,
    the_outbox_is_read_in_due_order_without_the_entries_not_yet_due,
    a_failed_message_is_requeued_once,
    pruning_removes_past_records_with_their_dedupe_entries,
    an_order_keeps_its_newest_timeline_lines_and_a_user_its_newest_notifications,
);
