//! SQL for MLflow 3 logged models on SQLite: the model rows, their params, tags and metrics,
//! and their artifact records.
//!
//! Invariants:
//! - a deleted model (`lifecycle_stage = 'deleted'`) is invisible to every function here;
//! - every write first resolves the live model in its workspace, so a write to a model of
//!   another workspace is `NotFound`;
//! - params are checked for conflicts before any is written (all or nothing, inside the
//!   writer's savepoint);
//! - model metrics are written in the savepoint of their run batch, after every linked
//!   model was found live in the workspace.

use super::Db;
use super::files::{artifact_row, to_entry};
use super::ops::{get_experiment, now_ms, require_workspace};
use super::runs::{corrupt, get_info};
use crate::logged_models::check_params_batch;
use crate::rules::{dir_range, group_listing};
use crate::{Entity, Result, StoreError};
use mlplane_core::logged_model::{default_model_name, model_artifact_location};
use mlplane_core::{
    ArtifactEntry, ArtifactListing, ArtifactPath, ExperimentId, LifecycleStage, LogBatch,
    LoggedModel, LoggedModelId, LoggedModelMetric, LoggedModelStatus, ModelMetricLink, ModelOutput,
    NewLoggedModel, Param, RunId, Tag, WorkspaceName,
};
use rusqlite::{Connection, OptionalExtension, params};

const MODEL_COLS: &str = "id, experiment_id, name, model_type, source_run_id, status, \
     status_message, created_at, updated_at, artifact_location";

type ModelRow = (
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    i64,
    i64,
    String,
);

fn model_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ModelRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
    ))
}

fn key_values(conn: &Connection, table: &str, id: &str) -> Result<Vec<(String, String)>> {
    let sql = match table {
        "params" => "SELECT key, value FROM logged_model_params WHERE model_id = ?1 ORDER BY key",
        _ => "SELECT key, value FROM logged_model_tags WHERE model_id = ?1 ORDER BY key",
    };
    conn.prepare_cached(sql)
        .db()?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()
}

type MetricRow = (
    String,
    i64,
    i64,
    i64,
    String,
    Option<String>,
    Option<String>,
);

fn metrics_of(conn: &Connection, id: &str) -> Result<Vec<LoggedModelMetric>> {
    let rows = conn
        .prepare_cached(
            "SELECT key, value_bits, ts, step, run_id, dataset_name, dataset_digest
             FROM logged_model_metrics WHERE model_id = ?1 ORDER BY key, ts, step, run_id",
        )
        .db()?
        .query_map([id], |r| -> rusqlite::Result<MetricRow> {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    rows.into_iter()
        .map(|(key, bits, ts, step, run, dataset_name, dataset_digest)| {
            Ok(LoggedModelMetric {
                key,
                value: f64::from_bits(bits as u64),
                timestamp: ts,
                step,
                run_id: RunId::parse(&run).map_err(|_| corrupt("run id", &run))?,
                dataset_name,
                dataset_digest,
            })
        })
        .collect()
}

fn to_model(conn: &Connection, row: ModelRow) -> Result<LoggedModel> {
    let (id, exp, name, model_type, source, status, status_message, created, updated, loc) = row;
    let params = key_values(conn, "params", &id)?
        .into_iter()
        .map(|(key, value)| Param { key, value })
        .collect();
    let tags = key_values(conn, "tags", &id)?
        .into_iter()
        .map(|(key, value)| Tag { key, value })
        .collect();
    let metrics = metrics_of(conn, &id)?;
    Ok(LoggedModel {
        id: LoggedModelId::parse(&id).map_err(|_| corrupt("logged model id", &id))?,
        experiment_id: ExperimentId(exp),
        name,
        model_type,
        source_run_id: source
            .map(|s| RunId::parse(&s).map_err(|_| corrupt("run id", &s)))
            .transpose()?,
        status: LoggedModelStatus::parse(&status)
            .ok_or_else(|| corrupt("logged model status", &status))?,
        status_message,
        params,
        tags,
        metrics,
        created_ms: created,
        updated_ms: updated,
        artifact_location: loc,
    })
}

pub(crate) fn get(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &LoggedModelId,
) -> Result<LoggedModel> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {MODEL_COLS} FROM logged_models
             WHERE id = ?1 AND workspace = ?2 AND lifecycle_stage = 'active'"
        ))
        .db()?
        .query_row(params![id.as_str(), ws.as_str()], model_row)
        .optional()
        .db()?;
    match row {
        Some(r) => to_model(conn, r),
        None => {
            require_workspace(conn, ws)?;
            Err(StoreError::not_found(Entity::LoggedModel, id))
        }
    }
}

/// Checks the live model exists in `ws` (cheaper than [`get`]).
fn require(conn: &Connection, ws: &WorkspaceName, id: &LoggedModelId) -> Result<()> {
    let found = conn
        .prepare_cached(
            "SELECT 1 FROM logged_models
             WHERE id = ?1 AND workspace = ?2 AND lifecycle_stage = 'active'",
        )
        .db()?
        .query_row(params![id.as_str(), ws.as_str()], |_| Ok(()))
        .optional()
        .db()?;
    match found {
        Some(()) => Ok(()),
        None => {
            require_workspace(conn, ws)?;
            Err(StoreError::not_found(Entity::LoggedModel, id))
        }
    }
}

fn touch(conn: &Connection, id: &LoggedModelId) -> Result<()> {
    conn.prepare_cached("UPDATE logged_models SET updated_at = ?2 WHERE id = ?1")
        .db()?
        .execute(params![id.as_str(), now_ms()])
        .db()?;
    Ok(())
}

pub(crate) fn create(
    conn: &Connection,
    ws: &WorkspaceName,
    m: &NewLoggedModel,
) -> Result<LoggedModel> {
    let exp = get_experiment(conn, ws, m.experiment_id)?;
    if exp.lifecycle_stage == LifecycleStage::Deleted {
        return Err(StoreError::InvalidState(format!(
            "experiment {} is deleted; restore it before creating models in it",
            m.experiment_id
        )));
    }
    if let Some(run) = &m.source_run_id {
        get_info(conn, ws, run)?;
    }
    check_params_batch(&m.params)?;
    let id = LoggedModelId::generate();
    let name = m.name.clone().unwrap_or_else(|| default_model_name(&id));
    let now = now_ms();
    conn.prepare_cached(
        "INSERT INTO logged_models (id, workspace, experiment_id, name, model_type,
         source_run_id, status, status_message, lifecycle_stage, created_at, updated_at,
         artifact_location)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'PENDING', NULL, 'active', ?7, ?7, ?8)",
    )
    .db()?
    .execute(params![
        id.as_str(),
        ws.as_str(),
        m.experiment_id.0,
        name,
        m.model_type,
        m.source_run_id.as_ref().map(RunId::as_str),
        now,
        model_artifact_location(ws, m.experiment_id, &id),
    ])
    .db()?;
    insert_params(conn, &id, &m.params)?;
    upsert_tags(conn, &id, &m.tags)?;
    get(conn, ws, &id)
}

fn insert_params(conn: &Connection, id: &LoggedModelId, params: &[Param]) -> Result<()> {
    for p in params {
        let old: Option<String> = conn
            .prepare_cached(
                "SELECT value FROM logged_model_params WHERE model_id = ?1 AND key = ?2",
            )
            .db()?
            .query_row(params![id.as_str(), p.key], |r| r.get(0))
            .optional()
            .db()?;
        match old {
            Some(old) if old == p.value => {}
            Some(old) => {
                return Err(StoreError::ParamConflict {
                    key: p.key.clone(),
                    old,
                    new: p.value.clone(),
                });
            }
            None => {
                conn.prepare_cached(
                    "INSERT INTO logged_model_params (model_id, key, value) VALUES (?1, ?2, ?3)",
                )
                .db()?
                .execute(params![id.as_str(), p.key, p.value])
                .db()?;
            }
        }
    }
    Ok(())
}

fn upsert_tags(conn: &Connection, id: &LoggedModelId, tags: &[Tag]) -> Result<()> {
    for t in tags {
        conn.prepare_cached(
            "INSERT INTO logged_model_tags (model_id, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
        )
        .db()?
        .execute(params![id.as_str(), t.key, t.value])
        .db()?;
    }
    Ok(())
}

pub(crate) fn finalize(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &LoggedModelId,
    status: LoggedModelStatus,
    message: Option<&str>,
) -> Result<LoggedModel> {
    require(conn, ws, id)?;
    conn.prepare_cached(
        "UPDATE logged_models SET status = ?2, status_message = ?3, updated_at = ?4 WHERE id = ?1",
    )
    .db()?
    .execute(params![id.as_str(), status.as_str(), message, now_ms()])
    .db()?;
    get(conn, ws, id)
}

pub(crate) fn delete(conn: &Connection, ws: &WorkspaceName, id: &LoggedModelId) -> Result<()> {
    require(conn, ws, id)?;
    conn.prepare_cached(
        "UPDATE logged_models SET lifecycle_stage = 'deleted', updated_at = ?2 WHERE id = ?1",
    )
    .db()?
    .execute(params![id.as_str(), now_ms()])
    .db()?;
    Ok(())
}

pub(crate) fn log_params(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &LoggedModelId,
    params: &[Param],
) -> Result<()> {
    require(conn, ws, id)?;
    check_params_batch(params)?;
    insert_params(conn, id, params)?;
    touch(conn, id)
}

pub(crate) fn set_tags(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &LoggedModelId,
    tags: &[Tag],
) -> Result<()> {
    require(conn, ws, id)?;
    upsert_tags(conn, id, tags)?;
    touch(conn, id)
}

pub(crate) fn delete_tag(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &LoggedModelId,
    key: &str,
) -> Result<()> {
    require(conn, ws, id)?;
    let n = conn
        .prepare_cached("DELETE FROM logged_model_tags WHERE model_id = ?1 AND key = ?2")
        .db()?
        .execute(params![id.as_str(), key])
        .db()?;
    if n == 0 {
        return Err(StoreError::not_found(
            Entity::LoggedModel,
            format!("{id}/tag {key}"),
        ));
    }
    touch(conn, id)
}

/// Logs `b` to the run and each of `links` to its model, in the caller's savepoint.
pub(crate) fn log_batch_with_models(
    conn: &Connection,
    ws: &WorkspaceName,
    run: &RunId,
    b: &LogBatch,
    links: &[ModelMetricLink],
) -> Result<()> {
    super::metrics::log_batch(conn, ws, run, b)?;
    let mut checked: Vec<&LoggedModelId> = Vec::new();
    for l in links {
        if !checked.contains(&&l.model_id) {
            require(conn, ws, &l.model_id)?;
            checked.push(&l.model_id);
        }
        let m = &l.metric;
        conn.prepare_cached(
            "INSERT INTO logged_model_metrics (model_id, key, ts, step, run_id, value_bits,
             dataset_name, dataset_digest) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (model_id, key, ts, step, run_id) DO NOTHING",
        )
        .db()?
        .execute(params![
            l.model_id.as_str(),
            m.key,
            m.timestamp,
            m.step,
            run.as_str(),
            m.value.to_bits() as i64,
            l.dataset_name,
            l.dataset_digest,
        ])
        .db()?;
    }
    Ok(())
}

/// Records `outputs` as models the run produced, after checking the run is active and
/// every model live in `ws`; a model already recorded for the run keeps its first step.
pub(crate) fn log_outputs(
    conn: &Connection,
    ws: &WorkspaceName,
    run: &RunId,
    outputs: &[ModelOutput],
) -> Result<()> {
    let (num, _) = super::runs::active(conn, ws, run)?;
    for o in outputs {
        require(conn, ws, &o.model_id)?;
    }
    let mut seq: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(seq), -1) FROM run_outputs WHERE run_num = ?1")
        .db()?
        .query_row([num], |r| r.get(0))
        .db()?;
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO run_outputs (run_num, model_id, step, seq) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (run_num, model_id) DO NOTHING",
        )
        .db()?;
    for o in outputs {
        seq += 1;
        insert
            .execute(params![num, o.model_id.as_str(), o.step, seq])
            .db()?;
    }
    Ok(())
}

/// Every live model of the given experiments of `ws`.
pub(crate) fn load(
    conn: &Connection,
    ws: &WorkspaceName,
    experiments: &[ExperimentId],
) -> Result<Vec<LoggedModel>> {
    require_workspace(conn, ws)?;
    let mut out = Vec::new();
    for exp in experiments {
        let rows = conn
            .prepare_cached(&format!(
                "SELECT {MODEL_COLS} FROM logged_models
                 WHERE workspace = ?1 AND experiment_id = ?2 AND lifecycle_stage = 'active'"
            ))
            .db()?
            .query_map(params![ws.as_str(), exp.0], model_row)
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()?;
        for r in rows {
            out.push(to_model(conn, r)?);
        }
    }
    Ok(out)
}

pub(crate) fn record_artifact(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &LoggedModelId,
    e: &ArtifactEntry,
) -> Result<()> {
    require(conn, ws, id)?;
    conn.prepare_cached(
        "INSERT INTO logged_model_artifacts (model_id, path, size, sha256, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (model_id, path) DO UPDATE SET size = excluded.size,
         sha256 = excluded.sha256, created_at = excluded.created_at",
    )
    .db()?
    .execute(params![
        id.as_str(),
        e.path.as_str(),
        i64::try_from(e.size).unwrap_or(i64::MAX),
        e.sha256,
        e.created_at
    ])
    .db()?;
    Ok(())
}

pub(crate) fn get_artifact(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &LoggedModelId,
    path: &ArtifactPath,
) -> Result<ArtifactEntry> {
    require(conn, ws, id)?;
    let row = conn
        .prepare_cached(
            "SELECT path, size, sha256, created_at FROM logged_model_artifacts
             WHERE model_id = ?1 AND path = ?2",
        )
        .db()?
        .query_row(params![id.as_str(), path.as_str()], artifact_row)
        .optional()
        .db()?;
    match row {
        Some(r) => to_entry(r),
        None => Err(StoreError::not_found(Entity::Artifact, path)),
    }
}

pub(crate) fn list_artifacts(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &LoggedModelId,
    dir: &ArtifactPath,
) -> Result<ArtifactListing> {
    require(conn, ws, id)?;
    let (lo, hi) = dir_range(dir);
    let entries = conn
        .prepare_cached(
            "SELECT path, size, sha256, created_at FROM logged_model_artifacts
             WHERE model_id = ?1 AND path >= ?2 AND path < ?3 ORDER BY path",
        )
        .db()?
        .query_map(params![id.as_str(), lo, hi], artifact_row)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?
        .into_iter()
        .map(to_entry)
        .collect::<Result<Vec<_>>>()?;
    Ok(group_listing(&lo, entries))
}

pub(crate) fn delete_artifact(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &LoggedModelId,
    path: &ArtifactPath,
) -> Result<()> {
    require(conn, ws, id)?;
    let n = conn
        .prepare_cached("DELETE FROM logged_model_artifacts WHERE model_id = ?1 AND path = ?2")
        .db()?
        .execute(params![id.as_str(), path.as_str()])
        .db()?;
    if n == 0 {
        return Err(StoreError::not_found(Entity::Artifact, path));
    }
    Ok(())
}
