//! The PostgreSQL store from the outside: `migrate`, `serve` refusing what it cannot use, and a
//! cascade through the real binary on PostgreSQL. The two-node crash run is in `crash_scale`.

use crate::crash::{free_port, scratch_database};
use std::process::Command;

fn gateway() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ondc-gateway"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

#[tokio::test]
async fn migrate_applies_the_schema_once_and_refuses_the_embedded_store() {
    let url = scratch_database("gw_migrate").await;
    let run = || {
        gateway()
            .args(["migrate"])
            .env("ONDC_GW_STORE__KIND", "postgres")
            .env("ONDC_GW_STORE__URL", &url)
            .output()
            .unwrap()
    };
    let first = run();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&first.stdout).trim(),
        "applied migrations 1; schema at version 1"
    );
    let again = run();
    assert!(again.status.success());
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        "schema up to date (version 1)"
    );
    let sled = gateway().args(["migrate"]).output().unwrap();
    assert_eq!(
        sled.status.code(),
        Some(2),
        "the shipped config is sled: a usage error"
    );
    assert!(String::from_utf8_lossy(&sled.stderr).contains("needs no migration"));
}

#[test]
fn serve_names_an_unreachable_database_without_its_password() {
    let port = free_port();
    let out = gateway()
        .args(["serve"])
        .env("ONDC_GW_STORE__KIND", "postgres")
        .env(
            "ONDC_GW_STORE__URL",
            format!("postgres://gw:hunter2secret@127.0.0.1:{port}/none"),
        )
        .env("ONDC_GW_SERVER__BIND", format!("127.0.0.1:{}", free_port()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(!err.contains("hunter2secret"), "the password leaked: {err}");
    assert!(err.contains("gw:***@"), "{err}");
}

#[test]
fn postgres_without_a_url_is_a_usage_error() {
    let out = gateway()
        .args(["serve"])
        .env("ONDC_GW_STORE__KIND", "postgres")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("store.url is not set"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixture_flows_pass_against_serve_on_postgres() {
    let url = scratch_database("gw_replay").await;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    // The shipped configuration but for the store and the address; the fixtures' counterparts
    // listen on the ports the development registry names.
    let mut child = gateway()
        .args(["serve"])
        .env("ONDC_GW_STORE__KIND", "postgres")
        .env("ONDC_GW_STORE__URL", &url)
        .env("ONDC_GW_STORE__PATH", dir.path())
        .env("ONDC_GW_SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("ONDC_GW_SUBSCRIBER_URL", format!("http://127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "gateway did not start");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let replay = tokio::task::spawn_blocking(move || {
        gateway()
            .args(["replay", "--gateway-url", &base, "fixtures/flows"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let report = String::from_utf8_lossy(&replay.stdout);
    assert!(
        replay.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert!(report.contains(" 0 failed"), "{report}");
}

/// A gateway on the PostgreSQL database `url`, with one registered seller to send as.
struct SellerGateway {
    gateway: crate::crash::Gateway,
    seller: ondc_gateway::signing::PrivateKey,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl SellerGateway {
    async fn start(url: &str) -> Self {
        use crate::crash::{record, start, write_gateway_on};
        use ondc_gateway::signing::PrivateKey;
        let dir = tempfile::tempdir().unwrap();
        let (key, seller) = (PrivateKey::generate(), PrivateKey::generate());
        let records = serde_json::json!([record("seller.crash.local", "BPP", &seller, "http://127.0.0.1:9")]);
        let store = format!("kind = \"postgres\"\nurl = \"{url}\"\n");
        let (config, port) = write_gateway_on(dir.path(), &key, records, "", &store);
        Self {
            gateway: start(&config, port).await,
            seller,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(20))
                .build()
                .unwrap(),
            _dir: dir,
        }
    }

    /// A new unsolicited `/on_cancel` from the seller, for a transaction nobody tracks.
    fn message() -> Vec<u8> {
        let mut msg = crate::app::on_cancel("seller.crash.local");
        msg["context"] =
            crate::app::context("on_cancel", "ONDC:RET10", "bnp.crash.local", "seller.crash.local");
        serde_json::to_vec(&msg).unwrap()
    }

    /// Posts `body` signed by the seller: the status and body of the answer, or `None` if there
    /// was none (the gateway exited).
    fn send(&self, body: Vec<u8>) -> impl std::future::Future<Output = Option<(u16, String)>> + use<> {
        let auth = crate::crash::sign(&self.seller, "seller.crash.local", &body);
        let (http, base) = (self.http.clone(), self.gateway.base.clone());
        async move {
            let r = http
                .post(format!("{base}/on_cancel"))
                .header("authorization", auth)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .ok()?;
            let status = r.status().as_u16();
            Some((status, r.text().await.unwrap_or_default()))
        }
    }
}

/// How many messages the audit of the database at `url` holds.
async fn audited(url: &str) -> usize {
    use ondc_gateway::store::Store as _;
    let store = ondc_gateway::store::PgStore::open(ondc_gateway::store::PgOptions {
        url: url.to_owned(),
        pool_size: 2,
        lease: std::time::Duration::from_secs(20),
        bounds: Default::default(),
    })
    .await
    .unwrap();
    store.inbound_after(0, 10_000).await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_on_postgres_exits_0_with_every_ack_stored() {
    let url = scratch_database("gw_sigterm").await;
    let mut gw = SellerGateway::start(&url).await;
    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..300 {
        let send = gw.send(SellerGateway::message());
        sends.spawn(async move { matches!(send.await, Some((200, _))) });
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let pid = gw.gateway.child.id();
    let signalled = Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}")])
        .status()
        .unwrap();
    assert!(signalled.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = gw.gateway.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the gateway did not exit after SIGTERM"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status:?}");
    let mut acked = 0;
    while let Some(ok) = sends.join_next().await {
        acked += usize::from(ok.unwrap());
    }
    let kept = audited(&url).await;
    assert!(kept >= acked, "{acked} ACKed, {kept} stored");
    println!("sigterm on postgres: {acked} of 300 ACKed before the exit, {kept} stored");
}

/// A PostgreSQL server of one test's own (under /tmp, where its unprivileged user can reach it),
/// stopped and removed when dropped.
struct OwnServer {
    dir: String,
    url: String,
}

impl OwnServer {
    fn start() -> Self {
        let dir = format!("/tmp/ondc-gw-pg-outage-{}", uuid::Uuid::new_v4().simple());
        let url = Self::script("start", &dir);
        Self { dir, url }
    }

    fn script(command: &str, dir: &str) -> String {
        let out = Command::new(format!("{}/scripts/pg-throwaway", env!("CARGO_MANIFEST_DIR")))
            .args([command, dir])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg-throwaway {command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = Command::new(format!("{}/scripts/pg-throwaway", env!("CARGO_MANIFEST_DIR")))
            .args(["stop", &self.dir])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_503_and_the_gateway_recovers_when_it_returns() {
    let server = OwnServer::start();
    let gw = SellerGateway::start(&server.url).await;
    let send = |body| {
        let sent = gw.send(body);
        async move { sent.await.expect("an answer") }
    };
    for _ in 0..10 {
        assert_eq!(send(SellerGateway::message()).await.0, 200);
    }

    OwnServer::script("crash", &server.dir);
    let refused = SellerGateway::message();
    for body in [
        refused.clone(),
        SellerGateway::message(),
        SellerGateway::message(),
    ] {
        let started = std::time::Instant::now();
        let (status, text) = send(body).await;
        assert_eq!(status, 503, "{text}");
        assert!(
            !text.contains("postgres") && !text.contains("127.0.0.1"),
            "no internals: {text}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "answered in time"
        );
    }

    OwnServer::script("resume", &server.dir);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    // The message refused during the outage was not stored: sent again, it is taken.
    loop {
        match send(refused.clone()).await.0 {
            200 => break,
            503 => assert!(std::time::Instant::now() < deadline, "no recovery"),
            other => panic!("answered {other} while recovering"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    for _ in 0..10 {
        assert_eq!(send(SellerGateway::message()).await.0, 200);
    }
    assert_eq!(
        audited(&server.url).await,
        21,
        "the 10 before, the one refused then taken, the 10 after; nothing ACKed was lost"
    );
}
