//! The in-memory dimension table: the loaded record batches and a key index over them.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use super::key::{KeyError, KeyValue, LookupKey};

/// A deterministic hasher (SipHash with fixed keys): the core draws no random numbers.
type FixedState = BuildHasherDefault<DefaultHasher>;

/// Which columns form the lookup key, and whether a key identifies one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// Key column names, in key order (compared case-insensitively with the schema).
    pub columns: Vec<String>,
    /// `true` for a primary key (one row per key: the last row read wins when the table has
    /// duplicates); `false` for a non-unique key (every row with the key, in read order).
    pub unique: bool,
}

impl KeySpec {
    /// A primary key over `columns`.
    pub fn primary<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Self {
        Self {
            columns: columns.into_iter().map(Into::into).collect(),
            unique: true,
        }
    }

    /// A non-unique key over `columns`.
    pub fn non_unique<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Self {
        Self {
            columns: columns.into_iter().map(Into::into).collect(),
            unique: false,
        }
    }

    /// The positions of the key columns in `schema`, checking that each exists and can be a
    /// key.
    pub fn resolve(&self, schema: &SchemaRef) -> Result<Vec<usize>, KeyError> {
        if self.columns.is_empty() {
            return Err(KeyError::NoColumns);
        }
        self.columns
            .iter()
            .map(|name| {
                let idx = schema
                    .fields()
                    .iter()
                    .position(|f| f.name().eq_ignore_ascii_case(name))
                    .ok_or_else(|| KeyError::UnknownColumn {
                        column: name.clone(),
                        available: schema
                            .fields()
                            .iter()
                            .map(|f| f.name().as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                    })?;
                let dt = schema.field(idx).data_type();
                if !KeyValue::supports(dt) {
                    return Err(KeyError::UnsupportedType {
                        column: name.clone(),
                        data_type: dt.to_string(),
                    });
                }
                Ok(idx)
            })
            .collect()
    }
}

/// Where a row lives: batch index and row within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RowRef {
    batch: u32,
    row: u32,
}

/// A loaded, immutable dimension table with its key index.
///
/// Built with [`CacheBuilder`]; shared read-only (`Arc<LookupCache>`) with whoever serves
/// lookups while the machine builds the next one.
#[derive(Debug)]
pub struct LookupCache {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    index: HashMap<LookupKey, Vec<RowRef>, FixedState>,
    unique: bool,
    rows: u64,
    generation: u64,
}

impl LookupCache {
    /// The schema of the rows.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Rows loaded (including rows whose key is NULL, which no lookup finds).
    pub fn row_count(&self) -> u64 {
        self.rows
    }

    /// Distinct keys indexed.
    pub fn key_count(&self) -> usize {
        self.index.len()
    }

    /// Whether the key is unique (primary key).
    pub fn is_unique(&self) -> bool {
        self.unique
    }

    /// Load number: 1 for the first load, +1 for every completed reload.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The rows with `key`: at most one for a primary key, every matching row in read order
    /// otherwise. Each row is a one-row slice of the loaded batches (no copy).
    pub fn get(&self, key: &LookupKey) -> Vec<RecordBatch> {
        self.index
            .get(key)
            .map(|refs| {
                refs.iter()
                    .filter_map(|r| {
                        self.batches
                            .get(r.batch as usize)
                            .map(|b| b.slice(r.row as usize, 1))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The rows with `key` as one record batch (empty when none).
    pub fn get_batch(&self, key: &LookupKey) -> Result<RecordBatch, arrow_schema::ArrowError> {
        let rows = self.get(key);
        arrow_select::concat::concat_batches(&self.schema, &rows)
    }

    /// The single row of a primary key, or `None`.
    pub fn get_one(&self, key: &LookupKey) -> Option<RecordBatch> {
        self.get(key).into_iter().next_back()
    }
}

/// Builds a [`LookupCache`] from decoded batches.
#[derive(Debug)]
pub struct CacheBuilder {
    schema: SchemaRef,
    key_indices: Vec<usize>,
    unique: bool,
    batches: Vec<RecordBatch>,
    index: HashMap<LookupKey, Vec<RowRef>, FixedState>,
    rows: u64,
}

/// A batch could not be added to a cache.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheBuildError {
    /// A key value could not be read.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The batch's schema is not the cache's.
    #[error("batch schema does not match the cache schema")]
    SchemaMismatch,
    /// More than 2^32 batches or rows per batch.
    #[error("too many batches or rows for the cache index")]
    TooLarge,
}

impl CacheBuilder {
    /// An empty builder for rows of `schema`, keyed by `key`.
    pub fn new(schema: SchemaRef, key: &KeySpec) -> Result<Self, KeyError> {
        let key_indices = key.resolve(&schema)?;
        Ok(Self {
            schema,
            key_indices,
            unique: key.unique,
            batches: Vec::new(),
            index: HashMap::default(),
            rows: 0,
        })
    }

    /// Rows added so far.
    pub fn row_count(&self) -> u64 {
        self.rows
    }

    /// Adds a batch and indexes its rows.
    pub fn push(&mut self, batch: RecordBatch) -> Result<(), CacheBuildError> {
        if batch.schema().fields() != self.schema.fields() {
            return Err(CacheBuildError::SchemaMismatch);
        }
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let b = u32::try_from(self.batches.len()).map_err(|_| CacheBuildError::TooLarge)?;
        for row in 0..batch.num_rows() {
            let r = u32::try_from(row).map_err(|_| CacheBuildError::TooLarge)?;
            let Some(key) = LookupKey::from_batch(&batch, &self.key_indices, row)? else {
                continue;
            };
            let at = RowRef { batch: b, row: r };
            let slot = self.index.entry(key).or_default();
            if self.unique {
                slot.clear();
            }
            slot.push(at);
        }
        self.rows += batch.num_rows() as u64;
        self.batches.push(batch);
        Ok(())
    }

    /// The finished cache.
    pub fn finish(self, generation: u64) -> LookupCache {
        LookupCache {
            schema: self.schema,
            batches: self.batches,
            index: self.index,
            unique: self.unique,
            rows: self.rows,
            generation,
        }
    }
}
