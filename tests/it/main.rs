//! The integration test binary: everything here runs the real `ondc-gateway` binary or the real
//! server, and ONDC's official Node SDK where interop is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod app;
mod bench;
mod cascade;
mod cli;
mod crash;
mod crash_scale;
mod disk;
mod examples;
mod hostile;
mod limits;
mod malformed;
mod peers;
mod postgres;
mod receiver;
mod registry;
mod replay;
mod rest;
mod sdk_interop;
mod shutdown;
mod signing_vectors;
mod support;
