//! A full disk with the real binary: the store lives on a small tmpfs that a filler file fills.
//! Messages that cannot be stored are answered 503 (never ACKed), the gateway takes messages
//! again once space returns, and nothing it ACKed is lost across a restart.

use crate::crash::{record, sign, start, write_gateway};
use ondc_gateway::signing::PrivateKey;
use ondc_gateway::store::{SledStore, Store};
use serde_json::{Value, json};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted for the test, unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    fn new(at: &Path, bytes: u64) -> Self {
        std::fs::create_dir_all(at).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}")])
            .arg("tmpfs")
            .arg(at)
            .status()
            .expect("mount(8) runs");
        // No silent skip: a full disk cannot be made without it (CI runs as root).
        assert!(
            status.success(),
            "cannot mount a tmpfs at {} (needs root)",
            at.display()
        );
        Self(at.to_owned())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the filesystem of `dir` with a file until a write fails.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0x5a; 64 * 1024];
    loop {
        if let Err(e) = f.write_all(&chunk) {
            assert_eq!(e.raw_os_error(), Some(28), "ENOSPC, got {e}");
            break;
        }
    }
    // Small writes too, so not even a partly used page is left.
    while f.write_all(&[0x5a; 512]).is_ok() {}
    while f.write_all(&[0x5a]).is_ok() {}
    let _ = f.sync_all();
    path
}

fn message() -> (String, Vec<u8>) {
    let mut msg = crate::app::on_cancel("seller.crash.local");
    msg["context"] = crate::app::context("on_cancel", "ONDC:RET10", "bnp.crash.local", "seller.crash.local");
    let id = msg["context"]["message_id"].as_str().unwrap().to_owned();
    (id, serde_json::to_vec(&msg).unwrap())
}

async fn post(http: &reqwest::Client, base: &str, seller: &PrivateKey, body: &[u8]) -> (u16, Value) {
    let r = http
        .post(format!("{base}/on_cancel"))
        .header("authorization", sign(seller, "seller.crash.local", body))
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_gets_503s_never_acks_and_the_gateway_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mount = Mount::new(&dir.path().join("data"), 24 << 20);
    let gateway = PrivateKey::generate();
    let seller = PrivateKey::generate();
    let records = json!([record("seller.crash.local", "BPP", &seller, "http://127.0.0.1:9")]);
    let (config, port) = write_gateway(dir.path(), &gateway, records, "");
    let gw = start(&config, port).await;
    let http = reqwest::Client::new();
    let mut acked = vec![];

    for _ in 0..5 {
        let (id, body) = message();
        let (status, answer) = post(&http, &gw.base, &seller, &body).await;
        assert_eq!(status, 200, "{answer}");
        acked.push(id);
    }

    let filler = fill(&mount.0);
    let mut refused = vec![];
    for _ in 0..5 {
        let (id, body) = message();
        let (status, answer) = post(&http, &gw.base, &seller, &body).await;
        assert_eq!(
            status, 503,
            "a message that cannot be stored is not ACKed: {answer}"
        );
        assert_eq!(answer["error"]["code"], "23001", "{answer}");
        assert_eq!(answer["message"]["ack"]["status"], "NACK", "{answer}");
        refused.push((id, body));
    }

    std::fs::remove_file(&filler).unwrap();
    // Space is back: new messages and the refused ones sent again are ACKed.
    for _ in 0..5 {
        let (id, body) = message();
        let (status, answer) = post(&http, &gw.base, &seller, &body).await;
        assert_eq!(status, 200, "after space returned: {answer}");
        acked.push(id);
    }
    for (id, body) in &refused {
        let (status, answer) = post(&http, &gw.base, &seller, body).await;
        assert_eq!(status, 200, "a refused message sent again: {answer}");
        acked.push(id.clone());
    }

    // Killed and restarted: everything ACKed is there.
    drop(gw);
    let store = SledStore::open(&dir.path().join("data")).unwrap();
    let audit = store.inbound_after(0, 100).await.unwrap();
    for id in &acked {
        assert!(
            audit.iter().any(|(_, r)| r.message_id.as_str() == id),
            "ACKed {id} is in the store after the restart"
        );
    }
    println!(
        "disk full: {} ACKed before, 5 refused with 503 while full, {} ACKed after (incl. the refused ones again)",
        5,
        acked.len() - 5
    );
}
