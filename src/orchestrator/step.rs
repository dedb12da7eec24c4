//! The decision step: every rule of a cancellation in one pure function.
//!
//! [`step`] takes the order (if the message belongs to one), an [`Input`] — a verified network
//! message, or a REST action by a customer or provider — and returns the [`Step`]: the order as
//! it becomes, the messages to send and the notices to raise; or a [`Refusal`], which the network
//! door turns into a NACK and the REST door into an HTTP error. A REST accept and a network
//! `/cancel` both become the same [`Event::Cancel`] and go through the one match of
//! [`transition`].
//!
//! After any change, [`consequences`] derives in one place what follows from the old and the
//! new order: the REST status, the escrow settlement, requests overtaken by the network, and the
//! notices to the customer and the provider.

use super::charges;
use super::events::EventError;
use super::machine::{Inputs, Outcome, transition};
use super::model::{
    BuyerAction, BuyerApp, Command, Event, Leg, LegStatus, Money, Order, OrderStatus, RequestStatus, Timer,
    TimerKind,
};
use super::reasons::{self, Party};
use super::refusal::Refusal;
use super::requests::{self, Actor, RestAction};
use super::states::OrderState;
use crate::protocol::{Action, Context, DomainFamily, duration_secs, excerpt};
use serde::Serialize;

/// What happened, for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// Someone asked to cancel.
    CancellationRequested,
    /// The other party accepted.
    CancellationAccepted,
    /// The other party rejected.
    CancellationRejected,
    /// The seller, the LSP or the buyer app cancelled on the network.
    OrderCancelled,
    /// The cancellation finished on the network.
    CancellationCompleted,
    /// A counterpart refused to cancel; the order stays live.
    CancellationRefused,
    /// One of our messages will not be delivered by retrying.
    MessageFailed,
    /// The seller has not cancelled by the deadline after the customer agreed.
    SellerOverdue,
    /// The requester withdrew a pending request.
    CancellationWithdrawn,
    /// A pending request expired undecided.
    CancellationExpired,
    /// The seller answered neither our `/cancel` nor the forced one: an IGM issue is due.
    CancellationUnresolved,
    /// The LSP has not answered our `/cancel` in time; `/status` was sent.
    LspOverdue,
    /// The seller cancelled part of the order; the rest goes on.
    PartCancelled,
}

impl NoticeKind {
    /// The name users and webhooks see.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CancellationRequested => "cancellation_requested",
            Self::CancellationAccepted => "cancellation_accepted",
            Self::CancellationRejected => "cancellation_rejected",
            Self::OrderCancelled => "order_cancelled",
            Self::CancellationCompleted => "cancellation_completed",
            Self::CancellationRefused => "cancellation_refused",
            Self::MessageFailed => "message_failed",
            Self::SellerOverdue => "seller_overdue",
            Self::CancellationWithdrawn => "cancellation_withdrawn",
            Self::CancellationExpired => "cancellation_expired",
            Self::CancellationUnresolved => "cancellation_unresolved",
            Self::LspOverdue => "lsp_overdue",
            Self::PartCancelled => "part_cancelled",
        }
    }
}

/// A notification to one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The user.
    pub user_id: String,
    /// What happened.
    pub kind: NoticeKind,
    /// The request concerned, if any.
    pub request_id: Option<String>,
    /// A sentence for a person.
    pub message: String,
}

/// A verified, schema-valid Beckn message, read as far as the step needs.
#[derive(Debug, Clone, Copy)]
pub struct Network<'a> {
    /// Its checked context; `context.sender()` is the verified signer.
    pub context: &'a Context,
    /// The order id the message names (retail or logistics), if any.
    pub order_ref: Option<&'a str>,
    /// The message read as an event, or why it cannot be.
    pub event: &'a Result<Event, EventError>,
}

/// What the step decides about.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// A network message.
    Network(Network<'a>),
    /// The outbox gave up on one of our messages.
    Delivery(&'a Event),
    /// A deadline of the order passed.
    Timer(&'a TimerKind),
    /// A REST action by a customer or a provider.
    Rest {
        /// Who, as the token says.
        actor: Actor<'a>,
        /// What.
        action: RestAction<'a>,
    },
}

/// What the step decided.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Step {
    /// The order after the step; `None` when nothing changed (a message for an untracked
    /// transaction, a late callback absorbed, a buyer-app `/update` kept for audit).
    pub order: Option<Order>,
    /// Messages to send, in order.
    pub commands: Vec<Command>,
    /// Notifications to raise, in order.
    pub notices: Vec<Notice>,
    /// Deadlines to keep.
    pub timers: Vec<Timer>,
}

/// Decides `input` against `order`. Pure: reads nothing but its arguments (fresh message ids
/// come from `inputs`), so the store may run it again on a write conflict.
pub fn step(order: Option<&Order>, input: &Input<'_>, inputs: &mut Inputs<'_>) -> Result<Step, Refusal> {
    let (old, outcome) = match (input, order) {
        // Messages for transactions the gateway does not track are kept for audit and ACKed.
        (Input::Network(_) | Input::Delivery(_) | Input::Timer(_), None) => return Ok(Step::default()),
        (Input::Timer(TimerKind::AwaitingSeller { request_id }), Some(order)) => {
            return Ok(seller_overdue(order, request_id));
        }
        (Input::Timer(TimerKind::CancelResponse { leg, message_id }), Some(order)) => {
            let event = Event::CancelDeadline {
                leg: *leg,
                message_id: message_id.clone(),
            };
            (order, transition(order, &event, inputs)?)
        }
        (Input::Timer(TimerKind::RequestExpiry { request_id }), Some(order)) => {
            match requests::expire(order, request_id, inputs.now) {
                Some(next) => (
                    order,
                    Outcome::Applied {
                        order: Box::new(next),
                        commands: vec![],
                    },
                ),
                None => return Ok(Step::default()),
            }
        }
        (Input::Rest { .. }, None) => return Err(Refusal::NotFound("no such order".into())),
        (Input::Network(message), Some(order)) => (order, network(order, message, inputs)?),
        (Input::Delivery(event), Some(order)) => (order, transition(order, event, inputs)?),
        (Input::Rest { actor, action }, Some(order)) => {
            (order, requests::decide(order, *actor, action, inputs)?)
        }
    };
    let door = match input {
        Input::Network(_) => Door::Network,
        Input::Rest { .. } => Door::Rest,
        Input::Delivery(_) | Input::Timer(_) => Door::Internal,
    };
    let (mut next, commands) = match outcome {
        Outcome::Absorbed => return Ok(Step::default()),
        Outcome::Applied { order, commands } => (*order, commands),
    };
    if let Input::Network(message) = input {
        // What we send on this order speaks from the city and country its messages came from.
        next.city = next.city.or_else(|| message.context.city.clone());
        next.country = next.country.or_else(|| message.context.country.clone());
        remember_buyer_app(&mut next, message.context, &commands);
    }
    let mut commands = commands;
    let seller_said = match input {
        Input::Network(Network {
            event: Ok(Event::RetailOnUpdate(cb)),
            ..
        }) => Some(&cb.message),
        _ => None,
    };
    commands.extend(buyer_callbacks(old, &mut next, seller_said, inputs));
    let mut notices = consequences(old, &mut next, door);
    if commands.iter().any(|c| matches!(c, Command::Status { .. })) {
        notices.extend(to_both(
            &next,
            NoticeKind::LspOverdue,
            format!(
                "the logistics provider has not answered our /cancel for order {} in time; /status sent",
                next.id
            ),
        ));
    }
    let mut timers = deadlines(old, &next, inputs);
    // Every /cancel we send must be answered in time: the buyer app's ttl_response, else ours.
    for command in &commands {
        if let Command::Cancel {
            leg,
            message_id,
            params,
            ..
        } = command
        {
            // The buyer app's ttl_response governs both legs of its cancellation.
            let buyers = next.cancellation.as_ref().and_then(|c| c.params.as_ref());
            let secs = params
                .as_ref()
                .or(buyers)
                .and_then(|p| duration_secs(&p.ttl_response))
                // At most a year, like every configured deadline.
                .map(|s| s.min(365 * 24 * 3600))
                .and_then(|s| i64::try_from(s).ok())
                .and_then(chrono::Duration::try_seconds)
                .unwrap_or(inputs.deadlines.cancel_response);
            timers.push(Timer {
                order_id: next.id.clone(),
                due_at: inputs.now + secs,
                kind: TimerKind::CancelResponse {
                    leg: *leg,
                    message_id: message_id.clone(),
                },
            });
        }
    }
    // A message that changes nothing (a status report of the state the order already has)
    // leaves the order as it is: nothing to write, `updated_at` included.
    if next == *old && commands.is_empty() && notices.is_empty() && timers.is_empty() {
        return Ok(Step::default());
    }
    next.updated_at = inputs.now;
    Ok(Step {
        order: Some(next),
        commands,
        notices,
        timers,
    })
}

/// A buyer app that sent `/cancel` or `/update` is the one the order reports to; its `/cancel`
/// awaits our `/on_cancel`, its `/update` the seller's `/on_update`.
fn remember_buyer_app(order: &mut Order, context: &Context, commands: &[Command]) {
    if context.action.is_callback() {
        return;
    }
    let buyer = order.buyer_app.get_or_insert_with(|| BuyerApp {
        subscriber_id: context.bap_id.clone(),
        uri: context.bap_uri.clone(),
        awaiting_cancels: vec![],
        forwarded_updates: vec![],
    });
    for command in commands {
        match command {
            Command::Cancel { leg: Leg::Retail, .. } if context.action == Action::Cancel => {
                buyer.awaiting_cancels.push(context.message_id.clone());
            }
            Command::ForwardUpdate { message_id, .. } => buyer
                .forwarded_updates
                .push((message_id.clone(), context.message_id.clone())),
            Command::Cancel { .. }
            | Command::UpdateStates { .. }
            | Command::ToBuyer { .. }
            | Command::Status { .. } => {}
        }
    }
}

/// What the buyer app hears of a change: the `/on_cancel` of the order once the retail leg is
/// cancelled, or the seller's refusal, or a timeout once even the forced `/cancel` went
/// unanswered (each the answer to one of its `/cancel`s, with its message_id); an `/on_status`
/// whenever the order's or a retail fulfillment's state changed once
/// a cancellation is under way (RTO states, the end).
fn buyer_callbacks(
    old: &Order,
    new: &mut Order,
    seller_said: Option<&serde_json::Value>,
    inputs: &mut Inputs<'_>,
) -> Vec<Command> {
    let Some(buyer) = &new.buyer_app else {
        return vec![];
    };
    let (to, uri) = (buyer.subscriber_id.clone(), buyer.uri.clone());
    let awaiting = buyer.awaiting_cancels.clone();
    let mut out = Vec::new();
    // Every /cancel of the buyer app's still waiting is answered once, with its own message_id;
    // with none waiting, an unsolicited /on_cancel tells it the order was cancelled.
    let answer = |error: Option<(String, String)>, new: &mut Order, inputs: &mut Inputs<'_>| {
        let ids = if awaiting.is_empty() {
            vec![(inputs.new_id)()]
        } else {
            awaiting.clone()
        };
        if let Some(b) = &mut new.buyer_app {
            b.awaiting_cancels.clear();
        }
        ids.into_iter()
            .map(|message_id| Command::ToBuyer {
                to: to.clone(),
                uri: uri.clone(),
                action: BuyerAction::OnCancel,
                message_id,
                error: error.clone(),
                relay: None,
            })
            .collect::<Vec<_>>()
    };
    let retail_cancelled =
        old.retail.status != LegStatus::Cancelled && new.retail.status == LegStatus::Cancelled;
    let refused = new
        .refusals
        .iter()
        .skip(old.refusals.len())
        .find(|r| r.leg == Leg::Retail)
        .map(|r| (r.code.clone(), r.message.clone()));
    if new.part_cancels.len() > old.part_cancels.len() {
        // The seller's part-cancellation, as it told it (items, Cancel fulfillment, quote).
        out.push(Command::ToBuyer {
            to: to.clone(),
            uri: uri.clone(),
            action: BuyerAction::OnUpdate,
            message_id: (inputs.new_id)(),
            error: None,
            relay: seller_said.cloned(),
        });
    }
    let unresolved_now = !matches!(old.retail.status, LegStatus::Unresolved { .. })
        && matches!(new.retail.status, LegStatus::Unresolved { .. });
    if retail_cancelled {
        out.extend(answer(None, new, inputs));
    } else if let Some(error) = refused.filter(|_| !awaiting.is_empty()) {
        out.extend(answer(Some(error), new, inputs));
    } else if unresolved_now && !awaiting.is_empty() {
        // The seller answered neither our /cancel nor the forced one: the buyer app's wait ends
        // with a timeout (BNP code 20009); a late answer still reaches it, unsolicited.
        let timeout = (
            "20009".to_owned(),
            "the seller answered neither the /cancel nor the forced /cancel in time; an IGM issue is due"
                .to_owned(),
        );
        out.extend(answer(Some(timeout), new, inputs));
    } else if new.cancellation.is_some()
        && (old.state != new.state
            || old.retail.fulfillments.iter().map(|f| (&f.id, f.state)).ne(new
                .retail
                .fulfillments
                .iter()
                .map(|f| (&f.id, f.state))))
    {
        out.push(Command::ToBuyer {
            to,
            uri,
            action: BuyerAction::OnStatus,
            message_id: (inputs.new_id)(),
            error: None,
            relay: None,
        });
    }
    out
}

/// The deadlines a change starts: a new request expires unless decided by `request_expiry`; a
/// provider's request accepted gives the seller until `awaiting_seller` to cancel on the network.
fn deadlines(old: &Order, new: &Order, inputs: &Inputs<'_>) -> Vec<Timer> {
    let mut timers = Vec::new();
    for r in &new.cancel_requests {
        let before = old
            .cancel_requests
            .iter()
            .find(|o| o.id == r.id)
            .map(|o| o.status);
        let kind = match (before, r.status) {
            (None, RequestStatus::Pending) => Some((
                inputs.deadlines.request_expiry,
                TimerKind::RequestExpiry {
                    request_id: r.id.clone(),
                },
            )),
            (Some(RequestStatus::Pending), RequestStatus::Accepted) if r.requested_by == Party::Seller => {
                Some((
                    inputs.deadlines.awaiting_seller,
                    TimerKind::AwaitingSeller {
                        request_id: r.id.clone(),
                    },
                ))
            }
            _ => None,
        };
        if let Some((after, kind)) = kind {
            timers.push(Timer {
                order_id: new.id.clone(),
                due_at: inputs.now + after,
                kind,
            });
        }
    }
    timers
}

/// The seller's deadline passed: both parties hear of it if the order still waits for the
/// seller's own `/on_cancel`; nothing changes.
fn seller_overdue(order: &Order, request_id: &str) -> Step {
    let still_waiting = order.status == OrderStatus::AwaitingSeller
        && order
            .cancel_requests
            .iter()
            .any(|r| r.id == request_id && r.status == RequestStatus::Accepted);
    if !still_waiting {
        return Step::default();
    }
    let notices = [&order.customer_id, &order.provider_id]
        .into_iter()
        .map(|user| Notice {
            user_id: user.clone(),
            kind: NoticeKind::SellerOverdue,
            request_id: Some(request_id.to_owned()),
            message: format!(
                "the seller has not cancelled order {} on the network although the customer agreed; the provider should send its /on_cancel",
                order.id
            ),
        })
        .collect();
    Step {
        notices,
        ..Step::default()
    }
}

/// The network rules: who may speak about the order, what it must name, and then the state
/// machine.
fn network(order: &Order, message: &Network<'_>, inputs: &mut Inputs<'_>) -> Result<Outcome, Refusal> {
    let context = message.context;
    // Only this order's seller (retail) or LSP (logistics) may speak about it on its leg.
    let counterpart = match (context.family, &order.logistics) {
        (DomainFamily::Logistics, Some(leg)) => Some(&leg.bpp_id),
        (DomainFamily::Logistics, None) => None,
        (DomainFamily::Retail, _) => Some(&order.retail.bpp_id),
    };
    if context.action.is_callback() && counterpart != Some(context.sender()) {
        return Err(Refusal::NotCounterpart(format!(
            "{} is not the counterpart of order {} on this leg",
            context.sender(),
            order.id
        )));
    }
    if let (false, Some(buyer)) = (context.action.is_callback(), &order.buyer_app)
        && buyer.subscriber_id != context.bap_id
    {
        return Err(Refusal::NotCounterpart(format!(
            "{} is not the buyer app of order {}",
            context.bap_id, order.id
        )));
    }
    if matches!(context.action, Action::Cancel | Action::Update) {
        if context.bpp_id != order.retail.bpp_id {
            return Err(Refusal::WrongContext {
                path: "$.context.bpp_id",
                message: format!("bpp_id must be the order's seller, {}", order.retail.bpp_id),
            });
        }
        if let Ok(Event::Cancel { reason, .. }) = message.event
            && context.action == Action::Cancel
            && !reasons::retail_allowed_for(reason, Party::Buyer)
        {
            return Err(Refusal::InvalidReason {
                path: Some("$.message.cancellation_reason_id"),
                message: format!("cancellation reason {:?} is not a buyer reason", excerpt(reason)),
            });
        }
    }
    let expected_order = match (context.family, &order.logistics) {
        (DomainFamily::Logistics, Some(leg)) => leg.order_id.as_str(),
        (DomainFamily::Retail, _) | (DomainFamily::Logistics, None) => order.id.as_str(),
    };
    if let Some(named) = message.order_ref
        && named != expected_order
    {
        return Err(Refusal::WrongOrder {
            path: if context.action == Action::Cancel {
                "$.message.order_id"
            } else {
                "$.message.order.id"
            },
            message: format!(
                "order {named} is not the order of transaction {}",
                context.transaction_id
            ),
        });
    }
    let event = message.event.as_ref().map_err(|e| Refusal::Unreadable {
        path: e.path.clone(),
        message: e.message.clone(),
    })?;
    transition(order, event, inputs)
}

/// The order's lifecycle as the REST API shows it, derived from the order alone: cancelled as
/// soon as a cancellation is decided (the legs may still be winding down), requested while a
/// request is pending.
pub fn status_of(order: &Order) -> OrderStatus {
    match order.state {
        OrderState::Cancelled => OrderStatus::Cancelled,
        OrderState::Completed => OrderStatus::Completed,
        OrderState::Created | OrderState::Accepted | OrderState::InProgress => {
            let requests = |status: RequestStatus, by: Option<Party>| {
                order
                    .cancel_requests
                    .iter()
                    .any(|r| r.status == status && by.is_none_or(|p| p == r.requested_by))
            };
            // A cancellation whose retail leg was refused did not happen.
            if order.cancellation.is_some() && order.retail.status != LegStatus::Active {
                OrderStatus::Cancelled
            } else if requests(RequestStatus::Pending, None) {
                OrderStatus::CancellationRequested
            } else if requests(RequestStatus::Accepted, Some(Party::Seller)) && order.cancellation.is_none() {
                OrderStatus::AwaitingSeller
            } else {
                OrderStatus::Active
            }
        }
    }
}

/// What follows from `old` becoming `new`, whatever caused it: the status, requests overtaken
/// by a network cancellation, the escrow (returned once, when the order is cancelled), and the
/// notices. The only place any of these is set.
/// Where an input came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Door {
    /// A Beckn message.
    Network,
    /// A customer's or provider's REST action.
    Rest,
    /// The outbox or a timer.
    Internal,
}

fn consequences(old: &Order, new: &mut Order, door: Door) -> Vec<Notice> {
    let mut notices = Vec::new();
    let cancelled_now = status_of(new) == OrderStatus::Cancelled && old.status != OrderStatus::Cancelled;
    let by_network = cancelled_now && door == Door::Network;
    let who = new
        .cancellation
        .as_ref()
        .map_or("the network".to_owned(), |c| c.initiated_by.clone());
    if by_network {
        // A pending request is overtaken by the network's cancellation.
        for r in new
            .cancel_requests
            .iter_mut()
            .filter(|r| r.status == RequestStatus::Pending)
        {
            r.status = RequestStatus::Rejected;
            r.decided_by = Some(who.clone());
        }
    }
    // A part-cancellation gives back what it takes off the order, at once and once.
    for i in old.part_cancels.len()..new.part_cancels.len() {
        let part = &new.part_cancels[i];
        let e = &new.escrow;
        let back = Money {
            currency: e.currency.clone(),
            minor: part.amount.minor.min(e.held - e.refunded - e.charged).max(0),
        };
        let items: Vec<String> = part.items.iter().map(|(id, n)| format!("{id} ×{n}")).collect();
        let message = format!(
            "the seller cancelled part of order {} (reason {}: {}); {} {} refunded, the rest goes on",
            new.id,
            part.reason,
            items.join(", "),
            back.value(),
            back.currency
        );
        new.escrow.refunded += back.minor;
        notices.extend(to_both(new, NoticeKind::PartCancelled, message));
    }
    new.status = status_of(new);
    // The escrow is returned once the seller has confirmed the cancellation (a seller may still
    // refuse a /cancel), or at once when the other party accepts a REST request, as the REST
    // contract says.
    if new.status == OrderStatus::Cancelled
        && (new.retail.status == LegStatus::Cancelled || door == Door::Rest)
    {
        settle_escrow(new);
    }

    for r in &new.cancel_requests {
        let before = old
            .cancel_requests
            .iter()
            .find(|o| o.id == r.id)
            .map(|o| o.status);
        let other = match r.requested_by {
            Party::Buyer => new.provider_id.clone(),
            Party::Seller | Party::Lsp => new.customer_id.clone(),
        };
        let notice = match (before, r.status) {
            (None, RequestStatus::Pending) => Notice {
                user_id: other,
                kind: NoticeKind::CancellationRequested,
                request_id: Some(r.id.clone()),
                message: format!(
                    "{} asked to cancel order {} (reason {})",
                    r.requester_id, new.id, r.reason_code
                ),
            },
            (Some(RequestStatus::Pending), RequestStatus::Accepted) if r.requested_by == Party::Seller => {
                Notice {
                    user_id: r.requester_id.clone(),
                    kind: NoticeKind::CancellationAccepted,
                    request_id: Some(r.id.clone()),
                    message: format!(
                        "the customer agreed to cancel order {}; cancel it on the network with the seller's /on_cancel (reason {})",
                        new.id, r.reason_code
                    ),
                }
            }
            (Some(RequestStatus::Pending), RequestStatus::Accepted) => {
                let refund = Money {
                    currency: new.escrow.currency.clone(),
                    minor: new.escrow.refunded,
                };
                Notice {
                    user_id: r.requester_id.clone(),
                    kind: NoticeKind::CancellationAccepted,
                    request_id: Some(r.id.clone()),
                    message: format!(
                        "your request to cancel order {} was accepted; {} {} refunded",
                        new.id,
                        refund.value(),
                        refund.currency
                    ),
                }
            }
            // Overtaken by the network: the cancellation notice below says what happened.
            (Some(RequestStatus::Pending), RequestStatus::Rejected) if by_network => continue,
            (Some(RequestStatus::Pending), RequestStatus::Rejected) => Notice {
                user_id: r.requester_id.clone(),
                kind: NoticeKind::CancellationRejected,
                request_id: Some(r.id.clone()),
                message: format!("your request to cancel order {} was rejected", new.id),
            },
            (Some(RequestStatus::Pending), RequestStatus::Withdrawn) => Notice {
                user_id: other,
                kind: NoticeKind::CancellationWithdrawn,
                request_id: Some(r.id.clone()),
                message: format!(
                    "{} withdrew the request to cancel order {}",
                    r.requester_id, new.id
                ),
            },
            (Some(RequestStatus::Pending), RequestStatus::Expired) => {
                for user in [r.requester_id.clone(), other] {
                    notices.push(Notice {
                        user_id: user,
                        kind: NoticeKind::CancellationExpired,
                        request_id: Some(r.id.clone()),
                        message: format!(
                            "the request to cancel order {} expired undecided; the order is as it was",
                            new.id
                        ),
                    });
                }
                continue;
            }
            _ => continue,
        };
        notices.push(notice);
    }

    if by_network {
        notices.extend(to_both(
            new,
            NoticeKind::OrderCancelled,
            format!("order {} was cancelled by {who}", new.id),
        ));
    }
    for r in new.refusals.iter().skip(old.refusals.len()) {
        let who = match r.leg {
            Leg::Retail => "the seller",
            Leg::Logistics => "the logistics provider",
        };
        let stays = if r.leg == Leg::Retail && new.retail.status == LegStatus::Active {
            "; the order stays live"
        } else {
            ""
        };
        notices.extend(to_both(
            new,
            NoticeKind::CancellationRefused,
            format!(
                "{who} ({}) refused to cancel order {} ({}: {}){stays}",
                r.by, new.id, r.code, r.message
            ),
        ));
    }
    if !matches!(old.retail.status, LegStatus::Unresolved { .. })
        && matches!(new.retail.status, LegStatus::Unresolved { .. })
    {
        notices.extend(to_both(new, NoticeKind::CancellationUnresolved, format!(
                    "the seller answered neither our /cancel nor the forced one for order {}; the platform should raise an IGM issue",
                    new.id
                )));
    }
    for f in new.failed_messages.iter().skip(old.failed_messages.len()) {
        notices.extend(to_both(
            new,
            NoticeKind::MessageFailed,
            format!(
                "/{} {} for order {} could not be delivered ({}); the platform may re-send it",
                f.action, f.message_id, new.id, f.reason
            ),
        ));
    }
    if old.state != OrderState::Cancelled && new.state == OrderState::Cancelled {
        let mut users: Vec<String> = new
            .cancel_requests
            .iter()
            .filter(|r| r.status == RequestStatus::Accepted)
            .map(|r| r.requester_id.clone())
            .collect();
        if users.is_empty() {
            users = vec![new.customer_id.clone(), new.provider_id.clone()];
        }
        for user in users {
            notices.push(Notice {
                user_id: user,
                kind: NoticeKind::CancellationCompleted,
                request_id: None,
                message: format!("the cancellation of order {} is complete", new.id),
            });
        }
    }
    notices
}

/// The same notice to the order's customer and provider.
fn to_both(order: &Order, kind: NoticeKind, message: String) -> [Notice; 2] {
    [&order.customer_id, &order.provider_id].map(|user| Notice {
        user_id: user.clone(),
        kind,
        request_id: None,
        message: message.clone(),
    })
}

/// Returns the escrow once: the held amount less what the customer owes. The customer owes the
/// LSP's charges known so far when the cancellation's reason is attributed to the buyer side;
/// otherwise nothing. Does nothing if the escrow was already settled.
fn settle_escrow(order: &mut Order) {
    if order.cancellation.is_none() || order.escrow.settled {
        return;
    }
    let owed = charges::owed_by_buyer(order);
    let e = &mut order.escrow;
    // What part-cancellations gave back already stays given back.
    let left = (e.held - e.refunded - e.charged).max(0);
    let charged = owed.clamp(0, left);
    e.charged += charged;
    e.refunded += left - charged;
    e.settled = true;
}
