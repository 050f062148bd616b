//! Request and response bodies of `/api/v1`, with conversions from domain types.

use mlplane_core as core;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A key/value pair (tag or param).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

impl From<core::Tag> for KeyValue {
    fn from(t: core::Tag) -> Self {
        Self {
            key: t.key,
            value: t.value,
        }
    }
}

impl From<core::Param> for KeyValue {
    fn from(p: core::Param) -> Self {
        Self {
            key: p.key,
            value: p.value,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WorkspaceView {
    pub name: String,
    pub description: String,
    pub created_at: i64,
}

impl From<core::Workspace> for WorkspaceView {
    fn from(w: core::Workspace) -> Self {
        Self {
            name: w.name.to_string(),
            description: w.description,
            created_at: w.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspaceRequest {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WorkspaceList {
    pub items: Vec<WorkspaceView>,
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExperimentView {
    /// Numeric id as a string (`"0"` is the workspace's Default experiment).
    pub experiment_id: String,
    pub workspace: String,
    pub name: String,
    pub artifact_location: String,
    /// `active` or `deleted`.
    pub lifecycle_stage: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub tags: Vec<KeyValue>,
}

impl From<core::Experiment> for ExperimentView {
    fn from(e: core::Experiment) -> Self {
        Self {
            experiment_id: e.id.to_string(),
            workspace: e.workspace.to_string(),
            name: e.name,
            artifact_location: e.artifact_location,
            lifecycle_stage: e.lifecycle_stage.as_str().into(),
            created_at: e.created_at,
            updated_at: e.updated_at,
            tags: e.tags.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateExperimentRequest {
    pub name: String,
    #[serde(default)]
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateExperimentRequest {
    /// New name, unique in the workspace.
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExperimentList {
    pub items: Vec<ExperimentView>,
    pub next_page_token: Option<String>,
}

/// A metric observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MetricView {
    pub key: String,
    #[serde(with = "crate::metric_value")]
    #[schema(value_type = f64)]
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
}

impl From<core::Metric> for MetricView {
    fn from(m: core::Metric) -> Self {
        Self {
            key: m.key,
            value: m.value,
            timestamp: m.timestamp,
            step: m.step,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunInfoView {
    pub run_id: String,
    pub experiment_id: String,
    pub workspace: String,
    pub name: String,
    pub user: String,
    /// QUEUED, RUNNING, FINISHED, FAILED or KILLED.
    pub status: String,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub lifecycle_stage: String,
    pub parent_run_id: Option<String>,
    pub artifact_uri: String,
}

impl From<core::RunInfo> for RunInfoView {
    fn from(r: core::RunInfo) -> Self {
        Self {
            run_id: r.id.to_string(),
            experiment_id: r.experiment_id.to_string(),
            workspace: r.workspace.to_string(),
            name: r.name,
            user: r.user,
            status: r.status.as_str().into(),
            start_time: r.start_time,
            end_time: r.end_time,
            lifecycle_stage: r.lifecycle_stage.as_str().into(),
            parent_run_id: r.parent_run_id.map(|p| p.to_string()),
            artifact_uri: r.artifact_uri,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunDataView {
    pub params: Vec<KeyValue>,
    pub tags: Vec<KeyValue>,
    /// Latest value of each metric.
    pub metrics: Vec<MetricView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    pub info: RunInfoView,
    pub data: RunDataView,
}

impl From<core::Run> for RunView {
    fn from(r: core::Run) -> Self {
        Self {
            info: r.info.into(),
            data: RunDataView {
                params: r.params.into_iter().map(Into::into).collect(),
                tags: r.tags.into_iter().map(Into::into).collect(),
                metrics: r.metrics.into_iter().map(Into::into).collect(),
            },
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRunRequest {
    /// Defaults to the workspace's Default experiment.
    pub experiment_id: Option<String>,
    pub name: Option<String>,
    pub user: Option<String>,
    /// Milliseconds since the epoch; defaults to now.
    pub start_time: Option<i64>,
    /// QUEUED or RUNNING (default).
    pub status: Option<String>,
    pub parent_run_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRunRequest {
    pub status: Option<String>,
    pub end_time: Option<i64>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunList {
    pub items: Vec<RunInfoView>,
    pub next_page_token: Option<String>,
}

/// A metric to log; timestamp defaults to now, step to 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricInput {
    pub key: String,
    #[serde(with = "crate::metric_value")]
    #[schema(value_type = f64)]
    pub value: f64,
    pub timestamp: Option<i64>,
    pub step: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogBatchRequest {
    #[serde(default)]
    pub metrics: Vec<MetricInput>,
    #[serde(default)]
    pub params: Vec<KeyValue>,
    #[serde(default)]
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MetricPointView {
    #[serde(with = "crate::metric_value")]
    #[schema(value_type = f64)]
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
}

impl From<core::MetricPoint> for MetricPointView {
    fn from(p: core::MetricPoint) -> Self {
        Self {
            value: p.value,
            timestamp: p.timestamp,
            step: p.step,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MetricHistoryView {
    pub key: String,
    pub points: Vec<MetricPointView>,
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SampledHistoryView {
    pub key: String,
    pub points: Vec<MetricPointView>,
    pub total_points: u64,
    pub downsampled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppendLogRequest {
    pub data: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AppendLogResponse {
    /// Length of the log stream in bytes after the append.
    pub length: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LogChunkView {
    pub offset: u64,
    pub data: String,
    pub next_offset: u64,
}

impl From<core::LogChunk> for LogChunkView {
    fn from(c: core::LogChunk) -> Self {
        Self {
            offset: c.offset,
            data: c.data,
            next_offset: c.next_offset,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ArtifactView {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub created_at: i64,
}

impl From<core::ArtifactEntry> for ArtifactView {
    fn from(a: core::ArtifactEntry) -> Self {
        Self {
            path: a.path.to_string(),
            size: a.size,
            sha256: a.sha256,
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ArtifactListView {
    /// Directory listed (empty for the root).
    pub path: String,
    pub files: Vec<ArtifactView>,
    /// Names of sub-directories directly under `path`.
    pub dirs: Vec<String>,
}

/// Paging parameters of every list.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page (default 100).
    pub max_results: Option<usize>,
    /// Token from the previous page's `next_page_token`.
    pub page_token: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExperimentListQuery {
    /// `active` (default), `deleted` or `all`.
    pub view: Option<String>,
    pub max_results: Option<usize>,
    pub page_token: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunListQuery {
    /// Comma-separated experiment ids.
    pub experiment_id: Option<String>,
    /// `active` (default), `deleted` or `all`.
    pub view: Option<String>,
    /// Comma-separated statuses.
    pub status: Option<String>,
    pub parent_run_id: Option<String>,
    pub max_results: Option<usize>,
    pub page_token: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    pub key: String,
    pub max_results: Option<usize>,
    pub page_token: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SampledQuery {
    pub key: String,
    /// At most this many points (default 1000, max 10000).
    pub max_points: Option<usize>,
    /// With `start_step` or `end_step`: only points with `start_step <= step <= end_step` (either may be
    /// left out for an open end), sampled at evenly spaced positions of that window (the
    /// first and last point always among them), so a zoomed chart gets detail; then
    /// `total_points` counts the points returned and `downsampled` says the window may hold more.
    pub start_step: Option<i64>,
    pub end_step: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyQuery {
    pub key: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    pub offset: Option<u64>,
    pub max_bytes: Option<usize>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ArtifactListQuery {
    /// Directory to list; empty for the root.
    pub path: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealthView {
    pub status: String,
    pub version: String,
}
