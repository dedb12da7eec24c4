//! `spawn_app()`: a real gateway on 127.0.0.1 port 0 with a temporary store, its own keys, and a
//! registry file naming a buyer app, a seller, an LSP and a gateway (BG), each with fresh keys.

use ondc_gateway::clock::SystemClock;
use ondc_gateway::config::Settings;
use ondc_gateway::http::Application;
use ondc_gateway::protocol::format_timestamp;
use ondc_gateway::signing::{KeyId, PrivateKey, Signer};
use ondc_gateway::store::Store;
use serde_json::{Value, json};
use std::sync::Arc;

pub const GATEWAY: &str = "bnp.test.local";

/// A network participant the tests play.
#[derive(Clone)]
pub struct Party {
    pub subscriber_id: &'static str,
    pub ukid: &'static str,
    pub key: PrivateKey,
}

impl Party {
    fn new(subscriber_id: &'static str, ukid: &'static str) -> Self {
        Self {
            subscriber_id,
            ukid,
            key: PrivateKey::generate(),
        }
    }

    pub fn signer(&self) -> Signer {
        Signer::new(
            self.key.clone(),
            format!("{}|{}|ed25519", self.subscriber_id, self.ukid)
                .parse::<KeyId>()
                .unwrap(),
        )
    }

    /// The `Authorization` value for `body`, valid from now for five minutes.
    pub fn sign(&self, body: &[u8]) -> String {
        let now = crate::support::now();
        self.signer().sign(body, now, now + 300).to_string()
    }

    pub fn sign_window(&self, body: &[u8], created: i64, expires: i64) -> String {
        self.signer().sign(body, created, expires).to_string()
    }

    pub fn private_base64(&self) -> String {
        self.key.to_base64_keypair()
    }
}

pub struct Parties {
    pub gateway: Party,
    pub buyer: Party,
    pub seller: Party,
    pub lsp: Party,
    pub bg: Party,
    /// Registered, but with a key that expired yesterday.
    pub stale: Party,
    /// Registered with status INITIATED.
    pub pending: Party,
}

pub struct TestApp {
    pub base: String,
    pub parties: Parties,
    pub store: Arc<dyn Store>,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// Options for [`spawn_app_with`].
pub struct Options {
    pub extra_toml: String,
    pub lookup_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            extra_toml: String::new(),
            lookup_url: None,
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

fn record(p: &Party, kind: &str, domain: &str, valid_until: &str, status: &str) -> Value {
    json!({
        "subscriber_id": p.subscriber_id, "ukId": p.ukid, "type": kind, "domain": domain,
        "subscriber_url": format!("http://127.0.0.1:9/{}", p.subscriber_id),
        "signing_public_key": p.key.public_key().to_base64(),
        "valid_from": "2024-01-01T00:00:00.000Z", "valid_until": valid_until, "status": status,
    })
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let parties = Parties {
        gateway: Party::new(GATEWAY, "gw-1"),
        buyer: Party::new("buyer.test.local", "buyer-1"),
        seller: Party::new("seller.test.local", "seller-1"),
        lsp: Party::new("lsp.test.local", "lsp-1"),
        bg: Party::new("bg.test.local", "bg-1"),
        stale: Party::new("stale.test.local", "stale-1"),
        pending: Party::new("pending.test.local", "pending-1"),
    };
    let dir = tempfile::tempdir().unwrap();
    let far = "2036-01-01T00:00:00.000Z";
    let yesterday = format_timestamp(chrono::Utc::now() - chrono::Duration::days(1));
    let registry = json!([
        record(&parties.gateway, "BAP", "ONDC:RET10", far, "SUBSCRIBED"),
        record(&parties.buyer, "BAP", "ONDC:RET10", far, "SUBSCRIBED"),
        record(&parties.seller, "BPP", "ONDC:RET10", far, "SUBSCRIBED"),
        record(&parties.lsp, "BPP", "ONDC:LOG10", far, "SUBSCRIBED"),
        record(&parties.bg, "BG", "ONDC:RET10", far, "SUBSCRIBED"),
        record(
            &parties.stale,
            "BPP",
            "ONDC:RET10",
            &yesterday,
            "SUBSCRIBED"
        ),
        record(&parties.pending, "BPP", "ONDC:RET10", far, "INITIATED"),
    ]);
    let registry_path = dir.path().join("registry.json");
    std::fs::write(
        &registry_path,
        serde_json::to_vec_pretty(&registry).unwrap(),
    )
    .unwrap();
    let lookup = options
        .lookup_url
        .map(|u| format!("lookup_url = \"{u}\"\n"))
        .unwrap_or_default();
    let toml = format!(
        r#"
        subscriber_id = "{GATEWAY}"
        unique_key_id = "gw-1"
        signing_private_key = "{key}"
        subscriber_url = "http://127.0.0.1:0"
        [server]
        bind = "127.0.0.1:0"
        workers = 2
        body_timeout_ms = 1500
        [store]
        path = "{store}"
        [registry]
        file = "{registry}"
        {lookup}
        {extra}
        "#,
        key = parties.gateway.private_base64(),
        store = dir.path().join("data").display(),
        registry = registry_path.display(),
        extra = options.extra_toml,
    );
    let settings = Settings::from_toml(&toml).unwrap();
    let app = Application::build(&settings, Arc::new(SystemClock)).unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let store = app.store();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        base,
        parties,
        store,
        http: reqwest::Client::new(),
        dir,
        handle,
    }
}

/// A response as a test looks at it.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub raw: String,
}

impl Answer {
    pub fn is_ack(&self) -> bool {
        self.status == 200 && self.body == json!({"message": {"ack": {"status": "ACK"}}})
    }

    pub fn nack_code(&self) -> Option<&str> {
        (self.body["message"]["ack"]["status"] == "NACK")
            .then(|| self.body["error"]["code"].as_str())
            .flatten()
    }

    pub fn path(&self) -> Option<&str> {
        self.body["error"]["path"].as_str()
    }
}

impl TestApp {
    /// POSTs `body` to `/{action}` with the given headers.
    pub async fn post(
        &self,
        action: &str,
        body: impl Into<Vec<u8>>,
        headers: &[(&str, String)],
    ) -> Answer {
        let mut req = self
            .http
            .post(format!("{}/{action}", self.base))
            .body(body.into());
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let raw = resp.text().await.unwrap();
        let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            raw,
        }
    }

    /// POSTs `body` signed by `party`.
    pub async fn post_signed(&self, action: &str, party: &Party, body: &[u8]) -> Answer {
        let auth = party.sign(body);
        self.post(
            action,
            body.to_vec(),
            &[
                ("authorization", auth),
                ("content-type", "application/json".into()),
            ],
        )
        .await
    }

    pub fn audit(&self) -> Vec<ondc_gateway::store::InboundRecord> {
        self.store
            .inbound_after(0, 10_000)
            .unwrap()
            .into_iter()
            .map(|(_, r)| r)
            .collect()
    }
}

/// A minimal valid context for `action` between the gateway and `counterpart` on `domain`.
pub fn context(action: &str, domain: &str, bap: &str, bpp: &str) -> Value {
    json!({
        "domain": domain, "action": action, "core_version": "1.2.5",
        "bap_id": bap, "bap_uri": format!("https://{bap}/ondc"),
        "bpp_id": bpp, "bpp_uri": format!("https://{bpp}/ondc"),
        "transaction_id": "T-1", "message_id": uuid(),
        "timestamp": format_timestamp(chrono::Utc::now()), "ttl": "PT30S",
        "city": "std:080", "country": "IND"
    })
}

pub fn uuid() -> String {
    ondc_gateway::protocol::MessageId::generate().to_string()
}

/// A valid retail `/on_cancel` from the seller to the gateway.
pub fn on_cancel(seller: &str) -> Value {
    json!({
        "context": context("on_cancel", "ONDC:RET10", GATEWAY, seller),
        "message": {"order": {
            "id": "O1", "state": "Cancelled",
            "fulfillments": [{"id": "F1", "type": "Delivery", "state": {"descriptor": {"code": "Cancelled"}},
                "tags": [{"code": "cancel_request", "list": [{"code": "reason_id", "value": "005"}, {"code": "initiated_by", "value": seller}]}]}],
            "cancellation": {"cancelled_by": seller, "reason": {"id": "005"}}
        }}
    })
}

/// A valid retail `/cancel` from the buyer app.
pub fn cancel(buyer: &str, seller: &str) -> Value {
    json!({
        "context": context("cancel", "ONDC:RET10", buyer, seller),
        "message": {"order_id": "O1", "cancellation_reason_id": "052"}
    })
}
