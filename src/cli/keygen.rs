//! `keygen`: a fresh Ed25519 signing key pair as JSON, in the forms ONDC tooling uses.

use crate::signing::PrivateKey;
use std::process::ExitCode;

/// Prints `{"signing_private_key": <base64 of seed‖public, 64 bytes>, "signing_public_key": <base64, 32 bytes>}`.
pub fn keygen() -> ExitCode {
    let key = PrivateKey::generate();
    let out = serde_json::json!({
        "signing_private_key": key.to_base64_keypair(),
        "signing_public_key": key.public_key().to_base64(),
    });
    println!("{out:#}");
    ExitCode::SUCCESS
}
