//! The load itself: distinct callbacks, each with a fresh `message_id`, padded to 2 KiB and
//! signed ahead of the run by its registered peer with the crate's own [`Signer`], so the load
//! generator spends no CPU on signing while the gateway is measured.

use super::network::{Network, Peer, Tracked};
use crate::clock::{Clock, SystemClock};
use crate::protocol::{MessageId, format_timestamp};
use actix_web::web::Bytes;
use serde_json::{Value, json};

/// The body size the load aims at.
pub const BODY_BYTES: usize = 2048;
/// How long the pre-signed headers stay valid.
const SIGNATURE_TTL_SECS: i64 = 3600;

/// One pre-signed request.
#[derive(Clone)]
pub struct Call {
    /// `on_status` or `on_cancel`.
    pub action: &'static str,
    /// The exact body.
    pub body: Bytes,
    /// The `Authorization` header value.
    pub authorization: String,
    /// The signer's public key (base64), for the SDK comparison.
    pub public_key: String,
    /// The retail transaction the gateway's `/cancel` will carry (cascades only).
    pub cascade_txn: Option<String>,
}

/// `n` callbacks: half are the LSP's `/on_status` on tracked orders (the state it already has,
/// so the order takes the report and does not move), a quarter the seller's `/on_status` and a
/// quarter its unsolicited `/on_cancel` on transactions the gateway does not track (audited and
/// ACKed without effect). With no tracked orders, all are untracked.
pub fn callbacks(net: &Network, tracked: &[Tracked], n: usize) -> Vec<Call> {
    let unsigned: Vec<(&Peer, &'static str, Value)> = (0..n)
        .map(
            |i| match (i % 4, tracked.get((i / 4 * 2 + i % 4) % tracked.len().max(1))) {
                (0 | 1, Some(o)) => (&net.lsp, "on_status", lsp_on_status(net, o)),
                (0 | 2, _) => (&net.seller, "on_status", seller_on_status(net, i)),
                _ => (&net.seller, "on_cancel", seller_on_cancel(net, i)),
            },
        )
        .collect();
    sign_all(unsigned, |_| None)
}

/// One LSP-initiated cascade per tracked order: the LSP cancels unsolicited after pickup
/// (reason 103, RTO started), so the gateway cancels the retail leg with the seller.
pub fn cascades(net: &Network, tracked: &[Tracked]) -> Vec<Call> {
    let unsigned: Vec<(&Peer, &'static str, Value)> = tracked
        .iter()
        .map(|o| (&net.lsp, "on_cancel", lsp_on_cancel(net, o)))
        .collect();
    sign_all(unsigned, |i| tracked.get(i).map(|o| o.retail_txn.clone()))
}

fn context(net: &Network, from: &Peer, action: &str, domain: &str, txn: &str) -> Value {
    json!({
        "domain": domain, "action": action, "core_version": "1.2.5",
        "bap_id": net.gateway_id, "bap_uri": format!("https://{}/ondc", net.gateway_id),
        "bpp_id": from.id, "bpp_uri": format!("https://{}/ondc", from.id),
        "transaction_id": txn, "message_id": MessageId::generate().as_str(),
        "timestamp": format_timestamp(chrono::Utc::now()), "ttl": "PT30S",
        "city": "std:080", "country": "IND",
    })
}

fn fulfillment(id: &str, kind: &str, state: &str) -> Value {
    json!({"id": id, "type": kind, "state": {"descriptor": {"code": state}}})
}

fn lsp_on_status(net: &Network, o: &Tracked) -> Value {
    json!({
        "context": context(net, &net.lsp, "on_status", "ONDC:LOG10", &o.logistics_txn),
        "message": {"order": {"id": o.logistics_order_id, "state": "In-progress",
            "fulfillments": [fulfillment("F1", "Delivery", "Order-picked-up")]}},
    })
}

fn seller_on_status(net: &Network, i: usize) -> Value {
    let txn = format!("T-untracked-{}", MessageId::generate());
    json!({
        "context": context(net, &net.seller, "on_status", "ONDC:RET10", &txn),
        "message": {"order": {"id": format!("O-untracked-{i}"), "state": "In-progress",
            "fulfillments": [fulfillment("F1", "Delivery", "Order-picked-up")]}},
    })
}

fn seller_on_cancel(net: &Network, i: usize) -> Value {
    let txn = format!("T-untracked-{}", MessageId::generate());
    json!({
        "context": context(net, &net.seller, "on_cancel", "ONDC:RET10", &txn),
        "message": {"order": {"id": format!("O-untracked-{i}"), "state": "Cancelled",
            "cancellation": {"cancelled_by": net.seller.id, "reason": {"id": "002"}},
            "fulfillments": [fulfillment("F1", "Delivery", "Cancelled")]}},
    })
}

fn lsp_on_cancel(net: &Network, o: &Tracked) -> Value {
    let rto_event = json!({"code": "rto_event", "list": [
        {"code": "retry_count", "value": "1"}, {"code": "rto_id", "value": "F1-RTO"},
        {"code": "cancellation_reason_id", "value": "103"}, {"code": "cancelled_by", "value": net.lsp.id},
    ]});
    json!({
        "context": context(net, &net.lsp, "on_cancel", "ONDC:LOG10", &o.logistics_txn),
        "message": {"order": {"id": o.logistics_order_id, "state": "In-progress",
            "cancellation": {"cancelled_by": net.lsp.id, "reason": {"id": "103"}},
            "fulfillments": [
                {"id": "F1", "type": "Delivery", "state": {"descriptor": {"code": "RTO"}}, "tags": [rto_event]},
                {"id": "F1-RTO", "type": "RTO", "state": {"descriptor": {"code": "RTO-Initiated"}},
                    "start": {"time": {"timestamp": "2025-01-03T11:00:30.000Z"}}},
            ],
            "quote": {"price": {"currency": "INR", "value": "50.00"},
                "breakup": [{"@ondc/org/title_type": "rto", "price": {"currency": "INR", "value": "50.00"}}]}}},
    })
}

/// Pads `body` to [`BODY_BYTES`] with a `message.note` (peers' unknown fields are kept, so it
/// travels like any extension field would).
fn padded(mut body: Value) -> Vec<u8> {
    body["message"]["note"] = json!("");
    let bare = body.to_string().len();
    body["message"]["note"] = json!("n".repeat(BODY_BYTES.saturating_sub(bare)));
    body.to_string().into_bytes()
}

/// Serialises and signs every body, on as many threads as there are cores.
fn sign_all(
    unsigned: Vec<(&Peer, &'static str, Value)>,
    cascade_txn: impl Fn(usize) -> Option<String> + Sync,
) -> Vec<Call> {
    let created = SystemClock.unix_seconds();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = unsigned.len().div_ceil(threads).max(1);
    let cascade_txn = &cascade_txn;
    std::thread::scope(|scope| {
        let handles: Vec<_> = unsigned
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                scope.spawn(move || {
                    part.iter()
                        .enumerate()
                        .map(|(j, (peer, action, body))| {
                            let body = padded(body.clone());
                            let header = peer.signer.sign(&body, created, created + SIGNATURE_TTL_SECS);
                            Call {
                                action,
                                body: Bytes::from(body),
                                authorization: header.to_string(),
                                public_key: peer.public_key.clone(),
                                cascade_txn: cascade_txn(c * chunk + j),
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}
