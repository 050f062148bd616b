//! The one error type of environment resolution and building.
//!
//! Invariants:
//! - user mistakes (`Invalid`, `Unsupported`) are kept apart from build failures (`Build`)
//!   and from our own IO failures (`Io`), so callers can tell "fix your spec" from "the
//!   server is broken";
//! - a `Build` error always names a log that exists on disk and carries its last lines;
//! - `Display` texts are lowercase without a trailing period.

use std::path::PathBuf;

/// Why an environment could not be resolved or built.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// `uv` could not be found or started; the text says how to install it.
    #[error("uv is not available: {0}")]
    Uv(String),
    /// `uv` ran and failed (or timed out); the log holds the whole story.
    #[error("building environment {hash} failed (log: {}):\n{tail}", log.display())]
    Build {
        hash: String,
        log: PathBuf,
        /// The last lines of the build log.
        tail: String,
    },
    /// The environment spec or a file it references is not acceptable.
    #[error("{}", invalid_text(.file, .line, .message))]
    Invalid {
        /// The referenced file at fault (relative to the spec's folder), if any.
        file: Option<String>,
        /// 1-based line in that file, if known.
        line: Option<usize>,
        message: String,
    },
    /// The environment needs something this builder cannot provide (e.g. a container image).
    #[error("{0}")]
    Unsupported(String),
    /// A filesystem operation of the builder failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn invalid_text(file: &Option<String>, line: &Option<usize>, message: &str) -> String {
    match (file, line) {
        (Some(f), Some(l)) => format!("{f}:{l}: {message}"),
        (Some(f), None) => format!("{f}: {message}"),
        (None, _) => message.to_string(),
    }
}

impl EnvError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> EnvError {
        let what = what.into();
        move |source| EnvError::Io { what, source }
    }

    pub(crate) fn invalid(
        file: Option<&str>,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> EnvError {
        EnvError::Invalid {
            file: file.map(str::to_string),
            line,
            message: message.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, EnvError>;
