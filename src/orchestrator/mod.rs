//! The cancellation orchestrator: the order model, the reason tables, the pure state machine,
//! and the translation between Beckn messages and its events and commands.
//!
//! Nothing here does I/O. The HTTP edge reads a message into an [`Event`]; the store runs
//! [`transition`] and persists the new order together with the outbox entries of its
//! [`Command`]s in one atomic step; the outbox worker sends them.

mod events;
mod machine;
mod messages;
mod model;
pub mod reasons;
pub mod requests;
mod states;

pub use events::{EventError, order_id_of, read_event};
pub use machine::{Inputs, Outcome, Refusal, transition};
pub use messages::{Addressed, Identity, build};
pub use model::{
    Callback, CancelRequest, Cancellation, Command, Escrow, Event, Fulfillment, FulfillmentReport, Leg,
    LegStatus, LogisticsLeg, Money, Order, OrderStatus, RequestStatus, RetailLeg, StateReport,
};
pub use reasons::Party;
pub use states::{FulfillmentState, OrderState, UnknownState};

#[cfg(test)]
mod machine_tests;
