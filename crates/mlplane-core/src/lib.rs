//! Domain types and rules of mlplane: workspaces, experiments, runs, params, metrics, tags,
//! logs and artifact paths, jobs and versioned assets, with the validation rules and limits
//! that every interface shares.
//!
//! Invariants:
//! - this crate does no IO: no files, no sockets, no SQL, no HTTP, no async runtime;
//! - every value that reaches a store has passed a validator from [`validate`] or a
//!   checked constructor such as [`ArtifactPath::parse`] or [`RunId::parse`];
//! - types here are plain data; wire shapes live in `mlplane-api`.

pub mod artifact_path;
pub mod assets;
pub mod audit;
pub mod downsample;
pub mod error;
pub mod identity;
pub mod ids;
pub mod jobs;
pub mod limits;
pub mod logged_model;
pub mod model;
pub mod page_token;
pub mod registry;
pub mod search;
pub mod secrets;
pub mod snapshot;
pub mod validate;

pub use artifact_path::ArtifactPath;
pub use assets::{Asset, AssetFile, AssetKind, AssetVersionRef, NewAsset};
pub use error::{Invalid, Violation};
pub use identity::{JobScope, Principal, PrincipalKind, RouteAction, ScopedAsset};
pub use ids::{ExperimentId, RunId, WorkspaceName};
pub use jobs::{IoDirection, Job, JobIo, JobKind, JobName, JobQuery, JobStatus, NewJob};
pub use logged_model::{
    LoggedModel, LoggedModelId, LoggedModelMetric, LoggedModelStatus, ModelMetricLink,
    NewLoggedModel,
};
pub use model::*;
pub use page_token::{Cursor, CursorValue, TokenCodec, TokenError};
pub use snapshot::SnapshotId;

/// Milliseconds since the Unix epoch, the unit of every timestamp in mlplane.
pub type TimestampMs = i64;
