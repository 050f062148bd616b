//! `runs/*` and `metrics/get-history`: create, get, update, delete, restore, logging of
//! metrics, params and tags, and metric history.
//!
//! A metric that carries a `model_id` (MLflow 3) is logged to the run and, in the same
//! store write, to that logged model with its `dataset_name`/`dataset_digest`; batches
//! without one take the plain `log_batch` path.
//!
//! MLflow keeps a run's name and user both as fields and as the `mlflow.runName` and
//! `mlflow.user` tags; mlplane keeps them as fields, reads them from either, and shows the
//! name tag in responses (see [`super::views`]).

use super::error::{MlflowError, MlflowResult};
use super::views::{
    self, CreateRun, Empty, HistoryQuery, HistoryView, LogMetric, MetricIn, MetricView, PARENT_TAG,
    RUN_NAME_TAG, RunInfoResponse, RunKey, RunKeyValue, RunRef, RunResponse, USER_TAG, UpdateRun,
};
use super::{MlflowJson, MlflowQuery, Workspace, experiment_id, run_id};
use crate::routes::now_ms;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use mlplane_core::{
    LifecycleStage, LogBatch, Metric, ModelMetricLink, NewRun, Param, RunId, RunStatus, RunUpdate,
    Tag, WorkspaceName, logged_model, validate,
};
use mlplane_store::{Entity, StoreError};

/// MLflow's client reads whole histories; its server's default page is large.
const DEFAULT_HISTORY_PAGE: usize = 25_000;

fn tag_value<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key == key).map(|t| t.value.as_str())
}

pub async fn create(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<CreateRun>,
) -> MlflowResult<Json<RunResponse>> {
    let tags = views::to_tags(req.tags);
    let name = req
        .run_name
        .filter(|n| !n.is_empty())
        .or_else(|| tag_value(&tags, RUN_NAME_TAG).map(String::from))
        .filter(|n| !n.is_empty());
    let user = req
        .user_id
        .filter(|u| !u.is_empty())
        .or_else(|| tag_value(&tags, USER_TAG).map(String::from))
        .unwrap_or_else(|| "unknown".into());
    let parent_run_id = tag_value(&tags, PARENT_TAG).map(RunId::parse).transpose()?;
    let experiment_id = experiment_id(req.experiment_id.as_deref().unwrap_or("0"))?;
    let new = NewRun {
        experiment_id,
        name,
        user,
        start_time: req.start_time.unwrap_or_else(now_ms),
        status: RunStatus::Running,
        parent_run_id,
        tags,
    };
    validate::new_run(&new)?;
    let run = s.store.create_run(&ws, new).await?;
    Ok(Json(RunResponse { run: run.into() }))
}

pub async fn get(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowQuery(q): MlflowQuery<RunRef>,
) -> MlflowResult<Json<RunResponse>> {
    let run = s.store.get_run(&ws, &run_id(&q)?).await?;
    Ok(Json(RunResponse { run: run.into() }))
}

pub async fn update(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<UpdateRun>,
) -> MlflowResult<Json<RunInfoResponse>> {
    let status = match req.status.as_deref() {
        Some(x) => Some(
            views::parse_status(x)
                .ok_or_else(|| MlflowError::invalid(format!("unknown run status '{x}'")))?,
        ),
        None => None,
    };
    let mut v = Vec::new();
    if let Some(n) = &req.run_name {
        validate::run_name_into(&mut v, "run_name", n);
    }
    if req.end_time.is_some_and(|t| t < 0) {
        v.push(mlplane_core::Violation::new(
            "end_time",
            "must not be negative",
        ));
    }
    mlplane_core::Invalid::check(v)?;
    let u = RunUpdate {
        status,
        end_time: req.end_time,
        name: req.run_name.filter(|n| !n.is_empty()),
    };
    let info = s.store.update_run(&ws, &run_id(&req.run)?, u).await?;
    Ok(Json(RunInfoResponse {
        run_info: info.into(),
    }))
}

pub async fn delete(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<RunRef>,
) -> MlflowResult<Json<Empty>> {
    let id = run_id(&req)?;
    s.store
        .set_run_lifecycle(&ws, &id, LifecycleStage::Deleted)
        .await?;
    Ok(Json(Empty {}))
}

pub async fn restore(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<RunRef>,
) -> MlflowResult<Json<Empty>> {
    let id = run_id(&req)?;
    s.store
        .set_run_lifecycle(&ws, &id, LifecycleStage::Active)
        .await?;
    Ok(Json(Empty {}))
}

/// The metric of `m`, and its link to a logged model when it names one (MLflow 3).
fn to_metric(m: MetricIn, now: i64) -> MlflowResult<(Metric, Option<ModelMetricLink>)> {
    let metric = Metric {
        key: m.key,
        value: m.value,
        timestamp: m.timestamp.unwrap_or(now),
        step: m.step.unwrap_or(0),
    };
    let non_empty = |x: Option<String>| x.filter(|v| !v.is_empty());
    let link = match non_empty(m.model_id) {
        None => None,
        Some(raw) => Some(ModelMetricLink {
            model_id: super::logged_models::model_id(&raw)?,
            metric: metric.clone(),
            dataset_name: non_empty(m.dataset_name),
            dataset_digest: non_empty(m.dataset_digest),
        }),
    };
    Ok((metric, link))
}

/// Metric links to logged models, each with the request field it came from (`metrics[3]`).
type NamedLinks = Vec<(String, ModelMetricLink)>;

/// Turns wire metrics into a batch's metrics and their model links.
fn to_metrics(wire: Vec<MetricIn>, now: i64) -> MlflowResult<(Vec<Metric>, NamedLinks)> {
    let mut metrics = Vec::with_capacity(wire.len());
    let mut links = Vec::new();
    for (i, m) in wire.into_iter().enumerate() {
        let (metric, link) = to_metric(m, now)?;
        metrics.push(metric);
        if let Some(l) = link {
            links.push((format!("metrics[{i}]"), l));
        }
    }
    Ok((metrics, links))
}

/// Validates a batch and logs it, with the metrics linked to logged models also logged to
/// them; a `mlflow.runName` tag also renames the run.
async fn log(
    s: &AppState,
    ws: &WorkspaceName,
    id: &RunId,
    b: LogBatch,
    links: NamedLinks,
) -> MlflowResult<()> {
    validate::log_batch(&b)?;
    let rename = tag_value(&b.tags, RUN_NAME_TAG)
        .filter(|n| !n.is_empty())
        .map(String::from);
    if links.is_empty() {
        s.store.log_batch(ws, id, b).await?;
    } else {
        let named: Vec<(String, &ModelMetricLink)> =
            links.iter().map(|(f, l)| (f.clone(), l)).collect();
        logged_model::model_metric_links(&named)?;
        let links = links.into_iter().map(|(_, l)| l).collect();
        s.store
            .log_batch_with_model_metrics(ws, id, b, links)
            .await?;
    }
    if let Some(name) = rename {
        let u = RunUpdate {
            name: Some(name),
            ..RunUpdate::default()
        };
        s.store.update_run(ws, id, u).await?;
    }
    Ok(())
}

pub async fn log_metric(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<LogMetric>,
) -> MlflowResult<Json<Empty>> {
    let id = run_id(&req.run)?;
    let m = MetricIn {
        key: req.key,
        value: req.value,
        timestamp: req.timestamp,
        step: req.step,
        model_id: req.model_id,
        dataset_name: req.dataset_name,
        dataset_digest: req.dataset_digest,
    };
    let (metrics, links) = to_metrics(vec![m], now_ms())?;
    let b = LogBatch {
        metrics,
        ..LogBatch::default()
    };
    log(&s, &ws, &id, b, links).await?;
    Ok(Json(Empty {}))
}

pub async fn log_param(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<RunKeyValue>,
) -> MlflowResult<Json<Empty>> {
    let id = run_id(&req.run)?;
    let b = LogBatch {
        params: vec![Param {
            key: req.key,
            value: req.value,
        }],
        ..LogBatch::default()
    };
    log(&s, &ws, &id, b, Vec::new()).await?;
    Ok(Json(Empty {}))
}

pub async fn set_tag(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<RunKeyValue>,
) -> MlflowResult<Json<Empty>> {
    let id = run_id(&req.run)?;
    let b = LogBatch {
        tags: vec![Tag {
            key: req.key,
            value: req.value,
        }],
        ..LogBatch::default()
    };
    log(&s, &ws, &id, b, Vec::new()).await?;
    Ok(Json(Empty {}))
}

pub async fn delete_tag(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<RunKey>,
) -> MlflowResult<Json<Empty>> {
    let id = run_id(&req.run)?;
    s.store.delete_run_tag(&ws, &id, &req.key).await?;
    Ok(Json(Empty {}))
}

/// `runs/log-inputs`: records the datasets a run read. Model inputs (MLflow 3) must exist
/// and are not recorded yet.
pub async fn log_inputs(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<views::LogInputs>,
) -> MlflowResult<Json<Empty>> {
    let id = run_id(&req.run)?;
    super::logged_models::check_run_and_models(&s, &ws, &id, &req.models).await?;
    let inputs: Vec<mlplane_core::DatasetInput> =
        req.datasets.into_iter().map(Into::into).collect();
    validate::dataset_inputs(&inputs)?;
    s.store.log_inputs(&ws, &id, inputs).await?;
    Ok(Json(Empty {}))
}

pub async fn log_batch(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<views::LogBatch>,
) -> MlflowResult<Json<Empty>> {
    let id = run_id(&RunRef {
        run_id: req.run_id,
        run_uuid: req.run_uuid,
    })?;
    let (metrics, links) = to_metrics(req.metrics, now_ms())?;
    let b = LogBatch {
        metrics,
        params: req
            .params
            .into_iter()
            .map(|p| Param {
                key: p.key,
                value: p.value,
            })
            .collect(),
        tags: views::to_tags(req.tags),
    };
    log(&s, &ws, &id, b, links).await?;
    Ok(Json(Empty {}))
}

pub async fn history(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowQuery(q): MlflowQuery<HistoryQuery>,
) -> MlflowResult<Json<HistoryView>> {
    let id = run_id(&q.run)?;
    let max_results = match q.max_results.as_deref() {
        None | Some("") => DEFAULT_HISTORY_PAGE,
        Some(n) => n
            .parse::<usize>()
            .map_err(|_| MlflowError::invalid("max_results must be a non-negative integer"))?,
    };
    let page = mlplane_core::PageRequest {
        max_results,
        page_token: q.page_token.filter(|t| !t.is_empty()),
    };
    let p = match s.store.metric_history(&ws, &id, &q.metric_key, &page).await {
        Ok(p) => p,
        // MLflow answers an empty history for a metric the run never logged.
        Err(StoreError::NotFound {
            entity: Entity::Metric,
            ..
        }) => mlplane_core::Page {
            items: Vec::new(),
            next_page_token: None,
        },
        Err(e) => return Err(e.into()),
    };
    Ok(Json(HistoryView {
        metrics: p
            .items
            .into_iter()
            .map(|pt| MetricView::from_point(&q.metric_key, pt))
            .collect(),
        next_page_token: p.next_page_token,
    }))
}
