//! The OpenAPI 3 document of the REST API, generated from the handlers' annotations and served
//! at `GET /api/v1/openapi.json`. A test walks every documented operation against the running
//! server, so the document cannot name a route that does not exist.

use super::error::{ErrorBody, ErrorDetail};
use super::{cancellations, orders};
use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "ondc-gateway REST API", description = "Orders, cancellation requests and notifications for platforms, customers and providers. Tokens: HS256 JWT with claims sub and role (customer, provider, platform)."),
    paths(
        orders::register, orders::show, orders::timeline, orders::retry,
        cancellations::request_cancel, cancellations::list_requests, cancellations::accept, cancellations::reject,
        cancellations::withdraw, cancellations::withdraw_action,
        cancellations::notifications,
    ),
    components(schemas(ErrorBody, ErrorDetail, cancellations::CancelBody, cancellations::CancelRequestView,
        cancellations::EscrowView, cancellations::NotificationView)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`.
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
