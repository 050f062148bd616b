//! `/api/v1/computes`: compute targets, the places jobs run and how many at once.
//!
//! A target is a versioned asset of kind `compute` kept in the default workspace: compute
//! targets belong to the server (its executors serve them for jobs of every workspace), so
//! they are not per workspace. Creating a target with an existing name stores its next
//! version, and the latest version is the target. `local` is built in: it is not stored,
//! and its slots are the server's `--job-slots`.
//!
//! Invariants:
//! - a target is stored only from a spec that validated, as canonical JSON;
//! - jobs name a target that exists and can run their environment (checked at submit, see
//!   [`check_job_compute`]).

use super::page;
use crate::error::ApiResult;
use crate::extract::{AppJson, AppPath};
use crate::specs::{self, position, spec_error};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use mlplane_api::{AssetList, AssetView, CreateAssetRequest, ErrorBody};
use mlplane_core::{AssetKind, AssetVersionRef, NewAsset, Tag, WorkspaceName};
use mlplane_spec::compute::{BUILTIN_LOCAL, ComputeSpec};
use mlplane_spec::{ComputeType, EnvSource};
use mlplane_store::StoreError;
use serde_json::{Value, json};

/// The canonical JSON of a compute target.
pub fn compute_json(c: &ComputeSpec) -> Value {
    json!({
        "name": c.meta.name,
        "type": c.kind.name(),
        "slots": c.slots,
        "cpu": c.cpu,
        "memory": c.memory,
    })
}

fn workspace() -> WorkspaceName {
    WorkspaceName::default_workspace()
}

/// The built-in `local` target as a view.
fn builtin(s: &AppState) -> AssetView {
    AssetView {
        kind: AssetKind::Compute.to_string(),
        name: BUILTIN_LOCAL.into(),
        version: "builtin".into(),
        description: "this server's machine; slots are `mlplane server --job-slots`".into(),
        tags: vec![],
        spec: json!({"name": BUILTIN_LOCAL, "type": "local", "slots": s.local_slots,
                     "cpu": null, "memory": null}),
        storage_uri: None,
        pending_upload: false,
        source_job: None,
        archived: false,
        created_at: 0,
    }
}

#[utoipa::path(post, path = "/api/v1/computes", tag = "computes",
    request_body = CreateAssetRequest,
    responses((status = 201, description = "The target's new version (the latest is the target)", body = AssetView),
              (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    AppJson(req): AppJson<CreateAssetRequest>,
) -> ApiResult<(StatusCode, Json<AssetView>)> {
    let (src, sets) = specs::spec_text(req)?;
    let c = mlplane_spec::parse_compute(&src, &sets)?;
    let new = NewAsset {
        kind: AssetKind::Compute,
        name: c.meta.name.clone(),
        version: None,
        description: c.meta.description.clone().unwrap_or_default(),
        tags: c
            .meta
            .tags
            .iter()
            .map(|(k, v)| Tag {
                key: k.clone(),
                value: v.clone(),
            })
            .collect(),
        spec: compute_json(&c).to_string(),
        storage_uri: None,
        source_job: None,
    };
    let a = s.store.create_asset(&workspace(), new).await?;
    // The executor picks up the new target (and its slots) at once.
    s.wake.job_submitted();
    Ok((StatusCode::CREATED, Json(a.into())))
}

#[utoipa::path(get, path = "/api/v1/computes", tag = "computes",
    responses((status = 200, description = "`local`, then every defined target (latest version), by name", body = AssetList)))]
pub async fn list(State(s): State<AppState>) -> ApiResult<Json<AssetList>> {
    let mut items = vec![builtin(&s)];
    let mut token = None;
    loop {
        let p = s
            .store
            .list_assets(&workspace(), AssetKind::Compute, false, &page(None, token))
            .await?;
        items.extend(p.items.into_iter().map(AssetView::from));
        match p.next_page_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    Ok(Json(AssetList {
        items,
        next_page_token: None,
    }))
}

#[utoipa::path(get, path = "/api/v1/computes/{name}", tag = "computes",
    params(("name" = String, Path)),
    responses((status = 200, body = AssetView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(s): State<AppState>,
    AppPath(name): AppPath<String>,
) -> ApiResult<Json<AssetView>> {
    if name == BUILTIN_LOCAL {
        return Ok(Json(builtin(&s)));
    }
    let a = s
        .store
        .get_asset(
            &workspace(),
            AssetKind::Compute,
            &name,
            &AssetVersionRef::Latest,
        )
        .await?;
    Ok(Json(a.into()))
}

/// The type of the target called `name`, or `None` if there is none.
async fn compute_type(s: &AppState, name: &str) -> ApiResult<Option<ComputeType>> {
    if name == BUILTIN_LOCAL {
        return Ok(Some(ComputeType::Local));
    }
    match s
        .store
        .get_asset(
            &workspace(),
            AssetKind::Compute,
            name,
            &AssetVersionRef::Latest,
        )
        .await
    {
        Ok(a) => {
            let spec: Value = serde_json::from_str(&a.spec).unwrap_or(Value::Null);
            Ok(spec["type"].as_str().and_then(ComputeType::from_name))
        }
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Refuses a job whose compute does not exist, or cannot run its environment (a container
/// `image` on a target that runs plain processes). `env_image` is the image of the job's
/// (inline or pinned asset) environment.
pub async fn check_job_compute(
    s: &AppState,
    src: &str,
    compute: &str,
    environment: &EnvSource,
    env_image: Option<&str>,
) -> ApiResult<()> {
    let Some(kind) = compute_type(s, compute).await? else {
        return Err(spec_error(
            position(src, &["compute"]),
            "compute",
            format!(
                "compute '{compute}' does not exist; '{BUILTIN_LOCAL}' is built in, others are created with `mlplane compute create -f`"
            ),
        ));
    };
    if let Some(image) = env_image
        && !kind.runs_containers()
    {
        let field: &[&str] = match environment {
            EnvSource::Inline(_) => &["environment", "image"],
            EnvSource::Asset(_) => &["environment"],
        };
        return Err(spec_error(
            position(src, field),
            &field.join("."),
            format!(
                "the environment runs in the container image '{image}', but compute '{compute}' (type {}) runs plain processes; use container-capable compute or an environment without an image",
                kind.name()
            ),
        ));
    }
    Ok(())
}
