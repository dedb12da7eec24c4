//! Turning a decided [`Step`] into what the store writes with it: the new order, an outbox
//! entry per command (its body built and serialised once, here, and sent byte for byte on every
//! attempt), and the notices kept per user and queued for the webhook.

use crate::orchestrator::{Command, Identity, Notice, Order, build};
use crate::protocol::{MessageId, format_timestamp};
use crate::store::{Body, DeliveryStatus, Destination, Effect, Notification, OutboxEntry};
use chrono::{DateTime, Utc};

/// A new outbox entry, due now.
fn pending(
    message_id: MessageId,
    order_id: &str,
    action: &str,
    destination: Destination,
    url: String,
    body: Body,
    now: DateTime<Utc>,
) -> OutboxEntry {
    OutboxEntry {
        message_id,
        order_id: order_id.to_owned(),
        action: action.to_owned(),
        destination,
        url,
        body,
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
        created_at: now,
        delivered_at: None,
    }
}

/// The effect of a step: `order` as it becomes, its network messages built and addressed now
/// (sent by the outbox worker), and its notices kept per user and, when `webhook_url` is set,
/// queued for the webhook.
pub fn effect(
    identity: &Identity,
    webhook_url: Option<&str>,
    order: Order,
    commands: &[Command],
    notices: Vec<Notice>,
    now: DateTime<Utc>,
) -> Effect {
    let mut outbox: Vec<OutboxEntry> = commands
        .iter()
        .map(|command| {
            let (leg, action, message_id) = command.route();
            let addressed = build(&order, command, identity, now);
            pending(
                message_id.clone(),
                &order.id,
                action,
                Destination::Beckn {
                    leg,
                    counterpart: addressed.counterpart,
                },
                addressed.url,
                Body::new(addressed.body),
                now,
            )
        })
        .collect();
    let notifications: Vec<(MessageId, Notification)> = notices
        .into_iter()
        .map(|n| {
            let id = MessageId::generate();
            let note = Notification {
                id: id.to_string(),
                user_id: n.user_id,
                order_id: order.id.clone(),
                kind: n.kind.as_str().to_owned(),
                request_id: n.request_id,
                message: n.message,
                at: now,
            };
            (id, note)
        })
        .collect();
    if let Some(url) = webhook_url {
        for (id, n) in &notifications {
            let body = serde_json::json!({
                "id": n.id, "user_id": n.user_id, "order_id": n.order_id, "kind": n.kind,
                "request_id": n.request_id, "message": n.message, "at": format_timestamp(n.at),
            });
            outbox.push(pending(
                id.clone(),
                &order.id,
                "notification",
                Destination::Webhook,
                url.to_owned(),
                Body::new(body.to_string()),
                now,
            ));
        }
    }
    Effect {
        order,
        outbox,
        notifications: notifications.into_iter().map(|(_, n)| n).collect(),
        timers: vec![],
    }
}
