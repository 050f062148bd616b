//! Rough throughput measurements of the engines, ignored by default:
//! `cargo test --release -p mlplane-store --test it perf -- --ignored --nocapture`
//! (Postgres only when `MLPLANE_TEST_PG_URL` is set).
//!
//! Invariants:
//! - these tests print numbers and check only correctness, never timings, so they cannot
//!   fail on a slow machine.

use crate::contract::{default_ws, fresh_run, metric, metrics_batch, small_batch_keys};
use crate::harness::Store;
use std::time::Instant;

const POINTS: i64 = 1_000_000;
const BATCH: i64 = 1000;

async fn measure(engine: &str, store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    let start = Instant::now();
    for b in 0..POINTS / BATCH {
        let batch = (0..BATCH)
            .map(|i| {
                let s = b * BATCH + i;
                metric("loss", s, s, (s as f64).sin())
            })
            .collect();
        store
            .log_batch(&default_ws(), id, metrics_batch(batch))
            .await
            .expect("batch");
    }
    let took = start.elapsed().as_secs_f64();
    println!(
        "{engine}: {POINTS} points in batches of {BATCH}: {took:.2}s ({:.0} points/s)",
        POINTS as f64 / took
    );

    let start = Instant::now();
    let s = store
        .metric_history_sampled(&default_ws(), id, "loss", 1000)
        .await
        .expect("sampled");
    println!(
        "{engine}: downsample {} points to {}: {:.3}s",
        s.total_points,
        s.points.len(),
        start.elapsed().as_secs_f64()
    );

    let start = Instant::now();
    let mut token = None;
    let mut n = 0;
    loop {
        let p = store
            .metric_history(
                &default_ws(),
                id,
                "loss",
                &crate::contract::page(100_000, token),
            )
            .await
            .expect("page");
        n += p.items.len();
        match p.next_page_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(n as i64, POINTS);
    println!(
        "{engine}: read {n} points in pages of 100000: {:.3}s",
        start.elapsed().as_secs_f64()
    );

    let run = fresh_run(&store).await;
    let start = Instant::now();
    const SMALL: i64 = 2000;
    for s in 0..SMALL {
        let batch = small_batch_keys()
            .iter()
            .map(|k| metric(k, s, s, s as f64))
            .collect();
        store
            .log_batch(&default_ws(), &run.info.id, metrics_batch(batch))
            .await
            .expect("batch");
    }
    let took = start.elapsed().as_secs_f64();
    println!(
        "{engine}: {SMALL} batches of 3 keys: {took:.2}s ({:.0} batches/s)",
        SMALL as f64 / took
    );

    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..16 {
        let store = store.clone();
        let id = run.info.id.clone();
        handles.push(tokio::spawn(async move {
            for s in 0..100 {
                // One shared key: every writer appends to the same series.
                let batch = (0..100)
                    .map(|i| metric("shared", s * 100 + i, t, 1.0))
                    .collect();
                store
                    .log_batch(&default_ws(), &id, metrics_batch(batch))
                    .await
                    .expect("batch");
            }
        }));
    }
    for h in handles {
        h.await.expect("task");
    }
    let took = start.elapsed().as_secs_f64();
    println!(
        "{engine}: 16 writers x 100 batches of 100, one series: {took:.2}s ({:.0} points/s)",
        160_000.0 / took
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, run explicitly"]
async fn perf_sqlite() {
    let db = crate::harness::sqlite_db().await;
    measure("sqlite", db.store.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, run explicitly"]
async fn perf_pg() {
    let Some(db) = crate::harness::pg_db().await else {
        return;
    };
    measure("postgres", db.store.clone()).await;
    db.drop_db().await;
}

/// Search over 5,000 runs with a metric + param filter and a metric ordering, as the bench
/// does through HTTP: prints the store's share of the time.
async fn measure_search(engine: &str, store: Store) {
    use mlplane_core::search::{SearchKind, parse_order_by, parse_run_filter};
    use mlplane_core::{LogBatch, PageRequest, ViewType};
    let exp = crate::contract::create_exp(&store, &default_ws(), "perf-search").await;
    for i in 0..5000i64 {
        let run = store
            .create_run(&default_ws(), crate::contract::new_run(exp.id, i))
            .await
            .expect("run");
        let lr = ["0.1", "0.01", "0.001", "0.0001"][(i % 4) as usize];
        let batch = LogBatch {
            metrics: vec![
                metric("acc", 0, i, ((i * 7919) % 1000) as f64 / 1000.0),
                metric("loss", 0, i, 0.5),
            ],
            params: vec![
                crate::contract::param("lr", lr),
                crate::contract::param("opt", "adam"),
            ],
            tags: Vec::new(),
        };
        store
            .log_batch(&default_ws(), &run.info.id, batch)
            .await
            .expect("batch");
    }
    let q = mlplane_store::RunSearch {
        experiment_ids: vec![exp.id],
        view: ViewType::ActiveOnly,
        filter: parse_run_filter("metrics.acc > 0.5 and params.lr = '0.01'").expect("filter"),
        order_by: parse_order_by(&["metrics.acc DESC".to_string()], SearchKind::Runs)
            .expect("order"),
    };
    for max_results in [1000, 1] {
        let page = PageRequest {
            max_results,
            page_token: None,
        };
        let mut best = f64::MAX;
        let mut n = 0;
        for _ in 0..10 {
            let start = Instant::now();
            let p = store
                .search_runs(&default_ws(), &q, &page)
                .await
                .expect("search");
            best = best.min(start.elapsed().as_secs_f64());
            n = p.items.len();
        }
        println!(
            "{engine}: search 5000 runs, max_results {max_results}: {n} runs in {:.2} ms (best of 10)",
            best * 1000.0
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "perf: run explicitly with --ignored --nocapture"]
async fn perf_search_sqlite() {
    let db = crate::harness::sqlite_db().await;
    measure_search("sqlite", db.store.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "perf: run explicitly with --ignored --nocapture"]
async fn perf_search_pg() {
    let Some(db) = crate::harness::pg_db().await else {
        return;
    };
    measure_search("postgres", db.store.clone()).await;
    db.drop_db().await;
}
