//! The conformance fixtures through the same engine the `replay` subcommand uses: every flow in
//! `fixtures/flows` passes; a copy with one expected field changed fails and names its step; the
//! HTML report has one sequence diagram per flow.

use crate::support::{gateway, repo_root};
use ondc_gateway::replay::{StepOutcome, Target, html_report, run_paths, text_report};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_flow_passes_and_the_report_draws_each() {
    let dir = repo_root().join("fixtures/flows");
    let reports = run_paths(&[dir], &Target::InProcess).await.unwrap();
    assert!(reports.len() >= 10, "{} flows", reports.len());
    let text = text_report(&reports);
    assert!(reports.iter().all(|r| r.passed()), "{text}");
    assert!(
        text.ends_with(&format!("replay: {} passed, 0 failed\n", reports.len())),
        "{text}"
    );
    let html = html_report(&reports);
    assert_eq!(html.matches("<svg class=\"seq\"").count(), reports.len());
    assert!(!html.contains("<script"), "the report needs no script");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_expectation_fails_and_names_the_step() {
    let original = repo_root().join("fixtures/flows/03-lsp-cancels-rto-delivered.json");
    let text = std::fs::read_to_string(&original).unwrap();
    let broken = text.replacen(
        "\"$.message.cancellation_reason_id\": \"103\"",
        "\"$.message.cancellation_reason_id\": \"104\"",
        1,
    );
    assert_ne!(
        broken, text,
        "the fixture must contain the expectation this test changes"
    );
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("broken.json");
    std::fs::write(&copy, broken).unwrap();
    let reports = run_paths(std::slice::from_ref(&copy), &Target::InProcess)
        .await
        .unwrap();
    let r = &reports[0];
    assert!(!r.passed());
    let failed: Vec<_> = r
        .steps
        .iter()
        .filter(|s| matches!(s.outcome, StepOutcome::Failed(_)))
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].name, "seller receives the cascaded /cancel");
    let StepOutcome::Failed(detail) = &failed[0].outcome else {
        unreachable!()
    };
    assert!(
        detail.contains("$.message.cancellation_reason_id: expected \"104\", got \"103\""),
        "{detail}"
    );
    assert!(
        r.steps
            .iter()
            .skip_while(|s| s.index <= failed[0].index)
            .all(|s| s.outcome == StepOutcome::Skipped)
    );

    // The subcommand exits 1 and prints the step and the diff.
    let out = gateway(&["replay", copy.to_str().unwrap()], b"");
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("✗  2 seller receives the cascaded /cancel"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("expected \"104\", got \"103\""),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.trim_end().ends_with("replay: 0 passed, 1 failed"),
        "{}",
        out.stdout
    );
}
