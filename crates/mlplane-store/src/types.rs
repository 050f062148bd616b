//! Query and result types specific to the store interface.

use mlplane_core::search::{Filter, OrderBy};
use mlplane_core::{ExperimentId, MetricPoint, RunId, RunStatus, ViewType, WorkspaceName};
use sha2::{Digest, Sha256};

/// Filters for listing runs; empty lists mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunQuery {
    pub experiment_ids: Vec<ExperimentId>,
    pub view: ViewType,
    pub statuses: Vec<RunStatus>,
    pub parent_run_id: Option<RunId>,
}

/// A possibly downsampled metric history.
#[derive(Debug, Clone, PartialEq)]
pub struct SampledHistory {
    pub points: Vec<MetricPoint>,
    /// How many points the metric holds in all.
    pub total_points: u64,
    /// Whether `points` is a reduction rather than every point.
    pub downsampled: bool,
}

/// Count and total time of one store operation since start.
#[derive(Debug, Clone, PartialEq)]
pub struct OpTiming {
    pub op: &'static str,
    pub count: u64,
    pub total_seconds: f64,
    pub errors: u64,
}

/// A runs search as MLflow's `runs/search` asks for it: parsed filter and order_by
/// (`mlplane_core::search`), over some experiments (all of the workspace when empty).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSearch {
    pub experiment_ids: Vec<ExperimentId>,
    pub view: ViewType,
    pub filter: Filter,
    pub order_by: Vec<OrderBy>,
}

/// An experiments search as MLflow's `experiments/search` asks for it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExperimentSearch {
    pub view: ViewType,
    pub filter: Filter,
    pub order_by: Vec<OrderBy>,
}

/// The page-token scope of a search: a digest of everything that shapes its result, so a
/// token only continues the search it came from, and stays short however long the filter.
pub(crate) fn search_scope(kind: &str, ws: &WorkspaceName, query: &impl std::fmt::Debug) -> String {
    let digest = Sha256::digest(format!("{query:?}").as_bytes());
    format!("{kind}:{ws}:{}", hex::encode(&digest[..16]))
}
