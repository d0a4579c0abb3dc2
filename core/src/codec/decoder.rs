//! Record stream → Arrow batches, incrementally.
//!
//! The decoder is schema driven: each wire column owns a builder tree ([`Node`]) that knows how
//! to read its type's value bytes (which a generic protobuf parser could not: several types
//! are tagged "length-delimited" but carry no length). Input arrives in chunks split at any
//! byte. Complete records are parsed straight from the chunk; only the unfinished tail is
//! copied and kept. When a record stops halfway, every builder is truncated back to the last
//! complete record and the record is parsed again from its start once more input arrives.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, IntervalMonthDayNanoType, IntervalYearMonthType, TimestampMillisecondType,
    TimestampNanosecondType,
};
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, ListArray, MapArray, PrimitiveArray, RecordBatch,
    RecordBatchOptions, StringArray, StructArray,
};
use arrow_buffer::{
    BooleanBufferBuilder, Buffer, IntervalMonthDayNano, NullBufferBuilder, OffsetBuffer,
    ScalarBuffer,
};
use arrow_schema::{ArrowError, DataType, SchemaRef};

use super::DecodeLimits;
use super::crc::{BufferedCrc32c, crc32c_append};
use super::decimal::parse_decimal;
use super::encoder::{NANOS_PER_DAY, NANOS_PER_SEC, wire_type_of};
use super::error::CodecError;
use super::wire::{
    self, END_METRICS, META_CHECKSUM, META_COUNT, METRICS_FIELD, TUNNEL_END_RECORD, WIRE_LEN,
    WIRE_VARINT, WireError,
};
use super::writer::{CrcScratch, RowCrc};
use crate::types::arrow::columns_to_arrow;
use crate::types::{Column, OdpsType};

/// The end-of-record tag as it is always written (`TUNNEL_END_RECORD`, wire type 0).
const END_RECORD_TAG: [u8; 4] = [0x80, 0xc0, 0xff, 0x7f];

/// A batch is emitted early once its records took this many input bytes, which keeps every
/// variable-length buffer of a batch well below the 2 GiB that i32 offsets can address.
const BATCH_BYTES_SOFT_LIMIT: usize = 1 << 30;
/// Cap on capacity reserved up front from the caller's batch size.
const MAX_PREALLOC_ROWS: usize = 8192;

// ------------------------------------------------------------------------------------------
// Parse errors inside a record

/// Why parsing stopped inside a record.
enum Stop {
    /// The input ends inside the record; `need` is the minimum input length (from the start
    /// of the parsed slice) that could complete it.
    Incomplete { need: usize },
    /// A complete error.
    Err(Box<CodecError>),
    /// A value error that still needs the column name and record index.
    Val(Box<ValErr>),
    /// The record's CRC input outgrew the scratch: grow it and parse the record again.
    CrcRoom,
}

enum ValErr {
    FieldTooLarge {
        len: u64,
        limit: usize,
    },
    CollectionTooLong {
        len: u64,
        limit: usize,
    },
    Utf8,
    Invalid {
        ty: String,
        reason: String,
    },
    Decimal {
        text: String,
        precision: u8,
        scale: u8,
        reason: &'static str,
    },
    NullMapKey,
    MapLength {
        keys: u64,
        values: u64,
    },
    BatchTooLarge,
}

impl ValErr {
    fn into_error(self, column: &str, record: u64) -> CodecError {
        let column = column.to_string();
        match self {
            ValErr::FieldTooLarge { len, limit } => CodecError::FieldTooLarge {
                record,
                column,
                len,
                limit,
            },
            ValErr::CollectionTooLong { len, limit } => CodecError::CollectionTooLong {
                record,
                column,
                len,
                limit,
            },
            ValErr::Utf8 => CodecError::InvalidUtf8 { record, column },
            ValErr::Invalid { ty, reason } => CodecError::InvalidValue {
                record,
                column,
                ty,
                reason,
            },
            ValErr::Decimal {
                text,
                precision,
                scale,
                reason,
            } => CodecError::InvalidDecimal {
                record,
                column,
                text,
                precision,
                scale,
                reason,
            },
            ValErr::NullMapKey => CodecError::NullMapKey { record, column },
            ValErr::MapLength { keys, values } => CodecError::MapLengthMismatch {
                record,
                column,
                keys,
                values,
            },
            ValErr::BatchTooLarge => CodecError::BatchTooLarge { column },
        }
    }
}

fn val(e: ValErr) -> Stop {
    Stop::Val(Box::new(e))
}

fn invalid(ty: &OdpsType, reason: String) -> Stop {
    val(ValErr::Invalid {
        ty: ty.to_string(),
        reason,
    })
}

/// A cursor over the slice being parsed.
#[derive(Clone, Copy)]
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    /// Stream offset of `data[0]`.
    base: u64,
    max_field_bytes: usize,
    max_collection_len: usize,
}

impl Cursor<'_> {
    #[inline]
    fn wire(&self, e: WireError) -> Stop {
        match e {
            WireError::Incomplete => Stop::Incomplete {
                need: self.data.len() + 1,
            },
            WireError::Overflow => Stop::Err(Box::new(CodecError::VarintOverflow {
                offset: self.base + self.pos as u64,
            })),
        }
    }

    #[inline(always)]
    fn varint(&mut self) -> Result<u64, Stop> {
        match self.data.get(self.pos) {
            Some(&b) if b < 0x80 => {
                self.pos += 1;
                Ok(u64::from(b))
            }
            _ => self.varint_multi(),
        }
    }

    #[inline(never)]
    fn varint_multi(&mut self) -> Result<u64, Stop> {
        wire::read_varint(self.data, &mut self.pos).map_err(|e| self.wire(e))
    }

    /// [`Cursor::varint`] with the multi-byte case inlined too (for hot integer columns).
    #[inline(always)]
    fn varint_wide(&mut self) -> Result<u64, Stop> {
        if let Some((v, len)) = self
            .data
            .get(self.pos..)
            .and_then(|t| t.first_chunk::<8>())
            .and_then(|word| wire::varint_from_word(u64::from_le_bytes(*word)))
        {
            self.pos += len;
            return Ok(v);
        }
        self.varint()
    }

    /// A field tag; the end-of-record tag is recognised without decoding it.
    #[inline(always)]
    fn tag(&mut self) -> Result<u64, Stop> {
        match self.data.get(self.pos) {
            Some(&b) if b < 0x80 => {
                self.pos += 1;
                Ok(u64::from(b))
            }
            _ => {
                if self.data.get(self.pos..).and_then(|t| t.first_chunk::<4>())
                    == Some(&END_RECORD_TAG)
                {
                    self.pos += 4;
                    return Ok(wire::make_tag(TUNNEL_END_RECORD, WIRE_VARINT));
                }
                self.varint_multi()
            }
        }
    }

    #[inline(always)]
    fn zz64(&mut self) -> Result<i64, Stop> {
        self.varint().map(wire::unzigzag64)
    }

    #[inline]
    fn zz32(&mut self, ty: &OdpsType) -> Result<i32, Stop> {
        let v = self.varint()?;
        let v = u32::try_from(v)
            .map_err(|_| invalid(ty, format!("nanoseconds varint {v} exceeds 32 bits")))?;
        Ok(wire::unzigzag32(v))
    }

    #[inline]
    fn crc(&mut self) -> Result<u32, Stop> {
        wire::read_crc_varint(self.data, &mut self.pos).map_err(|e| self.wire(e))
    }

    #[inline(always)]
    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], Stop> {
        wire::read_fixed::<N>(self.data, &mut self.pos)
            .map_err(|_| Stop::Incomplete { need: self.pos + N })
    }

    /// A length-prefixed byte string, its length checked against the limit before anything
    /// else.
    #[inline(always)]
    fn bytes(&mut self) -> Result<&[u8], Stop> {
        let (start, end) = self.bytes_range()?;
        Ok(self.data.get(start..end).unwrap_or_default())
    }

    /// Where the next length-prefixed byte string is in `data` (see [`Cursor::bytes`]).
    #[inline(always)]
    fn bytes_range(&mut self) -> Result<(usize, usize), Stop> {
        let len = self.varint()?;
        if len > self.max_field_bytes as u64 {
            return Err(self.too_large(len));
        }
        let start = self.pos;
        let Some(end) = start.checked_add(len as usize) else {
            return Err(self.too_large(len));
        };
        if end <= self.data.len() {
            self.pos = end;
            Ok((start, end))
        } else {
            Err(Stop::Incomplete { need: end })
        }
    }

    #[cold]
    fn too_large(&self, len: u64) -> Stop {
        val(ValErr::FieldTooLarge {
            len,
            limit: self.max_field_bytes,
        })
    }

    /// An element count, checked against the limit.
    #[inline]
    fn count(&mut self) -> Result<u64, Stop> {
        let n = self.varint()?;
        if n > self.max_collection_len as u64 || n > u64::from(u32::MAX) {
            return Err(val(ValErr::CollectionTooLong {
                len: n,
                limit: self.max_collection_len,
            }));
        }
        Ok(n)
    }

    /// A container's per-element null flag.
    #[inline]
    fn null_flag(&mut self, ty: &OdpsType) -> Result<bool, Stop> {
        match self.varint()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(invalid(ty, format!("element null flag is {v}, not 0 or 1"))),
        }
    }
}

// ------------------------------------------------------------------------------------------
// Builders

/// Column data of one builder node.
enum Data {
    Bool(BooleanBufferBuilder),
    Int8(Vec<i8>),
    Int16(Vec<i16>),
    Int32(Vec<i32>),
    Int64(Vec<i64>),
    Float(Vec<f32>),
    Double(Vec<f64>),
    Decimal {
        values: Vec<i128>,
        precision: u8,
        scale: u8,
    },
    /// STRING, CHAR, VARCHAR, JSON (validated UTF-8).
    Text {
        offsets: Vec<i32>,
        data: Vec<u8>,
    },
    Binary {
        offsets: Vec<i32>,
        data: Vec<u8>,
    },
    Date(Vec<i32>),
    DateTime(Vec<i64>),
    /// TIMESTAMP and TIMESTAMP_NTZ, nanoseconds.
    Timestamp(Vec<i64>),
    DayTime(Vec<IntervalMonthDayNano>),
    YearMonth(Vec<i32>),
    List {
        offsets: Vec<i32>,
        child: Box<Node>,
    },
    Map {
        offsets: Vec<i32>,
        keys: Box<Node>,
        values: Box<Node>,
    },
    Struct(Vec<Node>),
}

/// The builder of one column (or one nested element type).
struct Node {
    ty: OdpsType,
    /// The Arrow type built (carries the child fields of nested types).
    arrow: DataType,
    validity: NullBufferBuilder,
    data: Data,
}

fn offsets_vec(cap: usize) -> Vec<i32> {
    let mut v = Vec::with_capacity(cap + 1);
    v.push(0);
    v
}

/// `i32` offset of a length, or the batch is too large.
#[inline]
fn offset(len: usize) -> Result<i32, Stop> {
    i32::try_from(len).map_err(|_| val(ValErr::BatchTooLarge))
}

/// Nesting depth of a type: 0 for primitives, 1 + the deepest child for containers.
fn depth(ty: &OdpsType) -> usize {
    match ty {
        OdpsType::Array(t) => 1 + depth(t),
        OdpsType::Map(k, v) => 1 + depth(k).max(depth(v)),
        OdpsType::Struct(fs) => 1 + fs.iter().map(|f| depth(&f.ty)).max().unwrap_or(0),
        _ => 0,
    }
}

impl Node {
    fn new(ty: &OdpsType, cap: usize) -> Node {
        let data = match ty {
            OdpsType::Boolean => Data::Bool(BooleanBufferBuilder::new(cap)),
            OdpsType::TinyInt => Data::Int8(Vec::with_capacity(cap)),
            OdpsType::SmallInt => Data::Int16(Vec::with_capacity(cap)),
            OdpsType::Int => Data::Int32(Vec::with_capacity(cap)),
            OdpsType::BigInt => Data::Int64(Vec::with_capacity(cap)),
            OdpsType::Float => Data::Float(Vec::with_capacity(cap)),
            OdpsType::Double => Data::Double(Vec::with_capacity(cap)),
            OdpsType::Decimal { precision, scale } => Data::Decimal {
                values: Vec::with_capacity(cap),
                precision: *precision,
                scale: *scale,
            },
            OdpsType::Char(_) | OdpsType::Varchar(_) | OdpsType::String | OdpsType::Json => {
                Data::Text {
                    offsets: offsets_vec(cap),
                    data: Vec::new(),
                }
            }
            OdpsType::Binary => Data::Binary {
                offsets: offsets_vec(cap),
                data: Vec::new(),
            },
            OdpsType::Date => Data::Date(Vec::with_capacity(cap)),
            OdpsType::DateTime => Data::DateTime(Vec::with_capacity(cap)),
            OdpsType::Timestamp | OdpsType::TimestampNtz => {
                Data::Timestamp(Vec::with_capacity(cap))
            }
            OdpsType::IntervalDayTime => Data::DayTime(Vec::with_capacity(cap)),
            OdpsType::IntervalYearMonth => Data::YearMonth(Vec::with_capacity(cap)),
            OdpsType::Array(t) => Data::List {
                offsets: offsets_vec(cap),
                child: Box::new(Node::new(t, 0)),
            },
            OdpsType::Map(k, v) => Data::Map {
                offsets: offsets_vec(cap),
                keys: Box::new(Node::new(k, 0)),
                values: Box::new(Node::new(v, 0)),
            },
            OdpsType::Struct(fs) => {
                Data::Struct(fs.iter().map(|f| Node::new(&f.ty, cap)).collect())
            }
        };
        Node {
            ty: ty.clone(),
            arrow: ty.to_arrow(),
            validity: NullBufferBuilder::new(cap),
            data,
        }
    }

    fn len(&self) -> usize {
        self.validity.len()
    }

    /// Appends a NULL slot.
    fn push_null(&mut self) {
        self.validity.append_null();
        match &mut self.data {
            Data::Bool(b) => b.append(false),
            Data::Int8(v) => v.push(0),
            Data::Int16(v) => v.push(0),
            Data::Int32(v) | Data::Date(v) | Data::YearMonth(v) => v.push(0),
            Data::Int64(v) | Data::DateTime(v) | Data::Timestamp(v) => v.push(0),
            Data::Float(v) => v.push(0.0),
            Data::Double(v) => v.push(0.0),
            Data::Decimal { values, .. } => values.push(0),
            Data::DayTime(v) => v.push(IntervalMonthDayNano::ZERO),
            Data::Text { offsets, .. }
            | Data::Binary { offsets, .. }
            | Data::List { offsets, .. }
            | Data::Map { offsets, .. } => {
                let last = offsets.last().copied().unwrap_or(0);
                offsets.push(last);
            }
            Data::Struct(children) => {
                for c in children {
                    c.push_null();
                }
            }
        }
    }

    /// Drops everything after the first `n` slots, including children appended for a slot
    /// that was never completed.
    fn truncate(&mut self, n: usize) {
        if self.validity.len() > n {
            self.validity.truncate(n);
        }
        fn cut_offsets(offsets: &mut Vec<i32>, n: usize) -> usize {
            offsets.truncate(n + 1);
            offsets.last().map_or(0, |&o| o as usize)
        }
        match &mut self.data {
            Data::Bool(b) => b.truncate(n),
            Data::Int8(v) => v.truncate(n),
            Data::Int16(v) => v.truncate(n),
            Data::Int32(v) | Data::Date(v) | Data::YearMonth(v) => v.truncate(n),
            Data::Int64(v) | Data::DateTime(v) | Data::Timestamp(v) => v.truncate(n),
            Data::Float(v) => v.truncate(n),
            Data::Double(v) => v.truncate(n),
            Data::Decimal { values, .. } => values.truncate(n),
            Data::DayTime(v) => v.truncate(n),
            Data::Text { offsets, data } | Data::Binary { offsets, data } => {
                let end = cut_offsets(offsets, n);
                data.truncate(end);
            }
            Data::List { offsets, child } => {
                let end = cut_offsets(offsets, n);
                child.truncate(end);
            }
            Data::Map {
                offsets,
                keys,
                values,
            } => {
                let end = cut_offsets(offsets, n);
                keys.truncate(end);
                values.truncate(end);
            }
            Data::Struct(children) => {
                for c in children {
                    c.truncate(n);
                }
            }
        }
    }

    /// Reads one container element: its null flag, then its value when not null.
    #[inline]
    fn decode_element(&mut self, c: &mut Cursor<'_>, crc: &mut RowCrc<'_>) -> Result<(), Stop> {
        crc.maybe_fold();
        if c.null_flag(&self.ty)? {
            self.push_null();
            Ok(())
        } else {
            self.decode(c, crc)
        }
    }

    /// Reads one non-null value (no tag), appends it and folds its CRC bytes.
    #[inline]
    fn decode(&mut self, c: &mut Cursor<'_>, crc: &mut RowCrc<'_>) -> Result<(), Stop> {
        match &mut self.data {
            Data::Bool(b) => {
                let v = match c.varint()? {
                    0 => false,
                    1 => true,
                    v => return Err(invalid(&self.ty, format!("boolean varint is {v}"))),
                };
                crc.put(&[u8::from(v)], 1);
                b.append(v);
            }
            Data::Int8(out) => {
                let v = c.zz64()?;
                let x = i8::try_from(v).map_err(|_| out_of_range(&self.ty, v))?;
                crc.put(&v.to_le_bytes(), 8);
                out.push(x);
            }
            Data::Int16(out) => {
                let v = c.zz64()?;
                let x = i16::try_from(v).map_err(|_| out_of_range(&self.ty, v))?;
                crc.put(&v.to_le_bytes(), 8);
                out.push(x);
            }
            Data::Int32(out) | Data::Date(out) | Data::YearMonth(out) => {
                let v = c.zz64()?;
                let x = i32::try_from(v).map_err(|_| out_of_range(&self.ty, v))?;
                crc.put(&v.to_le_bytes(), 8);
                out.push(x);
            }
            Data::Int64(out) | Data::DateTime(out) => {
                let v = c.zz64()?;
                crc.put(&v.to_le_bytes(), 8);
                out.push(v);
            }
            Data::Float(out) => {
                let b = c.fixed::<4>()?;
                crc.put(&b, 4);
                out.push(f32::from_le_bytes(b));
            }
            Data::Double(out) => {
                let b = c.fixed::<8>()?;
                crc.put(&b, 8);
                out.push(f64::from_le_bytes(b));
            }
            Data::Decimal {
                values,
                precision,
                scale,
            } => {
                let text = c.bytes()?;
                let v = parse_decimal(text, *precision, *scale)
                    .map_err(|reason| decimal_error(text, *precision, *scale, reason))?;
                crc.slice(text);
                values.push(v);
            }
            Data::Text { offsets, data } => {
                let b = c.bytes()?;
                if !b.is_ascii() && std::str::from_utf8(b).is_err() {
                    return Err(val(ValErr::Utf8));
                }
                crc.slice(b);
                data.extend_from_slice(b);
                offsets.push(offset(data.len())?);
            }
            Data::Binary { offsets, data } => {
                let b = c.bytes()?;
                crc.slice(b);
                data.extend_from_slice(b);
                offsets.push(offset(data.len())?);
            }
            Data::Timestamp(out) => {
                let secs = c.zz64()?;
                let nanos = c.zz32(&self.ty)?;
                // In i128: floor seconds of i64::MIN ns times 10^9 alone is below i64::MIN.
                let total = i128::from(secs) * i128::from(NANOS_PER_SEC) + i128::from(nanos);
                let ns = i64::try_from(total)
                    .ok()
                    .filter(|_| nanos.unsigned_abs() < NANOS_PER_SEC as u32)
                    .ok_or_else(|| {
                        invalid(
                            &self.ty,
                            format!(
                                "{secs} s + {nanos} ns is beyond the nanosecond timestamp range"
                            ),
                        )
                    })?;
                crc.put(&secs_nanos_le(secs, nanos), 12);
                out.push(ns);
            }
            Data::DayTime(out) => {
                let secs = c.zz64()?;
                let nanos = c.zz32(&self.ty)?;
                let total = i128::from(secs) * i128::from(NANOS_PER_SEC) + i128::from(nanos);
                let days = i32::try_from(total / NANOS_PER_DAY)
                    .ok()
                    .filter(|_| nanos.unsigned_abs() < NANOS_PER_SEC as u32)
                    .ok_or_else(|| {
                        invalid(&self.ty, format!("{secs} s + {nanos} ns is out of range"))
                    })?;
                // |remainder| < one day in nanoseconds, which fits i64.
                let rest = (total % NANOS_PER_DAY) as i64;
                crc.put(&secs_nanos_le(secs, nanos), 12);
                out.push(IntervalMonthDayNano::new(0, days, rest));
            }
            Data::List { offsets, child } => {
                let n = c.count()?;
                for _ in 0..n {
                    child.decode_element(c, crc)?;
                }
                offsets.push(offset(child.len())?);
            }
            Data::Map {
                offsets,
                keys,
                values,
            } => {
                let nk = c.count()?;
                for _ in 0..nk {
                    if c.null_flag(&keys.ty)? {
                        return Err(val(ValErr::NullMapKey));
                    }
                    crc.maybe_fold();
                    keys.decode(c, crc)?;
                }
                let nv = c.count()?;
                if nv != nk {
                    return Err(val(ValErr::MapLength {
                        keys: nk,
                        values: nv,
                    }));
                }
                for _ in 0..nv {
                    values.decode_element(c, crc)?;
                }
                offsets.push(offset(keys.len())?);
            }
            Data::Struct(children) => {
                for child in children {
                    child.decode_element(c, crc)?;
                }
            }
        }
        self.validity.append_non_null();
        Ok(())
    }

    /// Moves the built slots out as an Arrow array and starts empty again.
    fn finish(&mut self, cap: usize) -> Result<ArrayRef, ArrowError> {
        let len = self.len();
        let nulls = self.validity.finish();
        fn prim<T: arrow_array::ArrowPrimitiveType>(
            v: &mut Vec<T::Native>,
            cap: usize,
            nulls: Option<arrow_buffer::NullBuffer>,
        ) -> PrimitiveArray<T> {
            let taken = std::mem::replace(v, Vec::with_capacity(cap));
            PrimitiveArray::<T>::new(ScalarBuffer::from(taken), nulls)
        }
        fn take_offsets(o: &mut Vec<i32>, cap: usize) -> OffsetBuffer<i32> {
            let taken = std::mem::replace(o, offsets_vec(cap));
            // Offsets start at 0 and never decrease: they are built that way.
            OffsetBuffer::new(ScalarBuffer::from(taken))
        }
        let arr: ArrayRef = match &mut self.data {
            Data::Bool(b) => Arc::new(BooleanArray::new(b.finish(), nulls)),
            Data::Int8(v) => Arc::new(prim::<Int8Type>(v, cap, nulls)),
            Data::Int16(v) => Arc::new(prim::<Int16Type>(v, cap, nulls)),
            Data::Int32(v) => Arc::new(prim::<Int32Type>(v, cap, nulls)),
            Data::Int64(v) => Arc::new(prim::<Int64Type>(v, cap, nulls)),
            Data::Float(v) => Arc::new(prim::<Float32Type>(v, cap, nulls)),
            Data::Double(v) => Arc::new(prim::<Float64Type>(v, cap, nulls)),
            Data::Decimal {
                values,
                precision,
                scale,
            } => Arc::new(
                prim::<Decimal128Type>(values, cap, nulls)
                    .with_precision_and_scale(*precision, *scale as i8)?,
            ),
            Data::Text { offsets, data } => {
                let o = take_offsets(offsets, cap);
                let d = Buffer::from_vec(std::mem::take(data));
                Arc::new(StringArray::try_new(o, d, nulls)?)
            }
            Data::Binary { offsets, data } => {
                let o = take_offsets(offsets, cap);
                let d = Buffer::from_vec(std::mem::take(data));
                Arc::new(BinaryArray::try_new(o, d, nulls)?)
            }
            Data::Date(v) => Arc::new(prim::<Date32Type>(v, cap, nulls)),
            Data::DateTime(v) => Arc::new(prim::<TimestampMillisecondType>(v, cap, nulls)),
            Data::Timestamp(v) => {
                let tz = match &self.arrow {
                    DataType::Timestamp(_, tz) => tz.clone(),
                    _ => None,
                };
                Arc::new(prim::<TimestampNanosecondType>(v, cap, nulls).with_timezone_opt(tz))
            }
            Data::DayTime(v) => Arc::new(prim::<IntervalMonthDayNanoType>(v, cap, nulls)),
            Data::YearMonth(v) => Arc::new(prim::<IntervalYearMonthType>(v, cap, nulls)),
            Data::List { offsets, child } => {
                let DataType::List(field) = &self.arrow else {
                    return Err(ArrowError::SchemaError("list type expected".into()));
                };
                let o = take_offsets(offsets, cap);
                let values = child.finish(0)?;
                Arc::new(ListArray::try_new(field.clone(), o, values, nulls)?)
            }
            Data::Map {
                offsets,
                keys,
                values,
            } => {
                let DataType::Map(entries_field, sorted) = &self.arrow else {
                    return Err(ArrowError::SchemaError("map type expected".into()));
                };
                let DataType::Struct(kv) = entries_field.data_type() else {
                    return Err(ArrowError::SchemaError(
                        "map entries must be a struct".into(),
                    ));
                };
                let o = take_offsets(offsets, cap);
                let k = keys.finish(0)?;
                let v = values.finish(0)?;
                let entries = StructArray::try_new(kv.clone(), vec![k, v], None)?;
                Arc::new(MapArray::try_new(
                    entries_field.clone(),
                    o,
                    entries,
                    nulls,
                    *sorted,
                )?)
            }
            Data::Struct(children) => {
                let DataType::Struct(fields) = &self.arrow else {
                    return Err(ArrowError::SchemaError("struct type expected".into()));
                };
                let arrays = children
                    .iter_mut()
                    .map(|c| c.finish(cap))
                    .collect::<Result<Vec<_>, _>>()?;
                Arc::new(StructArray::try_new_with_length(
                    fields.clone(),
                    arrays,
                    nulls,
                    len,
                )?)
            }
        };
        Ok(arr)
    }
}

/// Reads the (non-null) value of a top-level column, appends it and folds the field number
/// `field_le` and the value's CRC bytes. The common scalar types are inlined here; the others
/// go to [`Node::decode`] out of line.
#[inline(always)]
fn decode_field(
    node: &mut Node,
    c: &mut Cursor<'_>,
    crc: &mut RowCrc<'_>,
    field_le: &[u8; 4],
) -> Result<(), Stop> {
    match &mut node.data {
        Data::Int64(out) | Data::DateTime(out) => {
            let v = wire::unzigzag64(c.varint_wide()?);
            crc.put(&concat12(field_le, v.to_le_bytes()), 12);
            out.push(v);
        }
        Data::Double(out) => {
            let b = c.fixed::<8>()?;
            crc.put(&concat12(field_le, b), 12);
            out.push(f64::from_le_bytes(b));
        }
        Data::Bool(b) => {
            let v = match c.varint()? {
                0 => false,
                1 => true,
                v => return Err(invalid(&node.ty, format!("boolean varint is {v}"))),
            };
            let [f0, f1, f2, f3] = *field_le;
            crc.put(&[f0, f1, f2, f3, u8::from(v)], 5);
            b.append(v);
        }
        Data::Text { offsets, data } => {
            let (s, e) = c.bytes_range()?;
            let b = c.data.get(s..e).unwrap_or_default();
            if !b.is_ascii() && std::str::from_utf8(b).is_err() {
                return Err(val(ValErr::Utf8));
            }
            crc.put(field_le, 4);
            crc.range(c.data, s, e);
            append_range(data, c.data, s, e);
            offsets.push(offset(data.len())?);
        }
        Data::Decimal {
            values,
            precision,
            scale,
        } => {
            let text = c.bytes()?;
            let v = parse_decimal(text, *precision, *scale)
                .map_err(|reason| decimal_error(text, *precision, *scale, reason))?;
            crc.put(field_le, 4);
            crc.slice(text);
            values.push(v);
        }
        _ => {
            crc.put(field_le, 4);
            // Out of line, on copies of the cursors, so that `c` and `crc` stay in registers
            // in the caller's loop.
            let mut c2 = *c;
            let mut crc2 = crc.split();
            let r = node.decode(&mut c2, &mut crc2);
            let st = crc2.state();
            crc.merge(st);
            c.pos = c2.pos;
            return r;
        }
    }
    node.validity.append_non_null();
    Ok(())
}

/// Appends `src[start..end]` to `dst`; short ones as one 16-byte copy.
#[inline(always)]
fn append_range(dst: &mut Vec<u8>, src: &[u8], start: usize, end: usize) {
    let n = end.saturating_sub(start);
    match src.get(start..).and_then(|t| t.first_chunk::<16>()) {
        Some(window) if n <= 16 => {
            let len = dst.len();
            dst.extend_from_slice(window);
            dst.truncate(len + n);
        }
        _ => dst.extend_from_slice(src.get(start..end).unwrap_or_default()),
    }
}

#[cold]
fn decimal_error(text: &[u8], precision: u8, scale: u8, reason: &'static str) -> Stop {
    let shown = String::from_utf8_lossy(text);
    val(ValErr::Decimal {
        text: shown.chars().take(64).collect(),
        precision,
        scale,
        reason,
    })
}

/// `secs` then `nanos`, little endian (the CRC bytes of TIMESTAMP and INTERVAL_DAY_TIME).
#[inline(always)]
fn secs_nanos_le(secs: i64, nanos: i32) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[..8].copy_from_slice(&secs.to_le_bytes());
    b[8..].copy_from_slice(&nanos.to_le_bytes());
    b
}

/// `a` followed by `b`.
#[inline(always)]
fn concat12(a: &[u8; 4], b: [u8; 8]) -> [u8; 12] {
    let mut c = [0u8; 12];
    c[..4].copy_from_slice(a);
    c[4..].copy_from_slice(&b);
    c
}

#[cold]
fn out_of_range(ty: &OdpsType, v: i64) -> Stop {
    invalid(ty, format!("value {v} is out of range"))
}

// ------------------------------------------------------------------------------------------
// The decoder

/// One wire column of the decoder.
struct DecColumn {
    name: String,
    nullable: bool,
    wire_type: u8,
    /// Field number as int32 LE (folded into the record CRC).
    field_le: [u8; 4],
    node: Node,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Records,
    /// The footer was read (or `finish` ran): nothing more may follow.
    Done,
}

/// Outcome of parsing one unit at the start of the remaining input.
enum Unit {
    Record,
    Footer,
}

/// Everything but the input buffer (so parsing can borrow the buffer separately).
struct State {
    columns: Vec<DecColumn>,
    schema: SchemaRef,
    limits: DecodeLimits,
    batch_size: usize,
    /// Per column: the stamp of the last record that set it.
    seen: Vec<u64>,
    stamp: u64,
    /// Scratch room for the CRC input of one record.
    crc_scratch: CrcScratch,
    stream_crc: BufferedCrc32c,
    /// Complete records in the builders.
    rows: usize,
    /// Input bytes of the records in the builders.
    batch_bytes: usize,
    /// Complete records in the stream.
    records: u64,
    ready: VecDeque<RecordBatch>,
    phase: Phase,
}

/// Decodes a tunnel record stream into Arrow record batches, incrementally.
///
/// Feed the stream in chunks of any size (split at any byte) with [`RecordDecoder::feed`],
/// take full batches with [`RecordDecoder::next_batch`], and end with
/// [`RecordDecoder::finish`], which checks the footer and returns the last partial batch.
/// After an error the decoder stays failed and returns the same error.
pub struct RecordDecoder {
    state: State,
    /// The unparsed tail (an incomplete record or footer).
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    buf_offset: u64,
    /// Parsing cannot succeed before `buf` holds this many bytes.
    need: usize,
    failed: Option<CodecError>,
}

impl std::fmt::Debug for RecordDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordDecoder")
            .field("columns", &self.state.columns.len())
            .field("batch_size", &self.state.batch_size)
            .field("records", &self.state.records)
            .field("buffered", &self.buf.len())
            .field("failed", &self.failed)
            .finish()
    }
}

impl RecordDecoder {
    /// A decoder for the wire columns in field order, emitting batches of `batch_size` rows
    /// (at least 1), with default limits.
    pub fn new(columns: &[Column], batch_size: usize) -> Self {
        Self::with_limits(columns, batch_size, DecodeLimits::default())
    }

    /// A decoder with explicit limits.
    pub fn with_limits(columns: &[Column], batch_size: usize, limits: DecodeLimits) -> Self {
        let batch_size = batch_size.max(1);
        let cap = batch_size.min(MAX_PREALLOC_ROWS);
        let mut failed = None;
        let too_deep = columns
            .iter()
            .map(|c| (c, depth(&c.ty)))
            .find(|(_, d)| *d > limits.max_nesting);
        let decoded: Vec<DecColumn> = if let Some((c, d)) = too_deep {
            failed = Some(CodecError::NestingTooDeep {
                column: c.name.clone(),
                depth: d,
                limit: limits.max_nesting,
            });
            Vec::new()
        } else {
            columns
                .iter()
                .enumerate()
                .map(|(i, c)| DecColumn {
                    name: c.name.clone(),
                    nullable: c.nullable,
                    wire_type: wire_type_of(&c.ty),
                    field_le: (i32::try_from(i + 1).unwrap_or(i32::MAX)).to_le_bytes(),
                    node: Node::new(&c.ty, cap),
                })
                .collect()
        };
        RecordDecoder {
            state: State {
                seen: vec![0; decoded.len()],
                columns: decoded,
                schema: columns_to_arrow(columns),
                limits,
                batch_size,
                stamp: 0,
                crc_scratch: CrcScratch::new(),
                stream_crc: BufferedCrc32c::new(),
                rows: 0,
                batch_bytes: 0,
                records: 0,
                ready: VecDeque::new(),
                phase: Phase::Records,
            },
            buf: Vec::new(),
            buf_offset: 0,
            need: 0,
            failed,
        }
    }

    /// The Arrow schema of the emitted batches.
    pub fn schema(&self) -> SchemaRef {
        self.state.schema.clone()
    }

    /// Records decoded so far (complete, checksum-verified records).
    pub fn records_decoded(&self) -> u64 {
        self.state.records
    }

    /// A full batch, when one is ready.
    pub fn next_batch(&mut self) -> Option<RecordBatch> {
        self.state.ready.pop_front()
    }

    /// Feeds the next chunk of the stream. Chunks may split the stream at any byte.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), CodecError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.feed_inner(chunk);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    fn feed_inner(&mut self, chunk: &[u8]) -> Result<(), CodecError> {
        let mut rest = chunk;
        if !self.buf.is_empty() {
            // The tail is one unfinished unit (record or footer) starting at `buf[0]`. Complete
            // it from the chunk, copying in steps that at least double the tail, so a long unit
            // is rescanned only a logarithmic number of times and most of the chunk is parsed
            // in place.
            loop {
                let want = self
                    .need
                    .saturating_sub(self.buf.len())
                    .max(self.buf.len())
                    .max(64);
                let take = want.min(rest.len());
                self.buf.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                if self.buf.len() >= self.need {
                    let consumed =
                        self.state
                            .parse(&self.buf, self.buf_offset, 1, &mut self.need)?;
                    if consumed > 0 {
                        self.buf_offset += consumed as u64;
                        let unparsed = self.buf.len() - consumed;
                        let from_chunk = chunk.len() - rest.len();
                        if let Some(i) = from_chunk.checked_sub(unparsed) {
                            // Everything after the unit came from this chunk: go on from there.
                            self.buf.clear();
                            rest = &chunk[i..];
                        } else {
                            // (Not expected: the unit could not end inside older bytes.)
                            self.buf.drain(..consumed);
                            self.buf.extend_from_slice(rest);
                            let consumed = self.state.parse(
                                &self.buf,
                                self.buf_offset,
                                usize::MAX,
                                &mut self.need,
                            )?;
                            self.buf.drain(..consumed);
                            self.buf_offset += consumed as u64;
                            return Ok(());
                        }
                        break;
                    }
                }
                if rest.is_empty() {
                    return Ok(());
                }
            }
        }
        if rest.is_empty() {
            return Ok(());
        }
        let consumed = self
            .state
            .parse(rest, self.buf_offset, usize::MAX, &mut self.need)?;
        self.buf_offset += consumed as u64;
        self.buf.extend_from_slice(&rest[consumed..]);
        Ok(())
    }

    /// Ends the input: checks that no record or footer is cut off, that the footer is there
    /// (when [`DecodeLimits::require_footer`]), and returns the last partial batch.
    ///
    /// Full batches not yet taken with [`RecordDecoder::next_batch`] stay queued in order:
    /// then this returns the first of them and the rest (partial batch last) come from
    /// `next_batch`.
    pub fn finish(&mut self) -> Result<Option<RecordBatch>, CodecError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.finish_inner();
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    fn finish_inner(&mut self) -> Result<Option<RecordBatch>, CodecError> {
        let st = &mut self.state;
        if !self.buf.is_empty() {
            return Err(CodecError::Truncated {
                record: st.records,
                pending: self.buf.len(),
            });
        }
        if st.phase != Phase::Done && st.limits.require_footer {
            return Err(CodecError::MissingFooter {
                records: st.records,
            });
        }
        st.phase = Phase::Done;
        if st.rows > 0 {
            st.emit()?;
        }
        Ok(st.ready.pop_front())
    }
}

impl State {
    /// Parses complete units from `data` (stream offset `base`) while they start before
    /// `stop_at`; returns the bytes consumed. An incomplete unit at the end is left
    /// unconsumed, with `need` set to the input length (from its start) it requires.
    fn parse(
        &mut self,
        data: &[u8],
        base: u64,
        stop_at: usize,
        need: &mut usize,
    ) -> Result<usize, CodecError> {
        let mut c = Cursor {
            data,
            pos: 0,
            base,
            max_field_bytes: self.limits.max_field_bytes,
            max_collection_len: self.limits.max_collection_len,
        };
        *need = 0;
        while c.pos < data.len() && c.pos < stop_at {
            let start = c.pos;
            if self.phase == Phase::Done {
                return Err(CodecError::TrailingBytes {
                    offset: base + start as u64,
                    count: data.len() - start,
                });
            }
            match self.parse_unit(&mut c) {
                Ok(Unit::Record) => {
                    self.rows += 1;
                    self.records += 1;
                    self.batch_bytes += c.pos - start;
                    if self.rows >= self.batch_size || self.batch_bytes >= BATCH_BYTES_SOFT_LIMIT {
                        self.emit()?;
                    }
                }
                Ok(Unit::Footer) => self.phase = Phase::Done,
                Err(Stop::CrcRoom) => {
                    // Parse the same record again with a larger CRC scratch.
                    self.rollback();
                    self.crc_scratch.grow();
                    c.pos = start;
                }
                Err(stop) => {
                    self.rollback();
                    return match stop {
                        Stop::Incomplete { need: n } => {
                            *need = n.saturating_sub(start);
                            Ok(start)
                        }
                        Stop::CrcRoom => Err(CodecError::Arrow(
                            "internal: CRC scratch retry escaped".into(),
                        )),
                        Stop::Err(e) => Err(*e),
                        Stop::Val(_) => Err(CodecError::Arrow(
                            "internal: value error escaped its column".into(),
                        )),
                    };
                }
            }
        }
        Ok(c.pos)
    }

    /// Drops a partly parsed record.
    fn rollback(&mut self) {
        let rows = self.rows;
        for col in &mut self.columns {
            col.node.truncate(rows);
        }
    }

    /// Builds a batch from the complete records and queues it.
    fn emit(&mut self) -> Result<(), CodecError> {
        let cap = self.batch_size.min(MAX_PREALLOC_ROWS);
        let arrays = self
            .columns
            .iter_mut()
            .map(|c| c.node.finish(cap))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CodecError::Arrow(e.to_string()))?;
        let opts = RecordBatchOptions::new().with_row_count(Some(self.rows));
        let batch = RecordBatch::try_new_with_options(self.schema.clone(), arrays, &opts)
            .map_err(|e| CodecError::Arrow(e.to_string()))?;
        self.ready.push_back(batch);
        self.rows = 0;
        self.batch_bytes = 0;
        Ok(())
    }

    /// Parses one record or the footer.
    #[inline(always)]
    fn parse_unit(&mut self, c: &mut Cursor<'_>) -> Result<Unit, Stop> {
        let mut crc = self.crc_scratch.row_crc();
        self.stamp += 1;
        let stamp = self.stamp;
        let ncols = self.columns.len();
        let record = self.records;
        let mut fields_seen = 0usize;
        loop {
            let tag_pos = c.pos;
            let tag = c.tag()?;
            let field = tag >> 3;
            let wire_type = (tag & 7) as u8;
            let idx = field.wrapping_sub(1);
            if idx < ncols as u64 {
                let idx = idx as usize;
                let col = &mut self.columns[idx];
                if self.seen[idx] == stamp {
                    return Err(Stop::Err(Box::new(CodecError::DuplicateField {
                        record,
                        column: col.name.clone(),
                        field: field as u32,
                    })));
                }
                if wire_type != col.wire_type {
                    return Err(Stop::Err(Box::new(CodecError::WireTypeMismatch {
                        record,
                        column: col.name.clone(),
                        ty: col.node.ty.to_string(),
                        expected: col.wire_type,
                        found: wire_type,
                    })));
                }
                self.seen[idx] = stamp;
                fields_seen += 1;
                if let Err(e) = decode_field(&mut col.node, c, &mut crc, &col.field_le) {
                    return Err(match e {
                        Stop::Val(v) => Stop::Err(Box::new(v.into_error(&col.name, record))),
                        other => other,
                    });
                }
                continue;
            }
            let marker = |context: &'static str| {
                Stop::Err(Box::new(CodecError::UnexpectedMarker {
                    field,
                    wire_type,
                    offset: c.base + tag_pos as u64,
                    context,
                }))
            };
            if field == u64::from(TUNNEL_END_RECORD) {
                if wire_type != WIRE_VARINT {
                    return Err(marker("the end-of-record marker must have wire type 0"));
                }
                let expected = c.crc()?;
                if crc.overflow {
                    return Err(Stop::CrcRoom);
                }
                let actual = crc.finish();
                if expected != actual {
                    return Err(Stop::Err(Box::new(CodecError::RecordCrcMismatch {
                        record,
                        expected,
                        actual,
                    })));
                }
                if fields_seen < ncols {
                    for (i, col) in self.columns.iter_mut().enumerate() {
                        if self.seen[i] != stamp {
                            if !col.nullable {
                                return Err(Stop::Err(Box::new(CodecError::NullInNotNullColumn {
                                    record,
                                    column: col.name.clone(),
                                })));
                            }
                            col.node.push_null();
                        }
                    }
                }
                self.stream_crc.update(&actual.to_le_bytes());
                return Ok(Unit::Record);
            }
            if field == u64::from(META_COUNT) {
                if fields_seen > 0 {
                    return Err(marker(
                        "record fields must end with an end-of-record marker",
                    ));
                }
                if wire_type != WIRE_VARINT {
                    return Err(marker("the footer count must have wire type 0"));
                }
                return self.parse_footer(c).map(|()| Unit::Footer);
            }
            if field == u64::from(META_CHECKSUM) || field == u64::from(END_METRICS) {
                return Err(marker("the footer must start with the record count"));
            }
            return Err(Stop::Err(Box::new(CodecError::UnknownField {
                record,
                field,
                wire_type,
                columns: ncols,
                offset: c.base + tag_pos as u64,
            })));
        }
    }

    /// Parses the footer after its count tag: count, optional metrics, checksum.
    fn parse_footer(&mut self, c: &mut Cursor<'_>) -> Result<(), Stop> {
        let count = c.zz64()?;
        let mut tag_pos = c.pos;
        let mut tag = c.varint()?;
        if tag == wire::make_tag(METRICS_FIELD, WIRE_LEN) {
            let metrics = c.bytes().map_err(|e| match e {
                Stop::Val(v) => Stop::Err(Box::new(v.into_error("(metrics)", self.records))),
                other => other,
            })?;
            let actual = crc32c_append(crc32c_append(0, &1i32.to_le_bytes()), metrics);
            let mtag_pos = c.pos;
            let mtag = c.varint()?;
            if mtag != wire::make_tag(END_METRICS, WIRE_VARINT) {
                return Err(Stop::Err(Box::new(CodecError::UnexpectedMarker {
                    field: mtag >> 3,
                    wire_type: (mtag & 7) as u8,
                    offset: c.base + mtag_pos as u64,
                    context: "metrics must be followed by their checksum",
                })));
            }
            let expected = c.crc()?;
            if expected != actual {
                return Err(Stop::Err(Box::new(CodecError::MetricsCrcMismatch {
                    expected,
                    actual,
                })));
            }
            tag_pos = c.pos;
            tag = c.varint()?;
        }
        if tag != wire::make_tag(META_CHECKSUM, WIRE_VARINT) {
            return Err(Stop::Err(Box::new(CodecError::UnexpectedMarker {
                field: tag >> 3,
                wire_type: (tag & 7) as u8,
                offset: c.base + tag_pos as u64,
                context: "the footer count must be followed by the stream checksum",
            })));
        }
        let expected = c.crc()?;
        if u64::try_from(count).ok() != Some(self.records) {
            return Err(Stop::Err(Box::new(CodecError::CountMismatch {
                expected: count,
                actual: self.records,
            })));
        }
        let actual = self.stream_crc.value();
        if expected != actual {
            return Err(Stop::Err(Box::new(CodecError::StreamCrcMismatch {
                expected,
                actual,
            })));
        }
        Ok(())
    }
}
