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
    /// Set when sled refused a written group: no more changes until a restart replays it.
    broken: Option<String>,
    /// The last batch record applied to sled.
    applied: Option<Loc>,
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
                broken: None,
                applied: None,
            }),
        }
    }

    /// The audit segments, for reading.
    pub fn segments(&self) -> &Segments {
        &self.segments
    }

    /// Starts a change.
    pub fn change(&self) -> Result<Change<'_>, StoreError> {
        let overlay = self.overlay.lock().map_err(|_| poisoned())?;
        if let Some(why) = &overlay.broken {
            return Err(StoreError::Engine(why.clone().into()));
        }
        Ok(Change {
            tree: &self.tree,
            overlay,
        })
    }

    /// Makes everything staged durable: the audit records appended and the staged writes as one
    /// batch record after them, in one write and fdatasync of the segment (the group flush calls
    /// this; its writers are answered when it returns). Reads see the staged values until
    /// [`Self::apply`] has put them in sled.
    pub fn write(&self) -> Result<Written, StoreError> {
        let (taken, at, audit) = {
            let mut o = self.overlay.lock().map_err(|_| poisoned())?;
            if let Some(why) = &o.broken {
                return Err(StoreError::Engine(why.clone().into()));
            }
            let staged = std::mem::take(&mut o.staged);
            let at = if staged.is_empty() {
                None
            } else {
                Some(Segments::append(&mut o.tail, BATCH, &encode_batch(&staged))?)
            };
            let audit = self.segments.take(&mut o.tail)?;
            o.flushing = Arc::new(staged);
            (o.flushing.clone(), at, audit)
        };
        if let Err(e) = audit.run() {
            if let Ok(mut o) = self.overlay.lock() {
                o.flushing = Arc::default();
                // Some cached orders were never written.
                o.orders.clear();
                Segments::failed(&mut o.tail, &audit);
            }
            return Err(StoreError::Engine(Box::new(e)));
        }
        Ok(Written { taken, at })
    }

    /// Puts a written group into sled, without waiting for sled to make it durable: the
    /// segment already holds it, and a restart replays every batch after the last checkpoint
    /// (`super::wal`). If sled refuses it, the store takes no more changes: what was answered is
    /// in the segment, and a restart recovers it.
    pub fn apply(&self, written: Written) -> Result<usize, StoreError> {
        let Some(at) = written.at else {
            return Ok(0);
        };
        // Key by key rather than as one sled batch: readers see these writes in the overlay
        // until all are in, the segment makes the group atomic across a crash, and a sled batch
        // would roll sled's IO buffer twice, each roll a write and a sync_file_range.
        let applied = written.taken.iter().try_for_each(|(k, v)| {
            match v {
                Some(v) => self.tree.insert(k.as_slice(), v.as_slice()).map(drop),
                None => self.tree.remove(k.as_slice()).map(drop),
            }
            .map_err(engine)
        });
        if let Ok(mut o) = self.overlay.lock() {
            match &applied {
                Ok(()) => {
                    o.flushing = Arc::default();
                    o.applied = Some(at);
                }
                // The writes stay readable in memory; nothing more is taken.
                Err(e) => {
                    o.broken = Some(format!(
                        "sled refused a written group ({e}); restart the gateway to replay it"
                    ))
                }
            }
        }
        applied.map(|()| written.taken.len())
    }

    /// The last batch record applied to sled, if any since the start.
    pub fn applied(&self) -> Option<Loc> {
        self.overlay.lock().ok().and_then(|o| o.applied)
    }

    /// [`Self::write`] then [`Self::apply`]: for migrations, tests and shutdown.
    pub fn flush_now(&self) -> Result<usize, StoreError> {
        let written = self.write()?;
        self.apply(written)
    }
}

/// A group written to its segment, not yet applied to sled.
pub struct Written {
    taken: Arc<Writes>,
    /// Where its batch record is; `None` when it staged no writes.
    at: Option<Loc>,
}

/// The sequence number of a batch record in a segment.
pub const BATCH: u64 = u64::MAX - 1;

/// A batch record: the CRC-32 of the rest (4 bytes, big-endian), then each write as key length
/// (4 bytes), key, then 0 for a removal or 1, value length (4 bytes) and value.
fn encode_batch(writes: &Writes) -> Vec<u8> {
    let size: usize = writes
        .iter()
        .map(|(k, v)| 9 + k.len() + v.as_ref().map_or(0, Vec::len))
        .sum();
    let mut out = Vec::with_capacity(4 + size);
    out.extend_from_slice(&[0; 4]);
    for (k, v) in writes {
        out.extend_from_slice(&(k.len() as u32).to_be_bytes());
        out.extend_from_slice(k);
        match v {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                out.extend_from_slice(&(v.len() as u32).to_be_bytes());
                out.extend_from_slice(v);
            }
        }
    }
    let crc = crc32fast::hash(&out[4..]);
    out[..4].copy_from_slice(&crc.to_be_bytes());
    out
}

/// Reads [`encode_batch`] into a sled batch.
pub fn decode_batch(mut bytes: &[u8]) -> Result<sled::Batch, StoreError> {
    fn take<'b>(bytes: &mut &'b [u8], n: usize) -> Result<&'b [u8], StoreError> {
        if bytes.len() < n {
            return Err(StoreError::Corrupt(
                "a batch record in the log is cut short".into(),
            ));
        }
        let (head, rest) = bytes.split_at(n);
        *bytes = rest;
        Ok(head)
    }
    fn len(bytes: &mut &[u8]) -> Result<usize, StoreError> {
        let b = take(bytes, 4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    let crc = take(&mut bytes, 4)?;
    if crc32fast::hash(bytes).to_be_bytes() != crc {
        return Err(StoreError::Corrupt(
            "a batch record in the log fails its checksum".into(),
        ));
    }
    let mut batch = sled::Batch::default();
    while !bytes.is_empty() {
        let n = len(&mut bytes)?;
        let key = take(&mut bytes, n)?;
        match take(&mut bytes, 1)?[0] {
            0 => batch.remove(key),
            1 => {
                let n = len(&mut bytes)?;
                batch.insert(key, take(&mut bytes, n)?);
            }
            _ => {
                return Err(StoreError::Corrupt(
                    "a batch record in the log has an unknown tag".into(),
                ));
            }
        }
    }
    Ok(batch)
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
        assert_eq!(stage.flush_now().unwrap(), 2);
        assert_eq!(tree.get("new").unwrap().as_deref(), Some(&b"2"[..]));
        assert!(tree.get("old").unwrap().is_none());
        let c = stage.change().unwrap();
        assert_eq!(c.get(b"new").unwrap(), Some(b"2".to_vec()));
    }
}
