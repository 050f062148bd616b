//! The PostgreSQL engine of the metadata store, for servers that share one database
//! between replicas or outgrow a single SQLite file.
//!
//! [`PgStore::connect`] parses a `postgres://` URL, opens a small connection pool
//! ([`pool`]), applies the embedded migrations ([`schema`]) and reads the page-token
//! secret. Each area of the trait lives in its own module: [`catalog`] (workspaces and
//! experiments), [`runs`], [`metrics`] (batches and history), [`logs`], [`artifacts`] and
//! [`registry`] (the model registry, which implements its trait itself), [`jobs`] (jobs,
//! implementing `JobStore` itself) and [`assets`];
//! this module only wires them to [`MetadataStore`] and times every call.
//!
//! Requires PostgreSQL 13 or newer (`gen_random_uuid` is built in from 13 on).
//!
//! Invariants:
//! - every write that checks something before writing runs in one transaction and locks
//!   the rows it checked (`FOR SHARE`/`FOR UPDATE`), so a concurrent writer cannot slip in
//!   between the check and the write;
//! - locks on several metric series are always taken in key order, so concurrent batches
//!   cannot deadlock;
//! - after [`MetadataStore::close`] every call fails with `Unavailable`.

mod artifacts;
mod assets;
mod auth;
mod catalog;
mod jobs;
mod logged_models;
mod logs;
mod m4;
mod metrics;
mod pool;
mod registry;
mod registry_rows;
mod rows;
mod runs;
mod schema;
mod search;
mod secrets;

use crate::{
    ExperimentSearch, MetadataStore, OpTiming, Result, RunQuery, RunSearch, SampledHistory,
    StoreError, redact,
};
use async_trait::async_trait;
use mlplane_core::{
    ArtifactEntry, ArtifactListing, ArtifactPath, DatasetInput, Experiment, ExperimentId,
    LifecycleStage, LogBatch, LogChunk, MetricPoint, NewExperiment, NewRun, Page, PageRequest, Run,
    RunId, RunInfo, RunUpdate, Tag, TokenCodec, ViewType, Workspace, WorkspaceName,
};
use pool::Pool;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Connections kept by one store.
pub const DEFAULT_POOL_SIZE: usize = 8;

/// The metadata store backed by PostgreSQL.
pub struct PgStore {
    pool: Pool,
    codec: TokenCodec,
    timings: Timings,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgStore(..)")
    }
}

impl PgStore {
    /// Connects to `url` with [`DEFAULT_POOL_SIZE`] connections and migrates the schema.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with_pool_size(url, DEFAULT_POOL_SIZE).await
    }

    /// Connects with at most `pool_size` connections (at least one).
    pub async fn connect_with_pool_size(url: &str, pool_size: usize) -> Result<Self> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            StoreError::Config(format!("invalid postgres URL '{}': {e}", redact(url)))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("mlplane");
        }
        let pool = Pool::new(config, pool_size);
        let key = {
            // A dedicated connection: it holds the migration lock and is closed afterwards.
            let conn = pool.connect().await.map_err(|e| match e {
                StoreError::Unavailable(m) => {
                    StoreError::Unavailable(format!("{} ({m})", redact(url)))
                }
                other => other,
            })?;
            schema::migrate(&conn).await?
        };
        Ok(Self {
            pool,
            codec: TokenCodec::new(&key),
            timings: Timings::default(),
        })
    }

    /// Runs one operation, recording its duration and outcome under `op`.
    async fn timed<T>(&self, op: &'static str, f: impl Future<Output = Result<T>>) -> Result<T> {
        if self.pool.is_closed() {
            return Err(StoreError::Unavailable("the store is closed".to_string()));
        }
        let start = Instant::now();
        let result = f.await.map_err(|e| match e {
            StoreError::Internal(m) => StoreError::Internal(format!("{op}: {m}")),
            other => other,
        });
        self.timings.record(op, start.elapsed(), result.is_err());
        result
    }
}

/// Per-operation counters.
#[derive(Default)]
struct Timings(Mutex<HashMap<&'static str, OpTiming>>);

impl Timings {
    fn record(&self, op: &'static str, took: Duration, failed: bool) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let t = map.entry(op).or_insert(OpTiming {
            op,
            count: 0,
            total_seconds: 0.0,
            errors: 0,
        });
        t.count += 1;
        t.total_seconds += took.as_secs_f64();
        if failed {
            t.errors += 1;
        }
    }

    fn snapshot(&self) -> Vec<OpTiming> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<OpTiming> = map.values().cloned().collect();
        out.sort_by_key(|t| t.op);
        out
    }
}

#[async_trait]
impl MetadataStore for PgStore {
    fn engine(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<()> {
        self.timed("ping", async {
            let conn = self.pool.get().await?;
            conn.db().batch_execute("SELECT 1").await
        })
        .await
    }

    async fn close(&self) {
        self.pool.close();
    }

    fn timings(&self) -> Vec<OpTiming> {
        self.timings.snapshot()
    }

    async fn create_workspace(&self, name: &WorkspaceName, description: &str) -> Result<Workspace> {
        self.timed("create_workspace", self.ws_create(name, description))
            .await
    }

    async fn get_workspace(&self, name: &WorkspaceName) -> Result<Workspace> {
        self.timed("get_workspace", self.ws_get(name)).await
    }

    async fn list_workspaces(&self, page: &PageRequest) -> Result<Page<Workspace>> {
        self.timed("list_workspaces", self.ws_list(page)).await
    }

    async fn create_experiment(&self, ws: &WorkspaceName, e: NewExperiment) -> Result<Experiment> {
        self.timed("create_experiment", self.exp_create(ws, e))
            .await
    }

    async fn get_experiment(&self, ws: &WorkspaceName, id: ExperimentId) -> Result<Experiment> {
        self.timed("get_experiment", self.exp_get(ws, id)).await
    }

    async fn get_experiment_by_name(&self, ws: &WorkspaceName, name: &str) -> Result<Experiment> {
        self.timed("get_experiment_by_name", self.exp_get_by_name(ws, name))
            .await
    }

    async fn list_experiments(
        &self,
        ws: &WorkspaceName,
        view: ViewType,
        page: &PageRequest,
    ) -> Result<Page<Experiment>> {
        self.timed("list_experiments", self.exp_list(ws, view, page))
            .await
    }

    async fn rename_experiment(
        &self,
        ws: &WorkspaceName,
        id: ExperimentId,
        new_name: &str,
    ) -> Result<Experiment> {
        self.timed("rename_experiment", self.exp_rename(ws, id, new_name))
            .await
    }

    async fn set_experiment_lifecycle(
        &self,
        ws: &WorkspaceName,
        id: ExperimentId,
        stage: LifecycleStage,
    ) -> Result<Experiment> {
        self.timed(
            "set_experiment_lifecycle",
            self.exp_set_lifecycle(ws, id, stage),
        )
        .await
    }

    async fn set_experiment_tag(
        &self,
        ws: &WorkspaceName,
        id: ExperimentId,
        tag: Tag,
    ) -> Result<()> {
        self.timed("set_experiment_tag", self.exp_set_tag(ws, id, tag))
            .await
    }

    async fn delete_experiment_tag(
        &self,
        ws: &WorkspaceName,
        id: ExperimentId,
        key: &str,
    ) -> Result<()> {
        self.timed("delete_experiment_tag", self.exp_delete_tag(ws, id, key))
            .await
    }

    async fn create_run(&self, ws: &WorkspaceName, r: NewRun) -> Result<Run> {
        self.timed("create_run", self.run_create(ws, r)).await
    }

    async fn get_run(&self, ws: &WorkspaceName, id: &RunId) -> Result<Run> {
        self.timed("get_run", self.run_get(ws, id)).await
    }

    async fn list_runs(
        &self,
        ws: &WorkspaceName,
        q: &RunQuery,
        page: &PageRequest,
    ) -> Result<Page<RunInfo>> {
        self.timed("list_runs", self.run_list(ws, q, page)).await
    }

    async fn update_run(&self, ws: &WorkspaceName, id: &RunId, u: RunUpdate) -> Result<RunInfo> {
        self.timed("update_run", self.run_update(ws, id, u)).await
    }

    async fn set_run_lifecycle(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        stage: LifecycleStage,
    ) -> Result<RunInfo> {
        self.timed("set_run_lifecycle", self.run_set_lifecycle(ws, id, stage))
            .await
    }

    async fn log_batch(&self, ws: &WorkspaceName, id: &RunId, b: LogBatch) -> Result<()> {
        self.timed("log_batch", self.batch_log(ws, id, b, &[]))
            .await
    }

    async fn delete_run_tag(&self, ws: &WorkspaceName, id: &RunId, key: &str) -> Result<()> {
        self.timed("delete_run_tag", self.run_delete_tag(ws, id, key))
            .await
    }

    async fn log_inputs(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        inputs: Vec<DatasetInput>,
    ) -> Result<()> {
        self.timed("log_inputs", self.inputs_log(ws, id, &inputs))
            .await
    }

    async fn log_outputs(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        outputs: Vec<mlplane_core::ModelOutput>,
    ) -> Result<()> {
        self.timed("log_outputs", self.outputs_log(ws, id, &outputs))
            .await
    }

    async fn search_runs(
        &self,
        ws: &WorkspaceName,
        q: &RunSearch,
        page: &PageRequest,
    ) -> Result<Page<Run>> {
        self.timed("search_runs", self.runs_search(ws, q, page))
            .await
    }

    async fn search_experiments(
        &self,
        ws: &WorkspaceName,
        q: &ExperimentSearch,
        page: &PageRequest,
    ) -> Result<Page<Experiment>> {
        self.timed("search_experiments", self.experiments_search(ws, q, page))
            .await
    }

    async fn metric_history(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        key: &str,
        page: &PageRequest,
    ) -> Result<Page<MetricPoint>> {
        self.timed("metric_history", self.history_page(ws, id, key, page))
            .await
    }

    async fn metric_history_sampled(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        key: &str,
        max_points: usize,
    ) -> Result<SampledHistory> {
        self.timed(
            "metric_history_sampled",
            self.history_sampled(ws, id, key, max_points),
        )
        .await
    }

    async fn metric_history_interval(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        key: &str,
        max_points: usize,
        start: Option<i64>,
        end: Option<i64>,
    ) -> Result<Vec<MetricPoint>> {
        self.timed(
            "metric_history_interval",
            self.history_interval(ws, id, key, max_points, start, end),
        )
        .await
    }

    async fn append_log(&self, ws: &WorkspaceName, id: &RunId, data: &str) -> Result<u64> {
        self.timed("append_log", self.log_append(ws, id, data))
            .await
    }

    async fn read_log(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        offset: u64,
        max_bytes: usize,
    ) -> Result<LogChunk> {
        self.timed("read_log", self.log_read(ws, id, offset, max_bytes))
            .await
    }

    async fn record_artifact(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        entry: ArtifactEntry,
    ) -> Result<()> {
        self.timed("record_artifact", self.artifact_record(ws, id, entry))
            .await
    }

    async fn get_artifact(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        path: &ArtifactPath,
    ) -> Result<ArtifactEntry> {
        self.timed("get_artifact", self.artifact_get(ws, id, path))
            .await
    }

    async fn list_artifacts(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        dir: &ArtifactPath,
    ) -> Result<ArtifactListing> {
        self.timed("list_artifacts", self.artifact_list(ws, id, dir))
            .await
    }

    async fn delete_artifact(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        path: &ArtifactPath,
    ) -> Result<()> {
        self.timed("delete_artifact", self.artifact_delete(ws, id, path))
            .await
    }
}
