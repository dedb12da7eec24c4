//! The time source, injected so verification windows and timestamps are testable.

use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicI64, Ordering};

/// Where the gateway reads the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;

    /// The current Unix time in whole seconds (as signature windows use it).
    fn unix_seconds(&self) -> i64 {
        self.now().timestamp()
    }
}

/// The operating system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until moved: for tests and for checking old signatures.
#[derive(Debug, Default)]
pub struct FixedClock {
    millis: AtomicI64,
}

impl FixedClock {
    /// A clock reading `unix_seconds`.
    pub fn at(unix_seconds: i64) -> Self {
        Self {
            millis: AtomicI64::new(unix_seconds.saturating_mul(1000)),
        }
    }

    /// Moves the clock by `seconds` (negative moves it back).
    pub fn advance(&self, seconds: i64) {
        self.millis
            .fetch_add(seconds.saturating_mul(1000), Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.millis.load(Ordering::SeqCst)).unwrap_or_default()
    }
}
