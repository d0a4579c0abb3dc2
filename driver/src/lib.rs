//! # maxc-driver
//!
//! Thin async adapters around `maxc-core`'s pure machines: a [`Transport`] that carries request
//! values over HTTP (hyper over tokio, or over turmoil's simulated network), and drive loops that
//! feed replies and deadlines into a machine, sleeping with `tokio::time` only (so they run under
//! turmoil's virtual time too).
#![warn(missing_docs)]

pub mod clock;
pub mod pump;
pub mod transport;

pub use clock::{SystemWallClock, WallClockSource};
pub use pump::{Pump, Turn};
pub use transport::{BoxFuture, HyperTransport, Transport, TransportConfig};
