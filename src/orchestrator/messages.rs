//! Building the bodies of the messages the gateway sends, from the order and a command.
//!
//! Serialised once into bytes; those bytes are signed and sent, unchanged across retries.

use super::model::{Command, Leg, Order};
use crate::protocol::{SubscriberId, format_timestamp};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// Who we are on the network.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Our subscriber id (`bap_id`).
    pub subscriber_id: SubscriberId,
    /// Our `subscriber_url` (`bap_uri`).
    pub subscriber_url: String,
}

/// Where a command goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressed {
    /// The counterpart's subscriber id.
    pub counterpart: SubscriberId,
    /// `bpp_uri` + action.
    pub url: String,
    /// The body bytes.
    pub body: Vec<u8>,
}

fn tags(group: &str, list: &[(&str, String)]) -> Value {
    json!({"code": group, "list": list.iter().map(|(c, v)| json!({"code": c, "value": v})).collect::<Vec<_>>()})
}

/// The order as the buyer app is told it: its state, the cancellation and every retail
/// fulfillment's state.
fn order_for_buyer(order: &Order, now: DateTime<Utc>) -> Value {
    let fulfillments: Vec<Value> = order
        .retail
        .fulfillments
        .iter()
        .map(|f| {
            let mut v =
                json!({"id": f.id, "type": f.kind, "state": {"descriptor": {"code": f.state.as_str()}}});
            if let Some(rto) = &f.rto_id {
                v["tags"] = json!([tags("cancel_request", &[("rto_id", rto.clone())])]);
            }
            v
        })
        .collect();
    let mut o = json!({
        "id": order.id,
        "state": order.state.as_str(),
        "fulfillments": fulfillments,
        "updated_at": format_timestamp(now),
    });
    if let Some(c) = &order.cancellation {
        o["cancellation"] = json!({"cancelled_by": c.initiated_by, "reason": {"id": c.retail_reason}});
    }
    o
}

/// A callback to the buyer app: to it we speak as the seller side (`bpp_id` is us).
fn to_buyer(order: &Order, command: &Command, me: &Identity, now: DateTime<Utc>) -> Option<Addressed> {
    let Command::ToBuyer {
        to,
        uri,
        action,
        message_id,
        error,
        relay,
    } = command
    else {
        return None;
    };
    let context = json!({
        "domain": order.retail.domain,
        "action": action.as_str(),
        "core_version": "1.2.5",
        "bap_id": to,
        "bap_uri": uri,
        "bpp_id": me.subscriber_id,
        "bpp_uri": me.subscriber_url,
        "transaction_id": order.retail.transaction_id,
        "message_id": message_id,
        "timestamp": format_timestamp(now),
        "ttl": "PT30S",
        "city": order.city.as_deref().unwrap_or("*"),
        "country": order.country.as_deref().unwrap_or("IND"),
    });
    let message = match relay {
        Some(m) => m.clone(),
        None => json!({"order": order_for_buyer(order, now)}),
    };
    let mut body = json!({"context": context, "message": message});
    if let Some((code, text)) = error {
        body["error"] = json!({"type": "DOMAIN-ERROR", "code": code, "message": text});
    }
    Some(Addressed {
        counterpart: to.clone(),
        url: format!("{}/{}", uri.trim_end_matches('/'), action.as_str()),
        body: body.to_string().into_bytes(),
    })
}

/// The body and address of `command` for `order`, stamped `now`.
pub fn build(order: &Order, command: &Command, me: &Identity, now: DateTime<Utc>) -> Addressed {
    if let Some(addressed) = to_buyer(order, command, me, now) {
        return addressed;
    }
    let (leg, action, message_id) = command.route();
    let (domain, transaction_id, bpp_id, bpp_uri, order_id) = match (leg, &order.logistics) {
        (Leg::Logistics, Some(l)) => (&l.domain, &l.transaction_id, &l.bpp_id, &l.bpp_uri, &l.order_id),
        (Leg::Retail, _) | (Leg::Logistics, None) => (
            &order.retail.domain,
            &order.retail.transaction_id,
            &order.retail.bpp_id,
            &order.retail.bpp_uri,
            &order.id,
        ),
    };
    let context = json!({
        "domain": domain,
        "action": action,
        "core_version": "1.2.5",
        "bap_id": me.subscriber_id,
        "bap_uri": me.subscriber_url,
        "bpp_id": bpp_id,
        "bpp_uri": bpp_uri,
        "transaction_id": transaction_id,
        "message_id": message_id,
        "timestamp": format_timestamp(now),
        "ttl": "PT30S",
        "city": order.city.as_deref().unwrap_or("*"),
        "country": order.country.as_deref().unwrap_or("IND"),
    });
    let message = match command {
        Command::Status { .. } => json!({"order_id": order_id}),
        // The buyer app's message, as it sent it, under our context.
        Command::ForwardUpdate { message, .. } => message.clone(),
        // Built by `to_buyer` above.
        Command::ToBuyer { .. } => Value::Null,
        Command::Cancel {
            reason,
            initiated_by,
            fulfillment_id,
            params,
            ..
        } => {
            let mut list = vec![tags("cancel_request", &[("initiated_by", initiated_by.clone())])];
            if let Some(p) = params {
                let force = if p.force { "yes" } else { "no" };
                list.push(tags(
                    "params",
                    &[("force", force.into()), ("ttl_response", p.ttl_response.clone())],
                ));
            }
            let mut descriptor = json!({"tags": list});
            if let Some(f) = fulfillment_id {
                descriptor["name"] = json!("fulfillment");
                descriptor["short_desc"] = json!(f);
            }
            json!({"order_id": order_id, "cancellation_reason_id": reason, "descriptor": descriptor})
        }
        Command::UpdateStates { states, claims, .. } => {
            let fulfillments: Vec<Value> = states
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let last = i + 1 == states.len();
                    let mut t = vec![tags(
                        "update_state",
                        &[
                            ("state", s.state.as_str().to_owned()),
                            ("timestamp", format_timestamp(s.at)),
                        ],
                    )];
                    // Each claim rides on the fulfillment it is for (the 1.2.5 BNP document puts
                    // the RTO charge on the RTO fulfillment); one for a fulfillment not in the
                    // update rides on the last entry. Claims are never part of the quote.
                    for c in claims.iter().filter(|c| {
                        c.fulfillment_id == s.id || (last && !states.iter().any(|x| x.id == c.fulfillment_id))
                    }) {
                        t.push(tags(
                            "bnp_receivables_claim",
                            &[
                                ("type", c.kind.as_str().into()),
                                ("currency", c.amount.currency.clone()),
                                ("value", c.amount.value()),
                            ],
                        ));
                    }
                    json!({"id": s.id, "tags": t})
                })
                .collect();
            json!({"update_target": "fulfillment", "order": {"id": order_id, "fulfillments": fulfillments}})
        }
    };
    let body = json!({"context": context, "message": message});
    let base = bpp_uri.trim_end_matches('/');
    Addressed {
        counterpart: bpp_id.clone(),
        url: format!("{base}/{action}"),
        // A `Value` always serialises (its keys are strings), so Display is the whole body.
        body: body.to_string().into_bytes(),
    }
}
