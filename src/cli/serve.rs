//! `serve`: runs the gateway until SIGINT or SIGTERM.

use crate::clock::SystemClock;
use crate::config::{DEFAULT_CONFIG, Settings};
use crate::startup::Application;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Settings file; `ONDC_GW_*` variables override it.
    #[arg(long, default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
}

/// Loads settings, starts the server, and serves.
pub fn serve(args: ServeArgs) -> ExitCode {
    crate::telemetry::init_tracing();
    let settings = match Settings::load(&args.config) {
        Ok(s) => s,
        Err(e) => {
            crate::telemetry::flush_logs();
            eprintln!("error: {e}");
            return ExitCode::from(super::EXIT_USAGE);
        }
    };
    let result = actix_web::rt::System::new().block_on(async move {
        // The whole chain: `registry: cannot read the registry file …: No such file or directory`.
        let app = Application::build(&settings, Arc::new(SystemClock))
            .await
            .map_err(|e| crate::telemetry::chain(&e))?;
        tracing::info!(
            subscriber_id = %settings.subscriber_id,
            address = %format!("{}:{}", settings.server.bind.ip(), app.port()),
            store = ?settings.store.kind,
            "gateway listening"
        );
        app.run_until_stopped().await.map_err(|e| e.to_string())
    });
    crate::telemetry::flush_logs();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
