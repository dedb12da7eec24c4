//! The gateway process from the outside, read from `/proc/<pid>`: CPU time (`utime + stime` in
//! `/proc/<pid>/stat`, every thread of the process, in clock ticks of `USER_HZ`, which Linux
//! fixes at 100 on x86 and arm64), current and peak resident memory (`VmRSS`, `VmHWM` in
//! `/proc/<pid>/status`) of each gateway node, and the store's size. Also the machine: load
//! average, core count and CPU model.

use super::error::BenchError;
use super::store::{Reading, Store};

/// Ticks per second in `/proc/<pid>/stat`.
pub const USER_HZ: f64 = 100.0;

/// One reading of one gateway process.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeSample {
    /// User plus system CPU of the gateway, in ticks.
    pub cpu_ticks: u64,
    /// Resident memory now, KiB.
    pub rss_kib: u64,
    /// Peak resident memory so far, KiB.
    pub peak_rss_kib: u64,
}

/// One reading of the run.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Each gateway process, in node order.
    pub nodes: Vec<NodeSample>,
    /// The store (and the PostgreSQL server's CPU).
    pub store: Reading,
    /// The 1-minute load average.
    pub load1: f64,
    /// User plus system CPU of the benchmark process itself (the load generator), in ticks.
    pub own_cpu_ticks: u64,
}

/// CPU ticks (user + system) of process `pid` (`self` for this one).
pub fn cpu_ticks(pid: &str) -> Result<u64, BenchError> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| BenchError::context(format!("/proc/{pid}/stat"), e))?;
    // The command name is in parentheses and may hold spaces; the fields after it are fixed.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // After the name: state(0) … utime(11) stime(12).
    Ok(field(11) + field(12))
}

/// Reads the gateway process `pid`.
pub fn node_sample(pid: u32) -> Result<NodeSample, BenchError> {
    let cpu_ticks = cpu_ticks(&pid.to_string())?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Ok(NodeSample {
        cpu_ticks,
        rss_kib: kib("VmRSS:"),
        peak_rss_kib: kib("VmHWM:"),
    })
}

/// Reads the gateway processes `pids` first (so the CPU figures end with the load), then the
/// store, then this process's own CPU.
pub async fn sample(pids: &[u32], store: &Store) -> Result<Sample, BenchError> {
    let nodes = pids
        .iter()
        .map(|pid| node_sample(*pid))
        .collect::<Result<Vec<_>, _>>()?;
    let store = store.read().await?;
    Ok(Sample {
        nodes,
        store,
        load1: load_average().0,
        own_cpu_ticks: cpu_ticks("self")?,
    })
}

/// The 1-, 5- and 15-minute load averages.
pub fn load_average() -> (f64, f64, f64) {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut f = text.split_whitespace().map(|x| x.parse().unwrap_or(0.0));
    (
        f.next().unwrap_or(0.0),
        f.next().unwrap_or(0.0),
        f.next().unwrap_or(0.0),
    )
}

/// Cores and CPU model (`/proc/cpuinfo`).
pub fn machine() -> (usize, String) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown".to_owned());
    (cores, model)
}
