//! The comparison: ONDC's Node SDK (`ondc-crypto-sdk-nodejs`, `isHeaderValid`) verifying a
//! sample of the very headers and bodies the gateway was sent, in one `node` process running
//! `interop/bench-verify.js`, after the gateway has stopped so the two never share the cores.

use super::error::BenchError;
use super::payloads::Call;
use std::path::Path;
use std::time::Duration;

/// Headers handed to the SDK (it cycles over them).
const SAMPLE: usize = 1000;
/// How long the SDK is timed.
const SDK_SECONDS: u32 = 3;
/// Its whole run, start-up included, must end within this.
const SDK_TIMEOUT: Duration = Duration::from_secs(60);

/// What the SDK run gave.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SdkRate {
    /// `isHeaderValid` calls per second, one process.
    pub verifies_per_sec: f64,
    /// Calls that returned true.
    pub valid: u64,
    /// Calls that returned false (should be 0: these headers are all good).
    pub invalid: u64,
    /// `process.version`.
    pub node: String,
}

/// The headers, bodies and keys to hand over (the first `SAMPLE` calls).
pub fn sample(calls: &[Call]) -> Vec<serde_json::Value> {
    calls
        .iter()
        .take(SAMPLE)
        .map(|c| {
            serde_json::json!({
                "header": c.authorization,
                "body": String::from_utf8_lossy(&c.body),
                "publicKey": c.public_key,
            })
        })
        .collect()
}

/// Runs the SDK over `sample`; `Err` says why it could not (no node, SDK not installed, …).
pub async fn verify_rate(interop: &Path, sample: &[serde_json::Value]) -> Result<SdkRate, BenchError> {
    let script = interop.join("bench-verify.js");
    if !interop.join("node_modules/ondc-crypto-sdk-nodejs").is_dir() {
        return Err(BenchError::Failed(format!(
            "the SDK is not installed under {} (npm ci --prefix interop)",
            interop.display()
        )));
    }
    let dir = tempfile::tempdir().map_err(|e| BenchError::context("a temporary directory", e))?;
    let input = dir.path().join("headers.json");
    std::fs::write(&input, serde_json::Value::from(sample.to_vec()).to_string())
        .map_err(|e| BenchError::context("the headers for the SDK", e))?;
    let run = tokio::process::Command::new("node")
        .arg(&script)
        .arg(&input)
        .arg(SDK_SECONDS.to_string())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(SDK_TIMEOUT, run)
        .await
        .map_err(|_| BenchError::Failed(format!("node did not finish within {SDK_TIMEOUT:?}")))?
        .map_err(|e| BenchError::context("cannot run node", e))?;
    if !out.status.success() {
        return Err(BenchError::Failed(format!(
            "node {} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| BenchError::context("unreadable SDK result", e))
}
