//! SQL for metric points: batched ingestion, paged history and downsampled history.
//!
//! Metric points live in a clustered table keyed by `(series_id, step, ts, seq)`, where a
//! series is one `(run, key)` and `seq` its insertion counter; `metric_series` keeps the
//! count, step range and latest point of each series so reading a run never scans points.
//!
//! Invariants:
//! - `metric_series.count` equals the number of points of the series;
//! - `metric_series.last_*` is the point with the greatest (step, ts), ties to the latest insert;
//! - values are stored as their f64 bits, so NaN, infinities and -0.0 round-trip exactly;
//! - a point is stored once: a point equal to a stored one of its series, or to an earlier
//!   one of its batch (step, timestamp and value bits), is dropped, as MLflow does; checking
//!   costs nothing for a batch whose points extend the series.

use super::Db;
use super::ops::{decode_ints, page_size};
use super::runs::{active, located, upsert_tag};
use crate::{Entity, Result, SampledHistory, StoreError};
use mlplane_core::downsample::interval_positions;
use mlplane_core::limits::MAX_HISTORY_PAGE;
use mlplane_core::{
    Cursor, CursorValue, LogBatch, Metric, MetricPoint, Page, PageRequest, RunId, TokenCodec,
    WorkspaceName,
};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{HashMap, HashSet};

struct SeriesAgg {
    id: i64,
    count: i64,
    min_step: i64,
    max_step: i64,
    last: MetricPoint,
    /// `metric_series.unique_steps`, updated for this batch once its steps are known.
    unique: bool,
    /// The step range stored before this batch (`None` for a series without points).
    stored: Option<(i64, i64)>,
    /// The batch's steps for this series, kept only while `unique` can still hold.
    steps: Vec<i64>,
    /// (step, timestamp) of the series' previous point in the batch.
    prev: Option<(i64, i64)>,
    /// Whether a point of the batch may repeat one already stored or earlier in the batch.
    may_repeat: bool,
}

pub(crate) fn log_batch(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    b: &LogBatch,
) -> Result<()> {
    let (num, _) = active(conn, ws, id)?;
    // Every check comes before the first write (the writer runs this job without a
    // savepoint, see `SqliteStore::write_checks_first`): params are checked against the
    // stored ones and the batch's earlier ones, then inserted. After that only SQLite
    // itself can fail.
    let mut new: Vec<&mlplane_core::Param> = Vec::new();
    for p in &b.params {
        let old: Option<String> = match new.iter().find(|n| n.key == p.key) {
            Some(n) => Some(n.value.clone()),
            None => conn
                .prepare_cached("SELECT value FROM run_params WHERE run_num = ?1 AND key = ?2")
                .db()?
                .query_row(params![num, p.key], |r| r.get(0))
                .optional()
                .db()?,
        };
        match old {
            Some(old) if old != p.value => {
                return Err(StoreError::ParamConflict {
                    key: p.key.clone(),
                    old,
                    new: p.value.clone(),
                });
            }
            Some(_) => {}
            None => new.push(p),
        }
    }
    for p in new {
        conn.prepare_cached("INSERT INTO run_params (run_num, key, value) VALUES (?1, ?2, ?3)")
            .db()?
            .execute(params![num, p.key, p.value])
            .db()?;
    }
    for t in &b.tags {
        upsert_tag(conn, num, t)?;
    }
    if b.metrics.is_empty() {
        return Ok(());
    }
    // Each metric's series, resolved once per key.
    // A batch usually cycles through its keys step by step, so the key after the previous
    // point's is tried before the map.
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut keys: Vec<&str> = Vec::new();
    let mut series: Vec<SeriesAgg> = Vec::new();
    let mut slots: Vec<usize> = Vec::with_capacity(b.metrics.len());
    for m in &b.metrics {
        let next = slots.last().map_or(0, |&i| (i + 1) % keys.len().max(1));
        let i = if keys.get(next) == Some(&m.key.as_str()) {
            next
        } else if let Some(&i) = index.get(m.key.as_str()) {
            i
        } else {
            series.push(load_or_create_series(conn, num, m)?);
            keys.push(m.key.as_str());
            index.insert(m.key.as_str(), series.len() - 1);
            series.len() - 1
        };
        series[i].note(m);
        slots.push(i);
    }
    let mut seen: HashSet<(i64, i64, i64, u64)> = HashSet::new();
    // Each series' rows in arrival order (seq increasing).
    let mut rows: Vec<Vec<[i64; 5]>> = vec![Vec::new(); series.len()];
    for (m, &i) in b.metrics.iter().zip(&slots) {
        let s = &mut series[i];
        if s.may_repeat && is_repeat(conn, s, m, &mut seen)? {
            continue;
        }
        rows[i].push([s.id, m.step, m.timestamp, s.count, m.value.to_bits() as i64]);
        s.count += 1;
        s.min_step = s.min_step.min(m.step);
        s.max_step = s.max_step.max(m.step);
        if (m.step, m.timestamp) >= (s.last.step, s.last.timestamp) {
            s.last = m.point();
        }
        if s.unique {
            s.steps.push(m.step);
        }
    }
    for s in &mut series {
        s.unique = s.unique && steps_stay_unique(conn, s)?;
    }
    // In key order, consecutive inserts land in the same b-tree pages (a batch usually
    // cycles through its keys step by step); `seq` already holds the batch order.
    insert_points(conn, &key_order(&series, rows))?;
    let mut update = conn
        .prepare_cached(
            "UPDATE metric_series SET count = ?1, min_step = ?2, max_step = ?3, last_value = ?4,
             last_step = ?5, last_ts = ?6, last_bits = ?8, unique_steps = ?9
             WHERE run_num = ?7 AND key = ?10",
        )
        .db()?;
    // By the clustered key (run, key): one seek per series.
    for (s, key) in series.iter().zip(&keys) {
        let value = (!s.last.value.is_nan()).then_some(s.last.value);
        update
            .execute(params![
                s.count,
                s.min_step,
                s.max_step,
                value,
                s.last.step,
                s.last.timestamp,
                num,
                s.last.value.to_bits() as i64,
                s.unique,
                key
            ])
            .db()?;
    }
    Ok(())
}

/// The batch's rows in primary-key order, `(series, step, ts, seq)`: series by id, and
/// each series' rows, which arrive with increasing `seq`, sorted only if their
/// `(step, ts)` do not already increase (a batch usually extends each series).
fn key_order(series: &[SeriesAgg], mut rows: Vec<Vec<[i64; 5]>>) -> Vec<[i64; 5]> {
    let mut order: Vec<usize> = (0..series.len()).collect();
    order.sort_unstable_by_key(|&i| series[i].id);
    let mut out = Vec::with_capacity(rows.iter().map(Vec::len).sum());
    for i in order {
        let r = &mut rows[i];
        if !r.windows(2).all(|w| w[0] <= w[1]) {
            r.sort_unstable();
        }
        out.extend_from_slice(r);
    }
    out
}

impl SeriesAgg {
    /// Notes a point of the batch before any is kept: whether the series' points may repeat
    /// a stored point (the point lies in the stored step range) or an earlier point of the
    /// batch (the batch's (step, timestamp) do not increase).
    fn note(&mut self, m: &Metric) {
        let at = (m.step, m.timestamp);
        if self
            .stored
            .is_some_and(|(lo, hi)| (lo..=hi).contains(&m.step))
            || self.prev.is_some_and(|p| at <= p)
        {
            self.may_repeat = true;
        }
        self.prev = Some(at);
    }
}

/// Whether `m` repeats a point of its series exactly (key, step, timestamp and value bits),
/// earlier in the batch or already stored: MLflow keeps such a point once, so a batch that
/// is sent again (a retry, or run metrics re-sent with a `model_id`) adds nothing.
fn is_repeat(
    conn: &Connection,
    s: &SeriesAgg,
    m: &Metric,
    seen: &mut HashSet<(i64, i64, i64, u64)>,
) -> Result<bool> {
    let bits = m.value.to_bits();
    if !seen.insert((s.id, m.step, m.timestamp, bits)) {
        return Ok(true);
    }
    if !s.stored.is_some_and(|(lo, hi)| (lo..=hi).contains(&m.step)) {
        return Ok(false);
    }
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM metrics
         WHERE series_id = ?1 AND step = ?2 AND ts = ?3 AND value = ?4)",
    )
    .db()?
    .query_row(params![s.id, m.step, m.timestamp, bits as i64], |r| {
        r.get(0)
    })
    .db()
}

/// Whether the series still has one point per step once the batch's steps (`s.steps`,
/// checked before they are inserted) are added. Conservative: a batch whose steps overlap
/// the stored range counts as a repeat when any stored point lies in the overlap, which
/// one index seek answers; batches that extend the range, the usual case, need none.
fn steps_stay_unique(conn: &Connection, s: &mut SeriesAgg) -> Result<bool> {
    let mut steps = std::mem::take(&mut s.steps);
    steps.sort_unstable();
    if steps.windows(2).any(|w| w[0] == w[1]) {
        return Ok(false);
    }
    let (Some((lo, hi)), Some(first), Some(last)) = (s.stored, steps.first(), steps.last()) else {
        return Ok(true);
    };
    let (from, to) = ((*first).max(lo), (*last).min(hi));
    if from > to {
        return Ok(true);
    }
    let taken: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM metrics WHERE series_id = ?1 AND step BETWEEN ?2 AND ?3)",
        )
        .db()?
        .query_row(params![s.id, from, to], |r| r.get(0))
        .db()?;
    Ok(!taken)
}

/// Rows per multi-row INSERT: fewer statement executions per point (2,500 bound values,
/// well under SQLite's limit of 32,766).
const INSERT_CHUNK: usize = 500;
/// Rows per INSERT for what is left after the full [`INSERT_CHUNK`]s.
const SMALL_CHUNK: usize = 100;

/// The insert of `n` points. `OR FAIL`: a multi-row insert that may abort halfway would make
/// SQLite copy every page it changes into a statement journal, to undo just that statement.
/// The key cannot conflict (`seq` counts the series' inserts), and if an insert failed
/// anyway, the whole job fails and the writer undoes all of it (savepoint or transaction).
fn insert_sql(n: usize) -> String {
    let mut sql =
        String::from("INSERT OR FAIL INTO metrics (series_id, step, ts, seq, value) VALUES ");
    for i in 0..n {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,?,?,?)");
    }
    sql
}

fn insert_points(conn: &Connection, rows: &[[i64; 5]]) -> Result<()> {
    // Full chunks of each size share one cached statement (500 rows, then 100 rows of the
    // rest); the last rows go one by one, so the statement cache holds three inserts
    // whatever the batch sizes.
    let mut rest = rows;
    for size in [INSERT_CHUNK, SMALL_CHUNK] {
        let mut chunks = rest.chunks_exact(size);
        if chunks.len() > 0 {
            let mut stmt = conn.prepare_cached(&insert_sql(size)).db()?;
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
        rest = chunks.remainder();
    }
    if !rest.is_empty() {
        let mut stmt = conn.prepare_cached(&insert_sql(1)).db()?;
        for row in rest {
            stmt.execute(rusqlite::params_from_iter(row.iter())).db()?;
        }
    }
    Ok(())
}

fn load_or_create_series(conn: &Connection, run: i64, first: &Metric) -> Result<SeriesAgg> {
    let row = conn
        .prepare_cached(
            "SELECT id, count, min_step, max_step, last_bits, last_step, last_ts, unique_steps
             FROM metric_series WHERE run_num = ?1 AND key = ?2",
        )
        .db()?
        .query_row(params![run, first.key], |r| {
            let count: i64 = r.get(1)?;
            let (min_step, max_step) = (r.get(2)?, r.get(3)?);
            Ok(SeriesAgg {
                id: r.get(0)?,
                count,
                min_step,
                max_step,
                last: MetricPoint {
                    value: f64::from_bits(r.get::<_, i64>(4)? as u64),
                    step: r.get(5)?,
                    timestamp: r.get(6)?,
                },
                unique: r.get(7)?,
                stored: (count > 0).then_some((min_step, max_step)),
                steps: Vec::new(),
                prev: None,
                may_repeat: false,
            })
        })
        .optional()
        .db()?;
    if let Some(s) = row {
        return Ok(s);
    }
    let value = (!first.value.is_nan()).then_some(first.value);
    // The table is clustered by (run, key), so ids are numbered here, one past the
    // greatest (one seek of the id index; only the writer inserts).
    let id: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(id), 0) + 1 FROM metric_series")
        .db()?
        .query_row([], |r| r.get(0))
        .db()?;
    conn.prepare_cached(
        "INSERT INTO metric_series (id, run_num, key, count, min_step, max_step, last_value, last_step, last_ts, last_bits)
         VALUES (?1, ?2, ?3, 0, ?4, ?4, ?5, ?4, ?6, ?7)",
    )
    .db()?
    .execute(params![id, run, first.key, first.step, value, first.timestamp, first.value.to_bits() as i64])
    .db()?;
    Ok(SeriesAgg {
        id,
        count: 0,
        min_step: first.step,
        max_step: first.step,
        last: first.point(),
        unique: true,
        stored: None,
        steps: Vec::new(),
        prev: None,
        may_repeat: false,
    })
}

/// `(series id, count, min step, max step)` of a metric of a run.
fn series_of(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    key: &str,
) -> Result<(i64, i64, i64, i64)> {
    let (num, _) = located(conn, ws, id)?;
    conn.prepare_cached(
        "SELECT id, count, min_step, max_step FROM metric_series WHERE run_num = ?1 AND key = ?2",
    )
    .db()?
    .query_row(params![num, key], |r| {
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
    crate::rules::check_sample_size(max_points)?;
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
    drop(stmt);
    let points = super::m4::reduce(conn, series, min_step, max_step, max_points)?;
    Ok(SampledHistory {
        points,
        total_points: count as u64,
        downsampled: true,
    })
}

/// MLflow's bulk-interval sample of one metric within `[start, end]` (inclusive, open
/// where `None`): the points at [`interval_positions`] of the window's history. When the
/// series has exactly one point per step of its range, position `i` is step `lo + i`, so
/// only the sampled steps are read, one index seek each; otherwise the window is walked
/// once and only the sampled rows are decoded.
pub(crate) fn metric_history_interval(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    key: &str,
    max_points: usize,
    start: Option<i64>,
    end: Option<i64>,
) -> Result<Vec<MetricPoint>> {
    let (num, _) = located(conn, ws, id)?;
    let row = conn
        .prepare_cached(
            "SELECT id, count, min_step, max_step, unique_steps FROM metric_series
             WHERE run_num = ?1 AND key = ?2",
        )
        .db()?
        .query_row(params![num, key], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()
        .db()?;
    let Some((series, count, min_step, max_step, unique)) = row else {
        return Err(StoreError::not_found(Entity::Metric, key));
    };
    let (series, count, min_step, max_step, unique): (i64, i64, i64, i64, bool) =
        (series, count, min_step, max_step, unique);
    let lo = start.unwrap_or(i64::MIN).max(min_step);
    let hi = end.unwrap_or(i64::MAX).min(max_step);
    if count == 0 || lo > hi {
        return Ok(Vec::new());
    }
    let read = |r: &rusqlite::Row<'_>| -> rusqlite::Result<MetricPoint> {
        Ok(MetricPoint {
            step: r.get(0)?,
            timestamp: r.get(1)?,
            value: f64::from_bits(r.get::<_, i64>(2)? as u64),
        })
    };
    let dense = unique && max_step as i128 - min_step as i128 + 1 == count as i128;
    if dense {
        let n = (hi as i128 - lo as i128 + 1) as u64;
        let mut stmt = conn
            .prepare_cached(
                "SELECT step, ts, value FROM metrics WHERE series_id = ?1 AND step = ?2",
            )
            .db()?;
        let mut out = Vec::new();
        for pos in interval_positions(n, max_points as u64) {
            let step = lo + pos as i64;
            let p = stmt
                .query_row(params![series, step], read)
                .optional()
                .db()?
                .ok_or_else(|| {
                    StoreError::Internal(format!("metric '{key}' has no point at step {step}"))
                })?;
            out.push(p);
        }
        return Ok(out);
    }
    let n: i64 = if lo == min_step && hi == max_step {
        count
    } else {
        conn.prepare_cached(
            "SELECT COUNT(*) FROM metrics WHERE series_id = ?1 AND step BETWEEN ?2 AND ?3",
        )
        .db()?
        .query_row(params![series, lo, hi], |r| r.get(0))
        .db()?
    };
    let wanted = interval_positions(n as u64, max_points as u64);
    let mut stmt = conn
        .prepare_cached(
            "SELECT step, ts, value FROM metrics WHERE series_id = ?1 AND step BETWEEN ?2 AND ?3
             ORDER BY step, ts, seq",
        )
        .db()?;
    let mut rows = stmt.query(params![series, lo, hi]).db()?;
    let mut out = Vec::with_capacity(wanted.len());
    let mut next = wanted.iter().peekable();
    let mut pos = 0u64;
    while let Some(&&want) = next.peek() {
        let Some(r) = rows.next().db()? else { break };
        if pos == want {
            out.push(read(r).db()?);
            next.next();
        }
        pos += 1;
    }
    Ok(out)
}
