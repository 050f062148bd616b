//! Wire shapes of jobs and versioned assets: submissions (a spec as JSON fields, or YAML text
//! with `--set` overrides), the views answered for jobs, their inputs and outputs, asset
//! versions and their lineage.
//!
//! Invariants:
//! - a job's or asset's `spec` is the canonical JSON the server built from the validated
//!   spec, never the text the client sent;
//! - `pending_upload` is true exactly when an asset names a local path and has no
//!   `storage_uri`: the server never uploads local files, the CLI does.

use crate::KeyValue;
use mlplane_core as core;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

/// A spec submission: either the spec's fields as JSON (as in the YAML file), or
/// `{"yaml": "<spec text>", "set": ["inputs.lr=0.1"]}`. `set` applies to both forms.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct SpecRequest {
    /// The spec as YAML (or JSON) text; when given, no other spec field may be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yaml: Option<String>,
    /// `path=value` overrides applied before validation, like the CLI's `--set`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set: Vec<String>,
    /// Text files the spec references by relative path (an environment's
    /// `pip_requirements` or `conda_file`), keyed by that path exactly as the spec gives it;
    /// their content is stored inline with the spec.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub files: std::collections::BTreeMap<String, String>,
    /// The spec's own fields, when `yaml` is not given.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
}

/// Submits a command job: a [`SpecRequest`], plus the code snapshot when the spec names
/// `code` (the folder was uploaded first; the spec's `code` stays the folder's name).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct CreateJobRequest {
    /// The uploaded snapshot of the spec's `code` folder, with its git state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_snapshot: Option<crate::CodeSnapshotRequest>,
    #[serde(flatten)]
    pub spec: SpecRequest,
}
/// Creates a data, model, environment or component version (see [`SpecRequest`]); a
/// component naming `code` also sends `code_snapshot` (a [`crate::CodeSnapshotRequest`]
/// naming the uploaded snapshot of that folder), stored with the version.
pub type CreateAssetRequest = SpecRequest;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub experiment_id: String,
    /// The tracking run the job logs to.
    pub run_id: String,
    /// `command` today.
    pub kind: String,
    /// `Queued`, `Preparing`, `Running`, `Finalizing`, `CancelRequested`, `Completed`,
    /// `Failed` or `Canceled`.
    pub status: String,
    pub status_message: Option<String>,
    pub compute: String,
    pub tags: Vec<KeyValue>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// The canonical spec the job runs.
    #[schema(value_type = Object)]
    pub spec: Value,
}

impl From<core::Job> for JobView {
    fn from(j: core::Job) -> Self {
        Self {
            name: j.name.to_string(),
            display_name: j.display_name,
            description: j.description,
            experiment_id: j.experiment_id.to_string(),
            run_id: j.run_id.to_string(),
            kind: j.kind.to_string(),
            status: j.status.to_string(),
            status_message: j.status_message,
            compute: j.compute,
            tags: j.tags.into_iter().map(Into::into).collect(),
            created_at: j.created_at,
            started_at: j.started_at,
            ended_at: j.ended_at,
            spec: serde_json::from_str(&j.spec).unwrap_or(Value::String(j.spec)),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobList {
    pub items: Vec<JobView>,
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobListQuery {
    /// Comma-separated job statuses.
    pub status: Option<String>,
    pub experiment_id: Option<String>,
    pub compute: Option<String>,
    pub max_results: Option<usize>,
    pub page_token: Option<String>,
}

/// An asset version named by kind, name and version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AssetKeyView {
    pub kind: String,
    pub name: String,
    pub version: String,
}

/// One input or output of a job.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobIoView {
    /// `input` or `output`.
    pub direction: String,
    pub name: String,
    pub asset: Option<AssetKeyView>,
    pub uri: Option<String>,
}

impl From<core::JobIo> for JobIoView {
    fn from(io: core::JobIo) -> Self {
        Self {
            direction: io.direction.as_str().to_string(),
            name: io.name,
            asset: io.asset.map(|(kind, name, version)| AssetKeyView {
                kind: kind.to_string(),
                name,
                version,
            }),
            uri: io.uri,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobIoList {
    pub items: Vec<JobIoView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AssetView {
    /// `data`, `model` or `environment`.
    pub kind: String,
    pub name: String,
    pub version: String,
    pub description: String,
    pub tags: Vec<KeyValue>,
    /// The canonical spec of the version.
    #[schema(value_type = Object)]
    pub spec: Value,
    /// Where the bytes live; `null` while a local path waits for the CLI to upload it.
    pub storage_uri: Option<String>,
    /// The spec names a local path whose files the server did not receive.
    pub pending_upload: bool,
    pub source_job: Option<String>,
    pub archived: bool,
    pub created_at: i64,
}

impl From<core::Asset> for AssetView {
    fn from(a: core::Asset) -> Self {
        let spec: Value = serde_json::from_str(&a.spec).unwrap_or(Value::String(a.spec));
        let pending_upload = a.storage_uri.is_none() && spec.get("local_path").is_some();
        Self {
            kind: a.kind.to_string(),
            name: a.name,
            version: a.version,
            description: a.description,
            tags: a.tags.into_iter().map(Into::into).collect(),
            spec,
            storage_uri: a.storage_uri,
            pending_upload,
            source_job: a.source_job.map(|j| j.to_string()),
            archived: a.archived,
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AssetList {
    pub items: Vec<AssetView>,
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssetListQuery {
    /// Include archived versions (default false).
    pub include_archived: Option<bool>,
    pub max_results: Option<usize>,
    pub page_token: Option<String>,
}

/// One stored file of a data or model version.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AssetFileView {
    /// The file's path inside the version, `/`-separated.
    pub path: String,
    pub size: u64,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
}

impl From<core::AssetFile> for AssetFileView {
    fn from(f: core::AssetFile) -> Self {
        Self {
            path: f.path.to_string(),
            size: f.size,
            sha256: f.sha256,
        }
    }
}

/// The files of a version, by path.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AssetFileList {
    pub items: Vec<AssetFileView>,
}

/// Who produced an asset version and which jobs read it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LineageView {
    pub asset: AssetKeyView,
    pub producer: Option<String>,
    pub consumers: Vec<String>,
}
