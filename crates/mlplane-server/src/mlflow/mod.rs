//! The MLflow REST API (tracking and model registry), so the stock `mlflow` Python client and the MLflow
//! UI can talk to mlplane.
//!
//! Every endpoint is served under both `/api/2.0/mlflow/...` (the SDK) and
//! `/ajax-api/2.0/mlflow/...` (the UI), the artifact proxy likewise under
//! `.../2.0/mlflow-artifacts/...`; `/health` and `/version` sit at the root. The root
//! URL is the `default` workspace: handlers receive the workspace from the [`Workspace`]
//! extractor, so serving `/w/{workspace}/...` later only changes that extractor and the
//! mounting here.
//!
//! Invariants:
//! - every failure answers in MLflow's `{"error_code", "message"}` shape ([`error`]);
//! - request bodies are parsed as JSON whatever their content type, and an empty body is `{}`;
//! - handlers are thin: parse, validate through `mlplane_core`, one store call, map to a view.

pub mod artifacts;
pub mod error;
pub mod experiments;
pub mod int64;
pub mod logged_models;
pub mod model_views;
pub mod mpu;
pub mod registry;
pub mod registry_views;
pub mod runs;
pub mod search;
pub mod views;

use crate::auth::table::{Routes, any, delete, get, patch, post, put};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{
    DefaultBodyLimit, FromRequest, FromRequestParts, OriginalUri, RawPathParams, Request,
};
use axum::http::Method;
use axum::http::request::Parts;
use error::{MlflowCode, MlflowError, MlflowResult};
use mlplane_auth::actions::{PUBLIC, SIGNED_IN};
use mlplane_core::{ExperimentId, RunId, WorkspaceName};
use serde::de::DeserializeOwned;
use views::RunRef;

/// The MLflow routes: the root serves the `default` workspace, `/w/{workspace}/...` any
/// other, with the same routes under both.
pub fn router(state: &AppState) -> Routes {
    let api = workspace_routes(state);
    Routes::new().merge(api.clone()).nest("/w/{workspace}", api)
}

/// Everything one workspace serves: `/health`, `/version`, the tracking API (2.0 and the
/// 3.0 server-info) under both prefixes and the artifact proxy.
fn workspace_routes(state: &AppState) -> Routes {
    let tracking = tracking_routes(state);
    let v3 = Routes::new()
        .route("/server-info", get(SIGNED_IN, server_info))
        .route("/{*rest}", any(SIGNED_IN, endpoint_not_found));
    Routes::new()
        .route("/health", get(PUBLIC, health))
        .route("/version", get(PUBLIC, version))
        .nest("/api/2.0/mlflow", tracking.clone())
        .nest("/ajax-api/2.0/mlflow", tracking)
        .nest("/api/3.0/mlflow", v3.clone())
        .nest("/ajax-api/3.0/mlflow", v3)
        .nest("/api/2.0/mlflow-artifacts", proxy_routes(state))
        .nest("/ajax-api/2.0/mlflow-artifacts", proxy_routes(state))
}

/// The artifact proxy: uploads stream, so no request-size layer (the artifact byte limit
/// applies instead), except on the JSON bodies of the multipart routes.
fn proxy_routes(state: &AppState) -> Routes {
    let json_limit = DefaultBodyLimit::max(state.limits.max_request_bytes);
    const R: &str = "artifacts/read";
    const W: &str = "artifacts/write";
    Routes::new()
        .route("/artifacts", get(R, artifacts::list))
        .route(
            "/artifacts/{*path}",
            get(R, artifacts::download)
                .put(W, artifacts::upload)
                .delete(W, artifacts::delete),
        )
        .route(
            "/mpu/create/{*path}",
            post(W, mpu::create).layer(json_limit),
        )
        .route(
            "/mpu/complete/{*path}",
            post(W, mpu::complete).layer(json_limit),
        )
        .route("/mpu/abort/{*path}", post(W, mpu::abort).layer(json_limit))
        .route("/mpu/part/{upload_id}/{part_number}", put(W, mpu::put_part))
        .route("/{*rest}", any(SIGNED_IN, endpoint_not_found))
        .layer(DefaultBodyLimit::disable())
}

fn tracking_routes(state: &AppState) -> Routes {
    const ER: &str = "experiments/read";
    const EW: &str = "experiments/write";
    const RR: &str = "runs/read";
    const RW: &str = "runs/write";
    const MR: &str = "models/read";
    const MW: &str = "models/write";
    Routes::new()
        .route("/experiments/create", post(EW, experiments::create))
        .route(
            "/experiments/search",
            post(ER, search::experiments_post).get(ER, search::experiments_get),
        )
        .route("/experiments/get", get(ER, experiments::get))
        .route(
            "/experiments/get-by-name",
            get(ER, experiments::get_by_name),
        )
        .route("/experiments/update", post(EW, experiments::update))
        .route("/experiments/delete", post(EW, experiments::delete))
        .route("/experiments/restore", post(EW, experiments::restore))
        .route(
            "/experiments/set-experiment-tag",
            post(EW, experiments::set_tag),
        )
        .route(
            "/experiments/delete-experiment-tag",
            post(EW, experiments::delete_tag),
        )
        .route("/runs/create", post(RW, runs::create))
        .route("/runs/get", get(RR, runs::get))
        .route("/runs/update", post(RW, runs::update))
        .route("/runs/delete", post(RW, runs::delete))
        .route("/runs/restore", post(RW, runs::restore))
        .route("/runs/log-metric", post(RW, runs::log_metric))
        .route("/runs/log-parameter", post(RW, runs::log_param))
        .route("/runs/set-tag", post(RW, runs::set_tag))
        .route("/runs/delete-tag", post(RW, runs::delete_tag))
        .route("/runs/log-batch", post(RW, runs::log_batch))
        .route("/runs/log-inputs", post(RW, runs::log_inputs))
        .route("/runs/search", post(RR, search::runs))
        .route(
            "/metrics/get-history-bulk-interval",
            get(RR, search::history_bulk_interval),
        )
        .route("/metrics/get-history", get(RR, runs::history))
        .route(
            "/artifacts/list",
            get("artifacts/read", artifacts::list_run),
        )
        .route("/runs/outputs", post(RW, logged_models::log_outputs))
        .route("/logged-models", post(MW, logged_models::create))
        .route("/logged-models/search", post(MR, logged_models::search))
        .route(
            "/logged-models/{model_id}",
            get(MR, logged_models::get)
                .patch(MW, logged_models::finalize)
                .delete(MW, logged_models::delete),
        )
        .route(
            "/logged-models/{model_id}/params",
            post(MW, logged_models::log_params),
        )
        .route(
            "/logged-models/{model_id}/tags",
            patch(MW, logged_models::set_tags),
        )
        .route(
            "/logged-models/{model_id}/tags/{tag_key}",
            delete(MW, logged_models::delete_tag),
        )
        .route(
            "/logged-models/{model_id}/artifacts/directories",
            get(MR, logged_models::list_artifacts),
        )
        .route(
            "/logged-models/{model_id}/artifacts/files",
            get(MR, logged_models::download_artifact),
        )
        .merge(registry_routes())
        .route("/{*rest}", any(SIGNED_IN, endpoint_not_found))
        .layer(DefaultBodyLimit::max(state.limits.max_request_bytes))
}

/// The model registry (`registered-models/*`, `model-versions/*`).
fn registry_routes() -> Routes {
    use registry as r;
    const MR: &str = "models/read";
    const MW: &str = "models/write";
    Routes::new()
        .route("/registered-models/create", post(MW, r::create_model))
        .route("/registered-models/get", get(MR, r::get_model))
        .route("/registered-models/rename", post(MW, r::rename_model))
        .route("/registered-models/update", patch(MW, r::update_model))
        .route("/registered-models/delete", delete(MW, r::delete_model))
        .route("/registered-models/search", get(MR, r::search_models))
        .route(
            "/registered-models/get-latest-versions",
            post(MR, r::latest_versions_post).get(MR, r::latest_versions_get),
        )
        .route("/registered-models/set-tag", post(MW, r::set_model_tag))
        .route(
            "/registered-models/delete-tag",
            delete(MW, r::delete_model_tag),
        )
        .route(
            "/registered-models/alias",
            post(MW, r::set_alias)
                .delete(MW, r::delete_alias)
                .get(MR, r::get_by_alias),
        )
        .route("/model-versions/create", post(MW, r::create_version))
        .route("/model-versions/get", get(MR, r::get_version))
        .route("/model-versions/update", patch(MW, r::update_version))
        .route("/model-versions/delete", delete(MW, r::delete_version))
        .route("/model-versions/search", get(MR, r::search_versions))
        .route(
            "/model-versions/get-download-uri",
            get(MR, r::download_uri_of),
        )
        .route(
            "/model-versions/transition-stage",
            post(MW, r::transition_stage),
        )
        .route("/model-versions/set-tag", post(MW, r::set_version_tag))
        .route(
            "/model-versions/delete-tag",
            delete(MW, r::delete_version_tag),
        )
}

async fn health() -> &'static str {
    "OK"
}

async fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// `GET /api/3.0/mlflow/server-info`: what this server supports, as MLflow 3 clients
/// probe it (e.g. before choosing multipart uploads).
async fn server_info() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "store_type": "SqlStore",
        "workspaces_enabled": false,
        "trace_archival_enabled": false,
        "multipart_uploads_enabled": true,
        "multipart_downloads_enabled": false,
        "presigned_upload_run_id_supported": false,
        "presigned_upload_model_id_supported": false,
        "features_enabled": { "gateway": false },
    }))
}

/// Any MLflow path mlplane does not serve: ENDPOINT_NOT_FOUND naming it.
async fn endpoint_not_found(method: Method, uri: OriginalUri) -> MlflowError {
    let path = uri.0.path().to_string();
    MlflowError::new(
        MlflowCode::EndpointNotFound,
        format!("mlplane does not serve the MLflow endpoint {method} {path}"),
    )
}

/// The workspace a request addresses: `default` at the root URL, else the `{workspace}`
/// of a `/w/{workspace}/...` URL.
pub struct Workspace(pub WorkspaceName);

impl<S: Send + Sync> FromRequestParts<S> for Workspace {
    type Rejection = MlflowError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|rej| MlflowError::invalid(rej.body_text()))?;
        match params.iter().find(|(k, _)| *k == "workspace") {
            None => Ok(Workspace(WorkspaceName::default_workspace())),
            Some((_, v)) => Ok(Workspace(WorkspaceName::parse(v)?)),
        }
    }
}

/// The named captures of a route's path, decoded, in MLflow's error shape. Read by name:
/// under `/w/{workspace}` every route has one capture more than its own.
pub struct PathParams(pub std::collections::HashMap<String, String>);

impl PathParams {
    /// The capture `name`, or INVALID_PARAMETER_VALUE if the route has none by that name.
    pub fn take(&mut self, name: &str) -> MlflowResult<String> {
        self.0
            .remove(name)
            .ok_or_else(|| MlflowError::invalid(format!("missing path parameter '{name}'")))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PathParams {
    type Rejection = MlflowError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<std::collections::HashMap<String, String>>::from_request_parts(
            parts, state,
        )
        .await
        .map(|p| PathParams(p.0))
        .map_err(|rej| MlflowError::invalid(rej.body_text()))
    }
}

/// A JSON body in MLflow's error shape; the content type is not checked.
pub struct MlflowJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for MlflowJson<T> {
    type Rejection = MlflowError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rej| {
            if rej.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                MlflowError::new(
                    MlflowCode::PayloadTooLarge,
                    "request body is larger than the server's limit",
                )
            } else {
                MlflowError::invalid(rej.body_text())
            }
        })?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(text)
            .map(MlflowJson)
            .map_err(|e| MlflowError::invalid(format!("invalid request body: {e}")))
    }
}

/// Query-string pairs in order, for endpoints with repeated keys (`order_by`, `stages`,
/// `run_ids`); read them with `MlflowQuery<Vec<(String, String)>>`.
#[derive(Debug, Default)]
pub struct Pairs(pub Vec<(String, String)>);

impl Pairs {
    /// The last value of `key`.
    pub fn one(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `key`.
    pub fn first(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `key` as an integer; absent or empty is `None`.
    pub fn int(&self, key: &str) -> MlflowResult<Option<i64>> {
        self.first(key)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    MlflowError::invalid(format!("{key} must be an integer, got '{v}'"))
                })
            })
            .transpose()
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// `max_results` as a number; absent or empty is 0 (the default).
    pub fn max_results(&self) -> MlflowResult<usize> {
        match self.one("max_results").map(str::trim) {
            None | Some("") => Ok(0),
            Some(s) => s.parse::<usize>().map_err(|_| {
                MlflowError::invalid(format!("max_results '{s}' is not a non-negative integer"))
            }),
        }
    }
}

/// Query-string parameters in MLflow's error shape.
pub struct MlflowQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for MlflowQuery<T> {
    type Rejection = MlflowError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| MlflowQuery(q.0))
            .map_err(|rej| MlflowError::invalid(rej.body_text()))
    }
}

pub(crate) fn experiment_id(s: &str) -> MlflowResult<ExperimentId> {
    Ok(ExperimentId::parse(s)?)
}

/// The run of a request: `run_id`, else the deprecated `run_uuid`.
///
/// An id MLflow would accept (`^[a-zA-Z0-9][\w\-]{0,255}$`) that is not an mlplane run id
/// names no run here: RESOURCE_DOES_NOT_EXIST, as MLflow answers; other text is
/// INVALID_PARAMETER_VALUE.
pub(crate) fn run_id(r: &RunRef) -> MlflowResult<RunId> {
    let raw = r
        .run_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .or(r.run_uuid.as_deref())
        .ok_or_else(|| MlflowError::invalid("missing value for required parameter 'run_id'"))?;
    RunId::parse(raw).map_err(|e| {
        let mlflow_shaped = raw.len() <= 256
            && raw
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if mlflow_shaped {
            MlflowError::new(
                MlflowCode::ResourceDoesNotExist,
                format!("run '{raw}' not found"),
            )
        } else {
            e.into()
        }
    })
}
