//! The outbox worker: delivers pending entries, retries with exponential backoff and full
//! jitter, keeps each message's message_id across retries, and marks an entry failed after the
//! configured number of attempts. Because entries are written with the state change that caused
//! them, a restart resumes exactly where a crash left off: undelivered entries go out, delivered
//! ones never again.

use super::client::{OutboundClient, SendResult};
use crate::clock::Clock;
use crate::config::OutboxSettings;
use crate::registry::Registry;
use crate::service::Service;
use crate::store::{DeliveryStatus, Destination, OutboxEntry, Store};
use crate::telemetry::Metrics;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before an entry is marked failed.
    pub max_attempts: u32,
    /// Attempts for a message refused for its signature (`POLICY-ERROR`, HTTP 401): the
    /// counterpart may not yet see a rotated key, so a few tries, then it is settled.
    pub policy_attempts: u32,
    /// Delay before the second attempt.
    pub initial_backoff: Duration,
    /// Longest delay between attempts.
    pub max_backoff: Duration,
}

impl From<&OutboxSettings> for RetryPolicy {
    fn from(s: &OutboxSettings) -> Self {
        Self {
            max_attempts: s.max_attempts,
            policy_attempts: s.policy_attempts.min(s.max_attempts),
            initial_backoff: Duration::from_millis(s.initial_backoff_ms),
            max_backoff: Duration::from_millis(s.max_backoff_ms),
        }
    }
}

/// What to do after one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The counterpart ACKed.
    Delivered,
    /// Try again later with the same bytes and message_id.
    Retry,
    /// Settle the message as failed: `permanent` when retrying cannot change the answer (a
    /// domain, context or schema NACK, another 4xx), else out of attempts.
    GiveUp {
        /// Refused for good rather than out of attempts.
        permanent: bool,
    },
}

impl RetryPolicy {
    /// Tells transient failures from permanent ones. No answer, timeouts, HTTP 5xx, 408, 429 and
    /// `CORE-ERROR` NACKs are transient; `DOMAIN-ERROR`, `CONTEXT-ERROR`, `JSON-SCHEMA-ERROR`
    /// NACKs and other 4xx are permanent; a signature refusal (`POLICY-ERROR` or 401) is
    /// retried [`Self::policy_attempts`] times. `attempts` counts the one just made.
    pub fn verdict(&self, result: &SendResult, attempts: u32) -> Verdict {
        let transient = |limit: u32| {
            if attempts >= limit {
                Verdict::GiveUp { permanent: false }
            } else {
                Verdict::Retry
            }
        };
        match result {
            SendResult::Acked => Verdict::Delivered,
            SendResult::Unreachable(_) => transient(self.max_attempts),
            SendResult::Nacked {
                status, error_type, ..
            } => match (error_type.as_deref(), *status) {
                (_, 500..=599 | 408 | 429) | (Some("CORE-ERROR"), _) => transient(self.max_attempts),
                (Some("POLICY-ERROR"), _) | (None, 401) => match transient(self.policy_attempts) {
                    Verdict::GiveUp { .. } => Verdict::GiveUp { permanent: true },
                    other => other,
                },
                (Some("DOMAIN-ERROR" | "CONTEXT-ERROR" | "JSON-SCHEMA-ERROR"), _) => {
                    Verdict::GiveUp { permanent: true }
                }
                (_, 400..=499) => Verdict::GiveUp { permanent: true },
                // A NACK without a known error type on a 2xx/3xx: nothing says it is final.
                _ => transient(self.max_attempts),
            },
        }
    }

    /// The delay after `attempts` failed attempts: `initial × 2^(attempts−1)`, capped, then
    /// scaled by a random factor in [0.5, 1.0] so peers recovering together are not hit at once.
    pub fn backoff(&self, attempts: u32, jitter: f64) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
        exp.min(self.max_backoff)
            .mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// Delivers the outbox.
pub struct OutboxWorker {
    store: Arc<dyn Store>,
    client: OutboundClient,
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    policy: RetryPolicy,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    webhook_url: Option<String>,
    service: Arc<Service>,
}

impl OutboxWorker {
    /// A worker; call [`Self::wake`] after enqueueing so it does not wait for its next poll.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn Store>,
        client: OutboundClient,
        registry: Arc<Registry>,
        clock: Arc<dyn Clock>,
        policy: RetryPolicy,
        wake: Arc<Notify>,
        metrics: Arc<Metrics>,
        webhook_url: Option<String>,
        service: Arc<Service>,
    ) -> Self {
        Self {
            store,
            client,
            registry,
            clock,
            policy,
            wake,
            metrics,
            webhook_url,
            service,
        }
    }

    /// Runs until the task is dropped.
    pub async fn run(self) {
        loop {
            let now = self.clock.now();
            let due = match self.store.due_outbox(now, 64).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(error = %e, "outbox: cannot read due entries");
                    Vec::new()
                }
            };
            let batch = due.len();
            let mut tasks = tokio::task::JoinSet::new();
            for entry in due {
                let this = self.attempt_context();
                tasks.spawn(async move { this.attempt(entry).await });
            }
            while tasks.join_next().await.is_some() {}
            if batch == 64 {
                continue;
            }
            // Sleep until the next entry is due (at most a second), or until woken.
            let wait = self
                .store
                .next_due()
                .await
                .ok()
                .flatten()
                .map(|t| (t - self.clock.now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(Duration::from_secs(1))
                .min(Duration::from_secs(1));
            if wait.is_zero() {
                tokio::task::yield_now().await;
                continue;
            }
            let _ = tokio::time::timeout(wait, self.wake.notified()).await;
        }
    }

    fn attempt_context(&self) -> Attempt {
        Attempt {
            store: self.store.clone(),
            client: self.client.clone(),
            registry: self.registry.clone(),
            clock: self.clock.clone(),
            policy: self.policy,
            metrics: self.metrics.clone(),
            webhook_url: self.webhook_url.clone(),
            service: self.service.clone(),
        }
    }
}

struct Attempt {
    store: Arc<dyn Store>,
    client: OutboundClient,
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    policy: RetryPolicy,
    metrics: Arc<Metrics>,
    webhook_url: Option<String>,
    service: Arc<Service>,
}

impl Attempt {
    async fn attempt(&self, mut entry: OutboxEntry) {
        let (url, signed) = match &entry.destination {
            // The registry's current subscriber_url wins over the one given at registration.
            Destination::Beckn { counterpart, .. } => {
                let url = self
                    .registry
                    .participant(counterpart)
                    .map(|p| {
                        format!(
                            "{}/{}",
                            p.record.subscriber_url.trim_end_matches('/'),
                            entry.action
                        )
                    })
                    .unwrap_or_else(|| entry.url.clone());
                (url, true)
            }
            Destination::Webhook => match &self.webhook_url {
                Some(u) => (u.clone(), false),
                None => {
                    // Nowhere to deliver: the notification stays listed for its user.
                    entry.status = DeliveryStatus::Delivered;
                    entry.last_error = Some("no webhook configured".into());
                    if let Err(e) = self.store.save_delivery(&entry).await {
                        // It stays pending and is settled the same way on the next round.
                        tracing::error!(error = %crate::telemetry::chain(&e), message_id = %entry.message_id, "outbox: cannot settle a notification");
                    }
                    return;
                }
            },
        };
        let result = self.client.post(&url, entry.body.as_bytes(), signed).await;
        entry.attempts += 1;
        let now = self.clock.now();
        let verdict = self.policy.verdict(&result, entry.attempts);
        let (code, said) = match &result {
            SendResult::Nacked { code, message, .. } => (code.clone(), message.clone()),
            SendResult::Acked | SendResult::Unreachable(_) => (None, None),
        };
        match result {
            SendResult::Acked => {
                entry.delivered_at = Some(now);
                entry.last_error = None;
            }
            SendResult::Nacked { status, body, .. } => {
                entry.last_error = Some(format!("HTTP {status}: {body}"))
            }
            SendResult::Unreachable(e) => entry.last_error = Some(e),
        }
        let outcome = match verdict {
            Verdict::Delivered => {
                entry.status = DeliveryStatus::Delivered;
                "delivered"
            }
            Verdict::Retry => {
                let delay = self.policy.backoff(entry.attempts, rand_unit());
                // The delay is capped by max_backoff, far inside chrono's range.
                entry.next_attempt_at =
                    now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
                "retry"
            }
            Verdict::GiveUp { permanent } => {
                entry.status = DeliveryStatus::Failed;
                if let Destination::Beckn { leg, .. } = &entry.destination {
                    // The order hears of it first: if we crash before the entry is saved, the
                    // attempt is made again and the order is told again, which it takes once.
                    // What the counterpart said, else what happened.
                    let reason = said
                        .or_else(|| entry.last_error.clone())
                        .unwrap_or_else(|| "no answer".to_owned());
                    if let Err(e) = self
                        .service
                        .delivery_failed(&entry, *leg, permanent, code, reason)
                        .await
                    {
                        tracing::error!(error = %crate::telemetry::chain(&e), message_id = %entry.message_id, "outbox: cannot record the failure on the order; the attempt will be made again");
                        return;
                    }
                }
                if permanent { "refused" } else { "failed" }
            }
        };
        tracing::info!(
            message_id = %entry.message_id, order_id = %entry.order_id, action = %entry.action,
            attempts = entry.attempts, outcome, error = entry.last_error.as_deref().unwrap_or(""),
            "outbox attempt"
        );
        self.metrics
            .outbox
            .with_label_values(&[entry.action.as_str(), outcome])
            .inc();
        if let Err(e) = self.store.save_delivery(&entry).await {
            // The attempt will simply be repeated; the counterpart dedupes on message_id.
            tracing::error!(error = %crate::telemetry::chain(&e), message_id = %entry.message_id, "outbox: cannot save the attempt");
        }
    }
}

/// A random number in [0, 1) from the OS source.
fn rand_unit() -> f64 {
    use rand_core::RngCore as _;
    (rand_core::OsRng.next_u32() as f64) / (u32::MAX as f64 + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_jitters_within_half() {
        let p = RetryPolicy {
            max_attempts: 5,
            policy_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(100));
        assert_eq!(p.backoff(2, 1.0), Duration::from_millis(200));
        assert_eq!(p.backoff(3, 1.0), Duration::from_millis(400));
        assert_eq!(p.backoff(10, 1.0), Duration::from_secs(1));
        assert_eq!(p.backoff(2, 0.0), Duration::from_millis(100));
        assert!(p.backoff(40, 0.5) <= Duration::from_secs(1));
    }

    fn nack(status: u16, error_type: Option<&str>) -> SendResult {
        SendResult::Nacked {
            status,
            error_type: error_type.map(str::to_owned),
            code: Some("30012".into()),
            message: None,
            body: String::new(),
        }
    }

    #[test]
    fn transient_failures_are_retried_and_permanent_ones_settled_at_once() {
        let p = RetryPolicy {
            max_attempts: 5,
            policy_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        let cases = [
            (SendResult::Unreachable("refused".into()), Verdict::Retry),
            (nack(503, None), Verdict::Retry),
            (nack(408, None), Verdict::Retry),
            (nack(429, None), Verdict::Retry),
            (nack(400, Some("CORE-ERROR")), Verdict::Retry),
            (nack(200, None), Verdict::Retry),
            (
                nack(400, Some("DOMAIN-ERROR")),
                Verdict::GiveUp { permanent: true },
            ),
            (
                nack(200, Some("DOMAIN-ERROR")),
                Verdict::GiveUp { permanent: true },
            ),
            (
                nack(400, Some("CONTEXT-ERROR")),
                Verdict::GiveUp { permanent: true },
            ),
            (
                nack(400, Some("JSON-SCHEMA-ERROR")),
                Verdict::GiveUp { permanent: true },
            ),
            (nack(404, None), Verdict::GiveUp { permanent: true }),
            (nack(401, Some("POLICY-ERROR")), Verdict::Retry),
            (nack(401, None), Verdict::Retry),
            (SendResult::Acked, Verdict::Delivered),
        ];
        for (result, expected) in cases {
            assert_eq!(p.verdict(&result, 1), expected, "{result:?}");
        }
        // Signature refusals get a few tries, then are settled as refused.
        assert_eq!(
            p.verdict(&nack(401, Some("POLICY-ERROR")), 3),
            Verdict::GiveUp { permanent: true }
        );
        // Transient ones run to the limit.
        assert_eq!(p.verdict(&nack(503, None), 4), Verdict::Retry);
        assert_eq!(
            p.verdict(&nack(503, None), 5),
            Verdict::GiveUp { permanent: false }
        );
    }
}
