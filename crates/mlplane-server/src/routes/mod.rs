//! Route table of `/api/v1` and the helpers every handler shares: parsing path ids and
//! paging parameters into domain types.
//!
//! Handlers are thin: extract, validate through `mlplane_core`, call one store or artifact
//! function, map the result to a `*View`. One file per resource.

pub mod artifacts;
pub mod assets;
pub mod audit;
pub mod computes;
pub mod experiments;
pub mod health;
pub mod jobs;
pub mod log_stream;
pub mod runs;
pub mod schemas;
pub mod secrets;
pub mod snapshots;
pub mod workspaces;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use mlplane_core::{ExperimentId, PageRequest, RunId, ViewType, WorkspaceName};

/// The `/api/v1` routes.
pub fn api_v1(state: &AppState) -> Router<AppState> {
    let json_limit = DefaultBodyLimit::max(state.limits.max_request_bytes);
    let ws = "/api/v1/workspaces/{ws}";
    let json_routes = Router::new()
        .route(
            "/api/v1/workspaces",
            get(workspaces::list).post(workspaces::create),
        )
        .route(ws, get(workspaces::get))
        .route(
            &format!("{ws}/experiments"),
            get(experiments::list).post(experiments::create),
        )
        .route(
            &format!("{ws}/experiments/by-name/{{name}}"),
            get(experiments::get_by_name),
        )
        .route(
            &format!("{ws}/experiments/{{id}}"),
            get(experiments::get)
                .patch(experiments::update)
                .delete(experiments::delete),
        )
        .route(
            &format!("{ws}/experiments/{{id}}/restore"),
            post(experiments::restore),
        )
        .route(
            &format!("{ws}/experiments/{{id}}/tags"),
            post(experiments::set_tag).delete(experiments::delete_tag),
        )
        .route(&format!("{ws}/runs"), get(runs::list).post(runs::create))
        .route(
            &format!("{ws}/runs/{{run_id}}"),
            get(runs::get).patch(runs::update).delete(runs::delete),
        )
        .route(
            &format!("{ws}/runs/{{run_id}}/restore"),
            post(runs::restore),
        )
        .route(
            &format!("{ws}/runs/{{run_id}}/batch"),
            post(runs::log_batch),
        )
        .route(
            &format!("{ws}/runs/{{run_id}}/metrics"),
            post(runs::log_metric),
        )
        .route(
            &format!("{ws}/runs/{{run_id}}/params"),
            post(runs::log_param),
        )
        .route(
            &format!("{ws}/runs/{{run_id}}/tags"),
            post(runs::set_tag).delete(runs::delete_tag),
        )
        .route(
            &format!("{ws}/runs/{{run_id}}/metric-history"),
            get(runs::history),
        )
        .route(
            &format!("{ws}/runs/{{run_id}}/metric-history/sampled"),
            get(runs::sampled),
        )
        .route(
            &format!("{ws}/runs/{{run_id}}/logs"),
            get(runs::read_log).post(runs::append_log),
        )
        .route(
            &format!("{ws}/runs/{{run_id}}/logs/stream"),
            get(log_stream::stream),
        )
        .route(
            &format!("{ws}/runs/{{run_id}}/artifact-list"),
            get(artifacts::list),
        )
        .route(
            "/api/v1/computes",
            get(computes::list).post(computes::create),
        )
        .route("/api/v1/computes/{name}", get(computes::get))
        .route("/api/v1/schemas/{kind}", get(schemas::get))
        .route(&format!("{ws}/secrets"), get(secrets::list))
        .route(
            &format!("{ws}/secrets/{{name}}"),
            get(secrets::get).put(secrets::put).delete(secrets::delete),
        )
        .route("/api/v1/audit", get(audit::list))
        .route(&format!("{ws}/jobs"), get(jobs::list).post(jobs::create))
        .route(&format!("{ws}/jobs/{{name}}"), get(jobs::get))
        .route(&format!("{ws}/jobs/{{name}}/cancel"), post(jobs::cancel))
        .route(&format!("{ws}/jobs/{{name}}/io"), get(jobs::io))
        // `{kind}` is data, models or environments; static segments (runs, jobs...) win.
        .route(
            &format!("{ws}/{{kind}}"),
            get(assets::list).post(assets::create),
        )
        .route(
            &format!("{ws}/{{kind}}/{{name}}/versions"),
            get(assets::versions),
        )
        .route(
            &format!("{ws}/{{kind}}/{{name}}/versions/{{version}}"),
            get(assets::get),
        )
        .route(
            &format!("{ws}/{{kind}}/{{name}}/versions/{{version}}/archive"),
            post(assets::archive),
        )
        .route(
            &format!("{ws}/{{kind}}/{{name}}/versions/{{version}}/restore"),
            post(assets::restore),
        )
        .route(
            &format!("{ws}/{{kind}}/{{name}}/versions/{{version}}/lineage"),
            get(assets::lineage),
        )
        .route(
            &format!("{ws}/{{kind}}/{{name}}/versions/{{version}}/complete"),
            post(assets::complete),
        )
        .route(
            &format!("{ws}/{{kind}}/{{name}}/versions/{{version}}/files"),
            get(assets::files),
        )
        .layer(json_limit);
    let artifact_routes = Router::new()
        .route(
            &format!("{ws}/runs/{{run_id}}/artifacts/{{*path}}"),
            get(artifacts::download)
                .put(artifacts::upload)
                .delete(artifacts::delete),
        )
        .route(
            &format!("{ws}/snapshots/{{sha256}}"),
            get(snapshots::get)
                .head(snapshots::head)
                .put(snapshots::put),
        )
        .route(
            &format!("{ws}/snapshots/{{sha256}}/files/{{*path}}"),
            get(snapshots::file),
        )
        .route(
            &format!("{ws}/{{kind}}/{{name}}/versions/{{version}}/files/{{*path}}"),
            get(assets::download_file).put(assets::upload_file),
        )
        .layer(DefaultBodyLimit::disable());
    json_routes.merge(artifact_routes)
}

pub(crate) fn workspace(s: &str) -> ApiResult<WorkspaceName> {
    Ok(WorkspaceName::parse(s)?)
}

pub(crate) fn run_id(s: &str) -> ApiResult<RunId> {
    Ok(RunId::parse(s)?)
}

pub(crate) fn experiment_id(s: &str) -> ApiResult<ExperimentId> {
    Ok(ExperimentId::parse(s)?)
}

pub(crate) fn view(v: Option<&str>) -> ApiResult<ViewType> {
    match v.unwrap_or("active") {
        "active" | "active_only" | "ACTIVE_ONLY" => Ok(ViewType::ActiveOnly),
        "deleted" | "deleted_only" | "DELETED_ONLY" => Ok(ViewType::DeletedOnly),
        "all" | "ALL" => Ok(ViewType::All),
        other => Err(ApiError::new(
            ErrorCode::InvalidParameter,
            format!("view: unknown value '{other}' (expected active, deleted or all)"),
        )),
    }
}

pub(crate) fn page(max_results: Option<usize>, page_token: Option<String>) -> PageRequest {
    PageRequest {
        max_results: max_results.unwrap_or(0),
        page_token: page_token.filter(|t| !t.is_empty()),
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
