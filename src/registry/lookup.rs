//! The ONDC registry `/lookup` client: `POST {"subscriber_id": …, "ukId": …}`, answered with a
//! JSON array of records.

use super::Participant;
use crate::protocol::{SubscriberId, UniqueKeyId};
use std::time::Duration;

/// Why the registry could not be asked, or its answer not read. The cause is kept as the
/// error's source, with the request URL stripped from it: the chain is logged at the HTTP edge,
/// and a lookup URL may carry credentials.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// `registry.lookup_url` is not an http(s) URL.
    #[error("registry.lookup_url {0:?} is not an http(s) URL")]
    NotHttp(String),
    /// The HTTP client could not be built.
    #[error("cannot build the registry HTTP client")]
    Client(#[source] reqwest::Error),
    /// The request failed: no connection, a timeout, a broken answer.
    #[error("registry request failed")]
    Request(#[source] reqwest::Error),
    /// The registry answered with an HTTP error status.
    #[error("registry answered HTTP {0}")]
    Status(u16),
    /// The answer is longer than [`MAX_ANSWER_BYTES`]: not read further.
    #[error("registry answer is over {MAX_ANSWER_BYTES} bytes")]
    TooLarge,
    /// The answer is not a JSON array.
    #[error("registry answer is not a JSON array")]
    NotArray(#[source] serde_json::Error),
}

/// The most of a `/lookup` answer read (a few records are a few KiB).
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// Asks one registry URL.
#[derive(Debug, Clone)]
pub struct LookupClient {
    url: String,
    http: reqwest::Client,
}

impl LookupClient {
    /// A client for `url` with a 5 s timeout.
    pub fn new(url: &str) -> Result<Self, LookupError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(LookupError::NotHttp(url.to_owned()));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(LookupError::Client)?;
        Ok(Self {
            url: url.to_owned(),
            http,
        })
    }

    /// The usable record for exactly this subscriber and key, or `None` when the registry has
    /// none. Records the gateway cannot use are skipped with a warning, as in the static file.
    pub async fn lookup(
        &self,
        subscriber_id: &SubscriberId,
        ukid: &UniqueKeyId,
    ) -> Result<Option<Participant>, LookupError> {
        let body = serde_json::json!({ "subscriber_id": subscriber_id, "ukId": ukid });
        let request_failed = |e: reqwest::Error| LookupError::Request(e.without_url());
        let response = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(request_failed)?;
        if !response.status().is_success() {
            return Err(LookupError::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
        {
            return Err(LookupError::TooLarge);
        }
        let mut response = response;
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(request_failed)? {
            if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(LookupError::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        let items: Vec<serde_json::Value> = serde_json::from_slice(&bytes).map_err(LookupError::NotArray)?;
        Ok(items
            .into_iter()
            .filter_map(|item| match Participant::from_json(item) {
                Ok(p) => Some(p),
                Err(unusable) => {
                    unusable.warn("registry lookup");
                    None
                }
            })
            .find(|p| p.record.subscriber_id == *subscriber_id && p.record.unique_key_id == *ukid))
    }
}
