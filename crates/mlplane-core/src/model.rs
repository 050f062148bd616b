//! Plain data types of the tracking domain.
//!
//! Invariants:
//! - a [`RunInfo`] with a terminal status has `end_time` set by the store;
//! - `Run::metrics` holds the latest value per key (greatest step, then timestamp);
//! - lists are returned as [`Page`]s, never unbounded.

use crate::TimestampMs;
use crate::artifact_path::ArtifactPath;
use crate::ids::{ExperimentId, RunId, WorkspaceName};
use std::fmt;
use std::str::FromStr;

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    Queued,
    Running,
    Finished,
    Failed,
    Killed,
}

impl RunStatus {
    pub const ALL: [RunStatus; 5] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Finished,
        RunStatus::Failed,
        RunStatus::Killed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "QUEUED",
            RunStatus::Running => "RUNNING",
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
            RunStatus::Killed => "KILLED",
        }
    }

    /// Finished, failed and killed runs are terminal: they have an end time.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Finished | RunStatus::Failed | RunStatus::Killed
        )
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a status string that names no [`RunStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown run status '{0}' (expected QUEUED, RUNNING, FINISHED, FAILED or KILLED)")]
pub struct UnknownStatus(pub String);

impl FromStr for RunStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunStatus::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

/// Soft-delete state of experiments and runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleStage {
    Active,
    Deleted,
}

impl LifecycleStage {
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleStage::Active => "active",
            LifecycleStage::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(LifecycleStage::Active),
            "deleted" => Some(LifecycleStage::Deleted),
            _ => None,
        }
    }
}

/// Which lifecycle stages a listing includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ViewType {
    #[default]
    ActiveOnly,
    DeletedOnly,
    All,
}

impl ViewType {
    pub fn includes(self, stage: LifecycleStage) -> bool {
        match self {
            ViewType::ActiveOnly => stage == LifecycleStage::Active,
            ViewType::DeletedOnly => stage == LifecycleStage::Deleted,
            ViewType::All => true,
        }
    }
}

/// A key/value tag on an experiment or a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A run parameter; immutable once logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub key: String,
    pub value: String,
}

/// One metric observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricPoint {
    pub value: f64,
    pub timestamp: TimestampMs,
    pub step: i64,
}

/// A metric observation with its key.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub key: String,
    pub value: f64,
    pub timestamp: TimestampMs,
    pub step: i64,
}

impl Metric {
    pub fn point(&self) -> MetricPoint {
        MetricPoint {
            value: self.value,
            timestamp: self.timestamp,
            step: self.step,
        }
    }
}

/// A workspace: the unit of isolation for experiments, runs and (later) assets and access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub name: WorkspaceName,
    pub description: String,
    pub created_at: TimestampMs,
}

/// An experiment: a named group of runs inside a workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Experiment {
    pub id: ExperimentId,
    pub workspace: WorkspaceName,
    pub name: String,
    pub artifact_location: String,
    pub lifecycle_stage: LifecycleStage,
    pub created_at: TimestampMs,
    pub updated_at: TimestampMs,
    pub tags: Vec<Tag>,
}

/// Input to create an experiment, already validated by [`crate::validate::new_experiment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewExperiment {
    pub name: String,
    pub artifact_location: Option<String>,
    pub tags: Vec<Tag>,
}

/// The descriptive part of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub id: RunId,
    pub experiment_id: ExperimentId,
    pub workspace: WorkspaceName,
    pub name: String,
    pub user: String,
    pub status: RunStatus,
    pub start_time: TimestampMs,
    pub end_time: Option<TimestampMs>,
    pub lifecycle_stage: LifecycleStage,
    pub parent_run_id: Option<RunId>,
    pub artifact_uri: String,
}

/// A run with its data: params, tags and the latest value of each metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub info: RunInfo,
    pub params: Vec<Param>,
    pub tags: Vec<Tag>,
    pub metrics: Vec<Metric>,
    /// Datasets the run read, in the order they were first logged.
    pub inputs: Vec<DatasetInput>,
    /// Logged models the run produced (MLflow 3 `log_outputs`), in the order first logged.
    pub outputs: Vec<ModelOutput>,
}

/// A logged model a run produced, with the step it was logged at (MLflow's
/// `LoggedModelOutput`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelOutput {
    pub model_id: crate::LoggedModelId,
    pub step: i64,
}

/// A dataset as MLflow describes it: identified by name and digest, with where it came
/// from and, optionally, its schema and profile (opaque JSON text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    pub name: String,
    pub digest: String,
    pub source_type: String,
    pub source: String,
    pub schema: Option<String>,
    pub profile: Option<String>,
}

/// One dataset a run read, with tags about the use (e.g. `mlflow.data.context` =
/// `training`). A run holds a dataset at most once per context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetInput {
    pub dataset: Dataset,
    pub tags: Vec<Tag>,
}

impl DatasetInput {
    /// The tag MLflow uses for what the dataset was for.
    pub const CONTEXT_TAG: &'static str = "mlflow.data.context";

    /// The value of the context tag, or empty.
    pub fn context(&self) -> &str {
        self.tags
            .iter()
            .find(|t| t.key == Self::CONTEXT_TAG)
            .map_or("", |t| t.value.as_str())
    }
}

/// Input to create a run, already validated by [`crate::validate::new_run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    pub experiment_id: ExperimentId,
    pub name: Option<String>,
    pub user: String,
    pub start_time: TimestampMs,
    pub status: RunStatus,
    pub parent_run_id: Option<RunId>,
    pub tags: Vec<Tag>,
}

/// Changes to a run's info; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunUpdate {
    pub status: Option<RunStatus>,
    pub end_time: Option<TimestampMs>,
    pub name: Option<String>,
}

/// Metrics, params and tags logged together and atomically.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogBatch {
    pub metrics: Vec<Metric>,
    pub params: Vec<Param>,
    pub tags: Vec<Tag>,
}

/// A stored artifact file of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactEntry {
    pub path: ArtifactPath,
    pub size: u64,
    pub sha256: String,
    pub created_at: TimestampMs,
}

/// One level of a run's artifact tree: files and sub-directories directly under a prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtifactListing {
    pub files: Vec<ArtifactEntry>,
    pub dirs: Vec<String>,
}

/// A slice of a run's log stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    /// Byte offset of `data` in the whole stream.
    pub offset: u64,
    pub data: String,
    /// Offset to read from next; equals the stream length when `data` reaches the end.
    pub next_offset: u64,
}

/// One page of a list with the token for the next page, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: Option<String>,
}

/// A request for one page: size and the opaque token returned with the previous page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub max_results: usize,
    pub page_token: Option<String>,
}

pub(crate) const ADJECTIVES: [&str; 16] = [
    "amber", "bold", "brave", "calm", "clever", "crisp", "eager", "gentle", "golden", "keen",
    "lucky", "merry", "quiet", "rapid", "silver", "vivid",
];
pub(crate) const NOUNS: [&str; 16] = [
    "badger", "crane", "falcon", "fox", "heron", "lynx", "otter", "owl", "panda", "raven", "robin",
    "seal", "swan", "tiger", "whale", "wolf",
];

/// A readable default name for a run without one, derived from its id (`brave-otter-417`).
pub fn default_run_name(id: &RunId) -> String {
    let b = id.as_str().as_bytes();
    let nib = |i: usize| (b[i] as char).to_digit(16).unwrap_or(0) as usize;
    let num = nib(2) * 256 + nib(3) * 16 + nib(4);
    format!("{}-{}-{}", ADJECTIVES[nib(0)], NOUNS[nib(1)], num % 1000)
}
