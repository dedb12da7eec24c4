//! Conformance replay: fixture flows played against the gateway by one engine, used by the
//! `replay` subcommand and by the test suite, with a text and an HTML report.
//!
//! A fixture (`fixture.rs`, the format) is run (`run.rs`) as a flow (`flow.rs`, the steps): the
//! engine plays every party, each BPP with a loopback [`counterpart`], against a gateway started
//! in-process by the [`harness`] or already running. Steps name values by path (`jsonpath.rs`),
//! fill in placeholders (`substitute.rs`) and check answers (`compare.rs`); the outcome is a
//! [`FlowReport`] per flow, rendered as text or HTML ([`report`]). The integration tests use the same
//! counterpart and harness for their own scenarios.

mod compare;
pub mod counterpart;
mod error;
mod fixture;
mod flow;
pub mod harness;
mod jsonpath;
pub mod report;
mod run;
mod substitute;

pub use error::{ReplayError, SignatureProblem};
pub use fixture::Fixture;
pub use report::html::html_report;
pub use report::text::text_report;
pub use report::{FlowReport, StepOutcome, StepReport, TraceItem};
pub use run::{Target, run_fixture, run_paths};
