//! The network side through real HTTP: signatures (ours and ONDC's SDK), the registry's say on
//! keys, ACK only after durable storage, dedupe, and the 401 shape peers expect.

use crate::app::{Party, TestApp, cancel, context, on_cancel, spawn_app};
use crate::support::{now, sdk};
use serde_json::json;

fn bytes(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

#[tokio::test]
async fn a_signed_callback_is_acked_and_stored_byte_for_byte() {
    let app = spawn_app().await;
    let body = bytes(&on_cancel(app.parties.seller.subscriber_id));
    let answer = app.post_signed("on_cancel", &app.parties.seller, &body).await;
    assert!(answer.is_ack(), "{} {}", answer.status, answer.raw);
    let audit = app.audit().await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].body.as_bytes(), body.as_slice());
    assert_eq!(audit[0].sender.as_str(), "seller.test.local");
    assert_eq!(audit[0].verification.key_id, "seller.test.local|seller-1|ed25519");
    assert!(
        audit[0]
            .headers
            .iter()
            .any(|(n, v)| n == "authorization" && v.starts_with("Signature keyId="))
    );
}

#[tokio::test]
async fn messages_signed_by_the_ondc_sdk_are_acked_for_seller_and_lsp() {
    let app = spawn_app().await;
    let seller_body = bytes(&on_cancel(app.parties.seller.subscriber_id));
    let mut lsp_msg = on_cancel(app.parties.lsp.subscriber_id);
    lsp_msg["context"] = context(
        "on_cancel",
        "ONDC:LOG10",
        crate::app::GATEWAY,
        app.parties.lsp.subscriber_id,
    );
    let lsp_body = bytes(&lsp_msg);
    for (party, body) in [(&app.parties.seller, seller_body), (&app.parties.lsp, lsp_body)] {
        let signed = sdk(
            "sign.js",
            &[&party.private_base64(), party.subscriber_id, party.ukid],
            &body,
        );
        assert_eq!(signed.code, 0, "{}", signed.stderr);
        let answer = app
            .post(
                "on_cancel",
                body,
                &[("authorization", signed.stdout.trim().to_owned())],
            )
            .await;
        assert!(
            answer.is_ack(),
            "{}: {} {}",
            party.subscriber_id,
            answer.status,
            answer.raw
        );
    }
    assert_eq!(app.audit().await.len(), 2);
}

#[tokio::test]
async fn a_buyer_app_cancel_is_acked() {
    let app = spawn_app().await;
    let body = bytes(&cancel(
        app.parties.buyer.subscriber_id,
        app.parties.seller.subscriber_id,
    ));
    let answer = app.post_signed("cancel", &app.parties.buyer, &body).await;
    assert!(answer.is_ack(), "{}", answer.raw);
}

#[tokio::test]
async fn a_duplicate_gets_the_same_answer_and_no_second_audit_entry() {
    let app = spawn_app().await;
    let body = bytes(&on_cancel(app.parties.seller.subscriber_id));
    let first = app.post_signed("on_cancel", &app.parties.seller, &body).await;
    // A retry re-signs (new created/expires) but carries the same message_id.
    let second = app.post_signed("on_cancel", &app.parties.seller, &body).await;
    assert!(first.is_ack() && second.is_ack());
    assert_eq!(first.raw, second.raw);
    assert_eq!(app.audit().await.len(), 1);
    // The same message_id on another action is another message.
    let mut update = on_cancel(app.parties.seller.subscriber_id);
    update["context"]["action"] = json!("on_status");
    update["context"]["message_id"] =
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()["context"]["message_id"].clone();
    assert!(
        app.post_signed("on_status", &app.parties.seller, &bytes(&update))
            .await
            .is_ack()
    );
    assert_eq!(app.audit().await.len(), 2);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"ondc_gateway_beckn_requests_total{action="on_cancel",outcome="duplicate"} 1"#),
        "{metrics}"
    );
}

async fn assert_401(app: &TestApp, action: &str, body: Vec<u8>, auth: Option<String>, why: &str) {
    let headers: Vec<(&str, String)> = auth.into_iter().map(|a| ("authorization", a)).collect();
    let answer = app.post(action, body, &headers).await;
    assert_eq!(answer.status, 401, "{why}: {}", answer.raw);
    assert_eq!(answer.nack_code(), Some("10001"), "{why}: {}", answer.raw);
    assert_eq!(answer.body["error"]["type"], "POLICY-ERROR");
    assert_eq!(
        answer
            .headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some(r#"Signature realm="bnp.test.local",headers="(created) (expires) digest""#),
        "{why}"
    );
    assert!(
        !answer.raw.contains("Signature keyId"),
        "{why}: the NACK must not echo the header"
    );
}

#[tokio::test]
async fn signature_failures_are_401_nacks_with_a_challenge() {
    let app = spawn_app().await;
    let p = &app.parties;
    let body = bytes(&on_cancel(p.seller.subscriber_id));
    let t = now();
    let mut tampered = body.clone();
    let pos = tampered.iter().position(|b| *b == b'O').unwrap();
    tampered[pos] = b'Q';
    let unknown = Party {
        subscriber_id: "seller.test.local",
        ukid: "other-key",
        key: ondc_gateway::signing::PrivateKey::generate(),
    };
    let cases: Vec<(&str, Vec<u8>, Option<String>)> = vec![
        ("tampered body", tampered, Some(p.seller.sign(&body))),
        (
            "expired",
            body.clone(),
            Some(p.seller.sign_window(&body, t - 600, t - 10)),
        ),
        (
            "future-dated",
            body.clone(),
            Some(p.seller.sign_window(&body, t + 120, t + 420)),
        ),
        (
            "empty window",
            body.clone(),
            Some(p.seller.sign_window(&body, t, t)),
        ),
        ("unknown key", body.clone(), Some(unknown.sign(&body))),
        (
            "signed by another participant's key",
            body.clone(),
            Some(p.lsp.sign(&body)),
        ),
        ("no header", body.clone(), None),
        (
            "malformed header",
            body.clone(),
            Some("Signature keyId=\"x".into()),
        ),
        ("bearer token", body.clone(), Some("Bearer abc".into())),
        (
            "wrong algorithm",
            body.clone(),
            Some(
                p.seller
                    .sign(&body)
                    .replace("algorithm=\"ed25519\"", "algorithm=\"rsa\""),
            ),
        ),
    ];
    for (why, body, auth) in cases {
        assert_401(&app, "on_cancel", body, auth, why).await;
    }
    // Keys the registry holds but that are not usable now.
    for (why, party) in [
        ("key past valid_until", &p.stale),
        ("status INITIATED", &p.pending),
    ] {
        let body = bytes(&on_cancel(party.subscriber_id));
        assert_401(&app, "on_cancel", body.clone(), Some(party.sign(&body)), why).await;
    }
    // A valid signature whose keyId is not the context's sender, or not in the sender's role.
    let lsp_signs_seller_message = bytes(&on_cancel(p.seller.subscriber_id));
    assert_401(
        &app,
        "on_cancel",
        lsp_signs_seller_message.clone(),
        Some(p.lsp.sign(&lsp_signs_seller_message)),
        "keyId vs bpp_id",
    )
    .await;
    let buyer_callback = bytes(&on_cancel(p.buyer.subscriber_id));
    assert_401(
        &app,
        "on_cancel",
        buyer_callback.clone(),
        Some(p.buyer.sign(&buyer_callback)),
        "a BAP sending a callback",
    )
    .await;
    let seller_cancel = bytes(&cancel(p.seller.subscriber_id, p.seller.subscriber_id));
    assert_401(
        &app,
        "cancel",
        seller_cancel.clone(),
        Some(p.seller.sign(&seller_cancel)),
        "a BPP sending /cancel",
    )
    .await;
    assert!(app.audit().await.is_empty(), "nothing refused is stored");
    let metrics = app.metrics().await;
    for reason in [
        "signature_mismatch",
        "expired",
        "not_yet_valid",
        "unknown_key",
        "header_missing",
        "key_outside_validity",
        "key_not_subscribed",
        "sender_mismatch",
        "sender_role",
    ] {
        assert!(
            metrics.contains(&format!("reason=\"{reason}\"")),
            "metrics lack {reason}"
        );
    }
}

#[tokio::test]
async fn a_gateway_header_is_verified_too() {
    let app = spawn_app().await;
    let p = &app.parties;
    let body = bytes(&on_cancel(p.seller.subscriber_id));
    let ok = app
        .post(
            "on_cancel",
            body.clone(),
            &[
                ("authorization", p.seller.sign(&body)),
                ("x-gateway-authorization", p.bg.sign(&body)),
            ],
        )
        .await;
    assert!(ok.is_ack(), "{}", ok.raw);
    assert_eq!(
        app.audit().await[0].verification.gateway_key_id.as_deref(),
        Some("bg.test.local|bg-1|ed25519")
    );

    let body = bytes(&on_cancel(p.seller.subscriber_id));
    let mut other = body.clone();
    other.push(b' ');
    let bad = app
        .post(
            "on_cancel",
            body.clone(),
            &[
                ("authorization", p.seller.sign(&body)),
                ("x-gateway-authorization", p.bg.sign(&other)),
            ],
        )
        .await;
    assert_eq!(bad.status, 401);
    assert!(
        bad.headers.get("proxy-authenticate").is_some(),
        "gateway failures challenge with Proxy-Authenticate"
    );
    let not_bg = app
        .post(
            "on_cancel",
            body.clone(),
            &[
                ("authorization", p.seller.sign(&body)),
                ("proxy-authorization", p.lsp.sign(&body)),
            ],
        )
        .await;
    assert_eq!(not_bg.status, 401, "{}", not_bg.raw);
}
