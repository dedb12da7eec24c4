//! What the gateway sends, held to what ONDC's log-validation utility checks for retail 1.2.5
//! flows 4 (buyer cancel), 5 (RTO) and 005 (force cancel), and to our own schemas for those
//! actions (`../shared/research/ondc-cancellation-flows.md` §d, §e). Every message is built by
//! `build` from a real history, exactly as the outbox sends it.

use super::model::*;
use super::{Identity, Input, Inputs, Network, Step, build, order_id_of, read_event, step};
use crate::protocol::{Action, DomainFamily, MessageId, Schemas, SubscriberId, check_context, duration_secs};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 3, 11, 0, 0).unwrap()
}

fn me() -> Identity {
    Identity {
        subscriber_id: SubscriberId::parse("bnp.com").unwrap(),
        subscriber_url: "https://bnp.com/ondc".into(),
    }
}

/// Runs `input` on `order`, returns the step and the bodies it sends.
fn run(order: &Order, input: &Input<'_>, n: &mut u32) -> (Step, Vec<(Command, Value)>) {
    let our = me().subscriber_id;
    let mut new_id = || {
        *n += 1;
        MessageId::parse(&format!("00000000-0000-4000-8000-{:012}", *n)).unwrap()
    };
    let mut inputs = Inputs {
        now: t0(),
        our_id: &our,
        new_id: &mut new_id,
        deadlines: Default::default(),
    };
    let s = step(Some(order), input, &mut inputs).unwrap();
    let after = s.order.clone().unwrap_or_else(|| order.clone());
    let sent = s
        .commands
        .iter()
        .map(|c| {
            let body: Value = serde_json::from_slice(&build(&after, c, &me(), t0()).body).unwrap();
            (c.clone(), body)
        })
        .collect();
    (s, sent)
}

fn inbound(
    order: &Order,
    action: Action,
    from: &str,
    mid: &str,
    body: Value,
    n: &mut u32,
) -> (Step, Vec<(Command, Value)>) {
    let family = if from == "lsp.com" {
        DomainFamily::Logistics
    } else {
        DomainFamily::Retail
    };
    let mut body = body;
    body["context"] = json!({
        "domain": if family == DomainFamily::Logistics { "ONDC:LOG10" } else { "ONDC:RET10" },
        "action": action.as_str(), "core_version": "1.2.5",
        "bap_id": if action.is_callback() { "bnp.com" } else { "buyer-app.com" }, "bap_uri": "https://bap.com",
        "bpp_id": if action.is_callback() { from } else { "seller.com" }, "bpp_uri": "https://bpp.com",
        "transaction_id": if family == DomainFamily::Logistics { "TL-O1" } else { "TR-O1" },
        "message_id": mid, "timestamp": "2025-01-03T10:59:00.000Z", "city": "std:080", "country": "IND", "ttl": "PT30S",
    });
    let context = check_context(&body, action, &["1.2.5".to_owned()]).unwrap();
    let event = read_event(&context, &body);
    let order_ref = order_id_of(&context, &body);
    let input = Input::Network(Network {
        context: &context,
        order_ref: order_ref.as_deref(),
        event: &event,
    });
    run(order, &input, n)
}

fn tag<'v>(tags: &'v Value, group: &str, code: &str) -> Option<&'v str> {
    tags.as_array()?
        .iter()
        .filter(|g| g["code"] == group)
        .flat_map(|g| g["list"].as_array().into_iter().flatten())
        .find(|t| t["code"] == code)?["value"]
        .as_str()
}

/// The checks every message we send must pass, whatever its action.
fn common(body: &Value, action: Action, family: DomainFamily, schemas: &Schemas) {
    // Our own strict reading of the context (RFC 3339 with milliseconds, ids that are not
    // URLs, ISO 8601 ttl, message_id ≠ transaction_id) …
    check_context(body, action, &["1.2.5".to_owned()]).unwrap_or_else(|e| panic!("{action}: {e}"));
    // … and the validator's own rules.
    let c = &body["context"];
    assert_eq!(c["ttl"], "PT30S", "ttl = PT30S as per the API contract");
    assert_eq!(c["core_version"], "1.2.5");
    assert_eq!(c["country"], "IND");
    let city = c["city"].as_str().unwrap();
    assert!(crate::protocol::is_city_code(city), "{city}");
    assert_ne!(c["city"], "*", "the order's city, not the wildcard");
    assert_eq!(c["action"], action.as_str());
    schemas
        .check(family, action, body)
        .unwrap_or_else(|v| panic!("{action} on {family:?}: {} at {}", v.message, v.path));
}

#[test]
fn flow_4_the_buyer_cancels_and_the_seller_gets_a_valid_cancel_then_update() {
    let schemas = Schemas::compile().unwrap();
    let mut n = 0;
    let order = Order::sample("O1");
    let cancel = json!({"message": {"order_id": "O1", "cancellation_reason_id": "052",
        "descriptor": {"name": "fulfillment", "short_desc": "F1"}}});
    let (s, sent) = inbound(&order, Action::Cancel, "buyer-app.com", "b1", cancel, &mut n);
    let order = s.order.unwrap();
    for (command, body) in &sent {
        match command {
            Command::Cancel { leg: Leg::Retail, .. } => {
                common(body, Action::Cancel, DomainFamily::Retail, &schemas);
                let m = &body["message"];
                assert_eq!(m["order_id"], "O1");
                // buyerCancellationRid = {051, 052, 053, 999, 010}
                assert!(
                    ["051", "052", "053", "999", "010"]
                        .contains(&m["cancellation_reason_id"].as_str().unwrap())
                );
                // The schema the validator applies requires descriptor.name and short_desc.
                assert_eq!(m["descriptor"]["name"], "fulfillment");
                assert_eq!(m["descriptor"]["short_desc"], "F1");
                assert_eq!(
                    tag(&m["descriptor"]["tags"], "cancel_request", "initiated_by"),
                    Some("bnp.com")
                );
            }
            Command::Cancel {
                leg: Leg::Logistics, ..
            } => {
                common(body, Action::Cancel, DomainFamily::Logistics, &schemas);
                // LOG10 LBNP codes the automation accepts on /cancel.
                let reason = body["message"]["cancellation_reason_id"].as_str().unwrap();
                assert!(
                    [
                        "150", "151", "152", "153", "154", "155", "156", "175", "996", "994"
                    ]
                    .contains(&reason),
                    "{reason}"
                );
                assert_eq!(body["message"]["order_id"], "L1");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Both counterparts confirm; the seller then gets the /update with the final state.
    let mut order = order;
    let lsp_mid = match &sent[1].0 {
        Command::Cancel { message_id, .. } => message_id.to_string(),
        other => panic!("{other:?}"),
    };
    let lsp = json!({"message": {"order": {"id": "L1", "state": "Cancelled", "fulfillments": [
        {"id": "1", "type": "Delivery", "state": {"descriptor": {"code": "Cancelled"}}}]}}});
    let (s, _) = inbound(&order, Action::OnCancel, "lsp.com", &lsp_mid, lsp, &mut n);
    order = s.order.unwrap();
    let snp_mid = match &sent[0].0 {
        Command::Cancel { message_id, .. } => message_id.to_string(),
        other => panic!("{other:?}"),
    };
    let snp = json!({"message": {"order": {"id": "O1", "state": "Cancelled", "fulfillments": [
        {"id": "F1", "type": "Delivery", "state": {"descriptor": {"code": "Cancelled"}}}]}}});
    let (_, sent) = inbound(&order, Action::OnCancel, "seller.com", &snp_mid, snp, &mut n);
    let update = &sent
        .iter()
        .find(|(c, _)| matches!(c, Command::UpdateStates { .. }))
        .unwrap()
        .1;
    common(update, Action::Update, DomainFamily::Retail, &schemas);
    let m = &update["message"];
    assert!(["payment", "item", "fulfillment"].contains(&m["update_target"].as_str().unwrap()));
    assert_eq!(m["order"]["id"], "O1");
    let f = &m["order"]["fulfillments"][0];
    assert_eq!(tag(&f["tags"], "update_state", "state"), Some("Cancelled"));
    assert!(
        crate::protocol::parse_timestamp(tag(&f["tags"], "update_state", "timestamp").unwrap()).is_some()
    );
}

#[test]
fn flow_5_rto_claims_ride_on_their_fulfillments_with_only_the_allowed_codes() {
    let schemas = Schemas::compile().unwrap();
    let mut n = 0;
    let order = Order::sample("O1");
    let lsp = json!({"message": {"order": {"id": "L1", "state": "In-progress",
        "cancellation": {"cancelled_by": "lsp.com", "reason": {"id": "103"}},
        "fulfillments": [
            {"id": "1", "type": "Delivery", "state": {"descriptor": {"code": "RTO"}}},
            {"id": "1-RTO", "type": "RTO", "state": {"descriptor": {"code": "RTO-Initiated"}}}],
        "quote": {"price": {"currency": "INR", "value": "70.00"}, "breakup": [
            {"@ondc/org/item_id": "I1", "@ondc/org/title_type": "delivery", "price": {"currency": "INR", "value": "50.00"}},
            {"@ondc/org/item_id": "I2", "@ondc/org/title_type": "rto", "price": {"currency": "INR", "value": "20.00"}}]}}}});
    let (s, sent) = inbound(&order, Action::OnCancel, "lsp.com", "l1", lsp, &mut n);
    let order = s.order.unwrap();
    let (command, cancel) = &sent[0];
    common(cancel, Action::Cancel, DomainFamily::Retail, &schemas);
    assert_eq!(cancel["message"]["descriptor"]["short_desc"], "F1");
    assert_eq!(
        tag(
            &cancel["message"]["descriptor"]["tags"],
            "cancel_request",
            "initiated_by"
        ),
        Some("lsp.com")
    );
    let mid = command.route().2.to_string();
    let snp = json!({"message": {"order": {"id": "O1", "state": "In-progress", "fulfillments": [
        {"id": "F1", "type": "Delivery", "state": {"descriptor": {"code": "RTO"}},
         "tags": [{"code": "cancel_request", "list": [{"code": "rto_id", "value": "F1-RTO"}, {"code": "reason_id", "value": "103"}]}]},
        {"id": "F1-RTO", "type": "RTO", "state": {"descriptor": {"code": "RTO-Initiated"}}}]}}});
    let (s, _) = inbound(&order, Action::OnCancel, "seller.com", &mid, snp, &mut n);
    let order = s.order.unwrap();
    let done = json!({"message": {"order": {"id": "L1", "fulfillments": [
        {"id": "1-RTO", "type": "RTO", "state": {"descriptor": {"code": "RTO-Delivered"}}}]}}});
    let (_, sent) = inbound(&order, Action::OnStatus, "lsp.com", "l2", done, &mut n);
    let update = &sent
        .iter()
        .find(|(c, _)| matches!(c, Command::UpdateStates { .. }))
        .unwrap()
        .1;
    common(update, Action::Update, DomainFamily::Retail, &schemas);
    for f in update["message"]["order"]["fulfillments"].as_array().unwrap() {
        for g in f["tags"].as_array().unwrap() {
            // The tag codes the automation allows on /update, and claim lists ⊆ {type, currency, value}.
            let code = g["code"].as_str().unwrap();
            assert!(
                ["update_state", "bnp_receivables_claim"].contains(&code),
                "{code}"
            );
            if code == "bnp_receivables_claim" {
                for t in g["list"].as_array().unwrap() {
                    assert!(["type", "currency", "value"].contains(&t["code"].as_str().unwrap()));
                }
            }
        }
    }
    let rto = update["message"]["order"]["fulfillments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "F1-RTO")
        .unwrap();
    assert_eq!(tag(&rto["tags"], "bnp_receivables_claim", "type"), Some("rto"));
    assert_eq!(tag(&rto["tags"], "bnp_receivables_claim", "value"), Some("20.00"));
}

#[test]
fn flow_005_the_forced_cancel_carries_reason_052_and_params() {
    let schemas = Schemas::compile().unwrap();
    let mut n = 0;
    let order = Order::sample("O1");
    let cancel = json!({"message": {"order_id": "O1", "cancellation_reason_id": "052", "descriptor": {
        "name": "fulfillment", "short_desc": "F1",
        "tags": [{"code": "params", "list": [{"code": "force", "value": "no"}, {"code": "ttl_response", "value": "PT10S"}]}]}}});
    let (s, sent) = inbound(&order, Action::Cancel, "buyer-app.com", "b1", cancel, &mut n);
    let first = &sent[0].1;
    let tags = &first["message"]["descriptor"]["tags"];
    assert_eq!(tag(tags, "params", "force"), Some("no"));
    // The automation: descriptor.tags codes ⊆ {params, cancel_request}.
    for g in tags.as_array().unwrap() {
        assert!(["params", "cancel_request"].contains(&g["code"].as_str().unwrap()));
    }
    let deadline = s
        .timers
        .iter()
        .find(|t| matches!(&t.kind, TimerKind::CancelResponse { leg: Leg::Retail, .. }))
        .unwrap()
        .clone();
    let order = s.order.unwrap();
    let (_, sent) = run(&order, &Input::Timer(&deadline.kind), &mut n);
    let forced = &sent[0].1;
    common(forced, Action::Cancel, DomainFamily::Retail, &schemas);
    let m = &forced["message"];
    assert_eq!(m["cancellation_reason_id"], "052", "flow 005 requires 052");
    assert_eq!(m["descriptor"]["short_desc"], "F1", "the same fulfillment");
    assert_eq!(tag(&m["descriptor"]["tags"], "params", "force"), Some("yes"));
    let ttl = tag(&m["descriptor"]["tags"], "params", "ttl_response").unwrap();
    assert!(
        duration_secs(ttl).is_some(),
        "ttl_response a valid ISO 8601 duration: {ttl}"
    );
    assert_ne!(
        forced["context"]["message_id"], first["context"]["message_id"],
        "a new message"
    );
}
