//! The customer/provider cancellation API through real HTTP with minted tokens: both paths
//! (provider accepts a customer's request; customer rejects a provider's request), every rule and
//! status code, the escrow refunded exactly once, notifications, the `/cancel` the seller gets,
//! racing decisions, and the OpenAPI document checked against the running routes.

use crate::app::{GATEWAY, Net, Options, TestApp, net, order_body, spawn_app_with, tag};
use ondc_gateway::replay::counterpart::Counterpart;
use ondc_gateway::signing::PrivateKey;
use ondc_gateway::tokens::Role;
use reqwest::Method;
use serde_json::{Value, json};

async fn setup(with_logistics: bool) -> (TestApp, Counterpart, Counterpart) {
    let Net { app, snp, lsp } = net("").await;
    app.register(order_body(
        "seller.test.local",
        with_logistics.then_some("lsp.test.local"),
        "Packed",
    ))
    .await;
    (app, snp, lsp)
}

struct Users {
    customer: String,
    provider: String,
    stranger: String,
    other_customer: String,
    platform: String,
}

fn users(app: &TestApp) -> Users {
    Users {
        customer: app.token("cust-1", Role::Customer),
        provider: app.token("prov-1", Role::Provider),
        stranger: app.token("prov-2", Role::Provider),
        other_customer: app.token("cust-2", Role::Customer),
        platform: app.platform(),
    }
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, body) = app.rest(method, path, token, body).await;
    if status >= 400 {
        assert!(
            body["error"]["code"].is_string() && body["error"]["message"].is_string(),
            "{status}: {body}"
        );
    }
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_accepts_a_customer_request_refunds_once_and_cancels_on_the_network() {
    let (app, snp, lsp) = setup(true).await;
    let u = users(&app);
    let (status, req) = call(
        &app,
        Method::POST,
        "/api/v1/orders/O1/cancel",
        Some(&u.customer),
        Some(json!({"reason_code": "053", "note": "wrong address"})),
    )
    .await;
    assert_eq!(status, 201, "{req}");
    assert_eq!(req["status"], "pending");
    assert_eq!(req["requested_by"], "customer");
    assert_eq!(req["order_status"], "CANCELLATION_REQUESTED");
    let id = req["id"].as_str().unwrap().to_owned();
    assert_eq!(app.order("O1").await["status"], "CANCELLATION_REQUESTED");

    // The other party sees it; the requester may not decide it; a second request conflicts.
    let (status, list) = call(
        &app,
        Method::GET,
        "/api/v1/orders/O1/cancel",
        Some(&u.provider),
        None,
    )
    .await;
    assert_eq!((status, list.as_array().unwrap().len()), (200, 1));
    let accept = format!("/api/v1/orders/O1/cancel/{id}/accept");
    assert_eq!(
        call(&app, Method::PATCH, &accept, Some(&u.customer), None)
            .await
            .0,
        403
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/api/v1/orders/O1/cancel",
            Some(&u.provider),
            Some(json!({"reason_code": "002"}))
        )
        .await
        .0,
        409
    );

    // Two accepts racing: exactly one decision.
    let (a, b) = tokio::join!(
        call(&app, Method::PATCH, &accept, Some(&u.provider), None),
        call(&app, Method::PATCH, &accept, Some(&u.provider), None),
    );
    let mut codes = [a.0, b.0];
    codes.sort();
    assert_eq!(codes, [200, 409], "{a:?} {b:?}");
    let decided = if a.0 == 200 { a.1 } else { b.1 };
    assert_eq!(decided["status"], "accepted");
    assert_eq!(decided["order_status"], "CANCELLED");
    assert_eq!(
        decided["escrow"],
        json!({"currency": "INR", "held": "540.00", "refunded": "540.00", "charged": "0.00"})
    );
    // A retried accept (or a reject after it) changes nothing.
    assert_eq!(
        call(&app, Method::PATCH, &accept, Some(&u.provider), None)
            .await
            .0,
        409
    );
    assert_eq!(
        call(
            &app,
            Method::PATCH,
            &format!("/api/v1/orders/O1/cancel/{id}/reject"),
            Some(&u.provider),
            None
        )
        .await
        .0,
        409
    );
    let o = app.order("O1").await;
    assert_eq!(o["status"], "CANCELLED");
    assert_eq!(o["escrow"]["refunded"], "540.00");

    // The cascade: the seller and the LSP each get a signed /cancel.
    let to_snp = snp.wait_for("cancel", 1).await.unwrap().remove(0);
    assert!(to_snp.signature_ok());
    assert_eq!(to_snp.body["message"]["cancellation_reason_id"], "053");
    assert_eq!(
        tag(
            &to_snp.body["message"]["descriptor"]["tags"],
            "cancel_request",
            "initiated_by"
        ),
        Some(GATEWAY)
    );
    let to_lsp = lsp.wait_for("cancel", 1).await.unwrap().remove(0);
    assert_eq!(
        to_lsp.body["message"]["cancellation_reason_id"], "152",
        "buyer's reason before pickup"
    );
    assert_eq!(o["cancellation"]["initiator"], "buyer");
    assert_eq!(o["cancellation"]["initiated_by"], "cust-1");

    // Notifications: the provider heard of the request, the customer of the acceptance.
    let (_, notes) = call(
        &app,
        Method::GET,
        "/api/v1/notifications",
        Some(&u.customer),
        None,
    )
    .await;
    let kinds: Vec<&str> = notes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["cancellation_accepted"]);
    assert!(
        notes[0]["message"]
            .as_str()
            .unwrap()
            .contains("540.00 INR refunded")
    );
    let (_, notes) = call(
        &app,
        Method::GET,
        "/api/v1/notifications",
        Some(&u.provider),
        None,
    )
    .await;
    assert_eq!(notes[0]["kind"], "cancellation_requested");

    // An order already cancelled cannot get a new request.
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/api/v1/orders/O1/cancel",
            Some(&u.customer),
            Some(json!({"reason_code": "052"}))
        )
        .await
        .0,
        409
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_rejects_a_provider_request_and_the_order_is_restored() {
    let (app, snp, _lsp) = setup(false).await;
    let u = users(&app);
    let before = app.order("O1").await;
    let (status, req) = call(
        &app,
        Method::POST,
        "/api/v1/orders/O1/cancel",
        Some(&u.provider),
        Some(json!({"reason_code": "002", "fulfillment_id": "F1"})),
    )
    .await;
    assert_eq!(status, 201, "{req}");
    let id = req["id"].as_str().unwrap().to_owned();
    let reject = format!("/api/v1/orders/O1/cancel/{id}/reject");
    assert_eq!(
        call(&app, Method::PATCH, &reject, Some(&u.provider), None)
            .await
            .0,
        403,
        "not the requester"
    );
    assert_eq!(
        call(&app, Method::PATCH, &reject, Some(&u.other_customer), None)
            .await
            .0,
        403,
        "not this order's customer"
    );
    let (status, decided) = call(&app, Method::PATCH, &reject, Some(&u.customer), None).await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["status"], "rejected");
    let after = app.order("O1").await;
    assert_eq!(after["status"], before["status"], "restored exactly");
    assert_eq!(after["state"], before["state"]);
    assert_eq!(after["escrow"], before["escrow"], "nothing refunded");
    assert_eq!(
        call(
            &app,
            Method::PATCH,
            &format!("/api/v1/orders/O1/cancel/{id}/accept"),
            Some(&u.customer),
            None
        )
        .await
        .0,
        409
    );
    let (_, notes) = call(
        &app,
        Method::GET,
        "/api/v1/notifications",
        Some(&u.provider),
        None,
    )
    .await;
    assert_eq!(
        notes
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["kind"].clone())
            .collect::<Vec<_>>(),
        [json!("cancellation_rejected")]
    );
    // Once the outbox is drained, anything the rejection had queued would have arrived.
    app.wait_outbox_drained().await;
    assert!(snp.all().is_empty(), "nothing went to the seller");
    // A new request is possible after a rejection.
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/api/v1/orders/O1/cancel",
            Some(&u.customer),
            Some(json!({"reason_code": "053"}))
        )
        .await
        .0,
        201
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_status_says_what_is_wrong() {
    let (app, _snp, _lsp) = setup(true).await;
    let u = users(&app);
    let post = "/api/v1/orders/O1/cancel";
    let body = Some(json!({"reason_code": "053"}));
    type Case<'a> = (&'a str, Method, String, Option<&'a str>, Option<Value>, u16);
    let cases: Vec<Case> = vec![
        ("no token", Method::POST, post.into(), None, body.clone(), 401),
        (
            "garbage token",
            Method::POST,
            post.into(),
            Some("not.a.jwt"),
            body.clone(),
            401,
        ),
        (
            "platform may not request",
            Method::POST,
            post.into(),
            Some(&u.platform),
            body.clone(),
            403,
        ),
        (
            "another provider",
            Method::POST,
            post.into(),
            Some(&u.stranger),
            Some(json!({"reason_code": "002"})),
            403,
        ),
        (
            "unknown order",
            Method::POST,
            "/api/v1/orders/NOPE/cancel".into(),
            Some(&u.customer),
            body.clone(),
            404,
        ),
        (
            "seller reason from a customer",
            Method::POST,
            post.into(),
            Some(&u.customer),
            Some(json!({"reason_code": "002"})),
            422,
        ),
        (
            "buyer reason from a provider",
            Method::POST,
            post.into(),
            Some(&u.provider),
            Some(json!({"reason_code": "052"})),
            422,
        ),
        (
            "unknown reason",
            Method::POST,
            post.into(),
            Some(&u.customer),
            Some(json!({"reason_code": "777"})),
            422,
        ),
        (
            "unknown fulfillment",
            Method::POST,
            post.into(),
            Some(&u.customer),
            Some(json!({"reason_code": "053", "fulfillment_id": "F9"})),
            422,
        ),
        (
            "missing reason",
            Method::POST,
            post.into(),
            Some(&u.customer),
            Some(json!({})),
            422,
        ),
        (
            "unknown field",
            Method::POST,
            post.into(),
            Some(&u.customer),
            Some(json!({"reason_code": "053", "role": "provider"})),
            422,
        ),
        (
            "list by a stranger",
            Method::GET,
            post.into(),
            Some(&u.stranger),
            None,
            403,
        ),
        (
            "accept unknown request",
            Method::PATCH,
            "/api/v1/orders/O1/cancel/nope/accept".into(),
            Some(&u.provider),
            None,
            404,
        ),
        (
            "order view by a stranger",
            Method::GET,
            "/api/v1/orders/O1".into(),
            Some(&u.other_customer),
            None,
            403,
        ),
        (
            "register by a customer",
            Method::POST,
            "/api/v1/orders".into(),
            Some(&u.customer),
            Some(order_body("s.x", None, "Packed")),
            403,
        ),
        (
            "register twice",
            Method::POST,
            "/api/v1/orders".into(),
            Some(&u.platform),
            Some(order_body("seller.test.local", None, "Packed")),
            409,
        ),
        (
            "register with a bad state",
            Method::POST,
            "/api/v1/orders".into(),
            Some(&u.platform),
            Some({
                let mut o = order_body("seller.test.local", None, "Flying");
                o["order_id"] = json!("O2");
                o["retail"]["transaction_id"] = json!("T-2");
                o
            }),
            422,
        ),
    ];
    for (why, method, path, token, body, expected) in cases {
        let (status, answer) = call(&app, method, &path, token, body).await;
        assert_eq!(status, expected, "{why}: {answer}");
    }
    let raw = app
        .http
        .post(format!("{}{post}", app.base))
        .bearer_auth(&u.customer)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    let expired = ondc_gateway::tokens::TokenKeys::hs256(crate::app::TOKEN_SECRET.as_bytes())
        .mint("cust-1", Role::Customer, 1_600_000_000, 60)
        .unwrap();
    assert_eq!(
        call(&app, Method::GET, "/api/v1/orders/O1", Some(&expired), None)
            .await
            .0,
        401
    );
    // Identity comes from the token only: nothing in the body can make a customer a provider.
    assert_eq!(app.order("O1").await["status"], "ACTIVE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refund_happens_once_across_a_restart() {
    let (app, _snp, _lsp) = setup(false).await;
    let u = users(&app);
    let (_, req) = call(
        &app,
        Method::POST,
        "/api/v1/orders/O1/cancel",
        Some(&u.customer),
        Some(json!({"reason_code": "053"})),
    )
    .await;
    let accept = format!("/api/v1/orders/O1/cancel/{}/accept", req["id"].as_str().unwrap());
    assert_eq!(
        call(&app, Method::PATCH, &accept, Some(&u.provider), None)
            .await
            .0,
        200
    );
    let (dir, parties) = app.stop().await;
    let app = spawn_app_with(Options {
        parties: Some(parties),
        dir: Some(dir),
        ..Options::default()
    })
    .await;
    let provider = app.token("prov-1", Role::Provider);
    assert_eq!(
        call(&app, Method::PATCH, &accept, Some(&provider), None).await.0,
        409,
        "a retried accept after a restart"
    );
    let o = app.order("O1").await;
    assert_eq!(o["escrow"]["refunded"], "540.00");
    let customer = app.token("cust-1", Role::Customer);
    let (_, notes) = call(&app, Method::GET, "/api/v1/notifications", Some(&customer), None).await;
    assert_eq!(
        notes.as_array().unwrap().len(),
        1,
        "one acceptance, one notification"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_cancellation_notifies_both_parties_and_settles_the_escrow() {
    let (app, _snp, _lsp) = setup(false).await;
    let seller = app.parties.seller.clone();
    let mut on_cancel = crate::app::on_cancel(seller.subscriber_id);
    on_cancel["context"]["transaction_id"] = json!("T-R");
    on_cancel["message"]["order"]["cancellation"]["reason"]["id"] = json!("002");
    let answer = app
        .post_signed("on_cancel", &seller, &serde_json::to_vec(&on_cancel).unwrap())
        .await;
    assert!(answer.is_ack(), "{}", answer.raw);
    let o = app.order("O1").await;
    assert_eq!(
        (o["state"].as_str(), o["status"].as_str()),
        (Some("Cancelled"), Some("CANCELLED"))
    );
    assert_eq!(o["escrow"]["refunded"], "540.00");
    for who in [
        app.token("cust-1", Role::Customer),
        app.token("prov-1", Role::Provider),
    ] {
        let (_, notes) = call(&app, Method::GET, "/api/v1/notifications", Some(&who), None).await;
        let kinds: Vec<&str> = notes
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["order_cancelled", "cancellation_completed"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_reach_the_webhook_through_the_outbox() {
    let hook = Counterpart::start(PrivateKey::generate().public_key()).unwrap();
    let app = spawn_app_with(Options {
        webhook_url: Some(format!("{}/hook", hook.url())),
        ..Options::default()
    })
    .await;
    app.register(order_body("seller.test.local", None, "Packed"))
        .await;
    let customer = app.token("cust-1", Role::Customer);
    let (status, req) = call(
        &app,
        Method::POST,
        "/api/v1/orders/O1/cancel",
        Some(&customer),
        Some(json!({"reason_code": "053"})),
    )
    .await;
    assert_eq!(status, 201);
    let posted = hook.wait_for("hook", 1).await.unwrap().remove(0);
    assert_eq!(posted.body["kind"], "cancellation_requested");
    assert_eq!(posted.body["user_id"], "prov-1");
    assert_eq!(posted.body["order_id"], "O1");
    assert_eq!(posted.body["request_id"], req["id"]);
    assert!(
        posted.key_id.is_none(),
        "webhook posts are plain JSON, not Beckn-signed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_matches_the_routes() {
    let (app, _snp, _lsp) = setup(false).await;
    let (status, doc) = call(&app, Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        for method in ["get", "post", "patch", "put", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            operations += 1;
            let concrete = path.replace("{id}", "O1").replace("{cancel_id}", "nope");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            // Unauthenticated: a real route answers 401 with our error body; a missing one is the
            // default service's `no_route`.
            let (status, body) = app.rest(m, &concrete, None, Some(json!({}))).await;
            assert_ne!(
                body["error"]["code"], "no_route",
                "{method} {path} is documented but not routed"
            );
            assert_eq!(status, 401, "{method} {path}: {body}");
            let documented: Vec<&String> = item[method]["responses"].as_object().unwrap().keys().collect();
            assert!(
                documented.iter().any(|k| *k == "401"),
                "{method} {path} must document 401"
            );
        }
    }
    assert_eq!(operations, 11, "{paths:#?}");
}

/// Polls `path` as `token` until `done` holds for its body, for at most ten seconds.
async fn poll_until(app: &TestApp, path: &str, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, body) = call(app, Method::GET, path, Some(token), None).await;
        if done(&body) {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path} never got there: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn kinds(notes: &Value) -> Vec<&str> {
    notes
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["kind"].as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_nobody_decides_expires_and_the_order_is_as_it_was() {
    let Net { app, .. } = net("[deadlines]\nrequest_expiry_secs = 1\n").await;
    app.register(order_body("seller.test.local", None, "Packed"))
        .await;
    let u = users(&app);
    let (status, req) = call(
        &app,
        Method::POST,
        "/api/v1/orders/O1/cancel",
        Some(&u.customer),
        Some(json!({"reason_code": "053"})),
    )
    .await;
    assert_eq!(status, 201);
    let list = poll_until(&app, "/api/v1/orders/O1/cancel", &u.customer, |b| {
        b[0]["status"] == "expired"
    })
    .await;
    assert_eq!(list[0]["order_status"], "ACTIVE");
    assert_eq!(app.order("O1").await["status"], "ACTIVE");
    let accept = format!("/api/v1/orders/O1/cancel/{}/accept", req["id"].as_str().unwrap());
    assert_eq!(
        call(&app, Method::PATCH, &accept, Some(&u.provider), None)
            .await
            .0,
        409
    );
    for token in [&u.customer, &u.provider] {
        let (_, notes) = call(&app, Method::GET, "/api/v1/notifications", Some(token), None).await;
        assert!(kinds(&notes).contains(&"cancellation_expired"), "{notes}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_set_before_a_restart_fires_once_after_it() {
    // The customer agrees to the provider's request: the seller has four seconds to cancel on
    // the network. The gateway stops at once and starts again on the same store; the deadline,
    // kept in the store, still fires, once.
    let Net { app, .. } = net("[deadlines]\nawaiting_seller_secs = 4\n").await;
    app.register(order_body("seller.test.local", None, "Packed"))
        .await;
    let u = users(&app);
    let (_, req) = call(
        &app,
        Method::POST,
        "/api/v1/orders/O1/cancel",
        Some(&u.provider),
        Some(json!({"reason_code": "002"})),
    )
    .await;
    let accept = format!("/api/v1/orders/O1/cancel/{}/accept", req["id"].as_str().unwrap());
    let (status, view) = call(&app, Method::PATCH, &accept, Some(&u.customer), None).await;
    assert_eq!(
        (status, view["order_status"].as_str()),
        (200, Some("AWAITING_SELLER"))
    );
    let (dir, parties) = app.stop().await;
    let app = spawn_app_with(Options {
        parties: Some(parties),
        dir: Some(dir),
        extra_toml: "[deadlines]\nawaiting_seller_secs = 4\n".into(),
        ..Options::default()
    })
    .await;
    let provider = app.token("prov-1", Role::Provider);
    let (_, before) = call(&app, Method::GET, "/api/v1/notifications", Some(&provider), None).await;
    assert!(
        !kinds(&before).contains(&"seller_overdue"),
        "not due yet when the gateway came back: {before}"
    );
    let after = poll_until(&app, "/api/v1/notifications", &provider, |n| {
        kinds(n).contains(&"seller_overdue")
    })
    .await;
    assert_eq!(
        kinds(&after).iter().filter(|k| **k == "seller_overdue").count(),
        1
    );
    assert_eq!(app.order("O1").await["status"], "AWAITING_SELLER");
}
