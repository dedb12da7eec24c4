//! Where peers' keys come from: a static file of ONDC `/lookup` records, and optionally an ONDC
//! registry asked for keys the file lacks.
//!
//! A record the gateway cannot use, in the file or in a lookup answer, is skipped with a warning
//! that names it; only an unreadable file (or one that is not a JSON array) stops start-up.
//! Looked-up answers (including "no such key") are cached in memory and written to the store, so
//! a restart does not ask again. An entry lives for the configured TTL and never past the record's
//! `valid_until`; concurrent misses for the same key wait for one lookup instead of each asking.

mod lookup;
mod record;

pub use lookup::{LookupClient, LookupError};
pub use record::{KeyRejection, Participant, RecordError, RegistryRecord, Unusable};

use crate::clock::Clock;
use crate::config::RegistrySettings;
use crate::protocol::{SubscriberId, UniqueKeyId};
use crate::signing::KeyId;
use crate::store::{Store, StoreError};
use crate::telemetry::chain;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

type Key = (SubscriberId, UniqueKeyId);

/// A cached lookup answer, as written to the store.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CacheEntry {
    record: Option<RegistryRecord>,
    expires_at: DateTime<Utc>,
}

#[derive(Clone)]
struct Cached {
    participant: Option<Arc<Participant>>,
    expires_at: DateTime<Utc>,
}

/// The key directory the receiver verifies against.
pub struct Registry {
    fixed: HashMap<Key, Arc<Participant>>,
    lookup: Option<LookupClient>,
    cache: RwLock<HashMap<Key, Cached>>,
    lookup_gate: tokio::sync::Mutex<()>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ttl: chrono::Duration,
    negative_ttl: chrono::Duration,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("fixed", &self.fixed.len())
            .field("lookup", &self.lookup.is_some())
            .finish()
    }
}

/// A registry that cannot start.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The static file cannot be read.
    #[error("cannot read the registry file {path}")]
    Read {
        /// `registry.file`.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The static file is not a JSON array (its records are checked one by one).
    #[error("registry file {path} is not a JSON array of records")]
    NotArray {
        /// `registry.file`.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The lookup client cannot be set up.
    #[error("registry lookup")]
    Lookup(#[from] LookupError),
    /// The cache written by an earlier run cannot be read.
    #[error("cannot reload the registry cache from the store")]
    Store(#[from] StoreError),
}

impl Registry {
    /// Loads the static file (if any), sets up the lookup client (if any) and reloads the cache
    /// written by an earlier run.
    pub async fn new(
        settings: &RegistrySettings,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, RegistryError> {
        let fixed = match &settings.file {
            Some(path) => read_file(path)?,
            None => HashMap::new(),
        };
        let lookup = settings
            .lookup_url
            .as_deref()
            .map(LookupClient::new)
            .transpose()?;
        let now = clock.now();
        let mut cache = HashMap::new();
        for (key, bytes) in store.registry_entries().await? {
            let Ok(entry) = serde_json::from_slice::<CacheEntry>(&bytes) else {
                continue;
            };
            let Some((sub, ukid)) = key.split_once('|') else {
                continue;
            };
            let (Ok(sub), Ok(ukid)) = (SubscriberId::parse(sub), UniqueKeyId::parse(ukid)) else {
                continue;
            };
            if entry.expires_at <= now {
                continue;
            }
            let participant = entry
                .record
                .and_then(|r| Participant::from_record(r).ok())
                .map(Arc::new);
            cache.insert(
                (sub, ukid),
                Cached {
                    participant,
                    expires_at: entry.expires_at,
                },
            );
        }
        Ok(Self {
            fixed,
            lookup,
            cache: RwLock::new(cache),
            lookup_gate: tokio::sync::Mutex::new(()),
            store,
            clock,
            ttl: chrono::Duration::seconds(settings.cache_ttl_secs),
            negative_ttl: chrono::Duration::seconds(settings.negative_cache_ttl_secs),
        })
    }

    /// The participant whose key `key_id` names, if it is usable now.
    pub async fn resolve(&self, key_id: &KeyId) -> Result<Arc<Participant>, KeyRejection> {
        let key = (key_id.subscriber_id.clone(), key_id.unique_key_id.clone());
        let now = self.clock.now();
        let found = match self.fixed.get(&key) {
            Some(p) => Some(p.clone()),
            None => self.resolve_remote(&key, now).await?,
        };
        let participant = found.ok_or_else(|| KeyRejection::Unknown(format!("{}|{}", key.0, key.1)))?;
        participant.check_usable(now)?;
        Ok(participant)
    }

    /// Any usable record of `subscriber_id` (for addressing outbound messages).
    pub fn participant(&self, subscriber_id: &SubscriberId) -> Option<Arc<Participant>> {
        let now = self.clock.now();
        let usable =
            |p: &Arc<Participant>| p.record.subscriber_id == *subscriber_id && p.check_usable(now).is_ok();
        if let Some(p) = self.fixed.values().find(|p| usable(p)) {
            return Some(p.clone());
        }
        let cache = self.cache.read().ok()?;
        cache
            .values()
            .filter(|c| c.expires_at > now)
            .filter_map(|c| c.participant.clone())
            .find(usable)
    }

    fn cached(&self, key: &Key, now: DateTime<Utc>) -> Option<Option<Arc<Participant>>> {
        let cache = self.cache.read().ok()?;
        cache
            .get(key)
            .filter(|c| c.expires_at > now)
            .map(|c| c.participant.clone())
    }

    async fn resolve_remote(
        &self,
        key: &Key,
        now: DateTime<Utc>,
    ) -> Result<Option<Arc<Participant>>, KeyRejection> {
        if let Some(hit) = self.cached(key, now) {
            return Ok(hit);
        }
        let Some(lookup) = &self.lookup else {
            return Ok(None);
        };
        let _gate = self.lookup_gate.lock().await;
        // Another request may have looked it up while we waited.
        if let Some(hit) = self.cached(key, now) {
            return Ok(hit);
        }
        let participant = lookup
            .lookup(&key.0, &key.1)
            .await
            .map_err(|e| KeyRejection::LookupFailed(chain(&e)))?
            .map(Arc::new);
        let expires_at = match &participant {
            Some(p) => {
                let by_ttl = now + self.ttl;
                match p.record.valid_until {
                    // Already expired: remember that as briefly as a "not found".
                    Some(until) if until <= now => now + self.negative_ttl,
                    Some(until) => until.min(by_ttl),
                    None => by_ttl,
                }
            }
            None => now + self.negative_ttl,
        };
        let entry = CacheEntry {
            record: participant.as_ref().map(|p| p.record.clone()),
            expires_at,
        };
        if let Ok(bytes) = serde_json::to_vec(&entry)
            && let Err(e) = self
                .store
                .put_registry_entry(&format!("{}|{}", key.0, key.1), bytes)
                .await
        {
            // The answer is still good for this run; only the restart cache misses it.
            tracing::warn!(error = %e, "registry cache write-back failed");
        }
        if let Ok(mut cache) = self.cache.write() {
            cache.insert(
                key.clone(),
                Cached {
                    participant: participant.clone(),
                    expires_at,
                },
            );
        }
        Ok(participant)
    }
}

/// Reads the static file: a JSON array of `/lookup` records. Each record stands alone: one the
/// gateway cannot use is skipped with a warning, and the others are served.
fn read_file(path: &Path) -> Result<HashMap<Key, Arc<Participant>>, RegistryError> {
    let text = std::fs::read_to_string(path).map_err(|source| RegistryError::Read {
        path: path.to_owned(),
        source,
    })?;
    let items: Vec<serde_json::Value> =
        serde_json::from_str(&text).map_err(|source| RegistryError::NotArray {
            path: path.to_owned(),
            source,
        })?;
    let mut fixed = HashMap::new();
    for item in items {
        match Participant::from_json(item) {
            Ok(p) => {
                let key = (p.record.subscriber_id.clone(), p.record.unique_key_id.clone());
                fixed.insert(key, Arc::new(p));
            }
            Err(unusable) => unusable.warn("registry.file"),
        }
    }
    Ok(fixed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::signing::PrivateKey;
    use crate::store::SledStore;
    use serde_json::{Value, json};
    use std::sync::Mutex;

    const PATH_LIKE: &str = "dev-automation.ondc.org/api-service/ONDC:LOG10/1.2.5";

    fn record(subscriber_id: &str, uk_id: &str, key: &str) -> Value {
        json!({
            "subscriber_id": subscriber_id, "ukId": uk_id, "type": "BPP", "domain": "ONDC:LOG10",
            "subscriber_url": "https://example.com", "signing_public_key": key,
            "valid_from": "2024-01-01T00:00:00.000Z", "valid_until": "2036-01-01T00:00:00.000Z",
            "status": "SUBSCRIBED"
        })
    }

    fn key_id(subscriber_id: &str, uk_id: &str) -> KeyId {
        format!("{subscriber_id}|{uk_id}|ed25519").parse().unwrap()
    }

    /// Log lines written through `tracing` while a test holds the subscriber.
    #[derive(Clone, Default)]
    struct Logs(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Logs {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Starts a registry on `records` as its static file; returns it with the warnings it logged
    /// (JSON `fields`) and the directory that must outlive it.
    async fn load(records: Value) -> (Result<Registry, RegistryError>, Vec<Value>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("registry.json");
        std::fs::write(&file, serde_json::to_vec(&records).unwrap()).unwrap();
        let settings = RegistrySettings {
            file: Some(file),
            lookup_url: None,
            cache_ttl_secs: 3600,
            negative_cache_ttl_secs: 60,
        };
        let store: Arc<dyn Store> = Arc::new(SledStore::open(&dir.path().join("data")).unwrap());
        // 2025-06-01: inside every good record's window.
        let clock = Arc::new(FixedClock::at(1_748_736_000));
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .finish();
        // The test runs on one thread, so the guard covers the whole load.
        let guard = tracing::subscriber::set_default(subscriber);
        let registry = Registry::new(&settings, store, clock).await;
        drop(guard);
        let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        let warnings = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|l| l["level"] == "WARN")
            .map(|l| l["fields"].clone())
            .collect();
        (registry, warnings, dir)
    }

    #[tokio::test]
    async fn unusable_records_are_skipped_by_name_and_the_others_served() {
        let good = PrivateKey::generate().public_key().to_base64();
        let mut backwards = record("backwards.example.com", "k1", &good);
        backwards["valid_until"] = json!("2023-01-01T00:00:00.000Z");
        let mut unknown_status = record("typo.example.com", "k1", &good);
        unknown_status["status"] = json!("ACTIVE");
        let mut bad_date = record("date.example.com", "k1", &good);
        bad_date["valid_from"] = json!("2024-13-01T00:00:00.000Z");
        let mut pending = record("pending.example.com", "k1", &good);
        pending["status"] = json!("INITIATED");
        let (registry, warnings, _dir) = load(json!([
            record("seller.example.com", "k1", &good),
            record("badkey.example.com", "k1", "not base64!"),
            backwards,
            record("a|b", "k1", &good),
            unknown_status,
            bad_date,
            record(PATH_LIKE, "ONDC:LOG10-1.2.5", &good),
            pending,
        ]))
        .await;
        let registry = registry.expect("one bad record must not stop start-up");

        // What a reader of the log needs: which record, and what is wrong with it.
        let skipped: Vec<(&str, &str, &str)> = warnings
            .iter()
            .map(|w| {
                (
                    w["subscriber_id"].as_str().unwrap(),
                    w["uk_id"].as_str().unwrap(),
                    w["problem"].as_str().unwrap(),
                )
            })
            .collect();
        let expected = [
            (
                "badkey.example.com",
                "signing_public_key is not usable: key is not standard base64",
            ),
            (
                "backwards.example.com",
                "valid_until 2023-01-01 00:00:00 UTC is before valid_from",
            ),
            (
                "a|b",
                "cannot be read: subscriber_id contains the forbidden character '|'",
            ),
            ("typo.example.com", "status \"ACTIVE\" is none of"),
            (
                "date.example.com",
                "cannot be read: date-time \"2024-13-01T00:00:00.000Z\"",
            ),
        ];
        assert_eq!(skipped.len(), expected.len(), "{warnings:#?}");
        for ((sub, uk_id, problem), (want_sub, want_problem)) in skipped.iter().zip(expected) {
            assert_eq!((*sub, *uk_id), (want_sub, "k1"));
            assert!(problem.starts_with(want_problem), "{sub}: {problem}");
        }
        assert!(warnings.iter().all(|w| w["origin"] == "registry.file"));

        for (sub, uk_id) in [("seller.example.com", "k1"), (PATH_LIKE, "ONDC:LOG10-1.2.5")] {
            let p = registry.resolve(&key_id(sub, uk_id)).await.unwrap();
            assert_eq!(p.key_name(), format!("{sub}|{uk_id}"));
        }
        for sub in [
            "badkey.example.com",
            "backwards.example.com",
            "typo.example.com",
            "date.example.com",
        ] {
            assert_eq!(
                registry.resolve(&key_id(sub, "k1")).await.map(|p| p.key_name()),
                Err(KeyRejection::Unknown(format!("{sub}|k1"))),
            );
        }
        // A status the registry defines is kept, so the refusal can name it.
        assert!(matches!(
            registry.resolve(&key_id("pending.example.com", "k1")).await,
            Err(KeyRejection::NotSubscribed { status, .. }) if status == "INITIATED"
        ));
    }

    #[tokio::test]
    async fn only_an_unreadable_file_stops_start_up() {
        let (registry, _, _dir) = load(json!({"subscriber_id": "not an array"})).await;
        let error = registry.unwrap_err();
        assert!(matches!(error, RegistryError::NotArray { .. }), "{error:?}");
        assert!(chain(&error).contains("is not a JSON array of records: invalid type: map"));
    }
}
