//! A registry record in the shape of an ONDC `/lookup` answer, and the checks that make its key
//! usable now.

use crate::protocol::{SubscriberId, UniqueKeyId};
use crate::signing::PublicKey;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One `/lookup` record. Unknown members are ignored: registries add fields over time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryRecord {
    /// The participant's subscriber id.
    pub subscriber_id: SubscriberId,
    /// The key's id (`ukId`; some registries spell it `unique_key_id`).
    #[serde(rename = "ukId", alias = "unique_key_id")]
    pub unique_key_id: UniqueKeyId,
    /// Base64 of the raw 32-byte Ed25519 public key.
    pub signing_public_key: String,
    /// Where the participant receives Beckn calls.
    pub subscriber_url: String,
    /// `BAP`, `BPP`, `BG`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The domain it registered for.
    #[serde(default)]
    pub domain: Option<String>,
    /// Start of the key's validity.
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    /// End of the key's validity.
    #[serde(default)]
    pub valid_until: Option<DateTime<Utc>>,
    /// `SUBSCRIBED` when usable.
    #[serde(default)]
    pub status: Option<String>,
}

/// A participant's key, decoded once.
#[derive(Debug, Clone)]
pub struct Participant {
    /// The record as the registry gave it.
    pub record: RegistryRecord,
    /// Its decoded public key.
    pub public_key: PublicKey,
}

/// Why a key cannot be used to verify a message now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRejection {
    /// The registry has no such subscriber or key.
    #[error("no registry record for {0}")]
    Unknown(String),
    /// The record's status is not `SUBSCRIBED`.
    #[error("registry record for {key} has status {status:?}, not SUBSCRIBED")]
    NotSubscribed {
        /// `subscriber|ukid`.
        key: String,
        /// Its status.
        status: String,
    },
    /// Now is before `valid_from`.
    #[error("key {key} is not valid before {from}")]
    NotYetValid {
        /// `subscriber|ukid`.
        key: String,
        /// `valid_from`.
        from: DateTime<Utc>,
    },
    /// Now is after `valid_until`.
    #[error("key {key} expired at {until}")]
    Expired {
        /// `subscriber|ukid`.
        key: String,
        /// `valid_until`.
        until: DateTime<Utc>,
    },
    /// The registry could not be asked.
    #[error("registry lookup failed: {0}")]
    LookupFailed(String),
}

impl KeyRejection {
    /// A short stable name for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unknown(_) => "unknown_key",
            Self::NotSubscribed { .. } => "key_not_subscribed",
            Self::NotYetValid { .. } | Self::Expired { .. } => "key_outside_validity",
            Self::LookupFailed(_) => "registry_unavailable",
        }
    }
}

impl Participant {
    /// Decodes the record's key; a record with a malformed or weak key is refused.
    pub fn from_record(record: RegistryRecord) -> Result<Self, String> {
        let public_key = PublicKey::from_base64(&record.signing_public_key)
            .map_err(|e| format!("{}|{}: {e}", record.subscriber_id, record.unique_key_id))?;
        Ok(Self { record, public_key })
    }

    /// `subscriber|ukid`, for messages.
    pub fn key_name(&self) -> String {
        format!("{}|{}", self.record.subscriber_id, self.record.unique_key_id)
    }

    /// Whether the key may be used at `now`.
    pub fn check_usable(&self, now: DateTime<Utc>) -> Result<(), KeyRejection> {
        let r = &self.record;
        if let Some(status) = &r.status
            && !status.eq_ignore_ascii_case("SUBSCRIBED")
        {
            return Err(KeyRejection::NotSubscribed {
                key: self.key_name(),
                status: status.clone(),
            });
        }
        if let Some(from) = r.valid_from
            && now < from
        {
            return Err(KeyRejection::NotYetValid {
                key: self.key_name(),
                from,
            });
        }
        if let Some(until) = r.valid_until
            && now > until
        {
            return Err(KeyRejection::Expired {
                key: self.key_name(),
                until,
            });
        }
        Ok(())
    }

    /// Whether the participant is registered as a buyer app (`BAP`) or a seller/LSP (`BPP`).
    pub fn is_type(&self, kind: &str) -> bool {
        self.record.kind.eq_ignore_ascii_case(kind)
    }
}
