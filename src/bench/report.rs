//! The benchmark's result as one value, printed as text for a person and written as JSON for
//! tools (the field names are the contract the smoke test checks).

use super::error::BenchError;
use super::load::Outcome;
use super::process::{self, Sample, USER_HZ};
use super::sdk::SdkRate;
use super::{Mode, Options};
use serde::Serialize;
use std::fmt::Write as _;

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
    /// Gateway CPU (user + system) per ACKed request, microseconds.
    pub cpu_us_per_request: f64,
    /// Gateway CPU over the load phase, percent of one core.
    pub gateway_cpu_percent: f64,
    /// The load generator's own CPU (this process) over the load phase, percent of one core.
    pub load_generator_cpu_percent: f64,
    /// Where the CPU figure comes from.
    pub cpu_source: String,
    /// Gateway peak resident memory (`VmHWM`), MiB.
    pub peak_rss_mib: f64,
    /// Gateway resident memory at the end, MiB.
    pub rss_mib: f64,
    /// Store directory before the load, bytes.
    pub store_bytes_before: u64,
    /// Store directory after the load, bytes.
    pub store_bytes_after: u64,
    /// Growth per ACKed request, bytes.
    pub store_bytes_per_callback: f64,
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

impl Report {
    /// Puts the readings together.
    pub fn new(
        options: &Options,
        load_before: (f64, f64, f64),
        orders: usize,
        outcome: &Outcome,
        before: Sample,
        after: Sample,
        sdk: Option<Result<SdkRate, BenchError>>,
    ) -> Self {
        let seconds = outcome.elapsed.as_secs_f64().max(1e-9);
        let requests_per_sec = outcome.acked as f64 / seconds;
        let cpu_secs = after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64 / USER_HZ;
        let per_request = |x: f64| {
            if outcome.acked == 0 {
                0.0
            } else {
                x / outcome.acked as f64
            }
        };
        let (cores, cpu_model) = process::machine();
        let cascades = (options.mode == Mode::Cascades).then(|| Cascades {
            target_per_sec: options.rate.unwrap_or(super::DEFAULT_CASCADE_RATE),
            started: outcome.cascades_started,
            completed: outcome.cascade_us.len(),
            per_sec: outcome.cascade_us.len() as f64 / seconds,
            to_seller: Latency::of(&outcome.cascade_us),
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
        Self {
            mode: options.mode,
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
            load_generator_cpu_percent: after.own_cpu_ticks.saturating_sub(before.own_cpu_ticks) as f64
                / USER_HZ
                / seconds
                * 100.0,
            cpu_source: format!(
                "utime+stime of the gateway process (/proc/{{pid}}/stat, USER_HZ {USER_HZ}), load phase only"
            ),
            peak_rss_mib: after.peak_rss_kib as f64 / 1024.0,
            rss_mib: after.rss_kib as f64 / 1024.0,
            store_bytes_before: before.store_bytes,
            store_bytes_after: after.store_bytes,
            store_bytes_per_callback: per_request(after.store_bytes.saturating_sub(before.store_bytes) as f64),
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
        let _ = writeln!(
            t,
            "{load}, gateway workers {}, {} orders registered",
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
        let _ = writeln!(
            t,
            "cpu        {:.1} µs per request ({:.0} % of a core; {}); load generator {:.0} % of a core",
            self.cpu_us_per_request,
            self.gateway_cpu_percent,
            self.cpu_source,
            self.load_generator_cpu_percent
        );
        let _ = writeln!(
            t,
            "memory     peak RSS {:.1} MiB, at the end {:.1} MiB",
            self.peak_rss_mib, self.rss_mib
        );
        let _ = writeln!(
            t,
            "store      {} → {} bytes, {:.0} bytes per ACKed request",
            self.store_bytes_before, self.store_bytes_after, self.store_bytes_per_callback
        );
        if let Some(c) = &self.cascades {
            let s = &c.to_seller;
            let _ = writeln!(
                t,
                "cascades   {} started at {}/s, {} reached the seller: {:.0}/s; LSP→seller p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
                c.started, c.target_per_sec, c.completed, c.per_sec, s.p50_ms, s.p99_ms, s.max_ms
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
