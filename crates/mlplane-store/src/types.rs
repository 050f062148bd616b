//! Query and result types specific to the store interface.

use mlplane_core::{ExperimentId, MetricPoint, RunId, RunStatus, ViewType};

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
