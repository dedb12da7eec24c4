//! The registry lookup client against a fake ONDC registry on loopback: answers are cached for
//! their TTL (and never past `valid_until`), "no such key" is cached too, concurrent misses ask
//! once, and the cache is written to the store so a restart does not ask again.
//!
//! The static file, through the real `serve` binary: a record the gateway cannot use is skipped
//! with a warning naming it instead of stopping start-up, and path-like subscriber ids as ONDC's
//! automation registers them (`dev-automation.ondc.org/api-service/ONDC:LOG10/1.2.5`) are
//! accepted by `verify`, by the server (signed by ONDC's Node SDK) and by `POST /api/v1/orders`.

use crate::app::{
    GATEWAY, Options, Party, TOKEN_SECRET, context, on_cancel, order_body, spawn_app, spawn_app_with,
};
use crate::support::{gateway, sdk, sdk_keys};
use actix_web::{App, HttpResponse, HttpServer, web};
use ondc_gateway::clock::FixedClock;
use ondc_gateway::config::RegistrySettings;
use ondc_gateway::protocol::format_timestamp;
use ondc_gateway::registry::{KeyRejection, Registry};
use ondc_gateway::signing::PrivateKey;
use ondc_gateway::store::{SledStore, Store};
use serde_json::{Value, json};
use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A subscriber id as ONDC's automation registers it.
const PATH_LIKE: &str = "dev-automation.ondc.org/api-service/ONDC:LOG10/1.2.5";

struct FakeRegistry {
    url: String,
    asked: Arc<AtomicUsize>,
    _handle: actix_web::dev::ServerHandle,
}

/// Serves `records` at POST /lookup, filtered by the asked subscriber_id and ukId.
fn fake_registry(records: Vec<Value>) -> FakeRegistry {
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let records = Arc::new(records);
    let server = HttpServer::new(move || {
        let counter = counter.clone();
        let records = records.clone();
        App::new().route(
            "/lookup",
            web::post().to(move |q: web::Json<Value>| {
                counter.fetch_add(1, Ordering::SeqCst);
                let hits: Vec<Value> = records
                    .iter()
                    .filter(|r| r["subscriber_id"] == q["subscriber_id"] && r["ukId"] == q["ukId"])
                    .cloned()
                    .collect();
                async move { HttpResponse::Ok().json(hits) }
            }),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    FakeRegistry {
        url: format!("http://127.0.0.1:{port}/lookup"),
        asked,
        _handle: handle,
    }
}

fn remote_record(p: &Party, valid_until: &str) -> Value {
    json!({
        "subscriber_id": p.subscriber_id, "ukId": p.ukid, "type": "BPP", "domain": "ONDC:RET10",
        "subscriber_url": "https://remote.example.com", "signing_public_key": p.key.public_key().to_base64(),
        "encr_public_key": "MCowBQYDK2VuAyEAa9Wbpvd9SsrpOZFcynyt/TO3x0Yrqyys4NUGIvyxX2Q=", "city": "std:080",
        "valid_from": "2024-01-01T00:00:00.000Z", "valid_until": valid_until, "status": "SUBSCRIBED"
    })
}

fn remote_party() -> Party {
    Party {
        subscriber_id: "remote-seller.example.com",
        ukid: "r-1",
        key: PrivateKey::generate(),
    }
}

#[tokio::test]
async fn looked_up_keys_verify_and_are_asked_for_once() {
    let remote = remote_party();
    let registry = fake_registry(vec![remote_record(&remote, "2036-01-01T00:00:00.000Z")]);
    let app = spawn_app_with(Options {
        lookup_url: Some(registry.url.clone()),
        ..Options::default()
    })
    .await;

    for _ in 0..3 {
        let body = serde_json::to_vec(&on_cancel(remote.subscriber_id)).unwrap();
        let answer = app.post_signed("on_cancel", &remote, &body).await;
        assert!(answer.is_ack(), "{}", answer.raw);
    }
    assert_eq!(
        registry.asked.load(Ordering::SeqCst),
        1,
        "one lookup for three messages"
    );

    // An unknown key: refused, and the negative answer is cached as well.
    let stranger = Party {
        subscriber_id: "remote-seller.example.com",
        ukid: "r-2",
        key: PrivateKey::generate(),
    };
    for _ in 0..2 {
        let body = serde_json::to_vec(&on_cancel(stranger.subscriber_id)).unwrap();
        assert_eq!(app.post_signed("on_cancel", &stranger, &body).await.status, 401);
    }
    assert_eq!(registry.asked.load(Ordering::SeqCst), 2);
    let written = app.store().registry_entries().await.unwrap();
    assert_eq!(written.len(), 2, "both answers written back");
}

#[tokio::test]
async fn the_cache_honours_valid_until_and_survives_a_restart() {
    let remote = remote_party();
    let start = chrono::Utc::now();
    let until = format_timestamp(start + chrono::Duration::seconds(100));
    let fake = fake_registry(vec![remote_record(&remote, &until)]);
    let dir = tempfile::tempdir().unwrap();
    let settings = RegistrySettings {
        file: None,
        lookup_url: Some(fake.url.clone()),
        cache_ttl_secs: 3600,
        negative_cache_ttl_secs: 60,
    };
    let key_id = remote.signer().key_id().clone();
    {
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
        let clock = Arc::new(FixedClock::at(start.timestamp()));
        let registry = Registry::new(&settings, store.clone(), clock.clone())
            .await
            .unwrap();
        // Concurrent misses wait for one lookup.
        let registry = Arc::new(registry);
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (r, k) = (registry.clone(), key_id.clone());
                tokio::spawn(async move { r.resolve(&k).await.map(|p| p.key_name()) })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), "remote-seller.example.com|r-1");
        }
        assert_eq!(fake.asked.load(Ordering::SeqCst), 1);
    }
    // A restart reads the written-back entry: no new lookup.
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
    let clock = Arc::new(FixedClock::at(start.timestamp()));
    let registry = Registry::new(&settings, store, clock.clone()).await.unwrap();
    assert!(registry.resolve(&key_id).await.is_ok());
    assert_eq!(fake.asked.load(Ordering::SeqCst), 1);
    // Past valid_until (well inside the 3600 s TTL) the entry is gone: asked again, and refused.
    clock.advance(101);
    assert!(matches!(
        registry.resolve(&key_id).await,
        Err(KeyRejection::Expired { .. })
    ));
    assert_eq!(fake.asked.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_unreachable_registry_is_a_503_not_a_401() {
    // Port 9 on loopback: nothing listens there.
    let app = spawn_app_with(Options {
        lookup_url: Some("http://127.0.0.1:9/lookup".into()),
        ..Options::default()
    })
    .await;
    let remote = remote_party();
    let body = serde_json::to_vec(&on_cancel(remote.subscriber_id)).unwrap();
    let answer = app.post_signed("on_cancel", &remote, &body).await;
    assert_eq!(answer.status, 503, "{}", answer.raw);
    assert_eq!(answer.nack_code(), Some("23001"));
    assert!(
        !answer.raw.contains("127.0.0.1"),
        "no internal detail leaks: {}",
        answer.raw
    );
}

#[tokio::test]
async fn an_unusable_looked_up_record_is_an_unknown_key_not_an_outage() {
    let remote = remote_party();
    let mut record = remote_record(&remote, "2036-01-01T00:00:00.000Z");
    record["signing_public_key"] = json!("bm90IGEga2V5");
    let registry = fake_registry(vec![record]);
    let app = spawn_app_with(Options {
        lookup_url: Some(registry.url.clone()),
        ..Options::default()
    })
    .await;
    let body = serde_json::to_vec(&on_cancel(remote.subscriber_id)).unwrap();
    let answer = app.post_signed("on_cancel", &remote, &body).await;
    assert_eq!(answer.status, 401, "{}", answer.raw);
    assert!(
        answer
            .raw
            .contains("no registry record for remote-seller.example.com|r-1"),
        "{}",
        answer.raw
    );
    assert_eq!(registry.asked.load(Ordering::SeqCst), 1);
}

/// A static-file record of an LSP, valid from 2024 to 2036.
fn file_record(subscriber_id: &str, uk_id: &str, public_key: &str) -> Value {
    json!({
        "subscriber_id": subscriber_id, "ukId": uk_id, "type": "BPP", "domain": "ONDC:LOG10",
        "subscriber_url": "http://127.0.0.1:9", "signing_public_key": public_key,
        "valid_from": "2024-01-01T00:00:00.000Z", "valid_until": "2036-01-01T00:00:00.000Z",
        "status": "SUBSCRIBED"
    })
}

/// The real `ondc-gateway serve` on port 0 with `records` as its registry file.
struct Served {
    child: Child,
    base: String,
    /// Its JSON log lines up to "gateway listening" (the registry is loaded before that).
    startup_log: Vec<Value>,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// The `fields` of every start-up warning.
    fn warnings(&self) -> Vec<&Value> {
        self.startup_log
            .iter()
            .filter(|l| l["level"] == "WARN")
            .map(|l| &l["fields"])
            .collect()
    }

    /// POSTs `body` to `/{action}` with `authorization`; returns (status, JSON body).
    async fn post(&self, action: &str, body: &[u8], authorization: &str) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}/{action}", self.base))
            .header("authorization", authorization)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
    }
}

fn serve(records: Value) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("registry.json");
    std::fs::write(&registry, serde_json::to_vec_pretty(&records).unwrap()).unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "subscriber_id = \"{GATEWAY}\"\nunique_key_id = \"gw-1\"\nsigning_private_key = \"{key}\"\n\
             subscriber_url = \"http://127.0.0.1:0\"\n[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\n\
             [store]\npath = \"{store}\"\n[registry]\nfile = \"{registry}\"\n[rest]\ntoken_secret = \"{TOKEN_SECRET}\"\n",
            key = PrivateKey::generate().to_base64_keypair(),
            store = dir.path().join("data").display(),
            registry = registry.display(),
        ),
    )
    .unwrap();
    let stderr = std::fs::File::create(dir.path().join("stderr")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ondc-gateway"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .env("ONDC_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    // Keep draining stdout for the server's whole life, so its logging never blocks on a full pipe.
    let (lines, log) = std::sync::mpsc::channel();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut startup_log = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = match log.recv_timeout(left) {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default();
                panic!("serve did not start ({e}); stderr: {stderr}; log: {startup_log:#?}");
            }
        };
        let entry: Value = serde_json::from_str(&line).unwrap_or_else(|_| json!({"raw": line}));
        let address = (entry["fields"]["message"] == "gateway listening")
            .then(|| entry["fields"]["address"].as_str().map(str::to_owned))
            .flatten();
        startup_log.push(entry);
        if let Some(address) = address {
            return Served {
                child,
                base: format!("http://{address}"),
                startup_log,
                _dir: dir,
            };
        }
    }
}

/// A logistics `/on_cancel` from `lsp` for a transaction the gateway does not track: ACKed once
/// the signature and the sender check out.
fn untracked_on_cancel(lsp: &str) -> Vec<u8> {
    let mut msg = on_cancel(lsp);
    msg["context"] = context("on_cancel", "ONDC:LOG10", GATEWAY, lsp);
    serde_json::to_vec(&msg).unwrap()
}

#[tokio::test]
async fn the_ondc_sdk_signs_for_a_path_like_subscriber_and_verify_and_serve_accept_it() {
    let (private64, _, public) = sdk_keys();
    let uk_id = "ONDC:LOG10-1.2.5-protocol-workbench";
    let body = untracked_on_cancel(PATH_LIKE);
    let signed = sdk("sign.js", &[&private64, PATH_LIKE, uk_id], &body);
    assert_eq!(signed.code, 0, "{}", signed.stderr);
    let header = signed.stdout.trim_end();
    assert!(
        header.contains(&format!("keyId=\"{PATH_LIKE}|{uk_id}|ed25519\"")),
        "{header}"
    );

    // (a) The CLI.
    let check = gateway(&["verify", "--header", header, "--public-key", &public], &body);
    assert_eq!(check.code, 0, "we refused {header}: {}", check.stderr);
    assert!(
        check
            .stdout
            .starts_with(&format!("valid: signed by {PATH_LIKE}|{uk_id}|ed25519")),
        "{}",
        check.stdout
    );
    // And the other way round: we sign as that subscriber, the SDK accepts it.
    let ours = gateway(
        &[
            "sign",
            "--private-key",
            &private64,
            "--subscriber-id",
            PATH_LIKE,
            "--unique-key-id",
            uk_id,
        ],
        &body,
    );
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    let check = sdk(
        "verify.js",
        &[ours.stdout.trim_end(), &public, "--check-time"],
        &body,
    );
    assert_eq!((check.code, check.stdout.trim()), (0, "true"), "{}", check.stderr);

    // (b) The server, with that subscriber in its registry file.
    let served = serve(json!([file_record(PATH_LIKE, uk_id, &public)]));
    assert_eq!(served.warnings(), Vec::<&Value>::new());
    let (status, answer) = served.post("on_cancel", &body, header).await;
    assert_eq!(
        (status, &answer),
        (200, &json!({"message": {"ack": {"status": "ACK"}}})),
        "{answer}"
    );
}

#[tokio::test]
async fn an_unusable_record_is_skipped_with_a_warning_and_serve_starts() {
    let seller = Party {
        subscriber_id: "seller.example.com",
        ukid: "s-1",
        key: PrivateKey::generate(),
    };
    let bad_key = Party {
        subscriber_id: "bad-key.example.com",
        ukid: "b-1",
        key: PrivateKey::generate(),
    };
    let backwards = Party {
        subscriber_id: "backwards.example.com",
        ukid: "w-1",
        key: PrivateKey::generate(),
    };
    let record = |p: &Party, key: &str| file_record(p.subscriber_id, p.ukid, key);
    let mut backwards_record = record(&backwards, &backwards.key.public_key().to_base64());
    backwards_record["valid_until"] = json!("2023-12-31T00:00:00.000Z");
    let served = serve(json!([
        record(&seller, &seller.key.public_key().to_base64()),
        record(&bad_key, "bm90IGEga2V5"),
        backwards_record,
    ]));

    let warned: Vec<(&str, &str, &str)> = served
        .warnings()
        .iter()
        .map(|w| {
            (
                w["subscriber_id"].as_str().unwrap(),
                w["uk_id"].as_str().unwrap(),
                w["problem"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(warned.len(), 2, "{warned:#?}");
    assert_eq!((warned[0].0, warned[0].1), ("bad-key.example.com", "b-1"));
    assert!(
        warned[0].2.contains("public key decodes to 9 bytes; expected 32"),
        "{}",
        warned[0].2
    );
    assert_eq!((warned[1].0, warned[1].1), ("backwards.example.com", "w-1"));
    assert!(warned[1].2.contains("is before valid_from"), "{}", warned[1].2);

    let body = untracked_on_cancel(seller.subscriber_id);
    let (status, answer) = served.post("on_cancel", &body, &seller.sign(&body)).await;
    assert_eq!(
        (status, &answer),
        (200, &json!({"message": {"ack": {"status": "ACK"}}})),
        "the good record still verifies"
    );
    for p in [&bad_key, &backwards] {
        let body = untracked_on_cancel(p.subscriber_id);
        let (status, answer) = served.post("on_cancel", &body, &p.sign(&body)).await;
        assert_eq!(status, 401, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("no registry record for {}|{}", p.subscriber_id, p.ukid)),
            "{message}"
        );
    }
}

#[tokio::test]
async fn an_order_may_name_path_like_counterparts() {
    let app = spawn_app().await;
    let seller = "dev-automation.ondc.org/api-service/ONDC:RET10/1.2.5";
    app.register(order_body(seller, Some(PATH_LIKE), "Packed")).await;
    let view = app.order("O1").await;
    assert_eq!(view["retail"]["bpp_id"], seller);
    assert_eq!(view["logistics"]["bpp_id"], PATH_LIKE);
}
