//! Graceful shutdown of the real binary: on SIGTERM the gateway stops accepting, answers the
//! request it is reading, makes what it ACKed durable and exits 0.

use crate::crash::{record, sign, start, write_gateway};
use ondc_gateway::signing::PrivateKey;
use ondc_gateway::store::{SledStore, Store};
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_request_in_flight_refuses_new_ones_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = PrivateKey::generate();
    let seller = PrivateKey::generate();
    let records = json!([record("seller.crash.local", "BPP", &seller, "http://127.0.0.1:9")]);
    let (config, port) = write_gateway(dir.path(), &gateway, records, "");
    let mut gw = start(&config, port).await;

    // An unsolicited /on_cancel, its body sent in two halves around the signal.
    let mut msg = crate::app::on_cancel("seller.crash.local");
    msg["context"] = crate::app::context("on_cancel", "ONDC:RET10", "bnp.crash.local", "seller.crash.local");
    let message_id = msg["context"]["message_id"].as_str().unwrap().to_owned();
    let body = serde_json::to_vec(&msg).unwrap();
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        conn,
        "POST /on_cancel HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Authorization: {}\r\nContent-Length: {}\r\n\r\n",
        sign(&seller, "seller.crash.local", &body),
        body.len()
    )
    .unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    conn.write_all(first).unwrap();
    conn.flush().unwrap();
    // Let the server read the head and start on the body before the signal.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let pid = gw.child.id().to_string();
    // The shell's own `kill`: no procps needed on a fresh machine.
    assert!(
        std::process::Command::new("sh")
            .args(["-c", &format!("kill -TERM {pid}")])
            .status()
            .unwrap()
            .success()
    );
    // New connections are refused once the listener is closed.
    let deadline = Instant::now() + Duration::from_secs(3);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "still accepting 3 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The request in flight is finished and answered.
    conn.write_all(rest).unwrap();
    let mut answer = String::new();
    let mut buf = [0u8; 4096];
    while !answer.contains("\"ACK\"") && !answer.contains("NACK") {
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed without an answer: {answer:?}");
        answer.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // It exits by itself, with status 0.
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = gw.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running 15 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");

    // What it ACKed is in the store.
    let store = SledStore::open(&dir.path().join("data")).unwrap();
    let audit = store.inbound_after(0, 10).await.unwrap();
    assert!(
        audit.iter().any(|(_, r)| r.message_id.as_str() == message_id),
        "the ACKed message is in the audit"
    );
}
