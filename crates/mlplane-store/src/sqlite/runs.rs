//! SQL for runs, their params, tags, metrics, logs and artifact records.
//!
//! Metric points live in a clustered table keyed by `(series_id, step, ts, seq)`, where a
//! series is one `(run, key)` and `seq` its insertion counter; `metric_series` keeps the
//! count, step range and latest point of each series so reading a run never scans points.
//!
//! Invariants:
//! - `metric_series.count` equals the number of points of the series;
//! - `metric_series.last_*` is the point with the greatest (step, ts), ties to the latest insert;
//! - values are stored as their f64 bits, so NaN, infinities and -0.0 round-trip exactly.

use super::Db;
use super::ops::{decode_ints, get_experiment, now_ms, page_size, require_workspace, view_sql};
use crate::{Entity, Result, RunQuery, SampledHistory, StoreError};
use mlplane_core::downsample::Downsampler;
use mlplane_core::limits::{
    MAX_DOWNSAMPLE_POINTS, MAX_HISTORY_PAGE, MAX_LOG_APPEND_BYTES, MAX_PAGE_SIZE,
};
use mlplane_core::{
    ArtifactEntry, ArtifactListing, ArtifactPath, Cursor, CursorValue, ExperimentId, Invalid,
    LifecycleStage, LogBatch, LogChunk, Metric, MetricPoint, NewRun, Page, PageRequest, Param, Run,
    RunId, RunInfo, RunStatus, RunUpdate, Tag, TokenCodec, WorkspaceName, default_run_name,
};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;

const RUN_COLS: &str = "id, workspace, experiment_id, name, user_id, status, start_time, end_time, lifecycle_stage, parent_run_id, artifact_uri";

type RunRow = (
    String,
    String,
    i64,
    String,
    String,
    String,
    i64,
    Option<i64>,
    String,
    Option<String>,
    String,
);

fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
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
        r.get(10)?,
    ))
}

fn corrupt(what: &str, v: &str) -> StoreError {
    StoreError::Internal(format!("bad {what} '{v}' in database"))
}

fn to_info(row: RunRow) -> Result<RunInfo> {
    let (id, ws, exp, name, user, status, start, end, stage, parent, uri) = row;
    Ok(RunInfo {
        id: RunId::parse(&id).map_err(|_| corrupt("run id", &id))?,
        workspace: WorkspaceName::parse(&ws).map_err(|_| corrupt("workspace", &ws))?,
        experiment_id: ExperimentId(exp),
        name,
        user,
        status: status
            .parse::<RunStatus>()
            .map_err(|_| corrupt("status", &status))?,
        start_time: start,
        end_time: end,
        lifecycle_stage: super::ops::stage(&stage)?,
        parent_run_id: match parent {
            Some(p) => Some(RunId::parse(&p).map_err(|_| corrupt("parent run id", &p))?),
            None => None,
        },
        artifact_uri: uri,
    })
}

pub(crate) fn get_info(conn: &Connection, ws: &WorkspaceName, id: &RunId) -> Result<RunInfo> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {RUN_COLS} FROM runs WHERE id = ?1 AND workspace = ?2"
        ))
        .db()?
        .query_row(params![id.as_str(), ws.as_str()], run_row)
        .optional()
        .db()?;
    match row {
        Some(r) => to_info(r),
        None => {
            require_workspace(conn, ws)?;
            Err(StoreError::not_found(Entity::Run, id))
        }
    }
}

/// The run, which must be active to be written to.
fn active(conn: &Connection, ws: &WorkspaceName, id: &RunId) -> Result<RunInfo> {
    let info = get_info(conn, ws, id)?;
    if info.lifecycle_stage == LifecycleStage::Deleted {
        return Err(StoreError::InvalidState(format!("run '{id}' is deleted")));
    }
    Ok(info)
}

pub(crate) fn get_run(conn: &Connection, ws: &WorkspaceName, id: &RunId) -> Result<Run> {
    let info = get_info(conn, ws, id)?;
    let params = conn
        .prepare_cached("SELECT key, value FROM run_params WHERE run_id = ?1 ORDER BY key")
        .db()?
        .query_map([id.as_str()], |r| {
            Ok(Param {
                key: r.get(0)?,
                value: r.get(1)?,
            })
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    let tags = conn
        .prepare_cached("SELECT key, value FROM run_tags WHERE run_id = ?1 ORDER BY key")
        .db()?
        .query_map([id.as_str()], |r| {
            Ok(Tag {
                key: r.get(0)?,
                value: r.get(1)?,
            })
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    let metrics = conn
        .prepare_cached(
            "SELECT key, last_bits, last_ts, last_step FROM metric_series WHERE run_id = ?1 ORDER BY key",
        )
        .db()?
        .query_map([id.as_str()], |r| {
            Ok(Metric {
                key: r.get(0)?,
                value: f64::from_bits(r.get::<_, i64>(1)? as u64),
                timestamp: r.get(2)?,
                step: r.get(3)?,
            })
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    Ok(Run {
        info,
        params,
        tags,
        metrics,
    })
}

fn upsert_tag(conn: &Connection, run: &RunId, t: &Tag) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO run_tags (run_id, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
    )
    .db()?
    .execute(params![run.as_str(), t.key, t.value])
    .db()?;
    Ok(())
}

pub(crate) fn create_run(conn: &Connection, ws: &WorkspaceName, r: &NewRun) -> Result<Run> {
    let exp = get_experiment(conn, ws, r.experiment_id)?;
    if exp.lifecycle_stage == LifecycleStage::Deleted {
        return Err(StoreError::InvalidState(format!(
            "experiment '{}' is deleted",
            exp.id
        )));
    }
    if let Some(parent) = &r.parent_run_id {
        get_info(conn, ws, parent)?;
    }
    let id = RunId::generate();
    let name = r
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| default_run_name(&id));
    let end_time = r.status.is_terminal().then_some(r.start_time);
    conn.prepare_cached(&format!(
        "INSERT INTO runs ({RUN_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'active', ?9, ?10)"
    ))
    .db()?
    .execute(params![
        id.as_str(),
        ws.as_str(),
        exp.id.0,
        name,
        r.user,
        r.status.as_str(),
        r.start_time,
        end_time,
        r.parent_run_id.as_ref().map(|p| p.as_str()),
        format!("mlplane-artifacts:/{ws}/{}/{id}/artifacts", exp.id),
    ])
    .db()?;
    for t in &r.tags {
        upsert_tag(conn, &id, t)?;
    }
    get_run(conn, ws, &id)
}

fn query_scope(ws: &WorkspaceName, q: &RunQuery) -> String {
    let mut s = format!("runs:{ws}:{:?}:", q.view);
    for e in &q.experiment_ids {
        s.push_str(&format!("{e},"));
    }
    s.push(':');
    for st in &q.statuses {
        s.push_str(st.as_str());
        s.push(',');
    }
    if let Some(p) = &q.parent_run_id {
        s.push_str(p.as_str());
    }
    s
}

pub(crate) fn list_runs(
    conn: &Connection,
    codec: &TokenCodec,
    ws: &WorkspaceName,
    q: &RunQuery,
    page: &PageRequest,
) -> Result<Page<RunInfo>> {
    require_workspace(conn, ws)?;
    let n = page_size(page, MAX_PAGE_SIZE)?;
    let scope = query_scope(ws, q);
    let mut sql = format!(
        "SELECT {RUN_COLS} FROM runs WHERE workspace = ?1 AND lifecycle_stage IN {}",
        view_sql(q.view)
    );
    let mut args: Vec<rusqlite::types::Value> = vec![ws.as_str().to_string().into()];
    if !q.experiment_ids.is_empty() {
        let list: Vec<String> = q.experiment_ids.iter().map(|e| e.0.to_string()).collect();
        sql.push_str(&format!(" AND experiment_id IN ({})", list.join(",")));
    }
    if !q.statuses.is_empty() {
        let list: Vec<String> = q
            .statuses
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        sql.push_str(&format!(" AND status IN ({})", list.join(",")));
    }
    if let Some(p) = &q.parent_run_id {
        args.push(p.as_str().to_string().into());
        sql.push_str(&format!(" AND parent_run_id = ?{}", args.len()));
    }
    if let Some(t) = &page.page_token {
        let pos = codec.decode(t, &scope)?;
        let (start, id) = match pos.as_slice() {
            [CursorValue::Int(s), CursorValue::Str(id)] => (*s, id.clone()),
            _ => return Err(mlplane_core::TokenError::Malformed.into()),
        };
        args.push(start.into());
        args.push(id.into());
        let (a, b) = (args.len() - 1, args.len());
        sql.push_str(&format!(
            " AND (start_time < ?{a} OR (start_time = ?{a} AND id > ?{b}))"
        ));
    }
    args.push(((n + 1) as i64).into());
    sql.push_str(&format!(
        " ORDER BY start_time DESC, id ASC LIMIT ?{}",
        args.len()
    ));
    let rows = conn
        .prepare(&sql)
        .db()?
        .query_map(rusqlite::params_from_iter(args), run_row)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    let mut items = rows.into_iter().map(to_info).collect::<Result<Vec<_>>>()?;
    let next_page_token = if items.len() > n {
        items.truncate(n);
        items.last().map(|r| {
            codec.encode(&Cursor {
                scope: scope.clone(),
                position: vec![
                    CursorValue::Int(r.start_time),
                    CursorValue::Str(r.id.to_string()),
                ],
            })
        })
    } else {
        None
    };
    Ok(Page {
        items,
        next_page_token,
    })
}

pub(crate) fn update_run(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    u: &RunUpdate,
) -> Result<RunInfo> {
    let info = active(conn, ws, id)?;
    let status = u.status.unwrap_or(info.status);
    if status == RunStatus::Queued && info.status != RunStatus::Queued {
        return Err(StoreError::InvalidState(format!(
            "run '{id}' is {} and cannot move back to QUEUED",
            info.status
        )));
    }
    let end_time = if status.is_terminal() {
        u.end_time.or(info.end_time).or(Some(now_ms()))
    } else {
        None
    };
    let name = u.name.clone().unwrap_or(info.name);
    conn.prepare_cached("UPDATE runs SET status = ?1, end_time = ?2, name = ?3 WHERE id = ?4")
        .db()?
        .execute(params![status.as_str(), end_time, name, id.as_str()])
        .db()?;
    get_info(conn, ws, id)
}

pub(crate) fn set_run_lifecycle(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    to: LifecycleStage,
) -> Result<RunInfo> {
    get_info(conn, ws, id)?;
    conn.execute(
        "UPDATE runs SET lifecycle_stage = ?1 WHERE id = ?2",
        params![to.as_str(), id.as_str()],
    )
    .db()?;
    get_info(conn, ws, id)
}

struct SeriesAgg {
    id: i64,
    count: i64,
    min_step: i64,
    max_step: i64,
    last: MetricPoint,
}

pub(crate) fn log_batch(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    b: &LogBatch,
) -> Result<()> {
    active(conn, ws, id)?;
    // Params first: a conflict aborts the batch before anything is written.
    for p in &b.params {
        let old: Option<String> = conn
            .prepare_cached("SELECT value FROM run_params WHERE run_id = ?1 AND key = ?2")
            .db()?
            .query_row(params![id.as_str(), p.key], |r| r.get(0))
            .optional()
            .db()?;
        match old {
            Some(old) if old != p.value => {
                return Err(StoreError::ParamConflict {
                    key: p.key.clone(),
                    old,
                    new: p.value.clone(),
                });
            }
            Some(_) => {}
            None => {
                conn.prepare_cached(
                    "INSERT INTO run_params (run_id, key, value) VALUES (?1, ?2, ?3)",
                )
                .db()?
                .execute(params![id.as_str(), p.key, p.value])
                .db()?;
            }
        }
    }
    for t in &b.tags {
        upsert_tag(conn, id, t)?;
    }
    if b.metrics.is_empty() {
        return Ok(());
    }
    let mut series: BTreeMap<&str, SeriesAgg> = BTreeMap::new();
    let mut rows: Vec<[i64; 5]> = Vec::with_capacity(b.metrics.len());
    for m in &b.metrics {
        if !series.contains_key(m.key.as_str()) {
            let agg = load_or_create_series(conn, id, m)?;
            series.insert(m.key.as_str(), agg);
        }
        let Some(s) = series.get_mut(m.key.as_str()) else {
            return Err(StoreError::Internal("metric series vanished".into()));
        };
        rows.push([s.id, m.step, m.timestamp, s.count, m.value.to_bits() as i64]);
        s.count += 1;
        s.min_step = s.min_step.min(m.step);
        s.max_step = s.max_step.max(m.step);
        if (m.step, m.timestamp) >= (s.last.step, s.last.timestamp) {
            s.last = m.point();
        }
    }
    insert_points(conn, &rows)?;
    let mut update = conn
        .prepare_cached(
            "UPDATE metric_series SET count = ?1, min_step = ?2, max_step = ?3, last_value = ?4,
             last_step = ?5, last_ts = ?6, last_bits = ?8 WHERE id = ?7",
        )
        .db()?;
    for s in series.values() {
        let value = (!s.last.value.is_nan()).then_some(s.last.value);
        update
            .execute(params![
                s.count,
                s.min_step,
                s.max_step,
                value,
                s.last.step,
                s.last.timestamp,
                s.id,
                s.last.value.to_bits() as i64
            ])
            .db()?;
    }
    Ok(())
}

/// Rows per multi-row INSERT: fewer statement executions per point.
const INSERT_CHUNK: usize = 100;

fn insert_sql(n: usize) -> String {
    let mut sql = String::from("INSERT INTO metrics (series_id, step, ts, seq, value) VALUES ");
    for i in 0..n {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,?,?,?)");
    }
    sql
}

fn insert_points(conn: &Connection, rows: &[[i64; 5]]) -> Result<()> {
    // Full chunks share one cached 100-row statement; the remainder goes row by row, so
    // the statement cache holds two inserts whatever the batch sizes.
    let mut chunks = rows.chunks_exact(INSERT_CHUNK);
    if chunks.len() > 0 {
        let mut stmt = conn.prepare_cached(&insert_sql(INSERT_CHUNK)).db()?;
        for chunk in &mut chunks {
            let mut i = 1;
            for row in chunk {
                for v in row {
                    stmt.raw_bind_parameter(i, v).db()?;
                    i += 1;
                }
            }
            stmt.raw_execute().db()?;
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut stmt = conn.prepare_cached(&insert_sql(1)).db()?;
        for row in rest {
            stmt.execute(rusqlite::params_from_iter(row.iter())).db()?;
        }
    }
    Ok(())
}

fn load_or_create_series(conn: &Connection, run: &RunId, first: &Metric) -> Result<SeriesAgg> {
    let row = conn
        .prepare_cached(
            "SELECT id, count, min_step, max_step, last_bits, last_step, last_ts FROM metric_series
             WHERE run_id = ?1 AND key = ?2",
        )
        .db()?
        .query_row(params![run.as_str(), first.key], |r| {
            Ok(SeriesAgg {
                id: r.get(0)?,
                count: r.get(1)?,
                min_step: r.get(2)?,
                max_step: r.get(3)?,
                last: MetricPoint {
                    value: f64::from_bits(r.get::<_, i64>(4)? as u64),
                    step: r.get(5)?,
                    timestamp: r.get(6)?,
                },
            })
        })
        .optional()
        .db()?;
    if let Some(s) = row {
        return Ok(s);
    }
    let value = (!first.value.is_nan()).then_some(first.value);
    conn.prepare_cached(
        "INSERT INTO metric_series (run_id, key, count, min_step, max_step, last_value, last_step, last_ts, last_bits)
         VALUES (?1, ?2, 0, ?3, ?3, ?4, ?3, ?5, ?6)",
    )
    .db()?
    .execute(params![run.as_str(), first.key, first.step, value, first.timestamp, first.value.to_bits() as i64])
    .db()?;
    Ok(SeriesAgg {
        id: conn.last_insert_rowid(),
        count: 0,
        min_step: first.step,
        max_step: first.step,
        last: first.point(),
    })
}

pub(crate) fn delete_run_tag(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    key: &str,
) -> Result<()> {
    active(conn, ws, id)?;
    let n = conn
        .execute(
            "DELETE FROM run_tags WHERE run_id = ?1 AND key = ?2",
            params![id.as_str(), key],
        )
        .db()?;
    if n == 0 {
        return Err(StoreError::not_found(
            Entity::Run,
            format!("{id}/tag {key}"),
        ));
    }
    Ok(())
}

/// `(series id, count, min step, max step)` of a metric of a run.
fn series_of(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    key: &str,
) -> Result<(i64, i64, i64, i64)> {
    get_info(conn, ws, id)?;
    conn.prepare_cached(
        "SELECT id, count, min_step, max_step FROM metric_series WHERE run_id = ?1 AND key = ?2",
    )
    .db()?
    .query_row(params![id.as_str(), key], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })
    .optional()
    .db()?
    .ok_or_else(|| StoreError::not_found(Entity::Metric, key))
}

fn point_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(MetricPoint, i64)> {
    Ok((
        MetricPoint {
            step: r.get(0)?,
            timestamp: r.get(1)?,
            value: f64::from_bits(r.get::<_, i64>(3)? as u64),
        },
        r.get(2)?,
    ))
}

pub(crate) fn metric_history(
    conn: &Connection,
    codec: &TokenCodec,
    ws: &WorkspaceName,
    id: &RunId,
    key: &str,
    page: &PageRequest,
) -> Result<Page<MetricPoint>> {
    let (series, _, _, _) = series_of(conn, ws, id, key)?;
    let n = page_size(page, MAX_HISTORY_PAGE)?;
    let scope = format!("history:{id}:{key}");
    let after = match &page.page_token {
        Some(t) => Some(decode_ints(codec, t, &scope, 3)?),
        None => None,
    };
    let mut out: Vec<(MetricPoint, i64)> = Vec::with_capacity(n.min(100_000) + 1);
    if let Some(a) = after {
        let mut stmt = conn
            .prepare_cached(
                "SELECT step, ts, seq, value FROM metrics WHERE series_id = ?1 AND (step, ts, seq) > (?2, ?3, ?4)
                 ORDER BY step, ts, seq LIMIT ?5",
            )
            .db()?;
        let rows = stmt
            .query_map(params![series, a[0], a[1], a[2], (n + 1) as i64], point_row)
            .db()?;
        for r in rows {
            out.push(r.db()?);
        }
    } else {
        let mut stmt = conn
            .prepare_cached(
                "SELECT step, ts, seq, value FROM metrics WHERE series_id = ?1 ORDER BY step, ts, seq LIMIT ?2",
            )
            .db()?;
        let rows = stmt
            .query_map(params![series, (n + 1) as i64], point_row)
            .db()?;
        for r in rows {
            out.push(r.db()?);
        }
    }
    let next_page_token = if out.len() > n {
        out.truncate(n);
        out.last().map(|(p, seq)| {
            codec.encode(&Cursor {
                scope: scope.clone(),
                position: vec![
                    CursorValue::Int(p.step),
                    CursorValue::Int(p.timestamp),
                    CursorValue::Int(*seq),
                ],
            })
        })
    } else {
        None
    };
    Ok(Page {
        items: out.into_iter().map(|(p, _)| p).collect(),
        next_page_token,
    })
}

pub(crate) fn metric_history_sampled(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    key: &str,
    max_points: usize,
) -> Result<SampledHistory> {
    if max_points == 0 || max_points > MAX_DOWNSAMPLE_POINTS {
        return Err(StoreError::Invalid(Invalid::one(
            "max_points",
            format!("must be between 1 and {MAX_DOWNSAMPLE_POINTS}"),
        )));
    }
    let (series, count, min_step, max_step) = series_of(conn, ws, id, key)?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT step, ts, seq, value FROM metrics WHERE series_id = ?1 ORDER BY step, ts, seq",
        )
        .db()?;
    let rows = stmt.query_map([series], point_row).db()?;
    if count as usize <= max_points {
        let points = rows
            .map(|r| r.map(|(p, _)| p))
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()?;
        return Ok(SampledHistory {
            total_points: points.len() as u64,
            points,
            downsampled: false,
        });
    }
    drop(rows);
    // Only the columns the reduction needs, read raw: this scan is the whole cost.
    let mut scan = conn
        .prepare_cached("SELECT step, ts, value FROM metrics WHERE series_id = ?1")
        .db()?;
    let mut rows = scan.query([series]).db()?;
    let mut d = Downsampler::new(min_step, max_step, max_points);
    while let Some(r) = rows.next().db()? {
        d.push(MetricPoint {
            step: r
                .get_ref(0)
                .and_then(|v| v.as_i64().map_err(Into::into))
                .db()?,
            timestamp: r
                .get_ref(1)
                .and_then(|v| v.as_i64().map_err(Into::into))
                .db()?,
            value: f64::from_bits(
                r.get_ref(2)
                    .and_then(|v| v.as_i64().map_err(Into::into))
                    .db()? as u64,
            ),
        });
    }
    Ok(SampledHistory {
        points: d.finish(),
        total_points: count as u64,
        downsampled: true,
    })
}

fn log_len(conn: &Connection, id: &RunId) -> Result<u64> {
    let len: Option<i64> = conn
        .prepare_cached(
            "SELECT start_offset + length(CAST(data AS BLOB)) FROM run_logs WHERE run_id = ?1
             ORDER BY start_offset DESC LIMIT 1",
        )
        .db()?
        .query_row([id.as_str()], |r| r.get(0))
        .optional()
        .db()?;
    Ok(len.unwrap_or(0) as u64)
}

pub(crate) fn append_log(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    data: &str,
) -> Result<u64> {
    if data.len() > MAX_LOG_APPEND_BYTES {
        return Err(StoreError::Invalid(Invalid::one(
            "data",
            format!("is larger than {MAX_LOG_APPEND_BYTES} bytes"),
        )));
    }
    active(conn, ws, id)?;
    let start = log_len(conn, id)?;
    if data.is_empty() {
        return Ok(start);
    }
    conn.prepare_cached("INSERT INTO run_logs (run_id, start_offset, data) VALUES (?1, ?2, ?3)")
        .db()?
        .execute(params![id.as_str(), start as i64, data])
        .db()?;
    Ok(start + data.len() as u64)
}

pub(crate) fn read_log(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    offset: u64,
    max_bytes: usize,
) -> Result<LogChunk> {
    get_info(conn, ws, id)?;
    let total = log_len(conn, id)?;
    if offset > total {
        return Err(StoreError::Invalid(Invalid::one(
            "offset",
            format!("is beyond the end of the log ({total} bytes)"),
        )));
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT start_offset, data FROM run_logs WHERE run_id = ?1
             AND start_offset + length(CAST(data AS BLOB)) > ?2 ORDER BY start_offset",
        )
        .db()?;
    let mut rows = stmt.query(params![id.as_str(), offset as i64]).db()?;
    let mut out = String::new();
    while let Some(row) = rows.next().db()? {
        let start: i64 = row.get(0).db()?;
        let data: String = row.get(1).db()?;
        let skip = (offset as i64 - start).max(0) as usize;
        let Some(piece) = data.get(skip..) else {
            return Err(StoreError::Invalid(Invalid::one(
                "offset",
                "is not on a character boundary",
            )));
        };
        let room = max_bytes.saturating_sub(out.len());
        if piece.len() <= room {
            out.push_str(piece);
        } else {
            let mut cut = room;
            while !piece.is_char_boundary(cut) {
                cut -= 1;
            }
            out.push_str(&piece[..cut]);
            break;
        }
        if out.len() >= max_bytes {
            break;
        }
    }
    let next_offset = offset + out.len() as u64;
    Ok(LogChunk {
        offset,
        data: out,
        next_offset,
    })
}

pub(crate) fn record_artifact(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    e: &ArtifactEntry,
) -> Result<()> {
    active(conn, ws, id)?;
    conn.prepare_cached(
        "INSERT INTO artifacts (run_id, path, size, sha256, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (run_id, path) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256,
         created_at = excluded.created_at",
    )
    .db()?
    .execute(params![
        id.as_str(),
        e.path.as_str(),
        e.size as i64,
        e.sha256,
        e.created_at
    ])
    .db()?;
    Ok(())
}

fn artifact_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, i64, String, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn to_entry((path, size, sha256, created_at): (String, i64, String, i64)) -> Result<ArtifactEntry> {
    Ok(ArtifactEntry {
        path: ArtifactPath::parse(&path).map_err(|_| corrupt("artifact path", &path))?,
        size: size.max(0) as u64,
        sha256,
        created_at,
    })
}

pub(crate) fn get_artifact(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    path: &ArtifactPath,
) -> Result<ArtifactEntry> {
    get_info(conn, ws, id)?;
    let row = conn
        .prepare_cached(
            "SELECT path, size, sha256, created_at FROM artifacts WHERE run_id = ?1 AND path = ?2",
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
    id: &RunId,
    dir: &ArtifactPath,
) -> Result<ArtifactListing> {
    get_info(conn, ws, id)?;
    // Paths under `dir/` sort between `dir/` and `dir0` ('0' follows '/').
    let (lo, hi) = if dir.is_root() {
        (String::new(), "\u{10FFFF}".to_string())
    } else {
        (format!("{dir}/"), format!("{dir}0"))
    };
    let rows = conn
        .prepare_cached(
            "SELECT path, size, sha256, created_at FROM artifacts WHERE run_id = ?1 AND path >= ?2 AND path < ?3 ORDER BY path",
        )
        .db()?
        .query_map(params![id.as_str(), lo, hi], artifact_row)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    let mut listing = ArtifactListing::default();
    for row in rows {
        let rest = row.0[lo.len()..].to_string();
        match rest.split_once('/') {
            Some((child, _)) => {
                if listing.dirs.last().map(String::as_str) != Some(child) {
                    listing.dirs.push(child.to_string());
                }
            }
            None => listing.files.push(to_entry(row)?),
        }
    }
    listing.dirs.sort();
    listing.dirs.dedup();
    Ok(listing)
}

pub(crate) fn delete_artifact(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    path: &ArtifactPath,
) -> Result<()> {
    active(conn, ws, id)?;
    let n = conn
        .execute(
            "DELETE FROM artifacts WHERE run_id = ?1 AND path = ?2",
            params![id.as_str(), path.as_str()],
        )
        .db()?;
    if n == 0 {
        return Err(StoreError::not_found(Entity::Artifact, path));
    }
    Ok(())
}
