//! Conformance replay: fixture flows played against the gateway by one engine, used by the
//! `replay` subcommand and by the test suite, with a text and an HTML report.

mod engine;
mod fixture;
mod jsonpath;
mod report;

pub use engine::{
    FlowReport, StepOutcome, StepReport, Target, TraceItem, run_fixture, run_paths, text_report,
};
pub use fixture::Fixture;
pub use report::html_report;
