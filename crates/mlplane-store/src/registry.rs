//! The model registry part of the store: the [`ModelRegistry`] trait, and the
//! engine-independent evaluation of registry searches (filter, order, page) that both
//! engines run on the rows they load, so both answer a search the same way.
//!
//! Invariants:
//! - every method is scoped by workspace: a model of another workspace is `NotFound`;
//! - versions reference their model by a surrogate id, so a rename carries versions, tags
//!   and aliases along; version numbers come from a per-model counter and are never reused,
//!   even after the newest version is deleted;
//! - deleting a model deletes its versions, tags and aliases; deleting a version deletes its
//!   tags and the aliases pointing at it;
//! - a version's source has been validated by `mlplane_core::registry::parse_model_source`;
//!   the store checks what needs the database: the run it names exists in the workspace
//!   (and in the named experiment);
//! - a search page token is signed and bound to the workspace and the exact query.

use crate::{Entity, Result, StoreError};
use async_trait::async_trait;
use mlplane_core::registry::{
    DEFAULT_REGISTRY_PAGE, ModelSource, ModelVersion, NewModelVersion, NewRegisteredModel,
    RegisteredModel, Stage,
};
use mlplane_core::search::{
    Attr, Clause, Comparator, Entity as SearchEntity, Filter, OrderBy, Value,
};
use mlplane_core::{
    Cursor, CursorValue, Invalid, Page, PageRequest, RunId, Tag, TokenCodec, TokenError,
    WorkspaceName,
};
use std::cmp::Ordering;

/// A parsed registry search: the filter and the order_by entries (both from
/// `mlplane_core::search`, parsed with the matching `SearchKind`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegistryQuery {
    pub filter: Filter,
    pub order_by: Vec<OrderBy>,
}

/// Model registry operations. Names are registered model names, already validated.
#[async_trait]
pub trait ModelRegistry: Send + Sync {
    /// Creates a model; its name is unique within the workspace (`AlreadyExists`).
    async fn create_registered_model(
        &self,
        ws: &WorkspaceName,
        m: NewRegisteredModel,
    ) -> Result<RegisteredModel>;
    async fn get_registered_model(&self, ws: &WorkspaceName, name: &str)
    -> Result<RegisteredModel>;
    /// Renames a model, keeping its versions, tags and aliases.
    async fn rename_registered_model(
        &self,
        ws: &WorkspaceName,
        name: &str,
        new_name: &str,
    ) -> Result<RegisteredModel>;
    async fn update_registered_model(
        &self,
        ws: &WorkspaceName,
        name: &str,
        description: &str,
    ) -> Result<RegisteredModel>;
    /// Deletes a model with its versions, tags and aliases.
    async fn delete_registered_model(&self, ws: &WorkspaceName, name: &str) -> Result<()>;
    /// Models matching the query, ordered by it, then by name.
    async fn search_registered_models(
        &self,
        ws: &WorkspaceName,
        q: &RegistryQuery,
        page: &PageRequest,
    ) -> Result<Page<RegisteredModel>>;
    async fn set_registered_model_tag(
        &self,
        ws: &WorkspaceName,
        name: &str,
        tag: Tag,
    ) -> Result<()>;
    async fn delete_registered_model_tag(
        &self,
        ws: &WorkspaceName,
        name: &str,
        key: &str,
    ) -> Result<()>;
    /// Points `alias` at `version`, moving it if it pointed elsewhere.
    async fn set_model_alias(
        &self,
        ws: &WorkspaceName,
        name: &str,
        alias: &str,
        version: i64,
    ) -> Result<()>;
    async fn delete_model_alias(&self, ws: &WorkspaceName, name: &str, alias: &str) -> Result<()>;
    async fn get_model_version_by_alias(
        &self,
        ws: &WorkspaceName,
        name: &str,
        alias: &str,
    ) -> Result<ModelVersion>;
    /// Creates the next version (`READY`, stage `None`).
    async fn create_model_version(
        &self,
        ws: &WorkspaceName,
        v: NewModelVersion,
    ) -> Result<ModelVersion>;
    async fn get_model_version(
        &self,
        ws: &WorkspaceName,
        name: &str,
        version: i64,
    ) -> Result<ModelVersion>;
    async fn update_model_version(
        &self,
        ws: &WorkspaceName,
        name: &str,
        version: i64,
        description: &str,
    ) -> Result<ModelVersion>;
    async fn delete_model_version(
        &self,
        ws: &WorkspaceName,
        name: &str,
        version: i64,
    ) -> Result<()>;
    /// Moves a version to `stage`; with `archive_existing` and a Staging/Production target,
    /// the model's other versions in that stage become Archived.
    async fn transition_model_version_stage(
        &self,
        ws: &WorkspaceName,
        name: &str,
        version: i64,
        stage: Stage,
        archive_existing: bool,
    ) -> Result<ModelVersion>;
    async fn set_model_version_tag(
        &self,
        ws: &WorkspaceName,
        name: &str,
        version: i64,
        tag: Tag,
    ) -> Result<()>;
    async fn delete_model_version_tag(
        &self,
        ws: &WorkspaceName,
        name: &str,
        version: i64,
        key: &str,
    ) -> Result<()>;
    /// Versions matching the query, ordered by it, then by name and version (newest first).
    async fn search_model_versions(
        &self,
        ws: &WorkspaceName,
        q: &RegistryQuery,
        page: &PageRequest,
    ) -> Result<Page<ModelVersion>>;
    /// The newest version in each of `stages` (every stage when empty), by stage.
    async fn latest_model_versions(
        &self,
        ws: &WorkspaceName,
        name: &str,
        stages: &[Stage],
    ) -> Result<Vec<ModelVersion>>;
}

pub(crate) fn model_not_found(name: &str) -> StoreError {
    StoreError::not_found(Entity::RegisteredModel, name)
}

pub(crate) fn version_not_found(name: &str, version: i64) -> StoreError {
    StoreError::not_found(Entity::ModelVersion, format!("{name}/{version}"))
}

pub(crate) fn alias_not_found(name: &str, alias: &str) -> StoreError {
    StoreError::not_found(Entity::ModelAlias, format!("{name}@{alias}"))
}

pub(crate) fn model_exists(name: &str) -> StoreError {
    StoreError::AlreadyExists {
        entity: Entity::RegisteredModel,
        id: name.to_string(),
    }
}

/// The run a new version must be checked against, and the field that named it: the run of
/// the source, else the `run_id` given alongside. A `run_id` that contradicts the source's
/// run is `Invalid`.
pub(crate) fn run_to_check(v: &NewModelVersion) -> Result<Option<(&RunId, &'static str)>> {
    match (v.parsed.run_id(), v.run_id.as_ref()) {
        (Some(named), Some(given)) if named != given => Err(Invalid::one(
            "run_id",
            format!("is '{given}' but the source names run '{named}'"),
        )
        .into()),
        (Some(named), _) => Ok(Some((named, "source"))),
        (None, Some(given)) => Ok(Some((given, "run_id"))),
        (None, None) => Ok(None),
    }
}

/// Checks a source against the run it names: same workspace (when written) and the run's
/// experiment. `run_experiment` is the experiment of the run, looked up by the engine.
pub(crate) fn check_run_source(
    ws: &WorkspaceName,
    source: &ModelSource,
    run_experiment: i64,
) -> Result<()> {
    if let ModelSource::RunArtifacts {
        workspace,
        experiment_id,
        run_id,
        ..
    } = source
    {
        if workspace.as_ref().is_some_and(|w| w != ws) {
            return Err(Invalid::one("source", "names another workspace").into());
        }
        if experiment_id.0 != run_experiment {
            return Err(Invalid::one(
                "source",
                format!("run '{run_id}' is not in experiment '{experiment_id}'"),
            )
            .into());
        }
    }
    Ok(())
}

/// The storage location of a run source, given the run's artifact root.
pub(crate) fn run_storage_location(source: &ModelSource, artifact_uri: &str) -> Option<String> {
    let path = match source {
        ModelSource::RunArtifacts { path, .. } => path.as_ref().map(|p| p.as_str().to_string()),
        ModelSource::Run { path, .. } => Some(path.as_str().to_string()),
        _ => return None,
    };
    let root = artifact_uri.trim_end_matches('/');
    Some(match path {
        Some(p) => format!("{root}/{p}"),
        None => root.to_string(),
    })
}

/// Where a non-run source lives: the caller's resolution of a logged model, or the source
/// itself for `mlflow-artifacts:` paths of logged models.
pub(crate) fn other_storage_location(v: &NewModelVersion) -> Result<String> {
    match (&v.parsed, &v.logged_model_location) {
        (ModelSource::LoggedModel { model_id }, None) => {
            Err(Invalid::one("source", format!("logged model '{model_id}' not found")).into())
        }
        (_, Some(loc)) => Ok(loc.clone()),
        (_, None) => Ok(v.source.clone()),
    }
}

/// Checks a workspace given in a logged-model artifact source.
pub(crate) fn check_source_workspace(ws: &WorkspaceName, source: &ModelSource) -> Result<()> {
    if let ModelSource::LoggedModelArtifacts {
        workspace: Some(w), ..
    } = source
        && w != ws
    {
        return Err(Invalid::one("source", "names another workspace").into());
    }
    Ok(())
}

/// A clause's `name = '<x>'`, if the filter pins one model: engines load only its versions.
pub(crate) fn exact_name(filter: &Filter) -> Option<&str> {
    filter
        .clauses
        .iter()
        .find_map(|c| match (&c.entity, c.op, &c.value) {
            (SearchEntity::Attribute(Attr::Name), Comparator::Eq, Value::String(s)) => {
                Some(s.as_str())
            }
            _ => None,
        })
}

fn tag_value<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key == key).map(|t| t.value.as_str())
}

/// A tag clause: an absent tag satisfies `!=` and `NOT IN`, so the client's
/// prompt filter (`mlflow.prompt.is_prompt != 'true'`) keeps every model without that tag.
fn tag_matches(c: &Clause, value: Option<&str>) -> bool {
    match (value, c.op) {
        (None, Comparator::Ne | Comparator::NotIn) => true,
        _ => c.matches_str(value),
    }
}

fn model_matches(c: &Clause, m: &RegisteredModel) -> bool {
    match &c.entity {
        SearchEntity::Attribute(Attr::Name) => c.matches_str(Some(&m.name)),
        SearchEntity::Attribute(Attr::CreationTimestamp) => {
            c.matches_num(Some(m.created_ms as f64))
        }
        SearchEntity::Attribute(Attr::LastUpdatedTimestamp) => {
            c.matches_num(Some(m.updated_ms as f64))
        }
        SearchEntity::Tag(k) => tag_matches(c, tag_value(&m.tags, k)),
        _ => false,
    }
}

fn version_matches(c: &Clause, v: &ModelVersion) -> bool {
    match &c.entity {
        SearchEntity::Attribute(Attr::Name) => c.matches_str(Some(&v.name)),
        SearchEntity::Attribute(Attr::VersionNumber) => c.matches_num(Some(v.version as f64)),
        SearchEntity::Attribute(Attr::RunId) => {
            c.matches_str(Some(v.run_id.as_ref().map_or("", |r| r.as_str())))
        }
        SearchEntity::Attribute(Attr::SourcePath) => c.matches_str(Some(&v.source)),
        SearchEntity::Attribute(Attr::CreationTimestamp) => {
            c.matches_num(Some(v.created_ms as f64))
        }
        SearchEntity::Attribute(Attr::LastUpdatedTimestamp) => {
            c.matches_num(Some(v.updated_ms as f64))
        }
        SearchEntity::Tag(k) => tag_matches(c, tag_value(&v.tags, k)),
        _ => false,
    }
}

fn model_cmp(o: &OrderBy, a: &RegisteredModel, b: &RegisteredModel) -> Ordering {
    let ord = match &o.entity {
        SearchEntity::Attribute(Attr::Name) => a.name.cmp(&b.name),
        SearchEntity::Attribute(Attr::CreationTimestamp) => a.created_ms.cmp(&b.created_ms),
        SearchEntity::Attribute(Attr::LastUpdatedTimestamp) => a.updated_ms.cmp(&b.updated_ms),
        _ => Ordering::Equal,
    };
    if o.ascending { ord } else { ord.reverse() }
}

fn version_cmp(o: &OrderBy, a: &ModelVersion, b: &ModelVersion) -> Ordering {
    let ord = match &o.entity {
        SearchEntity::Attribute(Attr::Name) => a.name.cmp(&b.name),
        SearchEntity::Attribute(Attr::VersionNumber) => a.version.cmp(&b.version),
        SearchEntity::Attribute(Attr::RunId) => a.run_id.cmp(&b.run_id),
        SearchEntity::Attribute(Attr::SourcePath) => a.source.cmp(&b.source),
        SearchEntity::Attribute(Attr::CreationTimestamp) => a.created_ms.cmp(&b.created_ms),
        SearchEntity::Attribute(Attr::LastUpdatedTimestamp) => a.updated_ms.cmp(&b.updated_ms),
        _ => Ordering::Equal,
    };
    if o.ascending { ord } else { ord.reverse() }
}

/// The scope of a search's page tokens: the listing, the workspace and a digest of the query
/// (64-bit FNV-1a, fixed forever, so tokens stay valid across restarts and replicas).
fn scope(kind: &str, ws: &WorkspaceName, q: &RegistryQuery) -> String {
    let text = format!("{:?}|{:?}", q.filter, q.order_by);
    let digest = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{kind}:{ws}:{digest:016x}")
}

/// Where a page starts, from its token.
fn offset(codec: &TokenCodec, page: &PageRequest, scope: &str) -> Result<usize> {
    let Some(t) = &page.page_token else {
        return Ok(0);
    };
    match codec.decode(t, scope)?.as_slice() {
        [CursorValue::Int(n)] if *n >= 0 => {
            usize::try_from(*n).map_err(|_| TokenError::Malformed.into())
        }
        _ => Err(TokenError::Malformed.into()),
    }
}

fn cut<T>(
    codec: &TokenCodec,
    scope: String,
    mut items: Vec<T>,
    start: usize,
    size: usize,
) -> Page<T> {
    let total = items.len();
    let end = start.saturating_add(size).min(total);
    let next_page_token = (end < total).then(|| {
        codec.encode(&Cursor {
            scope,
            position: vec![CursorValue::Int(i64::try_from(end).unwrap_or(i64::MAX))],
        })
    });
    let items = if start >= total {
        Vec::new()
    } else {
        items.truncate(end);
        items.split_off(start)
    };
    Page {
        items,
        next_page_token,
    }
}

fn size(page: &PageRequest, default: usize, max: usize) -> Result<usize> {
    match page.max_results {
        0 => Ok(default),
        n if n > max => Err(Invalid::one("max_results", format!("must be at most {max}")).into()),
        n => Ok(n),
    }
}

/// Filters, orders and pages the models of a workspace (tags loaded; aliases and latest
/// versions may be filled in for the page afterwards).
pub(crate) fn page_models(
    codec: &TokenCodec,
    ws: &WorkspaceName,
    q: &RegistryQuery,
    page: &PageRequest,
    models: Vec<RegisteredModel>,
) -> Result<Page<RegisteredModel>> {
    let n = size(
        page,
        DEFAULT_REGISTRY_PAGE,
        mlplane_core::registry::MAX_REGISTERED_MODELS_PAGE,
    )?;
    let scope = scope("registered-models", ws, q);
    let start = offset(codec, page, &scope)?;
    let mut items: Vec<RegisteredModel> = models
        .into_iter()
        .filter(|m| q.filter.clauses.iter().all(|c| model_matches(c, m)))
        .collect();
    items.sort_by(|a, b| {
        q.order_by
            .iter()
            .map(|o| model_cmp(o, a, b))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| a.name.cmp(&b.name))
    });
    Ok(cut(codec, scope, items, start, n))
}

/// Filters, orders and pages model versions.
pub(crate) fn page_versions(
    codec: &TokenCodec,
    ws: &WorkspaceName,
    q: &RegistryQuery,
    page: &PageRequest,
    versions: Vec<ModelVersion>,
) -> Result<Page<ModelVersion>> {
    let n = size(
        page,
        mlplane_core::registry::DEFAULT_MODEL_VERSIONS_PAGE,
        mlplane_core::registry::MAX_MODEL_VERSIONS_PAGE,
    )?;
    let scope = scope("model-versions", ws, q);
    let start = offset(codec, page, &scope)?;
    let mut items: Vec<ModelVersion> = versions
        .into_iter()
        .filter(|v| q.filter.clauses.iter().all(|c| version_matches(c, v)))
        .collect();
    items.sort_by(|a, b| {
        q.order_by
            .iter()
            .map(|o| version_cmp(o, a, b))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| a.name.cmp(&b.name).then(b.version.cmp(&a.version)))
    });
    Ok(cut(codec, scope, items, start, n))
}

/// The newest version per stage among `versions`, limited to `stages` (all when empty),
/// ordered by stage.
pub(crate) fn latest_per_stage(versions: Vec<ModelVersion>, stages: &[Stage]) -> Vec<ModelVersion> {
    let mut best: std::collections::BTreeMap<Stage, ModelVersion> = Default::default();
    for v in versions {
        if !stages.is_empty() && !stages.contains(&v.stage) {
            continue;
        }
        match best.get(&v.stage) {
            Some(b) if b.version >= v.version => {}
            _ => {
                best.insert(v.stage, v);
            }
        }
    }
    best.into_values().collect()
}
