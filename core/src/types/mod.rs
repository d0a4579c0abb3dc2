//! The MaxCompute type system 2.0: type values, their service spelling
//! (`decimal(18,2)`, `array<struct<a:int,b:string>>`), columns and table schemas.
//!
//! Type strings parse case-insensitively and print in the lower case the service uses.
//! The Arrow mapping lives in [`arrow`].

pub mod arrow;
mod parse;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use parse::TypeParseError;

/// Largest precision of a MaxCompute `DECIMAL` (type system 2.0).
pub const MAX_DECIMAL_PRECISION: u8 = 38;
/// Largest scale of a MaxCompute `DECIMAL` (type system 2.0).
pub const MAX_DECIMAL_SCALE: u8 = 18;
/// Largest length of `VARCHAR(n)`.
pub const MAX_VARCHAR_LEN: u32 = 65535;
/// Largest length of `CHAR(n)`.
pub const MAX_CHAR_LEN: u32 = 255;

/// A MaxCompute column type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum OdpsType {
    /// `BOOLEAN`
    Boolean,
    /// `TINYINT` (8-bit signed)
    TinyInt,
    /// `SMALLINT` (16-bit signed)
    SmallInt,
    /// `INT` (32-bit signed)
    Int,
    /// `BIGINT` (64-bit signed)
    BigInt,
    /// `FLOAT` (IEEE 754 single)
    Float,
    /// `DOUBLE` (IEEE 754 double)
    Double,
    /// `DECIMAL(precision, scale)`
    Decimal {
        /// Total digits, 1..=38.
        precision: u8,
        /// Digits after the point, 0..=18 and ≤ precision.
        scale: u8,
    },
    /// `CHAR(n)`
    Char(u32),
    /// `VARCHAR(n)`
    Varchar(u32),
    /// `STRING`
    String,
    /// `BINARY`
    Binary,
    /// `DATE` (days since 1970-01-01)
    Date,
    /// `DATETIME` (an instant, epoch milliseconds)
    DateTime,
    /// `TIMESTAMP` (an instant, nanosecond precision)
    Timestamp,
    /// `TIMESTAMP_NTZ` (wall-clock time without zone, nanosecond precision)
    TimestampNtz,
    /// `INTERVAL_DAY_TIME` (seconds + nanoseconds)
    IntervalDayTime,
    /// `INTERVAL_YEAR_MONTH` (months)
    IntervalYearMonth,
    /// `ARRAY<T>`
    Array(Box<OdpsType>),
    /// `MAP<K,V>`
    Map(Box<OdpsType>, Box<OdpsType>),
    /// `STRUCT<name:T,...>`
    Struct(Vec<StructField>),
    /// `JSON`
    Json,
}

/// One named field of a `STRUCT`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StructField {
    /// Field name as declared.
    pub name: String,
    /// Field type.
    pub ty: OdpsType,
}

impl StructField {
    /// A struct field.
    pub fn new(name: impl Into<String>, ty: OdpsType) -> Self {
        Self {
            name: name.into(),
            ty,
        }
    }
}

impl OdpsType {
    /// `DECIMAL(p,s)`, checked against the type system's limits.
    pub fn decimal(precision: u8, scale: u8) -> Result<Self, TypeParseError> {
        parse::check_decimal(precision, scale)?;
        Ok(OdpsType::Decimal { precision, scale })
    }

    /// `ARRAY<T>`.
    pub fn array(element: OdpsType) -> Self {
        OdpsType::Array(Box::new(element))
    }

    /// `MAP<K,V>`.
    pub fn map(key: OdpsType, value: OdpsType) -> Self {
        OdpsType::Map(Box::new(key), Box::new(value))
    }

    /// True for ARRAY, MAP and STRUCT.
    pub fn is_nested(&self) -> bool {
        matches!(
            self,
            OdpsType::Array(_) | OdpsType::Map(..) | OdpsType::Struct(_)
        )
    }

    /// True for the text types STRING, CHAR, VARCHAR (JSON is text too but separate).
    pub fn is_string_like(&self) -> bool {
        matches!(
            self,
            OdpsType::String | OdpsType::Char(_) | OdpsType::Varchar(_)
        )
    }
}

impl fmt::Display for OdpsType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OdpsType::Boolean => f.write_str("boolean"),
            OdpsType::TinyInt => f.write_str("tinyint"),
            OdpsType::SmallInt => f.write_str("smallint"),
            OdpsType::Int => f.write_str("int"),
            OdpsType::BigInt => f.write_str("bigint"),
            OdpsType::Float => f.write_str("float"),
            OdpsType::Double => f.write_str("double"),
            OdpsType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            OdpsType::Char(n) => write!(f, "char({n})"),
            OdpsType::Varchar(n) => write!(f, "varchar({n})"),
            OdpsType::String => f.write_str("string"),
            OdpsType::Binary => f.write_str("binary"),
            OdpsType::Date => f.write_str("date"),
            OdpsType::DateTime => f.write_str("datetime"),
            OdpsType::Timestamp => f.write_str("timestamp"),
            OdpsType::TimestampNtz => f.write_str("timestamp_ntz"),
            OdpsType::IntervalDayTime => f.write_str("interval_day_time"),
            OdpsType::IntervalYearMonth => f.write_str("interval_year_month"),
            OdpsType::Array(t) => write!(f, "array<{t}>"),
            OdpsType::Map(k, v) => write!(f, "map<{k},{v}>"),
            OdpsType::Struct(fields) => {
                f.write_str("struct<")?;
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{}:{}", field.name, field.ty)?;
                }
                f.write_str(">")
            }
            OdpsType::Json => f.write_str("json"),
        }
    }
}

impl FromStr for OdpsType {
    type Err = TypeParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse::parse_type(s)
    }
}

impl From<OdpsType> for String {
    fn from(t: OdpsType) -> String {
        t.to_string()
    }
}

impl TryFrom<String> for OdpsType {
    type Error = TypeParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// A table column: name, type, nullability and comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Column type.
    #[serde(rename = "type")]
    pub ty: OdpsType,
    /// Whether NULL is allowed (`NOT NULL` makes it false).
    #[serde(default = "default_true")]
    pub nullable: bool,
    /// Free-text comment.
    #[serde(default)]
    pub comment: String,
}

fn default_true() -> bool {
    true
}

impl Column {
    /// A nullable column without comment.
    pub fn new(name: impl Into<String>, ty: OdpsType) -> Self {
        Self {
            name: name.into(),
            ty,
            nullable: true,
            comment: String::new(),
        }
    }

    /// The same column with `NOT NULL`.
    pub fn not_null(mut self) -> Self {
        self.nullable = false;
        self
    }
}

/// Errors about a table schema (as opposed to one type string).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// A column name appears twice (names compare case-insensitively, as in MaxCompute).
    #[error("duplicate column name `{0}`")]
    DuplicateColumn(String),
    /// A column name is empty.
    #[error("empty column name at position {0}")]
    EmptyColumnName(usize),
    /// A partition column has a type that cannot hold a partition value.
    #[error(
        "partition column `{name}` has type {ty}; partition columns must be string, varchar, char, tinyint, smallint, int or bigint"
    )]
    BadPartitionType {
        /// Column name.
        name: String,
        /// Its type.
        ty: OdpsType,
    },
    /// A named column does not exist.
    #[error("no column named `{0}` in the table schema")]
    NoSuchColumn(String),
    /// A type string inside a schema document did not parse.
    #[error("column `{column}`: {source}")]
    BadType {
        /// Column name.
        column: String,
        /// The parse error.
        #[source]
        source: TypeParseError,
    },
}

/// A table schema: data columns (written in records) and partition columns (never in records).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TableSchema {
    /// Data columns in table order; field numbers in record streams follow this order.
    pub columns: Vec<Column>,
    /// Partition columns in partition-level order.
    #[serde(default)]
    pub partition_columns: Vec<Column>,
}

impl TableSchema {
    /// A schema with data columns and partition columns, validated.
    pub fn new(columns: Vec<Column>, partition_columns: Vec<Column>) -> Result<Self, SchemaError> {
        let schema = Self {
            columns,
            partition_columns,
        };
        schema.validate()?;
        Ok(schema)
    }

    /// Checks names are unique (case-insensitively) and non-empty and that partition column
    /// types can hold partition values.
    pub fn validate(&self) -> Result<(), SchemaError> {
        let mut seen = std::collections::BTreeSet::new();
        for (i, c) in self
            .columns
            .iter()
            .chain(&self.partition_columns)
            .enumerate()
        {
            if c.name.is_empty() {
                return Err(SchemaError::EmptyColumnName(i));
            }
            if !seen.insert(c.name.to_ascii_lowercase()) {
                return Err(SchemaError::DuplicateColumn(c.name.clone()));
            }
        }
        for c in &self.partition_columns {
            let ok = matches!(
                c.ty,
                OdpsType::String
                    | OdpsType::Varchar(_)
                    | OdpsType::Char(_)
                    | OdpsType::TinyInt
                    | OdpsType::SmallInt
                    | OdpsType::Int
                    | OdpsType::BigInt
            );
            if !ok {
                return Err(SchemaError::BadPartitionType {
                    name: c.name.clone(),
                    ty: c.ty.clone(),
                });
            }
        }
        Ok(())
    }

    /// True when the table has partition columns.
    pub fn is_partitioned(&self) -> bool {
        !self.partition_columns.is_empty()
    }

    /// Index of a data column by name (case-insensitive).
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// A data column by name (case-insensitive).
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.column_index(name).map(|i| &self.columns[i])
    }

    /// Index of a partition column by name (case-insensitive).
    pub fn partition_column_index(&self, name: &str) -> Option<usize> {
        self.partition_columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The data columns named in `names`, in that order (a column projection).
    pub fn project(&self, names: &[impl AsRef<str>]) -> Result<Vec<Column>, SchemaError> {
        names
            .iter()
            .map(|n| {
                self.column(n.as_ref())
                    .cloned()
                    .ok_or_else(|| SchemaError::NoSuchColumn(n.as_ref().to_string()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
