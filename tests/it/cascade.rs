//! Cascades end to end where a fixture cannot tell the story, with a real SNP and LSP on loopback
//! that verify the gateway's signatures: retries that run out (a gateway setting, the metrics,
//! and the platform re-queueing the failed message), a restart in the middle of a cascade, two
//! callbacks racing for one order (concurrency), and callbacks from parties that are not the
//! order's (the NACK's error type and path).
//!
//! The cascades themselves are told once, by the fixtures in `fixtures/flows` that `replay.rs`
//! runs: the buyer app cancels with a logistics leg (01) and without one (02), the LSP cancels
//! with RTO delivered (03) or disposed (04), the seller cancels (05), and a counterpart NACKs
//! twice and gets the same message again (08). Their edges, as pure transitions, are in
//! `src/orchestrator/machine_tests.rs`.

use crate::app::{GATEWAY, Net, Options, Parties, Party, TestApp, context, net, order_body, spawn_app_with};
use ondc_gateway::replay::counterpart::Counterpart;
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
pub(crate) fn lsp_cancels_with_rto(reason: &str, charges: &str) -> Value {
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
    // Stored as failed, the entry is no longer pending: nothing will try it again.
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
    // A /cancel wrongly left pending would have been due since the restart; once the outbox is
    // drained, it would have arrived.
    app.wait_outbox_drained().await;
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
    // most one /cancel went out, and never to the party that cancelled first. Both ACKs came
    // after their messages were queued; once the outbox is drained every one of them has
    // reached its counterpart, so these counts are final.
    app.wait_outbox_drained().await;
    let cancels = snp.received("cancel").len() + lsp.received("cancel").len();
    assert!(cancels <= 1, "{cancels} cancels");
    let queued = app.timeline("O1").await;
    let queued = queued
        .iter()
        .filter(|l| l["direction"] == "out" && l["action"] == "cancel")
        .count();
    assert_eq!(cancels, queued, "every queued /cancel arrived, and nothing else");
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
    // Nothing changed and nothing was sent. A refusal is stored with its NACK before it is
    // answered and queues nothing: the timeline holds the two refusals and no outbound line,
    // and the outbox is empty, so no counterpart can receive anything later either.
    assert_eq!(app.order("O1").await["status"], "ACTIVE");
    let timeline = app.timeline("O1").await;
    let lines: Vec<(&str, &str)> = timeline
        .iter()
        .map(|l| (l["direction"].as_str().unwrap(), l["status"].as_str().unwrap()))
        .collect();
    assert_eq!(lines, [("in", "nacked"), ("in", "nacked")], "{timeline:#?}");
    assert!(app.store().next_due().await.unwrap().is_none(), "nothing queued");
    assert!(snp.all().is_empty() && lsp.all().is_empty());
}
