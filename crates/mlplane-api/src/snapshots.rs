//! Wire shapes of code snapshots: the snapshot and git state a job submission names, and
//! the listing of a stored snapshot.
//!
//! Invariants:
//! - a snapshot is named by the sha256 of its archive's bytes (64 hex characters);
//! - git fields are what the client's `git` reported, with credentials already stripped
//!   from `repo_url` (the server strips them again).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The code snapshot a job runs, uploaded before with
/// `PUT /api/v1/workspaces/{ws}/snapshots/{sha256}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeSnapshotRequest {
    /// The snapshot id: the sha256 of the archive, lowercase hex.
    pub sha256: String,
    /// The git state of the code folder's repository, if it is in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitInfoRequest>,
}

/// Git state recorded as run tags (`mlflow.source.git.commit`, `mlflow.source.git.branch`,
/// `mlflow.source.git.repoURL`, `mlplane.source.git.dirty`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GitInfoRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_url: Option<String>,
    #[serde(default)]
    pub dirty: bool,
}

/// One entry of a stored snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SnapshotFileView {
    /// Relative, `/`-separated path.
    pub path: String,
    /// `file`, `dir` or `symlink`.
    pub kind: String,
    /// Bytes of a file; 0 otherwise.
    pub size: u64,
    pub executable: bool,
    /// The target of a symlink (relative, inside the snapshot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A stored snapshot and its entries, in archive order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SnapshotView {
    pub sha256: String,
    /// Size of the archive in bytes.
    pub size: u64,
    pub files: Vec<SnapshotFileView>,
}
