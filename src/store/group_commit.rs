//! Group commit: many writers, one fsync.
//!
//! A writer makes its change, takes a ticket, and waits until a flush that started after its
//! ticket has finished. One flusher thread runs flushes back to back while tickets are waiting,
//! so under load each fsync covers every write that arrived during the previous one.

use std::sync::{Arc, Condvar, Mutex, Weak};
use tokio::sync::watch;

/// Why a write is not known to be durable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DurableError {
    /// The store is closing and takes no more writes.
    #[error("the store is shutting down")]
    ShuttingDown,
    /// The flusher thread is gone (it could not start, or panicked).
    #[error("the store flusher is not running")]
    FlusherGone,
    /// The flush covering the write failed.
    #[error("the flush covering this write failed")]
    FlushFailed(#[source] Arc<std::io::Error>),
}

/// Flush progress, published to waiters.
#[derive(Debug, Clone, Default)]
struct Progress {
    /// Every ticket up to this one is durable.
    durable: u64,
    /// Every ticket up to this one (and above `durable`) belongs to a failed flush.
    failed: u64,
    /// Why the latest failed flush failed.
    error: Option<Arc<std::io::Error>>,
}

#[derive(Default)]
struct Tickets {
    issued: u64,
    stop: bool,
    /// The flusher is waiting for a ticket (not flushing): only then does a writer wake it.
    idle: bool,
}

/// The coordinator shared by writers and the flusher thread.
pub struct GroupCommit {
    tickets: Mutex<Tickets>,
    wake: Condvar,
    progress: watch::Sender<Progress>,
    /// Every ticket up to this one is durable and finished with (`then` has run for it). Apart
    /// from `progress`, so that writers waiting for the next flush are not woken for it.
    settled: watch::Sender<u64>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl GroupCommit {
    /// Starts the flusher thread, which calls `flush` for each group until [`Self::stop`].
    pub fn start<F>(flush: F) -> Arc<Self>
    where
        F: Fn() -> std::io::Result<()> + Send + 'static,
    {
        Self::start_then(flush, |()| {})
    }

    /// [`Self::start`], where a flush makes its group durable and `then` finishes with what it
    /// returned after the group's writers are answered, before the next flush begins.
    pub fn start_then<F, T, R>(flush: F, then: T) -> Arc<Self>
    where
        F: Fn() -> std::io::Result<R> + Send + 'static,
        T: Fn(R) + Send + 'static,
        R: 'static,
    {
        let this = Arc::new(Self {
            tickets: Mutex::new(Tickets::default()),
            wake: Condvar::new(),
            progress: watch::Sender::new(Progress::default()),
            settled: watch::Sender::new(0),
            thread: Mutex::new(None),
        });
        let weak = Arc::downgrade(&this);
        match std::thread::Builder::new()
            .name("store-flusher".into())
            .spawn(move || flusher(weak, flush, then))
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
    pub async fn durable(&self) -> Result<(), DurableError> {
        let (ticket, idle) = {
            let mut t = self.tickets.lock().map_err(|_| DurableError::FlusherGone)?;
            if t.stop {
                return Err(DurableError::ShuttingDown);
            }
            t.issued += 1;
            (t.issued, std::mem::take(&mut t.idle))
        };
        // A busy flusher looks at the tickets again when its flush ends; waking it is a system
        // call, which most writers under load need not make.
        if idle {
            self.wake.notify_one();
        }
        let mut rx = self.progress.subscribe();
        let p = rx
            .wait_for(|p| p.durable >= ticket || p.failed >= ticket)
            .await
            .map_err(|_| DurableError::FlusherGone)?;
        if p.durable >= ticket {
            Ok(())
        } else {
            Err(DurableError::FlushFailed(p.error.clone().unwrap_or_else(|| {
                Arc::new(std::io::Error::other("flush failed"))
            })))
        }
    }
}

impl GroupCommit {
    /// Waits until every write made durable before this call is also finished with (`then`
    /// has run for its flush): for readers that look past what the flush left in memory.
    pub async fn settled(&self) -> Result<(), DurableError> {
        // A failed flush never advances `durable`, so `then` has run or is running for `target`.
        let target = self.progress.borrow().durable;
        self.settled
            .subscribe()
            .wait_for(|settled| *settled >= target)
            .await
            .map_err(|_| DurableError::FlusherGone)?;
        Ok(())
    }
}

fn flusher<F, T, R>(this: Weak<GroupCommit>, flush: F, then: T)
where
    F: Fn() -> std::io::Result<R>,
    T: Fn(R),
{
    let mut done = 0u64;
    while let Some(gc) = this.upgrade() {
        let target = {
            let Ok(mut t) = gc.tickets.lock() else { return };
            while t.issued == done && !t.stop {
                t.idle = true;
                let Ok(guard) = gc.wake.wait(t) else { return };
                t = guard;
            }
            t.idle = false;
            if t.issued == done {
                return;
            }
            t.issued
        };
        // Every ticket <= target was taken after its write, so this flush covers them all.
        let (result, rest) = match flush() {
            Ok(rest) => (Ok(()), Some(rest)),
            Err(e) => (Err(Arc::new(e)), None),
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, "store flush failed; waiting writers get an error");
        }
        gc.progress.send_modify(|p| match result {
            Ok(()) => p.durable = target,
            Err(e) => {
                p.failed = target;
                p.error = Some(e);
            }
        });
        done = target;
        if let Some(rest) = rest {
            then(rest);
            gc.settled.send_replace(target);
        }
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
            assert!(w.await.unwrap().is_ok());
        }
        let n = flushes.load(Ordering::SeqCst);
        assert!((1..200).contains(&n), "200 waiters took {n} flushes");
    }

    #[tokio::test]
    async fn a_failed_flush_fails_its_waiters() {
        let gc = GroupCommit::start(|| Err(std::io::Error::other("disk gone")));
        let e = gc.durable().await.unwrap_err();
        assert!(matches!(e, DurableError::FlushFailed(_)), "{e:?}");
        let cause = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(cause.as_deref(), Some("disk gone"));
    }
}
