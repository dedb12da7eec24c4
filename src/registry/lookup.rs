//! The ONDC registry `/lookup` client: `POST {"subscriber_id": …, "ukId": …}`, answered with a
//! JSON array of records.

use super::RegistryRecord;
use crate::protocol::{SubscriberId, UniqueKeyId};
use std::time::Duration;

/// Asks one registry URL.
#[derive(Debug, Clone)]
pub struct LookupClient {
    url: String,
    http: reqwest::Client,
}

impl LookupClient {
    /// A client for `url` with a 5 s timeout.
    pub fn new(url: &str) -> Result<Self, String> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("registry.lookup_url {url:?} is not an http(s) URL"));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("registry HTTP client: {e}"))?;
        Ok(Self {
            url: url.to_owned(),
            http,
        })
    }

    /// The record for exactly this subscriber and key, or `None` when the registry has none.
    pub async fn lookup(
        &self,
        subscriber_id: &SubscriberId,
        ukid: &UniqueKeyId,
    ) -> Result<Option<RegistryRecord>, String> {
        let body = serde_json::json!({ "subscriber_id": subscriber_id, "ukId": ukid });
        let response = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if !response.status().is_success() {
            return Err(format!("registry answered HTTP {}", response.status().as_u16()));
        }
        let bytes = response.bytes().await.map_err(|e| e.without_url().to_string())?;
        // Registries answer an array; skip records we cannot read rather than fail the lookup.
        let items: Vec<serde_json::Value> = serde_json::from_slice(&bytes)
            .map_err(|e| format!("registry answer is not a JSON array: {e}"))?;
        Ok(items
            .into_iter()
            .filter_map(|v| serde_json::from_value::<RegistryRecord>(v).ok())
            .find(|r| r.subscriber_id == *subscriber_id && r.unique_key_id == *ukid))
    }
}
