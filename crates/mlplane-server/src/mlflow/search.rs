//! `runs/search`, `experiments/search` and `metrics/get-history-bulk-interval`: the MLflow
//! reads that take a filter, an ordering or a list of runs.
//!
//! Invariants:
//! - filters and order_by are parsed by `mlplane_core::search` before the store sees them;
//!   a bad one is INVALID_PARAMETER_VALUE naming the byte position at fault;
//! - `max_results` is checked against MLflow's limits (runs and experiments: 1..=50,000;
//!   bulk history: 1..=2,500 points per run, at most 100 runs);
//! - GET forms read repeated query keys (`order_by=a&order_by=b`), POST forms a JSON body.

use super::error::{MlflowError, MlflowResult};
use super::int64::opt_i64;
use super::views::{ExperimentView, MetricView, RunView};
use super::{MlflowJson, MlflowQuery, Pairs, Workspace, experiment_id};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use mlplane_core::search::{
    FilterError, SearchKind, parse_experiment_filter, parse_order_by, parse_run_filter,
};
use mlplane_core::{PageRequest, RunId, ViewType};
use mlplane_store::{Entity, ExperimentSearch, RunSearch, StoreError};
use serde::{Deserialize, Serialize};

/// Most runs or experiments one search page may ask for.
const MAX_SEARCH_RESULTS: i64 = 50_000;
/// Page size when the request names none.
const DEFAULT_SEARCH_RESULTS: i64 = 1_000;
/// Most runs in one bulk history request.
const MAX_BULK_RUNS: usize = 100;
/// Most points per run in one bulk history request.
const MAX_BULK_POINTS: i64 = 2_500;

fn filter_error(what: &str, input: &str, e: FilterError) -> MlflowError {
    MlflowError::invalid(format!(
        "invalid {what} '{input}' at position {}: {}",
        e.position, e.message
    ))
}

/// A view type as a proto enum name (or its number, as some clients send).
fn view_type(v: Option<&serde_json::Value>) -> MlflowResult<ViewType> {
    let s = match v {
        None | Some(serde_json::Value::Null) => return Ok(ViewType::ActiveOnly),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    match s.as_str() {
        "" | "ACTIVE_ONLY" | "1" => Ok(ViewType::ActiveOnly),
        "DELETED_ONLY" | "2" => Ok(ViewType::DeletedOnly),
        "ALL" | "3" => Ok(ViewType::All),
        other => Err(MlflowError::invalid(format!(
            "invalid view type '{other}': expected ACTIVE_ONLY, DELETED_ONLY or ALL"
        ))),
    }
}

fn page(max_results: Option<i64>, token: Option<String>) -> MlflowResult<PageRequest> {
    let n = max_results.unwrap_or(DEFAULT_SEARCH_RESULTS);
    if !(1..=MAX_SEARCH_RESULTS).contains(&n) {
        return Err(MlflowError::invalid(format!(
            "max_results must be between 1 and {MAX_SEARCH_RESULTS}, got {n}"
        )));
    }
    Ok(PageRequest {
        max_results: n as usize,
        page_token: token.filter(|t| !t.is_empty()),
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct SearchRunsReq {
    #[serde(default)]
    pub experiment_ids: Vec<String>,
    #[serde(default)]
    pub filter: Option<String>,
    #[serde(default)]
    pub run_view_type: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub max_results: Option<i64>,
    #[serde(default)]
    pub order_by: Vec<String>,
    #[serde(default)]
    pub page_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SearchRunsResponse {
    pub runs: Vec<RunView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// `POST runs/search`.
pub async fn runs(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<SearchRunsReq>,
) -> MlflowResult<Response> {
    let filter_text = req.filter.unwrap_or_default();
    let q = RunSearch {
        experiment_ids: req
            .experiment_ids
            .iter()
            .map(|e| experiment_id(e))
            .collect::<MlflowResult<_>>()?,
        view: view_type(req.run_view_type.as_ref())?,
        filter: parse_run_filter(&filter_text)
            .map_err(|e| filter_error("filter", &filter_text, e))?,
        order_by: parse_order_by(&req.order_by, SearchKind::Runs)
            .map_err(|e| filter_error("order_by", &req.order_by.join(", "), e))?,
    };
    let p = s
        .store
        .search_runs(&ws, &q, &page(req.max_results, req.page_token)?)
        .await?;
    let capacity = p.items.len() * RUN_JSON_BYTES;
    sized_json(
        &SearchRunsResponse {
            runs: p.items.into_iter().map(Into::into).collect(),
            next_page_token: p.next_page_token,
        },
        capacity,
    )
}

/// About what one run of a search page takes as JSON (a few metrics, params and tags).
const RUN_JSON_BYTES: usize = 768;

/// A JSON answer written into a buffer sized up front: a page of runs is hundreds of
/// kilobytes, and growing a buffer from a small one copies it at every doubling.
fn sized_json<T: Serialize>(value: &T, capacity: usize) -> MlflowResult<Response> {
    let mut body = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut body, value).map_err(MlflowError::internal)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct SearchExperimentsReq {
    #[serde(default, deserialize_with = "opt_i64")]
    pub max_results: Option<i64>,
    #[serde(default)]
    pub page_token: Option<String>,
    #[serde(default)]
    pub filter: Option<String>,
    #[serde(default)]
    pub order_by: Vec<String>,
    #[serde(default)]
    pub view_type: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct SearchExperimentsResponse {
    pub experiments: Vec<ExperimentView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

async fn search_experiments(
    s: AppState,
    ws: mlplane_core::WorkspaceName,
    req: SearchExperimentsReq,
) -> MlflowResult<Json<SearchExperimentsResponse>> {
    let filter_text = req.filter.unwrap_or_default();
    let q = ExperimentSearch {
        view: view_type(req.view_type.as_ref())?,
        filter: parse_experiment_filter(&filter_text)
            .map_err(|e| filter_error("filter", &filter_text, e))?,
        order_by: parse_order_by(&req.order_by, SearchKind::Experiments)
            .map_err(|e| filter_error("order_by", &req.order_by.join(", "), e))?,
    };
    let p = s
        .store
        .search_experiments(&ws, &q, &page(req.max_results, req.page_token)?)
        .await?;
    Ok(Json(SearchExperimentsResponse {
        experiments: p.items.into_iter().map(Into::into).collect(),
        next_page_token: p.next_page_token,
    }))
}

/// `POST experiments/search`.
pub async fn experiments_post(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<SearchExperimentsReq>,
) -> MlflowResult<Json<SearchExperimentsResponse>> {
    search_experiments(s, ws, req).await
}

/// `GET experiments/search`.
pub async fn experiments_get(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowQuery(q): MlflowQuery<Vec<(String, String)>>,
) -> MlflowResult<Json<SearchExperimentsResponse>> {
    let q = Pairs(q);
    let req = SearchExperimentsReq {
        max_results: q.int("max_results")?,
        page_token: q.first("page_token").map(str::to_string),
        filter: q.first("filter").map(str::to_string),
        order_by: q.all("order_by"),
        view_type: q.first("view_type").map(|v| v.into()),
    };
    search_experiments(s, ws, req).await
}

#[derive(Debug, Serialize)]
pub struct BulkMetricView {
    #[serde(flatten)]
    pub metric: MetricView,
    pub run_id: String,
}

#[derive(Debug, Serialize)]
pub struct BulkHistoryResponse {
    pub metrics: Vec<BulkMetricView>,
}

/// `GET metrics/get-history-bulk-interval`: up to `max_results` points of one metric for
/// each run, optionally within `[start_step, end_step]`, sampled evenly over the window's
/// points as MLflow 3 does (`MetadataStore::metric_history_interval`); the window's first
/// and last point are always among them.
pub async fn history_bulk_interval(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowQuery(q): MlflowQuery<Vec<(String, String)>>,
) -> MlflowResult<Json<BulkHistoryResponse>> {
    let q = Pairs(q);
    let key = q
        .first("metric_key")
        .filter(|k| !k.is_empty())
        .ok_or_else(|| MlflowError::invalid("missing value for required parameter 'metric_key'"))?
        .to_string();
    let raw_ids = q.all("run_ids");
    if raw_ids.is_empty() || raw_ids.len() > MAX_BULK_RUNS {
        return Err(MlflowError::invalid(format!(
            "run_ids must name between 1 and {MAX_BULK_RUNS} runs, got {}",
            raw_ids.len()
        )));
    }
    let max = q.int("max_results")?.unwrap_or(MAX_BULK_POINTS);
    if !(1..=MAX_BULK_POINTS).contains(&max) {
        return Err(MlflowError::invalid(format!(
            "max_results must be between 1 and {MAX_BULK_POINTS}, got {max}"
        )));
    }
    let (start, end) = (q.int("start_step")?, q.int("end_step")?);
    if let (Some(a), Some(b)) = (start, end)
        && a > b
    {
        return Err(MlflowError::invalid(format!(
            "start_step ({a}) must not be greater than end_step ({b})"
        )));
    }
    let mut metrics = Vec::new();
    for raw in &raw_ids {
        let id = RunId::parse(raw)?;
        let points = match s
            .store
            .metric_history_interval(&ws, &id, &key, max as usize, start, end)
            .await
        {
            Ok(points) => points,
            Err(StoreError::NotFound {
                entity: Entity::Metric,
                ..
            }) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        metrics.extend(points.into_iter().map(|p| BulkMetricView {
            metric: MetricView::from_point(&key, p),
            run_id: id.to_string(),
        }));
    }
    Ok(Json(BulkHistoryResponse { metrics }))
}
