//! SQLite checkpoints: with the writer's automatic checkpoints off, the checkpointer thread
//! still folds the WAL back into the database file while the store is open.
//!
//! Invariants:
//! - the check observes only the database file's size, which grows only when a checkpoint
//!   copies WAL frames into it.

use crate::contract::{default_ws, metric, metrics_batch, new_run, now_ms};
use mlplane_core::ExperimentId;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_wal_is_checkpointed_while_the_store_is_open() {
    let db = crate::harness::sqlite_db().await;
    let path = db.url.trim_start_matches("sqlite://").to_string();
    let size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let before = size();
    let run = db
        .store
        .create_run(&default_ws(), new_run(ExperimentId(0), now_ms()))
        .await
        .expect("run");
    // Each batch commits on its own; together they pass the checkpoint threshold of 4000
    // WAL frames (16 MiB) several times over.
    for b in 0..600i64 {
        let points = (0..1000)
            .map(|i| metric(&format!("m{}", i % 10), b * 100 + i / 10, b, i as f64))
            .collect();
        db.store
            .log_batch(&default_ws(), &run.info.id, metrics_batch(points))
            .await
            .expect("batch");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while size() < before + 4 * 1024 * 1024 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        size() >= before + 4 * 1024 * 1024,
        "database file grew from {before} to {} bytes only",
        size()
    );
    let history = db
        .store
        .metric_history(
            &default_ws(),
            &run.info.id,
            "m3",
            &crate::contract::page(100_000, None),
        )
        .await
        .expect("history");
    assert_eq!(history.items.len(), 60_000);
    db.store.close().await;
}
