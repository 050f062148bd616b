//! Streaming downsampling of metric history for charts.
//!
//! The step range is cut into equal buckets; each bucket keeps its first, last, minimum and
//! maximum point (the "M4" reduction), so a line chart drawn from the result has the same
//! envelope as one drawn from every point. Points are fed one at a time in any order, so a
//! store can stream a million rows through it in constant memory.
//!
//! Invariants:
//! - the output never holds more than `max_points` points and is sorted by (step, timestamp);
//! - the global minimum and maximum of the non-NaN values are always in the output.

use crate::model::MetricPoint;

#[derive(Clone, Copy)]
struct Bucket {
    first: MetricPoint,
    last: MetricPoint,
    min: Option<MetricPoint>,
    max: Option<MetricPoint>,
}

/// Aggregates points into at most `max_points` representative points.
pub struct Downsampler {
    min_step: i64,
    width: u64,
    buckets: Vec<Option<Bucket>>,
}

fn earlier(a: &MetricPoint, b: &MetricPoint) -> bool {
    (a.step, a.timestamp) < (b.step, b.timestamp)
}

impl Downsampler {
    /// `min_step..=max_step` must cover every point that will be fed; `max_points >= 4`
    /// gives a meaningful result (smaller values are raised to 4).
    pub fn new(min_step: i64, max_step: i64, max_points: usize) -> Self {
        let n_buckets = (max_points.max(4) / 4).max(1);
        // The span of i64 steps always fits in u64 (at most 2^64 - 1).
        let span = (max_step as i128 - min_step as i128).max(0) as u128 + 1;
        let width = span.div_ceil(n_buckets as u128).clamp(1, u64::MAX as u128) as u64;
        Self {
            min_step,
            width,
            buckets: vec![None; n_buckets],
        }
    }

    /// The inclusive step range each bucket takes points from, in bucket order: the first
    /// also takes every step below `min_step` and the last every step above `max_step`, as
    /// [`push`](Self::push) clamps them. A store can so reduce bucket by bucket with range
    /// reads: feeding each bucket's first, minimum, maximum and last point (in that order,
    /// ties resolved as a scan in (step, timestamp, insertion) order would) gives the same
    /// result as feeding every point. Buckets no `i64` step falls into are left out.
    pub fn bucket_steps(&self) -> Vec<(i64, i64)> {
        let n = self.buckets.len();
        let mut out = Vec::with_capacity(n);
        for b in 0..n {
            let lo = self.min_step as i128 + b as i128 * self.width as i128;
            if lo > i64::MAX as i128 {
                break;
            }
            let lo = if b == 0 { i64::MIN } else { lo as i64 };
            let hi = if b + 1 == n {
                i64::MAX
            } else {
                (self.min_step as i128 + (b as i128 + 1) * self.width as i128 - 1)
                    .min(i64::MAX as i128) as i64
            };
            out.push((lo, hi));
        }
        out
    }

    pub fn push(&mut self, p: MetricPoint) {
        let offset = p.step.wrapping_sub(self.min_step) as u64;
        let offset = if p.step < self.min_step { 0 } else { offset };
        let idx = ((offset / self.width) as usize).min(self.buckets.len() - 1);
        let b = self.buckets[idx].get_or_insert(Bucket {
            first: p,
            last: p,
            min: None,
            max: None,
        });
        if earlier(&p, &b.first) {
            b.first = p;
        }
        if !earlier(&p, &b.last) {
            b.last = p;
        }
        if !p.value.is_nan() {
            if b.min.is_none_or(|m| p.value < m.value) {
                b.min = Some(p);
            }
            if b.max.is_none_or(|m| p.value > m.value) {
                b.max = Some(p);
            }
        }
    }

    /// The representative points, sorted by step then timestamp.
    pub fn finish(self) -> Vec<MetricPoint> {
        let mut out = Vec::new();
        for b in self.buckets.into_iter().flatten() {
            let mut pts = vec![b.first, b.last];
            pts.extend(b.min);
            pts.extend(b.max);
            pts.sort_by_key(|p| (p.step, p.timestamp));
            pts.dedup_by(|a, b| {
                a.step == b.step
                    && a.timestamp == b.timestamp
                    && a.value.to_bits() == b.value.to_bits()
            });
            out.extend(pts);
        }
        out
    }
}

/// The positions MLflow's `get-history-bulk-interval` keeps out of `n` points in history
/// order, for a budget of `max` (MLflow 3's `NTILE` sampling): the points are cut into `max`
/// buckets as even as possible (the first `n % max` one point larger), the first point of
/// each bucket is kept, and the last point of all replaces the last bucket's first point.
/// All positions when `n <= max`; ascending, at most `max` of them (`max` 0 counts as 1).
pub fn interval_positions(n: u64, max: u64) -> Vec<u64> {
    let max = max.max(1);
    if n <= max {
        return (0..n).collect();
    }
    let (size, larger) = (n / max, n % max);
    let mut out: Vec<u64> = (0..max - 1).map(|b| b * size + b.min(larger)).collect();
    out.push(n - 1);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pt(step: i64, value: f64) -> MetricPoint {
        MetricPoint {
            value,
            timestamp: step,
            step,
        }
    }

    #[test]
    fn a_million_points_reduce_to_the_budget_and_keep_extremes() {
        let mut d = Downsampler::new(0, 999_999, 1000);
        for s in 0..1_000_000 {
            let v = if s == 777_777 {
                1e9
            } else if s == 3 {
                -1e9
            } else {
                (s as f64).sin()
            };
            d.push(pt(s, v));
        }
        let out = d.finish();
        assert!(out.len() <= 1000);
        assert!(out.iter().any(|p| p.value == 1e9));
        assert!(out.iter().any(|p| p.value == -1e9));
        assert!(out.windows(2).all(|w| w[0].step <= w[1].step));
    }

    /// Feeding each bucket's first, minimum, maximum and last point, found the way a store's
    /// range reads find them, gives what feeding every point gives.
    fn by_buckets(pts: &[MetricPoint], lo: i64, hi: i64, n: usize) -> Vec<MetricPoint> {
        let mut d = Downsampler::new(lo, hi, n);
        for (a, b) in d.bucket_steps() {
            let inside: Vec<&MetricPoint> =
                pts.iter().filter(|p| (a..=b).contains(&p.step)).collect();
            let (Some(first), Some(last)) = (
                inside.iter().min_by_key(|p| (p.step, p.timestamp)),
                inside.iter().max_by_key(|p| (p.step, p.timestamp)),
            ) else {
                continue;
            };
            let (first, last) = (**first, **last);
            let real = || inside.iter().filter(|p| !p.value.is_nan());
            let min = real().fold(None::<&MetricPoint>, |m, p| match m {
                Some(m) if p.value >= m.value => Some(m),
                _ => Some(*p),
            });
            let max = real().fold(None::<&MetricPoint>, |m, p| match m {
                Some(m) if p.value <= m.value => Some(m),
                _ => Some(*p),
            });
            d.push(first);
            min.into_iter().chain(max).for_each(|p| d.push(*p));
            d.push(last);
        }
        d.finish()
    }

    fn same(a: &[MetricPoint], b: &[MetricPoint]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| {
                (x.step, x.timestamp, x.value.to_bits()) == (y.step, y.timestamp, y.value.to_bits())
            })
    }

    #[test]
    fn bucket_steps_cover_every_step_once() {
        for (lo, hi, n) in [
            (0, 999_999, 1000),
            (5, 5, 10),
            (-10, 10, 4),
            (i64::MIN, i64::MAX, 1000),
            (i64::MAX - 3, i64::MAX, 400),
        ] {
            let b = Downsampler::new(lo, hi, n).bucket_steps();
            assert_eq!(b.first().map(|x| x.0), Some(i64::MIN));
            assert_eq!(b.last().map(|x| x.1), Some(i64::MAX));
            assert!(
                b.windows(2).all(|w| w[0].1.checked_add(1) == Some(w[1].0)),
                "{b:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn reducing_bucket_by_bucket_equals_feeding_every_point(
            pts in proptest::collection::vec(
                (-50i64..50, 0i64..3, prop_oneof![
                    Just(f64::NAN), Just(0.0), Just(-0.0), Just(1.0), Just(-1.0),
                    Just(f64::INFINITY), Just(f64::NEG_INFINITY), -5.0f64..5.0]),
                1..300),
            n in 4usize..40,
        ) {
            let mut pts: Vec<MetricPoint> = pts
                .into_iter()
                .map(|(step, timestamp, value)| MetricPoint { value, timestamp, step })
                .collect();
            // History order: (step, timestamp), ties in insertion order (a stable sort).
            pts.sort_by_key(|p| (p.step, p.timestamp));
            let lo = pts.iter().map(|p| p.step).min().unwrap();
            let hi = pts.iter().map(|p| p.step).max().unwrap();
            let mut d = Downsampler::new(lo, hi, n);
            for p in &pts { d.push(*p); }
            prop_assert!(same(&by_buckets(&pts, lo, hi, n), &d.finish()));
        }
    }

    proptest! {
        #[test]
        fn output_fits_budget_and_contains_extremes(
            pts in proptest::collection::vec((-1000i64..1000, -1e6f64..1e6), 1..500),
            n in 4usize..64,
        ) {
            let lo = pts.iter().map(|p| p.0).min().unwrap();
            let hi = pts.iter().map(|p| p.0).max().unwrap();
            let mut d = Downsampler::new(lo, hi, n);
            for (s, v) in &pts { d.push(pt(*s, *v)); }
            let out = d.finish();
            prop_assert!(out.len() <= n);
            let max = pts.iter().map(|p| p.1).fold(f64::MIN, f64::max);
            let min = pts.iter().map(|p| p.1).fold(f64::MAX, f64::min);
            prop_assert!(out.iter().any(|p| p.value == max));
            prop_assert!(out.iter().any(|p| p.value == min));
        }
    }

    /// The same positions the long way: `NTILE(max)` over `n` rows, then the first row of
    /// each bucket, then the last row replacing the final pick when it is not already it.
    fn ntile_reference(n: u64, max: u64) -> Vec<u64> {
        let max = max.max(1);
        let mut bucket_of = Vec::new();
        let (size, larger) = (n / max, n % max);
        for b in 0..max.min(n) {
            let len = if b < larger { size + 1 } else { size };
            bucket_of.extend(std::iter::repeat_n(b, len as usize));
        }
        let mut out: Vec<u64> = Vec::new();
        for (i, b) in bucket_of.iter().enumerate() {
            if i == 0 || bucket_of[i - 1] != *b {
                out.push(i as u64);
            }
        }
        if n > 0 && out.last() != Some(&(n - 1)) {
            if out.len() as u64 >= max {
                out.pop();
            }
            out.push(n - 1);
        }
        out
    }

    #[test]
    fn interval_positions_match_ntile_sampling() {
        assert_eq!(interval_positions(0, 10), Vec::<u64>::new());
        assert_eq!(interval_positions(3, 10), vec![0, 1, 2]);
        assert_eq!(interval_positions(5, 1), vec![4]);
        assert_eq!(interval_positions(10, 3), vec![0, 4, 9]);
        let big = interval_positions(100_000, 1000);
        assert_eq!(big.len(), 1000);
        assert_eq!(&big[..3], &[0, 100, 200]);
        assert_eq!(big.last(), Some(&99_999));
        for n in 0..120 {
            for max in 1..40 {
                assert_eq!(
                    interval_positions(n, max),
                    ntile_reference(n, max),
                    "n={n} max={max}"
                );
            }
        }
    }
}
