//! Hostile registries: a `/lookup` that answers slowly, hugely, or with another subscriber's
//! key. (The other hostile peers — expired, replayed, tampered and re-signed messages, callbacks
//! from a party not on the order, REST tokens of the wrong user, expired or unsigned — are in
//! `receiver.rs`, `cascade.rs`, `rest.rs` and `hostile.rs`.)

use crate::app::{Options, Party, on_cancel, spawn_app_with};
use actix_web::{App, HttpResponse, HttpServer, web};
use ondc_gateway::signing::PrivateKey;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[derive(Clone, Copy)]
enum Behaviour {
    /// Answers after `secs`.
    Slow(u64),
    /// Answers 20 MiB of records.
    Huge,
    /// Answers a usable record, of another subscriber, with the asker's key.
    OtherSubscriber,
}

fn record(subscriber_id: &str, ukid: &str, key: &PrivateKey) -> Value {
    json!({
        "subscriber_id": subscriber_id, "ukId": ukid, "type": "BPP", "domain": "ONDC:RET10",
        "subscriber_url": "https://remote.example.com", "signing_public_key": key.public_key().to_base64(),
        "valid_from": "2024-01-01T00:00:00.000Z", "valid_until": "2099-01-01T00:00:00.000Z", "status": "SUBSCRIBED"
    })
}

/// A registry at 127.0.0.1 that answers every `/lookup` as `how`, signing keys being `key`'s.
fn hostile_registry(how: Behaviour, key: PrivateKey) -> (String, actix_web::dev::ServerHandle) {
    let server = HttpServer::new(move || {
        let key = key.clone();
        App::new().route(
            "/lookup",
            web::post().to(move |q: web::Json<Value>| {
                let key = key.clone();
                async move {
                    let ukid = q["ukId"].as_str().unwrap_or_default().to_owned();
                    match how {
                        Behaviour::Slow(secs) => {
                            tokio::time::sleep(Duration::from_secs(secs)).await;
                            HttpResponse::Ok().json(vec![record(
                                q["subscriber_id"].as_str().unwrap(),
                                &ukid,
                                &key,
                            )])
                        }
                        Behaviour::Huge => {
                            let one = record("padding.example.com", "p", &key);
                            HttpResponse::Ok().json(vec![one; 40_000])
                        }
                        Behaviour::OtherSubscriber => {
                            HttpResponse::Ok().json(vec![record("someone-else.example.com", &ukid, &key)])
                        }
                    }
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let url = format!("http://127.0.0.1:{}/lookup", server.addrs()[0].port());
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (url, handle)
}

async fn lookup_with(how: Behaviour) -> (crate::app::TestApp, Party, actix_web::dev::ServerHandle) {
    let remote = Party {
        subscriber_id: "remote-seller.example.com",
        ukid: "r-1",
        key: PrivateKey::generate(),
    };
    let (url, handle) = hostile_registry(how, remote.key.clone());
    let app = spawn_app_with(Options {
        lookup_url: Some(url),
        ..Options::default()
    })
    .await;
    (app, remote, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_slower_than_the_lookup_timeout_is_a_503_and_the_gateway_stays_responsive() {
    let (app, remote, _registry) = lookup_with(Behaviour::Slow(8)).await;
    let body = serde_json::to_vec(&on_cancel(remote.subscriber_id)).unwrap();
    let started = Instant::now();
    let waiting = {
        let app_base = app.base.clone();
        tokio::spawn(async move {
            // Meanwhile the gateway answers others at once.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let t = Instant::now();
            let r = reqwest::get(format!("{app_base}/healthz")).await.unwrap();
            (r.status().as_u16(), t.elapsed())
        })
    };
    let answer = app.post_signed("on_cancel", &remote, &body).await;
    assert_eq!(answer.status, 503, "{}", answer.raw);
    assert_eq!(answer.nack_code(), Some("23001"));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(8),
        "gave up after {took:?}"
    );
    let (health, health_took) = waiting.await.unwrap();
    assert_eq!(health, 200);
    assert!(
        health_took < Duration::from_secs(1),
        "healthz took {health_took:?}"
    );
    assert!(app.audit().await.is_empty(), "nothing stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_registry_answer_is_not_read_past_its_bound() {
    let (app, remote, _registry) = lookup_with(Behaviour::Huge).await;
    let body = serde_json::to_vec(&on_cancel(remote.subscriber_id)).unwrap();
    let answer = app.post_signed("on_cancel", &remote, &body).await;
    assert_eq!(answer.status, 503, "{}", answer.raw);
    assert_eq!(answer.nack_code(), Some("23001"));
    assert!(app.audit().await.is_empty(), "nothing stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_record_of_another_subscriber_does_not_vouch_for_the_sender() {
    let (app, remote, _registry) = lookup_with(Behaviour::OtherSubscriber).await;
    let body = serde_json::to_vec(&on_cancel(remote.subscriber_id)).unwrap();
    let answer = app.post_signed("on_cancel", &remote, &body).await;
    assert_eq!(answer.status, 401, "{}", answer.raw);
    assert_eq!(answer.nack_code(), Some("10001"));
    assert!(app.audit().await.is_empty(), "nothing stored");
}
