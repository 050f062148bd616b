//! `MetadataStore` for [`SqliteStore`]: each method clones its arguments into a closure and
//! runs it on the writer (writes) or a reader (reads).

use super::{Db, OpTiming, Result, SqliteStore, files, logged_models, metrics, ops, runs, search};
use crate::logged_models::{check_query, search_page};
use crate::{
    ExperimentSearch, LoggedModelQuery, LoggedModelStore, MetadataStore, RunQuery, RunSearch,
    SampledHistory,
};
use async_trait::async_trait;
use mlplane_core::{
    ArtifactEntry, ArtifactListing, ArtifactPath, DatasetInput, Experiment, ExperimentId,
    LifecycleStage, LogBatch, LogChunk, MetricPoint, NewExperiment, NewRun, Page, PageRequest, Run,
    RunId, RunInfo, RunUpdate, Tag, ViewType, Workspace, WorkspaceName,
};
use mlplane_core::{
    LoggedModel, LoggedModelId, LoggedModelStatus, ModelMetricLink, NewLoggedModel, Param,
};
use std::sync::Arc;

#[async_trait]
impl MetadataStore for SqliteStore {
    fn engine(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<()> {
        self.read("ping", |c| c.query_row("SELECT 1", [], |_| Ok(())).db())
            .await
    }

    async fn close(&self) {
        self.shutdown().await;
    }

    fn timings(&self) -> Vec<OpTiming> {
        self.timings_snapshot()
    }

    async fn create_workspace(&self, name: &WorkspaceName, description: &str) -> Result<Workspace> {
        let (name, description) = (name.clone(), description.to_string());
        self.write("create_workspace", move |c| {
            ops::create_workspace(c, &name, &description)
        })
        .await
    }

    async fn get_workspace(&self, name: &WorkspaceName) -> Result<Workspace> {
        let name = name.clone();
        self.read("get_workspace", move |c| ops::get_workspace(c, &name))
            .await
    }

    async fn list_workspaces(&self, page: &PageRequest) -> Result<Page<Workspace>> {
        let (page, codec) = (page.clone(), self.codec().clone());
        self.read("list_workspaces", move |c| {
            ops::list_workspaces(c, &codec, &page)
        })
        .await
    }

    async fn create_experiment(&self, ws: &WorkspaceName, e: NewExperiment) -> Result<Experiment> {
        let ws = ws.clone();
        self.write("create_experiment", move |c| {
            ops::create_experiment(c, &ws, &e)
        })
        .await
    }

    async fn get_experiment(&self, ws: &WorkspaceName, id: ExperimentId) -> Result<Experiment> {
        let ws = ws.clone();
        self.read("get_experiment", move |c| ops::get_experiment(c, &ws, id))
            .await
    }

    async fn get_experiment_by_name(&self, ws: &WorkspaceName, name: &str) -> Result<Experiment> {
        let (ws, name) = (ws.clone(), name.to_string());
        self.read("get_experiment_by_name", move |c| {
            ops::get_experiment_by_name(c, &ws, &name)
        })
        .await
    }

    async fn list_experiments(
        &self,
        ws: &WorkspaceName,
        view: ViewType,
        page: &PageRequest,
    ) -> Result<Page<Experiment>> {
        let (ws, page, codec) = (ws.clone(), page.clone(), self.codec().clone());
        self.read("list_experiments", move |c| {
            ops::list_experiments(c, &codec, &ws, view, &page)
        })
        .await
    }

    async fn rename_experiment(
        &self,
        ws: &WorkspaceName,
        id: ExperimentId,
        new_name: &str,
    ) -> Result<Experiment> {
        let (ws, new_name) = (ws.clone(), new_name.to_string());
        self.write("rename_experiment", move |c| {
            ops::rename_experiment(c, &ws, id, &new_name)
        })
        .await
    }

    async fn set_experiment_lifecycle(
        &self,
        ws: &WorkspaceName,
        id: ExperimentId,
        stage: LifecycleStage,
    ) -> Result<Experiment> {
        let ws = ws.clone();
        self.write("set_experiment_lifecycle", move |c| {
            ops::set_experiment_lifecycle(c, &ws, id, stage)
        })
        .await
    }

    async fn set_experiment_tag(
        &self,
        ws: &WorkspaceName,
        id: ExperimentId,
        tag: Tag,
    ) -> Result<()> {
        let ws = ws.clone();
        self.write("set_experiment_tag", move |c| {
            ops::set_experiment_tag(c, &ws, id, &tag)
        })
        .await
    }

    async fn delete_experiment_tag(
        &self,
        ws: &WorkspaceName,
        id: ExperimentId,
        key: &str,
    ) -> Result<()> {
        let (ws, key) = (ws.clone(), key.to_string());
        self.write("delete_experiment_tag", move |c| {
            ops::delete_experiment_tag(c, &ws, id, &key)
        })
        .await
    }

    async fn create_run(&self, ws: &WorkspaceName, r: NewRun) -> Result<Run> {
        let ws = ws.clone();
        self.write("create_run", move |c| runs::create_run(c, &ws, &r))
            .await
    }

    async fn get_run(&self, ws: &WorkspaceName, id: &RunId) -> Result<Run> {
        let (ws, id) = (ws.clone(), id.clone());
        self.read("get_run", move |c| runs::get_run(c, &ws, &id))
            .await
    }

    async fn list_runs(
        &self,
        ws: &WorkspaceName,
        q: &RunQuery,
        page: &PageRequest,
    ) -> Result<Page<RunInfo>> {
        let (ws, q, page, codec) = (ws.clone(), q.clone(), page.clone(), self.codec().clone());
        self.read("list_runs", move |c| {
            runs::list_runs(c, &codec, &ws, &q, &page)
        })
        .await
    }

    async fn update_run(&self, ws: &WorkspaceName, id: &RunId, u: RunUpdate) -> Result<RunInfo> {
        let (ws, id) = (ws.clone(), id.clone());
        self.write("update_run", move |c| runs::update_run(c, &ws, &id, &u))
            .await
    }

    async fn set_run_lifecycle(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        stage: LifecycleStage,
    ) -> Result<RunInfo> {
        let (ws, id) = (ws.clone(), id.clone());
        self.write("set_run_lifecycle", move |c| {
            runs::set_run_lifecycle(c, &ws, &id, stage)
        })
        .await
    }

    async fn log_batch(&self, ws: &WorkspaceName, id: &RunId, b: LogBatch) -> Result<()> {
        let (ws, id) = (ws.clone(), id.clone());
        let (b, kept) = freed_here(b);
        let r = self
            .write_checks_first("log_batch", move |c| metrics::log_batch(c, &ws, &id, &b))
            .await;
        drop(kept);
        r
    }

    async fn delete_run_tag(&self, ws: &WorkspaceName, id: &RunId, key: &str) -> Result<()> {
        let (ws, id, key) = (ws.clone(), id.clone(), key.to_string());
        self.write("delete_run_tag", move |c| {
            runs::delete_run_tag(c, &ws, &id, &key)
        })
        .await
    }

    async fn log_inputs(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        inputs: Vec<DatasetInput>,
    ) -> Result<()> {
        let (ws, id) = (ws.clone(), id.clone());
        self.write("log_inputs", move |c| {
            search::log_inputs(c, &ws, &id, &inputs)
        })
        .await
    }

    async fn log_outputs(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        outputs: Vec<mlplane_core::ModelOutput>,
    ) -> Result<()> {
        let (ws, id) = (ws.clone(), id.clone());
        self.write("log_outputs", move |c| {
            logged_models::log_outputs(c, &ws, &id, &outputs)
        })
        .await
    }

    async fn search_runs(
        &self,
        ws: &WorkspaceName,
        q: &RunSearch,
        page: &PageRequest,
    ) -> Result<Page<Run>> {
        let (ws, q, page, codec) = (ws.clone(), q.clone(), page.clone(), self.codec().clone());
        self.read("search_runs", move |c| {
            search::search_runs(c, &codec, &ws, &q, &page)
        })
        .await
    }

    async fn search_experiments(
        &self,
        ws: &WorkspaceName,
        q: &ExperimentSearch,
        page: &PageRequest,
    ) -> Result<Page<Experiment>> {
        let (ws, q, page, codec) = (ws.clone(), q.clone(), page.clone(), self.codec().clone());
        self.read("search_experiments", move |c| {
            search::search_experiments(c, &codec, &ws, &q, &page)
        })
        .await
    }

    async fn metric_history(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        key: &str,
        page: &PageRequest,
    ) -> Result<Page<MetricPoint>> {
        let (ws, id, key, page, codec) = (
            ws.clone(),
            id.clone(),
            key.to_string(),
            page.clone(),
            self.codec().clone(),
        );
        self.read("metric_history", move |c| {
            metrics::metric_history(c, &codec, &ws, &id, &key, &page)
        })
        .await
    }

    async fn metric_history_sampled(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        key: &str,
        max_points: usize,
    ) -> Result<SampledHistory> {
        let (ws, id, key) = (ws.clone(), id.clone(), key.to_string());
        self.read("metric_history_sampled", move |c| {
            metrics::metric_history_sampled(c, &ws, &id, &key, max_points)
        })
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
        let (ws, id, key) = (ws.clone(), id.clone(), key.to_string());
        self.read("metric_history_interval", move |c| {
            metrics::metric_history_interval(c, &ws, &id, &key, max_points, start, end)
        })
        .await
    }

    async fn append_log(&self, ws: &WorkspaceName, id: &RunId, data: &str) -> Result<u64> {
        let (ws, id, data) = (ws.clone(), id.clone(), data.to_string());
        self.write("append_log", move |c| files::append_log(c, &ws, &id, &data))
            .await
    }

    async fn read_log(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        offset: u64,
        max_bytes: usize,
    ) -> Result<LogChunk> {
        let (ws, id) = (ws.clone(), id.clone());
        self.read("read_log", move |c| {
            files::read_log(c, &ws, &id, offset, max_bytes)
        })
        .await
    }

    async fn record_artifact(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        entry: ArtifactEntry,
    ) -> Result<()> {
        let (ws, id) = (ws.clone(), id.clone());
        self.write("record_artifact", move |c| {
            files::record_artifact(c, &ws, &id, &entry)
        })
        .await
    }

    async fn get_artifact(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        path: &ArtifactPath,
    ) -> Result<ArtifactEntry> {
        let (ws, id, path) = (ws.clone(), id.clone(), path.clone());
        self.read("get_artifact", move |c| {
            files::get_artifact(c, &ws, &id, &path)
        })
        .await
    }

    async fn list_artifacts(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        dir: &ArtifactPath,
    ) -> Result<ArtifactListing> {
        let (ws, id, dir) = (ws.clone(), id.clone(), dir.clone());
        self.read("list_artifacts", move |c| {
            files::list_artifacts(c, &ws, &id, &dir)
        })
        .await
    }

    async fn delete_artifact(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        path: &ArtifactPath,
    ) -> Result<()> {
        let (ws, id, path) = (ws.clone(), id.clone(), path.clone());
        self.write("delete_artifact", move |c| {
            files::delete_artifact(c, &ws, &id, &path)
        })
        .await
    }
}

#[async_trait]
impl LoggedModelStore for SqliteStore {
    async fn create_logged_model(
        &self,
        ws: &WorkspaceName,
        m: NewLoggedModel,
    ) -> Result<LoggedModel> {
        let ws = ws.clone();
        self.write("create_logged_model", move |c| {
            logged_models::create(c, &ws, &m)
        })
        .await
    }

    async fn get_logged_model(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
    ) -> Result<LoggedModel> {
        let (ws, id) = (ws.clone(), id.clone());
        self.read("get_logged_model", move |c| logged_models::get(c, &ws, &id))
            .await
    }

    async fn finalize_logged_model(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        status: LoggedModelStatus,
        message: Option<String>,
    ) -> Result<LoggedModel> {
        let (ws, id) = (ws.clone(), id.clone());
        self.write("finalize_logged_model", move |c| {
            logged_models::finalize(c, &ws, &id, status, message.as_deref())
        })
        .await
    }

    async fn delete_logged_model(&self, ws: &WorkspaceName, id: &LoggedModelId) -> Result<()> {
        let (ws, id) = (ws.clone(), id.clone());
        self.write("delete_logged_model", move |c| {
            logged_models::delete(c, &ws, &id)
        })
        .await
    }

    async fn log_logged_model_params(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        params: Vec<Param>,
    ) -> Result<()> {
        let (ws, id) = (ws.clone(), id.clone());
        self.write("log_logged_model_params", move |c| {
            logged_models::log_params(c, &ws, &id, &params)
        })
        .await
    }

    async fn set_logged_model_tags(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        tags: Vec<Tag>,
    ) -> Result<()> {
        let (ws, id) = (ws.clone(), id.clone());
        self.write("set_logged_model_tags", move |c| {
            logged_models::set_tags(c, &ws, &id, &tags)
        })
        .await
    }

    async fn delete_logged_model_tag(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        key: &str,
    ) -> Result<()> {
        let (ws, id, key) = (ws.clone(), id.clone(), key.to_string());
        self.write("delete_logged_model_tag", move |c| {
            logged_models::delete_tag(c, &ws, &id, &key)
        })
        .await
    }

    async fn search_logged_models(
        &self,
        ws: &WorkspaceName,
        q: &LoggedModelQuery,
        page: &PageRequest,
    ) -> Result<Page<LoggedModel>> {
        let size = check_query(q, page)?;
        let (ws, q, page, codec) = (ws.clone(), q.clone(), page.clone(), self.codec().clone());
        self.read("search_logged_models", move |c| {
            let models = logged_models::load(c, &ws, &q.experiment_ids)?;
            search_page(&codec, &ws, &q, &page, size, models)
        })
        .await
    }

    async fn log_batch_with_model_metrics(
        &self,
        ws: &WorkspaceName,
        run: &RunId,
        batch: LogBatch,
        links: Vec<ModelMetricLink>,
    ) -> Result<()> {
        let (ws, run) = (ws.clone(), run.clone());
        let (batch, kept) = freed_here(batch);
        let r = self
            .write("log_batch_with_model_metrics", move |c| {
                logged_models::log_batch_with_models(c, &ws, &run, &batch, &links)
            })
            .await;
        drop(kept);
        r
    }

    async fn record_model_artifact(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        entry: ArtifactEntry,
    ) -> Result<()> {
        let (ws, id) = (ws.clone(), id.clone());
        self.write("record_model_artifact", move |c| {
            logged_models::record_artifact(c, &ws, &id, &entry)
        })
        .await
    }

    async fn get_model_artifact(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        path: &ArtifactPath,
    ) -> Result<ArtifactEntry> {
        let (ws, id, path) = (ws.clone(), id.clone(), path.clone());
        self.read("get_model_artifact", move |c| {
            logged_models::get_artifact(c, &ws, &id, &path)
        })
        .await
    }

    async fn list_model_artifacts(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        dir: &ArtifactPath,
    ) -> Result<ArtifactListing> {
        let (ws, id, dir) = (ws.clone(), id.clone(), dir.clone());
        self.read("list_model_artifacts", move |c| {
            logged_models::list_artifacts(c, &ws, &id, &dir)
        })
        .await
    }

    async fn delete_model_artifact(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        path: &ArtifactPath,
    ) -> Result<()> {
        let (ws, id, path) = (ws.clone(), id.clone(), path.clone());
        self.write("delete_model_artifact", move |c| {
            logged_models::delete_artifact(c, &ws, &id, &path)
        })
        .await
    }
}

/// Shares a batch with the writer so that the caller's handle, dropped after the write,
/// frees it: freeing a thousand metric keys is work the writer thread, which every write
/// waits on, need not do. The writer's handle is dropped before it answers.
fn freed_here(b: LogBatch) -> (Arc<LogBatch>, Arc<LogBatch>) {
    let b = Arc::new(b);
    (b.clone(), b)
}
