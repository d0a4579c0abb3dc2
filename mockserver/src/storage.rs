//! Persistence: a [`Disk`] abstraction (a real directory or an in-memory map for
//! simulations), segment files as Arrow IPC files, and the manifest that is swapped
//! atomically (write a temp file, fsync, rename).
//!
//! Layout of a data directory:
//!
//! ```text
//! manifest.json                 catalog, sessions and id state (the commit point)
//! segments/00000000000000000042.arrow   one Arrow IPC *file* per segment
//! ```
//!
//! Segment files are written before the manifest that references them, and never
//! modified; files no manifest references are deleted after the swap. A crash at any
//! point therefore leaves the previous manifest and all files it references intact.

use std::collections::BTreeMap;
use std::io::{self, Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_ipc::reader::FileReader;
use arrow_ipc::writer::FileWriter;
use maxc_core::types::Column;
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::rng::SplitMix64;
use crate::sessions::Sessions;

/// Name of the manifest file.
pub const MANIFEST: &str = "manifest.json";
/// Version of the manifest format.
pub const MANIFEST_FORMAT: u32 = 1;

/// Problems reading or writing persistent state.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        /// File (relative to the data directory).
        path: String,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// A file exists but cannot be decoded.
    #[error("{path}: {reason}")]
    Corrupt {
        /// File.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// Where persistent files go. Names are relative, `/`-separated.
pub trait Disk: Send {
    /// Writes a file so that readers see either the old or the new content, never a mix.
    fn write_atomic(&mut self, name: &str, bytes: &[u8]) -> Result<(), StorageError>;
    /// Reads a file; `None` when it does not exist.
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Deletes a file (missing files are fine).
    fn remove(&mut self, name: &str) -> Result<(), StorageError>;
    /// Names of the files directly in `dir`.
    fn list(&self, dir: &str) -> Result<Vec<String>, StorageError>;
}

/// A real directory.
#[derive(Debug, Clone)]
pub struct DirDisk {
    root: PathBuf,
}

impl DirDisk {
    /// Uses (and creates) `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        std::fs::create_dir_all(root.join("segments")).map_err(|e| StorageError::Io {
            path: root.display().to_string(),
            source: e,
        })?;
        Ok(Self { root })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn io(&self, name: &str) -> impl FnOnce(io::Error) -> StorageError + '_ {
        let path = self.root.join(name).display().to_string();
        move |source| StorageError::Io { path, source }
    }
}

impl Disk for DirDisk {
    fn write_atomic(&mut self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        let path = self.root.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(self.io(name))?;
        }
        let tmp = path.with_extension("tmp");
        {
            let mut f = std::fs::File::create(&tmp).map_err(self.io(name))?;
            f.write_all(bytes).map_err(self.io(name))?;
            f.sync_all().map_err(self.io(name))?;
        }
        std::fs::rename(&tmp, &path).map_err(self.io(name))?;
        if let Some(parent) = path.parent()
            && let Ok(d) = std::fs::File::open(parent)
        {
            // Make the rename durable; not all platforms allow syncing directories.
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        match std::fs::read(self.root.join(name)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(name)(e)),
        }
    }

    fn remove(&mut self, name: &str) -> Result<(), StorageError> {
        match std::fs::remove_file(self.root.join(name)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io(name)(e)),
        }
    }

    fn list(&self, dir: &str) -> Result<Vec<String>, StorageError> {
        let rd = match std::fs::read_dir(self.root.join(dir)) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(dir)(e)),
        };
        let mut out = Vec::new();
        for e in rd {
            let e = e.map_err(self.io(dir))?;
            if let Some(n) = e.file_name().to_str() {
                out.push(n.to_string());
            }
        }
        out.sort();
        Ok(out)
    }
}

/// An in-memory disk (for simulations). Clones share the same files, so a simulator can
/// "crash" a service and open a new one on the same disk.
#[derive(Debug, Clone, Default)]
pub struct MemDisk {
    files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

impl MemDisk {
    /// An empty disk.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names of all files.
    pub fn names(&self) -> Vec<String> {
        self.files
            .lock()
            .map(|f| f.keys().cloned().collect())
            .unwrap_or_default()
    }
}

impl Disk for MemDisk {
    fn write_atomic(&mut self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        if let Ok(mut f) = self.files.lock() {
            f.insert(name.to_string(), bytes.to_vec());
        }
        Ok(())
    }

    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.files.lock().ok().and_then(|f| f.get(name).cloned()))
    }

    fn remove(&mut self, name: &str) -> Result<(), StorageError> {
        if let Ok(mut f) = self.files.lock() {
            f.remove(name);
        }
        Ok(())
    }

    fn list(&self, dir: &str) -> Result<Vec<String>, StorageError> {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        Ok(self
            .files
            .lock()
            .map(|f| {
                f.keys()
                    .filter_map(|k| k.strip_prefix(&prefix))
                    .filter(|k| !k.contains('/'))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// Counters and generator state that must survive a restart so ids stay unique.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdState {
    /// The id generator.
    pub rng: SplitMix64,
    /// Next segment id minus one.
    pub last_segment: u64,
    /// Instances created.
    pub instances: u64,
}

/// Everything but row data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version ([`MANIFEST_FORMAT`]).
    pub format: u32,
    /// When it was written (epoch ms, mock time).
    pub saved_ms: i64,
    /// Catalog.
    pub catalog: Catalog,
    /// Sessions.
    pub sessions: Sessions,
    /// Id state.
    pub ids: IdState,
}

/// The file name of a segment.
pub fn segment_file(id: u64) -> String {
    format!("segments/{id:020}.arrow")
}

/// The segment id of a segment file name (inside `segments/`).
pub fn segment_id(file: &str) -> Option<u64> {
    file.strip_suffix(".arrow")?.parse().ok()
}

/// Encodes a segment as an Arrow IPC file (one record batch; the schema carries the
/// MaxCompute type of each column in its field metadata).
pub fn encode_segment(
    batch: &RecordBatch,
    columns: &[Column],
    id: u64,
) -> Result<Vec<u8>, StorageError> {
    let corrupt = |e: arrow_schema::ArrowError| StorageError::Corrupt {
        path: segment_file(id),
        reason: e.to_string(),
    };
    let schema = maxc_core::types::arrow::columns_to_arrow(columns);
    let batch = if batch.schema() == schema {
        batch.clone()
    } else {
        batch.clone().with_schema(schema.clone()).map_err(corrupt)?
    };
    let mut buf = Vec::new();
    {
        let mut w = FileWriter::try_new(&mut buf, &schema).map_err(corrupt)?;
        w.write(&batch).map_err(corrupt)?;
        w.finish().map_err(corrupt)?;
    }
    Ok(buf)
}

/// Decodes a segment file: the rows and their columns.
pub fn decode_segment(
    bytes: Vec<u8>,
    name: &str,
) -> Result<(RecordBatch, Vec<Column>), StorageError> {
    let corrupt = |reason: String| StorageError::Corrupt {
        path: name.to_string(),
        reason,
    };
    let reader =
        FileReader::try_new(Cursor::new(bytes), None).map_err(|e| corrupt(e.to_string()))?;
    let schema = reader.schema();
    let columns =
        maxc_core::types::arrow::columns_from_arrow(&schema).map_err(|e| corrupt(e.to_string()))?;
    let mut batches = Vec::new();
    for b in reader {
        batches.push(b.map_err(|e| corrupt(e.to_string()))?);
    }
    match batches.len() {
        0 => Ok((RecordBatch::new_empty(schema), columns)),
        1 => Ok((batches.remove(0), columns)),
        n => Err(corrupt(format!("expected one record batch, found {n}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::{Value, build_batch};
    use maxc_core::types::OdpsType;

    #[test]
    fn segment_round_trip_keeps_types() {
        let cols = vec![
            Column::new("id", OdpsType::BigInt).not_null(),
            Column::new("v", "varchar(5)".parse().unwrap()),
        ];
        let b = build_batch(&cols, &[vec![Value::Int(1), Value::Text("ab".into())]]).unwrap();
        let bytes = encode_segment(&b, &cols, 3).unwrap();
        let (back, bcols) = decode_segment(bytes, "x").unwrap();
        assert_eq!(bcols, cols);
        assert_eq!(back.num_rows(), 1);
        assert!(decode_segment(vec![1, 2, 3], "x").is_err());
    }

    #[test]
    fn disks() {
        let dir = std::env::temp_dir().join(format!("maxc-mock-disk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut d = DirDisk::open(&dir).unwrap();
        let mut m = MemDisk::new();
        for disk in [&mut d as &mut dyn Disk, &mut m as &mut dyn Disk] {
            disk.write_atomic("segments/1.arrow", b"a").unwrap();
            disk.write_atomic(MANIFEST, b"m1").unwrap();
            disk.write_atomic(MANIFEST, b"m2").unwrap();
            assert_eq!(disk.read(MANIFEST).unwrap().unwrap(), b"m2");
            assert_eq!(disk.list("segments").unwrap(), vec!["1.arrow"]);
            disk.remove("segments/1.arrow").unwrap();
            disk.remove("segments/1.arrow").unwrap();
            assert!(disk.read("segments/1.arrow").unwrap().is_none());
        }
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(segment_id("00000000000000000042.arrow"), Some(42));
        assert_eq!(segment_file(42), "segments/00000000000000000042.arrow");
    }
}
