//! The one error type of the HTTP edge and its mapping to status codes.
//!
//! Every failure leaves as `{"code", "message", "details"}`. [`ErrorCode`] strings are API:
//! add new ones, never rename. [`ApiError::from`] maps each store and artifact error with an
//! exhaustive `match`, so a new variant cannot ship without a status.
//!
//! Invariants:
//! - 5xx bodies carry a generic message; the real error goes to the log;
//! - caller mistakes are 4xx, never 5xx.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mlplane_api::ErrorBody;
use mlplane_artifacts::ArtifactError;
use mlplane_core::{Invalid, TokenError};
use mlplane_store::{Entity, StoreError};
use serde_json::{Value, json};

/// Stable machine-readable error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadRequest,
    InvalidParameter,
    /// A search filter or order_by entry does not parse; `details.position` is the byte offset.
    InvalidFilter,
    InvalidPageToken,
    UnsafePath,
    /// A job or asset spec failed validation; `details.errors` lists `{line, column, field, message}`.
    InvalidSpec,
    WorkspaceNotFound,
    ExperimentNotFound,
    RunNotFound,
    MetricNotFound,
    ArtifactNotFound,
    ModelNotFound,
    LoggedModelNotFound,
    JobNotFound,
    AssetNotFound,
    /// No secret of that name in the workspace.
    SecretNotFound,
    RouteNotFound,
    MethodNotAllowed,
    WorkspaceAlreadyExists,
    ExperimentAlreadyExists,
    ModelAlreadyExists,
    JobAlreadyExists,
    AssetAlreadyExists,
    ParamConflict,
    InvalidState,
    /// The job already reached a terminal status (Completed, Failed or Canceled).
    JobTerminal,
    /// No code snapshot with that sha256 is stored in the workspace.
    SnapshotNotFound,
    /// An uploaded snapshot's bytes do not hash to the sha256 in its URL.
    SnapshotMismatch,
    /// An uploaded snapshot is not a safe archive within the snapshot limits.
    InvalidSnapshot,
    PayloadTooLarge,
    UnsupportedMediaType,
    /// No valid credentials came with a request that needs them.
    Unauthenticated,
    /// The credentials are valid but do not grant the route's action (or CSRF check failed).
    Forbidden,
    /// Too many failed sign-ins for this user or client; `details.retry_after_secs` says when.
    TooManyRequests,
    UserNotFound,
    ServicePrincipalNotFound,
    TokenNotFound,
    RoleBindingNotFound,
    RoleNotFound,
    UserAlreadyExists,
    ServicePrincipalAlreadyExists,
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::InvalidParameter => "invalid_parameter",
            ErrorCode::InvalidFilter => "invalid_filter",
            ErrorCode::InvalidPageToken => "invalid_page_token",
            ErrorCode::UnsafePath => "unsafe_path",
            ErrorCode::InvalidSpec => "invalid_spec",
            ErrorCode::WorkspaceNotFound => "workspace_not_found",
            ErrorCode::ExperimentNotFound => "experiment_not_found",
            ErrorCode::RunNotFound => "run_not_found",
            ErrorCode::MetricNotFound => "metric_not_found",
            ErrorCode::ArtifactNotFound => "artifact_not_found",
            ErrorCode::ModelNotFound => "model_not_found",
            ErrorCode::LoggedModelNotFound => "logged_model_not_found",
            ErrorCode::JobNotFound => "job_not_found",
            ErrorCode::AssetNotFound => "asset_not_found",
            ErrorCode::SecretNotFound => "secret_not_found",
            ErrorCode::RouteNotFound => "route_not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::WorkspaceAlreadyExists => "workspace_already_exists",
            ErrorCode::ExperimentAlreadyExists => "experiment_already_exists",
            ErrorCode::ModelAlreadyExists => "model_already_exists",
            ErrorCode::JobAlreadyExists => "job_already_exists",
            ErrorCode::AssetAlreadyExists => "asset_already_exists",
            ErrorCode::ParamConflict => "param_conflict",
            ErrorCode::InvalidState => "invalid_state",
            ErrorCode::JobTerminal => "job_terminal",
            ErrorCode::SnapshotNotFound => "snapshot_not_found",
            ErrorCode::SnapshotMismatch => "snapshot_mismatch",
            ErrorCode::InvalidSnapshot => "invalid_snapshot",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::TooManyRequests => "too_many_requests",
            ErrorCode::UserNotFound => "user_not_found",
            ErrorCode::ServicePrincipalNotFound => "service_principal_not_found",
            ErrorCode::TokenNotFound => "token_not_found",
            ErrorCode::RoleBindingNotFound => "role_binding_not_found",
            ErrorCode::RoleNotFound => "role_not_found",
            ErrorCode::UserAlreadyExists => "user_already_exists",
            ErrorCode::ServicePrincipalAlreadyExists => "service_principal_already_exists",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BadRequest
            | ErrorCode::InvalidParameter
            | ErrorCode::InvalidFilter
            | ErrorCode::InvalidPageToken
            | ErrorCode::UnsafePath
            | ErrorCode::InvalidSpec
            | ErrorCode::SnapshotMismatch
            | ErrorCode::InvalidSnapshot => StatusCode::BAD_REQUEST,
            ErrorCode::WorkspaceNotFound
            | ErrorCode::ExperimentNotFound
            | ErrorCode::RunNotFound
            | ErrorCode::MetricNotFound
            | ErrorCode::ArtifactNotFound
            | ErrorCode::ModelNotFound
            | ErrorCode::LoggedModelNotFound
            | ErrorCode::JobNotFound
            | ErrorCode::AssetNotFound
            | ErrorCode::SecretNotFound
            | ErrorCode::SnapshotNotFound
            | ErrorCode::UserNotFound
            | ErrorCode::ServicePrincipalNotFound
            | ErrorCode::TokenNotFound
            | ErrorCode::RoleBindingNotFound
            | ErrorCode::RoleNotFound
            | ErrorCode::RouteNotFound => StatusCode::NOT_FOUND,
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::WorkspaceAlreadyExists
            | ErrorCode::ExperimentAlreadyExists
            | ErrorCode::ModelAlreadyExists
            | ErrorCode::JobAlreadyExists
            | ErrorCode::AssetAlreadyExists
            | ErrorCode::UserAlreadyExists
            | ErrorCode::ServicePrincipalAlreadyExists
            | ErrorCode::ParamConflict
            | ErrorCode::InvalidState
            | ErrorCode::JobTerminal => StatusCode::CONFLICT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error on its way to becoming an HTTP response.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Value,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Value::Object(Default::default()),
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// A 5xx with a generic message; the cause is logged here.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorCode::Internal, "internal server error")
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        let violations: Vec<Value> = e
            .violations
            .iter()
            .map(|v| json!({"field": v.field, "message": v.message}))
            .collect();
        ApiError::new(ErrorCode::InvalidParameter, e.to_string())
            .with_details(json!({ "violations": violations }))
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        ApiError::new(ErrorCode::InvalidPageToken, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        match e {
            StoreError::NotFound { entity, id } => {
                let code = match entity {
                    Entity::Workspace => ErrorCode::WorkspaceNotFound,
                    Entity::Experiment => ErrorCode::ExperimentNotFound,
                    Entity::Run => ErrorCode::RunNotFound,
                    Entity::Metric => ErrorCode::MetricNotFound,
                    Entity::Artifact => ErrorCode::ArtifactNotFound,
                    Entity::RegisteredModel | Entity::ModelVersion | Entity::ModelAlias => {
                        ErrorCode::ModelNotFound
                    }
                    Entity::LoggedModel => ErrorCode::LoggedModelNotFound,
                    Entity::Job => ErrorCode::JobNotFound,
                    Entity::Asset => ErrorCode::AssetNotFound,
                    Entity::User => ErrorCode::UserNotFound,
                    Entity::ServicePrincipal => ErrorCode::ServicePrincipalNotFound,
                    Entity::ApiToken => ErrorCode::TokenNotFound,
                    Entity::Session => ErrorCode::Unauthenticated,
                    Entity::RoleBinding => ErrorCode::RoleBindingNotFound,
                    Entity::Role => ErrorCode::RoleNotFound,
                    Entity::Secret => ErrorCode::SecretNotFound,
                };
                ApiError::new(code, message).with_details(json!({ "id": id }))
            }
            StoreError::AlreadyExists { entity, id } => {
                let code = match entity {
                    Entity::Workspace => ErrorCode::WorkspaceAlreadyExists,
                    Entity::Experiment => ErrorCode::ExperimentAlreadyExists,
                    Entity::RegisteredModel => ErrorCode::ModelAlreadyExists,
                    Entity::Job => ErrorCode::JobAlreadyExists,
                    Entity::Asset => ErrorCode::AssetAlreadyExists,
                    Entity::User => ErrorCode::UserAlreadyExists,
                    Entity::ServicePrincipal => ErrorCode::ServicePrincipalAlreadyExists,
                    Entity::ApiToken | Entity::Session | Entity::RoleBinding | Entity::Role => {
                        ErrorCode::InvalidState
                    }
                    Entity::Run
                    | Entity::Metric
                    | Entity::Artifact
                    | Entity::ModelVersion
                    | Entity::ModelAlias
                    | Entity::LoggedModel
                    | Entity::Secret => ErrorCode::InvalidState,
                };
                ApiError::new(code, message).with_details(json!({ "id": id }))
            }
            StoreError::ParamConflict { key, old, new } => {
                ApiError::new(ErrorCode::ParamConflict, message)
                    .with_details(json!({ "key": key, "logged_value": old, "new_value": new }))
            }
            StoreError::InvalidState(_) => ApiError::new(ErrorCode::InvalidState, message),
            StoreError::Invalid(inv) => inv.into(),
            StoreError::PageToken(t) => t.into(),
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %message, "store unavailable");
                ApiError::new(ErrorCode::Unavailable, "metadata store unavailable")
            }
            StoreError::Config(_) | StoreError::Internal(_) => ApiError::internal(message),
        }
    }
}

impl From<ArtifactError> for ApiError {
    fn from(e: ArtifactError) -> Self {
        let message = e.to_string();
        match e {
            ArtifactError::NotFound { .. } => ApiError::new(ErrorCode::ArtifactNotFound, message),
            ArtifactError::TooLarge { limit } => ApiError::new(ErrorCode::PayloadTooLarge, message)
                .with_details(json!({ "limit_bytes": limit })),
            ArtifactError::UnsafePath { .. } => ApiError::new(ErrorCode::UnsafePath, message),
            ArtifactError::Body(_) => ApiError::bad_request(message),
            ArtifactError::Config(_) | ArtifactError::Backend(_) => ApiError::internal(message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code.as_str().to_string(),
            message: self.message,
            details: self.details,
        };
        (self.code.status(), axum::Json(body)).into_response()
    }
}
