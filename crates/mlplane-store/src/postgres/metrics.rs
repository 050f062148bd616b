//! Batches (metrics, params, tags) and metric history on PostgreSQL.
//!
//! A batch is one transaction of a handful of statements whatever its size: params go in
//! with one `INSERT .. ON CONFLICT DO NOTHING` followed by one query for stored values that
//! differ; the series of every metric key are upserted and locked with one statement; the
//! points go in with one `INSERT .. SELECT FROM unnest(..)`; the series summaries are
//! updated with one `UPDATE .. FROM unnest(..)`.
//!
//! Invariants:
//! - a batch is all or nothing: a param conflict rolls back everything it wrote;
//! - `metric_series.next_seq` numbers the points of a series in insertion order and is
//!   only advanced by a transaction holding the series row locked, so `(series_id, step,
//!   ts, seq)` is unique and history order is (step, timestamp, insertion);
//! - `metric_series.last_*` is the greatest (step, timestamp) point, ties going to the
//!   later insertion, and `count`, `min_step` and `max_step` describe every stored point.

use super::PgStore;
use super::pool::Db;
use super::rows::{
    col, cursor_int, cursor_len, db_err, limit_plus_one, lock_live_run, not_found, page_size,
};
use super::runs::upsert_run_tags;
use crate::{Entity, Result, SampledHistory, StoreError};
use futures::TryStreamExt;
use mlplane_core::downsample::Downsampler;
use mlplane_core::limits::{MAX_DOWNSAMPLE_POINTS, MAX_HISTORY_PAGE};
use mlplane_core::{
    Cursor, CursorValue, Invalid, LogBatch, Metric, MetricPoint, Page, PageRequest, Param,
    RunId, WorkspaceName,
};
use std::collections::HashMap;
use tokio_postgres::types::ToSql;

const INSERT_PARAMS: &str = "INSERT INTO run_params (run_id, key, value)
     SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS p(k, v)
     ON CONFLICT (run_id, key) DO NOTHING";

const CONFLICTING_PARAM: &str = "SELECT p.key, p.value, b.v
     FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS b(k, v, n)
     JOIN run_params p ON p.run_id = $1 AND p.key = b.k
     WHERE p.value <> b.v
     ORDER BY b.n LIMIT 1";

/// Creates missing series and locks all of them, in the (sorted) order of `$2`.
const UPSERT_SERIES: &str = "INSERT INTO metric_series (run_id, key)
     SELECT $1, k FROM unnest($2::text[]) AS k
     ON CONFLICT (run_id, key) DO UPDATE SET count = metric_series.count
     RETURNING id, key, count, next_seq, min_step, max_step, last_step, last_ts, last_value";

const INSERT_POINTS: &str = "INSERT INTO metrics (series_id, step, ts, seq, value)
     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::float8[])";

const UPDATE_SERIES: &str = "UPDATE metric_series AS s
     SET count = u.count, next_seq = u.next_seq, min_step = u.min_step, max_step = u.max_step,
         last_value = u.last_value, last_step = u.last_step, last_ts = u.last_ts
     FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[],
                 $6::float8[], $7::bigint[], $8::bigint[])
          AS u(id, count, next_seq, min_step, max_step, last_value, last_step, last_ts)
     WHERE s.id = u.id";

/// The stored summary of one series, updated in memory while a batch is prepared.
struct Series {
    id: i64,
    count: i64,
    next_seq: i64,
    min_step: Option<i64>,
    max_step: Option<i64>,
    /// (step, timestamp, value) of the latest point.
    last: Option<(i64, i64, f64)>,
}

impl Series {
    fn push(&mut self, m: &Metric) -> i64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.count += 1;
        self.min_step = Some(self.min_step.map_or(m.step, |s| s.min(m.step)));
        self.max_step = Some(self.max_step.map_or(m.step, |s| s.max(m.step)));
        if self
            .last
            .is_none_or(|(step, ts, _)| (m.step, m.timestamp) >= (step, ts))
        {
            self.last = Some((m.step, m.timestamp, m.value));
        }
        seq
    }
}

async fn insert_params(db: Db<'_>, id: &RunId, params: &[Param]) -> Result<()> {
    let keys: Vec<&str> = params.iter().map(|p| p.key.as_str()).collect();
    let values: Vec<&str> = params.iter().map(|p| p.value.as_str()).collect();
    let insert = db.stmt(INSERT_PARAMS).await?;
    let check = db.stmt(CONFLICTING_PARAM).await?;
    // Pipelined: the check is sent right behind the insert and runs after it.
    let run = id.as_str();
    let params: [&(dyn ToSql + Sync); 3] = [&run, &keys, &values];
    let (_, conflict) = futures::try_join!(
        db.execute_stmt(&insert, &params),
        db.query_stmt(&check, &params),
    )?;
    match conflict.first() {
        None => Ok(()),
        Some(row) => Err(StoreError::ParamConflict {
            key: col(row, 0)?,
            old: col(row, 1)?,
            new: col(row, 2)?,
        }),
    }
}

async fn insert_metrics(db: Db<'_>, id: &RunId, metrics: &[Metric]) -> Result<()> {
    let mut keys: Vec<&str> = metrics.iter().map(|m| m.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    let rows = db.query(UPSERT_SERIES, &[&id.as_str(), &keys]).await?;
    let mut series: HashMap<String, Series> = HashMap::with_capacity(rows.len());
    for row in &rows {
        let last_step: Option<i64> = col(row, 6)?;
        let last_ts: Option<i64> = col(row, 7)?;
        let last_value: Option<f64> = col(row, 8)?;
        let count: i64 = col(row, 2)?;
        series.insert(
            col(row, 1)?,
            Series {
                id: col(row, 0)?,
                count,
                next_seq: col(row, 3)?,
                min_step: col(row, 4)?,
                max_step: col(row, 5)?,
                last: match (last_step, last_ts, last_value) {
                    (Some(s), Some(t), Some(v)) if count > 0 => Some((s, t, v)),
                    _ => None,
                },
            },
        );
    }
    let n = metrics.len();
    let (mut sid, mut step, mut ts, mut seq, mut value) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for m in metrics {
        let s = series
            .get_mut(&m.key)
            .ok_or_else(|| StoreError::Internal(format!("series of metric '{}' missing", m.key)))?;
        let q = s.push(m);
        sid.push(s.id);
        step.push(m.step);
        ts.push(m.timestamp);
        seq.push(q);
        value.push(m.value);
    }
    let mut u = SeriesUpdate::default();
    for s in series.values() {
        let Some((ls, lt, lv)) = s.last else {
            return Err(StoreError::Internal("series without points after a batch".into()));
        };
        u.id.push(s.id);
        u.count.push(s.count);
        u.next_seq.push(s.next_seq);
        u.min_step.push(s.min_step.unwrap_or(ls));
        u.max_step.push(s.max_step.unwrap_or(ls));
        u.last_value.push(lv);
        u.last_step.push(ls);
        u.last_ts.push(lt);
    }
    let insert = db.stmt(INSERT_POINTS).await?;
    let update = db.stmt(UPDATE_SERIES).await?;
    let points: [&(dyn ToSql + Sync); 5] = [&sid, &step, &ts, &seq, &value];
    let summaries: [&(dyn ToSql + Sync); 8] = [
        &u.id,
        &u.count,
        &u.next_seq,
        &u.min_step,
        &u.max_step,
        &u.last_value,
        &u.last_step,
        &u.last_ts,
    ];
    futures::try_join!(
        db.execute_stmt(&insert, &points),
        db.execute_stmt(&update, &summaries),
    )?;
    Ok(())
}

#[derive(Default)]
struct SeriesUpdate {
    id: Vec<i64>,
    count: Vec<i64>,
    next_seq: Vec<i64>,
    min_step: Vec<i64>,
    max_step: Vec<i64>,
    last_value: Vec<f64>,
    last_step: Vec<i64>,
    last_ts: Vec<i64>,
}

/// What history reads need to know about a series.
struct SeriesInfo {
    id: i64,
    count: i64,
    min_step: i64,
    max_step: i64,
}

async fn find_series(db: Db<'_>, ws: &WorkspaceName, id: &RunId, key: &str) -> Result<SeriesInfo> {
    let row = db
        .query_opt(
            "SELECT s.id, s.count, s.min_step, s.max_step
             FROM runs r LEFT JOIN metric_series s ON s.run_id = r.id AND s.key = $3
             WHERE r.id = $1 AND r.workspace = $2",
            &[&id.as_str(), &ws.as_str(), &key],
        )
        .await?;
    let Some(row) = row else {
        return Err(not_found(db, ws, Entity::Run, id).await);
    };
    let sid: Option<i64> = col(&row, 0)?;
    let count: Option<i64> = col(&row, 1)?;
    let min_step: Option<i64> = col(&row, 2)?;
    let max_step: Option<i64> = col(&row, 3)?;
    match (sid, count, min_step, max_step) {
        (Some(id), Some(count), Some(min_step), Some(max_step)) if count > 0 => Ok(SeriesInfo {
            id,
            count,
            min_step,
            max_step,
        }),
        _ => Err(StoreError::not_found(Entity::Metric, key)),
    }
}

fn point(row: &tokio_postgres::Row) -> Result<MetricPoint> {
    Ok(MetricPoint {
        step: col(row, 0)?,
        timestamp: col(row, 1)?,
        value: col(row, 2)?,
    })
}

impl PgStore {
    pub(super) async fn batch_log(&self, ws: &WorkspaceName, id: &RunId, b: LogBatch) -> Result<()> {
        let mut conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        lock_live_run(db, ws, id).await?;
        if !b.params.is_empty() {
            insert_params(db, id, &b.params).await?;
        }
        upsert_run_tags(db, id, &b.tags).await?;
        if !b.metrics.is_empty() {
            insert_metrics(db, id, &b.metrics).await?;
        }
        tx.commit().await
    }

    pub(super) async fn history_page(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        key: &str,
        page: &PageRequest,
    ) -> Result<Page<MetricPoint>> {
        let scope = format!("history:{id}:{key}");
        let size = page_size(page, MAX_HISTORY_PAGE)?;
        let after = match &page.page_token {
            Some(t) => {
                let pos = self.codec.decode(t, &scope)?;
                cursor_len(&pos, 3)?;
                Some((cursor_int(&pos, 0)?, cursor_int(&pos, 1)?, cursor_int(&pos, 2)?))
            }
            None => None,
        };
        let conn = self.pool.get().await?;
        let db = conn.db();
        let series = find_series(db, ws, id, key).await?;
        let limit = limit_plus_one(size);
        let rows = match after {
            None => {
                db.query(
                    "SELECT step, ts, value, seq FROM metrics WHERE series_id = $1
                     ORDER BY step, ts, seq LIMIT $2",
                    &[&series.id, &limit],
                )
                .await?
            }
            Some((step, ts, seq)) => {
                db.query(
                    "SELECT step, ts, value, seq FROM metrics
                     WHERE series_id = $1 AND (step, ts, seq) > ($2, $3, $4)
                     ORDER BY step, ts, seq LIMIT $5",
                    &[&series.id, &step, &ts, &seq, &limit],
                )
                .await?
            }
        };
        let more = rows.len() > size;
        let rows = &rows[..rows.len().min(size)];
        let items = rows.iter().map(point).collect::<Result<Vec<_>>>()?;
        let next_page_token = match rows.last() {
            Some(last) if more => Some(self.codec.encode(&Cursor {
                scope,
                position: vec![
                    CursorValue::Int(col(last, 0)?),
                    CursorValue::Int(col(last, 1)?),
                    CursorValue::Int(col(last, 3)?),
                ],
            })),
            _ => None,
        };
        Ok(Page {
            items,
            next_page_token,
        })
    }

    pub(super) async fn history_sampled(
        &self,
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
        let conn = self.pool.get().await?;
        let db = conn.db();
        let series = find_series(db, ws, id, key).await?;
        let total_points = u64::try_from(series.count).unwrap_or(0);
        let stream = db
            .query_stream(
                "SELECT step, ts, value FROM metrics WHERE series_id = $1 ORDER BY step, ts, seq",
                &[&series.id],
            )
            .await?;
        let mut stream = std::pin::pin!(stream);
        if total_points <= max_points as u64 {
            let mut points = Vec::with_capacity(max_points.min(series.count as usize));
            while let Some(row) = stream.try_next().await.map_err(db_err)? {
                points.push(point(&row)?);
            }
            return Ok(SampledHistory {
                points,
                total_points,
                downsampled: false,
            });
        }
        let mut sampler = Downsampler::new(series.min_step, series.max_step, max_points);
        while let Some(row) = stream.try_next().await.map_err(db_err)? {
            sampler.push(point(&row)?);
        }
        Ok(SampledHistory {
            points: sampler.finish(),
            total_points,
            downsampled: true,
        })
    }
}
