//! The benchmark's result as one value, printed as text for a person and written as JSON for
//! tools (the field names are the contract the smoke test checks).

use super::error::BenchError;
use super::load::Outcome;
use super::network::GatewayLog;
use super::process::{self, Sample, USER_HZ};
use super::sdk::SdkRate;
use super::store::{Backend, ticks_between};
use super::{Mode, Options};
use serde::Serialize;
use std::fmt::Write as _;

/// How much of each logged line the text report shows.
const LOG_LINE_CHARS: usize = 300;

/// The first `n` characters of `s` (and `…` if there were more).
fn clip(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
}

/// Latency percentiles, milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl Latency {
    fn of(sorted_us: &[u64]) -> Self {
        let at = |q: f64| {
            if sorted_us.is_empty() {
                return 0.0;
            }
            let i = ((sorted_us.len() as f64 * q).ceil() as usize).clamp(1, sorted_us.len()) - 1;
            sorted_us[i] as f64 / 1000.0
        };
        Self {
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

/// Cascades mode only.
#[derive(Debug, Clone, Serialize)]
pub struct Cascades {
    /// Target rate.
    pub target_per_sec: u32,
    /// Started (the LSP's `/on_cancel` sent).
    pub started: usize,
    /// The seller received the gateway's `/cancel`.
    pub completed: usize,
    /// Completed per second of the run (first send to last arrival).
    pub per_sec: f64,
    /// The LSP's `/on_cancel` sent until the seller received `/cancel`.
    pub to_seller: Latency,
    /// `/cancel`s the seller received for a transaction it already had one for (by the end of
    /// the drain).
    pub duplicates: usize,
}

/// One gateway node.
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    /// Its base URL.
    pub url: String,
    /// Requests it answered 200 ACK.
    pub acked: usize,
    /// Its CPU (user + system) per request it ACKed, microseconds.
    pub cpu_us_per_request: f64,
    /// Its CPU over the load phase, percent of one core.
    pub cpu_percent: f64,
    /// Its peak resident memory (`VmHWM`), MiB.
    pub peak_rss_mib: f64,
    /// Its resident memory at the end, MiB.
    pub rss_mib: f64,
}

/// The PostgreSQL server's CPU over the load phase, read from `/proc` (only when the server
/// runs on this machine).
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseServer {
    /// The backends of the run's database (the gateway nodes' connections), per ACKed
    /// request, microseconds.
    pub backends_cpu_us_per_request: f64,
    /// The same, percent of one core.
    pub backends_cpu_percent: f64,
    /// The server's background processes (WAL writer, checkpointer, background writer,
    /// autovacuum, …), percent of one core: shared with any other database the server holds.
    pub background_cpu_percent: f64,
    /// Where the figures come from.
    pub source: String,
}

/// The comparison with ONDC's Node SDK.
#[derive(Debug, Clone, Serialize)]
pub struct Sdk {
    /// The SDK run, or why there was none.
    #[serde(flatten)]
    pub rate: Option<SdkRate>,
    /// Why there is no SDK figure.
    pub error: Option<String>,
    /// The gateway's ACKed requests per second over the SDK's bare `isHeaderValid` rate.
    pub gateway_to_sdk_ratio: Option<f64>,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What was driven.
    pub mode: Mode,
    /// The gateway's store: `sled` or `postgres`.
    pub store: Backend,
    /// PostgreSQL: the run's database (made for it, dropped after it).
    pub database: Option<String>,
    /// PostgreSQL: its server, without a password.
    pub database_server_url: Option<String>,
    /// Gateway processes (one logical gateway on one store).
    pub nodes: usize,
    /// When (UTC).
    pub at: String,
    /// Cores, CPU model.
    pub machine: Machine,
    /// 1/5/15-minute load averages before the gateway started, and the 1-minute one at the end.
    pub load_average_before: [f64; 3],
    /// 1-minute load average when the load phase ended.
    pub load_average_after: f64,
    /// Gateway workers asked for (0 = one per core).
    pub workers: usize,
    /// Keep-alive connections (closed loop).
    pub connections: usize,
    /// Requests started per second (open loop), if fixed.
    pub rate: Option<u32>,
    /// Orders registered through the REST API before the load.
    pub orders: usize,
    /// Length of the load phase, seconds.
    pub seconds: f64,
    /// Requests sent.
    pub requests: usize,
    /// Answered 200 ACK.
    pub acked: usize,
    /// Anything else.
    pub errors: usize,
    /// The first few errors.
    pub error_samples: Vec<String>,
    /// ACKed requests per second.
    pub requests_per_sec: f64,
    /// Request latency at the client.
    pub latency: Latency,
    /// Gateway CPU (user + system, all nodes) per ACKed request, microseconds.
    pub cpu_us_per_request: f64,
    /// Gateway CPU (all nodes) over the load phase, percent of one core.
    pub gateway_cpu_percent: f64,
    /// The load generator's own CPU (this process) over the load phase, percent of one core.
    pub load_generator_cpu_percent: f64,
    /// Where the CPU figure comes from.
    pub cpu_source: String,
    /// Gateway peak resident memory (`VmHWM`), MiB, summed over the nodes.
    pub peak_rss_mib: f64,
    /// Gateway resident memory at the end, MiB, summed over the nodes.
    pub rss_mib: f64,
    /// Each node.
    pub per_node: Vec<Node>,
    /// PostgreSQL on this machine: its CPU.
    pub database_server: Option<DatabaseServer>,
    /// The store before the load, bytes.
    pub store_bytes_before: u64,
    /// The store after the load, bytes.
    pub store_bytes_after: u64,
    /// Growth per ACKed request, bytes.
    pub store_bytes_per_callback: f64,
    /// What the store figures measure.
    pub store_bytes_source: String,
    /// ERROR and WARN lines the gateway nodes logged.
    pub gateway_log: GatewayLog,
    /// Cascades mode.
    pub cascades: Option<Cascades>,
    /// ONDC's Node SDK on the same headers.
    pub sdk: Option<Sdk>,
}

/// The machine.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// `nproc`.
    pub cores: usize,
    /// `/proc/cpuinfo` model name.
    pub cpu_model: String,
}

/// What [`Report::new`] puts together.
pub struct Readings {
    /// 1/5/15-minute load averages before the run.
    pub load_before: (f64, f64, f64),
    /// Orders registered.
    pub orders: usize,
    /// The load phase.
    pub outcome: Outcome,
    /// Before the load phase.
    pub before: Sample,
    /// After it.
    pub after: Sample,
    /// The SDK comparison, if run.
    pub sdk: Option<Result<SdkRate, BenchError>>,
    /// The backend.
    pub store: Backend,
    /// PostgreSQL: the run's database and its server (no password).
    pub database: Option<(String, String)>,
    /// What the store figures measure.
    pub store_bytes_source: &'static str,
    /// The nodes' base URLs.
    pub bases: Vec<String>,
    /// What the nodes logged at ERROR and WARN.
    pub log: GatewayLog,
}

impl Report {
    /// Puts the readings together.
    pub fn new(options: &Options, r: Readings) -> Self {
        let Readings {
            load_before,
            orders,
            outcome,
            before,
            after,
            sdk,
            store,
            database,
            store_bytes_source,
            bases,
            log,
        } = r;
        let seconds = outcome.elapsed.as_secs_f64().max(1e-9);
        let requests_per_sec = outcome.acked as f64 / seconds;
        let ticks = |b: u64, a: u64| a.saturating_sub(b) as f64 / USER_HZ;
        let node_cpu: Vec<f64> = before
            .nodes
            .iter()
            .zip(&after.nodes)
            .map(|(b, a)| ticks(b.cpu_ticks, a.cpu_ticks))
            .collect();
        let cpu_secs: f64 = node_cpu.iter().sum();
        let per = |x: f64, n: usize| if n == 0 { 0.0 } else { x / n as f64 };
        let per_request = |x: f64| per(x, outcome.acked);
        let mib = |kib: u64| kib as f64 / 1024.0;
        let per_node = bases
            .iter()
            .zip(&after.nodes)
            .zip(&node_cpu)
            .enumerate()
            .map(|(i, ((url, a), cpu))| {
                let acked = outcome.acked_by_node.get(i).copied().unwrap_or(0);
                Node {
                    url: url.clone(),
                    acked,
                    cpu_us_per_request: per(cpu * 1e6, acked),
                    cpu_percent: cpu / seconds * 100.0,
                    peak_rss_mib: mib(a.peak_rss_kib),
                    rss_mib: mib(a.rss_kib),
                }
            })
            .collect();
        let database_server = match (
            (&before.store.backends, &after.store.backends),
            (&before.store.background, &after.store.background),
        ) {
            ((Some(b0), Some(b1)), (Some(g0), Some(g1))) => {
                let backends = ticks_between(b0, b1) as f64 / USER_HZ;
                let background = ticks_between(g0, g1) as f64 / USER_HZ;
                Some(DatabaseServer {
                    backends_cpu_us_per_request: per_request(backends * 1e6),
                    backends_cpu_percent: backends / seconds * 100.0,
                    background_cpu_percent: background / seconds * 100.0,
                    source: format!(
                        "utime+stime of the server's processes (/proc/{{pid}}/stat of the pids in \
                         pg_stat_activity, USER_HZ {USER_HZ}), load phase only"
                    ),
                })
            }
            _ => None,
        };
        let (cores, cpu_model) = process::machine();
        let cascades = (options.mode == Mode::Cascades).then(|| Cascades {
            target_per_sec: options.rate.unwrap_or(super::DEFAULT_CASCADE_RATE),
            started: outcome.cascades_started,
            completed: outcome.cascade_us.len(),
            per_sec: outcome.cascade_us.len() as f64 / seconds,
            to_seller: Latency::of(&outcome.cascade_us),
            duplicates: outcome.duplicate_cancels,
        });
        let sdk = sdk.map(|r| match r {
            Ok(rate) => Sdk {
                gateway_to_sdk_ratio: (rate.verifies_per_sec > 0.0)
                    .then(|| requests_per_sec / rate.verifies_per_sec),
                rate: Some(rate),
                error: None,
            },
            Err(e) => Sdk {
                rate: None,
                error: Some(crate::telemetry::chain(&e)),
                gateway_to_sdk_ratio: None,
            },
        });
        let (database, database_server_url) = database.unzip();
        Self {
            mode: options.mode,
            store,
            database,
            database_server_url,
            nodes: bases.len(),
            at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            machine: Machine { cores, cpu_model },
            load_average_before: [load_before.0, load_before.1, load_before.2],
            load_average_after: after.load1,
            workers: options.workers,
            connections: options.connections,
            rate: options
                .rate
                .or((options.mode == Mode::Cascades).then_some(super::DEFAULT_CASCADE_RATE)),
            orders,
            seconds,
            requests: outcome.sent,
            acked: outcome.acked,
            errors: outcome.errors,
            error_samples: outcome.error_samples.clone(),
            requests_per_sec,
            latency: Latency::of(&outcome.latencies_us),
            cpu_us_per_request: per_request(cpu_secs * 1e6),
            gateway_cpu_percent: cpu_secs / seconds * 100.0,
            load_generator_cpu_percent: ticks(before.own_cpu_ticks, after.own_cpu_ticks) / seconds * 100.0,
            cpu_source: format!(
                "utime+stime of the gateway processes (/proc/{{pid}}/stat, USER_HZ {USER_HZ}), load phase only"
            ),
            peak_rss_mib: mib(after.nodes.iter().map(|n| n.peak_rss_kib).sum()),
            rss_mib: mib(after.nodes.iter().map(|n| n.rss_kib).sum()),
            per_node,
            database_server,
            store_bytes_before: before.store.bytes,
            store_bytes_after: after.store.bytes,
            store_bytes_per_callback: per_request(after.store.bytes.saturating_sub(before.store.bytes) as f64),
            store_bytes_source: store_bytes_source.to_owned(),
            gateway_log: log,
            cascades,
            sdk,
        }
    }

    /// The report for a person.
    pub fn text(&self) -> String {
        let mut t = String::new();
        let l = &self.latency;
        let _ = writeln!(
            t,
            "ondc-gateway bench, mode {:?}, {} ({} cores, {})",
            self.mode, self.at, self.machine.cores, self.machine.cpu_model
        );
        let [a, b, c] = self.load_average_before;
        let _ = writeln!(
            t,
            "load average before {a:.2} {b:.2} {c:.2}, after {:.2}",
            self.load_average_after
        );
        let load = match self.rate {
            Some(r) => format!("open loop at {r}/s"),
            None => format!("{} connections", self.connections),
        };
        let backend = match (&self.database, &self.database_server_url) {
            (Some(db), Some(server)) => {
                format!("postgres, database {db} on {server} (made for this run, dropped after it)")
            }
            _ => "sled, in a temporary directory".to_owned(),
        };
        let _ = writeln!(
            t,
            "backend    {backend}; {} gateway node{}",
            self.nodes,
            if self.nodes == 1 { "" } else { "s on the one store" }
        );
        let _ = writeln!(
            t,
            "{load}, gateway workers {} per node, {} orders registered",
            self.workers, self.orders
        );
        let _ = writeln!(
            t,
            "requests   {} in {:.2} s: {} ACK, {} errors",
            self.requests, self.seconds, self.acked, self.errors
        );
        for e in &self.error_samples {
            let _ = writeln!(t, "  error: {}", crate::protocol::excerpt(e));
        }
        let _ = writeln!(t, "rate       {:.0} ACKed requests/s", self.requests_per_sec);
        let _ = writeln!(
            t,
            "latency    p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
        );
        let all = if self.nodes == 1 { "" } else { ", all nodes" };
        let _ = writeln!(
            t,
            "cpu        {:.1} µs per request ({:.0} % of a core{all}; {}); load generator {:.0} % of a core",
            self.cpu_us_per_request,
            self.gateway_cpu_percent,
            self.cpu_source,
            self.load_generator_cpu_percent
        );
        let _ = writeln!(
            t,
            "memory     peak RSS {:.1} MiB{}, at the end {:.1} MiB",
            self.peak_rss_mib,
            if self.nodes == 1 {
                ""
            } else {
                " (sum over the nodes)"
            },
            self.rss_mib
        );
        if self.nodes > 1 {
            for (i, n) in self.per_node.iter().enumerate() {
                let _ = writeln!(
                    t,
                    "  node {i}   {}: {} ACK, {:.1} µs per request, {:.0} % of a core, peak RSS {:.1} MiB, at the end {:.1} MiB",
                    n.url, n.acked, n.cpu_us_per_request, n.cpu_percent, n.peak_rss_mib, n.rss_mib
                );
            }
        }
        match &self.database_server {
            Some(d) => {
                let _ = writeln!(
                    t,
                    "postgres   backends of the database {:.1} µs per request ({:.0} % of a core); server background processes {:.0} % of a core (shared with its other databases); {}",
                    d.backends_cpu_us_per_request, d.backends_cpu_percent, d.background_cpu_percent, d.source
                );
            }
            None if self.store == Backend::Postgres => {
                let _ = writeln!(
                    t,
                    "postgres   server CPU not measured (its processes could not be read from this machine's /proc: a server elsewhere, or in another pid namespace)"
                );
            }
            None => {}
        }
        let _ = writeln!(
            t,
            "store      {} → {} bytes ({}), {:.0} bytes per ACKed request",
            self.store_bytes_before,
            self.store_bytes_after,
            self.store_bytes_source,
            self.store_bytes_per_callback
        );
        let g = &self.gateway_log;
        let _ = writeln!(
            t,
            "gateway    logged {} ERROR and {} WARN lines",
            g.errors, g.warnings
        );
        for line in &g.samples {
            let _ = writeln!(t, "  {}", clip(line, LOG_LINE_CHARS));
        }
        if let Some(c) = &self.cascades {
            let s = &c.to_seller;
            let _ = writeln!(
                t,
                "cascades   {} started at {}/s, {} reached the seller: {:.0}/s; LSP→seller p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms; {} delivered more than once",
                c.started,
                c.target_per_sec,
                c.completed,
                c.per_sec,
                s.p50_ms,
                s.p99_ms,
                s.max_ms,
                c.duplicates
            );
        }
        match &self.sdk {
            Some(Sdk {
                rate: Some(r),
                gateway_to_sdk_ratio,
                ..
            }) => {
                let _ = writeln!(
                    t,
                    "ONDC SDK   isHeaderValid {:.0}/s on the same headers (node {}, {} valid, {} invalid); gateway/SDK = {:.2}×",
                    r.verifies_per_sec,
                    r.node,
                    r.valid,
                    r.invalid,
                    gateway_to_sdk_ratio.unwrap_or(0.0)
                );
            }
            Some(Sdk { error: Some(e), .. }) => {
                let _ = writeln!(t, "ONDC SDK   not run: {e}");
            }
            _ => {}
        }
        t
    }
}
