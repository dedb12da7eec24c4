//! Durable storage behind a trait, so the embedded sled store and a server-backed store for
//! several gateway nodes can both serve the gateway.
//!
//! Every method that changes state is durable when it returns: the HTTP edge answers ACK only
//! after that. Implementations group their flushes so durability does not cost one fsync per
//! request.

#[cfg(test)]
mod conformance;
mod embedded;
mod group_commit;
mod postgres;

pub use embedded::{Bounds, SledStore};
pub use group_commit::DurableError;
pub use postgres::{MIGRATIONS, PgOptions, PgStore, create_database, migrate, redact};

use crate::orchestrator::{Leg, Order, Refusal, Timer};
use crate::protocol::{Action, MessageId, SubscriberId, TransactionId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why the store failed. Never the peer's fault: the edge answers 500 without detail.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage engine failed (I/O, corruption).
    #[error("storage engine failed")]
    Engine(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A value could not be encoded or a stored one decoded.
    #[error("stored value does not decode")]
    Decode(#[from] serde_json::Error),
    /// A stored value is of a layout this build does not know, or a key is malformed.
    #[error("stored value: {0}")]
    Corrupt(String),
    /// The group flush failed, so the write is not known to be durable.
    #[error("write not known to be durable")]
    Flush(#[from] DurableError),
}

impl StoreError {
    /// Whether the storage is failing (a full or unwritable disk, an I/O error, shutting down)
    /// rather than a value being wrong: the caller may retry later, and is answered 503.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Engine(_) | Self::Flush(_))
    }
}

/// Exact message bytes, kept as received or as built and never re-encoded. Stored and shown as
/// text: every body the gateway keeps is JSON, hence UTF-8, and one that is not cannot be stored.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Body(Vec<u8>);

impl Body {
    /// Wraps bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes as text, when they are UTF-8 (always, for a body the store accepted).
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.as_str() {
            Some(s) => write!(f, "Body({s:?})"),
            None => write!(f, "Body({} bytes, not UTF-8)", self.0.len()),
        }
    }
}

impl From<&str> for Body {
    fn from(s: &str) -> Self {
        Self(s.as_bytes().to_vec())
    }
}

impl Serialize for Body {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = std::str::from_utf8(&self.0).map_err(serde::ser::Error::custom)?;
        s.serialize_str(text)
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| Self(s.into_bytes()))
    }
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
    /// The exact body.
    pub body: Body,
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
    pub body: Body,
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

impl OutboxEntry {
    /// This entry of `order_id` put back in the queue at `now`, as [`Store::requeue_failed`]
    /// does: same message_id and body, attempts reset. Refused unless it belongs to `order_id`
    /// and has failed.
    pub fn requeued(mut self, order_id: &str, now: DateTime<Utc>) -> Result<Self, RequeueError> {
        if self.order_id != order_id {
            return Err(RequeueError::NotFound);
        }
        if self.status != DeliveryStatus::Failed {
            return Err(RequeueError::NotFailed);
        }
        self.status = DeliveryStatus::Pending;
        self.attempts = 0;
        self.next_attempt_at = now;
        Ok(self)
    }
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
    /// Deadlines to keep, fired once each when due.
    pub timers: Vec<Timer>,
}

impl Effect {
    /// Writes `order` as it is, and nothing else.
    pub fn unchanged(order: &Order) -> Self {
        Self {
            order: order.clone(),
            outbox: vec![],
            notifications: vec![],
            timers: vec![],
        }
    }
}

/// What an inbound message does, decided inside the store's atomic step from the current order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The synchronous answer (ACK, or a domain NACK).
    pub answer: StoredAnswer,
    /// The change, if any.
    pub effect: Option<Effect>,
}

/// Why [`Store::update_order`] made no change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateError {
    /// No such order.
    NotFound,
    /// The decision step refused.
    Refused(Refusal),
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
    async fn order(&self, id: &str) -> Result<Option<Order>, StoreError>;

    /// In one atomic step: applies `decide` to the order and stores the result with its outbox
    /// entries. Durable when it returns. `decide` may run more than once.
    async fn update_order(
        &self,
        id: &str,
        decide: &(dyn for<'o> Fn(&'o Order) -> Result<Effect, Refusal> + Send + Sync),
    ) -> Result<Result<Order, UpdateError>, StoreError>;

    /// Pending outbox entries due at `now`, oldest first, each claimed: not handed out again
    /// (to this node or another) until its attempt is saved or the claim lapses (a node that
    /// died mid-attempt), so one worker delivers it.
    async fn due_outbox(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxEntry>, StoreError>;

    /// How many outbox entries wait to be delivered (pending), as of the last change.
    fn pending_outbox(&self) -> u64;

    /// The earliest `next_attempt_at` of any pending entry.
    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

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
    async fn timeline(&self, order_id: &str) -> Result<Vec<TimelineItem>, StoreError>;

    /// A user's notifications, oldest first.
    async fn notifications(&self, user_id: &str) -> Result<Vec<Notification>, StoreError>;

    /// Audit entries in arrival order, starting after sequence number `after`.
    async fn inbound_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, InboundRecord)>, StoreError>;

    /// Timers due at `now`, earliest first; finding them costs the same however many are kept.
    async fn due_timers(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Timer>, StoreError>;

    /// When the earliest timer is due.
    async fn next_timer(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// In one atomic step: removes `timer` and writes what `decide` makes of its order; `false`
    /// (and nothing written) if the timer is gone, i.e. it fired already. A refusal or a missing
    /// order still removes it. Durable when it returns.
    async fn fire_timer(
        &self,
        timer: &Timer,
        decide: &(dyn for<'o> Fn(&'o Order) -> Result<Effect, Refusal> + Send + Sync),
    ) -> Result<bool, StoreError>;

    /// Writes one registry cache entry (opaque bytes under a key); durable when it returns.
    async fn put_registry_entry(&self, key: &str, value: Vec<u8>) -> Result<(), StoreError>;

    /// Every registry cache entry.
    async fn registry_entries(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError>;

    /// Removes audit records received before `before`, with their dedupe entries (a copy of
    /// such a message arriving later is then taken as new), in small steps that do not stall
    /// other writers; how many were removed. An implementation may keep some records a little
    /// past `before` (the embedded store removes whole segments).
    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Prunes the audit of `store` every `every`, keeping `retention`; runs until dropped.
pub async fn keep_pruning(
    store: std::sync::Arc<dyn Store>,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
    retention: std::time::Duration,
    every: std::time::Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        let Ok(retention) = chrono::Duration::from_std(retention) else {
            return;
        };
        match store.prune_audit(clock.now() - retention).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "audit records past their retention removed"),
            Err(e) => tracing::error!(error = %crate::telemetry::chain(&e), "cannot prune the audit"),
        }
    }
}
