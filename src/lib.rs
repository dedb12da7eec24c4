//! An ONDC/Beckn buyer-side (BNP) gateway for cancellations.
//!
//! How a message flows: a peer POSTs a signed Beckn message; the HTTP edge verifies the
//! `Authorization` signature over the raw body bytes ([`signing`]) against the sender's registered
//! key, then parses the body into protocol types ([`protocol`]).

pub mod cli;
pub mod clock;
pub mod config;
pub mod http;
pub mod orchestrator;
pub mod outbound;
pub mod protocol;
pub mod registry;
pub mod replay;
pub mod signing;
pub mod store;
pub mod telemetry;
