//! Dimension (lookup) tables: a pure machine that loads whole partitions into memory and
//! reloads them on a schedule.
//!
//! (Module docs with the state table follow with the machine.)

pub mod blacklist;
pub mod cache;
pub mod key;
pub mod machine;

pub use blacklist::{BlacklistError, BlacklistWindow, ReloadBlacklist, UtcOffset, UtcOffsetError};
pub use cache::{CacheBuildError, CacheBuilder, KeySpec, LookupCache};
pub use key::{KeyError, KeyValue, LookupKey};
pub use machine::{LookupError, LookupEvent, LookupMachine, LookupMachineConfig};

#[cfg(test)]
mod tests;
