//! `POST /{action}` for `cancel`, `on_cancel`, `update`, `on_update`, `on_status`: the network
//! side of the gateway (Beckn core 1.x; ONDC retail and logistics 1.2.5).
//!
//! The order of checks is the order of trust: read the raw bytes (bounded in size and time),
//! verify the signature over exactly those bytes against the registry, then parse, validate the
//! schema and the context, tie the signer to the context's sender, and store the message
//! durably before answering ACK. A duplicate `(sender, action, message_id)` gets the first answer.

use super::AppState;
use super::body::BodyError;
use super::rejection::Rejection;
use super::verifier;
use crate::protocol::{Action, ErrorType, check_context, excerpt, parse_strict, peek_family};
use crate::registry::{KeyRejection, Participant};
use crate::service::ack;
use crate::signing::{HeaderRole, SignatureHeader, VerifyError, check_window, claim};
use crate::store::{Accepted, Body, InboundRecord, StoredAnswer, Verification};
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument as _;

/// Headers kept in the audit record.
const AUDITED_HEADERS: [&str; 5] = [
    "authorization",
    "x-gateway-authorization",
    "proxy-authorization",
    "content-type",
    "user-agent",
];

/// The handler.
pub async fn receive(
    req: HttpRequest,
    payload: web::Payload,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let Ok(action) = path.parse::<Action>() else {
        state
            .metrics
            .requests
            .with_label_values(&["unknown", "not_found"])
            .inc();
        return Rejection::UnknownAction.into_response(None, &state.our_id);
    };
    let span = tracing::info_span!(
        "beckn",
        action = action.as_str(),
        sender = tracing::field::Empty,
        transaction_id = tracing::field::Empty,
        message_id = tracing::field::Empty,
    );
    let result = handle(&req, payload, action, &state)
        .instrument(span.clone())
        .await;
    // A stored answer whose status is not an HTTP status is a corrupt record: our fault.
    let result = result.and_then(|(outcome, answer)| match StatusCode::from_u16(answer.status) {
        Ok(status) => Ok((outcome, status, answer.body)),
        Err(_) => Err(Rejection::Internal(format!(
            "stored answer has status {}",
            answer.status
        ))),
    });
    let (outcome, response) = match result {
        Ok((outcome, status, body)) => (
            outcome,
            HttpResponse::build(status)
                .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
                .body(body),
        ),
        Err(rejection) => {
            if let Rejection::Unauthorized {
                reason, ref message, ..
            } = rejection
            {
                state
                    .metrics
                    .verification_failures
                    .with_label_values(&[reason])
                    .inc();
                span.in_scope(|| tracing::info!(reason, message = %message, "signature refused"));
            } else if let Rejection::Invalid {
                ref path,
                ref message,
                ..
            } = rejection
            {
                span.in_scope(|| tracing::info!(path = path.as_deref().unwrap_or("$"), message = %message, "message refused"));
            }
            (
                rejection.outcome(),
                rejection.into_response(Some(action), &state.our_id),
            )
        }
    };
    state
        .metrics
        .requests
        .with_label_values(&[action.as_str(), outcome])
        .inc();
    state
        .metrics
        .latency
        .with_label_values(&[action.as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    action: Action,
    state: &AppState,
) -> Result<(&'static str, StoredAnswer), Rejection> {
    let body = read_body(req.headers(), payload, state).await?;

    let header = signature_header(req.headers(), HeaderRole::Authorization)?.ok_or_else(|| {
        unauthorized(
            HeaderRole::Authorization,
            "header_missing",
            "the Authorization header is missing",
        )
    })?;
    let signer = authenticate(&header, &body, HeaderRole::Authorization, state).await?;
    let gateway = match signature_header(req.headers(), HeaderRole::Gateway)? {
        Some(gw) => {
            let participant = authenticate(&gw, &body, HeaderRole::Gateway, state).await?;
            if !participant.is_type("BG") {
                return Err(unauthorized(
                    HeaderRole::Gateway,
                    "key_id",
                    "the gateway header is not signed by a registered gateway (BG)",
                ));
            }
            Some(gw.key_id.to_string())
        }
        None => None,
    };

    let json = parse_strict(&body).map_err(|e| Rejection::Invalid {
        kind: ErrorType::JsonSchema,
        path: None,
        message: format!("body is not valid JSON: {e}"),
    })?;
    if !json.is_object() {
        return Err(invalid(
            ErrorType::JsonSchema,
            "$",
            "the body must be a JSON object",
        ));
    }
    let family = peek_family(&json).map_err(|e| invalid(ErrorType::Context, e.path, &e.message))?;
    if let Some(stated) = json["context"].get("action").and_then(|a| a.as_str())
        && stated != action.as_str()
    {
        return Err(invalid(
            ErrorType::Context,
            "$.context.action",
            &format!(
                "action {:?} does not match the endpoint /{action}",
                excerpt(stated)
            ),
        ));
    }
    state
        .schemas
        .check(family, action, &json)
        .map_err(|v| Rejection::Invalid {
            kind: ErrorType::JsonSchema,
            path: Some(v.path),
            message: v.message,
        })?;
    let context = check_context(&json, action, &state.core_versions)
        .map_err(|e| invalid(ErrorType::Context, e.path, &e.message))?;

    let span = tracing::Span::current();
    span.record("sender", context.sender().as_str());
    span.record("transaction_id", context.transaction_id.as_str());
    span.record("message_id", context.message_id.as_str());

    // The signer must be the party the context says is speaking, registered in that role.
    let sender_field = if action.is_callback() { "bpp_id" } else { "bap_id" };
    if header.key_id.subscriber_id != *context.sender() {
        return Err(unauthorized(
            HeaderRole::Authorization,
            "sender_mismatch",
            &format!(
                "keyId names {} but context.{sender_field} is {}",
                header.key_id.subscriber_id,
                context.sender()
            ),
        ));
    }
    let expected_type = if action.is_callback() { "BPP" } else { "BAP" };
    if !signer.is_type(expected_type) {
        return Err(unauthorized(
            HeaderRole::Authorization,
            "sender_role",
            &format!(
                "{} is registered as {}, but /{action} must come from a {expected_type}",
                context.sender(),
                signer.record.kind
            ),
        ));
    }
    if action.is_callback() && context.bap_id != state.our_id {
        return Err(invalid(
            ErrorType::Context,
            "$.context.bap_id",
            &format!("bap_id must be this gateway, {}", state.our_id),
        ));
    }

    // Back-pressure: while the outbox is full, nothing new is taken (and nothing stored, so the
    // peer's retry later is taken as new).
    if state.service.outbox_full() {
        return Err(Rejection::StoreUnavailable(
            "the outbox is full (outbox.max_pending)".into(),
        ));
    }
    let record = InboundRecord {
        sender: context.sender().clone(),
        action,
        message_id: context.message_id.clone(),
        transaction_id: context.transaction_id.clone(),
        received_at: state.clock.now(),
        headers: audited_headers(req.headers()),
        body: Body::new(body.to_vec()),
        verification: Verification {
            key_id: header.key_id.to_string(),
            gateway_key_id: gateway,
        },
        answer: ack(),
    };
    match state
        .service
        .receive(record, &context, &json)
        .await
        .map_err(|e| {
            if e.is_unavailable() {
                Rejection::StoreUnavailable(crate::telemetry::chain(&e))
            } else {
                Rejection::Internal(crate::telemetry::chain(&e))
            }
        })? {
        Accepted::New { seq, answer } => {
            let outcome = if answer.status == 200 {
                "ack"
            } else {
                "nack_domain"
            };
            tracing::info!(seq, status = answer.status, "stored");
            Ok((outcome, answer))
        }
        Accepted::Duplicate { first } => {
            tracing::info!("duplicate; answered as the first time");
            Ok(("duplicate", first))
        }
    }
}

/// Reads the body, refusing anything over the limit (by `Content-Length` before reading, and
/// while reading for chunked bodies) or slower than the body timeout.
async fn read_body(
    headers: &HeaderMap,
    payload: web::Payload,
    state: &AppState,
) -> Result<web::Bytes, Rejection> {
    super::body::read(headers, payload, state.max_body, state.body_timeout)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge { limit } => Rejection::TooLarge { limit },
            BodyError::Timeout => Rejection::BodyTimeout,
            BodyError::Unreadable => Rejection::BodyUnreadable,
        })
}

/// The parsed signature header of `role`, `None` if absent.
fn signature_header(headers: &HeaderMap, role: HeaderRole) -> Result<Option<SignatureHeader>, Rejection> {
    let names: &[&str] = match role {
        HeaderRole::Authorization => &["authorization"],
        HeaderRole::Gateway => &["x-gateway-authorization", "proxy-authorization"],
    };
    let mut values = names.iter().flat_map(|n| headers.get_all(*n));
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(unauthorized(
            role,
            "header_parameters",
            &format!("more than one {} header", role.header_name()),
        ));
    }
    let text = value.to_str().map_err(|_| {
        unauthorized(
            role,
            "header_malformed",
            &format!("{} is not ASCII", role.header_name()),
        )
    })?;
    text.parse::<SignatureHeader>()
        .map(Some)
        .map_err(|e| unauthorized(role, e.reason(), &format!("{}: {e}", role.header_name())))
}

/// Resolves the header's key in the registry and verifies the body against it.
async fn authenticate(
    header: &SignatureHeader,
    body: &[u8],
    role: HeaderRole,
    state: &AppState,
) -> Result<Arc<Participant>, Rejection> {
    let participant = state
        .registry
        .resolve(&header.key_id)
        .await
        .map_err(|e| match e {
            KeyRejection::LookupFailed(cause) => Rejection::RegistryUnavailable(cause),
            other => unauthorized(role, other.reason(), &format!("{}: {other}", role.header_name())),
        })?;
    let refused = |e: VerifyError| unauthorized(role, e.reason(), &format!("{}: {e}", role.header_name()));
    check_window(header, state.clock.unix_seconds(), &state.policy).map_err(refused)?;
    let claim = claim(header, body, &participant.public_key);
    let batch = &state.metrics.signature_batch;
    if verifier::holds(claim, |n| batch.observe(n as f64)).await {
        Ok(participant)
    } else {
        Err(refused(VerifyError::Mismatch))
    }
}

fn audited_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    AUDITED_HEADERS
        .iter()
        .flat_map(|name| {
            headers
                .get_all(*name)
                .filter_map(move |v| v.to_str().ok().map(|v| ((*name).to_owned(), v.to_owned())))
        })
        .collect()
}

fn unauthorized(role: HeaderRole, reason: &'static str, message: &str) -> Rejection {
    Rejection::Unauthorized {
        role,
        reason,
        message: message.to_owned(),
    }
}

fn invalid(kind: ErrorType, path: &str, message: &str) -> Rejection {
    Rejection::Invalid {
        kind,
        path: Some(path.to_owned()),
        message: message.to_owned(),
    }
}
