//! `/api/v1/workspaces/{ws}/runs`: runs, their params, metrics, tags and log stream.

use super::{experiment_id, now_ms, page, run_id, view, workspace};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{AppJson, AppPath, AppQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use mlplane_api::{
    AppendLogRequest, AppendLogResponse, CreateRunRequest, ErrorBody, HistoryQuery, KeyQuery,
    KeyValue, LogBatchRequest, LogChunkView, LogQuery, MetricHistoryView, MetricInput, RunInfoView,
    RunList, RunListQuery, RunView, SampledHistoryView, SampledQuery, UpdateRunRequest,
};
use mlplane_core::limits::MAX_LOG_READ_BYTES;
use mlplane_core::{
    ExperimentId, Invalid, LifecycleStage, LogBatch, Metric, NewRun, Param, RunStatus, RunUpdate,
    Tag, validate,
};
use mlplane_store::RunQuery;

type RunPath = AppPath<(String, String)>;

fn status(field: &str, s: &str) -> ApiResult<RunStatus> {
    s.parse::<RunStatus>()
        .map_err(|e| Invalid::one(field, e.to_string()).into())
}

fn tags(kvs: Vec<KeyValue>) -> Vec<Tag> {
    kvs.into_iter()
        .map(|t| Tag {
            key: t.key,
            value: t.value,
        })
        .collect()
}

#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/runs", tag = "runs",
    params(("ws" = String, Path)), request_body = CreateRunRequest,
    responses((status = 201, body = RunView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    AppPath(ws): AppPath<String>,
    AppJson(req): AppJson<CreateRunRequest>,
) -> ApiResult<(StatusCode, Json<RunView>)> {
    let ws = workspace(&ws)?;
    let experiment_id = match req.experiment_id.as_deref() {
        Some(id) => experiment_id(id)?,
        None => s
            .store
            .get_experiment_by_name(&ws, "Default")
            .await
            .map(|e| e.id)
            .unwrap_or(ExperimentId(0)),
    };
    let st = match req.status.as_deref() {
        Some(x) => status("status", x)?,
        None => RunStatus::Running,
    };
    let new = NewRun {
        experiment_id,
        name: req.name,
        user: req.user.unwrap_or_else(|| "anonymous".into()),
        start_time: req.start_time.unwrap_or_else(now_ms),
        status: st,
        parent_run_id: req.parent_run_id.as_deref().map(run_id).transpose()?,
        tags: tags(req.tags),
    };
    validate::new_run(&new)?;
    let run = s.store.create_run(&ws, new).await?;
    Ok((StatusCode::CREATED, Json(run.into())))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/runs", tag = "runs",
    params(("ws" = String, Path), RunListQuery),
    responses((status = 200, body = RunList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    AppPath(ws): AppPath<String>,
    AppQuery(q): AppQuery<RunListQuery>,
) -> ApiResult<Json<RunList>> {
    let ws = workspace(&ws)?;
    let split = |v: &Option<String>| -> Vec<String> {
        v.as_deref()
            .map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    };
    let query = RunQuery {
        experiment_ids: split(&q.experiment_id)
            .iter()
            .map(|e| experiment_id(e))
            .collect::<ApiResult<_>>()?,
        view: view(q.view.as_deref())?,
        statuses: split(&q.status)
            .iter()
            .map(|x| status("status", x))
            .collect::<ApiResult<_>>()?,
        parent_run_id: q.parent_run_id.as_deref().map(run_id).transpose()?,
    };
    let p = s
        .store
        .list_runs(&ws, &query, &page(q.max_results, q.page_token))
        .await?;
    Ok(Json(RunList {
        items: p.items.into_iter().map(Into::into).collect(),
        next_page_token: p.next_page_token,
    }))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/runs/{run_id}", tag = "runs",
    params(("ws" = String, Path), ("run_id" = String, Path)),
    responses((status = 200, body = RunView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(s): State<AppState>,
    AppPath((ws, id)): RunPath,
) -> ApiResult<Json<RunView>> {
    Ok(Json(
        s.store
            .get_run(&workspace(&ws)?, &run_id(&id)?)
            .await?
            .into(),
    ))
}

#[utoipa::path(patch, path = "/api/v1/workspaces/{ws}/runs/{run_id}", tag = "runs",
    params(("ws" = String, Path), ("run_id" = String, Path)), request_body = UpdateRunRequest,
    responses((status = 200, body = RunInfoView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    State(s): State<AppState>,
    AppPath((ws, id)): RunPath,
    AppJson(req): AppJson<UpdateRunRequest>,
) -> ApiResult<Json<RunInfoView>> {
    let mut v = Vec::new();
    if let Some(n) = &req.name {
        validate::run_name_into(&mut v, "name", n);
    }
    if req.end_time.is_some_and(|t| t < 0) {
        v.push(mlplane_core::Violation::new(
            "end_time",
            "must not be negative",
        ));
    }
    Invalid::check(v)?;
    let u = RunUpdate {
        status: req
            .status
            .as_deref()
            .map(|x| status("status", x))
            .transpose()?,
        end_time: req.end_time,
        name: req.name,
    };
    Ok(Json(
        s.store
            .update_run(&workspace(&ws)?, &run_id(&id)?, u)
            .await?
            .into(),
    ))
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{ws}/runs/{run_id}", tag = "runs",
    params(("ws" = String, Path), ("run_id" = String, Path)),
    responses((status = 200, body = RunInfoView), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(s): State<AppState>,
    AppPath((ws, id)): RunPath,
) -> ApiResult<Json<RunInfoView>> {
    Ok(Json(
        s.store
            .set_run_lifecycle(&workspace(&ws)?, &run_id(&id)?, LifecycleStage::Deleted)
            .await?
            .into(),
    ))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/runs/{run_id}/restore", tag = "runs",
    params(("ws" = String, Path), ("run_id" = String, Path)),
    responses((status = 200, body = RunInfoView), (status = 404, body = ErrorBody)))]
pub async fn restore(
    State(s): State<AppState>,
    AppPath((ws, id)): RunPath,
) -> ApiResult<Json<RunInfoView>> {
    Ok(Json(
        s.store
            .set_run_lifecycle(&workspace(&ws)?, &run_id(&id)?, LifecycleStage::Active)
            .await?
            .into(),
    ))
}

fn to_metric(m: MetricInput, now: i64) -> Metric {
    Metric {
        key: m.key,
        value: m.value,
        timestamp: m.timestamp.unwrap_or(now),
        step: m.step.unwrap_or(0),
    }
}

#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/runs/{run_id}/batch", tag = "runs",
    params(("ws" = String, Path), ("run_id" = String, Path)), request_body = LogBatchRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn log_batch(
    State(s): State<AppState>,
    AppPath((ws, id)): RunPath,
    AppJson(req): AppJson<LogBatchRequest>,
) -> ApiResult<StatusCode> {
    let (ws, id) = (workspace(&ws)?, run_id(&id)?);
    let now = now_ms();
    let batch = LogBatch {
        metrics: req.metrics.into_iter().map(|m| to_metric(m, now)).collect(),
        params: req
            .params
            .into_iter()
            .map(|p| Param {
                key: p.key,
                value: p.value,
            })
            .collect(),
        tags: tags(req.tags),
    };
    validate::log_batch(&batch)?;
    s.store.log_batch(&ws, &id, batch).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/runs/{run_id}/metrics", tag = "runs",
    params(("ws" = String, Path), ("run_id" = String, Path)), request_body = MetricInput,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn log_metric(
    State(s): State<AppState>,
    AppPath((ws, id)): RunPath,
    AppJson(m): AppJson<MetricInput>,
) -> ApiResult<StatusCode> {
    let metric = to_metric(m, now_ms());
    validate::metric(&metric)?;
    let batch = LogBatch {
        metrics: vec![metric],
        ..Default::default()
    };
    s.store
        .log_batch(&workspace(&ws)?, &run_id(&id)?, batch)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/runs/{run_id}/params", tag = "runs",
    params(("ws" = String, Path), ("run_id" = String, Path)), request_body = KeyValue,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn log_param(
    State(s): State<AppState>,
    AppPath((ws, id)): RunPath,
    AppJson(kv): AppJson<KeyValue>,
) -> ApiResult<StatusCode> {
    let p = Param {
        key: kv.key,
        value: kv.value,
    };
    validate::param(&p)?;
    let batch = LogBatch {
        params: vec![p],
        ..Default::default()
    };
    s.store
        .log_batch(&workspace(&ws)?, &run_id(&id)?, batch)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/runs/{run_id}/tags", tag = "runs",
    params(("ws" = String, Path), ("run_id" = String, Path)), request_body = KeyValue,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_tag(
    State(s): State<AppState>,
    AppPath((ws, id)): RunPath,
    AppJson(kv): AppJson<KeyValue>,
) -> ApiResult<StatusCode> {
    let t = Tag {
        key: kv.key,
        value: kv.value,
    };
    validate::tag(&t)?;
    let batch = LogBatch {
        tags: vec![t],
        ..Default::default()
    };
    s.store
        .log_batch(&workspace(&ws)?, &run_id(&id)?, batch)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{ws}/runs/{run_id}/tags", tag = "runs",
    params(("ws" = String, Path), ("run_id" = String, Path), KeyQuery),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_tag(
    State(s): State<AppState>,
    AppPath((ws, id)): RunPath,
    AppQuery(q): AppQuery<KeyQuery>,
) -> ApiResult<StatusCode> {
    s.store
        .delete_run_tag(&workspace(&ws)?, &run_id(&id)?, &q.key)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/runs/{run_id}/metric-history", tag = "runs",
    params(("ws" = String, Path), ("run_id" = String, Path), HistoryQuery),
    responses((status = 200, body = MetricHistoryView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn history(
    State(s): State<AppState>,
    AppPath((ws, id)): RunPath,
    AppQuery(q): AppQuery<HistoryQuery>,
) -> ApiResult<Json<MetricHistoryView>> {
    let p = s
        .store
        .metric_history(
            &workspace(&ws)?,
            &run_id(&id)?,
            &q.key,
            &page(q.max_results, q.page_token),
        )
        .await?;
    Ok(Json(MetricHistoryView {
        key: q.key,
        points: p.items.into_iter().map(Into::into).collect(),
        next_page_token: p.next_page_token,
    }))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/runs/{run_id}/metric-history/sampled", tag = "runs",
    params(("ws" = String, Path), ("run_id" = String, Path), SampledQuery),
    responses((status = 200, body = SampledHistoryView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn sampled(
    State(s): State<AppState>,
    AppPath((ws, id)): RunPath,
    AppQuery(q): AppQuery<SampledQuery>,
) -> ApiResult<Json<SampledHistoryView>> {
    let (ws, id, max_points) = (workspace(&ws)?, run_id(&id)?, q.max_points.unwrap_or(1000));
    if q.start_step.is_some() || q.end_step.is_some() {
        if !(1..=10_000).contains(&max_points) {
            return Err(Invalid::one("max_points", "must be between 1 and 10000").into());
        }
        let points = s
            .store
            .metric_history_interval(&ws, &id, &q.key, max_points, q.start_step, q.end_step)
            .await?;
        return Ok(Json(SampledHistoryView {
            key: q.key,
            total_points: points.len() as u64,
            downsampled: points.len() >= max_points,
            points: points.into_iter().map(Into::into).collect(),
        }));
    }
    let h = s
        .store
        .metric_history_sampled(&ws, &id, &q.key, max_points)
        .await?;
    Ok(Json(SampledHistoryView {
        key: q.key,
        points: h.points.into_iter().map(Into::into).collect(),
        total_points: h.total_points,
        downsampled: h.downsampled,
    }))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/runs/{run_id}/logs", tag = "runs",
    params(("ws" = String, Path), ("run_id" = String, Path)), request_body = AppendLogRequest,
    responses((status = 200, body = AppendLogResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn append_log(
    State(s): State<AppState>,
    AppPath((ws, id)): RunPath,
    AppJson(req): AppJson<AppendLogRequest>,
) -> ApiResult<Json<AppendLogResponse>> {
    let length = s
        .store
        .append_log(&workspace(&ws)?, &run_id(&id)?, &req.data)
        .await?;
    Ok(Json(AppendLogResponse { length }))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/runs/{run_id}/logs", tag = "runs",
    params(("ws" = String, Path), ("run_id" = String, Path), LogQuery),
    responses((status = 200, body = LogChunkView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn read_log(
    State(s): State<AppState>,
    AppPath((ws, id)): RunPath,
    AppQuery(q): AppQuery<LogQuery>,
) -> ApiResult<Json<LogChunkView>> {
    let max = q.max_bytes.unwrap_or(1 << 20);
    if max == 0 || max > MAX_LOG_READ_BYTES {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            format!("max_bytes: must be between 1 and {MAX_LOG_READ_BYTES}"),
        ));
    }
    let c = s
        .store
        .read_log(&workspace(&ws)?, &run_id(&id)?, q.offset.unwrap_or(0), max)
        .await?;
    Ok(Json(c.into()))
}
