//! What the REST handlers share: reading a JSON body, and loading an order the caller may see.

use super::auth::Caller;
use super::error::ApiError;
use crate::http::AppState;
use crate::orchestrator::Order;
use crate::tokens::Role;

/// The largest REST request body.
pub const MAX_REST_BODY: usize = 256 * 1024;

/// Reads a REST request body: at most [`MAX_REST_BODY`], within the server's body deadline.
pub async fn read_body(
    req: &actix_web::HttpRequest,
    payload: actix_web::web::Payload,
    state: &AppState,
) -> Result<actix_web::web::Bytes, ApiError> {
    use crate::http::body::{BodyError, read};
    read(req.headers(), payload, MAX_REST_BODY, state.body_timeout)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge { limit } => ApiError::too_large(limit),
            BodyError::Timeout => ApiError::timeout(),
            BodyError::Unreadable => ApiError::bad_request("the body could not be read"),
        })
}

/// Parses a JSON request body: syntax errors are 400, well-formed but wrong data is 422.
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::unprocessable(&e.to_string()),
        _ => ApiError::bad_request(&format!("body is not valid JSON: {e}")),
    })
}

/// Loads an order the caller may see: the platform sees all, a customer or provider their own.
pub async fn visible_order(state: &AppState, who: &Caller, id: &str) -> Result<Order, ApiError> {
    let order = state
        .store
        .order(id)
        .await
        .map_err(|e| ApiError::store(&e))?
        .ok_or_else(|| ApiError::not_found(&format!("no order {id}")))?;
    let allowed = match who.role {
        Role::Platform => true,
        Role::Customer => order.customer_id == who.id,
        Role::Provider => order.provider_id == who.id,
    };
    if allowed {
        Ok(order)
    } else {
        Err(ApiError::forbidden(&format!("order {id} is not yours")))
    }
}
