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
    Dataset, DatasetInput, Experiment, Metric, MetricPoint, Run, RunInfo, RunStatus, Tag,
};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

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
    MlflowUri(uri).to_string()
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

/// MLflow's `RunInfo`, serialized straight from the domain type.
#[derive(Debug)]
pub struct RunInfoView(pub RunInfo);

impl From<RunInfo> for RunInfoView {
    fn from(i: RunInfo) -> Self {
        Self(i)
    }
}

impl Serialize for RunInfoView {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        InfoRef(&self.0).serialize(s)
    }
}

/// `mlplane-artifacts:` shown as `mlflow-artifacts:`, written without building a string.
struct MlflowUri<'a>(&'a str);

impl std::fmt::Display for MlflowUri<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.strip_prefix(MLPLANE_SCHEME) {
            Some(rest) => write!(f, "{MLFLOW_SCHEME}{rest}"),
            None => f.write_str(self.0),
        }
    }
}

struct InfoRef<'a>(&'a RunInfo);

impl Serialize for InfoRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let i = self.0;
        let mut m = s.serialize_struct("RunInfo", 10)?;
        m.serialize_field("run_id", i.id.as_str())?;
        m.serialize_field("run_uuid", i.id.as_str())?;
        m.serialize_field("run_name", &i.name)?;
        m.serialize_field("experiment_id", &format_args!("{}", i.experiment_id))?;
        m.serialize_field("user_id", &i.user)?;
        m.serialize_field("status", status_name(i.status))?;
        m.serialize_field("start_time", &i.start_time)?;
        match i.end_time {
            Some(t) => m.serialize_field("end_time", &t)?,
            None => m.skip_field("end_time")?,
        }
        m.serialize_field(
            "artifact_uri",
            &format_args!("{}", MlflowUri(&i.artifact_uri)),
        )?;
        m.serialize_field("lifecycle_stage", i.lifecycle_stage.as_str())?;
        m.end()
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

/// MLflow's `Run`: info, data (latest metrics, params, and tags with `mlflow.runName`
/// equal to the run's name), inputs, and outputs when there are any. Serialized straight
/// from the domain run, borrowing every string: a search page holds hundreds of runs.
#[derive(Debug)]
pub struct RunView(pub Run);

impl From<Run> for RunView {
    fn from(r: Run) -> Self {
        Self(r)
    }
}

impl Serialize for RunView {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = &self.0;
        let mut m = s.serialize_struct("Run", 4)?;
        m.serialize_field("info", &InfoRef(&r.info))?;
        m.serialize_field("data", &DataRef(r))?;
        m.serialize_field(
            "inputs",
            &RunInputsView {
                dataset_inputs: r.inputs.iter().cloned().map(Into::into).collect(),
            },
        )?;
        if r.outputs.is_empty() {
            m.skip_field("outputs")?;
        } else {
            m.serialize_field(
                "outputs",
                &RunOutputsView {
                    model_outputs: r
                        .outputs
                        .iter()
                        .map(|o| ModelOutputView {
                            model_id: o.model_id.as_str().to_string(),
                            step: o.step,
                        })
                        .collect(),
                },
            )?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct KvRef<'a> {
    key: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct MetricRef<'a> {
    key: &'a str,
    #[serde(with = "mlplane_api::metric_value")]
    value: f64,
    timestamp: i64,
    step: i64,
}

struct DataRef<'a>(&'a Run);

impl Serialize for DataRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let metrics = r.metrics.iter().map(|m| MetricRef {
            key: &m.key,
            value: m.value,
            timestamp: m.timestamp,
            step: m.step,
        });
        let params = r.params.iter().map(|p| KvRef {
            key: &p.key,
            value: &p.value,
        });
        // The run's name is its own column; a stored tag of that name never shows.
        let tags = r
            .tags
            .iter()
            .filter(|t| t.key != RUN_NAME_TAG)
            .map(|t| KvRef {
                key: &t.key,
                value: &t.value,
            })
            .chain(std::iter::once(KvRef {
                key: RUN_NAME_TAG,
                value: &r.info.name,
            }));
        let mut m = s.serialize_struct("RunData", 3)?;
        m.serialize_field("metrics", &Seq(std::cell::Cell::new(Some(metrics))))?;
        m.serialize_field("params", &Seq(std::cell::Cell::new(Some(params))))?;
        m.serialize_field("tags", &Seq(std::cell::Cell::new(Some(tags))))?;
        m.end()
    }
}

/// An iterator serialized once as a JSON array, without collecting it first.
struct Seq<I>(std::cell::Cell<Option<I>>);

impl<I> Serialize for Seq<I>
where
    I: Iterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.take() {
            Some(items) => s.collect_seq(items),
            None => Err(serde::ser::Error::custom("a sequence is serialized once")),
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct RunOutputsView {
    pub model_outputs: Vec<ModelOutputView>,
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
