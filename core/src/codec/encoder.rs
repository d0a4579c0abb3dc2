//! Arrow batches → record stream.

use arrow_array::RecordBatch;
use arrow_schema::DataType;

use super::crc::BufferedCrc32c;
use super::error::CodecError;
use super::view::{ValueError, View};
use super::wire::{
    self, META_CHECKSUM, META_COUNT, WIRE_FIXED32, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT,
};
use super::writer::{CrcScratch, Out, RowCrc};
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
    /// The encoded tag: its `tag_len` bytes (at most 5), little endian.
    tag: u64,
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
    /// Scratch room for the CRC input of one record.
    crc_scratch: CrcScratch,
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
                    tag: u64::from_le_bytes(tag),
                    tag_len,
                }
            })
            .collect();
        Self {
            columns,
            crc_scratch: CrcScratch::new(),
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
        let per_row: usize = self
            .columns
            .iter()
            .zip(&views)
            .map(|(c, v)| c.tag_len + v.size_hint())
            .sum::<usize>()
            + END_RECORD_TAG.len()
            + 5;
        // Zeroed room is added in cache-sized steps just ahead of the rows being written, never
        // (much) more than the rows left need: a call for one row of a partition zeroes room
        // for one row, not for 256.
        out.reserve(nrows.saturating_mul(per_row).min(1 << 26));
        let mut pos = out_len;
        let mut left = nrows;
        for row in rows {
            if out.len() < pos + per_row {
                let step = per_row
                    .saturating_mul(left.clamp(1, 256))
                    .max(per_row.saturating_mul(left).min(4096));
                out.resize(pos + step, 0);
            }
            left = left.saturating_sub(1);
            loop {
                let mut w = Out::new(out, pos);
                let mut crc = self.crc_scratch.row_crc();
                if let Err((col, e)) = write_row(&self.columns, &views, row, &mut w, &mut crc) {
                    out.truncate(out_len);
                    self.count = count;
                    self.stream_crc.reset_to(stream_crc);
                    return Err(CodecError::UnencodableValue {
                        column: self.columns[col].name.clone(),
                        row,
                        reason: e.0,
                    });
                }
                let rc = crc.finish();
                w.put(&END_RECORD_TAG, END_RECORD_TAG.len());
                w.varint(u64::from(rc));
                if !w.overflow && !crc.overflow {
                    pos = w.pos;
                    self.stream_crc.update_array(rc.to_le_bytes());
                    self.count += 1;
                    break;
                }
                // Out of room: double the room that was short and write the record again.
                if crc.overflow {
                    self.crc_scratch.grow();
                }
                if w.overflow {
                    let room = out.len().saturating_sub(pos).max(4096);
                    out.resize(pos.saturating_add(room.saturating_mul(2)), 0);
                }
            }
        }
        out.truncate(pos);
        Ok(())
    }
}

/// Writes the fields of one row (not the end-of-record marker).
#[inline(always)]
fn write_row(
    columns: &[EncColumn],
    views: &[View<'_>],
    row: usize,
    out: &mut Out<'_>,
    crc: &mut RowCrc<'_>,
) -> Result<(), (usize, ValueError)> {
    for (i, (c, v)) in columns.iter().zip(views).enumerate() {
        if v.is_null(row) {
            continue;
        }
        v.write_field(row, c.tag, c.tag_len, &c.field_le, out, crc)
            .map_err(|e| (i, e))?;
    }
    Ok(())
}
