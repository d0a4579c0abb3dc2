//! The `partition` option of sources and lookups, and the `startPartition` comparison.

use std::cmp::Ordering;
use std::fmt;

use super::parse::{self, needs_quotes, push_quoted};
use super::{PartitionError, PartitionSpec, check_value_type, partition_column_list};
use crate::types::TableSchema;

/// How one level's value is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueMatcher {
    /// The value must be equal.
    Exact(String),
    /// A glob over the value: `*` matches any run of characters (also none), `?` exactly one.
    Glob(String),
}

impl ValueMatcher {
    /// True when `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            ValueMatcher::Exact(v) => v == value,
            ValueMatcher::Glob(g) => glob_match(g, value),
        }
    }
}

/// One level of a wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelPattern {
    /// Partition column name.
    pub key: String,
    /// How its value is matched.
    pub value: ValueMatcher,
}

/// The `partition` option of a source or lookup table.
///
/// | option | variant | selects |
/// |---|---|---|
/// | `ds=20180905` | `Exact` | that partition, or every partition under it when the spec is a prefix |
/// | `ds=201809*`, `ds=2018????,hh=0*` | `Wildcard` | partitions whose values match per level (unquoted `*` and `?` are wildcards; quoted values are literal) |
/// | `max_pt()` | `MaxPt` | the greatest partition |
/// | `max_two_pt()` | `MaxTwoPt` | the two greatest partitions |
/// | empty | `Exact(empty)` | every partition |
///
/// "Greatest" is string order level by level (see the [module docs](super)): zero-pad
/// numeric values (`month=09`, not `month=9`) or `month=9` will sort after `month=10`.
/// `max_pt()` here considers every partition in the listing it is given; the service's
/// `MAX_PT` function only considers partitions holding data, so pass a listing filtered
/// accordingly if that matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionPattern {
    /// A concrete spec; a prefix spec selects every partition below it.
    Exact(PartitionSpec),
    /// Per-level value patterns; levels not named match anything.
    Wildcard(Vec<LevelPattern>),
    /// `max_pt()`: the greatest partition.
    MaxPt,
    /// `max_two_pt()`: the two greatest partitions.
    MaxTwoPt,
}

fn is_function(input: &str, name: &str) -> bool {
    let compact: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    compact.eq_ignore_ascii_case(&format!("{name}()"))
}

impl PartitionPattern {
    /// Parses the option value.
    pub fn parse(input: &str) -> Result<Self, PartitionError> {
        if is_function(input, "max_pt") {
            return Ok(PartitionPattern::MaxPt);
        }
        if is_function(input, "max_two_pt") {
            return Ok(PartitionPattern::MaxTwoPt);
        }
        let levels = parse::tokenize(input)?;
        let any_glob = levels.iter().any(|l| {
            l.value
                .as_ref()
                .is_some_and(|v| !v.quoted && v.text.contains(['*', '?']))
        });
        if !any_glob {
            return PartitionSpec::parse(input).map(PartitionPattern::Exact);
        }
        let mut out: Vec<LevelPattern> = Vec::with_capacity(levels.len());
        for level in levels {
            let Some(value) = level.value else {
                return Err(PartitionError::MissingValue {
                    input: input.to_string(),
                    key: level.key,
                });
            };
            if value.text.is_empty() {
                return Err(PartitionError::EmptyValue { key: level.key });
            }
            if out.iter().any(|l| l.key.eq_ignore_ascii_case(&level.key)) {
                return Err(PartitionError::DuplicateKey { key: level.key });
            }
            let matcher = if !value.quoted && value.text.contains(['*', '?']) {
                ValueMatcher::Glob(value.text)
            } else {
                ValueMatcher::Exact(value.text)
            };
            out.push(LevelPattern {
                key: level.key,
                value: matcher,
            });
        }
        Ok(PartitionPattern::Wildcard(out))
    }

    /// True for `max_pt()` / `max_two_pt()`, which must be re-resolved when partitions change.
    pub fn is_dynamic(&self) -> bool {
        matches!(self, PartitionPattern::MaxPt | PartitionPattern::MaxTwoPt)
    }

    /// Checks keys against the table's partition columns and normalises them (schema spelling
    /// and order). `max_pt()`/`max_two_pt()` need a partitioned table.
    pub fn validate(&self, schema: &TableSchema) -> Result<PartitionPattern, PartitionError> {
        if !schema.is_partitioned() {
            return match self {
                PartitionPattern::Exact(s) if s.is_empty() => Ok(self.clone()),
                other => Err(PartitionError::NotPartitioned {
                    spec: other.to_string(),
                }),
            };
        }
        match self {
            PartitionPattern::Exact(spec) => {
                // Any subset of levels may be named; normalise order and spelling.
                let mut pairs = Vec::new();
                for (k, v) in spec.levels() {
                    let idx = schema.partition_column_index(k).ok_or_else(|| {
                        PartitionError::UnknownKey {
                            key: k.clone(),
                            expected: partition_column_list(schema),
                        }
                    })?;
                    let col = &schema.partition_columns[idx];
                    check_value_type(&col.name, &col.ty, v)?;
                    pairs.push((idx, col.name.clone(), v.clone()));
                }
                pairs.sort_by_key(|p| p.0);
                PartitionSpec::from_pairs(pairs.into_iter().map(|(_, k, v)| (k, v)))
                    .map(PartitionPattern::Exact)
            }
            PartitionPattern::Wildcard(levels) => {
                let mut out = Vec::new();
                for l in levels {
                    let idx = schema.partition_column_index(&l.key).ok_or_else(|| {
                        PartitionError::UnknownKey {
                            key: l.key.clone(),
                            expected: partition_column_list(schema),
                        }
                    })?;
                    let col = &schema.partition_columns[idx];
                    if let ValueMatcher::Exact(v) = &l.value {
                        check_value_type(&col.name, &col.ty, v)?;
                    }
                    out.push((
                        idx,
                        LevelPattern {
                            key: col.name.clone(),
                            value: l.value.clone(),
                        },
                    ));
                }
                out.sort_by_key(|p| p.0);
                Ok(PartitionPattern::Wildcard(
                    out.into_iter().map(|(_, l)| l).collect(),
                ))
            }
            PartitionPattern::MaxPt | PartitionPattern::MaxTwoPt => Ok(self.clone()),
        }
    }

    /// True when `partition` is selected by an `Exact` or `Wildcard` pattern (keys compare
    /// case-insensitively; a level named by the pattern but absent from the partition does not
    /// match). Always false for `MaxPt`/`MaxTwoPt`, which need the whole listing.
    pub fn matches(&self, partition: &PartitionSpec) -> bool {
        match self {
            PartitionPattern::Exact(spec) => spec
                .levels()
                .iter()
                .all(|(k, v)| partition.get(k) == Some(v.as_str())),
            PartitionPattern::Wildcard(levels) => levels
                .iter()
                .all(|l| partition.get(&l.key).is_some_and(|v| l.value.matches(v))),
            PartitionPattern::MaxPt | PartitionPattern::MaxTwoPt => false,
        }
    }

    /// The partitions of `listing` this pattern selects, ascending in string order, without
    /// duplicates. `MaxPt` gives the greatest partition (none for an empty listing),
    /// `MaxTwoPt` the two greatest (ascending).
    pub fn resolve(&self, listing: &[PartitionSpec]) -> Vec<PartitionSpec> {
        let mut out: Vec<PartitionSpec> = match self {
            PartitionPattern::MaxPt | PartitionPattern::MaxTwoPt => listing.to_vec(),
            _ => listing
                .iter()
                .filter(|p| self.matches(p))
                .cloned()
                .collect(),
        };
        out.sort();
        out.dedup();
        let keep = match self {
            PartitionPattern::MaxPt => 1,
            PartitionPattern::MaxTwoPt => 2,
            _ => out.len(),
        };
        let skip = out.len().saturating_sub(keep);
        out.drain(..skip);
        out
    }

    /// [`resolve`](Self::resolve), failing when more than `limit` partitions match
    /// (`maxPartitionCount`).
    pub fn resolve_limited(
        &self,
        listing: &[PartitionSpec],
        limit: usize,
    ) -> Result<Vec<PartitionSpec>, PartitionError> {
        let out = self.resolve(listing);
        if out.len() > limit {
            return Err(PartitionError::TooManyPartitions {
                pattern: self.to_string(),
                matched: out.len(),
                limit,
            });
        }
        Ok(out)
    }
}

impl fmt::Display for PartitionPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartitionPattern::Exact(spec) => write!(f, "{spec}"),
            PartitionPattern::MaxPt => f.write_str("max_pt()"),
            PartitionPattern::MaxTwoPt => f.write_str("max_two_pt()"),
            PartitionPattern::Wildcard(levels) => {
                let mut out = String::new();
                for (i, l) in levels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&l.key);
                    out.push('=');
                    match &l.value {
                        ValueMatcher::Glob(g) => out.push_str(g),
                        ValueMatcher::Exact(v) if needs_quotes(v) => push_quoted(&mut out, v),
                        ValueMatcher::Exact(v) => out.push_str(v),
                    }
                }
                f.write_str(&out)
            }
        }
    }
}

/// Glob match with `*` (any run) and `?` (one character), iterative with one backtrack point,
/// O(len(pattern) × len(value)) in the worst case.
fn glob_match(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    let (mut pi, mut vi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, vi));
                pi += 1;
            }
            Some(&c) if c == '?' || c == v[vi] => {
                pi += 1;
                vi += 1;
            }
            _ => match star {
                Some((sp, sv)) => {
                    pi = sp + 1;
                    vi = sv + 1;
                    star = Some((sp, sv + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The `startPartition` of an incremental source: selects partitions at or after it in string
/// order, compared level by level over the start's levels.
///
/// For each level of the start spec (in its order, normally the schema's level order) the
/// partition's value for that key is compared as a string; the first difference decides. A
/// partition equal on all of the start's levels is included (so a prefix start like
/// `yyyy=2018,MM=09` includes every day of that month). A partition lacking one of the
/// start's keys sorts before it. As everywhere, `month=10` < `month=9`: zero-pad values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartPartition(PartitionSpec);

impl StartPartition {
    /// Wraps a spec (validate it against the schema first with
    /// [`PartitionSpec::validate`] and [`SpecCoverage::Prefix`](super::SpecCoverage::Prefix)).
    pub fn new(spec: PartitionSpec) -> Self {
        Self(spec)
    }

    /// Parses the option value (a concrete spec; wildcards are literal characters here).
    pub fn parse(input: &str) -> Result<Self, PartitionError> {
        PartitionSpec::parse(input).map(Self)
    }

    /// The start spec.
    pub fn spec(&self) -> &PartitionSpec {
        &self.0
    }

    /// Compares `partition` with the start (Greater/Equal = selected).
    pub fn compare(&self, partition: &PartitionSpec) -> Ordering {
        for (k, start_value) in self.0.levels() {
            match partition.get(k) {
                None => return Ordering::Less,
                Some(v) => match v.cmp(start_value.as_str()) {
                    Ordering::Equal => continue,
                    o => return o,
                },
            }
        }
        Ordering::Equal
    }

    /// True when `partition` is at or after the start.
    pub fn includes(&self, partition: &PartitionSpec) -> bool {
        self.compare(partition) != Ordering::Less
    }

    /// The partitions of `listing` at or after the start, ascending, without duplicates.
    pub fn select(&self, listing: &[PartitionSpec]) -> Vec<PartitionSpec> {
        let mut out: Vec<PartitionSpec> = listing
            .iter()
            .filter(|p| self.includes(p))
            .cloned()
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("201809*", "20180905"));
        assert!(glob_match("2018****", "20180905"));
        assert!(glob_match("*", ""));
        assert!(glob_match("2018??05", "20180905"));
        assert!(!glob_match("2018??05", "201809050"));
        assert!(!glob_match("201809*", "20181005"));
        assert!(glob_match("*a*b*c", "xxaxxbxxbc"));
        assert!(!glob_match("*a*b*c", "xxaxxbxxb"));
        assert!(glob_match("日?", "日本"));
        assert!(!glob_match("?", ""));
    }
}
