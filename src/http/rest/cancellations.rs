//! Cancellation requests between customer and provider (seed `000_6217eb7a4f50adeb`):
//! `POST`/`GET /api/v1/orders/{id}/cancel`, `PATCH /api/v1/orders/{id}/cancel/{cancel_id}/accept`
//! and `…/reject`, and the caller's `GET /api/v1/notifications`.
//!
//! The role and identity come from the token. Each operation is one atomic store step: the
//! request's state, the order's status, the escrow, the notifications and the network messages
//! an acceptance starts are written together, so two racing decisions make exactly one.

use super::auth::{Caller, caller};
use super::error::ApiError;
use super::extract::{parse_body, visible_order};
use crate::http::AppState;
use crate::orchestrator::{Actor, CancelRequest, Money, Order, Party, RestAction};
use crate::protocol::{MessageId, format_timestamp};
use crate::tokens::Role;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Body of `POST /api/v1/orders/{id}/cancel`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// A retail reason code the caller's role may use (customer: buyer codes such as 052, 053;
    /// provider: seller codes such as 002, 021).
    pub reason_code: String,
    /// Cancel only this fulfillment.
    #[serde(default)]
    pub fulfillment_id: Option<String>,
    /// Free text for the other party (at most 1000 bytes).
    #[serde(default)]
    pub note: Option<String>,
}

/// A cancellation request as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CancelRequestView {
    /// Request id (`cancel_id`).
    pub id: String,
    /// The order.
    pub order_id: String,
    /// `customer` or `provider`.
    pub requested_by: String,
    /// The requester's user id.
    pub requester_id: String,
    /// Reason code.
    pub reason_code: String,
    /// Fulfillment, when one was named.
    pub fulfillment_id: Option<String>,
    /// Note.
    pub note: Option<String>,
    /// `pending`, `accepted`, `rejected`, `withdrawn` (by its requester) or `expired` (undecided
    /// within `deadlines.request_expiry_secs`).
    pub status: String,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// Who decided it.
    pub decided_by: Option<String>,
    /// When it was decided.
    pub decided_at: Option<String>,
    /// The order's status now (`ACTIVE`, `CANCELLATION_REQUESTED`, `AWAITING_SELLER`,
    /// `CANCELLED`, `COMPLETED`). `AWAITING_SELLER`: the customer agreed to the provider's
    /// request and the seller is to cancel on the network with its own `/on_cancel`.
    pub order_status: String,
    /// Counterparts' refusals to cancel since the request was decided (code, message, who),
    /// newest last: an accepted request the seller or the LSP then refused shows it here.
    #[schema(value_type = Vec<Object>)]
    pub refusals: Vec<serde_json::Value>,
    /// The escrow now.
    pub escrow: EscrowView,
}

/// Escrowed funds, Beckn-style decimal strings.
#[derive(Debug, Serialize, ToSchema)]
pub struct EscrowView {
    /// Currency.
    pub currency: String,
    /// Held for the order.
    pub held: String,
    /// Returned to the customer.
    pub refunded: String,
    /// Kept for charges the customer owes.
    pub charged: String,
}

/// A notification.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    /// Id.
    pub id: String,
    /// Order.
    pub order_id: String,
    /// `cancellation_requested`, `cancellation_accepted`, `cancellation_rejected`, `order_cancelled`, `cancellation_completed`.
    pub kind: String,
    /// The request concerned.
    pub request_id: Option<String>,
    /// Text.
    pub message: String,
    /// When (RFC 3339).
    pub at: String,
}

fn money(currency: &str, minor: i64) -> String {
    Money {
        currency: currency.to_owned(),
        minor,
    }
    .value()
}

fn view(order: &Order, r: &CancelRequest) -> CancelRequestView {
    let e = &order.escrow;
    CancelRequestView {
        id: r.id.clone(),
        order_id: order.id.clone(),
        requested_by: match r.requested_by {
            Party::Buyer => "customer".into(),
            Party::Seller | Party::Lsp => "provider".into(),
        },
        requester_id: r.requester_id.clone(),
        reason_code: r.reason_code.clone(),
        fulfillment_id: r.fulfillment_id.clone(),
        note: r.note.clone(),
        status: r.status.as_str().into(),
        created_at: format_timestamp(r.created_at),
        decided_by: r.decided_by.clone(),
        decided_at: r.decided_at.map(format_timestamp),
        order_status: order.status.as_str().to_owned(),
        refusals: order
            .refusals
            .iter()
            .filter(|x| r.decided_at.is_some_and(|d| x.at >= d))
            .map(super::orders::refusal_view)
            .collect(),
        escrow: EscrowView {
            currency: e.currency.clone(),
            held: money(&e.currency, e.held),
            refunded: money(&e.currency, e.refunded),
            charged: money(&e.currency, e.charged),
        },
    }
}

fn actor(who: &Caller) -> Actor<'_> {
    match who.role {
        Role::Customer => Actor::Customer(&who.id),
        Role::Provider => Actor::Provider(&who.id),
        Role::Platform => Actor::Platform,
    }
}

async fn apply(
    state: &AppState,
    order_id: &str,
    who: &Caller,
    action: RestAction<'_>,
) -> Result<Order, ApiError> {
    if state.service.outbox_full() {
        return Err(ApiError::busy());
    }
    Ok(state
        .service
        .act(order_id, actor(who), action)
        .await
        .map_err(|e| ApiError::store(&e))??)
}

/// A request the step just wrote is not on the order it returned: a defect, not the caller's fault.
#[derive(Debug, thiserror::Error)]
#[error("the request just written is missing from the order")]
struct RequestVanished;

fn find<'o>(order: &'o Order, request_id: &str) -> Result<&'o CancelRequest, ApiError> {
    order
        .cancel_requests
        .iter()
        .find(|r| r.id == request_id)
        .ok_or_else(|| ApiError::internal(&RequestVanished))
}

/// Ask to cancel an order (the customer or the provider of the order).
#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", tag = "cancellation",
    params(("id" = String, Path, description = "Order id")),
    request_body = CancelBody,
    responses(
        (status = 201, description = "Request created; the order is CANCELLATION_REQUESTED", body = CancelRequestView),
        (status = 400, description = "Body is not JSON", body = super::error::ErrorBody),
        (status = 401, description = "Missing or invalid token", body = super::error::ErrorBody),
        (status = 403, description = "Not the order's customer or provider", body = super::error::ErrorBody),
        (status = 404, description = "No such order", body = super::error::ErrorBody),
        (status = 409, description = "A request is pending, or the order can no longer be cancelled", body = super::error::ErrorBody),
        (status = 422, description = "Reason code not allowed for the role, unknown fulfillment, bad field", body = super::error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn request_cancel(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let who = caller(&req, &state.tokens)?;
    let body = super::extract::read_body(&req, payload, &state).await?;
    let body: CancelBody = parse_body(&body)?;
    let request_id = MessageId::generate().to_string();
    let action = RestAction::Request {
        request_id: &request_id,
        reason_code: &body.reason_code,
        fulfillment_id: body.fulfillment_id.as_deref(),
        note: body.note.as_deref(),
    };
    let order = apply(&state, &path, &who, action).await?;
    Ok(HttpResponse::Created().json(view(&order, find(&order, &request_id)?)))
}

/// List an order's cancellation requests (its customer, its provider, or the platform).
#[utoipa::path(get, path = "/api/v1/orders/{id}/cancel", tag = "cancellation",
    params(("id" = String, Path, description = "Order id")),
    responses(
        (status = 200, description = "The requests, oldest first", body = Vec<CancelRequestView>),
        (status = 401, description = "Missing or invalid token", body = super::error::ErrorBody),
        (status = 403, description = "Not the order's customer or provider", body = super::error::ErrorBody),
        (status = 404, description = "No such order", body = super::error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list_requests(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let who = caller(&req, &state.tokens)?;
    let order = visible_order(&state, &who, &path).await?;
    let views: Vec<CancelRequestView> = order.cancel_requests.iter().map(|r| view(&order, r)).collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Accept a request (the other party): the order is CANCELLED, the escrow is returned less any
/// charges the customer owes, the requester is notified, and the cancellation cascades over the
/// network.
#[utoipa::path(patch, path = "/api/v1/orders/{id}/cancel/{cancel_id}/accept", tag = "cancellation",
    params(("id" = String, Path, description = "Order id"), ("cancel_id" = String, Path, description = "Request id")),
    responses(
        (status = 200, description = "Accepted", body = CancelRequestView),
        (status = 401, description = "Missing or invalid token", body = super::error::ErrorBody),
        (status = 403, description = "Not the other party", body = super::error::ErrorBody),
        (status = 404, description = "No such order or request", body = super::error::ErrorBody),
        (status = 409, description = "Already decided, or the order was cancelled meanwhile", body = super::error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn accept(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let who = caller(&req, &state.tokens)?;
    let (order_id, request_id) = path.into_inner();
    let action = RestAction::Accept {
        request_id: &request_id,
    };
    let order = apply(&state, &order_id, &who, action).await?;
    Ok(HttpResponse::Ok().json(view(&order, find(&order, &request_id)?)))
}

/// Reject a request (the other party): the order returns to its status before the request and
/// the requester is notified.
#[utoipa::path(patch, path = "/api/v1/orders/{id}/cancel/{cancel_id}/reject", tag = "cancellation",
    params(("id" = String, Path, description = "Order id"), ("cancel_id" = String, Path, description = "Request id")),
    responses(
        (status = 200, description = "Rejected", body = CancelRequestView),
        (status = 401, description = "Missing or invalid token", body = super::error::ErrorBody),
        (status = 403, description = "Not the other party", body = super::error::ErrorBody),
        (status = 404, description = "No such order or request", body = super::error::ErrorBody),
        (status = 409, description = "Already decided", body = super::error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn reject(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let who = caller(&req, &state.tokens)?;
    let (order_id, request_id) = path.into_inner();
    let action = RestAction::Reject {
        request_id: &request_id,
    };
    let order = apply(&state, &order_id, &who, action).await?;
    Ok(HttpResponse::Ok().json(view(&order, find(&order, &request_id)?)))
}

/// Withdraw a pending request (its requester): the order's status is restored and the other party
/// is notified. Also `PATCH …/{cancel_id}/withdraw`.
#[utoipa::path(delete, path = "/api/v1/orders/{id}/cancel/{cancel_id}", tag = "cancellation",
    params(("id" = String, Path, description = "Order id"), ("cancel_id" = String, Path, description = "Request id")),
    responses(
        (status = 200, description = "Withdrawn", body = CancelRequestView),
        (status = 401, description = "Missing or invalid token", body = super::error::ErrorBody),
        (status = 403, description = "Not the requester", body = super::error::ErrorBody),
        (status = 404, description = "No such order or request", body = super::error::ErrorBody),
        (status = 409, description = "Already decided, withdrawn or expired", body = super::error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn withdraw(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let who = caller(&req, &state.tokens)?;
    let (order_id, request_id) = path.into_inner();
    let action = RestAction::Withdraw {
        request_id: &request_id,
    };
    let order = apply(&state, &order_id, &who, action).await?;
    Ok(HttpResponse::Ok().json(view(&order, find(&order, &request_id)?)))
}

/// Withdraw a pending request (its requester), as `DELETE …/{cancel_id}` does.
#[utoipa::path(patch, path = "/api/v1/orders/{id}/cancel/{cancel_id}/withdraw", tag = "cancellation",
    params(("id" = String, Path, description = "Order id"), ("cancel_id" = String, Path, description = "Request id")),
    responses(
        (status = 200, description = "Withdrawn", body = CancelRequestView),
        (status = 401, description = "Missing or invalid token", body = super::error::ErrorBody),
        (status = 403, description = "Not the requester", body = super::error::ErrorBody),
        (status = 404, description = "No such order or request", body = super::error::ErrorBody),
        (status = 409, description = "Already decided, withdrawn or expired", body = super::error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn withdraw_action(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    withdraw(req, path, state).await
}

/// The caller's notifications, oldest first.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "cancellation",
    responses(
        (status = 200, description = "Notifications", body = Vec<NotificationView>),
        (status = 401, description = "Missing or invalid token", body = super::error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn notifications(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let who = caller(&req, &state.tokens)?;
    let list = state
        .store
        .notifications(&who.id)
        .await
        .map_err(|e| ApiError::store(&e))?;
    let views: Vec<NotificationView> = list
        .into_iter()
        .map(|n| NotificationView {
            id: n.id,
            order_id: n.order_id,
            kind: n.kind,
            request_id: n.request_id,
            message: n.message,
            at: format_timestamp(n.at),
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}
