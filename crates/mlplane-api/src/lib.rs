//! Wire shapes of mlplane's REST API `/api/v1`: request bodies (`*Request`), responses
//! (`*View`) and the error body, shared by the server and the CLI.
//!
//! A serializable type is a promise to clients: add fields, never rename or remove them.
//! Metric values travel as JSON numbers, or as the strings `"NaN"`, `"Infinity"` and
//! `"-Infinity"` for values JSON cannot spell (see [`metric_value`]).
//!
//! Invariants:
//! - this crate knows no HTTP framework and no database;
//! - conversions from domain types are total; conversions into domain types go through
//!   `mlplane_core::validate` in the server.

mod identity;
mod jobs;
pub mod metric_value;
mod search;
mod security;
mod snapshots;
mod views;

pub use identity::*;
pub use jobs::*;
pub use search::*;
pub use security::*;
pub use snapshots::*;
pub use views::*;

/// The error body of every non-2xx answer.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable snake_case code, e.g. `run_not_found`; clients switch on it.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// Structured context, e.g. `{"violations": [{"field": "...", "message": "..."}]}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}
