//! Liveness (`/healthz`), readiness (`/readyz`), Prometheus metrics (`/metrics`) and the
//! OpenAPI document (`/api/v1/openapi.json`).

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use mlplane_api::{ErrorBody, HealthView};

fn ok() -> HealthView {
    HealthView {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = HealthView)))]
pub async fn healthz() -> Json<HealthView> {
    Json(ok())
}

/// The metadata store and artifact store answer.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = HealthView), (status = 503, body = ErrorBody)))]
pub async fn readyz(State(s): State<AppState>) -> ApiResult<Json<HealthView>> {
    s.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness: metadata store");
        ApiError::new(ErrorCode::Unavailable, "metadata store is not ready")
    })?;
    s.artifacts.check().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness: artifact store");
        ApiError::new(ErrorCode::Unavailable, "artifact store is not ready")
    })?;
    Ok(Json(ok()))
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let text = s.metrics.render(&s.store.timings(), s.store.engine());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// The OpenAPI 3 document of this API.
pub async fn openapi() -> impl IntoResponse {
    Json(crate::openapi::document())
}
