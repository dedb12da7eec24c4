//! The embedded store: sled, one tree per entity, JSON values carrying a schema version.
//!
//! Trees: `inbound` (audit, key = sequence number big-endian), `inbound_dedupe` (key =
//! [`DedupeKey::to_bytes`]), `registry_cache`. An inbound message and its dedupe entry are written
//! in one sled transaction, then made durable by the shared group commit.

use super::group_commit::GroupCommit;
use super::{Accepted, InboundRecord, Store, StoreError, StoredAnswer};
use async_trait::async_trait;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sled::Transactional as _;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use std::path::Path;
use std::sync::Arc;

/// Version of the JSON layout of stored values.
const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    v: u32,
    #[serde(flatten)]
    value: T,
}

#[derive(Serialize, Deserialize)]
struct DedupeEntry {
    seq: u64,
    answer: StoredAnswer,
}

fn encode<T: Serialize>(value: T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(&Envelope {
        v: SCHEMA_VERSION,
        value,
    })
    .map_err(|e| StoreError::Decode(e.to_string()))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    let env: Envelope<T> =
        serde_json::from_slice(bytes).map_err(|e| StoreError::Decode(e.to_string()))?;
    if env.v != SCHEMA_VERSION {
        return Err(StoreError::Decode(format!(
            "unknown schema version {}",
            env.v
        )));
    }
    Ok(env.value)
}

fn engine(e: impl std::fmt::Display) -> StoreError {
    StoreError::Engine(e.to_string())
}

/// The sled-backed [`Store`].
pub struct SledStore {
    db: sled::Db,
    inbound: sled::Tree,
    dedupe: sled::Tree,
    registry: sled::Tree,
    commit: Arc<GroupCommit>,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens (or creates) the database in `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new().path(path).open().map_err(engine)?;
        let flush_db = db.clone();
        let commit =
            GroupCommit::start(move || flush_db.flush().map(drop).map_err(|e| e.to_string()));
        Ok(Self {
            inbound: db.open_tree("inbound").map_err(engine)?,
            dedupe: db.open_tree("inbound_dedupe").map_err(engine)?,
            registry: db.open_tree("registry_cache").map_err(engine)?,
            db,
            commit,
        })
    }

    async fn durable(&self) -> Result<(), StoreError> {
        self.commit.durable().await.map_err(StoreError::Flush)
    }
}

#[async_trait]
impl Store for SledStore {
    async fn accept_inbound(&self, record: InboundRecord) -> Result<Accepted, StoreError> {
        let key = record.dedupe_key().to_bytes();
        let answer = record.answer.clone();
        let record_bytes_for = |seq: u64| -> Result<(Vec<u8>, Vec<u8>), StoreError> {
            Ok((
                encode(&record)?,
                encode(DedupeEntry {
                    seq,
                    answer: answer.clone(),
                })?,
            ))
        };
        let outcome = (&self.inbound, &self.dedupe).transaction(|(inbound, dedupe)| {
            if let Some(existing) = dedupe.get(&key)? {
                return Ok(Err(existing));
            }
            // Sequence numbers start at 1 so that "after 0" means "from the start".
            let seq = inbound.generate_id()? + 1;
            let (rec, entry) =
                record_bytes_for(seq).map_err(ConflictableTransactionError::Abort)?;
            inbound.insert(&seq.to_be_bytes(), rec)?;
            dedupe.insert(key.as_slice(), entry)?;
            Ok(Ok(seq))
        });
        let outcome = match outcome {
            Ok(o) => o,
            Err(TransactionError::Abort(e)) => return Err(e),
            Err(TransactionError::Storage(e)) => return Err(engine(e)),
        };
        // A duplicate also waits: the first copy may not be durable yet, and its answer must not
        // reach the peer before it is.
        self.durable().await?;
        match outcome {
            Ok(seq) => Ok(Accepted::New { seq }),
            Err(existing) => Ok(Accepted::Duplicate {
                first: decode::<DedupeEntry>(&existing)?.answer,
            }),
        }
    }

    fn inbound_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, InboundRecord)>, StoreError> {
        let start = after.saturating_add(1).to_be_bytes();
        let mut out = Vec::new();
        for item in self.inbound.range(start..).take(limit) {
            let (k, v) = item.map_err(engine)?;
            let seq = u64::from_be_bytes(
                k.as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Decode("inbound key".into()))?,
            );
            out.push((seq, decode(&v)?));
        }
        Ok(out)
    }

    async fn put_registry_entry(&self, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        self.registry
            .insert(key.as_bytes(), value)
            .map_err(engine)?;
        self.durable().await
    }

    fn registry_entries(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.registry
            .iter()
            .map(|item| {
                let (k, v) = item.map_err(engine)?;
                Ok((String::from_utf8_lossy(&k).into_owned(), v.to_vec()))
            })
            .collect()
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        self.commit.stop();
        // Best effort on a clean shutdown; durability never depends on it.
        let _ = self.db.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Action;

    fn record(message_id: &str) -> InboundRecord {
        InboundRecord {
            sender: "seller.example.com".parse().unwrap(),
            action: Action::OnCancel,
            message_id: crate::protocol::MessageId::parse(message_id).unwrap(),
            transaction_id: crate::protocol::TransactionId::parse("T1").unwrap(),
            received_at: chrono::Utc::now(),
            headers: vec![("authorization".into(), "Signature …".into())],
            body: "{\"a\":1}".into(),
            verification: super::super::Verification {
                key_id: "seller.example.com|k|ed25519".into(),
                gateway_key_id: None,
            },
            answer: StoredAnswer {
                status: 200,
                body: "ack".into(),
            },
        }
    }

    #[tokio::test]
    async fn a_duplicate_is_answered_as_the_first_and_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let first = store.accept_inbound(record("M1")).await.unwrap();
        assert!(matches!(first, Accepted::New { .. }));
        let mut again = record("M1");
        again.answer.body = "different".into();
        assert_eq!(
            store.accept_inbound(again).await.unwrap(),
            Accepted::Duplicate {
                first: StoredAnswer {
                    status: 200,
                    body: "ack".into()
                }
            }
        );
        store.accept_inbound(record("M2")).await.unwrap();
        let all = store.inbound_after(0, 10).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].1, record_with_time(&all[0].1, "M1"));
    }

    fn record_with_time(stored: &InboundRecord, id: &str) -> InboundRecord {
        InboundRecord {
            received_at: stored.received_at,
            ..record(id)
        }
    }

    #[tokio::test]
    async fn what_was_acknowledged_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(dir.path()).unwrap();
            store.accept_inbound(record("M1")).await.unwrap();
            store.put_registry_entry("k", b"v".to_vec()).await.unwrap();
        }
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(store.inbound_after(0, 10).unwrap().len(), 1);
        assert_eq!(
            store.registry_entries().unwrap(),
            vec![("k".to_owned(), b"v".to_vec())]
        );
        assert!(matches!(
            store.accept_inbound(record("M1")).await.unwrap(),
            Accepted::Duplicate { .. }
        ));
    }
}
