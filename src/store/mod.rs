//! Durable storage behind a trait, so the embedded sled store and a server-backed store for
//! several gateway nodes can both serve the gateway.
//!
//! Every method that changes state is durable when it returns: the HTTP edge answers ACK only
//! after that. Implementations group their flushes so durability does not cost one fsync per
//! request.

mod group_commit;
mod sled_store;

pub use sled_store::SledStore;

use crate::protocol::{Action, MessageId, SubscriberId, TransactionId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why the store failed. Never the peer's fault: the edge answers 500 without detail.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage engine failed (I/O, corruption).
    #[error("storage engine: {0}")]
    Engine(String),
    /// A stored value could not be decoded (a schema version we do not know, or corruption).
    #[error("stored value: {0}")]
    Decode(String),
    /// The group flush failed, so the write is not known to be durable.
    #[error("flush failed: {0}")]
    Flush(String),
}

/// Who sent a message, which action, which `message_id`: the same triple twice is one message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DedupeKey {
    /// The verified sender.
    pub sender: SubscriberId,
    /// The endpoint it was posted to.
    pub action: Action,
    /// `context.message_id`.
    pub message_id: MessageId,
}

impl DedupeKey {
    /// Structured key bytes: `sender \0 action \0 message_id` (ids cannot hold NUL).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut k =
            Vec::with_capacity(self.sender.as_str().len() + self.message_id.as_str().len() + 12);
        k.extend_from_slice(self.sender.as_str().as_bytes());
        k.push(0);
        k.extend_from_slice(self.action.as_str().as_bytes());
        k.push(0);
        k.extend_from_slice(self.message_id.as_str().as_bytes());
        k
    }
}

/// The synchronous answer given to a message, replayed to its duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAnswer {
    /// HTTP status.
    pub status: u16,
    /// Response body.
    pub body: String,
}

/// How the sender was authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// The `keyId` of the verified `Authorization` header.
    pub key_id: String,
    /// The `keyId` of a verified gateway header, when one was present.
    pub gateway_key_id: Option<String>,
}

/// An accepted inbound message: what arrived, byte for byte, and what we answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundRecord {
    /// The verified sender.
    pub sender: SubscriberId,
    /// The endpoint.
    pub action: Action,
    /// `context.message_id`.
    pub message_id: MessageId,
    /// `context.transaction_id`.
    pub transaction_id: TransactionId,
    /// When we received it.
    pub received_at: DateTime<Utc>,
    /// The request headers that matter for audit (signature headers, content type).
    pub headers: Vec<(String, String)>,
    /// The exact body (valid UTF-8: it parsed as JSON).
    pub body: String,
    /// How it was authenticated.
    pub verification: Verification,
    /// The answer we give.
    pub answer: StoredAnswer,
}

impl InboundRecord {
    /// Its dedupe key.
    pub fn dedupe_key(&self) -> DedupeKey {
        DedupeKey {
            sender: self.sender.clone(),
            action: self.action,
            message_id: self.message_id.clone(),
        }
    }
}

/// The outcome of [`Store::accept_inbound`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// First time: stored under this sequence number.
    New {
        /// Audit sequence number.
        seq: u64,
    },
    /// Seen before: nothing stored; answer as the first time.
    Duplicate {
        /// The first answer.
        first: StoredAnswer,
    },
}

/// The gateway's durable state.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores an accepted message and its dedupe entry in one atomic step, unless its
    /// [`DedupeKey`] was seen; durable when it returns.
    async fn accept_inbound(&self, record: InboundRecord) -> Result<Accepted, StoreError>;

    /// Audit entries in arrival order, starting after sequence number `after`.
    fn inbound_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, InboundRecord)>, StoreError>;

    /// Writes one registry cache entry (opaque bytes under a key); durable when it returns.
    async fn put_registry_entry(&self, key: &str, value: Vec<u8>) -> Result<(), StoreError>;

    /// Every registry cache entry.
    fn registry_entries(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
}
