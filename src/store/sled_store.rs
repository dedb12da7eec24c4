//! The embedded store: sled, one tree per entity, JSON values carrying a schema version.
//!
//! Trees: `inbound` (audit, key = sequence number big-endian), `inbound_dedupe` (key =
//! [`DedupeKey::to_bytes`]), `orders` (key = order id), `txn_index` (transaction id → order id),
//! `outbox` (message id → entry), `outbox_pending` (message ids not yet settled), `outbox_due`
//! (the pending ones again, keyed by due time then message id, so the worker reads the due ones
//! without a scan), `order_log`
//! (order id, NUL, counter → what happened), `registry_cache`. An inbound message, its dedupe
//! entry, the order change and its outbox entries are written in one sled transaction, then made
//! durable by the shared group commit.

use super::group_commit::GroupCommit;
use super::{
    Accepted, Decision, DeliveryStatus, Effect, InboundRecord, Notification, OutboxEntry, RequeueError,
    Store, StoreError, StoredAnswer, TimelineItem, UpdateError,
};
use crate::orchestrator::{Order, Refusal, Timer};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sled::Transactional as _;
use sled::transaction::TransactionalTree;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use std::path::Path;
use std::sync::Arc;

/// Version of the JSON layout of stored values.
const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    v: u32,
    #[serde(flatten)]
    value: T,
}

#[derive(Serialize, Deserialize)]
struct DedupeEntry {
    seq: u64,
    answer: StoredAnswer,
}

/// A line of `order_log`: which inbound record or outbox entry it refers to.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum LogRef {
    In { seq: u64 },
    Out { message_id: String },
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

fn log_key(order_id: &str, counter: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(order_id.len() + 9);
    k.extend_from_slice(order_id.as_bytes());
    k.push(0);
    k.extend_from_slice(&counter.to_be_bytes());
    k
}

/// `timers` key: due time (milliseconds, big-endian, so the tree is in due order), order id,
/// NUL, the timer's tag.
fn timer_key(timer: &Timer) -> Vec<u8> {
    let millis = u64::try_from(timer.due_at.timestamp_millis()).unwrap_or(0);
    let tag = timer.kind.tag();
    let mut k = Vec::with_capacity(8 + timer.order_id.len() + 1 + tag.len());
    k.extend_from_slice(&millis.to_be_bytes());
    k.extend_from_slice(timer.order_id.as_bytes());
    k.push(0);
    k.extend_from_slice(tag.as_bytes());
    k
}

/// `outbox_due` key: due time (nanoseconds since the epoch with the sign bit flipped,
/// big-endian, so the tree is in due order), then the message id.
fn due_key(at: DateTime<Utc>, message_id: &[u8]) -> Vec<u8> {
    let nanos = at
        .timestamp_nanos_opt()
        .unwrap_or(if at.timestamp() < 0 { i64::MIN } else { i64::MAX });
    let mut k = Vec::with_capacity(8 + message_id.len());
    k.extend_from_slice(&((nanos as u64) ^ (1 << 63)).to_be_bytes());
    k.extend_from_slice(message_id);
    k
}

/// The due time at the front of an `outbox_due` key.
fn due_of(key: &[u8]) -> Option<DateTime<Utc>> {
    let head: [u8; 8] = key.get(..8)?.try_into().ok()?;
    Some(DateTime::from_timestamp_nanos(
        (u64::from_be_bytes(head) ^ (1 << 63)) as i64,
    ))
}

/// The trees an order change touches.
struct EffectTrees<'a> {
    orders: &'a TransactionalTree,
    outbox: &'a TransactionalTree,
    pending: &'a TransactionalTree,
    due: &'a TransactionalTree,
    log: &'a TransactionalTree,
    notes: &'a TransactionalTree,
    timers: &'a TransactionalTree,
}

/// Writes an order change, its outbox entries and its notifications inside a transaction.
fn write_effect(t: &EffectTrees<'_>, effect: &Effect) -> TxResult<()> {
    let EffectTrees {
        orders,
        outbox,
        pending,
        due,
        log,
        notes,
        timers,
    } = *t;
    for timer in &effect.timers {
        timers.insert(timer_key(timer), encode(timer).map_err(abort)?)?;
    }
    for n in &effect.notifications {
        notes.insert(
            log_key(&n.user_id, notes.generate_id()?),
            encode(n).map_err(abort)?,
        )?;
    }
    orders.insert(effect.order.id.as_bytes(), encode(&effect.order).map_err(abort)?)?;
    for entry in &effect.outbox {
        let id = entry.message_id.as_str().as_bytes();
        outbox.insert(id, encode(entry).map_err(abort)?)?;
        pending.insert(id, entry.order_id.as_bytes())?;
        due.insert(due_key(entry.next_attempt_at, id), &[])?;
        let r = LogRef::Out {
            message_id: entry.message_id.to_string(),
        };
        log.insert(
            log_key(&entry.order_id, log.generate_id()?),
            encode(r).map_err(abort)?,
        )?;
    }
    Ok(())
}

/// Inside a transaction: reads order `id`, lets `decide` choose its change, writes the change.
fn decide_on_order(
    t: &EffectTrees<'_>,
    id: &str,
    decide: &(dyn for<'o> Fn(&'o Order) -> Result<Effect, Refusal> + Send + Sync),
) -> TxResult<Result<Order, UpdateError>> {
    let Some(current) = t.orders.get(id.as_bytes())? else {
        return Ok(Err(UpdateError::NotFound));
    };
    let current: Order = decode(&current).map_err(abort)?;
    match decide(&current) {
        Ok(effect) => {
            write_effect(t, &effect)?;
            Ok(Ok(effect.order))
        }
        Err(refusal) => Ok(Err(UpdateError::Refused(refusal))),
    }
}

fn tx_error(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => engine(e),
    }
}

fn encode<T: Serialize>(value: T) -> Result<Vec<u8>, StoreError> {
    Ok(serde_json::to_vec(&Envelope {
        v: SCHEMA_VERSION,
        value,
    })?)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    let env: Envelope<T> = serde_json::from_slice(bytes)?;
    if env.v != SCHEMA_VERSION {
        return Err(StoreError::Corrupt(format!("unknown schema version {}", env.v)));
    }
    Ok(env.value)
}

fn engine(e: sled::Error) -> StoreError {
    StoreError::Engine(Box::new(e))
}

/// The sled-backed [`Store`].
pub struct SledStore {
    db: sled::Db,
    inbound: sled::Tree,
    dedupe: sled::Tree,
    registry: sled::Tree,
    orders: sled::Tree,
    txn_index: sled::Tree,
    outbox: sled::Tree,
    pending: sled::Tree,
    due: sled::Tree,
    order_log: sled::Tree,
    notes: sled::Tree,
    timers: sled::Tree,
    commit: Arc<GroupCommit>,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens (or creates) the database in `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new().path(path).open().map_err(engine)?;
        let flush_db = db.clone();
        // sled's flush waits for its log with sync_file_range, which neither flushes the disk's
        // write cache nor the file's size; an ACK must survive a power loss, so each group flush
        // also fdatasyncs the log file (one per group, shared by every writer in it).
        let log = std::fs::File::open(path.join("db")).map_err(|e| StoreError::Engine(Box::new(e)))?;
        let commit = GroupCommit::start(move || {
            flush_db.flush().map_err(std::io::Error::from)?;
            log.sync_data()
        });
        let pending = db.open_tree("outbox_pending").map_err(engine)?;
        let outbox = db.open_tree("outbox").map_err(engine)?;
        let due = db.open_tree("outbox_due").map_err(engine)?;
        index_due(&pending, &outbox, &due)?;
        Ok(Self {
            inbound: db.open_tree("inbound").map_err(engine)?,
            dedupe: db.open_tree("inbound_dedupe").map_err(engine)?,
            registry: db.open_tree("registry_cache").map_err(engine)?,
            orders: db.open_tree("orders").map_err(engine)?,
            txn_index: db.open_tree("txn_index").map_err(engine)?,
            outbox,
            pending,
            due,
            order_log: db.open_tree("order_log").map_err(engine)?,
            notes: db.open_tree("notifications").map_err(engine)?,
            timers: db.open_tree("timers").map_err(engine)?,
            db,
            commit,
        })
    }

    async fn durable(&self) -> Result<(), StoreError> {
        Ok(self.commit.durable().await?)
    }
}

/// Builds `outbox_due` from `outbox_pending` in a store written before the index existed (an
/// empty index beside pending entries), in one atomic batch.
fn index_due(pending: &sled::Tree, outbox: &sled::Tree, due: &sled::Tree) -> Result<(), StoreError> {
    if !due.is_empty() || pending.is_empty() {
        return Ok(());
    }
    let mut batch = sled::Batch::default();
    for item in pending.iter() {
        let (id, _) = item.map_err(engine)?;
        if let Some(v) = outbox.get(&id).map_err(engine)? {
            let entry: OutboxEntry = decode(&v)?;
            batch.insert(due_key(entry.next_attempt_at, &id), &[]);
        }
    }
    due.apply_batch(batch).map_err(engine)?;
    due.flush().map_err(engine)?;
    Ok(())
}

#[async_trait]
impl Store for SledStore {
    async fn accept_inbound(
        &self,
        record: InboundRecord,
        decide: &(dyn for<'o> Fn(Option<&'o Order>) -> Decision + Send + Sync),
    ) -> Result<Accepted, StoreError> {
        let key = record.dedupe_key().to_bytes();
        let trees = (
            &self.inbound,
            &self.dedupe,
            &self.orders,
            &self.txn_index,
            &self.outbox,
            &self.pending,
            &self.due,
            &self.order_log,
            &self.notes,
            &self.timers,
        );
        let outcome = trees
            .transaction(
                |(inbound, dedupe, orders, txn, outbox, pending, due, log, notes, timers)| {
                    if let Some(existing) = dedupe.get(&key)? {
                        return Ok(Err(existing));
                    }
                    let order_id = txn.get(record.transaction_id.as_str().as_bytes())?;
                    let order: Option<Order> = match &order_id {
                        Some(id) => orders.get(id)?.map(|v| decode(&v)).transpose().map_err(abort)?,
                        None => None,
                    };
                    let decision = decide(order.as_ref());
                    // Sequence numbers start at 1 so that "after 0" means "from the start".
                    let seq = inbound.generate_id()? + 1;
                    let stored = InboundRecord {
                        answer: decision.answer.clone(),
                        ..record.clone()
                    };
                    inbound.insert(&seq.to_be_bytes(), encode(&stored).map_err(abort)?)?;
                    dedupe.insert(
                        key.as_slice(),
                        encode(DedupeEntry {
                            seq,
                            answer: decision.answer.clone(),
                        })
                        .map_err(abort)?,
                    )?;
                    if let Some(order) = &order {
                        log.insert(
                            log_key(&order.id, log.generate_id()?),
                            encode(LogRef::In { seq }).map_err(abort)?,
                        )?;
                    }
                    if let Some(effect) = &decision.effect {
                        write_effect(
                            &EffectTrees {
                                orders,
                                outbox,
                                pending,
                                due,
                                log,
                                notes,
                                timers,
                            },
                            effect,
                        )?;
                    }
                    Ok(Ok((seq, decision.answer)))
                },
            )
            .map_err(tx_error)?;
        // A duplicate also waits: the first copy may not be durable yet, and its answer must not
        // reach the peer before it is.
        self.durable().await?;
        match outcome {
            Ok((seq, answer)) => Ok(Accepted::New { seq, answer }),
            Err(existing) => Ok(Accepted::Duplicate {
                first: decode::<DedupeEntry>(&existing)?.answer,
            }),
        }
    }

    async fn insert_order(&self, order: &Order) -> Result<bool, StoreError> {
        let mut txns = vec![order.retail.transaction_id.as_str().as_bytes().to_vec()];
        if let Some(l) = &order.logistics {
            txns.push(l.transaction_id.as_str().as_bytes().to_vec());
        }
        let inserted = (&self.orders, &self.txn_index)
            .transaction(|(orders, txn)| {
                if orders.get(order.id.as_bytes())?.is_some() {
                    return Ok(false);
                }
                for t in &txns {
                    if txn.get(t)?.is_some() {
                        return Ok(false);
                    }
                }
                orders.insert(order.id.as_bytes(), encode(order).map_err(abort)?)?;
                for t in &txns {
                    txn.insert(t.as_slice(), order.id.as_bytes())?;
                }
                Ok(true)
            })
            .map_err(tx_error)?;
        self.durable().await?;
        Ok(inserted)
    }

    async fn order(&self, id: &str) -> Result<Option<Order>, StoreError> {
        self.orders
            .get(id.as_bytes())
            .map_err(engine)?
            .map(|v| decode(&v))
            .transpose()
    }

    async fn update_order(
        &self,
        id: &str,
        decide: &(dyn for<'o> Fn(&'o Order) -> Result<Effect, Refusal> + Send + Sync),
    ) -> Result<Result<Order, UpdateError>, StoreError> {
        let result = (
            &self.orders,
            &self.outbox,
            &self.pending,
            &self.due,
            &self.order_log,
            &self.notes,
            &self.timers,
        )
            .transaction(|(orders, outbox, pending, due, log, notes, timers)| {
                let trees = EffectTrees {
                    orders,
                    outbox,
                    pending,
                    due,
                    log,
                    notes,
                    timers,
                };
                decide_on_order(&trees, id, decide)
            })
            .map_err(tx_error)?;
        if result.is_ok() {
            self.durable().await?;
        }
        Ok(result)
    }

    async fn due_outbox(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        // In due order, up to `now` only: the entries not yet due are never read.
        let mut due = Vec::new();
        for item in self.due.range(..due_key(now, &[0xff])) {
            if due.len() == limit {
                break;
            }
            let (key, _) = item.map_err(engine)?;
            let Some(id) = key.get(8..) else { continue };
            if let Some(v) = self.outbox.get(id).map_err(engine)? {
                let entry: OutboxEntry = decode(&v)?;
                if entry.status == DeliveryStatus::Pending && entry.next_attempt_at <= now {
                    due.push(entry);
                }
            }
        }
        Ok(due)
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(match self.due.first().map_err(engine)? {
            Some((key, _)) => due_of(&key),
            None => None,
        })
    }

    async fn save_delivery(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        let id = entry.message_id.as_str().as_bytes();
        let bytes = encode(entry)?;
        (&self.outbox, &self.pending, &self.due)
            .transaction(|(outbox, pending, due)| {
                if let Some(old) = outbox.insert(id, bytes.clone())? {
                    let old: OutboxEntry = decode(&old).map_err(abort)?;
                    due.remove(due_key(old.next_attempt_at, id))?;
                }
                if entry.status == DeliveryStatus::Pending {
                    due.insert(due_key(entry.next_attempt_at, id), &[])?;
                } else {
                    pending.remove(id)?;
                }
                Ok(())
            })
            .map_err(tx_error)?;
        self.durable().await
    }

    async fn requeue_failed(
        &self,
        order_id: &str,
        message_id: &str,
    ) -> Result<Result<OutboxEntry, RequeueError>, StoreError> {
        let id = message_id.as_bytes();
        let result = (&self.outbox, &self.pending, &self.due)
            .transaction(|(outbox, pending, due)| {
                let Some(v) = outbox.get(id)? else {
                    return Ok(Err(RequeueError::NotFound));
                };
                let mut entry: OutboxEntry = decode(&v).map_err(abort)?;
                if entry.order_id != order_id {
                    return Ok(Err(RequeueError::NotFound));
                }
                if entry.status != DeliveryStatus::Failed {
                    return Ok(Err(RequeueError::NotFailed));
                }
                due.remove(due_key(entry.next_attempt_at, id))?;
                entry.status = DeliveryStatus::Pending;
                entry.attempts = 0;
                entry.next_attempt_at = Utc::now();
                outbox.insert(id, encode(&entry).map_err(abort)?)?;
                pending.insert(id, entry.order_id.as_bytes())?;
                due.insert(due_key(entry.next_attempt_at, id), &[])?;
                Ok(Ok(entry))
            })
            .map_err(tx_error)?;
        if result.is_ok() {
            self.durable().await?;
        }
        Ok(result)
    }

    async fn notifications(&self, user_id: &str) -> Result<Vec<Notification>, StoreError> {
        let mut prefix = user_id.as_bytes().to_vec();
        prefix.push(0);
        self.notes
            .scan_prefix(&prefix)
            .map(|item| {
                let (_, v) = item.map_err(engine)?;
                decode(&v)
            })
            .collect()
    }

    async fn timeline(&self, order_id: &str) -> Result<Vec<TimelineItem>, StoreError> {
        let mut prefix = order_id.as_bytes().to_vec();
        prefix.push(0);
        let mut items = Vec::new();
        for item in self.order_log.scan_prefix(&prefix) {
            let (_, v) = item.map_err(engine)?;
            match decode::<LogRef>(&v)? {
                LogRef::In { seq } => {
                    if let Some(r) = self.inbound.get(seq.to_be_bytes()).map_err(engine)? {
                        items.push(TimelineItem::In {
                            seq,
                            record: Box::new(decode(&r)?),
                        });
                    }
                }
                LogRef::Out { message_id } => {
                    if let Some(e) = self.outbox.get(message_id.as_bytes()).map_err(engine)? {
                        items.push(TimelineItem::Out {
                            entry: Box::new(decode(&e)?),
                        });
                    }
                }
            }
        }
        Ok(items)
    }

    async fn inbound_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, InboundRecord)>, StoreError> {
        let start = after.saturating_add(1).to_be_bytes();
        let mut out = Vec::new();
        for item in self.inbound.range(start..).take(limit) {
            let (k, v) = item.map_err(engine)?;
            let seq = u64::from_be_bytes(
                k.as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("an inbound key is not a sequence number".into()))?,
            );
            out.push((seq, decode(&v)?));
        }
        Ok(out)
    }

    async fn due_timers(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Timer>, StoreError> {
        let end = u64::try_from(now.timestamp_millis())
            .unwrap_or(0)
            .saturating_add(1);
        self.timers
            .range(..end.to_be_bytes().to_vec())
            .take(limit)
            .map(|item| {
                let (_, v) = item.map_err(engine)?;
                decode(&v)
            })
            .collect()
    }

    async fn next_timer(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        match self.timers.first().map_err(engine)? {
            Some((_, v)) => Ok(Some(decode::<Timer>(&v)?.due_at)),
            None => Ok(None),
        }
    }

    async fn fire_timer(
        &self,
        timer: &Timer,
        decide: &(dyn for<'o> Fn(&'o Order) -> Result<Effect, Refusal> + Send + Sync),
    ) -> Result<bool, StoreError> {
        let key = timer_key(timer);
        let fired = (
            &self.orders,
            &self.outbox,
            &self.pending,
            &self.due,
            &self.order_log,
            &self.notes,
            &self.timers,
        )
            .transaction(|(orders, outbox, pending, due, log, notes, timers)| {
                if timers.remove(key.as_slice())?.is_none() {
                    return Ok(false);
                }
                let trees = EffectTrees {
                    orders,
                    outbox,
                    pending,
                    due,
                    log,
                    notes,
                    timers,
                };
                match decide_on_order(&trees, &timer.order_id, decide)? {
                    // A refusal or a missing order still uses the timer up: nothing to write.
                    Ok(_) | Err(UpdateError::NotFound | UpdateError::Refused(_)) => Ok(true),
                }
            })
            .map_err(tx_error)?;
        if fired {
            self.durable().await?;
        }
        Ok(fired)
    }

    async fn put_registry_entry(&self, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        self.registry.insert(key.as_bytes(), value).map_err(engine)?;
        self.durable().await
    }

    async fn registry_entries(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.registry
            .iter()
            .map(|item| {
                let (k, v) = item.map_err(engine)?;
                let key = String::from_utf8(k.to_vec())
                    .map_err(|_| StoreError::Corrupt("a registry cache key is not UTF-8".into()))?;
                Ok((key, v.to_vec()))
            })
            .collect()
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        self.commit.stop();
        // Best effort on a clean shutdown; durability never depends on it.
        let _ = self.db.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Action;

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
            verification: super::super::Verification {
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
            destination: super::super::Destination::Webhook,
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
        // A store written before the index existed gets it built on open. sled's own threads
        // release the file lock a moment after a handle is dropped, so opening polls, bounded.
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
        {
            let db = when_free(|| sled::Config::new().path(dir.path()).open());
            assert!(db.drop_tree("outbox_due").unwrap());
            db.flush().unwrap();
        }
        let store = when_free(|| SledStore::open(dir.path()));
        assert_eq!(store.next_due().await.unwrap(), Some(at(30)));
        assert_eq!(store.due_outbox(at(99), 10).await.unwrap().len(), 2);
    }
}
