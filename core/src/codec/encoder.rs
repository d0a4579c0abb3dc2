//! Arrow batches → record stream.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, IntervalMonthDayNanoType, IntervalYearMonthType, TimestampMillisecondType,
    TimestampNanosecondType,
};
use arrow_array::{Array, BooleanArray, RecordBatch};
use arrow_buffer::{IntervalMonthDayNano, NullBuffer};
use arrow_schema::DataType;

use super::crc::BufferedCrc32c;
use super::decimal::{MAX_DECIMAL_TEXT, fits_precision, format_decimal};
use super::error::CodecError;
use super::wire::{
    self, META_CHECKSUM, META_COUNT, WIRE_FIXED32, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT,
};
use crate::types::{Column, OdpsType};

pub(crate) const NANOS_PER_SEC: i64 = 1_000_000_000;
pub(crate) const NANOS_PER_DAY: i128 = 86_400 * NANOS_PER_SEC as i128;

/// The wire type a column type is written with.
pub(crate) fn wire_type_of(ty: &OdpsType) -> u8 {
    match ty {
        OdpsType::Boolean
        | OdpsType::TinyInt
        | OdpsType::SmallInt
        | OdpsType::Int
        | OdpsType::BigInt
        | OdpsType::Date
        | OdpsType::DateTime
        | OdpsType::IntervalYearMonth => WIRE_VARINT,
        OdpsType::Float => WIRE_FIXED32,
        OdpsType::Double => WIRE_FIXED64,
        _ => WIRE_LEN,
    }
}

/// The END_RECORD tag bytes.
const END_RECORD_TAG: [u8; 4] = [0x80, 0xc0, 0xff, 0x7f];

/// One wire column, prepared once.
#[derive(Debug, Clone)]
struct EncColumn {
    name: String,
    ty: OdpsType,
    arrow: DataType,
    /// Field number as int32 LE (folded into the record CRC).
    field_le: [u8; 4],
    /// The encoded tag (first `tag_len` bytes).
    tag: [u8; 8],
    tag_len: usize,
}

/// Writes Arrow record batches as a tunnel record stream (one record per row).
///
/// A stream is any number of `write_*` calls followed by [`RecordEncoder::finish`], which
/// writes the footer and starts the next stream. Field numbers are the column positions
/// (1-based) in the column list given to [`RecordEncoder::new`]; NULL fields are omitted.
#[derive(Debug, Clone)]
pub struct RecordEncoder {
    columns: Vec<EncColumn>,
    record_crc: BufferedCrc32c,
    stream_crc: BufferedCrc32c,
    count: u64,
}

/// Where one record stream stands: records written and the running stream checksum.
///
/// With [`RecordEncoder::stream_state`] and [`RecordEncoder::resume`] one encoder writes many
/// streams in turn (one per partition buffer, say) without holding an encoder per stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamState {
    count: u64,
    crc: u32,
}

impl StreamState {
    /// Records written in the stream.
    pub fn record_count(&self) -> u64 {
        self.count
    }
}

/// The longest footer [`RecordEncoder::finish`] writes: two 4-byte tags, a zigzag varint
/// count (at most 10 bytes) and a checksum varint (at most 5 bytes).
pub const MAX_FOOTER_LEN: usize = 4 + 10 + 4 + 5;

/// Why one value could not be written (the caller adds column and row).
struct ValueError(String);

impl RecordEncoder {
    /// An encoder for the wire columns in field order: the data columns, a projection, or the
    /// data columns followed by the upsert meta columns.
    pub fn new(columns: &[Column]) -> Self {
        let columns = columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                // Field numbers beyond i32 are not representable on the wire; columns lists
                // are far smaller in practice.
                let field = u32::try_from(i + 1).unwrap_or(u32::MAX);
                let mut encoded = Vec::with_capacity(5);
                wire::put_tag(&mut encoded, field, wire_type_of(&c.ty));
                let mut tag = [0u8; 8];
                let tag_len = encoded.len().min(8);
                tag[..tag_len].copy_from_slice(&encoded[..tag_len]);
                EncColumn {
                    name: c.name.clone(),
                    ty: c.ty.clone(),
                    arrow: c.ty.to_arrow(),
                    field_le: (field as i32).to_le_bytes(),
                    tag,
                    tag_len,
                }
            })
            .collect();
        Self {
            columns,
            record_crc: BufferedCrc32c::new(),
            stream_crc: BufferedCrc32c::new(),
            count: 0,
        }
    }

    /// Records written in the current stream.
    pub fn record_count(&self) -> u64 {
        self.count
    }

    /// The state of the current stream, to [`resume`](Self::resume) it later.
    pub fn stream_state(&mut self) -> StreamState {
        StreamState {
            count: self.count,
            crc: self.stream_crc.value(),
        }
    }

    /// Continues the stream `state` was taken from (a [`StreamState::default`] starts a new
    /// one): later writes and [`finish`](Self::finish) belong to that stream.
    pub fn resume(&mut self, state: StreamState) {
        self.count = state.count;
        self.stream_crc.reset_to(state.crc);
        self.record_crc.reset();
    }

    /// Writes every row of `batch`. Batch columns match wire columns by position; each Arrow
    /// type must be the column type's Arrow mapping (names and metadata are ignored).
    pub fn write_batch(
        &mut self,
        batch: &RecordBatch,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        self.write_rows(batch, 0..batch.num_rows(), out)
    }

    /// Writes the rows `rows` of `batch`.
    pub fn write_rows(
        &mut self,
        batch: &RecordBatch,
        rows: std::ops::Range<usize>,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        let n = batch.num_rows();
        if rows.start > rows.end || rows.end > n {
            return Err(CodecError::RowOutOfRange {
                row: rows.end,
                rows: n,
            });
        }
        self.write_with(batch, rows.len(), rows, out)
    }

    /// Writes the rows of `batch` at `rows`, in that order (a subset routed to one partition or
    /// bucket, say).
    pub fn write_indices(
        &mut self,
        batch: &RecordBatch,
        rows: &[u32],
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        let n = batch.num_rows();
        if let Some(&bad) = rows.iter().find(|&&r| r as usize >= n) {
            return Err(CodecError::RowOutOfRange {
                row: bad as usize,
                rows: n,
            });
        }
        self.write_with(batch, rows.len(), rows.iter().map(|&r| r as usize), out)
    }

    /// Writes the footer (record count and stream checksum) and resets both, so the next
    /// write starts a new stream.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        wire::put_tag(out, META_COUNT, WIRE_VARINT);
        wire::put_zigzag64(out, i64::try_from(self.count).unwrap_or(i64::MAX));
        wire::put_tag(out, META_CHECKSUM, WIRE_VARINT);
        wire::put_crc_varint(out, self.stream_crc.take());
        self.count = 0;
        self.record_crc.reset();
    }

    fn check_schema(&self, batch: &RecordBatch) -> Result<(), CodecError> {
        if batch.num_columns() != self.columns.len() {
            return Err(CodecError::ColumnCountMismatch {
                expected: self.columns.len(),
                found: batch.num_columns(),
            });
        }
        for (c, a) in self.columns.iter().zip(batch.columns()) {
            if !c.arrow.equals_datatype(a.data_type()) {
                return Err(CodecError::SchemaMismatch {
                    column: c.name.clone(),
                    expected: c.arrow.to_string(),
                    found: a.data_type().to_string(),
                });
            }
        }
        Ok(())
    }

    fn write_with(
        &mut self,
        batch: &RecordBatch,
        nrows: usize,
        rows: impl Iterator<Item = usize>,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        self.check_schema(batch)?;
        let views = self
            .columns
            .iter()
            .zip(batch.columns())
            .map(|(c, a)| View::new(a.as_ref(), &c.ty))
            .collect::<Vec<_>>();
        // Roll back on error so a failed call leaves the stream as it was.
        let out_len = out.len();
        let count = self.count;
        let stream_crc = self.stream_crc.value();
        out.reserve(
            nrows
                .saturating_mul(self.columns.len() * 6 + 6)
                .min(1 << 26),
        );
        for row in rows {
            if let Err((col, e)) = self.write_row(&views, row, out) {
                out.truncate(out_len);
                self.count = count;
                self.stream_crc.reset_to(stream_crc);
                self.record_crc.reset();
                return Err(CodecError::UnencodableValue {
                    column: self.columns[col].name.clone(),
                    row,
                    reason: e.0,
                });
            }
        }
        Ok(())
    }

    #[inline]
    fn write_row(
        &mut self,
        views: &[View<'_>],
        row: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), (usize, ValueError)> {
        let crc = &mut self.record_crc;
        for (i, (c, v)) in self.columns.iter().zip(views).enumerate() {
            if v.is_null(row) {
                continue;
            }
            let len = out.len();
            out.extend_from_slice(&c.tag);
            out.truncate(len + c.tag_len);
            crc.update(&c.field_le);
            v.write_value(row, out, crc).map_err(|e| (i, e))?;
        }
        let rc = crc.take();
        out.extend_from_slice(&END_RECORD_TAG);
        wire::put_crc_varint(out, rc);
        self.stream_crc.update(&rc.to_le_bytes());
        self.count += 1;
        Ok(())
    }
}

/// A typed, downcast view of one Arrow array (recursively for nested types).
struct View<'a> {
    nulls: Option<&'a NullBuffer>,
    data: ViewData<'a>,
}

enum ViewData<'a> {
    Bool(&'a BooleanArray),
    I8(&'a [i8]),
    I16(&'a [i16]),
    I32(&'a [i32]),
    I64(&'a [i64]),
    F32(&'a [f32]),
    F64(&'a [f64]),
    Decimal {
        values: &'a [i128],
        precision: u8,
        scale: u8,
    },
    Bytes {
        offsets: &'a [i32],
        data: &'a [u8],
    },
    Timestamp(&'a [i64]),
    DayTime(&'a [IntervalMonthDayNano]),
    List {
        offsets: &'a [i32],
        child: Box<View<'a>>,
    },
    Map {
        offsets: &'a [i32],
        keys: Box<View<'a>>,
        values: Box<View<'a>>,
    },
    Struct(Vec<View<'a>>),
}

impl<'a> View<'a> {
    /// A view of `a`, whose data type was checked against `ty.to_arrow()`.
    fn new(a: &'a dyn Array, ty: &OdpsType) -> View<'a> {
        let data = match ty {
            OdpsType::Boolean => ViewData::Bool(a.as_boolean()),
            OdpsType::TinyInt => ViewData::I8(a.as_primitive::<Int8Type>().values()),
            OdpsType::SmallInt => ViewData::I16(a.as_primitive::<Int16Type>().values()),
            OdpsType::Int => ViewData::I32(a.as_primitive::<Int32Type>().values()),
            OdpsType::BigInt => ViewData::I64(a.as_primitive::<Int64Type>().values()),
            OdpsType::Float => ViewData::F32(a.as_primitive::<Float32Type>().values()),
            OdpsType::Double => ViewData::F64(a.as_primitive::<Float64Type>().values()),
            OdpsType::Decimal { precision, scale } => ViewData::Decimal {
                values: a.as_primitive::<Decimal128Type>().values(),
                precision: *precision,
                scale: *scale,
            },
            OdpsType::Char(_) | OdpsType::Varchar(_) | OdpsType::String | OdpsType::Json => {
                let s = a.as_string::<i32>();
                ViewData::Bytes {
                    offsets: s.value_offsets(),
                    data: s.value_data(),
                }
            }
            OdpsType::Binary => {
                let b = a.as_binary::<i32>();
                ViewData::Bytes {
                    offsets: b.value_offsets(),
                    data: b.value_data(),
                }
            }
            OdpsType::Date => ViewData::I32(a.as_primitive::<Date32Type>().values()),
            OdpsType::DateTime => {
                ViewData::I64(a.as_primitive::<TimestampMillisecondType>().values())
            }
            OdpsType::Timestamp | OdpsType::TimestampNtz => {
                ViewData::Timestamp(a.as_primitive::<TimestampNanosecondType>().values())
            }
            OdpsType::IntervalDayTime => {
                ViewData::DayTime(a.as_primitive::<IntervalMonthDayNanoType>().values())
            }
            OdpsType::IntervalYearMonth => {
                ViewData::I32(a.as_primitive::<IntervalYearMonthType>().values())
            }
            OdpsType::Array(t) => {
                let l = a.as_list::<i32>();
                ViewData::List {
                    offsets: l.value_offsets(),
                    child: Box::new(View::new(l.values().as_ref(), t)),
                }
            }
            OdpsType::Map(k, v) => {
                let m = a.as_map();
                ViewData::Map {
                    offsets: m.value_offsets(),
                    keys: Box::new(View::new(m.keys().as_ref(), k)),
                    values: Box::new(View::new(m.values().as_ref(), v)),
                }
            }
            OdpsType::Struct(fields) => {
                let s = a.as_struct();
                ViewData::Struct(
                    fields
                        .iter()
                        .zip(s.columns())
                        .map(|(f, c)| View::new(c.as_ref(), &f.ty))
                        .collect(),
                )
            }
        };
        View {
            nulls: a.nulls(),
            data,
        }
    }

    #[inline]
    fn is_null(&self, i: usize) -> bool {
        self.nulls.is_some_and(|n| n.is_null(i))
    }

    /// Writes one element of a container: the null flag, then the value if not null.
    fn write_element(
        &self,
        i: usize,
        out: &mut Vec<u8>,
        crc: &mut BufferedCrc32c,
    ) -> Result<(), ValueError> {
        if self.is_null(i) {
            out.push(1);
            Ok(())
        } else {
            out.push(0);
            self.write_value(i, out, crc)
        }
    }

    /// Writes the (non-null) value at `i` without a tag and folds its CRC bytes.
    #[inline]
    fn write_value(
        &self,
        i: usize,
        out: &mut Vec<u8>,
        crc: &mut BufferedCrc32c,
    ) -> Result<(), ValueError> {
        match &self.data {
            ViewData::Bool(a) => {
                let b = a.value(i);
                out.push(u8::from(b));
                crc.update(&[u8::from(b)]);
            }
            ViewData::I8(v) => put_int(i64::from(v[i]), out, crc),
            ViewData::I16(v) => put_int(i64::from(v[i]), out, crc),
            ViewData::I32(v) => put_int(i64::from(v[i]), out, crc),
            ViewData::I64(v) => put_int(v[i], out, crc),
            ViewData::F32(v) => {
                let b = v[i].to_le_bytes();
                out.extend_from_slice(&b);
                crc.update(&b);
            }
            ViewData::F64(v) => {
                let b = v[i].to_le_bytes();
                out.extend_from_slice(&b);
                crc.update(&b);
            }
            ViewData::Decimal {
                values,
                precision,
                scale,
            } => {
                let d = values[i];
                if !fits_precision(d, *precision) {
                    return Err(ValueError(format!(
                        "unscaled decimal {d} does not fit decimal({precision},{scale})"
                    )));
                }
                let mut buf = [0u8; MAX_DECIMAL_TEXT];
                let start = format_decimal(d, *scale, &mut buf);
                let text = &buf[start..];
                wire::put_varint(out, text.len() as u64);
                out.extend_from_slice(text);
                crc.update(text);
            }
            ViewData::Bytes { offsets, data } => {
                let (s, e) = (offsets[i] as usize, offsets[i + 1] as usize);
                let b = &data[s..e];
                wire::put_varint(out, b.len() as u64);
                out.extend_from_slice(b);
                crc.update(b);
            }
            ViewData::Timestamp(v) => {
                let ns = v[i];
                put_secs_nanos(
                    ns.div_euclid(NANOS_PER_SEC),
                    ns.rem_euclid(NANOS_PER_SEC) as i32,
                    out,
                    crc,
                );
            }
            ViewData::DayTime(v) => {
                let iv = v[i];
                if iv.months != 0 {
                    return Err(ValueError(format!(
                        "interval_day_time cannot hold {} months",
                        iv.months
                    )));
                }
                let total = i128::from(iv.days) * NANOS_PER_DAY + i128::from(iv.nanoseconds);
                let secs = total.div_euclid(i128::from(NANOS_PER_SEC));
                let nanos = total.rem_euclid(i128::from(NANOS_PER_SEC));
                // |days| <= 2^31 and |nanoseconds| <= 2^63 keep secs well inside i64.
                put_secs_nanos(secs as i64, nanos as i32, out, crc);
            }
            ViewData::List { offsets, child } => {
                let (s, e) = (offsets[i] as usize, offsets[i + 1] as usize);
                wire::put_varint(out, (e - s) as u64);
                for j in s..e {
                    child.write_element(j, out, crc)?;
                }
            }
            ViewData::Map {
                offsets,
                keys,
                values,
            } => {
                let (s, e) = (offsets[i] as usize, offsets[i + 1] as usize);
                wire::put_varint(out, (e - s) as u64);
                for j in s..e {
                    if keys.is_null(j) {
                        return Err(ValueError("map key is NULL".into()));
                    }
                    out.push(0);
                    keys.write_value(j, out, crc)?;
                }
                wire::put_varint(out, (e - s) as u64);
                for j in s..e {
                    values.write_element(j, out, crc)?;
                }
            }
            ViewData::Struct(children) => {
                for c in children {
                    c.write_element(i, out, crc)?;
                }
            }
        }
        Ok(())
    }
}

#[inline]
fn put_int(v: i64, out: &mut Vec<u8>, crc: &mut BufferedCrc32c) {
    wire::put_zigzag64(out, v);
    crc.update_i64(v);
}

#[inline]
fn put_secs_nanos(secs: i64, nanos: i32, out: &mut Vec<u8>, crc: &mut BufferedCrc32c) {
    wire::put_zigzag64(out, secs);
    wire::put_zigzag32(out, nanos);
    crc.update_i64(secs);
    crc.update_i32(nanos);
}
