//! The thin service between the doors (Beckn endpoints, REST, replay, tests) and the core: it
//! runs [`orchestrator::step`] inside the store's atomic step and turns what the step decided
//! into what the store writes — the order, outbox entries for its commands, notifications for
//! its notices — and wakes the outbox worker. It decides nothing itself.

mod effects;
pub mod timers;

use crate::clock::Clock;
use crate::orchestrator::{
    self, Actor, Deadlines, Event, Identity, Input, Inputs, Leg, Network, Order, Refusal, RestAction, Step,
    Timer, order_id_of, read_event,
};
use crate::protocol::{ACK_TEXT, Context, MessageId, NackError, nack_body};
use crate::store::{
    Accepted, Decision, Effect, InboundRecord, OutboxEntry, RequeueError, Store, StoreError, StoredAnswer,
    UpdateError,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

/// What the doors share to change orders.
pub struct Service {
    store: Arc<dyn Store>,
    identity: Identity,
    webhook_url: Option<String>,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    deadlines: Deadlines,
    max_pending: u64,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("identity", &self.identity.subscriber_id)
            .finish_non_exhaustive()
    }
}

/// The answer to a network message the step refused: a NACK with the refusal's ONDC code.
pub fn nack_for(refusal: &Refusal) -> StoredAnswer {
    StoredAnswer {
        status: refusal.network_status(),
        body: nack_body(&NackError {
            kind: refusal.error_type(),
            code: refusal.code(),
            message: refusal.to_string(),
            path: refusal.path(),
        }),
    }
}

/// The ACK.
pub fn ack() -> StoredAnswer {
    StoredAnswer {
        status: 200,
        body: ACK_TEXT.to_owned(),
    }
}

impl Service {
    /// A service over `store`, building messages as `identity`; `wake` is the outbox worker's.
    pub fn new(
        store: Arc<dyn Store>,
        identity: Identity,
        webhook_url: Option<String>,
        clock: Arc<dyn Clock>,
        wake: Arc<Notify>,
        deadlines: Deadlines,
    ) -> Self {
        Self {
            store,
            identity,
            webhook_url,
            clock,
            wake,
            deadlines,
            max_pending: u64::MAX,
        }
    }

    /// Refuses new work while `max` messages or more wait to be delivered.
    pub fn with_max_pending(mut self, max: u64) -> Self {
        self.max_pending = max;
        self
    }

    /// Whether the outbox is full: the doors answer 503 instead of taking new work.
    pub fn outbox_full(&self) -> bool {
        self.store.pending_outbox() >= self.max_pending
    }

    /// The store, for reads.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Who we are on the network.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Runs the decision step with fresh message ids, our identity and our deadlines.
    fn decide(&self, order: Option<&Order>, input: &Input<'_>, now: DateTime<Utc>) -> Result<Step, Refusal> {
        let mut new_id = MessageId::generate;
        let mut inputs = Inputs {
            now,
            our_id: &self.identity.subscriber_id,
            new_id: &mut new_id,
            deadlines: self.deadlines,
        };
        orchestrator::step(order, input, &mut inputs)
    }

    fn effect(&self, step: Step, unchanged: Option<&Order>, now: DateTime<Utc>) -> Option<Effect> {
        let order = step.order.or_else(|| {
            // A step that changed nothing but still has something to say is written against the
            // order as it was.
            (!step.commands.is_empty() || !step.notices.is_empty() || !step.timers.is_empty())
                .then(|| unchanged.cloned())
                .flatten()
        })?;
        let mut effect = effects::effect(
            &self.identity,
            self.webhook_url.as_deref(),
            order,
            &step.commands,
            step.notices,
            now,
        );
        effect.timers = step.timers;
        Some(effect)
    }

    /// Fires a due timer: in one atomic step the timer is removed and what the decision step
    /// makes of it is written, so it fires once. `false` if it had fired already.
    pub async fn fire(&self, timer: &Timer) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let decide = |order: &Order| -> Result<Effect, Refusal> {
            let step = self.decide(Some(order), &Input::Timer(&timer.kind), now)?;
            Ok(self
                .effect(step, Some(order), now)
                .unwrap_or_else(|| Effect::unchanged(order)))
        };
        let fired = self.store.fire_timer(timer, &decide).await?;
        if fired {
            self.wake.notify_one();
        }
        Ok(fired)
    }

    /// Stores a verified, valid network message and what it does to its order, in one atomic
    /// step; durable when it returns. `record.answer` is replaced by the step's answer: ACK, or
    /// the refusal's NACK. A duplicate gets the first answer and changes nothing.
    pub async fn receive(
        &self,
        record: InboundRecord,
        context: &Context,
        body: &Value,
    ) -> Result<Accepted, StoreError> {
        let event = read_event(context, body);
        let order_ref = order_id_of(context, body);
        let now = self.clock.now();
        // Whether the decision that was stored sends anything (a store may decide twice, as
        // PostgreSQL's does under its lock; the last decision is the one written).
        let sends = AtomicBool::new(false);
        let decide = |order: Option<&Order>| {
            let input = Input::Network(Network {
                context,
                order_ref: order_ref.as_deref(),
                event: &event,
            });
            let decision = match self.decide(order, &input, now) {
                Ok(step) => Decision {
                    answer: ack(),
                    effect: self.effect(step, order, now),
                },
                Err(refusal) => Decision {
                    answer: nack_for(&refusal),
                    effect: None,
                },
            };
            let enqueues = decision.effect.as_ref().is_some_and(|e| !e.outbox.is_empty());
            sends.store(enqueues, Ordering::Relaxed);
            decision
        };
        let accepted = self.store.accept_inbound(record, &decide).await?;
        if matches!(accepted, Accepted::New { .. }) && sends.load(Ordering::Relaxed) {
            // What the step enqueued goes out now rather than at the worker's next poll; most
            // callbacks enqueue nothing, and waking the worker for them costs a thread switch.
            self.wake.notify_one();
        }
        Ok(accepted)
    }

    /// Runs a REST action on order `order_id` in one atomic step; durable when it returns.
    pub async fn act(
        &self,
        order_id: &str,
        actor: Actor<'_>,
        action: RestAction<'_>,
    ) -> Result<Result<Order, Refusal>, StoreError> {
        let now = self.clock.now();
        let decide = |order: &Order| -> Result<Effect, Refusal> {
            let step = self.decide(Some(order), &Input::Rest { actor, action }, now)?;
            Ok(self
                .effect(step, Some(order), now)
                .unwrap_or_else(|| Effect::unchanged(order)))
        };
        match self.store.update_order(order_id, &decide).await? {
            Ok(order) => {
                self.wake.notify_one();
                Ok(Ok(order))
            }
            Err(UpdateError::NotFound) => Ok(Err(Refusal::NotFound(format!("no order {order_id}")))),
            Err(UpdateError::Refused(refusal)) => Ok(Err(refusal)),
        }
    }

    /// Tells the order that one of its messages will not be delivered by retrying: refused for
    /// good (`permanent`) or out of attempts. Taken once per message; durable when it returns.
    pub async fn delivery_failed(
        &self,
        entry: &OutboxEntry,
        leg: Leg,
        permanent: bool,
        code: Option<String>,
        reason: String,
    ) -> Result<(), StoreError> {
        let event = Event::DeliveryFailed {
            message_id: entry.message_id.clone(),
            action: entry.action.clone(),
            leg,
            permanent,
            code,
            reason,
        };
        let now = self.clock.now();
        let decide = |order: &Order| -> Result<Effect, Refusal> {
            let step = self.decide(Some(order), &Input::Delivery(&event), now)?;
            Ok(self
                .effect(step, Some(order), now)
                .unwrap_or_else(|| Effect::unchanged(order)))
        };
        match self.store.update_order(&entry.order_id, &decide).await? {
            Ok(_) => self.wake.notify_one(),
            // The order is gone or the step refused: nothing to record it on.
            Err(e) => {
                tracing::warn!(order_id = %entry.order_id, message_id = %entry.message_id, refusal = ?e, "a failed message has no order to record it on")
            }
        }
        Ok(())
    }

    /// Registers an order; `false` if its id or one of its transaction ids is taken.
    pub async fn register(&self, order: &Order) -> Result<bool, StoreError> {
        self.store.insert_order(order).await
    }

    /// Puts a failed message back in the queue, same message_id and bytes.
    pub async fn requeue(
        &self,
        order_id: &str,
        message_id: &str,
    ) -> Result<Result<OutboxEntry, RequeueError>, StoreError> {
        let result = self.store.requeue_failed(order_id, message_id).await?;
        if result.is_ok() {
            self.wake.notify_one();
        }
        Ok(result)
    }
}
