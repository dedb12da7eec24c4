//! `bench`: the load benchmark (see [`crate::bench`]); prints the report and optionally writes
//! it as JSON. Exit 1 if any request was not ACKed. Sled unless `--database-url` is given (only
//! the flag: `DATABASE_URL` in the environment does not switch a plain `bench` to PostgreSQL).

use crate::bench::{Mode, Options, run};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// What to drive.
    #[arg(long, value_enum, default_value_t = Mode::Callbacks)]
    pub mode: Mode,
    /// Upper bound on the load phase, seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Keep-alive connections (callbacks and store modes).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Distinct callbacks signed before the run, and so the most it sends (callbacks, store).
    #[arg(long, default_value_t = 150_000)]
    pub requests: usize,
    /// Orders registered through the REST API first (cascades: one cascade per order).
    #[arg(long, default_value_t = 1000)]
    pub orders: usize,
    /// Requests started per second, open loop (cascades: default 1000; callbacks and store: closed
    /// loop over --connections unless given).
    #[arg(long)]
    pub rate: Option<u32>,
    /// The gateway's worker threads (0 = one per core, as shipped).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// The gateway's log filter (RUST_LOG); `info` is the shipped default.
    #[arg(long, default_value = "info")]
    pub log: String,
    /// Give the gateway this audit retention (seconds) instead of the shipped 7 days, pruned
    /// every sixth of it in 4 MiB segments (for soak runs).
    #[arg(long)]
    pub retention_secs: Option<u64>,
    /// Where ONDC's Node SDK is installed.
    #[arg(long, default_value = "interop")]
    pub sdk_dir: PathBuf,
    /// Skip the SDK comparison.
    #[arg(long)]
    pub no_sdk: bool,
    /// Also write the report here as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Run the gateway on PostgreSQL: a fresh database gw_bench_<uuid> is made on this server
    /// for the run (the role must be allowed to create databases) and dropped after it.
    /// Without it, the gateway runs on sled in a temporary directory.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Gateway processes, each on its own port, sharing the one database, subscriber id and
    /// keys; the load is split between them (more than 1 needs --database-url).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub nodes: usize,
}

/// Runs the benchmark.
pub fn bench(args: BenchArgs) -> ExitCode {
    if args.nodes == 0 {
        return super::usage_error("--nodes must be at least 1");
    }
    if args.nodes > 1 && args.database_url.is_none() {
        return super::usage_error(format!(
            "--nodes {} needs --database-url: several gateway nodes share one PostgreSQL database \
             (a sled store belongs to one process)",
            args.nodes
        ));
    }
    let gateway_exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return super::usage_error(format!("cannot find this executable: {e}")),
    };
    let options = Options {
        mode: args.mode,
        duration: Duration::from_secs(args.seconds),
        connections: args.connections,
        requests: args.requests,
        orders: args.orders,
        rate: args.rate,
        workers: args.workers,
        log: args.log,
        retention_secs: args.retention_secs,
        gateway_exe,
        sdk_dir: (!args.no_sdk).then_some(args.sdk_dir),
        database_url: args.database_url,
        nodes: args.nodes,
    };
    let report = match actix_web::rt::System::new().block_on(run(&options)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}", crate::telemetry::chain(&e));
            return ExitCode::FAILURE;
        }
    };
    print!("{}", report.text());
    if let Some(path) = &args.json {
        let written = serde_json::to_vec_pretty(&report)
            .map_err(|e| e.to_string())
            .and_then(|j| std::fs::write(path, j).map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    if report.errors == 0 && report.acked > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
