//! The gateway in-process, for the replay engine and the integration tests: built from TOML
//! settings, listening on 127.0.0.1 on a port the OS picks, with its own directory for the store
//! and for a registry file written from the records given, served on the current tokio runtime,
//! and stopped when dropped.

use crate::clock::SystemClock;
use crate::config::{ConfigError, Settings};
use crate::startup::{Application, StartError};
use crate::store::Store;
use actix_web::dev::ServerHandle;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long [`Harness::stop`] waits for the stopped server to let go of the store.
const RELEASE_WAIT: Duration = Duration::from_secs(10);

/// Why the gateway could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The directory or the registry file could not be made.
    #[error("the gateway's directory")]
    Dir(#[source] std::io::Error),
    /// The registry records do not serialise.
    #[error("the registry records")]
    Registry(#[source] serde_json::Error),
    /// The settings are not TOML.
    #[error("the settings are not TOML")]
    Toml(#[from] toml::de::Error),
    /// The settings could not be written back as TOML.
    #[error("the settings cannot be written as TOML")]
    TomlWrite(#[from] toml::ser::Error),
    /// A settings key the harness fills in is there but is not a table.
    #[error("settings: `{0}` must be a table")]
    NotATable(&'static str),
    /// The settings are refused.
    #[error("settings")]
    Settings(#[from] ConfigError),
    /// The gateway did not start.
    #[error("start")]
    Start(#[from] StartError),
    /// The stopped gateway still holds its store.
    #[error("the stopped gateway still holds its store after {0:?}")]
    StillHeld(Duration),
}

/// Where the gateway keeps its files.
enum Dir {
    /// Made for this run; deleted on drop.
    Temp(tempfile::TempDir),
    /// Given by the caller (a restart on an earlier store); never deleted.
    Kept(PathBuf),
}

impl Dir {
    fn path(&self) -> &Path {
        match self {
            Dir::Temp(t) => t.path(),
            Dir::Kept(p) => p,
        }
    }
}

/// A running in-process gateway.
pub struct Harness {
    port: u16,
    url: String,
    settings: Settings,
    store: Arc<dyn Store>,
    handle: ServerHandle,
    task: Option<JoinHandle<std::io::Result<()>>>,
    dir: Option<Dir>,
}

impl Harness {
    /// Starts a gateway with `settings` (TOML: its identity, `[rest]` and anything else), and
    /// `registry` (`/lookup` records) as its registry file.
    ///
    /// The harness decides where the gateway lives: `server.bind` is `127.0.0.1:0` unless the
    /// settings say otherwise, and `store.path` and `registry.file` are inside `dir`, a new
    /// temporary directory (deleted on drop) when `None`, or the directory of an earlier run
    /// (kept) to restart on its store. Needs a tokio runtime.
    pub async fn start(
        settings: &str,
        registry: &[Value],
        dir: Option<PathBuf>,
    ) -> Result<Self, HarnessError> {
        let dir = match dir {
            Some(p) => Dir::Kept(p),
            None => Dir::Temp(tempfile::tempdir().map_err(HarnessError::Dir)?),
        };
        std::fs::create_dir_all(dir.path()).map_err(HarnessError::Dir)?;
        let registry_file = dir.path().join("registry.json");
        let records = serde_json::to_vec_pretty(registry).map_err(HarnessError::Registry)?;
        std::fs::write(&registry_file, records).map_err(HarnessError::Dir)?;

        let mut table: toml::Table = settings.parse()?;
        let path = |p: &Path| toml::Value::String(p.display().to_string());
        section(&mut table, "server")?
            .entry("bind")
            .or_insert_with(|| "127.0.0.1:0".into());
        section(&mut table, "store")?.insert("path".into(), path(&dir.path().join("data")));
        section(&mut table, "registry")?.insert("file".into(), path(&registry_file));
        let settings = Settings::from_toml(&toml::to_string(&table)?)?;

        let app = Application::build(&settings, Arc::new(SystemClock)).await?;
        let port = app.port();
        let store = app.store();
        let handle = app.handle();
        let task = tokio::spawn(app.run_until_stopped());
        Ok(Self {
            port,
            url: format!("http://127.0.0.1:{port}"),
            settings,
            store,
            handle,
            task: Some(task),
            dir: Some(dir),
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The settings it runs with, as completed by the harness.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Its store, for reading beside the server. A clone held past [`Self::stop`] keeps the
    /// store open, and `stop` then fails.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The server's handle.
    pub fn handle(&self) -> &ServerHandle {
        &self.handle
    }

    /// Its directory (the store is `data/` inside it, the registry `registry.json`).
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().map_or(Path::new(""), Dir::path)
    }

    /// Stops the server, its outbox worker and its timers, and waits until the store is closed;
    /// a temporary directory is then deleted.
    pub async fn stop(mut self) -> Result<(), HarnessError> {
        self.halt().await
    }

    /// Stops like [`Self::stop`] but keeps the directory, and returns it: pass it to
    /// [`Self::start`] to restart on the same store.
    pub async fn stop_keeping_dir(mut self) -> Result<PathBuf, HarnessError> {
        self.halt().await?;
        Ok(match self.dir.take() {
            Some(Dir::Temp(t)) => t.keep(),
            Some(Dir::Kept(p)) => p,
            None => PathBuf::new(),
        })
    }

    async fn halt(&mut self) -> Result<(), HarnessError> {
        self.handle.stop(false).await;
        if let Some(task) = self.task.take() {
            task.abort();
            // Cancelled or finished: either way it has let go of what it held.
            let _ = task.await;
        }
        // actix drops each worker's app data on that worker's thread, after the server future
        // ends: wait (bounded) until only this harness holds the store, so that it is closed
        // when the harness is dropped and a restart can open it.
        let deadline = tokio::time::Instant::now() + RELEASE_WAIT;
        while Arc::strong_count(&self.store) > 1 {
            if tokio::time::Instant::now() >= deadline {
                return Err(HarnessError::StillHeld(RELEASE_WAIT));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            // `stop` sends the command at once; the future only waits for it to finish.
            drop(self.handle.stop(false));
            task.abort();
        }
    }
}

/// The table `name` of `table`, created when absent.
fn section<'t>(table: &'t mut toml::Table, name: &'static str) -> Result<&'t mut toml::Table, HarnessError> {
    table
        .entry(name)
        .or_insert_with(|| toml::Table::new().into())
        .as_table_mut()
        .ok_or(HarnessError::NotATable(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::PrivateKey;

    fn settings() -> String {
        format!(
            "subscriber_id = \"gw.test.local\"\nunique_key_id = \"k1\"\nsigning_private_key = \"{}\"\n\
             subscriber_url = \"http://127.0.0.1:0\"\n[server]\nworkers = 1\n\
             [rest]\ntoken_secret = \"a-secret-of-at-least-thirty-two-bytes\"\n",
            PrivateKey::generate().to_base64_keypair()
        )
    }

    #[tokio::test]
    async fn serves_on_its_port_and_restarts_on_its_store() {
        let gw = Harness::start(&settings(), &[], None).await.unwrap();
        assert_ne!(gw.port(), 0);
        assert!(gw.dir().join("registry.json").is_file());
        let health = reqwest::get(format!("{}/healthz", gw.url())).await.unwrap();
        assert!(health.status().is_success());
        let dir = gw.stop_keeping_dir().await.unwrap();

        let again = Harness::start(&settings(), &[], Some(dir.clone())).await.unwrap();
        assert_eq!(again.dir(), dir);
        again.stop().await.unwrap();
        assert!(dir.is_dir(), "a given directory is never deleted");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_section_that_is_not_a_table_is_named() {
        // A top-level key, so before the first table.
        let text = format!("store = 5\n{}", settings());
        assert!(matches!(
            Harness::start(&text, &[], None).await,
            Err(HarnessError::NotATable("store"))
        ));
    }
}
