//! The machine driven through whole histories: each cascade, both RTO ends, the claim rules,
//! and every refusal code.

use super::machine::{Inputs, Outcome, transition};
use super::model::*;
use super::reasons::Party;
use super::refusal::Refusal;
use super::states::{FulfillmentState as S, OrderState};
use crate::protocol::{MessageId, SubscriberId};
use chrono::{DateTime, TimeZone, Utc};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 3, 11, 0, 0).unwrap()
}

fn mid(s: &str) -> MessageId {
    MessageId::parse(s).unwrap()
}

fn order(with_logistics: bool, forward: S) -> Order {
    let mut o = Order::sample("O1");
    o.retail.fulfillments[0].state = forward;
    if !with_logistics {
        o.logistics = None;
    }
    o
}

fn report(id: &str, kind: &str, state: S) -> FulfillmentReport {
    FulfillmentReport {
        id: id.into(),
        kind: Some(kind.into()),
        state,
        at: Some(t0()),
        rto_id: None,
    }
}

fn cb(message_id: &str, reports: Vec<FulfillmentReport>) -> Callback {
    Callback {
        message_id: mid(message_id),
        order_state: None,
        fulfillments: reports,
        cancelled_by: None,
        reason: None,
        quote: None,
        quote_lines: vec![],
        at: t0(),
        message: serde_json::Value::Null,
        part_cancel: None,
    }
}

/// Runs events in order with ids m1, m2, … and returns the final order and every command.
struct Run {
    order: Order,
    next_id: u32,
    sent: Vec<Command>,
}

impl Run {
    fn new(order: Order) -> Self {
        Self {
            order,
            next_id: 0,
            sent: vec![],
        }
    }

    fn step(&mut self, event: Event) -> Result<Vec<Command>, Refusal> {
        let our = SubscriberId::parse("bnp.com").unwrap();
        let mut n = self.next_id;
        let mut new_id = || {
            n += 1;
            mid(&format!("m{n}"))
        };
        let outcome = transition(
            &self.order,
            &event,
            &mut Inputs {
                now: t0(),
                our_id: &our,
                new_id: &mut new_id,
                deadlines: Default::default(),
            },
        )?;
        self.next_id = n;
        match outcome {
            Outcome::Applied { order, commands } => {
                self.order = *order;
                self.sent.extend(commands.clone());
                Ok(commands)
            }
            Outcome::Absorbed => Ok(vec![]),
        }
    }
}

fn cancel_cmd(c: &Command) -> (Leg, &str, &str, &str) {
    match c {
        Command::Cancel {
            leg,
            message_id,
            reason,
            initiated_by,
            ..
        } => (*leg, message_id.as_str(), reason.as_str(), initiated_by.as_str()),
        other => panic!("expected a cancel, got {other:?}"),
    }
}

/// The states of an `/update` and the total it claims.
fn update_cmd(c: &Command) -> (Vec<(String, S)>, Option<Money>) {
    match c {
        Command::UpdateStates { states, claims, .. } => (
            states.iter().map(|s| (s.id.clone(), s.state)).collect(),
            super::charges::total(claims),
        ),
        other => panic!("expected an update, got {other:?}"),
    }
}

fn lsp_cancels(reason: &str, quote: &str) -> Event {
    let mut c = cb(
        "lsp-1",
        vec![
            report("F1", "Delivery", S::Rto),
            report("F1-RTO", "RTO", S::RtoInitiated),
        ],
    );
    c.reason = Some(reason.into());
    c.cancelled_by = Some("lsp.com".into());
    c.quote = Money::parse("INR", quote);
    Event::LogisticsOnCancel(c)
}

#[test]
fn lsp_cancels_then_rto_delivered_claims_charges_from_the_seller() {
    let mut run = Run::new(order(true, S::OrderPickedUp));
    let cmds = run.step(lsp_cancels("103", "50.00")).unwrap();
    assert_eq!(cmds.len(), 1);
    assert_eq!(cancel_cmd(&cmds[0]), (Leg::Retail, "m1", "103", "lsp.com"));
    assert_eq!(run.order.logistics.as_ref().unwrap().status, LegStatus::Cancelled);
    assert_eq!(run.order.retail.status, LegStatus::cancelling(mid("m1")));
    assert_eq!(run.order.cancellation.as_ref().unwrap().initiator, Party::Lsp);
    assert!(
        run.order.retail.fulfillments.iter().all(|f| f.id != "F1-RTO"),
        "the LSP's return is its own until the seller names the retail one"
    );

    // The SNP confirms (solicited): nothing to send while the RTO is under way.
    let cmds = run
        .step(Event::RetailOnCancel(cb(
            "m1",
            vec![
                report("F1", "Delivery", S::Rto),
                report("F1-RTO", "RTO", S::RtoInitiated),
            ],
        )))
        .unwrap();
    assert!(cmds.is_empty());
    assert_eq!(run.order.retail.status, LegStatus::Cancelled);
    assert_eq!(run.order.state, OrderState::InProgress);

    // RTO ends: tell the SNP the states and the claim.
    let cmds = run
        .step(Event::LogisticsStatus(cb(
            "lsp-2",
            vec![report("F1-RTO", "RTO", S::RtoDelivered)],
        )))
        .unwrap();
    let (states, claim) = update_cmd(&cmds[0]);
    assert_eq!(
        states,
        vec![("F1".to_owned(), S::Rto), ("F1-RTO".to_owned(), S::RtoDelivered)]
    );
    assert_eq!(claim, Money::parse("INR", "50.00"));
    assert_eq!(run.order.awaiting_update, Some(mid("m2")));
    assert_ne!(
        run.order.state,
        OrderState::Cancelled,
        "not terminal before the SNP's on_update"
    );

    run.step(Event::RetailOnUpdate(cb("m2", vec![]))).unwrap();
    assert_eq!(run.order.state, OrderState::Cancelled);
    // Late echoes are absorbed.
    assert_eq!(
        run.step(Event::LogisticsStatus(cb(
            "lsp-3",
            vec![report("F1-RTO", "RTO", S::RtoDelivered)]
        ))),
        Ok(vec![])
    );
    assert_eq!(run.sent.len(), 2);
}

#[test]
fn rto_disposed_for_a_buyer_fault_claims_nothing() {
    let mut run = Run::new(order(true, S::OutForDelivery));
    run.step(lsp_cancels("127", "80.00")).unwrap();
    run.step(Event::RetailOnCancel(cb(
        "m1",
        vec![report("F1-RTO", "RTO", S::RtoInitiated)],
    )))
    .unwrap();
    let cmds = run
        .step(Event::LogisticsStatus(cb(
            "lsp-2",
            vec![report("F1-RTO", "RTO", S::RtoDisposed)],
        )))
        .unwrap();
    let (states, claim) = update_cmd(&cmds[0]);
    assert_eq!(states.last().unwrap(), &("F1-RTO".to_owned(), S::RtoDisposed));
    assert_eq!(claim, None);
}

#[test]
fn rto_end_may_arrive_before_the_seller_confirms() {
    let mut run = Run::new(order(true, S::OrderPickedUp));
    run.step(lsp_cancels("103", "50.00")).unwrap();
    assert!(
        run.step(Event::LogisticsStatus(cb(
            "lsp-2",
            vec![report("F1-RTO", "RTO", S::RtoDelivered)]
        )))
        .unwrap()
        .is_empty()
    );
    let cmds = run.step(Event::RetailOnCancel(cb("m1", vec![]))).unwrap();
    assert!(matches!(cmds[0], Command::UpdateStates { .. }));
}

#[test]
fn buyer_cancels_before_pickup_cancels_both_legs_then_relays_states() {
    let mut run = Run::new(order(true, S::Packed));
    let cmds = run
        .step(Event::Cancel {
            by: Party::Buyer,
            initiated_by: "buyer-app.com".into(),
            reason: "053".into(),
            fulfillment_id: None,
            force: false,
            ttl_response: None,
        })
        .unwrap();
    assert_eq!(cancel_cmd(&cmds[0]), (Leg::Retail, "m1", "053", "bnp.com"));
    assert_eq!(cancel_cmd(&cmds[1]), (Leg::Logistics, "m2", "152", "bnp.com"));
    // The LSP answers first, then the seller.
    assert!(
        run.step(Event::LogisticsOnCancel(cb(
            "m2",
            vec![report("L-F1", "Delivery", S::Cancelled)]
        )))
        .unwrap()
        .is_empty()
    );
    let cmds = run
        .step(Event::RetailOnCancel(cb(
            "m1",
            vec![report("F1", "Delivery", S::Cancelled)],
        )))
        .unwrap();
    let (states, claim) = update_cmd(&cmds[0]);
    assert_eq!(states, vec![("F1".to_owned(), S::Cancelled)]);
    assert_eq!(claim, None, "053 is the buyer's doing");
    run.step(Event::RetailOnUpdate(cb("m3", vec![]))).unwrap();
    assert_eq!(run.order.state, OrderState::Cancelled);
}

#[test]
fn buyer_tat_breach_after_pickup_uses_the_delivery_tat_code_and_claims_nothing() {
    let mut run = Run::new(order(true, S::OutForDelivery));
    let cmds = run
        .step(Event::Cancel {
            by: Party::Buyer,
            initiated_by: "cust-1".into(),
            reason: "052".into(),
            fulfillment_id: None,
            force: false,
            ttl_response: None,
        })
        .unwrap();
    assert_eq!(cancel_cmd(&cmds[1]).2, "175");
    let mut lsp = cb(
        "m2",
        vec![
            report("L-F1", "Delivery", S::Rto),
            report("L-F1-RTO", "RTO", S::RtoInitiated),
        ],
    );
    lsp.quote = Money::parse("INR", "45.50");
    run.step(Event::LogisticsOnCancel(lsp)).unwrap();
    run.step(Event::RetailOnCancel(cb("m1", vec![]))).unwrap();
    let cmds = run
        .step(Event::LogisticsStatus(cb(
            "lsp-9",
            vec![report("L-F1-RTO", "RTO", S::RtoDelivered)],
        )))
        .unwrap();
    let (states, claim) = update_cmd(&cmds[0]);
    assert_eq!(
        states,
        vec![("F1".to_owned(), S::Rto)],
        "the LSP's return id never reaches the seller"
    );
    assert_eq!(claim, None, "175 is a delivery TAT breach: the LSP's own failing");
}

#[test]
fn seller_cancels_and_the_reason_cascades_to_the_lsp() {
    let mut run = Run::new(order(true, S::Packed));
    let mut snp = cb("snp-1", vec![report("F1", "Delivery", S::Cancelled)]);
    snp.reason = Some("002".into());
    snp.cancelled_by = Some("seller.com".into());
    let cmds = run.step(Event::RetailOnCancel(snp)).unwrap();
    assert_eq!(cmds.len(), 1);
    assert_eq!(cancel_cmd(&cmds[0]), (Leg::Logistics, "m1", "151", "seller.com"));
    assert_eq!(run.order.cancellation.as_ref().unwrap().initiator, Party::Seller);
    let mut lsp = cb("m1", vec![report("L-F1", "Delivery", S::Cancelled)]);
    lsp.quote = Money::parse("INR", "20.00");
    let cmds = run.step(Event::LogisticsOnCancel(lsp)).unwrap();
    let (_, claim) = update_cmd(&cmds[0]);
    assert_eq!(claim, Money::parse("INR", "20.00"), "002 is the seller's doing");
}

#[test]
fn without_a_logistics_leg_nothing_goes_to_an_lsp_and_the_seller_ends_it() {
    let mut run = Run::new(order(false, S::Packed));
    let cmds = run
        .step(Event::Cancel {
            by: Party::Buyer,
            initiated_by: "cust-1".into(),
            reason: "053".into(),
            fulfillment_id: None,
            force: false,
            ttl_response: None,
        })
        .unwrap();
    assert_eq!(cmds.len(), 1);
    assert_eq!(cancel_cmd(&cmds[0]).0, Leg::Retail);
    assert!(
        run.step(Event::RetailOnCancel(cb(
            "m1",
            vec![report("F1", "Delivery", S::Cancelled)]
        )))
        .unwrap()
        .is_empty()
    );
    assert_eq!(run.order.state, OrderState::Cancelled);

    // Seller cancels with its own RTO: ends when the RTO does.
    let mut run = Run::new(order(false, S::OutForDelivery));
    let mut snp = cb(
        "snp-1",
        vec![
            report("F1", "Delivery", S::Cancelled),
            report("F1-RTO", "RTO", S::RtoInitiated),
        ],
    );
    snp.reason = Some("013".into());
    assert!(run.step(Event::RetailOnCancel(snp)).unwrap().is_empty());
    assert_eq!(run.order.state, OrderState::InProgress);
    run.step(Event::RetailStatus(cb(
        "snp-2",
        vec![report("F1-RTO", "RTO", S::RtoDelivered)],
    )))
    .unwrap();
    assert_eq!(run.order.state, OrderState::Cancelled);
}

#[test]
fn a_leg_already_cancelled_is_not_cancelled_again() {
    let mut run = Run::new(order(true, S::OrderPickedUp));
    run.step(lsp_cancels("103", "50.00")).unwrap();
    // The seller's unsolicited cancel crosses ours: the LSP is not asked again.
    let mut snp = cb("snp-1", vec![]);
    snp.reason = Some("016".into());
    assert!(run.step(Event::RetailOnCancel(snp)).unwrap().is_empty());
    assert!(run.sent.iter().all(|c| c.route().0 == Leg::Retail));
}

#[test]
fn refusals_carry_their_ondc_codes() {
    let mut run = Run::new(order(true, S::Packed));
    let err = run.step(Event::RetailOnUpdate(Callback {
        order_state: Some(OrderState::Cancelled),
        ..cb("x", vec![])
    }));
    assert_eq!(
        err,
        Ok(vec![]),
        "an on_update with no cancellation is plain status news"
    );
    run.step(Event::Cancel {
        by: Party::Buyer,
        initiated_by: "c".into(),
        reason: "053".into(),
        fulfillment_id: None,
        force: false,
        ttl_response: None,
    })
    .unwrap();
    let again = run.step(Event::Cancel {
        by: Party::Buyer,
        initiated_by: "c".into(),
        reason: "053".into(),
        fulfillment_id: None,
        force: false,
        ttl_response: None,
    });
    assert_eq!(again.unwrap_err().code(), "20007");
    let stray = run.step(Event::RetailOnUpdate(Callback {
        order_state: Some(OrderState::Cancelled),
        ..cb("x", vec![])
    }));
    assert_eq!(stray.unwrap_err().code(), "20008");

    let mut run = Run::new(order(true, S::Packed));
    let jump = run.step(Event::RetailStatus(cb(
        "s",
        vec![report("F1", "Delivery", S::OutForDelivery)],
    )));
    assert_eq!(
        jump.unwrap_err().code(),
        "20007",
        "Packed cannot jump to Out-for-delivery"
    );
    let unknown = run.step(Event::RetailStatus(cb(
        "s",
        vec![report("F9", "Delivery", S::Packed)],
    )));
    assert_eq!(unknown.unwrap_err().code(), "50007");
    let rto_unknown = run.step(Event::LogisticsStatus(cb(
        "s",
        vec![report("F1-RTO", "RTO", S::RtoDelivered)],
    )));
    assert_eq!(rto_unknown.unwrap_err().code(), "50007");

    let mut run = Run::new(order(false, S::OrderDelivered));
    let terminal = run.step(Event::RetailStatus(cb(
        "s",
        vec![report("F1", "Delivery", S::Cancelled)],
    )));
    assert_eq!(terminal.unwrap_err().code(), "50008");

    let mut done = order(false, S::Cancelled);
    done.state = OrderState::Cancelled;
    let mut run = Run::new(done);
    let late = run.step(Event::Cancel {
        by: Party::Buyer,
        initiated_by: "c".into(),
        reason: "053".into(),
        fulfillment_id: None,
        force: false,
        ttl_response: None,
    });
    assert_eq!(late.unwrap_err().code(), "20007");
    assert_eq!(
        run.step(Event::RetailOnCancel(cb("late", vec![]))),
        Ok(vec![]),
        "absorbed"
    );
}
