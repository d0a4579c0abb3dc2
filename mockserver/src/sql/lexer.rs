//! Tokenizer for the DDL subset: words, `backquoted` identifiers, quoted strings with
//! escapes, numbers, symbols; `--` and `/* */` comments are skipped.

use super::SqlError;

/// Longest SQL text accepted.
pub const MAX_SQL_LEN: usize = 4 << 20;

/// A token kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// A bare word (keyword or identifier).
    Word(String),
    /// A `backquoted` identifier (backquotes removed, doubled backquotes collapsed).
    Quoted(String),
    /// A quoted string literal (quotes removed, escapes resolved).
    Str(String),
    /// A number literal as written.
    Num(String),
    /// Any other single character.
    Sym(char),
}

/// A token with its 1-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Kind and text.
    pub tok: Tok,
    /// Line (1-based).
    pub line: usize,
    /// Column (1-based, in characters).
    pub col: usize,
}

/// Splits SQL text into tokens.
pub fn tokenize(src: &str) -> Result<Vec<Token>, SqlError> {
    if src.len() > MAX_SQL_LEN {
        return Err(SqlError::at(1, 1, "statement too long"));
    }
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    // Advances over one char, tracking position.
    macro_rules! bump {
        () => {{
            if chars[i] == '\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
            i += 1;
        }};
    }
    while i < chars.len() {
        let c = chars[i];
        let (tl, tc) = (line, col);
        if c.is_whitespace() {
            bump!();
            continue;
        }
        if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                bump!();
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            bump!();
            bump!();
            loop {
                if i >= chars.len() {
                    return Err(SqlError::at(tl, tc, "unterminated comment"));
                }
                if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    bump!();
                    bump!();
                    break;
                }
                bump!();
            }
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                bump!();
            }
            out.push(Token {
                tok: Tok::Word(chars[start..i].iter().collect()),
                line: tl,
                col: tc,
            });
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                bump!();
            }
            if i < chars.len()
                && chars[i] == '.'
                && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())
            {
                bump!();
                while i < chars.len() && chars[i].is_ascii_digit() {
                    bump!();
                }
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let save = (i, line, col);
                bump!();
                if i < chars.len() && (chars[i] == '+' || chars[i] == '-') {
                    bump!();
                }
                if i < chars.len() && chars[i].is_ascii_digit() {
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        bump!();
                    }
                } else {
                    (i, line, col) = save;
                }
            }
            // Suffixes such as 1L / 1Y / 1S / 1BD are kept as part of the literal.
            while i < chars.len() && chars[i].is_ascii_alphabetic() {
                bump!();
            }
            out.push(Token {
                tok: Tok::Num(chars[start..i].iter().collect()),
                line: tl,
                col: tc,
            });
            continue;
        }
        if c == '`' {
            bump!();
            let mut s = String::new();
            loop {
                if i >= chars.len() {
                    return Err(SqlError::at(tl, tc, "unterminated backquoted identifier"));
                }
                if chars[i] == '`' {
                    if chars.get(i + 1) == Some(&'`') {
                        s.push('`');
                        bump!();
                        bump!();
                        continue;
                    }
                    bump!();
                    break;
                }
                s.push(chars[i]);
                bump!();
            }
            out.push(Token {
                tok: Tok::Quoted(s),
                line: tl,
                col: tc,
            });
            continue;
        }
        if c == '\'' || c == '"' {
            let q = c;
            bump!();
            let mut s = String::new();
            loop {
                if i >= chars.len() {
                    return Err(SqlError::at(tl, tc, "unterminated string literal"));
                }
                let d = chars[i];
                if d == '\\' {
                    let Some(&e) = chars.get(i + 1) else {
                        return Err(SqlError::at(tl, tc, "unterminated string literal"));
                    };
                    s.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        'b' => '\u{8}',
                        '0' => '\0',
                        other => other,
                    });
                    bump!();
                    bump!();
                    continue;
                }
                if d == q {
                    if chars.get(i + 1) == Some(&q) {
                        s.push(q);
                        bump!();
                        bump!();
                        continue;
                    }
                    bump!();
                    break;
                }
                s.push(d);
                bump!();
            }
            out.push(Token {
                tok: Tok::Str(s),
                line: tl,
                col: tc,
            });
            continue;
        }
        out.push(Token {
            tok: Tok::Sym(c),
            line: tl,
            col: tc,
        });
        bump!();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let t =
            tokenize("CREATE /* c */ TABLE p.`a``b` -- x\n ('it\\'s', \"q\", 'a''b', 1.5e3, 16)")
                .unwrap();
        let kinds: Vec<Tok> = t.into_iter().map(|t| t.tok).collect();
        assert_eq!(
            kinds,
            vec![
                Tok::Word("CREATE".into()),
                Tok::Word("TABLE".into()),
                Tok::Word("p".into()),
                Tok::Sym('.'),
                Tok::Quoted("a`b".into()),
                Tok::Sym('('),
                Tok::Str("it's".into()),
                Tok::Sym(','),
                Tok::Str("q".into()),
                Tok::Sym(','),
                Tok::Str("a'b".into()),
                Tok::Sym(','),
                Tok::Num("1.5e3".into()),
                Tok::Sym(','),
                Tok::Num("16".into()),
                Tok::Sym(')'),
            ]
        );
    }

    #[test]
    fn positions_and_errors() {
        let t = tokenize("a\n  b").unwrap();
        assert_eq!((t[1].line, t[1].col), (2, 3));
        assert!(tokenize("'abc").is_err());
        assert!(tokenize("`abc").is_err());
        assert!(tokenize("/* abc").is_err());
        assert!(tokenize("'abc\\").is_err());
    }
}
