//! MLflow's artifact proxy (`/api/2.0/mlflow-artifacts/artifacts/...`) and the tracking-side
//! `artifacts/list`, over the same byte store and artifact records as the native routes.
//!
//! Runs hand out `artifact_uri = mlflow-artifacts:/{ws}/{experiment_id}/{run_id}/artifacts`,
//! so the client addresses a file as `{ws}/{experiment_id}/{run_id}/artifacts/{file path}`;
//! MLflow 3 logged models hand out
//! `mlflow-artifacts:/{ws}/{experiment_id}/models/{model_id}/artifacts`, addressed the same way.
//!
//! Invariants:
//! - every path is fully decoded by the router, then split and validated part by part (served
//!   workspace, numeric experiment id, run id or `models/{model_id}`, literal `artifacts`,
//!   [`ArtifactPath`]) before any store is touched; a bad part is INVALID_PARAMETER_VALUE;
//! - the run or model must exist in the workspace and belong to the named experiment, else
//!   RESOURCE_DOES_NOT_EXIST; run uploads also need the run to be active;
//! - uploads stream through `store_file` (no request-size layer; the artifact byte limit
//!   applies), downloads and deletes go through the artifact records, as on the native API;
//! - proxy listings name children relative to the listed directory, tracking listings
//!   relative to the run's artifact root.

use super::error::{MlflowCode, MlflowError, MlflowResult};
use super::views::{
    Empty, FileInfoView, ProxyListQuery, ProxyListResponse, RunArtifactsQuery,
    RunArtifactsResponse, mlflow_uri,
};
use super::{MlflowQuery, Workspace, experiment_id, run_id};
use crate::routes::artifacts::{TransferError, file_response, list_dir, remove_file, store_file};
use crate::state::AppState;
use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::response::Response;
use mlplane_artifacts::{ArtifactKey, ArtifactOwner};
use mlplane_core::{
    ArtifactListing, ArtifactPath, ExperimentId, LifecycleStage, LoggedModelId, RunId,
    WorkspaceName,
};
use std::collections::HashMap;

/// The literal segment between the run id and the file path.
const ARTIFACTS_SEGMENT: &str = "artifacts";

impl From<TransferError> for MlflowError {
    fn from(e: TransferError) -> Self {
        match e {
            TransferError::Store(e) => e.into(),
            TransferError::Artifact(e) => e.into(),
        }
    }
}

/// The decoded `{*path}` of a proxy route, in MLflow's error shape.
pub struct ProxyPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ProxyPath {
    type Rejection = MlflowError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // A map, not a single String: under `/w/{workspace}` the route has two captures.
        let mut params = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|rej| MlflowError::invalid(rej.body_text()))?
            .0;
        params
            .remove("path")
            .map(ProxyPath)
            .ok_or_else(|| MlflowError::invalid("missing artifact path"))
    }
}

/// The literal segment that introduces a logged model in a proxy path.
const MODELS_SEGMENT: &str = "models";

/// A validated proxy address: a run or model and a path under its artifact root.
pub(crate) struct Target {
    pub ws: WorkspaceName,
    pub key: ArtifactKey,
    /// Whether files may be written (an active run, or any live model).
    pub writable: bool,
}

/// Splits `{ws}/{experiment_id}/{run_id}/artifacts[/{rest}]` or
/// `{ws}/{experiment_id}/models/{model_id}/artifacts[/{rest}]`, validates every part, and
/// resolves the owner. `dir` allows an empty rest (the artifact root).
pub(crate) async fn target(
    s: &AppState,
    served: WorkspaceName,
    raw: &str,
    dir: bool,
) -> MlflowResult<Target> {
    let bad = || MlflowError::invalid(format!("invalid artifact path '{raw}'"));
    let mut parts = raw.splitn(4, '/');
    let (Some(ws), Some(exp), Some(owner), tail) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if ws != served.as_str() {
        return Err(bad());
    }
    let exp = experiment_id(exp)?;
    let tail = tail.unwrap_or("");
    let (owner, tail) = if owner == MODELS_SEGMENT {
        let (id, tail) = tail.split_once('/').unwrap_or((tail, ""));
        (ArtifactOwner::Model(LoggedModelId::parse(id)?), tail)
    } else {
        (ArtifactOwner::Run(RunId::parse(owner)?), tail)
    };
    let (seg, rest) = tail.split_once('/').unwrap_or((tail, ""));
    if seg != ARTIFACTS_SEGMENT {
        return Err(bad());
    }
    let path = if dir {
        ArtifactPath::parse_dir(rest)?
    } else {
        ArtifactPath::parse(rest)?
    };
    let writable = owner_in_experiment(s, &served, &owner, exp).await?;
    Ok(Target {
        key: ArtifactKey {
            workspace: served.clone(),
            experiment_id: exp,
            owner,
            path,
        },
        ws: served,
        writable,
    })
}

/// Checks the owner exists in `ws` and belongs to `exp`; answers whether it takes writes.
async fn owner_in_experiment(
    s: &AppState,
    ws: &WorkspaceName,
    owner: &ArtifactOwner,
    exp: ExperimentId,
) -> MlflowResult<bool> {
    let (actual, writable, what) = match owner {
        ArtifactOwner::Run(id) => {
            let info = s.store.get_run(ws, id).await?.info;
            let live = info.lifecycle_stage == LifecycleStage::Active;
            (info.experiment_id, live, format!("run '{id}'"))
        }
        ArtifactOwner::Model(id) => {
            let m = s.store.get_logged_model(ws, id).await?;
            (m.experiment_id, true, format!("logged model '{id}'"))
        }
        // The MLflow proxy never names snapshots (`target` parses runs and models only).
        ArtifactOwner::Snapshot(id) => {
            return Err(MlflowError::new(
                MlflowCode::ResourceDoesNotExist,
                format!("snapshot '{id}' is not an MLflow artifact owner"),
            ));
        }
        ArtifactOwner::Asset(_) => {
            return Err(MlflowError::new(
                MlflowCode::ResourceDoesNotExist,
                "asset files are not served through the MLflow artifact proxy",
            ));
        }
    };
    if actual != exp {
        return Err(MlflowError::new(
            MlflowCode::ResourceDoesNotExist,
            format!("{what} not found in experiment '{exp}'"),
        ));
    }
    Ok(writable)
}

/// `PUT mlflow-artifacts/artifacts/{path}`: the raw body becomes the file.
pub async fn upload(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    ProxyPath(raw): ProxyPath,
    body: Body,
) -> MlflowResult<Json<Empty>> {
    let t = target(&s, ws, &raw, false).await?;
    if !t.writable {
        return Err(MlflowError::invalid(format!(
            "'{raw}' belongs to a run that is not active"
        )));
    }
    store_file(&s, &t.ws, &t.key, body).await?;
    Ok(Json(Empty {}))
}

/// `GET mlflow-artifacts/artifacts/{path}`: streams a recorded file.
pub async fn download(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    ProxyPath(raw): ProxyPath,
) -> MlflowResult<Response> {
    let t = target(&s, ws, &raw, false).await?;
    Ok(file_response(&s, &t.ws, &t.key).await?)
}

/// `DELETE mlflow-artifacts/artifacts/{path}`: a file, or every file under a directory.
pub async fn delete(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    ProxyPath(raw): ProxyPath,
) -> MlflowResult<Json<Empty>> {
    let t = target(&s, ws, &raw, false).await?;
    let files = files_under(&s, &t).await?;
    if files.is_empty() {
        remove_file(&s, &t.ws, &t.key).await?;
    }
    for path in files {
        let key = ArtifactKey {
            path,
            ..t.key.clone()
        };
        remove_file(&s, &t.ws, &key).await?;
    }
    Ok(Json(Empty {}))
}

/// Every recorded file below the directory `t.key.path` (none if it is a file or empty).
async fn files_under(s: &AppState, t: &Target) -> MlflowResult<Vec<ArtifactPath>> {
    let mut found = Vec::new();
    let mut pending = vec![t.key.path.clone()];
    while let Some(dir) = pending.pop() {
        let l = list_dir(s, &t.ws, &t.key.owner, &dir).await?;
        found.extend(l.files.into_iter().map(|f| f.path));
        for name in l.dirs {
            pending.push(dir.join(&ArtifactPath::parse(&name)?));
        }
    }
    Ok(found)
}

/// `GET mlflow-artifacts/artifacts?path=`: the children of one directory, by name.
pub async fn list(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowQuery(q): MlflowQuery<ProxyListQuery>,
) -> MlflowResult<Json<ProxyListResponse>> {
    let raw = q.path.unwrap_or_default();
    let t = target(&s, ws, raw.trim_end_matches('/'), true).await?;
    let l = list_dir(&s, &t.ws, &t.key.owner, &t.key.path).await?;
    Ok(Json(ProxyListResponse {
        files: file_infos(l, |name| name.to_string()),
    }))
}

/// `GET mlflow/artifacts/list?run_id=&path=`: one directory, paths from the artifact root.
pub async fn list_run(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowQuery(q): MlflowQuery<RunArtifactsQuery>,
) -> MlflowResult<Json<RunArtifactsResponse>> {
    let id = run_id(&q.run)?;
    let dir = ArtifactPath::parse_dir(q.path.as_deref().unwrap_or(""))?;
    let run = s.store.get_run(&ws, &id).await?;
    let l = s.store.list_artifacts(&ws, &id, &dir).await?;
    Ok(Json(RunArtifactsResponse {
        root_uri: mlflow_uri(&run.info.artifact_uri),
        files: file_infos(l, |name| {
            if dir.is_root() {
                name.to_string()
            } else {
                format!("{dir}/{name}")
            }
        }),
    }))
}

/// Directories then files, each shown under `shown(child name)`.
pub(crate) fn file_infos(l: ArtifactListing, shown: impl Fn(&str) -> String) -> Vec<FileInfoView> {
    let dirs = l.dirs.iter().map(|d| FileInfoView {
        path: shown(d),
        is_dir: true,
        file_size: None,
    });
    let files = l.files.iter().map(|f| FileInfoView {
        path: shown(f.path.components().last().unwrap_or_default()),
        is_dir: false,
        file_size: Some(f.size),
    });
    dirs.chain(files).collect()
}
