//! The outbound HTTP client: signs the exact stored body bytes with our key (a fresh window per
//! attempt) and reads the counterpart's synchronous ACK or NACK.

use crate::clock::Clock;
use crate::signing::Signer;
use std::sync::Arc;
use std::time::Duration;

/// What one attempt achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendResult {
    /// HTTP 200 with `message.ack.status == "ACK"`.
    Acked,
    /// The counterpart answered, but not with an ACK: its status, its Beckn `error` when it
    /// gave one, and the (shortened) body.
    Nacked {
        /// HTTP status.
        status: u16,
        /// `error.type` (`DOMAIN-ERROR`, `CORE-ERROR`, …), when given.
        error_type: Option<String>,
        /// `error.code`, when given.
        code: Option<String>,
        /// `error.message`, when given (at most 256 characters).
        message: Option<String>,
        /// The answer, at most 1 KiB of it.
        body: String,
    },
    /// No answer: connection refused, timeout, TLS failure.
    Unreachable(String),
}

/// Signs and POSTs.
#[derive(Clone)]
pub struct OutboundClient {
    http: reqwest::Client,
    signer: Signer,
    ttl_secs: i64,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for OutboundClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundClient")
            .field("key_id", self.signer.key_id())
            .finish()
    }
}

impl OutboundClient {
    /// A client that signs as `signer`, with signatures valid for `ttl_secs`.
    pub fn new(
        signer: Signer,
        ttl_secs: i64,
        timeout: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("ondc-gateway/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            signer,
            ttl_secs,
            clock,
        })
    }

    /// POSTs `body` to `url`; `signed` adds our Beckn `Authorization` header.
    pub async fn post(&self, url: &str, body: &[u8], signed: bool) -> SendResult {
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_vec());
        if signed {
            let created = self.clock.unix_seconds();
            let header = self.signer.sign(body, created, created + self.ttl_secs);
            request = request.header("authorization", header.to_string());
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return SendResult::Unreachable(e.without_url().to_string()),
        };
        let status = response.status().as_u16();
        let bytes = match response.bytes().await {
            Ok(b) => b,
            // The answer broke off: as good as no answer.
            Err(e) => return SendResult::Unreachable(e.without_url().to_string()),
        };
        let answer = serde_json::from_slice::<serde_json::Value>(&bytes).ok();
        let acked = answer
            .as_ref()
            .is_some_and(|v| v["message"]["ack"]["status"] == "ACK");
        if status == 200 && (acked || !signed) {
            return SendResult::Acked;
        }
        let field = |name: &str, most: usize| {
            answer
                .as_ref()
                .and_then(|v| v["error"][name].as_str())
                .map(|s| s.chars().take(most).collect::<String>())
        };
        let (error_type, code, message) = (field("type", 64), field("code", 64), field("message", 256));
        let mut body = String::from_utf8_lossy(&bytes).into_owned();
        if body.len() > 1024 {
            let mut cut = 1024;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            body.truncate(cut);
        }
        SendResult::Nacked {
            status,
            error_type,
            code,
            message,
            body,
        }
    }
}
