//! Keys of the one sled tree: a byte naming the entity, then the entity's own key. One tree, so
//! that everything one step writes is one atomic `apply_batch`.

use crate::orchestrator::Timer;
use chrono::{DateTime, Utc};

/// Audit: `AUDIT` + sequence number (big-endian) → [`super::codec::audit`] value.
pub const AUDIT: u8 = b'a';
/// Dedupe: `DEDUPE` + [`crate::store::DedupeKey::to_bytes`] → sequence number and answer.
pub const DEDUPE: u8 = b'd';
/// Orders: `ORDER` + order id → order.
pub const ORDER: u8 = b'o';
/// Transaction index: `TXN` + transaction id → order id.
pub const TXN: u8 = b'x';
/// Outbox: `OUTBOX` + message id → entry.
pub const OUTBOX: u8 = b'm';
/// Due index: `DUE` + due time + message id → nothing; only pending entries are in it.
pub const DUE: u8 = b'q';
/// Order log: `LOG` + order id + NUL + counter → what happened, for the timeline.
pub const LOG: u8 = b'l';
/// Notifications: `NOTE` + user id + NUL + counter → notification.
pub const NOTE: u8 = b'n';
/// Timers: `TIMER` + due time + order id + NUL + tag → timer.
pub const TIMER: u8 = b't';
/// Registry cache: `REGISTRY` + key → opaque bytes.
pub const REGISTRY: u8 = b'r';
/// The checkpoint: a batch record (its [`super::segments::Loc`]) that sled holds durably with
/// every batch before it; a start replays the batch records after it. Written by the
/// checkpoint alone, never in a batch.
pub const CHECKPOINT: [u8; 11] = *b"zcheckpoint";
/// Counts: `COUNT` + the counted prefix + owner → how many `counted` keys the owner has (8 bytes).
pub const COUNT: u8 = b'c';

/// `prefix` followed by `parts`.
pub fn key(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len()).sum::<usize>());
    k.push(prefix);
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

/// An audit key.
pub fn audit(seq: u64) -> Vec<u8> {
    key(AUDIT, &[&seq.to_be_bytes()])
}

/// The sequence number of an audit key.
pub fn seq_of(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.get(1..9)?.try_into().ok()?))
}

/// An order-log or notification key: `prefix`, owner, NUL, counter.
pub fn counted(prefix: u8, owner: &str, counter: u64) -> Vec<u8> {
    key(prefix, &[owner.as_bytes(), &[0], &counter.to_be_bytes()])
}

/// The prefix of every `counted` key of `owner`.
pub fn counted_prefix(prefix: u8, owner: &str) -> Vec<u8> {
    key(prefix, &[owner.as_bytes(), &[0]])
}

/// The count key of `owner`'s `counted` keys under `prefix`.
pub fn count(prefix: u8, owner: &str) -> Vec<u8> {
    key(COUNT, &[&[prefix], owner.as_bytes()])
}

/// A timer key: due time (milliseconds, big-endian, so timers sort in due order), order id,
/// NUL, the timer's tag.
pub fn timer(timer: &Timer) -> Vec<u8> {
    let millis = u64::try_from(timer.due_at.timestamp_millis()).unwrap_or(0);
    key(
        TIMER,
        &[
            &millis.to_be_bytes(),
            timer.order_id.as_bytes(),
            &[0],
            timer.kind.tag().as_bytes(),
        ],
    )
}

/// The first timer key after every timer due at `now`.
pub fn timers_after(now: DateTime<Utc>) -> Vec<u8> {
    let end = u64::try_from(now.timestamp_millis())
        .unwrap_or(0)
        .saturating_add(1);
    key(TIMER, &[&end.to_be_bytes()])
}

/// A due-index key: due time (nanoseconds since the epoch with the sign bit flipped,
/// big-endian, so the index sorts in due order), then the message id.
pub fn due(at: DateTime<Utc>, message_id: &[u8]) -> Vec<u8> {
    let nanos = at
        .timestamp_nanos_opt()
        .unwrap_or(if at.timestamp() < 0 { i64::MIN } else { i64::MAX });
    key(DUE, &[&((nanos as u64) ^ (1 << 63)).to_be_bytes(), message_id])
}

/// The due time and message id of a due-index key.
pub fn due_parts(key: &[u8]) -> Option<(DateTime<Utc>, &[u8])> {
    let head: [u8; 8] = key.get(1..9)?.try_into().ok()?;
    let at = DateTime::from_timestamp_nanos((u64::from_be_bytes(head) ^ (1 << 63)) as i64);
    Some((at, key.get(9..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_keys_sort_in_time_order_across_the_epoch() {
        let t = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
        let keys = [due(t(-5), b"a"), due(t(0), b"b"), due(t(7), b"c")];
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(due_parts(&keys[0]), Some((t(-5), &b"a"[..])));
        assert!(timers_after(t(7)) > key(TIMER, &[&7000u64.to_be_bytes()]));
    }
}
