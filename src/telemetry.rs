//! Logs (tracing) and metrics (Prometheus text at `GET /metrics`).

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};

/// Installs the global tracing subscriber: `RUST_LOG`-style filtering (default `info`), JSON
/// lines when `ONDC_LOG_FORMAT=json` (not `ONDC_GW_*`: that prefix is reserved for settings, where
/// an unknown key stops start-up), written to stdout through [`LogBuffer`]. Safe to call more
/// than once.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let buffer = LogBuffer::global();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(move || LogWriter(buffer));
    let _ = if std::env::var("ONDC_LOG_FORMAT").is_ok_and(|v| v == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Writes out the log lines not yet written; `serve` calls it on the way out.
pub fn flush_logs() {
    LogBuffer::global().drain();
}

/// Log lines on their way to stdout. A thread that logs appends its line here; a thread of its
/// own writes what has gathered about every [`LogBuffer::EVERY`], so a line costs the worker a
/// copy rather than a system call (one `write` per line was one per request under load). A line
/// waits at most that long; past [`LogBuffer::MAX`] bytes the logging thread writes them itself,
/// so nothing is dropped. A SIGKILL loses at most the last interval's lines, never a stored
/// message: the audit is in the store.
pub struct LogBuffer {
    lines: std::sync::Mutex<Vec<u8>>,
}

impl LogBuffer {
    const EVERY: std::time::Duration = std::time::Duration::from_millis(20);
    const MAX: usize = 4 << 20;

    /// The process's buffer, with its writer thread started on first use.
    fn global() -> &'static Self {
        static BUFFER: std::sync::OnceLock<LogBuffer> = std::sync::OnceLock::new();
        BUFFER.get_or_init(|| {
            let _ = std::thread::Builder::new().name("log-writer".into()).spawn(|| {
                loop {
                    std::thread::sleep(Self::EVERY);
                    Self::global().drain();
                }
            });
            Self {
                lines: std::sync::Mutex::new(Vec::with_capacity(64 << 10)),
            }
        })
    }

    fn lines(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        // A panic while holding it can only have left whole or partial lines: still writable.
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn drain(&self) {
        let taken = std::mem::take(&mut *self.lines());
        if !taken.is_empty() {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&taken);
            let _ = out.flush();
        }
    }
}

/// What the subscriber writes each formatted line through.
struct LogWriter(&'static LogBuffer);

impl std::io::Write for LogWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let full = {
            let mut lines = self.0.lines();
            lines.extend_from_slice(line);
            lines.len() >= LogBuffer::MAX
        };
        if full {
            self.0.drain();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The gateway's metrics, in a registry of their own (so tests can run several gateways).
pub struct Metrics {
    registry: Registry,
    /// Beckn requests by action and outcome (`ack`, `duplicate`, `unauthorized`, `invalid`, …).
    pub requests: IntCounterVec,
    /// Signature verification failures by reason.
    pub verification_failures: IntCounterVec,
    /// Time from request to answer, by action.
    pub latency: HistogramVec,
    /// Outbox delivery attempts by action and outcome (`delivered`, `retry`, `failed`).
    pub outbox: IntCounterVec,
    /// Signatures checked together, per batch.
    pub signature_batch: Histogram,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("ondc_gateway".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "beckn_requests_total",
                "Beckn requests received, by action and outcome",
            ),
            &["action", "outcome"],
        )?;
        let verification_failures = IntCounterVec::new(
            Opts::new(
                "signature_verification_failures_total",
                "Requests refused for their signature, by reason",
            ),
            &["reason"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("beckn_request_duration_seconds", "Time to answer a Beckn request").buckets(
                vec![
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
                ],
            ),
            &["action"],
        )?;
        let outbox = IntCounterVec::new(
            Opts::new(
                "outbox_attempts_total",
                "Outbound delivery attempts, by action and outcome",
            ),
            &["action", "outcome"],
        )?;
        let signature_batch = Histogram::with_opts(
            HistogramOpts::new(
                "signature_batch_size",
                "Signatures checked together in one batch on a worker thread",
            )
            .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]),
        )?;
        registry.register(Box::new(signature_batch.clone()))?;
        registry.register(Box::new(outbox.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(verification_failures.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(Self {
            registry,
            requests,
            verification_failures,
            latency,
            outbox,
            signature_batch,
        })
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        TextEncoder::new().encode_to_string(&self.registry.gather())
    }
}

/// An error and its causes, `outer: inner: root`, for the one log line at the edge.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
