//! Validation of a raw option map against the registry, and typed access to the values.

use std::collections::BTreeMap;
use std::time::Duration;

use super::error::{OptionError, OptionWarning};
use super::registry::{
    Condition, ConfigKind, OptionDef, OptionType, REGISTRY, Required, lookup, suggest,
};
use super::value::{DurationError, MemorySize, MemorySizeError, parse_bool, parse_duration};

/// A validated option value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Str(String),
    Bool(bool),
    Int(i64),
    Size(MemorySize),
    Duration(Duration),
    Choice(&'static str),
}

impl Value {
    /// The value as compared by [`Condition::Equals`].
    fn as_text(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Size(m) => m.as_bytes().to_string(),
            Value::Duration(d) => d.as_millis().to_string(),
            Value::Choice(c) => (*c).to_string(),
        }
    }
}

/// The value as it may appear in an error message.
fn shown(def: &OptionDef, raw: &str) -> String {
    if def.secret {
        "***".to_string()
    } else {
        raw.to_string()
    }
}

fn wrong_type(def: &OptionDef, raw: &str, reason: impl Into<String>) -> OptionError {
    OptionError::WrongType {
        key: def.key,
        value: shown(def, raw),
        expected: def.ty.doc_name(),
        reason: reason.into(),
    }
}

fn out_of_range(def: &OptionDef, raw: &str, min: String, max: String) -> OptionError {
    OptionError::OutOfRange {
        key: def.key,
        value: shown(def, raw),
        min,
        max,
    }
}

/// Parses and range-checks one value of `def`.
pub(crate) fn parse_value(def: &OptionDef, raw: &str) -> Result<Value, OptionError> {
    match def.ty {
        OptionType::String => Ok(Value::Str(raw.to_string())),
        OptionType::Boolean => parse_bool(raw)
            .map(Value::Bool)
            .ok_or_else(|| wrong_type(def, raw, "expected `true` or `false`")),
        OptionType::Integer { min, max } | OptionType::Long { min, max } => {
            let t = raw.trim();
            let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
            let n: i128 = match t.parse() {
                Ok(n) => n,
                // All digits but too long even for 128 bits.
                Err(_) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                    return Err(out_of_range(def, raw, min.to_string(), max.to_string()));
                }
                Err(_) => return Err(wrong_type(def, raw, "expected a whole number")),
            };
            if n < i128::from(min) || n > i128::from(max) {
                return Err(out_of_range(def, raw, min.to_string(), max.to_string()));
            }
            // In range of i64 by the check above.
            Ok(Value::Int(n as i64))
        }
        OptionType::MemorySize { min } => {
            let m = MemorySize::parse(raw).map_err(|e| match e {
                MemorySizeError::Overflow => out_of_range(
                    def,
                    raw,
                    MemorySize(min).to_string(),
                    MemorySize(u64::MAX).to_string(),
                ),
                e => wrong_type(def, raw, e.to_string()),
            })?;
            if m.as_bytes() < min {
                return Err(out_of_range(
                    def,
                    raw,
                    MemorySize(min).to_string(),
                    MemorySize(u64::MAX).to_string(),
                ));
            }
            Ok(Value::Size(m))
        }
        OptionType::Duration { unit, min, max, .. } => {
            let range = || {
                out_of_range(
                    def,
                    raw,
                    format!("{min} {}", unit.suffix()),
                    format!("{max} {}", unit.suffix()),
                )
            };
            let d = parse_duration(raw, unit).map_err(|e| match e {
                DurationError::Overflow => range(),
                e => wrong_type(def, raw, e.to_string()),
            })?;
            if d < unit.of(min) || d > unit.of(max) {
                return Err(range());
            }
            Ok(Value::Duration(d))
        }
        OptionType::Enum { values } => {
            let t = raw.trim();
            values
                .iter()
                .find(|v| v.eq_ignore_ascii_case(t))
                .map(|v| Value::Choice(v))
                .ok_or(OptionError::NotAllowed {
                    key: def.key,
                    value: shown(def, raw),
                    allowed: values,
                })
        }
    }
}

/// Validated options of one config kind, with typed accessors that fall back to the
/// registry defaults.
#[derive(Debug, Clone)]
pub(crate) struct Reader {
    kind: ConfigKind,
    explicit: BTreeMap<&'static str, Value>,
    warnings: Vec<OptionWarning>,
}

impl Reader {
    /// Validates `options` for `kind`: every key must be an option of the kind's namespace
    /// (unknown keys are errors, with a suggestion), every value must parse as its type,
    /// and every always-required option of `kind` must be present and, for strings,
    /// non-empty. `supplied` lists required keys the caller provides otherwise (a builder's
    /// credentials). Keys are checked in sorted order, so the first error is deterministic.
    pub(crate) fn new<I, K, V>(
        kind: ConfigKind,
        options: I,
        supplied: &[&str],
    ) -> Result<Self, OptionError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let sorted: BTreeMap<String, String> = options
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string()))
            .collect();
        let mut resolved = Vec::with_capacity(sorted.len());
        for key in sorted.keys() {
            match lookup(kind, key) {
                Some(def) => resolved.push(def),
                None => {
                    return Err(OptionError::UnknownKey {
                        key: key.clone(),
                        suggestion: suggest(kind, key),
                    });
                }
            }
        }
        let mut explicit = BTreeMap::new();
        let mut warnings = Vec::new();
        for (def, raw) in resolved.into_iter().zip(sorted.values()) {
            explicit.insert(def.key, parse_value(def, raw)?);
            if !def.applies_to(kind) {
                warnings.push(OptionWarning::NotApplicable { key: def.key, kind });
            }
        }
        for def in REGISTRY
            .iter()
            .filter(|d| d.applies_to(kind) && d.required == Required::Yes)
        {
            match explicit.get(def.key) {
                None if supplied.contains(&def.key) => {}
                None => {
                    return Err(OptionError::MissingRequired {
                        key: def.key,
                        when: None,
                    });
                }
                Some(Value::Str(s)) if s.trim().is_empty() => {
                    return Err(OptionError::Empty { key: def.key });
                }
                Some(_) => {}
            }
        }
        Ok(Self {
            kind,
            explicit,
            warnings,
        })
    }

    /// True when the option was given explicitly.
    pub(crate) fn is_set(&self, key: &str) -> bool {
        self.explicit.contains_key(key)
    }

    /// Records a warning.
    pub(crate) fn warn(&mut self, w: OptionWarning) {
        self.warnings.push(w);
    }

    fn def(&self, key: &'static str) -> Result<&'static OptionDef, OptionError> {
        lookup(self.kind, key).ok_or(OptionError::UnknownKey {
            key: key.to_string(),
            suggestion: None,
        })
    }

    /// The explicit value, or the parsed default, or `None`.
    fn value(&self, key: &'static str) -> Result<Option<Value>, OptionError> {
        if let Some(v) = self.explicit.get(key) {
            return Ok(Some(v.clone()));
        }
        let def = self.def(key)?;
        def.default.map(|d| parse_value(def, d)).transpose()
    }

    /// An error for a registry entry whose type does not match the accessor (a bug in the
    /// registry or a config, caught by the tests).
    fn mismatch(&self, key: &'static str, wanted: &str) -> OptionError {
        OptionError::WrongType {
            key,
            value: String::new(),
            expected: wanted.to_string(),
            reason: "the option registry declares another type".into(),
        }
    }

    /// An optional string; empty or blank values count as unset.
    pub(crate) fn opt_string(&self, key: &'static str) -> Result<Option<String>, OptionError> {
        match self.value(key)? {
            None => Ok(None),
            Some(Value::Str(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s)),
            Some(_) => Err(self.mismatch(key, "STRING")),
        }
    }

    /// A string that must be present and non-empty.
    pub(crate) fn string(&self, key: &'static str) -> Result<String, OptionError> {
        match self.value(key)? {
            None => Err(OptionError::MissingRequired { key, when: None }),
            Some(Value::Str(s)) if s.trim().is_empty() => Err(OptionError::Empty { key }),
            Some(Value::Str(s)) => Ok(s),
            Some(_) => Err(self.mismatch(key, "STRING")),
        }
    }

    /// A boolean (explicit or default).
    pub(crate) fn bool(&self, key: &'static str) -> Result<bool, OptionError> {
        match self.value(key)? {
            Some(Value::Bool(b)) => Ok(b),
            _ => Err(self.mismatch(key, "BOOLEAN")),
        }
    }

    /// An optional integer.
    pub(crate) fn opt_int(&self, key: &'static str) -> Result<Option<i64>, OptionError> {
        match self.value(key)? {
            None => Ok(None),
            Some(Value::Int(i)) => Ok(Some(i)),
            Some(_) => Err(self.mismatch(key, "INTEGER")),
        }
    }

    /// An optional non-negative 32-bit integer.
    pub(crate) fn opt_u32(&self, key: &'static str) -> Result<Option<u32>, OptionError> {
        self.opt_int(key)?
            .map(|i| {
                u32::try_from(i).map_err(|_| OptionError::OutOfRange {
                    key,
                    value: i.to_string(),
                    min: "0".into(),
                    max: u32::MAX.to_string(),
                })
            })
            .transpose()
    }

    /// A non-negative 32-bit integer (explicit or default).
    pub(crate) fn u32(&self, key: &'static str) -> Result<u32, OptionError> {
        self.opt_u32(key)?
            .ok_or(OptionError::MissingRequired { key, when: None })
    }

    /// A non-negative 64-bit integer (explicit or default).
    pub(crate) fn u64(&self, key: &'static str) -> Result<u64, OptionError> {
        let i = self
            .opt_int(key)?
            .ok_or(OptionError::MissingRequired { key, when: None })?;
        u64::try_from(i).map_err(|_| OptionError::OutOfRange {
            key,
            value: i.to_string(),
            min: "0".into(),
            max: i64::MAX.to_string(),
        })
    }

    /// A memory size (explicit or default).
    pub(crate) fn size(&self, key: &'static str) -> Result<MemorySize, OptionError> {
        match self.value(key)? {
            Some(Value::Size(m)) => Ok(m),
            _ => Err(self.mismatch(key, "MEMORYSIZE")),
        }
    }

    /// A duration (explicit or default).
    pub(crate) fn duration(&self, key: &'static str) -> Result<Duration, OptionError> {
        match self.value(key)? {
            Some(Value::Duration(d)) => Ok(d),
            _ => Err(self.mismatch(key, "DURATION")),
        }
    }

    /// An enumeration value's canonical spelling (explicit or default).
    pub(crate) fn choice(&self, key: &'static str) -> Result<&'static str, OptionError> {
        match self.value(key)? {
            Some(Value::Choice(c)) => Ok(c),
            _ => Err(self.mismatch(key, "ENUM")),
        }
    }

    /// An enumeration value converted with `parse` (explicit or default).
    pub(crate) fn choice_as<T>(
        &self,
        key: &'static str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<T, OptionError> {
        parse(self.choice(key)?).ok_or_else(|| self.mismatch(key, "ENUM"))
    }

    fn holds(&self, condition: Condition) -> Result<bool, OptionError> {
        Ok(match condition {
            Condition::Present(k) => self.is_set(k),
            Condition::Equals(k, v) => self
                .value(k)?
                .is_some_and(|x| x.as_text().eq_ignore_ascii_case(v)),
        })
    }

    /// Adds a warning for every explicit option of this kind whose effect condition does not
    /// hold, and returns all warnings.
    pub(crate) fn finish(mut self) -> Result<Vec<OptionWarning>, OptionError> {
        let mut extra = Vec::new();
        for key in self.explicit.keys() {
            let def = self.def(key)?;
            if let (true, Some(condition)) = (def.applies_to(self.kind), def.effective_when)
                && !self.holds(condition)?
            {
                extra.push(OptionWarning::Ineffective {
                    key: def.key,
                    condition,
                });
            }
        }
        self.warnings.extend(extra);
        Ok(self.warnings)
    }
}
