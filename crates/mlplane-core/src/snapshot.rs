//! Code snapshots of jobs: the id of a snapshot (the sha256 of its archive's bytes) and the
//! run tags a job's snapshot and git state are recorded under.
//!
//! Invariants:
//! - a [`SnapshotId`] is exactly 64 lowercase hex characters, so it is safe in object keys
//!   and URLs;
//! - the git tag names are MLflow's own (`mlflow.source.git.*`), so MLflow clients and UIs
//!   show them.

use crate::Invalid;
use std::fmt;

/// The run tag holding a job's code snapshot id.
pub const TAG_SNAPSHOT: &str = "mlplane.code.snapshot";
/// The run tag holding the commit of the code folder's git repository (MLflow's name).
pub const TAG_GIT_COMMIT: &str = "mlflow.source.git.commit";
/// The run tag holding the checked-out branch (MLflow's name).
pub const TAG_GIT_BRANCH: &str = "mlflow.source.git.branch";
/// The run tag holding the repository's remote URL, credentials stripped (MLflow's name).
pub const TAG_GIT_REPO_URL: &str = "mlflow.source.git.repoURL";
/// The run tag saying whether the working tree had uncommitted changes (`true`/`false`).
pub const TAG_GIT_DIRTY: &str = "mlplane.source.git.dirty";

/// Id of a code snapshot: the sha256 of the archive's bytes, lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SnapshotId(String);

impl SnapshotId {
    /// Parses 64 hex characters (either case); the id is kept lowercase.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(Invalid::one(
                "sha256",
                "a snapshot id must be 64 hexadecimal characters (the archive's sha256)",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_ids_are_64_hex_characters_kept_lowercase() {
        let id = SnapshotId::parse(&"AB".repeat(32)).expect("valid id");
        assert_eq!(id.as_str(), "ab".repeat(32));
        for bad in [
            "",
            "ab",
            &"g".repeat(64),
            &"a".repeat(65),
            &format!("../{}", "a".repeat(61)),
        ] {
            assert!(SnapshotId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
