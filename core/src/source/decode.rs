//! What a read asks for and how its response body becomes Arrow batches: the column
//! projection (`columns=`), partition columns filled in from the partition spec, response
//! decompression, and the record-stream or Arrow-tunnel decoders.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, Int8Array, Int16Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{Schema, SchemaRef};

use crate::api::tunnel::{DataBody, ReadRange};
use crate::arrow_frame::{MAX_CHUNK_SIZE, RecordBatchDecoder, unframe};
use crate::codec::RecordDecoder;
use crate::compress::{Compression, decompress};
use crate::partition::PartitionSpec;
use crate::types::arrow::columns_to_arrow;
use crate::types::{Column, OdpsType, TableSchema};

/// How rows travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFormat {
    /// The tunnel record stream; `compression` is asked for with `Accept-Encoding`
    /// (`compressAlgorithm`).
    Records {
        /// Requested response compression.
        compression: Compression,
    },
    /// The Arrow tunnel (`arrow` flag, §6.3 framing); `codec` (`compressCodec`: none, ZSTD,
    /// LZ4_FRAME) is asked for with `Accept-Encoding`. Arrow IPC body compression inside the
    /// payload is decoded whatever was asked.
    Arrow {
        /// Requested response compression.
        codec: Compression,
    },
}

impl ReadFormat {
    /// The `Accept-Encoding` value to send.
    pub fn accept_encoding(self) -> Option<&'static str> {
        match self {
            ReadFormat::Records { compression } => compression.content_encoding(),
            ReadFormat::Arrow { codec } => codec.arrow_content_encoding(),
        }
    }

    /// True for the Arrow tunnel.
    pub fn is_arrow(self) -> bool {
        matches!(self, ReadFormat::Arrow { .. })
    }
}

/// Where an output column comes from.
#[derive(Debug, Clone, PartialEq)]
enum OutColumn {
    /// Column `i` of the wire columns.
    Data(usize),
    /// A partition column, filled with the split's partition value.
    Partition(Column),
}

/// The columns a reader asks for and the columns it emits.
#[derive(Debug, Clone)]
pub struct ReadPlan {
    /// Data columns on the wire, in field order.
    wire: Vec<Column>,
    /// `columns=` (data columns only), when a projection was given.
    columns_param: Option<Vec<String>>,
    /// Output columns.
    output: Vec<OutColumn>,
    wire_schema: SchemaRef,
    output_schema: SchemaRef,
    /// Output equals the wire columns.
    passthrough: bool,
}

/// A projection that does not fit the table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A name that is neither a data nor a partition column.
    #[error("column `{0}` is not a column of the table")]
    UnknownColumn(String),
    /// The same column twice.
    #[error("column `{0}` is projected twice")]
    Duplicate(String),
    /// A partition column whose type cannot be filled from the partition value.
    #[error(
        "partition column `{column}` of type {ty} cannot be read (only string and integer partition columns are supported)"
    )]
    PartitionType {
        /// Column name.
        column: String,
        /// Its type.
        ty: String,
    },
    /// A partition value that does not parse as the column's integer type.
    #[error("partition value `{value}` of `{column}` is not a valid {ty}")]
    PartitionValue {
        /// Column name.
        column: String,
        /// Its type.
        ty: String,
        /// The value.
        value: String,
    },
    /// The partition has no value for a projected partition column.
    #[error("partition {partition} has no value for partition column `{column}`")]
    MissingPartitionValue {
        /// The partition.
        partition: String,
        /// The column.
        column: String,
    },
}

impl ReadPlan {
    /// A plan for `schema` and an optional projection (data and partition column names in
    /// output order, case-insensitive). Without a projection every data column is read and
    /// no partition column is emitted.
    pub fn new(schema: &TableSchema, projection: Option<&[String]>) -> Result<Self, PlanError> {
        let Some(names) = projection else {
            let wire = schema.columns.clone();
            let schema_ref = columns_to_arrow(&wire);
            return Ok(Self {
                output: (0..wire.len()).map(OutColumn::Data).collect(),
                wire,
                columns_param: None,
                wire_schema: schema_ref.clone(),
                output_schema: schema_ref,
                passthrough: true,
            });
        };
        let mut wire: Vec<Column> = Vec::new();
        let mut output = Vec::new();
        let mut fields = Vec::new();
        for (i, name) in names.iter().enumerate() {
            if names[..i].iter().any(|n| n.eq_ignore_ascii_case(name)) {
                return Err(PlanError::Duplicate(name.clone()));
            }
            if let Some(c) = schema.column(name) {
                output.push(OutColumn::Data(wire.len()));
                fields.push(c.to_arrow_field());
                wire.push(c.clone());
            } else if let Some(c) = schema
                .partition_columns
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(name))
            {
                if !(c.ty.is_string_like()
                    || matches!(
                        c.ty,
                        OdpsType::TinyInt | OdpsType::SmallInt | OdpsType::Int | OdpsType::BigInt
                    ))
                {
                    return Err(PlanError::PartitionType {
                        column: c.name.clone(),
                        ty: c.ty.to_string(),
                    });
                }
                output.push(OutColumn::Partition(c.clone()));
                fields.push(c.to_arrow_field());
            } else {
                return Err(PlanError::UnknownColumn(name.clone()));
            }
        }
        let passthrough = output.iter().all(|o| matches!(o, OutColumn::Data(_)));
        Ok(Self {
            columns_param: Some(wire.iter().map(|c| c.name.clone()).collect()),
            wire_schema: columns_to_arrow(&wire),
            output_schema: Arc::new(Schema::new(fields)),
            wire,
            output,
            passthrough,
        })
    }

    /// The data columns on the wire.
    pub fn wire_columns(&self) -> &[Column] {
        &self.wire
    }

    /// The schema of the batches this plan emits.
    pub fn output_schema(&self) -> &SchemaRef {
        &self.output_schema
    }

    /// The read request's row range and options.
    pub fn range(
        &self,
        partition: &PartitionSpec,
        start: u64,
        count: u64,
        format: ReadFormat,
    ) -> ReadRange {
        ReadRange {
            partition: partition.clone(),
            start,
            count,
            columns: self.columns_param.clone(),
            arrow: format.is_arrow(),
            accept_encoding: format.accept_encoding().map(str::to_string),
            raw_size: None,
            disable_modified_check: false,
        }
    }

    /// Decodes a data response body into output batches.
    pub fn decode(
        &self,
        body: &DataBody,
        format: ReadFormat,
        partition: &PartitionSpec,
        batch_rows: usize,
        max_body_bytes: usize,
    ) -> Result<Vec<RecordBatch>, DecodeError> {
        let codec = Compression::from_content_encoding(body.content_encoding.as_deref())
            .map_err(|e| DecodeError(e.to_string()))?;
        let plain: std::borrow::Cow<'_, [u8]> = match codec {
            Compression::Raw => std::borrow::Cow::Borrowed(&body.body),
            c => std::borrow::Cow::Owned(
                decompress(c, &body.body, max_body_bytes)
                    .map_err(|e| DecodeError(e.to_string()))?,
            ),
        };
        let batches = match format {
            ReadFormat::Records { .. } => {
                let mut dec = RecordDecoder::new(&self.wire, batch_rows);
                dec.feed(&plain).map_err(|e| DecodeError(e.to_string()))?;
                let mut out = Vec::new();
                while let Some(b) = dec.next_batch() {
                    out.push(b);
                }
                if let Some(b) = dec.finish().map_err(|e| DecodeError(e.to_string()))? {
                    out.push(b);
                }
                while let Some(b) = dec.next_batch() {
                    out.push(b);
                }
                out
            }
            ReadFormat::Arrow { .. } => {
                let data =
                    unframe(MAX_CHUNK_SIZE, &plain).map_err(|e| DecodeError(e.to_string()))?;
                let mut dec = RecordBatchDecoder::new(self.wire_schema.clone());
                let out = dec.feed(&data).map_err(|e| DecodeError(e.to_string()))?;
                dec.finish().map_err(|e| DecodeError(e.to_string()))?;
                out
            }
        };
        batches
            .into_iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| self.to_output(b, partition))
            .collect()
    }

    /// Adds partition columns and orders the columns as projected.
    pub fn to_output(
        &self,
        batch: RecordBatch,
        partition: &PartitionSpec,
    ) -> Result<RecordBatch, DecodeError> {
        if self.passthrough {
            return RecordBatch::try_new(self.output_schema.clone(), batch.columns().to_vec())
                .map_err(|e| DecodeError(e.to_string()));
        }
        let n = batch.num_rows();
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.output.len());
        for o in &self.output {
            match o {
                OutColumn::Data(i) => match batch.columns().get(*i) {
                    Some(a) => arrays.push(a.clone()),
                    None => return Err(DecodeError(format!("decoded batch lacks column {i}"))),
                },
                OutColumn::Partition(c) => arrays.push(
                    partition_array(c, partition, n).map_err(|e| DecodeError(e.to_string()))?,
                ),
            }
        }
        RecordBatch::try_new(self.output_schema.clone(), arrays)
            .map_err(|e| DecodeError(e.to_string()))
    }
}

/// A constant column holding the partition's value of `column`.
fn partition_array(
    column: &Column,
    partition: &PartitionSpec,
    rows: usize,
) -> Result<ArrayRef, PlanError> {
    let value = partition
        .get(&column.name)
        .ok_or_else(|| PlanError::MissingPartitionValue {
            partition: partition.to_string(),
            column: column.name.clone(),
        })?;
    let bad = || PlanError::PartitionValue {
        column: column.name.clone(),
        ty: column.ty.to_string(),
        value: value.to_string(),
    };
    Ok(match column.ty {
        OdpsType::TinyInt => Arc::new(Int8Array::from(vec![
            value
                .parse::<i8>()
                .map_err(|_| bad())?;
            rows
        ])),
        OdpsType::SmallInt => Arc::new(Int16Array::from(vec![
            value
                .parse::<i16>()
                .map_err(|_| bad())?;
            rows
        ])),
        OdpsType::Int => Arc::new(Int32Array::from(vec![
            value
                .parse::<i32>()
                .map_err(|_| bad())?;
            rows
        ])),
        OdpsType::BigInt => Arc::new(Int64Array::from(vec![
            value
                .parse::<i64>()
                .map_err(|_| bad())?;
            rows
        ])),
        _ => Arc::new(StringArray::from(vec![value; rows])),
    })
}

/// A response body that could not be decoded (decompression, framing, checksums, values).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);
