//! REST authentication: `Authorization: Bearer <JWT>` with claims `sub` and `role`.
//!
//! HS256 with the configured secret today; [`TokenKeys`] holds an algorithm and a key pair, so an
//! asymmetric key (RS256, EdDSA) is a constructor away. The caller's identity and role come from
//! the token only, never from a request body.

use super::error::ApiError;
use actix_web::HttpRequest;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Who may do what on the REST API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The person who placed the order.
    Customer,
    /// The person fulfilling the order.
    Provider,
    /// The integrating business application.
    Platform,
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "customer" => Ok(Self::Customer),
            "provider" => Ok(Self::Provider),
            "platform" => Ok(Self::Platform),
            other => Err(format!("role {other:?} is not customer, provider or platform")),
        }
    }
}

/// Token claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user or platform id.
    pub sub: String,
    /// Its role.
    pub role: Role,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expiry (Unix seconds).
    pub exp: i64,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `sub`.
    pub id: String,
    /// `role`.
    pub role: Role,
}

/// Signing and verification keys for tokens.
pub struct TokenKeys {
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenKeys({:?}, <redacted>)", self.algorithm)
    }
}

impl TokenKeys {
    /// HS256 with a shared secret.
    pub fn hs256(secret: &[u8]) -> Self {
        Self {
            algorithm: Algorithm::HS256,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// A token for `sub` in `role`, valid for `ttl_secs` from `now`.
    pub fn mint(&self, sub: &str, role: Role, now: i64, ttl_secs: i64) -> Result<String, String> {
        let claims = Claims {
            sub: sub.to_owned(),
            role,
            iat: now,
            exp: now + ttl_secs,
        };
        jsonwebtoken::encode(&Header::new(self.algorithm), &claims, &self.encoding).map_err(|e| e.to_string())
    }

    /// Checks a token's signature, algorithm and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, String> {
        let mut validation = Validation::new(self.algorithm);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|d| d.claims)
            .map_err(|e| e.to_string())
    }
}

/// The caller of a REST request, from its bearer token.
pub fn caller(req: &HttpRequest, keys: &TokenKeys) -> Result<Caller, ApiError> {
    let value = req
        .headers()
        .get("authorization")
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer token"))?
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_expire() {
        let keys = TokenKeys::hs256(b"0123456789abcdef0123456789abcdef");
        let t = keys.mint("cust-1", Role::Customer, 1_700_000_000, 3600).unwrap();
        assert!(keys.verify(&t).is_err(), "long expired");
        let now = chrono::Utc::now().timestamp();
        let t = keys.mint("cust-1", Role::Customer, now, 3600).unwrap();
        let c = keys.verify(&t).unwrap();
        assert_eq!((c.sub.as_str(), c.role), ("cust-1", Role::Customer));
        let other = TokenKeys::hs256(b"another-secret-another-secret-xx");
        assert!(other.verify(&t).is_err());
    }
}
