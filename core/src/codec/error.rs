//! Errors of the record stream codec.

/// Everything that can go wrong while encoding Arrow batches to a record stream or decoding one.
///
/// Record indexes are 0-based positions in the stream; byte offsets count from the first byte
/// of the stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    // ---- encoding -------------------------------------------------------------------------
    /// The batch has a different number of columns than the wire schema.
    #[error("batch has {found} columns but the record schema has {expected}")]
    ColumnCountMismatch {
        /// Columns of the wire schema.
        expected: usize,
        /// Columns of the batch.
        found: usize,
    },
    /// A batch column's Arrow type is not the column's MaxCompute type mapped to Arrow.
    #[error("column `{column}`: expected Arrow type {expected}, found {found}")]
    SchemaMismatch {
        /// Column name.
        column: String,
        /// The Arrow type the column's MaxCompute type maps to.
        expected: String,
        /// The Arrow type of the batch column.
        found: String,
    },
    /// A requested row is not in the batch.
    #[error("row {row} is out of range for a batch of {rows} rows")]
    RowOutOfRange {
        /// The row asked for (for a range: its end).
        row: usize,
        /// Rows in the batch.
        rows: usize,
    },
    /// A value cannot be represented on the wire for its column type.
    #[error("column `{column}`, row {row}: {reason}")]
    UnencodableValue {
        /// Column name.
        column: String,
        /// Row in the batch.
        row: usize,
        /// What is wrong with it.
        reason: String,
    },

    // ---- decoding: framing ----------------------------------------------------------------
    /// A varint longer than 10 bytes or beyond 64 bits.
    #[error("malformed varint at byte {offset}")]
    VarintOverflow {
        /// Stream offset of the varint.
        offset: u64,
    },
    /// A field number that is neither a column (1..=columns) nor a marker allowed here.
    #[error(
        "record {record}: unknown field number {field} (wire type {wire_type}) at byte {offset}; the schema has {columns} columns"
    )]
    UnknownField {
        /// Record index.
        record: u64,
        /// The field number read.
        field: u64,
        /// The wire type read.
        wire_type: u8,
        /// Number of columns in the schema.
        columns: usize,
        /// Stream offset of the tag.
        offset: u64,
    },
    /// A column appears twice in one record.
    #[error("record {record}: column `{column}` (field {field}) appears twice")]
    DuplicateField {
        /// Record index.
        record: u64,
        /// Column name.
        column: String,
        /// Field number.
        field: u32,
    },
    /// A field's wire type does not match its column type.
    #[error(
        "record {record}: column `{column}` ({ty}) expects wire type {expected}, found {found}"
    )]
    WireTypeMismatch {
        /// Record index.
        record: u64,
        /// Column name.
        column: String,
        /// Column type.
        ty: String,
        /// Wire type the column type uses.
        expected: u8,
        /// Wire type in the stream.
        found: u8,
    },
    /// A record's checksum does not match its contents.
    #[error(
        "record {record}: checksum mismatch: stream says {expected:#010x}, contents give {actual:#010x}"
    )]
    RecordCrcMismatch {
        /// Record index.
        record: u64,
        /// The CRC written in the stream.
        expected: u32,
        /// The CRC computed from the decoded values.
        actual: u32,
    },
    /// The stream checksum in the footer does not match the record checksums.
    #[error("stream checksum mismatch: footer says {expected:#010x}, records give {actual:#010x}")]
    StreamCrcMismatch {
        /// The CRC written in the footer.
        expected: u32,
        /// The CRC computed over the record CRCs.
        actual: u32,
    },
    /// The footer's record count does not match the records decoded.
    #[error("record count mismatch: footer says {expected}, stream holds {actual}")]
    CountMismatch {
        /// The count written in the footer.
        expected: i64,
        /// Records decoded.
        actual: u64,
    },
    /// The metrics trailer's checksum does not match the metrics bytes.
    #[error(
        "metrics trailer checksum mismatch: stream says {expected:#010x}, bytes give {actual:#010x}"
    )]
    MetricsCrcMismatch {
        /// The CRC written in the stream.
        expected: u32,
        /// The CRC computed.
        actual: u32,
    },
    /// A footer marker in the wrong place (inside a record, or out of order).
    #[error("unexpected field {field} (wire type {wire_type}) at byte {offset}: {context}")]
    UnexpectedMarker {
        /// Field number read.
        field: u64,
        /// Wire type read.
        wire_type: u8,
        /// Stream offset of the tag.
        offset: u64,
        /// What was expected instead.
        context: &'static str,
    },
    /// Input ended inside a record or inside the footer.
    #[error("stream truncated: input ends inside record {record} ({pending} bytes pending)")]
    Truncated {
        /// Index of the incomplete record (or of the record after the last one, for a cut footer).
        record: u64,
        /// Bytes left over.
        pending: usize,
    },
    /// Input ended without a footer although one is required.
    #[error("stream truncated: no footer after {records} records")]
    MissingFooter {
        /// Records decoded.
        records: u64,
    },
    /// Bytes follow the footer.
    #[error("{count} unexpected bytes after the stream footer at byte {offset}")]
    TrailingBytes {
        /// Stream offset of the first extra byte.
        offset: u64,
        /// Extra bytes seen in the chunk that carried them.
        count: usize,
    },

    // ---- decoding: values -----------------------------------------------------------------
    /// A length prefix beyond [`DecodeLimits::max_field_bytes`](super::DecodeLimits).
    #[error(
        "record {record}: column `{column}`: field of {len} bytes exceeds the limit of {limit}"
    )]
    FieldTooLarge {
        /// Record index.
        record: u64,
        /// Column name.
        column: String,
        /// Length read.
        len: u64,
        /// The limit.
        limit: usize,
    },
    /// An element count beyond [`DecodeLimits::max_collection_len`](super::DecodeLimits).
    #[error(
        "record {record}: column `{column}`: collection of {len} elements exceeds the limit of {limit}"
    )]
    CollectionTooLong {
        /// Record index.
        record: u64,
        /// Column name.
        column: String,
        /// Count read.
        len: u64,
        /// The limit.
        limit: usize,
    },
    /// The schema nests deeper than [`DecodeLimits::max_nesting`](super::DecodeLimits).
    #[error("column `{column}` nests {depth} levels deep; the limit is {limit}")]
    NestingTooDeep {
        /// Column name.
        column: String,
        /// Its depth.
        depth: usize,
        /// The limit.
        limit: usize,
    },
    /// A text value (STRING, CHAR, VARCHAR, JSON) is not UTF-8.
    #[error("record {record}: column `{column}`: invalid UTF-8")]
    InvalidUtf8 {
        /// Record index.
        record: u64,
        /// Column name.
        column: String,
    },
    /// A value that does not fit its column type (integer range, bad flag, timestamps beyond
    /// the Arrow range, ...).
    #[error("record {record}: column `{column}` ({ty}): {reason}")]
    InvalidValue {
        /// Record index.
        record: u64,
        /// Column name.
        column: String,
        /// Column (or element) type.
        ty: String,
        /// What is wrong.
        reason: String,
    },
    /// A DECIMAL text that does not parse, or does not fit the column's precision.
    #[error(
        "record {record}: column `{column}`: decimal `{text}` {reason} for decimal({precision},{scale})"
    )]
    InvalidDecimal {
        /// Record index.
        record: u64,
        /// Column name.
        column: String,
        /// The text (lossily decoded, at most 64 characters).
        text: String,
        /// Precision of the column.
        precision: u8,
        /// Scale of the column.
        scale: u8,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A MAP with a NULL key (Arrow map keys cannot be NULL).
    #[error("record {record}: column `{column}`: map key is NULL")]
    NullMapKey {
        /// Record index.
        record: u64,
        /// Column name.
        column: String,
    },
    /// A MAP whose key and value arrays have different lengths.
    #[error("record {record}: column `{column}`: map has {keys} keys but {values} values")]
    MapLengthMismatch {
        /// Record index.
        record: u64,
        /// Column name.
        column: String,
        /// Keys count.
        keys: u64,
        /// Values count.
        values: u64,
    },
    /// A column declared NOT NULL is missing from a record.
    #[error("record {record}: column `{column}` is NOT NULL but the record has no value for it")]
    NullInNotNullColumn {
        /// Record index.
        record: u64,
        /// Column name.
        column: String,
    },
    /// A single batch would hold more than 2 GiB of variable-length data for one column.
    #[error("column `{column}`: more than 2 GiB of data in one batch")]
    BatchTooLarge {
        /// Column name.
        column: String,
    },
    /// Arrow rejected an array built from the decoded values (should not happen).
    #[error("building Arrow data: {0}")]
    Arrow(String),
}
