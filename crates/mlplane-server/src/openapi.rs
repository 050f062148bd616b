//! The OpenAPI 3 document, generated from the `#[utoipa::path]` annotations on the handlers.
//!
//! Invariants:
//! - every route in `routes::api_v1` is listed here (a test compares the two);
//! - every operation has a unique `operationId`, `<tag>_<handler>` (utoipa names operations
//!   after their handler function, and `list`, `get`... repeat across resources; generated
//!   clients such as the studio's key their types by it).

use crate::routes::{
    artifacts, assets, computes, experiments, health, identity, jobs, log_stream, principals,
    registry, runs, schemas, search, snapshots, workspaces,
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
        identity::login, identity::logout, identity::me,
        identity::create_token, identity::list_tokens, identity::revoke_token,
        principals::create_user, principals::list_users, principals::delete_user,
        principals::create_service_principal, principals::list_service_principals, principals::delete_service_principal,
        principals::create_service_principal_token,
        principals::list_role_bindings, principals::set_role_binding, principals::delete_role_binding,
        principals::list_roles, principals::put_role, principals::delete_role,
        search::search_runs, registry::list_models, registry::get_model, registry::list_versions,
    ),
    tags((name = "workspaces"), (name = "experiments"), (name = "runs"), (name = "artifacts"), (name = "jobs"), (name = "snapshots"), (name = "assets"), (name = "computes"), (name = "schemas"), (name = "health"), (name = "auth"), (name = "models"))
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
    unique_operation_ids(&mut doc);
    doc
}

/// Prefixes each operation id with its first tag, and with the method when that is still not
/// unique.
fn unique_operation_ids(doc: &mut utoipa::openapi::OpenApi) {
    let mut seen = std::collections::HashSet::new();
    for item in doc.paths.paths.values_mut() {
        let ops = [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("head", &mut item.head),
            ("patch", &mut item.patch),
        ];
        for (method, op) in ops {
            let Some(op) = op.as_mut() else { continue };
            let name = op
                .operation_id
                .clone()
                .unwrap_or_else(|| method.to_string());
            let tag = op.tags.as_ref().and_then(|t| t.first()).cloned();
            let mut id = match tag {
                Some(tag) if !name.starts_with(&format!("{tag}_")) => format!("{tag}_{name}"),
                _ => name,
            };
            if !seen.insert(id.clone()) {
                id = format!("{id}_{method}");
                seen.insert(id.clone());
            }
            op.operation_id = Some(id);
        }
    }
}
