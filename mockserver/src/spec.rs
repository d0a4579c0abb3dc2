//! Partition specs as clients send them: quoted `ds='20240101',hr='08'` (metadata calls),
//! unquoted `ds=20240101,hr=08` (tunnel calls) or `/`-separated (storage API, java).

use std::fmt;

use maxc_core::types::Column;

use crate::error::MockError;

/// A parsed partition spec: `(column, value)` pairs in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct PartSpec(pub Vec<(String, String)>);

/// Longest spec text accepted.
pub const MAX_SPEC_LEN: usize = 8192;

impl PartSpec {
    /// Parses `k=v` pairs separated by `,` or `/`; values may be single- or double-quoted
    /// (quoted values may contain separators; `\` escapes the next character inside quotes).
    pub fn parse(text: &str) -> Result<PartSpec, String> {
        if text.len() > MAX_SPEC_LEN {
            return Err("partition spec too long".into());
        }
        let mut out = Vec::new();
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        let skip_ws = |i: &mut usize| {
            while *i < chars.len() && chars[*i].is_whitespace() {
                *i += 1;
            }
        };
        skip_ws(&mut i);
        if i == chars.len() {
            return Ok(PartSpec(out));
        }
        loop {
            skip_ws(&mut i);
            let start = i;
            while i < chars.len() && chars[i] != '=' && chars[i] != ',' && chars[i] != '/' {
                i += 1;
            }
            let key: String = chars[start..i]
                .iter()
                .collect::<String>()
                .trim()
                .to_string();
            let key = key.trim_matches('`').to_string();
            if key.is_empty() {
                return Err(format!("empty partition column name in `{text}`"));
            }
            if i == chars.len() || chars[i] != '=' {
                return Err(format!("expected `=` after `{key}` in `{text}`"));
            }
            i += 1;
            skip_ws(&mut i);
            let value = if i < chars.len() && (chars[i] == '\'' || chars[i] == '"') {
                let q = chars[i];
                i += 1;
                let mut v = String::new();
                loop {
                    match chars.get(i) {
                        None => return Err(format!("unterminated quote in `{text}`")),
                        Some('\\') => {
                            let c = chars
                                .get(i + 1)
                                .ok_or_else(|| format!("dangling escape in `{text}`"))?;
                            v.push(*c);
                            i += 2;
                        }
                        Some(c) if *c == q => {
                            i += 1;
                            break;
                        }
                        Some(c) => {
                            v.push(*c);
                            i += 1;
                        }
                    }
                }
                skip_ws(&mut i);
                v
            } else {
                let start = i;
                while i < chars.len() && chars[i] != ',' && chars[i] != '/' {
                    i += 1;
                }
                chars[start..i]
                    .iter()
                    .collect::<String>()
                    .trim()
                    .to_string()
            };
            if value.is_empty() {
                return Err(format!("empty value for partition column `{key}`"));
            }
            if out
                .iter()
                .any(|(k, _): &(String, String)| k.eq_ignore_ascii_case(&key))
            {
                return Err(format!("duplicate partition column `{key}`"));
            }
            out.push((key, value));
            if i == chars.len() {
                break;
            }
            if chars[i] == ',' || chars[i] == '/' {
                i += 1;
                continue;
            }
            return Err(format!("unexpected `{}` in `{text}`", chars[i]));
        }
        Ok(PartSpec(out))
    }

    /// True when no column is named.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Values in the order of `columns`, requiring every partition column exactly once.
    pub fn resolve(&self, columns: &[Column]) -> Result<Vec<String>, MockError> {
        if columns.is_empty() {
            if self.is_empty() {
                return Ok(Vec::new());
            }
            return Err(MockError::bad_request(
                "InvalidPartitionSpec",
                format!("The table is not partitioned but partition `{self}` was given"),
            ));
        }
        if self.0.len() != columns.len() {
            return Err(MockError::bad_request(
                "InvalidPartitionSpec",
                format!(
                    "The specified partitionspec is not valid: `{self}` must name all partition columns ({})",
                    columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            ));
        }
        columns
            .iter()
            .map(|c| {
                self.get(&c.name).map(str::to_string).ok_or_else(|| {
                    MockError::bad_request(
                        "InvalidPartitionSpec",
                        format!(
                            "The specified partitionspec is not valid: `{self}` lacks column `{}`",
                            c.name
                        ),
                    )
                })
            })
            .collect()
    }

    /// The value given for `column` (case-insensitive).
    pub fn get(&self, column: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(column))
            .map(|(_, v)| v.as_str())
    }

    /// True when every column named in this spec has the given value in `values`
    /// (a prefix/subset filter as used by list-partitions).
    pub fn matches(&self, columns: &[Column], values: &[String]) -> bool {
        self.0.iter().all(|(k, v)| {
            columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(k))
                .and_then(|i| values.get(i))
                .is_some_and(|x| x == v)
        })
    }
}

impl fmt::Display for PartSpec {
    /// Unquoted `k=v,k2=v2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

/// `k=v,k2=v2` for partition values in column order.
pub fn spec_text(columns: &[Column], values: &[String]) -> String {
    join_spec(columns, values, ",")
}

/// `k=v/k2=v2` (java's "name" form of a partition).
pub fn spec_path(columns: &[Column], values: &[String]) -> String {
    join_spec(columns, values, "/")
}

fn join_spec(columns: &[Column], values: &[String], sep: &str) -> String {
    columns
        .iter()
        .zip(values)
        .map(|(c, v)| format!("{}={v}", c.name))
        .collect::<Vec<_>>()
        .join(sep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use maxc_core::types::OdpsType;

    #[test]
    fn parses_all_forms() {
        let want = PartSpec(vec![
            ("ds".into(), "20240101".into()),
            ("hr".into(), "08".into()),
        ]);
        for t in [
            "ds=20240101,hr=08",
            "ds='20240101',hr='08'",
            "ds=\"20240101\", hr = '08'",
            "ds=20240101/hr=08",
        ] {
            assert_eq!(PartSpec::parse(t).unwrap(), want, "{t}");
        }
        assert_eq!(
            PartSpec::parse("a='x,y'").unwrap().0[0].1,
            "x,y".to_string()
        );
        assert!(PartSpec::parse("").unwrap().is_empty());
        for bad in ["ds", "ds=", "=1", "ds='1", "ds=1,ds=2", "ds='1'x"] {
            assert!(PartSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resolves_in_column_order() {
        let cols = vec![
            Column::new("ds", OdpsType::String),
            Column::new("hr", OdpsType::String),
        ];
        let s = PartSpec::parse("HR=1,ds=2").unwrap();
        assert_eq!(s.resolve(&cols).unwrap(), vec!["2", "1"]);
        assert!(PartSpec::parse("ds=2").unwrap().resolve(&cols).is_err());
        assert!(
            PartSpec::parse("ds=2")
                .unwrap()
                .matches(&cols, &["2".into(), "9".into()])
        );
        assert_eq!(spec_text(&cols, &["a".into(), "b".into()]), "ds=a,hr=b");
    }
}
