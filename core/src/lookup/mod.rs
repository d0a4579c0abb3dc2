//! Dimension (lookup) tables: a pure machine that loads whole partitions into memory and
//! reloads them on a schedule, and the in-memory table it builds.
//!
//! | item | module | holds |
//! |---|---|---|
//! | [`LookupMachine`] | [`machine`] | loads the `partition` option's partitions (`max_pt()`, `max_two_pt()`, a spec) through download sessions, enforces `cacheSize`, retries the first load `maxLoadRetries` times, reloads after `cacheTTLMs` re-resolving `max_pt()` outside blacklist windows; the state table is on the type |
//! | [`LookupCache`], [`CacheBuilder`], [`KeySpec`] | [`cache`] | the loaded batches and a key index; primary-key (one row) or non-unique (all rows) lookups |
//! | [`LookupKey`], [`KeyValue`] | [`key`] | hashable keys from Arrow scalars, compared exactly |
//! | [`ReloadBlacklist`], [`UtcOffset`] | [`blacklist`] | `cacheReloadTimeBlackList` parsing and window arithmetic |
//!
//! `cache = 'ALL'` is the only strategy: the options reject anything else and
//! [`LookupMachineConfig::from_lookup_config`] matches on it. Lookups only read the cache
//! ([`LookupMachine::cache`] hands out an `Arc` that a driver can share with lookup callers);
//! a reload builds a new cache beside the old one and swaps it in when complete, so lookups
//! never see a partial table (memory for both is needed during a reload).

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
