//! # maxc-mock
//!
//! A MaxCompute (ODPS) + Tunnel emulator that the official SDKs use unchanged.
//!
//! The logic is a pure [`Service`]: `Service::handle(request, now) -> response` over
//! in-memory state, with time passed in and ids from a seeded generator, so a simulator
//! can run it in-process with virtual time. [`http_layer`] is a thin axum/hyper layer
//! around it, and [`MockServer::start`] runs it on a loopback port for tests:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let server = maxc_mock::MockServer::start(maxc_mock::MockConfig::default()).await?;
//! println!("pyodps endpoint: {}", server.endpoint()); // http://127.0.0.1:PORT/api
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! See `docs/mockserver.md` for the admin API, fault rules and known divergences.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod catalog;
pub mod cli;
pub mod error;
pub mod faults;
pub mod fixtures;
pub mod http_layer;
pub mod payload;
pub mod render;
pub mod rng;
pub mod server;
pub mod service;
pub mod sessions;
pub mod spec;
pub mod sql;
pub mod storage;
pub mod time;
pub mod values;
pub mod xml;

pub use error::MockError;
pub use server::{MockConfig, MockServer, MockServerHandle, serve};
pub use service::{
    DEFAULT_ACCESS_ID, DEFAULT_ACCESS_KEY, DEFAULT_PROJECT, Operation, Reply, Service,
    ServiceConfig, WireEffect,
};
pub use time::MockTime;
