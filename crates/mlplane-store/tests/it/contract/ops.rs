//! Contract checks for the operational side: ping, timings, close, reopening and
//! concurrent starts.
//!
//! Invariants:
//! - each check starts from a fresh store and asserts on variants, not messages.

use super::*;
use mlplane_core::ViewType;

pub async fn engine_pings_and_counts_operations(store: Store) {
    assert!(["sqlite", "postgres"].contains(&store.engine()));
    store.ping().await.expect("ping");
    let before: u64 = store.timings().iter().map(|t| t.count).sum();
    let run = fresh_run(&store).await;
    let _ = store
        .get_run(&default_ws(), &mlplane_core::RunId::generate())
        .await;
    store
        .get_run(&default_ws(), &run.info.id)
        .await
        .expect("get");
    let timings = store.timings();
    let after: u64 = timings.iter().map(|t| t.count).sum();
    assert!(
        after >= before + 4,
        "timings did not count operations: {timings:?}"
    );
    for t in &timings {
        assert!(t.errors <= t.count, "{t:?}");
        assert!(
            t.total_seconds >= 0.0 && t.total_seconds.is_finite(),
            "{t:?}"
        );
    }
    let mut ops: Vec<&str> = timings.iter().map(|t| t.op).collect();
    let n = ops.len();
    ops.sort_unstable();
    ops.dedup();
    assert_eq!(ops.len(), n, "one entry per operation");
}

pub async fn close_makes_later_calls_unavailable(store: Store) {
    let run = fresh_run(&store).await;
    store.close().await;
    let unavailable = |r: Result<(), StoreError>| match r {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("expected Unavailable after close, got {other:?}"),
    };
    unavailable(store.ping().await);
    unavailable(store.get_workspace(&default_ws()).await.map(|_| ()));
    unavailable(store.get_run(&default_ws(), &run.info.id).await.map(|_| ()));
    unavailable(
        store
            .log_batch(
                &default_ws(),
                &run.info.id,
                metrics_batch(vec![metric("m", 0, 0, 1.0)]),
            )
            .await,
    );
}

/// Data and page tokens survive closing the store and opening `url` again, and opening
/// runs the (already applied) migrations without harm.
pub async fn reopening_keeps_data_and_page_tokens(store: Store, url: &str) {
    for i in 0..3 {
        create_exp(&store, &default_ws(), &format!("e{i}")).await;
    }
    let run = fresh_run(&store).await;
    store
        .log_batch(
            &default_ws(),
            &run.info.id,
            LogBatch {
                params: vec![param("p", "1")],
                metrics: vec![metric("m", 1, 2, 3.0)],
                ..LogBatch::default()
            },
        )
        .await
        .expect("batch");
    let first = store
        .list_experiments(&default_ws(), ViewType::All, &page(2, None))
        .await
        .expect("page");
    let token = first.next_page_token.clone().expect("more pages");
    let rest = store
        .list_experiments(&default_ws(), ViewType::All, &page(2, Some(token.clone())))
        .await
        .expect("page");
    store.close().await;
    drop(store);

    let again = mlplane_store::open(url).await.expect("reopen");
    let same_rest = again
        .list_experiments(&default_ws(), ViewType::All, &page(2, Some(token)))
        .await
        .expect("a token from before the restart is still valid");
    assert_eq!(same_rest, rest);
    let got = again
        .get_run(&default_ws(), &run.info.id)
        .await
        .expect("run survives");
    assert_eq!(got.params, vec![param("p", "1")]);
    assert_eq!(got.metrics, vec![metric("m", 1, 2, 3.0)]);
    let d = again
        .get_experiment(&default_ws(), ExperimentId(0))
        .await
        .expect("default");
    assert_eq!(d.name, "Default");
    // New experiment ids keep counting up after a restart.
    let newest = create_exp(&again, &default_ws(), "after-restart").await;
    assert!(
        first
            .items
            .iter()
            .chain(&rest.items)
            .all(|e| e.id < newest.id)
    );
    again.close().await;
}

/// Several stores opening the same fresh database at once all succeed and agree.
pub async fn concurrent_opens_migrate_once(url: &str) {
    let mut handles = Vec::new();
    for _ in 0..4 {
        let url = url.to_string();
        handles.push(tokio::spawn(async move { mlplane_store::open(&url).await }));
    }
    let mut stores = Vec::new();
    for h in handles {
        stores.push(
            h.await
                .expect("task ran")
                .expect("concurrent open succeeds"),
        );
    }
    let token = stores[0]
        .list_workspaces(&page(1, None))
        .await
        .expect("list")
        .items;
    assert_eq!(token.len(), 1);
    let e = create_exp(&stores[1], &default_ws(), "shared").await;
    for s in &stores {
        assert_eq!(
            s.get_experiment(&default_ws(), e.id)
                .await
                .expect("visible")
                .name,
            "shared"
        );
        let all = s
            .list_experiments(&default_ws(), ViewType::All, &page(0, None))
            .await
            .expect("list");
        assert_eq!(all.items.len(), 2, "exactly one Default experiment");
    }
    // Tokens issued by one store are accepted by the others (one shared secret).
    create_exp(&stores[1], &default_ws(), "another").await;
    let t = stores[2]
        .list_experiments(&default_ws(), ViewType::All, &page(1, None))
        .await
        .expect("page")
        .next_page_token
        .expect("more");
    stores[3]
        .list_experiments(&default_ws(), ViewType::All, &page(1, Some(t)))
        .await
        .expect("token of another replica");
    for s in stores {
        s.close().await;
    }
}

/// Callers that give up half-way (a dropped request future) leave no transaction open and
/// no lock held, and a batch lands whole or not at all.
pub async fn cancelled_calls_leave_the_store_usable(store: Store) {
    let run = fresh_run(&store).await;
    let id = run.info.id.clone();
    for round in 0..20_i64 {
        let (s, rid) = (store.clone(), id.clone());
        let task = tokio::spawn(async move {
            let points = (0..1000).map(|i| metric("m", i, round, 0.0)).collect();
            let _ = s
                .log_batch(&default_ws(), &rid, metrics_batch(points))
                .await;
            let _ = s.append_log(&default_ws(), &rid, "x").await;
        });
        tokio::time::sleep(std::time::Duration::from_micros(150 * round as u64)).await;
        task.abort();
        let _ = task.await;
    }
    let later = async {
        let finished = mlplane_core::RunUpdate {
            status: Some(RunStatus::Finished),
            ..Default::default()
        };
        store
            .update_run(&default_ws(), &id, finished)
            .await
            .expect("update");
        store
            .log_batch(
                &default_ws(),
                &id,
                metrics_batch(vec![metric("after", 0, 0, 1.0)]),
            )
            .await
            .expect("batch");
        store
            .append_log(&default_ws(), &id, "y")
            .await
            .expect("log");
    };
    let done = tokio::time::timeout(std::time::Duration::from_secs(20), later).await;
    assert!(done.is_ok(), "a cancelled call left the run locked");
    match store
        .metric_history(&default_ws(), &id, "m", &page(50_000, None))
        .await
    {
        Ok(p) => assert_eq!(p.items.len() % 1000, 0, "a batch landed in part"),
        Err(StoreError::NotFound { .. }) => {}
        Err(e) => panic!("history: {e:?}"),
    }
}

/// Reads whose caller stops waiting (a browser that navigates away drops the request's
/// future mid-read) give their connection back: many abandoned reads later, reads still work.
pub async fn abandoned_reads_keep_the_read_pool_whole(store: Store) {
    let run = fresh_run(&store).await;
    let id = run.info.id.clone();
    let ws = default_ws();
    for _ in 0..40 {
        // Polled once (the read starts on a pooled connection), then dropped.
        let mut read = store.get_run(&ws, &id);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let _ = read.as_mut().poll(&mut cx);
    }
    // Let the abandoned reads finish on their threads.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for _ in 0..20 {
        store
            .get_run(&default_ws(), &id)
            .await
            .expect("a read after abandoned reads");
    }
}
