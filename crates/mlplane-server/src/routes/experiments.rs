//! `/api/v1/workspaces/{ws}/experiments`: experiments, their tags and soft deletion.

use super::{experiment_id, page, view, workspace};
use crate::error::ApiResult;
use crate::extract::{AppJson, AppPath, AppQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use mlplane_api::{
    CreateExperimentRequest, ErrorBody, ExperimentList, ExperimentListQuery, ExperimentView,
    KeyQuery, KeyValue, UpdateExperimentRequest,
};
use mlplane_core::{LifecycleStage, NewExperiment, Tag, validate};

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/experiments", tag = "experiments",
    params(("ws" = String, Path), ExperimentListQuery),
    responses((status = 200, body = ExperimentList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    AppPath(ws): AppPath<String>,
    AppQuery(q): AppQuery<ExperimentListQuery>,
) -> ApiResult<Json<ExperimentList>> {
    let ws = workspace(&ws)?;
    let p = s
        .store
        .list_experiments(
            &ws,
            view(q.view.as_deref())?,
            &page(q.max_results, q.page_token),
        )
        .await?;
    Ok(Json(ExperimentList {
        items: p.items.into_iter().map(Into::into).collect(),
        next_page_token: p.next_page_token,
    }))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/experiments", tag = "experiments",
    params(("ws" = String, Path)), request_body = CreateExperimentRequest,
    responses((status = 201, body = ExperimentView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    AppPath(ws): AppPath<String>,
    AppJson(req): AppJson<CreateExperimentRequest>,
) -> ApiResult<(StatusCode, Json<ExperimentView>)> {
    let ws = workspace(&ws)?;
    let new = NewExperiment {
        name: req.name,
        artifact_location: None,
        tags: req
            .tags
            .into_iter()
            .map(|t| Tag {
                key: t.key,
                value: t.value,
            })
            .collect(),
    };
    validate::new_experiment(&new)?;
    let e = s.store.create_experiment(&ws, new).await?;
    Ok((StatusCode::CREATED, Json(e.into())))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/experiments/{id}", tag = "experiments",
    params(("ws" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = ExperimentView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(s): State<AppState>,
    AppPath((ws, id)): AppPath<(String, String)>,
) -> ApiResult<Json<ExperimentView>> {
    Ok(Json(
        s.store
            .get_experiment(&workspace(&ws)?, experiment_id(&id)?)
            .await?
            .into(),
    ))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/experiments/by-name/{name}", tag = "experiments",
    params(("ws" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = ExperimentView), (status = 404, body = ErrorBody)))]
pub async fn get_by_name(
    State(s): State<AppState>,
    AppPath((ws, name)): AppPath<(String, String)>,
) -> ApiResult<Json<ExperimentView>> {
    Ok(Json(
        s.store
            .get_experiment_by_name(&workspace(&ws)?, &name)
            .await?
            .into(),
    ))
}

#[utoipa::path(patch, path = "/api/v1/workspaces/{ws}/experiments/{id}", tag = "experiments",
    params(("ws" = String, Path), ("id" = String, Path)), request_body = UpdateExperimentRequest,
    responses((status = 200, body = ExperimentView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    State(s): State<AppState>,
    AppPath((ws, id)): AppPath<(String, String)>,
    AppJson(req): AppJson<UpdateExperimentRequest>,
) -> ApiResult<Json<ExperimentView>> {
    let mut v = Vec::new();
    validate::experiment_name_into(&mut v, "name", &req.name);
    mlplane_core::Invalid::check(v)?;
    Ok(Json(
        s.store
            .rename_experiment(&workspace(&ws)?, experiment_id(&id)?, &req.name)
            .await?
            .into(),
    ))
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{ws}/experiments/{id}", tag = "experiments",
    params(("ws" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = ExperimentView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete(
    State(s): State<AppState>,
    AppPath((ws, id)): AppPath<(String, String)>,
) -> ApiResult<Json<ExperimentView>> {
    let e = s
        .store
        .set_experiment_lifecycle(
            &workspace(&ws)?,
            experiment_id(&id)?,
            LifecycleStage::Deleted,
        )
        .await?;
    Ok(Json(e.into()))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/experiments/{id}/restore", tag = "experiments",
    params(("ws" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = ExperimentView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn restore(
    State(s): State<AppState>,
    AppPath((ws, id)): AppPath<(String, String)>,
) -> ApiResult<Json<ExperimentView>> {
    let e = s
        .store
        .set_experiment_lifecycle(
            &workspace(&ws)?,
            experiment_id(&id)?,
            LifecycleStage::Active,
        )
        .await?;
    Ok(Json(e.into()))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/experiments/{id}/tags", tag = "experiments",
    params(("ws" = String, Path), ("id" = String, Path)), request_body = KeyValue,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_tag(
    State(s): State<AppState>,
    AppPath((ws, id)): AppPath<(String, String)>,
    AppJson(kv): AppJson<KeyValue>,
) -> ApiResult<StatusCode> {
    let tag = Tag {
        key: kv.key,
        value: kv.value,
    };
    validate::tag(&tag)?;
    s.store
        .set_experiment_tag(&workspace(&ws)?, experiment_id(&id)?, tag)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{ws}/experiments/{id}/tags", tag = "experiments",
    params(("ws" = String, Path), ("id" = String, Path), KeyQuery),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_tag(
    State(s): State<AppState>,
    AppPath((ws, id)): AppPath<(String, String)>,
    AppQuery(q): AppQuery<KeyQuery>,
) -> ApiResult<StatusCode> {
    s.store
        .delete_experiment_tag(&workspace(&ws)?, experiment_id(&id)?, &q.key)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
