//! The command line (clap derive).

use std::path::PathBuf;

use crate::conn::ConnArgs;
use crate::data::Format;

const AFTER_HELP: &str = "\
Connection settings come from flags, --option key=value, or the environment: MAXC_ENDPOINT,
MAXC_TUNNEL_ENDPOINT, MAXC_PROJECT, MAXC_ACCESS_ID, MAXC_ACCESS_KEY (or the MAXC_MOCK_* lines
that `maxc mock` prints).

Exit codes: 0 success, 1 service or transport failure, 2 bad command line or settings,
3 bad input data (nothing was committed).";

/// maxc: MaxCompute from the command line — a local mock, DDL, loading and reading tables.
#[derive(Debug, clap::Parser)]
#[command(name = "maxc", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Serve a local MaxCompute + Tunnel emulator (the same server as `maxc-mock`).
    Mock(maxc_mock::cli::Args),
    /// Run DDL (CREATE/DROP/ALTER/TRUNCATE TABLE …) as a SQL instance and wait for it.
    Sql(SqlArgs),
    /// Load CSV or newline-delimited JSON into a table (batch tunnel; committed only when
    /// every row is valid).
    Put(PutArgs),
    /// Read a table (or some of its partitions) and print CSV or newline-delimited JSON.
    Get(GetArgs),
    /// List the tables of the project.
    Tables(TablesArgs),
    /// Show a table's columns, partition columns and properties.
    Describe(DescribeArgs),
    /// List a table's partitions.
    Partitions(PartitionsArgs),
}

/// `maxc sql`.
#[derive(Debug, clap::Args)]
pub struct SqlArgs {
    /// The statement(s); `-` reads them from standard input.
    pub sql: String,
    /// Connection.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Tunnel compression of `maxc put`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compress {
    /// None.
    Raw,
    /// Deflate.
    Zlib,
    /// Snappy (the default).
    Snappy,
}

impl Compress {
    /// The `compressAlgorithm` option value.
    pub fn option(self) -> &'static str {
        match self {
            Compress::Raw => "RAW",
            Compress::Zlib => "ZLIB",
            Compress::Snappy => "SNAPPY",
        }
    }
}

/// `maxc put`.
#[derive(Debug, clap::Args)]
pub struct PutArgs {
    /// The table.
    #[arg(long, short = 't')]
    pub table: String,
    /// Target partition: a spec (`ds=20240101`), partition column names to route each row by
    /// its values (`ds`, `ds=2024,hh`); default for a partitioned table: every partition
    /// column, from the data.
    #[arg(long, short = 'p')]
    pub partition: Option<String>,
    /// Input format (default: json for *.json, *.jsonl, *.ndjson files, else csv).
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<Format>,
    /// Tunnel compression.
    #[arg(long, value_enum)]
    pub compress: Option<Compress>,
    /// Close the upload sessions every N rows (a checkpoint); everything is still committed
    /// only at the end, when every row was valid.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_rows: Option<u64>,
    /// The input file; `-` for standard input.
    pub file: PathBuf,
    /// Connection.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `maxc get`.
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// The table.
    #[arg(long, short = 't')]
    pub table: String,
    /// Partitions to read: a spec (`ds=20240101`), a pattern (`ds=2024*`) or `max_pt()`;
    /// default: every partition.
    #[arg(long, short = 'p')]
    pub partition: Option<String>,
    /// Columns to read, in this order (default: every column, then the partition columns).
    #[arg(long, short = 'c', value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Csv)]
    pub format: Format,
    /// Stop after N rows.
    #[arg(long, short = 'n', value_name = "N")]
    pub limit: Option<u64>,
    /// Read through the Arrow tunnel instead of the record tunnel.
    #[arg(long)]
    pub arrow: bool,
    /// Parallel readers (more than one may interleave rows of different splits).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub readers: u32,
    /// Write to this file instead of standard output.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Connection.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `maxc tables`.
#[derive(Debug, clap::Args)]
pub struct TablesArgs {
    /// Only tables whose name starts with this.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Connection.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `maxc describe`.
#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    /// The table.
    pub table: String,
    /// Connection.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `maxc partitions`.
#[derive(Debug, clap::Args)]
pub struct PartitionsArgs {
    /// The table.
    pub table: String,
    /// Connection.
    #[command(flatten)]
    pub conn: ConnArgs,
}
