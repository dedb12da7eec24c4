//! Every published vector in `fixtures/signing-vectors.json` (copied from ONDC's and Beckn's
//! documents, see its `source` fields), checked through the library and through the CLI.

use crate::support::{gateway, repo_root};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ondc_gateway::signing::{
    BodyDigest, PrivateKey, PublicKey, SignatureHeader, Signer, ValidityPolicy, verify,
};
use serde_json::Value;

fn vectors() -> Vec<Value> {
    let text = std::fs::read_to_string(repo_root().join("fixtures/signing-vectors.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["vectors"].as_array().unwrap().clone()
}

fn of_kind(kind: &str) -> Vec<Value> {
    let v: Vec<Value> = vectors().into_iter().filter(|v| v["kind"] == kind).collect();
    assert!(!v.is_empty(), "no {kind} vectors");
    v
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("{} lacks {k}", v["id"]))
}

#[test]
fn every_header_vector_verifies_and_is_reproduced_byte_for_byte() {
    for v in of_kind("auth_header") {
        let id = s(&v, "id");
        let body = s(&v, "body_utf8").as_bytes();
        let header: SignatureHeader = s(&v, "expected_header").parse().unwrap();
        let public = PublicKey::from_base64(s(&v, "signing_public_key")).unwrap();
        assert_eq!(
            verify(&header, body, &public, header.created, &ValidityPolicy::default()),
            Ok(()),
            "{id}"
        );
        if let Some(d) = v["expected_digest_base64"].as_str() {
            assert_eq!(BodyDigest::of(body).to_base64(), d, "{id}");
        }
        // Both private-key forms sign to exactly the published header.
        let key = PrivateKey::from_base64(s(&v, "signing_private_key")).unwrap();
        for form in [key.to_base64_keypair(), key.to_base64_seed()] {
            let signer = Signer::new(PrivateKey::from_base64(&form).unwrap(), header.key_id.clone());
            let ours = signer.sign(body, header.created, header.expires);
            assert_eq!(ours.to_string(), s(&v, "expected_header"), "{id}");
        }
    }
}

#[test]
fn the_cli_verifies_and_reproduces_every_header_vector() {
    for v in of_kind("auth_header") {
        let id = s(&v, "id");
        let body = s(&v, "body_utf8").as_bytes();
        let header: SignatureHeader = s(&v, "expected_header").parse().unwrap();
        let now = header.created.to_string();
        let out = gateway(
            &[
                "verify",
                "--header",
                s(&v, "expected_header"),
                "--public-key",
                s(&v, "signing_public_key"),
                "--now",
                &now,
            ],
            body,
        );
        assert_eq!(out.code, 0, "{id}: {}", out.stderr);
        let created = header.created.to_string();
        let expires = header.expires.to_string();
        let out = gateway(
            &[
                "sign",
                "--private-key",
                s(&v, "signing_private_key"),
                "--subscriber-id",
                header.key_id.subscriber_id.as_str(),
                "--unique-key-id",
                header.key_id.unique_key_id.as_str(),
                "--created",
                &created,
                "--expires",
                &expires,
            ],
            body,
        );
        assert_eq!(out.code, 0, "{id}: {}", out.stderr);
        assert_eq!(
            out.stdout.trim_end_matches('\n'),
            s(&v, "expected_header"),
            "{id}"
        );
    }
}

#[test]
fn the_published_header_fails_on_the_pretty_printed_copy_of_its_body() {
    let all = vectors();
    let find = |id: &str| all.iter().find(|v| v["id"] == id).unwrap().clone();
    let pretty = find("negative-pretty-printed-body");
    for id in ["beckn006-bap", "ondc-python-readme"] {
        let v = find(id);
        let header: SignatureHeader = s(&v, "expected_header").parse().unwrap();
        let public = PublicKey::from_base64(s(&v, "signing_public_key")).unwrap();
        let body = s(&pretty, "body_utf8").as_bytes();
        assert!(
            verify(&header, body, &public, header.created, &ValidityPolicy::default()).is_err(),
            "{id}"
        );
        let now = header.created.to_string();
        let out = gateway(
            &[
                "verify",
                "--header",
                s(&v, "expected_header"),
                "--public-key",
                s(&v, "signing_public_key"),
                "--now",
                &now,
            ],
            body,
        );
        assert_eq!(out.code, 1, "{id}");
        assert!(
            out.stderr.starts_with("invalid: signature does not match"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn digest_raw_and_keypair_vectors_hold() {
    for v in of_kind("blake2b512") {
        let d = BodyDigest::of(s(&v, "input_utf8").as_bytes());
        assert_eq!(d.to_base64(), s(&v, "expected_digest_base64"));
        let hex: String = d.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, s(&v, "expected_digest_hex"));
    }
    for v in of_kind("ed25519_raw") {
        let key = PrivateKey::from_base64(s(&v, "signing_private_key")).unwrap();
        let sig = key.sign(s(&v, "message_utf8").as_bytes());
        assert_eq!(STANDARD.encode(sig.to_bytes()), s(&v, "expected_signature"));
    }
    for v in of_kind("keypair") {
        let key = PrivateKey::from_base64(s(&v, "signing_private_key")).unwrap();
        assert_eq!(
            key.public_key().to_base64(),
            s(&v, "signing_public_key"),
            "{}",
            v["id"]
        );
    }
}
