//! Recursive-descent parser for MaxCompute type strings.

use super::{
    MAX_CHAR_LEN, MAX_DECIMAL_PRECISION, MAX_DECIMAL_SCALE, MAX_VARCHAR_LEN, OdpsType, StructField,
};

/// Deepest nesting a type string may have (guards the parser's stack).
pub const MAX_TYPE_DEPTH: usize = 64;

/// A type string that could not be parsed, with the byte offset where parsing stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MaxCompute type `{input}` at offset {offset}: {reason}")]
pub struct TypeParseError {
    /// The whole input.
    pub input: String,
    /// Byte offset of the problem.
    pub offset: usize,
    /// What is wrong.
    pub reason: String,
}

pub(super) fn check_decimal(precision: u8, scale: u8) -> Result<(), TypeParseError> {
    let bad = |reason: String| TypeParseError {
        input: format!("decimal({precision},{scale})"),
        offset: 0,
        reason,
    };
    if precision == 0 || precision > MAX_DECIMAL_PRECISION {
        return Err(bad(format!(
            "decimal precision must be 1..={MAX_DECIMAL_PRECISION}"
        )));
    }
    if scale > MAX_DECIMAL_SCALE || scale > precision {
        return Err(bad(format!(
            "decimal scale must be 0..={MAX_DECIMAL_SCALE} and not above the precision"
        )));
    }
    Ok(())
}

struct Parser<'a> {
    input: &'a str,
    pos: usize,
    depth: usize,
}

pub(super) fn parse_type(input: &str) -> Result<OdpsType, TypeParseError> {
    let mut p = Parser {
        input,
        pos: 0,
        depth: 0,
    };
    let t = p.ty()?;
    p.ws();
    if p.pos != input.len() {
        return Err(p.err("unexpected trailing characters"));
    }
    Ok(t)
}

impl<'a> Parser<'a> {
    fn err(&self, reason: impl Into<String>) -> TypeParseError {
        TypeParseError {
            input: self.input.to_string(),
            offset: self.pos,
            reason: reason.into(),
        }
    }

    fn ws(&mut self) {
        while let Some(c) = self.input[self.pos..].chars().next() {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.ws();
        self.input[self.pos..].chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), TypeParseError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.err(format!("expected `{c}`")))
        }
    }

    /// A bare word: letters, digits and `_`.
    fn word(&mut self) -> &'a str {
        self.ws();
        let start = self.pos;
        let rest = &self.input[start..];
        let len = rest
            .char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        self.pos += len;
        &self.input[start..start + len]
    }

    /// A struct field name: a word or a backtick-quoted name.
    fn field_name(&mut self) -> Result<String, TypeParseError> {
        if self.peek() == Some('`') {
            self.pos += 1;
            let rest = &self.input[self.pos..];
            let Some(end) = rest.find('`') else {
                return Err(self.err("unterminated `quoted` field name"));
            };
            let name = rest[..end].to_string();
            self.pos += end + 1;
            if name.is_empty() {
                return Err(self.err("empty struct field name"));
            }
            return Ok(name);
        }
        let w = self.word();
        if w.is_empty() {
            return Err(self.err("expected a struct field name"));
        }
        Ok(w.to_string())
    }

    fn number(&mut self) -> Result<u32, TypeParseError> {
        self.ws();
        let start = self.pos;
        let digits = self.input[start..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        if digits == 0 {
            return Err(self.err("expected a number"));
        }
        self.pos += digits;
        self.input[start..self.pos]
            .parse()
            .map_err(|_| self.err("number out of range"))
    }

    fn length(&mut self, name: &str, max: u32) -> Result<u32, TypeParseError> {
        self.expect('(')?;
        let n = self.number()?;
        self.expect(')')?;
        if n == 0 || n > max {
            return Err(self.err(format!("{name} length must be 1..={max}, got {n}")));
        }
        Ok(n)
    }

    fn ty(&mut self) -> Result<OdpsType, TypeParseError> {
        self.depth += 1;
        if self.depth > MAX_TYPE_DEPTH {
            return Err(self.err(format!("type nested deeper than {MAX_TYPE_DEPTH} levels")));
        }
        let start = self.pos;
        let word = self.word().to_ascii_lowercase();
        let t = match word.as_str() {
            "boolean" => OdpsType::Boolean,
            "tinyint" => OdpsType::TinyInt,
            "smallint" => OdpsType::SmallInt,
            "int" | "integer" => OdpsType::Int,
            "bigint" => OdpsType::BigInt,
            "float" => OdpsType::Float,
            "double" => OdpsType::Double,
            "string" => OdpsType::String,
            "binary" => OdpsType::Binary,
            "date" => OdpsType::Date,
            "datetime" => OdpsType::DateTime,
            "timestamp" => OdpsType::Timestamp,
            "timestamp_ntz" => OdpsType::TimestampNtz,
            "interval_day_time" => OdpsType::IntervalDayTime,
            "interval_year_month" => OdpsType::IntervalYearMonth,
            "json" => OdpsType::Json,
            "decimal" => {
                if self.peek() == Some('(') {
                    self.pos += 1;
                    let p = self.number()?;
                    let s = if self.eat(',') { self.number()? } else { 0 };
                    self.expect(')')?;
                    let (p, s) = match (u8::try_from(p), u8::try_from(s)) {
                        (Ok(p), Ok(s)) => (p, s),
                        _ => return Err(self.err("decimal precision/scale out of range")),
                    };
                    check_decimal(p, s).map_err(|e| TypeParseError {
                        input: self.input.to_string(),
                        offset: self.pos,
                        reason: e.reason,
                    })?;
                    OdpsType::Decimal {
                        precision: p,
                        scale: s,
                    }
                } else {
                    // Type system 2.0: a bare DECIMAL is DECIMAL(10,0).
                    OdpsType::Decimal {
                        precision: 10,
                        scale: 0,
                    }
                }
            }
            "char" => OdpsType::Char(self.length("char", MAX_CHAR_LEN)?),
            "varchar" => OdpsType::Varchar(self.length("varchar", MAX_VARCHAR_LEN)?),
            "array" => {
                self.expect('<')?;
                let e = self.ty()?;
                self.expect('>')?;
                OdpsType::Array(Box::new(e))
            }
            "map" => {
                self.expect('<')?;
                let k = self.ty()?;
                self.expect(',')?;
                let v = self.ty()?;
                self.expect('>')?;
                OdpsType::Map(Box::new(k), Box::new(v))
            }
            "struct" => {
                self.expect('<')?;
                let mut fields: Vec<StructField> = Vec::new();
                loop {
                    let name = self.field_name()?;
                    if fields.iter().any(|f| f.name.eq_ignore_ascii_case(&name)) {
                        return Err(self.err(format!("duplicate struct field `{name}`")));
                    }
                    self.expect(':')?;
                    let ty = self.ty()?;
                    fields.push(StructField { name, ty });
                    if self.eat(',') {
                        continue;
                    }
                    self.expect('>')?;
                    break;
                }
                OdpsType::Struct(fields)
            }
            "" => {
                self.pos = start;
                return Err(self.err("expected a type name"));
            }
            other => {
                self.pos = start;
                return Err(self.err(format!("unknown type `{other}`")));
            }
        };
        self.depth -= 1;
        Ok(t)
    }
}
