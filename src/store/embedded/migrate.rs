//! Layout 1 kept one sled tree per entity; layout 2 keeps them all in one tree under prefixed
//! keys, so that a group of changes is one atomic batch. Opening a layout-1 store moves it:
//! every entry is copied under its prefix (audit records into segment files), sled is
//! flushed, then the old trees are dropped. A crash midway leaves the old trees in place, and the
//! next open copies again over the same keys.

use super::codec::{self, decode};
use super::keys;
use super::stage::Stage;
use crate::store::{InboundRecord, StoreError};

/// The trees of layout 1 and the prefix each moves under; `None` for the pending markers,
/// which layout 2 does without (the due index holds the same ids).
const TREES: [(&str, Option<u8>); 11] = [
    ("inbound", Some(keys::AUDIT)),
    ("inbound_dedupe", Some(keys::DEDUPE)),
    ("orders", Some(keys::ORDER)),
    ("txn_index", Some(keys::TXN)),
    ("outbox", Some(keys::OUTBOX)),
    ("outbox_due", Some(keys::DUE)),
    ("order_log", Some(keys::LOG)),
    ("notifications", Some(keys::NOTE)),
    ("timers", Some(keys::TIMER)),
    ("registry_cache", Some(keys::REGISTRY)),
    ("outbox_pending", None),
];

/// Entries per batch while copying.
const CHUNK: usize = 10_000;

fn engine(e: sled::Error) -> StoreError {
    StoreError::Engine(Box::new(e))
}

/// Moves a layout-1 store in `db` into the staged tree; does nothing to a layout-2 or new store.
pub fn from_trees(db: &sled::Db, stage: &Stage) -> Result<(), StoreError> {
    let present: Vec<_> = db.tree_names();
    let old: Vec<_> = TREES
        .iter()
        .filter(|(name, _)| present.iter().any(|p| p.as_ref() == name.as_bytes()))
        .collect();
    if old.is_empty() {
        return Ok(());
    }
    let mut moved = 0usize;
    for (name, prefix) in &old {
        let Some(prefix) = prefix else { continue };
        let from = db.open_tree(name).map_err(engine)?;
        let mut items = from.iter();
        loop {
            let mut c = stage.change()?;
            let mut in_chunk = 0;
            for item in items.by_ref().take(CHUNK) {
                let (k, v) = item.map_err(engine)?;
                if *prefix == keys::AUDIT {
                    let record: InboundRecord = decode(&v)?;
                    let seq = keys::seq_of(&keys::key(keys::AUDIT, &[&k]))
                        .ok_or_else(|| StoreError::Corrupt("an audit key is not a sequence number".into()))?;
                    let loc = c.append(seq, &codec::audit(&record, &record.answer)?)?;
                    c.put(keys::audit(seq), loc.to_bytes());
                } else {
                    c.put(keys::key(*prefix, &[&k]), v.to_vec());
                }
                in_chunk += 1;
            }
            drop(c);
            stage.flush_now()?;
            moved += in_chunk;
            if in_chunk < CHUNK {
                break;
            }
        }
    }
    db.flush().map_err(engine)?;
    for (name, _) in &old {
        db.drop_tree(name).map_err(engine)?;
    }
    db.flush().map_err(engine)?;
    tracing::info!(
        entries = moved,
        "store moved from layout 1 (a tree per entity) to layout 2"
    );
    Ok(())
}
