//! Delivery of what the orchestrator decided to send: a signing HTTP client and the outbox worker
//! that retries with exponential backoff and jitter until the counterpart ACKs.

mod client;
mod worker;

pub use client::{OutboundClient, SendResult};
pub use worker::{OutboxWorker, RetryPolicy, Verdict};
