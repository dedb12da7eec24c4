//! Turning the orchestrator's decisions into what the store writes in one atomic step: outbox
//! entries for network commands, kept notifications, and webhook deliveries for them.

use super::AppState;
use crate::orchestrator::requests::Notice;
use crate::orchestrator::{Command, Order, build};
use crate::protocol::MessageId;
use crate::store::{DeliveryStatus, Destination, Effect, Notification, OutboxEntry};
use chrono::{DateTime, Utc};

fn pending(
    message_id: MessageId,
    order_id: &str,
    action: &str,
    destination: Destination,
    url: String,
    body: String,
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

/// The effect of a decision: `order` as it becomes, its network messages built and addressed
/// now (sent by the outbox worker), and its notices kept per user and queued for the webhook.
pub fn effect(
    state: &AppState,
    order: Order,
    commands: &[Command],
    notices: Vec<Notice>,
    now: DateTime<Utc>,
) -> Effect {
    let mut outbox: Vec<OutboxEntry> = commands
        .iter()
        .map(|command| {
            let (leg, action, message_id) = command.route();
            let addressed = build(&order, command, &state.identity, now);
            pending(
                message_id.clone(),
                &order.id,
                action,
                Destination::Beckn {
                    leg,
                    counterpart: addressed.counterpart,
                },
                addressed.url,
                String::from_utf8_lossy(&addressed.body).into_owned(),
                now,
            )
        })
        .collect();
    let notifications: Vec<Notification> = notices
        .into_iter()
        .map(|n| Notification {
            id: MessageId::generate().to_string(),
            user_id: n.user_id,
            order_id: order.id.clone(),
            kind: serde_json::to_value(n.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            request_id: n.request_id,
            message: n.message,
            at: now,
        })
        .collect();
    if let Some(url) = &state.webhook_url {
        for n in &notifications {
            let body = serde_json::json!({
                "id": n.id, "user_id": n.user_id, "order_id": n.order_id, "kind": n.kind,
                "request_id": n.request_id, "message": n.message, "at": crate::protocol::format_timestamp(n.at),
            });
            let id = MessageId::parse(&n.id).unwrap_or_else(|_| MessageId::generate());
            outbox.push(pending(
                id,
                &order.id,
                "notification",
                Destination::Webhook,
                url.clone(),
                body.to_string(),
                now,
            ));
        }
    }
    Effect {
        order,
        outbox,
        notifications,
    }
}
