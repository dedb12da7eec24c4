//! The `ondc-gateway` binary: parses the command line and hands over to the library.

use clap::{Parser, Subcommand};
use ondc_gateway::cli;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: a request allocates and frees many small buffers
/// on two worker threads and the store's flusher, where glibc's arenas showed in the profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// ONDC/Beckn buyer-side cancellation gateway.
#[derive(Debug, Parser)]
#[command(name = "ondc-gateway", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway (settings from config/default.toml unless --config is given).
    Serve(cli::ServeArgs),
    /// Print a new Ed25519 signing key pair as JSON.
    Keygen,
    /// Apply the PostgreSQL store's schema migrations (serve also applies them at start-up).
    Migrate(cli::MigrateArgs),
    /// Print the Beckn Authorization header for the body on standard input.
    Sign(cli::SignArgs),
    /// Replay fixture flows against the gateway (in-process, or --gateway-url); exit 1 on any failure.
    Replay(cli::ReplayArgs),
    /// Mint a REST bearer token (HS256 with rest.token_secret from the config).
    Token(cli::TokenArgs),
    /// Load benchmark: starts the gateway on a temporary store and drives signed callbacks or cascades.
    Bench(cli::BenchArgs),
    /// Check a Beckn signature header against the body on standard input (exit 0 valid, 1 invalid, 2 usage).
    Verify(cli::VerifyArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap uses 2 for usage errors and 0 for --help/--version; keep both.
            return ExitCode::from(if e.use_stderr() { cli::EXIT_USAGE } else { 0 });
        }
    };
    match cli.command {
        Command::Serve(args) => cli::serve(args),
        Command::Keygen => cli::keygen(),
        Command::Migrate(args) => cli::migrate(args),
        Command::Sign(args) => cli::sign(args),
        Command::Verify(args) => cli::verify(args),
        Command::Token(args) => cli::token(args),
        Command::Replay(args) => cli::replay(args),
        Command::Bench(args) => cli::bench(args),
    }
}
