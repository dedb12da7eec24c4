//! The load benchmark behind `bench`: starts the real gateway binary on a temporary store (sled
//! in a temporary directory, or a fresh PostgreSQL database, which several gateway nodes may
//! share) with the shipped durability (ACK only after the grouped fsync or commit) and schema
//! validation, registers tracked orders through the REST API, pre-signs distinct callbacks from
//! loopback peers, drives them over many keep-alive connections for a bounded time, and reports
//! the rate, the latency, the errors, the gateway's CPU per request and peak memory (per node),
//! its store growth, and the ONDC Node SDK's bare `isHeaderValid` rate on the same headers for
//! comparison.
//!
//! Each job has its own file: [`store`] (the sled directory or the PostgreSQL database),
//! [`network`] (the gateway processes, their peers and their keys), [`payloads`] (the signed
//! callbacks), [`load`] (the connections and the clock), [`process`] (CPU and memory of the
//! gateway), [`sdk`] (the Node SDK run) and [`report`] (text and JSON).

mod error;
mod load;
mod network;
mod payloads;
mod process;
mod report;
mod sdk;
mod store;
mod wire;

pub use error::BenchError;
pub use report::Report;
pub use store::Backend;

use std::path::PathBuf;

/// Cascades started per second when `--rate` is not given.
pub const DEFAULT_CASCADE_RATE: u32 = 1000;
use std::time::Duration;

/// What the run drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Distinct signed `/on_status` and `/on_cancel` callbacks, closed loop, as fast as ACKs come.
    Callbacks,
    /// Whole LSP-initiated cascades at a target rate: the LSP's unsolicited `/on_cancel` until
    /// the seller receives the gateway's `/cancel`.
    Cascades,
    /// A fixed number of callbacks, then the store's growth per callback.
    Store,
}

/// How a run is shaped. Every run is bounded in time and in count.
#[derive(Debug, Clone)]
pub struct Options {
    /// What to drive.
    pub mode: Mode,
    /// Upper bound on the load phase.
    pub duration: Duration,
    /// Keep-alive connections (callbacks and store modes).
    pub connections: usize,
    /// Pre-signed callbacks (the count bound of callbacks and store modes).
    pub requests: usize,
    /// Orders registered through the REST API before the load.
    pub orders: usize,
    /// Requests started per second: an open loop. Cascades always run open loop (1,000/s when
    /// not given); callbacks and store run closed loop over `connections` when not given.
    pub rate: Option<u32>,
    /// The gateway's `server.workers` (0 = one per core, as shipped).
    pub workers: usize,
    /// The gateway's log filter (`RUST_LOG`); the shipped default is `info`.
    pub log: String,
    /// A short audit retention for the gateway (the shipped one is 7 days): pruned every sixth
    /// of it, in 4 MiB segments, so a long run shows the store level off.
    pub retention_secs: Option<u64>,
    /// The gateway binary (normally this very executable).
    pub gateway_exe: PathBuf,
    /// Where `ondc-crypto-sdk-nodejs` is installed (`interop/`); `None` skips the SDK.
    pub sdk_dir: Option<PathBuf>,
    /// A PostgreSQL server (`postgres://…`, a role that may create databases): the gateway then
    /// runs on a database made on it for the run and dropped after it. `None`: sled.
    pub database_url: Option<String>,
    /// Gateway processes sharing the store (more than one needs `database_url`).
    pub nodes: usize,
}

/// Runs one benchmark and returns its report.
pub async fn run(options: &Options) -> Result<Report, BenchError> {
    if options.nodes > 1 && options.database_url.is_none() {
        return Err(BenchError::Failed(
            "several gateway nodes need a shared PostgreSQL database (--database-url)".into(),
        ));
    }
    let load_before = process::load_average();
    let store = store::Store::create(options).await?;
    let report = measure(options, &store, load_before).await;
    store.remove().await;
    report
}

async fn measure(
    options: &Options,
    store: &store::Store,
    load_before: (f64, f64, f64),
) -> Result<Report, BenchError> {
    let net = network::Network::start(options, store).await?;
    let tracked = net.register_orders(options.orders).await?;
    let calls = match options.mode {
        Mode::Callbacks | Mode::Store => payloads::callbacks(&net, &tracked, options.requests),
        Mode::Cascades => payloads::cascades(&net, &tracked),
    };
    let headers = sdk::sample(&calls);
    let pids = net.pids();
    let before = process::sample(&pids, store).await?;
    let outcome = match (options.mode, options.rate) {
        (Mode::Cascades, rate) => {
            load::open_loop(
                &net,
                calls,
                rate.unwrap_or(DEFAULT_CASCADE_RATE),
                options.duration,
            )
            .await
        }
        (_, Some(rate)) => load::open_loop(&net, calls, rate, options.duration).await,
        (_, None) => load::closed_loop(&net, calls, options.connections, options.duration).await,
    };
    let after = process::sample(&pids, store).await?;
    let bases = net.bases.clone();
    let log = net.stop().await;
    let sdk = match &options.sdk_dir {
        Some(dir) => Some(sdk::verify_rate(dir, &headers).await),
        None => None,
    };
    Ok(Report::new(
        options,
        report::Readings {
            load_before,
            orders: tracked.len(),
            outcome,
            before,
            after,
            sdk,
            store: store.backend(),
            database: store.database(),
            store_bytes_source: store.bytes_source(),
            bases,
            log,
        },
    ))
}
