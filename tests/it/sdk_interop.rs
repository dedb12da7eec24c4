//! Interop with ONDC's official Node SDK (`ondc-crypto-sdk-nodejs` 2.1.1, through the scripts in
//! `../shared/tools/ondc-sdk`): what we sign, it accepts; what it signs, we accept; and a tampered
//! body fails on both sides.

use crate::support::{gateway, now, our_keys, sdk, sdk_keys};

/// Bodies that break naive implementations: compact JSON, raw non-ASCII UTF-8 with escapes,
/// nothing at all, and pretty-printed JSON with a trailing newline.
fn bodies() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("compact", br#"{"context":{"action":"on_cancel","bap_id":"buyer.example.com"},"message":{"order":{"id":"O1"}}}"#.to_vec()),
        ("non-ascii", "{\"message\":{\"descriptor\":{\"name\":\"चाय ₹50 \\\"masala\\\" a/b\"}}}".as_bytes().to_vec()),
        ("empty", Vec::new()),
        ("pretty", b"{\n  \"context\": {\n    \"action\": \"cancel\"\n  },\n  \"message\": {}\n}\n".to_vec()),
    ]
}

#[test]
fn the_sdk_accepts_what_we_sign_with_either_key_form() {
    let (private64, seed32, public) = sdk_keys();
    for (name, body) in bodies() {
        for key in [&private64, &seed32] {
            let out = gateway(
                &[
                    "sign",
                    "--private-key",
                    key,
                    "--subscriber-id",
                    "gw.example.com",
                    "--unique-key-id",
                    "k1",
                ],
                &body,
            );
            assert_eq!(out.code, 0, "{name}: {}", out.stderr);
            let header = out.stdout.trim_end();
            let check = sdk("verify.js", &[header, &public, "--check-time"], &body);
            assert_eq!(
                (check.code, check.stdout.trim()),
                (0, "true"),
                "{name}: SDK refused {header}: {}",
                check.stderr
            );
        }
    }
}

#[test]
fn we_accept_what_the_sdk_signs() {
    let (private64, _, public) = sdk_keys();
    for (name, body) in bodies() {
        let out = sdk("sign.js", &[&private64, "snp.example.com", "207"], &body);
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        let header = out.stdout.trim_end();
        let check = gateway(&["verify", "--header", header, "--public-key", &public], &body);
        assert_eq!(check.code, 0, "{name}: we refused {header}: {}", check.stderr);
        assert!(
            check
                .stdout
                .starts_with("valid: signed by snp.example.com|207|ed25519"),
            "{}",
            check.stdout
        );
    }
}

#[test]
fn our_keygen_output_works_in_the_sdk() {
    let (private64, public) = our_keys();
    let body = br#"{"message":{}}"#;
    let out = sdk("sign.js", &[&private64, "gw.example.com", "k1"], body);
    assert_eq!(out.code, 0, "SDK refused our 64-byte key: {}", out.stderr);
    let check = gateway(
        &[
            "verify",
            "--header",
            out.stdout.trim_end(),
            "--public-key",
            &public,
        ],
        body,
    );
    assert_eq!(check.code, 0, "{}", check.stderr);
}

#[test]
fn a_tampered_body_fails_on_both_sides() {
    let (private64, _, public) = sdk_keys();
    let body = br#"{"message":{"order":{"id":"O1"}}}"#;
    let tampered = br#"{"message":{"order":{"id":"O2"}}}"#;

    let theirs = sdk("sign.js", &[&private64, "snp.example.com", "207"], body);
    let check = gateway(
        &[
            "verify",
            "--header",
            theirs.stdout.trim_end(),
            "--public-key",
            &public,
        ],
        tampered,
    );
    assert_eq!(check.code, 1);
    assert_eq!(
        check.stderr.trim(),
        "invalid: signature does not match the body and key"
    );

    let ours = gateway(
        &[
            "sign",
            "--private-key",
            &private64,
            "--subscriber-id",
            "gw.example.com",
            "--unique-key-id",
            "k1",
        ],
        body,
    );
    let check = sdk("verify.js", &[ours.stdout.trim_end(), &public], tampered);
    assert_eq!((check.code, check.stdout.trim()), (1, "false"));
}

#[test]
fn windows_agree_with_the_sdk_time_check() {
    let (private64, _, public) = sdk_keys();
    let body = b"{}";
    let t = now();
    // Expired an hour ago: the SDK's signature check alone passes, both time checks refuse it.
    let (c, e) = ((t - 7200).to_string(), (t - 3600).to_string());
    let old = sdk(
        "sign.js",
        &[
            &private64,
            "snp.example.com",
            "207",
            "--created",
            &c,
            "--expires",
            &e,
        ],
        body,
    );
    let header = old.stdout.trim_end();
    assert_eq!(sdk("verify.js", &[header, &public], body).code, 0);
    assert_eq!(sdk("verify.js", &[header, &public, "--check-time"], body).code, 1);
    let ours = gateway(&["verify", "--header", header, "--public-key", &public], body);
    assert_eq!(ours.code, 1);
    assert!(
        ours.stderr.starts_with("invalid: signature expired at"),
        "{}",
        ours.stderr
    );
}
