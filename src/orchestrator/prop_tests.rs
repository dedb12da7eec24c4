//! Property tests for the decision step: whatever sequence of messages, REST actions, delivery
//! failures and deadlines reaches an order, the model holds — a terminal order stays terminal,
//! the escrow is never negative, never over-refunded and settled once, every `/cancel` sent has
//! its leg waiting for it, and the REST status is the one derived from the order.

use super::model::*;
use super::{Actor, Input, Inputs, Network, RestAction, order_id_of, read_event, status_of, step};
use crate::protocol::{Action, MessageId, check_context};
use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};

/// One thing that can happen to an order, chosen by proptest.
#[derive(Debug, Clone)]
enum Happening {
    BuyerCancel { reason: &'static str, force: bool },
    SellerAnswers { error: bool },
    SellerCancels { reason: Option<&'static str> },
    LspAnswers { rto: bool, error: bool },
    LspCancels { reason: &'static str },
    LspRtoEnds { disposed: bool },
    SellerAcksUpdate,
    SellerPartCancel { all: bool },
    SellerDelivers,
    Request { by_customer: bool, reason: &'static str },
    Decide { by_customer: bool, accept: bool },
    Withdraw { by_customer: bool },
    Deadline { pick: u8 },
    DeliveryFails { pick: u8, permanent: bool },
}

fn happening() -> impl Strategy<Value = Happening> {
    let reason = prop::sample::select(vec!["052", "053", "002", "016", "103", "127", "xyz"]);
    prop_oneof![
        (reason.clone(), any::<bool>()).prop_map(|(reason, force)| Happening::BuyerCancel { reason, force }),
        any::<bool>().prop_map(|error| Happening::SellerAnswers { error }),
        prop::option::of(reason.clone()).prop_map(|reason| Happening::SellerCancels { reason }),
        (any::<bool>(), any::<bool>()).prop_map(|(rto, error)| Happening::LspAnswers { rto, error }),
        reason.clone().prop_map(|reason| Happening::LspCancels { reason }),
        any::<bool>().prop_map(|disposed| Happening::LspRtoEnds { disposed }),
        Just(Happening::SellerAcksUpdate),
        any::<bool>().prop_map(|all| Happening::SellerPartCancel { all }),
        Just(Happening::SellerDelivers),
        (any::<bool>(), reason).prop_map(|(by_customer, reason)| Happening::Request { by_customer, reason }),
        (any::<bool>(), any::<bool>())
            .prop_map(|(by_customer, accept)| Happening::Decide { by_customer, accept }),
        any::<bool>().prop_map(|by_customer| Happening::Withdraw { by_customer }),
        any::<u8>().prop_map(|pick| Happening::Deadline { pick }),
        (any::<u8>(), any::<bool>())
            .prop_map(|(pick, permanent)| Happening::DeliveryFails { pick, permanent }),
    ]
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 3, 11, 0, 0).unwrap()
}

/// The order as it goes, with what has been sent and which timers are set.
struct World {
    order: Order,
    sent: Vec<Command>,
    timers: Vec<Timer>,
    n: u32,
    now: DateTime<Utc>,
}

impl World {
    fn run(&mut self, input: &Input<'_>) {
        let our = crate::protocol::SubscriberId::parse("bnp.com").unwrap();
        let mut n = self.n;
        let mut new_id = || {
            n += 1;
            MessageId::parse(&format!("m{n}")).unwrap()
        };
        let mut inputs = Inputs {
            now: self.now,
            our_id: &our,
            new_id: &mut new_id,
            deadlines: Default::default(),
        };
        let old = self.order.clone();
        let result = step(Some(&old), input, &mut inputs);
        self.n = n;
        self.now += Duration::seconds(1);
        let Ok(s) = result else { return };
        let new = s.order.clone().unwrap_or_else(|| old.clone());
        check(&old, &new, &s.commands);
        self.sent.extend(s.commands);
        self.timers.extend(s.timers);
        self.order = new;
    }

    fn message(&mut self, action: Action, from: &str, message_id: &str, mut body: Value) {
        let logistics = from == "lsp.com";
        body["context"] = json!({
            "domain": if logistics { "ONDC:LOG10" } else { "ONDC:RET10" },
            "action": action.as_str(), "core_version": "1.2.5",
            "bap_id": if action.is_callback() { "bnp.com" } else { "buyer-app.com" }, "bap_uri": "https://bap.com",
            "bpp_id": if action.is_callback() { from } else { "seller.com" }, "bpp_uri": "https://bpp.com",
            "transaction_id": if logistics { "TL-O1" } else { "TR-O1" },
            "message_id": message_id, "timestamp": "2025-01-03T10:59:00.000Z", "city": "std:080", "country": "IND",
        });
        let Ok(context) = check_context(&body, action, &["1.2.5".to_owned()]) else {
            return;
        };
        let event = read_event(&context, &body);
        let order_ref = order_id_of(&context, &body);
        self.run(&Input::Network(Network {
            context: &context,
            order_ref: order_ref.as_deref(),
            event: &event,
        }));
    }

    /// The message id of the `/cancel` a leg waits on, or a fresh one.
    fn awaited(&self, leg: Leg) -> String {
        let status = match leg {
            Leg::Retail => Some(&self.order.retail.status),
            Leg::Logistics => self.order.logistics.as_ref().map(|l| &l.status),
        };
        match status {
            Some(LegStatus::Cancelling { message_id, .. } | LegStatus::Unresolved { message_id }) => {
                message_id.to_string()
            }
            _ => format!("u{}", self.n),
        }
    }

    fn happen(&mut self, h: &Happening) {
        let fresh = format!("x{}", self.n);
        let f = |id: &str, kind: &str, state: &str| json!({"id": id, "type": kind, "state": {"descriptor": {"code": state}}});
        let error = json!({"type": "DOMAIN-ERROR", "code": "50001", "message": "no"});
        match h {
            Happening::BuyerCancel { reason, force } => {
                let force = if *force { "yes" } else { "no" };
                let body = json!({"message": {"order_id": "O1", "cancellation_reason_id": reason, "descriptor": {
                    "tags": [{"code": "params", "list": [{"code": "force", "value": force}, {"code": "ttl_response", "value": "PT5S"}]}]}}});
                self.message(Action::Cancel, "buyer-app.com", &fresh, body);
            }
            Happening::SellerAnswers { error: e } => {
                let mut body = json!({"message": {"order": {"id": "O1", "state": "Cancelled",
                    "fulfillments": [f("F1", "Delivery", "Cancelled")]}}});
                if *e {
                    body["error"] = error;
                }
                let mid = self.awaited(Leg::Retail);
                self.message(Action::OnCancel, "seller.com", &mid, body);
            }
            Happening::SellerCancels { reason } => {
                let mut order = json!({"id": "O1", "state": "Cancelled", "fulfillments": [f("F1", "Delivery", "Cancelled")]});
                if let Some(r) = reason {
                    order["cancellation"] = json!({"cancelled_by": "seller.com", "reason": {"id": r}});
                }
                self.message(
                    Action::OnCancel,
                    "seller.com",
                    &fresh,
                    json!({"message": {"order": order}}),
                );
            }
            Happening::LspAnswers { rto, error: e } => {
                let fs = if *rto {
                    json!([f("1", "Delivery", "RTO"), f("1-RTO", "RTO", "RTO-Initiated")])
                } else {
                    json!([f("1", "Delivery", "Cancelled")])
                };
                let mut body = json!({"message": {"order": {"id": "L1", "state": "Cancelled", "fulfillments": fs,
                    "quote": {"price": {"currency": "INR", "value": "80.00"}, "breakup": [
                        {"@ondc/org/item_id": "I1", "@ondc/org/title_type": "delivery", "price": {"currency": "INR", "value": "60.00"}},
                        {"@ondc/org/item_id": "I2", "@ondc/org/title_type": "rto", "price": {"currency": "INR", "value": "20.00"}}]}}}});
                if *e {
                    body["error"] = error;
                }
                let mid = self.awaited(Leg::Logistics);
                self.message(Action::OnCancel, "lsp.com", &mid, body);
            }
            Happening::LspCancels { reason } => {
                let body = json!({"message": {"order": {"id": "L1", "state": "In-progress",
                    "cancellation": {"cancelled_by": "lsp.com", "reason": {"id": reason}},
                    "fulfillments": [f("1", "Delivery", "RTO"), f("1-RTO", "RTO", "RTO-Initiated")],
                    "quote": {"price": {"currency": "INR", "value": "900.00"}}}}});
                self.message(Action::OnCancel, "lsp.com", &fresh, body);
            }
            Happening::LspRtoEnds { disposed } => {
                let state = if *disposed {
                    "RTO-Disposed"
                } else {
                    "RTO-Delivered"
                };
                let body =
                    json!({"message": {"order": {"id": "L1", "fulfillments": [f("1-RTO", "RTO", state)]}}});
                self.message(Action::OnStatus, "lsp.com", &fresh, body);
            }
            Happening::SellerAcksUpdate => {
                let mid = self
                    .order
                    .awaiting_update
                    .as_ref()
                    .map_or(fresh, ToString::to_string);
                let body = json!({"message": {"order": {"id": "O1", "state": "Cancelled", "fulfillments": [f("F1", "Delivery", "Cancelled")]}}});
                self.message(Action::OnUpdate, "seller.com", &mid, body);
            }
            Happening::SellerPartCancel { all } => {
                let left = if *all { 0 } else { 1 };
                let body = json!({"message": {"order": {"id": "O1", "state": "Accepted",
                    "items": [{"id": "I1", "fulfillment_id": "C1", "quantity": {"count": 1}},
                              {"id": "I2", "fulfillment_id": "F1", "quantity": {"count": left}}],
                    "fulfillments": [f("F1", "Delivery", "Out-for-delivery"), {"id": "C1", "type": "Cancel",
                        "state": {"descriptor": {"code": "Cancelled"}}, "tags": [
                            {"code": "cancel_request", "list": [{"code": "reason_id", "value": "002"}]},
                            {"code": "quote_trail", "list": [{"code": "type", "value": "item"}, {"code": "id", "value": "I1"},
                                {"code": "currency", "value": "INR"}, {"code": "value", "value": "-100.00"}]}]}]}}});
                self.message(Action::OnUpdate, "seller.com", &fresh, body);
            }
            Happening::SellerDelivers => {
                let body = json!({"message": {"order": {"id": "O1", "fulfillments": [f("F1", "Delivery", "Order-delivered")]}}});
                self.message(Action::OnStatus, "seller.com", &fresh, body);
            }
            Happening::Request { by_customer, reason } => {
                let id = format!("r{}", self.n);
                let action = RestAction::Request {
                    request_id: &id,
                    reason_code: reason,
                    fulfillment_id: None,
                    note: None,
                };
                self.run(&Input::Rest {
                    actor: actor(*by_customer),
                    action,
                });
            }
            Happening::Decide { by_customer, accept } => {
                let Some(id) = self.order.cancel_requests.last().map(|r| r.id.clone()) else {
                    return;
                };
                let action = if *accept {
                    RestAction::Accept { request_id: &id }
                } else {
                    RestAction::Reject { request_id: &id }
                };
                self.run(&Input::Rest {
                    actor: actor(*by_customer),
                    action,
                });
            }
            Happening::Withdraw { by_customer } => {
                let Some(id) = self.order.cancel_requests.last().map(|r| r.id.clone()) else {
                    return;
                };
                self.run(&Input::Rest {
                    actor: actor(*by_customer),
                    action: RestAction::Withdraw { request_id: &id },
                });
            }
            Happening::Deadline { pick } => {
                if self.timers.is_empty() {
                    return;
                }
                let timer = self.timers.remove(usize::from(*pick) % self.timers.len());
                self.run(&Input::Timer(&timer.kind));
            }
            Happening::DeliveryFails { pick, permanent } => {
                if self.sent.is_empty() {
                    return;
                }
                let (leg, action, message_id) = self.sent[usize::from(*pick) % self.sent.len()].route();
                let event = Event::DeliveryFailed {
                    message_id: message_id.clone(),
                    action: action.to_owned(),
                    leg,
                    permanent: *permanent,
                    code: Some("30012".into()),
                    reason: "refused".into(),
                };
                self.run(&Input::Delivery(&event));
            }
        }
    }
}

fn actor(customer: bool) -> Actor<'static> {
    if customer {
        Actor::Customer("cust-1")
    } else {
        Actor::Provider("prov-1")
    }
}

/// The model, after one step from `old` to `new` that sent `commands`.
fn check(old: &Order, new: &Order, commands: &[Command]) {
    if old.state.is_terminal() {
        assert_eq!(new.state, old.state, "a terminal order stays terminal");
    }
    let (o, e) = (&old.escrow, &new.escrow);
    assert!(e.refunded >= 0 && e.charged >= 0, "{e:?}");
    assert!(e.refunded + e.charged <= e.held, "never more than held: {e:?}");
    assert!(
        e.refunded >= o.refunded && e.charged >= o.charged,
        "nothing taken back: {o:?} → {e:?}"
    );
    if o.settled {
        assert_eq!(
            (e.refunded, e.charged),
            (o.refunded, o.charged),
            "settled once: {o:?} → {e:?}"
        );
    }
    for c in commands {
        if let Command::Cancel { leg, message_id, .. } = c {
            let status = match leg {
                Leg::Retail => Some(&new.retail.status),
                Leg::Logistics => new.logistics.as_ref().map(|l| &l.status),
            };
            assert!(
                matches!(status, Some(LegStatus::Cancelling { message_id: m, .. }) if m == message_id),
                "a /cancel {message_id} on {leg:?} whose leg does not wait for it: {status:?}"
            );
        }
    }
    assert_eq!(
        new.status,
        status_of(new),
        "the REST status is derived from the order"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn no_sequence_of_events_leaves_the_model(history in prop::collection::vec(happening(), 1..25)) {
        let mut world = World {
            order: Order::sample("O1"),
            sent: vec![],
            timers: vec![],
            n: 0,
            now: t0(),
        };
        for h in &history {
            world.happen(h);
        }
    }
}
