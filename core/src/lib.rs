//! # maxc-core
//!
//! The sans-IO core of maxc, a MaxCompute (ODPS) connector toolkit.
//!
//! Everything here is pure: time (`now`) and bytes go in; requests, events and deadlines
//! come out. This crate never awaits, never reads a clock, never opens a socket and never
//! draws random numbers. See `docs/architecture.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod arrow_frame;
pub mod auth;
pub mod codec;
pub mod compress;
pub mod hash;
pub mod http;
pub mod lookup;
pub mod machine;
pub mod options;
pub mod partition;
pub mod sink;
pub mod source;
pub mod time;
pub mod types;
