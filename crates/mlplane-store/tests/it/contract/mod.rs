//! The contract every `MetadataStore` engine must meet, as async checks over a fresh store,
//! with the small helpers they share.
//!
//! Each submodule covers one area of the trait; every public `async fn` in them is one
//! check, named as the sentence it proves, and is listed in `main.rs`.
//!
//! Invariants:
//! - a check starts from an empty store (only the `default` workspace and its `Default`
//!   experiment exist) and uses nothing but the trait;
//! - a check asserts on error variants and fields, never on message text.

pub mod assets;
pub mod auth;
pub mod catalog;
pub mod files;
pub mod job_status;
pub mod jobs;
pub mod logged_models;
pub mod metrics;
pub mod ops;
pub mod paging;
pub mod registry;
pub mod run_changes;
pub mod runs;
pub mod search;
pub mod secrets;

use crate::harness::Store;
use mlplane_core::{
    ArtifactEntry, ArtifactPath, Experiment, ExperimentId, LogBatch, Metric, NewExperiment, NewRun,
    PageRequest, Param, Run, RunStatus, Tag, WorkspaceName,
};
use mlplane_store::{Entity, StoreError};
use std::fmt::Debug;

pub fn default_ws() -> WorkspaceName {
    WorkspaceName::default_workspace()
}

pub fn ws(name: &str) -> WorkspaceName {
    WorkspaceName::parse(name).expect("test workspace names are valid")
}

pub fn tag(key: &str, value: &str) -> Tag {
    Tag {
        key: key.into(),
        value: value.into(),
    }
}

pub fn param(key: &str, value: &str) -> Param {
    Param {
        key: key.into(),
        value: value.into(),
    }
}

pub fn metric(key: &str, step: i64, timestamp: i64, value: f64) -> Metric {
    Metric {
        key: key.into(),
        value,
        timestamp,
        step,
    }
}

pub fn metrics_batch(metrics: Vec<Metric>) -> LogBatch {
    LogBatch {
        metrics,
        ..LogBatch::default()
    }
}

pub fn page(max_results: usize, page_token: Option<String>) -> PageRequest {
    PageRequest {
        max_results,
        page_token,
    }
}

pub fn new_exp(name: &str) -> NewExperiment {
    NewExperiment {
        name: name.into(),
        artifact_location: None,
        tags: Vec::new(),
    }
}

pub fn new_run(exp: ExperimentId, start_time: i64) -> NewRun {
    NewRun {
        experiment_id: exp,
        name: None,
        user: "alice".into(),
        start_time,
        status: RunStatus::Running,
        parent_run_id: None,
        tags: Vec::new(),
    }
}

pub fn artifact(path: &str, size: u64) -> ArtifactEntry {
    ArtifactEntry {
        path: ArtifactPath::parse(path).expect("test artifact paths are valid"),
        size,
        sha256: format!("{size:064x}"),
        created_at: 1_700_000_000_000,
    }
}

pub async fn create_exp(store: &Store, ws: &WorkspaceName, name: &str) -> Experiment {
    store
        .create_experiment(ws, new_exp(name))
        .await
        .expect("experiment is created")
}

/// A running run in a fresh experiment of the default workspace.
pub async fn fresh_run(store: &Store) -> Run {
    let name = format!("exp-{}", mlplane_core::RunId::generate());
    let exp = create_exp(store, &default_ws(), &name).await;
    store
        .create_run(&default_ws(), new_run(exp.id, 1_000))
        .await
        .expect("run is created")
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as i64
}

#[track_caller]
pub fn expect_not_found<T: Debug>(r: Result<T, StoreError>, entity: Entity) {
    match r {
        Err(StoreError::NotFound { entity: e, .. }) if e == entity => {}
        other => panic!("expected NotFound {{ entity: {entity:?} }}, got {other:?}"),
    }
}

#[track_caller]
pub fn expect_invalid_state<T: Debug>(r: Result<T, StoreError>) {
    match r {
        Err(StoreError::InvalidState(_)) => {}
        other => panic!("expected InvalidState, got {other:?}"),
    }
}

#[track_caller]
pub fn expect_invalid<T: Debug>(r: Result<T, StoreError>, field: &str) {
    match r {
        Err(StoreError::Invalid(inv)) if inv.violations.iter().any(|v| v.field == field) => {}
        other => panic!("expected Invalid on field '{field}', got {other:?}"),
    }
}

#[track_caller]
pub fn expect_already_exists<T: Debug>(r: Result<T, StoreError>, entity: Entity, id: &str) {
    match r {
        Err(StoreError::AlreadyExists { entity: e, id: i }) if e == entity && i == id => {}
        other => panic!("expected AlreadyExists {{ {entity:?}, '{id}' }}, got {other:?}"),
    }
}

/// Metric keys of a typical small training-loop batch.
pub fn small_batch_keys() -> [&'static str; 3] {
    ["loss", "accuracy", "learning_rate"]
}
