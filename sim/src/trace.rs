//! The event trace: one line per event, hashed as it is written (FNV-1a over the bytes), and
//! optionally kept or printed. Two runs of one seed must give the same hash.

use std::io::Write;

use crate::rng::{FNV_START, fnv1a};

/// Where trace lines go.
#[derive(Debug)]
pub struct Trace {
    hash: u64,
    lines: u64,
    keep: Option<Vec<String>>,
    print: bool,
}

impl Trace {
    /// A trace that only hashes.
    pub fn hashing() -> Self {
        Self {
            hash: FNV_START,
            lines: 0,
            keep: None,
            print: false,
        }
    }

    /// A trace that also prints every line to stdout.
    pub fn printing() -> Self {
        Self {
            print: true,
            ..Self::hashing()
        }
    }

    /// A trace that also keeps every line.
    pub fn keeping() -> Self {
        Self {
            keep: Some(Vec::new()),
            ..Self::hashing()
        }
    }

    /// Writes one line at virtual time `t_ms`.
    pub fn line(&mut self, t_ms: u64, text: &str) {
        let l = format!("{t_ms:>9} {text}");
        self.hash = fnv1a(self.hash, l.as_bytes());
        self.hash = fnv1a(self.hash, b"\n");
        self.lines += 1;
        if self.print {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{l}");
        }
        if let Some(k) = self.keep.as_mut() {
            k.push(l);
        }
    }

    /// The hash of everything written so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Lines written.
    pub fn len(&self) -> u64 {
        self.lines
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }

    /// The kept lines (empty unless built with [`Trace::keeping`]).
    pub fn lines(&self) -> &[String] {
        self.keep.as_deref().unwrap_or(&[])
    }
}
