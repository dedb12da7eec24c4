//! The cancellation orchestrator: the order model, the reason tables, the pure state machine,
//! and the translation between Beckn messages and its events and commands.
//!
//! Nothing here does I/O. Every rule of a cancellation lives here and is decided by [`step`]:
//! a network message (read into an [`Event`] by [`read_event`]) or a REST action goes in, the new
//! order, its [`Command`]s and its [`Notice`]s come out, or a [`Refusal`]. The service runs the
//! step inside the store's atomic step; the outbox worker sends the commands, built by [`build`].

mod charges;
mod events;
mod machine;
mod messages;
mod model;
pub mod reasons;
mod refusal;
mod registration;
mod requests;
mod states;
mod step;

pub use events::{EventError, order_id_of, read_event};
pub use machine::{Inputs, Outcome, transition};
pub use messages::{Addressed, Identity, build};
pub use model::{
    BuyerAction, BuyerApp, Callback, CancelParams, CancelRequest, Cancellation, ChargeLine, Claim, ClaimKind,
    Command, Deadlines, Escrow, Event, FailedMessage, Fulfillment, FulfillmentReport, Leg, LegRefusal,
    LegStatus, LogisticsLeg, Money, Order, OrderStatus, PartCancel, PartCancelReport, RefusedHow,
    RequestStatus, RetailLeg, StateReport, Timer, TimerKind,
};
pub use reasons::Party;
pub use refusal::Refusal;
pub use registration::admit;
pub use requests::{Actor, RestAction};
pub use states::{FulfillmentState, OrderState, UnknownState};
pub use step::{Input, Network, Notice, NoticeKind, Step, status_of, step};

#[cfg(test)]
mod conformance_tests;
#[cfg(test)]
mod machine_tests;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod step_tests;
