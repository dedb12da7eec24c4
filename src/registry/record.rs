//! A registry record in the shape of an ONDC `/lookup` answer, the checks that make it a
//! [`Participant`] the gateway can use at all, and the checks that make its key usable now.
//!
//! A record that cannot be used at all (unreadable, a bad id, a bad key, `valid_until` before
//! `valid_from`, a status no registry defines) is [`Unusable`]: callers skip it with a warning
//! instead of failing, because one bad entry among many must not lock every other peer out.

use crate::protocol::{SubscriberId, UniqueKeyId};
use crate::signing::{KeyError, PublicKey};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The subscriber statuses of the Beckn registry. Only `SUBSCRIBED` may sign; the others are
/// kept so that a signature from such a key is refused with its status named.
const STATUSES: [&str; 6] = [
    "INITIATED",
    "UNDER_SUBSCRIPTION",
    "SUBSCRIBED",
    "EXPIRED",
    "UNSUBSCRIBED",
    "INVALID_SSL",
];

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
    #[serde(default, deserialize_with = "date_time")]
    pub valid_from: Option<DateTime<Utc>>,
    /// End of the key's validity.
    #[serde(default, deserialize_with = "date_time")]
    pub valid_until: Option<DateTime<Utc>>,
    /// `SUBSCRIBED` when usable.
    #[serde(default)]
    pub status: Option<String>,
}

/// An RFC 3339 date-time (what chrono's own deserializer accepts), with an error that quotes the
/// value so a warning about a skipped record says which date is wrong.
fn date_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let Some(text) = Option::<std::borrow::Cow<'de, str>>::deserialize(d)? else {
        return Ok(None);
    };
    text.parse::<DateTime<FixedOffset>>()
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|e| serde::de::Error::custom(format_args!("date-time {text:?}: {e}")))
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
    /// The registry could not be asked; the text is the whole cause chain of a
    /// [`LookupError`](super::LookupError), kept as text so the rejection stays comparable.
    #[error("registry lookup failed: {0}")]
    LookupFailed(String),
}

/// What makes a record unusable, whatever the time.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Not a record: a member is missing or of the wrong type, an id is malformed, or a date is
    /// not RFC 3339.
    #[error("cannot be read")]
    Shape(#[from] serde_json::Error),
    /// `signing_public_key` is not a usable Ed25519 public key.
    #[error("signing_public_key is not usable")]
    Key(#[source] KeyError),
    /// The validity window is empty.
    #[error("valid_until {until} is before valid_from {from}")]
    Window {
        /// `valid_from`.
        from: DateTime<Utc>,
        /// `valid_until`.
        until: DateTime<Utc>,
    },
    /// A status no registry defines (a typo, or a registry we do not know): whether the key may
    /// sign cannot be told.
    #[error("status {0:?} is none of {STATUSES:?}")]
    Status(String),
}

/// A record that was skipped, named as the registry wrote it (its ids may be what is wrong).
#[derive(Debug, thiserror::Error)]
#[error("registry record {subscriber_id}|{uk_id} is unusable")]
pub struct Unusable {
    /// `subscriber_id` as written (`?` when absent or not text).
    pub subscriber_id: String,
    /// `ukId` (or `unique_key_id`) as written (`?` when absent or not text).
    pub uk_id: String,
    /// What is wrong with it.
    #[source]
    pub reason: RecordError,
}

impl Unusable {
    /// Logs the skip: one warning naming the record, where it came from (`origin`), and what is
    /// wrong.
    pub fn warn(&self, origin: &str) {
        tracing::warn!(
            subscriber_id = %self.subscriber_id,
            uk_id = %self.uk_id,
            origin,
            problem = %crate::telemetry::chain(&self.reason),
            "registry record skipped: the gateway cannot use it",
        );
    }
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
    /// Reads one record as a registry wrote it (a member of the file's or a `/lookup` answer's
    /// array) and checks it with [`Participant::from_record`].
    pub fn from_json(value: Value) -> Result<Self, Unusable> {
        let text = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| value.get(*n).and_then(Value::as_str))
                .unwrap_or("?")
                .to_owned()
        };
        let (subscriber_id, uk_id) = (text(&["subscriber_id"]), text(&["ukId", "unique_key_id"]));
        serde_json::from_value::<RegistryRecord>(value)
            .map_err(RecordError::from)
            .and_then(Self::from_record)
            .map_err(|reason| Unusable {
                subscriber_id,
                uk_id,
                reason,
            })
    }

    /// Decodes the record's key and checks what does not depend on the time: a malformed or weak
    /// key, an empty validity window and an unknown status are refused.
    pub fn from_record(record: RegistryRecord) -> Result<Self, RecordError> {
        let public_key = PublicKey::from_base64(&record.signing_public_key).map_err(RecordError::Key)?;
        if let (Some(from), Some(until)) = (record.valid_from, record.valid_until)
            && until < from
        {
            return Err(RecordError::Window { from, until });
        }
        if let Some(status) = &record.status
            && !STATUSES.iter().any(|s| s.eq_ignore_ascii_case(status))
        {
            return Err(RecordError::Status(status.clone()));
        }
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
