//! Option errors and warnings.

use std::fmt;

use super::registry::{Condition, ConfigKind};

/// Why a set of options was rejected. Every variant names the offending key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    /// The key is not an option of this config kind.
    #[error("unknown option `{key}`{}", did_you_mean(.suggestion))]
    UnknownKey {
        /// The key as given.
        key: String,
        /// The nearest valid key, when one is close.
        suggestion: Option<&'static str>,
    },
    /// The value does not parse as the option's type.
    #[error("option `{key}`: `{value}` is not a valid {expected}: {reason}")]
    WrongType {
        /// The option.
        key: &'static str,
        /// The value as given (`***` for secrets).
        value: String,
        /// The expected type, e.g. `BOOLEAN`.
        expected: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The value is not one of the option's allowed values.
    #[error("option `{key}`: `{value}` is not one of {}", list(.allowed))]
    NotAllowed {
        /// The option.
        key: &'static str,
        /// The value as given.
        value: String,
        /// The allowed values.
        allowed: &'static [&'static str],
    },
    /// A number or size outside the option's range.
    #[error("option `{key}`: {value} is out of range (allowed: {min} to {max})")]
    OutOfRange {
        /// The option.
        key: &'static str,
        /// The value as given.
        value: String,
        /// The smallest allowed value.
        min: String,
        /// The largest allowed value.
        max: String,
    },
    /// A required option is missing.
    #[error("missing required option `{key}`{}", required_when(.when))]
    MissingRequired {
        /// The option.
        key: &'static str,
        /// Why it is required here, when it is not always required.
        when: Option<&'static str>,
    },
    /// A required string option is empty.
    #[error("option `{key}` must not be empty")]
    Empty {
        /// The option.
        key: &'static str,
    },
    /// Two options that cannot be used together.
    #[error("options `{key}` and `{other}` conflict: {reason}")]
    Conflict {
        /// The option whose value causes the conflict.
        key: &'static str,
        /// The other option.
        other: &'static str,
        /// Why they conflict.
        reason: &'static str,
    },
}

impl OptionError {
    /// The key the error is about.
    pub fn key(&self) -> &str {
        match self {
            OptionError::UnknownKey { key, .. } => key,
            OptionError::WrongType { key, .. }
            | OptionError::NotAllowed { key, .. }
            | OptionError::OutOfRange { key, .. }
            | OptionError::MissingRequired { key, .. }
            | OptionError::Empty { key }
            | OptionError::Conflict { key, .. } => key,
        }
    }
}

fn did_you_mean(s: &Option<&'static str>) -> String {
    s.map(|k| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

fn required_when(w: &Option<&'static str>) -> String {
    w.map(|w| format!(" ({w})")).unwrap_or_default()
}

fn list(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Something accepted but probably not what the user meant.
///
/// Policy: a mistake that would silently change what is read or written is an
/// [`OptionError`]; an option that is valid but has no effect in this configuration is a
/// warning. In particular an option of another SQL kind (e.g. `cacheSize` on a sink) is a
/// warning, because one `CREATE TABLE` may serve as source, sink and dimension table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionWarning {
    /// `key` is ignored because `by` is set and takes precedence.
    Overridden {
        /// The ignored option.
        key: &'static str,
        /// The option that wins.
        by: &'static str,
    },
    /// `key` has no effect unless `condition` holds, and it does not.
    Ineffective {
        /// The option without effect.
        key: &'static str,
        /// What it needs.
        condition: Condition,
    },
    /// `key` belongs to other config kinds and is ignored by this one.
    NotApplicable {
        /// The option.
        key: &'static str,
        /// The config kind being parsed.
        kind: ConfigKind,
    },
}

impl OptionWarning {
    /// The key the warning is about.
    pub fn key(&self) -> &'static str {
        match self {
            OptionWarning::Overridden { key, .. }
            | OptionWarning::Ineffective { key, .. }
            | OptionWarning::NotApplicable { key, .. } => key,
        }
    }
}

impl fmt::Display for OptionWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionWarning::Overridden { key, by } => {
                write!(
                    f,
                    "option `{key}` is ignored because `{by}` is set and takes precedence"
                )
            }
            OptionWarning::Ineffective { key, condition } => {
                write!(f, "option `{key}` has no effect unless {condition}")
            }
            OptionWarning::NotApplicable { key, kind } => {
                write!(
                    f,
                    "option `{key}` does not apply to a {} and is ignored",
                    kind.name()
                )
            }
        }
    }
}

/// A parsed configuration with the warnings found on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<T> {
    /// The configuration.
    pub config: T,
    /// Warnings, in a deterministic order (by key within each check).
    pub warnings: Vec<OptionWarning>,
}
