//! The error type of the artifact store.
//!
//! Invariants:
//! - user mistakes (`NotFound`, `TooLarge`, `UnsafePath`, `Body`) are separate variants from
//!   our own failures (`Config`, `Backend`), so the HTTP edge can pick 4xx vs 5xx by variant;
//! - messages are lowercase with no trailing period and never contain credentials;
//! - `NotFound::key` is the object key relative to the store root, never an absolute
//!   filesystem path of the server.

/// Everything that can go wrong while moving artifact bytes.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// No object is stored at the key.
    #[error("artifact not found: {key}")]
    NotFound {
        /// The object key, relative to the store root.
        key: String,
    },
    /// The upload went past the caller's byte limit; nothing was stored.
    #[error("artifact is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded, in bytes.
        limit: u64,
    },
    /// The key cannot be used safely, e.g. a symbolic link was planted inside a local store.
    #[error("unsafe artifact path: {reason}")]
    UnsafePath {
        /// Why the path was refused.
        reason: String,
    },
    /// The client's upload stream failed; nothing was stored.
    #[error("upload body failed: {0}")]
    Body(String),
    /// The store could not be configured (bad uri, missing credentials, ...).
    #[error("invalid artifact store configuration: {0}")]
    Config(String),
    /// The storage backend (disk or S3) failed.
    #[error("artifact storage failed: {0}")]
    Backend(String),
}

/// Result alias of this crate.
pub type Result<T, E = ArtifactError> = std::result::Result<T, E>;

impl ArtifactError {
    pub(crate) fn io(context: &str, err: &std::io::Error) -> Self {
        ArtifactError::Backend(format!("{context}: {err}"))
    }
}
