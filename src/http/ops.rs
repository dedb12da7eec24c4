//! Operations endpoints: `GET /healthz` and `GET /metrics` (Prometheus text format).

use super::AppState;
use actix_web::{HttpResponse, web};

/// `GET /healthz`: 200 while the server runs.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// `GET /metrics`.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    match state.metrics.render() {
        Ok(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(text),
        Err(e) => {
            tracing::error!(error = %crate::telemetry::chain(&e), "cannot render metrics");
            HttpResponse::InternalServerError()
                .json(serde_json::json!({"error": {"code": "internal", "message": "internal error; retry"}}))
        }
    }
}

/// Any other path or method: a JSON 404.
pub async fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .json(serde_json::json!({"error": {"code": "no_route", "message": "no such endpoint or method"}}))
}
