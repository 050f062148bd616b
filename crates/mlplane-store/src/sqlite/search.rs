//! SQL for MLflow-style searches on SQLite (runs and experiments), loading a page of runs
//! with their data, and recording run inputs (datasets).
//!
//! Invariants:
//! - filters and orderings are translated by `crate::search_sql`, values always bound;
//! - paging is by offset under a token bound to the whole search (`search_scope`);
//! - a run's params, tags, metrics, inputs and outputs are loaded for a whole page at once,
//!   one statement per table over the page's integer run keys (`runs.num`).

use super::Db;
use super::ops::{
    EXPERIMENT_COLS, decode_ints, experiment_row, require_workspace, to_experiment, view_sql,
};
use super::runs::{RUN_COLS, active, corrupt, numbered_row, to_info};
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
use std::rc::Rc;

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
        "SELECT {}, r.num FROM runs r {} WHERE {plus}r.workspace = ?1 AND r.lifecycle_stage IN {}",
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
    // The page's bounds are bound too (after the workspace and the filter's values).
    let limit = parts.args.len() + 2;
    sql.push_str(&format!(
        " ORDER BY {} LIMIT ?{limit} OFFSET ?{}",
        parts.order.join(", "),
        limit + 1
    ));
    let args = std::iter::once(SqlValue::Text(ws.as_str().to_string()))
        .chain(to_sql(parts.args))
        .chain([SqlValue::Integer(n as i64 + 1), SqlValue::Integer(offset)]);
    let started = std::time::Instant::now();
    // Values are bound, so the text depends only on the search's shape and experiments:
    // the same search (a client paging, a dashboard refreshing) reuses its statement.
    let rows = conn
        .prepare_cached(&sql)
        .db()?
        .query_map(params_from_iter(args), numbered_row)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    let mut infos = rows
        .into_iter()
        .map(|(num, row)| Ok((num, to_info(row)?)))
        .collect::<Result<Vec<_>>>()?;
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

/// The page's runs by integer key, in page order.
struct PageKeys {
    nums: Vec<i64>,
    array: Rc<Vec<SqlValue>>,
    /// Position by key, built only if rows ever come out of page order.
    slot: std::cell::OnceCell<HashMap<i64, usize>>,
}

impl PageKeys {
    fn new(nums: Vec<i64>) -> Self {
        PageKeys {
            array: Rc::new(nums.iter().map(|n| SqlValue::Integer(*n)).collect()),
            slot: std::cell::OnceCell::new(),
            nums,
        }
    }

    /// The position of run `num`, looked at from `hint` on (rows come in page order, so
    /// this is usually where the previous row's run was or the next one).
    fn position(&self, num: i64, hint: usize) -> Result<usize> {
        for at in [hint, hint + 1] {
            if self.nums.get(at) == Some(&num) {
                return Ok(at);
            }
        }
        self.slot
            .get_or_init(|| self.nums.iter().enumerate().map(|(i, n)| (*n, i)).collect())
            .get(&num)
            .copied()
            .ok_or_else(|| StoreError::Internal(format!("unexpected run {num} in result")))
    }
}

/// Runs `sql` over the page's runs, passed as the array parameter `?1` (`rarray`, joined
/// first so each run is one primary-key seek, with no temporary index of the ids), calling
/// `each` with the run's position in the page and the row, whose column 0 is the run's key.
fn per_run(
    conn: &Connection,
    sql: &str,
    keys: &PageKeys,
    mut each: impl FnMut(usize, &rusqlite::Row<'_>) -> Result<()>,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(sql).db()?;
    let mut rows = stmt.query([keys.array.clone()]).db()?;
    let mut at = 0;
    while let Some(row) = rows.next().db()? {
        at = keys.position(row.get(0).db()?, at)?;
        each(at, row)?;
    }
    Ok(())
}

/// Loads params, tags, latest metrics, inputs and outputs of each run (its integer key and
/// info), keeping the order given. Params, tags and metrics are sorted by key, inputs and
/// outputs in the order they were logged.
pub(crate) fn with_data(conn: &Connection, found: Vec<(i64, RunInfo)>) -> Result<Vec<Run>> {
    let keys = PageKeys::new(found.iter().map(|(n, _)| *n).collect());
    let mut runs: Vec<Run> = found
        .into_iter()
        .map(|(_, info)| Run {
            info,
            params: Vec::new(),
            tags: Vec::new(),
            metrics: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
        })
        .collect();
    per_run(
        conn,
        "SELECT p.run_num, p.key, p.value FROM rarray(?1) a CROSS JOIN run_params p ON p.run_num = a.value",
        &keys,
        |at, r| {
            runs[at].params.push(Param {
                key: r.get(1).db()?,
                value: r.get(2).db()?,
            });
            Ok(())
        },
    )?;
    per_run(
        conn,
        "SELECT t.run_num, t.key, t.value FROM rarray(?1) a CROSS JOIN run_tags t ON t.run_num = a.value",
        &keys,
        |at, r| {
            runs[at].tags.push(Tag {
                key: r.get(1).db()?,
                value: r.get(2).db()?,
            });
            Ok(())
        },
    )?;
    per_run(
        conn,
        "SELECT m.run_num, m.key, m.last_bits, m.last_ts, m.last_step
         FROM rarray(?1) a CROSS JOIN metric_series m ON m.run_num = a.value WHERE m.count > 0",
        &keys,
        |at, r| {
            runs[at].metrics.push(Metric {
                key: r.get(1).db()?,
                value: f64::from_bits(r.get::<_, i64>(2).db()? as u64),
                timestamp: r.get(3).db()?,
                step: r.get(4).db()?,
            });
            Ok(())
        },
    )?;
    let mut input_seq: Vec<Vec<i64>> = vec![Vec::new(); runs.len()];
    per_run(
        conn,
        "SELECT i.run_num, i.name, i.digest, i.source_type, i.source, i.dataset_schema,
         i.dataset_profile, i.tags, i.seq FROM rarray(?1) a CROSS JOIN run_inputs i ON i.run_num = a.value",
        &keys,
        |at, r| {
            let tags: String = r.get(7).db()?;
            runs[at].inputs.push(DatasetInput {
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
            input_seq[at].push(r.get(8).db()?);
            Ok(())
        },
    )?;
    let mut output_seq: Vec<Vec<i64>> = vec![Vec::new(); runs.len()];
    per_run(
        conn,
        "SELECT o.run_num, o.model_id, o.step, o.seq FROM rarray(?1) a CROSS JOIN run_outputs o ON o.run_num = a.value",
        &keys,
        |at, r| {
            let model: String = r.get(1).db()?;
            runs[at].outputs.push(ModelOutput {
                model_id: LoggedModelId::parse(&model)
                    .map_err(|_| corrupt("logged model id", &model))?,
                step: r.get(2).db()?,
            });
            output_seq[at].push(r.get(3).db()?);
            Ok(())
        },
    )?;
    // The rows of a run come in primary-key order; the sorts make the order explicit
    // (and cost one pass over an already sorted list).
    for (run, (ins, outs)) in runs.iter_mut().zip(input_seq.into_iter().zip(output_seq)) {
        run.params.sort_by(|a, b| a.key.cmp(&b.key));
        run.tags.sort_by(|a, b| a.key.cmp(&b.key));
        run.metrics.sort_by(|a, b| a.key.cmp(&b.key));
        run.inputs = sorted_by_seq(std::mem::take(&mut run.inputs), ins);
        run.outputs = sorted_by_seq(std::mem::take(&mut run.outputs), outs);
    }
    Ok(runs)
}

/// `items` ordered by their `seq` (a run's inputs or outputs, in logging order).
fn sorted_by_seq<T>(items: Vec<T>, seq: Vec<i64>) -> Vec<T> {
    if seq.windows(2).all(|w| w[0] <= w[1]) {
        return items;
    }
    let mut paired: Vec<(i64, T)> = seq.into_iter().zip(items).collect();
    paired.sort_by_key(|(s, _)| *s);
    paired.into_iter().map(|(_, t)| t).collect()
}

pub(crate) fn log_inputs(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    inputs: &[DatasetInput],
) -> Result<()> {
    let (num, _) = active(conn, ws, id)?;
    let mut seq: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(seq), -1) FROM run_inputs WHERE run_num = ?1")
        .db()?
        .query_row([num], |r| r.get(0))
        .db()?;
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO run_inputs (run_num, name, digest, context, seq, source_type, source,
             dataset_schema, dataset_profile, tags) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (run_num, name, digest, context) DO NOTHING",
        )
        .db()?;
    for input in inputs {
        seq += 1;
        let d = &input.dataset;
        stmt.execute(rusqlite::params![
            num,
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
