//! `registered-models/*` and `model-versions/*`: MLflow's model registry over
//! [`mlplane_store::ModelRegistry`].
//!
//! GET endpoints read query strings (repeated keys for lists); POST, PATCH and DELETE read
//! JSON bodies, and DELETE falls back to the query string when the body is empty.
//!
//! Invariants:
//! - every name, alias, tag and version is validated by `mlplane_core::registry` before a
//!   store call; a version's `source` must parse with `parse_model_source`, so a local path,
//!   a foreign host or a traversal never reaches the store (INVALID_PARAMETER_VALUE);
//! - `models:/<model_id>` sources are resolved through [`resolve_logged_model_location`]
//!   to the logged model's artifact location, which must exist in the workspace;
//! - handlers are thin: parse, validate, one store call, map to a view.

use super::error::{MlflowError, MlflowResult};
use super::registry_views::{
    AliasReq, CreateModelReq, CreateVersionReq, DownloadUriResponse, LatestVersionsReq,
    ModelTagReq, ModelVersionResponse, ModelVersionsResponse, NameReq, RegisteredModelResponse,
    RenameReq, SearchModelsResponse, SearchVersionsResponse, TransitionReq, UpdateModelReq,
    UpdateVersionReq, VersionReq, VersionTagReq, download_uri,
};
use super::views::{Empty, to_tags};
use super::{MlflowJson, MlflowQuery, Pairs, Workspace};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Query, Request, State};
use mlplane_core::registry::{
    self as reg, ModelSource, NewModelVersion, NewRegisteredModel, Stage,
};
use mlplane_core::search::{SearchKind, parse_order_by, parse_registry_filter};
use mlplane_core::{LoggedModelId, PageRequest, RunId, Tag, WorkspaceName};
use mlplane_store::RegistryQuery;
use serde::de::DeserializeOwned;

/// A DELETE's parameters: the JSON body, or the query string when the body is empty.
pub struct BodyOrQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for BodyOrQuery<T> {
    type Rejection = MlflowError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let uri = req.uri().clone();
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rej| MlflowError::invalid(rej.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Query::<T>::try_from_uri(&uri)
                .map(|q| BodyOrQuery(q.0))
                .map_err(|rej| MlflowError::invalid(rej.body_text()));
        }
        serde_json::from_slice(&bytes)
            .map(BodyOrQuery)
            .map_err(|e| MlflowError::invalid(format!("invalid request body: {e}")))
    }
}

/// Where the files of logged model `model_id` live, as the client reads them: its
/// `mlflow-artifacts:` artifact location. An unknown or deleted model is
/// INVALID_PARAMETER_VALUE naming it (the request's `source` is at fault).
pub async fn resolve_logged_model_location(
    s: &AppState,
    ws: &WorkspaceName,
    model_id: &str,
) -> MlflowResult<String> {
    let not_found = || MlflowError::invalid(format!("logged model not found: '{model_id}'"));
    let id = LoggedModelId::parse(model_id).map_err(|_| not_found())?;
    match s.store.get_logged_model(ws, &id).await {
        Ok(m) => Ok(super::views::mlflow_uri(&m.artifact_location)),
        Err(mlplane_store::StoreError::NotFound { .. }) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

fn name(n: &str) -> MlflowResult<&str> {
    reg::model_name(n)?;
    Ok(n)
}

fn version(v: &str) -> MlflowResult<i64> {
    Ok(reg::version_number(v)?)
}

fn query(p: &Pairs, kind: SearchKind) -> MlflowResult<(RegistryQuery, PageRequest)> {
    let filter = parse_registry_filter(p.one("filter").unwrap_or(""), kind)
        .map_err(|e| MlflowError::invalid(format!("invalid filter: {e}")))?;
    let order_by = parse_order_by(&p.all("order_by"), kind)
        .map_err(|e| MlflowError::invalid(format!("invalid order_by: {e}")))?;
    let page = PageRequest {
        max_results: p.max_results()?,
        page_token: p
            .one("page_token")
            .filter(|t| !t.is_empty())
            .map(str::to_string),
    };
    Ok((RegistryQuery { filter, order_by }, page))
}

pub async fn create_model(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<CreateModelReq>,
) -> MlflowResult<Json<RegisteredModelResponse>> {
    let m = NewRegisteredModel {
        name: req.name,
        description: req.description.unwrap_or_default(),
        user_id: String::new(),
        tags: to_tags(req.tags),
    };
    reg::new_registered_model(&m)?;
    let m = s.store.create_registered_model(&ws, m).await?;
    Ok(Json(RegisteredModelResponse {
        registered_model: m.into(),
    }))
}

pub async fn get_model(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowQuery(q): MlflowQuery<NameReq>,
) -> MlflowResult<Json<RegisteredModelResponse>> {
    let m = s.store.get_registered_model(&ws, name(&q.name)?).await?;
    Ok(Json(RegisteredModelResponse {
        registered_model: m.into(),
    }))
}

pub async fn rename_model(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<RenameReq>,
) -> MlflowResult<Json<RegisteredModelResponse>> {
    let mut v = Vec::new();
    reg::model_name_into(&mut v, "new_name", &req.new_name);
    mlplane_core::Invalid::check(v)?;
    let m = s
        .store
        .rename_registered_model(&ws, name(&req.name)?, &req.new_name)
        .await?;
    Ok(Json(RegisteredModelResponse {
        registered_model: m.into(),
    }))
}

pub async fn update_model(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<UpdateModelReq>,
) -> MlflowResult<Json<RegisteredModelResponse>> {
    let description = req.description.unwrap_or_default();
    reg::description(&description)?;
    let m = s
        .store
        .update_registered_model(&ws, name(&req.name)?, &description)
        .await?;
    Ok(Json(RegisteredModelResponse {
        registered_model: m.into(),
    }))
}

pub async fn delete_model(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    BodyOrQuery(req): BodyOrQuery<NameReq>,
) -> MlflowResult<Json<Empty>> {
    s.store
        .delete_registered_model(&ws, name(&req.name)?)
        .await?;
    Ok(Json(Empty {}))
}

pub async fn search_models(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowQuery(p): MlflowQuery<Vec<(String, String)>>,
) -> MlflowResult<Json<SearchModelsResponse>> {
    let (q, page) = query(&Pairs(p), SearchKind::RegisteredModels)?;
    let found = s.store.search_registered_models(&ws, &q, &page).await?;
    Ok(Json(SearchModelsResponse {
        registered_models: found.items.into_iter().map(Into::into).collect(),
        next_page_token: found.next_page_token,
    }))
}

async fn latest(
    s: &AppState,
    ws: &WorkspaceName,
    req: LatestVersionsReq,
) -> MlflowResult<Json<ModelVersionsResponse>> {
    let stages = req
        .stages
        .iter()
        .map(|st| Stage::parse(st))
        .collect::<Result<Vec<_>, _>>()?;
    let vs = s
        .store
        .latest_model_versions(ws, name(&req.name)?, &stages)
        .await?;
    Ok(Json(ModelVersionsResponse {
        model_versions: vs.into_iter().map(Into::into).collect(),
    }))
}

pub async fn latest_versions_post(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<LatestVersionsReq>,
) -> MlflowResult<Json<ModelVersionsResponse>> {
    latest(&s, &ws, req).await
}

pub async fn latest_versions_get(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowQuery(p): MlflowQuery<Vec<(String, String)>>,
) -> MlflowResult<Json<ModelVersionsResponse>> {
    let p = Pairs(p);
    let req = LatestVersionsReq {
        name: p.one("name").unwrap_or("").to_string(),
        stages: p.all("stages"),
    };
    latest(&s, &ws, req).await
}

pub async fn set_model_tag(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<ModelTagReq>,
) -> MlflowResult<Json<Empty>> {
    let tag = Tag {
        key: req.key,
        value: req.value,
    };
    reg::registry_tag(&tag)?;
    s.store
        .set_registered_model_tag(&ws, name(&req.name)?, tag)
        .await?;
    Ok(Json(Empty {}))
}

pub async fn delete_model_tag(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    BodyOrQuery(req): BodyOrQuery<ModelTagReq>,
) -> MlflowResult<Json<Empty>> {
    s.store
        .delete_registered_model_tag(&ws, name(&req.name)?, &req.key)
        .await?;
    Ok(Json(Empty {}))
}

pub async fn set_alias(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<AliasReq>,
) -> MlflowResult<Json<Empty>> {
    reg::alias(&req.alias)?;
    s.store
        .set_model_alias(&ws, name(&req.name)?, &req.alias, version(&req.version)?)
        .await?;
    Ok(Json(Empty {}))
}

pub async fn delete_alias(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    BodyOrQuery(req): BodyOrQuery<AliasReq>,
) -> MlflowResult<Json<Empty>> {
    s.store
        .delete_model_alias(&ws, name(&req.name)?, &req.alias)
        .await?;
    Ok(Json(Empty {}))
}

pub async fn get_by_alias(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowQuery(q): MlflowQuery<AliasReq>,
) -> MlflowResult<Json<ModelVersionResponse>> {
    let v = s
        .store
        .get_model_version_by_alias(&ws, name(&q.name)?, &q.alias)
        .await?;
    Ok(Json(ModelVersionResponse {
        model_version: v.into(),
    }))
}

pub async fn create_version(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<CreateVersionReq>,
) -> MlflowResult<Json<ModelVersionResponse>> {
    let parsed = reg::parse_model_source(&req.source)?;
    let run_id = match req.run_id.as_deref().filter(|r| !r.is_empty()) {
        Some(r) => Some(RunId::parse(r)?),
        None => None,
    };
    let mut model_id = req.model_id.filter(|m| !m.is_empty());
    let logged_model_location = match &parsed {
        ModelSource::LoggedModel {
            model_id: source_model,
        } => {
            // The version belongs to the model its source names; a different `model_id`
            // in the body is refused rather than silently recorded.
            match &model_id {
                Some(m) if m != source_model => {
                    return Err(MlflowError::invalid(format!(
                        "model_id '{m}' does not match the source's model '{source_model}'"
                    )));
                }
                _ => model_id = Some(source_model.clone()),
            }
            Some(resolve_logged_model_location(&s, &ws, source_model).await?)
        }
        _ => None,
    };
    let v = NewModelVersion {
        name: req.name,
        source: req.source,
        parsed,
        run_id,
        run_link: req.run_link.unwrap_or_default(),
        description: req.description.unwrap_or_default(),
        user_id: String::new(),
        tags: to_tags(req.tags),
        model_id,
        logged_model_location,
    };
    reg::new_model_version(&v)?;
    let v = s.store.create_model_version(&ws, v).await?;
    Ok(Json(ModelVersionResponse {
        model_version: v.into(),
    }))
}

pub async fn get_version(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowQuery(q): MlflowQuery<VersionReq>,
) -> MlflowResult<Json<ModelVersionResponse>> {
    let v = s
        .store
        .get_model_version(&ws, name(&q.name)?, version(&q.version)?)
        .await?;
    Ok(Json(ModelVersionResponse {
        model_version: v.into(),
    }))
}

pub async fn update_version(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<UpdateVersionReq>,
) -> MlflowResult<Json<ModelVersionResponse>> {
    let description = req.description.unwrap_or_default();
    reg::description(&description)?;
    let v = s
        .store
        .update_model_version(&ws, name(&req.name)?, version(&req.version)?, &description)
        .await?;
    Ok(Json(ModelVersionResponse {
        model_version: v.into(),
    }))
}

pub async fn delete_version(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    BodyOrQuery(req): BodyOrQuery<VersionReq>,
) -> MlflowResult<Json<Empty>> {
    s.store
        .delete_model_version(&ws, name(&req.name)?, version(&req.version)?)
        .await?;
    Ok(Json(Empty {}))
}

pub async fn search_versions(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowQuery(p): MlflowQuery<Vec<(String, String)>>,
) -> MlflowResult<Json<SearchVersionsResponse>> {
    let (q, page) = query(&Pairs(p), SearchKind::ModelVersions)?;
    let found = s.store.search_model_versions(&ws, &q, &page).await?;
    Ok(Json(SearchVersionsResponse {
        model_versions: found.items.into_iter().map(Into::into).collect(),
        next_page_token: found.next_page_token,
    }))
}

pub async fn download_uri_of(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowQuery(q): MlflowQuery<VersionReq>,
) -> MlflowResult<Json<DownloadUriResponse>> {
    let v = s
        .store
        .get_model_version(&ws, name(&q.name)?, version(&q.version)?)
        .await?;
    Ok(Json(DownloadUriResponse {
        artifact_uri: download_uri(&v),
    }))
}

pub async fn transition_stage(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<TransitionReq>,
) -> MlflowResult<Json<ModelVersionResponse>> {
    let stage = Stage::parse(&req.stage)?;
    let v = s
        .store
        .transition_model_version_stage(
            &ws,
            name(&req.name)?,
            version(&req.version)?,
            stage,
            req.archive_existing_versions,
        )
        .await?;
    Ok(Json(ModelVersionResponse {
        model_version: v.into(),
    }))
}

pub async fn set_version_tag(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<VersionTagReq>,
) -> MlflowResult<Json<Empty>> {
    let tag = Tag {
        key: req.key,
        value: req.value,
    };
    reg::registry_tag(&tag)?;
    s.store
        .set_model_version_tag(&ws, name(&req.name)?, version(&req.version)?, tag)
        .await?;
    Ok(Json(Empty {}))
}

pub async fn delete_version_tag(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    BodyOrQuery(req): BodyOrQuery<VersionTagReq>,
) -> MlflowResult<Json<Empty>> {
    s.store
        .delete_model_version_tag(&ws, name(&req.name)?, version(&req.version)?, &req.key)
        .await?;
    Ok(Json(Empty {}))
}
