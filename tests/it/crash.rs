//! Crash safety with the real binary: `serve` is killed with SIGKILL in the middle of a cascade,
//! right after it ACKed, and started again on the same store. Nothing acknowledged is lost, the
//! undelivered `/cancel` goes out with its original message_id, and nothing is sent twice.

use crate::app::{TOKEN_SECRET, on_cancel};
use ondc_gateway::replay::counterpart::Counterpart;
use ondc_gateway::signing::{KeyId, PrivateKey, Signer};
use ondc_gateway::tokens::{Role, TokenKeys};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub(crate) struct Gateway {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) async fn start(config: &std::path::Path, port: u16) -> Gateway {
    let child = Command::new(env!("CARGO_BIN_EXE_ondc-gateway"))
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        // Beside the settings, for a failing test to be read: each start appends.
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(config.with_extension("log"))
                .map_or_else(|_| Stdio::null(), Stdio::from),
        )
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "gateway did not start");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Gateway { child, base }
}

/// A registry record for a party of these tests.
pub(crate) fn record(id: &str, kind: &str, key: &PrivateKey, url: &str) -> Value {
    json!({"subscriber_id": id, "ukId": "k1", "type": kind, "subscriber_url": url,
           "signing_public_key": key.public_key().to_base64(), "valid_until": "2099-01-01T00:00:00.000Z", "status": "SUBSCRIBED"})
}

/// Writes the registry and the settings of a gateway in `dir` (store in `dir/data`, fast
/// retries, `outbox` more `[outbox]` keys); returns the settings file and the port it listens on.
pub(crate) fn write_gateway(
    dir: &std::path::Path,
    gateway: &PrivateKey,
    records: Value,
    outbox: &str,
) -> (std::path::PathBuf, u16) {
    let store = format!("path = \"{}\"\n", dir.join("data").display());
    write_gateway_on(dir, gateway, records, outbox, &store)
}

/// [`write_gateway`] with the `[store]` keys given.
pub(crate) fn write_gateway_on(
    dir: &std::path::Path,
    gateway: &PrivateKey,
    records: Value,
    outbox: &str,
    store: &str,
) -> (std::path::PathBuf, u16) {
    std::fs::write(dir.join("registry.json"), serde_json::to_vec(&records).unwrap()).unwrap();
    let port = free_port();
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "subscriber_id = \"bnp.crash.local\"\nunique_key_id = \"gw\"\nsigning_private_key = \"{}\"\nsubscriber_url = \"http://127.0.0.1:{port}\"\n\
             [server]\nbind = \"127.0.0.1:{port}\"\nworkers = 2\n[store]\n{store}[registry]\nfile = \"{}\"\n\
             [outbox]\ninitial_backoff_ms = 50\nmax_backoff_ms = 100\n{outbox}[rest]\ntoken_secret = \"{TOKEN_SECRET}\"\n",
            gateway.to_base64_keypair(),
            dir.join("registry.json").display()
        ),
    )
    .unwrap();
    (config, port)
}

/// The PostgreSQL server the tests may create databases on; a test fails without it.
pub(crate) fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .expect("DATABASE_URL is not set: run scripts/test, which starts a throwaway PostgreSQL")
}

/// A new database for one test on the PostgreSQL server at `DATABASE_URL` (`scripts/test`
/// starts a throwaway one); the test fails without it.
pub(crate) async fn scratch_database(prefix: &str) -> String {
    let base = database_url();
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    ondc_gateway::store::create_database(&base, &name).await.unwrap()
}

pub(crate) fn sign(key: &PrivateKey, id: &str, body: &[u8]) -> String {
    let now = chrono::Utc::now().timestamp();
    Signer::new(key.clone(), format!("{id}|k1|ed25519").parse::<KeyId>().unwrap())
        .sign(body, now, now + 300)
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_cascade_loses_nothing_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = PrivateKey::generate();
    let (seller, lsp) = (PrivateKey::generate(), PrivateKey::generate());
    let snp = Counterpart::start(gateway.public_key()).unwrap();
    snp.nack_next(usize::MAX);
    let records = json!([
        record("seller.crash.local", "BPP", &seller, snp.url()),
        record("lsp.crash.local", "BPP", &lsp, "http://127.0.0.1:9")
    ]);
    let (config, port) = write_gateway(dir.path(), &gateway, records, "max_attempts = 1000\n");
    let http = reqwest::Client::new();
    let platform = TokenKeys::hs256(TOKEN_SECRET.as_bytes())
        .mint("p", Role::Platform, chrono::Utc::now().timestamp(), 600)
        .unwrap();

    let gw = start(&config, port).await;
    let order = crate::app::order_body("seller.crash.local", Some("lsp.crash.local"), "Order-picked-up");
    let r = http
        .post(format!("{}/api/v1/orders", gw.base))
        .bearer_auth(&platform)
        .json(&order)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // The LSP cancels; the gateway ACKs, then dies before the seller ever ACKs the /cancel.
    let mut msg = on_cancel("lsp.crash.local");
    msg["context"] = crate::app::context("on_cancel", "ONDC:LOG10", "bnp.crash.local", "lsp.crash.local");
    msg["context"]["transaction_id"] = json!("T-L");
    msg["message"]["order"]["id"] = json!("L1");
    msg["message"]["order"]["fulfillments"] = json!([
        {"id": "F1", "type": "Delivery", "state": {"descriptor": {"code": "RTO"}}},
        {"id": "F1-RTO", "type": "RTO", "state": {"descriptor": {"code": "RTO-Initiated"}}}]);
    let body = serde_json::to_vec(&msg).unwrap();
    let r = http
        .post(format!("{}/on_cancel", gw.base))
        .header("authorization", sign(&lsp, "lsp.crash.local", &body))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let first_attempt = snp.wait_for("cancel", 1).await.unwrap().remove(0);
    drop(gw); // SIGKILL: no shutdown hook, no final flush.

    snp.nack_next(0);
    let gw = start(&config, port).await;
    // The ACKed callback survived: the order is mid-cascade, and the timeline has it.
    let view: Value = http
        .get(format!("{}/api/v1/orders/O1", gw.base))
        .bearer_auth(&platform)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["cancellation"]["initiator"], "lsp", "{view:#}");
    // The /cancel goes out again with its original message_id, and is delivered.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let delivered_line = loop {
        let out = outbound(&http, &gw, &platform).await.remove(0);
        if out["status"] == "delivered" {
            assert_eq!(out["message_id"], first_attempt.body["context"]["message_id"]);
            break out;
        }
        assert!(tokio::time::Instant::now() < deadline, "{out:#}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let all = snp.received("cancel");
    assert!(
        all.iter().all(|c| c.raw == first_attempt.raw),
        "every attempt is the same message"
    );
    // The timeline shows what is committed, which may not be on disk yet. The LSP's callback
    // sent again is a duplicate, answered only after a flush that began after it arrived (group
    // commit), so once it is ACKed the delivered status is on disk too and the kill below
    // cannot undo it.
    let r = http
        .post(format!("{}/on_cancel", gw.base))
        .header("authorization", sign(&lsp, "lsp.crash.local", &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Killed again after delivery: the delivered /cancel is not sent again. Rather than wait
    // for a resend not to happen: the worker sends only entries stored as pending and stores
    // every attempt. After the restart the store still holds the /cancel as delivered with the
    // attempts it had, and no outbound line is pending, so there is nothing left to send; a
    // resend before this read would have grown the attempts, one in flight would show pending.
    let delivered = all.len();
    drop(gw);
    let gw = start(&config, port).await;
    let after = outbound(&http, &gw, &platform).await;
    assert_eq!(
        after,
        [delivered_line],
        "nothing pending, nothing attempted again"
    );
    assert_eq!(
        snp.received("cancel").len(),
        delivered,
        "nothing delivered goes out twice"
    );
}

/// The outbound lines of order O1's timeline, in order.
async fn outbound(http: &reqwest::Client, gw: &Gateway, token: &str) -> Vec<Value> {
    let t: Value = http
        .get(format!("{}/api/v1/orders/O1/timeline", gw.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    t["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["direction"] == "out")
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_does_not_lose_a_cancel_deadline() {
    // The buyer app cancels with ttl_response PT2S; the gateway ACKs, sends the seller its
    // /cancel and is killed at once. Started again on the same store, the deadline it kept
    // still fires: the seller gets the forced /cancel (flow 005), and when the seller answers,
    // the buyer app gets the /on_cancel of its own /cancel.
    let dir = tempfile::tempdir().unwrap();
    let gateway = PrivateKey::generate();
    let (seller, buyer) = (PrivateKey::generate(), PrivateKey::generate());
    let snp = Counterpart::start(gateway.public_key()).unwrap();
    let bap = Counterpart::start(gateway.public_key()).unwrap();
    let records = json!([
        record("seller.crash.local", "BPP", &seller, snp.url()),
        record("buyer.crash.local", "BAP", &buyer, bap.url())
    ]);
    let (config, port) = write_gateway(dir.path(), &gateway, records, "");
    let http = reqwest::Client::new();
    let platform = TokenKeys::hs256(TOKEN_SECRET.as_bytes())
        .mint("p", Role::Platform, chrono::Utc::now().timestamp(), 600)
        .unwrap();
    let gw = start(&config, port).await;
    let r = http
        .post(format!("{}/api/v1/orders", gw.base))
        .bearer_auth(&platform)
        .json(&crate::app::order_body(
            "seller.crash.local",
            None,
            "Out-for-delivery",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let mut cancel = crate::app::cancel("buyer.crash.local", "seller.crash.local");
    cancel["context"]["transaction_id"] = json!("T-R");
    cancel["message"]["descriptor"] = json!({"name": "fulfillment", "short_desc": "F1", "tags": [
        {"code": "params", "list": [{"code": "force", "value": "no"}, {"code": "ttl_response", "value": "PT2S"}]}]});
    let buyer_mid = cancel["context"]["message_id"].clone();
    let body = serde_json::to_vec(&cancel).unwrap();
    let r = http
        .post(format!("{}/cancel", gw.base))
        .header("authorization", sign(&buyer, "buyer.crash.local", &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let first = snp.wait_for("cancel", 1).await.unwrap().remove(0);
    drop(gw); // SIGKILL, well before the deadline.

    let gw = start(&config, port).await;
    // (The first /cancel may come again with its own message_id, if the kill beat the write of
    // its delivery; the forced one is a new message.)
    let first_mid = first.body["context"]["message_id"].clone();
    let forced = snp
        .wait_until("a forced /cancel", std::time::Duration::from_secs(10), |all| {
            all.iter()
                .find(|c| c.action == "cancel" && c.body["context"]["message_id"] != first_mid)
                .cloned()
        })
        .await
        .expect("a second /cancel after the restart");
    assert_eq!(
        crate::app::tag(&forced.body["message"]["descriptor"]["tags"], "params", "force"),
        Some("yes")
    );
    assert_eq!(forced.body["message"]["cancellation_reason_id"], "052");
    assert!(forced.signature_ok());
    // The seller answers the forced /cancel; the buyer app hears the answer to its /cancel.
    let mut answer = on_cancel("seller.crash.local");
    answer["context"] =
        crate::app::context("on_cancel", "ONDC:RET10", "bnp.crash.local", "seller.crash.local");
    answer["context"]["transaction_id"] = json!("T-R");
    answer["context"]["message_id"] = forced.body["context"]["message_id"].clone();
    answer["message"]["order"]["cancellation"] =
        json!({"cancelled_by": "buyer.crash.local", "reason": {"id": "052"}});
    let body = serde_json::to_vec(&answer).unwrap();
    let r = http
        .post(format!("{}/on_cancel", gw.base))
        .header("authorization", sign(&seller, "seller.crash.local", &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let told = bap.wait_for("on_cancel", 1).await.unwrap().remove(0);
    assert_eq!(told.body["context"]["message_id"], buyer_mid);
    assert_eq!(told.body["message"]["order"]["state"], "Cancelled");
    assert!(told.signature_ok());
}

/// The embedded store answers a group once its segment write is fdatasynced and puts it into
/// sled afterwards, checkpointing sled about once a second. SIGKILL right after a burst of ACKs
/// (well inside a second) leaves the newest groups in the log only: after the restart every
/// message ACKed before the kill must still be known, so each resend is answered as a
/// duplicate, none is taken as new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_right_after_a_burst_of_acks_keeps_every_one_through_the_log() {
    const MESSAGES: usize = 400;
    let dir = tempfile::tempdir().unwrap();
    let (gateway_key, seller_key) = (PrivateKey::generate(), PrivateKey::generate());
    let seller = "seller.burst.local";
    let records = json!([
        record("bnp.crash.local", "BAP", &gateway_key, "http://127.0.0.1:9"),
        record(seller, "BPP", &seller_key, "http://127.0.0.1:9"),
    ]);
    let (config, port) = write_gateway(dir.path(), &gateway_key, records, "");
    let messages: Vec<(Vec<u8>, String)> = (0..MESSAGES)
        .map(|i| {
            let mut body = on_cancel(seller);
            body["context"]["bap_id"] = json!("bnp.crash.local");
            body["context"]["transaction_id"] = json!(format!("T-burst-{i}"));
            let bytes = serde_json::to_vec(&body).unwrap();
            let auth = sign(&seller_key, seller, &bytes);
            (bytes, auth)
        })
        .collect();
    let http = reqwest::Client::new();
    let send_all = |base: String| {
        let (http, messages) = (http.clone(), messages.clone());
        async move {
            let mut answers = Vec::new();
            for chunk in messages.chunks(50) {
                let sends: Vec<_> = chunk
                    .iter()
                    .map(|(body, auth)| {
                        let send = http
                            .post(format!("{base}/on_cancel"))
                            .header("content-type", "application/json")
                            .header("authorization", auth)
                            .body(body.clone())
                            .send();
                        tokio::spawn(async move {
                            let answer = send.await.unwrap();
                            (answer.status().as_u16(), answer.text().await.unwrap())
                        })
                    })
                    .collect();
                for send in sends {
                    answers.push(send.await.unwrap());
                }
            }
            answers
        }
    };

    let mut gw = start(&config, port).await;
    let first = send_all(gw.base.clone()).await;
    // At once: the checkpoint runs about once a second.
    gw.child.kill().unwrap();
    gw.child.wait().unwrap();
    for (status, body) in &first {
        assert_eq!(*status, 200, "{body}");
        assert!(body.contains("\"ACK\""), "{body}");
    }

    let gw = start(&config, port).await;
    let again = send_all(gw.base.clone()).await;
    assert_eq!(again, first, "each resend gets the first answer");
    let metrics = http
        .get(format!("{}/metrics", gw.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |outcome: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("ondc_gateway_beckn_requests_total")
                    && l.contains("action=\"on_cancel\"")
                    && l.contains(&format!("outcome=\"{outcome}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .map_or(0, |n| n.parse::<usize>().unwrap())
    };
    assert_eq!(
        count("duplicate"),
        MESSAGES,
        "every message was known after the crash"
    );
    assert_eq!(count("ack"), 0, "none was taken as new");
}
