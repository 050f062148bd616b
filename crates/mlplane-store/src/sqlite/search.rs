//! SQL for MLflow-style searches on SQLite (runs and experiments), loading a page of runs
//! with their data, and recording run inputs (datasets).
//!
//! Invariants:
//! - filters and orderings are translated by `crate::search_sql`, values always bound;
//! - paging is by offset under a token bound to the whole search (`search_scope`);
//! - a run's params, tags, metrics and inputs are loaded for a whole page at once, in
//!   chunks that stay under SQLite's bound-variable limit.

use super::Db;
use super::ops::{
    EXPERIMENT_COLS, decode_ints, experiment_row, require_workspace, to_experiment, view_sql,
};
use super::runs::{RUN_COLS, active, corrupt, run_row, to_info};
use crate::rules::page_size;
use crate::search_sql::{self, Arg, Dialect};
use crate::types::search_scope;
use crate::{ExperimentSearch, Result, RunSearch, StoreError};
use mlplane_core::limits::MAX_PAGE_SIZE;
use mlplane_core::{
    Cursor, CursorValue, Dataset, DatasetInput, Experiment, LoggedModelId, Metric, ModelOutput,
    Page, PageRequest, Param, Run, RunId, RunInfo, Tag, TokenCodec, WorkspaceName,
};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params_from_iter};
use std::collections::HashMap;

/// Ids per `IN (...)` list when loading run data.
const CHUNK: usize = 500;

fn to_sql(args: Vec<Arg>) -> impl Iterator<Item = SqlValue> {
    args.into_iter().map(|a| match a {
        Arg::Text(s) => SqlValue::Text(s),
        Arg::Real(f) => SqlValue::Real(f),
    })
}

fn offset_of(codec: &TokenCodec, page: &PageRequest, scope: &str) -> Result<i64> {
    match &page.page_token {
        Some(t) => {
            let off = decode_ints(codec, t, scope, 1)?[0];
            if off < 0 {
                return Err(mlplane_core::TokenError::Malformed.into());
            }
            Ok(off)
        }
        None => Ok(0),
    }
}

fn next_token<T>(
    codec: &TokenCodec,
    scope: String,
    items: &mut Vec<T>,
    n: usize,
    offset: i64,
) -> Option<String> {
    if items.len() > n {
        items.truncate(n);
        Some(codec.encode(&Cursor {
            scope,
            position: vec![CursorValue::Int(offset + n as i64)],
        }))
    } else {
        None
    }
}

pub(crate) fn search_runs(
    conn: &Connection,
    codec: &TokenCodec,
    ws: &WorkspaceName,
    q: &RunSearch,
    page: &PageRequest,
) -> Result<Page<Run>> {
    require_workspace(conn, ws)?;
    let n = page_size(page, MAX_PAGE_SIZE)?;
    let scope = search_scope("search-runs", ws, q);
    let offset = offset_of(codec, page, &scope)?;
    let parts = search_sql::runs(Dialect::Sqlite, 1, &q.filter, &q.order_by);
    // With a keyed condition, `+` keeps SQLite from walking the experiment's runs through
    // the experiment index and probing every one; it reaches runs from the key index.
    let plus = if parts.keyed { "+" } else { "" };
    let mut sql = format!(
        "SELECT {} FROM runs r {} WHERE {plus}r.workspace = ?1 AND r.lifecycle_stage IN {}",
        search_sql::qualified("r", RUN_COLS),
        parts.joins.join(" "),
        view_sql(q.view)
    );
    if !q.experiment_ids.is_empty() {
        let ids: Vec<String> = q.experiment_ids.iter().map(|e| e.0.to_string()).collect();
        sql.push_str(&format!(
            " AND {plus}r.experiment_id IN ({})",
            ids.join(",")
        ));
    }
    for c in &parts.conditions {
        sql.push_str(" AND ");
        sql.push_str(c);
    }
    sql.push_str(&format!(
        " ORDER BY {} LIMIT {} OFFSET {offset}",
        parts.order.join(", "),
        n + 1
    ));
    let args = std::iter::once(SqlValue::Text(ws.as_str().to_string())).chain(to_sql(parts.args));
    let started = std::time::Instant::now();
    let rows = conn
        .prepare(&sql)
        .db()?
        .query_map(params_from_iter(args), run_row)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    let mut infos = rows.into_iter().map(to_info).collect::<Result<Vec<_>>>()?;
    let queried = started.elapsed();
    let next_page_token = next_token(codec, scope, &mut infos, n, offset);
    let items = with_data(conn, infos)?;
    // Stage timings (`MLPLANE_LOG=mlplane_store::search=debug`): the filtered query, then
    // loading the page's data.
    tracing::debug!(
        target: "mlplane_store::search",
        runs = items.len(),
        query_us = queried.as_micros() as u64,
        data_us = (started.elapsed() - queried).as_micros() as u64,
        "search runs"
    );
    Ok(Page {
        items,
        next_page_token,
    })
}

pub(crate) fn search_experiments(
    conn: &Connection,
    codec: &TokenCodec,
    ws: &WorkspaceName,
    q: &ExperimentSearch,
    page: &PageRequest,
) -> Result<Page<Experiment>> {
    require_workspace(conn, ws)?;
    let n = page_size(page, MAX_PAGE_SIZE)?;
    let scope = search_scope("search-experiments", ws, q);
    let offset = offset_of(codec, page, &scope)?;
    let mut sql = format!(
        "SELECT {EXPERIMENT_COLS} FROM experiments e WHERE e.workspace = ?1 AND e.lifecycle_stage IN {}",
        view_sql(q.view)
    );
    let parts = search_sql::experiments(Dialect::Sqlite, 1, &q.filter, &q.order_by);
    for c in &parts.conditions {
        sql.push_str(" AND ");
        sql.push_str(c);
    }
    sql.push_str(&format!(
        " ORDER BY {} LIMIT {} OFFSET {offset}",
        parts.order.join(", "),
        n + 1
    ));
    let args = std::iter::once(SqlValue::Text(ws.as_str().to_string())).chain(to_sql(parts.args));
    let rows = conn
        .prepare(&sql)
        .db()?
        .query_map(params_from_iter(args), experiment_row)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    let mut items = rows
        .into_iter()
        .map(|r| to_experiment(conn, r))
        .collect::<Result<Vec<_>>>()?;
    let next_page_token = next_token(codec, scope, &mut items, n, offset);
    Ok(Page {
        items,
        next_page_token,
    })
}

/// Runs `sql` (which has one `IN ({ids})` list) over the ids in chunks, calling `each`
/// with the run id (column 0) and the row.
fn per_run(
    conn: &Connection,
    sql: &str,
    ids: &[&str],
    mut each: impl FnMut(&str, &rusqlite::Row<'_>) -> Result<()>,
) -> Result<()> {
    for chunk in ids.chunks(CHUNK) {
        let marks = vec!["?"; chunk.len()].join(",");
        let text = sql.replace("{ids}", &marks);
        let mut stmt = conn.prepare_cached(&text).db()?;
        let mut rows = stmt.query(params_from_iter(chunk.iter())).db()?;
        while let Some(row) = rows.next().db()? {
            // The id is only looked up: borrowed from the row, not copied.
            let id = row
                .get_ref(0)
                .db()?
                .as_str()
                .map_err(|e| StoreError::Internal(format!("sqlite: run id: {e}")))?;
            each(id, row)?;
        }
    }
    Ok(())
}

/// Loads params, tags, latest metrics and inputs of each run, keeping the order given.
pub(crate) fn with_data(conn: &Connection, infos: Vec<RunInfo>) -> Result<Vec<Run>> {
    // The ids are copied once so the infos can move into the runs.
    let owned: Vec<String> = infos.iter().map(|i| i.id.as_str().to_string()).collect();
    let ids: Vec<&str> = owned.iter().map(String::as_str).collect();
    let index: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut runs: Vec<Run> = infos
        .into_iter()
        .map(|info| Run {
            info,
            params: Vec::new(),
            tags: Vec::new(),
            metrics: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
        })
        .collect();
    let slot = |id: &str| {
        index
            .get(id)
            .copied()
            .ok_or_else(|| StoreError::Internal(format!("unexpected run '{id}' in result")))
    };
    per_run(
        conn,
        "SELECT run_id, key, value FROM run_params WHERE run_id IN ({ids}) ORDER BY run_id, key",
        &ids,
        |id, r| {
            runs[slot(id)?].params.push(Param {
                key: r.get(1).db()?,
                value: r.get(2).db()?,
            });
            Ok(())
        },
    )?;
    per_run(
        conn,
        "SELECT run_id, key, value FROM run_tags WHERE run_id IN ({ids}) ORDER BY run_id, key",
        &ids,
        |id, r| {
            runs[slot(id)?].tags.push(Tag {
                key: r.get(1).db()?,
                value: r.get(2).db()?,
            });
            Ok(())
        },
    )?;
    per_run(
        conn,
        "SELECT run_id, key, last_bits, last_ts, last_step FROM metric_series
         WHERE run_id IN ({ids}) AND count > 0 ORDER BY run_id, key",
        &ids,
        |id, r| {
            runs[slot(id)?].metrics.push(Metric {
                key: r.get(1).db()?,
                value: f64::from_bits(r.get::<_, i64>(2).db()? as u64),
                timestamp: r.get(3).db()?,
                step: r.get(4).db()?,
            });
            Ok(())
        },
    )?;
    per_run(
        conn,
        "SELECT run_id, name, digest, source_type, source, dataset_schema, dataset_profile, tags
         FROM run_inputs WHERE run_id IN ({ids}) ORDER BY run_id, seq",
        &ids,
        |id, r| {
            let tags: String = r.get(7).db()?;
            runs[slot(id)?].inputs.push(DatasetInput {
                dataset: Dataset {
                    name: r.get(1).db()?,
                    digest: r.get(2).db()?,
                    source_type: r.get(3).db()?,
                    source: r.get(4).db()?,
                    schema: r.get(5).db()?,
                    profile: r.get(6).db()?,
                },
                tags: crate::rules::decode_input_tags(&tags)?,
            });
            Ok(())
        },
    )?;
    per_run(
        conn,
        "SELECT run_id, model_id, step FROM run_outputs WHERE run_id IN ({ids}) ORDER BY run_id, seq",
        &ids,
        |id, r| {
            let model: String = r.get(1).db()?;
            runs[slot(id)?].outputs.push(ModelOutput {
                model_id: LoggedModelId::parse(&model)
                    .map_err(|_| corrupt("logged model id", &model))?,
                step: r.get(2).db()?,
            });
            Ok(())
        },
    )?;
    Ok(runs)
}

pub(crate) fn log_inputs(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    inputs: &[DatasetInput],
) -> Result<()> {
    active(conn, ws, id)?;
    let mut seq: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(seq), -1) FROM run_inputs WHERE run_id = ?1")
        .db()?
        .query_row([id.as_str()], |r| r.get(0))
        .db()?;
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO run_inputs (run_id, name, digest, context, seq, source_type, source,
             dataset_schema, dataset_profile, tags) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (run_id, name, digest, context) DO NOTHING",
        )
        .db()?;
    for input in inputs {
        seq += 1;
        let d = &input.dataset;
        stmt.execute(rusqlite::params![
            id.as_str(),
            d.name,
            d.digest,
            input.context(),
            seq,
            d.source_type,
            d.source,
            d.schema,
            d.profile,
            crate::rules::encode_input_tags(&input.tags),
        ])
        .db()?;
    }
    Ok(())
}
