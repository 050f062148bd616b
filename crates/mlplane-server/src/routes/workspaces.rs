//! `/api/v1/workspaces`: list, create and get workspaces.

use super::{page, workspace};
use crate::error::ApiResult;
use crate::extract::{AppJson, AppPath, AppQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use mlplane_api::{CreateWorkspaceRequest, ErrorBody, PageQuery, WorkspaceList, WorkspaceView};

#[utoipa::path(get, path = "/api/v1/workspaces", params(PageQuery), tag = "workspaces",
    responses((status = 200, body = WorkspaceList), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    AppQuery(q): AppQuery<PageQuery>,
) -> ApiResult<Json<WorkspaceList>> {
    let p = s
        .store
        .list_workspaces(&page(q.max_results, q.page_token))
        .await?;
    Ok(Json(WorkspaceList {
        items: p.items.into_iter().map(Into::into).collect(),
        next_page_token: p.next_page_token,
    }))
}

#[utoipa::path(post, path = "/api/v1/workspaces", request_body = CreateWorkspaceRequest, tag = "workspaces",
    responses((status = 201, body = WorkspaceView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    AppJson(req): AppJson<CreateWorkspaceRequest>,
) -> ApiResult<(StatusCode, Json<WorkspaceView>)> {
    let name = workspace(&req.name)?;
    if req.description.chars().count() > 5000 {
        return Err(
            mlplane_core::Invalid::one("description", "is longer than 5000 characters").into(),
        );
    }
    let w = s.store.create_workspace(&name, &req.description).await?;
    Ok((StatusCode::CREATED, Json(w.into())))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}", tag = "workspaces",
    params(("ws" = String, Path, description = "workspace name")),
    responses((status = 200, body = WorkspaceView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(s): State<AppState>,
    AppPath(ws): AppPath<String>,
) -> ApiResult<Json<WorkspaceView>> {
    Ok(Json(s.store.get_workspace(&workspace(&ws)?).await?.into()))
}
