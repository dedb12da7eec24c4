//! Protocol types shared by every room of the gateway: identifiers parsed once at the edge.
//!
//! Nothing here does I/O. A value of one of these types has already been checked, so the code
//! behind the edge never re-validates a string.

mod ids;

pub use ids::{IdError, SubscriberId, UniqueKeyId};
