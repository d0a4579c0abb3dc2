//! # maxc-driver
//!
//! Thin async adapters around `maxc-core`'s pure machines: a [`Transport`] that carries request
//! values over HTTP (hyper over tokio, or over turmoil's simulated network), a drive loop
//! ([`Pump`]) that feeds replies and deadlines into a machine, sleeping with `tokio::time` only
//! (so it runs under turmoil's virtual time too), and the async API engines call:
//! [`SinkWriter`] and [`Committer`].
#![warn(missing_docs)]

pub mod clock;
pub mod connect;
pub mod error;
pub mod pump;
pub mod sink;
pub mod transport;

pub use clock::{SystemWallClock, WallClockSource};
pub use error::DriverError;
pub use pump::{Pump, Turn};
pub use sink::{Committer, SinkWriter};
pub use transport::{BoxFuture, HyperTransport, Transport, TransportConfig};
