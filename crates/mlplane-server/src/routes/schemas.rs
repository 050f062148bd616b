//! `/api/v1/schemas/{kind}`: the JSON Schema (draft 2020-12) of each spec kind, for editors
//! and clients. The documents are the files under `schemas/` in the repository, compiled
//! in; `mlplane-spec`'s `tests/schemas.rs` keeps them equal to what the decoders accept.

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::AppPath;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use mlplane_api::ErrorBody;

/// Every kind with a schema, and its document.
pub const SCHEMAS: &[(&str, &str)] = &[
    (
        "command_job",
        include_str!("../../../../schemas/command_job.schema.json"),
    ),
    ("data", include_str!("../../../../schemas/data.schema.json")),
    (
        "model",
        include_str!("../../../../schemas/model.schema.json"),
    ),
    (
        "environment",
        include_str!("../../../../schemas/environment.schema.json"),
    ),
    (
        "compute",
        include_str!("../../../../schemas/compute.schema.json"),
    ),
    (
        "command_component",
        include_str!("../../../../schemas/command_component.schema.json"),
    ),
];

#[utoipa::path(get, path = "/api/v1/schemas/{kind}", tag = "schemas",
    params(("kind" = String, Path, description = "command_job, data, model, environment, compute or command_component")),
    responses((status = 200, description = "The JSON Schema (draft 2020-12) of the spec kind", content_type = "application/schema+json"),
              (status = 404, body = ErrorBody)))]
pub async fn get(AppPath(kind): AppPath<String>) -> ApiResult<Response> {
    let Some((_, doc)) = SCHEMAS.iter().find(|(k, _)| *k == kind) else {
        let kinds: Vec<&str> = SCHEMAS.iter().map(|(k, _)| *k).collect();
        return Err(ApiError::new(
            ErrorCode::RouteNotFound,
            format!("no schema '{kind}'; kinds: {}", kinds.join(", ")),
        ));
    };
    Ok(([(header::CONTENT_TYPE, "application/schema+json")], *doc).into_response())
}
