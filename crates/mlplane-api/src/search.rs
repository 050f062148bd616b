//! Run search and model registry reads of `/api/v1`: the request of
//! `POST …/runs/search` and the views of registered models and their versions.

use crate::views::{KeyValue, RunView};
use mlplane_core::registry as reg;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A search over the runs of some experiments, in MLflow's filter grammar.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRunsRequest {
    /// Experiments to search; at least one.
    #[serde(default)]
    pub experiment_ids: Vec<String>,
    /// E.g. `metrics.loss < 0.1 and params.lr = '0.01'`; empty matches every run.
    #[serde(default)]
    pub filter: Option<String>,
    /// E.g. `["metrics.loss ASC", "start_time DESC"]`; default newest first.
    #[serde(default)]
    pub order_by: Vec<String>,
    /// active (default), deleted or all.
    #[serde(default)]
    pub view: Option<String>,
    /// 1..=1000, default 100.
    #[serde(default)]
    pub max_results: Option<usize>,
    #[serde(default)]
    pub page_token: Option<String>,
}

/// A page of runs, each with its params, latest metrics and tags.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunSearchPage {
    pub runs: Vec<RunView>,
    pub next_page_token: Option<String>,
}

/// An alias of a registered model and the version it names.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModelAliasView {
    pub alias: String,
    pub version: i64,
}

/// A registered model of the model registry.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RegisteredModelView {
    pub name: String,
    pub description: String,
    pub user_id: String,
    /// Milliseconds since the epoch.
    pub created_ms: i64,
    pub updated_ms: i64,
    pub tags: Vec<KeyValue>,
    pub aliases: Vec<ModelAliasView>,
    /// The newest version in each stage.
    pub latest_versions: Vec<ModelVersionView>,
}

impl From<reg::RegisteredModel> for RegisteredModelView {
    fn from(m: reg::RegisteredModel) -> Self {
        Self {
            name: m.name,
            description: m.description,
            user_id: m.user_id,
            created_ms: m.created_ms,
            updated_ms: m.updated_ms,
            tags: m.tags.into_iter().map(Into::into).collect(),
            aliases: m
                .aliases
                .into_iter()
                .map(|a| ModelAliasView {
                    alias: a.alias,
                    version: a.version,
                })
                .collect(),
            latest_versions: m.latest_versions.into_iter().map(Into::into).collect(),
        }
    }
}

/// A version of a registered model.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModelVersionView {
    pub name: String,
    pub version: i64,
    /// The source as registered, e.g. `runs:/<run_id>/model` or `models:/<model_id>`.
    pub source: String,
    pub storage_location: String,
    /// The run that produced the files, when known.
    pub run_id: Option<String>,
    pub description: String,
    pub user_id: String,
    /// READY, PENDING_REGISTRATION or FAILED_REGISTRATION.
    pub status: String,
    /// None, Staging, Production or Archived.
    pub stage: String,
    pub tags: Vec<KeyValue>,
    pub aliases: Vec<String>,
    /// The MLflow 3 logged model, when the version came from one.
    pub model_id: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl From<reg::ModelVersion> for ModelVersionView {
    fn from(v: reg::ModelVersion) -> Self {
        Self {
            name: v.name,
            version: v.version,
            source: v.source,
            storage_location: v.storage_location,
            run_id: v.run_id.map(|r| r.to_string()),
            description: v.description,
            user_id: v.user_id,
            status: v.status.as_str().into(),
            stage: v.stage.as_str().into(),
            tags: v.tags.into_iter().map(Into::into).collect(),
            aliases: v.aliases,
            model_id: v.model_id,
            created_ms: v.created_ms,
            updated_ms: v.updated_ms,
        }
    }
}

/// A page of registered models.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RegisteredModelList {
    pub items: Vec<RegisteredModelView>,
    pub next_page_token: Option<String>,
}

/// A page of model versions, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModelVersionList {
    pub items: Vec<ModelVersionView>,
    pub next_page_token: Option<String>,
}

/// Query of `GET …/registered-models`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RegistryListQuery {
    /// MLflow's registry filter grammar, e.g. `name LIKE 'fraud%'`.
    pub filter: Option<String>,
    /// 1..=1000, default 100.
    pub max_results: Option<usize>,
    pub page_token: Option<String>,
}
