//! The command line: `serve` runs the gateway; beside it, key generation, and signing and
//! verifying a body read from standard input byte for byte. Exit codes follow `INTERFACE.md`: 0 success (or a
//! valid signature), 1 an invalid signature, 2 a usage error.

mod bench;
mod keygen;
mod migrate;
mod replay;
mod serve;
mod sign;
mod token;
mod verify;

pub use bench::{BenchArgs, bench};
pub use keygen::keygen;
pub use migrate::{MigrateArgs, migrate};
pub use replay::{ReplayArgs, replay};
pub use serve::{ServeArgs, serve};
pub use sign::{SignArgs, sign};
pub use token::{TokenArgs, token};
pub use verify::{VerifyArgs, verify};

use std::io::Read as _;
use std::process::ExitCode;

/// Exit status for a usage error (bad flag, bad key, unreadable input).
pub const EXIT_USAGE: u8 = 2;

/// Reads all of standard input, exactly as sent.
fn read_stdin() -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    std::io::stdin()
        .read_to_end(&mut body)
        .map_err(|e| format!("cannot read the body from standard input: {e}"))?;
    Ok(body)
}

/// Prints a usage error on one line and returns exit status 2.
fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_USAGE)
}
