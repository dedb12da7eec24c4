//! `token`: mints a REST bearer token with the configured secret, for local use.

use crate::clock::{Clock, SystemClock};
use crate::config::{DEFAULT_CONFIG, Settings};
use crate::tokens::{Role, TokenKeys};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// The user or platform id (`sub`).
    #[arg(long)]
    pub sub: String,
    /// `customer`, `provider` or `platform`.
    #[arg(long)]
    pub role: String,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl_secs: i64,
    /// Settings file holding `rest.token_secret` (`ONDC_GW_*` variables apply).
    #[arg(long, default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
}

/// Prints the token.
pub fn token(args: TokenArgs) -> ExitCode {
    let role: Role = match args.role.parse() {
        Ok(r) => r,
        Err(e) => return super::usage_error(format!("--role: {e}")),
    };
    if args.sub.trim().is_empty() {
        return super::usage_error("--sub must not be empty");
    }
    if args.ttl_secs <= 0 {
        return super::usage_error("--ttl-secs must be positive");
    }
    let settings = match Settings::load(&args.config) {
        Ok(s) => s,
        Err(e) => return super::usage_error(e),
    };
    let keys = TokenKeys::hs256(settings.rest.token_secret.as_bytes());
    match keys.mint(&args.sub, role, SystemClock.unix_seconds(), args.ttl_secs) {
        Ok(t) => {
            println!("{t}");
            ExitCode::SUCCESS
        }
        Err(e) => super::usage_error(e),
    }
}
