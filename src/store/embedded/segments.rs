//! The audit's bytes (each message's metadata and body as received) live outside sled, in
//! append-only segment files `audit-<id>.seg` beside it; sled keeps only where each record is
//! ([`Loc`]). Bodies are most of what the gateway writes, and sled copies and rewrites large
//! values several times over; a segment is written once, in one `pwrite` per group, and removed
//! whole when the audit's retention has passed.
//!
//! A record in a segment is its length (4 bytes, big-endian), its audit sequence number (8
//! bytes, big-endian), then the record. Each start of the store appends to a new segment, so a
//! record torn by a crash can only be the last of its segment. A segment is
//! fdatasynced before the sled batch that refers to it is applied, so what sled points at is
//! always on disk; bytes written by a group that crashed before its batch are never pointed at.

use super::stage::BATCH;
use crate::store::StoreError;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Bytes before a record: its length and its sequence number.
const FRAME: u64 = 12;

/// Where a record is: segment, offset of its frame, length of the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loc {
    /// Segment id.
    pub segment: u64,
    /// Offset of the record's frame.
    pub offset: u64,
    /// The record's length.
    pub len: u32,
}

impl Loc {
    /// 20 bytes: segment, offset, length, big-endian.
    pub fn to_bytes(self) -> Vec<u8> {
        let mut b = Vec::with_capacity(20);
        b.extend_from_slice(&self.segment.to_be_bytes());
        b.extend_from_slice(&self.offset.to_be_bytes());
        b.extend_from_slice(&self.len.to_be_bytes());
        b
    }

    /// Reads [`Self::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        Some(Self {
            segment: u64::from_be_bytes(b.get(..8)?.try_into().ok()?),
            offset: u64::from_be_bytes(b.get(8..16)?.try_into().ok()?),
            len: u32::from_be_bytes(b.get(16..20)?.try_into().ok()?),
        })
    }
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Engine(Box::new(e))
}

/// The segment being appended to, and the bytes appended since the last group took them.
pub struct Tail {
    id: u64,
    file: Arc<File>,
    /// Bytes in the file, or taken by a group and being written.
    len: u64,
    /// Appended, not yet taken.
    pending: Vec<u8>,
    /// Where a write to this segment failed (offset, length): the next write marks it skipped.
    hole: Option<(u64, u64)>,
}

impl Tail {
    /// Its segment id.
    pub fn id(&self) -> u64 {
        self.id
    }
}

/// Bytes a group writes: `bytes` at `offset` of `file`, after marking a failed range skipped.
pub struct Write {
    segment: u64,
    file: Arc<File>,
    offset: u64,
    bytes: Vec<u8>,
    hole: Option<(u64, u64)>,
}

/// The sequence number of a skip frame: the frame covers a range whose write failed.
const SKIP: u64 = u64::MAX;

impl Write {
    /// Writes and fdatasyncs.
    pub fn run(&self) -> std::io::Result<()> {
        if self.bytes.is_empty() && self.hole.is_none() {
            return Ok(());
        }
        if let Some((at, len)) = self.hole {
            // A frame over the whole failed range (at least one frame long, so at least 12
            // bytes); what lies under it is never read.
            let body = u32::try_from(len - FRAME).map_err(std::io::Error::other)?;
            let mut skip = body.to_be_bytes().to_vec();
            skip.extend_from_slice(&SKIP.to_be_bytes());
            self.file.write_all_at(&skip, at)?;
        }
        self.file.write_all_at(&self.bytes, self.offset)?;
        self.file.sync_data()
    }
}

/// The segment files of one store.
pub struct Segments {
    dir: PathBuf,
    max_bytes: u64,
    open: Mutex<HashMap<u64, Arc<File>>>,
}

fn name(id: u64) -> String {
    format!("audit-{id:016x}.seg")
}

fn id_of(file_name: &str) -> Option<u64> {
    let hex = file_name.strip_prefix("audit-")?.strip_suffix(".seg")?;
    u64::from_str_radix(hex, 16).ok()
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Segments {
    /// The segments in `dir` (created if missing), rolling over at `max_bytes`; returns the tail
    /// to append to: a new segment after the newest.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<(Self, Tail), StoreError> {
        std::fs::create_dir_all(dir).map_err(io)?;
        let this = Self {
            dir: dir.to_owned(),
            max_bytes,
            open: Mutex::new(HashMap::new()),
        };
        let next = this.ids()?.into_iter().max().unwrap_or(0) + 1;
        let tail = this.tail(next)?;
        Ok((this, tail))
    }

    /// Segment ids present, in no order.
    pub fn ids(&self) -> Result<Vec<u64>, StoreError> {
        let mut ids = vec![];
        for entry in std::fs::read_dir(&self.dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            if let Some(id) = entry.file_name().to_str().and_then(id_of) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// When segment `id` was last written.
    pub fn modified(&self, id: u64) -> Result<SystemTime, StoreError> {
        std::fs::metadata(self.dir.join(name(id)))
            .and_then(|m| m.modified())
            .map_err(io)
    }

    fn tail(&self, id: u64) -> Result<Tail, StoreError> {
        let path = self.dir.join(name(id));
        let created = !path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        if created {
            sync_dir(&self.dir).map_err(io)?;
        }
        let len = file.metadata().map_err(io)?.len();
        let file = Arc::new(file);
        if let Ok(mut open) = self.open.lock() {
            open.insert(id, file.clone());
        }
        Ok(Tail {
            id,
            file,
            len,
            pending: vec![],
            hole: None,
        })
    }

    /// Appends `record`, audit number `seq`, to the tail; where it will be once its group is
    /// written.
    pub fn append(tail: &mut Tail, seq: u64, record: &[u8]) -> Result<Loc, StoreError> {
        let len = u32::try_from(record.len())
            .map_err(|_| StoreError::Corrupt("an audit record over 4 GiB".into()))?;
        let loc = Loc {
            segment: tail.id,
            offset: tail.len + tail.pending.len() as u64,
            len,
        };
        tail.pending.extend_from_slice(&len.to_be_bytes());
        tail.pending.extend_from_slice(&seq.to_be_bytes());
        tail.pending.extend_from_slice(record);
        Ok(loc)
    }

    /// Takes what was appended since the last call, for the group to write; rolls the tail over
    /// to a new segment when it is full.
    pub fn take(&self, tail: &mut Tail) -> Result<Write, StoreError> {
        let bytes = std::mem::take(&mut tail.pending);
        let write = Write {
            segment: tail.id,
            file: tail.file.clone(),
            offset: tail.len,
            hole: tail.hole.take(),
            bytes,
        };
        tail.len += write.bytes.len() as u64;
        if tail.len >= self.max_bytes {
            *tail = self.tail(tail.id + 1)?;
        }
        Ok(write)
    }

    /// After `write` failed (its records are pointed at by nothing): the next write of the
    /// segment marks its range, and any failed range before it, skipped, so the bytes appended
    /// since stay where their locations say and nothing failed is kept in memory. The file is
    /// cut back to where the range starts, so partial bytes do not linger. A segment already
    /// rolled over simply ends there.
    pub fn failed(tail: &mut Tail, write: &Write) {
        if tail.id != write.segment {
            let _ = write.file.set_len(write.offset);
            return;
        }
        let (at, len) = match write.hole {
            Some((at, len)) => (at, len + write.bytes.len() as u64),
            None => (write.offset, write.bytes.len() as u64),
        };
        let _ = write.file.set_len(at);
        if len > 0 {
            tail.hole = Some((at, len));
        }
    }

    fn file(&self, id: u64) -> Result<Arc<File>, StoreError> {
        let mut open = self
            .open
            .lock()
            .map_err(|_| StoreError::Corrupt("segment table poisoned".into()))?;
        if let Some(f) = open.get(&id) {
            return Ok(f.clone());
        }
        let f = Arc::new(File::open(self.dir.join(name(id))).map_err(io)?);
        open.insert(id, f.clone());
        Ok(f)
    }

    /// The record at `loc`; `None` if its segment was removed.
    pub fn read(&self, loc: Loc) -> Result<Option<Vec<u8>>, StoreError> {
        let file = match self.file(loc.segment) {
            Ok(f) => f,
            Err(_) if !self.dir.join(name(loc.segment)).exists() => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut buf = vec![0; loc.len as usize];
        file.read_exact_at(&mut buf, loc.offset + FRAME).map_err(io)?;
        Ok(Some(buf))
    }

    /// Every whole audit record of segment `id`: its sequence number and bytes (a torn record at
    /// the end, left by a crash, is not one).
    pub fn records(&self, id: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        Ok(self
            .frames(id)?
            .into_iter()
            .filter(|(_, seq, _)| *seq != BATCH)
            .map(|(_, seq, bytes)| (seq, bytes))
            .collect())
    }

    /// Every whole batch record of segment `id`, with where it is.
    pub fn batches(&self, id: u64) -> Result<Vec<(Loc, Vec<u8>)>, StoreError> {
        Ok(self
            .frames(id)?
            .into_iter()
            .filter(|(_, seq, _)| *seq == BATCH)
            .map(|(offset, _, bytes)| {
                let len = bytes.len() as u32;
                (
                    Loc {
                        segment: id,
                        offset,
                        len,
                    },
                    bytes,
                )
            })
            .collect())
    }

    /// Every whole frame of segment `id` but skipped ones: offset, sequence number, bytes.
    fn frames(&self, id: u64) -> Result<Vec<(u64, u64, Vec<u8>)>, StoreError> {
        let bytes = std::fs::read(self.dir.join(name(id))).map_err(io)?;
        let frame = FRAME as usize;
        let mut out = vec![];
        let mut at = 0usize;
        while let Some(head) = bytes.get(at..at + frame) {
            let (len, seq) = head.split_at(4);
            let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let seq = u64::from_be_bytes(
                seq.try_into()
                    .map_err(|_| StoreError::Corrupt("segment frame".into()))?,
            );
            let Some(record) = bytes.get(at + frame..at + frame + len) else {
                break;
            };
            if seq != SKIP {
                out.push((at as u64, seq, record.to_vec()));
            }
            at += frame + len;
        }
        Ok(out)
    }

    /// Removes segment `id`.
    pub fn remove(&self, id: u64) -> Result<(), StoreError> {
        if let Ok(mut open) = self.open.lock() {
            open.remove(&id);
        }
        std::fs::remove_file(self.dir.join(name(id))).map_err(io)?;
        sync_dir(&self.dir).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_read_back_where_append_said_across_a_roll_over() {
        let dir = tempfile::tempdir().unwrap();
        let (segs, mut tail) = Segments::open(dir.path(), 30).unwrap();
        let a = Segments::append(&mut tail, 1, b"first record").unwrap();
        let b = Segments::append(&mut tail, 2, b"second").unwrap();
        segs.take(&mut tail).unwrap().run().unwrap();
        let c = Segments::append(&mut tail, 3, b"third, in the next segment").unwrap();
        segs.take(&mut tail).unwrap().run().unwrap();
        assert_eq!((a.segment, b.segment, c.segment), (1, 1, 2));
        assert_eq!(segs.read(b).unwrap().as_deref(), Some(&b"second"[..]));
        assert_eq!(
            segs.read(c).unwrap().as_deref(),
            Some(&b"third, in the next segment"[..])
        );
        assert_eq!(Loc::from_bytes(&a.to_bytes()), Some(a));
        // A torn record at the end (a crash mid-write) is not read as one.
        let f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(name(1)))
            .unwrap();
        f.write_all_at(&[0, 0, 0, 99, 0, 0, 0, 0, 0, 0, 0, 4, b'x'], 0)
            .unwrap();
        let records = segs.records(1).unwrap();
        assert_eq!(records, [(1, b"first record".to_vec()), (2, b"second".to_vec())]);
        segs.remove(1).unwrap();
        assert_eq!(segs.read(a).unwrap(), None);
        // A restart appends to a new segment after the newest.
        drop(tail);
        let (_, tail) = Segments::open(dir.path(), 30).unwrap();
        assert_eq!(tail.id, 4, "2 rolled over to 3 when it filled");
        let mut ids = segs.ids().unwrap();
        ids.sort();
        assert_eq!(ids, [2, 3, 4]);
    }

    #[test]
    fn a_failed_write_is_skipped_and_what_came_after_stays_where_it_was_put() {
        let dir = tempfile::tempdir().unwrap();
        let (segs, mut tail) = Segments::open(dir.path(), 1 << 20).unwrap();
        let kept = Segments::append(&mut tail, 1, b"kept").unwrap();
        segs.take(&mut tail).unwrap().run().unwrap();
        Segments::append(&mut tail, 2, b"lost with its group").unwrap();
        let failed = segs.take(&mut tail).unwrap();
        // Appended while the failing write ran: its location is past the failed range.
        let after = Segments::append(&mut tail, 3, b"after").unwrap();
        Segments::failed(&mut tail, &failed);
        // A second failure grows the range instead of keeping bytes.
        let failed_again = segs.take(&mut tail).unwrap();
        Segments::failed(&mut tail, &failed_again);
        let last = Segments::append(&mut tail, 4, b"last").unwrap();
        segs.take(&mut tail).unwrap().run().unwrap();
        assert_eq!(segs.read(kept).unwrap().as_deref(), Some(&b"kept"[..]));
        assert_eq!(segs.read(last).unwrap().as_deref(), Some(&b"last"[..]));
        assert!(after.offset < last.offset);
        assert_eq!(
            segs.records(kept.segment).unwrap(),
            [(1, b"kept".to_vec()), (4, b"last".to_vec())],
            "the failed range is one skipped frame"
        );
    }
}
