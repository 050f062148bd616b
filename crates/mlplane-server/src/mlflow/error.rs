//! The MLflow error shape: `{"error_code", "message"}` with the status MLflow's server uses
//! for each code (see the MLflow REST reference, section 2).
//!
//! Invariants:
//! - every [`StoreError`] and [`ArtifactError`] variant is mapped explicitly, so a new variant needs a decision;
//! - caller mistakes are 4xx; 5xx bodies carry a generic message and the cause is logged.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mlplane_artifacts::ArtifactError;
use mlplane_core::Invalid;
use mlplane_store::StoreError;
use serde_json::json;

/// The MLflow error codes mlplane answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MlflowCode {
    ResourceDoesNotExist,
    ResourceAlreadyExists,
    InvalidParameterValue,
    /// A request body over the server's limit: MLflow has no code of its own for it, so it
    /// is `INVALID_PARAMETER_VALUE` with status 413.
    PayloadTooLarge,
    EndpointNotFound,
    TemporarilyUnavailable,
    InternalError,
    Unauthenticated,
    PermissionDenied,
}

impl MlflowCode {
    pub fn as_str(self) -> &'static str {
        match self {
            MlflowCode::ResourceDoesNotExist => "RESOURCE_DOES_NOT_EXIST",
            MlflowCode::ResourceAlreadyExists => "RESOURCE_ALREADY_EXISTS",
            MlflowCode::InvalidParameterValue | MlflowCode::PayloadTooLarge => {
                "INVALID_PARAMETER_VALUE"
            }
            MlflowCode::EndpointNotFound => "ENDPOINT_NOT_FOUND",
            MlflowCode::TemporarilyUnavailable => "TEMPORARILY_UNAVAILABLE",
            MlflowCode::InternalError => "INTERNAL_ERROR",
            MlflowCode::Unauthenticated => "UNAUTHENTICATED",
            MlflowCode::PermissionDenied => "PERMISSION_DENIED",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            MlflowCode::ResourceDoesNotExist | MlflowCode::EndpointNotFound => {
                StatusCode::NOT_FOUND
            }
            MlflowCode::ResourceAlreadyExists | MlflowCode::InvalidParameterValue => {
                StatusCode::BAD_REQUEST
            }
            MlflowCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            MlflowCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            MlflowCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            MlflowCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            MlflowCode::PermissionDenied => StatusCode::FORBIDDEN,
        }
    }
}

/// An error on its way to becoming an MLflow-shaped HTTP response.
#[derive(Debug)]
pub struct MlflowError {
    pub code: MlflowCode,
    pub message: String,
}

pub type MlflowResult<T> = Result<T, MlflowError>;

impl MlflowError {
    pub fn new(code: MlflowCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(MlflowCode::InvalidParameterValue, message)
    }

    /// A 500 with a generic message; the cause is logged here.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(MlflowCode::InternalError, "internal server error")
    }
}

impl From<Invalid> for MlflowError {
    fn from(e: Invalid) -> Self {
        MlflowError::invalid(e.to_string())
    }
}

impl From<StoreError> for MlflowError {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        match e {
            StoreError::NotFound { .. } => {
                MlflowError::new(MlflowCode::ResourceDoesNotExist, message)
            }
            StoreError::AlreadyExists { .. } => {
                MlflowError::new(MlflowCode::ResourceAlreadyExists, message)
            }
            StoreError::ParamConflict { .. }
            | StoreError::InvalidState(_)
            | StoreError::Invalid(_)
            | StoreError::PageToken(_) => MlflowError::invalid(message),
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %message, "store unavailable");
                MlflowError::new(
                    MlflowCode::TemporarilyUnavailable,
                    "metadata store unavailable",
                )
            }
            StoreError::Config(_) | StoreError::Internal(_) => MlflowError::internal(message),
        }
    }
}

impl From<ArtifactError> for MlflowError {
    fn from(e: ArtifactError) -> Self {
        let message = e.to_string();
        match e {
            ArtifactError::NotFound { .. } => {
                MlflowError::new(MlflowCode::ResourceDoesNotExist, message)
            }
            ArtifactError::TooLarge { .. }
            | ArtifactError::UnsafePath { .. }
            | ArtifactError::Body(_) => MlflowError::invalid(message),
            ArtifactError::Config(_) | ArtifactError::Backend(_) => MlflowError::internal(message),
        }
    }
}

impl IntoResponse for MlflowError {
    fn into_response(self) -> Response {
        let body = json!({ "error_code": self.code.as_str(), "message": self.message });
        (self.code.status(), axum::Json(body)).into_response()
    }
}
