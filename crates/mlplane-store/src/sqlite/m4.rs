//! The M4 reduction of a whole metric series, aggregated inside SQLite bucket by bucket.
//!
//! For each bucket of [`Downsampler::bucket_steps`], two index seeks over the clustered
//! `(series_id, step, ts, seq)` key find its first and last point. Its minimum and maximum
//! come from one pass of `min()`/`max()` over [`PARTS`] consecutive step ranges of the
//! bucket: on the stored bits themselves while a range holds only non-negative, non-NaN
//! values (where the bits order as the floats), else on an order key (see [`KEY`]). The
//! extreme's row is then looked up inside the first range holding it, a short scan. Only
//! four rows per bucket reach Rust, which feeds them to the [`Downsampler`]; before, every
//! point was decoded in Rust.
//!
//! Invariants:
//! - the result is exactly what feeding every point in history order gives: `-0.0` and
//!   `0.0` share a key, NaN is left out of the extremes, and among equal extremes the first
//!   row in (step, ts, seq) order is taken, as the Rust reduction does.

use super::Db;
use crate::Result;
use mlplane_core::MetricPoint;
use mlplane_core::downsample::Downsampler;
use rusqlite::{CachedStatement, Connection, OptionalExtension, params};

/// Step ranges per bucket for the extremes: the row of an extreme is looked up in one of
/// them, so the lookups read about 2/PARTS of the points.
const PARTS: i128 = 16;
/// The stored bits are not a NaN (exponent all ones with a non-zero fraction).
const NOT_NAN: &str = "(value & 9223372036854775807) <= 9218868437227405312";
/// Orders f64 bits stored as i64 like the floats: a negative float's key is minus its
/// magnitude bits, so both zeros are 0. For non-negative floats the key is the bits.
const KEY: &str = "CASE WHEN value >= 0 THEN value ELSE -(value & 9223372036854775807) END";
/// The bits of +infinity: raw bits in `0..=INF` are non-negative floats, NaN excluded.
const INF: i64 = 0x7FF0_0000_0000_0000;
const RANGE: &str = "FROM metrics WHERE series_id = ?1 AND step BETWEEN ?2 AND ?3";

fn point(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Option<MetricPoint>> {
    let (step, ts, bits): (Option<i64>, Option<i64>, Option<i64>) =
        (r.get(at)?, r.get(at + 1)?, r.get(at + 2)?);
    Ok(match (step, ts, bits) {
        (Some(step), Some(timestamp), Some(bits)) => Some(MetricPoint {
            step,
            timestamp,
            value: f64::from_bits(bits as u64),
        }),
        _ => None,
    })
}

struct Stmts<'c> {
    first: CachedStatement<'c>,
    last: CachedStatement<'c>,
    raw: CachedStatement<'c>,
    keyed: CachedStatement<'c>,
    find: CachedStatement<'c>,
}

impl<'c> Stmts<'c> {
    fn new(conn: &'c Connection) -> Result<Self> {
        let p = |sql: String| conn.prepare_cached(&sql).db();
        Ok(Self {
            first: p(format!(
                "SELECT step, ts, value {RANGE} ORDER BY step, ts, seq LIMIT 1"
            ))?,
            last: p(format!(
                "SELECT step, ts, value {RANGE} ORDER BY step DESC, ts DESC, seq DESC LIMIT 1"
            ))?,
            raw: p(format!("SELECT min(value), max(value) {RANGE}"))?,
            keyed: p(format!(
                "SELECT min({KEY}), max({KEY}) {RANGE} AND {NOT_NAN}"
            ))?,
            find: p(format!(
                "SELECT step, ts, value {RANGE} AND {NOT_NAN} AND {KEY} = ?4 ORDER BY step, ts, seq LIMIT 1"
            ))?,
        })
    }

    /// The (minimum, maximum) order keys of the non-NaN values in `lo..=hi`.
    fn extremes(&mut self, series: i64, lo: i64, hi: i64) -> Result<Option<(i64, i64)>> {
        let two = |r: &rusqlite::Row<'_>| -> rusqlite::Result<Option<(i64, i64)>> {
            Ok(r.get::<_, Option<i64>>(0)?.zip(r.get::<_, Option<i64>>(1)?))
        };
        let raw = self.raw.query_row(params![series, lo, hi], two).db()?;
        match raw {
            // Only non-negative floats and no NaN: the bits are the keys.
            Some((min, max)) if min >= 0 && max <= INF => Ok(Some((min, max))),
            None => Ok(None),
            Some(_) => self.keyed.query_row(params![series, lo, hi], two).db(),
        }
    }
}

/// The M4 reduction of series `series` (steps `min_step..=max_step`) to at most
/// `max_points` points.
pub(crate) fn reduce(
    conn: &Connection,
    series: i64,
    min_step: i64,
    max_step: i64,
    max_points: usize,
) -> Result<Vec<MetricPoint>> {
    let mut d = Downsampler::new(min_step, max_step, max_points);
    let mut st = Stmts::new(conn)?;
    for (lo, hi) in d.bucket_steps() {
        let args = params![series, lo, hi];
        let Some(first) = st
            .first
            .query_row(args, |r| point(r, 0))
            .optional()
            .db()?
            .flatten()
        else {
            continue;
        };
        let last = st
            .last
            .query_row(args, |r| point(r, 0))
            .optional()
            .db()?
            .flatten()
            .unwrap_or(first);
        // The bucket's points lie in first.step..=last.step: cut that into PARTS ranges.
        let (a, b) = (first.step as i128, last.step as i128);
        let width = ((b - a + 1) + PARTS - 1) / PARTS;
        let mut parts = Vec::with_capacity(PARTS as usize);
        let mut at = a;
        while at <= b {
            let end = (at + width - 1).min(b);
            let (plo, phi) = (at as i64, end as i64);
            parts.push((plo, phi, st.extremes(series, plo, phi)?));
            at = end + 1;
        }
        let keyed: Vec<(i64, i64, (i64, i64))> = parts
            .into_iter()
            .filter_map(|(plo, phi, e)| e.map(|e| (plo, phi, e)))
            .collect();
        let lowest = keyed.iter().map(|x| x.2.0).min();
        let highest = keyed.iter().map(|x| x.2.1).max();
        let mut found = Vec::with_capacity(2);
        // The first range holding an extreme holds its first row.
        for (key, is_min) in lowest
            .map(|k| (k, true))
            .into_iter()
            .chain(highest.map(|k| (k, false)))
        {
            let range = keyed
                .iter()
                .find(|x| if is_min { x.2.0 == key } else { x.2.1 == key });
            if let Some(&(plo, phi, _)) = range {
                found.extend(
                    st.find
                        .query_row(params![series, plo, phi, key], |r| point(r, 0))
                        .optional()
                        .db()?
                        .flatten(),
                );
            }
        }
        d.push(first);
        found.into_iter().for_each(|p| d.push(p));
        d.push(last);
    }
    Ok(d.finish())
}
