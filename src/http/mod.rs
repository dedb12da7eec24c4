//! The HTTP edge: an actix-web server that takes a bound listener, so tests bind port 0.
//!
//! Handlers extract, call the core, and map the result; they hold no protocol logic of their own.

mod beckn;
mod effects;
mod ops;
mod rejection;
pub mod rest;

pub use rejection::Rejection;

use crate::clock::Clock;
use crate::config::Settings;
use crate::orchestrator::Identity;
use crate::outbound::{OutboundClient, OutboxWorker};
use crate::protocol::{Schemas, SubscriberId};
use crate::registry::Registry;
use crate::signing::ValidityPolicy;
use crate::store::{SledStore, Store};
use crate::telemetry::Metrics;
use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use rest::auth::TokenKeys;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// What every handler shares.
pub struct AppState {
    /// Our subscriber id (the realm of signature challenges).
    pub our_id: SubscriberId,
    /// Peers' keys.
    pub registry: Arc<Registry>,
    /// Durable state.
    pub store: Arc<dyn Store>,
    /// Compiled message schemas.
    pub schemas: Arc<Schemas>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Signature window policy.
    pub policy: ValidityPolicy,
    /// Accepted `core_version`s.
    pub core_versions: Vec<String>,
    /// Body size limit.
    pub max_body: usize,
    /// Body read deadline.
    pub body_timeout: Duration,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Who we are in the messages we build.
    pub identity: Identity,
    /// REST bearer token keys.
    pub tokens: TokenKeys,
    /// Wakes the outbox worker after something was enqueued.
    pub wake: Arc<Notify>,
    /// Where notifications are also POSTed.
    pub webhook_url: Option<String>,
}

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(String);

fn start_error(e: impl std::fmt::Display) -> StartError {
    StartError(e.to_string())
}

/// A built, bound, not yet running gateway.
pub struct Application {
    port: u16,
    server: Server,
    store: Arc<dyn Store>,
    worker: OutboxWorker,
}

impl Application {
    /// Opens the store, loads the registry and schemas, and binds the listener.
    pub fn build(settings: &Settings, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        let store: Arc<dyn Store> = Arc::new(
            SledStore::open(&settings.store.path)
                .map_err(|e| StartError(format!("store at {}: {e}", settings.store.path.display())))?,
        );
        let registry =
            Arc::new(Registry::new(&settings.registry, store.clone(), clock.clone()).map_err(start_error)?);
        let state = web::Data::new(AppState {
            our_id: settings.subscriber_id.clone(),
            registry,
            store: store.clone(),
            schemas: Arc::new(Schemas::compile().map_err(start_error)?),
            clock,
            policy: settings.validity_policy(),
            core_versions: settings.protocol.core_versions.clone(),
            max_body: settings.server.max_body_bytes,
            body_timeout: settings.server.body_timeout(),
            metrics: Arc::new(Metrics::new().map_err(start_error)?),
            identity: Identity {
                subscriber_id: settings.subscriber_id.clone(),
                subscriber_url: settings.subscriber_url.clone(),
            },
            tokens: TokenKeys::hs256(settings.rest.token_secret.as_bytes()),
            wake: Arc::new(Notify::new()),
            webhook_url: settings.rest.webhook_url.clone(),
        });
        let client = OutboundClient::new(
            settings.signer(),
            settings.signing.ttl_secs,
            Duration::from_millis(settings.outbox.request_timeout_ms),
            state.clock.clone(),
        )
        .map_err(start_error)?;
        let worker = OutboxWorker::new(
            store.clone(),
            client,
            state.registry.clone(),
            state.clock.clone(),
            settings.outbox.policy(),
            state.wake.clone(),
            state.metrics.clone(),
            settings.rest.webhook_url.clone(),
        );
        let listener = TcpListener::bind(settings.server.bind)
            .map_err(|e| StartError(format!("cannot listen on {}: {e}", settings.server.bind)))?;
        let port = listener.local_addr().map_err(start_error)?.port();
        let workers = match settings.server.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/healthz", web::get().to(ops::healthz))
                .route("/metrics", web::get().to(ops::metrics))
                .service(web::scope("/api/v1").configure(rest::routes))
                .route("/{action}", web::post().to(beckn::receive))
                .default_service(web::to(ops::not_found))
        })
        .workers(workers)
        .client_request_timeout(Duration::from_millis(settings.server.client_request_timeout_ms))
        .shutdown_timeout(5)
        .listen(listener)
        .map_err(start_error)?
        .run();
        Ok(Self {
            port,
            server,
            store,
            worker,
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

    /// Serves, and delivers the outbox, until stopped (SIGINT/SIGTERM or the handle).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let worker = tokio::spawn(self.worker.run());
        let result = self.server.await;
        worker.abort();
        // Wait for the worker to be gone, so the store it holds is released with the server.
        let _ = worker.await;
        result
    }
}
