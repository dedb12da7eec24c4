//! The decision step driven through histories of real-network behaviour, one rule each: Beckn
//! messages read by `read_event` exactly as a peer would send them, REST actions as the API
//! passes them. Whole cascades over HTTP are the fixtures' job (`fixtures/flows`).

use super::model::*;
use super::reasons::Party;
use super::states::FulfillmentState as S;
use super::{Actor, Input, Inputs, Network, NoticeKind, RestAction, Step, order_id_of, read_event, step};
use crate::protocol::{Action, Context, DomainFamily, MessageId, SubscriberId, TransactionId};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 3, 11, 0, 0).unwrap()
}

fn sid(s: &str) -> SubscriberId {
    SubscriberId::parse(s).unwrap()
}

fn order() -> Order {
    Order::sample("O1")
}

/// Plays one order through inputs, with message ids m1, m2, … for what it sends.
struct History {
    order: Order,
    next_id: u32,
    sent: Vec<Command>,
}

impl History {
    fn new(order: Order) -> Self {
        Self {
            order,
            next_id: 0,
            sent: vec![],
        }
    }

    fn run(&mut self, input: &Input<'_>) -> Result<Step, super::Refusal> {
        let our = sid("bnp.com");
        let mut n = self.next_id;
        let mut new_id = || {
            n += 1;
            MessageId::parse(&format!("m{n}")).unwrap()
        };
        let mut inputs = Inputs {
            now: t0(),
            our_id: &our,
            new_id: &mut new_id,
            deadlines: Default::default(),
        };
        let result = step(Some(&self.order), input, &mut inputs)?;
        self.next_id = n;
        if let Some(o) = &result.order {
            self.order = o.clone();
        }
        self.sent.extend(result.commands.clone());
        Ok(result)
    }

    /// A Beckn message from `from` on its leg, read as the gateway reads it.
    fn message(
        &mut self,
        action: Action,
        from: &str,
        message_id: &str,
        body: Value,
    ) -> Result<Step, super::Refusal> {
        let family = if from == "lsp.com" {
            DomainFamily::Logistics
        } else {
            DomainFamily::Retail
        };
        let context = Context {
            domain: if family == DomainFamily::Logistics {
                "ONDC:LOG10"
            } else {
                "ONDC:RET10"
            }
            .into(),
            family,
            action,
            core_version: "1.2.5".into(),
            bap_id: if action.is_callback() {
                sid("bnp.com")
            } else {
                sid("buyer-app.com")
            },
            bap_uri: "https://bap".into(),
            bpp_id: if action.is_callback() {
                sid(from)
            } else {
                sid("seller.com")
            },
            bpp_uri: "https://bpp".into(),
            transaction_id: TransactionId::parse(if family == DomainFamily::Logistics {
                "TL"
            } else {
                "TR"
            })
            .unwrap(),
            message_id: MessageId::parse(message_id).unwrap(),
            timestamp: t0(),
            ttl: None,
            city: Some("std:080".into()),
            country: Some("IND".into()),
        };
        let event = read_event(&context, &body);
        let order_ref = order_id_of(&context, &body);
        self.run(&Input::Network(Network {
            context: &context,
            order_ref: order_ref.as_deref(),
            event: &event,
        }))
    }
}

fn fulfillment(id: &str, kind: &str, state: &str, tags: Value) -> Value {
    json!({"id": id, "type": kind, "state": {"descriptor": {"code": state}}, "tags": tags})
}

fn on_cancel(order_id: &str, reason: Option<&str>, fulfillments: Vec<Value>, quote: Option<Value>) -> Value {
    let mut order = json!({"id": order_id, "state": "In-progress", "fulfillments": fulfillments});
    if let Some(r) = reason {
        order["cancellation"] = json!({"cancelled_by": "x", "reason": {"id": r}});
    }
    if let Some(q) = quote {
        order["quote"] = q;
    }
    json!({"message": {"order": order}})
}

fn tag(group: &str, list: &[(&str, &str)]) -> Value {
    json!({"code": group, "list": list.iter().map(|(c, v)| json!({"code": c, "value": v})).collect::<Vec<_>>()})
}

fn update_of(c: &Command) -> (&[StateReport], &[Claim]) {
    match c {
        Command::UpdateStates { states, claims, .. } => (states, claims),
        other => panic!("expected an update, got {other:?}"),
    }
}

#[test]
fn an_lsp_naming_its_own_fulfillments_drives_the_sellers_return_to_its_end() {
    // ONDC's LOG examples: the LSP's forward is `1`, its return `1-RTO`; the seller's are F1 and
    // F1-RTO. The RTO charge (rto line plus its tax) is claimed on the seller's return.
    let mut h = History::new(order());
    let quote = json!({"price": {"currency": "INR", "value": "82.60"}, "breakup": [
        {"@ondc/org/item_id": "I1", "@ondc/org/title_type": "delivery", "price": {"currency": "INR", "value": "50.00"}},
        {"@ondc/org/item_id": "I1", "@ondc/org/title_type": "tax", "price": {"currency": "INR", "value": "9.00"}},
        {"@ondc/org/item_id": "I2", "@ondc/org/title_type": "rto", "price": {"currency": "INR", "value": "20.0"}},
        {"@ondc/org/item_id": "I2", "@ondc/org/title_type": "tax", "price": {"currency": "INR", "value": "3.60"}}]});
    let lsp = on_cancel(
        "L1",
        Some("103"),
        vec![
            fulfillment(
                "1",
                "Delivery",
                "RTO",
                json!([tag(
                    "rto_event",
                    &[("rto_id", "1-RTO"), ("cancellation_reason_id", "103")]
                )]),
            ),
            fulfillment("1-RTO", "RTO", "RTO-Initiated", json!([])),
        ],
        Some(quote),
    );
    h.message(Action::OnCancel, "lsp.com", "lsp-1", lsp).unwrap();
    assert!(h.order.retail.fulfillments.iter().all(|f| f.id != "1-RTO"));
    let seller = on_cancel(
        "O1",
        None,
        vec![
            fulfillment(
                "F1",
                "Delivery",
                "RTO",
                json!([tag(
                    "cancel_request",
                    &[("rto_id", "F1-RTO"), ("reason_id", "103")]
                )]),
            ),
            fulfillment("F1-RTO", "RTO", "RTO-Initiated", json!([])),
        ],
        None,
    );
    h.message(Action::OnCancel, "seller.com", "m1", seller).unwrap();
    assert_eq!(h.order.retail.fulfillments[0].rto_id.as_deref(), Some("F1-RTO"));
    let delivered = json!({"message": {"order": {"id": "L1", "fulfillments": [
        {"id": "1-RTO", "type": "RTO", "state": {"descriptor": {"code": "RTO-Delivered"}},
         "end": {"time": {"timestamp": "2025-01-03T15:00:00.000Z"}}}]}}});
    let s = h
        .message(Action::OnStatus, "lsp.com", "lsp-2", delivered)
        .unwrap();
    let (states, claims) = update_of(&s.commands[0]);
    let rto = states.iter().find(|r| r.id == "F1-RTO").unwrap();
    assert_eq!(rto.state, S::RtoDelivered);
    assert_eq!(
        rto.at,
        Utc.with_ymd_and_hms(2025, 1, 3, 15, 0, 0).unwrap(),
        "when it was reached"
    );
    assert!(states.iter().all(|r| r.id != "1-RTO"));
    let claimed: Vec<(ClaimKind, &str, i64)> = claims
        .iter()
        .map(|c| (c.kind, c.fulfillment_id.as_str(), c.amount.minor))
        .collect();
    assert_eq!(
        claimed,
        vec![
            (ClaimKind::Delivery, "F1", 5900),
            (ClaimKind::Rto, "F1-RTO", 2360)
        ],
        "103 (store closed) is the seller's doing"
    );
}

#[test]
fn a_seller_refusing_our_cancel_keeps_the_order_live_and_says_so() {
    let mut h = History::new(order());
    let cancel = json!({"message": {"order_id": "O1", "cancellation_reason_id": "052"}});
    h.message(Action::Cancel, "buyer-app.com", "b1", cancel).unwrap();
    assert_eq!(h.order.status, OrderStatus::Cancelled);
    let refusal = json!({"message": {"order": {"id": "O1"}},
        "error": {"type": "DOMAIN-ERROR", "code": "50001", "message": "Cancellation not possible"}});
    let s = h.message(Action::OnCancel, "seller.com", "m1", refusal).unwrap();
    assert_eq!(h.order.retail.status, LegStatus::Active, "the leg stays live");
    assert_eq!(
        h.order.status,
        OrderStatus::Active,
        "the cancellation did not happen"
    );
    let r = &h.order.refusals[0];
    assert_eq!(
        (r.leg, r.by.as_str(), r.code.as_str(), r.how),
        (Leg::Retail, "seller.com", "50001", RefusedHow::Callback)
    );
    let told: Vec<(&str, NoticeKind)> = s.notices.iter().map(|n| (n.user_id.as_str(), n.kind)).collect();
    assert_eq!(
        told,
        vec![
            ("cust-1", NoticeKind::CancellationRefused),
            ("prov-1", NoticeKind::CancellationRefused)
        ]
    );
    // The buyer may ask again.
    let again = json!({"message": {"order_id": "O1", "cancellation_reason_id": "052"}});
    assert!(h.message(Action::Cancel, "buyer-app.com", "b2", again).is_ok());
}

#[test]
fn an_error_only_unsolicited_on_cancel_cancels_nothing() {
    let mut h = History::new(order());
    let body = json!({"message": {"order": {"id": "O1"}},
        "error": {"type": "DOMAIN-ERROR", "code": "50001", "message": "nope"}});
    let s = h.message(Action::OnCancel, "seller.com", "s1", body).unwrap();
    assert_eq!(s.order, None);
    assert_eq!(h.order.retail.status, LegStatus::Active);
    assert!(h.order.cancellation.is_none());
}

#[test]
fn a_cancel_nacked_for_good_reopens_its_leg_and_is_shown() {
    let mut h = History::new(order());
    let cancel = json!({"message": {"order_id": "O1", "cancellation_reason_id": "053"}});
    h.message(Action::Cancel, "buyer-app.com", "b1", cancel).unwrap();
    let failed = Event::DeliveryFailed {
        message_id: MessageId::parse("m1").unwrap(),
        action: "cancel".into(),
        leg: Leg::Retail,
        permanent: true,
        code: Some("30012".into()),
        reason: "HTTP 400: invalid reason".into(),
    };
    let s = h.run(&Input::Delivery(&failed)).unwrap();
    assert_eq!(h.order.retail.status, LegStatus::Active);
    assert_eq!(h.order.refusals[0].how, RefusedHow::Nack);
    assert_eq!(h.order.refusals[0].code, "30012");
    assert!(h.order.failed_messages[0].permanent);
    assert!(s.notices.iter().any(|n| n.kind == NoticeKind::MessageFailed));
    // Told twice (a retry after a crash), recorded once.
    let again = h.run(&Input::Delivery(&failed)).unwrap();
    assert_eq!(again.order, None);
    assert_eq!(h.order.failed_messages.len(), 1);
}

#[test]
fn a_delivered_order_or_an_unknown_fulfillment_cannot_be_cancelled() {
    let mut delivered = order();
    delivered.retail.fulfillments[0].state = S::OrderDelivered;
    let mut h = History::new(delivered);
    let cancel = json!({"message": {"order_id": "O1", "cancellation_reason_id": "053"}});
    let e = h
        .message(Action::Cancel, "buyer-app.com", "b1", cancel)
        .unwrap_err();
    assert_eq!(e.code(), "20007");
    let mut h = History::new(order());
    let cancel = json!({"message": {"order_id": "O1", "cancellation_reason_id": "053",
        "descriptor": {"name": "fulfillment", "short_desc": "F9"}}});
    let e = h
        .message(Action::Cancel, "buyer-app.com", "b2", cancel)
        .unwrap_err();
    assert_eq!(e.code(), "50007");
    assert!(h.sent.is_empty());
}

#[test]
fn an_unsolicited_on_cancel_without_a_reason_is_refused_at_its_path() {
    let mut h = History::new(order());
    let body = on_cancel(
        "L1",
        None,
        vec![fulfillment("1", "Delivery", "Cancelled", json!([]))],
        None,
    );
    let e = h.message(Action::OnCancel, "lsp.com", "l1", body).unwrap_err();
    assert_eq!(e.code(), "22502");
    assert_eq!(
        e.path().as_deref(),
        Some("$.message.order.cancellation.reason.id")
    );
    assert!(h.sent.is_empty() && h.order.cancellation.is_none());
}

#[test]
fn a_providers_request_accepted_waits_for_the_sellers_own_cancel() {
    let mut h = History::new(order());
    let request = RestAction::Request {
        request_id: "r1",
        reason_code: "002",
        fulfillment_id: None,
        note: None,
    };
    h.run(&Input::Rest {
        actor: Actor::Provider("prov-1"),
        action: request,
    })
    .unwrap();
    let s = h
        .run(&Input::Rest {
            actor: Actor::Customer("cust-1"),
            action: RestAction::Accept { request_id: "r1" },
        })
        .unwrap();
    assert!(
        s.commands.is_empty(),
        "no /cancel with a seller code from the buyer side"
    );
    assert_eq!(h.order.status, OrderStatus::AwaitingSeller);
    assert_eq!(
        h.order.escrow.refunded, 0,
        "nothing refunded before the seller cancels"
    );
    assert_eq!(s.notices[0].user_id, "prov-1");
    assert!(s.notices[0].message.contains("/on_cancel"));
    assert_eq!(s.timers.len(), 1, "the seller's deadline starts");
    assert_eq!(s.timers[0].due_at, t0() + chrono::Duration::hours(2));
    // The deadline passes: both parties hear of it, nothing else changes.
    let overdue = h.run(&Input::Timer(&s.timers[0].kind)).unwrap();
    assert_eq!(overdue.order, None);
    let told: Vec<(&str, NoticeKind)> = overdue
        .notices
        .iter()
        .map(|n| (n.user_id.as_str(), n.kind))
        .collect();
    assert_eq!(
        told,
        vec![
            ("cust-1", NoticeKind::SellerOverdue),
            ("prov-1", NoticeKind::SellerOverdue)
        ]
    );
    let kind = s.timers[0].kind.clone();
    // The seller cancels on the network: the SNP-initiated cascade runs.
    let seller = on_cancel(
        "O1",
        Some("002"),
        vec![fulfillment("F1", "Delivery", "Cancelled", json!([]))],
        None,
    );
    let s = h.message(Action::OnCancel, "seller.com", "s1", seller).unwrap();
    match &s.commands[0] {
        Command::Cancel { leg, reason, .. } => assert_eq!((*leg, reason.as_str()), (Leg::Logistics, "151")),
        other => panic!("{other:?}"),
    }
    assert_eq!(h.order.status, OrderStatus::Cancelled);
    assert_eq!(h.order.escrow.refunded, 54000);
    assert_eq!(h.order.cancellation.as_ref().unwrap().initiator, Party::Seller);
    // A deadline that passes after the seller did cancel says nothing.
    assert_eq!(h.run(&Input::Timer(&kind)).unwrap(), Step::default());
}

#[test]
fn a_rest_accept_and_a_network_cancel_send_the_same_messages() {
    let mut network = History::new(order());
    let cancel = json!({"message": {"order_id": "O1", "cancellation_reason_id": "053"}});
    network
        .message(Action::Cancel, "buyer-app.com", "b1", cancel)
        .unwrap();
    let mut rest = History::new(order());
    let request = RestAction::Request {
        request_id: "r1",
        reason_code: "053",
        fulfillment_id: None,
        note: None,
    };
    rest.run(&Input::Rest {
        actor: Actor::Customer("cust-1"),
        action: request,
    })
    .unwrap();
    rest.run(&Input::Rest {
        actor: Actor::Provider("prov-1"),
        action: RestAction::Accept { request_id: "r1" },
    })
    .unwrap();
    assert_eq!(network.sent, rest.sent);
}

#[test]
fn what_we_send_speaks_from_the_orders_city() {
    let mut h = History::new(order());
    let cancel = json!({"message": {"order_id": "O1", "cancellation_reason_id": "053"}});
    h.message(Action::Cancel, "buyer-app.com", "b1", cancel).unwrap();
    assert_eq!(h.order.city.as_deref(), Some("std:080"));
    let me = super::Identity {
        subscriber_id: sid("bnp.com"),
        subscriber_url: "https://bnp.com".into(),
    };
    let built = super::build(&h.order, &h.sent[0], &me, t0());
    let body: Value = serde_json::from_slice(&built.body).unwrap();
    assert_eq!(body["context"]["city"], "std:080");
    assert_eq!(body["context"]["country"], "IND");
}

fn request(h: &mut History, actor: Actor<'_>, id: &str, reason: &str) -> Step {
    h.run(&Input::Rest {
        actor,
        action: RestAction::Request {
            request_id: id,
            reason_code: reason,
            fulfillment_id: None,
            note: None,
        },
    })
    .unwrap()
}

#[test]
fn a_request_may_be_withdrawn_by_its_requester_until_decided() {
    let mut h = History::new(order());
    let s = request(&mut h, Actor::Customer("cust-1"), "r1", "053");
    assert_eq!(h.order.status, OrderStatus::CancellationRequested);
    assert_eq!(
        s.timers[0].kind,
        TimerKind::RequestExpiry {
            request_id: "r1".into()
        }
    );
    let withdraw = Input::Rest {
        actor: Actor::Provider("prov-1"),
        action: RestAction::Withdraw { request_id: "r1" },
    };
    assert_eq!(
        h.run(&withdraw).unwrap_err().rest_status(),
        403,
        "only the requester"
    );
    let withdraw = Input::Rest {
        actor: Actor::Customer("cust-1"),
        action: RestAction::Withdraw { request_id: "r1" },
    };
    let s = h.run(&withdraw).unwrap();
    assert_eq!(h.order.status, OrderStatus::Active);
    assert_eq!(h.order.cancel_requests[0].status, RequestStatus::Withdrawn);
    assert_eq!(
        (s.notices[0].user_id.as_str(), s.notices[0].kind),
        ("prov-1", NoticeKind::CancellationWithdrawn)
    );
    assert_eq!(h.run(&withdraw).unwrap_err().rest_status(), 409, "once decided");
    // Its expiry timer, when it fires, finds nothing pending.
    let expiry = TimerKind::RequestExpiry {
        request_id: "r1".into(),
    };
    assert_eq!(h.run(&Input::Timer(&expiry)).unwrap(), Step::default());
}

#[test]
fn a_pending_request_expires_and_the_order_is_as_it_was() {
    let mut h = History::new(order());
    request(&mut h, Actor::Provider("prov-1"), "r1", "002");
    let expiry = TimerKind::RequestExpiry {
        request_id: "r1".into(),
    };
    let s = h.run(&Input::Timer(&expiry)).unwrap();
    assert_eq!(h.order.status, OrderStatus::Active);
    assert_eq!(h.order.cancel_requests[0].status, RequestStatus::Expired);
    let told: Vec<(&str, NoticeKind)> = s.notices.iter().map(|n| (n.user_id.as_str(), n.kind)).collect();
    assert_eq!(
        told,
        vec![
            ("prov-1", NoticeKind::CancellationExpired),
            ("cust-1", NoticeKind::CancellationExpired)
        ]
    );
    let accept = Input::Rest {
        actor: Actor::Customer("cust-1"),
        action: RestAction::Accept { request_id: "r1" },
    };
    assert_eq!(h.run(&accept).unwrap_err().rest_status(), 409);
}

#[test]
fn an_order_whose_goods_are_all_delivered_is_completed_and_no_longer_cancellable() {
    let mut h = History::new(order());
    let delivered = json!({"message": {"order": {"id": "O1", "state": "Completed", "fulfillments": [
        {"id": "F1", "type": "Delivery", "state": {"descriptor": {"code": "Order-delivered"}}}]}}});
    h.message(Action::OnStatus, "seller.com", "s1", delivered)
        .unwrap();
    assert_eq!(h.order.state, super::OrderState::Completed);
    assert_eq!(h.order.status, OrderStatus::Completed);
    let e = h
        .run(&Input::Rest {
            actor: Actor::Customer("cust-1"),
            action: RestAction::Request {
                request_id: "r1",
                reason_code: "053",
                fulfillment_id: None,
                note: None,
            },
        })
        .unwrap_err();
    assert_eq!(e.rest_status(), 409);
    let cancel = json!({"message": {"order_id": "O1", "cancellation_reason_id": "053"}});
    assert_eq!(
        h.message(Action::Cancel, "buyer-app.com", "b1", cancel)
            .unwrap_err()
            .code(),
        "20007"
    );
}

fn cancel_of(c: &Command) -> (Leg, &str, Option<&CancelParams>, Option<&str>) {
    match c {
        Command::Cancel {
            leg,
            reason,
            params,
            fulfillment_id,
            ..
        } => (*leg, reason.as_str(), params.as_ref(), fulfillment_id.as_deref()),
        other => panic!("expected a cancel, got {other:?}"),
    }
}

#[test]
fn a_silent_seller_gets_a_forced_cancel_then_the_leg_is_unresolved() {
    // ONDC flow 005: the buyer's params ride on our /cancel; unanswered within ttl_response, the
    // /cancel goes again with force = yes and reason 052 for the same fulfillment.
    let mut h = History::new(order());
    let cancel = json!({"message": {"order_id": "O1", "cancellation_reason_id": "052", "descriptor": {
        "name": "fulfillment", "short_desc": "F1",
        "tags": [tag("params", &[("force", "no"), ("ttl_response", "PT10S")])]}}});
    let s = h.message(Action::Cancel, "buyer-app.com", "b1", cancel).unwrap();
    let (leg, reason, params, f) = cancel_of(&s.commands[0]);
    assert_eq!((leg, reason, f), (Leg::Retail, "052", Some("F1")));
    assert_eq!(
        params,
        Some(&CancelParams {
            force: false,
            ttl_response: "PT10S".into()
        })
    );
    let deadline = s
        .timers
        .iter()
        .find(|t| {
            t.kind
                == TimerKind::CancelResponse {
                    leg: Leg::Retail,
                    message_id: MessageId::parse("m1").unwrap(),
                }
        })
        .unwrap();
    assert_eq!(deadline.due_at, t0() + chrono::Duration::seconds(10));
    // The seller stays silent.
    let s = h.run(&Input::Timer(&deadline.kind)).unwrap();
    let (leg, reason, params, f) = cancel_of(&s.commands[0]);
    assert_eq!((leg, reason, f), (Leg::Retail, "052", Some("F1")));
    assert!(params.unwrap().force);
    assert!(matches!(
        h.order.retail.status,
        LegStatus::Cancelling { forced: true, .. }
    ));
    // Silent again: unresolved, the buyer app's /cancel is answered with a timeout, and both
    // parties hear the platform must raise an issue.
    let s = h.run(&Input::Timer(&s.timers[0].kind)).unwrap();
    assert!(matches!(h.order.retail.status, LegStatus::Unresolved { .. }));
    match &s.commands[..] {
        [
            Command::ToBuyer {
                action: BuyerAction::OnCancel,
                message_id,
                error: Some((code, _)),
                ..
            },
        ] => {
            assert_eq!((message_id.as_str(), code.as_str()), ("b1", "20009"));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        s.notices
            .iter()
            .all(|n| n.kind == NoticeKind::CancellationUnresolved)
            && s.notices.len() == 2
    );
    // The first deadline firing late changes nothing.
    assert_eq!(h.run(&Input::Timer(&deadline.kind)).unwrap(), Step::default());
    // A late answer still resolves it.
    let late = on_cancel(
        "O1",
        None,
        vec![fulfillment("F1", "Delivery", "Cancelled", json!([]))],
        None,
    );
    h.message(Action::OnCancel, "seller.com", "m2", late).unwrap();
    assert_eq!(h.order.retail.status, LegStatus::Cancelled);
}

#[test]
fn a_second_buyer_cancel_with_force_is_sent_not_refused() {
    let mut h = History::new(order());
    let cancel = json!({"message": {"order_id": "O1", "cancellation_reason_id": "052"}});
    h.message(Action::Cancel, "buyer-app.com", "b1", cancel).unwrap();
    let forced = json!({"message": {"order_id": "O1", "cancellation_reason_id": "052", "descriptor": {
        "name": "fulfillment", "short_desc": "F1",
        "tags": [tag("params", &[("force", "yes"), ("ttl_response", "PT1H")])]}}});
    let s = h.message(Action::Cancel, "buyer-app.com", "b2", forced).unwrap();
    assert_eq!(
        s.commands.len(),
        1,
        "the retail leg only: the LSP was already asked"
    );
    let (_, _, params, _) = cancel_of(&s.commands[0]);
    assert!(params.unwrap().force);
    let again = json!({"message": {"order_id": "O1", "cancellation_reason_id": "052"}});
    assert_eq!(
        h.message(Action::Cancel, "buyer-app.com", "b3", again)
            .unwrap_err()
            .code(),
        "20007",
        "without force it is still a repeat"
    );
}

#[test]
fn a_silent_lsp_is_asked_for_its_status() {
    let mut h = History::new(order());
    let seller = on_cancel(
        "O1",
        Some("002"),
        vec![fulfillment("F1", "Delivery", "Cancelled", json!([]))],
        None,
    );
    let s = h.message(Action::OnCancel, "seller.com", "s1", seller).unwrap();
    let deadline = s.timers[0].clone();
    assert_eq!(
        deadline.due_at,
        t0() + chrono::Duration::minutes(5),
        "the configured default"
    );
    let s = h.run(&Input::Timer(&deadline.kind)).unwrap();
    assert!(matches!(
        s.commands[0],
        Command::Status {
            leg: Leg::Logistics,
            ..
        }
    ));
    assert!(s.notices.iter().any(|n| n.kind == NoticeKind::LspOverdue));
    // Its /on_status says the logistics order is cancelled: the leg is done.
    let status = json!({"message": {"order": {"id": "L1", "state": "Cancelled", "fulfillments": [
        {"id": "1", "type": "Delivery", "state": {"descriptor": {"code": "Cancelled"}}}]}}});
    h.message(Action::OnStatus, "lsp.com", "l1", status).unwrap();
    assert!(matches!(
        h.order.logistics.as_ref().unwrap().status,
        LegStatus::Cancelled
    ));
}

/// A seller's unsolicited part-cancel `/on_update`, shaped like ONDC's RET11 1.2.5 example:
/// items moved to a `Cancel` fulfillment, `cancel_request` 002 and `quote_trail` lines.
fn part_cancel_update(cancel_id: &str, left_on_f1: u64, trail: &[&str]) -> Value {
    let trail: Vec<Value> = trail
        .iter()
        .map(|v| {
            tag(
                "quote_trail",
                &[("type", "item"), ("id", "I1"), ("currency", "INR"), ("value", v)],
            )
        })
        .collect();
    let mut tags = vec![tag(
        "cancel_request",
        &[("reason_id", "002"), ("initiated_by", "seller.com")],
    )];
    tags.extend(trail);
    json!({"message": {"order": {"id": "O1", "state": "Accepted",
        "items": [
            {"id": "I1", "fulfillment_id": "F1", "quantity": {"count": 0}},
            {"id": "I1", "fulfillment_id": cancel_id, "quantity": {"count": 1}},
            {"id": "I2", "fulfillment_id": "F1", "quantity": {"count": left_on_f1}}],
        "fulfillments": [
            {"id": "F1", "type": "Delivery", "state": {"descriptor": {"code": "Out-for-delivery"}}},
            {"id": cancel_id, "type": "Cancel", "state": {"descriptor": {"code": "Cancelled"}}, "tags": tags}]}}})
}

#[test]
fn a_part_cancel_keeps_the_order_live_and_refunds_what_it_takes_off() {
    let mut h = History::new(order());
    let s = h
        .message(
            Action::OnUpdate,
            "seller.com",
            "s1",
            part_cancel_update("C1", 2, &["-269", "-13.45"]),
        )
        .unwrap();
    assert_eq!(h.order.status, OrderStatus::Active);
    assert_eq!(h.order.retail.status, LegStatus::Active);
    let part = &h.order.part_cancels[0];
    assert_eq!(
        (part.fulfillment_id.as_str(), part.reason.as_str()),
        ("C1", "002")
    );
    assert_eq!(part.items, vec![("I1".to_owned(), 1)]);
    assert_eq!(part.amount.minor, 28245);
    assert_eq!(h.order.escrow.refunded, 28245, "partial refund, in minor units");
    assert!(
        s.notices
            .iter()
            .any(|n| n.kind == NoticeKind::PartCancelled && n.user_id == "cust-1")
    );
    assert!(s.commands.is_empty(), "nothing to cancel on the network");
    // The same message again changes nothing.
    assert_eq!(
        h.message(
            Action::OnUpdate,
            "seller.com",
            "s1b",
            part_cancel_update("C1", 2, &["-269"])
        )
        .unwrap()
        .order,
        None
    );
    // Then the buyer cancels the rest: the settlement returns what is left, not the whole again.
    let cancel = json!({"message": {"order_id": "O1", "cancellation_reason_id": "053"}});
    h.message(Action::Cancel, "buyer-app.com", "b1", cancel).unwrap();
    let confirm = on_cancel(
        "O1",
        None,
        vec![fulfillment("F1", "Delivery", "Cancelled", json!([]))],
        None,
    );
    h.message(Action::OnCancel, "seller.com", "m1", confirm).unwrap();
    assert_eq!(h.order.escrow.refunded, 54000);
    assert_eq!(h.order.escrow.charged, 0);
}

#[test]
fn a_part_cancel_of_every_item_is_the_sellers_cancellation() {
    let mut h = History::new(order());
    let s = h
        .message(
            Action::OnUpdate,
            "seller.com",
            "s1",
            part_cancel_update("C1", 0, &["-540"]),
        )
        .unwrap();
    assert_eq!(h.order.status, OrderStatus::Cancelled);
    assert_eq!(h.order.cancellation.as_ref().unwrap().initiator, Party::Seller);
    assert!(h.order.part_cancels.is_empty());
    let (leg, reason, _, _) = cancel_of(&s.commands[0]);
    assert_eq!((leg, reason), (Leg::Logistics, "151"), "002 cascades to the LSP");
}
