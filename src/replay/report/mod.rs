//! What a replay produces: per flow, each step's outcome and the trace of who sent what to whom,
//! and the two renderings of it, a text summary ([`text`]) and a self-contained HTML page
//! ([`html`]).

pub mod html;
pub mod text;

use std::time::Duration;

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// As expected.
    Passed,
    /// Not as expected; the detail says how (expected vs actual).
    Failed(String),
    /// Not run, because an earlier step failed.
    Skipped,
}

/// One step's result.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// 1-based.
    pub index: usize,
    /// Its name.
    pub name: String,
    /// Its outcome.
    pub outcome: StepOutcome,
    /// How long it took.
    pub elapsed: Duration,
}

/// One arrow of the sequence diagram.
#[derive(Debug, Clone)]
pub struct TraceItem {
    /// The step it belongs to (0 = set-up).
    pub step: usize,
    /// Sender lane.
    pub from: String,
    /// Receiver lane.
    pub to: String,
    /// Label (action and answer).
    pub label: String,
    /// Whether it went as expected.
    pub ok: bool,
    /// The payload, pretty-printed.
    pub payload: String,
}

/// A flow's result.
#[derive(Debug, Clone)]
pub struct FlowReport {
    /// The fixture file.
    pub file: String,
    /// The flow's name.
    pub name: String,
    /// What it proves.
    pub description: String,
    /// Per step.
    pub steps: Vec<StepReport>,
    /// Who sent what to whom.
    pub trace: Vec<TraceItem>,
    /// The lanes, in order.
    pub lanes: Vec<String>,
    /// A set-up failure (before any step).
    pub setup_error: Option<String>,
}

impl FlowReport {
    /// Every step passed.
    pub fn passed(&self) -> bool {
        self.setup_error.is_none() && self.steps.iter().all(|s| s.outcome == StepOutcome::Passed)
    }
}
