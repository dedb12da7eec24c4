//! Messages that change nothing (most callbacks: untracked transactions, reports of a state the
//! order already has), written many at a time: the requests waiting while one statement runs
//! go together in the next, as arrays, so PostgreSQL's cost per statement, which dominates a
//! single small insert, is paid once per batch. Each waits for its own outcome; the group flush
//! that makes them durable is the caller's, as for any change.

use super::{ATTEMPTS, engine, retryable};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Most messages in one statement.
const MAX_BATCH: usize = 256;

/// Statements running at once (each on its own connection).
const CONCURRENT: usize = 4;

/// One message's rows: its dedupe key and answer, its audit record, and its order (for the
/// timeline line), if tracked.
pub struct Row {
    pub sender: String,
    pub action: &'static str,
    pub message_id: String,
    pub status: i32,
    pub answer: String,
    pub received_at: DateTime<Utc>,
    pub record: String,
    pub body: Vec<u8>,
    pub order_id: Option<String>,
}

impl Row {
    fn key(&self) -> (String, &'static str, String) {
        (self.sender.clone(), self.action, self.message_id.clone())
    }
}

/// Its audit sequence number, or `None` if an earlier copy holds its key (nothing written).
pub type Outcome = Result<Option<i64>, StoreError>;

struct Job {
    row: Row,
    reply: oneshot::Sender<Outcome>,
}

/// Hands rows to the batch writer.
#[derive(Clone)]
pub struct Batcher {
    jobs: mpsc::UnboundedSender<Job>,
}

/// The statement: the dedupe rows (in key order, so two batches never wait on each other in a
/// cycle), then for the rows that were new, their audit records and timeline lines.
const WRITE: &str = "WITH input AS ( \
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::text[], \
                            $6::timestamptz[], $7::text[], $8::bytea[], $9::text[]) \
       WITH ORDINALITY AS i(sender, action, message_id, status, answer, received_at, record, body, order_id, n)), \
     d AS ( \
       INSERT INTO gw_dedupe (sender, action, message_id, seq, status, answer) \
       SELECT sender, action, message_id, nextval('gw_audit_seq'), status, answer FROM input \
       ORDER BY sender, action, message_id \
       ON CONFLICT DO NOTHING RETURNING sender, action, message_id, seq), \
     j AS (SELECT input.*, d.seq FROM input JOIN d USING (sender, action, message_id)), \
     a AS (INSERT INTO gw_audit (seq, received_at, record, body) SELECT seq, received_at, record, body FROM j), \
     tl AS (INSERT INTO gw_timeline (order_id, seq) SELECT order_id, seq FROM j WHERE order_id IS NOT NULL ORDER BY seq) \
     SELECT n, seq FROM j";

impl Batcher {
    /// Starts the writer on the current runtime; it ends when every `Batcher` is dropped.
    pub fn start(pool: Pool) -> Self {
        let (jobs, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, rx));
        Self { jobs }
    }

    /// Writes `row` with the next batch.
    pub async fn write(&self, row: Row) -> Outcome {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { row, reply })
            .map_err(|_| StoreError::Engine("the batch writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Engine("the batch writer has stopped".into()))?
    }
}

async fn run(pool: Pool, mut rx: mpsc::UnboundedReceiver<Job>) {
    let slots = Arc::new(Semaphore::new(CONCURRENT));
    // A copy of a key already in the batch being formed waits for the next one, so that each
    // statement holds a key once.
    let mut held: VecDeque<Job> = VecDeque::new();
    loop {
        // Wait for a free slot first: while every slot is busy, requests gather into the batch.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch: Vec<Job> = Vec::new();
        let mut keys = HashSet::new();
        let mut later = VecDeque::new();
        while let Some(job) = held.pop_front() {
            if batch.len() < MAX_BATCH && keys.insert(job.row.key()) {
                batch.push(job);
            } else {
                later.push_back(job);
            }
        }
        held = later;
        if batch.is_empty() {
            match rx.recv().await {
                Some(job) => {
                    keys.insert(job.row.key());
                    batch.push(job);
                }
                None => return,
            }
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) if keys.insert(job.row.key()) => batch.push(job),
                Ok(job) => held.push_back(job),
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            let _slot = slot;
            write(&pool, batch).await;
        });
    }
}

/// Runs one batch (again on a deadlock or serialization failure) and answers each job.
async fn write(pool: &Pool, batch: Vec<Job>) {
    let outcome = retrying!(try_write(pool, &batch));
    match outcome {
        Ok(seqs) => {
            for (i, job) in batch.into_iter().enumerate() {
                let _ = job.reply.send(Ok(seqs.get(&(i as i64 + 1)).copied()));
            }
        }
        Err(e) => {
            let shown = crate::telemetry::chain(&e);
            let unavailable = e.is_unavailable();
            for job in batch {
                let e = if unavailable {
                    StoreError::Engine(shown.clone().into())
                } else {
                    StoreError::Corrupt(shown.clone())
                };
                let _ = job.reply.send(Err(e));
            }
        }
    }
}

/// The sequence number of each new row, by its place in the batch (from 1).
async fn try_write(pool: &Pool, batch: &[Job]) -> Result<HashMap<i64, i64>, StoreError> {
    let client = pool.get().await.map_err(engine)?;
    let statement = client.prepare_cached(WRITE).await.map_err(engine)?;
    let rows: Vec<&Row> = batch.iter().map(|j| &j.row).collect();
    let senders: Vec<&str> = rows.iter().map(|r| r.sender.as_str()).collect();
    let actions: Vec<&str> = rows.iter().map(|r| r.action).collect();
    let ids: Vec<&str> = rows.iter().map(|r| r.message_id.as_str()).collect();
    let statuses: Vec<i32> = rows.iter().map(|r| r.status).collect();
    let answers: Vec<&str> = rows.iter().map(|r| r.answer.as_str()).collect();
    let times: Vec<DateTime<Utc>> = rows.iter().map(|r| r.received_at).collect();
    let records: Vec<&str> = rows.iter().map(|r| r.record.as_str()).collect();
    let bodies: Vec<&[u8]> = rows.iter().map(|r| r.body.as_slice()).collect();
    let orders: Vec<Option<&str>> = rows.iter().map(|r| r.order_id.as_deref()).collect();
    let written = client
        .query(
            &statement,
            &[
                &senders, &actions, &ids, &statuses, &answers, &times, &records, &bodies, &orders,
            ],
        )
        .await
        .map_err(engine)?;
    Ok(written
        .iter()
        .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1)))
        .collect())
}
