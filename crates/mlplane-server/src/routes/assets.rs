//! `/api/v1/workspaces/{ws}/{kind}` with `kind` one of `data`, `models`, `environments`,
//! `components`:
//! creating asset versions from specs, reading, listing, archiving and restoring them, and
//! their lineage.
//!
//! Invariants:
//! - a version is created only from a spec that validated; its stored spec is canonical JSON;
//! - local paths are stored as given with `storage_uri` null (`pending_upload`): the server
//!   never reads the client's files; the client uploads them with `PUT .../files/{path}` and
//!   then `POST .../complete` sets `storage_uri`, after which the files never change;
//! - an upload holds its version's lock stripe shared and completion holds it exclusively,
//!   so within one server process no file changes after its version completed (several
//!   server processes over one database can still race an upload against completion);
//! - a `path` naming another data or model version (`azureml:name:version`) takes that
//!   version's storage location, which must be complete; nothing else (hosts, server paths) is
//!   accepted as a location;
//! - `latest` in a path means the newest version that is not archived.

use super::{page, workspace};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{AppJson, AppPath, AppQuery};
use crate::specs::{self, position, spec_error};
use crate::state::AppState;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use mlplane_api::{
    AssetFileList, AssetKeyView, AssetList, AssetListQuery, AssetView, CodeSnapshotRequest,
    CreateAssetRequest, ErrorBody, LineageView,
};
use mlplane_artifacts::{ArtifactKey, AssetVersionKey};
use mlplane_core::assets::{check_asset_name, has_files, stored_asset_uri};
use mlplane_core::{ArtifactPath, Asset, AssetKind, AssetVersionRef, NewAsset, Tag, WorkspaceName};
use mlplane_spec::assets::AssetMeta;
use mlplane_spec::{AssetRef, DataPath};
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
type Parsed = (AssetMeta, serde_json::Value, Option<DataPath>);

fn parse(
    kind: AssetKind,
    src: &str,
    sets: &[String],
    files: &mut BTreeMap<String, String>,
) -> ApiResult<Parsed> {
    let (meta, json, path) = match kind {
        AssetKind::Data => {
            let d = mlplane_spec::parse_data(src, sets)?;
            (d.meta.clone(), specs::data_json(&d), Some(d.path))
        }
        AssetKind::Model => {
            let m = mlplane_spec::parse_model(src, sets)?;
            (m.meta.clone(), specs::model_json(&m), Some(m.path))
        }
        AssetKind::Environment => {
            let mut e = mlplane_spec::parse_environment(src, sets)?;
            specs::inline_env_files(&mut e, files, src, &[])?;
            (e.meta.clone(), specs::environment_json(&e), None)
        }
        AssetKind::Component => {
            let c = mlplane_spec::parse_component(src, sets)?;
            (c.meta.clone(), specs::component_json(&c, src, sets), None)
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
    Ok((meta, json, path))
}

/// The storage location of the complete version `r` of `kind` names, or an `invalid_spec`
/// error at `path`.
async fn referenced_location(
    s: &AppState,
    ws: &WorkspaceName,
    src: &str,
    kind: AssetKind,
    r: &AssetRef,
) -> ApiResult<String> {
    let (name, version) = match r {
        AssetRef::Exact { name, version } => (name, AssetVersionRef::Exact(version.clone())),
        AssetRef::Latest { name } => (name, AssetVersionRef::Latest),
    };
    let at = position(src, &["path"]);
    match s.store.get_asset(ws, kind, name, &version).await {
        Ok(a) if a.archived => Err(spec_error(
            at,
            "path",
            format!("{kind} '{}:{}' is archived", a.name, a.version),
        )),
        Ok(a) => a.storage_uri.ok_or_else(|| {
            spec_error(
                at,
                "path",
                format!(
                    "{kind} '{}:{}' is still waiting for its files to be uploaded",
                    a.name, a.version
                ),
            )
        }),
        Err(mlplane_store::StoreError::NotFound { .. }) => Err(spec_error(
            at,
            "path",
            format!(
                "{kind} '{}' does not exist in workspace '{ws}'",
                specs::asset_ref(r)
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/{kind}", tag = "assets",
    params(("ws" = String, Path), ("kind" = String, Path, description = "data, models or environments")),
    request_body = CreateAssetRequest,
    responses((status = 201, description = "The new version; a local path is kept as given with storage_uri null and pending_upload true until its files are uploaded and the version completed; a path naming another version takes that version's storage_uri", body = AssetView),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    AppPath((ws, k)): AppPath<(String, String)>,
    AppJson(mut req): AppJson<CreateAssetRequest>,
) -> ApiResult<(StatusCode, Json<AssetView>)> {
    let ws = workspace(&ws)?;
    let kind = kind(&k)?;
    // A component naming `code` comes with the snapshot of that folder, stored beside its
    // spec; the version is immutable, so its code is too.
    let snapshot = match kind {
        AssetKind::Component => req
            .fields
            .remove("code_snapshot")
            .map(serde_json::from_value::<CodeSnapshotRequest>)
            .transpose()
            .map_err(|e| ApiError::bad_request(format!("code_snapshot: {e}")))?,
        _ => None,
    };
    let mut files = std::mem::take(&mut req.files);
    let (src, sets) = specs::spec_text(req)?;
    let (meta, mut spec, path) = parse(kind, &src, &sets, &mut files)?;
    specs::no_unused_files(&files)?;
    if kind == AssetKind::Component {
        let code = mlplane_spec::parse_component(&src, &sets)?.code;
        let snapshot =
            super::snapshots::component_code(&s, &ws, &src, code.as_deref(), snapshot).await?;
        if let Some(snapshot) = snapshot {
            spec["code_snapshot"] = serde_json::to_value(snapshot).map_err(ApiError::internal)?;
        }
    }
    let spec = spec.to_string();
    let storage_uri = match &path {
        Some(DataPath::Asset(r)) => Some(referenced_location(&s, &ws, &src, kind, r).await?),
        _ => None,
    };
    let new = NewAsset {
        kind,
        name: meta.name.clone(),
        version: meta.version.clone(),
        description: meta.description.clone().unwrap_or_default(),
        tags: tags(&meta.tags),
        spec,
        storage_uri,
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

/// The checked key of a data or model version and the version itself.
async fn file_owner(
    s: &AppState,
    (ws, k, name, version): (&str, &str, &str, &str),
) -> ApiResult<(WorkspaceName, Asset, AssetVersionKey)> {
    let (ws, kind) = key(ws, k, name)?;
    if !has_files(kind) {
        return Err(ApiError::new(
            ErrorCode::InvalidState,
            format!("{kind} assets have no files"),
        ));
    }
    let version = exact(s, &ws, kind, name, version).await?;
    let a = s
        .store
        .get_asset(&ws, kind, name, &AssetVersionRef::Exact(version.clone()))
        .await?;
    let owner = AssetVersionKey::new(kind, name, &version)?;
    Ok((ws, a, owner))
}

fn not_pending(a: &Asset) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidState,
        format!(
            "{}:{} is complete; its files cannot change (create a new version)",
            a.name, a.version
        ),
    )
}

#[utoipa::path(put, path = "/api/v1/workspaces/{ws}/{kind}/{name}/versions/{version}/files/{path}", tag = "assets",
    params(("ws" = String, Path), ("kind" = String, Path, description = "data or models"), ("name" = String, Path),
           ("version" = String, Path), ("path" = String, Path, description = "The file's path inside the version; no `..`, no leading `/`")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 204, description = "Stored and recorded with its size and sha256"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "invalid_state: the version is complete (or is an environment)", body = ErrorBody),
              (status = 413, body = ErrorBody)))]
pub async fn upload_file(
    State(s): State<AppState>,
    AppPath((ws, k, name, version, path)): AppPath<(String, String, String, String, String)>,
    body: Body,
) -> ApiResult<StatusCode> {
    let path = ArtifactPath::parse(&path)?;
    let (ws, a, owner) = file_owner(&s, (&ws, &k, &name, &version)).await?;
    let lock_key = stored_asset_uri(&ws, a.kind, &a.name, &a.version);
    let _shared = s.asset_lock(&lock_key).read().await;
    // Checked under the lock: a completion cannot slip in before the bytes are written.
    let a = s
        .store
        .get_asset(&ws, a.kind, &a.name, &AssetVersionRef::Exact(a.version))
        .await?;
    if a.storage_uri.is_some() {
        return Err(not_pending(&a));
    }
    let key = ArtifactKey::asset(ws.clone(), owner, path);
    super::artifacts::store_file(&s, &ws, &key, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/{kind}/{name}/versions/{version}/complete", tag = "assets",
    params(("ws" = String, Path), ("kind" = String, Path, description = "data or models"), ("name" = String, Path), ("version" = String, Path)),
    responses((status = 200, description = "storage_uri is set and pending_upload false; the files never change again", body = AssetView),
              (status = 400, description = "no files were uploaded (or more than one for a uri_file)", body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn complete(
    State(s): State<AppState>,
    AppPath((ws, k, name, version)): VersionPath,
) -> ApiResult<Json<AssetView>> {
    let (ws, a, _) = file_owner(&s, (&ws, &k, &name, &version)).await?;
    // The version's storage URI is both its lock key and what completion stores.
    let uri = stored_asset_uri(&ws, a.kind, &a.name, &a.version);
    let _exclusive = s.asset_lock(&uri).write().await;
    if a.storage_uri.is_some() {
        return Err(not_pending(&a));
    }
    let files = s
        .store
        .asset_files(&ws, a.kind, &a.name, &a.version)
        .await?;
    let is_file = serde_json::from_str::<serde_json::Value>(&a.spec)
        .ok()
        .and_then(|v| {
            v.get("type")
                .and_then(|t| t.as_str())
                .map(|t| t == "uri_file")
        })
        .unwrap_or(false);
    if files.is_empty() || (is_file && files.len() != 1) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!(
                "{}:{} has {} uploaded file(s); a uri_file needs exactly one, other types at \
                 least one",
                a.name,
                a.version,
                files.len()
            ),
        ));
    }
    let done = s
        .store
        .complete_asset(&ws, a.kind, &a.name, &a.version, &uri)
        .await?;
    Ok(Json(done.into()))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/{kind}/{name}/versions/{version}/files", tag = "assets",
    params(("ws" = String, Path), ("kind" = String, Path, description = "data or models"), ("name" = String, Path), ("version" = String, Path)),
    responses((status = 200, description = "The version's files, by path", body = AssetFileList),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn files(
    State(s): State<AppState>,
    AppPath((ws, k, name, version)): VersionPath,
) -> ApiResult<Json<AssetFileList>> {
    let (ws, a, _) = file_owner(&s, (&ws, &k, &name, &version)).await?;
    let items = s
        .store
        .asset_files(&ws, a.kind, &a.name, &a.version)
        .await?;
    Ok(Json(AssetFileList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/{kind}/{name}/versions/{version}/files/{path}", tag = "assets",
    params(("ws" = String, Path), ("kind" = String, Path, description = "data or models"), ("name" = String, Path),
           ("version" = String, Path), ("path" = String, Path)),
    responses((status = 200, description = "The bytes, with `x-mlplane-sha256`", content_type = "application/octet-stream"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn download_file(
    State(s): State<AppState>,
    AppPath((ws, k, name, version, path)): AppPath<(String, String, String, String, String)>,
) -> ApiResult<Response> {
    let path = ArtifactPath::parse(&path)?;
    let (ws, _, owner) = file_owner(&s, (&ws, &k, &name, &version)).await?;
    let key = ArtifactKey::asset(ws.clone(), owner, path);
    Ok(super::artifacts::file_response(&s, &ws, &key).await?)
}
