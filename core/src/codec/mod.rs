//! The tunnel record stream codec: Arrow record batches ⇄ the protobuf-like record format of
//! batch uploads, downloads, stream uploads and upserts (protocol doc §5).
//!
//! - A stream is a sequence of records, then a footer (record count, stream checksum).
//! - A record is `(tag, value)` pairs, one per non-NULL column, with field number = position
//!   (1-based) in the wire column list, then an end-of-record marker carrying the record CRC.
//! - The wire column list is whatever the session says: all data columns (partition columns
//!   are never written), a projection (renumbered `1..k` in request order), or the data
//!   columns followed by the 5 upsert meta columns. The codec simply takes that list.
//! - Value encodings are schema driven (see [`wire`] and the protocol doc §5.2); the Arrow
//!   side uses [`crate::types::arrow`]'s mapping. TIMESTAMP converts nanoseconds ⇄ floor
//!   seconds + non-negative nanoseconds. INTERVAL_DAY_TIME is Arrow `MonthDayNano` with
//!   months = 0; decoding yields `days` = whole days of the total and `nanoseconds` = the rest,
//!   both with the sign of the total. DECIMAL is written as plain text at the column scale and
//!   read from any decimal text (exponents, more or fewer digits), rescaled exactly (half-up).
//!
//! Compression is a separate layer: this codec works on uncompressed bytes.

pub mod crc;
mod decimal;
mod decoder;
mod encoder;
mod error;
mod view;
pub mod wire;
mod writer;

#[cfg(test)]
mod tests;

use arrow_array::RecordBatch;

pub use decoder::RecordDecoder;
pub use encoder::{MAX_FOOTER_LEN, RecordEncoder, StreamState};
pub use error::CodecError;

use crate::types::Column;

/// Limits the decoder enforces against hostile or corrupt input. Every size read from the
/// wire is checked against these before anything is allocated for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest length-prefixed value (string, binary, decimal text, JSON), in bytes.
    /// Default 64 MiB.
    pub max_field_bytes: usize,
    /// Largest element count of one ARRAY or MAP. Default 16 Mi elements.
    pub max_collection_len: usize,
    /// Deepest type nesting accepted in the schema (containers inside containers). Default 64.
    pub max_nesting: usize,
    /// Whether a stream without footer is an error at [`RecordDecoder::finish`].
    /// Default true.
    pub require_footer: bool,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_field_bytes: 64 << 20,
            max_collection_len: 16 << 20,
            max_nesting: 64,
            require_footer: true,
        }
    }
}

/// Encodes `batches` as one whole stream, footer included.
pub fn encode_batches(columns: &[Column], batches: &[RecordBatch]) -> Result<Vec<u8>, CodecError> {
    let mut enc = RecordEncoder::new(columns);
    let mut out = Vec::new();
    for b in batches {
        enc.write_batch(b, &mut out)?;
    }
    enc.finish(&mut out);
    Ok(out)
}

/// Decodes a whole stream (footer required) into batches of `batch_size` rows (the last one
/// may be shorter).
pub fn decode_all(
    columns: &[Column],
    bytes: &[u8],
    batch_size: usize,
) -> Result<Vec<RecordBatch>, CodecError> {
    let mut dec = RecordDecoder::new(columns, batch_size);
    dec.feed(bytes)?;
    let mut out = Vec::new();
    while let Some(b) = dec.next_batch() {
        out.push(b);
    }
    if let Some(b) = dec.finish()? {
        out.push(b);
    }
    while let Some(b) = dec.next_batch() {
        out.push(b);
    }
    Ok(out)
}
