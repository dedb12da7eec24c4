//! The `keygen`, `sign` and `verify` subcommands as a user runs them: exact exit codes (0 valid,
//! 1 invalid, 2 usage) and one-line reasons.

use crate::support::{gateway, now, our_keys};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

const BODY: &[u8] = br#"{"context":{"action":"cancel"},"message":{"order_id":"O1"}}"#;

fn sign_with(private: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "sign",
        "--private-key",
        private,
        "--subscriber-id",
        "bap.example.com",
        "--unique-key-id",
        "k1",
    ];
    args.extend_from_slice(extra);
    let out = gateway(&args, BODY);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout.trim_end().to_owned()
}

fn verify_code(header: &str, public: &str, body: &[u8], extra: &[&str]) -> (i32, String) {
    let mut args = vec!["verify", "--header", header, "--public-key", public];
    args.extend_from_slice(extra);
    let out = gateway(&args, body);
    (out.code, out.stderr.trim().to_owned())
}

#[test]
fn keygen_prints_the_two_documented_fields_in_the_sdk_forms() {
    let out = gateway(&["keygen"], b"");
    assert_eq!(out.code, 0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), 2);
    assert_eq!(
        STANDARD
            .decode(v["signing_private_key"].as_str().unwrap())
            .unwrap()
            .len(),
        64
    );
    assert_eq!(
        STANDARD
            .decode(v["signing_public_key"].as_str().unwrap())
            .unwrap()
            .len(),
        32
    );
    assert_ne!(
        gateway(&["keygen"], b"").stdout,
        out.stdout,
        "two keygens must differ"
    );
}

#[test]
fn sign_then_verify_round_trips_and_the_header_is_canonical() {
    let (private, public) = our_keys();
    let header = sign_with(&private, &[]);
    assert!(
        header.starts_with("Signature keyId=\"bap.example.com|k1|ed25519\",algorithm=\"ed25519\",created=\"")
    );
    assert!(header.contains("\",headers=\"(created) (expires) digest\",signature=\""));
    assert_eq!(verify_code(&header, &public, BODY, &[]).0, 0);
    // The name of the header may be pasted along with it.
    assert_eq!(
        verify_code(&format!("Authorization: {header}"), &public, BODY, &[]).0,
        0
    );
    assert_eq!(
        verify_code(&format!("X-Gateway-Authorization: {header}"), &public, BODY, &[]).0,
        0
    );
}

#[test]
fn the_32_and_64_byte_key_forms_sign_identically() {
    let (private, _) = our_keys();
    let seed = STANDARD.encode(&STANDARD.decode(&private).unwrap()[..32]);
    let window = ["--created", "1700000000", "--expires", "1700000300"];
    assert_eq!(sign_with(&private, &window), sign_with(&seed, &window));
}

#[test]
fn tampered_inputs_exit_1_with_a_reason() {
    let (private, public) = our_keys();
    let (_, other_public) = our_keys();
    let header = sign_with(&private, &[]);
    let t = now();
    let expired = sign_with(
        &private,
        &[
            "--created",
            &(t - 600).to_string(),
            "--expires",
            &(t - 60).to_string(),
        ],
    );
    let future = sign_with(
        &private,
        &[
            "--created",
            &(t + 600).to_string(),
            "--expires",
            &(t + 900).to_string(),
        ],
    );
    let sig_start = header.find("signature=\"").unwrap() + "signature=\"".len();
    let mut flipped = header.clone();
    let c = if &header[sig_start..sig_start + 1] == "A" {
        "B"
    } else {
        "A"
    };
    flipped.replace_range(sig_start..sig_start + 1, c);

    let cases: Vec<(&str, String, &str, Vec<u8>, &str)> = vec![
        (
            "body changed",
            header.clone(),
            &public,
            BODY[..BODY.len() - 1].to_vec(),
            "invalid: signature does not match",
        ),
        (
            "trailing newline",
            header.clone(),
            &public,
            [BODY, b"\n"].concat(),
            "invalid: signature does not match",
        ),
        (
            "wrong key",
            header.clone(),
            &other_public,
            BODY.to_vec(),
            "invalid: signature does not match",
        ),
        (
            "signature bit flipped",
            flipped,
            &public,
            BODY.to_vec(),
            "invalid: signature does not match",
        ),
        (
            "created changed",
            header.replacen("created=\"", "created=\"1", 1),
            &public,
            BODY.to_vec(),
            "invalid: signature",
        ),
        (
            "expired",
            expired,
            &public,
            BODY.to_vec(),
            "invalid: signature expired at",
        ),
        (
            "future",
            future,
            &public,
            BODY.to_vec(),
            "invalid: signature created at",
        ),
        (
            "algorithm",
            header.replace("algorithm=\"ed25519\"", "algorithm=\"hmac\""),
            &public,
            BODY.to_vec(),
            "invalid: unsupported signature algorithm",
        ),
        (
            "missing expires",
            header.replace(",expires=", ",x-expires="),
            &public,
            BODY.to_vec(),
            "invalid: signature header lacks the expires parameter",
        ),
        (
            "duplicate keyId",
            format!("{header},keyId=\"a|b|ed25519\""),
            &public,
            BODY.to_vec(),
            "invalid: signature header has the keyId parameter twice",
        ),
        (
            "url subscriber",
            header.replace("keyId=\"bap.example.com", "keyId=\"https://bap.example.com"),
            &public,
            BODY.to_vec(),
            "invalid: keyId subscriber_id",
        ),
        (
            "unpadded signature",
            header.replace("==\"", "\""),
            &public,
            BODY.to_vec(),
            "invalid: signature is not 64 bytes",
        ),
        (
            "bearer",
            format!("Bearer {header}"),
            &public,
            BODY.to_vec(),
            "invalid: signature header does not use the Signature scheme",
        ),
        (
            "garbage",
            "not a header".to_owned(),
            &public,
            BODY.to_vec(),
            "invalid: signature header does not use the Signature scheme",
        ),
    ];
    for (name, header, key, body, reason) in cases {
        let (code, stderr) = verify_code(&header, key, &body, &[]);
        assert_eq!(code, 1, "{name}: {stderr}");
        assert!(stderr.starts_with(reason), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: one line, got {stderr}");
    }
}

#[test]
fn clock_options_move_or_skip_the_window() {
    let (private, public) = our_keys();
    let header = sign_with(&private, &["--created", "1700000000", "--expires", "1700000300"]);
    assert_eq!(verify_code(&header, &public, BODY, &[]).0, 1, "long expired");
    assert_eq!(verify_code(&header, &public, BODY, &["--now", "1700000100"]).0, 0);
    assert_eq!(verify_code(&header, &public, BODY, &["--ignore-time"]).0, 0);
    assert_eq!(
        verify_code(&header, &public, BODY, &["--now", "1699999990"]).0,
        1,
        "10 s early, skew 5"
    );
    assert_eq!(
        verify_code(&header, &public, BODY, &["--now", "1699999990", "--skew", "10"]).0,
        0
    );
}

#[test]
fn usage_errors_exit_2() {
    let (private, public) = our_keys();
    let header = sign_with(&private, &[]);
    let cases: Vec<Vec<&str>> = vec![
        vec!["verify"],
        vec!["verify", "--header", &header],
        vec!["verify", "--header", &header, "--public-key", "not base64!"],
        vec!["verify", "--header", &header, "--public-key", &private],
        vec![
            "verify",
            "--header",
            &header,
            "--public-key",
            &public,
            "--now",
            "x",
        ],
        vec![
            "sign",
            "--private-key",
            "AAAA",
            "--subscriber-id",
            "a.com",
            "--unique-key-id",
            "k",
        ],
        vec![
            "sign",
            "--private-key",
            &private,
            "--subscriber-id",
            "https://a.com",
            "--unique-key-id",
            "k",
        ],
        vec![
            "sign",
            "--private-key",
            &private,
            "--subscriber-id",
            "a.com",
            "--unique-key-id",
            "k|1",
        ],
        vec![
            "sign",
            "--private-key",
            &private,
            "--subscriber-id",
            "a.com",
            "--unique-key-id",
            "k",
            "--created",
            "10",
            "--expires",
            "10",
        ],
        vec!["sign", "--subscriber-id", "a.com", "--unique-key-id", "k"],
        vec!["no-such-command"],
    ];
    for args in cases {
        let out = gateway(&args, BODY);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(!out.stderr.is_empty(), "{args:?} must say why");
    }
}

#[test]
fn errors_never_echo_the_private_key() {
    let (private, _) = our_keys();
    let broken = format!("{private}AA");
    let out = gateway(
        &[
            "sign",
            "--private-key",
            &broken,
            "--subscriber-id",
            "a.com",
            "--unique-key-id",
            "k",
        ],
        BODY,
    );
    assert_eq!(out.code, 2);
    assert!(!out.stderr.contains(&private[..20]), "{}", out.stderr);
}
