//! Request and response shapes of the MLflow REST API, with MLflow's proto field names, and
//! the conversions from domain types.
//!
//! Invariants:
//! - int64 fields (timestamps, steps) are read from JSON numbers or JSON strings
//!   ([`super::int64`]);
//! - metric values read and write NaN and infinities as the proto-JSON strings;
//! - artifact URIs are shown with the `mlflow-artifacts:` scheme;
//! - run tags in responses always carry `mlflow.runName`, equal to the run's name.

use super::int64::opt_i64;
use mlplane_core::{
    Dataset, DatasetInput, Experiment, Metric, MetricPoint, Param, Run, RunInfo, RunStatus, Tag,
};
use serde::{Deserialize, Serialize};

/// The tag MLflow clients read a run's name from.
pub const RUN_NAME_TAG: &str = "mlflow.runName";
/// The tag MLflow clients send the user in.
pub const USER_TAG: &str = "mlflow.user";
/// The tag that marks a nested run's parent.
pub const PARENT_TAG: &str = "mlflow.parentRunId";

const MLPLANE_SCHEME: &str = "mlplane-artifacts:";
const MLFLOW_SCHEME: &str = "mlflow-artifacts:";

/// `mlplane-artifacts:/ws/1` becomes `mlflow-artifacts:/ws/1`; other URIs pass unchanged.
pub fn mlflow_uri(uri: &str) -> String {
    match uri.strip_prefix(MLPLANE_SCHEME) {
        Some(rest) => format!("{MLFLOW_SCHEME}{rest}"),
        None => uri.to_string(),
    }
}

/// MLflow's name of a status: `QUEUED` is `SCHEDULED` there.
pub fn status_name(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Queued => "SCHEDULED",
        other => other.as_str(),
    }
}

/// Parses an MLflow status name.
pub fn parse_status(s: &str) -> Option<RunStatus> {
    match s {
        "SCHEDULED" => Some(RunStatus::Queued),
        "RUNNING" => Some(RunStatus::Running),
        "FINISHED" => Some(RunStatus::Finished),
        "FAILED" => Some(RunStatus::Failed),
        "KILLED" => Some(RunStatus::Killed),
        _ => None,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

pub fn to_tags(kvs: Vec<KeyValue>) -> Vec<Tag> {
    kvs.into_iter()
        .map(|t| Tag {
            key: t.key,
            value: t.value,
        })
        .collect()
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: value.to_string(),
    }
}

#[derive(Debug, Serialize)]
pub struct ExperimentView {
    pub experiment_id: String,
    pub name: String,
    pub artifact_location: String,
    pub lifecycle_stage: &'static str,
    pub last_update_time: i64,
    pub creation_time: i64,
    pub tags: Vec<KeyValue>,
}

impl From<Experiment> for ExperimentView {
    fn from(e: Experiment) -> Self {
        Self {
            experiment_id: e.id.to_string(),
            name: e.name,
            artifact_location: mlflow_uri(&e.artifact_location),
            lifecycle_stage: e.lifecycle_stage.as_str(),
            last_update_time: e.updated_at,
            creation_time: e.created_at,
            tags: e.tags.iter().map(|t| kv(&t.key, &t.value)).collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RunInfoView {
    pub run_id: String,
    pub run_uuid: String,
    pub run_name: String,
    pub experiment_id: String,
    pub user_id: String,
    pub status: &'static str,
    pub start_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    pub artifact_uri: String,
    pub lifecycle_stage: &'static str,
}

impl From<RunInfo> for RunInfoView {
    fn from(i: RunInfo) -> Self {
        Self {
            run_id: i.id.to_string(),
            run_uuid: i.id.to_string(),
            run_name: i.name,
            experiment_id: i.experiment_id.to_string(),
            user_id: i.user,
            status: status_name(i.status),
            start_time: i.start_time,
            end_time: i.end_time,
            artifact_uri: mlflow_uri(&i.artifact_uri),
            lifecycle_stage: i.lifecycle_stage.as_str(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct MetricView {
    pub key: String,
    #[serde(with = "mlplane_api::metric_value")]
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
}

impl MetricView {
    pub fn from_point(key: &str, p: MetricPoint) -> Self {
        Self {
            key: key.to_string(),
            value: p.value,
            timestamp: p.timestamp,
            step: p.step,
        }
    }
}

impl From<Metric> for MetricView {
    fn from(m: Metric) -> Self {
        Self::from_point(&m.key, m.point())
    }
}

#[derive(Debug, Serialize)]
pub struct RunDataView {
    pub metrics: Vec<MetricView>,
    pub params: Vec<KeyValue>,
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Serialize)]
pub struct RunView {
    pub info: RunInfoView,
    pub data: RunDataView,
    pub inputs: RunInputsView,
    /// Logged models the run produced (MLflow 3); left out when there are none.
    #[serde(skip_serializing_if = "RunOutputsView::is_empty")]
    pub outputs: RunOutputsView,
}

#[derive(Debug, Default, Serialize)]
pub struct RunOutputsView {
    pub model_outputs: Vec<ModelOutputView>,
}

impl RunOutputsView {
    fn is_empty(&self) -> bool {
        self.model_outputs.is_empty()
    }
}

/// MLflow's `ModelOutput`: a logged model and the step it was logged at.
#[derive(Debug, Serialize)]
pub struct ModelOutputView {
    pub model_id: String,
    pub step: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DatasetView {
    pub name: String,
    pub digest: String,
    pub source_type: String,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DatasetInputView {
    #[serde(default)]
    pub tags: Vec<KeyValue>,
    pub dataset: DatasetView,
}

#[derive(Debug, Default, Serialize)]
pub struct RunInputsView {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dataset_inputs: Vec<DatasetInputView>,
}

impl From<DatasetInput> for DatasetInputView {
    fn from(i: DatasetInput) -> Self {
        let d = i.dataset;
        Self {
            tags: i.tags.iter().map(|t| kv(&t.key, &t.value)).collect(),
            dataset: DatasetView {
                name: d.name,
                digest: d.digest,
                source_type: d.source_type,
                source: d.source,
                schema: d.schema,
                profile: d.profile,
            },
        }
    }
}

impl From<DatasetInputView> for DatasetInput {
    fn from(v: DatasetInputView) -> Self {
        let d = v.dataset;
        Self {
            dataset: Dataset {
                name: d.name,
                digest: d.digest,
                source_type: d.source_type,
                source: d.source,
                schema: d.schema,
                profile: d.profile,
            },
            tags: to_tags(v.tags),
        }
    }
}

/// `runs/log-inputs`: datasets, and from MLflow 3 the logged models a run read (checked
/// to exist, not recorded yet).
#[derive(Debug, Deserialize)]
pub struct LogInputs {
    #[serde(flatten)]
    pub run: RunRef,
    #[serde(default)]
    pub datasets: Vec<DatasetInputView>,
    #[serde(default)]
    pub models: Vec<super::model_views::ModelRef>,
}

impl From<Run> for RunView {
    fn from(r: Run) -> Self {
        // Keys and values move into the view (a search answers hundreds of runs).
        let mut tags: Vec<KeyValue> = r
            .tags
            .into_iter()
            .filter(|t| t.key != RUN_NAME_TAG)
            .map(|Tag { key, value }| KeyValue { key, value })
            .collect();
        tags.push(kv(RUN_NAME_TAG, &r.info.name));
        let params = r
            .params
            .into_iter()
            .map(|Param { key, value }| KeyValue { key, value })
            .collect();
        Self {
            info: r.info.into(),
            data: RunDataView {
                metrics: r.metrics.into_iter().map(Into::into).collect(),
                params,
                tags,
            },
            inputs: RunInputsView {
                dataset_inputs: r.inputs.into_iter().map(Into::into).collect(),
            },
            outputs: RunOutputsView {
                model_outputs: r
                    .outputs
                    .into_iter()
                    .map(|o| ModelOutputView {
                        model_id: o.model_id.as_str().to_string(),
                        step: o.step,
                    })
                    .collect(),
            },
        }
    }
}

// --- requests --------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
pub struct CreateExperiment {
    pub name: String,
    #[serde(default)]
    pub artifact_location: Option<String>,
    #[serde(default)]
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Deserialize)]
pub struct ExperimentIdReq {
    pub experiment_id: String,
}

#[derive(Debug, Deserialize)]
pub struct ExperimentNameReq {
    pub experiment_name: String,
}

#[derive(Debug, Deserialize)]
pub struct UpdateExperiment {
    pub experiment_id: String,
    pub new_name: String,
}

#[derive(Debug, Deserialize)]
pub struct ExperimentTagReq {
    pub experiment_id: String,
    pub key: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Deserialize)]
pub struct CreateRun {
    #[serde(default)]
    pub experiment_id: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub run_name: Option<String>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub start_time: Option<i64>,
    #[serde(default)]
    pub tags: Vec<KeyValue>,
}

/// A run named by `run_id` or the deprecated `run_uuid`.
#[derive(Debug, Deserialize)]
pub struct RunRef {
    #[serde(default)]
    pub run_id: Option<String>,
    #[serde(default)]
    pub run_uuid: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct UpdateRun {
    #[serde(flatten)]
    pub run: RunRef,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub end_time: Option<i64>,
    #[serde(default)]
    pub run_name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LogMetric {
    #[serde(flatten)]
    pub run: RunRef,
    pub key: String,
    #[serde(with = "mlplane_api::metric_value")]
    pub value: f64,
    #[serde(default, deserialize_with = "opt_i64")]
    pub timestamp: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub step: Option<i64>,
    /// MLflow 3: the logged model the metric also belongs to, and its dataset.
    #[serde(default)]
    pub model_id: Option<String>,
    #[serde(default)]
    pub dataset_name: Option<String>,
    #[serde(default)]
    pub dataset_digest: Option<String>,
}

/// A `{run_id, key, value}` body: log-parameter and set-tag.
#[derive(Debug, Deserialize)]
pub struct RunKeyValue {
    #[serde(flatten)]
    pub run: RunRef,
    pub key: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Deserialize)]
pub struct RunKey {
    #[serde(flatten)]
    pub run: RunRef,
    pub key: String,
}

#[derive(Debug, Deserialize)]
pub struct MetricIn {
    pub key: String,
    #[serde(with = "mlplane_api::metric_value")]
    pub value: f64,
    #[serde(default, deserialize_with = "opt_i64")]
    pub timestamp: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub step: Option<i64>,
    /// MLflow 3: the logged model the metric also belongs to, and its dataset.
    #[serde(default)]
    pub model_id: Option<String>,
    #[serde(default)]
    pub dataset_name: Option<String>,
    #[serde(default)]
    pub dataset_digest: Option<String>,
}

/// `runs/log-batch`. The run fields are spelled out rather than a flattened [`RunRef`]:
/// serde buffers every field of a struct with a flattened member into an intermediate tree
/// first, which for 1000 metrics doubled the cost of parsing the body.
#[derive(Debug, Deserialize)]
pub struct LogBatch {
    #[serde(default)]
    pub run_id: Option<String>,
    #[serde(default)]
    pub run_uuid: Option<String>,
    #[serde(default)]
    pub metrics: Vec<MetricIn>,
    #[serde(default)]
    pub params: Vec<KeyValue>,
    #[serde(default)]
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    #[serde(flatten)]
    pub run: RunRef,
    pub metric_key: String,
    #[serde(default)]
    pub max_results: Option<String>,
    #[serde(default)]
    pub page_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct HistoryView {
    pub metrics: Vec<MetricView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ExperimentIdView {
    pub experiment_id: String,
}

#[derive(Debug, Serialize)]
pub struct ExperimentResponse {
    pub experiment: ExperimentView,
}

#[derive(Debug, Serialize)]
pub struct RunResponse {
    pub run: RunView,
}

#[derive(Debug, Serialize)]
pub struct RunInfoResponse {
    pub run_info: RunInfoView,
}

/// The empty `{}` answer of MLflow's mutations.
#[derive(Debug, Serialize)]
pub struct Empty {}

/// One entry of an artifact listing: a file (with its size) or a directory.
#[derive(Debug, Serialize)]
pub struct FileInfoView {
    pub path: String,
    pub is_dir: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
}

/// `GET mlflow-artifacts/artifacts?path=`: the directory to list, relative to the proxy root.
#[derive(Debug, Deserialize)]
pub struct ProxyListQuery {
    #[serde(default)]
    pub path: Option<String>,
}

/// The proxy's listing: entry paths are child names, relative to the listed directory.
#[derive(Debug, Serialize)]
pub struct ProxyListResponse {
    pub files: Vec<FileInfoView>,
}

/// `GET mlflow/artifacts/list`: a run and a directory relative to its artifact root.
#[derive(Debug, Deserialize)]
pub struct RunArtifactsQuery {
    #[serde(flatten)]
    pub run: RunRef,
    #[serde(default)]
    pub path: Option<String>,
}

/// The tracking listing: entry paths are relative to the run's artifact root.
#[derive(Debug, Serialize)]
pub struct RunArtifactsResponse {
    pub root_uri: String,
    pub files: Vec<FileInfoView>,
}
