//! A network counterpart (SNP or LSP) on loopback: records every request, verifies the gateway's
//! signature on it with the gateway's public key, and answers ACK, or NACK as scripted.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use ondc_gateway::signing::{PublicKey, SignatureHeader, ValidityPolicy, verify};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the counterpart received.
#[derive(Debug, Clone)]
pub struct Received {
    pub action: String,
    pub body: Value,
    pub raw: Vec<u8>,
    pub signature_ok: bool,
    pub key_id: Option<String>,
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    nacks_left: usize,
}

#[derive(Clone)]
pub struct Counterpart {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    _handle: actix_web::dev::ServerHandle,
}

impl Counterpart {
    /// Starts a counterpart that checks signatures against `gateway_key`.
    pub fn start(gateway_key: PublicKey) -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let shared = inner.clone();
        let server = HttpServer::new(move || {
            let shared = shared.clone();
            App::new().route(
                "/{action}",
                web::post().to(
                    move |req: HttpRequest, path: web::Path<String>, body: web::Bytes| {
                        let shared = shared.clone();
                        async move {
                            let header = req
                                .headers()
                                .get("authorization")
                                .and_then(|v| v.to_str().ok())
                                .and_then(|v| v.parse::<SignatureHeader>().ok());
                            let now = chrono::Utc::now().timestamp();
                            let signature_ok = header.as_ref().is_some_and(|h| {
                                verify(h, &body, &gateway_key, now, &ValidityPolicy::default()).is_ok()
                            });
                            let mut inner = shared.lock().unwrap();
                            inner.received.push(Received {
                                action: path.into_inner(),
                                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                                raw: body.to_vec(),
                                signature_ok,
                                key_id: header.map(|h| h.key_id.to_string()),
                            });
                            if inner.nacks_left > 0 {
                                inner.nacks_left -= 1;
                                return HttpResponse::BadRequest().json(serde_json::json!({
                                    "message": {"ack": {"status": "NACK"}},
                                    "error": {"type": "CORE-ERROR", "code": "30000", "message": "try again"}
                                }));
                            }
                            HttpResponse::Ok()
                                .json(serde_json::json!({"message": {"ack": {"status": "ACK"}}}))
                        }
                    },
                ),
            )
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}"),
            inner,
            _handle: handle,
        }
    }

    /// NACK the next `n` requests.
    pub fn nack_next(&self, n: usize) {
        self.inner.lock().unwrap().nacks_left = n;
    }

    pub fn received(&self, action: &str) -> Vec<Received> {
        self.inner
            .lock()
            .unwrap()
            .received
            .iter()
            .filter(|r| r.action == action)
            .cloned()
            .collect()
    }

    pub fn all(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// Waits (polling, bounded at 10 s) until `count` requests for `action` arrived.
    pub async fn wait_for(&self, action: &str, count: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.received(action);
            if got.len() >= count {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {count} /{action}; got {}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
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
