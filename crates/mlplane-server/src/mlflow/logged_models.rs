//! MLflow 3 logged models: `logged-models` create, get, finalize, delete, search, params,
//! tags, the artifact listing and the UI's file download, plus `runs/outputs` and `runs/log-inputs`, which a 3.x
//! client calls around `mlflow.<flavor>.log_model`.
//!
//! A model's artifacts go through the artifact proxy under
//! `{ws}/{experiment_id}/models/{model_id}/artifacts/...` (see [`super::artifacts`]).
//!
//! Invariants:
//! - a `model_id` in the body that differs from the one in the path is
//!   INVALID_PARAMETER_VALUE, so a body cannot redirect a write to another model;
//! - a malformed model id that MLflow could have issued is RESOURCE_DOES_NOT_EXIST, other
//!   text is INVALID_PARAMETER_VALUE (as for run ids);
//! - filters are parsed by `mlplane_core::search` and refused with the byte position;
//! - `runs/outputs` records the models a run produced once the run is active and every
//!   model live in the workspace; `runs/log-inputs` checks that the run and models exist
//!   and records only its datasets.

use super::artifacts::file_infos;
use super::error::{MlflowCode, MlflowError, MlflowResult};
use super::model_views::{
    CreateLoggedModel, FinalizeLoggedModel, LogOutputs, LoggedModelView, ModelArtifactFileQuery,
    ModelArtifactsQuery, ModelKeyValues, ModelOrderBy, ModelRef, ModelResponse, SearchLoggedModels,
    SearchLoggedModelsResponse, parse_status, to_params,
};
use super::views::{Empty, RunArtifactsResponse, mlflow_uri, to_tags};
use super::{MlflowJson, MlflowQuery, Workspace, experiment_id, run_id};
use crate::routes::artifacts::file_response;
use crate::state::AppState;
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::Response;
use mlplane_artifacts::{ArtifactKey, ArtifactOwner};
use mlplane_core::logged_model::{self as lm, ModelDatasetFilter, ModelOrder, ModelOrderField};
use mlplane_core::search::parse_logged_model_filter;
use mlplane_core::{
    ArtifactPath, Invalid, LoggedModelId, ModelOutput, NewLoggedModel, PageRequest, RunId,
};
use mlplane_store::LoggedModelQuery;

/// Parses a model id the way [`super::run_id`] parses run ids.
pub(crate) fn model_id(raw: &str) -> MlflowResult<LoggedModelId> {
    LoggedModelId::parse(raw).map_err(|e| {
        let mlflow_shaped = !raw.is_empty()
            && raw.len() <= 256
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if mlflow_shaped {
            MlflowError::new(
                MlflowCode::ResourceDoesNotExist,
                format!("logged model '{raw}' not found"),
            )
        } else {
            e.into()
        }
    })
}

/// The `{model_id}` of a route, in MLflow's error shape.
pub struct ModelPath(pub LoggedModelId);

impl<S: Send + Sync> FromRequestParts<S> for ModelPath {
    type Rejection = MlflowError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = super::PathParams::from_request_parts(parts, state)
            .await?
            .take("model_id")?;
        Ok(ModelPath(model_id(&raw)?))
    }
}

/// The `{model_id}/tags/{tag_key}` of a route, in MLflow's error shape.
pub struct ModelTagPath(pub LoggedModelId, pub String);

impl<S: Send + Sync> FromRequestParts<S> for ModelTagPath {
    type Rejection = MlflowError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let mut params = super::PathParams::from_request_parts(parts, state).await?;
        let (raw, key) = (params.take("model_id")?, params.take("tag_key")?);
        Ok(ModelTagPath(model_id(&raw)?, key))
    }
}

/// Refuses a body whose `model_id` names another model than the path.
fn same_model(path: &LoggedModelId, body: &ModelRef) -> MlflowResult<()> {
    match body.model_id.as_deref() {
        None | Some("") => Ok(()),
        Some(b) if b == path.as_str() => Ok(()),
        Some(b) => Err(MlflowError::invalid(format!(
            "model_id '{b}' in the body does not match '{path}' in the path"
        ))),
    }
}

fn respond(m: mlplane_core::LoggedModel) -> Json<ModelResponse> {
    Json(ModelResponse { model: m.into() })
}

/// `POST logged-models`.
pub async fn create(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<CreateLoggedModel>,
) -> MlflowResult<Json<ModelResponse>> {
    let exp = req.experiment_id.as_deref().ok_or_else(|| {
        MlflowError::invalid("missing value for required parameter 'experiment_id'")
    })?;
    let source_run_id = match req.source_run_id.as_deref() {
        None | Some("") => None,
        Some(r) => Some(RunId::parse(r)?),
    };
    let m = NewLoggedModel {
        experiment_id: experiment_id(exp)?,
        name: req.name.filter(|n| !n.is_empty()),
        model_type: req.model_type.filter(|t| !t.is_empty()),
        source_run_id,
        params: to_params(req.params),
        tags: to_tags(req.tags),
    };
    lm::new_logged_model(&m)?;
    Ok(respond(s.store.create_logged_model(&ws, m).await?))
}

/// `GET logged-models/{model_id}`.
pub async fn get(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    ModelPath(id): ModelPath,
) -> MlflowResult<Json<ModelResponse>> {
    Ok(respond(s.store.get_logged_model(&ws, &id).await?))
}

/// `PATCH logged-models/{model_id}`: finalize with `status`.
pub async fn finalize(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    ModelPath(id): ModelPath,
    MlflowJson(req): MlflowJson<FinalizeLoggedModel>,
) -> MlflowResult<Json<ModelResponse>> {
    same_model(&id, &req.model)?;
    let raw = req.status.as_deref().unwrap_or_default();
    let status = parse_status(raw).ok_or_else(|| {
        MlflowError::invalid(format!(
            "status must be LOGGED_MODEL_READY, LOGGED_MODEL_UPLOAD_FAILED or \
             LOGGED_MODEL_PENDING, got '{raw}'"
        ))
    })?;
    let m = s
        .store
        .finalize_logged_model(&ws, &id, status, req.status_message)
        .await?;
    Ok(respond(m))
}

/// `DELETE logged-models/{model_id}`.
pub async fn delete(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    ModelPath(id): ModelPath,
    MlflowJson(req): MlflowJson<ModelRef>,
) -> MlflowResult<Json<Empty>> {
    same_model(&id, &req)?;
    s.store.delete_logged_model(&ws, &id).await?;
    Ok(Json(Empty {}))
}

/// `POST logged-models/{model_id}/params`.
pub async fn log_params(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    ModelPath(id): ModelPath,
    MlflowJson(req): MlflowJson<ModelKeyValues>,
) -> MlflowResult<Json<Empty>> {
    same_model(&id, &req.model)?;
    let params = to_params(req.params);
    lm::params(&params)?;
    s.store.log_logged_model_params(&ws, &id, params).await?;
    Ok(Json(Empty {}))
}

/// `PATCH logged-models/{model_id}/tags`.
pub async fn set_tags(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    ModelPath(id): ModelPath,
    MlflowJson(req): MlflowJson<ModelKeyValues>,
) -> MlflowResult<Json<Empty>> {
    same_model(&id, &req.model)?;
    let tags = to_tags(req.tags);
    lm::tags(&tags)?;
    s.store.set_logged_model_tags(&ws, &id, tags).await?;
    Ok(Json(Empty {}))
}

/// `DELETE logged-models/{model_id}/tags/{tag_key}`.
pub async fn delete_tag(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    ModelTagPath(id, key): ModelTagPath,
) -> MlflowResult<Json<Empty>> {
    s.store.delete_logged_model_tag(&ws, &id, &key).await?;
    Ok(Json(Empty {}))
}

/// The store query of a search request.
fn search_query(req: &SearchLoggedModels) -> MlflowResult<(LoggedModelQuery, PageRequest)> {
    let experiment_ids = req
        .experiment_ids
        .iter()
        .map(|e| experiment_id(e))
        .collect::<MlflowResult<Vec<_>>>()?;
    let datasets = req
        .datasets
        .iter()
        .map(
            |d| match d.dataset_name.as_deref().filter(|n| !n.is_empty()) {
                Some(name) => Ok(ModelDatasetFilter {
                    name: name.to_string(),
                    digest: d.dataset_digest.clone().filter(|x| !x.is_empty()),
                }),
                None => Err(MlflowError::invalid(
                    "`dataset_name` in the `datasets` clause must be specified",
                )),
            },
        )
        .collect::<MlflowResult<Vec<_>>>()?;
    let filter_text = req.filter.clone().unwrap_or_default();
    let filter = parse_logged_model_filter(&filter_text)
        .map_err(|e| MlflowError::invalid(format!("invalid filter {e}")))?;
    let order = req
        .order_by
        .iter()
        .map(order_of)
        .collect::<MlflowResult<Vec<_>>>()?;
    let max_results = match req.max_results {
        None => 0,
        Some(n) => {
            usize::try_from(n).map_err(|_| Invalid::one("max_results", "must not be negative"))?
        }
    };
    let page = PageRequest {
        max_results,
        page_token: req.page_token.clone().filter(|t| !t.is_empty()),
    };
    let q = LoggedModelQuery {
        experiment_ids,
        filter,
        filter_text,
        order,
        datasets,
    };
    Ok((q, page))
}

/// One `order_by` entry: an attribute, or `metrics.<key>` with an optional dataset, as
/// MLflow's SQL store accepts them.
fn order_of(o: &ModelOrderBy) -> MlflowResult<ModelOrder> {
    let ascending = o.ascending.unwrap_or(true);
    let non_empty = |x: &Option<String>| x.clone().filter(|v| !v.is_empty());
    let (dataset_name, dataset_digest) = (non_empty(&o.dataset_name), non_empty(&o.dataset_digest));
    if dataset_digest.is_some() && dataset_name.is_none() {
        return Err(MlflowError::invalid(format!(
            "order_by '{}' has a dataset_digest without a dataset_name",
            o.field_name
        )));
    }
    if let Some(key) = o.field_name.strip_prefix("metrics.") {
        if key.is_empty() {
            return Err(MlflowError::invalid("order_by 'metrics.' names no metric"));
        }
        return Ok(ModelOrder {
            field: ModelOrderField::Metric {
                key: key.trim_matches('`').to_string(),
                dataset_name,
                dataset_digest,
            },
            ascending,
        });
    }
    match ModelOrderField::parse(&o.field_name) {
        Some(field) if dataset_name.is_none() => Ok(ModelOrder { field, ascending }),
        _ => Err(MlflowError::invalid(format!(
            "cannot order logged models by '{}', use creation_timestamp, \
             last_updated_timestamp, name or metrics.<key>",
            o.field_name
        ))),
    }
}

/// `POST logged-models/search`.
pub async fn search(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<SearchLoggedModels>,
) -> MlflowResult<Json<SearchLoggedModelsResponse>> {
    let (q, page) = search_query(&req)?;
    let found = s.store.search_logged_models(&ws, &q, &page).await?;
    Ok(Json(SearchLoggedModelsResponse {
        models: found.items.into_iter().map(LoggedModelView::from).collect(),
        next_page_token: found.next_page_token,
    }))
}

/// `GET logged-models/{model_id}/artifacts/directories`: one directory, paths from the
/// model's artifact root.
pub async fn list_artifacts(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    ModelPath(id): ModelPath,
    MlflowQuery(q): MlflowQuery<ModelArtifactsQuery>,
) -> MlflowResult<Json<RunArtifactsResponse>> {
    let dir = ArtifactPath::parse_dir(q.artifact_directory_path.as_deref().unwrap_or(""))?;
    let m = s.store.get_logged_model(&ws, &id).await?;
    let l = s.store.list_model_artifacts(&ws, &id, &dir).await?;
    Ok(Json(RunArtifactsResponse {
        root_uri: mlflow_uri(&m.artifact_location),
        files: file_infos(l, |name| {
            if dir.is_root() {
                name.to_string()
            } else {
                format!("{dir}/{name}")
            }
        }),
    }))
}

/// `GET logged-models/{model_id}/artifacts/files?artifact_file_path=`: streams one file.
pub async fn download_artifact(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    ModelPath(id): ModelPath,
    MlflowQuery(q): MlflowQuery<ModelArtifactFileQuery>,
) -> MlflowResult<Response> {
    let path = ArtifactPath::parse(q.artifact_file_path.as_deref().unwrap_or(""))?;
    let m = s.store.get_logged_model(&ws, &id).await?;
    let key = ArtifactKey {
        workspace: ws.clone(),
        experiment_id: m.experiment_id,
        owner: ArtifactOwner::Model(id),
        path,
    };
    Ok(file_response(&s, &ws, &key).await?)
}

/// Checks the run and every named model exist in the workspace.
pub(crate) async fn check_run_and_models(
    s: &AppState,
    ws: &mlplane_core::WorkspaceName,
    run: &RunId,
    models: &[ModelRef],
) -> MlflowResult<()> {
    s.store.get_run(ws, run).await?;
    for m in models {
        let raw = m
            .model_id
            .as_deref()
            .ok_or_else(|| MlflowError::invalid("every model needs a model_id"))?;
        s.store.get_logged_model(ws, &model_id(raw)?).await?;
    }
    Ok(())
}

/// `POST runs/outputs`: records the models the run produced (returned in the run's
/// `outputs`); the run and every model must exist.
pub async fn log_outputs(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<LogOutputs>,
) -> MlflowResult<Json<Empty>> {
    let id = run_id(&req.run)?;
    let outputs = req
        .models
        .into_iter()
        .map(|m| {
            let raw = m
                .model_id
                .filter(|v| !v.is_empty())
                .ok_or_else(|| MlflowError::invalid("every model needs a model_id"))?;
            Ok(ModelOutput {
                model_id: model_id(&raw)?,
                step: m.step.unwrap_or(0),
            })
        })
        .collect::<MlflowResult<Vec<_>>>()?;
    s.store.log_outputs(&ws, &id, outputs).await?;
    Ok(Json(Empty {}))
}
