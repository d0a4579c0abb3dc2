//! Partition specs, partition patterns for sources and partition targets for sinks.
//!
//! # Forms
//!
//! A [`PartitionSpec`] is an ordered list of `key=value` levels. It is written in three forms:
//!
//! | form | example | used by |
//! |---|---|---|
//! | tunnel | `ds=20180905,hh=01` | tunnel `partition=` query parameters (no quotes, no escaping) |
//! | metadata | `ds='20180905',hh='01'` | REST metadata calls and SQL (`PARTITION (…)`) |
//! | directory | `ds=20180905/hh=01` | storage API, partition names, paths |
//!
//! The parser accepts all of them: levels separated by `,` or `/`, values bare or quoted with
//! `'…'` or `"…"`. Inside quotes a backslash escapes the next character (`\'`, `\"`, `\\`,
//! `\,`, `\=`, `\/` give the character itself), so any value can be written. Whitespace around
//! keys and values is trimmed (`ds = 2018` is `ds=2018`), but a bare value with spaces *inside*
//! (`ds=2018 09`) is rejected with [`PartitionError::UnquotedSpace`], which suggests the quoted
//! form (`ds='2018 09'`): silently keeping or dropping the space is the classic pitfall.
//!
//! # Ordering
//!
//! Partitions are ordered **as strings, level by level** (this is how the service orders
//! partitions for `max_pt()` and how incremental sources compare against `startPartition`).
//! String order is not numeric order: `month=10` sorts **before** `month=9`. Zero-pad
//! numeric partition values (`month=09`) so that string order and time order agree.
//! Strings compare by Unicode code point (UTF-8 byte order).

mod parse;
mod pattern;
mod sink;

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::types::{OdpsType, TableSchema};

pub use pattern::{LevelPattern, PartitionPattern, StartPartition, ValueMatcher};
pub use sink::{DynamicPartition, RoutingError, SinkPartition};

/// A partition spec, its validation against a schema, or a partition option was invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    /// Two separators in a row, or a leading or trailing separator.
    #[error(
        "invalid partition spec `{input}`: empty level at byte {position} (stray or doubled separator)"
    )]
    EmptyLevel {
        /// The whole input.
        input: String,
        /// Byte offset of the empty level.
        position: usize,
    },
    /// `=value` without a key.
    #[error("invalid partition spec `{input}`: missing key before `=` at byte {position}")]
    EmptyKey {
        /// The whole input.
        input: String,
        /// Byte offset of the level.
        position: usize,
    },
    /// A key with whitespace, quotes or other characters a column name cannot have.
    #[error("invalid partition spec `{input}`: `{key}` is not a valid partition column name")]
    InvalidKey {
        /// The whole input.
        input: String,
        /// The offending key.
        key: String,
    },
    /// A level without `=value` where a value is required.
    #[error(
        "invalid partition spec `{input}`: level `{key}` has no value (expected `{key}=<value>`)"
    )]
    MissingValue {
        /// The whole input.
        input: String,
        /// The key without a value.
        key: String,
    },
    /// An empty value (`ds=` or `ds=''`); MaxCompute partition values cannot be empty.
    #[error("partition value of `{key}` is empty; MaxCompute partition values cannot be empty")]
    EmptyValue {
        /// The key.
        key: String,
    },
    /// A bare value with whitespace inside it.
    #[error(
        "partition value `{value}` of `{key}` contains whitespace; quote it if the space is intended: {key}='{value}'"
    )]
    UnquotedSpace {
        /// The key.
        key: String,
        /// The trimmed value.
        value: String,
    },
    /// A bare value with `=`, a quote or a backslash inside it.
    #[error("partition value `{value}` of `{key}` contains `{ch}`; quote the value: {key}='…'")]
    UnquotedSpecial {
        /// The key.
        key: String,
        /// The trimmed value.
        value: String,
        /// The character.
        ch: char,
    },
    /// A quoted value without its closing quote.
    #[error("invalid partition spec `{input}`: unterminated quoted value for `{key}`")]
    UnterminatedQuote {
        /// The whole input.
        input: String,
        /// The key.
        key: String,
    },
    /// Characters after a closing quote before the next separator.
    #[error(
        "invalid partition spec `{input}`: unexpected characters after the quoted value of `{key}`"
    )]
    TrailingAfterQuote {
        /// The whole input.
        input: String,
        /// The key.
        key: String,
    },
    /// A backslash at the very end of a quoted value.
    #[error("invalid partition spec `{input}`: dangling `\\` in the quoted value of `{key}`")]
    DanglingEscape {
        /// The whole input.
        input: String,
        /// The key.
        key: String,
    },
    /// The same key twice (keys compare case-insensitively).
    #[error("partition column `{key}` appears more than once")]
    DuplicateKey {
        /// The key.
        key: String,
    },
    /// A spec was given for a table without partition columns.
    #[error("table is not partitioned but partition `{spec}` was given")]
    NotPartitioned {
        /// The spec as given.
        spec: String,
    },
    /// A key that is not a partition column of the table.
    #[error("`{key}` is not a partition column of the table (partition columns: {expected})")]
    UnknownKey {
        /// The key.
        key: String,
        /// The table's partition columns, comma separated.
        expected: String,
    },
    /// A partition level is missing (a full spec was required).
    #[error(
        "partition spec `{spec}` is missing level `{key}` (a value for every partition column is required)"
    )]
    MissingLevel {
        /// The spec as given.
        spec: String,
        /// The first missing partition column.
        key: String,
    },
    /// A lower level is given while a higher one is missing (only prefixes are allowed).
    #[error(
        "partition spec `{spec}` gives `{key}` but not the higher level `{missing}`; only a prefix of the partition levels may be given"
    )]
    NotAPrefix {
        /// The spec as given.
        spec: String,
        /// The lower level that is given.
        key: String,
        /// The higher level that is missing.
        missing: String,
    },
    /// A value that does not fit the partition column's integer type.
    #[error("partition value `{value}` of `{key}` is not a valid {ty}")]
    BadValue {
        /// The key.
        key: String,
        /// The column type.
        ty: OdpsType,
        /// The value.
        value: String,
    },
    /// A sink partition option with a static level after a dynamic one (`ds,hh=01`).
    #[error(
        "sink partition `{input}`: static level `{key}` follows a dynamic level; write the static levels first (e.g. `ds=2024,hh`)"
    )]
    StaticAfterDynamic {
        /// The whole input.
        input: String,
        /// The static key.
        key: String,
    },
    /// A wildcard or function where a concrete spec is needed.
    #[error("`{input}` is a pattern; a concrete partition spec is required here")]
    NotConcrete {
        /// The whole input.
        input: String,
    },
    /// More partitions matched than allowed (`maxPartitionCount`).
    #[error(
        "The number of matched partitions exceeds the default limit: {matched} partitions match `{pattern}`, the limit is {limit}"
    )]
    TooManyPartitions {
        /// The pattern.
        pattern: String,
        /// How many matched.
        matched: usize,
        /// The limit.
        limit: usize,
    },
}

/// How much of the partition hierarchy a spec must cover in [`PartitionSpec::validate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecCoverage {
    /// Every partition column must have a value.
    Full,
    /// The spec may give only the first levels (e.g. `ds=…` of `ds,hh`), as for listing
    /// partitions under a prefix. An empty spec is a valid prefix.
    Prefix,
}

/// An ordered list of `key=value` partition levels (see the [module docs](self)).
///
/// Keys are unique (case-insensitively) and values are non-empty. Equality is exact;
/// [`PartitionSpec::validate`] normalises key spelling and order against a table schema.
/// Serialises as its canonical string ([`fmt::Display`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PartitionSpec {
    levels: Vec<(String, String)>,
}

impl PartitionSpec {
    /// The empty spec (a non-partitioned table, or "no restriction" as a prefix).
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a spec in any of the accepted forms. An empty or blank string gives the empty spec.
    pub fn parse(input: &str) -> Result<Self, PartitionError> {
        let mut spec = PartitionSpec::new();
        for level in parse::tokenize(input)? {
            let Some(value) = level.value else {
                return Err(PartitionError::MissingValue {
                    input: input.to_string(),
                    key: level.key,
                });
            };
            spec.push(level.key, value.text)?;
        }
        Ok(spec)
    }

    /// A spec from `(key, value)` pairs in order, checked like a parsed one.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, PartitionError> {
        let mut spec = PartitionSpec::new();
        for (k, v) in pairs {
            spec.push(k, v)?;
        }
        Ok(spec)
    }

    /// Appends a level. The key must be a valid column name not already present; the value
    /// must be non-empty (any characters are allowed; printing quotes as needed).
    pub fn push(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), PartitionError> {
        let key = key.into();
        let value = value.into();
        if key.is_empty() || key.chars().any(parse::is_bad_key_char) {
            return Err(PartitionError::InvalidKey {
                input: format!("{key}={value}"),
                key,
            });
        }
        if value.is_empty() {
            return Err(PartitionError::EmptyValue { key });
        }
        if self.get(&key).is_some() {
            return Err(PartitionError::DuplicateKey { key });
        }
        self.levels.push((key, value));
        Ok(())
    }

    /// The levels in order.
    pub fn levels(&self) -> &[(String, String)] {
        &self.levels
    }

    /// The keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.levels.iter().map(|(k, _)| k.as_str())
    }

    /// The value of `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.levels
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Number of levels.
    pub fn len(&self) -> usize {
        self.levels.len()
    }

    /// True for the empty spec.
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// The first `n` levels.
    pub fn prefix(&self, n: usize) -> PartitionSpec {
        PartitionSpec {
            levels: self.levels.iter().take(n).cloned().collect(),
        }
    }

    /// True when every level of `self` appears in `other` with the same value (keys
    /// case-insensitive): `ds=1` is a prefix of `ds=1,hh=2`.
    pub fn is_prefix_of(&self, other: &PartitionSpec) -> bool {
        self.levels.len() <= other.levels.len()
            && self
                .levels
                .iter()
                .zip(&other.levels)
                .all(|((ka, va), (kb, vb))| ka.eq_ignore_ascii_case(kb) && va == vb)
    }

    /// This spec followed by the levels of `rest`.
    pub fn join(&self, rest: &PartitionSpec) -> Result<PartitionSpec, PartitionError> {
        let mut out = self.clone();
        for (k, v) in &rest.levels {
            out.push(k.clone(), v.clone())?;
        }
        Ok(out)
    }

    /// Tunnel form: `ds=20180905,hh=01`, values unquoted and unescaped, as the tunnel service
    /// expects in `partition=`. A value containing `,` or `=` cannot be told apart in this
    /// form (the SDKs do not escape either); use values without them.
    pub fn to_tunnel_string(&self) -> String {
        self.join_with(',', false)
    }

    /// Metadata form: `ds='20180905',hh='01'`, every value single-quoted with `\` and `'`
    /// backslash-escaped. Used by REST partition calls and SQL `PARTITION (…)` clauses.
    pub fn to_metadata_string(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.levels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push('=');
            parse::push_quoted(&mut out, v);
        }
        out
    }

    /// Directory form: `ds=20180905/hh=01`, values unquoted and unescaped (storage API,
    /// partition names).
    pub fn to_directory_string(&self) -> String {
        self.join_with('/', false)
    }

    fn join_with(&self, sep: char, quote_when_needed: bool) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.levels.iter().enumerate() {
            if i > 0 {
                out.push(sep);
            }
            out.push_str(k);
            out.push('=');
            if quote_when_needed && parse::needs_quotes(v) {
                parse::push_quoted(&mut out, v);
            } else {
                out.push_str(v);
            }
        }
        out
    }

    /// Checks the spec against `schema`'s partition columns and returns it normalised: keys
    /// spelled and ordered as in the schema, integer-typed levels checked.
    ///
    /// With [`SpecCoverage::Full`] every partition column needs a value; with
    /// [`SpecCoverage::Prefix`] the given keys must be the first levels.
    pub fn validate(
        &self,
        schema: &TableSchema,
        coverage: SpecCoverage,
    ) -> Result<PartitionSpec, PartitionError> {
        let cols = &schema.partition_columns;
        if cols.is_empty() {
            if self.is_empty() {
                return Ok(PartitionSpec::new());
            }
            return Err(PartitionError::NotPartitioned {
                spec: self.to_string(),
            });
        }
        for (k, _) in &self.levels {
            if schema.partition_column_index(k).is_none() {
                return Err(PartitionError::UnknownKey {
                    key: k.clone(),
                    expected: partition_column_list(schema),
                });
            }
        }
        let mut out = PartitionSpec::new();
        let mut first_missing: Option<&str> = None;
        for col in cols {
            match self.get(&col.name) {
                Some(v) => {
                    if let Some(missing) = first_missing {
                        return Err(PartitionError::NotAPrefix {
                            spec: self.to_string(),
                            key: col.name.clone(),
                            missing: missing.to_string(),
                        });
                    }
                    check_value_type(&col.name, &col.ty, v)?;
                    out.levels.push((col.name.clone(), v.to_string()));
                }
                None => {
                    if coverage == SpecCoverage::Full {
                        return Err(PartitionError::MissingLevel {
                            spec: self.to_string(),
                            key: col.name.clone(),
                        });
                    }
                    first_missing.get_or_insert(col.name.as_str());
                }
            }
        }
        Ok(out)
    }

    /// Compares two specs as strings, level by level (values first, then keys as a tie
    /// break; a prefix sorts before its extensions). This is the [`Ord`] of this type.
    pub fn cmp_levels(&self, other: &PartitionSpec) -> Ordering {
        for ((ka, va), (kb, vb)) in self.levels.iter().zip(&other.levels) {
            let o = va.cmp(vb).then_with(|| ka.cmp(kb));
            if o != Ordering::Equal {
                return o;
            }
        }
        self.levels.len().cmp(&other.levels.len())
    }
}

/// The table's partition column names, comma separated (for error messages).
pub(crate) fn partition_column_list(schema: &TableSchema) -> String {
    schema
        .partition_columns
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Checks that `value` fits an integer partition column type.
pub(crate) fn check_value_type(
    key: &str,
    ty: &OdpsType,
    value: &str,
) -> Result<(), PartitionError> {
    let ok = match ty {
        OdpsType::TinyInt => value.parse::<i8>().is_ok(),
        OdpsType::SmallInt => value.parse::<i16>().is_ok(),
        OdpsType::Int => value.parse::<i32>().is_ok(),
        OdpsType::BigInt => value.parse::<i64>().is_ok(),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(PartitionError::BadValue {
            key: key.to_string(),
            ty: ty.clone(),
            value: value.to_string(),
        })
    }
}

impl Ord for PartitionSpec {
    fn cmp(&self, other: &Self) -> Ordering {
        self.cmp_levels(other)
    }
}

impl PartialOrd for PartitionSpec {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The canonical form: the tunnel form (`ds=20180905,hh=01`), except that values which
/// would not parse back unchanged (whitespace, `, / = ' " \ * ?`) are single-quoted and
/// escaped. `PartitionSpec::parse(&spec.to_string()) == Ok(spec)` always holds.
impl fmt::Display for PartitionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.join_with(',', true))
    }
}

impl FromStr for PartitionSpec {
    type Err = PartitionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PartitionSpec::parse(s)
    }
}

impl TryFrom<String> for PartitionSpec {
    type Error = PartitionError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        PartitionSpec::parse(&s)
    }
}

impl From<PartitionSpec> for String {
    fn from(s: PartitionSpec) -> String {
        s.to_string()
    }
}

#[cfg(test)]
mod tests;
