//! Why a flow could not be played, or where it went differently than its fixture says.

use super::fixture::FixtureError;
use super::harness::HarnessError;
use crate::config::ConfigError;
use crate::signing::{HeaderError, KeyError, VerifyError};
use crate::tokens::TokenError;

/// A flow that did not play as written.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The gateway did something other than the fixture expects: what was expected and what
    /// came, path by path.
    #[error("{0}")]
    Mismatch(String),
    /// The fixture cannot be played as written (an unbound placeholder, an unknown party, …).
    #[error("{0}")]
    Fixture(String),
    /// A fixture file that does not load.
    #[error(transparent)]
    Load(#[from] FixtureError),
    /// A file the flow needs could not be read or written.
    #[error("{what}")]
    Io {
        /// Which file, for what.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The gateway could not be reached, or its answer not read.
    #[error("HTTP to the gateway")]
    Http(#[from] reqwest::Error),
    /// A REST token could not be minted.
    #[error("REST token")]
    Token(#[from] TokenError),
    /// The in-process gateway did not start.
    #[error("the in-process gateway")]
    Harness(#[from] HarnessError),
    /// The running gateway's settings do not load.
    #[error("the gateway's settings")]
    Settings(#[from] ConfigError),
    /// A party's key is not a key.
    #[error("a party's signing key")]
    Key(#[from] KeyError),
    /// JSON that does not (de)serialise.
    #[error("JSON")]
    Json(#[from] serde_json::Error),
}

/// Why a message a counterpart received does not carry the gateway's valid signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureProblem {
    /// No `Authorization` header at all.
    #[error("no Authorization header")]
    Missing,
    /// The header is not ASCII.
    #[error("the Authorization header is not ASCII")]
    NotAscii,
    /// The header does not parse.
    #[error("Authorization header")]
    Header(#[from] HeaderError),
    /// The signature does not verify with the gateway's key.
    #[error("signature")]
    Invalid(#[from] VerifyError),
}
