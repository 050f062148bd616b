//! The M4 reduction of a whole metric series, aggregated inside PostgreSQL in one query.
//!
//! The buckets of [`Downsampler::bucket_steps`] travel as two arrays; for each, four lateral
//! reads over the `metrics` primary key `(series_id, step, ts, seq)` find its first and last
//! point (index seeks) and its minimum and maximum (a top-1 over the bucket's key range).
//! Only those four rows per bucket come back and are fed to the [`Downsampler`]; before,
//! every point of the series travelled to the client.
//!
//! Invariants:
//! - the result is exactly what feeding every point in history order gives: NaN is left
//!   out of the extremes, `-0.0` and `0.0` compare equal, and ties go to the first point in
//!   (step, ts, seq) order, as in the Rust reduction.

use super::pool::Db;
use super::rows::col;
use crate::Result;
use mlplane_core::MetricPoint;
use mlplane_core::downsample::Downsampler;

/// `$1` series, `$2`/`$3` the buckets' inclusive step bounds; one row per bucket with
/// points: first, minimum, maximum and last (the extremes NULL when all its values are NaN).
const BUCKET_EXTREMES: &str = "
SELECT f.step, f.ts, f.value, mn.step, mn.ts, mn.value, mx.step, mx.ts, mx.value,
       l.step, l.ts, l.value
FROM unnest($2::bigint[], $3::bigint[]) WITH ORDINALITY AS b(lo, hi, i)
CROSS JOIN LATERAL (SELECT step, ts, value FROM metrics
    WHERE series_id = $1 AND step BETWEEN b.lo AND b.hi
    ORDER BY step, ts, seq LIMIT 1) f
LEFT JOIN LATERAL (SELECT step, ts, value FROM metrics
    WHERE series_id = $1 AND step BETWEEN b.lo AND b.hi AND value <> 'NaN'::float8
    ORDER BY value, step, ts, seq LIMIT 1) mn ON true
LEFT JOIN LATERAL (SELECT step, ts, value FROM metrics
    WHERE series_id = $1 AND step BETWEEN b.lo AND b.hi AND value <> 'NaN'::float8
    ORDER BY value DESC, step, ts, seq LIMIT 1) mx ON true
CROSS JOIN LATERAL (SELECT step, ts, value FROM metrics
    WHERE series_id = $1 AND step BETWEEN b.lo AND b.hi
    ORDER BY step DESC, ts DESC, seq DESC LIMIT 1) l
ORDER BY b.i";

fn point(row: &tokio_postgres::Row, at: usize) -> Result<Option<MetricPoint>> {
    let step: Option<i64> = col(row, at)?;
    let ts: Option<i64> = col(row, at + 1)?;
    let value: Option<f64> = col(row, at + 2)?;
    Ok(match (step, ts, value) {
        (Some(step), Some(timestamp), Some(value)) => Some(MetricPoint {
            step,
            timestamp,
            value,
        }),
        _ => None,
    })
}

/// The M4 reduction of series `series` (steps `min_step..=max_step`) to at most
/// `max_points` points, inside the caller's transaction.
pub(super) async fn reduce(
    db: Db<'_>,
    series: i64,
    min_step: i64,
    max_step: i64,
    max_points: usize,
) -> Result<Vec<MetricPoint>> {
    let mut d = Downsampler::new(min_step, max_step, max_points);
    let (lo, hi): (Vec<i64>, Vec<i64>) = d.bucket_steps().into_iter().unzip();
    let st = db.stmt(BUCKET_EXTREMES).await?;
    let rows = db.query_stmt(&st, &[&series, &lo, &hi]).await?;
    for row in &rows {
        for at in [0, 3, 6, 9] {
            if let Some(p) = point(row, at)? {
                d.push(p);
            }
        }
    }
    Ok(d.finish())
}
