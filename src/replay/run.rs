//! Running fixtures: files and directories in, one [`FlowReport`] per fixture out. Each flow
//! gets its own gateway (in-process) or runs against the one given, with fresh counterparts,
//! its order registered first, then its steps in order until one fails.

use super::error::ReplayError;
use super::fixture::Fixture;
use super::flow::{Flow, GATEWAY_LANE, REST_LANE};
use super::report::{FlowReport, StepOutcome, StepReport};
use crate::config::Settings;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Which gateway to replay against.
#[derive(Debug)]
pub enum Target {
    /// Start one in-process per flow, on a temporary store.
    InProcess,
    /// A running gateway at `url`, whose settings (identity, registry, token secret) are `settings`.
    Remote {
        /// Base URL, e.g. `http://127.0.0.1:8080`.
        url: String,
        /// Its settings file, parsed.
        settings: Box<Settings>,
    },
}

/// Runs every fixture in `paths` (files, or directories of `*.json` in name order), in order.
/// A fixture that does not load is a failed flow; no fixture at all is an error.
pub async fn run_paths(paths: &[PathBuf], target: &Target) -> Result<Vec<FlowReport>, ReplayError> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| ReplayError::Fixture(format!("{}: {e}", p.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "json"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    if files.is_empty() {
        return Err(ReplayError::Fixture("no fixture files found".into()));
    }
    let mut reports = Vec::new();
    for f in files {
        let report = match Fixture::load(&f) {
            Ok(fx) => run_fixture(&fx, &f, target).await,
            Err(e) => FlowReport {
                file: f.display().to_string(),
                name: f.display().to_string(),
                description: String::new(),
                steps: vec![],
                trace: vec![],
                lanes: vec![],
                setup_error: Some(e.to_string()),
            },
        };
        reports.push(report);
    }
    Ok(reports)
}

/// Runs one fixture; after the first failing step the rest are skipped.
pub async fn run_fixture(fx: &Fixture, file: &Path, target: &Target) -> FlowReport {
    let mut report = FlowReport {
        file: file.display().to_string(),
        name: fx.name.clone(),
        description: fx.description.clone(),
        steps: vec![],
        trace: vec![],
        lanes: lanes(fx),
        setup_error: None,
    };
    let mut flow = match Flow::start(fx, target).await {
        Ok(f) => f,
        Err(e) => {
            report.setup_error = Some(crate::telemetry::chain(&e));
            return report;
        }
    };
    if let Err(e) = flow.register_order().await {
        report.setup_error = Some(crate::telemetry::chain(&e));
        report.trace = std::mem::take(&mut flow.trace);
        flow.shutdown().await;
        return report;
    }
    let mut failed = false;
    for (i, step) in fx.steps.iter().enumerate() {
        flow.step = i + 1;
        if failed {
            report.steps.push(StepReport {
                index: i + 1,
                name: step.name.clone(),
                outcome: StepOutcome::Skipped,
                elapsed: Duration::ZERO,
            });
            continue;
        }
        let started = Instant::now();
        let outcome = match flow.run_step(step).await {
            Ok(()) => StepOutcome::Passed,
            Err(detail) => {
                failed = true;
                StepOutcome::Failed(crate::telemetry::chain(&detail))
            }
        };
        report.steps.push(StepReport {
            index: i + 1,
            name: step.name.clone(),
            outcome,
            elapsed: started.elapsed(),
        });
    }
    report.trace = std::mem::take(&mut flow.trace);
    flow.shutdown().await;
    report
}

/// The diagram's lanes: REST, the gateway, then the parties in the order the steps first name
/// them, then any party no step names.
fn lanes(fx: &Fixture) -> Vec<String> {
    let mut lanes = vec![REST_LANE.to_owned(), GATEWAY_LANE.to_owned()];
    let named = fx.steps.iter().filter_map(|s| {
        s.send
            .as_ref()
            .map(|x| &x.from)
            .or(s.receive.as_ref().map(|x| &x.to))
            .or(s.script.as_ref().map(|x| &x.party))
    });
    for party in named.chain(fx.parties.keys()) {
        if !lanes.contains(party) {
            lanes.push(party.clone());
        }
    }
    lanes
}
