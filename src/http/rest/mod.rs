//! The REST API for platforms, customers and providers (`/api/v1/…`), JSON in and out.

pub mod auth;
pub mod error;
pub mod orders;
