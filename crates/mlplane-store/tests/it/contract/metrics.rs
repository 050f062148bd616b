//! Contract checks for batches (params, tags, metrics) and metric history.
//!
//! Invariants:
//! - each check starts from a fresh store and asserts on variants, not messages;
//! - float values are compared bit for bit (NaN by `is_nan`), never with a tolerance.

use super::*;
use mlplane_core::downsample::{Downsampler, interval_positions};
use mlplane_core::limits::{DEFAULT_PAGE_SIZE, MAX_DOWNSAMPLE_POINTS};
use mlplane_core::{MetricPoint, RunId};

/// Every point of a metric, through pages of `size`.
async fn history(store: &Store, id: &RunId, key: &str, size: usize) -> Vec<MetricPoint> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let p = store
            .metric_history(&default_ws(), id, key, &page(size, token))
            .await
            .expect("history page");
        let limit = if size == 0 { DEFAULT_PAGE_SIZE } else { size };
        assert!(p.items.len() <= limit);
        out.extend(p.items);
        match p.next_page_token {
            Some(t) => token = Some(t),
            None => return out,
        }
    }
}

fn pt(step: i64, timestamp: i64, value: f64) -> MetricPoint {
    MetricPoint {
        value,
        timestamp,
        step,
    }
}

#[track_caller]
fn same_bits(got: &[MetricPoint], want: &[MetricPoint]) {
    assert_eq!(got.len(), want.len(), "number of points");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let same = g.step == w.step
            && g.timestamp == w.timestamp
            && (g.value.to_bits() == w.value.to_bits() || (g.value.is_nan() && w.value.is_nan()));
        assert!(same, "point {i}: got {g:?}, want {w:?}");
    }
}

pub async fn param_with_same_value_is_a_no_op(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    let b = LogBatch {
        params: vec![param("lr", "0.1"), param("layers", "3")],
        ..LogBatch::default()
    };
    store
        .log_batch(&default_ws(), id, b.clone())
        .await
        .expect("first");
    store
        .log_batch(&default_ws(), id, b)
        .await
        .expect("same values again");
    let got = store.get_run(&default_ws(), id).await.expect("get");
    assert_eq!(got.params, vec![param("layers", "3"), param("lr", "0.1")]);
}

pub async fn param_with_different_value_is_rejected_and_batch_not_stored(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    store
        .log_batch(
            &default_ws(),
            id,
            LogBatch {
                params: vec![param("lr", "0.1")],
                ..LogBatch::default()
            },
        )
        .await
        .expect("first");
    let bad = LogBatch {
        params: vec![param("new", "x"), param("lr", "0.2")],
        tags: vec![tag("t", "v")],
        metrics: vec![metric("m", 0, 0, 1.0)],
    };
    match store.log_batch(&default_ws(), id, bad).await {
        Err(StoreError::ParamConflict { key, old, new }) => {
            assert_eq!(
                (key.as_str(), old.as_str(), new.as_str()),
                ("lr", "0.1", "0.2")
            );
        }
        other => panic!("expected ParamConflict, got {other:?}"),
    }
    let got = store.get_run(&default_ws(), id).await.expect("get");
    assert_eq!(got.params, vec![param("lr", "0.1")]);
    assert!(got.tags.is_empty(), "tags of a failed batch were stored");
    assert!(
        got.metrics.is_empty(),
        "metrics of a failed batch were stored"
    );
    expect_not_found(
        store
            .metric_history(&default_ws(), id, "m", &page(0, None))
            .await,
        Entity::Metric,
    );
}

pub async fn tags_are_upserted(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    let tags = |tags| LogBatch {
        tags,
        ..LogBatch::default()
    };
    store
        .log_batch(&default_ws(), id, tags(vec![tag("k", "1"), tag("j", "x")]))
        .await
        .expect("tags");
    store
        .log_batch(&default_ws(), id, tags(vec![tag("k", "2")]))
        .await
        .expect("upsert");
    let got = store.get_run(&default_ws(), id).await.expect("get");
    assert_eq!(got.tags, vec![tag("j", "x"), tag("k", "2")]);
}

pub async fn nan_and_infinities_round_trip(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    let values = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        f64::MIN_POSITIVE,
        5e-324,
        f64::MAX,
        f64::MIN,
        0.1 + 0.2,
        std::f64::consts::PI,
    ];
    let points: Vec<Metric> = values
        .iter()
        .enumerate()
        .map(|(i, v)| metric("m", i as i64, 1_000 + i as i64, *v))
        .collect();
    store
        .log_batch(&default_ws(), id, metrics_batch(points.clone()))
        .await
        .expect("batch");
    let want: Vec<MetricPoint> = points.iter().map(Metric::point).collect();
    same_bits(&history(&store, id, "m", 0).await, &want);
    let sampled = store
        .metric_history_sampled(&default_ws(), id, "m", 100)
        .await
        .expect("sampled");
    same_bits(&sampled.points, &want);
    for (key, v) in [
        ("nan", f64::NAN),
        ("inf", f64::INFINITY),
        ("ninf", f64::NEG_INFINITY),
    ] {
        store
            .log_batch(&default_ws(), id, metrics_batch(vec![metric(key, 0, 0, v)]))
            .await
            .expect("batch");
    }
    let got = store.get_run(&default_ws(), id).await.expect("get");
    let latest: Vec<(&str, f64)> = got
        .metrics
        .iter()
        .map(|m| (m.key.as_str(), m.value))
        .collect();
    assert_eq!(latest.len(), 4);
    assert_eq!(latest[0], ("inf", f64::INFINITY));
    assert_eq!(latest[1].0, "m");
    assert_eq!(latest[1].1.to_bits(), std::f64::consts::PI.to_bits());
    assert!(latest[2].0 == "nan" && latest[2].1.is_nan());
    assert_eq!(latest[3], ("ninf", f64::NEG_INFINITY));
}

pub async fn history_is_ordered_by_step_timestamp_then_insertion(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    store
        .log_batch(
            &default_ws(),
            id,
            metrics_batch(vec![
                metric("m", 2, 10, 1.0),
                metric("m", 1, 20, 2.0),
                metric("m", 1, 10, 3.0),
                metric("m", 1, 10, 4.0),
                metric("m", -5, 99, 5.0),
            ]),
        )
        .await
        .expect("batch");
    store
        .log_batch(
            &default_ws(),
            id,
            metrics_batch(vec![metric("m", 1, 10, 6.0), metric("m", 0, 0, 7.0)]),
        )
        .await
        .expect("batch");
    let want = [
        pt(-5, 99, 5.0),
        pt(0, 0, 7.0),
        pt(1, 10, 3.0),
        pt(1, 10, 4.0),
        pt(1, 10, 6.0),
        pt(1, 20, 2.0),
        pt(2, 10, 1.0),
    ];
    same_bits(&history(&store, id, "m", 0).await, &want);
    // Paging splits ties without losing or repeating any of them.
    same_bits(&history(&store, id, "m", 1).await, &want);
    same_bits(&history(&store, id, "m", 2).await, &want);
}

pub async fn history_pages_cover_every_point_once(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    // 1000 points, many sharing a step, logged in a scrambled order.
    let mut points: Vec<Metric> = (0..1000)
        .map(|i: i64| metric("loss", (i * 7919) % 97, (i * 31) % 5, i as f64))
        .collect();
    points.reverse();
    for chunk in points.chunks(250) {
        store
            .log_batch(&default_ws(), id, metrics_batch(chunk.to_vec()))
            .await
            .expect("batch");
    }
    let all = history(&store, id, "loss", 0).await;
    assert_eq!(all.len(), 1000);
    let mut values: Vec<i64> = all.iter().map(|p| p.value as i64).collect();
    values.sort_unstable();
    assert_eq!(values, (0..1000).collect::<Vec<_>>());
    assert!(
        all.windows(2)
            .all(|w| (w[0].step, w[0].timestamp) <= (w[1].step, w[1].timestamp))
    );
    for size in [1, 7, 100, 999, 1000, 1001] {
        let paged = history(&store, id, "loss", size).await;
        same_bits(&paged, &all);
    }
    let exact = store
        .metric_history(&default_ws(), id, "loss", &page(1000, None))
        .await
        .expect("one page");
    assert_eq!(exact.items.len(), 1000);
    assert_eq!(exact.next_page_token, None, "no token after the last page");
}

pub async fn unknown_metric_key_is_not_found(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    store
        .log_batch(
            &default_ws(),
            id,
            metrics_batch(vec![metric("known", 0, 0, 1.0)]),
        )
        .await
        .expect("batch");
    expect_not_found(
        store
            .metric_history(&default_ws(), id, "unknown", &page(0, None))
            .await,
        Entity::Metric,
    );
    expect_not_found(
        store
            .metric_history_sampled(&default_ws(), id, "unknown", 10)
            .await,
        Entity::Metric,
    );
    expect_not_found(
        store
            .metric_history(&default_ws(), &RunId::generate(), "known", &page(0, None))
            .await,
        Entity::Run,
    );
    // A metric of another run is not this run's metric.
    let other = fresh_run(&store).await;
    expect_not_found(
        store
            .metric_history(&default_ws(), &other.info.id, "known", &page(0, None))
            .await,
        Entity::Metric,
    );
}

pub async fn sampled_history_returns_every_point_when_few(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    let points: Vec<Metric> = (0..50).map(|i| metric("m", 50 - i, i, i as f64)).collect();
    store
        .log_batch(&default_ws(), id, metrics_batch(points))
        .await
        .expect("batch");
    for max in [50, 51, MAX_DOWNSAMPLE_POINTS] {
        let s = store
            .metric_history_sampled(&default_ws(), id, "m", max)
            .await
            .expect("sampled");
        assert!(!s.downsampled);
        assert_eq!(s.total_points, 50);
        same_bits(&s.points, &history(&store, id, "m", 0).await);
    }
    let s = store
        .metric_history_sampled(&default_ws(), id, "m", 49)
        .await
        .expect("sampled");
    assert!(s.downsampled);
    assert_eq!(s.total_points, 50);
    assert!(s.points.len() <= 49);
}

pub async fn sampled_history_rejects_zero_or_too_many_points(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    store
        .log_batch(
            &default_ws(),
            id,
            metrics_batch(vec![metric("m", 0, 0, 1.0)]),
        )
        .await
        .expect("batch");
    for bad in [0, MAX_DOWNSAMPLE_POINTS + 1] {
        match store
            .metric_history_sampled(&default_ws(), id, "m", bad)
            .await
        {
            Err(StoreError::Invalid(_)) => {}
            other => panic!("max_points {bad} accepted: {other:?}"),
        }
    }
}

pub async fn hundred_thousand_points_page_and_downsample(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    const N: i64 = 100_000;
    let value = |s: i64| match s {
        77_777 => 1e9,
        3 => -1e9,
        _ => ((s as f64) / 1000.0).sin(),
    };
    let all: Vec<Metric> = (0..N)
        .map(|s| metric("loss", s, 1_000_000 + s, value(s)))
        .collect();
    for chunk in all.chunks(1000) {
        store
            .log_batch(&default_ws(), id, metrics_batch(chunk.to_vec()))
            .await
            .expect("batch");
    }
    let want: Vec<MetricPoint> = all.iter().map(Metric::point).collect();
    same_bits(&history(&store, id, "loss", 30_000).await, &want);

    let s = store
        .metric_history_sampled(&default_ws(), id, "loss", 1000)
        .await
        .expect("sampled");
    assert!(s.downsampled);
    assert_eq!(s.total_points, N as u64);
    assert!(
        s.points.len() <= 1000 && s.points.len() >= 500,
        "{} points",
        s.points.len()
    );
    assert!(s.points.iter().any(|p| p.value == 1e9) && s.points.iter().any(|p| p.value == -1e9));
    let mut d = Downsampler::new(0, N - 1, 1000);
    for p in &want {
        d.push(*p);
    }
    same_bits(&s.points, &d.finish());

    let got = store.get_run(&default_ws(), id).await.expect("get");
    assert_eq!(
        got.metrics,
        vec![metric("loss", N - 1, 1_000_000 + N - 1, value(N - 1))]
    );
}

pub async fn concurrent_writers_lose_no_point(store: Store) {
    let run = fresh_run(&store).await;
    let id = run.info.id.clone();
    const TASKS: i64 = 16;
    const BATCHES: i64 = 10;
    const POINTS: i64 = 50;
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let store = store.clone();
        let id = id.clone();
        handles.push(tokio::spawn(async move {
            for b in 0..BATCHES {
                let mut metrics = Vec::new();
                for p in 0..POINTS {
                    let n = (t * BATCHES + b) * POINTS + p;
                    metrics.push(metric("shared", n % 100, n, n as f64));
                    metrics.push(metric(&format!("own-{t}"), b * POINTS + p, 0, n as f64));
                }
                let batch = LogBatch {
                    metrics,
                    params: vec![param(&format!("p{t}"), "v"), param("same", "v")],
                    tags: vec![tag("writer", &t.to_string())],
                };
                store.log_batch(&default_ws(), &id, batch).await?;
            }
            Ok::<_, StoreError>(())
        }));
    }
    for h in handles {
        h.await.expect("task ran").expect("no batch failed");
    }
    let shared = history(&store, &id, "shared", 5000).await;
    assert_eq!(shared.len() as i64, TASKS * BATCHES * POINTS);
    let mut values: Vec<i64> = shared.iter().map(|p| p.value as i64).collect();
    values.sort_unstable();
    assert_eq!(values, (0..TASKS * BATCHES * POINTS).collect::<Vec<_>>());
    for t in 0..TASKS {
        let own = history(&store, &id, &format!("own-{t}"), 0).await;
        assert_eq!(own.len() as i64, BATCHES * POINTS);
        assert!(own.windows(2).all(|w| w[0].step < w[1].step));
    }
    let got = store.get_run(&default_ws(), &id).await.expect("get");
    assert_eq!(got.params.len() as i64, TASKS + 1);
    assert_eq!(got.metrics.len() as i64, TASKS + 1);
    let s = store
        .metric_history_sampled(&default_ws(), &id, "shared", 10_000)
        .await
        .expect("sampled");
    assert_eq!(s.total_points as i64, TASKS * BATCHES * POINTS);
}

/// What `metric_history_interval` must return, computed the long way: every point of the
/// metric, the window's points, then MLflow's sampled positions among them.
async fn interval_reference(
    store: &Store,
    id: &RunId,
    key: &str,
    max: usize,
    start: Option<i64>,
    end: Option<i64>,
) -> Vec<MetricPoint> {
    let (lo, hi) = (start.unwrap_or(i64::MIN), end.unwrap_or(i64::MAX));
    let inside: Vec<MetricPoint> = history(store, id, key, 0)
        .await
        .into_iter()
        .filter(|p| (lo..=hi).contains(&p.step))
        .collect();
    interval_positions(inside.len() as u64, max as u64)
        .into_iter()
        .map(|i| inside[i as usize])
        .collect()
}

async fn check_interval(store: &Store, id: &RunId, key: &str) {
    let windows = [
        (None, None),
        (Some(100), Some(199)),
        (Some(-5), None),
        (None, Some(50)),
        (Some(37), Some(37)),
        (Some(5_000), None),
        (None, Some(-1)),
    ];
    for (start, end) in windows {
        for max in [1, 2, 7, 50, 999, 1000, 2500] {
            let got = store
                .metric_history_interval(&default_ws(), id, key, max, start, end)
                .await
                .expect("interval sample");
            let want = interval_reference(store, id, key, max, start, end).await;
            assert!(got.len() <= max, "{key} {start:?}..{end:?} max {max}");
            same_bits(&got, &want);
        }
    }
}

/// Steps `range`, one point each, as a batch of metric `key`; `ts` offsets the timestamps.
fn steps_batch(key: &str, steps: impl IntoIterator<Item = i64>, ts: i64) -> LogBatch {
    metrics_batch(
        steps
            .into_iter()
            .map(|s| metric(key, s, ts + s, (s as f64 * 0.37).sin() + ts as f64))
            .collect(),
    )
}

pub async fn interval_sample_is_mlflows_on_dense_sparse_and_repeated_steps(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    let ws = default_ws();
    let log = |b: LogBatch| {
        let store = store.clone();
        let id = id.clone();
        async move { store.log_batch(&default_ws(), &id, b).await.expect("batch") }
    };
    // One point per step, batches arriving out of order: the dense case.
    for chunk in [2, 0, 3, 1] {
        log(steps_batch("dense", chunk * 250..(chunk + 1) * 250, 0)).await;
    }
    // Every third step only.
    log(steps_batch("sparse", (0..1500).map(|s| s * 3), 0)).await;
    // As many points as steps in the range, but step 500 twice and step 700 missing, once
    // within a batch and once across batches.
    log(steps_batch(
        "dup_in_batch",
        (0..1000).filter(|s| *s != 700).chain([500]),
        0,
    ))
    .await;
    log(steps_batch(
        "dup_across",
        (0..1000).filter(|s| *s != 700),
        0,
    ))
    .await;
    log(steps_batch("dup_across", [500], 10_000)).await;
    // The same, with the repeating batch filling a gap inside the stored range.
    log(steps_batch(
        "dup_in_gap",
        (0..300).filter(|s| !(100..110).contains(s)),
        0,
    ))
    .await;
    log(steps_batch("dup_in_gap", (100..109).chain([150]), 10_000)).await;
    // A gap filled by a batch of new steps keeps the series dense.
    log(steps_batch("gap_filled", (0..100).chain(200..300), 0)).await;
    log(steps_batch("gap_filled", 100..200, 0)).await;
    // Two concurrent batches that repeat step 50 and leave out step 99.
    let (a, b) = (
        log(steps_batch("dup_concurrent", 0..99, 0)),
        log(steps_batch(
            "dup_concurrent",
            (100..200).chain([50]),
            10_000,
        )),
    );
    tokio::join!(a, b);
    // Every point at one step, and a single point.
    log(steps_batch("one_step", std::iter::repeat_n(0, 30), 0)).await;
    log(steps_batch("single", [42], 0)).await;
    for key in [
        "dense",
        "sparse",
        "dup_in_batch",
        "dup_across",
        "dup_in_gap",
        "gap_filled",
        "dup_concurrent",
        "one_step",
        "single",
    ] {
        check_interval(&store, id, key).await;
    }
    // Dense: the first, every 100th and the last point.
    let got = store
        .metric_history_interval(&ws, id, "dense", 10, None, None)
        .await
        .expect("sample");
    let steps: Vec<i64> = got.iter().map(|p| p.step).collect();
    assert_eq!(steps, vec![0, 100, 200, 300, 400, 500, 600, 700, 800, 999]);
    match store
        .metric_history_interval(&ws, id, "nope", 10, None, None)
        .await
    {
        Err(StoreError::NotFound {
            entity: Entity::Metric,
            ..
        }) => {}
        other => panic!("expected metric not found, got {other:?}"),
    }
    match store
        .metric_history_interval(&ws, &RunId::generate(), "dense", 10, None, None)
        .await
    {
        Err(StoreError::NotFound {
            entity: Entity::Run,
            ..
        }) => {}
        other => panic!("expected run not found, got {other:?}"),
    }
}

/// The downsampled history equals the M4 reduction of every point fed in history order, on
/// a series built to trip an aggregate-in-the-database reduction: sparse and negative steps,
/// several points per step, repeated (step, timestamp) pairs, tied extremes, NaN (a bucket
/// of nothing else), both zeros and both infinities, logged out of order.
pub async fn downsampled_history_is_the_m4_of_every_point_on_awkward_series(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        seed >> 33
    };
    let specials = [
        f64::NAN,
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        7.5,
        -7.5,
    ];
    let mut all = Vec::new();
    for step in -400i64..400 {
        if next() % 5 == 0 {
            continue; // sparse
        }
        let per_step = 1 + next() % 3;
        for k in 0..per_step {
            // Every other extra point repeats the previous timestamp.
            let ts = 10_000 + step * 10 + (k as i64 / 2);
            let v = if (-120..-100).contains(&step) {
                f64::NAN
            } else if next() % 4 == 0 {
                specials[(next() % specials.len() as u64) as usize]
            } else {
                ((next() % 21) as f64 - 10.0) / 4.0
            };
            all.push(metric("awkward", step, ts, v));
        }
    }
    // An exact repeat (same step, timestamp and value bits) is stored once.
    let mut seen = std::collections::HashSet::new();
    all.retain(|m| seen.insert((m.step, m.timestamp, m.value.to_bits())));
    // Logged in shuffled batches, so insertion order is not history order.
    let mut order: Vec<usize> = (0..all.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, (next() % (i as u64 + 1)) as usize);
    }
    for chunk in order.chunks(97) {
        let batch = chunk.iter().map(|&i| all[i].clone()).collect();
        store
            .log_batch(&default_ws(), id, metrics_batch(batch))
            .await
            .expect("batch");
    }
    let every = history(&store, id, "awkward", 500).await;
    assert_eq!(every.len(), all.len());
    let (lo, hi) = (every[0].step, every[every.len() - 1].step);
    for max in [4, 9, 40, 101, 500] {
        let s = store
            .metric_history_sampled(&default_ws(), id, "awkward", max)
            .await
            .expect("sampled");
        assert!(s.downsampled, "max {max}");
        assert_eq!(s.total_points, every.len() as u64);
        let mut d = Downsampler::new(lo, hi, max);
        for p in &every {
            d.push(*p);
        }
        same_bits(&s.points, &d.finish());
    }
}

pub async fn a_point_sent_again_is_stored_once(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    let ws = default_ws();
    // Within one batch: an exact repeat (NaN included) is kept once, while a point that
    // differs in value, timestamp or step is a point of its own.
    let first = vec![
        metric("m", 0, 10, 1.0),
        metric("m", 0, 10, 1.0),
        metric("m", 0, 10, 2.0),
        metric("m", 0, 11, 1.0),
        metric("m", 1, 10, f64::NAN),
        metric("m", 1, 10, f64::NAN),
        metric("m", 2, 10, 0.0),
        metric("m", 2, 10, -0.0),
    ];
    store
        .log_batch(&ws, id, metrics_batch(first.clone()))
        .await
        .expect("batch");
    let want = [
        pt(0, 10, 1.0),
        pt(0, 10, 2.0),
        pt(0, 11, 1.0),
        pt(1, 10, f64::NAN),
        pt(2, 10, 0.0),
        pt(2, 10, -0.0),
    ];
    same_bits(&history(&store, id, "m", 0).await, &want);
    // The whole batch again (a retry) adds nothing; a batch that repeats some stored
    // points and extends the series adds only the new ones.
    store
        .log_batch(&ws, id, metrics_batch(first))
        .await
        .expect("again");
    same_bits(&history(&store, id, "m", 0).await, &want);
    store
        .log_batch(
            &ws,
            id,
            metrics_batch(vec![
                metric("m", 0, 10, 1.0),
                metric("m", 1, 10, 5.0),
                metric("m", 3, 10, 3.0),
                metric("m", 3, 10, 3.0),
            ]),
        )
        .await
        .expect("extends");
    let want = [
        pt(0, 10, 1.0),
        pt(0, 10, 2.0),
        pt(0, 11, 1.0),
        pt(1, 10, f64::NAN),
        pt(1, 10, 5.0),
        pt(2, 10, 0.0),
        pt(2, 10, -0.0),
        pt(3, 10, 3.0),
    ];
    same_bits(&history(&store, id, "m", 0).await, &want);
    // The series' summary counts the stored points only.
    let sampled = store
        .metric_history_sampled(&ws, id, "m", 1000)
        .await
        .expect("sampled");
    assert_eq!(sampled.total_points, want.len() as u64);
    let r = store.get_run(&ws, id).await.expect("run");
    let latest = r.metrics.iter().find(|m| m.key == "m").expect("latest");
    assert_eq!((latest.step, latest.timestamp, latest.value), (3, 10, 3.0));
}
