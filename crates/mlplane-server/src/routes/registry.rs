//! `/api/v1/workspaces/{ws}/registered-models`: reads of the model registry (models, their
//! versions with aliases and the run that produced them). Writes go through the MLflow
//! protocol (`mlflow/registry.rs`); both read the same `ModelRegistry`.
//!
//! Invariants:
//! - a model name is checked with `registry::model_name` before the store sees it;
//! - a bad filter is 400 `invalid_filter` with `details.position`.

use super::workspace;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{AppPath, AppQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use mlplane_api::{
    ErrorBody, ModelVersionList, RegisteredModelList, RegisteredModelView, RegistryListQuery,
};
use mlplane_core::PageRequest;
use mlplane_core::registry as reg;
use mlplane_core::search::{
    Attr, Clause, Comparator, Entity, Filter, OrderBy, SearchKind, Value, parse_registry_filter,
};
use mlplane_store::RegistryQuery;
use serde_json::json;

const MAX_RESULTS: usize = 1000;
const DEFAULT_RESULTS: usize = 100;

fn page(max_results: Option<usize>, token: Option<String>) -> ApiResult<PageRequest> {
    let n = max_results.unwrap_or(DEFAULT_RESULTS);
    if !(1..=MAX_RESULTS).contains(&n) {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            format!("max_results: must be between 1 and {MAX_RESULTS}, got {n}"),
        ));
    }
    Ok(PageRequest {
        max_results: n,
        page_token: token.filter(|t| !t.is_empty()),
    })
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/registered-models", tag = "models",
    params(("ws" = String, Path), RegistryListQuery),
    responses((status = 200, body = RegisteredModelList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_models(
    State(s): State<AppState>,
    AppPath(ws): AppPath<String>,
    AppQuery(q): AppQuery<RegistryListQuery>,
) -> ApiResult<Json<RegisteredModelList>> {
    let ws = workspace(&ws)?;
    let text = q.filter.unwrap_or_default();
    let filter = parse_registry_filter(&text, SearchKind::RegisteredModels).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidFilter,
            format!("invalid filter at position {}: {}", e.position, e.message),
        )
        .with_details(json!({"field": "filter", "position": e.position}))
    })?;
    let query = RegistryQuery {
        filter,
        order_by: vec![OrderBy {
            entity: Entity::Attribute(Attr::Name),
            ascending: true,
        }],
    };
    let p = s
        .store
        .search_registered_models(&ws, &query, &page(q.max_results, q.page_token)?)
        .await?;
    Ok(Json(RegisteredModelList {
        items: p.items.into_iter().map(Into::into).collect(),
        next_page_token: p.next_page_token,
    }))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/registered-models/{name}", tag = "models",
    params(("ws" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = RegisteredModelView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_model(
    State(s): State<AppState>,
    AppPath((ws, name)): AppPath<(String, String)>,
) -> ApiResult<Json<RegisteredModelView>> {
    let ws = workspace(&ws)?;
    reg::model_name(&name)?;
    let m = s.store.get_registered_model(&ws, &name).await?;
    Ok(Json(m.into()))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/registered-models/{name}/versions", tag = "models",
    params(("ws" = String, Path), ("name" = String, Path),
        ("max_results" = Option<usize>, Query), ("page_token" = Option<String>, Query)),
    responses((status = 200, body = ModelVersionList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_versions(
    State(s): State<AppState>,
    AppPath((ws, name)): AppPath<(String, String)>,
    AppQuery(q): AppQuery<RegistryListQuery>,
) -> ApiResult<Json<ModelVersionList>> {
    let ws = workspace(&ws)?;
    reg::model_name(&name)?;
    if q.filter.is_some() {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            "filter: not supported on a model's versions",
        ));
    }
    // The model must exist: an unknown name is 404, not an empty list.
    s.store.get_registered_model(&ws, &name).await?;
    let query = RegistryQuery {
        filter: Filter {
            clauses: vec![Clause {
                entity: Entity::Attribute(Attr::Name),
                op: Comparator::Eq,
                value: Value::String(name),
            }],
        },
        order_by: vec![OrderBy {
            entity: Entity::Attribute(Attr::VersionNumber),
            ascending: false,
        }],
    };
    let p = s
        .store
        .search_model_versions(&ws, &query, &page(q.max_results, q.page_token)?)
        .await?;
    Ok(Json(ModelVersionList {
        items: p.items.into_iter().map(Into::into).collect(),
        next_page_token: p.next_page_token,
    }))
}
