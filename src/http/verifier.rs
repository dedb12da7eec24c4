//! Signature checks batched across the requests a worker thread has in hand.
//!
//! Each worker runs many connections on one thread. A request that reaches its signature check
//! joins its thread's open batch; the first to join leads it: it yields once, so that every
//! other request the thread can make progress on reaches its own check and joins, then checks
//! the whole batch with [`verify_all`] and hands each member its answer. Nothing waits on a timer,
//! so a lone request costs one extra turn of the scheduler, and a burst (as after a group
//! commit wakes many writers at once) shares one batch.

use crate::signing::{Claim, verify_all};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

struct Member {
    claim: Claim,
    answer: oneshot::Sender<bool>,
}

type Batch = Arc<Mutex<Vec<Member>>>;

thread_local! {
    static OPEN: Batch = Batch::default();
}

/// Whether `claim` holds, checked together with the claims other requests on this thread
/// make meanwhile. `sizes` sees the size of every batch this request leads.
pub async fn holds(claim: Claim, sizes: impl Fn(usize)) -> bool {
    let (answer, reply) = oneshot::channel();
    let batch = OPEN.with(Arc::clone);
    let leads = {
        let mut members = lock(&batch);
        members.push(Member { claim, answer });
        members.len() == 1
    };
    if leads {
        // Checked when the leader is dropped, so that a leader whose request is abandoned
        // while it yields still answers the others.
        let leader = Leader { batch, sizes };
        tokio::task::yield_now().await;
        drop(leader);
    }
    // The sender is only dropped unanswered if checking panicked: the claim is not accepted.
    reply.await.unwrap_or(false)
}

struct Leader<F: Fn(usize)> {
    batch: Batch,
    sizes: F,
}

impl<F: Fn(usize)> Drop for Leader<F> {
    fn drop(&mut self) {
        let members = std::mem::take(&mut *lock(&self.batch));
        (self.sizes)(members.len());
        let (claims, answers): (Vec<Claim>, Vec<_>) =
            members.into_iter().map(|m| (m.claim, m.answer)).unzip();
        for (answer, holds) in answers.into_iter().zip(verify_all(&claims)) {
            // A member whose request went away does not need its answer.
            let _ = answer.send(holds);
        }
    }
}

fn lock(batch: &Batch) -> std::sync::MutexGuard<'_, Vec<Member>> {
    // Members are only pushed and taken under the lock; a panic cannot leave the list torn.
    batch.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::PrivateKey;
    use std::cell::RefCell;
    use std::rc::Rc;

    fn claim(good: bool) -> Claim {
        let key = PrivateKey::generate();
        let message = b"(created): 1\n(expires): 2\ndigest: BLAKE-512=x".to_vec();
        let signature = key.sign(&message);
        Claim {
            message: if good { message } else { b"other".to_vec() },
            signature,
            key: key.public_key(),
        }
    }

    #[tokio::test]
    async fn concurrent_requests_on_one_thread_share_a_batch_and_get_their_own_answers() {
        let sizes = Rc::new(RefCell::new(Vec::new()));
        let local = tokio::task::LocalSet::new();
        let answers = local
            .run_until(async {
                let tasks: Vec<_> = (0..20)
                    .map(|i| {
                        let sizes = sizes.clone();
                        tokio::task::spawn_local(async move {
                            holds(claim(i % 7 != 3), |n| sizes.borrow_mut().push(n)).await
                        })
                    })
                    .collect();
                let mut answers = Vec::new();
                for t in tasks {
                    answers.push(t.await.unwrap());
                }
                answers
            })
            .await;
        let expected: Vec<bool> = (0..20).map(|i| i % 7 != 3).collect();
        assert_eq!(answers, expected);
        let sizes = sizes.borrow();
        assert_eq!(
            sizes.iter().sum::<usize>(),
            20,
            "every claim checked once: {sizes:?}"
        );
        assert!(sizes.len() < 20, "some requests shared a batch: {sizes:?}");
    }

    #[tokio::test]
    async fn a_lone_request_and_an_abandoned_leader_still_get_answers() {
        assert!(holds(claim(true), |_| {}).await);
        assert!(!holds(claim(false), |_| {}).await);
        // The leader is dropped while it yields; the follower is still answered.
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let leader = tokio::task::spawn_local(holds(claim(true), |_| {}));
                let follower = tokio::task::spawn_local(holds(claim(true), |_| {}));
                tokio::task::yield_now().await;
                leader.abort();
                assert!(follower.await.unwrap());
            })
            .await;
    }
}
