//! The HTTP edge: an actix-web server over a listener it is given, so tests bind port 0.
//!
//! Handlers extract, call the service or read the store, and map the result; they decide
//! nothing about orders themselves.

mod beckn;
pub mod body;
mod media;
mod ops;
mod rejection;
pub mod rest;
mod verifier;

pub use rejection::Rejection;

use crate::clock::Clock;
use crate::protocol::{Schemas, SubscriberId};
use crate::registry::Registry;
use crate::service::Service;
use crate::signing::ValidityPolicy;
use crate::store::Store;
use crate::telemetry::Metrics;
use crate::tokens::TokenKeys;
use actix_http::HttpService;
use actix_service::{IntoServiceFactory as _, ServiceFactoryExt as _, fn_service, map_config};
use actix_web::dev::AppConfig;
use actix_web::dev::{Server, Service as _, ServiceResponse};
use actix_web::middleware::ErrorHandlers;
use actix_web::{App, web};
use futures_util::FutureExt as _;
use futures_util::future::Either;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

/// What every handler shares.
pub struct AppState {
    /// Our subscriber id (the realm of signature challenges).
    pub our_id: SubscriberId,
    /// Peers' keys.
    pub registry: Arc<Registry>,
    /// Changes orders: runs the decision step in the store's atomic step.
    pub service: Arc<Service>,
    /// Durable state, for reads.
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
    /// REST bearer token keys.
    pub tokens: TokenKeys,
}

/// How the server runs.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Worker threads (0 = one per core).
    pub workers: usize,
    /// Time a client has to send the request head.
    pub client_request_timeout: Duration,
    /// How long an idle keep-alive connection stays open.
    pub keep_alive: Duration,
    /// Open connections per worker.
    pub max_connections: usize,
}

/// Binds the routes to `listener`; the returned server runs when awaited.
///
/// Built from actix-server and actix-http directly rather than with `HttpServer`, which offers
/// no way to answer `Expect: 100-continue` ourselves: here a body announced over the limit is
/// refused with 413 (`media::expect`) before `100 Continue` would invite the client to send it.
pub fn server(listener: TcpListener, state: AppState, limits: ServerLimits) -> std::io::Result<Server> {
    let state = web::Data::new(state);
    let workers = match limits.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let max_body = state.max_body;
    Ok(actix_server::Server::build()
        .workers(workers)
        .max_concurrent_connections(limits.max_connections.max(1))
        .shutdown_timeout(5)
        .listen("ondc-gateway", listener, move || {
            let state = state.clone();
            let app = App::new()
                .wrap(ErrorHandlers::new().default_handler(media::json_errors))
                .wrap_fn(|req, srv| match media::refusal(&req) {
                    None => Either::Left(srv.call(req).map(|r| r.map(ServiceResponse::map_into_left_body))),
                    Some(answer) => Either::Right(std::future::ready(Ok(req
                        .into_response(answer)
                        .map_into_right_body()))),
                })
                .app_data(state)
                .route("/healthz", web::get().to(ops::healthz))
                .route("/metrics", web::get().to(ops::metrics))
                .service(web::scope("/api/v1").configure(rest::routes))
                .route("/{action}", web::post().to(beckn::receive))
                .default_service(web::to(ops::not_found));
            let app = app
                .into_factory()
                .map_err(|e: actix_web::Error| e.error_response());
            HttpService::build()
                .keep_alive(limits.keep_alive)
                .client_request_timeout(limits.client_request_timeout)
                .expect(fn_service(move |req| {
                    std::future::ready(media::expect(req, max_body))
                }))
                .finish(map_config(app, |_| AppConfig::default()))
                .tcp()
        })?
        .run())
}
