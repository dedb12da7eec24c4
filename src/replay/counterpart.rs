//! A network counterpart on loopback: an SNP, an LSP, or any endpoint the gateway POSTs to (a
//! webhook). It records every request in arrival order with its exact bytes, verifies the
//! gateway's signature on it, and answers ACK, or a scripted NACK for its next `n` requests.
//!
//! The replay engine plays every BPP party of a fixture with one; the integration tests use the
//! same one for their seller, LSP and webhook. Waiting for a request is event-driven: every
//! arrival bumps a watch channel, so a waiter wakes when something comes and gives up at its
//! deadline, with no polling interval to tune.

use super::error::SignatureProblem;
use crate::clock::{Clock, SystemClock};
use crate::signing::{PublicKey, SignatureHeader, ValidityPolicy, verify};
use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use std::net::ToSocketAddrs;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// How long [`Counterpart::wait_for`] waits.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// One request as the counterpart received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The last segment of the request path: the Beckn action (`cancel`, `update`, …).
    pub action: String,
    /// The body, parsed (`null` when it is not JSON).
    pub body: Value,
    /// The body's exact bytes.
    pub raw: Vec<u8>,
    /// The `keyId` of its `Authorization` header, when it has one that parses.
    pub key_id: Option<String>,
    /// `Ok` when the signature verifies against the gateway's key (default validity policy, now);
    /// otherwise why not.
    pub signature: Result<(), SignatureProblem>,
}

impl Received {
    /// The gateway's signature verifies.
    pub fn signature_ok(&self) -> bool {
        self.signature.is_ok()
    }
}

/// A scripted refusal: the HTTP status and the body to answer with.
#[derive(Debug, Clone, PartialEq)]
pub struct Nack {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
}

impl Nack {
    /// A Beckn NACK: `{"message": {"ack": {"status": "NACK"}}, "error": {type, code, message}}`.
    pub fn beckn(status: u16, error_type: &str, code: &str) -> Self {
        Self {
            status,
            body: json!({
                "message": {"ack": {"status": "NACK"}},
                "error": {"type": error_type, "code": code, "message": "scripted NACK"}
            }),
        }
    }
}

impl Default for Nack {
    /// HTTP 400 with a `CORE-ERROR` 31001 (internal error): a transient failure the gateway
    /// retries with the same message.
    fn default() -> Self {
        Self::beckn(400, "CORE-ERROR", "31001")
    }
}

/// Waiting for requests ran out of time.
#[derive(Debug, Clone, thiserror::Error)]
#[error("waited {within:?} for {wanted}; received {got:?}")]
pub struct WaitTimeout {
    /// What was awaited.
    pub wanted: String,
    /// How long.
    pub within: Duration,
    /// The actions of every request received, in order (`/cancel`, …).
    pub got: Vec<String>,
}

#[derive(Default)]
struct Log {
    received: Vec<Received>,
    nacks_left: usize,
    nack: Nack,
}

struct Shared {
    log: Mutex<Log>,
    /// The number of requests received, sent after each is logged.
    arrived: watch::Sender<usize>,
    gateway_key: PublicKey,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, Log> {
        // A panic while holding the lock cannot leave the log half-written (each change is one
        // push or one assignment), so a poisoned lock is still a usable log.
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records one request and decides the answer.
    fn take(&self, req: &HttpRequest, body: &[u8]) -> HttpResponse {
        let header: Result<SignatureHeader, SignatureProblem> = match req.headers().get("authorization") {
            None => Err(SignatureProblem::Missing),
            Some(v) => v
                .to_str()
                .map_err(|_| SignatureProblem::NotAscii)
                .and_then(|s| Ok(s.parse::<SignatureHeader>()?)),
        };
        let signature = header.as_ref().map_err(Clone::clone).and_then(|h| {
            Ok(verify(
                h,
                body,
                &self.gateway_key,
                SystemClock.unix_seconds(),
                &ValidityPolicy::default(),
            )?)
        });
        let received = Received {
            action: req.path().rsplit('/').next().unwrap_or_default().to_owned(),
            body: serde_json::from_slice(body).unwrap_or(Value::Null),
            raw: body.to_vec(),
            key_id: header.ok().map(|h| h.key_id.to_string()),
            signature,
        };
        let (count, nack) = {
            let mut log = self.log();
            log.received.push(received);
            let nack = (log.nacks_left > 0).then(|| {
                log.nacks_left -= 1;
                log.nack.clone()
            });
            (log.received.len(), nack)
        };
        self.arrived.send_replace(count);
        match nack {
            Some(n) => HttpResponse::build(StatusCode::from_u16(n.status).unwrap_or(StatusCode::BAD_REQUEST))
                .json(n.body),
            None => HttpResponse::Ok().json(json!({"message": {"ack": {"status": "ACK"}}})),
        }
    }
}

/// A counterpart server; stopped when dropped.
pub struct Counterpart {
    url: String,
    shared: Arc<Shared>,
    handle: ServerHandle,
}

impl Counterpart {
    /// Starts one on 127.0.0.1, on a port the OS picks, checking signatures against
    /// `gateway_key`. Needs a tokio runtime.
    pub fn start(gateway_key: PublicKey) -> std::io::Result<Self> {
        Self::start_at(("127.0.0.1", 0), gateway_key)
    }

    /// Starts one listening at `addr` (where a running gateway's registry says the party is).
    pub fn start_at(addr: impl ToSocketAddrs, gateway_key: PublicKey) -> std::io::Result<Self> {
        let (arrived, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            log: Mutex::new(Log::default()),
            arrived,
            gateway_key,
        });
        let for_server = shared.clone();
        let server = HttpServer::new(move || {
            let shared = for_server.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let shared = shared.clone();
                async move { shared.take(&req, &body) }
            }))
        })
        .workers(1)
        .disable_signals()
        .bind(addr)?;
        let url = server
            .addrs()
            .first()
            .map(|a| format!("http://{a}"))
            .ok_or_else(|| std::io::Error::other("the counterpart bound no address"))?;
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self { url, shared, handle })
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Answers the next `n` requests (of any action) with the default NACK, then ACKs again.
    /// Replaces any count left; `0` ends a script.
    pub fn nack_next(&self, n: usize) {
        self.nack_next_with(n, Nack::default());
    }

    /// Answers the next `n` requests with `nack`, then ACKs again. Replaces any count left.
    pub fn nack_next_with(&self, n: usize, nack: Nack) {
        let mut log = self.shared.log();
        log.nacks_left = n;
        log.nack = nack;
    }

    /// Every request so far, in arrival order.
    pub fn all(&self) -> Vec<Received> {
        self.shared.log().received.clone()
    }

    /// Every request for `action` so far, in arrival order.
    pub fn received(&self, action: &str) -> Vec<Received> {
        let log = self.shared.log();
        log.received
            .iter()
            .filter(|r| r.action == action)
            .cloned()
            .collect()
    }

    /// Waits (at most [`DEFAULT_WAIT`]) until `count` requests for `action` have arrived, and
    /// returns them all.
    pub async fn wait_for(&self, action: &str, count: usize) -> Result<Vec<Received>, WaitTimeout> {
        self.wait_until(&format!("{count} × /{action}"), DEFAULT_WAIT, |all| {
            let hits: Vec<Received> = all.iter().filter(|r| r.action == action).cloned().collect();
            (hits.len() >= count).then_some(hits)
        })
        .await
    }

    /// Waits (at most `within`) for the first request for `action` at position `from` or later
    /// of the arrival order, and returns its position and the request.
    pub async fn wait_next(
        &self,
        action: &str,
        from: usize,
        within: Duration,
    ) -> Result<(usize, Received), WaitTimeout> {
        self.wait_until(&format!("/{action}"), within, |all| {
            all.iter()
                .enumerate()
                .skip(from)
                .find(|(_, r)| r.action == action)
                .map(|(i, r)| (i, r.clone()))
        })
        .await
    }

    /// Waits until `found` finds something in the log, woken by each arrival.
    pub async fn wait_until<T>(
        &self,
        wanted: &str,
        within: Duration,
        mut found: impl FnMut(&[Received]) -> Option<T>,
    ) -> Result<T, WaitTimeout> {
        let deadline = tokio::time::Instant::now() + within;
        let mut arrivals = self.shared.arrived.subscribe();
        loop {
            // Mark the current count as seen before looking, so an arrival after the look
            // wakes the wait below.
            arrivals.borrow_and_update();
            if let Some(t) = found(&self.shared.log().received) {
                return Ok(t);
            }
            match tokio::time::timeout_at(deadline, arrivals.changed()).await {
                Ok(Ok(())) => continue,
                // Out of time (or the sender is gone, which cannot happen while `self` lives).
                Ok(Err(_)) | Err(_) => {
                    return Err(WaitTimeout {
                        wanted: wanted.to_owned(),
                        within,
                        got: self.all().iter().map(|r| format!("/{}", r.action)).collect(),
                    });
                }
            }
        }
    }

    /// Stops the server and waits until its port is free.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

impl Drop for Counterpart {
    fn drop(&mut self) {
        // `stop` sends the command at once; the future only waits for it to finish.
        drop(self.handle.stop(false));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::{KeyId, PrivateKey, Signer};

    async fn post(url: &str, body: &[u8], auth: Option<String>) -> (u16, Value) {
        let mut req = reqwest::Client::new().post(url).body(body.to_vec());
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    #[tokio::test]
    async fn records_verifies_and_answers_as_scripted() {
        let gateway = PrivateKey::generate();
        let cp = Counterpart::start(gateway.public_key()).unwrap();
        let signer = Signer::new(gateway, "gw.local|k1|ed25519".parse::<KeyId>().unwrap());
        let body = br#"{"context":{"action":"cancel"}}"#;
        let now = SystemClock.unix_seconds();
        let auth = signer.sign(body, now, now + 60).to_string();

        cp.nack_next_with(2, Nack::beckn(503, "CORE-ERROR", "30000"));
        let (status, answer) = post(&format!("{}/cancel", cp.url()), body, Some(auth.clone())).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (503, Some("30000")));
        let (status, _) = post(&format!("{}/update", cp.url()), b"{}", None).await;
        assert_eq!(status, 503, "the count covers every action");
        let (status, answer) = post(&format!("{}/cancel", cp.url()), body, Some(auth)).await;
        assert_eq!(
            (status, answer["message"]["ack"]["status"].as_str()),
            (200, Some("ACK"))
        );

        let cancels = cp.wait_for("cancel", 2).await.unwrap();
        assert!(cancels.iter().all(|r| r.signature_ok() && r.raw == body));
        assert_eq!(cancels[0].key_id.as_deref(), Some("gw.local|k1|ed25519"));
        let update = &cp.received("update")[0];
        assert_eq!(update.signature, Err(SignatureProblem::Missing));
        let (at, _) = cp.wait_next("cancel", 1, DEFAULT_WAIT).await.unwrap();
        assert_eq!(at, 2, "the first /cancel at or after position 1");
    }

    #[tokio::test]
    async fn a_wait_ends_at_its_deadline_and_says_what_came() {
        let cp = Counterpart::start(PrivateKey::generate().public_key()).unwrap();
        post(&format!("{}/update", cp.url()), b"{}", None).await;
        let err = cp
            .wait_next("cancel", 0, Duration::from_millis(50))
            .await
            .unwrap_err();
        assert_eq!(err.got, ["/update"]);
    }

    #[tokio::test]
    async fn a_wait_wakes_on_a_later_arrival() {
        let cp = Counterpart::start(PrivateKey::generate().public_key()).unwrap();
        let url = format!("{}/cancel", cp.url());
        let (got, _) = tokio::join!(cp.wait_for("cancel", 1), post(&url, b"{}", None));
        assert_eq!(got.unwrap().len(), 1);
    }
}
