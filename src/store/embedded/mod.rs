//! The embedded store: sled, one tree (`gateway`) with keys prefixed by entity (see [`keys`]),
//! and the audit's bytes in append-only segment files beside it (see [`segments`]).
//!
//! A change (an inbound message with its answer and effect, an order update, a fired timer, a
//! delivery result) is decided and written under one lock into an in-memory overlay
//! ([`stage`]); the group flush writes the overlay's writes as one batch record after the
//! group's audit records and fdatasyncs the segment, wakes every writer of the group, then
//! applies the batch to sled, which writes it out on its own schedule ([`wal`]: checkpoints and
//! the replay at start). So a request costs a few map operations under the lock, and a group one
//! `pwrite`, one fdatasync and one sled batch.

mod codec;
mod keys;
mod migrate;
mod segments;
mod stage;
mod wal;

use super::group_commit::GroupCommit;
use super::{
    Accepted, Decision, DeliveryStatus, Effect, InboundRecord, Notification, OutboxEntry, RequeueError,
    Store, StoreError, TimelineItem, UpdateError,
};
use crate::orchestrator::{Order, Refusal, Timer};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use codec::{DedupeEntry, decode, encode};
use serde::{Deserialize, Serialize};
use stage::{Change, Stage};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A line of the order log: which audit record or outbox entry it refers to.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum LogRef {
    In { seq: u64 },
    Out { message_id: String },
}

fn engine(e: sled::Error) -> StoreError {
    StoreError::Engine(Box::new(e))
}

/// sled's page cache (its default is 1 GiB): the hot orders are also kept decoded by the
/// overlay, so a small cache keeps the resident size low without costing reads.
const SLED_CACHE_BYTES: u64 = 64 << 20;

/// Where audit segments roll over.
const SEGMENT_BYTES: u64 = 64 << 20;

/// Audit records removed per change while pruning: small, so writers wait little.
const PRUNE_CHUNK: usize = 256;

/// The sled-backed [`Store`].
pub struct SledStore {
    db: sled::Db,
    tree: sled::Tree,
    /// sled's log file, fdatasynced by checkpoints.
    log: Arc<std::fs::File>,
    stage: Arc<Stage>,
    commit: Arc<GroupCommit>,
    checkpoints: wal::Checkpoints,
    /// Pending outbox entries (the due index's size), kept with each change.
    pending: AtomicU64,
    /// How many timeline lines an order keeps, and notifications a user.
    bounds: Bounds,
    /// Outbox entries handed out by [`Store::due_outbox`] and not yet saved, with when the claim
    /// lapses. In memory only: after a restart every pending entry is due again at once.
    claims: std::sync::Mutex<std::collections::HashMap<Vec<u8>, DateTime<Utc>>>,
}

/// How long an entry handed out by `due_outbox` is not handed out again unless saved.
const CLAIM: chrono::Duration = chrono::Duration::seconds(60);

/// How much of what grows with traffic is kept: the newest this many, the oldest dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Timeline lines per order (the messages themselves stay in the audit and the outbox).
    pub timeline_per_order: u64,
    /// Notifications per user.
    pub notifications_per_user: u64,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            timeline_per_order: 10_000,
            notifications_per_user: 1_000,
        }
    }
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens (or creates) the database in `path`, moving a store of layout 1 (a tree per
    /// entity) into the one tree first.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, SEGMENT_BYTES)
    }

    /// [`Self::open`], with audit segments rolled over at `segment_bytes`.
    pub fn open_with(path: &Path, segment_bytes: u64) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(SLED_CACHE_BYTES)
            .open()
            .map_err(engine)?;
        let tree = db.open_tree("gateway").map_err(engine)?;
        let log =
            Arc::new(std::fs::File::open(path.join("db")).map_err(|e| StoreError::Engine(Box::new(e)))?);
        let (segments, tail) = segments::Segments::open(&path.join("audit"), segment_bytes)?;
        // Before anything is written: what the last run answered and sled had not yet made
        // durable is in the log.
        let replayed = wal::replay(&db, &tree, &log, &segments, tail.id())?;
        if replayed > 0 {
            tracing::info!(
                batches = replayed,
                "store: replayed the log after the last checkpoint"
            );
        }
        let stage = Arc::new(Stage::new(tree.clone(), segments, tail));
        migrate::from_trees(&db, &stage)?;
        // A group is answered once its segment write is durable; sled gets it after that.
        let (write_stage, apply_stage) = (stage.clone(), stage.clone());
        let commit = GroupCommit::start_then(
            move || write_stage.write().map_err(std::io::Error::other),
            move |written| {
                if let Err(e) = apply_stage.apply(written) {
                    tracing::error!(error = %crate::telemetry::chain(&e), "store: sled refused a durable group; no more changes until a restart replays it");
                }
            },
        );
        let checkpoints = wal::Checkpoints::start(db.clone(), tree.clone(), log.clone(), stage.clone());
        let pending = tree.scan_prefix([keys::DUE]).count() as u64;
        Ok(Self {
            db,
            tree,
            log,
            stage,
            commit,
            checkpoints,
            pending: AtomicU64::new(pending),
            bounds: Bounds::default(),
            claims: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// Keeps at most `bounds` of timeline lines and notifications.
    pub fn with_bounds(mut self, bounds: Bounds) -> Self {
        self.bounds = bounds;
        self
    }

    /// Adds a `counted` entry for `owner`; past `max` entries, the oldest goes.
    fn append_bounded(
        &self,
        c: &mut Change<'_>,
        prefix: u8,
        owner: &str,
        value: Vec<u8>,
        max: u64,
    ) -> Result<(), StoreError> {
        let count_key = keys::count(prefix, owner);
        let count = c
            .get(&count_key)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
            .map_or(0, u64::from_be_bytes);
        c.put(keys::counted(prefix, owner, self.next_id()?), value);
        let mut count = count + 1;
        if count > max
            && let Some(oldest) = c.first_live(&keys::counted_prefix(prefix, owner))?
        {
            c.delete(oldest);
            count -= 1;
        }
        c.put(count_key, count.to_be_bytes().to_vec());
        Ok(())
    }

    /// Ends the claim on outbox entry `id`.
    fn release(&self, id: &[u8]) {
        if let Ok(mut claims) = self.claims.lock() {
            claims.remove(id);
        }
    }

    /// Waits until what is durable is also in sled, for reads that go to sled directly rather
    /// than through the overlay.
    async fn settled(&self) -> Result<(), StoreError> {
        self.commit.settled().await.map_err(StoreError::from)
    }

    async fn durable(&self) -> Result<(), StoreError> {
        Ok(self.commit.durable().await?)
    }

    fn next_id(&self) -> Result<u64, StoreError> {
        self.db.generate_id().map_err(engine)
    }

    /// Writes an order change, its outbox entries, notifications and timers.
    fn write_effect(&self, c: &mut Change<'_>, effect: &Effect) -> Result<(), StoreError> {
        for timer in &effect.timers {
            c.put(keys::timer(timer), encode(timer)?);
        }
        for n in &effect.notifications {
            self.append_bounded(
                c,
                keys::NOTE,
                &n.user_id,
                encode(n)?,
                self.bounds.notifications_per_user,
            )?;
        }
        c.put_order(
            keys::key(keys::ORDER, &[effect.order.id.as_bytes()]),
            &effect.order,
        )?;
        for entry in &effect.outbox {
            let id = entry.message_id.as_str().as_bytes();
            c.put(keys::key(keys::OUTBOX, &[id]), encode(entry)?);
            c.put(keys::due(entry.next_attempt_at, id), vec![]);
            let r = LogRef::Out {
                message_id: entry.message_id.to_string(),
            };
            self.append_bounded(
                c,
                keys::LOG,
                &entry.order_id,
                encode(r)?,
                self.bounds.timeline_per_order,
            )?;
        }
        self.pending
            .fetch_add(effect.outbox.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Reads order `id`, lets `decide` choose its change, writes the change.
    fn decide_on_order(
        &self,
        c: &mut Change<'_>,
        id: &str,
        decide: &(dyn for<'o> Fn(&'o Order) -> Result<Effect, Refusal> + Send + Sync),
    ) -> Result<Result<Order, UpdateError>, StoreError> {
        let Some(current) = c.order(&keys::key(keys::ORDER, &[id.as_bytes()]))? else {
            return Ok(Err(UpdateError::NotFound));
        };
        match decide(&current) {
            Ok(effect) => {
                self.write_effect(c, &effect)?;
                Ok(Ok(effect.order))
            }
            Err(refusal) => Ok(Err(UpdateError::Refused(refusal))),
        }
    }

    /// Audit record `seq`, unless its retention has passed.
    fn audit_record(&self, seq: u64) -> Result<Option<InboundRecord>, StoreError> {
        match self.tree.get(keys::audit(seq)).map_err(engine)? {
            Some(loc) => self.read_loc(&loc),
            None => Ok(None),
        }
    }

    fn read_loc(&self, loc: &[u8]) -> Result<Option<InboundRecord>, StoreError> {
        let loc = segments::Loc::from_bytes(loc)
            .ok_or_else(|| StoreError::Corrupt("an audit location is cut short".into()))?;
        self.stage
            .segments()
            .read(loc)?
            .map(|bytes| codec::read_audit(&bytes))
            .transpose()
    }

    /// The entries under `prefix`, decoded.
    fn scan<T>(
        &self,
        prefix: &[u8],
        read: impl Fn(&[u8], &[u8]) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        self.tree
            .scan_prefix(prefix)
            .map(|item| {
                let (k, v) = item.map_err(engine)?;
                read(&k, &v)
            })
            .collect()
    }
}

#[async_trait]
impl Store for SledStore {
    async fn accept_inbound(
        &self,
        record: InboundRecord,
        decide: &(dyn for<'o> Fn(Option<&'o Order>) -> Decision + Send + Sync),
    ) -> Result<Accepted, StoreError> {
        let dedupe = keys::key(keys::DEDUPE, &[&record.dedupe_key().to_bytes()]);
        let outcome = {
            let mut c = self.stage.change()?;
            if let Some(existing) = c.get(&dedupe)? {
                Err(existing)
            } else {
                let order_id = c.get(&keys::key(
                    keys::TXN,
                    &[record.transaction_id.as_str().as_bytes()],
                ))?;
                let order = match &order_id {
                    Some(id) => c.order(&keys::key(keys::ORDER, &[id]))?,
                    None => None,
                };
                let decision = decide(order.as_deref());
                // Sequence numbers start at 1 so that "after 0" means "from the start".
                let seq = self.next_id()? + 1;
                let loc = c.append(seq, &codec::audit(&record, &decision.answer)?)?;
                c.put(keys::audit(seq), loc.to_bytes());
                c.put(
                    dedupe,
                    encode(DedupeEntry {
                        seq,
                        answer: decision.answer.clone(),
                    })?,
                );
                if let Some(order) = &order {
                    self.append_bounded(
                        &mut c,
                        keys::LOG,
                        &order.id,
                        encode(LogRef::In { seq })?,
                        self.bounds.timeline_per_order,
                    )?;
                }
                if let Some(effect) = &decision.effect {
                    self.write_effect(&mut c, effect)?;
                }
                Ok((seq, decision.answer))
            }
        };
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
        let mut txns = vec![keys::key(
            keys::TXN,
            &[order.retail.transaction_id.as_str().as_bytes()],
        )];
        if let Some(l) = &order.logistics {
            txns.push(keys::key(keys::TXN, &[l.transaction_id.as_str().as_bytes()]));
        }
        let inserted = {
            let mut c = self.stage.change()?;
            let key = keys::key(keys::ORDER, &[order.id.as_bytes()]);
            let mut taken = c.contains(&key)?;
            for t in &txns {
                taken = taken || c.contains(t)?;
            }
            if !taken {
                c.put_order(key, order)?;
                for t in txns {
                    c.put(t, order.id.as_bytes().to_vec());
                }
            }
            !taken
        };
        self.durable().await?;
        Ok(inserted)
    }

    async fn order(&self, id: &str) -> Result<Option<Order>, StoreError> {
        let mut c = self.stage.change()?;
        Ok(c.order(&keys::key(keys::ORDER, &[id.as_bytes()]))?
            .map(|o| Order::clone(&o)))
    }

    async fn update_order(
        &self,
        id: &str,
        decide: &(dyn for<'o> Fn(&'o Order) -> Result<Effect, Refusal> + Send + Sync),
    ) -> Result<Result<Order, UpdateError>, StoreError> {
        let result = {
            let mut c = self.stage.change()?;
            self.decide_on_order(&mut c, id, decide)?
        };
        if result.is_ok() {
            self.durable().await?;
        }
        Ok(result)
    }

    async fn due_outbox(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.settled().await?;
        // In due order, up to `now` only: the entries not yet due are never read.
        let mut claims = self
            .claims
            .lock()
            .map_err(|_| StoreError::Corrupt("the outbox claims lock is poisoned".into()))?;
        claims.retain(|_, until| *until > now);
        let mut due = Vec::new();
        for item in self
            .tree
            .range(keys::key(keys::DUE, &[])..keys::due(now, &[0xff]))
        {
            if due.len() == limit {
                break;
            }
            let (key, _) = item.map_err(engine)?;
            let Some((_, id)) = keys::due_parts(&key) else {
                continue;
            };
            if claims.contains_key(id) {
                continue;
            }
            if let Some(v) = self.tree.get(keys::key(keys::OUTBOX, &[id])).map_err(engine)? {
                let entry: OutboxEntry = decode(&v)?;
                if entry.status == DeliveryStatus::Pending && entry.next_attempt_at <= now {
                    claims.insert(id.to_vec(), now + CLAIM);
                    due.push(entry);
                }
            }
        }
        Ok(due)
    }

    fn pending_outbox(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.settled().await?;
        Ok(match self.tree.scan_prefix([keys::DUE]).next() {
            Some(item) => keys::due_parts(&item.map_err(engine)?.0).map(|(at, _)| at),
            None => None,
        })
    }

    async fn save_delivery(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        let id = entry.message_id.as_str().as_bytes();
        self.release(id);
        {
            let mut c = self.stage.change()?;
            let key = keys::key(keys::OUTBOX, &[id]);
            let was_pending = match c.get(&key)? {
                Some(old) => {
                    let old: OutboxEntry = decode(&old)?;
                    c.remove(keys::due(old.next_attempt_at, id))?;
                    old.status == DeliveryStatus::Pending
                }
                None => false,
            };
            c.put(key, encode(entry)?);
            let is_pending = entry.status == DeliveryStatus::Pending;
            if is_pending {
                c.put(keys::due(entry.next_attempt_at, id), vec![]);
            }
            match (was_pending, is_pending) {
                (true, false) => {
                    let _ = self
                        .pending
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                            Some(n.saturating_sub(1))
                        });
                }
                (false, true) => {
                    self.pending.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
        self.durable().await
    }

    async fn requeue_failed(
        &self,
        order_id: &str,
        message_id: &str,
    ) -> Result<Result<OutboxEntry, RequeueError>, StoreError> {
        let id = message_id.as_bytes();
        let result = {
            let mut c = self.stage.change()?;
            let key = keys::key(keys::OUTBOX, &[id]);
            match c.get(&key)? {
                None => Err(RequeueError::NotFound),
                Some(v) => {
                    let old: OutboxEntry = decode(&v)?;
                    let was_due = old.next_attempt_at;
                    let requeued = old.requeued(order_id, Utc::now());
                    if let Ok(entry) = &requeued {
                        c.remove(keys::due(was_due, id))?;
                        self.release(id);
                        c.put(key, encode(entry)?);
                        c.put(keys::due(entry.next_attempt_at, id), vec![]);
                        self.pending.fetch_add(1, Ordering::Relaxed);
                    }
                    requeued
                }
            }
        };
        if result.is_ok() {
            self.durable().await?;
        }
        Ok(result)
    }

    async fn notifications(&self, user_id: &str) -> Result<Vec<Notification>, StoreError> {
        self.settled().await?;
        self.scan(&keys::counted_prefix(keys::NOTE, user_id), |_, v| decode(v))
    }

    async fn timeline(&self, order_id: &str) -> Result<Vec<TimelineItem>, StoreError> {
        self.settled().await?;
        let refs = self.scan(&keys::counted_prefix(keys::LOG, order_id), |_, v| {
            decode::<LogRef>(v)
        })?;
        let mut items = Vec::with_capacity(refs.len());
        for r in refs {
            match r {
                LogRef::In { seq } => {
                    // Gone once the audit's retention has passed.
                    if let Some(record) = self.audit_record(seq)? {
                        items.push(TimelineItem::In {
                            seq,
                            record: Box::new(record),
                        });
                    }
                }
                LogRef::Out { message_id } => {
                    let key = keys::key(keys::OUTBOX, &[message_id.as_bytes()]);
                    if let Some(v) = self.tree.get(key).map_err(engine)? {
                        items.push(TimelineItem::Out {
                            entry: Box::new(decode(&v)?),
                        });
                    }
                }
            }
        }
        Ok(items)
    }

    async fn inbound_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, InboundRecord)>, StoreError> {
        self.settled().await?;
        let start = keys::audit(after.saturating_add(1));
        let end = keys::key(keys::AUDIT + 1, &[]);
        let mut out = Vec::new();
        for item in self.tree.range(start..end).take(limit) {
            let (k, v) = item.map_err(engine)?;
            let seq = keys::seq_of(&k)
                .ok_or_else(|| StoreError::Corrupt("an audit key is not a sequence number".into()))?;
            if let Some(record) = self.read_loc(&v)? {
                out.push((seq, record));
            }
        }
        Ok(out)
    }

    async fn due_timers(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Timer>, StoreError> {
        self.settled().await?;
        self.tree
            .range(keys::key(keys::TIMER, &[])..keys::timers_after(now))
            .take(limit)
            .map(|item| {
                let (_, v) = item.map_err(engine)?;
                decode(&v)
            })
            .collect()
    }

    async fn next_timer(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.settled().await?;
        match self.tree.scan_prefix([keys::TIMER]).next() {
            Some(item) => Ok(Some(decode::<Timer>(&item.map_err(engine)?.1)?.due_at)),
            None => Ok(None),
        }
    }

    async fn fire_timer(
        &self,
        timer: &Timer,
        decide: &(dyn for<'o> Fn(&'o Order) -> Result<Effect, Refusal> + Send + Sync),
    ) -> Result<bool, StoreError> {
        let fired = {
            let mut c = self.stage.change()?;
            if c.remove(keys::timer(timer))?.is_none() {
                false
            } else {
                // A refusal or a missing order still uses the timer up: nothing else to write.
                let _ = self.decide_on_order(&mut c, &timer.order_id, decide)?;
                true
            }
        };
        if fired {
            self.durable().await?;
        }
        Ok(fired)
    }

    async fn put_registry_entry(&self, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        self.stage
            .change()?
            .put(keys::key(keys::REGISTRY, &[key.as_bytes()]), value);
        self.durable().await
    }

    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let cutoff = std::time::SystemTime::from(before);
        let segments = self.stage.segments();
        let tail = self.stage.change()?.tail_segment();
        // What sled holds now is made durable and recorded, so that the log before it is no
        // longer needed by a restart; a segment holding a batch after that is kept.
        if let Some(at) = self.stage.applied() {
            wal::record(&self.db, &self.tree, &self.log, at)?;
        }
        let checkpoint = wal::checkpoint(&self.tree)?;
        let mut ids = segments.ids()?;
        ids.sort_unstable();
        let mut removed = 0u64;
        for id in ids {
            // Segments are written in id order: the first one too recent ends the scan.
            if id >= tail || segments.modified(id)? >= cutoff || wal::needed(checkpoint, segments, id)? {
                break;
            }
            let records = segments.records(id)?;
            for chunk in records.chunks(PRUNE_CHUNK) {
                {
                    let mut c = self.stage.change()?;
                    for (seq, bytes) in chunk {
                        c.delete(keys::audit(*seq));
                        // A record whose group failed was never pointed at; its frame is whole
                        // but its dedupe entry, if any, belongs to a later copy.
                        let Ok(record) = codec::read_audit(bytes) else {
                            continue;
                        };
                        let dedupe = keys::key(keys::DEDUPE, &[&record.dedupe_key().to_bytes()]);
                        if let Some(v) = c.get(&dedupe)?
                            && decode::<DedupeEntry>(&v)?.seq == *seq
                        {
                            c.delete(dedupe);
                        }
                    }
                }
                self.durable().await?;
                removed += chunk.len() as u64;
            }
            segments.remove(id)?;
        }
        Ok(removed)
    }

    async fn registry_entries(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.settled().await?;
        self.scan(&[keys::REGISTRY], |k, v| {
            let key = String::from_utf8(k[1..].to_vec())
                .map_err(|_| StoreError::Corrupt("a registry cache key is not UTF-8".into()))?;
            Ok((key, v.to_vec()))
        })
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        // Runs the flushes still owed; then anything staged by a change whose caller went away
        // before taking its ticket.
        self.commit.stop();
        self.checkpoints.stop();
        let _ = self.stage.flush_now();
        // A clean shutdown leaves nothing to replay; durability never depends on it.
        if let Some(at) = self.stage.applied() {
            let _ = wal::record(&self.db, &self.tree, &self.log, at);
        }
    }
}

#[cfg(test)]
mod tests;
