//! Request and response shapes of MLflow's model registry endpoints (`model_registry.proto`
//! field names), the conversions from the registry's domain types, and the reading of
//! query strings with repeated keys.
//!
//! Invariants:
//! - `version` is read from a JSON string or number and always written as a string;
//! - unset optional fields and empty lists are omitted, as proto-JSON does;
//! - storage locations are shown with the `mlflow-artifacts:` scheme.

use super::views::{KeyValue, mlflow_uri};
use mlplane_core::registry::{ModelVersion, RegisteredModel};
use serde::{Deserialize, Deserializer, Serialize};

/// Reads a version sent as a JSON string (`"3"`) or number (`3`).
fn de_version<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum V {
        S(String),
        N(i64),
    }
    Ok(match V::deserialize(d)? {
        V::S(s) => s,
        V::N(n) => n.to_string(),
    })
}

/// Reads a boolean sent as JSON `true` or as the string `"true"` (query strings).
fn de_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        B(bool),
        S(String),
    }
    Ok(match B::deserialize(d)? {
        B::B(b) => b,
        B::S(s) => s.eq_ignore_ascii_case("true"),
    })
}

#[derive(Debug, Deserialize)]
pub struct CreateModelReq {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub tags: Vec<KeyValue>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct NameReq {
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub struct RenameReq {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub new_name: String,
}

#[derive(Debug, Deserialize)]
pub struct UpdateModelReq {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LatestVersionsReq {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub stages: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct ModelTagReq {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Deserialize)]
pub struct AliasReq {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub alias: String,
    #[serde(default, deserialize_with = "de_version")]
    pub version: String,
}

#[derive(Debug, Deserialize)]
pub struct CreateVersionReq {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub run_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<KeyValue>,
    #[serde(default)]
    pub run_link: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub model_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct VersionReq {
    #[serde(default)]
    pub name: String,
    #[serde(default, deserialize_with = "de_version")]
    pub version: String,
}

#[derive(Debug, Deserialize)]
pub struct UpdateVersionReq {
    #[serde(default)]
    pub name: String,
    #[serde(default, deserialize_with = "de_version")]
    pub version: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct TransitionReq {
    #[serde(default)]
    pub name: String,
    #[serde(default, deserialize_with = "de_version")]
    pub version: String,
    #[serde(default)]
    pub stage: String,
    #[serde(default, deserialize_with = "de_bool")]
    pub archive_existing_versions: bool,
}

#[derive(Debug, Deserialize)]
pub struct VersionTagReq {
    #[serde(default)]
    pub name: String,
    #[serde(default, deserialize_with = "de_version")]
    pub version: String,
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Serialize)]
pub struct AliasView {
    pub alias: String,
    pub version: String,
}

#[derive(Debug, Serialize)]
pub struct RegisteredModelView {
    pub name: String,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub latest_versions: Vec<ModelVersionView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<AliasView>,
}

impl From<RegisteredModel> for RegisteredModelView {
    fn from(m: RegisteredModel) -> Self {
        Self {
            name: m.name,
            creation_timestamp: m.created_ms,
            last_updated_timestamp: m.updated_ms,
            user_id: m.user_id,
            description: m.description,
            latest_versions: m.latest_versions.into_iter().map(Into::into).collect(),
            tags: m
                .tags
                .into_iter()
                .map(|t| KeyValue {
                    key: t.key,
                    value: t.value,
                })
                .collect(),
            aliases: m
                .aliases
                .into_iter()
                .map(|a| AliasView {
                    alias: a.alias,
                    version: a.version.to_string(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ModelVersionView {
    pub name: String,
    pub version: String,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user_id: String,
    pub current_stage: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub status: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status_message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub run_link: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
}

impl From<ModelVersion> for ModelVersionView {
    fn from(v: ModelVersion) -> Self {
        Self {
            name: v.name,
            version: v.version.to_string(),
            creation_timestamp: v.created_ms,
            last_updated_timestamp: v.updated_ms,
            user_id: v.user_id,
            current_stage: v.stage.as_str(),
            description: v.description,
            source: v.source,
            run_id: v.run_id.map(|r| r.to_string()),
            status: v.status.as_str(),
            status_message: v.status_message,
            tags: v
                .tags
                .into_iter()
                .map(|t| KeyValue {
                    key: t.key,
                    value: t.value,
                })
                .collect(),
            run_link: v.run_link,
            aliases: v.aliases,
            model_id: v.model_id,
        }
    }
}

/// The download location of a version, as the client should fetch it.
pub fn download_uri(v: &ModelVersion) -> String {
    mlflow_uri(&v.storage_location)
}

#[derive(Debug, Serialize)]
pub struct RegisteredModelResponse {
    pub registered_model: RegisteredModelView,
}

#[derive(Debug, Serialize)]
pub struct ModelVersionResponse {
    pub model_version: ModelVersionView,
}

#[derive(Debug, Serialize)]
pub struct ModelVersionsResponse {
    pub model_versions: Vec<ModelVersionView>,
}

#[derive(Debug, Serialize)]
pub struct SearchModelsResponse {
    pub registered_models: Vec<RegisteredModelView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SearchVersionsResponse {
    pub model_versions: Vec<ModelVersionView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DownloadUriResponse {
    pub artifact_uri: String,
}
