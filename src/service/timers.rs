//! The timer loop: fires the store's due timers through the service, earliest first. A timer is
//! removed in the same atomic step that writes what it caused, so it fires once, across restarts
//! and crashes alike; one that came due while the gateway was down fires at start-up.

use super::Service;
use crate::clock::Clock;
use std::sync::Arc;
use std::time::Duration;

/// How many due timers one round takes.
const BATCH: usize = 64;

/// Runs until the task is dropped.
pub async fn run(service: Arc<Service>, clock: Arc<dyn Clock>) {
    loop {
        let due = match service.store().due_timers(clock.now(), BATCH).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %crate::telemetry::chain(&e), "timers: cannot read due timers");
                Vec::new()
            }
        };
        for timer in &due {
            match service.fire(timer).await {
                Ok(true) => {
                    tracing::info!(order_id = %timer.order_id, timer = %timer.kind.tag(), "timer fired")
                }
                Ok(false) => {}
                // It stays in the store and is tried again next round.
                Err(e) => {
                    tracing::error!(error = %crate::telemetry::chain(&e), order_id = %timer.order_id, "timers: cannot fire")
                }
            }
        }
        if due.len() == BATCH {
            continue;
        }
        // Until the next timer is due, at most a second (a timer set meanwhile is seen then).
        let wait = service
            .store()
            .next_timer()
            .await
            .ok()
            .flatten()
            .map(|t| (t - clock.now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1))
            .max(Duration::from_millis(10));
        tokio::time::sleep(wait).await;
    }
}
