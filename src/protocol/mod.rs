//! Protocol types shared by every room of the gateway: identifiers parsed once at the edge.
//!
//! Nothing here does I/O. A value of one of these types has already been checked, so the code
//! behind the edge never re-validates a string.

mod ack;
mod action;
mod context;
mod ids;
mod json;
mod schema;

pub use ack::{ACK_BODY, ACK_TEXT, ErrorType, NackError, nack_body};
pub use action::{Action, DomainFamily, UnknownAction};
pub use context::{
    Context, ContextError, check_context, duration_secs, excerpt, format_timestamp, is_city_code,
    parse_timestamp, peek_family,
};
pub use ids::{IdError, MessageId, SubscriberId, TransactionId, UniqueKeyId};
pub use json::parse_strict;
pub use schema::{SchemaError, SchemaViolation, Schemas};
