//! The order as the gateway tracks it, and the events and commands of its state machine.

use super::reasons::Party;
use super::states::{FulfillmentState, OrderState};
use crate::protocol::{MessageId, SubscriberId, TransactionId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An amount in integer minor units (paise for INR) with its currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// ISO 4217 code, e.g. `INR`.
    pub currency: String,
    /// Minor units.
    pub minor: i64,
}

impl Money {
    /// Parses Beckn money: a currency and a decimal string with at most two decimals
    /// (`"540.00"`, `"50"`, `"0.5"`). Negative amounts are refused.
    pub fn parse(currency: &str, value: &str) -> Option<Self> {
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return None;
        }
        let (whole, frac) = value.split_once('.').unwrap_or((value, ""));
        if whole.is_empty() || whole.len() > 15 || frac.len() > 2 {
            return None;
        }
        if !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let whole: i64 = whole.parse().ok()?;
        let frac: i64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<2}").parse().ok()?
        };
        Some(Self {
            currency: currency.to_owned(),
            minor: whole.checked_mul(100)?.checked_add(frac)?,
        })
    }

    /// The Beckn decimal string, two decimals.
    pub fn value(&self) -> String {
        format!("{}.{:02}", self.minor / 100, self.minor % 100)
    }
}

/// One fulfillment and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fulfillment {
    /// Its id.
    pub id: String,
    /// `Delivery`, `RTO`, … as the peer typed it.
    #[serde(rename = "type")]
    pub kind: String,
    /// Current state.
    pub state: FulfillmentState,
    /// When the state was reached (as reported, else when we learned of it).
    pub updated_at: Option<DateTime<Utc>>,
    /// The return-to-origin fulfillment of this forward one, once named (`cancel_request.rto_id`
    /// or `rto_event.rto_id`).
    #[serde(default)]
    pub rto_id: Option<String>,
}

impl Fulfillment {
    /// An RTO fulfillment (by type or by state).
    pub fn is_rto(&self) -> bool {
        self.kind.eq_ignore_ascii_case("RTO") || self.state.is_rto_track()
    }
}

/// Where one leg's cancellation stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LegStatus {
    /// Live; nobody has cancelled it.
    Active,
    /// We sent `/cancel` with this message_id and wait for the solicited `/on_cancel`.
    Cancelling {
        /// Our `/cancel`'s message_id.
        message_id: MessageId,
        /// Sent with `params.force = yes` (ONDC flow 005), after a first `/cancel` went
        /// unanswered or because the buyer app asked.
        #[serde(default)]
        forced: bool,
    },
    /// Even our forced `/cancel` went unanswered: the platform raises an IGM issue. A late
    /// `/on_cancel` still resolves it.
    Unresolved {
        /// The forced `/cancel`'s message_id.
        message_id: MessageId,
    },
    /// Cancelled (by us, confirmed, or by the counterpart).
    Cancelled,
}

/// The retail leg: BNP (this gateway) ↔ SNP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetailLeg {
    /// `ONDC:RET1x`.
    pub domain: String,
    /// The retail transaction.
    pub transaction_id: TransactionId,
    /// The seller.
    pub bpp_id: SubscriberId,
    /// The seller's URI.
    pub bpp_uri: String,
    /// Cancellation status.
    pub status: LegStatus,
    /// Forward and RTO fulfillments.
    pub fulfillments: Vec<Fulfillment>,
}

/// The logistics leg: BNP as LBNP ↔ LSP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogisticsLeg {
    /// `ONDC:LOG10` or `ONDC:LOG11`.
    pub domain: String,
    /// The logistics order id.
    pub order_id: String,
    /// The logistics transaction.
    pub transaction_id: TransactionId,
    /// The LSP.
    pub bpp_id: SubscriberId,
    /// The LSP's URI.
    pub bpp_uri: String,
    /// The retail fulfillment this logistics order delivers.
    pub linked_fulfillment_id: String,
    /// Cancellation status.
    pub status: LegStatus,
    /// The LSP's fulfillments (forward and RTO).
    pub fulfillments: Vec<Fulfillment>,
    /// The LSP's latest quoted total (charges the BNP owes it).
    pub charges: Option<Money>,
    /// The lines of that quote, when it had a breakup.
    #[serde(default)]
    pub charge_lines: Vec<ChargeLine>,
}

/// One line of an LSP's quote breakup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeLine {
    /// `@ondc/org/title_type`: `delivery`, `rto`, `tax`, …
    pub kind: String,
    /// `@ondc/org/item_id`, which ties a tax line to the charge it taxes.
    pub item_id: Option<String>,
    /// The amount.
    pub amount: Money,
}

/// What a counterpart charges for, as the seller is told in `bnp_receivables_claim.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimKind {
    /// The forward delivery (or the cancellation fee standing in for it).
    Delivery,
    /// The return to origin.
    Rto,
}

impl LegStatus {
    /// Waiting for the answer to our (unforced) `/cancel` `message_id`.
    pub fn cancelling(message_id: MessageId) -> Self {
        Self::Cancelling {
            message_id,
            forced: false,
        }
    }

    /// Our `/cancel` is out and not answered (waiting, or given up on).
    pub fn is_awaiting_answer(&self) -> bool {
        matches!(self, Self::Cancelling { .. } | Self::Unresolved { .. })
    }
}

/// A callback the gateway sends the buyer app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuyerAction {
    /// `/on_cancel`.
    OnCancel,
    /// `/on_status`.
    OnStatus,
    /// `/on_update`.
    OnUpdate,
}

impl BuyerAction {
    /// The Beckn action.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnCancel => "on_cancel",
            Self::OnStatus => "on_status",
            Self::OnUpdate => "on_update",
        }
    }
}

/// The buyer app the gateway reports an order to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuyerApp {
    /// Its `bap_id`.
    pub subscriber_id: SubscriberId,
    /// Its `bap_uri` (the registry's `subscriber_url` wins when it has one).
    pub uri: String,
    /// Its `/cancel`s awaiting our `/on_cancel` (a forced one may follow the first), oldest
    /// first; each is answered once.
    #[serde(default)]
    pub awaiting_cancels: Vec<MessageId>,
    /// Its `/update`s forwarded to the seller: (our message_id, its message_id).
    #[serde(default)]
    pub forwarded_updates: Vec<(MessageId, MessageId)>,
}

/// ONDC's `params` tag of a `/cancel` (flow 005): force the cancellation, and how long the
/// counterpart has to answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelParams {
    /// `force`: `yes` or `no`.
    pub force: bool,
    /// `ttl_response`, an ISO 8601 duration (`PT30M`).
    pub ttl_response: String,
}

impl ClaimKind {
    /// The `type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivery => "delivery",
            Self::Rto => "rto",
        }
    }
}

/// Charges the seller owes the BNP, claimed on one fulfillment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// What for.
    pub kind: ClaimKind,
    /// The retail fulfillment the claim rides on.
    pub fulfillment_id: String,
    /// How much.
    pub amount: Money,
}

/// How a counterpart refused one of our messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusedHow {
    /// Its `/on_cancel` (or `/on_update`) carried an `error`.
    Callback,
    /// It NACKed the message with a code retrying cannot change.
    Nack,
}

/// A counterpart's refusal to cancel (or to take our message), kept on the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegRefusal {
    /// Which leg.
    pub leg: Leg,
    /// Who refused (the counterpart's subscriber id).
    pub by: String,
    /// How.
    pub how: RefusedHow,
    /// The ONDC error code it gave (empty when it gave none).
    pub code: String,
    /// Its message.
    pub message: String,
    /// Our message it refused, when known.
    pub message_id: Option<MessageId>,
    /// When.
    pub at: DateTime<Utc>,
}

/// One of our messages that will not be delivered by retrying.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedMessage {
    /// Its message_id.
    pub message_id: MessageId,
    /// `cancel`, `update`, …
    pub action: String,
    /// Which leg.
    pub leg: Leg,
    /// Refused for good (a domain NACK) rather than retried until the limit.
    pub permanent: bool,
    /// The last answer or failure.
    pub reason: String,
    /// When it was given up.
    pub at: DateTime<Utc>,
}

/// A cancellation and how it spread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    /// Which side started it.
    pub initiator: Party,
    /// Who exactly: a subscriber id, or a REST user id.
    pub initiated_by: String,
    /// The reason as raised.
    pub reason_code: String,
    /// The reason sent to (or received from) the SNP.
    pub retail_reason: String,
    /// The reason sent to (or received from) the LSP, when there is a logistics leg.
    pub logistics_reason: Option<String>,
    /// When it started.
    pub at: DateTime<Utc>,
    /// The retail fulfillment the cancellation names (`descriptor.short_desc`).
    #[serde(default)]
    pub fulfillment_id: Option<String>,
    /// The buyer app's `params` (force, ttl_response), forwarded on our `/cancel`s.
    #[serde(default)]
    pub params: Option<CancelParams>,
    /// Charges claimed from the SNP with `bnp_receivables_claim`, per fulfillment and kind
    /// (their total is [`Cancellation::claim`]).
    #[serde(default)]
    pub claims: Vec<Claim>,
}

impl Cancellation {
    /// What the seller is claimed in total, when there are claims in one currency.
    pub fn claim(&self) -> Option<Money> {
        super::charges::total(&self.claims)
    }
}

/// Escrowed funds in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escrow {
    /// Currency.
    pub currency: String,
    /// Held for the order.
    pub held: i64,
    /// Returned to the customer.
    pub refunded: i64,
    /// Kept for charges the customer owes.
    pub charged: i64,
    /// The cancellation's settlement is done (part-cancellations refund before it).
    #[serde(default)]
    pub settled: bool,
}

/// Part of an order the seller cancelled (an unsolicited `/on_update` with a `Cancel`
/// fulfillment, reason 002): the order stays live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartCancel {
    /// The `Cancel` fulfillment's id.
    pub fulfillment_id: String,
    /// `cancel_request.reason_id`.
    pub reason: String,
    /// Items moved to it: (item id, count).
    pub items: Vec<(String, u32)>,
    /// What its `quote_trail` takes off the order, refunded from the escrow.
    pub amount: Money,
    /// When.
    pub at: DateTime<Utc>,
}

/// A part-cancellation as the seller's `/on_update` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartCancelReport {
    /// The `Cancel` fulfillment's id.
    pub fulfillment_id: String,
    /// `cancel_request.reason_id`.
    pub reason: Option<String>,
    /// Items moved to it.
    pub items: Vec<(String, u32)>,
    /// The sum of its `quote_trail` values, negated (what the buyer gets back).
    pub amount: Money,
    /// Items (not customizations) still on forward fulfillments with a count above zero.
    pub items_left: usize,
}

/// The order's lifecycle as the REST API shows it, beside the network's `order.state`: a
/// cancellation is `CANCELLED` for the customer and provider as soon as it is decided, while the
/// network legs may still be winding down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Live.
    Active,
    /// A customer or provider asked to cancel; the other party has not decided.
    CancellationRequested,
    /// The customer agreed to the provider's request; the seller is to cancel on the network
    /// (its unsolicited `/on_cancel`).
    AwaitingSeller,
    /// Cancelled (by anyone).
    Cancelled,
    /// Delivered and done.
    Completed,
}

impl OrderStatus {
    /// The name the REST API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::CancellationRequested => "CANCELLATION_REQUESTED",
            Self::AwaitingSeller => "AWAITING_SELLER",
            Self::Cancelled => "CANCELLED",
            Self::Completed => "COMPLETED",
        }
    }
}

/// Where a REST cancellation request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Waiting for the other party.
    Pending,
    /// Accepted: the order is cancelled.
    Accepted,
    /// Rejected: the order went back to its status before the request.
    Rejected,
    /// Withdrawn by its requester before the other party decided.
    Withdrawn,
    /// Nobody decided it in time (`deadlines.request_expiry_secs`).
    Expired,
}

impl RequestStatus {
    /// The name the REST API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
            Self::Expired => "expired",
        }
    }
}

/// A customer's or provider's request to cancel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelRequest {
    /// Its id.
    pub id: String,
    /// `Buyer` for the customer, `Seller` for the provider.
    pub requested_by: Party,
    /// The requester's user id.
    pub requester_id: String,
    /// Retail reason code.
    pub reason_code: String,
    /// A single fulfillment, when named.
    pub fulfillment_id: Option<String>,
    /// Free text.
    pub note: Option<String>,
    /// Pending, accepted, rejected, withdrawn or expired.
    pub status: RequestStatus,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Who decided it.
    pub decided_by: Option<String>,
    /// When it was decided.
    pub decided_at: Option<DateTime<Utc>>,
}

/// An order the gateway tracks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The retail order id.
    pub id: String,
    /// The customer (REST user id).
    pub customer_id: String,
    /// The provider (REST user id).
    pub provider_id: String,
    /// Retail order state on the network.
    pub state: OrderState,
    /// The lifecycle as the REST API shows it.
    pub status: OrderStatus,
    /// REST cancellation requests, oldest first.
    pub cancel_requests: Vec<CancelRequest>,
    /// Escrow ledger.
    pub escrow: Escrow,
    /// Retail leg.
    pub retail: RetailLeg,
    /// Logistics leg, absent for seller-managed delivery.
    pub logistics: Option<LogisticsLeg>,
    /// The cancellation, once one started.
    pub cancellation: Option<Cancellation>,
    /// Our `/update` to the SNP awaiting its `/on_update`.
    pub awaiting_update: Option<MessageId>,
    /// `context.city` of the order's messages (`std:080`), from registration or the first
    /// message of its transactions.
    #[serde(default)]
    pub city: Option<String>,
    /// `context.country` (`IND`).
    #[serde(default)]
    pub country: Option<String>,
    /// Counterparts' refusals to cancel, oldest first.
    #[serde(default)]
    pub refusals: Vec<LegRefusal>,
    /// Our messages that will not be delivered, oldest first.
    #[serde(default)]
    pub failed_messages: Vec<FailedMessage>,
    /// Parts of the order the seller cancelled, oldest first.
    #[serde(default)]
    pub part_cancels: Vec<PartCancel>,
    /// The buyer app that hears of the order (registered with it, or the one that sent
    /// `/cancel`); none, no callbacks.
    #[serde(default)]
    pub buyer_app: Option<BuyerApp>,
    /// Registration time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// One fulfillment as a callback reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FulfillmentReport {
    /// Its id.
    pub id: String,
    /// Its type, when given.
    pub kind: Option<String>,
    /// Its reported state.
    pub state: FulfillmentState,
    /// When the state was reached, when given.
    pub at: Option<DateTime<Utc>>,
    /// Its return fulfillment, when the message names it.
    pub rto_id: Option<String>,
}

/// What a callback from the SNP or the LSP says about the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// `context.message_id`.
    pub message_id: MessageId,
    /// `message.order.state`, when known.
    pub order_state: Option<OrderState>,
    /// Fulfillment states.
    pub fulfillments: Vec<FulfillmentReport>,
    /// Who cancelled (`cancellation.cancelled_by`, `cancel_request.initiated_by`, `rto_event.cancelled_by`).
    pub cancelled_by: Option<String>,
    /// The reason (`cancellation.reason.id`, `cancel_request.reason_id`, `rto_event.cancellation_reason_id`).
    pub reason: Option<String>,
    /// `quote.price`, when given.
    pub quote: Option<Money>,
    /// `quote.breakup`, when given.
    pub quote_lines: Vec<ChargeLine>,
    /// `context.timestamp`.
    pub at: DateTime<Utc>,
    /// The message as sent (`message`) of an `/on_update`, relayed to the buyer app (its answer
    /// to the buyer app's `/update`, a part-cancellation); `null` for other callbacks, which are
    /// never relayed as they are.
    pub message: serde_json::Value,
    /// A part-cancellation it reports (a `Cancel` fulfillment), if any.
    pub part_cancel: Option<PartCancelReport>,
}

/// Something that happened to an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The buyer side (buyer app `/cancel`, or an accepted REST request) cancels.
    Cancel {
        /// Which side asked (a REST request by the provider is the seller side).
        by: Party,
        /// Who asked (subscriber or user id).
        initiated_by: String,
        /// Retail reason code.
        reason: String,
        /// A single fulfillment to cancel, when named.
        fulfillment_id: Option<String>,
        /// `params.force = yes`: cancel even if the seller does not answer (flow 005).
        force: bool,
        /// `params.ttl_response`, when given (ISO 8601 duration).
        ttl_response: Option<String>,
    },
    /// The buyer app's `/update`: forwarded to the seller, its `/on_update` relayed back.
    BuyerUpdate {
        /// The buyer app's message_id.
        message_id: MessageId,
        /// Its `message`, forwarded as it is.
        message: serde_json::Value,
    },
    /// Our `/cancel` on `leg` went unanswered until its deadline.
    CancelDeadline {
        /// Which leg.
        leg: Leg,
        /// The `/cancel` it was for.
        message_id: MessageId,
    },
    /// SNP `/on_cancel`.
    RetailOnCancel(Callback),
    /// SNP `/on_update`.
    RetailOnUpdate(Callback),
    /// SNP `/on_status`.
    RetailStatus(Callback),
    /// LSP `/on_cancel`.
    LogisticsOnCancel(Callback),
    /// LSP `/on_status` or `/on_update`.
    LogisticsStatus(Callback),
    /// A callback on `leg` that carries a top-level `error`: the counterpart refuses.
    CallbackError {
        /// Which leg.
        leg: Leg,
        /// `on_cancel` or `on_update`.
        action: &'static str,
        /// `context.message_id` (for a solicited answer, our request's).
        message_id: MessageId,
        /// `error.code`.
        code: String,
        /// `error.message`.
        message: String,
    },
    /// One of our messages will not be delivered by retrying: refused with a code retrying
    /// cannot change, or out of attempts.
    DeliveryFailed {
        /// Its message_id.
        message_id: MessageId,
        /// Its action.
        action: String,
        /// Its leg.
        leg: Leg,
        /// Refused for good (rather than out of attempts).
        permanent: bool,
        /// The NACK's ONDC code, when it gave one.
        code: Option<String>,
        /// The last answer or failure.
        reason: String,
    },
}

/// A deadline the order keeps: when it passes, the decision step hears of it once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimerKind {
    /// The customer agreed to the provider's request; the seller has until then to cancel on the
    /// network with its own `/on_cancel`.
    AwaitingSeller {
        /// The accepted request.
        request_id: String,
    },
    /// A pending REST request expires unless decided or withdrawn by then.
    RequestExpiry {
        /// The request.
        request_id: String,
    },
    /// The counterpart must answer our `/cancel` by then.
    CancelResponse {
        /// Which leg.
        leg: Leg,
        /// Our `/cancel`.
        message_id: MessageId,
    },
}

impl TimerKind {
    /// Tells two timers of one order apart (part of the store key).
    pub fn tag(&self) -> String {
        match self {
            Self::AwaitingSeller { request_id } => format!("awaiting_seller:{request_id}"),
            Self::RequestExpiry { request_id } => format!("request_expiry:{request_id}"),
            Self::CancelResponse { leg, message_id } => format!("cancel_response:{leg:?}:{message_id}"),
        }
    }
}

/// A durable timer: fires once, at or after `due_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    /// The order it belongs to.
    pub order_id: String,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    /// What it is for.
    pub kind: TimerKind,
}

/// How long the gateway waits for others, from the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// From the customer accepting a provider's request to the seller's own `/on_cancel`.
    pub awaiting_seller: chrono::Duration,
    /// How long a REST cancellation request stays pending before it expires.
    pub request_expiry: chrono::Duration,
    /// How long a counterpart has to answer our `/cancel` when the buyer app gave no
    /// `ttl_response`.
    pub cancel_response: chrono::Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Self {
            awaiting_seller: chrono::Duration::hours(2),
            request_expiry: chrono::Duration::hours(24),
            cancel_response: chrono::Duration::minutes(5),
        }
    }
}

/// Which leg a message goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Leg {
    /// To the SNP.
    Retail,
    /// To the LSP.
    Logistics,
}

/// A fulfillment state reported to the SNP in `update_state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateReport {
    /// Fulfillment id.
    pub id: String,
    /// Its state.
    pub state: FulfillmentState,
    /// When it was reached.
    pub at: DateTime<Utc>,
}

/// A message the machine wants sent; the outbox delivers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Command {
    /// `/cancel` to a leg.
    Cancel {
        /// Which leg.
        leg: Leg,
        /// Fresh message_id.
        message_id: MessageId,
        /// `cancellation_reason_id`.
        reason: String,
        /// `cancel_request.initiated_by`.
        initiated_by: String,
        /// `descriptor.short_desc` (fulfillment-level cancel), when known.
        fulfillment_id: Option<String>,
        /// `descriptor.tags.params` (force, ttl_response), when sent.
        params: Option<CancelParams>,
    },
    /// A callback to the buyer app (`on_cancel`, `on_status`, `on_update`), built from the order
    /// as it is, or carrying what the seller said.
    ToBuyer {
        /// The buyer app.
        to: SubscriberId,
        /// Its URI.
        uri: String,
        /// `on_cancel` (solicited with the buyer's `/cancel` message_id, or unsolicited),
        /// `on_status` (unsolicited, the order's states changed) or `on_update` (the seller's
        /// answer to the buyer's `/update`).
        action: BuyerAction,
        /// The message_id: the buyer app's own for an answer, fresh otherwise.
        message_id: MessageId,
        /// The seller's refusal to pass on as the `error`, when the cancellation was refused.
        error: Option<(String, String)>,
        /// The seller's `message` to relay (`on_update`), instead of one built from the order.
        relay: Option<serde_json::Value>,
    },
    /// The buyer app's `/update` forwarded to the seller under our name.
    ForwardUpdate {
        /// Fresh message_id (the seller answers with it).
        message_id: MessageId,
        /// The buyer app's `message`.
        message: serde_json::Value,
    },
    /// `/status` to a leg whose counterpart has not answered our `/cancel`.
    Status {
        /// Which leg.
        leg: Leg,
        /// Fresh message_id.
        message_id: MessageId,
    },
    /// `/update` (`update_target: fulfillment`) to the SNP with states and any claim.
    UpdateStates {
        /// Fresh message_id.
        message_id: MessageId,
        /// Forward and RTO fulfillment states.
        states: Vec<StateReport>,
        /// `bnp_receivables_claim`s, when the SNP owes charges.
        claims: Vec<Claim>,
    },
}

impl Command {
    /// The leg, Beckn action and message_id of the message.
    pub fn route(&self) -> (Leg, &'static str, &MessageId) {
        match self {
            Self::Cancel { leg, message_id, .. } => (*leg, "cancel", message_id),
            Self::UpdateStates { message_id, .. } => (Leg::Retail, "update", message_id),
            Self::Status { leg, message_id } => (*leg, "status", message_id),
            // The buyer app is spoken to on the retail transaction.
            Self::ToBuyer {
                action, message_id, ..
            } => (Leg::Retail, action.as_str(), message_id),
            Self::ForwardUpdate { message_id, .. } => (Leg::Retail, "update", message_id),
        }
    }
}

#[cfg(test)]
impl Order {
    /// A live order with a seller leg (F1 out for delivery) and an LSP leg, for tests.
    pub fn sample(id: &str) -> Self {
        use crate::protocol::{SubscriberId, TransactionId};
        let t0 = DateTime::from_timestamp(1_735_902_000, 0).unwrap_or_default();
        Self {
            id: id.into(),
            customer_id: "cust-1".into(),
            provider_id: "prov-1".into(),
            state: OrderState::InProgress,
            status: OrderStatus::Active,
            cancel_requests: vec![],
            escrow: Escrow {
                currency: "INR".into(),
                held: 54000,
                refunded: 0,
                charged: 0,
                settled: false,
            },
            retail: RetailLeg {
                domain: "ONDC:RET10".into(),
                transaction_id: TransactionId::parse(&format!("TR-{id}")).unwrap(),
                bpp_id: SubscriberId::parse("seller.com").unwrap(),
                bpp_uri: "https://seller.com".into(),
                status: LegStatus::Active,
                fulfillments: vec![Fulfillment {
                    id: "F1".into(),
                    kind: "Delivery".into(),
                    state: FulfillmentState::OutForDelivery,
                    updated_at: None,
                    rto_id: None,
                }],
            },
            logistics: Some(LogisticsLeg {
                domain: "ONDC:LOG10".into(),
                order_id: "L1".into(),
                transaction_id: TransactionId::parse(&format!("TL-{id}")).unwrap(),
                bpp_id: SubscriberId::parse("lsp.com").unwrap(),
                bpp_uri: "https://lsp.com".into(),
                linked_fulfillment_id: "F1".into(),
                status: LegStatus::Active,
                fulfillments: vec![],
                charges: None,
                charge_lines: vec![],
            }),
            cancellation: None,
            awaiting_update: None,
            city: None,
            country: None,
            refusals: vec![],
            failed_messages: vec![],
            buyer_app: None,
            part_cancels: vec![],
            created_at: t0,
            updated_at: t0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_parses_beckn_decimals_into_minor_units() {
        assert_eq!(Money::parse("INR", "540.00").unwrap().minor, 54000);
        assert_eq!(Money::parse("INR", "50").unwrap().minor, 5000);
        assert_eq!(Money::parse("INR", "0.5").unwrap().minor, 50);
        assert_eq!(Money::parse("INR", "12.34").unwrap().value(), "12.34");
        for bad in ["", "-1", "1.234", "1e3", ".5", "abc", "1.2.3"] {
            assert!(Money::parse("INR", bad).is_none(), "{bad}");
        }
        assert!(Money::parse("inr", "1").is_none());
    }
}
