//! Reading a validated Beckn message into an [`Event`] for the state machine.
//!
//! Tolerant where the sources disagree: the forward fulfillment may say `RTO` or `Cancelled`, the
//! reason may sit in `cancellation.reason.id`, in a `cancel_request` tag or in an `rto_event` tag,
//! and `cancel_request` may be on the fulfillment or on its state.

use super::model::{Callback, ChargeLine, Event, FulfillmentReport, Leg, Money, PartCancelReport};
use super::reasons::Party;
use super::states::{FulfillmentState, OrderState};
use crate::protocol::{Action, Context, DomainFamily, duration_secs, excerpt, parse_timestamp};
use serde_json::Value;

/// A message the machine cannot read, with the JSON path of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct EventError {
    /// JSON path.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Reads `body` (already schema-valid) as an event for the order its context names.
pub fn read_event(context: &Context, body: &Value) -> Result<Event, EventError> {
    let message = &body["message"];
    if let Some(error) = body.get("error").filter(|e| !e.is_null())
        && matches!(context.action, Action::OnCancel | Action::OnUpdate)
    {
        // A callback that carries an error is a refusal, whatever else it says.
        let code = text(&error["code"]).ok_or_else(|| EventError {
            path: "$.error.code".into(),
            message: "an error must carry its ONDC code".into(),
        })?;
        return Ok(Event::CallbackError {
            leg: match context.family {
                DomainFamily::Retail => Leg::Retail,
                DomainFamily::Logistics => Leg::Logistics,
            },
            action: context.action.as_str(),
            message_id: context.message_id.clone(),
            code,
            message: text(&error["message"]).unwrap_or_else(|| "(no message)".into()),
        });
    }
    match (context.action, context.family) {
        (Action::Cancel, _) => {
            let tags = &message["descriptor"]["tags"];
            let force = match tag(tags, "params", "force").as_deref() {
                None | Some("no") => false,
                Some("yes") => true,
                Some(other) => {
                    return Err(EventError {
                        path: "$.message.descriptor.tags[code=params].list[code=force].value".into(),
                        message: format!("force must be yes or no, not {:?}", excerpt(other)),
                    });
                }
            };
            let ttl_response = tag(tags, "params", "ttl_response");
            if let Some(ttl) = &ttl_response
                && duration_secs(ttl).is_none_or(|secs| secs == 0)
            {
                return Err(EventError {
                    path: "$.message.descriptor.tags[code=params].list[code=ttl_response].value".into(),
                    message: format!(
                        "ttl_response must be a positive ISO 8601 duration in weeks, days, hours, minutes or seconds, not {:?}",
                        excerpt(ttl)
                    ),
                });
            }
            Ok(Event::Cancel {
                by: Party::Buyer,
                initiated_by: context.bap_id.to_string(),
                // Missing, it is refused as no buyer reason (30012) by the step.
                reason: text(&message["cancellation_reason_id"]).unwrap_or_default(),
                fulfillment_id: text(&message["descriptor"]["short_desc"]),
                force,
                ttl_response,
            })
        }
        (Action::Update, DomainFamily::Retail) => Ok(Event::BuyerUpdate {
            message_id: context.message_id.clone(),
            message: message.clone(),
        }),
        (Action::Update, DomainFamily::Logistics) => Err(EventError {
            path: "$.context.domain".into(),
            message: "a buyer app's /update is for the retail order; the logistics leg is the gateway's"
                .into(),
        }),
        (Action::OnCancel, DomainFamily::Retail) => Ok(Event::RetailOnCancel(callback(context, message)?)),
        (Action::OnUpdate, DomainFamily::Retail) => Ok(Event::RetailOnUpdate(callback(context, message)?)),
        (Action::OnStatus, DomainFamily::Retail) => Ok(Event::RetailStatus(callback(context, message)?)),
        (Action::OnCancel, DomainFamily::Logistics) => {
            Ok(Event::LogisticsOnCancel(callback(context, message)?))
        }
        (Action::OnUpdate | Action::OnStatus, DomainFamily::Logistics) => {
            Ok(Event::LogisticsStatus(callback(context, message)?))
        }
    }
}

/// The order id a message is about (retail or logistics order id).
pub fn order_id_of(context: &Context, body: &Value) -> Option<String> {
    match context.action {
        Action::Cancel => text(&body["message"]["order_id"]),
        Action::Update | Action::OnCancel | Action::OnUpdate | Action::OnStatus => {
            text(&body["message"]["order"]["id"])
        }
    }
}

fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The value of `code` in a tag group `group` of `tags`.
fn tag(tags: &Value, group: &str, code: &str) -> Option<String> {
    tags.as_array()?
        .iter()
        .filter(|g| g["code"] == group)
        .flat_map(|g| g["list"].as_array().into_iter().flatten())
        .find(|t| t["code"] == code)
        .and_then(|t| text(&t["value"]))
}

/// A signed decimal (`"-269"`, `"-13.45"`) in minor units.
fn signed_minor(value: &str) -> Option<i64> {
    let (negative, digits) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let m = Money::parse("INR", digits)?.minor;
    Some(if negative { -m } else { m })
}

/// Whether an item line is a product rather than a customization (`tags.type.type`).
fn is_product(item: &Value) -> bool {
    tag(&item["tags"], "type", "type").is_none_or(|t| t == "item")
}

/// The part-cancellation an `/on_update` reports: its `Cancel` fulfillment with `cancel_request`
/// and `quote_trail` tags (ONDC retail 1.2.5 part cancel, reason 002).
fn part_cancel(order: &Value) -> Result<Option<PartCancelReport>, EventError> {
    let fulfillments = order["fulfillments"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let Some((i, cancel)) = fulfillments.iter().enumerate().find(|(_, f)| {
        f["type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("Cancel"))
    }) else {
        return Ok(None);
    };
    let Some(id) = text(&cancel["id"]) else {
        return Err(EventError {
            path: format!("$.message.order.fulfillments[{i}].id"),
            message: "a Cancel fulfillment must have an id".into(),
        });
    };
    let mut currency = None;
    let mut taken_off = 0i64;
    for (g, group) in cancel["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .filter(|(_, g)| g["code"] == "quote_trail")
    {
        let one = |code: &str| tag(&Value::Array(vec![group.clone()]), "quote_trail", code);
        let bad = || EventError {
            path: format!("$.message.order.fulfillments[{i}].tags[{g}]"),
            message: "a quote_trail needs a currency and a decimal value".into(),
        };
        let c = one("currency").ok_or_else(bad)?;
        let v = one("value").and_then(|v| signed_minor(&v)).ok_or_else(bad)?;
        if currency.get_or_insert_with(|| c.clone()) != &c {
            return Err(EventError {
                path: format!("$.message.order.fulfillments[{i}].tags[{g}]"),
                message: "quote_trail lines in more than one currency".into(),
            });
        }
        taken_off = taken_off.checked_sub(v).ok_or_else(bad)?;
    }
    let forward: Vec<String> = fulfillments
        .iter()
        .filter(|f| {
            f["type"]
                .as_str()
                .is_none_or(|t| !t.eq_ignore_ascii_case("Cancel") && !t.eq_ignore_ascii_case("RTO"))
        })
        .filter_map(|f| text(&f["id"]))
        .collect();
    let count = |item: &Value| {
        item["quantity"]["count"]
            .as_u64()
            .and_then(|c| u32::try_from(c).ok())
            .unwrap_or(0)
    };
    let items = order["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    Ok(Some(PartCancelReport {
        items: items
            .iter()
            .filter(|it| text(&it["fulfillment_id"]).as_deref() == Some(id.as_str()) && is_product(it))
            .filter_map(|it| text(&it["id"]).map(|item| (item, count(it))))
            .collect(),
        items_left: items
            .iter()
            .filter(|it| {
                is_product(it)
                    && count(it) > 0
                    && text(&it["fulfillment_id"]).is_some_and(|f| forward.contains(&f))
            })
            .count(),
        reason: tag(&cancel["tags"], "cancel_request", "reason_id"),
        amount: Money {
            currency: currency.unwrap_or_else(|| "INR".into()),
            minor: taken_off.max(0),
        },
        fulfillment_id: id,
    }))
}

fn callback(context: &Context, message: &Value) -> Result<Callback, EventError> {
    let order = &message["order"];
    let order_state = match text(&order["state"]) {
        Some(s) => Some(s.parse::<OrderState>().map_err(|e| EventError {
            path: "$.message.order.state".into(),
            message: e.to_string(),
        })?),
        None => None,
    };
    let mut fulfillments = Vec::new();
    let mut reason = text(&order["cancellation"]["reason"]["id"]);
    let mut cancelled_by = text(&order["cancellation"]["cancelled_by"]);
    for (i, f) in order["fulfillments"].as_array().into_iter().flatten().enumerate() {
        let Some(code) = text(&f["state"]["descriptor"]["code"]) else {
            continue;
        };
        let state = code.parse::<FulfillmentState>().map_err(|e| EventError {
            path: format!("$.message.order.fulfillments[{i}].state.descriptor.code"),
            message: e.to_string(),
        })?;
        // When the state was reached: the state's own time, else for an end state the end time;
        // never the pickup (start) time. Absent, the message's time stands in.
        let reached_end = matches!(
            state,
            FulfillmentState::RtoDelivered | FulfillmentState::RtoDisposed | FulfillmentState::OrderDelivered
        );
        let at = text(&f["state"]["updated_at"])
            .or_else(|| {
                reached_end
                    .then(|| text(&f["end"]["time"]["timestamp"]))
                    .flatten()
            })
            .and_then(|t| {
                parse_timestamp(&t)
                    .or_else(|| chrono::DateTime::parse_from_rfc3339(&t).ok().map(|d| d.to_utc()))
            });
        let mut rto_id = None;
        for tags in [&f["tags"], &f["state"]["tags"]] {
            rto_id = rto_id
                .or_else(|| tag(tags, "cancel_request", "rto_id"))
                .or_else(|| tag(tags, "rto_event", "rto_id"));
            reason = reason
                .or_else(|| tag(tags, "cancel_request", "reason_id"))
                .or_else(|| tag(tags, "rto_event", "cancellation_reason_id"));
            cancelled_by = cancelled_by
                .or_else(|| tag(tags, "cancel_request", "initiated_by"))
                .or_else(|| tag(tags, "rto_event", "cancelled_by"));
        }
        let id = text(&f["id"]).ok_or_else(|| EventError {
            path: format!("$.message.order.fulfillments[{i}].id"),
            message: "a fulfillment with a state must have an id".into(),
        })?;
        fulfillments.push(FulfillmentReport {
            id,
            kind: text(&f["type"]),
            state,
            at,
            rto_id,
        });
    }
    let quote = text(&order["quote"]["price"]["currency"])
        .zip(text(&order["quote"]["price"]["value"]))
        .and_then(|(c, v)| Money::parse(&c, &v));
    let mut quote_lines = Vec::new();
    for (i, line) in order["quote"]["breakup"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some(kind) = text(&line["@ondc/org/title_type"]) else {
            continue;
        };
        let amount = text(&line["price"]["currency"])
            .zip(text(&line["price"]["value"]))
            .and_then(|(c, v)| Money::parse(&c, &v));
        let amount = match amount {
            Some(a) => a,
            // Lines the gateway does not charge for (discounts are negative) are left alone.
            None if !matches!(kind.as_str(), "delivery" | "rto" | "tax") => continue,
            None => {
                return Err(EventError {
                    path: format!("$.message.order.quote.breakup[{i}].price"),
                    message: format!("a {kind} line needs a currency and a non-negative decimal value"),
                });
            }
        };
        quote_lines.push(ChargeLine {
            kind,
            item_id: text(&line["@ondc/org/item_id"]),
            amount,
        });
    }
    Ok(Callback {
        message_id: context.message_id.clone(),
        order_state,
        fulfillments,
        cancelled_by,
        reason,
        quote,
        quote_lines,
        at: context.timestamp,
        // Only an /on_update is ever relayed as it is; copying every callback's message would
        // cost every callback a deep clone.
        message: if context.action == Action::OnUpdate {
            message.clone()
        } else {
            Value::Null
        },
        part_cancel: part_cancel(order)?,
    })
}
