//! Start-up: opens the store, loads the registry and the schemas, builds the service, the HTTP
//! server and the outbox worker from the settings, and runs them together.

use crate::clock::Clock;
use crate::config::Settings;
use crate::config::{StoreKind, StoreSettings};
use crate::http::{AppState, ServerLimits};
use crate::orchestrator::Identity;
use crate::outbound::{OutboundClient, OutboxWorker, RetryPolicy};
use crate::protocol::{SchemaError, Schemas};
use crate::registry::{Registry, RegistryError};
use crate::service::Service;
use crate::store::{PgOptions, PgStore, SledStore, Store, StoreError};
use crate::telemetry::Metrics;
use crate::tokens::TokenKeys;
use actix_web::dev::Server;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Opens the store the settings choose.
pub async fn open_store(settings: &StoreSettings) -> Result<Arc<dyn Store>, StartError> {
    let bounds = crate::store::Bounds {
        timeline_per_order: settings.max_timeline_per_order.max(1),
        notifications_per_user: settings.max_notifications_per_user.max(1),
    };
    Ok(match (settings.kind, &settings.url) {
        (StoreKind::Postgres, Some(url)) => Arc::new(
            PgStore::open(PgOptions {
                url: url.0.clone(),
                pool_size: settings.pool_size,
                lease: Duration::from_secs(settings.outbox_lease_secs),
                bounds,
            })
            .await
            .map_err(|source| StartError::Store {
                location: crate::store::redact(&url.0),
                source,
            })?,
        ),
        _ => Arc::new(
            SledStore::open_with(&settings.path, settings.audit_segment_bytes)
                .map(|s| s.with_bounds(bounds))
                .map_err(|source| StartError::Store {
                    location: settings.path.display().to_string(),
                    source,
                })?,
        ),
    })
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened.
    #[error("store at {location}")]
    Store {
        /// Where: the directory, or the database URL without its password.
        location: String,
        /// Why.
        #[source]
        source: StoreError,
    },
    /// The registry could not be loaded.
    #[error("registry")]
    Registry(#[from] RegistryError),
    /// The compiled-in schemas do not compile (a build defect).
    #[error("message schemas")]
    Schemas(#[from] SchemaError),
    /// The metrics registry refused a metric (a build defect).
    #[error("metrics")]
    Metrics(#[from] prometheus::Error),
    /// The outbound HTTP client could not be built.
    #[error("outbound HTTP client")]
    Client(#[from] reqwest::Error),
    /// The listener could not be bound or served.
    #[error("cannot listen on {address}")]
    Listen {
        /// The address.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A built, bound, not yet running gateway.
pub struct Application {
    port: u16,
    server: Server,
    store: Arc<dyn Store>,
    worker: OutboxWorker,
    service: Arc<Service>,
    clock: Arc<dyn Clock>,
    /// Audit retention and how often to apply it.
    retention: (Duration, Duration),
}

impl Application {
    /// Opens the store, loads the registry and schemas, and binds the listener.
    pub async fn build(settings: &Settings, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        let store = open_store(&settings.store).await?;
        let registry = Arc::new(Registry::new(&settings.registry, store.clone(), clock.clone()).await?);
        let metrics = Arc::new(Metrics::new()?);
        let wake = Arc::new(Notify::new());
        let identity = Identity {
            subscriber_id: settings.subscriber_id.clone(),
            subscriber_url: settings.subscriber_url.clone(),
        };
        let service = Arc::new(
            Service::new(
                store.clone(),
                identity,
                settings.rest.webhook_url.clone(),
                clock.clone(),
                wake.clone(),
                settings.deadlines.deadlines(),
            )
            .with_max_pending(settings.outbox.max_pending),
        );
        let client = OutboundClient::new(
            settings.signer(),
            settings.signing.ttl_secs,
            Duration::from_millis(settings.outbox.request_timeout_ms),
            clock.clone(),
        )?;
        let worker = OutboxWorker::new(
            store.clone(),
            client,
            registry.clone(),
            clock.clone(),
            RetryPolicy::from(&settings.outbox),
            wake,
            metrics.clone(),
            settings.rest.webhook_url.clone(),
            service.clone(),
        );
        let state = AppState {
            our_id: settings.subscriber_id.clone(),
            registry,
            service: service.clone(),
            store: store.clone(),
            schemas: Arc::new(Schemas::compile()?),
            clock: clock.clone(),
            policy: settings.validity_policy(),
            core_versions: settings.protocol.core_versions.clone(),
            max_body: settings.server.max_body_bytes,
            body_timeout: settings.server.body_timeout(),
            metrics,
            tokens: TokenKeys::hs256(settings.rest.token_secret.as_bytes()),
        };
        let listen_error = |source| StartError::Listen {
            address: settings.server.bind.to_string(),
            source,
        };
        let listener = TcpListener::bind(settings.server.bind).map_err(listen_error)?;
        let port = listener.local_addr().map_err(listen_error)?.port();
        let limits = ServerLimits {
            workers: settings.server.workers,
            client_request_timeout: Duration::from_millis(settings.server.client_request_timeout_ms),
            keep_alive: Duration::from_secs(settings.server.keep_alive_secs),
            max_connections: settings.server.max_connections,
        };
        let server = crate::http::server(listener, state, limits).map_err(listen_error)?;
        Ok(Self {
            port,
            server,
            store,
            worker,
            service,
            clock,
            retention: (settings.store.audit_retention(), settings.store.prune_interval()),
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The store, for tests and tools running beside the server.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// A handle to stop the server.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves, delivers the outbox and fires timers, until stopped (SIGINT/SIGTERM or the
    /// handle).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let worker = tokio::spawn(self.worker.run());
        let (retention, every) = self.retention;
        let pruning = tokio::spawn(crate::store::keep_pruning(
            self.store.clone(),
            self.clock.clone(),
            retention,
            every,
        ));
        let timers = tokio::spawn(crate::service::timers::run(self.service, self.clock));
        let result = self.server.await;
        worker.abort();
        timers.abort();
        pruning.abort();
        // Wait for them to be gone, so the store they hold is released with the server.
        let _ = worker.await;
        let _ = timers.await;
        let _ = pruning.await;
        result
    }
}
