//! Group commit: many writers, one fsync.
//!
//! A writer makes its change, takes a ticket, and waits until a flush that started after its
//! ticket has finished. One flusher thread runs flushes back to back while tickets are waiting,
//! so under load each fsync covers every write that arrived during the previous one.

use std::sync::{Arc, Condvar, Mutex, Weak};
use tokio::sync::watch;

/// Flush progress, published to waiters.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    /// Every ticket up to this one is durable.
    durable: u64,
    /// Every ticket up to this one (and above `durable`) belongs to a failed flush.
    failed: u64,
}

#[derive(Default)]
struct Tickets {
    issued: u64,
    stop: bool,
}

/// The coordinator shared by writers and the flusher thread.
pub struct GroupCommit {
    tickets: Mutex<Tickets>,
    wake: Condvar,
    progress: watch::Sender<Progress>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl GroupCommit {
    /// Starts the flusher thread, which calls `flush` for each group until [`Self::stop`].
    pub fn start<F>(flush: F) -> Arc<Self>
    where
        F: Fn() -> Result<(), String> + Send + 'static,
    {
        let this = Arc::new(Self {
            tickets: Mutex::new(Tickets::default()),
            wake: Condvar::new(),
            progress: watch::Sender::new(Progress::default()),
            thread: Mutex::new(None),
        });
        let weak = Arc::downgrade(&this);
        match std::thread::Builder::new()
            .name("store-flusher".into())
            .spawn(move || flusher(weak, flush))
        {
            Ok(handle) => {
                if let Ok(mut slot) = this.thread.lock() {
                    *slot = Some(handle);
                }
            }
            // Without a flusher every writer gets an error instead of an ACK.
            Err(e) => tracing::error!(error = %e, "cannot start the store flusher thread"),
        }
        this
    }

    /// Runs the flushes still owed, then ends the flusher thread and waits for it (so whatever
    /// `flush` holds, such as a database handle, is released).
    pub fn stop(&self) {
        if let Ok(mut t) = self.tickets.lock() {
            t.stop = true;
        }
        self.wake.notify_all();
        let handle = self.thread.lock().ok().and_then(|mut slot| slot.take());
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }

    /// Waits until everything written before this call is durable.
    pub async fn durable(&self) -> Result<(), String> {
        let ticket = {
            let mut t = self
                .tickets
                .lock()
                .map_err(|_| "flusher lock poisoned".to_owned())?;
            if t.stop {
                return Err("the store is shutting down".to_owned());
            }
            t.issued += 1;
            t.issued
        };
        self.wake.notify_one();
        let mut rx = self.progress.subscribe();
        let p = rx
            .wait_for(|p| p.durable >= ticket || p.failed >= ticket)
            .await
            .map_err(|_| "flusher stopped".to_owned())?;
        if p.durable >= ticket {
            Ok(())
        } else {
            Err("the flush covering this write failed".to_owned())
        }
    }
}

fn flusher<F: Fn() -> Result<(), String>>(this: Weak<GroupCommit>, flush: F) {
    let mut done = 0u64;
    while let Some(gc) = this.upgrade() {
        let target = {
            let Ok(mut t) = gc.tickets.lock() else { return };
            while t.issued == done && !t.stop {
                let Ok(guard) = gc.wake.wait(t) else { return };
                t = guard;
            }
            if t.issued == done {
                return;
            }
            t.issued
        };
        // Every ticket <= target was taken after its write, so this flush covers them all.
        let result = flush();
        gc.progress.send_modify(|p| match &result {
            Ok(()) => p.durable = target,
            Err(_) => p.failed = target,
        });
        if let Err(e) = result {
            tracing::error!(error = %e, "store flush failed; waiting writers get an error");
        }
        done = target;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_waiters_share_few_flushes() {
        let flushes = Arc::new(AtomicUsize::new(0));
        let f = flushes.clone();
        let gc = GroupCommit::start(move || {
            f.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(5));
            Ok(())
        });
        let waiters: Vec<_> = (0..200)
            .map(|_| {
                let gc = gc.clone();
                tokio::spawn(async move { gc.durable().await })
            })
            .collect();
        for w in waiters {
            assert_eq!(w.await.unwrap(), Ok(()));
        }
        let n = flushes.load(Ordering::SeqCst);
        assert!((1..200).contains(&n), "200 waiters took {n} flushes");
    }

    #[tokio::test]
    async fn a_failed_flush_fails_its_waiters() {
        let gc = GroupCommit::start(|| Err("disk gone".to_owned()));
        assert!(gc.durable().await.is_err());
    }
}
