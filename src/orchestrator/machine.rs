//! The cancellation state machine: one pure function from (order, event) to (order, commands).
//!
//! Every event is decided in the one `match` of [`transition`]; the per-leg statuses are matched
//! without wildcard arms, so a new status does not compile until each event has decided what to
//! do with it. Callbacks that arrive after the order is terminal are absorbed on purpose: peers
//! retry and reorder, and a late echo is not an error.
//!
//! Whoever cancels first, the other live legs are cancelled with the reason carried along; once
//! every leg is cancelled and no RTO is under way, the SNP is told the final fulfillment states
//! (and any charges it owes) with `/update`, and its `/on_update` makes the order terminal. An
//! order without a logistics leg has nothing to relay and ends when the SNP confirms.

use super::charges;
use super::model::{
    BuyerAction, Callback, CancelParams, Cancellation, Command, Deadlines, Event, FailedMessage, Fulfillment,
    FulfillmentReport, Leg, LegRefusal, LegStatus, Order, PartCancel, RefusedHow, StateReport,
};
use super::reasons::{self, Party};
use super::refusal::Refusal;
use super::states::{FulfillmentState, OrderState};
use crate::protocol::{MessageId, SubscriberId};
use chrono::{DateTime, Utc};

/// What the machine decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The order changed; send these messages.
    Applied {
        /// The new order.
        order: Box<Order>,
        /// Messages to send, in order.
        commands: Vec<Command>,
    },
    /// Nothing to do: a late or repeated callback after the order (or the leg) was settled.
    Absorbed,
}

/// What the machine needs besides the order and the event.
pub struct Inputs<'a> {
    /// Now.
    pub now: DateTime<Utc>,
    /// Our subscriber id (`initiated_by` when we cancel on the buyer side's behalf).
    pub our_id: &'a SubscriberId,
    /// Source of fresh message ids for commands.
    pub new_id: &'a mut dyn FnMut() -> MessageId,
    /// How long to wait for others.
    pub deadlines: Deadlines,
}

/// The transition function.
pub fn transition(order: &Order, event: &Event, inputs: &mut Inputs<'_>) -> Result<Outcome, Refusal> {
    if order.state.is_terminal() {
        return match event {
            Event::Cancel { .. } => Err(Refusal::InvalidOrderState(format!(
                "order {} is already {}",
                order.id,
                order.state.as_str()
            ))),
            // Late and duplicate callbacks after the end are absorbed on purpose.
            Event::RetailOnCancel(_)
            | Event::RetailOnUpdate(_)
            | Event::RetailStatus(_)
            | Event::LogisticsOnCancel(_)
            | Event::LogisticsStatus(_)
            | Event::CallbackError { .. }
            | Event::CancelDeadline { .. }
            | Event::BuyerUpdate { .. } => Ok(Outcome::Absorbed),
            // A message we gave up on is still shown on the order, even a finished one.
            Event::DeliveryFailed { .. } => {
                let mut next = order.clone();
                record_failure(&mut next, event, inputs.now);
                Ok(Outcome::Applied {
                    order: Box::new(next),
                    commands: vec![],
                })
            }
        };
    }
    let mut next = order.clone();
    let mut commands = Vec::new();
    match event {
        Event::Cancel {
            by,
            initiated_by,
            reason,
            fulfillment_id,
            force,
            ttl_response,
        } => {
            let params = (*force || ttl_response.is_some()).then(|| CancelParams {
                force: *force,
                ttl_response: ttl_response
                    .clone()
                    .unwrap_or_else(|| iso_secs(inputs.deadlines.cancel_response)),
            });
            match &order.retail.status {
                LegStatus::Active => {}
                // The buyer app forces a cancellation the seller has not answered (flow 005).
                LegStatus::Cancelling { forced: false, .. } | LegStatus::Unresolved { .. } if *force => {
                    let message_id = (inputs.new_id)();
                    let fulfillment = order.cancellation.as_ref().and_then(|c| c.fulfillment_id.clone());
                    commands.push(Command::Cancel {
                        leg: Leg::Retail,
                        message_id: message_id.clone(),
                        reason: reason.clone(),
                        initiated_by: inputs.our_id.to_string(),
                        fulfillment_id: fulfillment.or_else(|| linked_fulfillment(order)),
                        params,
                    });
                    next.retail.status = LegStatus::Cancelling {
                        message_id,
                        forced: true,
                    };
                    return finish(order, next, commands, inputs);
                }
                LegStatus::Cancelling { .. } | LegStatus::Unresolved { .. } | LegStatus::Cancelled => {
                    return Err(Refusal::InvalidOrderState(format!(
                        "order {} is already being cancelled",
                        order.id
                    )));
                }
            }
            check_cancellable(order, fulfillment_id.as_deref())?;
            let fulfillment = fulfillment_id.clone().or_else(|| linked_fulfillment(order));
            let message_id = (inputs.new_id)();
            commands.push(Command::Cancel {
                leg: Leg::Retail,
                message_id: message_id.clone(),
                reason: reason.clone(),
                initiated_by: inputs.our_id.to_string(),
                fulfillment_id: fulfillment.clone(),
                params: params.clone(),
            });
            next.retail.status = LegStatus::Cancelling {
                message_id,
                forced: *force,
            };
            let logistics_reason = cascade_to_logistics(
                &mut next,
                reason,
                *by,
                &inputs.our_id.to_string(),
                inputs,
                &mut commands,
            );
            next.cancellation = Some(Cancellation {
                initiator: *by,
                initiated_by: initiated_by.clone(),
                reason_code: reason.clone(),
                retail_reason: reason.clone(),
                logistics_reason,
                at: inputs.now,
                fulfillment_id: fulfillment,
                params,
                claims: vec![],
            });
        }
        Event::BuyerUpdate { message, .. } => {
            // Forwarded under our name; the step records which of the buyer's messages it carries.
            commands.push(Command::ForwardUpdate {
                message_id: (inputs.new_id)(),
                message: message.clone(),
            });
        }
        Event::CancelDeadline { leg, message_id } => {
            let status = match leg {
                Leg::Retail => Some(&order.retail.status),
                Leg::Logistics => order.logistics.as_ref().map(|l| &l.status),
            };
            match (leg, status) {
                // The seller did not answer: cancel again with force = yes and reason 052, the
                // same fulfillment (ONDC flow 005).
                (
                    Leg::Retail,
                    Some(LegStatus::Cancelling {
                        message_id: m,
                        forced: false,
                    }),
                ) if m == message_id => {
                    let id = (inputs.new_id)();
                    let c = order.cancellation.as_ref();
                    let ttl = c
                        .and_then(|c| c.params.as_ref())
                        .map(|p| p.ttl_response.clone())
                        .unwrap_or_else(|| iso_secs(inputs.deadlines.cancel_response));
                    commands.push(Command::Cancel {
                        leg: Leg::Retail,
                        message_id: id.clone(),
                        reason: "052".into(),
                        initiated_by: inputs.our_id.to_string(),
                        fulfillment_id: c
                            .and_then(|c| c.fulfillment_id.clone())
                            .or_else(|| linked_fulfillment(order)),
                        params: Some(CancelParams {
                            force: true,
                            ttl_response: ttl,
                        }),
                    });
                    next.retail.status = LegStatus::Cancelling {
                        message_id: id,
                        forced: true,
                    };
                }
                // Not even the forced one: the platform raises an IGM issue.
                (
                    Leg::Retail,
                    Some(LegStatus::Cancelling {
                        message_id: m,
                        forced: true,
                    }),
                ) if m == message_id => {
                    next.retail.status = LegStatus::Unresolved {
                        message_id: m.clone(),
                    };
                }
                // The LSP did not answer: ask it where the order stands.
                (Leg::Logistics, Some(LegStatus::Cancelling { message_id: m, .. })) if m == message_id => {
                    commands.push(Command::Status {
                        leg: Leg::Logistics,
                        message_id: (inputs.new_id)(),
                    });
                }
                // Answered meanwhile (or a deadline of an earlier /cancel): nothing to do.
                _ => return Ok(Outcome::Absorbed),
            }
        }
        Event::RetailOnCancel(cb) => {
            match &order.retail.status {
                LegStatus::Cancelling { .. } | LegStatus::Unresolved { .. } => {
                    // Solicited (our message_id) or the SNP cancelling on its own meanwhile:
                    // either way the leg is now cancelled.
                    apply_reports(&mut next.retail.fulfillments, &cb.fulfillments, "retail", cb.at)?;
                    next.retail.status = LegStatus::Cancelled;
                }
                LegStatus::Active => {
                    // The SNP cancels first.
                    let reason = stated_reason(cb)?;
                    seller_cancels(order, &mut next, reason, cb, inputs, &mut commands)?;
                }
                LegStatus::Cancelled => return Ok(Outcome::Absorbed),
            }
        }
        Event::LogisticsOnCancel(cb) => {
            let Some(leg) = &order.logistics else {
                return Err(Refusal::InvalidOrderState(format!(
                    "order {} has no logistics leg",
                    order.id
                )));
            };
            match &leg.status {
                LegStatus::Cancelling { .. } | LegStatus::Unresolved { .. } => {
                    apply_logistics(&mut next, cb)?;
                    set_logistics_status(&mut next, LegStatus::Cancelled);
                }
                LegStatus::Active => {
                    // The LSP cancels first: cancel the retail leg with its reason carried along.
                    let reason = stated_reason(cb)?;
                    apply_logistics(&mut next, cb)?;
                    set_logistics_status(&mut next, LegStatus::Cancelled);
                    // The verified LSP, not whatever the body claims.
                    let lsp_id = leg.bpp_id.to_string();
                    let retail_reason = reasons::retail_reason_for_lsp(&reason);
                    match &order.retail.status {
                        LegStatus::Active => {
                            let message_id = (inputs.new_id)();
                            commands.push(Command::Cancel {
                                leg: Leg::Retail,
                                message_id: message_id.clone(),
                                reason: retail_reason.clone(),
                                initiated_by: lsp_id.clone(),
                                fulfillment_id: Some(leg.linked_fulfillment_id.clone()),
                                params: None,
                            });
                            next.retail.status = LegStatus::cancelling(message_id);
                        }
                        LegStatus::Cancelling { .. }
                        | LegStatus::Unresolved { .. }
                        | LegStatus::Cancelled => {}
                    }
                    if next.cancellation.is_none() {
                        next.cancellation = Some(Cancellation {
                            initiator: Party::Lsp,
                            initiated_by: lsp_id,
                            reason_code: reason.clone(),
                            retail_reason,
                            logistics_reason: Some(reason),
                            at: inputs.now,
                            fulfillment_id: Some(leg.linked_fulfillment_id.clone()),
                            params: None,
                            claims: vec![],
                        });
                    }
                }
                LegStatus::Cancelled => {
                    // A repeat may still carry news (an RTO that started): keep the states.
                    apply_logistics(&mut next, cb)?;
                }
            }
        }
        Event::LogisticsStatus(cb) => {
            let Some(leg) = &order.logistics else {
                return Err(Refusal::InvalidOrderState(format!(
                    "order {} has no logistics leg",
                    order.id
                )));
            };
            apply_logistics(&mut next, cb)?;
            // The answer to our /status (or news) says the LSP did cancel: the leg is done.
            if leg.status.is_awaiting_answer() && cb.order_state == Some(OrderState::Cancelled) {
                set_logistics_status(&mut next, LegStatus::Cancelled);
            }
        }
        Event::RetailStatus(cb) => {
            apply_reports(&mut next.retail.fulfillments, &cb.fulfillments, "retail", cb.at)?;
        }
        Event::RetailOnUpdate(cb) if forwarded(order, &cb.message_id).is_some() => {
            // The seller answers the buyer app's /update we forwarded: relay it back.
            let theirs = forwarded(order, &cb.message_id).cloned();
            apply_reports(&mut next.retail.fulfillments, &cb.fulfillments, "retail", cb.at)?;
            if let (Some(theirs), Some(buyer)) = (theirs, &mut next.buyer_app) {
                buyer.forwarded_updates.retain(|(ours, _)| *ours != cb.message_id);
                commands.push(Command::ToBuyer {
                    to: buyer.subscriber_id.clone(),
                    uri: buyer.uri.clone(),
                    action: BuyerAction::OnUpdate,
                    message_id: theirs,
                    error: None,
                    relay: Some(cb.message.clone()),
                });
            }
        }
        Event::RetailOnUpdate(cb)
            if cb.part_cancel.is_some() && order.awaiting_update.as_ref() != Some(&cb.message_id) =>
        {
            let Some(part) = &cb.part_cancel else {
                return Ok(Outcome::Absorbed);
            };
            if order
                .part_cancels
                .iter()
                .any(|p| p.fulfillment_id == part.fulfillment_id)
            {
                // The same part-cancellation again.
                return Ok(Outcome::Absorbed);
            }
            let reason = part.reason.clone().unwrap_or_else(|| "002".into());
            if part.items_left == 0 {
                // Every item is cancelled: the seller cancels the order.
                match &order.retail.status {
                    LegStatus::Active => seller_cancels(order, &mut next, reason, cb, inputs, &mut commands)?,
                    LegStatus::Cancelling { .. } | LegStatus::Unresolved { .. } | LegStatus::Cancelled => {
                        apply_reports(&mut next.retail.fulfillments, &cb.fulfillments, "retail", cb.at)?;
                        next.retail.status = LegStatus::Cancelled;
                    }
                }
            } else {
                apply_reports(&mut next.retail.fulfillments, &cb.fulfillments, "retail", cb.at)?;
                next.part_cancels.push(PartCancel {
                    fulfillment_id: part.fulfillment_id.clone(),
                    reason,
                    items: part.items.clone(),
                    amount: part.amount.clone(),
                    at: inputs.now,
                });
            }
        }
        Event::RetailOnUpdate(cb) => match &order.awaiting_update {
            Some(awaited) if *awaited == cb.message_id => {
                // The SNP acknowledged the final states and charges: the order ends here.
                for report in &cb.fulfillments {
                    if let Some(f) = next.retail.fulfillments.iter_mut().find(|f| f.id == report.id)
                        && f.state.can_move_to(report.state)
                    {
                        f.state = report.state;
                    }
                }
                next.awaiting_update = None;
                next.state = OrderState::Cancelled;
            }
            Some(_) | None => {
                if order.cancellation.is_some() && cb.order_state == Some(OrderState::Cancelled) {
                    return Err(Refusal::OutOfSequence(format!(
                        "on_update {} answers no /update of ours for order {}",
                        cb.message_id, order.id
                    )));
                }
                apply_reports(&mut next.retail.fulfillments, &cb.fulfillments, "retail", cb.at)?;
            }
        },
        Event::CallbackError {
            leg,
            action,
            message_id,
            code,
            message,
            ..
        } => {
            let by = match (leg, &order.logistics) {
                (Leg::Logistics, Some(l)) => l.bpp_id.to_string(),
                (Leg::Retail, _) | (Leg::Logistics, None) => order.retail.bpp_id.to_string(),
            };
            let refusal = LegRefusal {
                leg: *leg,
                by,
                how: RefusedHow::Callback,
                code: code.clone(),
                message: message.clone(),
                message_id: Some(message_id.clone()),
                // Our clock, like every other time on the order.
                at: inputs.now,
            };
            let leg_status = match leg {
                Leg::Retail => Some(&order.retail.status),
                Leg::Logistics => order.logistics.as_ref().map(|l| &l.status),
            };
            if let (Leg::Retail, "on_update", Some(theirs)) = (leg, *action, forwarded(order, message_id)) {
                // The seller refuses the buyer app's /update we forwarded: tell the buyer app.
                let theirs = theirs.clone();
                if let Some(buyer) = &mut next.buyer_app {
                    buyer.forwarded_updates.retain(|(ours, _)| ours != message_id);
                    commands.push(Command::ToBuyer {
                        to: buyer.subscriber_id.clone(),
                        uri: buyer.uri.clone(),
                        action: BuyerAction::OnUpdate,
                        message_id: theirs,
                        error: Some((code.clone(), message.clone())),
                        relay: None,
                    });
                }
                return finish(order, next, commands, inputs);
            }
            match (*action, leg_status) {
                // Our /cancel is refused: the leg stays live, and the refusal is on record.
                ("on_cancel", Some(LegStatus::Cancelling { .. } | LegStatus::Unresolved { .. })) => {
                    reopen_leg(&mut next, *leg);
                    next.refusals.push(refusal);
                }
                // Our final /update is refused: the order cannot end until it is resolved.
                ("on_update", _) if order.awaiting_update.as_ref() == Some(message_id) => {
                    next.refusals.push(refusal);
                }
                // An error that refuses nothing we asked (an error-only unsolicited on_cancel, a
                // repeat): it cancels nothing, so nothing changes.
                _ => return Ok(Outcome::Absorbed),
            }
        }
        Event::DeliveryFailed { .. } => record_failure(&mut next, event, inputs.now),
    }
    finish(order, next, commands, inputs)
}

/// The seller cancels the order first (its unsolicited `/on_cancel`, or a part-cancellation of
/// every item): the retail leg is cancelled at once and the logistics leg is cancelled with the
/// seller's reason mapped.
fn seller_cancels(
    order: &Order,
    next: &mut Order,
    reason: String,
    cb: &Callback,
    inputs: &mut Inputs<'_>,
    commands: &mut Vec<Command>,
) -> Result<(), Refusal> {
    apply_reports(&mut next.retail.fulfillments, &cb.fulfillments, "retail", cb.at)?;
    next.retail.status = LegStatus::Cancelled;
    // The verified seller, not whatever the body claims.
    let by = order.retail.bpp_id.to_string();
    let logistics_reason = cascade_to_logistics(next, &reason, Party::Seller, &by, inputs, commands);
    next.cancellation = Some(Cancellation {
        initiator: Party::Seller,
        initiated_by: by,
        reason_code: reason.clone(),
        retail_reason: reason,
        logistics_reason,
        at: inputs.now,
        fulfillment_id: None,
        params: None,
        claims: vec![],
    });
    Ok(())
}

/// What every change ends with: the LSP's return carried to the seller's, the cascade settled
/// if it can be, a delivered order completed; absorbed if nothing changed.
fn finish(
    order: &Order,
    mut next: Order,
    mut commands: Vec<Command>,
    inputs: &mut Inputs<'_>,
) -> Result<Outcome, Refusal> {
    sync_rto(&mut next);
    settle(&mut next, inputs, &mut commands);
    complete_if_delivered(&mut next);
    if next == *order && commands.is_empty() {
        return Ok(Outcome::Absorbed);
    }
    next.updated_at = inputs.now;
    Ok(Outcome::Applied {
        order: Box::new(next),
        commands,
    })
}

/// The buyer app's `/update` that our forwarded `/update` `ours` carries, if it is one.
fn forwarded<'o>(order: &'o Order, ours: &MessageId) -> Option<&'o MessageId> {
    order
        .buyer_app
        .as_ref()?
        .forwarded_updates
        .iter()
        .find(|(o, _)| o == ours)
        .map(|(_, theirs)| theirs)
}

/// A duration as ONDC writes it, in seconds (`PT300S`).
fn iso_secs(d: chrono::Duration) -> String {
    format!("PT{}S", d.num_seconds())
}

/// An order none of whose forward fulfillments is anything but delivered, and that nobody is
/// cancelling, is complete: `Completed`, and no longer cancellable (a return is another flow).
fn complete_if_delivered(order: &mut Order) {
    if order.state.is_terminal() || order.cancellation.is_some() {
        return;
    }
    let mut forward = order
        .retail
        .fulfillments
        .iter()
        .filter(|f| !f.is_rto())
        .peekable();
    if forward.peek().is_some() && forward.all(|f| f.state == FulfillmentState::OrderDelivered) {
        order.state = OrderState::Completed;
    }
}

/// Records a message we gave up on; a `/cancel` refused for good reopens its leg like a
/// refusing `/on_cancel` does.
fn record_failure(order: &mut Order, event: &Event, now: DateTime<Utc>) {
    let Event::DeliveryFailed {
        message_id,
        action,
        leg,
        permanent,
        code,
        reason,
    } = event
    else {
        return;
    };
    if order.failed_messages.iter().any(|f| f.message_id == *message_id) {
        return;
    }
    order.failed_messages.push(FailedMessage {
        message_id: message_id.clone(),
        action: action.clone(),
        leg: *leg,
        permanent: *permanent,
        reason: reason.clone(),
        at: now,
    });
    let ours = match leg {
        Leg::Retail => Some(&order.retail.status),
        Leg::Logistics => order.logistics.as_ref().map(|l| &l.status),
    };
    let refused_cancel = action == "cancel"
        && matches!(ours, Some(LegStatus::Cancelling { message_id: m, .. }) if m == message_id);
    if refused_cancel && !order.state.is_terminal() {
        let by = match (leg, &order.logistics) {
            (Leg::Logistics, Some(l)) => l.bpp_id.to_string(),
            (Leg::Retail, _) | (Leg::Logistics, None) => order.retail.bpp_id.to_string(),
        };
        reopen_leg(order, *leg);
        order.refusals.push(LegRefusal {
            leg: *leg,
            by,
            how: RefusedHow::Nack,
            code: code.clone().unwrap_or_default(),
            message: reason.clone(),
            message_id: Some(message_id.clone()),
            at: now,
        });
    }
}

fn reopen_leg(order: &mut Order, leg: Leg) {
    match leg {
        Leg::Retail => order.retail.status = LegStatus::Active,
        Leg::Logistics => set_logistics_status(order, LegStatus::Active),
    }
}

/// The reason an unsolicited `/on_cancel` gives; one without a reason cancels nothing.
fn stated_reason(cb: &Callback) -> Result<String, Refusal> {
    cb.reason.clone().ok_or_else(|| Refusal::MissingReason {
        path: "$.message.order.cancellation.reason.id",
        message: "an unsolicited on_cancel must give its reason (cancellation.reason.id)".into(),
    })
}

/// Refuses a cancellation of what cannot be cancelled: a fulfillment the order does not have,
/// or goods already delivered (that is a return, not a cancellation).
fn check_cancellable(order: &Order, fulfillment_id: Option<&str>) -> Result<(), Refusal> {
    let forward: Vec<&Fulfillment> = order.retail.fulfillments.iter().filter(|f| !f.is_rto()).collect();
    let delivered = |f: &&Fulfillment| f.state == FulfillmentState::OrderDelivered;
    match fulfillment_id {
        Some(id) => match order.retail.fulfillments.iter().find(|f| f.id == id) {
            None => Err(Refusal::FulfillmentNotFound(format!(
                "fulfillment {id} is not part of order {}",
                order.id
            ))),
            Some(f) if f.state == FulfillmentState::OrderDelivered => {
                Err(Refusal::InvalidOrderState(format!(
                    "fulfillment {id} of order {} is delivered; ask for a return, not a cancellation",
                    order.id
                )))
            }
            Some(_) => Ok(()),
        },
        None if !forward.is_empty() && forward.iter().all(delivered) => {
            Err(Refusal::InvalidOrderState(format!(
                "order {} is delivered; ask for a return, not a cancellation",
                order.id
            )))
        }
        None => Ok(()),
    }
}

/// The retail fulfillment the logistics leg delivers, or the order's first forward fulfillment.
fn linked_fulfillment(order: &Order) -> Option<String> {
    order
        .logistics
        .as_ref()
        .map(|l| l.linked_fulfillment_id.clone())
        .or_else(|| {
            order
                .retail
                .fulfillments
                .iter()
                .find(|f| !f.is_rto())
                .map(|f| f.id.clone())
        })
}

fn set_logistics_status(order: &mut Order, status: LegStatus) {
    if let Some(leg) = &mut order.logistics {
        leg.status = status;
    }
}

/// Cancels a live logistics leg with the reason mapped from the retail one; returns that reason.
fn cascade_to_logistics(
    order: &mut Order,
    retail_reason: &str,
    by: Party,
    initiated_by: &str,
    inputs: &mut Inputs<'_>,
    commands: &mut Vec<Command>,
) -> Option<String> {
    let picked_up = order
        .retail
        .fulfillments
        .iter()
        .any(|f| !f.is_rto() && f.state.is_picked_up())
        || order.logistics.as_ref().is_some_and(|l| {
            l.fulfillments
                .iter()
                .any(|f| !f.is_rto() && f.state.is_picked_up())
        });
    let leg = order.logistics.as_mut()?;
    let reason = reasons::logistics_reason_for(retail_reason, by, picked_up, &leg.domain).to_owned();
    match &leg.status {
        LegStatus::Active => {
            let message_id = (inputs.new_id)();
            commands.push(Command::Cancel {
                leg: Leg::Logistics,
                message_id: message_id.clone(),
                reason: reason.clone(),
                initiated_by: initiated_by.to_owned(),
                fulfillment_id: None,
                params: None,
            });
            leg.status = LegStatus::cancelling(message_id);
            Some(reason)
        }
        // Already cancelled (or being cancelled): a terminal leg is not cancelled again.
        LegStatus::Cancelling { .. } | LegStatus::Unresolved { .. } | LegStatus::Cancelled => None,
    }
}

fn is_rto_report(report: &FulfillmentReport) -> bool {
    report
        .kind
        .as_deref()
        .is_some_and(|k| k.eq_ignore_ascii_case("RTO"))
        || report.state.is_rto_track()
}

/// Applies an LSP callback on the logistics leg: its fulfillments (under the LSP's own ids),
/// its forward fulfillment mirrored onto the linked retail one, and its quoted charges. The
/// LSP's return is carried to the seller's return by [`sync_rto`], never copied under the
/// LSP's id.
fn apply_logistics(order: &mut Order, cb: &Callback) -> Result<(), Refusal> {
    let Some(leg) = &mut order.logistics else {
        return Ok(());
    };
    for report in &cb.fulfillments {
        let known = leg.fulfillments.iter().any(|f| f.id == report.id);
        let is_rto = is_rto_report(report);
        if !known && !is_rto && leg.fulfillments.iter().any(|f| !f.is_rto()) {
            return Err(Refusal::FulfillmentNotFound(format!(
                "fulfillment {} is not part of logistics order {}",
                report.id, leg.order_id
            )));
        }
        if !known && !is_rto {
            // The LSP names its forward fulfillment in its first message: adopt it as reported
            // (it is the LSP's own view; the retail mirror below stays checked).
            leg.fulfillments.push(Fulfillment {
                id: report.id.clone(),
                kind: report.kind.clone().unwrap_or_else(|| "Delivery".into()),
                state: report.state,
                updated_at: report.at.or(Some(cb.at)),
                rto_id: report.rto_id.clone(),
            });
        }
    }
    apply_reports(&mut leg.fulfillments, &cb.fulfillments, "logistics", cb.at)?;
    for report in cb.fulfillments.iter().filter(|r| !is_rto_report(r)) {
        match order
            .retail
            .fulfillments
            .iter_mut()
            .find(|f| f.id == leg.linked_fulfillment_id)
        {
            // The retail view follows the LSP where the move is legal there too; otherwise the
            // retail side already knows better (the seller reported it).
            Some(f) if f.state.can_move_to(report.state) => {
                f.state = report.state;
                f.updated_at = report.at.or(Some(cb.at));
            }
            Some(_) | None => {}
        }
    }
    if let Some(quote) = &cb.quote {
        leg.charges = Some(quote.clone());
        leg.charge_lines = cb.quote_lines.clone();
    }
    Ok(())
}

/// Carries the LSP's return (under its own id, `1-RTO` say) to the seller's return of the linked
/// fulfillment (`F1-RTO`: the forward fulfillment's `rto_id`, else the order's one RTO
/// fulfillment). Until the seller has named its return there is nothing to carry it to; the
/// next step carries it over.
fn sync_rto(order: &mut Order) {
    let Some(leg) = &order.logistics else { return };
    let Some(lsp_rto) = leg.fulfillments.iter().find(|f| f.is_rto()) else {
        return;
    };
    let (state, at) = (lsp_rto.state, lsp_rto.updated_at);
    let linked = leg.linked_fulfillment_id.clone();
    let retail = &mut order.retail.fulfillments;
    let named = retail
        .iter()
        .find(|f| f.id == linked)
        .and_then(|f| f.rto_id.clone());
    let target = match named {
        Some(id) => retail.iter_mut().find(|f| f.id == id),
        None => {
            let mut returns = retail.iter_mut().filter(|f| f.is_rto());
            match (returns.next(), returns.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        }
    };
    if let Some(f) = target
        && f.state != state
        && f.state.can_move_to(state)
    {
        f.state = state;
        f.updated_at = at;
    }
}

/// Applies reported states to a leg's fulfillments, refusing impossible moves. A new RTO
/// fulfillment may appear in `RTO-Initiated`; other unknown fulfillments of tracked kinds are
/// refused; informational kinds (`Cancel`, `Return`) are not tracked here. `at` is the message's
/// time, standing in for a state's own time when it gives none.
fn apply_reports(
    fulfillments: &mut Vec<Fulfillment>,
    reports: &[FulfillmentReport],
    leg: &str,
    at: DateTime<Utc>,
) -> Result<(), Refusal> {
    for report in reports {
        let kind = report.kind.as_deref().unwrap_or("");
        if kind.eq_ignore_ascii_case("Cancel") || kind.eq_ignore_ascii_case("Return") {
            continue;
        }
        match fulfillments.iter_mut().find(|f| f.id == report.id) {
            Some(f) if f.state.same_outcome(report.state) => {
                f.rto_id = report.rto_id.clone().or(f.rto_id.take());
            }
            Some(f) if f.state.can_move_to(report.state) => {
                f.state = report.state;
                f.updated_at = report.at.or(Some(at));
                f.rto_id = report.rto_id.clone().or(f.rto_id.take());
            }
            Some(f) if f.state.is_terminal() => {
                return Err(Refusal::FulfillmentTerminal(format!(
                    "{leg} fulfillment {} is {} and cannot become {}",
                    f.id, f.state, report.state
                )));
            }
            Some(f) => {
                return Err(Refusal::InvalidOrderState(format!(
                    "{leg} fulfillment {} cannot move from {} to {}",
                    f.id, f.state, report.state
                )));
            }
            None if report.state == FulfillmentState::RtoInitiated => fulfillments.push(Fulfillment {
                id: report.id.clone(),
                kind: report.kind.clone().unwrap_or_else(|| "RTO".into()),
                state: report.state,
                updated_at: report.at.or(Some(at)),
                rto_id: None,
            }),
            None => {
                return Err(Refusal::FulfillmentNotFound(format!(
                    "{leg} fulfillment {} is not part of the order",
                    report.id
                )));
            }
        }
    }
    Ok(())
}

/// After any change: once every leg is cancelled and no RTO is under way, tell the SNP the final
/// states and the charges it owes (BNP-managed delivery), or end the order (seller-managed
/// delivery).
fn settle(order: &mut Order, inputs: &mut Inputs<'_>, commands: &mut Vec<Command>) {
    if order.cancellation.is_none() || order.state.is_terminal() || order.awaiting_update.is_some() {
        return;
    }
    let retail_done = order.retail.status == LegStatus::Cancelled;
    let logistics_done = order
        .logistics
        .as_ref()
        .is_none_or(|l| l.status == LegStatus::Cancelled);
    let rto_under_way = order
        .retail
        .fulfillments
        .iter()
        .any(|f| f.state == FulfillmentState::RtoInitiated)
        || order.logistics.as_ref().is_some_and(|l| {
            l.fulfillments
                .iter()
                .any(|f| f.state == FulfillmentState::RtoInitiated)
        });
    if !(retail_done && logistics_done) || rto_under_way {
        if rto_under_way {
            order.state = OrderState::InProgress;
        }
        return;
    }
    if order.logistics.is_none() {
        order.state = OrderState::Cancelled;
        return;
    }
    let claims = match charges::liable(order) {
        Some(Party::Seller) => charges::claims(order),
        Some(Party::Buyer | Party::Lsp) | None => vec![],
    };
    let states = order
        .retail
        .fulfillments
        .iter()
        .map(|f| StateReport {
            id: f.id.clone(),
            state: f.state,
            at: f.updated_at.unwrap_or(inputs.now),
        })
        .collect();
    let message_id = (inputs.new_id)();
    commands.push(Command::UpdateStates {
        message_id: message_id.clone(),
        states,
        claims: claims.clone(),
    });
    order.awaiting_update = Some(message_id);
    if let Some(c) = &mut order.cancellation {
        c.claims = claims;
    }
}
