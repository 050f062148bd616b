//! Code snapshots: a job's `code` folder packed into a deterministic, content-addressed
//! archive, and the safe way back from an archive to files.
//!
//! [`pack`] walks a folder honouring `.gitignore` and `.amlignore` files found inside it
//! (git's syntax; a `.amlignore` rule is read like one more `.gitignore` at the same place),
//! never includes a `.git` entry, and writes a gzip-compressed tar whose bytes depend only on
//! the tree: entries sorted by path, mtimes 0, uid/gid 0 without names, modes `0644`/`0755`
//! (only the executable bit survives) and a gzip header without name or time.
//! The sha256 of those bytes is the snapshot's id ([`SnapshotId`]).
//! [`list`], [`read_file`] and [`extract`] read an archive (gzip-compressed or plain tar,
//! so archives from other writers, e.g. the Python SDK, are read alike) and refuse anything
//! that could land outside the target folder.
//!
//! Symbolic links: a link whose target is relative and stays inside the folder (judged
//! lexically from the link's own directory) is stored as a link; any other link (absolute,
//! or climbing out with `..`) makes [`pack`] fail naming the link, rather than silently
//! copying files from outside the folder into the snapshot.
//!
//! Invariants:
//! - the same tree (same paths, contents and executable bits) gives the same bytes, whatever
//!   the mtimes, owners, other mode bits or directory order on disk;
//! - a `.git` file or directory is never in a snapshot, at any depth;
//! - every archive entry read is checked before use: relative, no `..`, no absolute or empty
//!   path, no duplicates, only files, directories and inside-pointing symlinks (no hard
//!   links, devices or fifos), within [`Limits`];
//! - [`extract`] never writes outside its target: files are created with `O_EXCL`, no
//!   parent directory may be a symlink, and links are created last;
//! - no HTTP, SQL or async runtime; errors name the offending path and, for limits, the
//!   limit.

mod error;
pub mod git;
mod pack;
mod paths;
#[cfg(test)]
mod tests;
mod unpack;

pub use error::{Result, SnapshotError};
pub use mlplane_core::SnapshotId;
pub use pack::{PackSummary, pack};
pub use unpack::{EntryKind, SnapshotEntry, extract, list, read_file};

/// How big a snapshot may be; checked when packing and again when reading an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most entries (files, directories and links); default 10 000.
    pub max_entries: usize,
    /// Most bytes of file contents, before compression; default 256 MiB.
    pub max_total_bytes: u64,
    /// Longest relative path of an entry, in bytes; default 1024.
    pub max_path_len: usize,
}

impl Limits {
    /// The default limits, listed in `docs/LIMITS.md`.
    pub const DEFAULT: Limits = Limits {
        max_entries: 10_000,
        max_total_bytes: 256 << 20,
        max_path_len: 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Largest archive (compressed bytes) the server accepts; default 256 MiB.
pub const MAX_ARCHIVE_BYTES: u64 = 256 << 20;
