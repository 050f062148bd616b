//! The OpenAPI 3 document, generated from the `#[utoipa::path]` annotations on the handlers.
//!
//! Invariants:
//! - every route in `routes::api_v1` is listed here (a test compares the two).

use crate::routes::{
    artifacts, assets, computes, experiments, health, jobs, log_stream, runs, schemas, snapshots,
    workspaces,
};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "mlplane", description = "mlplane REST API: workspaces, experiments, runs, metrics, logs, artifacts, jobs and versioned assets."),
    paths(
        workspaces::list, workspaces::create, workspaces::get,
        experiments::list, experiments::create, experiments::get, experiments::get_by_name,
        experiments::update, experiments::delete, experiments::restore, experiments::set_tag, experiments::delete_tag,
        runs::create, runs::list, runs::get, runs::update, runs::delete, runs::restore,
        runs::log_batch, runs::log_metric, runs::log_param, runs::set_tag, runs::delete_tag,
        runs::history, runs::sampled, runs::append_log, runs::read_log, log_stream::stream,
        artifacts::upload, artifacts::download, artifacts::delete, artifacts::list,
        jobs::create, jobs::list, jobs::get, jobs::cancel, jobs::io,
        snapshots::head, snapshots::put, snapshots::get, snapshots::file,
        assets::create, assets::list, assets::versions, assets::get, assets::archive, assets::restore, assets::lineage,
        computes::create, computes::list, computes::get, schemas::get,
        assets::upload_file, assets::complete, assets::files, assets::download_file,
        health::healthz, health::readyz, health::metrics,
    ),
    tags((name = "workspaces"), (name = "experiments"), (name = "runs"), (name = "artifacts"), (name = "jobs"), (name = "snapshots"), (name = "assets"), (name = "computes"), (name = "schemas"), (name = "health"))
)]
struct ApiDoc;

/// Workspace secrets and the audit log.
#[derive(OpenApi)]
#[openapi(
    paths(
        crate::routes::secrets::list, crate::routes::secrets::get, crate::routes::secrets::put,
        crate::routes::secrets::delete, crate::routes::audit::list,
    ),
    tags((name = "secrets"), (name = "audit"))
)]
struct SecurityDoc;

/// The document served at `/api/v1/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(SecurityDoc::openapi());
    doc
}
