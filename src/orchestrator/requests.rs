//! Customer and provider cancellation requests (REST): the arms of the decision step for
//! [`RestAction`]s.
//!
//! A request is pending until the other party decides it, once. Reject leaves the order as it
//! was before. Accept cancels the order with the same [`Event::Cancel`] a network `/cancel`
//! becomes, so the cascade is the state machine's. The status, the escrow and the notices that
//! follow are derived afterwards by the step, in one place.

use super::machine::{Inputs, Outcome, transition};
use super::model::{CancelRequest, Event, Order, OrderStatus, RequestStatus};
use super::reasons::{self, Party};
use super::refusal::Refusal;
use chrono::{DateTime, Utc};

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

/// A REST action on an order's cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestAction<'a> {
    /// `POST /orders/{id}/cancel`.
    Request {
        /// The new request's id.
        request_id: &'a str,
        /// Retail reason code.
        reason_code: &'a str,
        /// A single fulfillment, when named.
        fulfillment_id: Option<&'a str>,
        /// Free text for the other party.
        note: Option<&'a str>,
    },
    /// `PATCH …/{cancel_id}/accept`.
    Accept {
        /// The request.
        request_id: &'a str,
    },
    /// `PATCH …/{cancel_id}/reject`.
    Reject {
        /// The request.
        request_id: &'a str,
    },
    /// `DELETE …/{cancel_id}` (or `PATCH …/withdraw`): the requester takes it back.
    Withdraw {
        /// The request.
        request_id: &'a str,
    },
}

/// The REST arm of the step.
pub(super) fn decide(
    order: &Order,
    actor: Actor<'_>,
    action: &RestAction<'_>,
    inputs: &mut Inputs<'_>,
) -> Result<Outcome, Refusal> {
    let next = match *action {
        RestAction::Request {
            request_id,
            reason_code,
            fulfillment_id,
            note,
        } => request(
            order,
            actor,
            request_id,
            reason_code,
            fulfillment_id,
            note,
            inputs.now,
        )?,
        RestAction::Accept { request_id } => return accept(order, actor, request_id, inputs),
        RestAction::Reject { request_id } => reject(order, actor, request_id, inputs.now)?,
        RestAction::Withdraw { request_id } => withdraw(order, actor, request_id, inputs.now)?,
    };
    Ok(Outcome::Applied {
        order: Box::new(next),
        commands: vec![],
    })
}

fn party_of(order: &Order, actor: Actor<'_>) -> Result<(Party, String), Refusal> {
    match actor {
        Actor::Customer(id) if id == order.customer_id => Ok((Party::Buyer, id.to_owned())),
        Actor::Provider(id) if id == order.provider_id => Ok((Party::Seller, id.to_owned())),
        Actor::Customer(_) | Actor::Provider(_) => Err(Refusal::Forbidden(format!(
            "only the customer or the provider of order {} may do this",
            order.id
        ))),
        Actor::Platform => Err(Refusal::Forbidden(
            "the platform cannot request or decide a cancellation".into(),
        )),
    }
}

fn request(
    order: &Order,
    actor: Actor<'_>,
    request_id: &str,
    reason_code: &str,
    fulfillment_id: Option<&str>,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Order, Refusal> {
    let (party, requester) = party_of(order, actor)?;
    match order.status {
        OrderStatus::Active => {}
        OrderStatus::CancellationRequested | OrderStatus::AwaitingSeller => {
            return Err(Refusal::Conflict(format!(
                "order {} already has a pending cancellation request",
                order.id
            )));
        }
        OrderStatus::Cancelled | OrderStatus::Completed => {
            return Err(Refusal::Conflict(format!(
                "order {} is {:?} and can no longer be cancelled",
                order.id, order.status
            )));
        }
    }
    if order.state.is_terminal() {
        return Err(Refusal::Conflict(format!(
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
        return Err(Refusal::InvalidReason {
            path: None,
            message: format!("reason code {reason_code:?} is not one a {role} may use"),
        });
    }
    if let Some(f) = fulfillment_id
        && !order.retail.fulfillments.iter().any(|x| x.id == f)
    {
        return Err(Refusal::Unprocessable(format!(
            "fulfillment {f} is not part of order {}",
            order.id
        )));
    }
    if note.is_some_and(|n| n.len() > 1000) {
        return Err(Refusal::Unprocessable("note must be at most 1000 bytes".into()));
    }
    let mut next = order.clone();
    next.cancel_requests.push(CancelRequest {
        id: request_id.to_owned(),
        requested_by: party,
        requester_id: requester,
        reason_code: reason_code.to_owned(),
        fulfillment_id: fulfillment_id.map(str::to_owned),
        note: note.map(str::to_owned),
        status: RequestStatus::Pending,
        created_at: now,
        decided_by: None,
        decided_at: None,
    });
    Ok(next)
}

/// Who may act on a pending request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Who {
    /// The other party: accept or reject.
    Other,
    /// The requester: withdraw.
    Requester,
}

/// The pending request `request_id`, which only `who` may act on.
fn pending(order: &Order, request_id: &str, actor: Actor<'_>, who: Who) -> Result<(usize, String), Refusal> {
    let (party, decider) = party_of(order, actor)?;
    let index = order
        .cancel_requests
        .iter()
        .position(|r| r.id == request_id)
        .ok_or_else(|| {
            Refusal::NotFound(format!(
                "no cancellation request {request_id} on order {}",
                order.id
            ))
        })?;
    let req = &order.cancel_requests[index];
    match who {
        Who::Other if req.requested_by == party => {
            return Err(Refusal::Forbidden(
                "only the other party may accept or reject this request".into(),
            ));
        }
        Who::Requester if req.requested_by != party => {
            return Err(Refusal::Forbidden(
                "only the requester may withdraw this request".into(),
            ));
        }
        Who::Other | Who::Requester => {}
    }
    match req.status {
        RequestStatus::Pending => Ok((index, decider)),
        RequestStatus::Accepted
        | RequestStatus::Rejected
        | RequestStatus::Withdrawn
        | RequestStatus::Expired => Err(Refusal::Conflict(format!(
            "request {request_id} was already {}",
            req.status.as_str()
        ))),
    }
}

fn withdraw(order: &Order, actor: Actor<'_>, request_id: &str, now: DateTime<Utc>) -> Result<Order, Refusal> {
    let (index, requester) = pending(order, request_id, actor, Who::Requester)?;
    let mut next = order.clone();
    let r = &mut next.cancel_requests[index];
    r.status = RequestStatus::Withdrawn;
    r.decided_by = Some(requester);
    r.decided_at = Some(now);
    Ok(next)
}

/// A pending request nobody decided in time expires; anything else is left alone.
pub(super) fn expire(order: &Order, request_id: &str, now: DateTime<Utc>) -> Option<Order> {
    let index = order
        .cancel_requests
        .iter()
        .position(|r| r.id == request_id && r.status == RequestStatus::Pending)?;
    let mut next = order.clone();
    let r = &mut next.cancel_requests[index];
    r.status = RequestStatus::Expired;
    r.decided_by = Some("expiry".into());
    r.decided_at = Some(now);
    Some(next)
}

fn accept(
    order: &Order,
    actor: Actor<'_>,
    request_id: &str,
    inputs: &mut Inputs<'_>,
) -> Result<Outcome, Refusal> {
    let (index, decider) = pending(order, request_id, actor, Who::Other)?;
    let req = &order.cancel_requests[index];
    if order.status != OrderStatus::CancellationRequested || order.state.is_terminal() {
        return Err(Refusal::Conflict(format!(
            "order {} was cancelled meanwhile",
            order.id
        )));
    }
    if req.requested_by == Party::Seller {
        // A seller cancels on the network with its own unsolicited /on_cancel and a seller
        // reason; the buyer side sending /cancel with a seller code would be refused (buyer
        // codes only). So the provider is told the customer agreed, and the seller's /on_cancel
        // starts the cascade when it comes.
        let mut next = order.clone();
        let r = &mut next.cancel_requests[index];
        r.status = RequestStatus::Accepted;
        r.decided_by = Some(decider);
        r.decided_at = Some(inputs.now);
        return Ok(Outcome::Applied {
            order: Box::new(next),
            commands: vec![],
        });
    }
    let event = Event::Cancel {
        by: req.requested_by,
        initiated_by: req.requester_id.clone(),
        reason: req.reason_code.clone(),
        fulfillment_id: req.fulfillment_id.clone(),
        force: false,
        ttl_response: None,
    };
    let (mut next, commands) = match transition(order, &event, inputs) {
        Ok(Outcome::Applied { order, commands }) => (*order, commands),
        Ok(Outcome::Absorbed) => (order.clone(), vec![]),
        // The network side cancelled first: the request can no longer be honoured as such.
        Err(refusal) => return Err(Refusal::Conflict(refusal.to_string())),
    };
    let r = &mut next.cancel_requests[index];
    r.status = RequestStatus::Accepted;
    r.decided_by = Some(decider);
    r.decided_at = Some(inputs.now);
    Ok(Outcome::Applied {
        order: Box::new(next),
        commands,
    })
}

fn reject(order: &Order, actor: Actor<'_>, request_id: &str, now: DateTime<Utc>) -> Result<Order, Refusal> {
    let (index, decider) = pending(order, request_id, actor, Who::Other)?;
    let mut next = order.clone();
    let r = &mut next.cancel_requests[index];
    r.status = RequestStatus::Rejected;
    r.decided_by = Some(decider);
    r.decided_at = Some(now);
    Ok(next)
}
