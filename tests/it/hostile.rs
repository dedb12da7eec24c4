//! A hostile corpus, generated: at least 100 requests for each endpoint family (the Beckn
//! endpoints, the REST API, the operations endpoints), written to a raw socket so that anything
//! can go on the wire: malformed and deeply nested JSON, huge numbers and strings, invalid UTF-8,
//! wrong types in every context field, header injection, duplicated and oversized headers,
//! wrong content types and methods, bad tokens, slow heads and bodies, and broken HTTP framing.
//!
//! Every request must be answered with a 4xx within a bound (never a 5xx, never a hang), with a
//! JSON body whenever the request reached the application. Requests whose HTTP framing is broken
//! (a bad request line, conflicting lengths, a bad header, oversized heads) are refused by
//! actix-http's parser before any route exists: those get its bare 400 (or 431) and a closed
//! connection, which the README documents. Afterwards the server is healthy and still ACKs.

use crate::app::{TestApp, cancel, on_cancel, spawn_app};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// How long any answer may take (the slow cases wait out the server's own deadlines first).
const ANSWER_WITHIN: Duration = Duration::from_secs(12);

/// One request of the corpus.
struct Case {
    name: String,
    /// Bytes sent at once.
    bytes: Vec<u8>,
    /// Bytes sent one by one, slowly, after `bytes` (slow heads and bodies).
    trickle: Option<Vec<u8>>,
    /// The HTTP framing is broken, so the parser (not the application) answers.
    framing: bool,
}

fn case(name: impl Into<String>, bytes: Vec<u8>) -> Case {
    Case {
        name: name.into(),
        bytes,
        trickle: None,
        framing: false,
    }
}

fn framing(name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Case {
    Case {
        name: name.into(),
        bytes: bytes.into(),
        trickle: None,
        framing: true,
    }
}

/// A request: method, target, extra header lines (each ending in CRLF), body.
fn request(method: &str, target: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// Ways to spoil a JSON body: each returns the spoiled bytes.
fn spoiled_bodies(valid: &Value) -> Vec<(String, Vec<u8>)> {
    let text = serde_json::to_vec(valid).unwrap();
    let mut out: Vec<(String, Vec<u8>)> = vec![];
    for cut in [1, 2, 5, 10, 17, 33, 64, 100, 150, 200, 300, 400] {
        if cut < text.len() {
            out.push((format!("cut at byte {cut}"), text[..cut].to_vec()));
        }
    }
    let splice = |extra: &str| {
        let mut t = text.clone();
        t.pop();
        t.extend_from_slice(extra.as_bytes());
        t.push(b'}');
        t
    };
    for depth in [129, 1_000, 10_000, 100_000] {
        out.push((
            format!("array nested {depth} deep"),
            splice(&format!(",\"deep\":{}{}", "[".repeat(depth), "]".repeat(depth))),
        ));
        out.push((
            format!("object nested {depth} deep"),
            splice(&format!(
                ",\"deep\":{}1{}",
                "{\"a\":".repeat(depth),
                "}".repeat(depth)
            )),
        ));
    }
    for (name, number) in [
        ("1e400", "1e400"),
        ("-1e400", "-1e400"),
        ("500 digits", &"9".repeat(500)[..]),
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("leading zeros", "000123"),
        ("hex", "0x1f"),
    ] {
        out.push((format!("number {name}"), splice(&format!(",\"n\":{number}"))));
    }
    out.push((
        "string of 1.5 MiB".into(),
        splice(&format!(",\"s\":\"{}\"", "x".repeat(1536 << 10))),
    ));
    out.push((
        "key of 1.5 MiB".into(),
        splice(&format!(",\"{}\":1", "k".repeat(1536 << 10))),
    ));
    out.push(("100,000 keys".into(), {
        let keys: Vec<String> = (0..100_000).map(|i| format!("\"k{i}\":0")).collect();
        splice(&format!(",\"many\":{{{}}}", keys.join(",")))
    }));
    for (name, raw) in [
        ("0xff", &b"\xff"[..]),
        ("0xfe 0xff", b"\xfe\xff"),
        ("overlong slash", b"\xc0\xaf"),
        ("lone surrogate", b"\xed\xa0\x80"),
        ("cut multibyte", b"\xe2\x82"),
        ("NUL", b"\x00"),
    ] {
        let mut t = text.clone();
        t.pop();
        t.extend_from_slice(b",\"bad\":\"");
        t.extend_from_slice(raw);
        t.extend_from_slice(b"\"}");
        out.push((format!("invalid UTF-8 ({name}) in a string"), t));
    }
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(&text);
    out.push(("byte order mark".into(), bom));
    out.push(("escaped lone surrogate".into(), splice(",\"u\":\"\\ud800\"")));
    out.push(("duplicate key".into(), splice(",\"context\":{}")));
    out.push((
        "trailing garbage".into(),
        [text.clone(), b"garbage".to_vec()].concat(),
    ));
    out.push(("two documents".into(), [text.clone(), text.clone()].concat()));
    out.push(("comment".into(), splice(",/* c */\"x\":1")));
    out.push(("single quotes".into(), splice(",'x':1")));
    out.push(("trailing comma".into(), splice(",\"x\":1,")));
    for (name, doc) in [
        ("empty", ""),
        ("whitespace", "   \n\t"),
        ("null", "null"),
        ("true", "true"),
        ("number", "42"),
        ("string", "\"ack\""),
        ("array", "[]"),
        ("array of the message", "[{}]"),
        ("empty object", "{}"),
    ] {
        out.push((format!("body is {name}"), doc.as_bytes().to_vec()));
    }
    out
}

/// Every field of the context made each wrong type.
fn context_types(valid: &Value) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![];
    let fields: Vec<String> = valid["context"].as_object().unwrap().keys().cloned().collect();
    for field in fields {
        for (name, wrong) in [
            ("a number", json!(7)),
            ("an array", json!(["x"])),
            ("null", Value::Null),
            ("an object", json!({"a": 1})),
            ("40 KiB", json!("x".repeat(40 << 10))),
        ] {
            let mut v = valid.clone();
            v["context"][&field] = wrong;
            out.push((
                format!("context.{field} is {name}"),
                serde_json::to_vec(&v).unwrap(),
            ));
        }
    }
    out
}

/// Broken framing, aimed at `target`.
fn framing_cases(target: &str) -> Vec<Case> {
    let head = |extra: &str| format!("POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}");
    vec![
        framing(
            "a TLS hello instead of HTTP",
            &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"[..],
        ),
        framing("HTTP/0.9", format!("GET {target}\r\n\r\n")),
        framing("HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        framing("version HTTP/9.9", format!("GET {target} HTTP/9.9\r\n\r\n")),
        framing("no version", format!("GET {target}\r\nHost: x\r\n\r\n")),
        framing("space in the target", format!("GET {target} x HTTP/1.1\r\n\r\n")),
        framing(
            "header without a colon",
            head("NoColonHere\r\nContent-Length: 0\r\n\r\n"),
        ),
        framing(
            "NUL in a header name",
            head("X-\0Bad: 1\r\nContent-Length: 0\r\n\r\n"),
        ),
        framing(
            "CR injected in a header value",
            head("X-Bad: a\rInjected: b\r\nContent-Length: 0\r\n\r\n"),
        ),
        framing(
            "obsolete line folding",
            head("X-Folded: a\r\n  continued\r\nContent-Length: 0\r\n\r\n"),
        ),
        framing(
            "two different Content-Lengths",
            head("Content-Length: 3\r\nContent-Length: 4\r\n\r\n{}"),
        ),
        framing(
            "Content-Length and chunked",
            head("Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}"),
        ),
        framing(
            "Content-Length not a number",
            head("Content-Length: 1x\r\n\r\n{}"),
        ),
        framing("Content-Length negative", head("Content-Length: -5\r\n\r\n")),
        framing(
            "Content-Length over 64 bits",
            head("Content-Length: 99999999999999999999999\r\n\r\n"),
        ),
        framing(
            "chunk size not hex",
            head("Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
        ),
        framing(
            "chunk size over 64 bits",
            head("Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\nab\r\n"),
        ),
        framing(
            "Transfer-Encoding gzip only",
            head("Transfer-Encoding: gzip\r\n\r\n{}"),
        ),
        framing(
            "a 200 KiB header line (over actix-http's 128 KiB head)",
            head(&format!(
                "X-Big: {}\r\nContent-Length: 0\r\n\r\n",
                "b".repeat(200 << 10)
            )),
        ),
        framing(
            "200 headers (over actix-http's 96)",
            head(&format!(
                "{}Content-Length: 0\r\n\r\n",
                (0..200).map(|i| format!("X-H{i}: v\r\n")).collect::<String>()
            )),
        ),
        framing(
            "a 200 KiB request target",
            format!(
                "GET {target}?{} HTTP/1.1\r\nHost: x\r\n\r\n",
                "q".repeat(200 << 10)
            ),
        ),
    ]
}

/// Slow heads and bodies: the server's own deadlines must end them.
fn slow_cases(target: &str, body: &[u8]) -> Vec<Case> {
    let head = format!(
        "POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
        body.len()
    );
    vec![
        Case {
            name: "slow head (one byte at a time, never finished)".into(),
            bytes: vec![],
            trickle: Some(head.clone().into_bytes()),
            framing: true,
        },
        Case {
            name: "slow body (one byte at a time, never finished)".into(),
            bytes: format!("{head}\r\n").into_bytes(),
            trickle: Some(body.to_vec()),
            framing: false,
        },
    ]
}

/// What went wrong with one answer, if anything.
async fn check(app: &TestApp, case: Case) -> Option<String> {
    let host = app.base.strip_prefix("http://").unwrap().to_owned();
    let name = case.name.clone();
    let run = async move {
        let mut s = TcpStream::connect(&host)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        // A write may fail once the server has answered and closed: the answer still counts.
        let _ = s.write_all(&case.bytes).await;
        if let Some(slow) = &case.trickle {
            for b in slow {
                if s.write_all(&[*b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        let mut answer = vec![];
        let mut buf = [0u8; 16384];
        // Until the server closes, or one whole final answer is in (a kept-alive connection
        // stays open after it).
        while !complete(&answer) {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
        Ok::<_, String>((case, answer))
    };
    let (case, answer) = match tokio::time::timeout(ANSWER_WITHIN, run).await {
        Err(_) => return Some(format!("{name}: no answer and not closed: the connection hung")),
        Ok(Err(e)) => return Some(e),
        Ok(Ok(r)) => r,
    };
    let mut text = String::from_utf8_lossy(&answer).into_owned();
    // An interim `100 Continue` comes before the answer.
    while text.starts_with("HTTP/1.1 1") {
        match text.split_once("\r\n\r\n") {
            Some((_, rest)) => text = rest.to_owned(),
            None => break,
        }
    }
    let Some(status) = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|s| s.parse::<u16>().ok())
    else {
        return Some(format!(
            "{}: closed without an answer ({} bytes)",
            case.name,
            answer.len()
        ));
    };
    if !(400..500).contains(&status) {
        return Some(format!("{}: status {status}: {}", case.name, excerpt(&text)));
    }
    if !case.framing {
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let is_json = text
            .to_ascii_lowercase()
            .contains("content-type: application/json");
        if !is_json || serde_json::from_str::<Value>(body).is_err() {
            return Some(format!(
                "{}: {status} without a JSON body: {}",
                case.name,
                excerpt(&text)
            ));
        }
    }
    None
}

/// Whether `bytes` hold a whole final answer (interim `1xx` answers skipped): a head and as
/// many body bytes as its `Content-Length` says.
fn complete(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    loop {
        let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
            return false;
        };
        let head = String::from_utf8_lossy(&rest[..end]).to_ascii_lowercase();
        if head.starts_with("http/1.1 1") {
            rest = &rest[end + 4..];
            continue;
        }
        let Some(length) = head.lines().find_map(|l| {
            l.strip_prefix("content-length:")
                .and_then(|v| v.trim().parse::<usize>().ok())
        }) else {
            return false;
        };
        return rest.len() >= end + 4 + length;
    }
}

fn excerpt(text: &str) -> String {
    text.chars().take(300).collect()
}

/// Runs a family's corpus (a few at a time), then checks the server is still well.
async fn run_family(app: &TestApp, family: &str, cases: Vec<Case>) {
    let total = cases.len();
    assert!(total >= 100, "{family}: only {total} cases");
    let framing = cases.iter().filter(|c| c.framing).count();
    let mut problems = vec![];
    let mut cases = cases.into_iter();
    loop {
        let batch: Vec<Case> = cases.by_ref().take(16).collect();
        if batch.is_empty() {
            break;
        }
        let results = futures_util::future::join_all(batch.into_iter().map(|c| check(app, c))).await;
        problems.extend(results.into_iter().flatten());
    }
    let http = reqwest::Client::new();
    let health = http.get(format!("{}/healthz", app.base)).send().await.unwrap();
    if health.status() != 200 {
        problems.push(format!("healthz afterwards: {}", health.status()));
    }
    let body = serde_json::to_vec(&on_cancel(app.parties.seller.subscriber_id)).unwrap();
    let r = http
        .post(format!("{}/on_cancel", app.base))
        .header("authorization", app.parties.seller.sign(&body))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    if r.status() != 200 {
        problems.push(format!("a valid callback afterwards: {}", r.status()));
    }
    println!(
        "hostile corpus, {family}: {total} requests ({framing} with broken framing), {} problems",
        problems.len()
    );
    assert!(problems.is_empty(), "{family}:\n{}", problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beckn_endpoints_answer_a_hostile_corpus_with_4xx_json() {
    let app = spawn_app().await;
    let seller = &app.parties.seller;
    let buyer = &app.parties.buyer;
    let callback = on_cancel(seller.subscriber_id);
    let mut cases = vec![];
    // Correctly signed, so parsing and validation are what is tested.
    for (name, body) in spoiled_bodies(&callback)
        .into_iter()
        .chain(context_types(&callback))
    {
        let auth = seller.sign(&body);
        let headers = format!("Content-Type: application/json\r\nAuthorization: {auth}\r\n");
        cases.push(case(
            format!("/on_cancel: {name}"),
            request("POST", "/on_cancel", &headers, &body),
        ));
    }
    let req = cancel(buyer.subscriber_id, seller.subscriber_id);
    for (name, body) in spoiled_bodies(&req).into_iter().take(30) {
        let auth = buyer.sign(&body);
        let headers = format!("Content-Type: application/json\r\nAuthorization: {auth}\r\n");
        cases.push(case(
            format!("/cancel: {name}"),
            request("POST", "/cancel", &headers, &body),
        ));
    }
    let good = serde_json::to_vec(&callback).unwrap();
    let auth = seller.sign(&good);
    for (name, headers) in [
        (
            "no Authorization",
            "Content-Type: application/json\r\n".to_owned(),
        ),
        (
            "two Authorizations",
            format!("Authorization: {auth}\r\nAuthorization: {auth}\r\n"),
        ),
        (
            "Authorization of 20 KiB",
            format!("Authorization: Signature {}\r\n", "a".repeat(20 << 10)),
        ),
        (
            "Authorization not a signature",
            "Authorization: Basic dXNlcjpwYXNz\r\n".into(),
        ),
        (
            "Authorization with a forged header after it",
            format!("Authorization: {auth}, keyId=\"x|y|ed25519\"\r\n"),
        ),
        (
            "gateway header that is not a signature",
            format!("Authorization: {auth}\r\nX-Gateway-Authorization: junk\r\n"),
        ),
        (
            "Content-Type text/plain",
            format!("Content-Type: text/plain\r\nAuthorization: {auth}\r\n"),
        ),
        (
            "Content-Type multipart",
            format!("Content-Type: multipart/form-data; boundary=x\r\nAuthorization: {auth}\r\n"),
        ),
        (
            "Content-Type of 8 KiB",
            format!(
                "Content-Type: application/{}\r\nAuthorization: {auth}\r\n",
                "j".repeat(8 << 10)
            ),
        ),
        (
            "Content-Encoding gzip (not gzipped)",
            format!("Content-Encoding: gzip\r\nAuthorization: {auth}\r\n"),
        ),
    ] {
        cases.push(case(
            format!("/on_cancel: {name}"),
            request("POST", "/on_cancel", &headers, &good),
        ));
    }
    for action in [
        "on_search",
        "search",
        "ON_CANCEL",
        "on_cancel/",
        "on_cancel%00",
        "%ff",
        "..%2fhealthz",
    ] {
        let headers = format!("Authorization: {auth}\r\n");
        cases.push(case(
            format!("unknown endpoint /{action}"),
            request("POST", &format!("/{action}"), &headers, &good),
        ));
    }
    for method in ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        cases.push(case(
            format!("{method} /on_cancel"),
            request(method, "/on_cancel", "", b""),
        ));
    }
    cases.push(case(
        "Expect: 100-continue with 64 MiB announced",
        format!("POST /on_cancel HTTP/1.1\r\nHost: x\r\nConnection: close\r\nExpect: 100-continue\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\r\n", 64 << 20).into_bytes(),
    ));
    cases.push(case(
        "2 MiB body",
        request(
            "POST",
            "/on_cancel",
            &format!("Authorization: {auth}\r\n"),
            &vec![b' '; 2 << 20],
        ),
    ));
    cases.extend(framing_cases("/on_cancel"));
    cases.extend(slow_cases("/on_cancel", &good));
    run_family(&app, "Beckn", cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_api_answers_a_hostile_corpus_with_4xx_json() {
    let app = spawn_app().await;
    let token = app.platform();
    let bearer = format!("Authorization: Bearer {token}\r\nContent-Type: application/json\r\n");
    let order = crate::app::order_body(app.parties.seller.subscriber_id, None, "Packed");
    let mut cases = vec![];
    for (name, body) in spoiled_bodies(&order) {
        cases.push(case(
            format!("POST /api/v1/orders: {name}"),
            request("POST", "/api/v1/orders", &bearer, &body),
        ));
    }
    for field in order.as_object().unwrap().keys() {
        for (name, wrong) in [
            ("a number", json!(7)),
            ("null", Value::Null),
            ("an array", json!([])),
        ] {
            let mut o = order.clone();
            o[field] = wrong;
            let body = serde_json::to_vec(&o).unwrap();
            cases.push(case(
                format!("order.{field} is {name}"),
                request("POST", "/api/v1/orders", &bearer, &body),
            ));
        }
    }
    let request_body = br#"{"reason":"x"}"#;
    for (name, auth) in [
        ("no token", String::new()),
        ("empty bearer", "Authorization: Bearer \r\n".into()),
        ("not a JWT", "Authorization: Bearer abc\r\n".into()),
        ("three dots", "Authorization: Bearer a.b.c\r\n".into()),
        (
            "alg none",
            format!("Authorization: Bearer {}\r\n", unsigned_token("none")),
        ),
        (
            "alg HS512 unsigned",
            format!("Authorization: Bearer {}\r\n", unsigned_token("HS512")),
        ),
        ("Basic", "Authorization: Basic dXNlcjpwYXNz\r\n".into()),
        (
            "token of 40 KiB",
            format!("Authorization: Bearer {}\r\n", "a".repeat(40 << 10)),
        ),
        (
            "two tokens",
            format!("Authorization: Bearer {token}\r\nAuthorization: Bearer {token}\r\n"),
        ),
        (
            "lowercase scheme and junk",
            format!("Authorization: bearer {token} junk\r\n"),
        ),
    ] {
        for (method, path) in [
            ("GET", "/api/v1/orders/O1"),
            ("POST", "/api/v1/orders"),
            ("GET", "/api/v1/notifications"),
            ("POST", "/api/v1/orders/O1/cancellation-requests"),
        ] {
            let headers = format!("{auth}Content-Type: application/json\r\n");
            cases.push(case(
                format!("{method} {path}: {name}"),
                request(method, path, &headers, request_body),
            ));
        }
    }
    for path in [
        "/api/v1/orders/%ff",
        "/api/v1/orders/..%2f..%2fetc%2fpasswd",
        &format!("/api/v1/orders/{}", "o".repeat(8 << 10)),
        "/api/v1/orders/O1/timeline?x=%zz",
        "/api/v1/orders/O1/outbox/%00/retry",
        "/api/v1/unknown",
        "/api/v2/orders",
    ] {
        cases.push(case(
            format!("GET {}", excerpt(path)),
            request("GET", path, &bearer, b""),
        ));
    }
    for method in ["PUT", "TRACE", "DELETE", "PATCH"] {
        cases.push(case(
            format!("{method} /api/v1/orders"),
            request(method, "/api/v1/orders", &bearer, b"{}"),
        ));
    }
    for ct in [
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
    ] {
        let headers = format!("Authorization: Bearer {token}\r\nContent-Type: {ct}\r\n");
        let body = serde_json::to_vec(&order).unwrap();
        cases.push(case(
            format!("POST /api/v1/orders as {ct}"),
            request("POST", "/api/v1/orders", &headers, &body),
        ));
    }
    cases.extend(framing_cases("/api/v1/orders"));
    cases.extend(slow_cases("/api/v1/orders", &serde_json::to_vec(&order).unwrap()));
    run_family(&app, "REST", cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operations_endpoints_answer_a_hostile_corpus_with_4xx_json() {
    let app = spawn_app().await;
    let mut cases = vec![];
    let paths = [
        "/healthz/x",
        "/metrics/x",
        "/nope",
        "/",
        "/%ff",
        "/healthz%00",
        "//healthz/..",
        "/.env",
        "/api",
        "/favicon.ico",
    ];
    for path in paths {
        for method in ["GET", "POST", "PUT", "DELETE", "HEAD"] {
            // HEAD answers have no body by definition; they are checked for the status only.
            let mut c = case(format!("{method} {path}"), request(method, path, "", b"{}"));
            c.framing = method == "HEAD";
            cases.push(c);
        }
    }
    for method in [
        "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "BREW",
    ] {
        for path in ["/healthz", "/metrics"] {
            cases.push(case(format!("{method} {path}"), request(method, path, "", b"{}")));
        }
    }
    for path in ["/missing", "/healthz/deeper"] {
        for (name, headers) in [
            ("Host of 8 KiB", format!("X-Host: {}\r\n", "h".repeat(8 << 10))),
            ("many cookies", "Cookie: a=1\r\n".repeat(40)),
            (
                "X-Forwarded-For forged",
                "X-Forwarded-For: 10.0.0.1, 127.0.0.1\r\n".into(),
            ),
            ("Range", "Range: bytes=0-1,2-3\r\n".into()),
            (
                "Upgrade websocket",
                "Upgrade: websocket\r\nConnection: Upgrade\r\n".into(),
            ),
            (
                "Upgrade h2c",
                "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n".into(),
            ),
            ("Expect 100-continue", "Expect: 100-continue\r\n".into()),
            ("Expect unknown", "Expect: 999-bogus\r\n".into()),
            ("body on GET of 512 KiB", String::new()),
        ] {
            let body = if name.starts_with("body") {
                vec![b'x'; 512 << 10]
            } else {
                vec![]
            };
            cases.push(case(
                format!("GET {path}: {name}"),
                request("GET", path, &headers, &body),
            ));
        }
    }
    cases.push(framing(
        "a DEL byte in a header value",
        request("GET", "/missing", "Accept: \x7f\x7e\r\n", b""),
    ));
    cases.extend(framing_cases("/healthz"));
    cases.extend(framing_cases("/metrics"));
    run_family(&app, "operations", cases).await;
}

/// A JWT with the given `alg` and no valid signature, claiming the platform role.
fn unsigned_token(alg: &str) -> String {
    use base64::Engine as _;
    let b64 =
        |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let exp = chrono::Utc::now().timestamp() + 600;
    format!(
        "{}.{}.",
        b64(&json!({"alg": alg, "typ": "JWT"})),
        b64(&json!({"sub": "p", "role": "platform", "exp": exp, "iat": exp - 600}))
    )
}
