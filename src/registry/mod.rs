//! Where peers' keys come from: a static file of ONDC `/lookup` records, and optionally an ONDC
//! registry asked for keys the file lacks.
//!
//! Looked-up answers (including "no such key") are cached in memory and written to the store, so
//! a restart does not ask again. An entry lives for the configured TTL and never past the record's
//! `valid_until`; concurrent misses for the same key wait for one lookup instead of each asking.

mod lookup;
mod record;

pub use lookup::LookupClient;
pub use record::{KeyRejection, Participant, RegistryRecord};

use crate::clock::Clock;
use crate::config::RegistrySettings;
use crate::protocol::{SubscriberId, UniqueKeyId};
use crate::signing::KeyId;
use crate::store::Store;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
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
#[error("registry: {0}")]
pub struct RegistryError(String);

impl Registry {
    /// Loads the static file (if any), sets up the lookup client (if any) and reloads the cache
    /// written by an earlier run.
    pub fn new(
        settings: &RegistrySettings,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, RegistryError> {
        let mut fixed = HashMap::new();
        if let Some(path) = &settings.file {
            for record in read_records(path)? {
                let p = Participant::from_record(record).map_err(RegistryError)?;
                fixed.insert(
                    (p.record.subscriber_id.clone(), p.record.unique_key_id.clone()),
                    Arc::new(p),
                );
            }
        }
        let lookup = settings
            .lookup_url
            .as_deref()
            .map(LookupClient::new)
            .transpose()
            .map_err(RegistryError)?;
        let now = clock.now();
        let mut cache = HashMap::new();
        for (key, bytes) in store
            .registry_entries()
            .map_err(|e| RegistryError(e.to_string()))?
        {
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
        let record = lookup
            .lookup(&key.0, &key.1)
            .await
            .map_err(KeyRejection::LookupFailed)?;
        let participant = match record {
            Some(r) => Some(Arc::new(
                Participant::from_record(r).map_err(KeyRejection::LookupFailed)?,
            )),
            None => None,
        };
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

fn read_records(path: &Path) -> Result<Vec<RegistryRecord>, RegistryError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| RegistryError(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| RegistryError(format!("{}: {e}", path.display())))
}
