//! Where the gateway under test keeps its state: sled in a temporary directory (the default,
//! one gateway process), or, given `--database-url`, a fresh PostgreSQL database made for the run
//! (`gw_bench_<uuid>`, on that server, dropped again at the end) that every gateway node of the
//! run shares. Also what the store weighs (the directory, or `pg_database_size`) and, when the
//! PostgreSQL server runs on this machine, the CPU of its processes (from `/proc`).

use super::Options;
use super::error::BenchError;
use super::process::cpu_ticks;
use std::collections::HashMap;
use std::path::Path;

/// The backend, as the report names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The embedded store.
    Sled,
    /// PostgreSQL.
    Postgres,
}

/// The run's store.
pub enum Store {
    /// sled, in a directory removed with this value.
    Sled(tempfile::TempDir),
    /// A database made for the run.
    Postgres {
        /// The URL given (its server's maintenance database), to drop the run's database.
        server: String,
        /// The URL of the run's database.
        url: String,
        /// The run's database.
        name: String,
    },
}

/// One reading of the store.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// Bytes: the sled directory, or `pg_database_size(current_database())`.
    pub bytes: u64,
    /// PostgreSQL on this machine: CPU ticks of this database's backends, by pid.
    pub backends: Option<HashMap<u32, u64>>,
    /// PostgreSQL on this machine: CPU ticks of the server's background processes (WAL writer,
    /// checkpointer, …; shared with every database of the server), by pid.
    pub background: Option<HashMap<u32, u64>>,
}

impl Store {
    /// A temporary sled directory, or a new database on the server of `--database-url`.
    pub async fn create(options: &Options) -> Result<Self, BenchError> {
        let Some(server) = &options.database_url else {
            return tempfile::tempdir()
                .map(Self::Sled)
                .map_err(|e| BenchError::context("temporary directory for the store", e));
        };
        let name = format!("gw_bench_{}", uuid::Uuid::new_v4().simple());
        let url = crate::store::create_database(server, &name).await.map_err(|e| {
            BenchError::context(
                format!(
                    "cannot create database {name} at {}",
                    crate::store::redact(server)
                ),
                e,
            )
        })?;
        Ok(Self::Postgres {
            server: server.clone(),
            url,
            name,
        })
    }

    /// Which backend.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sled(_) => Backend::Sled,
            Self::Postgres { .. } => Backend::Postgres,
        }
    }

    /// The run's database and its server, without a password (PostgreSQL only).
    pub fn database(&self) -> Option<(String, String)> {
        match self {
            Self::Sled(_) => None,
            Self::Postgres { server, name, .. } => Some((name.clone(), crate::store::redact(server))),
        }
    }

    /// The gateway config's `[store]` table, but for the retention settings.
    pub fn config(&self) -> String {
        match self {
            Self::Sled(dir) => format!(
                "[store]\npath = {}\n",
                toml_string(&dir.path().display().to_string())
            ),
            Self::Postgres { url, .. } => {
                format!("[store]\nkind = \"postgres\"\nurl = {}\n", toml_string(url))
            }
        }
    }

    /// What the figure of [`Reading::bytes`] is.
    pub fn bytes_source(&self) -> &'static str {
        match self {
            Self::Sled(_) => "the sled directory's files",
            Self::Postgres { .. } => "pg_database_size(current_database())",
        }
    }

    /// Reads the store's size (and the PostgreSQL server's CPU, when it is on this machine).
    pub async fn read(&self) -> Result<Reading, BenchError> {
        let url = match self {
            Self::Sled(dir) => {
                return Ok(Reading {
                    bytes: dir_bytes(dir.path()),
                    ..Reading::default()
                });
            }
            Self::Postgres { url, .. } => url,
        };
        let fail = |e| BenchError::context("reading the benchmark database", e);
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .map_err(fail)?;
        let connection = tokio::spawn(connection);
        let bytes: i64 = client
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await
            .map_err(fail)?
            .get(0);
        // Every process of the server but this very connection: this database's backends, and
        // the processes of no database (the background ones).
        let rows = client
            .query(
                "SELECT pid, datname IS NOT NULL FROM pg_stat_activity \
                 WHERE pid <> pg_backend_pid() AND (datname = current_database() OR datname IS NULL)",
                &[],
            )
            .await
            .map_err(fail)?;
        let own: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .map_err(fail)?
            .get(0);
        drop(client);
        let _ = connection.await;
        // The pids are the server's: they are ours only if the server runs here (same pid
        // namespace), which the backend of this connection shows.
        let (mut backends, mut background) = (HashMap::new(), HashMap::new());
        let local = is_postgres(own);
        if local {
            for row in rows {
                let (pid, of_database): (i32, bool) = (row.get(0), row.get(1));
                if !is_postgres(pid) {
                    continue;
                }
                let Ok(ticks) = cpu_ticks(&pid.to_string()) else {
                    continue;
                };
                let pid = pid.unsigned_abs();
                if of_database {
                    backends.insert(pid, ticks);
                } else {
                    background.insert(pid, ticks);
                }
            }
        }
        Ok(Reading {
            bytes: bytes.max(0).unsigned_abs(),
            backends: local.then_some(backends),
            background: local.then_some(background),
        })
    }

    /// Removes the store: the directory goes with `self`; the database is dropped (a warning on
    /// stderr if it cannot be).
    pub async fn remove(self) {
        let Self::Postgres { server, name, .. } = self else {
            return;
        };
        let dropped = async {
            let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls).await?;
            let connection = tokio::spawn(connection);
            // The gateways are gone, but their sessions may not have ended yet.
            let mut result = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
            if result.is_err() {
                // Before PostgreSQL 13 there is no FORCE.
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                result = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
                    .await;
            }
            drop(client);
            let _ = connection.await;
            result
        };
        if let Err(e) = dropped.await {
            eprintln!(
                "warning: cannot drop the benchmark database {name} at {}: {}",
                crate::store::redact(&server),
                crate::telemetry::chain(&e)
            );
        }
    }
}

/// Whether process `pid` here is a PostgreSQL server process.
fn is_postgres(pid: i32) -> bool {
    pid > 0
        && std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|c| matches!(c.trim(), "postgres" | "postmaster"))
}

/// CPU ticks spent between two readings by the processes of the second (one that started since
/// counts from zero; one that ended since is lost).
pub fn ticks_between(before: &HashMap<u32, u64>, after: &HashMap<u32, u64>) -> u64 {
    after
        .iter()
        .map(|(pid, t)| t.saturating_sub(before.get(pid).copied().unwrap_or(0)))
        .sum()
}

/// `s` as a TOML basic string (JSON's escapes are TOML's).
fn toml_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// Bytes under `dir`, by file length.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
