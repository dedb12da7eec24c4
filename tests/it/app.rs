//! `spawn_app()`: a real gateway (the library's in-process harness) on 127.0.0.1 port 0 with a
//! temporary store, its own keys, and a registry file naming a buyer app, a seller, an LSP and a
//! gateway (BG), each with fresh keys; `net()` adds a live seller and LSP (the library's
//! counterpart) that verify the gateway's signatures. Plus the requests and bodies tests send.

use ondc_gateway::protocol::format_timestamp;
use ondc_gateway::replay::counterpart::Counterpart;
use ondc_gateway::replay::harness::Harness;
use ondc_gateway::signing::{KeyId, PrivateKey, Signer};
use ondc_gateway::store::Store;
use serde_json::{Value, json};
use std::path::PathBuf;
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

#[derive(Clone)]
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
    pub http: reqwest::Client,
    gateway: Harness,
}

impl TestApp {
    /// The gateway's store, to read beside it.
    pub fn store(&self) -> &Arc<dyn Store> {
        self.gateway.store()
    }

    /// Stops the server, its outbox worker and its timers, and releases the store; returns what
    /// a restart needs (the directory, kept, and the keys) for [`Options::dir`] and
    /// [`Options::parties`].
    pub async fn stop(self) -> (PathBuf, Parties) {
        let dir = self.gateway.stop_keeping_dir().await.unwrap();
        (dir, self.parties)
    }
}

/// Options for [`spawn_app_with`].
#[derive(Default)]
pub struct Options {
    /// More settings, as TOML tables (`[outbox]`, `[protocol]`, …).
    pub extra_toml: String,
    pub lookup_url: Option<String>,
    /// subscriber_url overrides by subscriber id (counterparts on loopback).
    pub urls: Vec<(&'static str, String)>,
    /// These identities instead of fresh ones: a restart, or a gateway key chosen before the
    /// counterparts that check it start.
    pub parties: Option<Parties>,
    /// Restart on the store of an earlier app (see [`TestApp::stop`]).
    pub dir: Option<PathBuf>,
    /// `rest.webhook_url`.
    pub webhook_url: Option<String>,
}

pub const TOKEN_SECRET: &str = "test-secret-test-secret-test-secret!";

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

fn record(
    p: &Party,
    kind: &str,
    domain: &str,
    valid_until: &str,
    status: &str,
    urls: &[(&str, String)],
) -> Value {
    let url = urls
        .iter()
        .find(|(id, _)| *id == p.subscriber_id)
        .map(|(_, u)| u.clone())
        .unwrap_or_else(|| format!("http://127.0.0.1:9/{}", p.subscriber_id));
    json!({
        "subscriber_id": p.subscriber_id, "ukId": p.ukid, "type": kind, "domain": domain,
        "subscriber_url": url,
        "signing_public_key": p.key.public_key().to_base64(),
        "valid_from": "2024-01-01T00:00:00.000Z", "valid_until": valid_until, "status": status,
    })
}

impl Parties {
    pub fn new() -> Self {
        Parties {
            gateway: Party::new(GATEWAY, "gw-1"),
            buyer: Party::new("buyer.test.local", "buyer-1"),
            seller: Party::new("seller.test.local", "seller-1"),
            lsp: Party::new("lsp.test.local", "lsp-1"),
            bg: Party::new("bg.test.local", "bg-1"),
            stale: Party::new("stale.test.local", "stale-1"),
            pending: Party::new("pending.test.local", "pending-1"),
        }
    }
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let parties = options.parties.unwrap_or_else(Parties::new);
    let urls = options.urls;
    let far = "2036-01-01T00:00:00.000Z";
    let yesterday = format_timestamp(chrono::Utc::now() - chrono::Duration::days(1));
    let registry = [
        record(&parties.gateway, "BAP", "ONDC:RET10", far, "SUBSCRIBED", &urls),
        record(&parties.buyer, "BAP", "ONDC:RET10", far, "SUBSCRIBED", &urls),
        record(&parties.seller, "BPP", "ONDC:RET10", far, "SUBSCRIBED", &urls),
        record(&parties.lsp, "BPP", "ONDC:LOG10", far, "SUBSCRIBED", &urls),
        record(&parties.bg, "BG", "ONDC:RET10", far, "SUBSCRIBED", &urls),
        record(
            &parties.stale,
            "BPP",
            "ONDC:RET10",
            &yesterday,
            "SUBSCRIBED",
            &urls,
        ),
        record(&parties.pending, "BPP", "ONDC:RET10", far, "INITIATED", &urls),
    ];
    let lookup = options
        .lookup_url
        .map(|u| format!("[registry]\nlookup_url = \"{u}\"\n"))
        .unwrap_or_default();
    let settings = format!(
        r#"
        subscriber_id = "{GATEWAY}"
        unique_key_id = "gw-1"
        signing_private_key = "{key}"
        subscriber_url = "http://127.0.0.1:0"
        [server]
        workers = 2
        body_timeout_ms = 1500
        {lookup}
        [rest]
        token_secret = "{TOKEN_SECRET}"
        {webhook}
        {extra}
        "#,
        key = parties.gateway.private_base64(),
        extra = options.extra_toml,
        webhook = options
            .webhook_url
            .map(|u| format!("webhook_url = \"{u}\""))
            .unwrap_or_default(),
    );
    let gateway = Harness::start(&settings, &registry, options.dir).await.unwrap();
    TestApp {
        base: gateway.url().to_owned(),
        parties,
        http: reqwest::Client::new(),
        gateway,
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
    pub async fn post(&self, action: &str, body: impl Into<Vec<u8>>, headers: &[(&str, String)]) -> Answer {
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

    pub async fn audit(&self) -> Vec<ondc_gateway::store::InboundRecord> {
        self.store()
            .inbound_after(0, 10_000)
            .await
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

impl TestApp {
    /// A bearer token for `sub` in `role`.
    pub fn token(&self, sub: &str, role: ondc_gateway::tokens::Role) -> String {
        let keys = ondc_gateway::tokens::TokenKeys::hs256(TOKEN_SECRET.as_bytes());
        keys.mint(sub, role, chrono::Utc::now().timestamp(), 3600)
            .unwrap()
    }

    /// A REST call as `token`'s holder; returns (status, JSON body).
    pub async fn rest(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub fn platform(&self) -> String {
        self.token("platform-1", ondc_gateway::tokens::Role::Platform)
    }

    pub async fn register(&self, order: Value) {
        let (status, body) = self
            .rest(
                reqwest::Method::POST,
                "/api/v1/orders",
                Some(&self.platform()),
                Some(order),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    pub async fn order(&self, id: &str) -> Value {
        let (status, body) = self
            .rest(
                reqwest::Method::GET,
                &format!("/api/v1/orders/{id}"),
                Some(&self.platform()),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub async fn timeline(&self, id: &str) -> Vec<Value> {
        let path = format!("/api/v1/orders/{id}/timeline");
        let (status, body) = self
            .rest(reqwest::Method::GET, &path, Some(&self.platform()), None)
            .await;
        assert_eq!(status, 200, "{body}");
        body["messages"].as_array().unwrap().clone()
    }

    /// The Prometheus text at `/metrics`.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The order's first outbound timeline line, once its status is `status` (polled, at most 10 s).
    pub async fn wait_first_out(&self, id: &str, status: &str) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let t = self.timeline(id).await;
            let out = t
                .iter()
                .find(|l| l["direction"] == "out")
                .cloned()
                .unwrap_or(Value::Null);
            if out["status"] == status {
                return out;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "waiting for an outbound {status} message: {t:#?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Waits (polled, at most 10 s) until the outbox holds no pending entry.
    ///
    /// This is how a test proves that something was *not* sent without sleeping: every message
    /// the gateway will send is in the outbox before the answer that caused it, an entry leaves
    /// the pending set only once its last attempt has been answered, and a counterpart records a
    /// request before it answers. So once the outbox is drained, what the counterparts recorded
    /// is all they will ever get.
    pub async fn wait_outbox_drained(&self) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while let Some(next) = self.store().next_due().await.unwrap() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the outbox still has an entry due at {next}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// The order registration body for the tests: retail O1/T-R with the seller, and (optionally)
/// logistics L1/T-L with the LSP delivering F1.
pub fn order_body(seller: &str, lsp: Option<&str>, forward_state: &str) -> Value {
    let mut o = json!({
        "order_id": "O1", "customer_id": "cust-1", "provider_id": "prov-1", "state": "In-progress",
        "escrow": {"currency": "INR", "value": "540.00"},
        "retail": {"domain": "ONDC:RET10", "transaction_id": "T-R", "bpp_id": seller,
                   "bpp_uri": format!("http://127.0.0.1:9/{seller}"),
                   "fulfillments": [{"id": "F1", "type": "Delivery", "state": forward_state}]}
    });
    if let Some(lsp) = lsp {
        o["logistics"] = json!({"domain": "ONDC:LOG10", "order_id": "L1", "transaction_id": "T-L", "bpp_id": lsp,
            "bpp_uri": format!("http://127.0.0.1:9/{lsp}"), "linked_fulfillment_id": "F1"});
    }
    o
}

/// A gateway whose registry points the seller and the LSP at live counterparts.
pub struct Net {
    pub app: TestApp,
    pub snp: Counterpart,
    pub lsp: Counterpart,
}

/// [`spawn_app_with`] `extra_toml`, with the seller and the LSP served by counterparts that
/// verify the gateway's signatures.
pub async fn net(extra_toml: &str) -> Net {
    let parties = Parties::new();
    let snp = Counterpart::start(parties.gateway.key.public_key()).unwrap();
    let lsp = Counterpart::start(parties.gateway.key.public_key()).unwrap();
    let app = spawn_app_with(Options {
        extra_toml: extra_toml.to_owned(),
        urls: vec![
            ("seller.test.local", snp.url().to_owned()),
            ("lsp.test.local", lsp.url().to_owned()),
        ],
        parties: Some(parties),
        ..Options::default()
    })
    .await;
    Net { app, snp, lsp }
}

/// The value of `code` in tag group `group`.
pub fn tag<'a>(tags: &'a Value, group: &str, code: &str) -> Option<&'a str> {
    tags.as_array()?
        .iter()
        .filter(|g| g["code"] == group)
        .flat_map(|g| g["list"].as_array().into_iter().flatten())
        .find(|t| t["code"] == code)
        .and_then(|t| t["value"].as_str())
}
