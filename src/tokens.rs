//! REST bearer tokens: JWTs with claims `sub` and `role`, minted by the `token` subcommand and
//! the test harnesses, verified by the REST door.
//!
//! HS256 with the configured secret today; [`TokenKeys`] holds an algorithm and a key pair, so an
//! asymmetric key (RS256, EdDSA) is a constructor away. The caller's identity and role come from
//! the token only, never from a request body.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Why a token cannot be minted or is refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not a role this API knows.
    #[error("role {0:?} is not customer, provider or platform")]
    UnknownRole(String),
    /// Encoding failed, or the token is malformed, expired or wrongly signed.
    #[error(transparent)]
    Jwt(#[from] jsonwebtoken::errors::Error),
}

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
    type Err = TokenError;

    fn from_str(s: &str) -> Result<Self, TokenError> {
        match s {
            "customer" => Ok(Self::Customer),
            "provider" => Ok(Self::Provider),
            "platform" => Ok(Self::Platform),
            other => Err(TokenError::UnknownRole(other.to_owned())),
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
    pub fn mint(&self, sub: &str, role: Role, now: i64, ttl_secs: i64) -> Result<String, TokenError> {
        let claims = Claims {
            sub: sub.to_owned(),
            role,
            iat: now,
            exp: now + ttl_secs,
        };
        Ok(jsonwebtoken::encode(
            &Header::new(self.algorithm),
            &claims,
            &self.encoding,
        )?)
    }

    /// Checks a token's signature, algorithm and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(self.algorithm);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|d| d.claims)
            .map_err(TokenError::from)
    }
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
