//! The registry lookup client against a fake ONDC registry on loopback: answers are cached for
//! their TTL (and never past `valid_until`), "no such key" is cached too, concurrent misses ask
//! once, and the cache is written to the store so a restart does not ask again.

use crate::app::{Options, Party, on_cancel, spawn_app_with};
use actix_web::{App, HttpResponse, HttpServer, web};
use ondc_gateway::clock::FixedClock;
use ondc_gateway::config::RegistrySettings;
use ondc_gateway::protocol::format_timestamp;
use ondc_gateway::registry::{KeyRejection, Registry};
use ondc_gateway::signing::PrivateKey;
use ondc_gateway::store::{SledStore, Store};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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
    let written = app.store().registry_entries().unwrap();
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
        let registry = Registry::new(&settings, store.clone(), clock.clone()).unwrap();
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
    let registry = Registry::new(&settings, store, clock.clone()).unwrap();
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
