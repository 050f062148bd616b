//! The MLflow REST API (tracking slice), so the stock `mlflow` Python client and the MLflow
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
pub mod runs;
pub mod views;

use crate::state::AppState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::routing::{get, post};
use error::{MlflowCode, MlflowError, MlflowResult};
use mlplane_core::{ExperimentId, RunId, WorkspaceName};
use serde::de::DeserializeOwned;
use views::RunRef;

/// The MLflow routes: `/health`, `/version` and the tracking API under both prefixes.
pub fn router(state: &AppState) -> Router<AppState> {
    let tracking = tracking_routes(state);
    Router::new()
        .route("/health", get(health))
        .route("/version", get(version))
        .nest("/api/2.0/mlflow", tracking.clone())
        .nest("/ajax-api/2.0/mlflow", tracking)
        .nest("/api/2.0/mlflow-artifacts", proxy_routes(state))
        .nest("/ajax-api/2.0/mlflow-artifacts", proxy_routes(state))
}

/// The artifact proxy: uploads stream, so no request-size layer (the artifact byte limit
/// applies instead), except on the JSON bodies of the multipart routes.
fn proxy_routes(state: &AppState) -> Router<AppState> {
    let json_limit = DefaultBodyLimit::max(state.limits.max_request_bytes);
    Router::new()
        .route("/artifacts", get(artifacts::list))
        .route(
            "/artifacts/{*path}",
            get(artifacts::download)
                .put(artifacts::upload)
                .delete(artifacts::delete),
        )
        .route("/mpu/create/{*path}", post(mpu::create).layer(json_limit))
        .route(
            "/mpu/complete/{*path}",
            post(mpu::complete).layer(json_limit),
        )
        .route("/mpu/abort/{*path}", post(mpu::abort).layer(json_limit))
        .route(
            "/mpu/part/{upload_id}/{part_number}",
            axum::routing::put(mpu::put_part),
        )
        .fallback(endpoint_not_found)
        .layer(DefaultBodyLimit::disable())
}

fn tracking_routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/experiments/create", post(experiments::create))
        .route("/experiments/get", get(experiments::get))
        .route("/experiments/get-by-name", get(experiments::get_by_name))
        .route("/experiments/update", post(experiments::update))
        .route("/experiments/delete", post(experiments::delete))
        .route("/experiments/restore", post(experiments::restore))
        .route(
            "/experiments/set-experiment-tag",
            post(experiments::set_tag),
        )
        .route(
            "/experiments/delete-experiment-tag",
            post(experiments::delete_tag),
        )
        .route("/runs/create", post(runs::create))
        .route("/runs/get", get(runs::get))
        .route("/runs/update", post(runs::update))
        .route("/runs/delete", post(runs::delete))
        .route("/runs/restore", post(runs::restore))
        .route("/runs/log-metric", post(runs::log_metric))
        .route("/runs/log-parameter", post(runs::log_param))
        .route("/runs/set-tag", post(runs::set_tag))
        .route("/runs/delete-tag", post(runs::delete_tag))
        .route("/runs/log-batch", post(runs::log_batch))
        .route("/metrics/get-history", get(runs::history))
        .route("/artifacts/list", get(artifacts::list_run))
        .route("/runs/outputs", post(logged_models::log_outputs))
        .route("/runs/log-inputs", post(logged_models::log_inputs))
        .route("/logged-models", post(logged_models::create))
        .route("/logged-models/search", post(logged_models::search))
        .route(
            "/logged-models/{model_id}",
            get(logged_models::get)
                .patch(logged_models::finalize)
                .delete(logged_models::delete),
        )
        .route(
            "/logged-models/{model_id}/params",
            post(logged_models::log_params),
        )
        .route(
            "/logged-models/{model_id}/tags",
            axum::routing::patch(logged_models::set_tags),
        )
        .route(
            "/logged-models/{model_id}/tags/{tag_key}",
            axum::routing::delete(logged_models::delete_tag),
        )
        .route(
            "/logged-models/{model_id}/artifacts/directories",
            get(logged_models::list_artifacts),
        )
        .route(
            "/logged-models/{model_id}/artifacts/files",
            get(logged_models::download_artifact),
        )
        .fallback(endpoint_not_found)
        .layer(DefaultBodyLimit::max(state.limits.max_request_bytes))
}

async fn health() -> &'static str {
    "OK"
}

async fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

async fn endpoint_not_found() -> MlflowError {
    MlflowError::new(MlflowCode::EndpointNotFound, "no such MLflow endpoint")
}

/// The workspace a request addresses. The root URL serves the `default` workspace.
pub struct Workspace(pub WorkspaceName);

impl<S: Send + Sync> FromRequestParts<S> for Workspace {
    type Rejection = MlflowError;

    async fn from_request_parts(_: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Workspace(WorkspaceName::default_workspace()))
    }
}

/// A JSON body in MLflow's error shape; the content type is not checked.
pub struct MlflowJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for MlflowJson<T> {
    type Rejection = MlflowError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rej| MlflowError::invalid(rej.body_text()))?;
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
