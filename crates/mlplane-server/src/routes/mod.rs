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
pub mod identity;
pub mod jobs;
pub mod log_stream;
pub mod principals;
pub mod registry;
pub mod runs;
pub mod schemas;
pub mod search;
pub mod secrets;
pub mod snapshots;
pub mod studio;
pub mod workspaces;

use crate::auth::table::{Routes, get, post};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use mlplane_auth::actions::{SIGNED_IN, USERS_ADMIN};
use mlplane_core::{ExperimentId, PageRequest, RunId, ViewType, WorkspaceName};

/// The `/api/v1` routes, each method with the action it requires.
pub fn api_v1(state: &AppState) -> Routes {
    let json_limit = DefaultBodyLimit::max(state.limits.max_request_bytes);
    let ws = "/api/v1/workspaces/{ws}";
    let json_routes = Routes::new()
        .route(
            "/api/v1/workspaces",
            get(SIGNED_IN, workspaces::list).post(USERS_ADMIN, workspaces::create),
        )
        .route(ws, get("workspaces/read", workspaces::get))
        .route(
            &format!("{ws}/experiments"),
            get("experiments/read", experiments::list)
                .post("experiments/write", experiments::create),
        )
        .route(
            &format!("{ws}/experiments/by-name/{{name}}"),
            get("experiments/read", experiments::get_by_name),
        )
        .route(
            &format!("{ws}/experiments/{{id}}"),
            get("experiments/read", experiments::get)
                .patch("experiments/write", experiments::update)
                .delete("experiments/write", experiments::delete),
        )
        .route(
            &format!("{ws}/experiments/{{id}}/restore"),
            post("experiments/write", experiments::restore),
        )
        .route(
            &format!("{ws}/experiments/{{id}}/tags"),
            post("experiments/write", experiments::set_tag)
                .delete("experiments/write", experiments::delete_tag),
        )
        .route(
            &format!("{ws}/runs"),
            get("runs/read", runs::list).post("runs/write", runs::create),
        )
        .route(
            &format!("{ws}/runs/search"),
            post("runs/read", search::search_runs),
        )
        .route(
            &format!("{ws}/registered-models"),
            get("models/read", registry::list_models),
        )
        .route(
            &format!("{ws}/registered-models/{{name}}"),
            get("models/read", registry::get_model),
        )
        .route(
            &format!("{ws}/registered-models/{{name}}/versions"),
            get("models/read", registry::list_versions),
        )
        .route(
            &format!("{ws}/runs/{{run_id}}"),
            get("runs/read", runs::get)
                .patch("runs/write", runs::update)
                .delete("runs/write", runs::delete),
        )
        .route(
            &format!("{ws}/runs/{{run_id}}/restore"),
            post("runs/write", runs::restore),
        )
        .route(
            &format!("{ws}/runs/{{run_id}}/batch"),
            post("runs/write", runs::log_batch),
        )
        .route(
            &format!("{ws}/runs/{{run_id}}/metrics"),
            post("runs/write", runs::log_metric),
        )
        .route(
            &format!("{ws}/runs/{{run_id}}/params"),
            post("runs/write", runs::log_param),
        )
        .route(
            &format!("{ws}/runs/{{run_id}}/tags"),
            post("runs/write", runs::set_tag).delete("runs/write", runs::delete_tag),
        )
        .route(
            &format!("{ws}/runs/{{run_id}}/metric-history"),
            get("runs/read", runs::history),
        )
        .route(
            &format!("{ws}/runs/{{run_id}}/metric-history/sampled"),
            get("runs/read", runs::sampled),
        )
        .route(
            &format!("{ws}/runs/{{run_id}}/logs"),
            get("runs/read", runs::read_log).post("runs/write", runs::append_log),
        )
        .route(
            &format!("{ws}/runs/{{run_id}}/logs/stream"),
            get("runs/read", log_stream::stream),
        )
        .route(
            &format!("{ws}/runs/{{run_id}}/artifact-list"),
            get("artifacts/read", artifacts::list),
        )
        .route(
            "/api/v1/computes",
            get("computes/read", computes::list).post("computes/write", computes::create),
        )
        .route(
            "/api/v1/computes/{name}",
            get("computes/read", computes::get),
        )
        .route("/api/v1/schemas/{kind}", get(SIGNED_IN, schemas::get))
        .route(
            &format!("{ws}/jobs"),
            get("jobs/read", jobs::list).post("jobs/write", jobs::create),
        )
        .route(&format!("{ws}/jobs/{{name}}"), get("jobs/read", jobs::get))
        .route(
            &format!("{ws}/jobs/{{name}}/cancel"),
            post("jobs/cancel", jobs::cancel),
        )
        .route(
            &format!("{ws}/jobs/{{name}}/io"),
            get("jobs/read", jobs::io),
        )
        .route(&format!("{ws}/secrets"), get("secrets/read", secrets::list))
        .route(
            &format!("{ws}/secrets/{{name}}"),
            get("secrets/read", secrets::get)
                .put("secrets/write", secrets::put)
                .delete("secrets/write", secrets::delete),
        )
        .route("/api/v1/audit", get(USERS_ADMIN, audit::list))
        // `{kind}` is data, models or environments; static segments (runs, jobs...) win.
        .route(
            &format!("{ws}/{{kind}}"),
            get("{kind}/read", assets::list).post("{kind}/write", assets::create),
        )
        .route(
            &format!("{ws}/{{kind}}/{{name}}/versions"),
            get("{kind}/read", assets::versions),
        )
        .route(
            &format!("{ws}/{{kind}}/{{name}}/versions/{{version}}"),
            get("{kind}/read", assets::get),
        )
        .route(
            &format!("{ws}/{{kind}}/{{name}}/versions/{{version}}/archive"),
            post("{kind}/write", assets::archive),
        )
        .route(
            &format!("{ws}/{{kind}}/{{name}}/versions/{{version}}/restore"),
            post("{kind}/write", assets::restore),
        )
        .route(
            &format!("{ws}/{{kind}}/{{name}}/versions/{{version}}/lineage"),
            get("{kind}/read", assets::lineage),
        )
        .route(
            &format!("{ws}/{{kind}}/{{name}}/versions/{{version}}/complete"),
            post("{kind}/write", assets::complete),
        )
        .route(
            &format!("{ws}/{{kind}}/{{name}}/versions/{{version}}/files"),
            get("{kind}/read", assets::files),
        )
        .merge(identity::routes())
        .layer(json_limit);
    let artifact_routes = Routes::new()
        .route(
            &format!("{ws}/runs/{{run_id}}/artifacts/{{*path}}"),
            get("artifacts/read", artifacts::download)
                .put("artifacts/write", artifacts::upload)
                .delete("artifacts/write", artifacts::delete),
        )
        .route(
            &format!("{ws}/snapshots/{{sha256}}"),
            get("jobs/read", snapshots::get)
                .head("jobs/read", snapshots::head)
                .put("jobs/write", snapshots::put),
        )
        .route(
            &format!("{ws}/snapshots/{{sha256}}/files/{{*path}}"),
            get("jobs/read", snapshots::file),
        )
        .route(
            &format!("{ws}/{{kind}}/{{name}}/versions/{{version}}/files/{{*path}}"),
            get("{kind}/read", assets::download_file).put("{kind}/write", assets::upload_file),
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
