//! What every door refuses before routing, and the JSON every refusal carries.
//!
//! Bodies are JSON, sent as received: a request that says its body is something else
//! (`Content-Type`) or is encoded (`Content-Encoding` other than `identity`) is refused with 415,
//! since the signature and the parser would both be reading bytes the sender did not mean. A
//! missing `Content-Type` is taken as JSON (some peers omit it). And any error answer that
//! actix-web produced itself (an unknown method, a body over a route's limit) is given a JSON
//! body in the shape of its door: a Beckn NACK, or the REST `{"error": …}`.

use crate::protocol::{ErrorType, NackError, nack_body};
use actix_web::HttpMessage as _;
use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

/// Whether `req` is for the REST door (its errors are `{"error": …}`), not the Beckn one.
fn is_rest(req: &HttpRequest) -> bool {
    req.path().starts_with("/api/")
}

fn is_json(value: &HeaderValue) -> bool {
    let Ok(text) = value.to_str() else {
        return false;
    };
    let essence = text.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A refusal of what the request says about its body, if any.
pub fn refusal(req: &ServiceRequest) -> Option<HttpResponse> {
    use actix_web::http::Method;
    // Only a request that carries a body says what its body is.
    if ![Method::POST, Method::PUT, Method::PATCH].contains(req.method()) {
        return None;
    }
    let headers = req.headers();
    let problem = if let Some(ct) = headers.get(CONTENT_TYPE).filter(|v| !is_json(v)) {
        format!(
            "Content-Type {:?} is not JSON",
            ct.to_str()
                .unwrap_or("(not ASCII)")
                .chars()
                .take(64)
                .collect::<String>()
        )
    } else if headers.get_all(CONTENT_ENCODING).any(|v| {
        !v.to_str()
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("identity"))
    }) {
        "Content-Encoding is not supported: send the JSON as it is".to_owned()
    } else {
        return None;
    };
    Some(render(
        req.request(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        &problem,
    ))
}

/// A JSON error answer in the shape of `req`'s door.
fn render(req: &HttpRequest, status: StatusCode, message: &str) -> HttpResponse {
    if is_rest(req) {
        let code = match status {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::NOT_FOUND => "not_found",
            s if s.is_server_error() => "internal",
            _ => "bad_request",
        };
        HttpResponse::build(status).json(json!({"error": {"code": code, "message": message}}))
    } else {
        // A refusal of the request as transported, like the body-size and body-read NACKs.
        let kind = ErrorType::Core;
        HttpResponse::build(status)
            .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
            .body(nack_body(&NackError {
                kind,
                code: "10000",
                message: message.to_owned(),
                path: None,
            }))
    }
}

/// For `ErrorHandlers`: an error answer without a JSON body gets one; its status stays.
pub fn json_errors<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json_already = res.headers().get(CONTENT_TYPE).is_some_and(is_json);
    if is_json_already || res.request().method() == actix_web::http::Method::HEAD {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let message = status.canonical_reason().unwrap_or("refused").to_owned();
    let (req, _) = res.into_parts();
    let answer = render(&req, status, &message);
    let res: ServiceResponse<EitherBody<B, BoxBody>> =
        ServiceResponse::new(req, answer).map_into_right_body();
    Ok(ErrorHandlerResponse::Response(res))
}

/// The `Expect: 100-continue` step: a body announced over its door's limit is refused with 413
/// and a JSON body before the client is told to send it; anything else goes on.
pub fn expect(req: actix_http::Request, max_body: usize) -> Result<actix_http::Request, ExpectRefused> {
    let rest = req.path().starts_with("/api/");
    let limit = if rest {
        crate::http::rest::MAX_REST_BODY
    } else {
        max_body
    };
    let announced = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match announced {
        Some(n) if n > limit as u64 => Err(ExpectRefused { rest, limit }),
        _ => Ok(req),
    }
}

/// A body announced over the limit, refused at `Expect: 100-continue`.
#[derive(Debug)]
pub struct ExpectRefused {
    rest: bool,
    limit: usize,
}

impl From<ExpectRefused> for actix_http::Response<BoxBody> {
    fn from(e: ExpectRefused) -> Self {
        let message = format!("the body is over {} bytes", e.limit);
        let body = if e.rest {
            json!({"error": {"code": "too_large", "message": message}}).to_string()
        } else {
            nack_body(&NackError {
                kind: ErrorType::Core,
                code: "10000",
                message,
                path: None,
            })
        };
        let mut res = actix_http::Response::with_body(StatusCode::PAYLOAD_TOO_LARGE, BoxBody::new(body));
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        res
    }
}
