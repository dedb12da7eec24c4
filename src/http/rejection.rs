//! Every way a Beckn request is refused, classified by whose fault it is, and the NACK it becomes.
//!
//! The peer's fault is a 4xx with an ONDC code and, for body errors, the JSON path. Ours (store,
//! registry unreachable) is a 5xx that says only "retry"; the cause is logged once, here.

use crate::protocol::{Action, ErrorType, NackError, SubscriberId, nack_body};
use crate::signing::HeaderRole;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};

/// A refused request.
#[derive(Debug)]
pub enum Rejection {
    /// No such Beckn endpoint.
    UnknownAction,
    /// The body is larger than the limit.
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body did not arrive in time.
    BodyTimeout,
    /// The body could not be read (connection broke, bad chunking).
    BodyUnreadable,
    /// A signature header failed: missing, malformed, unknown key, outside its window, mismatch.
    Unauthorized {
        /// Which header failed.
        role: HeaderRole,
        /// Stable reason for metrics.
        reason: &'static str,
        /// What is wrong, for the peer.
        message: String,
    },
    /// The body is not JSON, does not match its schema, or has a bad context.
    Invalid {
        /// Beckn error type.
        kind: ErrorType,
        /// JSON path of the offending field.
        path: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// The registry could not be asked; the peer should retry.
    RegistryUnavailable(String),
    /// Our storage cannot take the message now (disk full or unwritable, I/O error): 503, and
    /// the peer should retry.
    StoreUnavailable(String),
    /// Our fault (a stored value that does not decode); the peer may retry.
    Internal(String),
}

impl Rejection {
    /// The `outcome` label for metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::UnknownAction => "not_found",
            Self::TooLarge { .. } => "too_large",
            Self::BodyTimeout => "timeout",
            Self::BodyUnreadable | Self::Invalid { .. } => "invalid",
            Self::Unauthorized { .. } => "unauthorized",
            Self::RegistryUnavailable(_) | Self::StoreUnavailable(_) | Self::Internal(_) => "error",
        }
    }

    /// The NACK response. `action` picks the ONDC code family for body errors: a callback from
    /// a seller or LSP that breaks the contract is `20006` (invalid response), a request is
    /// `10000` (bad request).
    pub fn into_response(self, action: Option<Action>, realm: &SubscriberId) -> HttpResponse {
        let bad_request_code = if action.is_some_and(Action::is_callback) {
            "20006"
        } else {
            "10000"
        };
        let (status, error, challenge) = match self {
            Self::UnknownAction => (
                StatusCode::NOT_FOUND,
                nack(
                    ErrorType::Core,
                    "10000",
                    "no such Beckn endpoint; accepted: /cancel, /on_cancel, /update, /on_update, /on_status",
                    None,
                ),
                None,
            ),
            Self::TooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                nack(
                    ErrorType::Core,
                    "10000",
                    &format!("body is larger than {limit} bytes"),
                    None,
                ),
                None,
            ),
            Self::BodyTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                nack(ErrorType::Core, "10000", "body did not arrive in time", None),
                None,
            ),
            Self::BodyUnreadable => (
                StatusCode::BAD_REQUEST,
                nack(ErrorType::Core, "10000", "body could not be read", None),
                None,
            ),
            Self::Unauthorized { role, message, .. } => (
                StatusCode::UNAUTHORIZED,
                nack(ErrorType::Policy, "10001", &message, None),
                Some(role),
            ),
            Self::Invalid { kind, path, message } => (
                StatusCode::BAD_REQUEST,
                nack(kind, bad_request_code, &message, path),
                None,
            ),
            Self::RegistryUnavailable(cause) => {
                tracing::error!(cause = %cause, "registry lookup failed");
                retry_later("cannot verify the sender right now; retry")
            }
            Self::StoreUnavailable(cause) => {
                tracing::error!(cause = %cause, "store unavailable; answered 503");
                retry_later("cannot store the message right now; retry")
            }
            Self::Internal(cause) => {
                tracing::error!(cause = %cause, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    nack(ErrorType::Core, "23001", "internal error; retry", None),
                    None,
                )
            }
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")));
        if let Some(role) = challenge {
            response.insert_header((role.challenge_header_name(), HeaderRole::challenge(realm)));
        }
        response.body(nack_body(&error))
    }
}

/// A 503 the peer should retry: ONDC code 23001.
fn retry_later(message: &str) -> (StatusCode, NackError, Option<HeaderRole>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        nack(ErrorType::Core, "23001", message, None),
        None,
    )
}

fn nack(kind: ErrorType, code: &'static str, message: &str, path: Option<String>) -> NackError {
    NackError {
        kind,
        code,
        message: message.to_owned(),
        path,
    }
}
