//! An ONDC/Beckn buyer-side (BNP) gateway for cancellations.
//!
//! How a message flows: a peer POSTs a signed Beckn message to the HTTP edge ([`http`]), which
//! reads the raw bytes within size and time bounds, verifies the `Authorization` signature over
//! exactly those bytes ([`signing`]) against the sender's key from the [`registry`], then parses
//! and validates the body into protocol types ([`protocol`]). The message is read into an event
//! for the cancellation state machine ([`orchestrator`]), and the [`store`] runs that pure
//! transition inside one atomic step that also records the message, its dedupe entry, the new
//! order state and the outbox entries of the messages to send; the ACK goes out once that step
//! is durable. The outbox worker ([`outbound`]) signs and delivers those messages with retries.
//! Platforms, customers and providers use the REST API under `/api/v1` (also in [`http`]);
//! conformance flows are replayed by [`replay`]; [`bench`] measures it under load; [`cli`] holds
//! the subcommands.

pub mod bench;
pub mod cli;
pub mod clock;
pub mod config;
pub mod http;
pub mod orchestrator;
pub mod outbound;
pub mod protocol;
pub mod registry;
pub mod replay;
pub mod service;
pub mod signing;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tokens;
