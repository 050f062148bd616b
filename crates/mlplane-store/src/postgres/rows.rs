//! Shared helpers of the PostgreSQL engine: error mapping, row decoding, paging and the
//! lookups most operations start with.
//!
//! Invariants:
//! - no value read from a row is unwrapped: a column that does not decode, or holds a value
//!   our types reject, becomes `StoreError::Internal`;
//! - a lookup that finds nothing tells an unknown workspace (`NotFound{Workspace}`) apart
//!   from an unknown entity in a known workspace.

use crate::{Entity, Result, StoreError};
use mlplane_core::{
    CursorValue, ExperimentId, Invalid, LifecycleStage, RunId, RunStatus, WorkspaceName,
};
use std::error::Error as _;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::FromSql;

use super::pool::Db;

/// Maps a driver error: a lost connection is `Unavailable`, text PostgreSQL cannot hold
/// (NUL characters) is `Invalid`, anything else is `Internal`.
pub(super) fn db_err(e: tokio_postgres::Error) -> StoreError {
    if e.is_closed() {
        return StoreError::Unavailable("postgres connection closed".to_string());
    }
    let text = match e.as_db_error() {
        Some(d) => format!("{} (sqlstate {})", d.message(), d.code().code()),
        None => match e.source() {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    };
    match e.code() {
        Some(c)
            if *c == SqlState::CHARACTER_NOT_IN_REPERTOIRE
                || *c == SqlState::UNTRANSLATABLE_CHARACTER =>
        {
            StoreError::Invalid(Invalid::one("", "text must not contain NUL characters"))
        }
        Some(c)
            if *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
                || *c == SqlState::TOO_MANY_CONNECTIONS =>
        {
            StoreError::Unavailable(text)
        }
        _ => StoreError::Internal(text),
    }
}

/// Whether a driver error is a unique-constraint violation (SQLSTATE 23505).
pub(super) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

pub(super) fn internal(msg: impl Into<String>) -> StoreError {
    StoreError::Internal(msg.into())
}

/// Reads column `idx` of a row.
pub(super) fn col<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> Result<T> {
    row.try_get(idx)
        .map_err(|e| internal(format!("cannot decode column {idx}: {e}")))
}

pub(super) fn parse_run_id(s: &str) -> Result<RunId> {
    RunId::parse(s).map_err(|e| internal(format!("stored run id '{s}' is invalid: {e}")))
}

pub(super) fn parse_workspace(s: &str) -> Result<WorkspaceName> {
    WorkspaceName::parse(s).map_err(|e| internal(format!("stored workspace '{s}' is invalid: {e}")))
}

pub(super) fn parse_stage(s: &str) -> Result<LifecycleStage> {
    LifecycleStage::parse(s)
        .ok_or_else(|| internal(format!("stored lifecycle stage '{s}' is unknown")))
}

pub(super) fn parse_status(s: &str) -> Result<RunStatus> {
    s.parse::<RunStatus>()
        .map_err(|e| internal(format!("stored run status is invalid: {e}")))
}

pub(super) use crate::rules::{now_ms, page_size};

/// The error for an entity that was not found: `NotFound{Workspace}` when the workspace
/// itself is unknown, else `NotFound{entity, id}`.
pub(super) async fn not_found(
    db: Db<'_>,
    ws: &WorkspaceName,
    entity: Entity,
    id: impl std::fmt::Display,
) -> StoreError {
    match workspace_exists(db, ws).await {
        Ok(true) => StoreError::not_found(entity, id),
        Ok(false) => StoreError::not_found(Entity::Workspace, ws),
        Err(e) => e,
    }
}

pub(super) async fn workspace_exists(db: Db<'_>, ws: &WorkspaceName) -> Result<bool> {
    let row = db
        .query_opt("SELECT 1 FROM workspaces WHERE name = $1", &[&ws.as_str()])
        .await?;
    Ok(row.is_some())
}

pub(super) async fn require_workspace(db: Db<'_>, ws: &WorkspaceName) -> Result<()> {
    if workspace_exists(db, ws).await? {
        Ok(())
    } else {
        Err(StoreError::not_found(Entity::Workspace, ws))
    }
}

/// Locks a run of `ws` against lifecycle changes for the rest of the transaction and checks
/// that it accepts writes (is not deleted).
pub(super) async fn lock_live_run(db: Db<'_>, ws: &WorkspaceName, id: &RunId) -> Result<()> {
    let row = db
        .query_opt(
            "SELECT lifecycle_stage FROM runs WHERE id = $1 AND workspace = $2 FOR SHARE",
            &[&id.as_str(), &ws.as_str()],
        )
        .await?;
    match row {
        None => Err(not_found(db, ws, Entity::Run, id).await),
        Some(row) => check_live(id, parse_stage(col(&row, 0)?)?),
    }
}

pub(super) fn check_live(id: &RunId, stage: LifecycleStage) -> Result<()> {
    match stage {
        LifecycleStage::Active => Ok(()),
        LifecycleStage::Deleted => Err(StoreError::InvalidState(format!(
            "run '{id}' is deleted; restore it before writing to it"
        ))),
    }
}

/// The page size as a SQL `LIMIT` that fetches one extra row to detect a next page.
pub(super) fn limit_plus_one(size: usize) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX).saturating_add(1)
}

pub(super) fn cursor_int(pos: &[CursorValue], idx: usize) -> Result<i64> {
    match pos.get(idx) {
        Some(CursorValue::Int(v)) => Ok(*v),
        _ => Err(StoreError::PageToken(mlplane_core::TokenError::Malformed)),
    }
}

pub(super) fn cursor_str(pos: &[CursorValue], idx: usize) -> Result<&str> {
    match pos.get(idx) {
        Some(CursorValue::Str(v)) => Ok(v),
        _ => Err(StoreError::PageToken(mlplane_core::TokenError::Malformed)),
    }
}

/// Checks a cursor has exactly `n` values.
pub(super) fn cursor_len(pos: &[CursorValue], n: usize) -> Result<()> {
    if pos.len() == n {
        Ok(())
    } else {
        Err(StoreError::PageToken(mlplane_core::TokenError::Malformed))
    }
}

pub(super) fn experiment_id(row: &Row, idx: usize) -> Result<ExperimentId> {
    Ok(ExperimentId(col(row, idx)?))
}

/// The lifecycle stages a view includes, as stored.
pub(super) fn view_stages(view: mlplane_core::ViewType) -> Vec<&'static str> {
    [LifecycleStage::Active, LifecycleStage::Deleted]
        .into_iter()
        .filter(|s| view.includes(*s))
        .map(LifecycleStage::as_str)
        .collect()
}

/// Locks the live logged models `ids` of `ws` `FOR SHARE` (in id order, so concurrent
/// callers cannot deadlock); the first one missing is `NotFound`.
pub(super) async fn lock_live_models(
    db: Db<'_>,
    ws: &WorkspaceName,
    mut ids: Vec<&str>,
) -> Result<()> {
    ids.sort_unstable();
    ids.dedup();
    let found = db
        .query(
            "SELECT id FROM logged_models
             WHERE id = ANY($1) AND workspace = $2 AND lifecycle_stage = 'active'
             ORDER BY id FOR SHARE",
            &[&ids, &ws.as_str()],
        )
        .await?;
    let found = found
        .iter()
        .map(|r| col::<String>(r, 0))
        .collect::<Result<Vec<_>>>()?;
    match ids.iter().find(|id| !found.iter().any(|f| f == *id)) {
        Some(missing) => Err(not_found(db, ws, Entity::LoggedModel, missing).await),
        None => Ok(()),
    }
}
