//! Tunnel payloads: body compression, record streams and Arrow framing, each failure
//! mapped to the service's error code.

use arrow_array::{Array, RecordBatch};
use arrow_select::concat::concat_batches;
use maxc_core::arrow_frame::{self, RecordBatchDecoder};
use maxc_core::codec::{CodecError, DecodeLimits, RecordDecoder, RecordEncoder};
use maxc_core::compress::{self, CompressError, Compression};
use maxc_core::hash::{self, Hasher};
use maxc_core::types::Column;
use maxc_core::types::arrow::columns_to_arrow;

use crate::error::MockError;

/// Rows per decoded batch (large: a block becomes one segment).
const DECODE_BATCH_ROWS: usize = 1 << 30;

fn malformed(msg: impl std::fmt::Display) -> MockError {
    MockError::bad_request(
        "MalformedDataStream",
        format!(
            "The data stream you provided was not well-formed or did not validate against schema: {msg}"
        ),
    )
}

/// Body compression of a request (`Content-Encoding`) or response (`Accept-Encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding(pub Compression);

impl Encoding {
    /// The encoding named by a `Content-Encoding` header.
    pub fn from_header(value: Option<&str>) -> Result<Encoding, MockError> {
        Compression::from_content_encoding(value)
            .map(Encoding)
            .map_err(|e| {
                MockError::bad_request(
                    "NotImplemented",
                    format!(
                        "A header you provided implies functionality that is not implemented: {e}"
                    ),
                )
            })
    }

    /// The response encoding for an `Accept-Encoding` header: the first supported value in
    /// the list (`identity`, `gzip` and unknown values mean none).
    pub fn for_response(accept: Option<&str>, _arrow: bool) -> Encoding {
        let Some(list) = accept else {
            return Encoding(Compression::Raw);
        };
        list.split(',')
            .map(|v| v.split(';').next().unwrap_or("").trim())
            .find_map(|v| match Compression::from_content_encoding(Some(v)) {
                Ok(c) if c != Compression::Raw => Some(Encoding(c)),
                _ => None,
            })
            .unwrap_or(Encoding(Compression::Raw))
    }

    /// The `Content-Encoding` to send (none when uncompressed; `x-odps-lz4-frame` for LZ4
    /// Arrow bodies).
    pub fn header(self, arrow: bool) -> Option<&'static str> {
        if arrow {
            self.0.arrow_content_encoding()
        } else {
            self.0.content_encoding()
        }
    }

    /// Decompresses a request body, refusing output above `max` bytes.
    pub fn decompress(self, body: &[u8], max: usize) -> Result<Vec<u8>, MockError> {
        if self.0 == Compression::Raw {
            if body.len() > max {
                return Err(MockError::new(
                    413,
                    "MaxMessageLengthExceeded",
                    "Your request was too big.",
                ));
            }
            return Ok(body.to_vec());
        }
        compress::decompress(self.0, body, max).map_err(|e| match e {
            CompressError::OutputLimit { .. } => MockError::new(
                413,
                "MaxMessageLengthExceeded",
                format!("Your request was too big after decompression: {e}"),
            ),
            other => malformed(format!("{} body: {other}", self.0)),
        })
    }

    /// Compresses a response body.
    pub fn compress(self, body: Vec<u8>) -> Result<Vec<u8>, MockError> {
        if self.0 == Compression::Raw {
            return Ok(body);
        }
        compress::compress(self.0, &body)
            .map_err(|e| MockError::internal(format!("compressing the response: {e}")))
    }
}

/// Decodes a complete record stream with the session's wire columns into one batch,
/// verifying every record CRC, the footer count and the stream CRC.
pub fn decode_records(columns: &[Column], bytes: &[u8]) -> Result<RecordBatch, MockError> {
    let limits = DecodeLimits {
        require_footer: true,
        ..DecodeLimits::default()
    };
    let mut dec = RecordDecoder::with_limits(columns, DECODE_BATCH_ROWS, limits);
    dec.feed(bytes).map_err(codec_error)?;
    let mut batches = Vec::new();
    while let Some(b) = dec.next_batch() {
        batches.push(b);
    }
    if let Some(b) = dec.finish().map_err(codec_error)? {
        batches.push(b);
    }
    while let Some(b) = dec.next_batch() {
        batches.push(b);
    }
    let schema = dec.schema();
    match batches.len() {
        0 => Ok(RecordBatch::new_empty(schema)),
        1 => Ok(batches.remove(0)),
        // Unreachable within the body size limit (a record takes at least 5 bytes).
        n => Err(malformed(format!("{n} batches of 2^30 rows in one body"))),
    }
}

fn codec_error(e: CodecError) -> MockError {
    malformed(e)
}

/// Encodes row ranges of batches as one record stream with these wire columns.
/// `parts` are (batch, first row, row count); the batch columns match `columns` by position.
/// With `corrupt_crc`, the first record's CRC (or, with no rows, the stream CRC) is altered.
pub fn encode_records(
    columns: &[Column],
    parts: &[(RecordBatch, usize, usize)],
    corrupt_crc: bool,
) -> Result<Vec<u8>, MockError> {
    let mut enc = RecordEncoder::new(columns);
    let mut out = Vec::new();
    let mut first_record_end = None;
    for (b, start, n) in parts {
        if *n == 0 {
            continue;
        }
        if corrupt_crc && first_record_end.is_none() {
            enc.write_rows(b, *start..*start + 1, &mut out)
                .map_err(|e| MockError::internal(format!("encoding rows: {e}")))?;
            first_record_end = Some(out.len());
            enc.write_rows(b, *start + 1..*start + n, &mut out)
                .map_err(|e| MockError::internal(format!("encoding rows: {e}")))?;
        } else {
            enc.write_rows(b, *start..*start + n, &mut out)
                .map_err(|e| MockError::internal(format!("encoding rows: {e}")))?;
        }
    }
    enc.finish(&mut out);
    if corrupt_crc {
        let end = first_record_end.unwrap_or(out.len());
        flip_varint_tail(&mut out[..end]);
    }
    Ok(out)
}

/// Flips the lowest bit of the varint that ends `buf` (keeping it a valid varint).
fn flip_varint_tail(buf: &mut [u8]) {
    if buf.is_empty() {
        return;
    }
    let mut start = buf.len() - 1;
    while start > 0 && buf[start - 1] & 0x80 != 0 {
        start -= 1;
    }
    buf[start] ^= 1;
}

/// The first row of an upsert body whose primary key hashes to another bucket than
/// `bucket`, as (row, its bucket). `None` when every row belongs to `bucket`.
pub fn misrouted_row(
    batch: &RecordBatch,
    data_columns: &[Column],
    primary_key: &[String],
    hasher: &str,
    buckets: u32,
    bucket: u32,
) -> Result<Option<(usize, u32)>, MockError> {
    let hasher: Hasher = hasher.parse().unwrap_or_default();
    let mut keys = Vec::with_capacity(primary_key.len());
    for k in primary_key {
        let i = data_columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(k))
            .ok_or_else(|| {
                MockError::internal(format!("primary key `{k}` is not a data column"))
            })?;
        keys.push((&data_columns[i].ty, batch.column(i).as_ref()));
    }
    let per_row = hash::buckets_for_batch(hasher, &keys, buckets).map_err(|e| {
        MockError::bad_request("InvalidArgument", format!("hashing the primary key: {e}"))
    })?;
    Ok(per_row
        .iter()
        .enumerate()
        .find(|(_, b)| **b != bucket)
        .map(|(r, b)| (r, *b)))
}

/// Rows of an Arrow upload body (Arrow tunnel framing around record-batch messages; the
/// schema comes from the session).
pub fn decode_arrow(columns: &[Column], body: &[u8]) -> Result<RecordBatch, MockError> {
    let payload = arrow_frame::unframe(arrow_frame::MAX_CHUNK_SIZE, body).map_err(malformed)?;
    let schema = columns_to_arrow(columns);
    let mut dec = RecordBatchDecoder::new(schema.clone());
    let batches = dec.feed(&payload).map_err(malformed)?;
    dec.finish().map_err(malformed)?;
    for b in &batches {
        for (c, a) in columns.iter().zip(b.columns()) {
            if !c.nullable && a.null_count() > 0 {
                return Err(malformed(format!(
                    "column `{}` is NOT NULL but has NULL values",
                    c.name
                )));
            }
        }
    }
    match batches.len() {
        0 => Ok(RecordBatch::new_empty(schema)),
        1 => Ok(batches
            .into_iter()
            .next()
            .unwrap_or_else(|| RecordBatch::new_empty(schema))),
        _ => concat_batches(&schema, &batches)
            .map_err(|e| malformed(format!("joining record batches: {e}"))),
    }
}

/// An Arrow download body: the rows as record-batch messages in the Arrow tunnel framing
/// (no schema message). With `corrupt_crc` the final (global) CRC is altered.
pub fn encode_arrow(
    columns: &[Column],
    parts: &[(RecordBatch, usize, usize)],
    corrupt_crc: bool,
) -> Result<Vec<u8>, MockError> {
    let schema = columns_to_arrow(columns);
    let mut batches = Vec::with_capacity(parts.len());
    for (b, start, n) in parts {
        if *n == 0 {
            continue;
        }
        let sliced = b.slice(*start, *n);
        let b = RecordBatch::try_new(schema.clone(), sliced.columns().to_vec())
            .or_else(|_| sliced.with_schema(schema.clone()))
            .map_err(|e| MockError::internal(format!("shaping rows for Arrow: {e}")))?;
        batches.push(b);
    }
    let payload = arrow_frame::encode_record_batches(&batches)
        .map_err(|e| MockError::internal(format!("encoding Arrow batches: {e}")))?;
    let mut out = arrow_frame::frame(arrow_frame::DEFAULT_CHUNK_SIZE, &payload)
        .map_err(|e| MockError::internal(format!("framing Arrow batches: {e}")))?;
    if corrupt_crc && let Some(last) = out.last_mut() {
        *last ^= 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::{Value, build_batch};
    use maxc_core::types::OdpsType;

    #[test]
    fn round_trip_and_corruption() {
        let cols = vec![
            Column::new("a", OdpsType::BigInt),
            Column::new("s", OdpsType::String),
        ];
        let b = build_batch(
            &cols,
            &[
                vec![Value::Int(1), Value::Text("x".into())],
                vec![Value::Int(2), Value::Null],
                vec![Value::Null, Value::Text("z".into())],
            ],
        )
        .unwrap();
        let bytes = encode_records(&cols, &[(b.clone(), 1, 2)], false).unwrap();
        let back = decode_records(&cols, &bytes).unwrap();
        assert_eq!(back.num_rows(), 2);
        let bad = encode_records(&cols, &[(b.clone(), 0, 3)], true).unwrap();
        let e = decode_records(&cols, &bad).unwrap_err();
        assert_eq!(e.code, "MalformedDataStream");
        assert!(e.message.contains("checksum"), "{}", e.message);
        let empty = encode_records(&cols, &[], true).unwrap();
        assert!(decode_records(&cols, &empty).is_err());
        assert_eq!(
            decode_records(&cols, &encode_records(&cols, &[], false).unwrap())
                .unwrap()
                .num_rows(),
            0
        );
        assert!(decode_records(&cols, &bytes[..bytes.len() - 3]).is_err());
    }
}
