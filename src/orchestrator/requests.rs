//! Customer and provider cancellation requests (REST), as pure functions over the order.
//!
//! A request moves the order to `CANCELLATION_REQUESTED` and remembers the status before; only
//! the other party may decide it, once. Reject restores the status. Accept cancels the order:
//! the escrow is settled (refund minus charges the customer owes), the requester is notified, and
//! the same cancellation event as a network `/cancel` starts the cascade.

use super::machine::{Inputs, Outcome, transition};
use super::model::{CancelRequest, Command, Event, Order, OrderStatus, RequestStatus};
use super::reasons::{self, Party};
use super::states::OrderState;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Who is calling, as the REST token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor<'a> {
    /// The order's customer (or someone claiming to be).
    Customer(&'a str),
    /// The order's provider (or someone claiming to be).
    Provider(&'a str),
    /// The platform.
    Platform,
}

/// Why a request or decision is refused; each maps to an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// 403.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 422.
    #[error("{0}")]
    Unprocessable(String),
}

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

/// The result of a request operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// The order after it.
    pub order: Order,
    /// Messages to send on the network.
    pub commands: Vec<Command>,
    /// Notifications.
    pub notices: Vec<Notice>,
}

fn party_of(order: &Order, actor: Actor<'_>) -> Result<(Party, String), RequestError> {
    match actor {
        Actor::Customer(id) if id == order.customer_id => Ok((Party::Buyer, id.to_owned())),
        Actor::Provider(id) if id == order.provider_id => Ok((Party::Seller, id.to_owned())),
        Actor::Customer(_) | Actor::Provider(_) => Err(RequestError::Forbidden(format!(
            "only the customer or the provider of order {} may do this",
            order.id
        ))),
        Actor::Platform => Err(RequestError::Forbidden(
            "the platform cannot request or decide a cancellation".into(),
        )),
    }
}

fn other_party(order: &Order, party: Party) -> String {
    match party {
        Party::Buyer => order.provider_id.clone(),
        Party::Seller | Party::Lsp => order.customer_id.clone(),
    }
}

/// `POST /orders/{id}/cancel`.
pub fn request(
    order: &Order,
    actor: Actor<'_>,
    reason_code: &str,
    fulfillment_id: Option<&str>,
    note: Option<&str>,
    request_id: &str,
    now: DateTime<Utc>,
) -> Result<Decided, RequestError> {
    let (party, requester) = party_of(order, actor)?;
    match order.status {
        OrderStatus::Active => {}
        OrderStatus::CancellationRequested => {
            return Err(RequestError::Conflict(format!(
                "order {} already has a pending cancellation request",
                order.id
            )));
        }
        OrderStatus::Cancelled | OrderStatus::Completed => {
            return Err(RequestError::Conflict(format!(
                "order {} is {:?} and can no longer be cancelled",
                order.id, order.status
            )));
        }
    }
    if order.state.is_terminal() {
        return Err(RequestError::Conflict(format!(
            "order {} is {} and can no longer be cancelled",
            order.id,
            order.state.as_str()
        )));
    }
    if !reasons::retail_allowed_for(reason_code, party) {
        let role = if party == Party::Buyer {
            "customer"
        } else {
            "provider"
        };
        return Err(RequestError::Unprocessable(format!(
            "reason code {reason_code:?} is not one a {role} may use"
        )));
    }
    if let Some(f) = fulfillment_id
        && !order.retail.fulfillments.iter().any(|x| x.id == f)
    {
        return Err(RequestError::Unprocessable(format!(
            "fulfillment {f} is not part of order {}",
            order.id
        )));
    }
    if note.is_some_and(|n| n.len() > 1000) {
        return Err(RequestError::Unprocessable(
            "note must be at most 1000 bytes".into(),
        ));
    }
    let mut next = order.clone();
    next.cancel_requests.push(CancelRequest {
        id: request_id.to_owned(),
        requested_by: party,
        requester_id: requester.clone(),
        reason_code: reason_code.to_owned(),
        fulfillment_id: fulfillment_id.map(str::to_owned),
        note: note.map(str::to_owned),
        status: RequestStatus::Pending,
        status_before: order.status,
        created_at: now,
        decided_by: None,
        decided_at: None,
    });
    next.status = OrderStatus::CancellationRequested;
    next.updated_at = now;
    let notices = vec![Notice {
        user_id: other_party(order, party),
        kind: NoticeKind::CancellationRequested,
        request_id: Some(request_id.to_owned()),
        message: format!(
            "{requester} asked to cancel order {} (reason {reason_code})",
            order.id
        ),
    }];
    Ok(Decided {
        order: next,
        commands: vec![],
        notices,
    })
}

fn pending<'o>(
    order: &'o Order,
    request_id: &str,
    actor: Actor<'_>,
) -> Result<(usize, &'o CancelRequest, String), RequestError> {
    let (party, decider) = party_of(order, actor)?;
    let index = order
        .cancel_requests
        .iter()
        .position(|r| r.id == request_id)
        .ok_or_else(|| {
            RequestError::NotFound(format!(
                "no cancellation request {request_id} on order {}",
                order.id
            ))
        })?;
    let req = &order.cancel_requests[index];
    if req.requested_by == party {
        return Err(RequestError::Forbidden(
            "only the other party may accept or reject this request".into(),
        ));
    }
    match req.status {
        RequestStatus::Pending => Ok((index, req, decider)),
        RequestStatus::Accepted | RequestStatus::Rejected => Err(RequestError::Conflict(
            format!("request {request_id} was already {:?}", req.status).to_lowercase(),
        )),
    }
}

/// `PATCH …/{cancel_id}/accept`.
pub fn accept(
    order: &Order,
    actor: Actor<'_>,
    request_id: &str,
    inputs: &mut Inputs<'_>,
) -> Result<Decided, RequestError> {
    let (index, req, decider) = pending(order, request_id, actor)?;
    let req = req.clone();
    if order.status != OrderStatus::CancellationRequested || order.state.is_terminal() {
        return Err(RequestError::Conflict(format!(
            "order {} was cancelled meanwhile",
            order.id
        )));
    }
    let event = Event::Cancel {
        by: req.requested_by,
        initiated_by: req.requester_id.clone(),
        reason: req.reason_code.clone(),
        fulfillment_id: req.fulfillment_id.clone(),
    };
    let (mut next, commands) = match transition(order, &event, inputs) {
        Ok(Outcome::Applied { order, commands }) => (*order, commands),
        Ok(Outcome::Absorbed) => (order.clone(), vec![]),
        // The network side cancelled first: the request can no longer be honoured as such.
        Err(refusal) => return Err(RequestError::Conflict(refusal.to_string())),
    };
    let r = &mut next.cancel_requests[index];
    r.status = RequestStatus::Accepted;
    r.decided_by = Some(decider);
    r.decided_at = Some(inputs.now);
    next.status = OrderStatus::Cancelled;
    settle_escrow(&mut next);
    next.updated_at = inputs.now;
    let refund = super::model::Money {
        currency: next.escrow.currency.clone(),
        minor: next.escrow.refunded,
    };
    let notices = vec![Notice {
        user_id: req.requester_id.clone(),
        kind: NoticeKind::CancellationAccepted,
        request_id: Some(req.id.clone()),
        message: format!(
            "your request to cancel order {} was accepted; {} {} refunded",
            order.id,
            refund.value(),
            refund.currency
        ),
    }];
    Ok(Decided {
        order: next,
        commands,
        notices,
    })
}

/// `PATCH …/{cancel_id}/reject`.
pub fn reject(
    order: &Order,
    actor: Actor<'_>,
    request_id: &str,
    now: DateTime<Utc>,
) -> Result<Decided, RequestError> {
    let (index, req, decider) = pending(order, request_id, actor)?;
    let req = req.clone();
    let mut next = order.clone();
    let r = &mut next.cancel_requests[index];
    r.status = RequestStatus::Rejected;
    r.decided_by = Some(decider);
    r.decided_at = Some(now);
    // Restore exactly what the order was before the request, unless the network cancelled it
    // meanwhile (then it stays cancelled).
    if next.status == OrderStatus::CancellationRequested {
        next.status = req.status_before;
    }
    next.updated_at = now;
    let notices = vec![Notice {
        user_id: req.requester_id.clone(),
        kind: NoticeKind::CancellationRejected,
        request_id: Some(req.id.clone()),
        message: format!("your request to cancel order {} was rejected", order.id),
    }];
    Ok(Decided {
        order: next,
        commands: vec![],
        notices,
    })
}

/// Returns the escrow once: the held amount less what the customer owes. The customer owes the
/// LSP's charges known so far when the cancellation's reason is attributed to the buyer side;
/// otherwise nothing. Does nothing if the escrow was already settled.
pub fn settle_escrow(order: &mut Order) {
    let Some(c) = &order.cancellation else { return };
    let e = &mut order.escrow;
    if e.refunded != 0 || e.charged != 0 {
        return;
    }
    let owed = match reasons::cost_to(&c.reason_code, c.initiator) {
        Some(Party::Buyer) => order
            .logistics
            .as_ref()
            .and_then(|l| l.charges.as_ref())
            .map_or(0, |m| m.minor),
        Some(Party::Seller | Party::Lsp) | None => 0,
    };
    e.charged = owed.min(e.held);
    e.refunded = e.held - e.charged;
}

/// Notices and escrow settlement that follow a network-side change from `old` to `new`: both
/// parties hear of a cancellation they did not request, requesters hear when it completes, and
/// the escrow is returned when the order is cancelled on the network.
pub fn after_network_change(old: &Order, new: &mut Order) -> Vec<Notice> {
    let mut notices = Vec::new();
    let via_rest = new
        .cancel_requests
        .iter()
        .any(|r| r.status == RequestStatus::Accepted);
    if old.status != OrderStatus::Cancelled && new.status == OrderStatus::Cancelled && !via_rest {
        let who = new
            .cancellation
            .as_ref()
            .map_or("the network".to_owned(), |c| c.initiated_by.clone());
        for user in [&new.customer_id, &new.provider_id] {
            notices.push(Notice {
                user_id: user.clone(),
                kind: NoticeKind::OrderCancelled,
                request_id: None,
                message: format!("order {} was cancelled by {who}", new.id),
            });
        }
        // A pending request is overtaken by the network's cancellation.
        for r in new
            .cancel_requests
            .iter_mut()
            .filter(|r| r.status == RequestStatus::Pending)
        {
            r.status = RequestStatus::Rejected;
            r.decided_by = Some(who.clone());
        }
        settle_escrow(new);
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
        settle_escrow(new);
    }
    notices
}
