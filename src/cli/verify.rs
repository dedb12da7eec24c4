//! `verify`: checks a signature header against the body on standard input.

use super::{read_stdin, usage_error};
use crate::clock::{Clock, SystemClock};
use crate::signing::{PublicKey, SignatureHeader, ValidityPolicy, verify as verify_header};
use std::process::ExitCode;

/// Arguments of `verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The header value (`Signature keyId=…`); a leading `Authorization:` or
    /// `X-Gateway-Authorization:` name is allowed.
    #[arg(long)]
    pub header: String,
    /// The signer's public key: base64 of the raw 32 bytes, as the registry publishes it.
    #[arg(long)]
    pub public_key: String,
    /// Check the window against this Unix time instead of the system clock.
    #[arg(long, conflicts_with = "ignore_time")]
    pub now: Option<i64>,
    /// How far in the future `created` may be, in seconds.
    #[arg(long, default_value_t = ValidityPolicy::default().max_clock_skew_secs)]
    pub skew: i64,
    /// Check only the signature, not the created/expires window (what the ONDC SDK's
    /// isHeaderValid does).
    #[arg(long)]
    pub ignore_time: bool,
}

/// Exit 0 and `valid …` on stdout; exit 1 and `invalid: <reason>` on stderr; exit 2 on a usage error.
pub fn verify(args: VerifyArgs) -> ExitCode {
    let key = match PublicKey::from_base64(&args.public_key) {
        Ok(key) => key,
        Err(e) => return usage_error(format!("--public-key: {e}")),
    };
    if args.skew < 0 {
        return usage_error("--skew must not be negative");
    }
    let body = match read_stdin() {
        Ok(body) => body,
        Err(e) => return usage_error(e),
    };
    let header = match strip_header_name(&args.header).parse::<SignatureHeader>() {
        Ok(h) => h,
        Err(e) => return invalid(e),
    };
    let (now, policy) = if args.ignore_time {
        // Put "now" inside the window so only the signature is judged.
        (
            header.created.max(0),
            ValidityPolicy {
                max_clock_skew_secs: 0,
            },
        )
    } else {
        (
            args.now.unwrap_or_else(|| SystemClock.unix_seconds()),
            ValidityPolicy {
                max_clock_skew_secs: args.skew,
            },
        )
    };
    match verify_header(&header, &body, &key, now, &policy) {
        Ok(()) => {
            println!(
                "valid: signed by {} for [{}, {}]",
                header.key_id, header.created, header.expires
            );
            ExitCode::SUCCESS
        }
        Err(e) => invalid(e),
    }
}

fn invalid(reason: impl std::fmt::Display) -> ExitCode {
    eprintln!("invalid: {reason}");
    ExitCode::FAILURE
}

fn strip_header_name(value: &str) -> &str {
    let trimmed = value.trim_start();
    for name in [
        "authorization:",
        "x-gateway-authorization:",
        "proxy-authorization:",
    ] {
        if trimmed.len() >= name.len() && trimmed[..name.len()].eq_ignore_ascii_case(name) {
            return &trimmed[name.len()..];
        }
    }
    trimmed
}
