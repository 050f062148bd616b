//! The error type of packing and reading snapshots.
//!
//! Invariants:
//! - the caller's mistakes (a limit, a link out of the folder, a hostile or broken archive)
//!   are variants apart from [`SnapshotError::Io`], so callers can tell them from our own
//!   failures;
//! - messages are lowercase without a trailing period and name the path at fault.

use std::path::PathBuf;

/// Everything that can go wrong with a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The folder to pack is missing or not a directory.
    #[error("{}: not a directory", path.display())]
    NotADirectory { path: PathBuf },
    /// A limit of [`crate::Limits`] was passed.
    #[error("{path}: snapshot limit {limit} = {max} exceeded ({actual})")]
    Limit {
        /// The limit's name, e.g. `max_total_bytes`.
        limit: &'static str,
        max: u64,
        /// What the snapshot reached.
        actual: u64,
        /// The entry that went past it.
        path: String,
    },
    /// A symbolic link points outside the folder (or to an absolute path).
    #[error("{path}: symbolic link to {target:?} points outside the code folder")]
    LinkEscapes { path: String, target: String },
    /// A path is not valid UTF-8, so it cannot be named the same way everywhere.
    #[error("{}: file name is not valid UTF-8", path.display())]
    NotUtf8 { path: PathBuf },
    /// A file type a snapshot cannot hold (fifo, socket, device).
    #[error("{path}: {what} cannot be part of a code snapshot")]
    Unsupported { path: String, what: &'static str },
    /// An ignore file could not be read or parsed.
    #[error("reading ignore rules: {0}")]
    Ignore(String),
    /// An archive entry is refused: absolute, `..`, duplicate, link out, hard link, device.
    #[error("archive entry {path:?} refused: {reason}")]
    UnsafeEntry { path: String, reason: String },
    /// The archive is not a readable (gzip-compressed) tar.
    #[error("the archive is not a valid tar: {0}")]
    Corrupt(String),
}

/// Result alias of this crate.
pub type Result<T, E = SnapshotError> = std::result::Result<T, E>;

impl SnapshotError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SnapshotError::Io {
            path: path.into(),
            source,
        }
    }

    /// Whether the snapshot or archive itself is at fault (not the disk or the process).
    pub fn is_user_error(&self) -> bool {
        !matches!(self, SnapshotError::Io { .. })
    }
}
