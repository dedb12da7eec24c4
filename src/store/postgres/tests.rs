//! Two nodes on one database: what only a shared store must get right.

use crate::orchestrator::{Order, Timer, TimerKind};
use crate::store::conformance::{Harness, notification, notification_ids, record};
use crate::store::{Accepted, Decision, DeliveryStatus, Destination, Effect, OutboxEntry, StoredAnswer};
use std::sync::atomic::{AtomicUsize, Ordering};

fn at(secs: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_given_the_same_message_make_one_effect_and_give_one_answer() {
    let h = Harness::postgres().await;
    let (a, b) = (h.open().await, h.open().await);
    let order = Order::sample("O1");
    assert!(a.insert_order(&order).await.unwrap());
    let decided = AtomicUsize::new(0);
    for round in 0..20 {
        let id = format!("M{round}");
        let mut message = record(&id);
        message.transaction_id = order.retail.transaction_id.clone();
        let decide = |o: Option<&Order>| {
            decided.fetch_add(1, Ordering::SeqCst);
            let mut next = o.unwrap().clone();
            next.customer_id.push('x');
            Decision {
                answer: StoredAnswer {
                    status: 200,
                    body: format!("answer {round}"),
                },
                effect: Some(Effect::unchanged(&next)),
            }
        };
        let (x, y) = tokio::join!(
            a.accept_inbound(message.clone(), &decide),
            b.accept_inbound(message, &decide)
        );
        let answers = [x.unwrap(), y.unwrap()];
        let new = answers
            .iter()
            .filter(|a| matches!(a, Accepted::New { .. }))
            .count();
        assert_eq!(new, 1, "round {round}: one node takes it, {answers:?}");
        for answer in &answers {
            let text = match answer {
                Accepted::New { answer, .. } => &answer.body,
                Accepted::Duplicate { first } => &first.body,
            };
            assert_eq!(text, &format!("answer {round}"), "both give the first answer");
        }
    }
    let customer = a.order("O1").await.unwrap().unwrap().customer_id;
    assert_eq!(
        customer,
        format!("{}{}", order.customer_id, "x".repeat(20)),
        "one change per message, none lost"
    );
    assert_eq!(
        a.inbound_after(0, 100).await.unwrap().len(),
        20,
        "each stored once"
    );
    assert!(decided.load(Ordering::SeqCst) >= 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_of_one_order_from_two_nodes_are_not_lost() {
    let h = Harness::postgres().await;
    let (a, b) = (h.open().await, h.open().await);
    let order = Order::sample("O1");
    assert!(a.insert_order(&order).await.unwrap());
    let grow = |o: &Order| {
        let mut next = o.clone();
        next.customer_id.push('x');
        Ok(Effect::unchanged(&next))
    };
    let node = |s: std::sync::Arc<dyn crate::store::Store>| async move {
        for _ in 0..25 {
            s.update_order("O1", &grow).await.unwrap().unwrap();
        }
    };
    tokio::join!(node(a.clone()), node(b.clone()));
    let customer = b.order("O1").await.unwrap().unwrap().customer_id;
    assert_eq!(customer.len(), order.customer_id.len() + 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_entry_is_claimed_by_one_node_and_taken_over_when_its_lease_lapses() {
    let h = Harness::postgres().await;
    let (a, b) = (h.open().await, h.open().await);
    assert!(a.insert_order(&Order::sample("O1")).await.unwrap());
    let entry = |i: usize| OutboxEntry {
        message_id: crate::protocol::MessageId::parse(&format!("M{i}")).unwrap(),
        order_id: "O1".into(),
        action: "cancel".into(),
        destination: Destination::Webhook,
        url: "http://127.0.0.1:9/".into(),
        body: "{}".into(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: at(0),
        last_error: None,
        created_at: at(0),
        delivered_at: None,
    };
    let effect = |o: &Order| {
        Ok(Effect {
            outbox: (0..40).map(entry).collect(),
            ..Effect::unchanged(o)
        })
    };
    a.update_order("O1", &effect).await.unwrap().unwrap();
    // Both nodes ask at once, in small batches: every entry goes to exactly one.
    let (x, y) = tokio::join!(
        async {
            let mut got = Vec::new();
            for _ in 0..10 {
                got.extend(a.due_outbox(at(1), 3).await.unwrap());
            }
            got
        },
        async {
            let mut got = Vec::new();
            for _ in 0..10 {
                got.extend(b.due_outbox(at(1), 3).await.unwrap());
            }
            got
        }
    );
    let mut all: Vec<String> = x.iter().chain(&y).map(|e| e.message_id.to_string()).collect();
    assert_eq!(all.len(), 40, "every entry handed out once");
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 40, "no entry handed out twice");
    // Node a delivers one of its entries; the rest of a's claims lapse (a died) and b takes them.
    let mut delivered = x[0].clone();
    delivered.status = DeliveryStatus::Delivered;
    a.save_delivery(&delivered).await.unwrap();
    assert!(
        b.due_outbox(at(30), 100).await.unwrap().is_empty(),
        "still leased"
    );
    let taken = b.due_outbox(at(62), 100).await.unwrap();
    assert_eq!(taken.len(), 39, "every lapsed claim, not the delivered one");
    // A late save from the node that lost the lease does not undo the delivery.
    let mut late = x[0].clone();
    late.attempts = 1;
    a.save_delivery(&late).await.unwrap();
    assert!(
        b.due_outbox(at(200), 100)
            .await
            .unwrap()
            .iter()
            .all(|e| e.message_id != x[0].message_id)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_due_on_two_nodes_fires_once() {
    let h = Harness::postgres().await;
    let (a, b) = (h.open().await, h.open().await);
    assert!(a.insert_order(&Order::sample("O1")).await.unwrap());
    let timer = Timer {
        order_id: "O1".into(),
        due_at: at(0),
        kind: TimerKind::AwaitingSeller {
            request_id: "r1".into(),
        },
    };
    let set = |o: &Order| {
        Ok(Effect {
            timers: vec![timer.clone()],
            ..Effect::unchanged(o)
        })
    };
    a.update_order("O1", &set).await.unwrap().unwrap();
    let fired = AtomicUsize::new(0);
    let decide = |o: &Order| {
        fired.fetch_add(1, Ordering::SeqCst);
        Ok(Effect::unchanged(o))
    };
    let (x, y) = tokio::join!(a.fire_timer(&timer, &decide), b.fire_timer(&timer, &decide));
    assert_eq!([x.unwrap(), y.unwrap()].iter().filter(|f| **f).count(), 1);
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    assert!(b.due_timers(at(10), 10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_migrated_by_a_newer_build_is_refused() {
    let h = Harness::postgres().await;
    let store = h.open().await;
    drop(store);
    let Harness::Postgres(url) = &h else {
        unreachable!()
    };
    let (mut client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    assert!(
        super::migrate(&mut client).await.unwrap().is_empty(),
        "nothing left to apply"
    );
    client
        .execute(
            "INSERT INTO gw_migrations (version, name) VALUES (999, 'future')",
            &[],
        )
        .await
        .unwrap();
    let e = super::migrate(&mut client).await.unwrap_err();
    assert!(e.to_string().contains("999"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_an_unavailable_store() {
    let e = super::PgStore::open(super::PgOptions {
        url: "postgres://nobody:secret@127.0.0.1:1/none".into(),
        pool_size: 2,
        lease: std::time::Duration::from_secs(60),
        bounds: Default::default(),
    })
    .await
    .unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    assert!(
        !format!("{e:?}").contains("secret"),
        "the password is not shown: {e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_past_their_bounds_are_removed_at_the_next_prune_not_in_the_change() {
    let h = Harness::postgres().await;
    let store = h
        .open_bounded(crate::store::Bounds {
            timeline_per_order: 3,
            notifications_per_user: 2,
        })
        .await;
    assert!(store.insert_order(&Order::sample("O1")).await.unwrap());
    for i in 0..6 {
        let mut message = record(&format!("M{i}"));
        message.transaction_id = Order::sample("O1").retail.transaction_id;
        let decide = move |o: Option<&Order>| Decision {
            answer: StoredAnswer {
                status: 200,
                body: "ack".into(),
            },
            effect: Some(Effect {
                notifications: vec![notification(i)],
                ..Effect::unchanged(o.unwrap())
            }),
        };
        store.accept_inbound(message, &decide).await.unwrap();
    }
    let Harness::Postgres(url) = &h else {
        unreachable!()
    };
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let count = |table: &'static str| {
        let client = &client;
        async move {
            let n: i64 = client
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .unwrap()
                .get(0);
            n
        }
    };
    assert_eq!(
        (count("gw_timeline").await, count("gw_notifications").await),
        (6, 6),
        "kept until the prune"
    );
    assert_eq!(
        store.timeline("O1").await.unwrap().len(),
        3,
        "reads show the bound at once"
    );
    assert_eq!(store.notifications("U1").await.unwrap().len(), 2);
    store.prune_audit(at(0)).await.unwrap();
    assert_eq!(
        (count("gw_timeline").await, count("gw_notifications").await),
        (3, 2)
    );
    assert_eq!(
        notification_ids(&*store).await,
        ["N4", "N5"],
        "the newest, oldest first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_messages_at_once_are_each_stored_once_and_their_copies_get_the_first_answer() {
    let h = Harness::postgres().await;
    let (a, b) = (h.open().await, h.open().await);
    let order = Order::sample("O1");
    assert!(a.insert_order(&order).await.unwrap());
    // 150 messages (a third on the tracked order), each sent twice to each node at once.
    let mut calls = Vec::new();
    for i in 0..150 {
        let mut message = record(&format!("M{i}"));
        if i % 3 == 0 {
            message.transaction_id = order.retail.transaction_id.clone();
        }
        for node in [&a, &b, &a, &b] {
            let (node, message) = (node.clone(), message.clone());
            calls.push(tokio::spawn(async move {
                let decide = |_: Option<&Order>| Decision {
                    answer: StoredAnswer {
                        status: 200,
                        body: format!("first {i}"),
                    },
                    effect: None,
                };
                (i, node.accept_inbound(message, &decide).await.unwrap())
            }));
        }
    }
    let mut new = std::collections::HashMap::new();
    for call in calls {
        let (i, outcome) = call.await.unwrap();
        match outcome {
            Accepted::New { answer, .. } => {
                assert_eq!(answer.body, format!("first {i}"));
                *new.entry(i).or_insert(0) += 1;
            }
            Accepted::Duplicate { first } => assert_eq!(first.body, format!("first {i}")),
        }
    }
    assert_eq!(new.len(), 150, "every message stored");
    assert!(new.values().all(|n| *n == 1), "each once: {new:?}");
    assert_eq!(a.inbound_after(0, 1000).await.unwrap().len(), 150);
    assert_eq!(
        b.timeline("O1").await.unwrap().len(),
        50,
        "the tracked third is on the timeline once each"
    );
}
