//! `migrate`: applies the PostgreSQL store's schema migrations and exits (`serve` also applies
//! them at start-up; this lets an operator do it first, with a role allowed to change the schema).

use crate::config::{DEFAULT_CONFIG, Settings, StoreKind};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `migrate`.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// Settings file; `ONDC_GW_*` variables override it (`ONDC_GW_STORE__URL` for the database).
    #[arg(long, default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
}

/// Applies what the database lacks; prints the versions applied.
pub fn migrate(args: MigrateArgs) -> ExitCode {
    let settings = match Settings::load(&args.config) {
        Ok(s) => s,
        Err(e) => return super::usage_error(e),
    };
    let url = match (settings.store.kind, &settings.store.url) {
        (StoreKind::Postgres, Some(url)) => url.0.clone(),
        _ => {
            return super::usage_error(
                "store.kind is not \"postgres\": the embedded store needs no migration (it upgrades itself when opened)",
            );
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shown = crate::store::redact(&url);
    let result = runtime.block_on(async move {
        let (mut client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("cannot connect to {shown}: {e}"))?;
        tokio::spawn(connection);
        crate::store::migrate(&mut client)
            .await
            .map_err(|e| format!("{shown}: {}", crate::telemetry::chain(&e)))
    });
    match result {
        Ok(applied) if applied.is_empty() => {
            println!("schema up to date (version {})", latest());
            ExitCode::SUCCESS
        }
        Ok(applied) => {
            let list: Vec<String> = applied.iter().map(ToString::to_string).collect();
            println!(
                "applied migrations {}; schema at version {}",
                list.join(", "),
                latest()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn latest() -> i32 {
    crate::store::MIGRATIONS.last().map_or(0, |m| m.0)
}
