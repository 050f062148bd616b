//! `/api/v1/workspaces/{ws}/runs/{run_id}/artifacts/{path}`: streaming upload and download of
//! run artifacts, plus listing one directory level.
//!
//! An upload streams the body into `mlplane-artifacts` (hashing on the way), and only once the
//! bytes are durable records `(path, size, sha256)` in the metadata store. Listings and
//! downloads go through the metadata store, so a file is visible only once fully stored.
//! The transfer helpers (`store_file`, `file_response`, `remove_file`, `list_dir`) are shared
//! with the MLflow artifact proxy, which maps `TransferError` into its own error shape; they
//! serve runs and MLflow 3 logged models alike, picking the record store by the key's owner.

use super::{run_id, workspace};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{AppPath, AppQuery};
use crate::state::AppState;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use mlplane_api::{ArtifactListQuery, ArtifactListView, ArtifactView, ErrorBody};
use mlplane_artifacts::{ArtifactError, ArtifactKey, ArtifactOwner};
use mlplane_core::{
    ArtifactEntry, ArtifactListing, ArtifactPath, LifecycleStage, RunId, WorkspaceName,
};
use mlplane_store::StoreError;

/// A failure of a shared transfer helper: the metadata store or the byte store.
///
/// Each API surface (native and MLflow) maps it into its own error shape.
#[derive(Debug)]
pub(crate) enum TransferError {
    Store(StoreError),
    Artifact(ArtifactError),
}

impl From<StoreError> for TransferError {
    fn from(e: StoreError) -> Self {
        TransferError::Store(e)
    }
}

impl From<ArtifactError> for TransferError {
    fn from(e: ArtifactError) -> Self {
        TransferError::Artifact(e)
    }
}

impl From<TransferError> for ApiError {
    fn from(e: TransferError) -> Self {
        match e {
            TransferError::Store(e) => e.into(),
            TransferError::Artifact(e) => e.into(),
        }
    }
}

/// Streams `body` into the byte store under `key`, then records it; only a fully stored
/// file becomes visible.
pub(crate) async fn store_file(
    s: &AppState,
    ws: &WorkspaceName,
    key: &ArtifactKey,
    body: Body,
) -> Result<ArtifactEntry, TransferError> {
    let stored = s
        .artifacts
        .put_stream(key, body.into_data_stream(), s.limits.max_artifact_bytes)
        .await?;
    let entry = ArtifactEntry {
        path: key.path.clone(),
        size: stored.size,
        sha256: stored.sha256,
        created_at: super::now_ms(),
    };
    record(s, ws, key, entry.clone()).await?;
    Ok(entry)
}

/// Records a file whose bytes are already durable at `key`.
pub(crate) async fn record(
    s: &AppState,
    ws: &WorkspaceName,
    key: &ArtifactKey,
    entry: ArtifactEntry,
) -> Result<(), StoreError> {
    match &key.owner {
        ArtifactOwner::Run(id) => s.store.record_artifact(ws, id, entry).await,
        ArtifactOwner::Model(id) => s.store.record_model_artifact(ws, id, entry).await,
        ArtifactOwner::Asset(a) => {
            let file = mlplane_core::AssetFile {
                path: entry.path,
                size: entry.size,
                sha256: entry.sha256,
            };
            s.store
                .record_asset_file(ws, a.kind(), a.name(), a.version(), file)
                .await
        }
        ArtifactOwner::Snapshot(id) => Err(unrecorded(id)),
    }
}

/// Code snapshots have no file records (they are served by `routes/snapshots.rs`), so
/// the record-based helpers here treat them as absent.
fn unrecorded(id: &mlplane_core::SnapshotId) -> StoreError {
    StoreError::NotFound {
        entity: mlplane_store::Entity::Artifact,
        id: format!("snapshot {id}"),
    }
}

/// One directory level of an owner's recorded files.
pub(crate) async fn list_dir(
    s: &AppState,
    ws: &WorkspaceName,
    owner: &ArtifactOwner,
    dir: &ArtifactPath,
) -> Result<ArtifactListing, StoreError> {
    match owner {
        ArtifactOwner::Run(id) => s.store.list_artifacts(ws, id, dir).await,
        ArtifactOwner::Model(id) => s.store.list_model_artifacts(ws, id, dir).await,
        ArtifactOwner::Asset(_) => Err(StoreError::InvalidState(
            "asset files are listed through their version's files route".into(),
        )),
        ArtifactOwner::Snapshot(id) => Err(unrecorded(id)),
    }
}

/// A streamed `application/octet-stream` response of a recorded file, with its length and
/// sha256; an unrecorded file is the store's not-found.
pub(crate) async fn file_response(
    s: &AppState,
    ws: &WorkspaceName,
    key: &ArtifactKey,
) -> Result<Response, TransferError> {
    let entry = match &key.owner {
        ArtifactOwner::Run(id) => s.store.get_artifact(ws, id, &key.path).await?,
        ArtifactOwner::Model(id) => s.store.get_model_artifact(ws, id, &key.path).await?,
        ArtifactOwner::Asset(a) => {
            let files = s
                .store
                .asset_files(ws, a.kind(), a.name(), a.version())
                .await?;
            match files.into_iter().find(|f| f.path == key.path) {
                Some(f) => ArtifactEntry {
                    path: f.path,
                    size: f.size,
                    sha256: f.sha256,
                    created_at: 0,
                },
                None => {
                    return Err(StoreError::not_found(
                        mlplane_store::Entity::Artifact,
                        key.path.as_str(),
                    )
                    .into());
                }
            }
        }
        ArtifactOwner::Snapshot(id) => return Err(unrecorded(id).into()),
    };
    let (size, stream) = s.artifacts.get_stream(key).await?;
    let stream = stream.map(|r| r.map_err(std::io::Error::other));
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    if let Ok(v) = HeaderValue::from_str(&entry.sha256) {
        h.insert("x-mlplane-sha256", v);
    }
    Ok(resp)
}

/// Deletes the record first (the file disappears from listings), then the bytes.
pub(crate) async fn remove_file(
    s: &AppState,
    ws: &WorkspaceName,
    key: &ArtifactKey,
) -> Result<(), TransferError> {
    match &key.owner {
        ArtifactOwner::Run(id) => s.store.delete_artifact(ws, id, &key.path).await?,
        ArtifactOwner::Model(id) => s.store.delete_model_artifact(ws, id, &key.path).await?,
        ArtifactOwner::Asset(_) => {
            return Err(StoreError::InvalidState("asset versions are immutable".into()).into());
        }
        ArtifactOwner::Snapshot(id) => return Err(unrecorded(id).into()),
    }
    s.artifacts.delete(key).await?;
    Ok(())
}

type ArtifactRoute = AppPath<(String, String, String)>;

async fn key(
    s: &AppState,
    ws: &str,
    id: &str,
    path: &str,
) -> ApiResult<(WorkspaceName, RunId, ArtifactKey, LifecycleStage)> {
    let (ws, id) = (workspace(ws)?, run_id(id)?);
    let path = ArtifactPath::parse(path)?;
    let run = s.store.get_run(&ws, &id).await?;
    let key = ArtifactKey::run(ws.clone(), run.info.experiment_id, id.clone(), path);
    Ok((ws, id, key, run.info.lifecycle_stage))
}

#[utoipa::path(put, path = "/api/v1/workspaces/{ws}/runs/{run_id}/artifacts/{path}", tag = "artifacts",
    params(("ws" = String, Path), ("run_id" = String, Path), ("path" = String, Path, description = "relative file path")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = ArtifactView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn upload(
    State(s): State<AppState>,
    AppPath((ws, id, path)): ArtifactRoute,
    body: Body,
) -> ApiResult<(StatusCode, Json<ArtifactView>)> {
    let (ws, id, key, stage) = key(&s, &ws, &id, &path).await?;
    if stage == LifecycleStage::Deleted {
        return Err(ApiError::new(
            ErrorCode::InvalidState,
            format!("run '{id}' is deleted"),
        ));
    }
    let entry = store_file(&s, &ws, &key, body).await?;
    Ok((StatusCode::CREATED, Json(entry.into())))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/runs/{run_id}/artifacts/{path}", tag = "artifacts",
    params(("ws" = String, Path), ("run_id" = String, Path), ("path" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 404, body = ErrorBody)))]
pub async fn download(
    State(s): State<AppState>,
    AppPath((ws, id, path)): ArtifactRoute,
) -> ApiResult<Response> {
    let (ws, _, key, _) = key(&s, &ws, &id, &path).await?;
    Ok(file_response(&s, &ws, &key).await?)
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{ws}/runs/{run_id}/artifacts/{path}", tag = "artifacts",
    params(("ws" = String, Path), ("run_id" = String, Path), ("path" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(s): State<AppState>,
    AppPath((ws, id, path)): ArtifactRoute,
) -> ApiResult<StatusCode> {
    let (ws, _, key, _) = key(&s, &ws, &id, &path).await?;
    remove_file(&s, &ws, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/runs/{run_id}/artifact-list", tag = "artifacts",
    params(("ws" = String, Path), ("run_id" = String, Path), ArtifactListQuery),
    responses((status = 200, body = ArtifactListView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    AppPath((ws, id)): AppPath<(String, String)>,
    AppQuery(q): AppQuery<ArtifactListQuery>,
) -> ApiResult<Json<ArtifactListView>> {
    let dir = ArtifactPath::parse_dir(q.path.as_deref().unwrap_or(""))?;
    let l = s
        .store
        .list_artifacts(&workspace(&ws)?, &run_id(&id)?, &dir)
        .await?;
    Ok(Json(ArtifactListView {
        path: dir.to_string(),
        files: l.files.into_iter().map(Into::into).collect(),
        dirs: l.dirs,
    }))
}
