//! Durable storage behind a trait, so the embedded sled store and a server-backed store for
//! several gateway nodes can both serve the gateway.
//!
//! Every method that changes state is durable when it returns: the HTTP edge answers ACK only
//! after that. Implementations group their flushes so durability does not cost one fsync per
//! request.

mod group_commit;
mod sled_store;

pub use sled_store::SledStore;

use crate::orchestrator::{Leg, Order};
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
        let mut k = Vec::with_capacity(self.sender.as_str().len() + self.message_id.as_str().len() + 12);
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

/// Where an outbox message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not yet acknowledged; will be (re)tried.
    Pending,
    /// The counterpart ACKed it.
    Delivered,
    /// Retries are exhausted.
    Failed,
}

/// Where an outbox message goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Destination {
    /// A signed Beckn POST to a network participant.
    Beckn {
        /// Which leg.
        leg: Leg,
        /// The counterpart.
        counterpart: SubscriberId,
    },
    /// A JSON POST to the configured notification webhook.
    Webhook,
}

/// A message to deliver, persisted with the state change that caused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Its message_id, kept across retries.
    pub message_id: MessageId,
    /// The order it belongs to.
    pub order_id: String,
    /// `cancel`, `update`, or `notification`.
    pub action: String,
    /// Where it goes.
    pub destination: Destination,
    /// The URL it is POSTed to.
    pub url: String,
    /// The exact body.
    pub body: String,
    /// Delivery status.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due.
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure or NACK, as the counterpart gave it.
    pub last_error: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A notification kept for one user (and, when a webhook is configured, also sent there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Its id.
    pub id: String,
    /// The user it is for.
    pub user_id: String,
    /// The order concerned.
    pub order_id: String,
    /// What happened (`cancellation_accepted`, …).
    pub kind: String,
    /// The cancellation request concerned, if any.
    pub request_id: Option<String>,
    /// A sentence for a person.
    pub message: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A new order state, the messages it sends and the notifications it raises, written in one
/// atomic step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    /// The order after the change.
    pub order: Order,
    /// Messages to send.
    pub outbox: Vec<OutboxEntry>,
    /// Notifications to keep.
    pub notifications: Vec<Notification>,
}

/// What an inbound message does, decided inside the store's atomic step from the current order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The synchronous answer (ACK, or a domain NACK).
    pub answer: StoredAnswer,
    /// The change, if any.
    pub effect: Option<Effect>,
}

/// A decision function's refusal: a code the caller maps to its answer, and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Veto {
    /// Machine-readable code (an ONDC code such as `20007`, or a REST error name).
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

/// Why [`Store::update_order`] made no change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateError {
    /// No such order.
    NotFound,
    /// The decision function refused.
    Vetoed(Veto),
}

/// Why a message cannot be re-queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequeueError {
    /// No such message for that order.
    NotFound,
    /// It is pending or delivered, not failed.
    NotFailed,
}

/// One line of an order's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "direction", rename_all = "snake_case")]
pub enum TimelineItem {
    /// A message received.
    In {
        /// Audit sequence number.
        seq: u64,
        /// The message.
        #[serde(flatten)]
        record: Box<InboundRecord>,
    },
    /// A message sent (or to be sent).
    Out {
        /// The outbox entry.
        #[serde(flatten)]
        entry: Box<OutboxEntry>,
    },
}

/// The outcome of [`Store::accept_inbound`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// First time: stored under this sequence number.
    New {
        /// Audit sequence number.
        seq: u64,
        /// The answer decided for it.
        answer: StoredAnswer,
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
    /// In one atomic step, unless the message's [`DedupeKey`] was seen: finds the order of
    /// `transaction_id` (if tracked), lets `decide` choose the answer and the change, and stores
    /// the message with that answer, its dedupe entry, the new order and its outbox entries.
    /// Durable when it returns. `decide` may run more than once (on write conflicts), so it
    /// must be pure.
    async fn accept_inbound(
        &self,
        record: InboundRecord,
        decide: &(dyn for<'o> Fn(Option<&'o Order>) -> Decision + Send + Sync),
    ) -> Result<Accepted, StoreError>;

    /// Registers an order and indexes its transaction ids; `false` if the id is taken.
    async fn insert_order(&self, order: &Order) -> Result<bool, StoreError>;

    /// The order with this id.
    fn order(&self, id: &str) -> Result<Option<Order>, StoreError>;

    /// In one atomic step: applies `decide` to the order and stores the result with its outbox
    /// entries. Durable when it returns. `decide` may run more than once.
    async fn update_order(
        &self,
        id: &str,
        decide: &(dyn for<'o> Fn(&'o Order) -> Result<Effect, Veto> + Send + Sync),
    ) -> Result<Result<Order, UpdateError>, StoreError>;

    /// Pending outbox entries due at `now`, oldest first.
    fn due_outbox(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxEntry>, StoreError>;

    /// The earliest `next_attempt_at` of any pending entry.
    fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Saves an attempt's result; durable when it returns.
    async fn save_delivery(&self, entry: &OutboxEntry) -> Result<(), StoreError>;

    /// Puts a failed outbox entry of `order_id` back in the queue (attempts reset, due now; same
    /// message_id and body). `Ok(Err(reason))` when there is no such entry or it has not failed.
    async fn requeue_failed(
        &self,
        order_id: &str,
        message_id: &str,
    ) -> Result<Result<OutboxEntry, RequeueError>, StoreError>;

    /// Every message in and out for an order, in the order they happened.
    fn timeline(&self, order_id: &str) -> Result<Vec<TimelineItem>, StoreError>;

    /// A user's notifications, oldest first.
    fn notifications(&self, user_id: &str) -> Result<Vec<Notification>, StoreError>;

    /// Audit entries in arrival order, starting after sequence number `after`.
    fn inbound_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, InboundRecord)>, StoreError>;

    /// Writes one registry cache entry (opaque bytes under a key); durable when it returns.
    async fn put_registry_entry(&self, key: &str, value: Vec<u8>) -> Result<(), StoreError>;

    /// Every registry cache entry.
    fn registry_entries(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
}
