//! Tunnel body compression (protocol §4.7), push-based in both directions.
//!
//! | [`Compression`] | `Content-Encoding` | format |
//! |---|---|---|
//! | `Raw` | absent | as is |
//! | `Zlib` | `deflate` | zlib-wrapped deflate (RFC 1950) |
//! | `Snappy` | `x-snappy-framed` | Snappy framing format (stream identifier, masked CRC32C per chunk) |
//! | `Lz4Frame` | `x-lz4-frame` (`x-odps-lz4-frame` for Arrow bodies) | LZ4 frame |
//! | `Zstd` | `zstd` | zstd frame |
//!
//! [`Compressor`] takes plain bytes and produces the encoded body; [`Decompressor`] takes the
//! encoded body in pieces of any size and yields the plain bytes as soon as they are decoded.
//! Both let the caller take the output produced so far, so bodies of any size can be streamed.
//! Every decoder stops with [`CompressError::OutputLimit`] once the decoded size would pass the
//! limit given to it (a decompression-bomb guard), and bad input is a typed error, never a panic.

use std::fmt;
use std::io::{self, BufRead, Read, Write};

use serde::{Deserialize, Serialize};

/// A tunnel compression algorithm.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Compression {
    /// No compression.
    #[default]
    Raw,
    /// zlib-wrapped deflate (`deflate`).
    Zlib,
    /// Snappy framing format (`x-snappy-framed`).
    Snappy,
    /// LZ4 frame (`x-lz4-frame`, `x-odps-lz4-frame` for Arrow bodies).
    Lz4Frame,
    /// zstd frame (`zstd`).
    Zstd,
}

impl Compression {
    /// Every algorithm, in declaration order.
    pub const ALL: [Compression; 5] = [
        Compression::Raw,
        Compression::Zlib,
        Compression::Snappy,
        Compression::Lz4Frame,
        Compression::Zstd,
    ];

    /// The `Content-Encoding` / `Accept-Encoding` value for record-stream bodies; `None` for
    /// [`Compression::Raw`] (the header is then omitted, never `identity`).
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Compression::Raw => None,
            Compression::Zlib => Some("deflate"),
            Compression::Snappy => Some("x-snappy-framed"),
            Compression::Lz4Frame => Some("x-lz4-frame"),
            Compression::Zstd => Some("zstd"),
        }
    }

    /// The header value for Arrow tunnel bodies: as [`Self::content_encoding`], except that
    /// LZ4 is `x-odps-lz4-frame`.
    pub fn arrow_content_encoding(self) -> Option<&'static str> {
        match self {
            Compression::Lz4Frame => Some("x-odps-lz4-frame"),
            other => other.content_encoding(),
        }
    }

    /// The algorithm named by a `Content-Encoding` header value (case-insensitive, surrounding
    /// blanks ignored). An absent or empty header and `identity` mean [`Compression::Raw`];
    /// `lz4_frame` and `x-odps-lz4-frame` are accepted for LZ4 as pyodps does.
    pub fn from_content_encoding(value: Option<&str>) -> Result<Self, CompressError> {
        let Some(raw) = value else {
            return Ok(Compression::Raw);
        };
        let v = raw.trim().to_ascii_lowercase();
        Ok(match v.as_str() {
            "" | "identity" => Compression::Raw,
            "deflate" => Compression::Zlib,
            "x-snappy-framed" => Compression::Snappy,
            "x-lz4-frame" | "x-odps-lz4-frame" | "lz4_frame" => Compression::Lz4Frame,
            "zstd" => Compression::Zstd,
            _ => return Err(CompressError::UnknownEncoding(raw.to_string())),
        })
    }

    /// The connector option spelling: `RAW`, `ZLIB`, `SNAPPY`, `LZ4_FRAME` or `ZSTD`.
    pub fn option_name(self) -> &'static str {
        match self {
            Compression::Raw => "RAW",
            Compression::Zlib => "ZLIB",
            Compression::Snappy => "SNAPPY",
            Compression::Lz4Frame => "LZ4_FRAME",
            Compression::Zstd => "ZSTD",
        }
    }

    /// The algorithm named by a connector option (`compressAlgorithm`, `compressCodec`):
    /// `RAW`, `ZLIB`, `SNAPPY`, `ZSTD`, `LZ4_FRAME`, case-insensitive; the empty string means
    /// [`Compression::Raw`].
    pub fn from_option_name(s: &str) -> Result<Self, CompressError> {
        let v = s.trim().to_ascii_uppercase();
        Ok(match v.as_str() {
            "" | "RAW" => Compression::Raw,
            "ZLIB" => Compression::Zlib,
            "SNAPPY" => Compression::Snappy,
            "LZ4_FRAME" => Compression::Lz4Frame,
            "ZSTD" => Compression::Zstd,
            _ => return Err(CompressError::UnknownOption(s.to_string())),
        })
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.option_name())
    }
}

/// Errors of the compression codecs and of the header/option mapping.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompressError {
    /// A `Content-Encoding` value that names no supported algorithm.
    #[error(
        "unsupported Content-Encoding `{0}` (expected deflate, x-snappy-framed, x-lz4-frame, x-odps-lz4-frame or zstd)"
    )]
    UnknownEncoding(String),
    /// A compression option value that names no supported algorithm.
    #[error(
        "unknown compression option `{0}` (expected RAW, ZLIB, SNAPPY, ZSTD, LZ4_FRAME or empty)"
    )]
    UnknownOption(String),
    /// The compressed input is not valid for the algorithm.
    #[error("corrupt {codec} body: {reason}")]
    Corrupt {
        /// The algorithm being decoded.
        codec: Compression,
        /// What is wrong.
        reason: String,
    },
    /// The input ended before the compressed stream was complete.
    #[error("truncated {codec} body: {reason}")]
    Truncated {
        /// The algorithm being decoded.
        codec: Compression,
        /// Where the stream stopped.
        reason: String,
    },
    /// Decoding would produce more than the allowed number of bytes.
    #[error("decoded {codec} body exceeds the limit of {limit} bytes")]
    OutputLimit {
        /// The algorithm being decoded.
        codec: Compression,
        /// The limit given to the decoder.
        limit: usize,
    },
    /// The encoder reported an error.
    #[error("{codec} encoder failed: {reason}")]
    Encode {
        /// The algorithm being encoded.
        codec: Compression,
        /// The encoder's message.
        reason: String,
    },
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// Default zlib level: 1, the level pyodps uses (fast, most of the gain on record streams).
pub const DEFAULT_ZLIB_LEVEL: u32 = 1;
/// Default zstd level: 3, zstd's own default (what pyodps uses).
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

enum EncState {
    Raw(Vec<u8>),
    Zlib(flate2::write::ZlibEncoder<Vec<u8>>),
    Snappy(Box<snap::write::FrameEncoder<Vec<u8>>>),
    Lz4(Box<lz4_flex::frame::FrameEncoder<Vec<u8>>>),
    Zstd(Box<zstd::stream::write::Encoder<'static, Vec<u8>>>),
}

/// A push-based compressor: [`write`](Self::write) plain bytes, [`take_output`](Self::take_output)
/// the encoded bytes produced so far whenever convenient, and [`finish`](Self::finish) to get
/// the rest.
pub struct Compressor {
    codec: Compression,
    state: EncState,
}

impl fmt::Debug for Compressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compressor")
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl Compressor {
    /// A compressor with the default level of the algorithm ([`DEFAULT_ZLIB_LEVEL`],
    /// [`DEFAULT_ZSTD_LEVEL`]).
    pub fn new(codec: Compression) -> Result<Self, CompressError> {
        Self::with_level(codec, None)
    }

    /// A compressor with an explicit level. The level applies to ZLIB (0..=9) and ZSTD
    /// (1..=22, clamped); the other algorithms have no levels and ignore it.
    pub fn with_level(codec: Compression, level: Option<i32>) -> Result<Self, CompressError> {
        let enc_err = |e: io::Error| CompressError::Encode {
            codec,
            reason: e.to_string(),
        };
        let state = match codec {
            Compression::Raw => EncState::Raw(Vec::new()),
            Compression::Zlib => {
                let lvl = level.map_or(DEFAULT_ZLIB_LEVEL, |l| l.clamp(0, 9) as u32);
                EncState::Zlib(flate2::write::ZlibEncoder::new(
                    Vec::new(),
                    flate2::Compression::new(lvl),
                ))
            }
            Compression::Snappy => {
                EncState::Snappy(Box::new(snap::write::FrameEncoder::new(Vec::new())))
            }
            Compression::Lz4Frame => {
                // 64 KiB independent blocks (what the Python and Java LZ4 frame writers use by
                // default) plus a content checksum, so corruption is caught by the frame itself.
                let info = lz4_flex::frame::FrameInfo::new()
                    .block_size(lz4_flex::frame::BlockSize::Max64KB)
                    .content_checksum(true);
                EncState::Lz4(Box::new(lz4_flex::frame::FrameEncoder::with_frame_info(
                    info,
                    Vec::new(),
                )))
            }
            Compression::Zstd => {
                let lvl = level.map_or(DEFAULT_ZSTD_LEVEL, |l| l.clamp(1, 22));
                EncState::Zstd(Box::new(
                    zstd::stream::write::Encoder::new(Vec::new(), lvl).map_err(enc_err)?,
                ))
            }
        };
        Ok(Compressor { codec, state })
    }

    /// The algorithm.
    pub fn codec(&self) -> Compression {
        self.codec
    }

    /// Compress more plain bytes.
    pub fn write(&mut self, data: &[u8]) -> Result<(), CompressError> {
        let codec = self.codec;
        let r = match &mut self.state {
            EncState::Raw(out) => {
                out.extend_from_slice(data);
                Ok(())
            }
            EncState::Zlib(e) => e.write_all(data),
            EncState::Snappy(e) => e.write_all(data),
            EncState::Lz4(e) => e.write_all(data),
            EncState::Zstd(e) => e.write_all(data),
        };
        r.map_err(|e| CompressError::Encode {
            codec,
            reason: e.to_string(),
        })
    }

    /// Take the encoded bytes produced so far (the encoder may still hold some input back
    /// until more arrives or [`finish`](Self::finish) is called).
    pub fn take_output(&mut self) -> Vec<u8> {
        let out = match &mut self.state {
            EncState::Raw(out) => out,
            EncState::Zlib(e) => e.get_mut(),
            EncState::Snappy(e) => e.get_mut(),
            EncState::Lz4(e) => e.get_mut(),
            EncState::Zstd(e) => e.get_mut(),
        };
        std::mem::take(out)
    }

    /// Number of encoded bytes produced and not yet taken.
    pub fn pending_output(&self) -> usize {
        match &self.state {
            EncState::Raw(out) => out.len(),
            EncState::Zlib(e) => e.get_ref().len(),
            EncState::Snappy(e) => e.get_ref().len(),
            EncState::Lz4(e) => e.get_ref().len(),
            EncState::Zstd(e) => e.get_ref().len(),
        }
    }

    /// End the stream and return the encoded bytes not yet taken.
    pub fn finish(self) -> Result<Vec<u8>, CompressError> {
        let codec = self.codec;
        let enc_err = |reason: String| CompressError::Encode { codec, reason };
        match self.state {
            EncState::Raw(out) => Ok(out),
            EncState::Zlib(e) => e.finish().map_err(|e| enc_err(e.to_string())),
            EncState::Snappy(e) => e.into_inner().map_err(|e| enc_err(e.error().to_string())),
            EncState::Lz4(e) => e.finish().map_err(|e| enc_err(e.to_string())),
            EncState::Zstd(e) => e.finish().map_err(|e| enc_err(e.to_string())),
        }
    }
}

/// Compress a whole body at once.
pub fn compress(codec: Compression, data: &[u8]) -> Result<Vec<u8>, CompressError> {
    let mut c = Compressor::new(codec)?;
    c.write(data)?;
    c.finish()
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// Where decoded bytes go: a buffer that refuses to grow past the total output limit.
#[derive(Debug)]
struct Sink {
    buf: Vec<u8>,
    total: usize,
    limit: usize,
    exceeded: bool,
}

impl Sink {
    fn new(limit: usize) -> Self {
        Sink {
            buf: Vec::new(),
            total: 0,
            limit,
            exceeded: false,
        }
    }

    /// Whether `n` more bytes fit under the limit (and marks the sink as exceeded if not).
    fn admit(&mut self, n: usize) -> bool {
        match self.total.checked_add(n) {
            Some(t) if t <= self.limit => true,
            _ => {
                self.exceeded = true;
                false
            }
        }
    }

    /// Reserves room for `n` more output bytes, as far as the limit allows.
    fn reserve_up_to(&mut self, n: usize) {
        let room = self.limit.saturating_sub(self.total);
        self.buf.reserve(n.min(room));
    }

    fn push(&mut self, data: &[u8]) -> bool {
        if !self.admit(data.len()) {
            return false;
        }
        self.total += data.len();
        self.buf.extend_from_slice(data);
        true
    }
}

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.push(data) {
            Ok(data.len())
        } else {
            Err(io::Error::other("decoded output limit exceeded"))
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Size of the scratch buffer the zlib decoder inflates into.
const ZLIB_SCRATCH: usize = 32 * 1024;

struct ZlibState {
    inflate: flate2::Decompress,
    done: bool,
    scratch: Vec<u8>,
}

enum DecState {
    Raw,
    Zlib(Box<ZlibState>),
    Snappy(Box<SnappyFrames>),
    Lz4(Box<Lz4Frames>),
    Zstd(Box<zstd::stream::write::Decoder<'static, Sink>>),
}

/// A push-based decompressor: [`feed`](Self::feed) the encoded body in pieces of any size,
/// [`take_output`](Self::take_output) what has been decoded so far, and [`finish`](Self::finish)
/// at the end of the body (an incomplete stream is then an error).
///
/// The total decoded size may not exceed `max_output_bytes`: the decoder stops with
/// [`CompressError::OutputLimit`] as soon as it would. After any error the decoder keeps
/// returning that error.
pub struct Decompressor {
    codec: Compression,
    state: DecState,
    /// Output sink for every codec except ZSTD (whose sink lives inside its decoder).
    sink: Sink,
    input_len: u64,
    failed: Option<CompressError>,
}

impl fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decompressor")
            .field("codec", &self.codec)
            .field("input_len", &self.input_len)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Decompressor {
    /// A decompressor for `codec` that allows at most `max_output_bytes` of decoded output.
    pub fn new(codec: Compression, max_output_bytes: usize) -> Result<Self, CompressError> {
        let state = match codec {
            Compression::Raw => DecState::Raw,
            Compression::Zlib => DecState::Zlib(Box::new(ZlibState {
                inflate: flate2::Decompress::new(true),
                done: false,
                scratch: Vec::new(),
            })),
            Compression::Snappy => DecState::Snappy(Box::new(SnappyFrames::new())),
            Compression::Lz4Frame => DecState::Lz4(Box::new(Lz4Frames::new())),
            Compression::Zstd => DecState::Zstd(Box::new(
                zstd::stream::write::Decoder::new(Sink::new(max_output_bytes)).map_err(|e| {
                    CompressError::Corrupt {
                        codec,
                        reason: format!("cannot create zstd decoder: {e}"),
                    }
                })?,
            )),
        };
        Ok(Decompressor {
            codec,
            state,
            sink: Sink::new(max_output_bytes),
            input_len: 0,
            failed: None,
        })
    }

    /// The algorithm.
    pub fn codec(&self) -> Compression {
        self.codec
    }

    /// Total encoded bytes fed so far.
    pub fn input_len(&self) -> u64 {
        self.input_len
    }

    /// Total decoded bytes produced so far (taken or not).
    pub fn output_len(&self) -> usize {
        match &self.state {
            DecState::Zstd(d) => d.get_ref().total,
            _ => self.sink.total,
        }
    }

    fn sink_mut(&mut self) -> &mut Sink {
        match &mut self.state {
            DecState::Zstd(d) => d.get_mut(),
            _ => &mut self.sink,
        }
    }

    /// Decode another piece of the encoded body.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), CompressError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.input_len += data.len() as u64;
        let r = self.feed_inner(data);
        self.fail_on(r)
    }

    fn fail_on(&mut self, r: Result<(), CompressError>) -> Result<(), CompressError> {
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    fn limit_error(&self) -> CompressError {
        CompressError::OutputLimit {
            codec: self.codec,
            limit: self.sink.limit,
        }
    }

    fn feed_inner(&mut self, data: &[u8]) -> Result<(), CompressError> {
        let codec = self.codec;
        let limit_err = self.limit_error();
        let corrupt = |reason: String| CompressError::Corrupt { codec, reason };
        match &mut self.state {
            DecState::Raw => {
                if !self.sink.push(data) {
                    return Err(limit_err);
                }
                Ok(())
            }
            DecState::Zlib(z) => feed_zlib(z, data, &mut self.sink, codec),
            DecState::Snappy(s) => s.feed(data, &mut self.sink),
            DecState::Lz4(l) => l.feed(data, &mut self.sink),
            DecState::Zstd(d) => {
                let r = d.write_all(data).and_then(|()| d.flush());
                match r {
                    Ok(()) => Ok(()),
                    Err(_) if d.get_ref().exceeded => Err(limit_err),
                    Err(e) => Err(corrupt(e.to_string())),
                }
            }
        }
    }

    /// Take the decoded bytes produced so far.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.sink_mut().buf)
    }

    /// End of the encoded body: check that the stream is complete and return the decoded bytes
    /// not yet taken.
    pub fn finish(mut self) -> Result<Vec<u8>, CompressError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let codec = self.codec;
        let limit_err = self.limit_error();
        let truncated = |reason: &str| CompressError::Truncated {
            codec,
            reason: reason.to_string(),
        };
        match self.state {
            DecState::Raw => Ok(self.sink.buf),
            DecState::Zlib(z) => {
                if z.done {
                    Ok(self.sink.buf)
                } else {
                    Err(truncated(
                        "the zlib stream has no end (missing final block or checksum)",
                    ))
                }
            }
            DecState::Snappy(s) => {
                s.finish()?;
                Ok(self.sink.buf)
            }
            DecState::Lz4(l) => {
                l.finish()?;
                Ok(self.sink.buf)
            }
            DecState::Zstd(mut d) => match d.do_finish() {
                Ok(()) => Ok(d.into_inner().buf),
                Err(_) if d.get_ref().exceeded => Err(limit_err),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    Err(truncated("the zstd frame is incomplete"))
                }
                Err(e) => Err(CompressError::Corrupt {
                    codec,
                    reason: e.to_string(),
                }),
            },
        }
    }
}

/// Decompress a whole body at once, allowing at most `max_output` decoded bytes.
pub fn decompress(
    codec: Compression,
    data: &[u8],
    max_output: usize,
) -> Result<Vec<u8>, CompressError> {
    let mut d = Decompressor::new(codec, max_output)?;
    d.feed(data)?;
    d.finish()
}

fn feed_zlib(
    z: &mut ZlibState,
    mut input: &[u8],
    sink: &mut Sink,
    codec: Compression,
) -> Result<(), CompressError> {
    use flate2::{FlushDecompress, Status};
    let trailing = || CompressError::Corrupt {
        codec,
        reason: "data after the end of the zlib stream".to_string(),
    };
    if z.done {
        return if input.is_empty() {
            Ok(())
        } else {
            Err(trailing())
        };
    }
    loop {
        // Never inflate more than one byte past the limit in one step, so a bomb cannot make
        // this allocate more than the limit allows.
        let room = sink.limit.saturating_sub(sink.total).saturating_add(1);
        let n = room.min(ZLIB_SCRATCH);
        if z.scratch.len() < n {
            z.scratch.resize(n, 0);
        }
        let scratch = z.scratch.get_mut(..n).unwrap_or_default();
        let before_in = z.inflate.total_in();
        let before_out = z.inflate.total_out();
        let status = z
            .inflate
            .decompress(input, scratch, FlushDecompress::None)
            .map_err(|e| CompressError::Corrupt {
                codec,
                reason: e.to_string(),
            })?;
        let consumed = usize::try_from(z.inflate.total_in() - before_in).unwrap_or(usize::MAX);
        let produced = usize::try_from(z.inflate.total_out() - before_out).unwrap_or(usize::MAX);
        input = input.get(consumed..).unwrap_or_default();
        let out = scratch.get(..produced).unwrap_or_default();
        if !sink.push(out) {
            return Err(CompressError::OutputLimit {
                codec,
                limit: sink.limit,
            });
        }
        match status {
            Status::StreamEnd => {
                z.done = true;
                return if input.is_empty() {
                    Ok(())
                } else {
                    Err(trailing())
                };
            }
            Status::Ok | Status::BufError => {
                // Done with this piece once all input is consumed and the output buffer was not
                // filled (nothing more is pending inside the inflater).
                if input.is_empty() && produced < n {
                    return Ok(());
                }
                if consumed == 0 && produced == 0 {
                    return Err(CompressError::Corrupt {
                        codec,
                        reason: "the zlib decoder made no progress".to_string(),
                    });
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Snappy framing format
// ---------------------------------------------------------------------------------------------

/// The stream identifier chunk that starts every Snappy framed stream.
pub const SNAPPY_STREAM_IDENTIFIER: [u8; 10] =
    [0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59];
/// Largest uncompressed size of one Snappy data chunk (framing format spec).
const SNAPPY_MAX_BLOCK: usize = 65536;
/// Largest compressed payload of one Snappy chunk: `max_compress_len(65536)`.
const SNAPPY_MAX_COMPRESSED: usize = 76490;

/// The masked CRC32C used by the Snappy framing format.
pub fn snappy_masked_crc32c(data: &[u8]) -> u32 {
    let c = crc32c::crc32c(data);
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Bytes of the framing unit that starts `buf`: the whole chunk for data and identifier
/// chunks of a plausible length, else just the header (which the parser then rejects or, for
/// skippable chunks, consumes on its own).
fn snappy_unit_len(buf: &[u8]) -> usize {
    let Some(h) = buf.first_chunk::<4>() else {
        return 4;
    };
    let len = usize::from(h[1]) | (usize::from(h[2]) << 8) | (usize::from(h[3]) << 16);
    match h[0] {
        0x00 | 0x01 | 0xff if len <= SNAPPY_MAX_COMPRESSED + 4 => 4 + len,
        _ => 4,
    }
}

/// Decoded bytes of the complete data chunks at the start of `buf` (a hint for reserving
/// output room; malformed chunks end the scan).
fn snappy_planned_output(buf: &[u8]) -> usize {
    let mut pos = 0;
    let mut total = 0usize;
    while let Some(h) = buf.get(pos..).and_then(|t| t.first_chunk::<4>()) {
        let len = usize::from(h[1]) | (usize::from(h[2]) << 8) | (usize::from(h[3]) << 16);
        let Some(body) = buf.get(pos + 4..pos + 4 + len) else {
            break;
        };
        total += match h[0] {
            0x00 => body
                .get(4..)
                .and_then(|p| snap::raw::decompress_len(p).ok())
                .unwrap_or(0)
                .min(SNAPPY_MAX_BLOCK),
            0x01 => len.saturating_sub(4),
            _ => 0,
        };
        pos += 4 + len;
    }
    total
}

/// Push parser of the Snappy framing format; chunk bodies are decoded with `snap::raw`.
struct SnappyFrames {
    pending: Vec<u8>,
    seen_identifier: bool,
    /// Bytes of a skippable chunk still to drop.
    skip: usize,
    raw: snap::raw::Decoder,
    scratch: Vec<u8>,
}

impl SnappyFrames {
    fn new() -> Self {
        SnappyFrames {
            pending: Vec::new(),
            seen_identifier: false,
            skip: 0,
            raw: snap::raw::Decoder::new(),
            scratch: Vec::new(),
        }
    }

    fn corrupt(reason: String) -> CompressError {
        CompressError::Corrupt {
            codec: Compression::Snappy,
            reason,
        }
    }

    fn feed(&mut self, mut data: &[u8], sink: &mut Sink) -> Result<(), CompressError> {
        // An unfinished chunk from the last call: complete it with just the bytes it needs,
        // then go on parsing `data` in place (copying only an incomplete tail).
        while !self.pending.is_empty() {
            if data.is_empty() {
                return Ok(());
            }
            let want = snappy_unit_len(&self.pending).max(self.pending.len() + 1);
            let take = (want - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            let pending = std::mem::take(&mut self.pending);
            let used = self.parse(&pending, sink);
            self.pending = pending;
            let used = used?;
            self.pending.drain(..used);
        }
        sink.reserve_up_to(snappy_planned_output(data));
        let used = self.parse(data, sink)?;
        data = data.get(used..).unwrap_or_default();
        self.pending.extend_from_slice(data);
        Ok(())
    }

    /// Parse as many complete chunks of `buf` as possible; returns how many bytes were used.
    fn parse(&mut self, buf: &[u8], sink: &mut Sink) -> Result<usize, CompressError> {
        let mut pos = 0usize;
        loop {
            let rest = buf.get(pos..).unwrap_or_default();
            if self.skip > 0 {
                let n = self.skip.min(rest.len());
                self.skip -= n;
                pos += n;
                if self.skip > 0 {
                    return Ok(pos);
                }
                continue;
            }
            let Some(header) = rest.get(..4) else {
                return Ok(pos);
            };
            let ty = header[0];
            let len = usize::from(header[1])
                | (usize::from(header[2]) << 8)
                | (usize::from(header[3]) << 16);
            if ty != 0xff && !self.seen_identifier {
                return Err(Self::corrupt(format!(
                    "stream does not start with the snappy stream identifier (first chunk type 0x{ty:02x})"
                )));
            }
            match ty {
                0xff => {
                    if len != 6 {
                        return Err(Self::corrupt(format!(
                            "stream identifier chunk has length {len}, expected 6"
                        )));
                    }
                    let Some(body) = rest.get(4..10) else {
                        return Ok(pos);
                    };
                    if body != b"sNaPpY" {
                        return Err(Self::corrupt("bad stream identifier".to_string()));
                    }
                    self.seen_identifier = true;
                    pos += 10;
                }
                0x00 | 0x01 => {
                    let max = if ty == 0x00 {
                        SNAPPY_MAX_COMPRESSED
                    } else {
                        SNAPPY_MAX_BLOCK
                    };
                    if len < 4 {
                        return Err(Self::corrupt(format!(
                            "data chunk of length {len} is shorter than its checksum"
                        )));
                    }
                    if len - 4 > max {
                        return Err(Self::corrupt(format!(
                            "data chunk of {} bytes exceeds the maximum of {max}",
                            len - 4
                        )));
                    }
                    let Some(body) = rest.get(4..4 + len) else {
                        return Ok(pos);
                    };
                    let (crc_bytes, payload) = body.split_at(4);
                    let expected = u32::from_le_bytes([
                        crc_bytes[0],
                        crc_bytes[1],
                        crc_bytes[2],
                        crc_bytes[3],
                    ]);
                    let plain: &[u8] = if ty == 0x00 {
                        let n = snap::raw::decompress_len(payload)
                            .map_err(|e| Self::corrupt(e.to_string()))?;
                        if n > SNAPPY_MAX_BLOCK {
                            return Err(Self::corrupt(format!(
                                "compressed chunk claims {n} decoded bytes, more than {SNAPPY_MAX_BLOCK}"
                            )));
                        }
                        if !sink.admit(n) {
                            return Err(CompressError::OutputLimit {
                                codec: Compression::Snappy,
                                limit: sink.limit,
                            });
                        }
                        if self.scratch.len() < n {
                            self.scratch.resize(n, 0);
                        }
                        let out = self.scratch.get_mut(..n).unwrap_or_default();
                        let got = self
                            .raw
                            .decompress(payload, out)
                            .map_err(|e| Self::corrupt(e.to_string()))?;
                        self.scratch.get(..got).unwrap_or_default()
                    } else {
                        payload
                    };
                    let actual = snappy_masked_crc32c(plain);
                    if actual != expected {
                        return Err(Self::corrupt(format!(
                            "chunk checksum mismatch (expected 0x{expected:08x}, computed 0x{actual:08x})"
                        )));
                    }
                    if !sink.push(plain) {
                        return Err(CompressError::OutputLimit {
                            codec: Compression::Snappy,
                            limit: sink.limit,
                        });
                    }
                    pos += 4 + len;
                }
                0x02..=0x7f => {
                    return Err(Self::corrupt(format!(
                        "reserved unskippable chunk type 0x{ty:02x}"
                    )));
                }
                _ => {
                    // 0x80..=0xfe: skippable chunk or padding.
                    pos += 4;
                    self.skip = len;
                }
            }
        }
    }

    fn finish(self) -> Result<(), CompressError> {
        if self.skip > 0 || !self.pending.is_empty() {
            return Err(CompressError::Truncated {
                codec: Compression::Snappy,
                reason: format!(
                    "the body ends inside a chunk ({} bytes buffered, {} bytes of a skippable chunk missing)",
                    self.pending.len(),
                    self.skip
                ),
            });
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// LZ4 frame
// ---------------------------------------------------------------------------------------------

const LZ4_MAGIC: u32 = 0x184D_2204;
const LZ4_LEGACY_MAGIC: u32 = 0x184C_2102;
const LZ4_SKIPPABLE_MASK: u32 = 0xFFFF_FFF0;
const LZ4_SKIPPABLE_MAGIC: u32 = 0x184D_2A50;

/// What `lz4_flex`'s frame decoder reads: the complete units the scanner hands over.
#[derive(Debug, Default)]
struct UnitReader {
    buf: Vec<u8>,
    pos: usize,
}

impl Read for UnitReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.buf.get(self.pos..).unwrap_or_default();
        let n = avail.len().min(out.len());
        out.get_mut(..n)
            .unwrap_or_default()
            .copy_from_slice(avail.get(..n).unwrap_or_default());
        self.pos += n;
        Ok(n)
    }
}

#[derive(Debug, Clone, Copy)]
enum Lz4Scan {
    /// Between frames: expecting a magic number (or the end of the body).
    FrameStart,
    /// Inside a frame, at a block boundary. `header_len` > 0 while the frame header has not
    /// been handed over yet (it goes together with the first block).
    Blocks {
        header_len: usize,
        max_block: usize,
        block_checksum: bool,
        content_checksum: bool,
    },
    /// Inside a skippable frame: bytes still to drop.
    Skip(usize),
}

/// Push adapter around `lz4_flex::frame::FrameDecoder`: a small scanner finds the boundaries
/// of complete frame units (header + first block, then each block, then the end mark) and
/// hands exactly one unit at a time to the decoder, which does all the decoding and checksum
/// work.
struct Lz4Frames {
    decoder: lz4_flex::frame::FrameDecoder<UnitReader>,
    pending: Vec<u8>,
    scan: Lz4Scan,
    frames: usize,
}

impl Lz4Frames {
    fn new() -> Self {
        Lz4Frames {
            decoder: lz4_flex::frame::FrameDecoder::new(UnitReader::default()),
            pending: Vec::new(),
            scan: Lz4Scan::FrameStart,
            frames: 0,
        }
    }

    fn corrupt(reason: String) -> CompressError {
        CompressError::Corrupt {
            codec: Compression::Lz4Frame,
            reason,
        }
    }

    fn feed(&mut self, data: &[u8], sink: &mut Sink) -> Result<(), CompressError> {
        if !self.pending.is_empty() {
            let mut pending = std::mem::take(&mut self.pending);
            pending.extend_from_slice(data);
            let used = self.parse(&pending, sink)?;
            pending.drain(..used);
            self.pending = pending;
            return Ok(());
        }
        let used = self.parse(data, sink)?;
        self.pending
            .extend_from_slice(data.get(used..).unwrap_or_default());
        Ok(())
    }

    fn parse(&mut self, buf: &[u8], sink: &mut Sink) -> Result<usize, CompressError> {
        let mut pos = 0usize;
        loop {
            let rest = buf.get(pos..).unwrap_or_default();
            match self.scan {
                Lz4Scan::Skip(n) => {
                    let k = n.min(rest.len());
                    pos += k;
                    if k < n {
                        self.scan = Lz4Scan::Skip(n - k);
                        return Ok(pos);
                    }
                    self.scan = Lz4Scan::FrameStart;
                }
                Lz4Scan::FrameStart => {
                    let Some(m) = rest.get(..4) else {
                        return Ok(pos);
                    };
                    let magic = u32::from_le_bytes([m[0], m[1], m[2], m[3]]);
                    if magic & LZ4_SKIPPABLE_MASK == LZ4_SKIPPABLE_MAGIC {
                        let Some(s) = rest.get(4..8) else {
                            return Ok(pos);
                        };
                        let size = u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
                        pos += 8;
                        self.scan = Lz4Scan::Skip(size as usize);
                        continue;
                    }
                    if magic == LZ4_LEGACY_MAGIC {
                        return Err(Self::corrupt(
                            "legacy LZ4 frames are not supported".to_string(),
                        ));
                    }
                    if magic != LZ4_MAGIC {
                        return Err(Self::corrupt(format!(
                            "not an LZ4 frame (magic 0x{magic:08x})"
                        )));
                    }
                    let Some(fd) = rest.get(4..6) else {
                        return Ok(pos);
                    };
                    let (flg, bd) = (fd[0], fd[1]);
                    if flg >> 6 != 1 {
                        return Err(Self::corrupt(format!(
                            "unsupported LZ4 frame version {}",
                            flg >> 6
                        )));
                    }
                    if flg & 0x01 != 0 {
                        return Err(Self::corrupt(
                            "LZ4 frames with a dictionary id are not supported".to_string(),
                        ));
                    }
                    let max_block = match (bd >> 4) & 0x07 {
                        4 => 64 * 1024,
                        5 => 256 * 1024,
                        6 => 1024 * 1024,
                        7 => 4 * 1024 * 1024,
                        other => {
                            return Err(Self::corrupt(format!(
                                "invalid LZ4 block size code {other}"
                            )));
                        }
                    };
                    let header_len = 7 + if flg & 0x08 != 0 { 8 } else { 0 };
                    self.scan = Lz4Scan::Blocks {
                        header_len,
                        max_block,
                        block_checksum: flg & 0x10 != 0,
                        content_checksum: flg & 0x04 != 0,
                    };
                }
                Lz4Scan::Blocks {
                    header_len,
                    max_block,
                    block_checksum,
                    content_checksum,
                } => {
                    let Some(b) = rest.get(header_len..header_len + 4) else {
                        return Ok(pos);
                    };
                    let word = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    let end_mark = word == 0;
                    let unit = if end_mark {
                        4 + if content_checksum { 4 } else { 0 }
                    } else {
                        let size = (word & 0x7FFF_FFFF) as usize;
                        if size > max_block {
                            return Err(Self::corrupt(format!(
                                "block of {size} bytes exceeds the frame's maximum of {max_block}"
                            )));
                        }
                        4 + size + if block_checksum { 4 } else { 0 }
                    };
                    let total = header_len + unit;
                    let Some(bytes) = rest.get(..total) else {
                        return Ok(pos);
                    };
                    self.decode_unit(bytes, sink)?;
                    pos += total;
                    if end_mark {
                        self.frames += 1;
                        self.scan = Lz4Scan::FrameStart;
                    } else {
                        self.scan = Lz4Scan::Blocks {
                            header_len: 0,
                            max_block,
                            block_checksum,
                            content_checksum,
                        };
                    }
                }
            }
        }
    }

    /// Hand one complete unit to the decoder and collect exactly one block of output.
    ///
    /// A block decodes to at most the frame's maximum block size (4 MiB at most), so the limit
    /// check right after decoding bounds the overshoot to one block.
    fn decode_unit(&mut self, bytes: &[u8], sink: &mut Sink) -> Result<(), CompressError> {
        let r = self.decoder.get_mut();
        r.buf.clear();
        r.buf.extend_from_slice(bytes);
        r.pos = 0;
        let out = self
            .decoder
            .fill_buf()
            .map_err(|e| Self::corrupt(e.to_string()))?;
        let n = out.len();
        if !sink.push(out) {
            return Err(CompressError::OutputLimit {
                codec: Compression::Lz4Frame,
                limit: sink.limit,
            });
        }
        self.decoder.consume(n);
        let r = self.decoder.get_ref();
        if r.pos != r.buf.len() {
            return Err(Self::corrupt(format!(
                "frame unit of {} bytes was not fully consumed ({} used)",
                r.buf.len(),
                r.pos
            )));
        }
        Ok(())
    }

    fn finish(self) -> Result<(), CompressError> {
        let truncated = |reason: String| CompressError::Truncated {
            codec: Compression::Lz4Frame,
            reason,
        };
        match self.scan {
            Lz4Scan::FrameStart if self.pending.is_empty() && self.frames > 0 => Ok(()),
            Lz4Scan::FrameStart if self.pending.is_empty() => {
                Err(truncated("the body holds no LZ4 frame".to_string()))
            }
            Lz4Scan::Skip(n) => Err(truncated(format!(
                "{n} bytes of a skippable frame are missing"
            ))),
            _ => Err(truncated(format!(
                "the body ends inside a frame ({} bytes buffered)",
                self.pending.len()
            ))),
        }
    }
}

#[cfg(test)]
mod tests;
