//! Metadata storage for mlplane: the [`MetadataStore`] trait and its two engines,
//! SQLite (the embedded default) and PostgreSQL.
//!
//! The trait is the only way the server touches metadata. Both engines pass the same
//! contract suite (`tests/it/contract.rs`). Page tokens are issued and checked here, signed
//! with a secret that lives in the database, so a token stays valid across restarts and
//! across replicas that share a database.
//!
//! Invariants:
//! - every method is scoped by workspace: an entity of another workspace is `NotFound` (except
//!   the scheduler's `claim_next_job` and `unfinished_jobs`, which serve a compute target
//!   across workspaces);
//! - a method that returns `Ok` for a write has made it durable (committed);
//! - inputs are validated by `mlplane_core::validate` before they reach a method; engines
//!   re-check only what needs the database (uniqueness, immutability, existence);
//! - migrations are embedded and applied by [`open`] before the store is returned.

pub mod audit;
pub mod auth;
mod error;
pub mod jobs;
mod logged_models;
pub mod postgres;
pub mod registry;
mod rules;
mod search_sql;
pub mod secrets;
pub mod sqlite;
mod types;

pub use audit::AuditStore;
pub use auth::AuthStore;
pub use error::{Entity, Result, StoreError};
pub use jobs::{AssetLineage, JobStore};
pub use logged_models::{LoggedModelQuery, LoggedModelStore};
pub use registry::{ModelRegistry, RegistryQuery};
pub use secrets::SecretStore;
pub use types::*;

use async_trait::async_trait;
use mlplane_core::{
    ArtifactEntry, ArtifactListing, ArtifactPath, DatasetInput, Experiment, ExperimentId,
    LifecycleStage, LogBatch, LogChunk, MetricPoint, NewExperiment, NewRun, Page, PageRequest, Run,
    RunId, RunInfo, RunUpdate, Tag, ViewType, Workspace, WorkspaceName,
};
use std::sync::Arc;

/// Everything the server needs from metadata storage.
#[async_trait]
pub trait MetadataStore:
    ModelRegistry
    + LoggedModelStore
    + JobStore
    + AuthStore
    + SecretStore
    + AuditStore
    + Send
    + Sync
    + 'static
{
    /// Name of the engine, for logs and `/readyz` (`sqlite`, `postgres`).
    fn engine(&self) -> &'static str;

    /// Cheap round trip to the database, for readiness checks.
    async fn ping(&self) -> Result<()>;

    /// Flushes pending writes and closes connections; later calls fail with `Unavailable`.
    async fn close(&self);

    /// Per-operation timings collected so far, for the `/metrics` endpoint.
    fn timings(&self) -> Vec<OpTiming>;

    // --- workspaces ---------------------------------------------------------------------

    async fn create_workspace(&self, name: &WorkspaceName, description: &str) -> Result<Workspace>;
    async fn get_workspace(&self, name: &WorkspaceName) -> Result<Workspace>;
    async fn list_workspaces(&self, page: &PageRequest) -> Result<Page<Workspace>>;

    // --- experiments --------------------------------------------------------------------

    /// Creates an experiment; its name is unique within the workspace (`AlreadyExists`).
    async fn create_experiment(&self, ws: &WorkspaceName, e: NewExperiment) -> Result<Experiment>;
    async fn get_experiment(&self, ws: &WorkspaceName, id: ExperimentId) -> Result<Experiment>;
    async fn get_experiment_by_name(&self, ws: &WorkspaceName, name: &str) -> Result<Experiment>;
    /// Experiments ordered by id.
    async fn list_experiments(
        &self,
        ws: &WorkspaceName,
        view: ViewType,
        page: &PageRequest,
    ) -> Result<Page<Experiment>>;
    async fn rename_experiment(
        &self,
        ws: &WorkspaceName,
        id: ExperimentId,
        new_name: &str,
    ) -> Result<Experiment>;
    /// Soft delete (`Deleted`) or restore (`Active`). The workspace's `Default` experiment
    /// cannot be deleted (`InvalidState`). Runs follow their experiment's stage.
    async fn set_experiment_lifecycle(
        &self,
        ws: &WorkspaceName,
        id: ExperimentId,
        stage: LifecycleStage,
    ) -> Result<Experiment>;
    async fn set_experiment_tag(
        &self,
        ws: &WorkspaceName,
        id: ExperimentId,
        tag: Tag,
    ) -> Result<()>;
    async fn delete_experiment_tag(
        &self,
        ws: &WorkspaceName,
        id: ExperimentId,
        key: &str,
    ) -> Result<()>;

    // --- runs ---------------------------------------------------------------------------

    /// Creates a run in an active experiment; a parent run must exist in the same workspace.
    async fn create_run(&self, ws: &WorkspaceName, r: NewRun) -> Result<Run>;
    async fn get_run(&self, ws: &WorkspaceName, id: &RunId) -> Result<Run>;
    /// Runs ordered by start time (newest first), then id.
    async fn list_runs(
        &self,
        ws: &WorkspaceName,
        q: &RunQuery,
        page: &PageRequest,
    ) -> Result<Page<RunInfo>>;
    /// Changes status, end time or name. Moving to a terminal status without an end time
    /// sets it to now; moving back to `RUNNING` clears it; nothing moves back to `QUEUED`.
    async fn update_run(&self, ws: &WorkspaceName, id: &RunId, u: RunUpdate) -> Result<RunInfo>;
    async fn set_run_lifecycle(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        stage: LifecycleStage,
    ) -> Result<RunInfo>;
    /// Logs metrics, params and tags atomically: all or nothing. A param already logged
    /// with another value is `ParamConflict`; a deleted run is `InvalidState`. A metric
    /// point equal to one already stored for the run, or to an earlier one of the batch
    /// (key, step, timestamp and value), is stored once, as MLflow does.
    async fn log_batch(&self, ws: &WorkspaceName, id: &RunId, b: LogBatch) -> Result<()>;
    async fn delete_run_tag(&self, ws: &WorkspaceName, id: &RunId, key: &str) -> Result<()>;
    /// Records datasets the run read; a dataset already logged for the same context is
    /// left as it is. A deleted run is `InvalidState`.
    async fn log_inputs(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        inputs: Vec<DatasetInput>,
    ) -> Result<()>;
    /// Records logged models the run produced (MLflow 3 `log_outputs`); a model already
    /// recorded as an output of the run keeps its first step. A deleted run is
    /// `InvalidState`; a model missing or deleted in `ws` is `NotFound`, and then nothing
    /// is written.
    async fn log_outputs(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        outputs: Vec<mlplane_core::ModelOutput>,
    ) -> Result<()>;
    /// Runs matching a search, with their data, in the search's order (ties: newest
    /// first, then id), paged by offset under a token bound to the search.
    async fn search_runs(
        &self,
        ws: &WorkspaceName,
        q: &RunSearch,
        page: &PageRequest,
    ) -> Result<Page<Run>>;
    /// Experiments matching a search, in its order (default: newest first, then id).
    async fn search_experiments(
        &self,
        ws: &WorkspaceName,
        q: &ExperimentSearch,
        page: &PageRequest,
    ) -> Result<Page<Experiment>>;
    /// Every point of one metric, ordered by (step, timestamp, insertion), paged.
    async fn metric_history(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        key: &str,
        page: &PageRequest,
    ) -> Result<Page<MetricPoint>>;
    /// At most `max_points` representative points of one metric (see
    /// `mlplane_core::downsample`); all points when there are few enough.
    async fn metric_history_sampled(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        key: &str,
        max_points: usize,
    ) -> Result<SampledHistory>;
    /// The points of one metric that MLflow's `get-history-bulk-interval` returns: within
    /// `[start, end]` (inclusive; open where `None`), at the positions of
    /// `mlplane_core::downsample::interval_positions` in history order, so at most
    /// `max_points` with the window's first and last point always among them.
    async fn metric_history_interval(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        key: &str,
        max_points: usize,
        start: Option<i64>,
        end: Option<i64>,
    ) -> Result<Vec<MetricPoint>>;

    // --- run logs -----------------------------------------------------------------------

    /// Appends text to the run's log stream; returns the stream's new length in bytes.
    async fn append_log(&self, ws: &WorkspaceName, id: &RunId, data: &str) -> Result<u64>;
    /// Reads up to `max_bytes` from `offset` (cut at a chunk boundary, never mid-character).
    async fn read_log(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        offset: u64,
        max_bytes: usize,
    ) -> Result<LogChunk>;

    // --- artifacts (metadata only; bytes live in mlplane-artifacts) ---------------------

    /// Records (or replaces) a stored file; call only after the bytes are durable.
    async fn record_artifact(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        entry: ArtifactEntry,
    ) -> Result<()>;
    async fn get_artifact(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        path: &ArtifactPath,
    ) -> Result<ArtifactEntry>;
    /// Files and sub-directories directly under `dir`.
    async fn list_artifacts(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        dir: &ArtifactPath,
    ) -> Result<ArtifactListing>;
    async fn delete_artifact(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        path: &ArtifactPath,
    ) -> Result<()>;
}

/// Opens the store named by `url` (`sqlite:///path/to/file.db`, `sqlite::memory:`,
/// `postgres://user@host:port/db`), applies migrations and ensures the `default` workspace.
pub async fn open(url: &str) -> Result<Arc<dyn MetadataStore>> {
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest.trim_start_matches("//");
        let store = if path == ":memory:" || path.is_empty() {
            sqlite::SqliteStore::open_in_memory().await?
        } else {
            sqlite::SqliteStore::open(std::path::Path::new(path)).await?
        };
        Ok(Arc::new(store))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(url).await?))
    } else {
        Err(StoreError::Config(format!(
            "unsupported database URL '{}': expected sqlite:// or postgres://",
            redact(url)
        )))
    }
}

/// Hides a password in a database URL for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
