//! Contract checks for changing runs: status updates, lifecycle, tag deletion, and the
//! isolation of runs between workspaces.
//!
//! Invariants:
//! - each check starts from a fresh store and asserts on variants, not messages.

use super::*;
use mlplane_core::{LifecycleStage, RunId, RunUpdate, ViewType};
use mlplane_store::RunQuery;

pub async fn update_run_sets_end_time_for_terminal_statuses_only(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    let before = now_ms();
    let done = store
        .update_run(
            &default_ws(),
            id,
            RunUpdate {
                status: Some(RunStatus::Finished),
                ..RunUpdate::default()
            },
        )
        .await
        .expect("finish");
    let after = now_ms();
    assert_eq!(done.status, RunStatus::Finished);
    let end = done.end_time.expect("a terminal status sets end_time");
    assert!(
        before <= end && end <= after,
        "end_time {end} not in [{before}, {after}]"
    );

    let running = store
        .update_run(
            &default_ws(),
            id,
            RunUpdate {
                status: Some(RunStatus::Running),
                ..RunUpdate::default()
            },
        )
        .await
        .expect("back to running");
    assert_eq!(running.end_time, None);

    let failed = store
        .update_run(
            &default_ws(),
            id,
            RunUpdate {
                status: Some(RunStatus::Failed),
                end_time: Some(42_000),
                name: Some("renamed".into()),
            },
        )
        .await
        .expect("fail");
    assert_eq!(failed.end_time, Some(42_000));
    assert_eq!(failed.name, "renamed");
    let renamed = store
        .update_run(
            &default_ws(),
            id,
            RunUpdate {
                name: Some("again".into()),
                ..RunUpdate::default()
            },
        )
        .await
        .expect("rename");
    assert_eq!(renamed.name, "again");
    assert_eq!(renamed.status, RunStatus::Failed);
    assert_eq!(renamed.end_time, Some(42_000));
    assert_eq!(
        store.get_run(&default_ws(), id).await.expect("get").info,
        renamed
    );
    expect_not_found(
        store
            .update_run(&default_ws(), &RunId::generate(), RunUpdate::default())
            .await,
        Entity::Run,
    );
}

pub async fn run_cannot_move_back_to_queued(store: Store) {
    let exp = create_exp(&store, &default_ws(), "e").await;
    let queued = store
        .create_run(
            &default_ws(),
            NewRun {
                status: RunStatus::Queued,
                ..new_run(exp.id, 1)
            },
        )
        .await
        .expect("run");
    let id = &queued.info.id;
    let to = |status| RunUpdate {
        status: Some(status),
        ..RunUpdate::default()
    };
    store
        .update_run(&default_ws(), id, to(RunStatus::Running))
        .await
        .expect("start");
    expect_invalid_state(
        store
            .update_run(&default_ws(), id, to(RunStatus::Queued))
            .await,
    );
    store
        .update_run(&default_ws(), id, to(RunStatus::Killed))
        .await
        .expect("kill");
    expect_invalid_state(
        store
            .update_run(&default_ws(), id, to(RunStatus::Queued))
            .await,
    );
    let got = store.get_run(&default_ws(), id).await.expect("get");
    assert_eq!(got.info.status, RunStatus::Killed);
}

pub async fn writes_to_a_deleted_run_are_invalid_state(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    store
        .log_batch(
            &default_ws(),
            id,
            LogBatch {
                tags: vec![tag("k", "v")],
                ..LogBatch::default()
            },
        )
        .await
        .expect("batch");
    store
        .record_artifact(&default_ws(), id, artifact("a.txt", 1))
        .await
        .expect("artifact");
    store
        .append_log(&default_ws(), id, "before\n")
        .await
        .expect("log");
    let deleted = store
        .set_run_lifecycle(&default_ws(), id, LifecycleStage::Deleted)
        .await
        .expect("delete");
    assert_eq!(deleted.lifecycle_stage, LifecycleStage::Deleted);
    let ws = default_ws();
    expect_invalid_state(
        store
            .update_run(
                &ws,
                id,
                RunUpdate {
                    status: Some(RunStatus::Finished),
                    ..RunUpdate::default()
                },
            )
            .await,
    );
    expect_invalid_state(
        store
            .log_batch(&ws, id, metrics_batch(vec![metric("m", 0, 0, 1.0)]))
            .await,
    );
    expect_invalid_state(store.delete_run_tag(&ws, id, "k").await);
    expect_invalid_state(store.append_log(&ws, id, "after\n").await);
    expect_invalid_state(store.record_artifact(&ws, id, artifact("b.txt", 1)).await);
    let path = ArtifactPath::parse("a.txt").expect("path");
    expect_invalid_state(store.delete_artifact(&ws, id, &path).await);
    // Reads still work and nothing changed.
    let got = store.get_run(&ws, id).await.expect("get");
    assert_eq!(got.info.status, RunStatus::Running);
    assert_eq!(got.tags, vec![tag("k", "v")]);
    assert!(got.metrics.is_empty());
    assert_eq!(
        store.read_log(&ws, id, 0, 1024).await.expect("read").data,
        "before\n"
    );
    store
        .get_artifact(&ws, id, &path)
        .await
        .expect("artifact still there");
    // Once restored, writes work again.
    store
        .set_run_lifecycle(&ws, id, LifecycleStage::Active)
        .await
        .expect("restore");
    store.append_log(&ws, id, "after\n").await.expect("log");
}

pub async fn run_lifecycle_changes_are_idempotent(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    for _ in 0..2 {
        let r = store
            .set_run_lifecycle(&default_ws(), id, LifecycleStage::Deleted)
            .await
            .expect("delete");
        assert_eq!(r.lifecycle_stage, LifecycleStage::Deleted);
    }
    for _ in 0..2 {
        let r = store
            .set_run_lifecycle(&default_ws(), id, LifecycleStage::Active)
            .await
            .expect("restore");
        assert_eq!(r.lifecycle_stage, LifecycleStage::Active);
    }
    expect_not_found(
        store
            .set_run_lifecycle(&default_ws(), &RunId::generate(), LifecycleStage::Deleted)
            .await,
        Entity::Run,
    );
}

pub async fn missing_run_tag_cannot_be_deleted(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    match store.delete_run_tag(&default_ws(), id, "never-set").await {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
    store
        .log_batch(
            &default_ws(),
            id,
            LogBatch {
                tags: vec![tag("k", "v")],
                ..LogBatch::default()
            },
        )
        .await
        .expect("tag");
    store
        .delete_run_tag(&default_ws(), id, "k")
        .await
        .expect("delete");
    assert!(matches!(
        store.delete_run_tag(&default_ws(), id, "k").await,
        Err(StoreError::NotFound { .. })
    ));
    expect_not_found(
        store
            .delete_run_tag(&default_ws(), &RunId::generate(), "k")
            .await,
        Entity::Run,
    );
}

pub async fn entities_of_other_workspaces_are_not_found(store: Store) {
    let a = ws("team-a");
    let b = ws("team-b");
    store.create_workspace(&a, "").await.expect("workspace");
    store.create_workspace(&b, "").await.expect("workspace");
    let exp = create_exp(&store, &a, "secret").await;
    let run = store.create_run(&a, new_run(exp.id, 1)).await.expect("run");
    let id = &run.info.id;
    store
        .log_batch(&a, id, metrics_batch(vec![metric("m", 0, 0, 1.0)]))
        .await
        .expect("batch");
    store
        .record_artifact(&a, id, artifact("f", 1))
        .await
        .expect("artifact");
    let path = ArtifactPath::parse("f").expect("path");

    expect_not_found(store.get_experiment(&b, exp.id).await, Entity::Experiment);
    expect_not_found(
        store.get_experiment_by_name(&b, "secret").await,
        Entity::Experiment,
    );
    expect_not_found(
        store.rename_experiment(&b, exp.id, "mine").await,
        Entity::Experiment,
    );
    expect_not_found(
        store.set_experiment_tag(&b, exp.id, tag("k", "v")).await,
        Entity::Experiment,
    );
    expect_not_found(
        store
            .set_experiment_lifecycle(&b, exp.id, LifecycleStage::Deleted)
            .await,
        Entity::Experiment,
    );
    expect_not_found(
        store.create_run(&b, new_run(exp.id, 1)).await,
        Entity::Experiment,
    );
    expect_not_found(store.get_run(&b, id).await, Entity::Run);
    expect_not_found(
        store.update_run(&b, id, RunUpdate::default()).await,
        Entity::Run,
    );
    expect_not_found(
        store
            .set_run_lifecycle(&b, id, LifecycleStage::Deleted)
            .await,
        Entity::Run,
    );
    expect_not_found(
        store.log_batch(&b, id, LogBatch::default()).await,
        Entity::Run,
    );
    expect_not_found(store.delete_run_tag(&b, id, "k").await, Entity::Run);
    expect_not_found(
        store.metric_history(&b, id, "m", &page(0, None)).await,
        Entity::Run,
    );
    expect_not_found(
        store.metric_history_sampled(&b, id, "m", 10).await,
        Entity::Run,
    );
    expect_not_found(store.append_log(&b, id, "x").await, Entity::Run);
    expect_not_found(store.read_log(&b, id, 0, 10).await, Entity::Run);
    expect_not_found(
        store.record_artifact(&b, id, artifact("g", 1)).await,
        Entity::Run,
    );
    expect_not_found(store.get_artifact(&b, id, &path).await, Entity::Run);
    expect_not_found(
        store.list_artifacts(&b, id, &ArtifactPath::root()).await,
        Entity::Run,
    );
    expect_not_found(store.delete_artifact(&b, id, &path).await, Entity::Run);
    let listed = store
        .list_runs(
            &b,
            &RunQuery {
                experiment_ids: vec![exp.id],
                view: ViewType::All,
                ..RunQuery::default()
            },
            &page(0, None),
        )
        .await
        .expect("list");
    assert!(listed.items.is_empty());
    // Nothing leaked into workspace a.
    let still = store.get_experiment(&a, exp.id).await.expect("get");
    assert_eq!(still.name, "secret");
    assert!(still.tags.is_empty());
}
