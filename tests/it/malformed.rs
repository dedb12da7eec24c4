//! Bad input through real HTTP: never a 5xx, a panic or a dropped connection, always a 4xx JSON
//! NACK naming the ONDC code and, for body and context errors, the offending field.
//!
//! The cases are tables of named [`Case`]s, one table per family (the body as JSON, the context,
//! the message, the buyer app's requests, the endpoint and signature header), each run by its own
//! test against a fresh gateway; a test checks every case of its table and reports each one that
//! fails by name, then checks that the server survived and stored nothing.
//!
//! Most bodies are correctly signed by the party the endpoint expects (the seller for callbacks
//! addressed to the gateway, the buyer app for `/cancel` and `/update`), so they get past
//! authentication and exercise parsing and validation. Transport-level cases (size, slowness,
//! chunking) use a raw socket so the test controls exactly what goes on the wire.

use crate::app::{GATEWAY, Parties, Party, TestApp, cancel, context, on_cancel, spawn_app};
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

/// What a refusal must look like.
#[derive(Debug, Clone, Copy)]
struct Expect {
    /// HTTP status.
    status: u16,
    /// ONDC `error.code`.
    code: &'static str,
    /// Beckn `error.type`.
    kind: &'static str,
    /// `error.path`, absent when `None`.
    path: Option<&'static str>,
}

const fn nack(status: u16, code: &'static str, kind: &'static str, path: Option<&'static str>) -> Expect {
    Expect {
        status,
        code,
        kind,
        path,
    }
}

/// A signature the gateway does not accept.
const UNAUTHORIZED: Expect = nack(401, "10001", POLICY, None);

/// One request the gateway must refuse, and how.
struct Case {
    /// Reported when the case fails.
    name: &'static str,
    request: Request,
    expect: Expect,
}

/// What goes on the wire: `POST /{action}` with `headers` and `body`.
struct Request {
    action: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

/// `body` to `/{action}`, correctly signed by `party`, so that it passes authentication.
fn signed(party: &Party, action: &'static str, body: Vec<u8>) -> Request {
    Request {
        action,
        headers: vec![
            ("authorization", party.sign(&body)),
            ("content-type", "application/json".into()),
        ],
        body,
    }
}

/// A body error on a callback (seller's fault: 20006).
fn on_cb(kind: &'static str, path: Option<&'static str>) -> Expect {
    nack(400, "20006", kind, path)
}

/// A body error on a request from a buyer app (10000).
fn on_req(kind: &'static str, path: Option<&'static str>) -> Expect {
    nack(400, "10000", kind, path)
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

fn ctx(v: &mut Value, key: &str, value: Value) {
    v["context"][key] = value;
}

/// Every way an answer differs from the exact refusal `expect`: its status, a JSON body of the
/// Beckn NACK shape and nothing else, the code, the type, a message, and the path.
fn nack_problems(name: &str, status: u16, raw: &str, expect: Expect) -> Vec<String> {
    let mut problems = Vec::new();
    let mut check = |ok: bool, what: &str| {
        if !ok {
            problems.push(format!("{name}: {what}; status {status}, body {raw}"));
        }
    };
    check(
        status == expect.status,
        &format!("status: expected {}", expect.status),
    );
    let Ok(body) = serde_json::from_str::<Value>(raw) else {
        check(false, "body is not JSON");
        return problems;
    };
    check(
        body["message"] == json!({"ack": {"status": "NACK"}}),
        "not a NACK",
    );
    let keys: Vec<&str> = body
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    check(
        keys == ["error", "message"],
        "members other than error and message",
    );
    let error = &body["error"];
    check(
        error["code"] == expect.code,
        &format!("code: expected {}", expect.code),
    );
    check(
        error["type"] == expect.kind,
        &format!("type: expected {}", expect.kind),
    );
    check(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "no message",
    );
    check(
        error.get("path").map(Value::as_str) == expect.path.map(Some),
        &format!("path: expected {:?}", expect.path),
    );
    problems
}

/// Fails with every problem, one per line, when there is any.
#[track_caller]
fn assert_no_problems(family: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{family}: {} problems\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// What must hold after refusals: nothing refused is stored, the server still answers, and no
/// request counted as our fault.
async fn survival_problems(app: &TestApp) -> Vec<String> {
    let mut problems = Vec::new();
    let stored = app.audit().await.len();
    if stored != 0 {
        problems.push(format!("nothing refused is stored: {stored} records"));
    }
    let health = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    if health.status() != 200 {
        problems.push(format!(
            "the server did not survive: /healthz {}",
            health.status()
        ));
    }
    let metrics = app.metrics().await;
    if metrics.contains("outcome=\"error\"") {
        problems.push(format!("a request was counted as our fault: {metrics}"));
    }
    problems
}

/// Posts every case of `family` to a fresh gateway, then checks that it survived; reports every
/// failing case by name.
async fn refuses(family: &str, cases: fn(&Parties) -> Vec<Case>) {
    let app = spawn_app().await;
    let cases = cases(&app.parties);
    assert!(!cases.is_empty(), "{family}: no cases");
    let mut problems = Vec::new();
    for Case {
        name,
        request,
        expect,
    } in cases
    {
        let answer = app.post(request.action, request.body, &request.headers).await;
        problems.extend(nack_problems(name, answer.status, &answer.raw, expect));
    }
    problems.extend(survival_problems(&app).await);
    assert_no_problems(family, &problems);
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
    // The control for the tables below: every case is one defect away from one of these.
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
    assert_eq!(app.audit().await.len(), 4);
}

#[tokio::test]
async fn a_body_that_is_not_one_json_object_is_refused() {
    refuses("not one JSON object", json_cases).await;
}

#[tokio::test]
async fn context_defects_are_refused_at_their_path() {
    refuses("context", context_cases).await;
}

#[tokio::test]
async fn message_defects_are_refused_at_their_path() {
    refuses("message", message_cases).await;
}

#[tokio::test]
async fn defects_in_a_buyer_apps_request_are_10000() {
    refuses("buyer app requests", request_cases).await;
}

#[tokio::test]
async fn the_endpoint_and_the_signature_header_are_checked_before_the_body() {
    refuses("endpoint and signature header", header_cases).await;
}

/// Not JSON, or not one JSON object; signed by the seller.
fn json_cases(p: &Parties) -> Vec<Case> {
    let seller = p.seller.subscriber_id;
    let oc = || on_cancel(seller);
    let text = bytes(&oc());
    let pos = text.windows(4).position(|w| w == b"\"O1\"").unwrap();
    let mut bad_utf8 = text.clone();
    bad_utf8.splice(pos + 1..pos + 3, [0xff, 0xfe]);
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(&text);
    let mut trailing = text.clone();
    trailing.extend_from_slice(b" {}");
    let mut nul = text.clone();
    nul.push(0);
    let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
    let deep_inside = splice_before_last_brace(
        &text,
        &format!(r#","deep":{}1{}"#, "[".repeat(1000), "]".repeat(1000)),
    );
    let lone = String::from_utf8(text.clone())
        .unwrap()
        .replace("\"O1\"", r#""\ud800""#);
    let huge = splice_before_last_brace(&text, r#","n":1e400"#);
    vec![
        Case {
            name: "invalid JSON",
            request: signed(&p.seller, "on_cancel", b"{\"context\": {".to_vec()),
            expect: on_cb(SCHEMA, None),
        },
        Case {
            name: "invalid UTF-8 in a string",
            request: signed(&p.seller, "on_cancel", bad_utf8),
            expect: on_cb(SCHEMA, None),
        },
        Case {
            name: "UTF-8 byte order mark",
            request: signed(&p.seller, "on_cancel", bom),
            expect: on_cb(SCHEMA, None),
        },
        Case {
            name: "empty body",
            request: signed(&p.seller, "on_cancel", Vec::new()),
            expect: on_cb(SCHEMA, None),
        },
        Case {
            name: "whitespace only",
            request: signed(&p.seller, "on_cancel", b" \r\n\t ".to_vec()),
            expect: on_cb(SCHEMA, None),
        },
        Case {
            name: "body []",
            request: signed(&p.seller, "on_cancel", b"[]".to_vec()),
            expect: on_cb(SCHEMA, Some("$")),
        },
        Case {
            name: "body null",
            request: signed(&p.seller, "on_cancel", b"null".to_vec()),
            expect: on_cb(SCHEMA, Some("$")),
        },
        Case {
            name: "body 42",
            request: signed(&p.seller, "on_cancel", b"42".to_vec()),
            expect: on_cb(SCHEMA, Some("$")),
        },
        Case {
            name: "body \"x\"",
            request: signed(&p.seller, "on_cancel", b"\"x\"".to_vec()),
            expect: on_cb(SCHEMA, Some("$")),
        },
        Case {
            name: "duplicate top-level key",
            request: signed(
                &p.seller,
                "on_cancel",
                splice_before_last_brace(&text, r#","message":{}"#),
            ),
            expect: on_cb(SCHEMA, None),
        },
        Case {
            name: "trailing garbage",
            request: signed(&p.seller, "on_cancel", trailing),
            expect: on_cb(SCHEMA, None),
        },
        Case {
            name: "trailing NUL byte",
            request: signed(&p.seller, "on_cancel", nul),
            expect: on_cb(SCHEMA, None),
        },
        Case {
            name: "body nested 1000 deep",
            request: signed(&p.seller, "on_cancel", deep.into_bytes()),
            expect: on_cb(SCHEMA, None),
        },
        Case {
            name: "member nested 1000 deep",
            request: signed(&p.seller, "on_cancel", deep_inside),
            expect: on_cb(SCHEMA, None),
        },
        Case {
            name: "lone surrogate escape",
            request: signed(&p.seller, "on_cancel", lone.into_bytes()),
            expect: on_cb(SCHEMA, None),
        },
        Case {
            name: "number out of range",
            request: signed(&p.seller, "on_cancel", huge),
            expect: on_cb(SCHEMA, None),
        },
    ]
}

/// Defects in the context of a seller's callback.
fn context_cases(p: &Parties) -> Vec<Case> {
    let (buyer, seller) = (p.buyer.subscriber_id, p.seller.subscriber_id);
    let oc = || on_cancel(seller);
    let mut cases = vec![
        Case {
            name: "missing context",
            request: signed(&p.seller, "on_cancel", edit(oc(), |v| drop_key(v, "context"))),
            expect: on_cb(CONTEXT, Some("$.context")),
        },
        Case {
            name: "context null",
            request: signed(&p.seller, "on_cancel", edit(oc(), |v| v["context"] = Value::Null)),
            expect: on_cb(CONTEXT, Some("$.context")),
        },
        Case {
            name: "context array",
            request: signed(&p.seller, "on_cancel", edit(oc(), |v| v["context"] = json!([]))),
            expect: on_cb(CONTEXT, Some("$.context")),
        },
        Case {
            name: "context string",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| v["context"] = json!("ctx")),
            ),
            expect: on_cb(CONTEXT, Some("$.context")),
        },
        Case {
            name: "action does not match the endpoint",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| ctx(v, "action", json!("on_status"))),
            ),
            expect: on_cb(CONTEXT, Some("$.context.action")),
        },
        Case {
            name: "action missing",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| drop_key(&mut v["context"], "action")),
            ),
            expect: on_cb(SCHEMA, Some("$.context.action")),
        },
        Case {
            name: "action a number",
            request: signed(&p.seller, "on_cancel", edit(oc(), |v| ctx(v, "action", json!(5)))),
            expect: on_cb(SCHEMA, Some("$.context.action")),
        },
        Case {
            name: "bap_id missing on a callback",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| drop_key(&mut v["context"], "bap_id")),
            ),
            expect: on_cb(SCHEMA, Some("$.context.bap_id")),
        },
        Case {
            name: "unknown domain",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| ctx(v, "domain", json!("ONDC:TRV10"))),
            ),
            expect: on_cb(CONTEXT, Some("$.context.domain")),
        },
        Case {
            name: "domain missing",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| drop_key(&mut v["context"], "domain")),
            ),
            expect: on_cb(CONTEXT, Some("$.context.domain")),
        },
        Case {
            name: "core_version 1.2.0",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| ctx(v, "core_version", json!("1.2.0"))),
            ),
            expect: on_cb(CONTEXT, Some("$.context.core_version")),
        },
        Case {
            name: "core_version a number",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| ctx(v, "core_version", json!(1.25))),
            ),
            expect: on_cb(SCHEMA, Some("$.context.core_version")),
        },
        Case {
            name: "timestamp a number",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| ctx(v, "timestamp", json!(1_735_902_030_000_i64))),
            ),
            expect: on_cb(SCHEMA, Some("$.context.timestamp")),
        },
        Case {
            name: "ttl 30s",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| ctx(v, "ttl", json!("30s"))),
            ),
            expect: on_cb(CONTEXT, Some("$.context.ttl")),
        },
        Case {
            name: "ttl a number",
            request: signed(&p.seller, "on_cancel", edit(oc(), |v| ctx(v, "ttl", json!(30)))),
            expect: on_cb(SCHEMA, Some("$.context.ttl")),
        },
        Case {
            name: "transaction_id equals message_id",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| {
                    let tx = v["context"]["transaction_id"].clone();
                    ctx(v, "message_id", tx);
                }),
            ),
            expect: on_cb(CONTEXT, Some("$.context.message_id")),
        },
        Case {
            name: "message_id empty",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| ctx(v, "message_id", json!(""))),
            ),
            expect: on_cb(SCHEMA, Some("$.context.message_id")),
        },
        Case {
            name: "message_id with a control character",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| ctx(v, "message_id", json!("M\u{0}1"))),
            ),
            expect: on_cb(CONTEXT, Some("$.context.message_id")),
        },
        Case {
            name: "transaction_id with a pipe",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| ctx(v, "transaction_id", json!("T|1"))),
            ),
            expect: on_cb(CONTEXT, Some("$.context.transaction_id")),
        },
        Case {
            name: "bap_id is not the gateway on a callback",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| ctx(v, "bap_id", json!(buyer))),
            ),
            expect: on_cb(CONTEXT, Some("$.context.bap_id")),
        },
        Case {
            name: "bap_id is a URL",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| ctx(v, "bap_id", json!(format!("https://{GATEWAY}")))),
            ),
            expect: on_cb(CONTEXT, Some("$.context.bap_id")),
        },
        Case {
            name: "bpp_id is a URL",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| {
                    ctx(v, "bpp_id", json!(format!("https://{seller}/ondc")))
                }),
            ),
            expect: on_cb(CONTEXT, Some("$.context.bpp_id")),
        },
        Case {
            name: "bpp_uri missing",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| drop_key(&mut v["context"], "bpp_uri")),
            ),
            expect: on_cb(SCHEMA, Some("$.context.bpp_uri")),
        },
        Case {
            name: "city and location both missing",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| drop_key(&mut v["context"], "city")),
            ),
            expect: on_cb(SCHEMA, Some("$.context.city")),
        },
    ];
    cases.extend(
        [
            ("timestamp without millis", "2025-01-03T11:00:30Z"),
            ("timestamp with an offset", "2025-01-03T11:00:30.000+05:30"),
            ("timestamp on an impossible date", "2025-02-30T11:00:30.000Z"),
            ("timestamp as a date", "2025-01-03"),
        ]
        .map(|(name, ts)| Case {
            name,
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| ctx(v, "timestamp", json!(ts))),
            ),
            expect: on_cb(CONTEXT, Some("$.context.timestamp")),
        }),
    );
    cases
}

/// Defects in the message of a seller's callback.
fn message_cases(p: &Parties) -> Vec<Case> {
    let seller = p.seller.subscriber_id;
    let oc = || on_cancel(seller);
    vec![
        Case {
            name: "missing message",
            request: signed(&p.seller, "on_cancel", edit(oc(), |v| drop_key(v, "message"))),
            expect: on_cb(SCHEMA, Some("$.message")),
        },
        Case {
            name: "message not an object",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| v["message"] = json!("order")),
            ),
            expect: on_cb(SCHEMA, Some("$.message")),
        },
        Case {
            name: "order missing",
            request: signed(&p.seller, "on_cancel", edit(oc(), |v| v["message"] = json!({}))),
            expect: on_cb(SCHEMA, Some("$.message.order")),
        },
        Case {
            name: "fulfillments an object",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| order(v)["fulfillments"] = json!({"id": "F1"})),
            ),
            expect: on_cb(SCHEMA, Some("$.message.order.fulfillments")),
        },
        Case {
            name: "fulfillments empty",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| order(v)["fulfillments"] = json!([])),
            ),
            expect: on_cb(SCHEMA, Some("$.message.order.fulfillments")),
        },
        Case {
            name: "fulfillment without id",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| drop_key(&mut order(v)["fulfillments"][0], "id")),
            ),
            expect: on_cb(SCHEMA, Some("$.message.order.fulfillments[0].id")),
        },
        Case {
            name: "fulfillment state without a code",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| {
                    order(v)["fulfillments"][0]["state"] = json!({"descriptor": {}})
                }),
            ),
            expect: on_cb(
                SCHEMA,
                Some("$.message.order.fulfillments[0].state.descriptor.code"),
            ),
        },
        Case {
            name: "tag value a number",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| {
                    order(v)["fulfillments"][0]["tags"][0]["list"][0]["value"] = json!(5)
                }),
            ),
            expect: on_cb(
                SCHEMA,
                Some("$.message.order.fulfillments[0].tags[0].list[0].value"),
            ),
        },
        Case {
            name: "error object without a code",
            request: signed(
                &p.seller,
                "on_cancel",
                edit(oc(), |v| {
                    v["error"] = json!({"type": "DOMAIN-ERROR", "message": "no"})
                }),
            ),
            expect: on_cb(SCHEMA, Some("$.error.code")),
        },
        Case {
            name: "on_status without order.id",
            request: signed(
                &p.seller,
                "on_status",
                edit(on_status(seller), |v| drop_key(order(v), "id")),
            ),
            expect: on_cb(SCHEMA, Some("$.message.order.id")),
        },
    ]
}

/// Requests from the buyer app: the same kind of defects are 10000.
fn request_cases(p: &Parties) -> Vec<Case> {
    let (buyer, seller) = (p.buyer.subscriber_id, p.seller.subscriber_id);
    let dup_nested = format!(
        r#"{{"context":{},"message":{{"order_id":"O1","order_id":"O2","cancellation_reason_id":"052"}}}}"#,
        context("cancel", "ONDC:RET10", buyer, seller)
    );
    vec![
        Case {
            name: "duplicate nested key",
            request: signed(&p.buyer, "cancel", dup_nested.into_bytes()),
            expect: on_req(SCHEMA, None),
        },
        Case {
            name: "cancel: invalid JSON",
            request: signed(&p.buyer, "cancel", b"{]".to_vec()),
            expect: on_req(SCHEMA, None),
        },
        Case {
            name: "cancel: body []",
            request: signed(&p.buyer, "cancel", b"[]".to_vec()),
            expect: on_req(SCHEMA, Some("$")),
        },
        Case {
            name: "cancel: missing message",
            request: signed(
                &p.buyer,
                "cancel",
                edit(cancel(buyer, seller), |v| drop_key(v, "message")),
            ),
            expect: on_req(SCHEMA, Some("$.message")),
        },
        Case {
            name: "cancel without cancellation_reason_id",
            request: signed(
                &p.buyer,
                "cancel",
                edit(cancel(buyer, seller), |v| {
                    drop_key(&mut v["message"], "cancellation_reason_id")
                }),
            ),
            expect: on_req(SCHEMA, Some("$.message.cancellation_reason_id")),
        },
        Case {
            name: "cancellation_reason_id a number",
            request: signed(
                &p.buyer,
                "cancel",
                edit(cancel(buyer, seller), |v| {
                    v["message"]["cancellation_reason_id"] = json!(52)
                }),
            ),
            expect: on_req(SCHEMA, Some("$.message.cancellation_reason_id")),
        },
        Case {
            name: "cancel: order_id empty",
            request: signed(
                &p.buyer,
                "cancel",
                edit(cancel(buyer, seller), |v| v["message"]["order_id"] = json!("")),
            ),
            expect: on_req(SCHEMA, Some("$.message.order_id")),
        },
        Case {
            name: "cancel: action on_cancel",
            request: signed(
                &p.buyer,
                "cancel",
                edit(cancel(buyer, seller), |v| ctx(v, "action", json!("on_cancel"))),
            ),
            expect: on_req(CONTEXT, Some("$.context.action")),
        },
        Case {
            name: "cancel: core_version 1.2.0",
            request: signed(
                &p.buyer,
                "cancel",
                edit(cancel(buyer, seller), |v| ctx(v, "core_version", json!("1.2.0"))),
            ),
            expect: on_req(CONTEXT, Some("$.context.core_version")),
        },
        Case {
            name: "cancel: bap_id is a URL",
            request: signed(
                &p.buyer,
                "cancel",
                edit(cancel(buyer, seller), |v| {
                    ctx(v, "bap_id", json!(format!("https://{buyer}/ondc")))
                }),
            ),
            expect: on_req(CONTEXT, Some("$.context.bap_id")),
        },
        Case {
            name: "update without update_target",
            request: signed(
                &p.buyer,
                "update",
                edit(update(buyer, seller), |v| {
                    drop_key(&mut v["message"], "update_target")
                }),
            ),
            expect: on_req(SCHEMA, Some("$.message.update_target")),
        },
        Case {
            name: "update: target fulfillment without fulfillments",
            request: signed(
                &p.buyer,
                "update",
                edit(update(buyer, seller), |v| drop_key(order(v), "fulfillments")),
            ),
            expect: on_req(SCHEMA, Some("$.message.order.fulfillments")),
        },
        Case {
            name: "update: target payment without settlement details",
            request: signed(
                &p.buyer,
                "update",
                edit(update(buyer, seller), |v| {
                    v["message"]["update_target"] = json!("payment")
                }),
            ),
            expect: on_req(SCHEMA, Some("$.message.order.payment")),
        },
        Case {
            name: "update: ttl empty",
            request: signed(
                &p.buyer,
                "update",
                edit(update(buyer, seller), |v| ctx(v, "ttl", json!(""))),
            ),
            expect: on_req(CONTEXT, Some("$.context.ttl")),
        },
    ]
}

/// Before any parsing: the endpoint and the signature header.
fn header_cases(p: &Parties) -> Vec<Case> {
    let body = bytes(&on_cancel(p.seller.subscriber_id));
    let auth = p.seller.sign(&body);
    vec![
        Case {
            name: "unknown endpoint /search",
            request: signed(&p.seller, "search", body.clone()),
            expect: nack(404, "10000", CORE, None),
        },
        Case {
            name: "unsigned garbage",
            request: Request {
                action: "on_cancel",
                headers: vec![],
                body: b"\x00\x01garbage".to_vec(),
            },
            expect: UNAUTHORIZED,
        },
        Case {
            name: "two Authorization headers",
            request: Request {
                action: "on_cancel",
                headers: vec![("authorization", auth.clone()), ("authorization", auth)],
                body,
            },
            expect: UNAUTHORIZED,
        },
    ]
}

/// Bytes 0x80–0xFF are legal `obs-text` on the wire but not a signature header.
#[tokio::test]
async fn a_non_ascii_authorization_header_is_refused() {
    let app = spawn_app().await;
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
    let mut problems = nack_problems("non-ASCII Authorization", status, &raw, UNAUTHORIZED);
    problems.extend(survival_problems(&app).await);
    assert_no_problems("transport", &problems);
}

/// A real client sending a 1 MiB + 1 byte body with its `Content-Length`.
#[tokio::test]
async fn a_body_over_the_limit_by_content_length_is_refused() {
    let app = spawn_app().await;
    let mut body = bytes(&on_cancel(app.parties.seller.subscriber_id));
    let overhead = r#","pad":"""#.len();
    body = splice_before_last_brace(
        &body,
        &format!(r#","pad":"{}""#, "a".repeat(LIMIT + 1 - body.len() - overhead)),
    );
    assert_eq!(body.len(), LIMIT + 1);
    let answer = app.post_signed("on_cancel", &app.parties.seller, &body).await;
    let mut problems = nack_problems(
        "Content-Length over 1 MiB",
        answer.status,
        &answer.raw,
        nack(413, "10000", CORE, None),
    );
    problems.extend(survival_problems(&app).await);
    assert_no_problems("transport", &problems);
}

/// A request written byte for byte on a socket: framing the HTTP client library would not
/// produce.
struct RawCase {
    name: &'static str,
    /// Everything sent.
    request: String,
    /// Then close our write side.
    close: bool,
    /// The gateway's own NACK.
    expect: Expect,
}

/// Broken HTTP framing that actix's parser refuses before the gateway sees a request, with its
/// own bare 400 (empty body, not a Beckn NACK): still a 4xx answer, never a hang or a reset.
struct FramingCase {
    name: &'static str,
    /// Header lines after the common ones; the body `{}` follows.
    framing: &'static str,
}

#[tokio::test]
async fn broken_framing_is_answered_not_dropped() {
    let app = spawn_app().await;
    let host = host(&app);
    let body = bytes(&on_cancel(app.parties.seller.subscriber_id));
    let text = String::from_utf8(body.clone()).unwrap();
    let auth = app.parties.seller.sign(&body);
    let head = |target: &str, framing: &str| {
        format!(
            "POST {target} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nAuthorization: {auth}\r\n{framing}\r\n"
        )
    };
    let too_large = nack(413, "10000", CORE, None);
    let unreadable = nack(400, "10000", CORE, None);
    let raw_cases = [
        RawCase {
            name: "Content-Length of 64 MiB, no body sent",
            request: head("/on_cancel", &format!("Content-Length: {}\r\n", 64 * LIMIT)),
            close: false,
            expect: too_large,
        },
        RawCase {
            name: "Expect: 100-continue with 64 MiB announced",
            request: head(
                "/on_cancel",
                &format!("Expect: 100-continue\r\nContent-Length: {}\r\n", 64 * LIMIT),
            ),
            close: false,
            expect: too_large,
        },
        RawCase {
            name: "body shorter than Content-Length, then EOF",
            request: format!(
                "{}{}",
                head("/on_cancel", &format!("Content-Length: {}\r\n", body.len())),
                &text[..body.len() / 2]
            ),
            close: true,
            expect: unreadable,
        },
        RawCase {
            name: "chunk size not hex",
            request: format!(
                "{}2\r\n{{}}\r\nzz\r\n{{}}\r\n0\r\n\r\n",
                head("/on_cancel", "Transfer-Encoding: chunked\r\n")
            ),
            close: false,
            expect: unreadable,
        },
        RawCase {
            name: "chunk size over 64 bits",
            request: format!(
                "{}ffffffffffffffffffff\r\nab\r\n",
                head("/on_cancel", "Transfer-Encoding: chunked\r\n")
            ),
            close: false,
            expect: unreadable,
        },
        RawCase {
            name: "chunked body cut short, then EOF",
            request: format!(
                "{}{:x}\r\n{}",
                head("/on_cancel", "Transfer-Encoding: chunked\r\n"),
                body.len(),
                &text[..10]
            ),
            close: true,
            expect: unreadable,
        },
        RawCase {
            name: "action percent-encoded as invalid UTF-8",
            request: format!(
                "{}{text}",
                head("/%ff", &format!("Content-Length: {}\r\n", body.len()))
            ),
            close: false,
            expect: nack(404, "10000", CORE, None),
        },
    ];
    let framing_cases = [
        FramingCase {
            name: "Content-Length not a number",
            framing: "Content-Length: abc\r\n",
        },
        FramingCase {
            name: "Content-Length negative",
            framing: "Content-Length: -1\r\n",
        },
        FramingCase {
            name: "Content-Length over 64 bits",
            framing: "Content-Length: 18446744073709551616\r\n",
        },
        FramingCase {
            name: "two different Content-Lengths",
            framing: "Content-Length: 3\r\nContent-Length: 4\r\n",
        },
        FramingCase {
            name: "Content-Length and Transfer-Encoding",
            framing: "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        },
        FramingCase {
            name: "Transfer-Encoding gzip",
            framing: "Transfer-Encoding: gzip\r\n",
        },
        FramingCase {
            name: "control character in a header",
            framing: "X-Bad: a\x01b\r\nContent-Length: 0\r\n",
        },
    ];

    let mut problems = Vec::new();
    for case in raw_cases {
        let mut stream = connect(&app).await;
        stream.write_all(case.request.as_bytes()).await.unwrap();
        if case.close {
            stream.shutdown().await.unwrap();
        }
        match read_response(&mut stream, Duration::from_secs(5)).await {
            Ok(answer) => problems.extend(nack_problems(case.name, answer.status, &answer.body, case.expect)),
            Err(e) => problems.push(format!("{}: {e}", case.name)),
        }
    }
    for case in framing_cases {
        let mut stream = connect(&app).await;
        let request = format!("{}{{}}", head("/on_cancel", case.framing));
        stream.write_all(request.as_bytes()).await.unwrap();
        match read_response(&mut stream, Duration::from_secs(5)).await {
            Ok(answer) if answer.status == 400 => {}
            Ok(answer) => problems.push(format!(
                "{}: status: expected 400, got {}; body {}",
                case.name, answer.status, answer.body
            )),
            Err(e) => problems.push(format!("{}: {e}", case.name)),
        }
    }
    problems.extend(survival_problems(&app).await);
    assert_no_problems("framing", &problems);
}

/// Over the limit without `Content-Length`: counted while reading the chunks. The chunks carry 2 MiB
/// that the seller really signed, so only the size is wrong.
#[tokio::test]
async fn a_chunked_body_over_the_limit_is_refused() {
    let app = spawn_app().await;
    let body = vec![b' '; 2 * LIMIT];
    let stream = connect(&app).await;
    let (mut rd, mut wr) = stream.into_split();
    let head = format!(
        "POST /on_cancel HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nAuthorization: {auth}\r\nTransfer-Encoding: chunked\r\n\r\n",
        host = host(&app),
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
    writer.abort();
    let mut problems = nack_problems(
        "chunked body over 1 MiB",
        answer.status,
        &answer.body,
        nack(413, "10000", CORE, None),
    );
    problems.extend(survival_problems(&app).await);
    assert_no_problems("transport", &problems);
}

/// Headers and half the body, then nothing: the body deadline (1.5 s in the test app) answers.
#[tokio::test]
async fn a_body_that_stalls_is_refused_at_the_deadline() {
    let app = spawn_app().await;
    let body = bytes(&on_cancel(app.parties.seller.subscriber_id));
    let mut stream = connect(&app).await;
    let head = format!(
        "POST /on_cancel HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nAuthorization: {auth}\r\nContent-Length: {len}\r\n\r\n",
        host = host(&app),
        auth = app.parties.seller.sign(&body),
        len = body.len(),
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..body.len() / 2]).await.unwrap();
    let started = Instant::now();
    let answer = read_response(&mut stream, Duration::from_secs(6)).await.unwrap();
    let waited = started.elapsed();
    let mut problems = nack_problems(
        "body stalls halfway",
        answer.status,
        &answer.body,
        nack(408, "10000", CORE, None),
    );
    if !(waited >= Duration::from_millis(1200) && waited < Duration::from_secs(4)) {
        problems.push(format!("body stalls halfway: answered after {waited:?}"));
    }
    problems.extend(survival_problems(&app).await);
    assert_no_problems("transport", &problems);
}

/// Only POST is Beckn; anything else gets the server's plain JSON 404 (not a NACK).
#[tokio::test]
async fn only_post_is_a_beckn_call() {
    let app = spawn_app().await;
    let mut problems = Vec::new();
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
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if (status, &body["error"]["code"]) != (404, &json!("no_route")) {
            problems.push(format!(
                "{method} {path}: expected 404 no_route, got {status} {body}"
            ));
        }
    }
    problems.extend(survival_problems(&app).await);
    assert_no_problems("methods", &problems);
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
