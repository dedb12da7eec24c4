//! `bench` as CI runs it: a few hundred signed callbacks and a few cascades against the real
//! binary on a temporary store, every one ACKed, and a JSON report with the fields the README
//! figures come from. The same on PostgreSQL with two gateway nodes, on a database of the
//! server at `DATABASE_URL` (scripts/test starts one).

use crate::crash::database_url;
use crate::support::{gateway, repo_root};

fn bench_json(args: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let sdk = repo_root().join("interop");
    let mut all = vec![
        "bench",
        "--seconds",
        "60",
        "--connections",
        "8",
        "--json",
        json.to_str().unwrap(),
        "--sdk-dir",
        sdk.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let out = gateway(&all, b"");
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap()
}

#[test]
fn a_short_callback_run_acks_everything_and_reports_its_figures() {
    let r = bench_json(&["--requests", "300", "--orders", "20"]);
    assert_eq!(r["requests"], 300, "{r:#}");
    // A plain run measures sled, whatever DATABASE_URL says.
    assert_eq!(
        (r["store"].as_str(), r["nodes"].as_u64()),
        (Some("sled"), Some(1)),
        "{r:#}"
    );
    assert_eq!(
        (r["acked"].as_u64(), r["errors"].as_u64()),
        (Some(300), Some(0)),
        "{r:#}"
    );
    for field in [
        "requests_per_sec",
        "cpu_us_per_request",
        "peak_rss_mib",
        "store_bytes_per_callback",
    ] {
        assert!(r[field].as_f64().is_some_and(|x| x > 0.0), "{field}: {r:#}");
    }
    for p in ["p50_ms", "p90_ms", "p99_ms", "max_ms"] {
        assert!(r["latency"][p].as_f64().is_some_and(|x| x > 0.0), "{p}: {r:#}");
    }
    assert!(r["load_average_before"].is_array() && r["machine"]["cores"].as_u64() > Some(0));
    // The SDK comparison is there, or says why not (node or the SDK missing).
    let sdk = &r["sdk"];
    assert!(
        sdk["gateway_to_sdk_ratio"].as_f64().is_some() || sdk["error"].is_string(),
        "{sdk:#}"
    );
    if sdk["error"].is_null() {
        assert_eq!(
            sdk["invalid"], 0,
            "the SDK refused a header the gateway took: {sdk:#}"
        );
    }
}

#[test]
fn a_short_cascade_run_reaches_the_seller_every_time() {
    let r = bench_json(&["--mode", "cascades", "--orders", "30", "--rate", "50", "--no-sdk"]);
    assert_eq!(
        (r["acked"].as_u64(), r["errors"].as_u64()),
        (Some(30), Some(0)),
        "{r:#}"
    );
    let c = &r["cascades"];
    assert_eq!(c["completed"], 30, "{r:#}");
    assert!(
        c["to_seller"]["p99_ms"].as_f64().is_some_and(|x| x > 0.0),
        "{r:#}"
    );
    assert!(r["sdk"].is_null());
}

#[test]
fn an_open_loop_run_keeps_its_rate_and_acks_everything() {
    let r = bench_json(&["--requests", "200", "--orders", "10", "--rate", "100", "--no-sdk"]);
    assert_eq!(
        (r["acked"].as_u64(), r["errors"].as_u64()),
        (Some(200), Some(0)),
        "{r:#}"
    );
    assert_eq!(r["rate"], 100, "{r:#}");
    assert!(r["latency"]["p99_ms"].as_f64().is_some_and(|x| x > 0.0), "{r:#}");
}

#[test]
fn two_nodes_on_postgres_share_the_load_and_ack_everything() {
    let url = database_url();
    let r = bench_json(&[
        "--requests",
        "300",
        "--orders",
        "20",
        "--nodes",
        "2",
        "--database-url",
        &url,
        "--no-sdk",
    ]);
    assert_eq!(
        (r["store"].as_str(), r["nodes"].as_u64()),
        (Some("postgres"), Some(2)),
        "{r:#}"
    );
    assert!(
        r["database"].as_str().is_some_and(|d| d.starts_with("gw_bench_")),
        "{r:#}"
    );
    assert_eq!(
        (r["acked"].as_u64(), r["errors"].as_u64()),
        (Some(300), Some(0)),
        "{r:#}"
    );
    let nodes = r["per_node"].as_array().unwrap();
    assert_eq!(nodes.len(), 2, "{r:#}");
    for n in nodes {
        assert!(n["acked"].as_u64() > Some(0), "a node got no load: {r:#}");
        assert!(n["peak_rss_mib"].as_f64().is_some_and(|x| x > 0.0), "{r:#}");
    }
    assert!(
        r["store_bytes_per_callback"].as_f64().is_some_and(|x| x > 0.0),
        "{r:#}"
    );
    assert_eq!(r["gateway_log"]["errors"], 0, "{r:#}");
}

#[test]
fn cascades_through_two_nodes_on_postgres_reach_the_seller_once_each() {
    let url = database_url();
    let r = bench_json(&[
        "--mode",
        "cascades",
        "--orders",
        "30",
        "--rate",
        "50",
        "--nodes",
        "2",
        "--database-url",
        &url,
        "--no-sdk",
    ]);
    assert_eq!(
        (r["acked"].as_u64(), r["errors"].as_u64()),
        (Some(30), Some(0)),
        "{r:#}"
    );
    assert_eq!(
        (&r["cascades"]["completed"], &r["cascades"]["duplicates"]),
        (&30.into(), &0.into()),
        "{r:#}"
    );
}

#[test]
fn several_nodes_without_a_database_is_a_usage_error() {
    let out = gateway(&["bench", "--nodes", "2"], b"");
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--database-url"), "{}", out.stderr);
}
