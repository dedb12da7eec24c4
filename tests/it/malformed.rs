//! Bad input through real HTTP: never a 5xx, a panic or a dropped connection, always a 4xx JSON
//! NACK naming the ONDC code and, for body and context errors, the offending field.
//!
//! Most bodies are correctly signed by the party the endpoint expects (the seller for callbacks
//! addressed to the gateway, the buyer app for `/cancel` and `/update`), so they get past
//! authentication and exercise parsing and validation. Transport-level cases (size, slowness,
//! chunking) use a raw socket so the test controls exactly what goes on the wire.

use crate::app::{GATEWAY, Party, TestApp, cancel, context, on_cancel, spawn_app};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const SCHEMA: &str = "JSON-SCHEMA-ERROR";
const CONTEXT: &str = "CONTEXT-ERROR";
const CORE: &str = "CORE-ERROR";
const POLICY: &str = "POLICY-ERROR";

/// The gateway's body limit (`server.max_body_bytes`, 1 MiB by default).
const LIMIT: usize = 1 << 20;

/// What a refusal must look like: status, ONDC code, Beckn error type, `error.path`.
type Expect = (u16, &'static str, &'static str, Option<&'static str>);

/// One request: name, action (endpoint), body, headers, expectation.
type Case = (
    &'static str,
    &'static str,
    Vec<u8>,
    Vec<(&'static str, String)>,
    Expect,
);

/// A body error on a callback (seller's fault: 20006).
fn on_cb(kind: &'static str, path: Option<&'static str>) -> Expect {
    (400, "20006", kind, path)
}

/// A body error on a request from a buyer app (10000).
fn on_req(kind: &'static str, path: Option<&'static str>) -> Expect {
    (400, "10000", kind, path)
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// `base` changed by `f`, serialised.
fn edit(mut base: Value, f: impl FnOnce(&mut Value)) -> Vec<u8> {
    f(&mut base);
    bytes(&base)
}

fn order(v: &mut Value) -> &mut Value {
    &mut v["message"]["order"]
}

fn drop_key(v: &mut Value, key: &str) {
    v.as_object_mut().unwrap().remove(key).unwrap();
}

/// Headers of a request `party` signed correctly.
fn signed(party: &Party, body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        ("authorization", party.sign(body)),
        ("content-type", "application/json".into()),
    ]
}

/// Asserts the exact refusal: status, a JSON body of the Beckn NACK shape and nothing else, the
/// code, the type, a message, and the path (absent when `None`).
#[track_caller]
fn assert_nack(name: &str, status: u16, raw: &str, expect: Expect) {
    let (want_status, code, kind, path) = expect;
    assert_eq!(status, want_status, "{name}: status; body {raw}");
    let body: Value =
        serde_json::from_str(raw).unwrap_or_else(|e| panic!("{name}: body is not JSON ({e}): {raw:?}"));
    assert_eq!(
        body["message"],
        json!({"ack": {"status": "NACK"}}),
        "{name}: {raw}"
    );
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["error", "message"], "{name}: {raw}");
    let error = &body["error"];
    assert_eq!(error["code"], code, "{name}: code; {raw}");
    assert_eq!(error["type"], kind, "{name}: type; {raw}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{name}: message; {raw}"
    );
    assert_eq!(
        error.get("path").map(|p| p.as_str().unwrap()),
        path,
        "{name}: path; {raw}"
    );
}

/// A valid retail `/update` (fulfillment state relay) from the buyer app.
fn update(buyer: &str, seller: &str) -> Value {
    json!({
        "context": context("update", "ONDC:RET10", buyer, seller),
        "message": {"update_target": "fulfillment", "order": {"id": "O1",
            "fulfillments": [{"id": "F1", "type": "Delivery", "state": {"descriptor": {"code": "Order-picked-up"}}}]}}
    })
}

/// A valid retail `/on_status` from the seller.
fn on_status(seller: &str) -> Value {
    let mut v = on_cancel(seller);
    v["context"]["action"] = json!("on_status");
    v["message"]["order"]["state"] = json!("In-progress");
    v["message"]["order"]["fulfillments"][0]["state"]["descriptor"]["code"] = json!("Out-for-delivery");
    v
}

/// `extra` inserted before the last `}` of the JSON text `text`: how the cases below add members
/// that `serde_json::Value` cannot hold (a duplicate key, a number out of range, deep nesting).
fn splice_before_last_brace(text: &[u8], extra: &str) -> Vec<u8> {
    let end = text.iter().rposition(|b| *b == b'}').unwrap();
    let mut out = text[..end].to_vec();
    out.extend_from_slice(extra.as_bytes());
    out.extend_from_slice(&text[end..]);
    out
}

#[tokio::test]
async fn the_unmutated_bodies_are_acked() {
    // The control for the table below: every case is one defect away from one of these.
    let app = spawn_app().await;
    let p = &app.parties;
    let (buyer, seller) = (p.buyer.subscriber_id, p.seller.subscriber_id);
    for (action, party, body) in [
        ("on_cancel", &p.seller, on_cancel(seller)),
        ("on_status", &p.seller, on_status(seller)),
        ("cancel", &p.buyer, cancel(buyer, seller)),
        ("update", &p.buyer, update(buyer, seller)),
    ] {
        let answer = app.post_signed(action, party, &bytes(&body)).await;
        assert!(answer.is_ack(), "{action}: {} {}", answer.status, answer.raw);
    }
    assert_eq!(app.audit().len(), 4);
}

#[tokio::test]
async fn bad_input_is_a_4xx_nack_and_the_server_survives() {
    let app = spawn_app().await;
    let p = &app.parties;
    let (buyer, seller) = (p.buyer.subscriber_id, p.seller.subscriber_id);
    let oc = || on_cancel(seller);
    let ctx = |v: &mut Value, key: &str, value: Value| v["context"][key] = value;

    let mut cases: Vec<Case> = Vec::new();
    let mut by_seller = |name, action, body: Vec<u8>, expect| {
        let headers = signed(&p.seller, &body);
        cases.push((name, action, body, headers, expect));
    };

    // Not JSON, or not one JSON object.
    by_seller(
        "invalid JSON",
        "on_cancel",
        b"{\"context\": {".to_vec(),
        on_cb(SCHEMA, None),
    );
    let text = bytes(&oc());
    let pos = text.windows(4).position(|w| w == b"\"O1\"").unwrap();
    let mut bad_utf8 = text.clone();
    bad_utf8.splice(pos + 1..pos + 3, [0xff, 0xfe]);
    by_seller(
        "invalid UTF-8 in a string",
        "on_cancel",
        bad_utf8,
        on_cb(SCHEMA, None),
    );
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(&text);
    by_seller("UTF-8 byte order mark", "on_cancel", bom, on_cb(SCHEMA, None));
    by_seller("empty body", "on_cancel", Vec::new(), on_cb(SCHEMA, None));
    by_seller(
        "whitespace only",
        "on_cancel",
        b" \r\n\t ".to_vec(),
        on_cb(SCHEMA, None),
    );
    by_seller("body []", "on_cancel", b"[]".to_vec(), on_cb(SCHEMA, Some("$")));
    by_seller(
        "body null",
        "on_cancel",
        b"null".to_vec(),
        on_cb(SCHEMA, Some("$")),
    );
    by_seller("body 42", "on_cancel", b"42".to_vec(), on_cb(SCHEMA, Some("$")));
    by_seller(
        "body \"x\"",
        "on_cancel",
        b"\"x\"".to_vec(),
        on_cb(SCHEMA, Some("$")),
    );
    by_seller(
        "duplicate top-level key",
        "on_cancel",
        splice_before_last_brace(&text, r#","message":{}"#),
        on_cb(SCHEMA, None),
    );
    let dup_nested = format!(
        r#"{{"context":{},"message":{{"order_id":"O1","order_id":"O2","cancellation_reason_id":"052"}}}}"#,
        context("cancel", "ONDC:RET10", buyer, seller)
    );
    let mut trailing = text.clone();
    trailing.extend_from_slice(b" {}");
    by_seller("trailing garbage", "on_cancel", trailing, on_cb(SCHEMA, None));
    let mut nul = text.clone();
    nul.push(0);
    by_seller("trailing NUL byte", "on_cancel", nul, on_cb(SCHEMA, None));
    let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
    by_seller(
        "body nested 1000 deep",
        "on_cancel",
        deep.into_bytes(),
        on_cb(SCHEMA, None),
    );
    let deep_inside = splice_before_last_brace(
        &text,
        &format!(r#","deep":{}1{}"#, "[".repeat(1000), "]".repeat(1000)),
    );
    by_seller(
        "member nested 1000 deep",
        "on_cancel",
        deep_inside,
        on_cb(SCHEMA, None),
    );
    let lone = String::from_utf8(text.clone())
        .unwrap()
        .replace("\"O1\"", r#""\ud800""#);
    by_seller(
        "lone surrogate escape",
        "on_cancel",
        lone.into_bytes(),
        on_cb(SCHEMA, None),
    );
    let huge = splice_before_last_brace(&text, r#","n":1e400"#);
    by_seller("number out of range", "on_cancel", huge, on_cb(SCHEMA, None));

    // The context.
    by_seller(
        "missing context",
        "on_cancel",
        edit(oc(), |v| drop_key(v, "context")),
        on_cb(CONTEXT, Some("$.context")),
    );
    by_seller(
        "context null",
        "on_cancel",
        edit(oc(), |v| v["context"] = Value::Null),
        on_cb(CONTEXT, Some("$.context")),
    );
    by_seller(
        "context array",
        "on_cancel",
        edit(oc(), |v| v["context"] = json!([])),
        on_cb(CONTEXT, Some("$.context")),
    );
    by_seller(
        "context string",
        "on_cancel",
        edit(oc(), |v| v["context"] = json!("ctx")),
        on_cb(CONTEXT, Some("$.context")),
    );
    by_seller(
        "action does not match the endpoint",
        "on_cancel",
        edit(oc(), |v| ctx(v, "action", json!("on_status"))),
        on_cb(CONTEXT, Some("$.context.action")),
    );
    by_seller(
        "action missing",
        "on_cancel",
        edit(oc(), |v| drop_key(&mut v["context"], "action")),
        on_cb(SCHEMA, Some("$.context.action")),
    );
    by_seller(
        "action a number",
        "on_cancel",
        edit(oc(), |v| ctx(v, "action", json!(5))),
        on_cb(SCHEMA, Some("$.context.action")),
    );
    by_seller(
        "bap_id missing on a callback",
        "on_cancel",
        edit(oc(), |v| drop_key(&mut v["context"], "bap_id")),
        on_cb(SCHEMA, Some("$.context.bap_id")),
    );
    by_seller(
        "unknown domain",
        "on_cancel",
        edit(oc(), |v| ctx(v, "domain", json!("ONDC:TRV10"))),
        on_cb(CONTEXT, Some("$.context.domain")),
    );
    by_seller(
        "domain missing",
        "on_cancel",
        edit(oc(), |v| drop_key(&mut v["context"], "domain")),
        on_cb(CONTEXT, Some("$.context.domain")),
    );
    by_seller(
        "core_version 1.2.0",
        "on_cancel",
        edit(oc(), |v| ctx(v, "core_version", json!("1.2.0"))),
        on_cb(CONTEXT, Some("$.context.core_version")),
    );
    by_seller(
        "core_version a number",
        "on_cancel",
        edit(oc(), |v| ctx(v, "core_version", json!(1.25))),
        on_cb(SCHEMA, Some("$.context.core_version")),
    );
    for (name, ts) in [
        ("timestamp without millis", "2025-01-03T11:00:30Z"),
        ("timestamp with an offset", "2025-01-03T11:00:30.000+05:30"),
        ("timestamp on an impossible date", "2025-02-30T11:00:30.000Z"),
        ("timestamp as a date", "2025-01-03"),
    ] {
        by_seller(
            name,
            "on_cancel",
            edit(oc(), |v| ctx(v, "timestamp", json!(ts))),
            on_cb(CONTEXT, Some("$.context.timestamp")),
        );
    }
    by_seller(
        "timestamp a number",
        "on_cancel",
        edit(oc(), |v| ctx(v, "timestamp", json!(1_735_902_030_000_i64))),
        on_cb(SCHEMA, Some("$.context.timestamp")),
    );
    by_seller(
        "ttl 30s",
        "on_cancel",
        edit(oc(), |v| ctx(v, "ttl", json!("30s"))),
        on_cb(CONTEXT, Some("$.context.ttl")),
    );
    by_seller(
        "ttl a number",
        "on_cancel",
        edit(oc(), |v| ctx(v, "ttl", json!(30))),
        on_cb(SCHEMA, Some("$.context.ttl")),
    );
    by_seller(
        "transaction_id equals message_id",
        "on_cancel",
        edit(oc(), |v| {
            let tx = v["context"]["transaction_id"].clone();
            ctx(v, "message_id", tx);
        }),
        on_cb(CONTEXT, Some("$.context.message_id")),
    );
    by_seller(
        "message_id empty",
        "on_cancel",
        edit(oc(), |v| ctx(v, "message_id", json!(""))),
        on_cb(SCHEMA, Some("$.context.message_id")),
    );
    by_seller(
        "message_id with a control character",
        "on_cancel",
        edit(oc(), |v| ctx(v, "message_id", json!("M\u{0}1"))),
        on_cb(CONTEXT, Some("$.context.message_id")),
    );
    by_seller(
        "transaction_id with a pipe",
        "on_cancel",
        edit(oc(), |v| ctx(v, "transaction_id", json!("T|1"))),
        on_cb(CONTEXT, Some("$.context.transaction_id")),
    );
    by_seller(
        "bap_id is not the gateway on a callback",
        "on_cancel",
        edit(oc(), |v| ctx(v, "bap_id", json!(buyer))),
        on_cb(CONTEXT, Some("$.context.bap_id")),
    );
    by_seller(
        "bap_id is a URL",
        "on_cancel",
        edit(oc(), |v| ctx(v, "bap_id", json!(format!("https://{GATEWAY}")))),
        on_cb(CONTEXT, Some("$.context.bap_id")),
    );
    by_seller(
        "bpp_id is a URL",
        "on_cancel",
        edit(oc(), |v| {
            ctx(v, "bpp_id", json!(format!("https://{seller}/ondc")))
        }),
        on_cb(CONTEXT, Some("$.context.bpp_id")),
    );
    by_seller(
        "bpp_uri missing",
        "on_cancel",
        edit(oc(), |v| drop_key(&mut v["context"], "bpp_uri")),
        on_cb(SCHEMA, Some("$.context.bpp_uri")),
    );
    by_seller(
        "city and location both missing",
        "on_cancel",
        edit(oc(), |v| drop_key(&mut v["context"], "city")),
        on_cb(SCHEMA, Some("$.context.city")),
    );

    // The message.
    by_seller(
        "missing message",
        "on_cancel",
        edit(oc(), |v| drop_key(v, "message")),
        on_cb(SCHEMA, Some("$.message")),
    );
    by_seller(
        "message not an object",
        "on_cancel",
        edit(oc(), |v| v["message"] = json!("order")),
        on_cb(SCHEMA, Some("$.message")),
    );
    by_seller(
        "order missing",
        "on_cancel",
        edit(oc(), |v| v["message"] = json!({})),
        on_cb(SCHEMA, Some("$.message.order")),
    );
    by_seller(
        "fulfillments an object",
        "on_cancel",
        edit(oc(), |v| order(v)["fulfillments"] = json!({"id": "F1"})),
        on_cb(SCHEMA, Some("$.message.order.fulfillments")),
    );
    by_seller(
        "fulfillments empty",
        "on_cancel",
        edit(oc(), |v| order(v)["fulfillments"] = json!([])),
        on_cb(SCHEMA, Some("$.message.order.fulfillments")),
    );
    by_seller(
        "fulfillment without id",
        "on_cancel",
        edit(oc(), |v| drop_key(&mut order(v)["fulfillments"][0], "id")),
        on_cb(SCHEMA, Some("$.message.order.fulfillments[0].id")),
    );
    by_seller(
        "fulfillment state without a code",
        "on_cancel",
        edit(oc(), |v| {
            order(v)["fulfillments"][0]["state"] = json!({"descriptor": {}})
        }),
        on_cb(
            SCHEMA,
            Some("$.message.order.fulfillments[0].state.descriptor.code"),
        ),
    );
    by_seller(
        "tag value a number",
        "on_cancel",
        edit(oc(), |v| {
            order(v)["fulfillments"][0]["tags"][0]["list"][0]["value"] = json!(5)
        }),
        on_cb(
            SCHEMA,
            Some("$.message.order.fulfillments[0].tags[0].list[0].value"),
        ),
    );
    by_seller(
        "error object without a code",
        "on_cancel",
        edit(oc(), |v| {
            v["error"] = json!({"type": "DOMAIN-ERROR", "message": "no"})
        }),
        on_cb(SCHEMA, Some("$.error.code")),
    );
    by_seller(
        "on_status without order.id",
        "on_status",
        edit(on_status(seller), |v| drop_key(order(v), "id")),
        on_cb(SCHEMA, Some("$.message.order.id")),
    );

    // Requests from the buyer app: the same kind of defects are 10000.
    let mut by_buyer = |name, action, body: Vec<u8>, expect| {
        let headers = signed(&p.buyer, &body);
        cases.push((name, action, body, headers, expect));
    };
    by_buyer(
        "duplicate nested key",
        "cancel",
        dup_nested.into_bytes(),
        on_req(SCHEMA, None),
    );
    by_buyer(
        "cancel: invalid JSON",
        "cancel",
        b"{]".to_vec(),
        on_req(SCHEMA, None),
    );
    by_buyer(
        "cancel: body []",
        "cancel",
        b"[]".to_vec(),
        on_req(SCHEMA, Some("$")),
    );
    by_buyer(
        "cancel: missing message",
        "cancel",
        edit(cancel(buyer, seller), |v| drop_key(v, "message")),
        on_req(SCHEMA, Some("$.message")),
    );
    by_buyer(
        "cancel without cancellation_reason_id",
        "cancel",
        edit(cancel(buyer, seller), |v| {
            drop_key(&mut v["message"], "cancellation_reason_id")
        }),
        on_req(SCHEMA, Some("$.message.cancellation_reason_id")),
    );
    by_buyer(
        "cancellation_reason_id a number",
        "cancel",
        edit(cancel(buyer, seller), |v| {
            v["message"]["cancellation_reason_id"] = json!(52)
        }),
        on_req(SCHEMA, Some("$.message.cancellation_reason_id")),
    );
    by_buyer(
        "cancel: order_id empty",
        "cancel",
        edit(cancel(buyer, seller), |v| v["message"]["order_id"] = json!("")),
        on_req(SCHEMA, Some("$.message.order_id")),
    );
    by_buyer(
        "cancel: action on_cancel",
        "cancel",
        edit(cancel(buyer, seller), |v| ctx(v, "action", json!("on_cancel"))),
        on_req(CONTEXT, Some("$.context.action")),
    );
    by_buyer(
        "cancel: core_version 1.2.0",
        "cancel",
        edit(cancel(buyer, seller), |v| ctx(v, "core_version", json!("1.2.0"))),
        on_req(CONTEXT, Some("$.context.core_version")),
    );
    by_buyer(
        "cancel: bap_id is a URL",
        "cancel",
        edit(cancel(buyer, seller), |v| {
            ctx(v, "bap_id", json!(format!("https://{buyer}/ondc")))
        }),
        on_req(CONTEXT, Some("$.context.bap_id")),
    );
    by_buyer(
        "update without update_target",
        "update",
        edit(update(buyer, seller), |v| {
            drop_key(&mut v["message"], "update_target")
        }),
        on_req(SCHEMA, Some("$.message.update_target")),
    );
    by_buyer(
        "update: target fulfillment without fulfillments",
        "update",
        edit(update(buyer, seller), |v| drop_key(order(v), "fulfillments")),
        on_req(SCHEMA, Some("$.message.order.fulfillments")),
    );
    by_buyer(
        "update: target payment without settlement details",
        "update",
        edit(update(buyer, seller), |v| {
            v["message"]["update_target"] = json!("payment")
        }),
        on_req(SCHEMA, Some("$.message.order.payment")),
    );
    by_buyer(
        "update: ttl empty",
        "update",
        edit(update(buyer, seller), |v| ctx(v, "ttl", json!(""))),
        on_req(CONTEXT, Some("$.context.ttl")),
    );

    // Before any parsing: the endpoint and the signature header.
    let body = bytes(&oc());
    let unauthorized = (401, "10001", POLICY, None);
    cases.push((
        "unknown endpoint /search",
        "search",
        body.clone(),
        signed(&p.seller, &body),
        (404, "10000", CORE, None),
    ));
    cases.push((
        "unsigned garbage",
        "on_cancel",
        b"\x00\x01garbage".to_vec(),
        vec![],
        unauthorized,
    ));
    let auth = p.seller.sign(&body);
    cases.push((
        "two Authorization headers",
        "on_cancel",
        body.clone(),
        vec![("authorization", auth.clone()), ("authorization", auth)],
        unauthorized,
    ));

    let count = cases.len();
    for (name, action, body, headers, expect) in cases {
        let answer = app.post(action, body, &headers).await;
        assert_nack(name, answer.status, &answer.raw, expect);
    }

    // Cases that need their own client.
    let mut extra = 0;
    extra += non_ascii_authorization(&app).await;
    extra += too_large_by_content_length(&app).await;
    extra += too_large_chunked(&app).await;
    extra += raw_requests(&app).await;
    extra += slow_body(&app).await;
    extra += get_is_not_a_beckn_call(&app).await;
    println!("{count} table cases and {extra} transport cases refused as expected");
    assert!(count + extra >= 35);

    assert!(
        app.audit().is_empty(),
        "nothing refused is stored: {} records",
        app.audit().len()
    );
    let health = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the server survived");
    let metrics = app.metrics().await;
    assert!(
        !metrics.contains("outcome=\"error\""),
        "no request was our fault: {metrics}"
    );
}

/// Bytes 0x80–0xFF are legal `obs-text` on the wire but not a signature header.
async fn non_ascii_authorization(app: &TestApp) -> usize {
    let body = bytes(&on_cancel(app.parties.seller.subscriber_id));
    let mut auth = app.parties.seller.sign(&body).into_bytes();
    let pos = auth.iter().position(|b| *b == b'=').unwrap();
    auth.splice(pos + 1..pos + 1, "é€".bytes().chain([0xff]));
    let resp = app
        .http
        .post(format!("{}/on_cancel", app.base))
        .header(
            "authorization",
            reqwest::header::HeaderValue::from_bytes(&auth).unwrap(),
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let raw = resp.text().await.unwrap();
    assert_nack(
        "non-ASCII Authorization",
        status,
        &raw,
        (401, "10001", POLICY, None),
    );
    1
}

/// A real client sending a 1 MiB + 1 byte body with its `Content-Length`.
async fn too_large_by_content_length(app: &TestApp) -> usize {
    let mut body = bytes(&on_cancel(app.parties.seller.subscriber_id));
    let overhead = r#","pad":"""#.len();
    body = splice_before_last_brace(
        &body,
        &format!(r#","pad":"{}""#, "a".repeat(LIMIT + 1 - body.len() - overhead)),
    );
    assert_eq!(body.len(), LIMIT + 1);
    let answer = app.post_signed("on_cancel", &app.parties.seller, &body).await;
    assert_nack(
        "Content-Length over 1 MiB",
        answer.status,
        &answer.raw,
        (413, "10000", CORE, None),
    );
    1
}

/// Requests written byte for byte on a socket: framing the HTTP client library would not produce.
/// Each is answered with a NACK by the gateway itself. Returns how many ran.
async fn raw_requests(app: &TestApp) -> usize {
    let host = host(app);
    let body = bytes(&on_cancel(app.parties.seller.subscriber_id));
    let text = String::from_utf8(body.clone()).unwrap();
    let auth = app.parties.seller.sign(&body);
    let head = |target: &str, framing: &str| {
        format!(
            "POST {target} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nAuthorization: {auth}\r\n{framing}\r\n"
        )
    };
    let too_large = (413, "10000", CORE, None);
    let unreadable = (400, "10000", CORE, None);
    // (name, bytes, then close our write side, expectation)
    let cases: Vec<(&str, String, bool, Expect)> = vec![
        (
            "Content-Length of 64 MiB, no body sent",
            head("/on_cancel", &format!("Content-Length: {}\r\n", 64 * LIMIT)),
            false,
            too_large,
        ),
        (
            "Expect: 100-continue with 64 MiB announced",
            head(
                "/on_cancel",
                &format!("Expect: 100-continue\r\nContent-Length: {}\r\n", 64 * LIMIT),
            ),
            false,
            too_large,
        ),
        (
            "body shorter than Content-Length, then EOF",
            format!(
                "{}{}",
                head("/on_cancel", &format!("Content-Length: {}\r\n", body.len())),
                &text[..body.len() / 2]
            ),
            true,
            unreadable,
        ),
        (
            "chunk size not hex",
            format!(
                "{}2\r\n{{}}\r\nzz\r\n{{}}\r\n0\r\n\r\n",
                head("/on_cancel", "Transfer-Encoding: chunked\r\n")
            ),
            false,
            unreadable,
        ),
        (
            "chunk size over 64 bits",
            format!(
                "{}ffffffffffffffffffff\r\nab\r\n",
                head("/on_cancel", "Transfer-Encoding: chunked\r\n")
            ),
            false,
            unreadable,
        ),
        (
            "chunked body cut short, then EOF",
            format!(
                "{}{:x}\r\n{}",
                head("/on_cancel", "Transfer-Encoding: chunked\r\n"),
                body.len(),
                &text[..10]
            ),
            true,
            unreadable,
        ),
        (
            "action percent-encoded as invalid UTF-8",
            format!(
                "{}{text}",
                head("/%ff", &format!("Content-Length: {}\r\n", body.len()))
            ),
            false,
            (404, "10000", CORE, None),
        ),
    ];
    let count = cases.len();
    for (name, request, close, expect) in cases {
        let mut stream = connect(app).await;
        stream.write_all(request.as_bytes()).await.unwrap();
        if close {
            stream.shutdown().await.unwrap();
        }
        let answer = read_response(&mut stream, Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_nack(name, answer.status, &answer.body, expect);
    }

    // Broken HTTP framing is refused by actix's parser before the gateway sees a request, with its
    // own bare 400 (empty body, not a Beckn NACK). Still a 4xx answer, never a hang or a reset.
    for (name, framing) in [
        ("Content-Length not a number", "Content-Length: abc\r\n"),
        ("Content-Length negative", "Content-Length: -1\r\n"),
        (
            "Content-Length over 64 bits",
            "Content-Length: 18446744073709551616\r\n",
        ),
        (
            "two different Content-Lengths",
            "Content-Length: 3\r\nContent-Length: 4\r\n",
        ),
        (
            "Content-Length and Transfer-Encoding",
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        ),
        ("Transfer-Encoding gzip", "Transfer-Encoding: gzip\r\n"),
        (
            "control character in a header",
            "X-Bad: a\x01b\r\nContent-Length: 0\r\n",
        ),
    ] {
        let mut stream = connect(app).await;
        stream
            .write_all(format!("{}{{}}", head("/on_cancel", framing)).as_bytes())
            .await
            .unwrap();
        let answer = read_response(&mut stream, Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(answer.status, 400, "{name}: {}", answer.body);
    }
    count
}

/// Over the limit without `Content-Length`: counted while reading the chunks. The chunks carry 2 MiB
/// that the seller really signed, so only the size is wrong.
async fn too_large_chunked(app: &TestApp) -> usize {
    let body = vec![b' '; 2 * LIMIT];
    let stream = connect(app).await;
    let (mut rd, mut wr) = stream.into_split();
    let head = format!(
        "POST /on_cancel HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nAuthorization: {auth}\r\nTransfer-Encoding: chunked\r\n\r\n",
        host = host(app),
        auth = app.parties.seller.sign(&body),
    );
    // Write concurrently with reading: the answer may come (and the server stop reading) before
    // the last chunk is sent, and then writes fail; that is fine, the answer is what counts.
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        for chunk in body.chunks(64 * 1024) {
            wr.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await?;
            wr.write_all(chunk).await?;
            wr.write_all(b"\r\n").await?;
        }
        wr.write_all(b"0\r\n\r\n").await?;
        wr.flush().await
    });
    let answer = read_response(&mut rd, Duration::from_secs(10)).await.unwrap();
    assert_nack(
        "chunked body over 1 MiB",
        answer.status,
        &answer.body,
        (413, "10000", CORE, None),
    );
    writer.abort();
    1
}

/// Headers and half the body, then nothing: the body deadline (1.5 s in the test app) answers.
async fn slow_body(app: &TestApp) -> usize {
    let body = bytes(&on_cancel(app.parties.seller.subscriber_id));
    let mut stream = connect(app).await;
    let head = format!(
        "POST /on_cancel HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nAuthorization: {auth}\r\nContent-Length: {len}\r\n\r\n",
        host = host(app),
        auth = app.parties.seller.sign(&body),
        len = body.len(),
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..body.len() / 2]).await.unwrap();
    let started = Instant::now();
    let answer = read_response(&mut stream, Duration::from_secs(6)).await.unwrap();
    let waited = started.elapsed();
    assert_nack(
        "body stalls halfway",
        answer.status,
        &answer.body,
        (408, "10000", CORE, None),
    );
    assert!(
        waited >= Duration::from_millis(1200) && waited < Duration::from_secs(4),
        "answered after {waited:?}"
    );
    1
}

/// Only POST is Beckn; anything else gets the server's plain JSON 404 (not a NACK).
async fn get_is_not_a_beckn_call(app: &TestApp) -> usize {
    let mut n = 0;
    for (method, path) in [
        (reqwest::Method::GET, "/cancel"),
        (reqwest::Method::PUT, "/on_cancel"),
        (reqwest::Method::POST, "/on_cancel/"),
    ] {
        let resp = app
            .http
            .request(method.clone(), format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{method} {path}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "no_route", "{method} {path}: {body}");
        n += 1;
    }
    n
}

fn host(app: &TestApp) -> &str {
    app.base.strip_prefix("http://").unwrap()
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(host(app)).await.unwrap()
}

/// A response read off a raw socket.
struct RawResponse {
    status: u16,
    body: String,
}

/// Reads one HTTP/1.1 response with a `Content-Length` body, within `within`. An error says how
/// the connection ended instead (closed, reset, or silent).
async fn read_response(
    stream: &mut (impl AsyncRead + Unpin),
    within: Duration,
) -> Result<RawResponse, String> {
    let read = async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                let status: u16 = head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .ok_or(format!("bad status line: {head}"))?;
                if (100..200).contains(&status) {
                    // An interim answer (100 Continue): the final one follows.
                    buf.drain(..end + 4);
                    continue;
                }
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.split_once(':')
                            .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    })
                    .map(|(_, v)| v.trim().parse().unwrap())
                    .ok_or(format!("no content-length: {head}"))?;
                if buf.len() >= end + 4 + length {
                    let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).into_owned();
                    return Ok(RawResponse { status, body });
                }
            }
            match stream.read(&mut chunk).await {
                Ok(0) => {
                    return Err(format!(
                        "connection closed after {} bytes: {:?}",
                        buf.len(),
                        String::from_utf8_lossy(&buf)
                    ));
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(format!("connection failed after {} bytes: {e}", buf.len())),
            }
        }
    };
    tokio::time::timeout(within, read)
        .await
        .map_err(|_| format!("no answer within {within:?}"))?
}
