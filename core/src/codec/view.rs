//! Typed views of Arrow arrays for the encoder, and the general (out-of-line) value writer
//! used for nested types.

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, IntervalMonthDayNanoType, IntervalYearMonthType, TimestampMillisecondType,
    TimestampNanosecondType,
};
use arrow_buffer::{BooleanBuffer, IntervalMonthDayNano};

use super::decimal::{DECIMAL_BUF, DECIMAL_TEXT_END, fits_precision, format_decimal};
use super::encoder::{NANOS_PER_DAY, NANOS_PER_SEC};
use super::wire;
use super::writer::{Out, RowCrc};
use crate::types::OdpsType;

/// Why one value could not be written (the caller adds column and row).
pub(crate) struct ValueError(pub(crate) String);

/// A typed, downcast view of one Arrow array (recursively for nested types).
pub(crate) struct View<'a> {
    pub(crate) nulls: Option<Bits<'a>>,
    pub(crate) data: ViewData<'a>,
}

/// A bitmap (validity or boolean values) as bytes and a bit offset.
#[derive(Clone, Copy)]
pub(crate) struct Bits<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Bits<'a> {
    fn new(b: &'a BooleanBuffer) -> Self {
        Bits {
            bytes: b.values(),
            offset: b.offset(),
        }
    }

    /// Bit `i` (false beyond the end, which a checked array never reaches).
    #[inline(always)]
    pub(crate) fn get(&self, i: usize) -> bool {
        let k = self.offset + i;
        self.bytes
            .get(k >> 3)
            .is_some_and(|b| b & (1 << (k & 7)) != 0)
    }
}

pub(crate) enum ViewData<'a> {
    Bool(Bits<'a>),
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
    pub(crate) fn new(a: &'a dyn Array, ty: &OdpsType) -> View<'a> {
        let data = match ty {
            OdpsType::Boolean => ViewData::Bool(Bits::new(a.as_boolean().values())),
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
            nulls: a.nulls().map(|n| Bits::new(n.inner())),
            data,
        }
    }

    #[inline(always)]
    pub(crate) fn is_null(&self, i: usize) -> bool {
        self.nulls.is_some_and(|n| !n.get(i))
    }

    /// Roughly the bytes one value takes (for reserving room; need not be exact).
    pub(crate) fn size_hint(&self) -> usize {
        match &self.data {
            ViewData::Bool(_) => 1,
            ViewData::I8(_) | ViewData::I16(_) | ViewData::I32(_) => 5,
            ViewData::I64(_) => 10,
            ViewData::F32(_) => 4,
            ViewData::F64(_) => 8,
            ViewData::Decimal { .. } => 24,
            ViewData::Bytes { offsets, .. } => {
                let n = offsets.len().saturating_sub(1).max(1);
                let span = match (offsets.first(), offsets.last()) {
                    (Some(&a), Some(&b)) => b.saturating_sub(a) as usize,
                    _ => 0,
                };
                2 + span / n
            }
            ViewData::Timestamp(_) | ViewData::DayTime(_) => 15,
            ViewData::List { .. } | ViewData::Map { .. } | ViewData::Struct(_) => 16,
        }
    }

    /// Writes the field of the (non-null) value at `i` of a top-level column: its tag (the
    /// `tag_len` bytes of `tag`, little endian) and value, and folds the field number
    /// `field_le` and the value's CRC bytes. Scalars take an inlined path that stores tag and
    /// value as one piece; nested types go out of line.
    #[inline(always)]
    pub(crate) fn write_field(
        &self,
        i: usize,
        tag: u64,
        tag_len: usize,
        field_le: &[u8; 4],
        out: &mut Out<'_>,
        crc: &mut RowCrc<'_>,
    ) -> Result<(), ValueError> {
        match &self.data {
            ViewData::I64(v) => {
                let x = v[i];
                tag_varint(out, tag, tag_len, wire::zigzag64(x));
                crc.put(&concat12(field_le, x.to_le_bytes()), 12);
            }
            ViewData::I32(v) => {
                let x = i64::from(v[i]);
                tag_varint(out, tag, tag_len, wire::zigzag64(x));
                crc.put(&concat12(field_le, x.to_le_bytes()), 12);
            }
            ViewData::F64(v) => {
                let b = v[i].to_bits();
                out.pair(tag, tag_len, b, 8);
                crc.put(&concat12(field_le, b.to_le_bytes()), 12);
            }
            ViewData::Bool(a) => {
                let b = u8::from(a.get(i));
                out.pair(tag, tag_len, u64::from(b), 1);
                let [f0, f1, f2, f3] = *field_le;
                crc.put(&[f0, f1, f2, f3, b], 5);
            }
            ViewData::Bytes { offsets, data } => {
                let (s, e) = (offsets[i] as usize, offsets[i + 1] as usize);
                tag_varint(out, tag, tag_len, e.saturating_sub(s) as u64);
                out.range(data, s, e);
                crc.put(field_le, 4);
                crc.range(data, s, e);
            }
            ViewData::Decimal {
                values,
                precision,
                scale,
            } => {
                let d = values[i];
                if !fits_precision(d, *precision) {
                    return Err(decimal_error(d, *precision, *scale));
                }
                let mut buf = [0u8; DECIMAL_BUF];
                let s = format_decimal(d, *scale, &mut buf);
                // The text is at most 48 bytes: its length is one varint byte.
                let n = DECIMAL_TEXT_END - s;
                out.pair(tag, tag_len, n as u64, 1);
                out.range(&buf, s, DECIMAL_TEXT_END);
                crc.put(field_le, 4);
                crc.range(&buf, s, DECIMAL_TEXT_END);
            }
            _ => {
                out.put(&tag.to_le_bytes(), tag_len);
                crc.put(field_le, 4);
                // Out of line, on copies of the cursors, so that `out` and `crc` stay in
                // registers in the caller's loop.
                let mut o = out.split();
                let mut c = crc.split();
                let r = self.write_value(i, &mut o, &mut c);
                let (opos, oflow) = (o.pos, o.overflow);
                let cs = c.state();
                out.merge(opos, oflow);
                crc.merge(cs);
                r?;
            }
        }
        Ok(())
    }

    /// Writes one element of a container: the null flag, then the value if not null.
    fn write_element(
        &self,
        i: usize,
        out: &mut Out<'_>,
        crc: &mut RowCrc<'_>,
    ) -> Result<(), ValueError> {
        crc.maybe_fold();
        if self.is_null(i) {
            out.byte(1);
            Ok(())
        } else {
            out.byte(0);
            self.write_value(i, out, crc)
        }
    }

    /// Writes the (non-null) value at `i` without a tag and folds its CRC bytes.
    #[inline(never)]
    pub(crate) fn write_value(
        &self,
        i: usize,
        out: &mut Out<'_>,
        crc: &mut RowCrc<'_>,
    ) -> Result<(), ValueError> {
        match &self.data {
            ViewData::Bool(a) => {
                let b = u8::from(a.get(i));
                out.byte(b);
                crc.put(&[b], 1);
            }
            ViewData::I8(v) => put_int(i64::from(v[i]), out, crc),
            ViewData::I16(v) => put_int(i64::from(v[i]), out, crc),
            ViewData::I32(v) => put_int(i64::from(v[i]), out, crc),
            ViewData::I64(v) => put_int(v[i], out, crc),
            ViewData::F32(v) => {
                let b = v[i].to_le_bytes();
                out.put(&b, 4);
                crc.put(&b, 4);
            }
            ViewData::F64(v) => {
                let b = v[i].to_le_bytes();
                out.put(&b, 8);
                crc.put(&b, 8);
            }
            ViewData::Decimal {
                values,
                precision,
                scale,
            } => {
                let d = values[i];
                if !fits_precision(d, *precision) {
                    return Err(decimal_error(d, *precision, *scale));
                }
                let mut buf = [0u8; DECIMAL_BUF];
                let s = format_decimal(d, *scale, &mut buf);
                out.byte((DECIMAL_TEXT_END - s) as u8);
                out.range(&buf, s, DECIMAL_TEXT_END);
                crc.range(&buf, s, DECIMAL_TEXT_END);
            }
            ViewData::Bytes { offsets, data } => {
                let (s, e) = (offsets[i] as usize, offsets[i + 1] as usize);
                out.varint(e.saturating_sub(s) as u64);
                out.range(data, s, e);
                crc.range(data, s, e);
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
                out.varint((e - s) as u64);
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
                out.varint((e - s) as u64);
                for j in s..e {
                    if keys.is_null(j) {
                        return Err(ValueError("map key is NULL".into()));
                    }
                    out.byte(0);
                    crc.maybe_fold();
                    keys.write_value(j, out, crc)?;
                }
                out.varint((e - s) as u64);
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

#[cold]
pub(crate) fn decimal_error(d: i128, precision: u8, scale: u8) -> ValueError {
    ValueError(format!(
        "unscaled decimal {d} does not fit decimal({precision},{scale})"
    ))
}

#[inline]
fn put_int(v: i64, out: &mut Out<'_>, crc: &mut RowCrc<'_>) {
    out.varint(wire::zigzag64(v));
    crc.put(&v.to_le_bytes(), 8);
}

#[inline]
fn put_secs_nanos(secs: i64, nanos: i32, out: &mut Out<'_>, crc: &mut RowCrc<'_>) {
    out.varint(wire::zigzag64(secs));
    out.varint(u64::from(wire::zigzag32(nanos)));
    let mut b = [0u8; 12];
    b[..8].copy_from_slice(&secs.to_le_bytes());
    b[8..].copy_from_slice(&nanos.to_le_bytes());
    crc.put(&b, 12);
}

/// `a` followed by `b`.
#[inline(always)]
fn concat12(a: &[u8; 4], b: [u8; 8]) -> [u8; 12] {
    let mut c = [0u8; 12];
    c[..4].copy_from_slice(a);
    c[4..].copy_from_slice(&b);
    c
}

/// Writes a tag (`tag_len` bytes of `tag`) and a varint, as one store when they fit 16 bytes.
#[inline(always)]
fn tag_varint(out: &mut Out<'_>, tag: u64, tag_len: usize, v: u64) {
    if v < 0x80 {
        out.pair(tag, tag_len, v, 1);
    } else if v < 1 << 56 {
        let (word, len) = wire::varint_word(v);
        out.pair(tag, tag_len, word, len);
    } else {
        out.put(&tag.to_le_bytes(), tag_len);
        out.varint(v);
    }
}
