//! `sign`: the Beckn `Authorization` header value for the body on standard input.

use super::{read_stdin, usage_error};
use crate::clock::{Clock, SystemClock};
use crate::protocol::{SubscriberId, UniqueKeyId};
use crate::signing::{KeyId, PrivateKey, Signer};
use std::process::ExitCode;

/// Arguments of `sign`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// Signing private key: base64 of the 32-byte seed or of the 64-byte seed‖public form.
    /// Prefer the environment variable, which other users cannot read from the process list.
    #[arg(long, env = "ONDC_SIGNING_PRIVATE_KEY", hide_env_values = true)]
    pub private_key: String,
    /// Our subscriber id, the first part of the keyId.
    #[arg(long)]
    pub subscriber_id: String,
    /// The registry ukId of the key, the second part of the keyId.
    #[arg(long)]
    pub unique_key_id: String,
    /// `(created)` in Unix seconds; defaults to now.
    #[arg(long)]
    pub created: Option<i64>,
    /// `(expires)` in Unix seconds; defaults to created + ttl.
    #[arg(long)]
    pub expires: Option<i64>,
    /// Seconds between created and expires when --expires is not given (the ONDC SDK uses 3600).
    #[arg(long, default_value_t = 3600)]
    pub ttl: i64,
}

/// Prints the canonical header value (without the `Authorization: ` name) and a newline.
pub fn sign(args: SignArgs) -> ExitCode {
    let key = match PrivateKey::from_base64(&args.private_key) {
        Ok(key) => key,
        Err(e) => return usage_error(format!("--private-key: {e}")),
    };
    let subscriber_id = match SubscriberId::parse(&args.subscriber_id) {
        Ok(id) => id,
        Err(e) => return usage_error(format!("--subscriber-id {:?} {e}", args.subscriber_id)),
    };
    let unique_key_id = match UniqueKeyId::parse(&args.unique_key_id) {
        Ok(id) => id,
        Err(e) => return usage_error(format!("--unique-key-id {:?} {e}", args.unique_key_id)),
    };
    let created = args.created.unwrap_or_else(|| SystemClock.unix_seconds());
    let expires = args.expires.unwrap_or(created.saturating_add(args.ttl));
    if created < 0 || expires <= created {
        return usage_error(format!(
            "the window must satisfy 0 <= created < expires (created {created}, expires {expires})"
        ));
    }
    let body = match read_stdin() {
        Ok(body) => body,
        Err(e) => return usage_error(e),
    };
    let signer = Signer::new(
        key,
        KeyId {
            subscriber_id,
            unique_key_id,
        },
    );
    println!("{}", signer.sign(&body, created, expires));
    ExitCode::SUCCESS
}
