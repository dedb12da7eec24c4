//! The REST API for platforms, customers and providers (`/api/v1/…`), JSON in and out.

pub mod auth;
pub mod cancellations;
pub mod error;
mod extract;
pub use extract::MAX_REST_BODY;
pub mod openapi;
pub mod orders;

use actix_web::web;

/// Registers every REST route; the OpenAPI document lists the same operations.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/openapi.json", web::get().to(openapi::document))
        .route("/orders", web::post().to(orders::register))
        .route("/orders/{id}", web::get().to(orders::show))
        .route("/orders/{id}/timeline", web::get().to(orders::timeline))
        .route(
            "/orders/{id}/outbox/{message_id}/retry",
            web::post().to(orders::retry),
        )
        .route(
            "/orders/{id}/cancel",
            web::post().to(cancellations::request_cancel),
        )
        .route("/orders/{id}/cancel", web::get().to(cancellations::list_requests))
        .route(
            "/orders/{id}/cancel/{cancel_id}/accept",
            web::patch().to(cancellations::accept),
        )
        .route(
            "/orders/{id}/cancel/{cancel_id}/reject",
            web::patch().to(cancellations::reject),
        )
        .route(
            "/orders/{id}/cancel/{cancel_id}",
            web::delete().to(cancellations::withdraw),
        )
        .route(
            "/orders/{id}/cancel/{cancel_id}/withdraw",
            web::patch().to(cancellations::withdraw_action),
        )
        .route("/notifications", web::get().to(cancellations::notifications));
}
