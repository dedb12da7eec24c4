//! How values are laid out: JSON carrying a layout version, except the audit record, whose
//! body is kept as the raw bytes received (never escaped into a JSON string).

use crate::protocol::{Action, MessageId, SubscriberId, TransactionId};
use crate::store::{Body, InboundRecord, StoreError, StoredAnswer, Verification};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// Version of the layout of stored values. 1 was one sled tree per entity; 2 is one tree with
/// prefixed keys and audit bodies kept raw.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    v: u32,
    #[serde(flatten)]
    value: T,
}

/// JSON with the layout version.
pub fn encode<T: Serialize>(value: T) -> Result<Vec<u8>, StoreError> {
    Ok(serde_json::to_vec(&Envelope {
        v: SCHEMA_VERSION,
        value,
    })?)
}

/// Reads what [`encode`] wrote (or what layout 1 wrote: the values themselves did not change).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    let env: Envelope<T> = serde_json::from_slice(bytes)?;
    if env.v != SCHEMA_VERSION && env.v != 1 {
        return Err(StoreError::Corrupt(format!("unknown schema version {}", env.v)));
    }
    Ok(env.value)
}

/// A dedupe entry: where the first copy is in the audit, and what it was answered.
#[derive(Serialize, Deserialize)]
pub struct DedupeEntry {
    /// Audit sequence number.
    pub seq: u64,
    /// The first answer.
    pub answer: StoredAnswer,
}

/// An audit record without its body.
#[derive(Serialize)]
struct MetaRef<'a> {
    sender: &'a SubscriberId,
    action: Action,
    message_id: &'a MessageId,
    transaction_id: &'a TransactionId,
    received_at: DateTime<Utc>,
    headers: &'a [(String, String)],
    verification: &'a Verification,
    answer: &'a StoredAnswer,
}

#[derive(Deserialize)]
struct Meta {
    sender: SubscriberId,
    action: Action,
    message_id: MessageId,
    transaction_id: TransactionId,
    received_at: DateTime<Utc>,
    headers: Vec<(String, String)>,
    verification: Verification,
    answer: StoredAnswer,
}

/// An audit value: the metadata's length (4 bytes, big-endian), the metadata as versioned JSON,
/// then the body's bytes as received.
pub fn audit(record: &InboundRecord, answer: &StoredAnswer) -> Result<Vec<u8>, StoreError> {
    let meta = encode(MetaRef {
        sender: &record.sender,
        action: record.action,
        message_id: &record.message_id,
        transaction_id: &record.transaction_id,
        received_at: record.received_at,
        headers: &record.headers,
        verification: &record.verification,
        answer,
    })?;
    let len =
        u32::try_from(meta.len()).map_err(|_| StoreError::Corrupt("audit metadata over 4 GiB".into()))?;
    let body = record.body.as_bytes();
    let mut value = Vec::with_capacity(4 + meta.len() + body.len());
    value.extend_from_slice(&len.to_be_bytes());
    value.extend_from_slice(&meta);
    value.extend_from_slice(body);
    Ok(value)
}

/// Reads an audit value.
pub fn read_audit(value: &[u8]) -> Result<InboundRecord, StoreError> {
    let corrupt = || StoreError::Corrupt("an audit record is cut short".into());
    let len: [u8; 4] = value
        .get(..4)
        .ok_or_else(corrupt)?
        .try_into()
        .map_err(|_| corrupt())?;
    let end = 4 + u32::from_be_bytes(len) as usize;
    let meta: Meta = decode(value.get(4..end).ok_or_else(corrupt)?)?;
    let body = value.get(end..).ok_or_else(corrupt)?;
    if std::str::from_utf8(body).is_err() {
        return Err(StoreError::Corrupt("an audit body is not UTF-8".into()));
    }
    Ok(InboundRecord {
        sender: meta.sender,
        action: meta.action,
        message_id: meta.message_id,
        transaction_id: meta.transaction_id,
        received_at: meta.received_at,
        headers: meta.headers,
        body: Body::new(body),
        verification: meta.verification,
        answer: meta.answer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audit_record_round_trips_with_its_body_kept_raw() {
        let record = InboundRecord {
            received_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            headers: vec![("authorization".into(), "Signature keyId=\"x\"".into())],
            body: "{\"a\":\"quoted \\\" text\"}".into(),
            ..crate::store::conformance::record("M1")
        };
        let value = audit(&record, &record.answer).unwrap();
        assert!(
            value.ends_with(record.body.as_bytes()),
            "the body is stored as received"
        );
        assert_eq!(read_audit(&value).unwrap(), record);
        assert!(matches!(
            read_audit(&value[..10]),
            Err(StoreError::Corrupt(_) | StoreError::Decode(_))
        ));
    }
}
