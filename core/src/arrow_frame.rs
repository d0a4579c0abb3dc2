//! The Arrow tunnel body (protocol §6.3): CRC32C chunk framing around concatenated Arrow IPC
//! record-batch messages.
//!
//! ```text
//! uint32 BE chunk_size
//! data, with a uint32 BE CRC32C of each chunk after every chunk_size data bytes
//! uint32 BE CRC32C of all data bytes (running over the whole body)
//! ```
//!
//! A final partial chunk has no CRC of its own, only the global CRC follows it; when the data
//! length is a multiple of `chunk_size`, the last chunk's CRC is followed by the global CRC.
//! So whatever the data length, the last four bytes of a body are the global CRC.
//!
//! [`ArrowFrameWriter`] and [`ArrowFrameReader`] are push-based. The data inside is a sequence
//! of encapsulated IPC **record-batch** messages, with no schema message (each side knows the
//! schema from the session) and no end-of-stream marker: [`RecordBatchEncoder`] and
//! [`RecordBatchDecoder`] produce and consume exactly that, optionally with Arrow IPC body
//! compression (ZSTD, LZ4_FRAME).

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::writer::{
    DictionaryTracker, EncodedData, IpcDataGenerator, IpcWriteContext, IpcWriteOptions,
    write_message,
};
use arrow_schema::{ArrowError, SchemaRef};

use crate::compress::Compression;

/// The chunk size both official SDKs use.
pub const DEFAULT_CHUNK_SIZE: u32 = 65536;
/// The largest chunk size accepted by default (a reader buffers one chunk).
pub const MAX_CHUNK_SIZE: u32 = 64 << 20;
/// IPC buffer alignment used when encoding (what pyarrow and the Java SDK use).
pub const IPC_ALIGNMENT: usize = 8;

/// Errors of the Arrow tunnel framing and of the IPC payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArrowFrameError {
    /// The chunk size is 0 or above the allowed maximum.
    #[error("invalid Arrow chunk size {chunk_size} (must be 1..={max})")]
    InvalidChunkSize {
        /// The chunk size found or requested.
        chunk_size: u32,
        /// The largest allowed.
        max: u32,
    },
    /// A chunk's CRC does not match its data.
    #[error(
        "CRC mismatch in Arrow chunk {chunk} (data offset {offset}): body says 0x{expected:08x}, data gives 0x{actual:08x}"
    )]
    ChunkCrc {
        /// Zero-based chunk index.
        chunk: u64,
        /// Offset of the chunk's first byte in the data.
        offset: u64,
        /// The CRC written in the body.
        expected: u32,
        /// The CRC of the data received.
        actual: u32,
    },
    /// The final CRC over all data does not match.
    #[error(
        "global CRC mismatch at the end of the Arrow body: body says 0x{expected:08x}, data gives 0x{actual:08x}"
    )]
    GlobalCrc {
        /// The CRC written in the body.
        expected: u32,
        /// The CRC of all data received.
        actual: u32,
    },
    /// The body ended too early.
    #[error("truncated Arrow body: {0}")]
    Truncated(String),
    /// The reader or writer was used after `finish`.
    #[error("Arrow framing already finished")]
    Finished,
    /// The IPC payload could not be encoded or decoded.
    #[error("Arrow IPC payload: {0}")]
    Ipc(String),
    /// A batch does not have the schema of the stream.
    #[error("record batch schema does not match the stream schema: {0}")]
    SchemaMismatch(String),
    /// Dictionary-encoded columns cannot be sent without a schema message.
    #[error("dictionary-encoded columns are not supported in tunnel Arrow payloads")]
    Dictionary,
    /// Only ZSTD and LZ4_FRAME exist as Arrow IPC body compression.
    #[error("{0} is not an Arrow IPC body compression (use RAW, ZSTD or LZ4_FRAME)")]
    UnsupportedIpcCompression(Compression),
}

impl From<ArrowError> for ArrowFrameError {
    fn from(e: ArrowError) -> Self {
        ArrowFrameError::Ipc(e.to_string())
    }
}

fn check_chunk_size(chunk_size: u32, max: u32) -> Result<(), ArrowFrameError> {
    if chunk_size == 0 || chunk_size > max {
        return Err(ArrowFrameError::InvalidChunkSize { chunk_size, max });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------------------------

/// Push-based writer of the chunk framing. The `chunk_size` header goes out with the first
/// [`write`](Self::write) (or with [`finish`](Self::finish) for an empty body).
#[derive(Debug, Clone)]
pub struct ArrowFrameWriter {
    chunk_size: u32,
    header_written: bool,
    in_chunk: u32,
    chunk_crc: u32,
    global_crc: u32,
    data_len: u64,
}

impl ArrowFrameWriter {
    /// A writer with the given chunk size (1..=[`MAX_CHUNK_SIZE`]).
    pub fn new(chunk_size: u32) -> Result<Self, ArrowFrameError> {
        check_chunk_size(chunk_size, MAX_CHUNK_SIZE)?;
        Ok(ArrowFrameWriter {
            chunk_size,
            header_written: false,
            in_chunk: 0,
            chunk_crc: 0,
            global_crc: 0,
            data_len: 0,
        })
    }

    /// The chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Data bytes written so far.
    pub fn data_len(&self) -> u64 {
        self.data_len
    }

    fn header(&mut self, out: &mut Vec<u8>) {
        if !self.header_written {
            out.extend_from_slice(&self.chunk_size.to_be_bytes());
            self.header_written = true;
        }
    }

    /// Frame more data bytes, appending the framed bytes to `out`.
    pub fn write(&mut self, mut data: &[u8], out: &mut Vec<u8>) {
        self.header(out);
        while !data.is_empty() {
            let room = (self.chunk_size - self.in_chunk) as usize;
            let (now, rest) = data.split_at(room.min(data.len()));
            out.extend_from_slice(now);
            self.chunk_crc = crc32c::crc32c_append(self.chunk_crc, now);
            self.global_crc = crc32c::crc32c_append(self.global_crc, now);
            self.in_chunk += now.len() as u32;
            self.data_len += now.len() as u64;
            if self.in_chunk == self.chunk_size {
                out.extend_from_slice(&self.chunk_crc.to_be_bytes());
                self.chunk_crc = 0;
                self.in_chunk = 0;
            }
            data = rest;
        }
    }

    /// End the body: append the global CRC (and the header if nothing was written).
    pub fn finish(mut self, out: &mut Vec<u8>) {
        self.header(out);
        out.extend_from_slice(&self.global_crc.to_be_bytes());
    }
}

/// Frame a whole payload at once.
pub fn frame(chunk_size: u32, payload: &[u8]) -> Result<Vec<u8>, ArrowFrameError> {
    let mut w = ArrowFrameWriter::new(chunk_size)?;
    let chunks = payload.len() / chunk_size as usize;
    let mut out = Vec::with_capacity(payload.len() + 4 * chunks + 8);
    w.write(payload, &mut out);
    w.finish(&mut out);
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    /// Reading the 4-byte chunk size.
    Header,
    /// The header was 0: only valid as the whole body `00 00 00 00`, which is what pyodps's
    /// writer sends when no data was written (it writes the global CRC 0 without a header).
    ZeroHeader,
    /// Reading chunks of this size.
    Chunks(u32),
    /// `finish` has run.
    Done,
}

/// Push-based reader of the chunk framing. Data is released by [`take_data`](Self::take_data)
/// only once verified: a full chunk when its CRC matched, the final partial chunk when the
/// global CRC matched in [`finish`](Self::finish). At most `chunk_size + 4` bytes are held
/// back at any time.
#[derive(Debug)]
pub struct ArrowFrameReader {
    max_chunk_size: u32,
    state: ReadState,
    /// Header bytes, then the unverified bytes of the current chunk (< chunk_size + 4).
    buf: Vec<u8>,
    global_crc: u32,
    chunks: u64,
    /// Verified data not yet taken.
    out: Vec<u8>,
    data_len: u64,
    failed: Option<ArrowFrameError>,
}

impl ArrowFrameReader {
    /// A reader that rejects bodies whose chunk size is 0 or above `max_chunk_size`.
    pub fn new(max_chunk_size: u32) -> Self {
        ArrowFrameReader {
            max_chunk_size,
            state: ReadState::Header,
            buf: Vec::new(),
            global_crc: 0,
            chunks: 0,
            out: Vec::new(),
            data_len: 0,
            failed: None,
        }
    }

    /// The chunk size, once the header has been read.
    pub fn chunk_size(&self) -> Option<u32> {
        match self.state {
            ReadState::Chunks(n) => Some(n),
            _ => None,
        }
    }

    /// Data bytes verified so far (taken or not).
    pub fn data_len(&self) -> u64 {
        self.data_len
    }

    /// Take the verified data bytes released so far.
    pub fn take_data(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Read another piece of the body.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), ArrowFrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.feed_inner(data);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    fn feed_inner(&mut self, mut data: &[u8]) -> Result<(), ArrowFrameError> {
        loop {
            match self.state {
                ReadState::Done => {
                    return if data.is_empty() {
                        Ok(())
                    } else {
                        Err(ArrowFrameError::Finished)
                    };
                }
                ReadState::Header => {
                    let need = 4 - self.buf.len();
                    let (now, rest) = data.split_at(need.min(data.len()));
                    self.buf.extend_from_slice(now);
                    data = rest;
                    let Ok(h) = <[u8; 4]>::try_from(self.buf.as_slice()) else {
                        return Ok(());
                    };
                    self.buf.clear();
                    let chunk_size = u32::from_be_bytes(h);
                    if chunk_size == 0 {
                        self.state = ReadState::ZeroHeader;
                    } else {
                        check_chunk_size(chunk_size, self.max_chunk_size)?;
                        self.state = ReadState::Chunks(chunk_size);
                    }
                }
                ReadState::ZeroHeader => {
                    if data.is_empty() {
                        return Ok(());
                    }
                    return Err(ArrowFrameError::InvalidChunkSize {
                        chunk_size: 0,
                        max: self.max_chunk_size,
                    });
                }
                ReadState::Chunks(cs) => {
                    let unit = cs as usize + 4;
                    // Fast path: whole chunks straight from the input.
                    if self.buf.is_empty() {
                        while let Some(chunk) = data.get(..unit) {
                            self.accept_chunk(chunk)?;
                            data = data.get(unit..).unwrap_or_default();
                        }
                    }
                    let need = unit - self.buf.len();
                    let (now, rest) = data.split_at(need.min(data.len()));
                    self.buf.extend_from_slice(now);
                    data = rest;
                    if self.buf.len() < unit {
                        return Ok(());
                    }
                    let chunk = std::mem::take(&mut self.buf);
                    self.accept_chunk(&chunk)?;
                    self.buf = chunk;
                    self.buf.clear();
                }
            }
        }
    }

    /// Verify one full chunk (`chunk_size` data bytes + its CRC) and release its data.
    fn accept_chunk(&mut self, chunk: &[u8]) -> Result<(), ArrowFrameError> {
        let split = chunk.len().saturating_sub(4);
        let (payload, crc) = chunk.split_at(split);
        let expected = u32::from_be_bytes(crc.try_into().unwrap_or_default());
        let actual = crc32c::crc32c(payload);
        if actual != expected {
            return Err(ArrowFrameError::ChunkCrc {
                chunk: self.chunks,
                offset: self.data_len,
                expected,
                actual,
            });
        }
        self.global_crc = crc32c::crc32c_append(self.global_crc, payload);
        self.out.extend_from_slice(payload);
        self.data_len += payload.len() as u64;
        self.chunks += 1;
        Ok(())
    }

    /// End of the body: the last four bytes must be the global CRC over all data. Releases
    /// the final partial chunk.
    pub fn finish(&mut self) -> Result<(), ArrowFrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.finish_inner();
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    fn finish_inner(&mut self) -> Result<(), ArrowFrameError> {
        match self.state {
            ReadState::Done => Ok(()),
            ReadState::Header => Err(ArrowFrameError::Truncated(format!(
                "the body ends after {} of the 4 chunk-size header bytes",
                self.buf.len()
            ))),
            ReadState::ZeroHeader => {
                // `00 00 00 00` alone: no data, global CRC 0.
                self.state = ReadState::Done;
                Ok(())
            }
            ReadState::Chunks(_) => {
                let Some(split) = self.buf.len().checked_sub(4) else {
                    return Err(ArrowFrameError::Truncated(format!(
                        "the global CRC is missing ({} trailing bytes after {} data bytes)",
                        self.buf.len(),
                        self.data_len
                    )));
                };
                let (payload, crc) = self.buf.split_at(split);
                let expected = u32::from_be_bytes(crc.try_into().unwrap_or_default());
                let actual = crc32c::crc32c_append(self.global_crc, payload);
                if actual != expected {
                    return Err(ArrowFrameError::GlobalCrc { expected, actual });
                }
                self.out.extend_from_slice(payload);
                self.data_len += payload.len() as u64;
                self.global_crc = actual;
                self.buf.clear();
                self.state = ReadState::Done;
                Ok(())
            }
        }
    }
}

/// Check and strip the framing of a whole body at once.
pub fn unframe(max_chunk_size: u32, body: &[u8]) -> Result<Vec<u8>, ArrowFrameError> {
    let mut r = ArrowFrameReader::new(max_chunk_size);
    r.feed(body)?;
    r.finish()?;
    Ok(r.take_data())
}

// ---------------------------------------------------------------------------------------------
// IPC payload
// ---------------------------------------------------------------------------------------------

fn ipc_compression(c: Compression) -> Result<Option<arrow_ipc::CompressionType>, ArrowFrameError> {
    match c {
        Compression::Raw => Ok(None),
        Compression::Zstd => Ok(Some(arrow_ipc::CompressionType::ZSTD)),
        Compression::Lz4Frame => Ok(Some(arrow_ipc::CompressionType::LZ4_FRAME)),
        other => Err(ArrowFrameError::UnsupportedIpcCompression(other)),
    }
}

/// Encodes record batches as the tunnel payload: one encapsulated IPC record-batch message per
/// batch, with no schema message and no end-of-stream marker.
pub struct RecordBatchEncoder {
    generator: IpcDataGenerator,
    tracker: DictionaryTracker,
    context: IpcWriteContext,
    options: IpcWriteOptions,
    schema: Option<SchemaRef>,
}

impl std::fmt::Debug for RecordBatchEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordBatchEncoder")
            .field("options", &self.options)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl RecordBatchEncoder {
    /// An encoder with optional IPC body compression: [`Compression::Raw`] (none),
    /// [`Compression::Zstd`] or [`Compression::Lz4Frame`].
    pub fn new(ipc_body_compression: Compression) -> Result<Self, ArrowFrameError> {
        let options =
            IpcWriteOptions::try_new(IPC_ALIGNMENT, false, arrow_ipc::MetadataVersion::V5)?
                .try_with_compression(ipc_compression(ipc_body_compression)?)?;
        Ok(RecordBatchEncoder {
            generator: IpcDataGenerator::default(),
            tracker: DictionaryTracker::new(false),
            context: IpcWriteContext::default(),
            options,
            schema: None,
        })
    }

    /// Append the IPC message of one batch to `out`. Every batch must have the schema of the
    /// first one.
    pub fn encode(
        &mut self,
        batch: &RecordBatch,
        out: &mut Vec<u8>,
    ) -> Result<(), ArrowFrameError> {
        match &self.schema {
            None => {
                let schema = batch.schema();
                if schema
                    .fields()
                    .iter()
                    .any(|f| has_dictionary(f.data_type()))
                {
                    return Err(ArrowFrameError::Dictionary);
                }
                self.schema = Some(schema);
            }
            Some(s) if **s == *batch.schema() => {}
            Some(s) => {
                return Err(ArrowFrameError::SchemaMismatch(format!(
                    "expected {s}, got {}",
                    batch.schema()
                )));
            }
        }
        let (dictionaries, message) =
            self.generator
                .encode(batch, &mut self.tracker, &self.options, &mut self.context)?;
        if !dictionaries.is_empty() {
            return Err(ArrowFrameError::Dictionary);
        }
        write_message(out, message, &self.options)?;
        Ok(())
    }
}

fn has_dictionary(dt: &arrow_schema::DataType) -> bool {
    use arrow_schema::DataType as D;
    match dt {
        D::Dictionary(..) => true,
        D::List(f) | D::LargeList(f) | D::ListView(f) | D::LargeListView(f) => {
            has_dictionary(f.data_type())
        }
        D::FixedSizeList(f, _) | D::Map(f, _) => has_dictionary(f.data_type()),
        D::Struct(fs) => fs.iter().any(|f| has_dictionary(f.data_type())),
        D::Union(fs, _) => fs.iter().any(|(_, f)| has_dictionary(f.data_type())),
        D::RunEndEncoded(a, b) => has_dictionary(a.data_type()) || has_dictionary(b.data_type()),
        _ => false,
    }
}

/// Encode batches as a tunnel payload (no schema message, no end-of-stream marker).
pub fn encode_record_batches(batches: &[RecordBatch]) -> Result<Vec<u8>, ArrowFrameError> {
    encode_record_batches_with(batches, Compression::Raw)
}

/// As [`encode_record_batches`], with IPC body compression (RAW, ZSTD or LZ4_FRAME).
pub fn encode_record_batches_with(
    batches: &[RecordBatch],
    ipc_body_compression: Compression,
) -> Result<Vec<u8>, ArrowFrameError> {
    let mut enc = RecordBatchEncoder::new(ipc_body_compression)?;
    let mut out = Vec::new();
    for b in batches {
        enc.encode(b, &mut out)?;
    }
    Ok(out)
}

/// The encapsulated IPC schema message of `schema` (what pyodps prepends locally before
/// handing a tunnel payload to an IPC stream reader).
pub fn schema_message(schema: &arrow_schema::Schema) -> Result<Vec<u8>, ArrowFrameError> {
    let options = IpcWriteOptions::try_new(IPC_ALIGNMENT, false, arrow_ipc::MetadataVersion::V5)?;
    let encoded: EncodedData = IpcDataGenerator::default().schema_to_bytes_with_dictionary_tracker(
        schema,
        &mut DictionaryTracker::new(false),
        &options,
    );
    let mut out = Vec::new();
    write_message(&mut out, encoded, &options)?;
    Ok(out)
}

/// Largest IPC message metadata accepted (flatbuffer header of one message).
pub const MAX_IPC_METADATA: usize = 16 << 20;
/// Default limit on the decoded buffer bytes of one record batch (see
/// [`RecordBatchDecoder::with_max_batch_bytes`]).
pub const DEFAULT_MAX_BATCH_BYTES: usize = 256 << 20;

/// Push-based decoder of a tunnel payload into record batches of a known schema. IPC body
/// compression (ZSTD, LZ4_FRAME) is handled transparently. An end-of-stream marker is accepted
/// at the very end (the tunnel does not send one); schema and dictionary messages are errors.
pub struct RecordBatchDecoder {
    schema: SchemaRef,
    max_batch_bytes: usize,
    pending: Vec<u8>,
    ended: bool,
    messages: u64,
}

impl std::fmt::Debug for RecordBatchDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordBatchDecoder")
            .field("schema", &self.schema)
            .field("pending", &self.pending.len())
            .field("messages", &self.messages)
            .finish_non_exhaustive()
    }
}

impl RecordBatchDecoder {
    /// A decoder for payloads of batches with `schema` (which is not on the wire).
    pub fn new(schema: SchemaRef) -> Self {
        RecordBatchDecoder {
            schema,
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES,
            pending: Vec::new(),
            ended: false,
            messages: 0,
        }
    }

    /// Set the limit on the buffer bytes one batch may decode to (the sum of its buffer
    /// lengths, after IPC body decompression). Larger batches are an error before anything is
    /// allocated for them.
    pub fn with_max_batch_bytes(mut self, max: usize) -> Self {
        self.max_batch_bytes = max;
        self
    }

    /// The schema batches are decoded with.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Decode another piece of payload; returns the batches completed by it.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<RecordBatch>, ArrowFrameError> {
        let mut out = Vec::new();
        if data.is_empty() {
            return Ok(out);
        }
        if self.ended {
            return Err(ArrowFrameError::Ipc(
                "data after the end-of-stream marker".to_string(),
            ));
        }
        if self.pending.is_empty() {
            let used = self.parse(data, &mut out)?;
            self.pending
                .extend_from_slice(data.get(used..).unwrap_or_default());
        } else {
            // Appending is amortised; the buffer is only shifted when a message completes.
            let mut pending = std::mem::take(&mut self.pending);
            pending.extend_from_slice(data);
            let used = self.parse(&pending, &mut out)?;
            pending.drain(..used);
            self.pending = pending;
        }
        Ok(out)
    }

    /// Decode the complete messages at the start of `buf`; returns the bytes used.
    fn parse(&mut self, buf: &[u8], out: &mut Vec<RecordBatch>) -> Result<usize, ArrowFrameError> {
        let mut pos = 0usize;
        while let Some(step) = self.next_message(buf.get(pos..).unwrap_or_default(), out)? {
            pos += step;
            if self.ended {
                if pos < buf.len() {
                    return Err(ArrowFrameError::Ipc(
                        "data after the end-of-stream marker".to_string(),
                    ));
                }
                break;
            }
        }
        Ok(pos)
    }

    /// Decode the message at the start of `buf` if it is complete; returns its length.
    fn next_message(
        &mut self,
        buf: &[u8],
        out: &mut Vec<RecordBatch>,
    ) -> Result<Option<usize>, ArrowFrameError> {
        let word = |at: usize| {
            buf.get(at..at + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let Some(first) = word(0) else {
            return Ok(None);
        };
        // Continuation marker then the metadata length; before Arrow 0.15 the length alone.
        let (prefix, meta_len) = if first == 0xFFFF_FFFF {
            match word(4) {
                Some(n) => (8usize, n),
                None => return Ok(None),
            }
        } else {
            (4usize, first)
        };
        if meta_len == 0 {
            self.ended = true;
            return Ok(Some(prefix));
        }
        let meta_len = meta_len as usize;
        if meta_len > MAX_IPC_METADATA {
            return Err(ArrowFrameError::Ipc(format!(
                "IPC message {} declares {meta_len} bytes of metadata (more than {MAX_IPC_METADATA})",
                self.messages
            )));
        }
        let Some(meta) = buf.get(prefix..prefix + meta_len) else {
            return Ok(None);
        };
        let message = arrow_ipc::root_as_message(meta).map_err(|e| {
            ArrowFrameError::Ipc(format!("IPC message {} metadata: {e}", self.messages))
        })?;
        let body_len = usize::try_from(message.bodyLength()).map_err(|_| {
            ArrowFrameError::Ipc(format!(
                "IPC message {} has a negative body length",
                self.messages
            ))
        })?;
        let start = prefix + meta_len;
        let Some(end) = start.checked_add(body_len) else {
            return Err(ArrowFrameError::Ipc(
                "IPC body length overflows".to_string(),
            ));
        };
        let Some(body) = buf.get(start..end) else {
            return Ok(None);
        };
        match message.header_type() {
            arrow_ipc::MessageHeader::RecordBatch => {
                let Some(header) = message.header_as_record_batch() else {
                    return Err(ArrowFrameError::Ipc(
                        "record batch message without a header".to_string(),
                    ));
                };
                check_batch_header(header, body, self.max_batch_bytes, &self.schema).map_err(
                    |reason| {
                        ArrowFrameError::Ipc(format!("record batch {}: {reason}", self.messages))
                    },
                )?;
                let batch = arrow_ipc::reader::read_record_batch(
                    &Buffer::from(body),
                    header,
                    Arc::clone(&self.schema),
                    &std::collections::HashMap::new(),
                    None,
                    &message.version(),
                )?;
                out.push(batch);
            }
            arrow_ipc::MessageHeader::Schema => {
                return Err(ArrowFrameError::Ipc(
                    "unexpected schema message in a tunnel payload (the schema is not sent)"
                        .to_string(),
                ));
            }
            arrow_ipc::MessageHeader::DictionaryBatch => return Err(ArrowFrameError::Dictionary),
            other => {
                return Err(ArrowFrameError::Ipc(format!(
                    "unexpected IPC message type {other:?}"
                )));
            }
        }
        self.messages += 1;
        Ok(Some(end))
    }

    /// End of the payload: an incomplete message is an error.
    pub fn finish(&mut self) -> Result<(), ArrowFrameError> {
        if self.pending.is_empty() {
            Ok(())
        } else {
            Err(ArrowFrameError::Truncated(format!(
                "the IPC payload ends inside message {} ({} bytes buffered)",
                self.messages,
                self.pending.len()
            )))
        }
    }
}

/// Check what the IPC reader would otherwise trust: every buffer lies inside the body, node
/// counts are sane, and the decoded size (declared uncompressed lengths when the body is
/// compressed) stays under `max_bytes`.
fn check_batch_header(
    rb: arrow_ipc::RecordBatch<'_>,
    body: &[u8],
    max_bytes: usize,
    schema: &arrow_schema::Schema,
) -> Result<(), String> {
    if rb.length() < 0 {
        return Err(format!("negative row count {}", rb.length()));
    }
    for n in rb.nodes().iter().flatten() {
        if n.length() < 0 || n.null_count() < 0 || n.null_count() > n.length() {
            return Err(format!(
                "bad field node (length {}, null count {})",
                n.length(),
                n.null_count()
            ));
        }
    }
    let compressed = rb.compression().is_some();
    let mut total: u128 = 0;
    let mut decoded_lens: Vec<u128> = Vec::new();
    for b in rb.buffers().iter().flatten() {
        let (off, len) = (b.offset(), b.length());
        let range = usize::try_from(off)
            .ok()
            .zip(usize::try_from(len).ok())
            .and_then(|(o, l)| Some(o..o.checked_add(l)?))
            .filter(|r| r.end <= body.len())
            .ok_or_else(|| {
                format!(
                    "buffer at offset {off} with length {len} is outside the {}-byte body",
                    body.len()
                )
            })?;
        let data = body.get(range).unwrap_or_default();
        if compressed && !data.is_empty() {
            let Some(prefix) = data.get(..8) else {
                return Err(format!(
                    "compressed buffer of {} bytes has no length prefix",
                    data.len()
                ));
            };
            let declared = i64::from_le_bytes(prefix.try_into().unwrap_or_default());
            let n = match declared {
                -1 => data.len() as u128 - 8,
                d if d >= 0 => d as u128,
                d => return Err(format!("invalid uncompressed buffer length {d}")),
            };
            total += n;
            decoded_lens.push(n);
        } else {
            total += data.len() as u128;
            decoded_lens.push(data.len() as u128);
        }
    }
    if total > max_bytes as u128 {
        return Err(format!(
            "decodes to {total} buffer bytes, more than the limit of {max_bytes}"
        ));
    }
    // Typed buffers (offsets, fixed-width values) must hold whole elements: the IPC reader's
    // validation asserts on that instead of returning an error.
    let mut lens = decoded_lens.into_iter();
    for f in schema.fields() {
        check_buffers(f.data_type(), &mut lens)?;
    }
    Ok(())
}

/// Width of the elements of the values buffer of a fixed-width type.
fn value_width(dt: &arrow_schema::DataType) -> Option<u128> {
    use arrow_schema::{DataType as D, IntervalUnit as I};
    Some(match dt {
        D::Int8 | D::UInt8 => 1,
        D::Int16 | D::UInt16 | D::Float16 => 2,
        D::Int32 | D::UInt32 | D::Float32 | D::Date32 | D::Time32(_) => 4,
        D::Interval(I::YearMonth) => 4,
        D::Int64 | D::UInt64 | D::Float64 | D::Date64 | D::Time64(_) => 8,
        D::Timestamp(..) | D::Duration(_) | D::Interval(I::DayTime) => 8,
        D::Interval(I::MonthDayNano) | D::Decimal128(..) => 16,
        D::Decimal256(..) => 32,
        _ => return None,
    })
}

fn next_len(lens: &mut dyn Iterator<Item = u128>) -> Result<u128, String> {
    lens.next()
        .ok_or_else(|| "fewer buffers than the schema needs".to_string())
}

/// A buffer of any length (validity bitmaps, bit-packed booleans, variable-size data).
fn any_len(lens: &mut dyn Iterator<Item = u128>) -> Result<(), String> {
    next_len(lens).map(|_| ())
}

/// A buffer of `width`-byte elements.
fn typed_len(lens: &mut dyn Iterator<Item = u128>, width: u128, what: &str) -> Result<(), String> {
    let n = next_len(lens)?;
    if n % width != 0 {
        return Err(format!(
            "{what} buffer of {n} bytes is not a multiple of {width}"
        ));
    }
    Ok(())
}

/// Walk the buffers of one field (pre-order, as IPC lays them out) and check that typed ones
/// hold whole elements.
fn check_buffers(
    dt: &arrow_schema::DataType,
    lens: &mut dyn Iterator<Item = u128>,
) -> Result<(), String> {
    use arrow_schema::DataType as D;
    match dt {
        D::Null => Ok(()),
        D::Boolean => {
            any_len(lens)?;
            any_len(lens)
        }
        D::Utf8 | D::Binary => {
            any_len(lens)?;
            typed_len(lens, 4, "offsets")?;
            any_len(lens)
        }
        D::LargeUtf8 | D::LargeBinary => {
            any_len(lens)?;
            typed_len(lens, 8, "offsets")?;
            any_len(lens)
        }
        D::FixedSizeBinary(w) => {
            any_len(lens)?;
            typed_len(lens, u128::from(w.unsigned_abs().max(1)), "values")
        }
        D::List(f) | D::Map(f, _) => {
            any_len(lens)?;
            typed_len(lens, 4, "offsets")?;
            check_buffers(f.data_type(), lens)
        }
        D::LargeList(f) => {
            any_len(lens)?;
            typed_len(lens, 8, "offsets")?;
            check_buffers(f.data_type(), lens)
        }
        D::FixedSizeList(f, _) => {
            any_len(lens)?;
            check_buffers(f.data_type(), lens)
        }
        D::Struct(fs) => {
            any_len(lens)?;
            fs.iter()
                .try_for_each(|f| check_buffers(f.data_type(), lens))
        }
        other => match value_width(other) {
            Some(w) => {
                any_len(lens)?;
                typed_len(lens, w, "values")
            }
            None => Err(format!(
                "Arrow type {other} is not supported in tunnel payloads"
            )),
        },
    }
}

/// Decode a whole tunnel payload (record-batch messages only) with the given schema.
pub fn decode_record_batches(
    schema: SchemaRef,
    payload: &[u8],
) -> Result<Vec<RecordBatch>, ArrowFrameError> {
    let mut d = RecordBatchDecoder::new(schema);
    let batches = d.feed(payload)?;
    d.finish()?;
    Ok(batches)
}

#[cfg(test)]
mod tests;
