//! The [`LoggedModelStore`] trait (MLflow 3 logged models, their metrics and artifact
//! records) and the engine-independent parts of it: search paging (artifact listings are
//! shaped by `rules`).
//!
//! Model metrics (table `logged_model_metrics`, migration 10) are written only together with
//! the run batch they came in ([`LoggedModelStore::log_batch_with_model_metrics`]), keyed by
//! (model, key, timestamp, step, run) like MLflow's; logging the same key again there keeps
//! the first value.
//!
//! Model artifact records live apart from run artifact records (table
//! `logged_model_artifacts`), keyed by model id and path; the bytes live in
//! `mlplane-artifacts` under `{ws}/{experiment_id}/models/{model_id}/artifacts/{path}`.
//!
//! Search: an engine loads the live models of the requested experiments (with params, tags
//! and metrics) and [`search_page`] filters, orders and pages them in memory. Page tokens are signed
//! cursors holding the offset, bound to the workspace and the whole query.
//!
//! Invariants:
//! - every method is scoped by workspace; a model of another workspace, or a deleted one, is
//!   `NotFound`;
//! - a model is created only in an active experiment of its workspace, and its source run,
//!   if any, exists in the same workspace;
//! - params are immutable: logging a key again with another value is `ParamConflict`;
//! - a search page holds at most [`MAX_LOGGED_MODEL_PAGE`] models.

use crate::{Result, StoreError};
use async_trait::async_trait;
use mlplane_core::limits::MAX_LOGGED_MODEL_PAGE;
use mlplane_core::logged_model::{ModelDatasetFilter, ModelOrder, compare, matches};
use mlplane_core::search::Filter;
use mlplane_core::{
    ArtifactEntry, ArtifactListing, ArtifactPath, Cursor, CursorValue, ExperimentId, Invalid,
    LogBatch, LoggedModel, LoggedModelId, LoggedModelStatus, ModelMetricLink, NewLoggedModel, Page,
    PageRequest, Param, RunId, Tag, TokenCodec, TokenError, WorkspaceName,
};

/// A logged model search.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoggedModelQuery {
    /// At least one experiment.
    pub experiment_ids: Vec<ExperimentId>,
    /// Parsed with `mlplane_core::search::parse_logged_model_filter`.
    pub filter: Filter,
    /// The filter as given, which binds page tokens to it.
    pub filter_text: String,
    /// Empty means newest first.
    pub order: Vec<ModelOrder>,
    /// When not empty, metric clauses only see metrics of these datasets, and without metric
    /// clauses only models with a metric on one of them match.
    pub datasets: Vec<ModelDatasetFilter>,
}

/// Logged models and their artifact records.
#[async_trait]
pub trait LoggedModelStore: Send + Sync + 'static {
    /// Creates a model with status `Pending` in an active experiment.
    async fn create_logged_model(
        &self,
        ws: &WorkspaceName,
        m: NewLoggedModel,
    ) -> Result<LoggedModel>;
    async fn get_logged_model(&self, ws: &WorkspaceName, id: &LoggedModelId)
    -> Result<LoggedModel>;
    /// Sets the status (and message) and bumps the update time.
    async fn finalize_logged_model(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        status: LoggedModelStatus,
        message: Option<String>,
    ) -> Result<LoggedModel>;
    /// Soft delete: the model disappears from get and search.
    async fn delete_logged_model(&self, ws: &WorkspaceName, id: &LoggedModelId) -> Result<()>;
    /// Logs params; an existing key with another value is `ParamConflict` and nothing is
    /// written.
    async fn log_logged_model_params(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        params: Vec<Param>,
    ) -> Result<()>;
    /// Sets (inserts or replaces) tags.
    async fn set_logged_model_tags(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        tags: Vec<Tag>,
    ) -> Result<()>;
    /// Deletes one tag; a missing tag is `NotFound`.
    async fn delete_logged_model_tag(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        key: &str,
    ) -> Result<()>;
    async fn search_logged_models(
        &self,
        ws: &WorkspaceName,
        q: &LoggedModelQuery,
        page: &PageRequest,
    ) -> Result<Page<LoggedModel>>;
    /// Logs a run batch as `MetadataStore::log_batch` does and, in the same transaction,
    /// each linked metric to its model (tagged with the run); a model that is missing or
    /// deleted in `ws` is `NotFound` and nothing is written. A model metric that is already
    /// stored for the same (key, timestamp, step, run) keeps its first value.
    async fn log_batch_with_model_metrics(
        &self,
        ws: &WorkspaceName,
        run: &RunId,
        batch: LogBatch,
        links: Vec<ModelMetricLink>,
    ) -> Result<()>;

    /// Records (or replaces) a stored model file; call only after the bytes are durable.
    async fn record_model_artifact(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        entry: ArtifactEntry,
    ) -> Result<()>;
    async fn get_model_artifact(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        path: &ArtifactPath,
    ) -> Result<ArtifactEntry>;
    /// Files and sub-directories directly under `dir`.
    async fn list_model_artifacts(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        dir: &ArtifactPath,
    ) -> Result<ArtifactListing>;
    async fn delete_model_artifact(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        path: &ArtifactPath,
    ) -> Result<()>;
}

/// Checks the query before an engine loads anything.
pub(crate) fn check_query(q: &LoggedModelQuery, page: &PageRequest) -> Result<usize> {
    if q.experiment_ids.is_empty() {
        return Err(StoreError::Invalid(Invalid::one(
            "experiment_ids",
            "at least one experiment id is required",
        )));
    }
    crate::rules::page_size(page, MAX_LOGGED_MODEL_PAGE)
}

fn scope(ws: &WorkspaceName, q: &LoggedModelQuery) -> String {
    let exps: Vec<String> = q.experiment_ids.iter().map(|e| e.to_string()).collect();
    let order: Vec<String> = q
        .order
        .iter()
        .map(|o| format!("{:?}{}", o.field, o.ascending))
        .collect();
    // The scope is compared, not stored: the token keeps only its MAC-bound hash.
    let datasets: Vec<String> = q
        .datasets
        .iter()
        .map(|d| format!("{}/{:?}", d.name, d.digest))
        .collect();
    let text = format!(
        "{ws}|{}|{}|{}|{}",
        exps.join(","),
        order.join(","),
        datasets.join(","),
        q.filter_text
    );
    format!("logged-models:{:016x}", fnv1a(text.as_bytes()))
}

/// 64-bit FNV-1a; enough to tell queries apart inside an already signed token.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

/// Filters, orders and pages the live models an engine loaded for `q`.
pub(crate) fn search_page(
    codec: &TokenCodec,
    ws: &WorkspaceName,
    q: &LoggedModelQuery,
    page: &PageRequest,
    size: usize,
    mut models: Vec<LoggedModel>,
) -> Result<Page<LoggedModel>> {
    let scope = scope(ws, q);
    let offset = match &page.page_token {
        None => 0,
        Some(t) => match codec.decode(t, &scope)?.as_slice() {
            [CursorValue::Int(n)] if *n >= 0 => usize::try_from(*n).unwrap_or(usize::MAX),
            _ => return Err(StoreError::PageToken(TokenError::Malformed)),
        },
    };
    models.retain(|m| matches(m, &q.filter, &q.datasets));
    let order: &[ModelOrder] = if q.order.is_empty() {
        &[mlplane_core::logged_model::DEFAULT_MODEL_ORDER]
    } else {
        &q.order
    };
    models.sort_by(|a, b| compare(a, b, order));
    let total = models.len();
    let items: Vec<LoggedModel> = models.into_iter().skip(offset).take(size).collect();
    let next = offset.saturating_add(items.len());
    let next_page_token = (next < total).then(|| {
        codec.encode(&Cursor {
            scope,
            position: vec![CursorValue::Int(i64::try_from(next).unwrap_or(i64::MAX))],
        })
    });
    Ok(Page {
        items,
        next_page_token,
    })
}

/// Refuses a params batch that repeats a key with different values.
pub(crate) fn check_params_batch(params: &[Param]) -> Result<()> {
    for (i, p) in params.iter().enumerate() {
        if let Some(q) = params[..i]
            .iter()
            .find(|q| q.key == p.key && q.value != p.value)
        {
            return Err(StoreError::ParamConflict {
                key: p.key.clone(),
                old: q.value.clone(),
                new: p.value.clone(),
            });
        }
    }
    Ok(())
}
