//! Tunnel payloads: body compression, record streams and Arrow framing, each failure
//! mapped to the service's error code.

use arrow_array::RecordBatch;
use maxc_core::codec::{CodecError, DecodeLimits, RecordDecoder, RecordEncoder};
use maxc_core::types::Column;

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
pub enum Encoding {
    /// No compression (header absent).
    Raw,
}

impl Encoding {
    /// The encoding named by a `Content-Encoding` header.
    pub fn from_header(value: Option<&str>) -> Result<Encoding, MockError> {
        match value.map(str::trim) {
            None | Some("") | Some("identity") => Ok(Encoding::Raw),
            Some(other) => Err(MockError::bad_request(
                "NotImplemented",
                format!(
                    "A header you provided implies functionality that is not implemented: Content-Encoding `{other}`"
                ),
            )),
        }
    }

    /// The response encoding for an `Accept-Encoding` header (unknown values: none).
    pub fn for_response(_accept: Option<&str>, _arrow: bool) -> Encoding {
        Encoding::Raw
    }

    /// The `Content-Encoding` to send (none when uncompressed).
    pub fn header(self, _arrow: bool) -> Option<&'static str> {
        match self {
            Encoding::Raw => None,
        }
    }

    /// Decompresses a request body, refusing output above `max` bytes.
    pub fn decompress(self, body: &[u8], max: usize) -> Result<Vec<u8>, MockError> {
        match self {
            Encoding::Raw if body.len() > max => Err(MockError::new(
                413,
                "MaxMessageLengthExceeded",
                "Your request was too big.",
            )),
            Encoding::Raw => Ok(body.to_vec()),
        }
    }

    /// Compresses a response body.
    pub fn compress(self, body: Vec<u8>) -> Result<Vec<u8>, MockError> {
        match self {
            Encoding::Raw => Ok(body),
        }
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
    _batch: &RecordBatch,
    _data_columns: &[Column],
    _primary_key: &[String],
    _hasher: &str,
    _buckets: u32,
    _bucket: u32,
) -> Result<Option<(usize, u32)>, MockError> {
    Ok(None)
}

/// Rows of an Arrow upload body (Arrow tunnel framing).
pub fn decode_arrow(_columns: &[Column], _body: &[u8]) -> Result<RecordBatch, MockError> {
    Err(MockError::bad_request(
        "NotImplemented",
        "Arrow tunnel framing is not available in this build",
    ))
}

/// An Arrow download body (Arrow tunnel framing, record-batch messages only).
pub fn encode_arrow(
    _columns: &[Column],
    _parts: &[(RecordBatch, usize, usize)],
    _corrupt_crc: bool,
) -> Result<Vec<u8>, MockError> {
    Err(MockError::bad_request(
        "NotImplemented",
        "Arrow tunnel framing is not available in this build",
    ))
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
