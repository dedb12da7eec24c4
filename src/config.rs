//! Settings: `config/default.toml` (or `--config FILE`), then `ONDC_GW_*` environment variables.
//!
//! Our own configuration is parsed strictly: an unknown key, in the file or in an `ONDC_GW_*`
//! variable, stops start-up with the key's name, because a misspelt setting silently left at its
//! default is worse than no start. Nesting in variables uses `__`:
//! `ONDC_GW_SERVER__BIND=0.0.0.0:9000`.

use crate::protocol::{SubscriberId, UniqueKeyId};
use crate::signing::{KeyId, PrivateKey, Signer, ValidityPolicy};
use figment::Figment;
use figment::providers::{Env, Format as _, Toml};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The prefix of environment variables that override settings.
pub const ENV_PREFIX: &str = "ONDC_GW_";
/// Where `serve` looks when no `--config` is given.
pub const DEFAULT_CONFIG: &str = "config/default.toml";

/// Why the settings could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

/// Everything the gateway needs to start.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Our registered subscriber id.
    pub subscriber_id: SubscriberId,
    /// The registry `ukId` of our signing key.
    pub unique_key_id: UniqueKeyId,
    /// Our signing key (32- or 64-byte base64 form).
    pub signing_private_key: PrivateKey,
    /// Where peers reach us; Beckn actions are appended to it.
    pub subscriber_url: String,
    /// HTTP server.
    #[serde(default)]
    pub server: ServerSettings,
    /// Storage.
    #[serde(default)]
    pub store: StoreSettings,
    /// Signature windows.
    #[serde(default)]
    pub signing: SigningSettings,
    /// Where peers' keys come from.
    pub registry: RegistrySettings,
    /// What protocol versions we accept.
    #[serde(default)]
    pub protocol: ProtocolSettings,
    /// Outbound delivery and retries.
    #[serde(default)]
    pub outbox: OutboxSettings,
    /// The REST API.
    pub rest: RestSettings,
    /// How long the gateway waits for others before it acts or tells someone.
    #[serde(default)]
    pub deadlines: DeadlineSettings,
}

/// The longest deadline accepted: a year.
const MAX_DEADLINE_SECS: u64 = 365 * 24 * 3600;

impl DeadlineSettings {
    /// The deadlines the decision step uses (bounded to a year by the settings check).
    pub fn deadlines(&self) -> crate::orchestrator::Deadlines {
        let secs =
            |s: u64| chrono::Duration::seconds(i64::try_from(s.min(MAX_DEADLINE_SECS)).unwrap_or(3600));
        crate::orchestrator::Deadlines {
            awaiting_seller: secs(self.awaiting_seller_secs),
            request_expiry: secs(self.request_expiry_secs),
            cancel_response: secs(self.cancel_response_secs),
        }
    }
}

/// Deadlines, in seconds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeadlineSettings {
    /// After the customer agrees to a provider's request, how long the seller has to cancel on
    /// the network (its `/on_cancel`) before both parties are told it has not.
    pub awaiting_seller_secs: u64,
    /// How long a customer's or provider's cancellation request stays pending before it expires
    /// (the status before it is restored and both are told).
    pub request_expiry_secs: u64,
    /// How long a seller or LSP has to answer our `/cancel` when the buyer app gave no
    /// `ttl_response`: then the retail `/cancel` is sent again with `force = yes` (ONDC flow 005),
    /// the logistics leg gets a `/status`, and a forced `/cancel` unanswered as long again leaves
    /// the leg unresolved (an IGM issue for the platform).
    pub cancel_response_secs: u64,
}

impl Default for DeadlineSettings {
    fn default() -> Self {
        Self {
            awaiting_seller_secs: 7200,
            request_expiry_secs: 86_400,
            cancel_response_secs: 300,
        }
    }
}

/// Outbound delivery settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxSettings {
    /// Attempts before a message is marked failed.
    pub max_attempts: u32,
    /// Attempts for a message refused for its signature (a peer may not yet see a rotated key).
    pub policy_attempts: u32,
    /// Delay before the first retry.
    pub initial_backoff_ms: u64,
    /// Longest delay between retries.
    pub max_backoff_ms: u64,
    /// Time a counterpart has to answer one attempt.
    pub request_timeout_ms: u64,
    /// Messages waiting to be delivered past which new work is refused (503) until the
    /// counterparts catch up.
    pub max_pending: u64,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            policy_attempts: 3,
            initial_backoff_ms: 500,
            max_backoff_ms: 60_000,
            request_timeout_ms: 10_000,
            max_pending: 100_000,
        }
    }
}

/// REST API settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestSettings {
    /// HS256 secret for bearer tokens (at least 32 bytes).
    pub token_secret: String,
    /// Where notifications are POSTed (JSON), through the outbox.
    #[serde(default)]
    pub webhook_url: Option<String>,
}

/// HTTP server settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to listen on; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Time a client has to send its request head.
    pub client_request_timeout_ms: u64,
    /// Time a client has to send its whole body.
    pub body_timeout_ms: u64,
    /// How long an idle keep-alive connection is kept open.
    pub keep_alive_secs: u64,
    /// Open connections per worker; past it, new connections wait to be accepted.
    pub max_connections: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            workers: 0,
            max_body_bytes: 1 << 20,
            client_request_timeout_ms: 5_000,
            body_timeout_ms: 10_000,
            keep_alive_secs: 30,
            max_connections: 10_000,
        }
    }
}

impl ServerSettings {
    /// The body read deadline.
    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms)
    }
}

/// Which store keeps the gateway's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// The embedded sled database in `store.path`: one node, nothing to install.
    Sled,
    /// A PostgreSQL database at `store.url`, shared by any number of nodes.
    Postgres,
}

/// A database URL, whose password never appears in `Debug` output or logs.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(pub String);

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::store::redact(&self.0))
    }
}

/// Storage settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// `sled` (the default) or `postgres`.
    pub kind: StoreKind,
    /// Directory of the embedded sled database.
    pub path: PathBuf,
    /// The PostgreSQL URL (`postgres://user:password@host:port/db`), for `kind = "postgres"`.
    pub url: Option<DatabaseUrl>,
    /// Connections each node keeps to PostgreSQL.
    pub pool_size: usize,
    /// How long a node keeps an outbox entry it claimed before another node may take it over
    /// (PostgreSQL; longer than an attempt can take).
    pub outbox_lease_secs: u64,
    /// How long the audit of received messages, and with it their dedupe record, is kept.
    pub audit_retention_secs: u64,
    /// How often records past their retention are looked for.
    pub prune_interval_secs: u64,
    /// Size at which the embedded store starts a new audit segment file (retention removes
    /// whole segments).
    pub audit_segment_bytes: u64,
    /// Timeline lines kept per order (the newest; the messages stay in the audit).
    pub max_timeline_per_order: u64,
    /// Notifications kept per user (the newest).
    pub max_notifications_per_user: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            kind: StoreKind::Sled,
            path: PathBuf::from("./data"),
            url: None,
            pool_size: 16,
            outbox_lease_secs: 20,
            audit_retention_secs: 7 * 24 * 3600,
            prune_interval_secs: 60,
            audit_segment_bytes: 64 << 20,
            max_timeline_per_order: 10_000,
            max_notifications_per_user: 1_000,
        }
    }
}

impl StoreSettings {
    /// The audit's retention.
    pub fn audit_retention(&self) -> Duration {
        Duration::from_secs(self.audit_retention_secs)
    }

    /// The pruning interval (at least a second).
    pub fn prune_interval(&self) -> Duration {
        Duration::from_secs(self.prune_interval_secs.max(1))
    }
}

/// Signature window settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigningSettings {
    /// `expires - created` on signatures we make.
    pub ttl_secs: i64,
    /// How far in the future a peer's `created` may be.
    pub max_clock_skew_secs: i64,
}

impl Default for SigningSettings {
    fn default() -> Self {
        Self {
            ttl_secs: 300,
            max_clock_skew_secs: ValidityPolicy::default().max_clock_skew_secs,
        }
    }
}

/// Registry settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    /// A JSON array of ONDC `/lookup` records.
    pub file: Option<PathBuf>,
    /// An ONDC registry `/lookup` URL asked for keys the file lacks.
    pub lookup_url: Option<String>,
    /// How long a looked-up record is trusted (never past its `valid_until`).
    #[serde(default = "default_cache_ttl")]
    pub cache_ttl_secs: i64,
    /// How long "no such key" from the lookup is remembered.
    #[serde(default = "default_negative_ttl")]
    pub negative_cache_ttl_secs: i64,
}

fn default_cache_ttl() -> i64 {
    3600
}

fn default_negative_ttl() -> i64 {
    60
}

/// Protocol settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProtocolSettings {
    /// Accepted `context.core_version` values.
    pub core_versions: Vec<String>,
}

impl Default for ProtocolSettings {
    fn default() -> Self {
        Self {
            core_versions: vec!["1.2.5".to_owned()],
        }
    }
}

impl Settings {
    /// Reads `file`, then applies `ONDC_GW_*` variables on top.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        if !file.is_file() {
            return Err(ConfigError(format!(
                "{} does not exist or is not a file",
                file.display()
            )));
        }
        Self::from_figment(Figment::from(Toml::file(file)).merge(Env::prefixed(ENV_PREFIX).split("__")))
            .map_err(|e| {
                ConfigError(format!(
                    "{} (file {}, then {ENV_PREFIX}* variables)",
                    e.0,
                    file.display()
                ))
            })
    }

    /// Parses settings from TOML text alone (tests, embedded defaults).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::from_figment(Figment::from(Toml::string(text)))
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let settings: Self = figment.extract().map_err(|e| {
            // figment names the key path of the offending value; keep only the first error.
            let first = e.into_iter().next().map(|e| e.to_string());
            ConfigError(first.unwrap_or_else(|| "the settings do not parse".to_owned()))
        })?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.signing.ttl_secs <= 0 || self.signing.max_clock_skew_secs < 0 {
            return Err(ConfigError(
                "signing.ttl_secs must be > 0 and signing.max_clock_skew_secs >= 0".into(),
            ));
        }
        if self.store.kind == StoreKind::Postgres && self.store.url.is_none() {
            return Err(ConfigError(
                "store.kind is \"postgres\" but store.url is not set (or ONDC_GW_STORE__URL)".into(),
            ));
        }
        if self.store.pool_size < 2 {
            return Err(ConfigError("store.pool_size must be at least 2".into()));
        }
        // An attempt may take the whole request timeout, then its result is saved.
        if self.store.outbox_lease_secs.saturating_mul(1000)
            < self.outbox.request_timeout_ms.saturating_add(5000)
        {
            return Err(ConfigError(
                "store.outbox_lease_secs must exceed outbox.request_timeout_ms by at least 5 s".into(),
            ));
        }
        if self.server.max_body_bytes == 0 {
            return Err(ConfigError("server.max_body_bytes must be > 0".into()));
        }
        for (name, secs) in [
            ("awaiting_seller_secs", self.deadlines.awaiting_seller_secs),
            ("request_expiry_secs", self.deadlines.request_expiry_secs),
            ("cancel_response_secs", self.deadlines.cancel_response_secs),
        ] {
            if !(1..=MAX_DEADLINE_SECS).contains(&secs) {
                return Err(ConfigError(format!(
                    "deadlines.{name} must be between 1 and {MAX_DEADLINE_SECS} (a year)"
                )));
            }
        }
        if !(self.subscriber_url.starts_with("http://") || self.subscriber_url.starts_with("https://")) {
            return Err(ConfigError(
                "subscriber_url must be an http:// or https:// URL".into(),
            ));
        }
        if self.rest.token_secret.len() < 32 {
            return Err(ConfigError("rest.token_secret must be at least 32 bytes".into()));
        }
        if self.outbox.max_attempts == 0 {
            return Err(ConfigError("outbox.max_attempts must be at least 1".into()));
        }
        if self.registry.file.is_none() && self.registry.lookup_url.is_none() {
            return Err(ConfigError("registry: set file, lookup_url, or both".into()));
        }
        Ok(())
    }

    /// Our signer: the private key bound to `subscriber_id|unique_key_id`.
    pub fn signer(&self) -> Signer {
        Signer::new(
            self.signing_private_key.clone(),
            KeyId {
                subscriber_id: self.subscriber_id.clone(),
                unique_key_id: self.unique_key_id.clone(),
            },
        )
    }

    /// The window policy for inbound signatures.
    pub fn validity_policy(&self) -> ValidityPolicy {
        ValidityPolicy {
            max_clock_skew_secs: self.signing.max_clock_skew_secs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        subscriber_id = "gw.example.com"
        unique_key_id = "k1"
        signing_private_key = "G0Pme72u8Y1MwxHqvY4iBW+7VPtJ7dsX7SGs6zZ5yvVIzdRAyHR6YkwHG2ufOE+12lsbJRwBF4Hqd7dUEOZZkg=="
        subscriber_url = "http://127.0.0.1:8080"
        [registry]
        file = "config/registry.json"
        [rest]
        token_secret = "0123456789abcdef0123456789abcdef"
    "#;

    #[test]
    fn minimal_settings_fill_in_defaults() {
        let s = Settings::from_toml(MINIMAL).unwrap();
        assert_eq!(s.server.max_body_bytes, 1 << 20);
        assert_eq!(s.protocol.core_versions, ["1.2.5"]);
        assert_eq!(s.signer().key_id().to_string(), "gw.example.com|k1|ed25519");
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = Settings::from_toml(&format!("{MINIMAL}\ncache_ttl = 5"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cache_ttl"), "{err}");
        let err = Settings::from_toml(&MINIMAL.replace("[registry]", "[server]\nbnid = 1\n[registry]"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bnid"), "{err}");
    }

    #[test]
    fn a_bad_key_is_refused_without_echoing_it() {
        let err = Settings::from_toml(&MINIMAL.replace("G0Pme72u8Y1MwxHqvY4iBW", "G0Pme72u8Y1MwxHqvY4iBX"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("signing_private_key") && !err.contains("G0Pme72u"),
            "{err}"
        );
    }

    #[test]
    fn a_postgres_store_needs_a_url_a_pool_and_a_lease_longer_than_an_attempt() {
        let with = |store: &str| {
            Settings::from_toml(&MINIMAL.replace("[registry]", &format!("[store]\n{store}\n[registry]")))
        };
        let err = with("kind = \"postgres\"").unwrap_err().to_string();
        assert!(err.contains("store.url"), "{err}");
        let url = "url = \"postgres://gw:s3cret@db:5432/gw\"";
        let s = with(&format!("kind = \"postgres\"\n{url}")).unwrap();
        assert_eq!(
            (s.store.kind, s.store.pool_size, s.store.outbox_lease_secs),
            (StoreKind::Postgres, 16, 20)
        );
        let shown = format!("{:?}", s.store);
        assert!(
            shown.contains("gw:***@db") && !shown.contains("s3cret"),
            "{shown}"
        );
        let err = with(&format!("kind = \"postgres\"\n{url}\noutbox_lease_secs = 14")).unwrap_err();
        assert!(err.to_string().contains("outbox_lease_secs"), "{err}");
        let err = with(&format!("kind = \"postgres\"\n{url}\npool_size = 1")).unwrap_err();
        assert!(err.to_string().contains("pool_size"), "{err}");
        let err = with("kind = \"mysql\"").unwrap_err();
        assert!(err.to_string().contains("kind"), "{err}");
        assert_eq!(Settings::from_toml(MINIMAL).unwrap().store.kind, StoreKind::Sled);
    }

    #[test]
    fn the_shipped_default_config_loads() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(root.join(DEFAULT_CONFIG)).unwrap();
        let s = Settings::from_toml(&text).unwrap();
        assert_eq!(s.server.bind.port(), 8080);
        assert_eq!(s.store.path, PathBuf::from("./data"));
    }
}
