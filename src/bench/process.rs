//! The gateway process from the outside, read from `/proc/<pid>`: CPU time (`utime + stime` in
//! `/proc/<pid>/stat`, every thread of the process, in clock ticks of `USER_HZ`, which Linux
//! fixes at 100 on x86 and arm64), current and peak resident memory (`VmRSS`, `VmHWM` in
//! `/proc/<pid>/status`), and the store directory's size. Also the machine: load average, core
//! count and CPU model.

use super::error::BenchError;
use super::network::dir_bytes;
use std::path::Path;

/// Ticks per second in `/proc/<pid>/stat`.
pub const USER_HZ: f64 = 100.0;

/// One reading.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// User plus system CPU of the gateway, in ticks.
    pub cpu_ticks: u64,
    /// Resident memory now, KiB.
    pub rss_kib: u64,
    /// Peak resident memory so far, KiB.
    pub peak_rss_kib: u64,
    /// Bytes of the store directory.
    pub store_bytes: u64,
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

/// Reads the gateway `pid`, its store directory, and this process's own CPU.
pub fn sample(pid: u32, store: &Path) -> Result<Sample, BenchError> {
    let gateway_ticks = cpu_ticks(&pid.to_string())?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Ok(Sample {
        cpu_ticks: gateway_ticks,
        rss_kib: kib("VmRSS:"),
        peak_rss_kib: kib("VmHWM:"),
        store_bytes: dir_bytes(store),
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
