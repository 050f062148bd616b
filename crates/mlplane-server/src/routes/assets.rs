//! `/api/v1/workspaces/{ws}/{kind}` with `kind` one of `data`, `models`, `environments`,
//! `components`:
//! creating asset versions from specs, reading, listing, archiving and restoring them, and
//! their lineage.
//!
//! Invariants:
//! - a version is created only from a spec that validated; its stored spec is canonical JSON;
//! - local paths are stored as given with `storage_uri` null (`pending_upload`): the server
//!   never reads the client's files;
//! - `latest` in a path means the newest version that is not archived.

use super::{page, workspace};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{AppJson, AppPath, AppQuery};
use crate::specs::{self, position, spec_error};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use mlplane_api::{
    AssetKeyView, AssetList, AssetListQuery, AssetView, CreateAssetRequest, ErrorBody, LineageView,
};
use mlplane_core::assets::check_asset_name;
use mlplane_core::{AssetKind, AssetVersionRef, NewAsset, Tag, WorkspaceName};
use mlplane_spec::assets::AssetMeta;
use std::collections::BTreeMap;

/// The asset kind a path segment names.
fn kind(segment: &str) -> ApiResult<AssetKind> {
    match segment {
        "data" => Ok(AssetKind::Data),
        "models" => Ok(AssetKind::Model),
        "environments" => Ok(AssetKind::Environment),
        "components" => Ok(AssetKind::Component),
        other => Err(ApiError::new(
            ErrorCode::RouteNotFound,
            format!(
                "no route for '{other}': asset kinds are data, models, environments and components"
            ),
        )),
    }
}

/// The workspace, kind and name of a path naming one asset.
fn key(ws: &str, segment: &str, name: &str) -> ApiResult<(WorkspaceName, AssetKind)> {
    let ws = workspace(ws)?;
    let kind = kind(segment)?;
    check_asset_name(name)?;
    Ok((ws, kind))
}

fn version_ref(v: &str) -> AssetVersionRef {
    if v == "latest" {
        AssetVersionRef::Latest
    } else {
        AssetVersionRef::Exact(v.to_string())
    }
}

fn tags(t: &BTreeMap<String, String>) -> Vec<Tag> {
    t.iter()
        .map(|(k, v)| Tag {
            key: k.clone(),
            value: v.clone(),
        })
        .collect()
}

/// Parses the spec of `kind` into its shared fields and canonical JSON.
fn parse(kind: AssetKind, src: &str, sets: &[String]) -> ApiResult<(AssetMeta, String)> {
    let (meta, json) = match kind {
        AssetKind::Data => {
            let d = mlplane_spec::parse_data(src, sets)?;
            (d.meta.clone(), specs::data_json(&d))
        }
        AssetKind::Model => {
            let m = mlplane_spec::parse_model(src, sets)?;
            (m.meta.clone(), specs::model_json(&m))
        }
        AssetKind::Environment => {
            let e = mlplane_spec::parse_environment(src, sets)?;
            (e.meta.clone(), specs::environment_json(&e))
        }
        AssetKind::Component => {
            let c = mlplane_spec::parse_component(src, sets)?;
            (c.meta.clone(), specs::component_json(&c, src, sets))
        }
        // Served by `routes::computes`; `kind()` never yields it.
        AssetKind::Compute => {
            return Err(ApiError::new(
                ErrorCode::RouteNotFound,
                "compute targets are served at /api/v1/computes",
            ));
        }
    };
    if meta.name.is_empty() {
        return Err(spec_error(position(src, &[]), "name", "is required"));
    }
    Ok((meta, json.to_string()))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/{kind}", tag = "assets",
    params(("ws" = String, Path), ("kind" = String, Path, description = "data, models or environments")),
    request_body = CreateAssetRequest,
    responses((status = 201, description = "The new version; a local path is kept as given with storage_uri null and pending_upload true", body = AssetView),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    AppPath((ws, k)): AppPath<(String, String)>,
    AppJson(req): AppJson<CreateAssetRequest>,
) -> ApiResult<(StatusCode, Json<AssetView>)> {
    let ws = workspace(&ws)?;
    let kind = kind(&k)?;
    let (src, sets) = specs::spec_text(req)?;
    let (meta, spec) = parse(kind, &src, &sets)?;
    let new = NewAsset {
        kind,
        name: meta.name.clone(),
        version: meta.version.clone(),
        description: meta.description.clone().unwrap_or_default(),
        tags: tags(&meta.tags),
        spec,
        storage_uri: None,
        source_job: None,
    };
    let a = s.store.create_asset(&ws, new).await?;
    Ok((StatusCode::CREATED, Json(a.into())))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/{kind}", tag = "assets",
    params(("ws" = String, Path), ("kind" = String, Path, description = "data, models or environments"), AssetListQuery),
    responses((status = 200, description = "The latest version of each name, by name", body = AssetList),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    AppPath((ws, k)): AppPath<(String, String)>,
    AppQuery(q): AppQuery<AssetListQuery>,
) -> ApiResult<Json<AssetList>> {
    let p = s
        .store
        .list_assets(
            &workspace(&ws)?,
            kind(&k)?,
            q.include_archived.unwrap_or(false),
            &page(q.max_results, q.page_token),
        )
        .await?;
    Ok(Json(AssetList {
        items: p.items.into_iter().map(Into::into).collect(),
        next_page_token: p.next_page_token,
    }))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/{kind}/{name}/versions", tag = "assets",
    params(("ws" = String, Path), ("kind" = String, Path), ("name" = String, Path), AssetListQuery),
    responses((status = 200, description = "Versions, newest first", body = AssetList),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn versions(
    State(s): State<AppState>,
    AppPath((ws, k, name)): AppPath<(String, String, String)>,
    AppQuery(q): AppQuery<AssetListQuery>,
) -> ApiResult<Json<AssetList>> {
    let (ws, kind) = key(&ws, &k, &name)?;
    let p = s
        .store
        .list_asset_versions(
            &ws,
            kind,
            &name,
            q.include_archived.unwrap_or(false),
            &page(q.max_results, q.page_token),
        )
        .await?;
    Ok(Json(AssetList {
        items: p.items.into_iter().map(Into::into).collect(),
        next_page_token: p.next_page_token,
    }))
}

type VersionPath = AppPath<(String, String, String, String)>;

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/{kind}/{name}/versions/{version}", tag = "assets",
    params(("ws" = String, Path), ("kind" = String, Path), ("name" = String, Path),
           ("version" = String, Path, description = "A version, or `latest`")),
    responses((status = 200, body = AssetView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(s): State<AppState>,
    AppPath((ws, k, name, version)): VersionPath,
) -> ApiResult<Json<AssetView>> {
    let (ws, kind) = key(&ws, &k, &name)?;
    let a = s
        .store
        .get_asset(&ws, kind, &name, &version_ref(&version))
        .await?;
    Ok(Json(a.into()))
}

/// The exact version `version` means (`latest` resolved).
async fn exact(
    s: &AppState,
    ws: &WorkspaceName,
    kind: AssetKind,
    name: &str,
    version: &str,
) -> ApiResult<String> {
    match version_ref(version) {
        AssetVersionRef::Exact(v) => Ok(v),
        AssetVersionRef::Latest => Ok(s
            .store
            .get_asset(ws, kind, name, &AssetVersionRef::Latest)
            .await?
            .version),
    }
}

async fn set_archived(
    s: &AppState,
    (ws, k, name, version): (String, String, String, String),
    archived: bool,
) -> ApiResult<Json<AssetView>> {
    let (ws, kind) = key(&ws, &k, &name)?;
    let version = exact(s, &ws, kind, &name, &version).await?;
    let a = s
        .store
        .set_asset_archived(&ws, kind, &name, &version, archived)
        .await?;
    Ok(Json(a.into()))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/{kind}/{name}/versions/{version}/archive", tag = "assets",
    params(("ws" = String, Path), ("kind" = String, Path), ("name" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = AssetView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn archive(
    State(s): State<AppState>,
    AppPath(p): VersionPath,
) -> ApiResult<Json<AssetView>> {
    set_archived(&s, p, true).await
}

#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/{kind}/{name}/versions/{version}/restore", tag = "assets",
    params(("ws" = String, Path), ("kind" = String, Path), ("name" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = AssetView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn restore(
    State(s): State<AppState>,
    AppPath(p): VersionPath,
) -> ApiResult<Json<AssetView>> {
    set_archived(&s, p, false).await
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/{kind}/{name}/versions/{version}/lineage", tag = "assets",
    params(("ws" = String, Path), ("kind" = String, Path), ("name" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = LineageView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn lineage(
    State(s): State<AppState>,
    AppPath((ws, k, name, version)): VersionPath,
) -> ApiResult<Json<LineageView>> {
    let (ws, kind) = key(&ws, &k, &name)?;
    let version = exact(&s, &ws, kind, &name, &version).await?;
    let l = s.store.asset_lineage(&ws, kind, &name, &version).await?;
    Ok(Json(LineageView {
        asset: AssetKeyView {
            kind: kind.to_string(),
            name,
            version,
        },
        producer: l.producer.map(|j| j.to_string()),
        consumers: l.consumers.into_iter().map(|j| j.to_string()).collect(),
    }))
}
