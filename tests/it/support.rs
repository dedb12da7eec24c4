//! Shared helpers: run our binary or the ONDC SDK scripts with a body on stdin.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// What a finished process left behind.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

fn run(mut cmd: Command, stdin: &[u8]) -> Run {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    // A process that exits on a usage error never reads its stdin: a broken pipe is expected then.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `ondc-gateway ARGS` with `body` on stdin.
pub fn gateway(args: &[&str], body: &[u8]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ondc-gateway"));
    cmd.args(args).env_remove("ONDC_SIGNING_PRIVATE_KEY");
    run(cmd, body)
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared` beside the checkout (CI puts it there), or `ONDC_SHARED_DIR`.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("ONDC_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared"))
}

/// Runs one of ONDC's SDK scripts (`sign.js`, `verify.js`, `keygen.js`) from
/// `../shared/tools/ondc-sdk` with the SDK that `npm ci --prefix interop` installed.
pub fn sdk(script: &str, args: &[&str], body: &[u8]) -> Run {
    let modules = repo_root().join("interop/node_modules");
    assert!(
        modules.join("ondc-crypto-sdk-nodejs").is_dir(),
        "ONDC's Node SDK is not installed: run `npm ci --prefix interop` (scripts/test does)"
    );
    let script = shared_dir().join("tools/ondc-sdk").join(script);
    assert!(script.is_file(), "missing {}", script.display());
    let mut cmd = Command::new("node");
    cmd.arg(script).args(args).env("NODE_PATH", modules);
    run(cmd, body)
}

/// A fresh key set from the SDK's keygen: (64-byte private, 32-byte seed, public).
pub fn sdk_keys() -> (String, String, String) {
    let out = sdk("keygen.js", &[], b"");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let field = |k: &str| v[k].as_str().unwrap().to_owned();
    (
        field("signing_private_key"),
        field("signing_private_key_seed"),
        field("signing_public_key"),
    )
}

/// A fresh key pair from our keygen: (64-byte private, public).
pub fn our_keys() -> (String, String) {
    let out = gateway(&["keygen"], b"");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    (
        v["signing_private_key"].as_str().unwrap().to_owned(),
        v["signing_public_key"].as_str().unwrap().to_owned(),
    )
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
