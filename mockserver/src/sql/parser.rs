//! Recursive-descent parser over [`Token`]s.

use maxc_core::types::OdpsType;

use super::lexer::{Tok, Token, tokenize};
use super::{ClusterDef, ColumnDef, CreateTable, ObjectName, PartitionDef, SqlError, Statement};

/// Deepest type nesting accepted (`array<array<...>>`).
const MAX_TYPE_DEPTH: usize = 32;

const SUPPORTED: &str = "maxc-mock runs only CREATE TABLE, DROP TABLE, ALTER TABLE ADD/DROP PARTITION, \
ALTER TABLE ADD COLUMNS, ALTER TABLE SET LIFECYCLE, TRUNCATE TABLE and SET";

/// Parses `;`-separated statements. Empty statements are skipped.
pub fn parse_script(src: &str) -> Result<Vec<Statement>, SqlError> {
    let tokens = tokenize(src)?;
    let mut p = Parser { t: tokens, i: 0 };
    let mut out = Vec::new();
    loop {
        while p.eat_sym(';') {}
        if p.at_end() {
            break;
        }
        out.push(p.statement()?);
        if !p.at_end() && !p.eat_sym(';') {
            return Err(p.err_here("expected `;` or end of statement"));
        }
    }
    if out.is_empty() {
        return Err(SqlError::at(1, 1, "empty query"));
    }
    Ok(out)
}

struct Parser {
    t: Vec<Token>,
    i: usize,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) => w.clone(),
        Tok::Quoted(q) => format!("`{q}`"),
        Tok::Str(s) => format!("'{s}'"),
        Tok::Num(n) => n.clone(),
        Tok::Sym(c) => c.to_string(),
    }
}

impl Parser {
    fn at_end(&self) -> bool {
        self.i >= self.t.len()
    }

    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i).map(|t| &t.tok)
    }

    fn pos(&self) -> (usize, usize) {
        match self.t.get(self.i).or_else(|| self.t.last()) {
            Some(t) => (t.line, t.col),
            None => (1, 1),
        }
    }

    fn err_here(&self, msg: impl Into<String>) -> SqlError {
        let (l, c) = self.pos();
        let found = match self.peek() {
            Some(t) => format!(" near `{}`", describe(t)),
            None => " at end of input".to_string(),
        };
        SqlError::at(l, c, format!("{}{found}", msg.into()))
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn is_kw_at(&self, off: usize, kw: &str) -> bool {
        matches!(self.t.get(self.i + off).map(|t| &t.tok), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), SqlError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.err_here(format!("expected {kw}")))
        }
    }

    fn eat_sym(&mut self, c: char) -> bool {
        if matches!(self.peek(), Some(Tok::Sym(x)) if *x == c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect_sym(&mut self, c: char) -> Result<(), SqlError> {
        if self.eat_sym(c) {
            Ok(())
        } else {
            Err(self.err_here(format!("expected `{c}`")))
        }
    }

    fn ident(&mut self) -> Result<String, SqlError> {
        match self.peek().cloned() {
            Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => {
                self.i += 1;
                if w.is_empty() {
                    return Err(self.err_here("empty identifier"));
                }
                Ok(w)
            }
            _ => Err(self.err_here("expected an identifier")),
        }
    }

    fn string(&mut self) -> Result<String, SqlError> {
        match self.peek().cloned() {
            Some(Tok::Str(s)) => {
                self.i += 1;
                Ok(s)
            }
            _ => Err(self.err_here("expected a quoted string")),
        }
    }

    fn integer(&mut self) -> Result<i64, SqlError> {
        let neg = self.eat_sym('-');
        match self.peek().cloned() {
            Some(Tok::Num(n)) => {
                let v: i64 = n
                    .parse()
                    .map_err(|_| self.err_here(format!("expected an integer, found `{n}`")))?;
                self.i += 1;
                Ok(if neg { -v } else { v })
            }
            _ => Err(self.err_here("expected an integer")),
        }
    }

    fn unsupported(&self, what: &str) -> SqlError {
        let (l, c) = self.pos();
        SqlError::at(
            l,
            c,
            format!("unsupported statement or clause `{what}`: {SUPPORTED}"),
        )
    }

    fn object_name(&mut self) -> Result<ObjectName, SqlError> {
        let mut parts = vec![self.ident()?];
        while self.eat_sym('.') {
            parts.push(self.ident()?);
        }
        match parts.len() {
            1 => Ok(ObjectName {
                project: None,
                schema: None,
                name: parts.remove(0),
            }),
            2 => {
                let name = parts.remove(1);
                Ok(ObjectName {
                    project: Some(parts.remove(0)),
                    schema: None,
                    name,
                })
            }
            3 => {
                let name = parts.remove(2);
                let schema = parts.remove(1);
                Ok(ObjectName {
                    project: Some(parts.remove(0)),
                    schema: Some(schema),
                    name,
                })
            }
            _ => Err(self.err_here("a table name has at most three parts (project.schema.table)")),
        }
    }

    fn statement(&mut self) -> Result<Statement, SqlError> {
        let first = match self.peek() {
            Some(Tok::Word(w)) => w.to_ascii_uppercase(),
            Some(t) => return Err(self.unsupported(&describe(t))),
            None => return Err(self.err_here("empty statement")),
        };
        match first.as_str() {
            "CREATE" => {
                self.i += 1;
                if self.is_kw("TABLE") {
                    self.i += 1;
                    return self.create_table();
                }
                let what = self
                    .peek()
                    .map(describe)
                    .unwrap_or_default()
                    .to_ascii_uppercase();
                Err(self.unsupported(&format!("CREATE {what}")))
            }
            "DROP" => {
                self.i += 1;
                if !self.is_kw("TABLE") {
                    let what = self
                        .peek()
                        .map(describe)
                        .unwrap_or_default()
                        .to_ascii_uppercase();
                    return Err(self.unsupported(&format!("DROP {what}")));
                }
                self.i += 1;
                let if_exists = if self.eat_kw("IF") {
                    self.expect_kw("EXISTS")?;
                    true
                } else {
                    false
                };
                let name = self.object_name()?;
                self.eat_kw("PURGE");
                Ok(Statement::DropTable { name, if_exists })
            }
            "ALTER" => {
                self.i += 1;
                if !self.is_kw("TABLE") {
                    let what = self
                        .peek()
                        .map(describe)
                        .unwrap_or_default()
                        .to_ascii_uppercase();
                    return Err(self.unsupported(&format!("ALTER {what}")));
                }
                self.i += 1;
                self.alter_table()
            }
            "TRUNCATE" => {
                self.i += 1;
                self.expect_kw("TABLE")?;
                let table = self.object_name()?;
                let partitions = self.partition_list(true)?;
                Ok(Statement::Truncate { table, partitions })
            }
            "SET" => {
                self.i += 1;
                while !self.at_end() && !matches!(self.peek(), Some(Tok::Sym(';'))) {
                    self.i += 1;
                }
                Ok(Statement::Set)
            }
            other => Err(self.unsupported(other)),
        }
    }

    fn create_table(&mut self) -> Result<Statement, SqlError> {
        let if_not_exists = if self.eat_kw("IF") {
            self.expect_kw("NOT")?;
            self.expect_kw("EXISTS")?;
            true
        } else {
            false
        };
        let name = self.object_name()?;
        if self.is_kw("LIKE") || self.is_kw("AS") {
            return Err(self.unsupported(&format!(
                "CREATE TABLE .. {}",
                describe(self.peek().unwrap_or(&Tok::Sym(' '))).to_ascii_uppercase()
            )));
        }
        let mut ct = CreateTable {
            name,
            if_not_exists,
            columns: Vec::new(),
            primary_key: Vec::new(),
            comment: None,
            partition_columns: Vec::new(),
            cluster: None,
            properties: Vec::new(),
            lifecycle: None,
        };
        self.expect_sym('(')?;
        loop {
            if self.is_kw("PRIMARY") && self.is_kw_at(1, "KEY") {
                self.i += 2;
                if !ct.primary_key.is_empty() {
                    return Err(self.err_here("PRIMARY KEY given twice"));
                }
                ct.primary_key = self.name_list()?;
            } else if self.is_kw("CONSTRAINT") {
                return Err(self.unsupported("CONSTRAINT"));
            } else {
                let c = self.column_def(true)?;
                if c.primary_key {
                    ct.primary_key.push(c.name.clone());
                }
                ct.columns.push(c);
            }
            if self.eat_sym(',') {
                continue;
            }
            self.expect_sym(')')?;
            break;
        }
        // Optional clauses, in any order, each at most once.
        loop {
            if self.at_end() || matches!(self.peek(), Some(Tok::Sym(';'))) {
                break;
            }
            if self.eat_kw("COMMENT") {
                ct.comment = Some(self.string()?);
            } else if self.is_kw("PARTITIONED")
                || (self.is_kw("AUTO") && self.is_kw_at(1, "PARTITIONED"))
            {
                if self.is_kw("AUTO") {
                    return Err(self.unsupported("AUTO PARTITIONED BY"));
                }
                self.i += 1;
                self.expect_kw("BY")?;
                if !ct.partition_columns.is_empty() {
                    return Err(self.err_here("PARTITIONED BY given twice"));
                }
                self.expect_sym('(')?;
                loop {
                    ct.partition_columns.push(self.column_def(false)?);
                    if self.eat_sym(',') {
                        continue;
                    }
                    self.expect_sym(')')?;
                    break;
                }
            } else if self.is_kw("CLUSTERED")
                || (self.is_kw("RANGE") && self.is_kw_at(1, "CLUSTERED"))
            {
                let range = self.eat_kw("RANGE");
                self.expect_kw("CLUSTERED")?;
                self.expect_kw("BY")?;
                let columns = self.name_list()?;
                let mut sorted_by = Vec::new();
                if self.eat_kw("SORTED") {
                    self.expect_kw("BY")?;
                    self.expect_sym('(')?;
                    loop {
                        let c = self.ident()?;
                        let order = if self.eat_kw("DESC") {
                            "desc"
                        } else {
                            self.eat_kw("ASC");
                            "asc"
                        };
                        sorted_by.push((c, order.to_string()));
                        if self.eat_sym(',') {
                            continue;
                        }
                        self.expect_sym(')')?;
                        break;
                    }
                }
                let buckets = if self.eat_kw("INTO") {
                    let n = self.integer()?;
                    self.expect_kw("BUCKETS")?;
                    Some(
                        u32::try_from(n)
                            .ok()
                            .filter(|n| *n > 0)
                            .ok_or_else(|| self.err_here("bucket count must be positive"))?,
                    )
                } else {
                    None
                };
                ct.cluster = Some(ClusterDef {
                    range,
                    columns,
                    sorted_by,
                    buckets,
                });
            } else if self.eat_kw("TBLPROPERTIES") {
                self.expect_sym('(')?;
                loop {
                    let k = self.string()?;
                    self.expect_sym('=')?;
                    let v = self.string()?;
                    ct.properties.push((k, v));
                    if self.eat_sym(',') {
                        continue;
                    }
                    self.expect_sym(')')?;
                    break;
                }
            } else if self.eat_kw("LIFECYCLE") {
                let n = self.integer()?;
                if n <= 0 {
                    return Err(self.err_here("LIFECYCLE must be a positive number of days"));
                }
                ct.lifecycle = Some(n);
            } else {
                let what = self
                    .peek()
                    .map(describe)
                    .unwrap_or_default()
                    .to_ascii_uppercase();
                return Err(self.unsupported(&format!("CREATE TABLE .. {what}")));
            }
        }
        Ok(Statement::CreateTable(ct))
    }

    fn alter_table(&mut self) -> Result<Statement, SqlError> {
        let table = self.object_name()?;
        if self.eat_kw("ADD") {
            if self.eat_kw("COLUMNS") {
                let if_not_exists = self.if_not_exists()?;
                self.expect_sym('(')?;
                let mut columns = Vec::new();
                loop {
                    columns.push(self.column_def(false)?);
                    if self.eat_sym(',') {
                        continue;
                    }
                    self.expect_sym(')')?;
                    break;
                }
                return Ok(Statement::AddColumns {
                    table,
                    if_not_exists,
                    columns,
                });
            }
            let if_not_exists = self.if_not_exists()?;
            if !self.is_kw("PARTITION") {
                return Err(
                    self.unsupported("ALTER TABLE .. ADD (other than PARTITION or COLUMNS)")
                );
            }
            let partitions = self.partition_list(false)?;
            return Ok(Statement::AddPartitions {
                table,
                if_not_exists,
                partitions,
            });
        }
        if self.eat_kw("DROP") {
            let if_exists = if self.eat_kw("IF") {
                self.expect_kw("EXISTS")?;
                true
            } else {
                false
            };
            if !self.is_kw("PARTITION") {
                return Err(self.unsupported("ALTER TABLE .. DROP (other than PARTITION)"));
            }
            let partitions = self.partition_list(true)?;
            return Ok(Statement::DropPartitions {
                table,
                if_exists,
                partitions,
            });
        }
        if self.is_kw("SET") && self.is_kw_at(1, "LIFECYCLE") {
            self.i += 2;
            let days = self.integer()?;
            return Ok(Statement::SetLifecycle { table, days });
        }
        let what = self
            .peek()
            .map(describe)
            .unwrap_or_default()
            .to_ascii_uppercase();
        Err(self.unsupported(&format!("ALTER TABLE .. {what}")))
    }

    fn if_not_exists(&mut self) -> Result<bool, SqlError> {
        if self.eat_kw("IF") {
            self.expect_kw("NOT")?;
            self.expect_kw("EXISTS")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// `PARTITION (..) [,] PARTITION (..) ...`; with `optional` an empty list is fine.
    fn partition_list(&mut self, optional: bool) -> Result<Vec<PartitionDef>, SqlError> {
        let mut out = Vec::new();
        loop {
            if !self.eat_kw("PARTITION") {
                if out.is_empty() && !optional {
                    return Err(self.err_here("expected PARTITION"));
                }
                break;
            }
            self.expect_sym('(')?;
            let mut spec = Vec::new();
            loop {
                let k = self.ident()?;
                self.expect_sym('=')?;
                let v = match self.peek().cloned() {
                    Some(Tok::Str(s)) | Some(Tok::Num(s)) | Some(Tok::Word(s)) => {
                        self.i += 1;
                        s
                    }
                    Some(Tok::Sym('-')) => {
                        self.i += 1;
                        match self.peek().cloned() {
                            Some(Tok::Num(n)) => {
                                self.i += 1;
                                format!("-{n}")
                            }
                            _ => return Err(self.err_here("expected a partition value")),
                        }
                    }
                    _ => return Err(self.err_here("expected a partition value")),
                };
                if v.is_empty() {
                    return Err(self.err_here(format!("empty value for partition column `{k}`")));
                }
                if spec
                    .iter()
                    .any(|(x, _): &(String, String)| x.eq_ignore_ascii_case(&k))
                {
                    return Err(self.err_here(format!("partition column `{k}` given twice")));
                }
                spec.push((k, v));
                if self.eat_sym(',') {
                    continue;
                }
                self.expect_sym(')')?;
                break;
            }
            out.push(spec);
            self.eat_sym(',');
        }
        Ok(out)
    }

    fn name_list(&mut self) -> Result<Vec<String>, SqlError> {
        self.expect_sym('(')?;
        let mut out = Vec::new();
        loop {
            out.push(self.ident()?);
            if self.eat_sym(',') {
                continue;
            }
            self.expect_sym(')')?;
            break;
        }
        Ok(out)
    }

    fn column_def(&mut self, allow_pk: bool) -> Result<ColumnDef, SqlError> {
        let name = self.ident()?;
        let (l, c) = self.pos();
        let text = self.type_text(0)?;
        let ty: OdpsType = text
            .parse()
            .map_err(|e: maxc_core::types::TypeParseError| {
                SqlError::at(
                    l,
                    c,
                    format!("invalid type `{text}` of column `{name}`: {}", e.reason),
                )
            })?;
        let mut def = ColumnDef {
            name,
            ty,
            not_null: false,
            comment: None,
            default: None,
            primary_key: false,
        };
        loop {
            if self.is_kw("NOT") && self.is_kw_at(1, "NULL") {
                self.i += 2;
                def.not_null = true;
            } else if self.eat_kw("NULL") {
                def.not_null = false;
            } else if self.eat_kw("COMMENT") {
                def.comment = Some(self.string()?);
            } else if self.eat_kw("DEFAULT") {
                def.default = Some(self.literal()?);
            } else if allow_pk && self.is_kw("PRIMARY") && self.is_kw_at(1, "KEY") {
                self.i += 2;
                def.primary_key = true;
            } else {
                break;
            }
        }
        Ok(def)
    }

    fn literal(&mut self) -> Result<String, SqlError> {
        let neg = self.eat_sym('-');
        let v = match self.peek().cloned() {
            Some(Tok::Str(s)) => s,
            Some(Tok::Num(n)) => n,
            Some(Tok::Word(w)) => w,
            _ => return Err(self.err_here("expected a literal")),
        };
        self.i += 1;
        // Allow function-call defaults such as CURRENT_TIMESTAMP().
        if self.eat_sym('(') {
            self.expect_sym(')')?;
            return Ok(format!("{v}()"));
        }
        Ok(if neg { format!("-{v}") } else { v })
    }

    /// Collects a type as text (`decimal(10,2)`, `struct<a:bigint,b:array<string>>`), with
    /// backquotes removed from struct field names.
    fn type_text(&mut self, depth: usize) -> Result<String, SqlError> {
        if depth > MAX_TYPE_DEPTH {
            return Err(self.err_here("type nested too deeply"));
        }
        let base = match self.peek().cloned() {
            Some(Tok::Word(w)) => {
                self.i += 1;
                w.to_ascii_lowercase()
            }
            _ => return Err(self.err_here("expected a type")),
        };
        let mut out = base.clone();
        if self.eat_sym('(') {
            out.push('(');
            loop {
                match self.peek().cloned() {
                    Some(Tok::Num(n)) => {
                        self.i += 1;
                        out.push_str(&n);
                    }
                    _ => return Err(self.err_here("expected a number in type parameters")),
                }
                if self.eat_sym(',') {
                    out.push(',');
                    continue;
                }
                self.expect_sym(')')?;
                out.push(')');
                break;
            }
        } else if self.eat_sym('<') {
            out.push('<');
            if base == "struct" {
                loop {
                    let f = self.ident()?;
                    self.expect_sym(':')?;
                    let t = self.type_text(depth + 1)?;
                    if self.eat_kw("COMMENT") {
                        self.string()?;
                    }
                    out.push_str(&f);
                    out.push(':');
                    out.push_str(&t);
                    if self.eat_sym(',') {
                        out.push(',');
                        continue;
                    }
                    break;
                }
            } else {
                loop {
                    out.push_str(&self.type_text(depth + 1)?);
                    if self.eat_sym(',') {
                        out.push(',');
                        continue;
                    }
                    break;
                }
            }
            self.expect_sym('>')?;
            out.push('>');
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyodps_create_table() {
        let sql = "CREATE TABLE IF NOT EXISTS my_project.`mock_acid` (\n  `id` bigint NOT NULL COMMENT 'the \\'id\\'',\n  `val` string,\n  `m` map<string,array<bigint>>,\n  `s` struct<`a`:bigint, `b`:decimal(10,2)>,\n  PRIMARY KEY (`id`)\n)\nCOMMENT 'acid'\nPARTITIONED BY (\n  `ds` string\n)\nTBLPROPERTIES (\n  'transactional' = 'true',\n  'write.bucket.num' = '16'\n)\nLIFECYCLE 7;";
        let stmts = parse_script(sql).unwrap();
        let Statement::CreateTable(ct) = &stmts[0] else {
            panic!("not a create")
        };
        assert!(ct.if_not_exists);
        assert_eq!(ct.name.project.as_deref(), Some("my_project"));
        assert_eq!(ct.name.name, "mock_acid");
        assert_eq!(ct.columns.len(), 4);
        assert!(ct.columns[0].not_null);
        assert_eq!(ct.columns[0].comment.as_deref(), Some("the 'id'"));
        assert_eq!(ct.columns[2].ty.to_string(), "map<string,array<bigint>>");
        assert_eq!(
            ct.columns[3].ty.to_string(),
            "struct<a:bigint,b:decimal(10,2)>"
        );
        assert_eq!(ct.primary_key, vec!["id"]);
        assert_eq!(ct.partition_columns[0].name, "ds");
        assert_eq!(ct.properties.len(), 2);
        assert_eq!(ct.lifecycle, Some(7));
        assert_eq!(ct.comment.as_deref(), Some("acid"));
    }

    #[test]
    fn alter_and_drop() {
        let s = parse_script(
            "alter table p.`t` add if not exists partition (ds='1', hr=2) partition (ds='3',hr='4'); \
             ALTER TABLE t DROP IF EXISTS PARTITION (ds='1',hr='2'), PARTITION (ds='x',hr='y');\
             drop table if exists p.s.t; truncate table t partition (ds='1'); \
             ALTER TABLE t ADD COLUMNS IF NOT EXISTS (a bigint COMMENT 'x', b string); \
             set odps.sql.type.system.odps2=true; ALTER TABLE t SET LIFECYCLE 3",
        )
        .unwrap();
        assert_eq!(s.len(), 7);
        match &s[0] {
            Statement::AddPartitions {
                if_not_exists,
                partitions,
                ..
            } => {
                assert!(*if_not_exists);
                assert_eq!(partitions.len(), 2);
                assert_eq!(partitions[0][1], ("hr".to_string(), "2".to_string()));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(&s[1], Statement::DropPartitions { partitions, .. } if partitions.len() == 2)
        );
        assert!(
            matches!(&s[2], Statement::DropTable { name, if_exists: true } if name.schema.as_deref() == Some("s"))
        );
        assert!(matches!(&s[3], Statement::Truncate { partitions, .. } if partitions.len() == 1));
        assert!(
            matches!(&s[4], Statement::AddColumns { columns, if_not_exists: true, .. } if columns.len() == 2)
        );
        assert_eq!(s[5], Statement::Set);
        assert!(matches!(&s[6], Statement::SetLifecycle { days: 3, .. }));
    }

    #[test]
    fn unsupported_and_malformed() {
        for (sql, needle) in [
            (
                "SELECT * FROM t",
                "unsupported statement or clause `SELECT`",
            ),
            ("INSERT INTO t VALUES (1)", "`INSERT`"),
            ("CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
            (
                "CREATE TABLE t (a bigint) STORED AS ALIORC",
                "CREATE TABLE .. STORED",
            ),
            ("CREATE TABLE t AS SELECT 1", "CREATE TABLE .. AS"),
            ("CREATE TABLE t (a nosuchtype)", "invalid type"),
            ("CREATE TABLE t (a bigint", "expected `)`"),
            ("", "empty query"),
            ("DROP TABLE", "expected an identifier"),
        ] {
            let e = parse_script(sql).unwrap_err();
            let text = e.to_string();
            assert!(text.starts_with("ODPS-0130161:["), "{text}");
            assert!(text.contains(needle), "{sql}: {text}");
        }
    }
}
