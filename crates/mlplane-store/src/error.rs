//! Errors of the metadata store.
//!
//! Invariants:
//! - caller mistakes (`NotFound`, `AlreadyExists`, `ParamConflict`, `InvalidState`,
//!   `Invalid`, `PageToken`) are kept apart from our own failures (`Unavailable`,
//!   `Internal`, `Config`), so the server can answer 4xx or 5xx without guessing.

use mlplane_core::{Invalid, TokenError};
use std::fmt;

/// The kind of entity an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Workspace,
    Experiment,
    Run,
    Metric,
    Artifact,
    RegisteredModel,
    ModelVersion,
    ModelAlias,
    LoggedModel,
    Job,
    Asset,
    User,
    ServicePrincipal,
    ApiToken,
    Session,
    RoleBinding,
    Role,
    Secret,
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Entity::Workspace => "workspace",
            Entity::Experiment => "experiment",
            Entity::Run => "run",
            Entity::Metric => "metric",
            Entity::Artifact => "artifact",
            Entity::RegisteredModel => "registered model",
            Entity::ModelVersion => "model version",
            Entity::ModelAlias => "model alias",
            Entity::LoggedModel => "logged model",
            Entity::Job => "job",
            Entity::Asset => "asset",
            Entity::User => "user",
            Entity::ServicePrincipal => "service principal",
            Entity::ApiToken => "API token",
            Entity::Session => "session",
            Entity::RoleBinding => "role binding",
            Entity::Role => "role",
            Entity::Secret => "secret",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{entity} '{id}' not found")]
    NotFound { entity: Entity, id: String },
    #[error("{entity} '{id}' already exists")]
    AlreadyExists { entity: Entity, id: String },
    #[error(
        "param '{key}' is already logged with value '{old}'; params are immutable (got '{new}')"
    )]
    ParamConflict {
        key: String,
        old: String,
        new: String,
    },
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("{0}")]
    PageToken(#[from] TokenError),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store configuration: {0}")]
    Config(String),
    #[error("internal store error: {0}")]
    Internal(String),
}

impl StoreError {
    pub fn not_found(entity: Entity, id: impl fmt::Display) -> Self {
        StoreError::NotFound {
            entity,
            id: id.to_string(),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
