//! Why the decision step refuses an input. One enum for both doors: a refused network message
//! becomes a Beckn NACK with its ONDC code (and the JSON path where there is one), a refused REST
//! action becomes an HTTP error; both read the same variant.

use crate::protocol::ErrorType;

/// A refused input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 20007: the input makes no sense in the order's state.
    #[error("{0}")]
    InvalidOrderState(String),
    /// 20007 at a path: the message names another order than its transaction's.
    #[error("{message}")]
    WrongOrder {
        /// JSON path of the order id.
        path: &'static str,
        /// What is wrong.
        message: String,
    },
    /// 20008: a response nobody asked for, or not the one awaited.
    #[error("{0}")]
    OutOfSequence(String),
    /// 50007: the fulfillment is not part of the order.
    #[error("{0}")]
    FulfillmentNotFound(String),
    /// 50008: the fulfillment is terminal and cannot change.
    #[error("{0}")]
    FulfillmentTerminal(String),
    /// 20006: the message cannot be read as an event of the order.
    #[error("{message}")]
    Unreadable {
        /// JSON path of the problem.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// 30012: the cancellation reason is not one the sender may use (or is missing).
    #[error("{message}")]
    InvalidReason {
        /// JSON path of the reason, for network messages.
        path: Option<&'static str>,
        /// What is wrong.
        message: String,
    },
    /// 22502: a counterpart cancels without a reason, so the cancellation is unacceptable.
    #[error("{message}")]
    MissingReason {
        /// JSON path of the reason.
        path: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A context field that contradicts the order (`bpp_id` not its seller).
    #[error("{message}")]
    WrongContext {
        /// JSON path of the field.
        path: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The sender is not this order's counterpart on this leg.
    #[error("{0}")]
    NotCounterpart(String),
    /// REST: the caller may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// REST: no such order or request (404).
    #[error("{0}")]
    NotFound(String),
    /// REST: already decided, or a request is pending (409).
    #[error("{0}")]
    Conflict(String),
    /// REST: a field is wrong (422).
    #[error("{0}")]
    Unprocessable(String),
}

impl Refusal {
    /// The ONDC error code of the NACK.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidOrderState(_) | Self::WrongOrder { .. } => "20007",
            Self::OutOfSequence(_) => "20008",
            Self::FulfillmentNotFound(_) => "50007",
            Self::FulfillmentTerminal(_) => "50008",
            Self::Unreadable { .. } => "20006",
            Self::InvalidReason { .. } => "30012",
            Self::MissingReason { .. } => "22502",
            Self::WrongContext { .. }
            | Self::NotCounterpart(_)
            | Self::Forbidden(_)
            | Self::NotFound(_)
            | Self::Conflict(_)
            | Self::Unprocessable(_) => "10000",
        }
    }

    /// The Beckn error type of the NACK.
    pub fn error_type(&self) -> ErrorType {
        match self {
            Self::WrongContext { .. } => ErrorType::Context,
            Self::NotCounterpart(_) | Self::Forbidden(_) => ErrorType::Policy,
            Self::InvalidOrderState(_)
            | Self::WrongOrder { .. }
            | Self::OutOfSequence(_)
            | Self::FulfillmentNotFound(_)
            | Self::FulfillmentTerminal(_)
            | Self::Unreadable { .. }
            | Self::InvalidReason { .. }
            | Self::MissingReason { .. }
            | Self::NotFound(_)
            | Self::Conflict(_)
            | Self::Unprocessable(_) => ErrorType::Domain,
        }
    }

    /// The JSON path the NACK points at, when there is one.
    pub fn path(&self) -> Option<String> {
        match self {
            Self::WrongOrder { path, .. }
            | Self::WrongContext { path, .. }
            | Self::MissingReason { path, .. } => Some((*path).to_owned()),
            Self::Unreadable { path, .. } => Some(path.clone()),
            Self::InvalidReason { path, .. } => path.map(str::to_owned),
            Self::InvalidOrderState(_)
            | Self::OutOfSequence(_)
            | Self::FulfillmentNotFound(_)
            | Self::FulfillmentTerminal(_)
            | Self::NotCounterpart(_)
            | Self::Forbidden(_)
            | Self::NotFound(_)
            | Self::Conflict(_)
            | Self::Unprocessable(_) => None,
        }
    }

    /// The HTTP status of the NACK to a network message: 403 when the sender has no say over
    /// the order, 400 otherwise.
    pub fn network_status(&self) -> u16 {
        match self {
            Self::NotCounterpart(_) | Self::Forbidden(_) => 403,
            _ => 400,
        }
    }

    /// The HTTP status of the answer to a REST action.
    pub fn rest_status(&self) -> u16 {
        match self {
            Self::Forbidden(_) | Self::NotCounterpart(_) => 403,
            Self::NotFound(_) => 404,
            Self::Conflict(_)
            | Self::InvalidOrderState(_)
            | Self::WrongOrder { .. }
            | Self::OutOfSequence(_)
            | Self::FulfillmentTerminal(_) => 409,
            Self::Unprocessable(_)
            | Self::InvalidReason { .. }
            | Self::FulfillmentNotFound(_)
            | Self::Unreadable { .. }
            | Self::MissingReason { .. }
            | Self::WrongContext { .. } => 422,
        }
    }
}
