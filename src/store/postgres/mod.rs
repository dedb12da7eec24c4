//! The PostgreSQL store: the gateway's state in tables shared by several nodes (see
//! `migrations/postgres/`).
//!
//! Across nodes it relies on the database alone: the dedupe table's primary key makes two nodes
//! that receive the same message give one effect and one answer; an order changes under its
//! row lock (`SELECT … FOR UPDATE`); due outbox entries are claimed with `FOR UPDATE SKIP
//! LOCKED` by moving them one lease ahead, so one node delivers each and another takes over when
//! the lease lapses; a timer fires by deleting its row, so once. Deadlocks and serialization
//! failures are retried.
//!
//! Commits are grouped as in the embedded store: each change commits with
//! `synchronous_commit = off` (PostgreSQL writes its WAL but does not wait for the disk), then
//! waits for a group flush: one synchronous commit on a connection of its own, which flushes the
//! WAL up to its own record and so every change committed before it. The answer goes out only
//! after that, so an ACK is durable, and one fsync covers every change of the group.

mod schema;
mod sql;

pub use schema::{MIGRATIONS, create_database, migrate};

use super::Bounds;
use super::group_commit::GroupCommit;
use super::{
    Accepted, Body, Decision, DeliveryStatus, Effect, InboundRecord, Notification, OutboxEntry, RequeueError,
    Store, StoreError, StoredAnswer, TimelineItem, UpdateError,
};
use crate::orchestrator::{Order, Refusal, Timer};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use futures_util::future::{join, join3};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_postgres::NoTls;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{Json, ToSql};

/// How a PostgreSQL store is reached and shared.
#[derive(Clone)]
pub struct PgOptions {
    /// `postgres://user:password@host:port/database` (or the key=value form).
    pub url: String,
    /// Connections this node keeps (each change holds one only while it runs).
    pub pool_size: usize,
    /// How long a claimed outbox entry stays with the node that claimed it.
    pub lease: Duration,
    /// Timeline lines per order and notifications per user.
    pub bounds: Bounds,
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &redact(&self.url))
            .field("pool_size", &self.pool_size)
            .field("lease", &self.lease)
            .finish()
    }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme + 3], &creds[..colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ if url.contains("password=") => "(a key=value connection string with a password)".to_owned(),
        _ => url.to_owned(),
    }
}

fn engine(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Engine(Box::new(e))
}

/// Whether the database asked for the transaction to be run again.
fn retryable(e: &StoreError) -> bool {
    let StoreError::Engine(inner) = e else {
        return false;
    };
    let code = inner
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(|e| e.code().cloned());
    matches!(
        code,
        Some(c) if c == SqlState::T_R_SERIALIZATION_FAILURE || c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

/// Attempts of one change before its error is returned.
const ATTEMPTS: usize = 8;

/// Audit records removed per statement while pruning.
const PRUNE_CHUNK: i64 = 1000;

/// Runs `$body` (an async block using a fresh transaction) again while it fails retryably.
macro_rules! retrying {
    ($body:expr) => {{
        let mut attempt = 0;
        loop {
            attempt += 1;
            match $body.await {
                Err(e) if attempt < ATTEMPTS && retryable(&e) => {
                    tokio::time::sleep(Duration::from_millis(2 * attempt as u64)).await;
                }
                other => break other,
            }
        }
    }};
}

// Declared after `retrying!`, which it uses.
mod batch;

/// The PostgreSQL-backed [`Store`].
pub struct PgStore {
    pool: Pool,
    commit: Arc<GroupCommit>,
    node: String,
    lease: chrono::Duration,
    bounds: Bounds,
    /// Pending outbox entries across all nodes, refreshed every second and kept up to date with
    /// this node's own changes in between.
    pending: Arc<AtomicU64>,
    refresher: tokio::task::JoinHandle<()>,
    /// Orders and users whose timeline or notifications grew, trimmed at the next prune.
    touched: std::sync::Mutex<Touched>,
    /// Writes the messages that change nothing, many per statement.
    batcher: batch::Batcher,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects, applies the migrations this build has and the database lacks, and starts the
    /// group flusher. Must run inside a Tokio runtime.
    pub async fn open(options: PgOptions) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config = options
            .url
            .parse()
            .map_err(|e: tokio_postgres::Error| StoreError::Corrupt(format!("store.url: {e}")))?;
        let mut changes = config.clone();
        // Each change waits for the group flush instead of its own fsync.
        changes.options("-c synchronous_commit=off");
        changes.application_name("ondc-gateway");
        let manager = Manager::from_config(
            changes,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(2))
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(engine)?;
        {
            let mut client = pool.get().await.map_err(engine)?;
            migrate(&mut client).await?;
            client
                .execute(
                    "DELETE FROM gw_flush WHERE touched < now() - interval '1 day'",
                    &[],
                )
                .await
                .map_err(engine)?;
        }
        let node = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let commit = start_flusher(config, node.clone()).await?;
        let pending = Arc::new(AtomicU64::new(count_pending(&pool).await?));
        let refresher = tokio::spawn(refresh_pending(pool.clone(), Arc::downgrade(&pending)));
        Ok(Self {
            commit,
            node,
            lease: chrono::Duration::from_std(options.lease).unwrap_or(chrono::Duration::seconds(60)),
            bounds: options.bounds,
            pending,
            refresher,
            touched: std::sync::Mutex::new(Touched::default()),
            batcher: batch::Batcher::start(pool.clone()),
            pool,
        })
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(engine)
    }

    /// Runs one statement outside any transaction (prepared once per connection): its rows.
    async fn rows(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(engine)?;
        client.query(&statement, params).await.map_err(engine)
    }

    /// [`Self::rows`] for a statement with exactly one row.
    async fn one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, StoreError> {
        self.rows(sql, params)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Corrupt("a statement that returns one row returned none".into()))
    }

    /// [`Self::rows`] for a statement with at most one row.
    async fn opt(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, StoreError> {
        Ok(self.rows(sql, params).await?.into_iter().next())
    }

    /// [`Self::rows`] for a statement without rows: how many it changed.
    async fn exec(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(engine)?;
        client.execute(&statement, params).await.map_err(engine)
    }

    async fn durable(&self) -> Result<(), StoreError> {
        Ok(self.commit.durable().await?)
    }

    /// Notes that `order` and the users of `effect` have new lines, to be trimmed to their bounds
    /// at the next prune.
    fn touch(&self, order: Option<&str>, effect: Option<&Effect>) {
        let Ok(mut t) = self.touched.lock() else {
            return;
        };
        if let Some(id) = order {
            t.orders.insert(id.to_owned());
        }
        if let Some(e) = effect {
            if !e.outbox.is_empty() {
                t.orders.insert(e.order.id.clone());
            }
            t.users.extend(e.notifications.iter().map(|n| n.user_id.clone()));
        }
    }

    async fn try_accept(
        &self,
        record: &InboundRecord,
        decide: &(dyn for<'o> Fn(Option<&'o Order>) -> Decision + Send + Sync),
    ) -> Result<Result<(u64, StoredAnswer, Option<Effect>, Option<String>), StoredAnswer>, StoreError> {
        let client = self.client().await?;
        let txn_id = record.transaction_id.as_str();
        // Read without a lock first: most messages change nothing (untracked transactions,
        // reports of a state the order has), and those need no transaction at all. Their one
        // statement writes only their own rows, so they take their place before any change
        // made to the order since the read.
        let read = client
            .prepare_cached(sql::ORDER_OF_TRANSACTION)
            .await
            .map_err(engine)?;
        let order = read_order(client.query_opt(&read, &[&txn_id]).await)?;
        let decision = decide(order.as_ref());
        if decision.effect.is_none() {
            // The connection goes back before the wait: the batch needs one.
            drop(client);
            let key = record.dedupe_key();
            let row = batch::Row {
                sender: key.sender.as_str().to_owned(),
                action: key.action.as_str(),
                message_id: key.message_id.as_str().to_owned(),
                status: i32::from(decision.answer.status),
                answer: decision.answer.body.clone(),
                received_at: record.received_at,
                record: audit_meta(record, &decision.answer)?,
                body: record.body.as_bytes().to_vec(),
                order_id: order.as_ref().map(|o| o.id.clone()),
            };
            let seq = self.batcher.write(row).await?;
            return self.accepted(record, seq, decision, order).await;
        }
        // A change: decided again under the order's lock, written and committed at once.
        let txn = Txn::new(client);
        let lock = txn
            .prepare_cached(sql::LOCK_ORDER_OF_TRANSACTION)
            .await
            .map_err(engine)?;
        let (begun, row) = join(txn.batch_execute("BEGIN"), txn.query_opt(&lock, &[&txn_id])).await;
        begun.map_err(engine)?;
        let order = read_order(row)?;
        let decision = decide(order.as_ref());
        let seq = self
            .write_accept(&txn, record, &decision, order.as_ref(), true)
            .await?;
        txn.end();
        self.accepted(record, seq, decision, order).await
    }

    /// Writes an accepted message with what was decided for it (and commits the transaction
    /// open on `client` with it, if `commit`); its sequence number, or `None` if an earlier
    /// copy holds its key (nothing written).
    async fn write_accept(
        &self,
        client: &Object,
        record: &InboundRecord,
        decision: &Decision,
        order: Option<&Order>,
        commit: bool,
    ) -> Result<Option<i64>, StoreError> {
        let key = record.dedupe_key();
        let (sender, action, message_id) =
            (key.sender.as_str(), key.action.as_str(), key.message_id.as_str());
        let meta = audit_meta(record, &decision.answer)?;
        let status = i32::from(decision.answer.status);
        let order_id = order.map(|o| o.id.as_str());
        let effect = decision.effect.as_ref().map(EffectParams::of);
        let statement = client
            .prepare_cached(&sql::accept(
                order_id.is_some(),
                effect.as_ref().map(EffectParams::parts),
            ))
            .await
            .map_err(engine)?;
        let body = record.body.as_bytes();
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![
            &sender,
            &action,
            &message_id,
            &status,
            &decision.answer.body,
            &record.received_at,
            &meta,
            &body,
        ];
        debug_assert_eq!(params.len(), sql::ACCEPT_PARAMS);
        if let Some(id) = &order_id {
            params.push(id);
        }
        if let Some(effect) = &effect {
            params.extend(effect.refs());
        }
        let rows = if commit {
            let (rows, committed) =
                join(client.query(&statement, &params), client.batch_execute("COMMIT")).await;
            committed.map_err(engine)?;
            rows
        } else {
            client.query(&statement, &params).await
        };
        match rows.map_err(engine)?.first() {
            Some(row) => Ok(Some(row.try_get(0).map_err(engine)?)),
            None => Ok(None),
        }
    }

    /// The outcome of an accepted message: new under `seq`, or the first copy's answer.
    async fn accepted(
        &self,
        record: &InboundRecord,
        seq: Option<i64>,
        decision: Decision,
        order: Option<Order>,
    ) -> Result<Result<(u64, StoredAnswer, Option<Effect>, Option<String>), StoredAnswer>, StoreError> {
        let Some(seq) = seq else {
            // Taken by an earlier copy (perhaps on another node): nothing was written.
            let key = record.dedupe_key();
            let client = self.client().await?;
            return match first_answer(
                &client,
                key.sender.as_str(),
                key.action.as_str(),
                key.message_id.as_str(),
            )
            .await?
            {
                Some(first) => Ok(Err(first)),
                None => Err(StoreError::Corrupt(
                    "a dedupe entry vanished while it was read".into(),
                )),
            };
        };
        Ok(Ok((
            seq as u64,
            decision.answer,
            decision.effect,
            order.map(|o| o.id),
        )))
    }

    async fn try_insert_order(&self, order: &Order) -> Result<bool, StoreError> {
        let txn = Txn::new(self.client().await?);
        let insert = txn.prepare_cached(sql::INSERT_ORDER).await.map_err(engine)?;
        let mut txns = vec![order.retail.transaction_id.as_str()];
        if let Some(l) = &order.logistics {
            txns.push(l.transaction_id.as_str());
        }
        let (begun, row) = join(
            txn.batch_execute("BEGIN"),
            txn.query_one(&insert, &[&order.id, &Json(order), &txns]),
        )
        .await;
        begun.map_err(engine)?;
        let row = row.map_err(engine)?;
        let (orders, indexed): (i64, i64) = (row.get(0), row.get(1));
        let inserted = orders == 1 && indexed == txns.len() as i64;
        // All or nothing: an id or a transaction id that is taken leaves no trace.
        txn.batch_execute(if inserted { "COMMIT" } else { "ROLLBACK" })
            .await
            .map_err(engine)?;
        txn.end();
        Ok(inserted)
    }

    /// Locks order `id`, lets `decide` choose its change, writes it, and commits; the order
    /// and how many messages it sends. `before` runs first in the same round trip (a timer's
    /// `DELETE`), and decides whether to go on.
    async fn change_order(
        &self,
        id: &str,
        before: Option<(&str, &[&(dyn ToSql + Sync)])>,
        decide: &(dyn for<'o> Fn(&'o Order) -> Result<Effect, Refusal> + Send + Sync),
    ) -> Result<Option<Result<(Order, usize), UpdateError>>, StoreError> {
        let txn = Txn::new(self.client().await?);
        let lock = txn.prepare_cached(sql::LOCK_ORDER).await.map_err(engine)?;
        let (begun, gone, row) = match before {
            Some((sql, params)) => {
                let first = txn.prepare_cached(sql).await.map_err(engine)?;
                let (b, g, r) = join3(
                    txn.batch_execute("BEGIN"),
                    txn.execute(&first, params),
                    txn.query_opt(&lock, &[&id]),
                )
                .await;
                (b, Some(g), r)
            }
            None => {
                let (b, r) = join(txn.batch_execute("BEGIN"), txn.query_opt(&lock, &[&id])).await;
                (b, None, r)
            }
        };
        begun.map_err(engine)?;
        if let Some(gone) = gone
            && gone.map_err(engine)? == 0
        {
            // Someone else did it first.
            txn.batch_execute("ROLLBACK").await.map_err(engine)?;
            txn.end();
            return Ok(None);
        }
        let current = row
            .map_err(engine)?
            .map(|r| r.try_get::<_, Json<Order>>(0).map(|j| j.0))
            .transpose()
            .map_err(engine)?;
        let decided = match &current {
            None => Err(UpdateError::NotFound),
            Some(order) => decide(order).map_err(UpdateError::Refused),
        };
        let effect = match decided {
            Ok(effect) => effect,
            Err(e) => {
                // What `before` did stands (a timer is used up even so).
                txn.batch_execute("COMMIT").await.map_err(engine)?;
                txn.end();
                return Ok(Some(Err(e)));
            }
        };
        let params = EffectParams::of(&effect);
        let write = txn
            .prepare_cached(&sql::effect_only(params.parts()))
            .await
            .map_err(engine)?;
        let (written, committed) =
            join(txn.execute(&write, &params.refs()), txn.batch_execute("COMMIT")).await;
        committed.map_err(engine)?;
        txn.end();
        written.map_err(engine)?;
        self.touch(None, Some(&effect));
        let sent = effect.outbox.len();
        Ok(Some(Ok((effect.order, sent))))
    }

    async fn try_claim(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = self
            .rows(
                "WITH due AS ( \
                           SELECT message_id FROM gw_outbox \
                           WHERE status = 'pending' AND next_attempt_at <= $1 \
                           ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
                         UPDATE gw_outbox o SET next_attempt_at = $3, lease_owner = $4 \
                         FROM due WHERE o.message_id = due.message_id RETURNING o.entry",
                &[&now, &(limit as i64), &(now + self.lease), &self.node],
            )
            .await?;
        let mut due = rows
            .iter()
            .map(|r| r.try_get::<_, Json<OutboxEntry>>(0).map(|j| j.0).map_err(engine))
            .collect::<Result<Vec<_>, _>>()?;
        due.sort_by_key(|e| e.next_attempt_at);
        Ok(due)
    }

    async fn try_requeue(
        &self,
        order_id: &str,
        message_id: &str,
    ) -> Result<Result<OutboxEntry, RequeueError>, StoreError> {
        let txn = Txn::new(self.client().await?);
        let lock = txn
            .prepare_cached("SELECT entry FROM gw_outbox WHERE message_id = $1 FOR UPDATE")
            .await
            .map_err(engine)?;
        let (begun, row) = join(txn.batch_execute("BEGIN"), txn.query_opt(&lock, &[&message_id])).await;
        begun.map_err(engine)?;
        let found = row
            .map_err(engine)?
            .map(|r| r.try_get::<_, Json<OutboxEntry>>(0).map(|j| j.0))
            .transpose()
            .map_err(engine)?;
        let entry = match found {
            Some(e) => e.requeued(order_id, Utc::now()),
            None => Err(RequeueError::NotFound),
        };
        if let Ok(entry) = &entry {
            let update = txn
                .prepare_cached(
                    "UPDATE gw_outbox SET status = $2, next_attempt_at = $3, lease_owner = NULL, entry = $4 \
                     WHERE message_id = $1",
                )
                .await
                .map_err(engine)?;
            let (updated, committed) = join(
                txn.execute(
                    &update,
                    &[
                        &message_id,
                        &status_text(entry.status),
                        &entry.next_attempt_at,
                        &Json(entry),
                    ],
                ),
                txn.batch_execute("COMMIT"),
            )
            .await;
            committed.map_err(engine)?;
            updated.map_err(engine)?;
        } else {
            txn.batch_execute("ROLLBACK").await.map_err(engine)?;
        }
        txn.end();
        Ok(entry)
    }

    /// Keeps the newest lines of the orders and users written since the last trim.
    async fn trim_touched(&self) -> Result<(), StoreError> {
        let touched = match self.touched.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(_) => return Ok(()),
        };
        let trims = [
            (
                "gw_timeline",
                "order_id",
                &touched.orders,
                self.bounds.timeline_per_order,
            ),
            (
                "gw_notifications",
                "user_id",
                &touched.users,
                self.bounds.notifications_per_user,
            ),
        ];
        for (table, owner, owners, max) in trims {
            let trim = format!(
                "DELETE FROM {table} WHERE {owner} = $1 AND id <= \
                 (SELECT id FROM {table} WHERE {owner} = $1 ORDER BY id DESC OFFSET $2 LIMIT 1)"
            );
            for one in owners {
                self.exec(&trim, &[one, &bound(max)]).await?;
            }
        }
        Ok(())
    }
}

/// A bound as a row count.
fn bound(max: u64) -> i64 {
    i64::try_from(max.max(1)).unwrap_or(i64::MAX)
}

/// The orders and users with lines added since the last trim.
#[derive(Default)]
struct Touched {
    orders: std::collections::HashSet<String>,
    users: std::collections::HashSet<String>,
}

/// A transaction on a pooled connection, begun in the same round trip as its first statement
/// and committed in the same round trip as its last. Dropped before [`Txn::done`] (an error on
/// the way), it takes its connection out of the pool and closes it, so the server rolls back.
struct Txn {
    conn: Option<Object>,
}

impl Txn {
    fn new(conn: Object) -> Self {
        Self { conn: Some(conn) }
    }

    /// The transaction ended (COMMIT or ROLLBACK answered): the connection goes back to the pool.
    fn end(self) {
        drop(self.done());
    }

    /// [`Txn::end`], keeping the connection for a query outside the transaction.
    fn done(mut self) -> Object {
        match self.conn.take() {
            Some(conn) => conn,
            None => unreachable!("a transaction's connection is only taken once"),
        }
    }
}

impl std::ops::Deref for Txn {
    type Target = Object;

    fn deref(&self) -> &Object {
        match &self.conn {
            Some(conn) => conn,
            None => unreachable!("a transaction's connection is only taken when it ends"),
        }
    }
}

impl Drop for Txn {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Not returned to the pool: closing it rolls the transaction back.
            drop(Object::take(conn));
        }
    }
}

/// An effect as the parameters of its CTEs (see [`sql::Parts`]).
struct EffectParams<'a> {
    body: Json<&'a Order>,
    order: &'a str,
    ids: Vec<&'a str>,
    orders: Vec<&'a str>,
    statuses: Vec<&'static str>,
    due: Vec<DateTime<Utc>>,
    entries: Vec<Json<&'a OutboxEntry>>,
    users: Vec<&'a str>,
    notes: Vec<Json<&'a Notification>>,
    timer_orders: Vec<&'a str>,
    kinds: Vec<String>,
    timer_due: Vec<DateTime<Utc>>,
    timers: Vec<Json<&'a Timer>>,
}

impl<'a> EffectParams<'a> {
    fn of(effect: &'a Effect) -> Self {
        let (outbox, notes, timers) = (&effect.outbox, &effect.notifications, &effect.timers);
        Self {
            body: Json(&effect.order),
            order: effect.order.id.as_str(),
            ids: outbox.iter().map(|e| e.message_id.as_str()).collect(),
            orders: outbox.iter().map(|e| e.order_id.as_str()).collect(),
            statuses: outbox.iter().map(|e| status_text(e.status)).collect(),
            due: outbox.iter().map(|e| e.next_attempt_at).collect(),
            entries: outbox.iter().map(Json).collect(),
            users: notes.iter().map(|n| n.user_id.as_str()).collect(),
            notes: notes.iter().map(Json).collect(),
            timer_orders: timers.iter().map(|t| t.order_id.as_str()).collect(),
            kinds: timers.iter().map(|t| t.kind.tag()).collect(),
            timer_due: timers.iter().map(|t| t.due_at).collect(),
            timers: timers.iter().map(Json).collect(),
        }
    }

    fn parts(&self) -> sql::Parts {
        sql::Parts {
            outbox: !self.ids.is_empty(),
            notifications: !self.users.is_empty(),
            timers: !self.kinds.is_empty(),
        }
    }

    /// The parameters, in the order of [`sql::Parts::params`].
    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        let parts = self.parts();
        let mut refs: Vec<&(dyn ToSql + Sync)> = vec![&self.body, &self.order];
        if parts.outbox {
            refs.extend([
                &self.ids as &(dyn ToSql + Sync),
                &self.orders,
                &self.statuses,
                &self.due,
                &self.entries,
            ]);
        }
        if parts.notifications {
            refs.extend([&self.users as &(dyn ToSql + Sync), &self.notes]);
        }
        if parts.timers {
            refs.extend([
                &self.timer_orders as &(dyn ToSql + Sync),
                &self.kinds,
                &self.timer_due,
                &self.timers,
            ]);
        }
        debug_assert_eq!(refs.len(), parts.params());
        refs
    }
}

/// The order in a row of [`sql::ORDER_OF_TRANSACTION`] or [`sql::LOCK_ORDER`]-like reads.
fn read_order(
    row: Result<Option<tokio_postgres::Row>, tokio_postgres::Error>,
) -> Result<Option<Order>, StoreError> {
    row.map_err(engine)?
        .map(|r| r.try_get::<_, Json<Order>>(0).map(|j| j.0))
        .transpose()
        .map_err(engine)
}

/// The audit metadata of `record` answered `answer`: the record without its body (kept as bytes
/// beside it), as JSON.
fn audit_meta(record: &InboundRecord, answer: &StoredAnswer) -> Result<String, StoreError> {
    Ok(serde_json::to_string(&InboundRecord {
        sender: record.sender.clone(),
        action: record.action,
        message_id: record.message_id.clone(),
        transaction_id: record.transaction_id.clone(),
        received_at: record.received_at,
        headers: record.headers.clone(),
        body: Body::default(),
        verification: record.verification.clone(),
        answer: answer.clone(),
    })?)
}

/// An audit record from its metadata (the record stored without its body) and its bytes.
fn read_audit(meta: &str, body: Vec<u8>) -> Result<InboundRecord, StoreError> {
    let mut record: InboundRecord = serde_json::from_str(meta)?;
    record.body = Body::new(body);
    Ok(record)
}

async fn first_answer(
    client: &Object,
    sender: &str,
    action: &str,
    message_id: &str,
) -> Result<Option<StoredAnswer>, StoreError> {
    let row = client
        .query_opt(
            &client.prepare_cached(sql::FIRST_ANSWER).await.map_err(engine)?,
            &[&sender, &action, &message_id],
        )
        .await
        .map_err(engine)?;
    row.map(|r| {
        let status: i32 = r.get(0);
        Ok(StoredAnswer {
            status: u16::try_from(status)
                .map_err(|_| StoreError::Corrupt(format!("stored status {status}")))?,
            body: r.get(1),
        })
    })
    .transpose()
}

fn status_text(s: DeliveryStatus) -> &'static str {
    match s {
        DeliveryStatus::Pending => "pending",
        DeliveryStatus::Delivered => "delivered",
        DeliveryStatus::Failed => "failed",
    }
}

async fn count_pending(pool: &Pool) -> Result<u64, StoreError> {
    let client = pool.get().await.map_err(engine)?;
    let n: i64 = client
        .query_one("SELECT count(*) FROM gw_outbox WHERE status = 'pending'", &[])
        .await
        .map_err(engine)?
        .get(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Every second, the pending count of all nodes; ends with the store.
async fn refresh_pending(pool: Pool, pending: std::sync::Weak<AtomicU64>) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Some(target) = pending.upgrade() else {
            return;
        };
        match count_pending(&pool).await {
            Ok(n) => target.store(n, Ordering::Relaxed),
            Err(e) => tracing::warn!(error = %crate::telemetry::chain(&e), "cannot count the pending outbox"),
        }
    }
}

/// The group flusher: one synchronous commit per group, on a connection of its own, run from
/// the flusher thread on the runtime that opened the store.
async fn start_flusher(config: tokio_postgres::Config, node: String) -> Result<Arc<GroupCommit>, StoreError> {
    // A runtime of the flusher thread's own, so a flush never waits for the runtime that opened
    // the store (which may itself be waiting for the flusher, as when the store is dropped).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(engine)?;
    // Checked now, so a store that cannot flush does not open.
    connect(&config).await?;
    let client: std::sync::Mutex<Option<tokio_postgres::Client>> = std::sync::Mutex::new(None);
    Ok(GroupCommit::start(move || {
        let mut slot = client
            .lock()
            .map_err(|_| std::io::Error::other("the flush connection's lock is poisoned"))?;
        runtime.block_on(async {
            if slot.is_none() {
                *slot = Some(connect(&config).await.map_err(std::io::Error::other)?);
            }
            let Some(c) = slot.as_ref() else {
                return Err(std::io::Error::other("no flush connection"));
            };
            let flushed = c
                .execute(
                    // Always a write (an upsert), so its commit always waits for the WAL flush.
                    "INSERT INTO gw_flush (node, n, touched) VALUES ($1, 1, now()) \
                     ON CONFLICT (node) DO UPDATE SET n = gw_flush.n + 1, touched = now()",
                    &[&node],
                )
                .await;
            match flushed {
                Ok(_) => Ok(()),
                Err(e) => {
                    // Reconnect on the next group.
                    *slot = None;
                    Err(std::io::Error::other(e))
                }
            }
        })
    }))
}

/// A connection whose commits wait for the WAL flush (`synchronous_commit = on`: on this server's
/// disk, and on its synchronous standbys' if it has any), on the current runtime.
async fn connect(config: &tokio_postgres::Config) -> Result<tokio_postgres::Client, StoreError> {
    let mut config = config.clone();
    config.options("-c synchronous_commit=on");
    config.application_name("ondc-gateway flusher");
    let (client, connection) = config.connect(NoTls).await.map_err(engine)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "store flush connection ended");
        }
    });
    Ok(client)
}

#[async_trait]
impl Store for PgStore {
    async fn accept_inbound(
        &self,
        record: InboundRecord,
        decide: &(dyn for<'o> Fn(Option<&'o Order>) -> Decision + Send + Sync),
    ) -> Result<Accepted, StoreError> {
        let outcome = retrying!(self.try_accept(&record, decide))?;
        // A duplicate also waits: the first copy may not be durable yet.
        self.durable().await?;
        Ok(match outcome {
            Ok((seq, answer, effect, order)) => {
                if let Some(e) = &effect {
                    self.pending.fetch_add(e.outbox.len() as u64, Ordering::Relaxed);
                }
                self.touch(order.as_deref(), effect.as_ref());
                Accepted::New { seq, answer }
            }
            Err(first) => Accepted::Duplicate { first },
        })
    }

    async fn insert_order(&self, order: &Order) -> Result<bool, StoreError> {
        let inserted = retrying!(self.try_insert_order(order))?;
        self.durable().await?;
        Ok(inserted)
    }

    async fn order(&self, id: &str) -> Result<Option<Order>, StoreError> {
        let row = self
            .opt("SELECT body FROM gw_orders WHERE id = $1", &[&id])
            .await?;
        row.map(|r| r.try_get::<_, Json<Order>>(0).map(|j| j.0).map_err(engine))
            .transpose()
    }

    async fn update_order(
        &self,
        id: &str,
        decide: &(dyn for<'o> Fn(&'o Order) -> Result<Effect, Refusal> + Send + Sync),
    ) -> Result<Result<Order, UpdateError>, StoreError> {
        match retrying!(self.change_order(id, None, decide))? {
            Some(Ok((order, sent))) => {
                self.pending.fetch_add(sent as u64, Ordering::Relaxed);
                self.durable().await?;
                Ok(Ok(order))
            }
            Some(Err(e)) => Ok(Err(e)),
            None => Ok(Err(UpdateError::NotFound)),
        }
    }

    async fn due_outbox(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let due = retrying!(self.try_claim(now, limit))?;
        if !due.is_empty() {
            // Nothing is sent before the change that wrote it is durable.
            self.durable().await?;
        }
        Ok(due)
    }

    fn pending_outbox(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.one(
            "SELECT min(next_attempt_at) FROM gw_outbox WHERE status = 'pending'",
            &[],
        )
        .await?
        .try_get(0)
        .map_err(engine)
    }

    async fn save_delivery(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        let client = self.client().await?;
        // Only while pending: if the lease lapsed and another node settled it, its result stands.
        let changed = client
            .execute(
                &client
                    .prepare_cached(
                        "UPDATE gw_outbox SET status = $2, next_attempt_at = $3, lease_owner = NULL, entry = $4 \
                         WHERE message_id = $1 AND status = 'pending'",
                    )
                    .await
                    .map_err(engine)?,
                &[
                    &entry.message_id.as_str(),
                    &status_text(entry.status),
                    &entry.next_attempt_at,
                    &Json(entry),
                ],
            )
            .await
            .map_err(engine)?;
        if changed > 0 && entry.status != DeliveryStatus::Pending {
            let _ = self
                .pending
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    Some(n.saturating_sub(1))
                });
        }
        self.durable().await
    }

    async fn requeue_failed(
        &self,
        order_id: &str,
        message_id: &str,
    ) -> Result<Result<OutboxEntry, RequeueError>, StoreError> {
        let result = retrying!(self.try_requeue(order_id, message_id))?;
        if result.is_ok() {
            self.pending.fetch_add(1, Ordering::Relaxed);
            self.durable().await?;
        }
        Ok(result)
    }

    async fn timeline(&self, order_id: &str) -> Result<Vec<TimelineItem>, StoreError> {
        let client = self.client().await?;
        // The newest lines up to the bound (older ones wait for the next trim), oldest first.
        let rows = client
            .query(
                &client
                    .prepare_cached(
                        "SELECT * FROM ( \
                           SELECT t.id, t.seq, a.record, a.body, o.entry FROM gw_timeline t \
                           LEFT JOIN gw_audit a ON a.seq = t.seq \
                           LEFT JOIN gw_outbox o ON o.message_id = t.message_id \
                           WHERE t.order_id = $1 ORDER BY t.id DESC LIMIT $2) AS newest \
                         ORDER BY id",
                    )
                    .await
                    .map_err(engine)?,
                &[&order_id, &bound(self.bounds.timeline_per_order)],
            )
            .await
            .map_err(engine)?;
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            let seq: Option<i64> = r.get(1);
            let meta: Option<String> = r.get(2);
            let body: Option<Vec<u8>> = r.get(3);
            let entry: Option<Json<OutboxEntry>> = r.try_get(4).map_err(engine)?;
            match (seq, meta, body, entry) {
                // Gone once the audit's retention has passed.
                (Some(seq), Some(meta), Some(body), _) => items.push(TimelineItem::In {
                    seq: seq as u64,
                    record: Box::new(read_audit(&meta, body)?),
                }),
                (None, _, _, Some(entry)) => items.push(TimelineItem::Out {
                    entry: Box::new(entry.0),
                }),
                _ => {}
            }
        }
        Ok(items)
    }

    async fn notifications(&self, user_id: &str) -> Result<Vec<Notification>, StoreError> {
        let rows = self.rows("SELECT body FROM ( \
                           SELECT id, body FROM gw_notifications WHERE user_id = $1 ORDER BY id DESC LIMIT $2 \
                         ) AS newest ORDER BY id", &[&user_id, &bound(self.bounds.notifications_per_user)])
        .await?;
        rows.iter()
            .map(|r| r.try_get::<_, Json<Notification>>(0).map(|j| j.0).map_err(engine))
            .collect()
    }

    async fn inbound_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, InboundRecord)>, StoreError> {
        let rows = self
            .rows(
                "SELECT seq, record, body FROM gw_audit WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&i64::try_from(after).unwrap_or(i64::MAX), &(limit as i64)],
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                let seq: i64 = r.get(0);
                let meta: String = r.get(1);
                Ok((seq as u64, read_audit(&meta, r.get(2))?))
            })
            .collect()
    }

    async fn due_timers(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Timer>, StoreError> {
        let rows = self
            .rows(
                "SELECT body FROM gw_timers WHERE due_at <= $1 ORDER BY due_at LIMIT $2",
                &[&now, &(limit as i64)],
            )
            .await?;
        rows.iter()
            .map(|r| r.try_get::<_, Json<Timer>>(0).map(|j| j.0).map_err(engine))
            .collect()
    }

    async fn next_timer(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.one("SELECT min(due_at) FROM gw_timers", &[])
            .await?
            .try_get(0)
            .map_err(engine)
    }

    async fn fire_timer(
        &self,
        timer: &Timer,
        decide: &(dyn for<'o> Fn(&'o Order) -> Result<Effect, Refusal> + Send + Sync),
    ) -> Result<bool, StoreError> {
        let kind = timer.kind.tag();
        let params: [&(dyn ToSql + Sync); 3] = [&timer.order_id, &kind, &timer.due_at];
        // Another node firing it holds the row: this waits, then finds it gone. A refusal or a
        // missing order still uses the timer up.
        let delete = "DELETE FROM gw_timers WHERE order_id = $1 AND kind = $2 AND due_at = $3";
        match retrying!(self.change_order(&timer.order_id, Some((delete, &params[..])), decide))? {
            None => Ok(false),
            Some(outcome) => {
                if let Ok((_, sent)) = outcome {
                    self.pending.fetch_add(sent as u64, Ordering::Relaxed);
                }
                self.durable().await?;
                Ok(true)
            }
        }
    }

    async fn put_registry_entry(&self, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO gw_registry (key, value) VALUES ($1, $2) \
                         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&key, &value],
        )
        .await?;
        self.durable().await
    }

    async fn registry_entries(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT key, value FROM gw_registry ORDER BY key", &[])
            .await
            .map_err(engine)?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        // Timelines and notifications past their bounds go at the same rhythm, outside any
        // change, so a busy order or user never makes its writers queue on the trim.
        self.trim_touched().await?;
        let mut removed = 0u64;
        loop {
            let client = self.client().await?;
            // A dedupe entry goes with its own record only (a later copy may own the key now).
            let n: i64 = client
                .query_one(
                    &client
                        .prepare_cached(
                            "WITH gone AS ( \
                               DELETE FROM gw_audit WHERE seq IN ( \
                                 SELECT seq FROM gw_audit WHERE received_at < $1 ORDER BY seq LIMIT $2) \
                               RETURNING seq), \
                             d AS (DELETE FROM gw_dedupe WHERE seq IN (SELECT seq FROM gone)) \
                             SELECT count(*) FROM gone",
                        )
                        .await
                        .map_err(engine)?,
                    &[&before, &PRUNE_CHUNK],
                )
                .await
                .map_err(engine)?
                .get(0);
            drop(client);
            self.durable().await?;
            removed += n as u64;
            if n < PRUNE_CHUNK {
                return Ok(removed);
            }
        }
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.refresher.abort();
        self.commit.stop();
    }
}

#[cfg(test)]
mod tests;
