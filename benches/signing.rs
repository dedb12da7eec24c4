//! Signing micro-benchmarks on a 2 KiB `on_cancel` body: digest, sign, verify, and the whole
//! header check a receiver does per request (parse the header, digest the body, ed25519 verify,
//! with the public key already decoded, as the registry cache holds it).
//!
//! Run pinned to one core: `taskset -c 1 cargo bench --bench signing`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ondc_gateway::signing::{BodyDigest, KeyId, PrivateKey, SignatureHeader, Signer, ValidityPolicy, verify};
use std::hint::black_box;

const BODY: &[u8] = include_bytes!("../fixtures/bench/on_cancel-2KiB.json");

fn signing(c: &mut Criterion) {
    assert_eq!(BODY.len(), 2048);
    let key_id: KeyId = "seller.example.com|207|ed25519".parse().unwrap();
    let signer = Signer::new(PrivateKey::generate(), key_id);
    let public = signer.public_key();
    let (created, expires) = (1_795_000_000, 1_795_003_600);
    let header = signer.sign(BODY, created, expires);
    let header_text = header.to_string();
    let policy = ValidityPolicy::default();

    let mut g = c.benchmark_group("2KiB");
    g.throughput(Throughput::Elements(1));
    g.bench_function("digest", |b| b.iter(|| BodyDigest::of(black_box(BODY))));
    g.bench_function("sign", |b| {
        b.iter(|| signer.sign(black_box(BODY), created, expires))
    });
    g.bench_function("verify", |b| {
        b.iter(|| verify(black_box(&header), black_box(BODY), &public, created, &policy).unwrap())
    });
    g.bench_function("verify_full_header", |b| {
        b.iter(|| {
            let h: SignatureHeader = black_box(header_text.as_str()).parse().unwrap();
            verify(&h, black_box(BODY), &public, created, &policy).unwrap()
        })
    });
    g.bench_function("parse_header", |b| {
        b.iter(|| {
            black_box(header_text.as_str())
                .parse::<SignatureHeader>()
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, signing);
criterion_main!(benches);
