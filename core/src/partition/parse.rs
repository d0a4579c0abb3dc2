//! Tokenizer shared by partition specs, partition patterns and sink partition options.
//!
//! Grammar (whitespace around keys and values is ignored):
//!
//! ```text
//! spec   := ""  |  level ( sep level )*
//! sep    := "," | "/"
//! level  := key [ "=" value ]
//! value  := quoted | bare
//! quoted := "'" ( char | "\" any )* "'"  |  '"' ( char | "\" any )* '"'
//! bare   := characters other than "," "/" (trimmed; no inner whitespace, "=", quotes)
//! ```

use super::PartitionError;

/// One `key[=value]` level as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawLevel {
    pub key: String,
    /// `None` for a bare key (`ds`), used by dynamic sink partitions.
    pub value: Option<RawValue>,
}

/// A value as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawValue {
    /// Unescaped text.
    pub text: String,
    /// True when the value was quoted (wildcards are then literal).
    pub quoted: bool,
}

/// Characters that separate levels.
pub(crate) fn is_separator(c: char) -> bool {
    c == ',' || c == '/'
}

/// Characters that may not appear in a key.
pub(crate) fn is_bad_key_char(c: char) -> bool {
    c.is_whitespace() || matches!(c, '=' | ',' | '/' | '\'' | '"' | '\\' | '*' | '?')
}

/// True when a value must be quoted to survive a parse of the printed form.
pub(crate) fn needs_quotes(value: &str) -> bool {
    value.is_empty()
        || value.chars().any(|c| {
            c.is_whitespace() || matches!(c, ',' | '/' | '=' | '\'' | '"' | '\\' | '*' | '?')
        })
}

/// Appends `value` in single quotes, escaping `\` and `'` with a backslash.
pub(crate) fn push_quoted(out: &mut String, value: &str) {
    out.push('\'');
    for c in value.chars() {
        if c == '\\' || c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
}

/// Splits `input` into levels. Never panics; all positions are char boundaries.
pub(crate) fn tokenize(input: &str) -> Result<Vec<RawLevel>, PartitionError> {
    let mut levels = Vec::new();
    if input.trim().is_empty() {
        return Ok(levels);
    }
    let chars: Vec<(usize, char)> = input.char_indices().collect();
    let n = chars.len();
    let mut i = 0usize;
    loop {
        // Key: up to '=', a separator or the end.
        let key_start = i;
        while i < n && chars[i].1 != '=' && !is_separator(chars[i].1) {
            i += 1;
        }
        let key_raw: String = chars[key_start..i].iter().map(|&(_, c)| c).collect();
        let key = key_raw.trim().to_string();
        let at = chars.get(key_start).map_or(input.len(), |&(b, _)| b);
        if key.is_empty() {
            if i < n && chars[i].1 == '=' {
                return Err(PartitionError::EmptyKey {
                    input: input.to_string(),
                    position: at,
                });
            }
            return Err(PartitionError::EmptyLevel {
                input: input.to_string(),
                position: at,
            });
        }
        if key.chars().any(is_bad_key_char) {
            return Err(PartitionError::InvalidKey {
                input: input.to_string(),
                key,
            });
        }
        let mut value = None;
        if i < n && chars[i].1 == '=' {
            i += 1;
            while i < n && chars[i].1.is_whitespace() {
                i += 1;
            }
            if i < n && (chars[i].1 == '\'' || chars[i].1 == '"') {
                let quote = chars[i].1;
                i += 1;
                let mut text = String::new();
                let mut closed = false;
                while i < n {
                    let c = chars[i].1;
                    i += 1;
                    if c == '\\' {
                        match chars.get(i) {
                            Some(&(_, e)) => {
                                text.push(e);
                                i += 1;
                            }
                            None => {
                                return Err(PartitionError::DanglingEscape {
                                    input: input.to_string(),
                                    key,
                                });
                            }
                        }
                    } else if c == quote {
                        closed = true;
                        break;
                    } else {
                        text.push(c);
                    }
                }
                if !closed {
                    return Err(PartitionError::UnterminatedQuote {
                        input: input.to_string(),
                        key,
                    });
                }
                while i < n && chars[i].1.is_whitespace() {
                    i += 1;
                }
                if i < n && !is_separator(chars[i].1) {
                    return Err(PartitionError::TrailingAfterQuote {
                        input: input.to_string(),
                        key,
                    });
                }
                value = Some(RawValue { text, quoted: true });
            } else {
                let start = i;
                while i < n && !is_separator(chars[i].1) {
                    i += 1;
                }
                let text: String = chars[start..i].iter().map(|&(_, c)| c).collect();
                let text = text.trim().to_string();
                if let Some(c) = text
                    .chars()
                    .find(|&c| matches!(c, '=' | '\'' | '"' | '\\') || c.is_whitespace())
                {
                    return Err(if c.is_whitespace() {
                        PartitionError::UnquotedSpace { key, value: text }
                    } else {
                        PartitionError::UnquotedSpecial {
                            key,
                            value: text,
                            ch: c,
                        }
                    });
                }
                value = Some(RawValue {
                    text,
                    quoted: false,
                });
            }
        }
        levels.push(RawLevel { key, value });
        if i >= n {
            break;
        }
        // chars[i] is a separator here.
        i += 1;
        if i >= n || chars[i..].iter().all(|&(_, c)| c.is_whitespace()) {
            return Err(PartitionError::EmptyLevel {
                input: input.to_string(),
                position: chars.get(i).map_or(input.len(), |&(b, _)| b),
            });
        }
    }
    Ok(levels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(levels: &[RawLevel]) -> Vec<(String, Option<(String, bool)>)> {
        levels
            .iter()
            .map(|l| {
                (
                    l.key.clone(),
                    l.value.as_ref().map(|v| (v.text.clone(), v.quoted)),
                )
            })
            .collect()
    }

    #[test]
    fn tokenizes_forms() {
        let t = tokenize(" ds = 2018 , hh='0 1'/mm=\"a\\\"b\" ").unwrap();
        assert_eq!(
            kv(&t),
            vec![
                ("ds".into(), Some(("2018".into(), false))),
                ("hh".into(), Some(("0 1".into(), true))),
                ("mm".into(), Some(("a\"b".into(), true))),
            ]
        );
        let t = tokenize("ds=1,hh").unwrap();
        assert_eq!(t[1].value, None);
        assert!(tokenize("   ").unwrap().is_empty());
    }

    #[test]
    fn rejects_bad_forms() {
        assert!(matches!(
            tokenize("ds=1,"),
            Err(PartitionError::EmptyLevel { .. })
        ));
        assert!(matches!(
            tokenize(",ds=1"),
            Err(PartitionError::EmptyLevel { position: 0, .. })
        ));
        assert!(matches!(
            tokenize("=1"),
            Err(PartitionError::EmptyKey { .. })
        ));
        assert!(matches!(
            tokenize("ds='1"),
            Err(PartitionError::UnterminatedQuote { .. })
        ));
        assert!(matches!(
            tokenize("ds='1'x"),
            Err(PartitionError::TrailingAfterQuote { .. })
        ));
        assert!(matches!(
            tokenize("ds='1\\"),
            Err(PartitionError::DanglingEscape { .. })
        ));
        assert!(matches!(
            tokenize("d s=1"),
            Err(PartitionError::InvalidKey { .. })
        ));
        assert!(matches!(
            tokenize("ds=20 18"),
            Err(PartitionError::UnquotedSpace { .. })
        ));
        assert!(matches!(
            tokenize("ds=a=b"),
            Err(PartitionError::UnquotedSpecial { ch: '=', .. })
        ));
    }
}
