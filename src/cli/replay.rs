//! `replay PATH…`: conformance replay of fixture flows; non-zero exit on any failure.

use crate::config::Settings;
use crate::replay::{Target, html_report, run_paths, text_report};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Fixture files, or directories of them (`fixtures/flows`).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Replay against a running gateway at this URL instead of one started in-process.
    #[arg(long)]
    pub gateway_url: Option<String>,
    /// The running gateway's settings (identity, registry, token secret); with --gateway-url.
    #[arg(long, default_value = crate::config::DEFAULT_CONFIG, requires = "gateway_url")]
    pub config: PathBuf,
    /// Also write a self-contained HTML report here.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// Runs the flows, prints one line per step and a summary, writes the report.
pub fn replay(args: ReplayArgs) -> ExitCode {
    let target = match &args.gateway_url {
        None => Target::InProcess,
        Some(url) => match Settings::load(&args.config) {
            Ok(settings) => Target::Remote {
                url: url.clone(),
                settings: Box::new(settings),
            },
            Err(e) => return super::usage_error(e),
        },
    };
    let result = actix_web::rt::System::new().block_on(async { run_paths(&args.paths, &target).await });
    let reports = match result {
        Ok(r) => r,
        Err(e) => return super::usage_error(e),
    };
    print!("{}", text_report(&reports));
    if let Some(path) = &args.report {
        if let Err(e) = std::fs::write(path, html_report(&reports)) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("report: {}", path.display());
    }
    if reports.iter().all(|r| r.passed()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
