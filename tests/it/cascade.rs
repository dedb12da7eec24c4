//! The three cascades end to end, with a real SNP and LSP on loopback that verify the gateway's
//! signatures: what each counterpart receives (reasons, `initiated_by`, `update_state`, the
//! claim), the final order view and the timeline; NACK-then-ACK, retries exhausted, a restart in
//! the middle of a cascade, and two callbacks racing for one order.

use crate::app::{
    GATEWAY, Net, Options, Parties, Party, TestApp, context, net, order_body, spawn_app_with, tag,
};
use ondc_gateway::replay::counterpart::{Counterpart, Received};
use serde_json::{Value, json};

fn body(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn logistics_context(action: &str, message_id: Option<&str>) -> Value {
    let mut c = context(action, "ONDC:LOG10", GATEWAY, "lsp.test.local");
    c["transaction_id"] = json!("T-L");
    if let Some(m) = message_id {
        c["message_id"] = json!(m);
    }
    c
}

fn retail_context(action: &str, message_id: Option<&str>) -> Value {
    let mut c = context(action, "ONDC:RET10", GATEWAY, "seller.test.local");
    c["transaction_id"] = json!("T-R");
    if let Some(m) = message_id {
        c["message_id"] = json!(m);
    }
    c
}

/// The LSP's unsolicited `/on_cancel` starting RTO (logistics 1.2.5 shape: forward `RTO`,
/// `rto_event` tags, RTO fulfillment `RTO-Initiated`, RTO charges in the quote).
fn lsp_cancels_with_rto(reason: &str, charges: &str) -> Value {
    json!({
        "context": logistics_context("on_cancel", None),
        "message": {"order": {
            "id": "L1", "state": "In-progress",
            "cancellation": {"cancelled_by": "lsp.test.local", "reason": {"id": reason}},
            "fulfillments": [
                {"id": "F1", "type": "Delivery", "state": {"descriptor": {"code": "RTO"}},
                 "tags": [{"code": "rto_event", "list": [
                    {"code": "retry_count", "value": "3"}, {"code": "rto_id", "value": "F1-RTO"},
                    {"code": "cancellation_reason_id", "value": reason}, {"code": "cancelled_by", "value": "lsp.test.local"}]}]},
                {"id": "F1-RTO", "type": "RTO", "state": {"descriptor": {"code": "RTO-Initiated"}},
                 "start": {"time": {"timestamp": "2025-01-03T11:00:30.000Z"}}}
            ],
            "quote": {"price": {"currency": "INR", "value": charges}, "breakup": []}
        }}
    })
}

fn lsp_rto_end(state: &str) -> Value {
    json!({
        "context": logistics_context("on_status", None),
        "message": {"order": {"id": "L1", "state": "Completed", "fulfillments": [
            {"id": "F1-RTO", "type": "RTO", "state": {"descriptor": {"code": state}},
             "end": {"time": {"timestamp": "2025-01-04T11:00:30.000Z"}}}
        ]}}
    })
}

fn snp_on_cancel(message_id: Option<&str>, forward: &str, rto: Option<&str>, reason: &str) -> Value {
    let mut fulfillments = vec![
        json!({"id": "F1", "type": "Delivery", "state": {"descriptor": {"code": forward}},
        "tags": [{"code": "cancel_request", "list": [{"code": "reason_id", "value": reason}]}]}),
    ];
    if let Some(r) = rto {
        fulfillments.push(json!({"id": "F1-RTO", "type": "RTO", "state": {"descriptor": {"code": r}}}));
    }
    json!({
        "context": retail_context("on_cancel", message_id),
        "message": {"order": {"id": "O1", "state": if rto.is_some() { "In-progress" } else { "Cancelled" },
            "cancellation": {"cancelled_by": "seller.test.local", "reason": {"id": reason}},
            "fulfillments": fulfillments}}
    })
}

fn snp_on_update(message_id: &str) -> Value {
    json!({
        "context": retail_context("on_update", Some(message_id)),
        "message": {"order": {"id": "O1", "state": "Cancelled", "fulfillments": [
            {"id": "F1", "type": "Delivery", "state": {"descriptor": {"code": "Cancelled"}}}]}}
    })
}

fn lsp_on_cancel(message_id: &str, forward: &str, rto: Option<&str>) -> Value {
    let mut fulfillments =
        vec![json!({"id": "F1", "type": "Delivery", "state": {"descriptor": {"code": forward}}})];
    if let Some(r) = rto {
        fulfillments.push(json!({"id": "F1-RTO", "type": "RTO", "state": {"descriptor": {"code": r}}}));
    }
    json!({
        "context": logistics_context("on_cancel", Some(message_id)),
        "message": {"order": {"id": "L1", "state": "Cancelled", "fulfillments": fulfillments,
            "quote": {"price": {"currency": "INR", "value": "30.00"}}}}
    })
}

async fn post_ok(app: &TestApp, action: &str, party: &Party, msg: &Value) {
    let answer = app.post_signed(action, party, &body(msg)).await;
    assert!(
        answer.is_ack(),
        "/{action} from {}: {} {}",
        party.subscriber_id,
        answer.status,
        answer.raw
    );
}

/// Checks what every gateway-built message shares.
fn assert_our_message(r: &Received, action: &str, transaction_id: &str) {
    assert!(r.signature_ok(), "gateway signature must verify: {:?}", r.key_id);
    assert_eq!(r.key_id.as_deref(), Some("bnp.test.local|gw-1|ed25519"));
    let c = &r.body["context"];
    assert_eq!(c["action"], action);
    assert_eq!(c["core_version"], "1.2.5");
    assert_eq!(c["bap_id"], GATEWAY);
    assert_eq!(c["transaction_id"], transaction_id);
    assert_eq!(c["ttl"], "PT30S");
    assert!(ondc_gateway::protocol::parse_timestamp(c["timestamp"].as_str().unwrap()).is_some());
    assert_ne!(c["message_id"], c["transaction_id"]);
}

async fn lsp_cancel_flow(rto_end: &str, reason: &str, expected_claim: Option<&str>) {
    let Net { app, snp, lsp } = net("").await;
    let p = &app.parties;
    app.register(order_body(
        "seller.test.local",
        Some("lsp.test.local"),
        "Order-picked-up",
    ))
    .await;

    post_ok(&app, "on_cancel", &p.lsp, &lsp_cancels_with_rto(reason, "50.00")).await;
    let cancel = snp.wait_for("cancel", 1).await.unwrap().remove(0);
    assert_our_message(&cancel, "cancel", "T-R");
    let m = &cancel.body["message"];
    assert_eq!(m["order_id"], "O1");
    assert_eq!(
        m["cancellation_reason_id"], reason,
        "the LSP's reason is carried to retail"
    );
    assert_eq!(m["descriptor"]["short_desc"], "F1");
    assert_eq!(
        tag(&m["descriptor"]["tags"], "cancel_request", "initiated_by"),
        Some("lsp.test.local")
    );
    let cancel_id = cancel.body["context"]["message_id"].as_str().unwrap().to_owned();

    post_ok(
        &app,
        "on_cancel",
        &p.seller,
        &snp_on_cancel(Some(&cancel_id), "RTO", Some("RTO-Initiated"), reason),
    )
    .await;
    let o = app.order("O1").await;
    assert_eq!(o["state"], "In-progress", "RTO under way: {o:#}");
    assert_eq!(o["status"], "CANCELLED");
    assert!(
        snp.received("update").is_empty(),
        "no /update before the RTO ends"
    );

    post_ok(&app, "on_status", &p.lsp, &lsp_rto_end(rto_end)).await;
    let update = snp.wait_for("update", 1).await.unwrap().remove(0);
    assert_our_message(&update, "update", "T-R");
    let m = &update.body["message"];
    assert_eq!(m["update_target"], "fulfillment");
    assert!(
        m["order"].get("quote").is_none(),
        "the claim is never inside the quote"
    );
    let fs = m["order"]["fulfillments"].as_array().unwrap();
    let state_of = |id: &str| {
        fs.iter()
            .find(|f| f["id"] == id)
            .and_then(|f| tag(&f["tags"], "update_state", "state"))
    };
    assert_eq!(state_of("F1"), Some("RTO"));
    assert_eq!(state_of("F1-RTO"), Some(rto_end));
    let rto = fs.iter().find(|f| f["id"] == "F1-RTO").unwrap();
    assert!(tag(&rto["tags"], "update_state", "timestamp").is_some());
    let claim = fs
        .iter()
        .find_map(|f| tag(&f["tags"], "bnp_receivables_claim", "value"));
    assert_eq!(claim, expected_claim);
    assert_ne!(
        app.order("O1").await["state"],
        "Cancelled",
        "not terminal before the seller's /on_update"
    );

    let update_id = update.body["context"]["message_id"].as_str().unwrap().to_owned();
    post_ok(&app, "on_update", &p.seller, &snp_on_update(&update_id)).await;
    let o = app.order("O1").await;
    assert_eq!(o["state"], "Cancelled");
    assert_eq!(o["cancellation"]["initiator"], "lsp");
    assert_eq!(o["cancellation"]["reason_code"], reason);
    assert_eq!(o["cancellation"]["legs"]["retail"]["status"], "cancelled");
    assert_eq!(o["cancellation"]["legs"]["logistics"]["status"], "cancelled");
    assert_eq!(o["charges"]["value"].as_str(), expected_claim);
    let rto_view = o["retail"]["fulfillments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "F1-RTO")
        .cloned()
        .unwrap();
    assert_eq!(rto_view["state"], rto_end);

    // The LSP got nothing: it cancelled first.
    assert!(lsp.all().is_empty());
    let timeline = app.timeline("O1").await;
    let lines: Vec<(String, String, String)> = timeline
        .iter()
        .map(|l| {
            (
                l["direction"].as_str().unwrap().into(),
                l["action"].as_str().unwrap().into(),
                l["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> = [
        ("in", "on_cancel", "acked"),
        ("out", "cancel", "delivered"),
        ("in", "on_cancel", "acked"),
        ("in", "on_status", "acked"),
        ("out", "update", "delivered"),
        ("in", "on_update", "acked"),
    ]
    .iter()
    .map(|(a, b, c)| ((*a).into(), (*b).into(), (*c).into()))
    .collect();
    assert_eq!(lines, expected, "{timeline:#?}");
    assert_eq!(timeline[1]["counterpart"], "seller.test.local");

    // A late echo after the end is absorbed: ACKed, nothing sent.
    post_ok(&app, "on_status", &p.lsp, &lsp_rto_end(rto_end)).await;
    assert_eq!(snp.all().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lsp_cancels_rto_delivered_and_the_seller_is_charged() {
    lsp_cancel_flow("RTO-Delivered", "103", Some("50.00")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lsp_cancels_rto_disposed_on_a_buyer_fault_without_a_claim() {
    lsp_cancel_flow("RTO-Disposed", "127", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyer_cancels_and_both_legs_get_a_cancel() {
    let Net { app, snp, lsp } = net("").await;
    let p = &app.parties;
    app.register(order_body(
        "seller.test.local",
        Some("lsp.test.local"),
        "Out-for-delivery",
    ))
    .await;
    let mut cancel = json!({"context": context("cancel", "ONDC:RET10", "buyer.test.local", "seller.test.local"),
        "message": {"order_id": "O1", "cancellation_reason_id": "052"}});
    cancel["context"]["transaction_id"] = json!("T-R");
    post_ok(&app, "cancel", &p.buyer, &cancel).await;

    let to_snp = snp.wait_for("cancel", 1).await.unwrap().remove(0);
    let to_lsp = lsp.wait_for("cancel", 1).await.unwrap().remove(0);
    assert_our_message(&to_snp, "cancel", "T-R");
    assert_our_message(&to_lsp, "cancel", "T-L");
    assert_eq!(to_snp.body["message"]["cancellation_reason_id"], "052");
    assert_eq!(
        to_lsp.body["message"]["cancellation_reason_id"], "175",
        "TAT breach after pickup: delivery TAT code"
    );
    assert_eq!(to_lsp.body["message"]["order_id"], "L1");
    assert_eq!(to_lsp.body["context"]["domain"], "ONDC:LOG10");

    let lsp_mid = to_lsp.body["context"]["message_id"].as_str().unwrap().to_owned();
    let snp_mid = to_snp.body["context"]["message_id"].as_str().unwrap().to_owned();
    post_ok(
        &app,
        "on_cancel",
        &p.lsp,
        &lsp_on_cancel(&lsp_mid, "Cancelled", None),
    )
    .await;
    post_ok(
        &app,
        "on_cancel",
        &p.seller,
        &snp_on_cancel(Some(&snp_mid), "Cancelled", None, "052"),
    )
    .await;
    let update = snp.wait_for("update", 1).await.unwrap().remove(0);
    let fs = update.body["message"]["order"]["fulfillments"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(tag(&fs[0]["tags"], "update_state", "state"), Some("Cancelled"));
    assert_eq!(
        fs.iter()
            .find_map(|f| tag(&f["tags"], "bnp_receivables_claim", "value")),
        None,
        "175 (delivery TAT breach) is the LSP's own failing: nobody owes its charges"
    );
    post_ok(
        &app,
        "on_update",
        &p.seller,
        &snp_on_update(update.body["context"]["message_id"].as_str().unwrap()),
    )
    .await;
    let o = app.order("O1").await;
    assert_eq!(o["state"], "Cancelled");
    assert_eq!(o["cancellation"]["initiator"], "buyer");
    assert_eq!(o["cancellation"]["logistics_reason"], "175");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seller_cancels_and_the_lsp_gets_the_cascaded_reason() {
    let Net { app, snp, lsp } = net("").await;
    let p = &app.parties;
    app.register(order_body("seller.test.local", Some("lsp.test.local"), "Packed"))
        .await;
    post_ok(
        &app,
        "on_cancel",
        &p.seller,
        &snp_on_cancel(None, "Cancelled", None, "002"),
    )
    .await;
    let to_lsp = lsp.wait_for("cancel", 1).await.unwrap().remove(0);
    assert_our_message(&to_lsp, "cancel", "T-L");
    assert_eq!(
        to_lsp.body["message"]["cancellation_reason_id"], "151",
        "seller codes become 'store rejected'"
    );
    assert_eq!(
        tag(
            &to_lsp.body["message"]["descriptor"]["tags"],
            "cancel_request",
            "initiated_by"
        ),
        Some("seller.test.local")
    );
    assert!(
        snp.received("cancel").is_empty(),
        "the seller cancelled; it is not asked again"
    );
    let mid = to_lsp.body["context"]["message_id"].as_str().unwrap().to_owned();
    post_ok(&app, "on_cancel", &p.lsp, &lsp_on_cancel(&mid, "Cancelled", None)).await;
    let update = snp.wait_for("update", 1).await.unwrap().remove(0);
    let fs = update.body["message"]["order"]["fulfillments"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        fs.iter()
            .find_map(|f| tag(&f["tags"], "bnp_receivables_claim", "value")),
        Some("30.00")
    );
    post_ok(
        &app,
        "on_update",
        &p.seller,
        &snp_on_update(update.body["context"]["message_id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(app.order("O1").await["state"], "Cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seller_managed_delivery_cascades_nothing_to_an_lsp() {
    let Net { app, snp, lsp } = net("").await;
    let p = &app.parties;
    app.register(order_body("seller.test.local", None, "Packed"))
        .await;
    let mut cancel = json!({"context": context("cancel", "ONDC:RET10", "buyer.test.local", "seller.test.local"),
        "message": {"order_id": "O1", "cancellation_reason_id": "053"}});
    cancel["context"]["transaction_id"] = json!("T-R");
    post_ok(&app, "cancel", &p.buyer, &cancel).await;
    let to_snp = snp.wait_for("cancel", 1).await.unwrap().remove(0);
    let mid = to_snp.body["context"]["message_id"].as_str().unwrap().to_owned();
    post_ok(
        &app,
        "on_cancel",
        &p.seller,
        &snp_on_cancel(Some(&mid), "Cancelled", None, "053"),
    )
    .await;
    assert_eq!(app.order("O1").await["state"], "Cancelled");
    assert!(lsp.all().is_empty());
    assert!(
        snp.received("update").is_empty(),
        "nothing to relay without a logistics leg"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counterpart_that_nacks_then_acks_gets_the_same_message_again() {
    let Net { app, snp, .. } = net("[outbox]\ninitial_backoff_ms = 50\nmax_backoff_ms = 200\n").await;
    app.register(order_body(
        "seller.test.local",
        Some("lsp.test.local"),
        "Order-picked-up",
    ))
    .await;
    snp.nack_next(2);
    post_ok(
        &app,
        "on_cancel",
        &app.parties.lsp,
        &lsp_cancels_with_rto("103", "50.00"),
    )
    .await;
    let attempts = snp.wait_for("cancel", 3).await.unwrap();
    assert!(
        attempts.windows(2).all(|w| w[0].raw == w[1].raw),
        "same body, same message_id on every retry"
    );
    let out = app.wait_first_out("O1", "delivered").await;
    assert_eq!(out["attempts"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stop_at_the_limit_and_the_message_is_marked_failed() {
    let Net { app, snp, .. } =
        net("[outbox]\nmax_attempts = 2\ninitial_backoff_ms = 20\nmax_backoff_ms = 40\n").await;
    app.register(order_body(
        "seller.test.local",
        Some("lsp.test.local"),
        "Order-picked-up",
    ))
    .await;
    snp.nack_next(100);
    post_ok(
        &app,
        "on_cancel",
        &app.parties.lsp,
        &lsp_cancels_with_rto("103", "50.00"),
    )
    .await;
    snp.wait_for("cancel", 2).await.unwrap();
    let out = app.wait_first_out("O1", "failed").await;
    assert_eq!(out["attempts"], 2);
    assert!(
        out["last_error"].as_str().unwrap().contains("HTTP 400"),
        "{out:#}"
    );
    assert_eq!(snp.received("cancel").len(), 2, "no attempt past the limit");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"ondc_gateway_outbox_attempts_total{action="cancel",outcome="failed"} 1"#),
        "{metrics}"
    );

    // The platform re-queues the failed message once the seller is back: same message, delivered.
    let failed = app
        .timeline("O1")
        .await
        .into_iter()
        .find(|l| l["direction"] == "out")
        .unwrap();
    let mid = failed["message_id"].as_str().unwrap().to_owned();
    let retry = format!("/api/v1/orders/O1/outbox/{mid}/retry");
    let customer = app.token("cust-1", ondc_gateway::tokens::Role::Customer);
    assert_eq!(
        app.rest(reqwest::Method::POST, &retry, Some(&customer), None)
            .await
            .0,
        403
    );
    let missing = "/api/v1/orders/O1/outbox/no-such-message/retry";
    assert_eq!(
        app.rest(reqwest::Method::POST, missing, Some(&app.platform()), None)
            .await
            .0,
        404
    );
    snp.nack_next(0);
    let (status, line) = app
        .rest(reqwest::Method::POST, &retry, Some(&app.platform()), None)
        .await;
    assert_eq!(
        (status, line["status"].as_str()),
        (200, Some("pending")),
        "{line}"
    );
    let third = snp.wait_for("cancel", 3).await.unwrap().remove(2);
    assert_eq!(third.body["context"]["message_id"], json!(mid));
    app.wait_first_out("O1", "delivered").await;
    let (status, _) = app
        .rest(reqwest::Method::POST, &retry, Some(&app.platform()), None)
        .await;
    assert_eq!(status, 409, "a delivered message is not re-queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_cascade_loses_nothing_and_repeats_nothing() {
    // The seller is down when the LSP cancels: the /cancel waits in the outbox.
    let parties = Parties::new();
    let lsp = Counterpart::start(parties.gateway.key.public_key()).unwrap();
    let down = "http://127.0.0.1:9".to_owned();
    let retry = "[outbox]\ninitial_backoff_ms = 50\nmax_backoff_ms = 100\nmax_attempts = 50\n";
    let app = spawn_app_with(Options {
        extra_toml: retry.into(),
        urls: vec![
            ("seller.test.local", down),
            ("lsp.test.local", lsp.url().to_owned()),
        ],
        parties: Some(parties),
        ..Options::default()
    })
    .await;
    app.register(order_body(
        "seller.test.local",
        Some("lsp.test.local"),
        "Order-picked-up",
    ))
    .await;
    post_ok(
        &app,
        "on_cancel",
        &app.parties.lsp,
        &lsp_cancels_with_rto("103", "50.00"),
    )
    .await;
    let message_id = app
        .timeline("O1")
        .await
        .iter()
        .find(|l| l["direction"] == "out")
        .unwrap()["message_id"]
        .clone();
    let (dir, parties) = app.stop().await;

    // Back up, with the seller reachable: the same /cancel goes out, once.
    let snp = Counterpart::start(parties.gateway.key.public_key()).unwrap();
    let app = spawn_app_with(Options {
        extra_toml: retry.into(),
        urls: vec![
            ("seller.test.local", snp.url().to_owned()),
            ("lsp.test.local", lsp.url().to_owned()),
        ],
        parties: Some(parties),
        dir: Some(dir),
        ..Options::default()
    })
    .await;
    let cancel = snp.wait_for("cancel", 1).await.unwrap().remove(0);
    assert_eq!(cancel.body["context"]["message_id"], message_id);
    app.wait_first_out("O1", "delivered").await;
    let (dir, parties) = app.stop().await;
    let app = spawn_app_with(Options {
        extra_toml: retry.into(),
        urls: vec![
            ("seller.test.local", snp.url().to_owned()),
            ("lsp.test.local", lsp.url().to_owned()),
        ],
        parties: Some(parties),
        dir: Some(dir),
        ..Options::default()
    })
    .await;
    // The cascade continues on the restarted gateway, and nothing delivered goes out again.
    let cancel_id = message_id.as_str().unwrap().to_owned();
    post_ok(
        &app,
        "on_cancel",
        &app.parties.seller,
        &snp_on_cancel(Some(&cancel_id), "RTO", Some("RTO-Initiated"), "103"),
    )
    .await;
    post_ok(&app, "on_status", &app.parties.lsp, &lsp_rto_end("RTO-Delivered")).await;
    snp.wait_for("update", 1).await.unwrap();
    assert_eq!(
        snp.received("cancel").len(),
        1,
        "a delivered message is never sent again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_callbacks_racing_for_one_order_make_one_consistent_cascade() {
    let Net { app, snp, lsp } = net("").await;
    app.register(order_body(
        "seller.test.local",
        Some("lsp.test.local"),
        "Out-for-delivery",
    ))
    .await;
    let from_lsp = body(&lsp_cancels_with_rto("129", "10.00"));
    let from_snp = body(&snp_on_cancel(None, "Cancelled", None, "016"));
    let (a, b) = tokio::join!(
        app.post_signed("on_cancel", &app.parties.lsp, &from_lsp),
        app.post_signed("on_cancel", &app.parties.seller, &from_snp),
    );
    assert!(a.is_ack() && b.is_ack(), "{} / {}", a.raw, b.raw);
    let o = app.order("O1").await;
    assert_eq!(o["cancellation"]["legs"]["retail"]["status"], "cancelled");
    assert_eq!(o["cancellation"]["legs"]["logistics"]["status"], "cancelled");
    // Whichever came first cascaded to the other leg; the other found that leg cancelled. At
    // most one /cancel went out, and never to the party that cancelled first.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let cancels = snp.received("cancel").len() + lsp.received("cancel").len();
    assert!(cancels <= 1, "{cancels} cancels");
    match o["cancellation"]["initiator"].as_str().unwrap() {
        "lsp" => assert!(lsp.received("cancel").is_empty()),
        "seller" => assert!(snp.received("cancel").is_empty()),
        other => panic!("initiator {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_orders_counterparts_may_speak_about_it() {
    let Net { app, snp, lsp } = net("").await;
    let p = &app.parties;
    app.register(order_body("seller.test.local", Some("lsp.test.local"), "Packed"))
        .await;
    // The LSP, validly signed, tries to cancel the retail leg it is not part of.
    let mut forged = snp_on_cancel(None, "Cancelled", None, "002");
    forged["context"]["bpp_id"] = json!("lsp.test.local");
    let answer = app.post_signed("on_cancel", &p.lsp, &body(&forged)).await;
    assert_eq!(answer.status, 403, "{}", answer.raw);
    assert_eq!(answer.body["error"]["type"], "POLICY-ERROR");
    // The buyer app may not use a seller's reason.
    let mut cancel = json!({"context": context("cancel", "ONDC:RET10", "buyer.test.local", "seller.test.local"),
        "message": {"order_id": "O1", "cancellation_reason_id": "002"}});
    cancel["context"]["transaction_id"] = json!("T-R");
    let answer = app.post_signed("cancel", &p.buyer, &body(&cancel)).await;
    assert_eq!(
        (answer.status, answer.nack_code()),
        (400, Some("30012")),
        "{}",
        answer.raw
    );
    assert_eq!(answer.path(), Some("$.message.cancellation_reason_id"));
    // Nothing changed and nothing was sent.
    assert_eq!(app.order("O1").await["status"], "ACTIVE");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(snp.all().is_empty() && lsp.all().is_empty());
    // The refusals are answered the same way when repeated, and appear in the timeline.
    let timeline = app.timeline("O1").await;
    assert_eq!(
        timeline.iter().filter(|l| l["status"] == "nacked").count(),
        2,
        "{timeline:#?}"
    );
}
