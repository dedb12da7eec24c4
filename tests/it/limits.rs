//! The server's limits, each set in `[server]` and checked on a socket: the body size, the
//! deadlines for the head and the body, the idle keep-alive and the connections per worker.

use ondc_gateway::replay::harness::Harness;
use ondc_gateway::signing::PrivateKey;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

async fn gateway(server: &str) -> Harness {
    let settings = format!(
        "subscriber_id = \"bnp.limits.local\"\nunique_key_id = \"k\"\nsigning_private_key = \"{}\"\n\
         subscriber_url = \"http://127.0.0.1:0\"\n[server]\n{server}\n[rest]\ntoken_secret = \"{}\"\n",
        PrivateKey::generate().to_base64_keypair(),
        crate::app::TOKEN_SECRET
    );
    Harness::start(&settings, &[], None).await.unwrap()
}

async fn connect(gw: &Harness) -> TcpStream {
    TcpStream::connect(gw.url().strip_prefix("http://").unwrap())
        .await
        .unwrap()
}

/// Everything the server sends until it closes, or until `within` passes (`None`).
async fn read_all(s: &mut TcpStream, within: Duration) -> Option<String> {
    let mut out = vec![];
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(within, read).await.ok()?;
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test]
async fn the_body_size_and_the_deadlines_for_head_and_body_are_the_configured_ones() {
    let gw = gateway("max_body_bytes = 1000\nclient_request_timeout_ms = 800\nbody_timeout_ms = 300").await;

    let mut s = connect(&gw).await;
    s.write_all(b"POST /on_cancel HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n")
        .await
        .unwrap();
    let answer = read_all(&mut s, Duration::from_secs(3)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"NACK\""), "{answer}");

    // A head that never ends: cut off at the head deadline.
    let started = Instant::now();
    let mut s = connect(&gw).await;
    s.write_all(b"POST /on_cancel HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let answer = read_all(&mut s, Duration::from_secs(3))
        .await
        .expect("closed in time");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // A body that stalls: refused at the body deadline with a NACK.
    let started = Instant::now();
    let mut s = connect(&gw).await;
    s.write_all(b"POST /on_cancel HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"context\"")
        .await
        .unwrap();
    let answer = read_all(&mut s, Duration::from_secs(3))
        .await
        .expect("answered in time");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"NACK\""), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_configured_time() {
    let gw = gateway("keep_alive_secs = 1").await;
    let mut s = connect(&gw).await;
    let started = Instant::now();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // The answer, then the server closes the idle connection about a second later.
    let answer = read_all(&mut s, Duration::from_secs(5))
        .await
        .expect("closed within 5 s");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let idle = started.elapsed();
    assert!(
        idle >= Duration::from_millis(800) && idle < Duration::from_secs(4),
        "closed after {idle:?}"
    );
}

#[tokio::test]
async fn connections_past_the_limit_wait_until_one_closes() {
    let gw = gateway("workers = 1\nmax_connections = 2").await;
    let held = [connect(&gw).await, connect(&gw).await];
    // Both held connections are accepted (they answer); the third is not served meanwhile.
    let mut third = connect(&gw).await;
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(
        read_all(&mut third, Duration::from_millis(500)).await.is_none(),
        "a third connection was served while two were open"
    );
    drop(held);
    let answer = read_all(&mut third, Duration::from_secs(5))
        .await
        .expect("served once one closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_outbox_refuses_new_work_with_503_until_it_drains() {
    use crate::app::{Options, Parties, on_cancel, order_body, spawn_app_with};
    use ondc_gateway::replay::counterpart::Counterpart;
    // The seller is down: the cascade's /cancel waits in the outbox, which holds one message.
    let parties = Parties::new();
    let lsp = Counterpart::start(parties.gateway.key.public_key()).unwrap();
    let app = spawn_app_with(Options {
        extra_toml:
            "[outbox]\nmax_pending = 1\ninitial_backoff_ms = 50\nmax_backoff_ms = 100\nmax_attempts = 1000\n"
                .into(),
        urls: vec![
            ("seller.test.local", "http://127.0.0.1:9".to_owned()),
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
    let lsp_cancel = crate::cascade::lsp_cancels_with_rto("103", "50.00");
    let body = serde_json::to_vec(&lsp_cancel).unwrap();
    let answer = app.post_signed("on_cancel", &app.parties.lsp, &body).await;
    assert_eq!(answer.status, 200, "{}", answer.raw);
    assert_eq!(app.store().pending_outbox(), 1);

    // Full: any new message is refused, not stored, so its retry is taken as new later.
    let other = serde_json::to_vec(&on_cancel("seller.test.local")).unwrap();
    let refused = app.post_signed("on_cancel", &app.parties.seller, &other).await;
    assert_eq!(refused.status, 503, "{}", refused.raw);
    assert_eq!(refused.nack_code(), Some("23001"));
    let audited = app.audit().await.len();

    // Restarted with the seller reachable: the /cancel is delivered and the outbox drains.
    let seller = Counterpart::start(app.parties.gateway.key.public_key()).unwrap();
    let (dir, parties) = app.stop().await;
    let app = spawn_app_with(Options {
        extra_toml:
            "[outbox]\nmax_pending = 1\ninitial_backoff_ms = 50\nmax_backoff_ms = 100\nmax_attempts = 1000\n"
                .into(),
        urls: vec![
            ("seller.test.local", seller.url().to_owned()),
            ("lsp.test.local", lsp.url().to_owned()),
        ],
        parties: Some(parties),
        dir: Some(dir),
        ..Options::default()
    })
    .await;
    seller.wait_for("cancel", 1).await.unwrap();
    app.wait_first_out("O1", "delivered").await;
    assert_eq!(app.store().pending_outbox(), 0, "drained");
    let taken = app.post_signed("on_cancel", &app.parties.seller, &other).await;
    assert_eq!(taken.status, 200, "{}", taken.raw);
    assert_eq!(
        app.audit().await.len(),
        audited + 1,
        "the refused message was not stored before"
    );
}

#[tokio::test]
async fn only_a_request_with_a_body_is_held_to_json() {
    let gw = gateway("").await;
    let http = reqwest::Client::new();
    let get = http
        .get(format!("{}/healthz", gw.url()))
        .header("content-type", "text/plain")
        .header("content-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    let post = http
        .post(format!("{}/on_cancel", gw.url()))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 415);
    let body: serde_json::Value = post.json().await.unwrap();
    assert_eq!(body["message"]["ack"]["status"], "NACK");
    assert_eq!(body["error"]["type"], "CORE-ERROR", "{body}");
    assert_eq!(body["error"]["code"], "10000", "{body}");
}

#[tokio::test]
async fn expect_100_continue_over_the_limit_is_refused_before_continue() {
    let gw = gateway("max_body_bytes = 1000").await;
    for (path, announced) in [("/on_cancel", 1001), ("/api/v1/orders", 300_000)] {
        let mut s = connect(&gw).await;
        s.write_all(
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n\
                 Expect: 100-continue\r\nContent-Length: {announced}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let answer = read_all(&mut s, Duration::from_secs(3))
            .await
            .expect("answered and closed");
        assert!(
            answer.starts_with("HTTP/1.1 413"),
            "{path}: no 100 Continue first: {answer}"
        );
        assert!(answer.contains("application/json"), "{answer}");
    }
    // Within the limit, the client is told to go on.
    let mut s = connect(&gw).await;
    s.write_all(b"POST /on_cancel HTTP/1.1\r\nHost: x\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 100 Continue"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
}
