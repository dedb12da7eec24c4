//! Driving the gateway: a closed loop over keep-alive connections (each connection sends its
//! next callback as soon as the last one is answered; a lean client of our own, [`super::wire`]),
//! or an open loop at a fixed rate (for
//! callbacks given `--rate`, and always for cascades, timed from the LSP's `/on_cancel` until the
//! seller receives `/cancel`).
//! Both stop by themselves: at the time bound, or when the pre-signed load runs out. With several
//! gateway nodes the load is split between them: connection `c` (closed loop), or call `i`
//! (open loop), goes to node `c % nodes` (`i % nodes`).

use super::network::Network;
use super::payloads::Call;
use super::wire::Connection;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the cascades still running at the end have to reach the seller.
const CASCADE_DRAIN: Duration = Duration::from_secs(10);
/// Refusals kept verbatim for the report.
const KEPT_ERRORS: usize = 5;

/// What one run measured.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Requests sent.
    pub sent: usize,
    /// Answered 200 with an ACK body.
    pub acked: usize,
    /// Of those, by the node that answered.
    pub acked_by_node: Vec<usize>,
    /// Everything else: transport errors, other statuses, NACKs.
    pub errors: usize,
    /// The first few errors.
    pub error_samples: Vec<String>,
    /// Request latency (send to full answer), microseconds, sorted.
    pub latencies_us: Vec<u64>,
    /// The load phase.
    pub elapsed: Duration,
    /// Cascades: LSP's `/on_cancel` sent until the seller received `/cancel`, microseconds,
    /// sorted (one per completed cascade).
    pub cascade_us: Vec<u64>,
    /// Cascades started.
    pub cascades_started: usize,
    /// Cascades: `/cancel`s the seller received for a transaction it already had one for.
    pub duplicate_cancels: usize,
}

#[derive(Default)]
struct Tally {
    acked: usize,
    acked_by_node: Vec<usize>,
    errors: usize,
    samples: Vec<String>,
    latencies: Vec<u64>,
}

impl Tally {
    fn new(nodes: usize) -> Self {
        Self {
            acked_by_node: vec![0; nodes],
            ..Self::default()
        }
    }

    fn merge(&mut self, other: Tally) {
        self.acked += other.acked;
        for (mine, theirs) in self.acked_by_node.iter_mut().zip(other.acked_by_node) {
            *mine += theirs;
        }
        self.errors += other.errors;
        for s in other.samples {
            if self.samples.len() < KEPT_ERRORS {
                self.samples.push(s);
            }
        }
        self.latencies.extend(other.latencies);
    }

    /// Counts an answer from node `node`: a 200 with an ACK body, or an error.
    fn answer(&mut self, node: usize, answer: Result<(u16, Vec<u8>), String>) {
        match answer {
            Ok((200, body)) if is_ack(&body) => {
                self.acked += 1;
                if let Some(n) = self.acked_by_node.get_mut(node) {
                    *n += 1;
                }
            }
            Ok((status, body)) => self.error(format!("{status} {}", String::from_utf8_lossy(&body))),
            Err(e) => self.error(e),
        }
    }

    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.samples.len() < KEPT_ERRORS {
            self.samples.push(what);
        }
    }
}

/// Sends one call to node `node` at `base` and adds what happened to `tally`.
async fn send(http: &reqwest::Client, node: usize, base: &str, call: &Call, tally: &mut Tally) {
    let started = Instant::now();
    let result = http
        .post(format!("{base}/{}", call.action))
        .header("content-type", "application/json")
        .header("authorization", &call.authorization)
        .body(call.body.clone())
        .send()
        .await;
    let answer = match result {
        Ok(resp) => {
            let status = resp.status().as_u16();
            resp.bytes().await.map(|b| (status, b))
        }
        Err(e) => Err(e),
    };
    tally.latencies.push(started.elapsed().as_micros() as u64);
    let answer = answer
        .map(|(status, body)| (status, body.to_vec()))
        .map_err(|e| crate::telemetry::chain(&e.without_url()));
    tally.answer(node, answer);
}

/// A Beckn ACK body: `{"message":{"ack":{"status":"ACK"}}}` with no `error`.
fn is_ack(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .is_ok_and(|v| v["message"]["ack"]["status"] == "ACK" && v.get("error").is_none())
}

/// `connections` loops, each sending the next unsent call as soon as its last one is answered,
/// until `duration` has passed or every call is sent; loop `c` talks to node `c % nodes`.
pub async fn closed_loop(net: &Network, calls: Vec<Call>, connections: usize, duration: Duration) -> Outcome {
    let calls = Arc::new(calls);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let nodes = net.bases.len();
    let tasks: Vec<_> = (0..connections.max(1))
        .map(|c| {
            let (calls, next) = (calls.clone(), next.clone());
            let mut connection = Connection::new(net.base(c));
            tokio::spawn(async move {
                let mut tally = Tally::new(nodes);
                while Instant::now() < deadline {
                    let Some(call) = calls.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    let started = Instant::now();
                    let answer = connection
                        .post(call.action, &call.authorization, &call.body)
                        .await;
                    tally.latencies.push(started.elapsed().as_micros() as u64);
                    tally.answer(c % nodes, answer.map_err(|e| e.to_string()));
                }
                tally
            })
        })
        .collect();
    let mut total = Tally::new(nodes);
    for t in tasks {
        match t.await {
            Ok(tally) => total.merge(tally),
            Err(e) => total.error(format!("load task failed: {e}")),
        }
    }
    let elapsed = started.elapsed();
    finish(total, elapsed, 0, Vec::new(), 0)
}

/// Sends `rate` calls a second (in 1 ms slices, each call on its own task, so a slow answer
/// does not hold back the next send) until `duration` has passed or every call is sent; call `i`
/// goes to node `i % nodes`. For cascades it then gives the ones under way `CASCADE_DRAIN` to
/// reach the seller (which any node may deliver to).
pub async fn open_loop(net: &Network, calls: Vec<Call>, rate: u32, duration: Duration) -> Outcome {
    let cascades = calls.first().is_some_and(|c| c.cascade_txn.is_some());
    let nodes = net.bases.len();
    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut calls = calls.into_iter();
    let mut started_n = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    while started.elapsed() < duration {
        tick.tick().await;
        let due = (started.elapsed().as_secs_f64() * f64::from(rate)) as usize;
        let mut exhausted = false;
        while started_n < due {
            let Some(call) = calls.next() else {
                exhausted = true;
                break;
            };
            let node = started_n % nodes;
            started_n += 1;
            let (http, base, sent_at) = (net.client().clone(), net.base(node).to_owned(), sent_at.clone());
            tasks.push(tokio::spawn(async move {
                let mut tally = Tally::new(nodes);
                if let (Some(txn), Ok(mut s)) = (&call.cascade_txn, sent_at.lock()) {
                    s.insert(txn.clone(), Instant::now());
                }
                send(&http, node, &base, &call, &mut tally).await;
                tally
            }));
        }
        if exhausted {
            break;
        }
    }
    let mut total = Tally::new(nodes);
    for t in tasks {
        match t.await {
            Ok(tally) => total.merge(tally),
            Err(e) => total.error(format!("load task failed: {e}")),
        }
    }
    if !cascades {
        let elapsed = started.elapsed();
        return finish(total, elapsed, 0, Vec::new(), 0);
    }
    // Wait (bounded) until the seller has received a /cancel for every ACKed cascade.
    let drain_until = Instant::now() + CASCADE_DRAIN;
    loop {
        let arrived = net.arrivals.lock().map_or(0, |a| a.len());
        if arrived >= total.acked || Instant::now() > drain_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let arrivals = net.arrivals.lock().map(|a| a.clone()).unwrap_or_default();
    let sent = sent_at.lock().map(|s| s.clone()).unwrap_or_default();
    let last = arrivals.values().max().copied().unwrap_or_else(Instant::now);
    let cascade_us = arrivals
        .iter()
        .filter_map(|(txn, at)| {
            sent.get(txn)
                .map(|s| at.saturating_duration_since(*s).as_micros() as u64)
        })
        .collect();
    finish(
        total,
        last.saturating_duration_since(started),
        started_n,
        cascade_us,
        net.duplicates.load(Ordering::Relaxed),
    )
}

fn finish(
    total: Tally,
    elapsed: Duration,
    cascades_started: usize,
    mut cascade_us: Vec<u64>,
    duplicate_cancels: usize,
) -> Outcome {
    let mut latencies_us = total.latencies;
    latencies_us.sort_unstable();
    cascade_us.sort_unstable();
    Outcome {
        sent: latencies_us.len(),
        acked: total.acked,
        acked_by_node: total.acked_by_node,
        errors: total.errors,
        error_samples: total.samples,
        latencies_us,
        elapsed,
        cascade_us,
        cascades_started,
        duplicate_cancels,
    }
}
