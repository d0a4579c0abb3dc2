//! # maxc-driver
//!
//! Thin async adapters around `maxc-core`'s pure machines: a [`Transport`] that carries request
//! values over HTTP (hyper over tokio, or over turmoil's simulated network), a drive loop
//! ([`Pump`]) that feeds replies and deadlines into a machine, sleeping with `tokio::time` only
//! (so it runs under turmoil's virtual time too), and the async API engines call:
//! [`SinkWriter`] and [`Committer`] (sinks), [`Source`] (or [`SourceEnumerator`] plus
//! [`SourceReader`]s for engines that read in parallel subtasks) and [`LookupTable`]
//! (dimension tables).
#![warn(missing_docs)]

pub mod clock;
pub mod connect;
pub mod error;
pub mod lookup;
pub mod pump;
pub mod sink;
pub mod source;
pub mod transport;

pub use clock::{SystemWallClock, WallClockSource};
pub use error::DriverError;
pub use lookup::{LookupBuilder, LookupReader, LookupStatus, LookupTable, RefreshOutcome};
pub use pump::{Pump, Turn};
pub use sink::{Committer, SinkWriter};
pub use source::{
    Source, SourceBatch, SourceBuilder, SourceEnumerator, SourceEvent, SourceMachine, SourceReader,
    SourceSnapshot, SourceStats,
};
pub use transport::{BoxFuture, HyperTransport, Transport, TransportConfig};
