//! The segments as the store's write-ahead log.
//!
//! A group is durable once its segment write (audit records, then one batch record of every
//! write the group staged) is fdatasynced; it is applied to sled after its writers are answered,
//! and sled writes it out on its own schedule. About once a second the checkpoint makes sled
//! durable up to the last batch applied and records that batch's place under
//! [`keys::CHECKPOINT`]. Opening the store replays, in order, every batch record after the
//! checkpoint: each holds whole values, so replaying one that sled already has changes nothing,
//! and the result is the state the last durable group left.

use super::keys;
use super::segments::{Loc, Segments};
use super::stage::{Stage, decode_batch};
use crate::store::StoreError;
use std::fs::File;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How often the checkpoint runs while batches are applied.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

fn engine(e: sled::Error) -> StoreError {
    StoreError::Engine(Box::new(e))
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Engine(Box::new(e))
}

/// Makes sled durable: its flush, then an fdatasync of its log file (sled's flush waits for
/// the log with `sync_file_range`, which neither flushes the disk's write cache nor the file
/// size).
fn sync(db: &sled::Db, log: &File) -> Result<(), StoreError> {
    db.flush().map_err(engine)?;
    log.sync_data().map_err(io)
}

/// The checkpoint recorded in `tree`, if any.
pub fn checkpoint(tree: &sled::Tree) -> Result<Option<Loc>, StoreError> {
    Ok(tree
        .get(keys::CHECKPOINT)
        .map_err(engine)?
        .and_then(|v| Loc::from_bytes(&v)))
}

/// Makes every batch applied so far durable in sled, then records `at` (the last of them).
pub fn record(db: &sled::Db, tree: &sled::Tree, log: &File, at: Loc) -> Result<(), StoreError> {
    sync(db, log)?;
    tree.insert(keys::CHECKPOINT, at.to_bytes()).map_err(engine)?;
    sync(db, log)
}

/// Applies to sled every batch record after the checkpoint in the segments before `tail`, in
/// order, and records the last as the new checkpoint. Returns how many were replayed.
///
/// Only the last batch record written can be torn (a crash during its write, before its group
/// was answered): one that fails its checksum is ignored there and refused anywhere else.
pub fn replay(
    db: &sled::Db,
    tree: &sled::Tree,
    log: &File,
    segments: &Segments,
    tail: u64,
) -> Result<usize, StoreError> {
    let from = checkpoint(tree)?;
    let mut ids: Vec<u64> = segments
        .ids()?
        .into_iter()
        .filter(|id| *id < tail && from.is_none_or(|c| *id >= c.segment))
        .collect();
    ids.sort_unstable();
    let mut pending = vec![];
    for id in ids {
        for (at, bytes) in segments.batches(id)? {
            if from.is_none_or(|c| (at.segment, at.offset) > (c.segment, c.offset)) {
                pending.push((at, bytes));
            }
        }
    }
    let mut last = None;
    let count = pending.len();
    let mut replayed = 0;
    for (i, (at, bytes)) in pending.into_iter().enumerate() {
        match decode_batch(&bytes) {
            Ok(batch) => {
                tree.apply_batch(batch).map_err(engine)?;
                replayed += 1;
            }
            Err(_) if i + 1 == count => {
                tracing::warn!(
                    segment = at.segment,
                    offset = at.offset,
                    "store: the last batch in the log is torn (a crash while it was written, before it was answered); ignored"
                );
                break;
            }
            Err(e) => return Err(e),
        }
        last = Some(at);
    }
    if let Some(at) = last {
        record(db, tree, log, at)?;
    }
    Ok(replayed)
}

/// Whether segment `id` holds a batch record after `checkpoint`, which a restart would replay
/// (so the segment must be kept whatever its age).
pub fn needed(checkpoint: Option<Loc>, segments: &Segments, id: u64) -> Result<bool, StoreError> {
    // A segment before the checkpoint's holds nothing after it, and is not read.
    if checkpoint.is_some_and(|c| id < c.segment) {
        return Ok(false);
    }
    Ok(segments
        .batches(id)?
        .iter()
        .any(|(at, _)| checkpoint.is_none_or(|c| (at.segment, at.offset) > (c.segment, c.offset))))
}

/// The checkpoint thread.
pub struct Checkpoints {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpoints {
    /// Starts checkpointing what `stage` applies.
    pub fn start(db: sled::Db, tree: sled::Tree, log: Arc<File>, stage: Arc<Stage>) -> Self {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || {
                let mut done = None;
                loop {
                    {
                        let (lock, wake) = &*flag;
                        let Ok(stopped) = lock.lock() else { return };
                        let Ok((stopped, _)) = wake.wait_timeout(stopped, CHECKPOINT_EVERY) else {
                            return;
                        };
                        if *stopped {
                            return;
                        }
                    }
                    let at = stage.applied();
                    if at.is_none() || at == done {
                        continue;
                    }
                    if let Some(at) = at {
                        match record(&db, &tree, &log, at) {
                            Ok(()) => done = Some(at),
                            Err(e) => tracing::error!(error = %crate::telemetry::chain(&e), "store: checkpoint failed; a restart replays more of the log"),
                        }
                    }
                }
            })
            .map_err(|e| tracing::error!(error = %e, "cannot start the store checkpoint thread"))
            .ok();
        Self { stop, thread }
    }

    /// Ends the thread and waits for it.
    pub fn stop(&mut self) {
        if let Ok(mut stopped) = self.stop.0.lock() {
            *stopped = true;
        }
        self.stop.1.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Parts {
        db: sled::Db,
        tree: sled::Tree,
        log: File,
    }

    fn open(dir: &std::path::Path) -> Parts {
        let db = sled::Config::new().path(dir).open().unwrap();
        let tree = db.open_tree("gateway").unwrap();
        let log = File::open(dir.join("db")).unwrap();
        Parts { db, tree, log }
    }

    /// Stages `writes` as one group and writes it to the log, without applying it to sled.
    fn write_group(stage: &Stage, writes: &[(&str, Option<&str>)]) -> Loc {
        {
            let mut c = stage.change().unwrap();
            for (k, v) in writes {
                match v {
                    Some(v) => c.put(k.as_bytes().to_vec(), v.as_bytes().to_vec()),
                    None => c.delete(k.as_bytes().to_vec()),
                }
            }
        }
        // Written and never applied: sled never sees it, as after a crash right after the ACK.
        drop(stage.write().unwrap());
        // The group's batch record is the last frame written; find it through the segments.
        let segs = stage.segments();
        let mut ids = segs.ids().unwrap();
        ids.sort_unstable();
        let last = *ids.last().unwrap();
        segs.batches(last).unwrap().last().unwrap().0
    }

    /// A stage over the store in `dir` and its segments, as a start would make it.
    fn staged(dir: &std::path::Path) -> (Parts, Stage) {
        let p = open(dir);
        let (segs, tail) = Segments::open(&dir.join("audit"), 1 << 20).unwrap();
        let stage = Stage::new(p.tree.clone(), segs, tail);
        (p, stage)
    }

    /// Opens the store in `dir` again and replays its log.
    fn restart(dir: &std::path::Path) -> (Parts, Result<usize, StoreError>) {
        let p = open(dir);
        let (segs, tail) = Segments::open(&dir.join("audit"), 1 << 20).unwrap();
        let replayed = replay(&p.db, &p.tree, &p.log, &segs, tail.id());
        (p, replayed)
    }

    fn value(tree: &sled::Tree, k: &str) -> Option<String> {
        tree.get(k)
            .unwrap()
            .map(|v| String::from_utf8(v.to_vec()).unwrap())
    }

    #[test]
    fn groups_answered_but_never_applied_are_replayed_in_order_once() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (p, stage) = staged(dir.path());
            write_group(&stage, &[("a", Some("1")), ("b", Some("1"))]);
            write_group(&stage, &[("a", Some("2")), ("b", None), ("c", Some("3"))]);
            assert_eq!(value(&p.tree, "a"), None, "sled has none of it");
            // A crash: nothing of the groups reached sled.
        }
        let (p, replayed) = restart(dir.path());
        assert_eq!(replayed.unwrap(), 2);
        assert_eq!(value(&p.tree, "a").as_deref(), Some("2"), "the later group wins");
        assert_eq!(value(&p.tree, "b"), None, "a removal is replayed too");
        assert_eq!(value(&p.tree, "c").as_deref(), Some("3"));
        let cp = checkpoint(&p.tree)
            .unwrap()
            .expect("a checkpoint after the replay");
        assert_eq!(cp.segment, 1);
        drop(p);
        // Replayed once: the next start finds nothing after the checkpoint.
        assert_eq!(restart(dir.path()).1.unwrap(), 0);
    }

    #[test]
    fn only_groups_after_the_checkpoint_are_replayed() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (p, stage) = staged(dir.path());
            let first = write_group(&stage, &[("k", Some("old"))]);
            // The checkpoint says sled holds everything up to the first group, though it does
            // not: the replay must trust it and start after it.
            record(&p.db, &p.tree, &p.log, first).unwrap();
            write_group(&stage, &[("k2", Some("new"))]);
        }
        let (p, replayed) = restart(dir.path());
        assert_eq!(replayed.unwrap(), 1);
        assert_eq!(value(&p.tree, "k"), None);
        assert_eq!(value(&p.tree, "k2").as_deref(), Some("new"));
    }

    #[test]
    fn a_torn_last_batch_is_ignored_and_a_corrupt_earlier_one_stops_the_start() {
        use std::os::unix::fs::FileExt as _;
        /// Two groups written, then 6 bytes inside the contents of the first or the second
        /// batch overwritten (its frame stays whole, as a torn write leaves it).
        fn damaged(dir: &std::path::Path, second: bool) {
            let (first_at, second_at) = {
                let (_p, stage) = staged(dir);
                let first = write_group(&stage, &[("x", Some("1"))]);
                (first, write_group(&stage, &[("y", Some("2"))]))
            };
            let at = if second { second_at } else { first_at };
            let segment = dir.join("audit").join(format!("audit-{:016x}.seg", at.segment));
            let file = std::fs::OpenOptions::new().write(true).open(&segment).unwrap();
            file.write_all_at(&[0xff; 6], at.offset + 12 + 6).unwrap();
        }

        // The last batch half written: a crash during its write, before it was answered.
        let dir = tempfile::tempdir().unwrap();
        damaged(dir.path(), true);
        let (p, replayed) = restart(dir.path());
        assert_eq!(replayed.unwrap(), 1);
        assert_eq!(value(&p.tree, "x").as_deref(), Some("1"));
        assert_eq!(value(&p.tree, "y"), None, "the torn group was never answered");
        drop(p);

        // The same damage to a batch that has others after it is corruption, not a crash.
        let dir = tempfile::tempdir().unwrap();
        damaged(dir.path(), false);
        let e = restart(dir.path()).1.unwrap_err();
        assert!(e.to_string().contains("checksum"), "{e}");
    }
}
