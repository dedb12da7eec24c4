//! REST authentication: the caller of a request, from `Authorization: Bearer <JWT>` checked
//! with [`TokenKeys`].

use super::error::ApiError;
use crate::tokens::{Role, TokenKeys};
use actix_web::HttpRequest;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `sub`.
    pub id: String,
    /// `role`.
    pub role: Role,
}

/// The caller of a REST request, from its bearer token.
pub fn caller(req: &HttpRequest, keys: &TokenKeys) -> Result<Caller, ApiError> {
    let mut values = req.headers().get_all("authorization");
    let value = values
        .next()
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer token"))?;
    if values.next().is_some() {
        return Err(ApiError::unauthorized("more than one Authorization header"));
    }
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("Authorization header is not ASCII"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::unauthorized("Authorization must be a Bearer token"))?;
    let claims = keys
        .verify(token.trim())
        .map_err(|e| ApiError::unauthorized(&format!("invalid token: {e}")))?;
    if claims.sub.is_empty() {
        return Err(ApiError::unauthorized("token has an empty sub"));
    }
    Ok(Caller {
        id: claims.sub,
        role: claims.role,
    })
}
