//! Mapping between MaxCompute types and Arrow types.
//!
//! | MaxCompute | Arrow |
//! |---|---|
//! | BOOLEAN | Boolean |
//! | TINYINT / SMALLINT / INT / BIGINT | Int8 / Int16 / Int32 / Int64 |
//! | FLOAT / DOUBLE | Float32 / Float64 |
//! | DECIMAL(p,s) | Decimal128(p,s) |
//! | CHAR(n) / VARCHAR(n) / STRING | Utf8 (field metadata keeps the exact type) |
//! | BINARY | Binary |
//! | DATE | Date32 |
//! | DATETIME | Timestamp(Millisecond, none) — epoch ms of the instant |
//! | TIMESTAMP | Timestamp(Nanosecond, "UTC") |
//! | TIMESTAMP_NTZ | Timestamp(Nanosecond, none) |
//! | INTERVAL_DAY_TIME | Interval(MonthDayNano) with months = 0 (lossless seconds + nanos) |
//! | INTERVAL_YEAR_MONTH | Interval(YearMonth) |
//! | `ARRAY<T>` | `List(item: T)` |
//! | `MAP<K,V>` | `Map(entries: Struct<key: K not null, value: V>)` |
//! | `STRUCT<…>` | Struct |
//! | JSON | Utf8 with extension name `arrow.json` |
//!
//! Every field produced here carries the MaxCompute type string in its metadata under
//! [`ODPS_TYPE_KEY`], so the mapping back from Arrow is exact.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, IntervalUnit, Schema, SchemaRef, TimeUnit};

use super::{Column, OdpsType, StructField, TableSchema};

/// Field metadata key that holds the MaxCompute type string.
pub const ODPS_TYPE_KEY: &str = "maxc:odps_type";
/// Arrow's canonical extension-name metadata key.
pub const EXTENSION_NAME_KEY: &str = "ARROW:extension:name";
/// Extension name of the canonical Arrow JSON type (marks JSON columns).
pub const JSON_EXTENSION_NAME: &str = "arrow.json";
/// Time zone used for TIMESTAMP (an instant).
pub const UTC: &str = "UTC";

/// A column whose type cannot be mapped between MaxCompute and Arrow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column `{column}` of type {ty} cannot be mapped: {reason}")]
pub struct TypeMappingError {
    /// Column (or nested field path) name.
    pub column: String,
    /// The type, as MaxCompute or Arrow spells it.
    pub ty: String,
    /// Why not.
    pub reason: String,
}

impl OdpsType {
    /// The Arrow data type of this MaxCompute type.
    pub fn to_arrow(&self) -> DataType {
        match self {
            OdpsType::Boolean => DataType::Boolean,
            OdpsType::TinyInt => DataType::Int8,
            OdpsType::SmallInt => DataType::Int16,
            OdpsType::Int => DataType::Int32,
            OdpsType::BigInt => DataType::Int64,
            OdpsType::Float => DataType::Float32,
            OdpsType::Double => DataType::Float64,
            OdpsType::Decimal { precision, scale } => {
                DataType::Decimal128(*precision, *scale as i8)
            }
            OdpsType::Char(_) | OdpsType::Varchar(_) | OdpsType::String | OdpsType::Json => {
                DataType::Utf8
            }
            OdpsType::Binary => DataType::Binary,
            OdpsType::Date => DataType::Date32,
            OdpsType::DateTime => DataType::Timestamp(TimeUnit::Millisecond, None),
            OdpsType::Timestamp => DataType::Timestamp(TimeUnit::Nanosecond, Some(UTC.into())),
            OdpsType::TimestampNtz => DataType::Timestamp(TimeUnit::Nanosecond, None),
            OdpsType::IntervalDayTime => DataType::Interval(IntervalUnit::MonthDayNano),
            OdpsType::IntervalYearMonth => DataType::Interval(IntervalUnit::YearMonth),
            OdpsType::Array(e) => DataType::List(Arc::new(e.to_arrow_field("item", true))),
            OdpsType::Map(k, v) => {
                let entries = Field::new(
                    "entries",
                    DataType::Struct(Fields::from(vec![
                        k.to_arrow_field("key", false),
                        v.to_arrow_field("value", true),
                    ])),
                    false,
                );
                DataType::Map(Arc::new(entries), false)
            }
            OdpsType::Struct(fields) => DataType::Struct(
                fields
                    .iter()
                    .map(|f| f.ty.to_arrow_field(&f.name, true))
                    .collect::<Vec<_>>()
                    .into(),
            ),
        }
    }

    /// An Arrow field of this type, with the MaxCompute type string (and the JSON
    /// extension name for JSON) in its metadata.
    pub fn to_arrow_field(&self, name: &str, nullable: bool) -> Field {
        let mut md = HashMap::new();
        md.insert(ODPS_TYPE_KEY.to_string(), self.to_string());
        if *self == OdpsType::Json {
            md.insert(
                EXTENSION_NAME_KEY.to_string(),
                JSON_EXTENSION_NAME.to_string(),
            );
        }
        Field::new(name, self.to_arrow(), nullable).with_metadata(md)
    }

    /// The MaxCompute type of an Arrow field: the metadata type string when present
    /// (and consistent with the Arrow type), otherwise inferred from the Arrow type.
    pub fn from_arrow_field(field: &Field) -> Result<OdpsType, TypeMappingError> {
        if let Some(s) = field.metadata().get(ODPS_TYPE_KEY) {
            let t: OdpsType = s
                .parse()
                .map_err(|e: super::TypeParseError| TypeMappingError {
                    column: field.name().clone(),
                    ty: s.clone(),
                    reason: e.to_string(),
                })?;
            if t.to_arrow().equals_datatype(field.data_type()) {
                return Ok(t);
            }
            return Err(TypeMappingError {
                column: field.name().clone(),
                ty: s.clone(),
                reason: format!(
                    "metadata says {t} but the Arrow type is {}",
                    field.data_type()
                ),
            });
        }
        if field
            .metadata()
            .get(EXTENSION_NAME_KEY)
            .is_some_and(|n| n == JSON_EXTENSION_NAME)
        {
            return Ok(OdpsType::Json);
        }
        infer(field.name(), field.data_type())
    }
}

fn infer(name: &str, dt: &DataType) -> Result<OdpsType, TypeMappingError> {
    let unsupported = |reason: &str| TypeMappingError {
        column: name.to_string(),
        ty: dt.to_string(),
        reason: reason.to_string(),
    };
    Ok(match dt {
        DataType::Boolean => OdpsType::Boolean,
        DataType::Int8 => OdpsType::TinyInt,
        DataType::Int16 => OdpsType::SmallInt,
        DataType::Int32 => OdpsType::Int,
        DataType::Int64 => OdpsType::BigInt,
        DataType::Float32 => OdpsType::Float,
        DataType::Float64 => OdpsType::Double,
        DataType::Decimal128(p, s) => {
            let s = u8::try_from(*s).map_err(|_| unsupported("negative decimal scale"))?;
            OdpsType::decimal(*p, s).map_err(|e| unsupported(&e.reason))?
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => OdpsType::String,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => OdpsType::Binary,
        DataType::Date32 => OdpsType::Date,
        DataType::Timestamp(TimeUnit::Millisecond, None) => OdpsType::DateTime,
        DataType::Timestamp(TimeUnit::Nanosecond, Some(_)) => OdpsType::Timestamp,
        DataType::Timestamp(TimeUnit::Nanosecond, None) => OdpsType::TimestampNtz,
        DataType::Interval(IntervalUnit::MonthDayNano) => OdpsType::IntervalDayTime,
        DataType::Interval(IntervalUnit::YearMonth) => OdpsType::IntervalYearMonth,
        DataType::List(f) => OdpsType::array(OdpsType::from_arrow_field(f)?),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => OdpsType::map(
                OdpsType::from_arrow_field(&kv[0])?,
                OdpsType::from_arrow_field(&kv[1])?,
            ),
            _ => return Err(unsupported("map entries must be a two-field struct")),
        },
        DataType::Struct(fields) => OdpsType::Struct(
            fields
                .iter()
                .map(|f| {
                    Ok(StructField::new(
                        f.name().clone(),
                        OdpsType::from_arrow_field(f)?,
                    ))
                })
                .collect::<Result<_, TypeMappingError>>()?,
        ),
        _ => return Err(unsupported("no MaxCompute type holds this Arrow type")),
    })
}

impl Column {
    /// The Arrow field of this column.
    pub fn to_arrow_field(&self) -> Field {
        self.ty.to_arrow_field(&self.name, self.nullable)
    }

    /// A column from an Arrow field.
    pub fn from_arrow_field(field: &Field) -> Result<Column, TypeMappingError> {
        Ok(Column {
            name: field.name().clone(),
            ty: OdpsType::from_arrow_field(field)?,
            nullable: field.is_nullable(),
            comment: String::new(),
        })
    }
}

/// The Arrow schema of a list of columns (in order).
pub fn columns_to_arrow(columns: &[Column]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(Column::to_arrow_field)
            .collect::<Vec<_>>(),
    ))
}

/// Columns from an Arrow schema; the first field that cannot be mapped is named in the error.
pub fn columns_from_arrow(schema: &Schema) -> Result<Vec<Column>, TypeMappingError> {
    schema
        .fields()
        .iter()
        .map(|f| Column::from_arrow_field(f))
        .collect()
}

impl TableSchema {
    /// The Arrow schema of the data columns (what record streams carry).
    pub fn arrow_schema(&self) -> SchemaRef {
        columns_to_arrow(&self.columns)
    }

    /// The Arrow schema of data columns followed by partition columns.
    pub fn arrow_schema_with_partitions(&self) -> SchemaRef {
        let all: Vec<Column> = self
            .columns
            .iter()
            .chain(&self.partition_columns)
            .cloned()
            .collect();
        columns_to_arrow(&all)
    }
}
