//! `POST /api/v1/orders` (platform), `GET /api/v1/orders/{id}`, `GET /api/v1/orders/{id}/timeline`
//! (platform, or the order's customer or provider).

use super::auth::caller;
use super::error::ApiError;
use super::extract::{parse_body, visible_order};
use crate::http::AppState;
use crate::orchestrator::{
    BuyerApp, Escrow, Fulfillment, FulfillmentState, LegRefusal, LegStatus, LogisticsLeg, Money, Order,
    OrderState, OrderStatus, RetailLeg,
};
use crate::protocol::{DomainFamily, SubscriberId, TransactionId, format_timestamp, is_city_code};
use crate::store::{Destination, RequeueError, TimelineItem};
use crate::tokens::Role;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MoneyBody {
    currency: String,
    value: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FulfillmentBody {
    id: String,
    #[serde(rename = "type", default = "delivery")]
    kind: String,
    state: String,
}

fn delivery() -> String {
    "Delivery".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetailBody {
    domain: String,
    transaction_id: String,
    bpp_id: String,
    bpp_uri: String,
    fulfillments: Vec<FulfillmentBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogisticsBody {
    domain: String,
    order_id: String,
    transaction_id: String,
    bpp_id: String,
    bpp_uri: String,
    linked_fulfillment_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterOrder {
    order_id: String,
    customer_id: String,
    provider_id: String,
    state: String,
    escrow: MoneyBody,
    retail: RetailBody,
    #[serde(default)]
    logistics: Option<LogisticsBody>,
    /// `context.city` for the messages the gateway sends (`std:080`); else taken from the first
    /// message of the order's transactions.
    #[serde(default)]
    city: Option<String>,
    /// `context.country` (`IND`).
    #[serde(default)]
    country: Option<String>,
    /// The buyer app to report the order to (`/on_cancel`, `/on_status`, `/on_update`); none, no
    /// callbacks until a buyer app sends `/cancel`.
    #[serde(default)]
    buyer_app: Option<BuyerAppBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BuyerAppBody {
    bap_id: String,
    bap_uri: String,
}

fn field<T, E: std::fmt::Display>(r: Result<T, E>, name: &str) -> Result<T, ApiError> {
    r.map_err(|e| ApiError::unprocessable(&format!("{name}: {e}")))
}

fn non_empty<'a>(s: &'a str, name: &str) -> Result<&'a str, ApiError> {
    if s.trim().is_empty() || s.len() > 255 {
        Err(ApiError::unprocessable(&format!(
            "{name} must be 1 to 255 characters"
        )))
    } else {
        Ok(s)
    }
}

fn uri(s: &str, name: &str) -> Result<String, ApiError> {
    if s.starts_with("http://") || s.starts_with("https://") {
        Ok(s.to_owned())
    } else {
        Err(ApiError::unprocessable(&format!("{name} must be an http(s) URL")))
    }
}

impl RegisterOrder {
    fn into_order(self, now: chrono::DateTime<chrono::Utc>) -> Result<Order, ApiError> {
        non_empty(&self.order_id, "order_id")?;
        non_empty(&self.customer_id, "customer_id")?;
        non_empty(&self.provider_id, "provider_id")?;
        let state: OrderState = field(self.state.parse(), "state")?;
        let escrow = Money::parse(&self.escrow.currency, &self.escrow.value)
            .ok_or_else(|| ApiError::unprocessable("escrow: currency must be ISO 4217 (INR) and value a decimal string with at most two decimals"))?;
        if DomainFamily::of(&self.retail.domain) != Some(DomainFamily::Retail) {
            return Err(ApiError::unprocessable(
                "retail.domain must be a retail domain such as ONDC:RET10",
            ));
        }
        let mut fulfillments = Vec::new();
        for (i, f) in self.retail.fulfillments.iter().enumerate() {
            non_empty(&f.id, &format!("retail.fulfillments[{i}].id"))?;
            let state: FulfillmentState = field(f.state.parse(), &format!("retail.fulfillments[{i}].state"))?;
            fulfillments.push(Fulfillment {
                id: f.id.clone(),
                kind: f.kind.clone(),
                state,
                updated_at: None,
                rto_id: None,
            });
        }
        if let Some(city) = &self.city
            && !is_city_code(city)
        {
            return Err(ApiError::unprocessable(
                "city must be an STD code such as std:080, or *",
            ));
        }
        if let Some(country) = &self.country
            && !(country.len() == 3 && country.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Err(ApiError::unprocessable(
                "country must be an ISO 3166 alpha-3 code such as IND",
            ));
        }
        let retail = RetailLeg {
            domain: self.retail.domain,
            transaction_id: field(
                TransactionId::parse(&self.retail.transaction_id),
                "retail.transaction_id",
            )?,
            bpp_id: field(SubscriberId::parse(&self.retail.bpp_id), "retail.bpp_id")?,
            bpp_uri: uri(&self.retail.bpp_uri, "retail.bpp_uri")?,
            status: LegStatus::Active,
            fulfillments,
        };
        let logistics = match self.logistics {
            None => None,
            Some(l) => {
                if DomainFamily::of(&l.domain) != Some(DomainFamily::Logistics) {
                    return Err(ApiError::unprocessable(
                        "logistics.domain must be a logistics domain such as ONDC:LOG10",
                    ));
                }
                Some(LogisticsLeg {
                    domain: l.domain,
                    order_id: non_empty(&l.order_id, "logistics.order_id")?.to_owned(),
                    transaction_id: field(
                        TransactionId::parse(&l.transaction_id),
                        "logistics.transaction_id",
                    )?,
                    bpp_id: field(SubscriberId::parse(&l.bpp_id), "logistics.bpp_id")?,
                    bpp_uri: uri(&l.bpp_uri, "logistics.bpp_uri")?,
                    linked_fulfillment_id: l.linked_fulfillment_id,
                    status: LegStatus::Active,
                    fulfillments: Vec::new(),
                    charges: None,
                    charge_lines: Vec::new(),
                })
            }
        };
        let buyer_app = match self.buyer_app {
            None => None,
            Some(b) => Some(BuyerApp {
                subscriber_id: field(SubscriberId::parse(&b.bap_id), "buyer_app.bap_id")?,
                uri: uri(&b.bap_uri, "buyer_app.bap_uri")?,
                awaiting_cancels: Vec::new(),
                forwarded_updates: Vec::new(),
            }),
        };
        Ok(Order {
            id: self.order_id,
            customer_id: self.customer_id,
            provider_id: self.provider_id,
            state,
            escrow: Escrow {
                currency: escrow.currency,
                held: escrow.minor,
                refunded: 0,
                charged: 0,
                settled: false,
            },
            retail,
            logistics,
            status: OrderStatus::Active,
            cancel_requests: Vec::new(),
            cancellation: None,
            awaiting_update: None,
            city: self.city,
            country: self.country,
            refusals: Vec::new(),
            failed_messages: Vec::new(),
            buyer_app,
            part_cancels: Vec::new(),
            created_at: now,
            updated_at: now,
        })
    }
}

/// Register an order the gateway will track (platform only).
#[utoipa::path(post, path = "/api/v1/orders", tag = "orders",
    request_body(content = Object, description = "order_id, customer_id, provider_id, state, escrow {currency, value}, retail {domain, transaction_id, bpp_id, bpp_uri, fulfillments [{id, type, state}]}, optional logistics {domain, order_id, transaction_id, bpp_id, bpp_uri, linked_fulfillment_id}"),
    responses(
        (status = 201, description = "Registered; the order view", body = Object),
        (status = 400, description = "Body is not JSON", body = super::error::ErrorBody),
        (status = 401, description = "Missing or invalid token", body = super::error::ErrorBody),
        (status = 403, description = "Not the platform", body = super::error::ErrorBody),
        (status = 409, description = "Order id or transaction id already registered", body = super::error::ErrorBody),
        (status = 422, description = "A field is invalid", body = super::error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn register(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let who = caller(&req, &state.tokens)?;
    let body = super::extract::read_body(&req, payload, &state).await?;
    if who.role != Role::Platform {
        return Err(ApiError::forbidden("only the platform registers orders"));
    }
    let order = parse_registration(&body, state.clock.now())?;
    if !state
        .service
        .register(&order)
        .await
        .map_err(|e| ApiError::store(&e))?
    {
        return Err(ApiError::conflict(&format!(
            "order {} (or one of its transaction ids) is already registered",
            order.id
        )));
    }
    Ok(HttpResponse::Created().json(order_view(&order)))
}

/// The order as the gateway knows it: state and status, both legs, fulfillments (forward and
/// RTO), the cancellation, charges and escrow.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders",
    params(("id" = String, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order view", body = Object),
        (status = 401, description = "Missing or invalid token", body = super::error::ErrorBody),
        (status = 403, description = "Not the platform, nor the order's customer or provider", body = super::error::ErrorBody),
        (status = 404, description = "No such order", body = super::error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn show(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let who = caller(&req, &state.tokens)?;
    let order = visible_order(&state, &who, &path).await?;
    Ok(HttpResponse::Ok().json(order_view(&order)))
}

/// Every Beckn message in and out for the order, in order, with direction, action, message_id,
/// counterpart and delivery status.
#[utoipa::path(get, path = "/api/v1/orders/{id}/timeline", tag = "orders",
    params(("id" = String, Path, description = "Order id")),
    responses(
        (status = 200, description = "The timeline", body = Object),
        (status = 401, description = "Missing or invalid token", body = super::error::ErrorBody),
        (status = 403, description = "Not the platform, nor the order's customer or provider", body = super::error::ErrorBody),
        (status = 404, description = "No such order", body = super::error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn timeline(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let who = caller(&req, &state.tokens)?;
    let order = visible_order(&state, &who, &path).await?;
    let items = state
        .store
        .timeline(&order.id)
        .await
        .map_err(|e| ApiError::store(&e))?;
    let lines: Vec<Value> = items.iter().map(timeline_line).collect();
    Ok(HttpResponse::Ok().json(json!({"order_id": order.id, "messages": lines})))
}

fn timeline_line(item: &TimelineItem) -> Value {
    match item {
        TimelineItem::In { seq, record } => {
            let answer: Value = serde_json::from_str(&record.answer.body).unwrap_or(Value::Null);
            json!({
                "direction": "in",
                "seq": seq,
                "action": record.action,
                "message_id": record.message_id,
                "counterpart": record.sender,
                "at": format_timestamp(record.received_at),
                "status": if record.answer.status == 200 { "acked" } else { "nacked" },
                "error": answer.get("error"),
            })
        }
        TimelineItem::Out { entry } => json!({
            "direction": "out",
            "action": entry.action,
            "message_id": entry.message_id,
            "counterpart": match &entry.destination {
                Destination::Beckn { counterpart, .. } => json!(counterpart),
                Destination::Webhook => json!("webhook"),
            },
            "leg": match &entry.destination {
                Destination::Beckn { leg, .. } => json!(leg),
                Destination::Webhook => Value::Null,
            },
            "at": format_timestamp(entry.created_at),
            "status": entry.status,
            "attempts": entry.attempts,
            "last_error": entry.last_error,
            "delivered_at": entry.delivered_at.map(format_timestamp),
            // Our own JSON, so it parses; shown as an object rather than a string.
            "body": serde_json::from_slice::<Value>(entry.body.as_bytes()).unwrap_or(Value::Null),
        }),
    }
}

fn money(currency: &str, minor: i64) -> Value {
    json!({"currency": currency, "value": Money { currency: currency.to_owned(), minor }.value()})
}

fn leg_status(s: &LegStatus) -> Value {
    match s {
        LegStatus::Active => json!({"status": "active"}),
        LegStatus::Cancelling { message_id, forced } => {
            json!({"status": "cancelling", "cancel_message_id": message_id, "forced": forced})
        }
        LegStatus::Unresolved { message_id } => json!({
            "status": "unresolved", "cancel_message_id": message_id,
            "note": "the counterpart answered neither our /cancel nor the forced one; raise an IGM issue",
        }),
        LegStatus::Cancelled => json!({"status": "cancelled"}),
    }
}

fn fulfillments(list: &[Fulfillment]) -> Value {
    json!(list
        .iter()
        .map(|f| json!({"id": f.id, "type": f.kind, "state": f.state, "updated_at": f.updated_at.map(format_timestamp)}))
        .collect::<Vec<_>>())
}

/// A counterpart's refusal as the REST API shows it.
pub fn refusal_view(r: &LegRefusal) -> Value {
    json!({
        "leg": r.leg, "by": r.by, "how": r.how, "code": r.code, "message": r.message,
        "message_id": r.message_id, "at": format_timestamp(r.at),
    })
}

/// A registration body as `POST /api/v1/orders` reads it: the order it registers, or the error
/// the caller gets (400 not JSON, 422 a field or a rule).
pub fn parse_registration(body: &[u8], now: chrono::DateTime<chrono::Utc>) -> Result<Order, ApiError> {
    let order = parse_body::<RegisterOrder>(body)?.into_order(now)?;
    crate::orchestrator::admit(&order)?;
    Ok(order)
}

/// The order as the REST API shows it.
pub fn order_view(o: &Order) -> Value {
    let e = &o.escrow;
    json!({
        "order_id": o.id,
        "customer_id": o.customer_id,
        "provider_id": o.provider_id,
        "state": o.state.as_str(),
        "status": o.status,
        "retail": {
            "domain": o.retail.domain, "transaction_id": o.retail.transaction_id, "bpp_id": o.retail.bpp_id,
            "bpp_uri": o.retail.bpp_uri, "cancellation": leg_status(&o.retail.status),
            "fulfillments": fulfillments(&o.retail.fulfillments),
        },
        "logistics": o.logistics.as_ref().map(|l| json!({
            "domain": l.domain, "order_id": l.order_id, "transaction_id": l.transaction_id, "bpp_id": l.bpp_id,
            "bpp_uri": l.bpp_uri, "linked_fulfillment_id": l.linked_fulfillment_id,
            "cancellation": leg_status(&l.status), "fulfillments": fulfillments(&l.fulfillments),
            "charges": l.charges.as_ref().map(|m| money(&m.currency, m.minor)),
        })),
        "cancellation": o.cancellation.as_ref().map(|c| json!({
            "initiator": c.initiator, "initiated_by": c.initiated_by, "reason_code": c.reason_code,
            "retail_reason": c.retail_reason, "logistics_reason": c.logistics_reason,
            "at": format_timestamp(c.at),
            "claim": c.claim().map(|m| money(&m.currency, m.minor)),
            "claims": c.claims.iter().map(|k| json!({
                "type": k.kind.as_str(), "fulfillment_id": k.fulfillment_id,
                "amount": money(&k.amount.currency, k.amount.minor),
            })).collect::<Vec<_>>(),
            "legs": {
                "retail": leg_status(&o.retail.status),
                "logistics": o.logistics.as_ref().map(|l| leg_status(&l.status)),
            },
            "awaiting_seller_update": o.awaiting_update,
        })),
        "charges": o.cancellation.as_ref().and_then(|c| c.claim()).map(|m| money(&m.currency, m.minor)),
        "city": o.city,
        "country": o.country,
        "part_cancels": o.part_cancels.iter().map(|p| json!({
            "fulfillment_id": p.fulfillment_id, "reason": p.reason,
            "items": p.items.iter().map(|(id, n)| json!({"id": id, "count": n})).collect::<Vec<_>>(),
            "amount": money(&p.amount.currency, p.amount.minor), "at": format_timestamp(p.at),
        })).collect::<Vec<_>>(),
        "buyer_app": o.buyer_app.as_ref().map(|b| json!({
            "bap_id": b.subscriber_id, "bap_uri": b.uri,
            "awaiting_on_cancel": b.awaiting_cancels,
        })),
        "refusals": o.refusals.iter().map(refusal_view).collect::<Vec<_>>(),
        "failed_messages": o.failed_messages.iter().map(|f| json!({
            "message_id": f.message_id, "action": f.action, "leg": f.leg, "permanent": f.permanent,
            "reason": f.reason, "at": format_timestamp(f.at),
        })).collect::<Vec<_>>(),
        "escrow": {
            "currency": e.currency,
            "held": money(&e.currency, e.held).get("value"),
            "refunded": money(&e.currency, e.refunded).get("value"),
            "charged": money(&e.currency, e.charged).get("value"),
        },
        "created_at": format_timestamp(o.created_at),
        "updated_at": format_timestamp(o.updated_at),
    })
}

/// Re-queue a message whose retries ran out (platform only): same message_id and bytes, attempts
/// reset, sent at once by the outbox worker.
#[utoipa::path(post, path = "/api/v1/orders/{id}/outbox/{message_id}/retry", tag = "orders",
    params(("id" = String, Path, description = "Order id"), ("message_id" = String, Path, description = "The failed message")),
    responses(
        (status = 200, description = "Queued again; the timeline line", body = Object),
        (status = 401, description = "Missing or invalid token", body = super::error::ErrorBody),
        (status = 403, description = "Not the platform", body = super::error::ErrorBody),
        (status = 404, description = "No such message for this order", body = super::error::ErrorBody),
        (status = 409, description = "The message has not failed", body = super::error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn retry(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let who = caller(&req, &state.tokens)?;
    if who.role != Role::Platform {
        return Err(ApiError::forbidden("only the platform re-sends messages"));
    }
    let (order_id, message_id) = path.into_inner();
    match state
        .service
        .requeue(&order_id, &message_id)
        .await
        .map_err(|e| ApiError::store(&e))?
    {
        Ok(entry) => Ok(HttpResponse::Ok().json(timeline_line(&TimelineItem::Out {
            entry: Box::new(entry),
        }))),
        Err(RequeueError::NotFound) => Err(ApiError::not_found(&format!(
            "no message {message_id} for order {order_id}"
        ))),
        Err(RequeueError::NotFailed) => Err(ApiError::conflict(&format!(
            "message {message_id} has not failed"
        ))),
    }
}
