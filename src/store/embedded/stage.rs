//! Staged writes: every change is decided and written under one lock into an in-memory
//! overlay; the group flush takes the overlay whole, applies it to sled as one atomic batch and
//! makes it durable. Reads inside a change see the overlay first, so changes follow each other
//! exactly as if each had been written alone, but sled sees one batch per group instead of a
//! multi-tree transaction per request.

use super::codec;
use super::segments::{Loc, Segments, Tail};
use crate::orchestrator::Order;
use crate::store::StoreError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Writes not yet in sled: `None` is a removal.
type Writes = HashMap<Vec<u8>, Option<Vec<u8>>>;

struct Overlay {
    /// Written since the last flush took the overlay.
    staged: Writes,
    /// Taken by the flush now running, readable until sled has them.
    flushing: Arc<Writes>,
    /// The audit segment appended to, with what was appended since the last flush.
    tail: Tail,
    /// Orders as last written or read, decoded, by key: most messages are about orders a
    /// recent message touched, and decoding one costs more than the rest of a change.
    orders: HashMap<Vec<u8>, Arc<Order>>,
}

/// Decoded orders kept; past this, one is dropped for each added.
const ORDERS_CACHED: usize = 4096;

/// The overlay over one sled tree and its audit segments.
pub struct Stage {
    tree: sled::Tree,
    segments: Segments,
    overlay: Mutex<Overlay>,
}

/// A change in progress: reads see the overlay then the tree; writes go to the overlay. Holding
/// it excludes every other change, so it must not be held across an `.await`.
pub struct Change<'a> {
    tree: &'a sled::Tree,
    overlay: MutexGuard<'a, Overlay>,
}

fn engine(e: sled::Error) -> StoreError {
    StoreError::Engine(Box::new(e))
}

fn poisoned() -> StoreError {
    StoreError::Corrupt("a store change panicked; the gateway must restart".into())
}

impl Stage {
    /// An empty overlay over `tree`, appending audit records to `tail` of `segments`.
    pub fn new(tree: sled::Tree, segments: Segments, tail: Tail) -> Self {
        Self {
            tree,
            segments,
            overlay: Mutex::new(Overlay {
                staged: Writes::default(),
                flushing: Arc::default(),
                tail,
                orders: HashMap::new(),
            }),
        }
    }

    /// The audit segments, for reading.
    pub fn segments(&self) -> &Segments {
        &self.segments
    }

    /// Starts a change.
    pub fn change(&self) -> Result<Change<'_>, StoreError> {
        Ok(Change {
            tree: &self.tree,
            overlay: self.overlay.lock().map_err(|_| poisoned())?,
        })
    }

    /// Writes and fdatasyncs the audit records appended, then applies everything staged to sled
    /// as one atomic batch (the group flush calls this, then flushes sled). Reads see the staged
    /// values until the batch is in.
    pub fn apply(&self) -> Result<usize, StoreError> {
        let (taken, audit) = {
            let mut o = self.overlay.lock().map_err(|_| poisoned())?;
            let audit = self.segments.take(&mut o.tail)?;
            let staged = std::mem::take(&mut o.staged);
            o.flushing = Arc::new(staged);
            (o.flushing.clone(), audit)
        };
        // The batch points at these records: they are on disk first.
        if let Err(e) = audit.run() {
            if let Ok(mut o) = self.overlay.lock() {
                o.flushing = Arc::default();
                // Some cached orders were never written.
                o.orders.clear();
                Segments::failed(&mut o.tail, &audit);
            }
            return Err(StoreError::Engine(Box::new(e)));
        }
        let mut batch = sled::Batch::default();
        for (k, v) in taken.iter() {
            match v {
                Some(v) => batch.insert(k.as_slice(), v.as_slice()),
                None => batch.remove(k.as_slice()),
            }
        }
        let applied = self.tree.apply_batch(batch).map_err(engine);
        // Applied or not, the flushing writes are done with: on failure the waiting writers
        // are told, and what they wrote is not seen again.
        if let Ok(mut o) = self.overlay.lock() {
            o.flushing = Arc::default();
            if applied.is_err() {
                o.orders.clear();
            }
        }
        applied.map(|()| taken.len())
    }
}

impl Change<'_> {
    /// The current value of `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = self.overlay.staged.get(key) {
            return Ok(v.clone());
        }
        if let Some(v) = self.overlay.flushing.get(key) {
            return Ok(v.clone());
        }
        Ok(self.tree.get(key).map_err(engine)?.map(|v| v.to_vec()))
    }

    /// The order under `key`, decoded (from the cache when it is there).
    pub fn order(&mut self, key: &[u8]) -> Result<Option<Arc<Order>>, StoreError> {
        if let Some(order) = self.overlay.orders.get(key) {
            return Ok(Some(order.clone()));
        }
        let Some(bytes) = self.get(key)? else {
            return Ok(None);
        };
        let order = Arc::new(codec::decode::<Order>(&bytes)?);
        self.cache(key.to_vec(), order.clone());
        Ok(Some(order))
    }

    /// Writes `order` under `key`.
    pub fn put_order(&mut self, key: Vec<u8>, order: &Order) -> Result<(), StoreError> {
        self.put(key.clone(), codec::encode(order)?);
        self.cache(key, Arc::new(order.clone()));
        Ok(())
    }

    fn cache(&mut self, key: Vec<u8>, order: Arc<Order>) {
        let orders = &mut self.overlay.orders;
        if orders.len() >= ORDERS_CACHED
            && !orders.contains_key(&key)
            && let Some(victim) = orders.keys().next().cloned()
        {
            orders.remove(&victim);
        }
        orders.insert(key, order);
    }

    /// The first (smallest) key under `prefix` that has a value: in sled, in the writes being
    /// flushed, or staged.
    pub fn first_live(&self, prefix: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let removed = |k: &[u8]| {
            matches!(self.overlay.staged.get(k), Some(None))
                || (!self.overlay.staged.contains_key(k)
                    && matches!(self.overlay.flushing.get(k), Some(None)))
        };
        let mut first: Option<Vec<u8>> = None;
        for item in self.tree.scan_prefix(prefix) {
            let (k, _) = item.map_err(engine)?;
            if !removed(&k) {
                first = Some(k.to_vec());
                break;
            }
        }
        let written = self
            .overlay
            .staged
            .iter()
            .chain(self.overlay.flushing.iter())
            .filter(|(k, v)| v.is_some() && k.starts_with(prefix) && !removed(k))
            .map(|(k, _)| k);
        for k in written {
            if first.as_ref().is_none_or(|f| k < f) {
                first = Some(k.clone());
            }
        }
        Ok(first)
    }

    /// Whether `key` has a value.
    pub fn contains(&self, key: &[u8]) -> Result<bool, StoreError> {
        if let Some(v) = self.overlay.staged.get(key) {
            return Ok(v.is_some());
        }
        if let Some(v) = self.overlay.flushing.get(key) {
            return Ok(v.is_some());
        }
        self.tree.contains_key(key).map_err(engine)
    }

    /// Sets `key`.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.overlay.staged.insert(key, Some(value));
    }

    /// Appends an audit record numbered `seq`; where it will be.
    pub fn append(&mut self, seq: u64, record: &[u8]) -> Result<Loc, StoreError> {
        Segments::append(&mut self.overlay.tail, seq, record)
    }

    /// Removes `key`, whatever it held.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.overlay.staged.insert(key, None);
    }

    /// The audit segment now appended to.
    pub fn tail_segment(&self) -> u64 {
        self.overlay.tail.id()
    }

    /// Removes `key`; returns its value before.
    pub fn remove(&mut self, key: Vec<u8>) -> Result<Option<Vec<u8>>, StoreError> {
        let before = self.get(&key)?;
        self.overlay.staged.insert(key, None);
        Ok(before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_reads_what_earlier_changes_staged_and_removed_until_and_after_apply() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let tree = db.open_tree("t").unwrap();
        tree.insert("old", "1").unwrap();
        let (segments, tail) = Segments::open(&dir.path().join("audit"), 1 << 20).unwrap();
        let stage = Stage::new(tree.clone(), segments, tail);
        {
            let mut c = stage.change().unwrap();
            c.put(b"new".to_vec(), b"2".to_vec());
            assert_eq!(c.remove(b"old".to_vec()).unwrap(), Some(b"1".to_vec()));
        }
        let c = stage.change().unwrap();
        assert_eq!(c.get(b"new").unwrap(), Some(b"2".to_vec()));
        assert!(!c.contains(b"old").unwrap());
        assert!(tree.get("new").unwrap().is_none(), "not in sled before the flush");
        drop(c);
        assert_eq!(stage.apply().unwrap(), 2);
        assert_eq!(tree.get("new").unwrap().as_deref(), Some(&b"2"[..]));
        assert!(tree.get("old").unwrap().is_none());
        let c = stage.change().unwrap();
        assert_eq!(c.get(b"new").unwrap(), Some(b"2".to_vec()));
    }
}
