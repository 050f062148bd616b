//! Batches (metrics, params, tags) and metric history on PostgreSQL.
//!
//! A batch is one transaction of a handful of statements whatever its size, sent in two
//! pipelined flights. The first carries `BEGIN`, the run lock, the params (one
//! `INSERT .. ON CONFLICT DO NOTHING` and one query for stored values that differ), the
//! tags, the creation of missing series and a batch number. The second carries the points
//! (one `INSERT .. SELECT FROM unnest(..)`), the series summaries (one
//! `UPDATE .. FROM unnest(..)` merging the batch's summary into the stored one) and
//! `COMMIT`. A batch with metrics linked to logged models makes one more round trip between
//! the two, locking the models and inserting their metrics. Series rows are locked only in that last flight, so concurrent batches into
//! one series insert their points in parallel and queue only for the short summary update.
//!
//! History reads follow the `metrics` primary key, which is history order, and stop after
//! the page; they run with sorting disabled so stale planner statistics cannot turn them
//! into a sort of the whole series.
//!
//! Invariants:
//! - a batch is all or nothing: a param conflict or a failed statement rolls back
//!   everything it wrote;
//! - a point equal to a stored one of its series or to an earlier one of its batch (step,
//!   timestamp and value bits) is dropped, as MLflow keeps it once ([`drop_repeats`]; one
//!   more round trip, only for a batch that reaches into its series' stored step range);
//! - `seq` is `batch number * 2^20 + position in the batch`, batch numbers come from a
//!   sequence, so `(series_id, step, ts, seq)` is unique and history order is
//!   (step, timestamp, insertion);
//! - `metric_series.last_*` is the point that comes last in history order (greatest
//!   (step, timestamp), ties going to the later insertion), and `count`, `min_step` and
//!   `max_step` describe every stored point;
//! - series rows are locked in id order, after the run row, so batches cannot deadlock.

use super::PgStore;
use super::catalog::dedup_tags;
use super::pool::Db;
use super::rows::{
    check_live, col, cursor_int, cursor_len, db_err, limit_plus_one, not_found, page_size,
    parse_stage,
};
use super::runs::UPSERT_RUN_TAGS;
use crate::{Entity, Result, SampledHistory, StoreError};
use futures::TryStreamExt;
use mlplane_core::downsample::interval_positions;
use mlplane_core::limits::MAX_HISTORY_PAGE;
use mlplane_core::{
    Cursor, CursorValue, Invalid, LogBatch, Metric, MetricPoint, ModelMetricLink, Page,
    PageRequest, RunId, WorkspaceName,
};
use std::collections::HashMap;
use std::future::Future;
use tokio_postgres::types::ToSql;

/// Bits of `seq` holding the position of a point in its batch.
const SEQ_SHIFT: u32 = 20;

/// Locks the run against lifecycle changes for the rest of the batch.
const LOCK_RUN: &str =
    "SELECT lifecycle_stage FROM runs WHERE id = $1 AND workspace = $2 FOR SHARE";

const INSERT_PARAMS: &str = "INSERT INTO run_params (run_id, key, value)
     SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS p(k, v)
     ON CONFLICT (run_id, key) DO NOTHING";

const CONFLICTING_PARAM: &str = "SELECT p.key, p.value, b.v
     FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS b(k, v, n)
     JOIN run_params p ON p.run_id = $1 AND p.key = b.k
     WHERE p.value <> b.v
     ORDER BY b.n LIMIT 1";

/// Creates the missing series of `$2` (sorted, so concurrent creations cannot deadlock).
const CREATE_SERIES: &str = "INSERT INTO metric_series (run_id, key)
     SELECT $1, k FROM unnest($2::text[]) AS k
     ON CONFLICT (run_id, key) DO NOTHING";

/// The batch's series with their stored step range (`NULL`s while a series has no points).
const SERIES_IDS: &str = "SELECT id, key, min_step, max_step FROM metric_series
     WHERE run_id = $1 AND key = ANY($2)";

/// The positions (`$5`) of candidate points that are already stored exactly (same series,
/// step, timestamp and value bits).
const STORED_POINTS: &str = "SELECT u.i FROM unnest($1::bigint[], $2::bigint[], $3::bigint[],
     $4::float8[], $5::bigint[]) AS u(sid, step, ts, v, i)
     WHERE EXISTS (SELECT 1 FROM metrics m WHERE m.series_id = u.sid AND m.step = u.step
                   AND m.ts = u.ts AND float8send(m.value) = float8send(u.v))";

const NEXT_BATCH: &str = "SELECT nextval('metric_batch_seq')";

const INSERT_POINTS: &str = "INSERT INTO metrics (series_id, step, ts, seq, value)
     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::float8[])";

/// Locks the series of a batch in id order, right before their summaries are merged.
const LOCK_SERIES: &str = "SELECT id FROM metric_series WHERE id = ANY($1) ORDER BY id FOR UPDATE";

/// Merges per-batch summaries (`$1` ids, `$2` counts, `$3`/`$4` step range, `$5`..`$8` the
/// batch's last point) into the stored ones. Every `SET` expression sees the old row, so
/// the four `CASE`s agree on whether the batch's last point comes later. `$9` says whether
/// each series' steps are distinct within the batch; `unique_steps` stays true when they
/// are and no point of another batch (`seq` outside `$10 .. $10 + $11`) lies where the
/// batch's step range overlaps the stored one. The series row is locked by then, so every
/// batch merged before this one is visible to that check.
const MERGE_SERIES: &str = "UPDATE metric_series AS s
     SET count = s.count + u.n,
         min_step = LEAST(s.min_step, u.min_step),
         max_step = GREATEST(s.max_step, u.max_step),
         last_value = CASE WHEN s.last_seq IS NULL
                             OR (u.last_step, u.last_ts, u.last_seq) > (s.last_step, s.last_ts, s.last_seq)
                           THEN u.last_value ELSE s.last_value END,
         last_step = CASE WHEN s.last_seq IS NULL
                            OR (u.last_step, u.last_ts, u.last_seq) > (s.last_step, s.last_ts, s.last_seq)
                          THEN u.last_step ELSE s.last_step END,
         last_ts = CASE WHEN s.last_seq IS NULL
                          OR (u.last_step, u.last_ts, u.last_seq) > (s.last_step, s.last_ts, s.last_seq)
                        THEN u.last_ts ELSE s.last_ts END,
         last_seq = CASE WHEN s.last_seq IS NULL
                           OR (u.last_step, u.last_ts, u.last_seq) > (s.last_step, s.last_ts, s.last_seq)
                         THEN u.last_seq ELSE s.last_seq END,
         unique_steps = CASE
             WHEN NOT s.unique_steps OR NOT u.uniq THEN false
             WHEN s.count = 0 OR u.min_step > s.max_step OR u.max_step < s.min_step THEN true
             ELSE NOT EXISTS (
                 SELECT 1 FROM metrics m
                 WHERE m.series_id = s.id
                   AND m.step BETWEEN GREATEST(u.min_step, s.min_step) AND LEAST(u.max_step, s.max_step)
                   AND (m.seq < $10 OR m.seq >= $10 + $11))
         END
     FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::float8[],
                 $6::bigint[], $7::bigint[], $8::bigint[], $9::bool[])
          AS u(id, n, min_step, max_step, last_value, last_step, last_ts, last_seq, uniq)
     WHERE s.id = u.id";

/// For the rest of the transaction, read points in index order rather than sorting them:
/// right after a bulk load the planner's statistics are stale and it would pick a bitmap
/// scan plus a sort of the whole series.
const INDEX_ORDER_ONLY: &str = "SET LOCAL enable_sort = off";

/// One page of history: `$1` run, `$2` workspace, `$3` key, after (`$4` step, `$5` ts,
/// `$6` seq), `$7` rows. The series id is an init-plan constant, so the scan follows the
/// primary key and stops after `$7` rows.
const HISTORY_PAGE: &str = "SELECT step, ts, value, seq FROM metrics
     WHERE series_id = (SELECT s.id FROM metric_series s JOIN runs r ON r.id = s.run_id
                        WHERE s.run_id = $1 AND r.workspace = $2 AND s.key = $3)
       AND (step, ts, seq) > ($4, $5, $6)
     ORDER BY step, ts, seq
     LIMIT $7";

/// Every point of a series in history order.
const SERIES_POINTS: &str =
    "SELECT step, ts, value FROM metrics WHERE series_id = $1 ORDER BY step, ts, seq";

/// The points of a series at the steps `$2`, one per step when the series is dense.
const POINTS_AT_STEPS: &str = "SELECT step, ts, value FROM metrics
     WHERE series_id = $1 AND step = ANY($2::bigint[]) ORDER BY step, ts, seq";

/// The points at positions `$4` (0-based, history order) of the window `[$2, $3]`; the
/// numbering runs in the server, so only the sampled rows travel.
const POINTS_AT_POSITIONS: &str = "SELECT step, ts, value FROM (
         SELECT step, ts, value, seq, row_number() OVER (ORDER BY step, ts, seq) - 1 AS pos
         FROM metrics WHERE series_id = $1 AND step BETWEEN $2 AND $3) w
     WHERE pos = ANY($4::bigint[]) ORDER BY step, ts, seq";

const WINDOW_COUNT: &str =
    "SELECT COUNT(*) FROM metrics WHERE series_id = $1 AND step BETWEEN $2 AND $3";

/// Awaits `f` if there is one.
async fn maybe<T>(f: Option<impl Future<Output = Result<T>>>) -> Result<Option<T>> {
    match f {
        Some(f) => f.await.map(Some),
        None => Ok(None),
    }
}

/// What one batch adds to one series.
struct Summary {
    n: i64,
    min_step: i64,
    max_step: i64,
    /// (step, timestamp, seq, value) of the batch's last point in history order.
    last: (i64, i64, i64, f64),
    /// The batch's steps for the series; sorted and checked for repeats once complete.
    steps: Vec<i64>,
}

/// The columns of the point rows and of the summary rows of a batch.
#[derive(Default)]
struct Prepared {
    series_id: Vec<i64>,
    step: Vec<i64>,
    ts: Vec<i64>,
    seq: Vec<i64>,
    value: Vec<f64>,
    sums: Vec<(i64, Summary)>,
}

/// A series of a batch: its id and its stored step range, if it has points.
type SeriesRange = (i64, Option<(i64, i64)>);

/// The batch's metrics without exact repeats (same series, step, timestamp and value
/// bits) of an earlier point of the batch or of a stored point, as MLflow keeps such a
/// point once. Stored points are looked up (one query) only for the points that lie in
/// their series' stored step range, so a batch that extends its series costs nothing.
/// Two batches sent at the same time into one series are not checked against each other.
async fn drop_repeats<'m>(
    db: Db<'_>,
    metrics: &'m [Metric],
    ids: &HashMap<String, SeriesRange>,
) -> Result<Vec<&'m Metric>> {
    let mut seen: std::collections::HashSet<(&str, i64, i64, u64)> =
        std::collections::HashSet::with_capacity(metrics.len());
    let mut kept: Vec<&Metric> = Vec::with_capacity(metrics.len());
    let (mut sid, mut step, mut ts, mut v, mut pos) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for m in metrics {
        if !seen.insert((m.key.as_str(), m.step, m.timestamp, m.value.to_bits())) {
            continue;
        }
        if let Some((id, Some((lo, hi)))) = ids.get(&m.key)
            && (*lo..=*hi).contains(&m.step)
        {
            sid.push(*id);
            step.push(m.step);
            ts.push(m.timestamp);
            v.push(m.value);
            pos.push(kept.len() as i64);
        }
        kept.push(m);
    }
    if pos.is_empty() {
        return Ok(kept);
    }
    let rows = db
        .query(STORED_POINTS, &[&sid, &step, &ts, &v, &pos])
        .await?;
    let mut stored = rows
        .iter()
        .map(|r| col::<i64>(r, 0))
        .collect::<Result<Vec<_>>>()?;
    stored.sort_unstable();
    let mut i = 0;
    kept.retain(|_| {
        let keep = stored.binary_search(&i).is_err();
        i += 1;
        keep
    });
    Ok(kept)
}

/// Numbers the points of a batch and summarizes them per series.
fn prepare(
    metrics: &[&Metric],
    ids: &HashMap<String, SeriesRange>,
    batch_no: i64,
) -> Result<Prepared> {
    let too_many = || StoreError::Invalid(Invalid::one("metrics", "holds too many items"));
    if metrics.len() >= 1 << SEQ_SHIFT {
        return Err(too_many());
    }
    let base = batch_no.checked_mul(1 << SEQ_SHIFT).ok_or_else(too_many)?;
    let mut p = Prepared::default();
    let mut sums: HashMap<i64, Summary> = HashMap::with_capacity(ids.len());
    for (i, m) in metrics.iter().enumerate() {
        let (sid, _) = *ids
            .get(&m.key)
            .ok_or_else(|| StoreError::Internal(format!("series of metric '{}' missing", m.key)))?;
        let seq = base + i as i64;
        let point = (m.step, m.timestamp, seq, m.value);
        sums.entry(sid)
            .and_modify(|s| {
                s.n += 1;
                s.min_step = s.min_step.min(m.step);
                s.max_step = s.max_step.max(m.step);
                // Later positions have greater seq, so `>=` on (step, ts) keeps the later tie.
                if (m.step, m.timestamp) >= (s.last.0, s.last.1) {
                    s.last = point;
                }
                s.steps.push(m.step);
            })
            .or_insert_with(|| Summary {
                n: 1,
                min_step: m.step,
                max_step: m.step,
                last: point,
                steps: vec![m.step],
            });
        p.series_id.push(sid);
        p.step.push(m.step);
        p.ts.push(m.timestamp);
        p.seq.push(seq);
        p.value.push(m.value);
    }
    p.sums = sums.into_iter().collect();
    p.sums.sort_unstable_by_key(|(id, _)| *id);
    Ok(p)
}

/// What history reads need to know about a series.
struct SeriesInfo {
    id: i64,
    count: i64,
    min_step: i64,
    max_step: i64,
    /// One point per step (`metric_series.unique_steps`).
    unique_steps: bool,
}

async fn find_series(db: Db<'_>, ws: &WorkspaceName, id: &RunId, key: &str) -> Result<SeriesInfo> {
    let row = db
        .query_opt(
            "SELECT s.id, s.count, s.min_step, s.max_step, s.unique_steps
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
    let unique_steps: Option<bool> = col(&row, 4)?;
    match (sid, count, min_step, max_step) {
        (Some(id), Some(count), Some(min_step), Some(max_step)) if count > 0 => Ok(SeriesInfo {
            id,
            count,
            min_step,
            max_step,
            unique_steps: unique_steps.unwrap_or(false),
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
    /// Two network flights whatever the batch size; see the module documentation.
    pub(super) async fn batch_log(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        b: LogBatch,
        models: &[ModelMetricLink],
    ) -> Result<()> {
        let conn = self.pool.get().await?;
        let tx = conn.tx();
        let db = tx.db();
        let run = id.as_str();
        let wsn = ws.as_str();

        let param_keys: Vec<&str> = b.params.iter().map(|p| p.key.as_str()).collect();
        let param_values: Vec<&str> = b.params.iter().map(|p| p.value.as_str()).collect();
        let (tag_keys, tag_values) = dedup_tags(&b.tags);
        let mut metric_keys: Vec<&str> = b.metrics.iter().map(|m| m.key.as_str()).collect();
        metric_keys.sort_unstable();
        metric_keys.dedup();
        let has_metrics = !b.metrics.is_empty();

        // Prepare first (once per connection), so each flight goes out in one piece.
        let lock_st = db.stmt(LOCK_RUN).await?;
        let params_st = match b.params.is_empty() {
            true => None,
            false => Some((
                db.stmt(INSERT_PARAMS).await?,
                db.stmt(CONFLICTING_PARAM).await?,
            )),
        };
        let tags_st = match b.tags.is_empty() {
            true => None,
            false => Some(db.stmt(UPSERT_RUN_TAGS).await?),
        };
        let series_st = match has_metrics {
            false => None,
            true => Some((
                db.stmt(CREATE_SERIES).await?,
                db.stmt(SERIES_IDS).await?,
                db.stmt(NEXT_BATCH).await?,
            )),
        };

        let lock_args: [&(dyn ToSql + Sync); 2] = [&run, &wsn];
        let param_args: [&(dyn ToSql + Sync); 3] = [&run, &param_keys, &param_values];
        let tag_args: [&(dyn ToSql + Sync); 3] = [&run, &tag_keys, &tag_values];
        let series_args: [&(dyn ToSql + Sync); 2] = [&run, &metric_keys];
        let (begun, lock, params_in, conflict, tags_in, created, series, batch_no) = futures::join!(
            tx.send_begin(),
            db.query_stmt(&lock_st, &lock_args),
            maybe(
                params_st
                    .as_ref()
                    .map(|(st, _)| db.execute_stmt(st, &param_args))
            ),
            maybe(
                params_st
                    .as_ref()
                    .map(|(_, st)| db.query_stmt(st, &param_args))
            ),
            maybe(tags_st.as_ref().map(|st| db.execute_stmt(st, &tag_args))),
            maybe(
                series_st
                    .as_ref()
                    .map(|(st, _, _)| db.execute_stmt(st, &series_args))
            ),
            maybe(
                series_st
                    .as_ref()
                    .map(|(_, st, _)| db.query_stmt(st, &series_args))
            ),
            maybe(series_st.as_ref().map(|(_, _, st)| db.query_stmt(st, &[]))),
        );
        begun?;
        // The run is checked first: when it is missing the later statements failed too.
        let stage = match lock?.first() {
            Some(row) => parse_stage(col(row, 0)?)?,
            None => {
                tx.rollback().await?;
                return Err(not_found(conn.db(), ws, Entity::Run, id).await);
            }
        };
        if let Err(e) = check_live(id, stage) {
            tx.rollback().await?;
            return Err(e);
        }
        params_in?;
        if let Some(row) = conflict?.as_ref().and_then(|rows| rows.first()) {
            let err = StoreError::ParamConflict {
                key: col(row, 0)?,
                old: col(row, 1)?,
                new: col(row, 2)?,
            };
            tx.rollback().await?;
            return Err(err);
        }
        tags_in?;
        created?;
        if !models.is_empty()
            && let Err(e) = super::logged_models::insert_model_metrics(db, ws, id, models).await
        {
            tx.rollback().await?;
            return Err(e);
        }
        let (Some(series), Some(batch_no)) = (series?, batch_no?) else {
            return tx.commit().await;
        };

        let ids = series
            .iter()
            .map(|r| {
                let range = match (col::<Option<i64>>(r, 2)?, col::<Option<i64>>(r, 3)?) {
                    (Some(lo), Some(hi)) => Some((lo, hi)),
                    _ => None,
                };
                Ok((col::<String>(r, 1)?, (col::<i64>(r, 0)?, range)))
            })
            .collect::<Result<HashMap<_, _>>>()?;
        let batch_no: i64 = match batch_no.first() {
            Some(row) => col(row, 0)?,
            None => return Err(StoreError::Internal("nextval returned no row".into())),
        };
        let kept = match drop_repeats(db, &b.metrics, &ids).await {
            Ok(k) => k,
            Err(e) => {
                tx.rollback().await?;
                return Err(e);
            }
        };
        let mut p = prepare(&kept, &ids, batch_no)?;
        let sum_ids: Vec<i64> = p.sums.iter().map(|(id, _)| *id).collect();
        let n: Vec<i64> = p.sums.iter().map(|(_, s)| s.n).collect();
        let min_step: Vec<i64> = p.sums.iter().map(|(_, s)| s.min_step).collect();
        let max_step: Vec<i64> = p.sums.iter().map(|(_, s)| s.max_step).collect();
        let last_step: Vec<i64> = p.sums.iter().map(|(_, s)| s.last.0).collect();
        let last_ts: Vec<i64> = p.sums.iter().map(|(_, s)| s.last.1).collect();
        let last_seq: Vec<i64> = p.sums.iter().map(|(_, s)| s.last.2).collect();
        let last_value: Vec<f64> = p.sums.iter().map(|(_, s)| s.last.3).collect();
        let uniq: Vec<bool> = p
            .sums
            .iter_mut()
            .map(|(_, s)| {
                s.steps.sort_unstable();
                !s.steps.windows(2).any(|w| w[0] == w[1])
            })
            .collect();
        let (seq_base, seq_span) = (batch_no << SEQ_SHIFT, 1i64 << SEQ_SHIFT);

        let insert = db.stmt(INSERT_POINTS).await?;
        let lock = db.stmt(LOCK_SERIES).await?;
        let merge = db.stmt(MERGE_SERIES).await?;
        let points: [&(dyn ToSql + Sync); 5] = [&p.series_id, &p.step, &p.ts, &p.seq, &p.value];
        let lock_args: [&(dyn ToSql + Sync); 1] = [&sum_ids];
        let merge_args: [&(dyn ToSql + Sync); 11] = [
            &sum_ids,
            &n,
            &min_step,
            &max_step,
            &last_value,
            &last_step,
            &last_ts,
            &last_seq,
            &uniq,
            &seq_base,
            &seq_span,
        ];
        // If a statement fails, the server turns the COMMIT behind it into a rollback.
        let (inserted, locked, merged, committed) = futures::join!(
            db.execute_stmt(&insert, &points),
            db.query_stmt(&lock, &lock_args),
            db.execute_stmt(&merge, &merge_args),
            tx.send_commit(),
        );
        inserted?;
        locked?;
        merged?;
        committed
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
        // The first page starts after (MIN, MIN, MIN), which no point has (seq >= 0).
        let (step, ts, seq) = match &page.page_token {
            Some(t) => {
                let pos = self.codec.decode(t, &scope)?;
                cursor_len(&pos, 3)?;
                (
                    cursor_int(&pos, 0)?,
                    cursor_int(&pos, 1)?,
                    cursor_int(&pos, 2)?,
                )
            }
            None => (i64::MIN, i64::MIN, i64::MIN),
        };
        let conn = self.pool.get().await?;
        let tx = conn.tx();
        let db = tx.db();
        let st = db.stmt(HISTORY_PAGE).await?;
        let (run, wsn, limit) = (id.as_str(), ws.as_str(), limit_plus_one(size));
        let args: [&(dyn ToSql + Sync); 7] = [&run, &wsn, &key, &step, &ts, &seq, &limit];
        let (begun, planned, rows, committed) = futures::join!(
            tx.send_begin(),
            db.batch_execute(INDEX_ORDER_ONLY),
            db.query_stmt(&st, &args),
            tx.send_commit(),
        );
        begun?;
        planned?;
        let rows = rows?;
        committed?;
        if rows.is_empty() {
            // Either there is nothing after the cursor, or no such run or metric.
            find_series(conn.db(), ws, id, key).await?;
        }
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
        crate::rules::check_sample_size(max_points)?;
        let conn = self.pool.get().await?;
        let tx = conn.tx();
        let db = tx.db();
        // One snapshot, so the series summary and the points agree.
        let (begun, planned) =
            futures::join!(tx.send_begin_snapshot(), db.batch_execute(INDEX_ORDER_ONLY));
        begun?;
        planned?;
        let series = find_series(db, ws, id, key).await?;
        let total_points = u64::try_from(series.count).unwrap_or(0);
        if total_points > max_points as u64 {
            let points =
                super::m4::reduce(db, series.id, series.min_step, series.max_step, max_points)
                    .await?;
            tx.commit().await?;
            return Ok(SampledHistory {
                points,
                total_points,
                downsampled: true,
            });
        }
        let st = db.stmt(SERIES_POINTS).await?;
        let stream = db.query_stream(&st, &[&series.id]).await?;
        let mut stream = std::pin::pin!(stream);
        let mut points =
            Vec::with_capacity(usize::try_from(series.count).unwrap_or(0).min(max_points));
        while let Some(row) = stream.try_next().await.map_err(db_err)? {
            points.push(point(&row)?);
        }
        tx.commit().await?;
        Ok(SampledHistory {
            points,
            total_points,
            downsampled: false,
        })
    }

    /// MLflow's bulk-interval sample; see `MetadataStore::metric_history_interval`. A
    /// dense series (one point per step of its range) is read at the sampled steps only;
    /// any other is numbered in the server and only the sampled rows come back.
    pub(super) async fn history_interval(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        key: &str,
        max_points: usize,
        start: Option<i64>,
        end: Option<i64>,
    ) -> Result<Vec<MetricPoint>> {
        let conn = self.pool.get().await?;
        let tx = conn.tx();
        let db = tx.db();
        // One snapshot, so the series summary and the points agree.
        let (begun, planned) =
            futures::join!(tx.send_begin_snapshot(), db.batch_execute(INDEX_ORDER_ONLY));
        begun?;
        planned?;
        let series = find_series(db, ws, id, key).await?;
        let lo = start.unwrap_or(i64::MIN).max(series.min_step);
        let hi = end.unwrap_or(i64::MAX).min(series.max_step);
        if lo > hi {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let dense = series.unique_steps
            && series.max_step as i128 - series.min_step as i128 + 1 == series.count as i128;
        let rows = if dense {
            let n = (hi as i128 - lo as i128 + 1) as u64;
            let steps: Vec<i64> = interval_positions(n, max_points as u64)
                .into_iter()
                .map(|p| lo + p as i64)
                .collect();
            let st = db.stmt(POINTS_AT_STEPS).await?;
            db.query_stmt(&st, &[&series.id, &steps]).await?
        } else {
            let n: i64 = if lo == series.min_step && hi == series.max_step {
                series.count
            } else {
                let st = db.stmt(WINDOW_COUNT).await?;
                let rows = db.query_stmt(&st, &[&series.id, &lo, &hi]).await?;
                match rows.first() {
                    Some(r) => col(r, 0)?,
                    None => 0,
                }
            };
            let positions: Vec<i64> = interval_positions(n as u64, max_points as u64)
                .into_iter()
                .map(|p| p as i64)
                .collect();
            let st = db.stmt(POINTS_AT_POSITIONS).await?;
            db.query_stmt(&st, &[&series.id, &lo, &hi, &positions])
                .await?
        };
        tx.commit().await?;
        rows.iter().map(point).collect()
    }
}
