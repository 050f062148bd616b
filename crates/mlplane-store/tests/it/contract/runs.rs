//! Contract checks for runs: creation, reads, listing, updates and lifecycle.
//!
//! Invariants:
//! - each check starts from a fresh store and asserts on variants, not messages.

use super::*;
use mlplane_core::{LifecycleStage, RunId, RunInfo, RunUpdate, ViewType, default_run_name};
use mlplane_store::RunQuery;

async fn list_all(store: &Store, q: &RunQuery) -> Vec<RunInfo> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let p = store.list_runs(&default_ws(), q, &page(2, token)).await.expect("runs page");
        assert!(p.items.len() <= 2);
        out.extend(p.items);
        match p.next_page_token {
            Some(t) => token = Some(t),
            None => return out,
        }
    }
}

fn ids(runs: &[RunInfo]) -> Vec<RunId> {
    runs.iter().map(|r| r.id.clone()).collect()
}

pub async fn run_gets_an_id_a_default_name_and_an_artifact_uri(store: Store) {
    let exp = create_exp(&store, &default_ws(), "e").await;
    let run = store.create_run(&default_ws(), new_run(exp.id, 1234)).await.expect("run");
    let i = &run.info;
    assert_eq!(i.id.as_str().len(), 32);
    assert_eq!(i.name, default_run_name(&i.id));
    assert_eq!(i.experiment_id, exp.id);
    assert_eq!(i.workspace, default_ws());
    assert_eq!(i.user, "alice");
    assert_eq!(i.status, RunStatus::Running);
    assert_eq!(i.start_time, 1234);
    assert_eq!(i.end_time, None);
    assert_eq!(i.lifecycle_stage, LifecycleStage::Active);
    assert_eq!(i.parent_run_id, None);
    assert_eq!(i.artifact_uri, format!("mlplane-artifacts:/default/{}/{}/artifacts", exp.id, i.id));
    assert!(run.params.is_empty() && run.tags.is_empty() && run.metrics.is_empty());
    assert_eq!(store.get_run(&default_ws(), &i.id).await.expect("get"), run);

    let named = store
        .create_run(
            &default_ws(),
            NewRun {
                name: Some("my run".into()),
                status: RunStatus::Queued,
                ..new_run(exp.id, 5)
            },
        )
        .await
        .expect("run");
    assert_eq!(named.info.name, "my run");
    assert_eq!(named.info.status, RunStatus::Queued);
    assert_ne!(named.info.id, run.info.id);
    expect_not_found(store.get_run(&default_ws(), &RunId::generate()).await, Entity::Run);
}

pub async fn run_in_missing_or_deleted_experiment_is_refused(store: Store) {
    expect_not_found(
        store.create_run(&default_ws(), new_run(ExperimentId(987_654), 1)).await,
        Entity::Experiment,
    );
    let exp = create_exp(&store, &default_ws(), "e").await;
    store
        .set_experiment_lifecycle(&default_ws(), exp.id, LifecycleStage::Deleted)
        .await
        .expect("delete");
    expect_invalid_state(store.create_run(&default_ws(), new_run(exp.id, 1)).await);
    let runs = store
        .list_runs(
            &default_ws(),
            &RunQuery {
                view: ViewType::All,
                ..RunQuery::default()
            },
            &page(0, None),
        )
        .await
        .expect("list");
    assert!(runs.items.is_empty());
}

pub async fn parent_run_must_exist_in_the_same_workspace(store: Store) {
    let team = ws("team");
    store.create_workspace(&team, "").await.expect("workspace");
    let team_default = store.get_experiment_by_name(&team, "Default").await.expect("default");
    let foreign = store.create_run(&team, new_run(team_default.id, 1)).await.expect("run");
    let exp = create_exp(&store, &default_ws(), "e").await;
    for parent in [foreign.info.id.clone(), RunId::generate()] {
        expect_not_found(
            store
                .create_run(
                    &default_ws(),
                    NewRun {
                        parent_run_id: Some(parent),
                        ..new_run(exp.id, 1)
                    },
                )
                .await,
            Entity::Run,
        );
    }
    let parent = store.create_run(&default_ws(), new_run(exp.id, 1)).await.expect("parent");
    let child = store
        .create_run(
            &default_ws(),
            NewRun {
                parent_run_id: Some(parent.info.id.clone()),
                ..new_run(exp.id, 2)
            },
        )
        .await
        .expect("child");
    assert_eq!(child.info.parent_run_id.as_ref(), Some(&parent.info.id));
}

pub async fn new_run_tags_are_stored_like_set_tags(store: Store) {
    let exp = create_exp(&store, &default_ws(), "e").await;
    let run = store
        .create_run(
            &default_ws(),
            NewRun {
                tags: vec![tag("z", "1"), tag("mlflow.user", "bob"), tag("a", "2")],
                ..new_run(exp.id, 1)
            },
        )
        .await
        .expect("run");
    let expected = vec![tag("a", "2"), tag("mlflow.user", "bob"), tag("z", "1")];
    assert_eq!(run.tags, expected);
    let got = store.get_run(&default_ws(), &run.info.id).await.expect("get");
    assert_eq!(got.tags, expected);
    store.delete_run_tag(&default_ws(), &run.info.id, "z").await.expect("tags from creation are deletable");
}

pub async fn get_run_returns_sorted_params_tags_and_latest_metrics(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    let batch = LogBatch {
        params: vec![param("zeta", "1"), param("alpha", "2"), param("Beta", "3")],
        tags: vec![tag("t2", "b"), tag("t1", "a")],
        metrics: vec![
            metric("loss", 1, 100, 0.9),
            metric("loss", 3, 100, 0.5),
            metric("loss", 2, 500, 0.7),
            metric("acc", 0, 10, 0.1),
        ],
    };
    store.log_batch(&default_ws(), id, batch).await.expect("batch");
    // A later batch with an older step does not become the latest value; an equal
    // (step, timestamp) does, as the later insertion.
    store
        .log_batch(
            &default_ws(),
            id,
            metrics_batch(vec![metric("loss", 0, 999, 9.0), metric("acc", 0, 10, 0.2)]),
        )
        .await
        .expect("batch");
    let got = store.get_run(&default_ws(), id).await.expect("get");
    assert_eq!(
        got.params,
        vec![param("Beta", "3"), param("alpha", "2"), param("zeta", "1")]
    );
    assert_eq!(got.tags, vec![tag("t1", "a"), tag("t2", "b")]);
    assert_eq!(
        got.metrics,
        vec![metric("acc", 0, 10, 0.2), metric("loss", 3, 100, 0.5)]
    );
    // Same (step, timestamp) inside one batch: the later one wins too.
    store
        .log_batch(
            &default_ws(),
            id,
            metrics_batch(vec![metric("loss", 3, 100, 1.5), metric("loss", 3, 100, 2.5)]),
        )
        .await
        .expect("batch");
    let got = store.get_run(&default_ws(), id).await.expect("get");
    assert_eq!(got.metrics[1], metric("loss", 3, 100, 2.5));
    // Higher timestamp at the same step wins over insertion order.
    store
        .log_batch(
            &default_ws(),
            id,
            metrics_batch(vec![metric("loss", 3, 101, 3.5), metric("loss", 3, 100, 4.5)]),
        )
        .await
        .expect("batch");
    let got = store.get_run(&default_ws(), id).await.expect("get");
    assert_eq!(got.metrics[1], metric("loss", 3, 101, 3.5));
}

pub async fn list_runs_orders_by_start_time_then_id_and_pages(store: Store) {
    let exp = create_exp(&store, &default_ws(), "e").await;
    let mut created = Vec::new();
    for t in [5, 5, 7, 1, 5, 7, 3] {
        created.push(store.create_run(&default_ws(), new_run(exp.id, t)).await.expect("run").info);
    }
    created.sort_by(|a, b| b.start_time.cmp(&a.start_time).then_with(|| a.id.cmp(&b.id)));
    let q = RunQuery {
        experiment_ids: vec![exp.id],
        ..RunQuery::default()
    };
    let all = store.list_runs(&default_ws(), &q, &page(0, None)).await.expect("list");
    assert_eq!(all.items, created);
    assert_eq!(all.next_page_token, None);
    assert_eq!(list_all(&store, &q).await, created);
    // An empty experiment list means every experiment of the workspace.
    assert_eq!(ids(&list_all(&store, &RunQuery::default()).await), ids(&created));
}

pub async fn list_runs_filters_by_experiment_status_view_and_parent(store: Store) {
    let e1 = create_exp(&store, &default_ws(), "e1").await;
    let e2 = create_exp(&store, &default_ws(), "e2").await;
    let parent = store.create_run(&default_ws(), new_run(e1.id, 10)).await.expect("run").info;
    let child = store
        .create_run(
            &default_ws(),
            NewRun {
                parent_run_id: Some(parent.id.clone()),
                status: RunStatus::Finished,
                ..new_run(e1.id, 9)
            },
        )
        .await
        .expect("run")
        .info;
    let other = store
        .create_run(
            &default_ws(),
            NewRun {
                status: RunStatus::Failed,
                ..new_run(e2.id, 8)
            },
        )
        .await
        .expect("run")
        .info;
    let gone = store.create_run(&default_ws(), new_run(e2.id, 7)).await.expect("run").info;
    store
        .set_run_lifecycle(&default_ws(), &gone.id, LifecycleStage::Deleted)
        .await
        .expect("delete");
    let q = |f: fn(&mut RunQuery)| {
        let mut q = RunQuery::default();
        f(&mut q);
        q
    };
    assert_eq!(ids(&list_all(&store, &q(|_| {})).await), ids(&[parent.clone(), child.clone(), other.clone()]));
    let by_exp = RunQuery {
        experiment_ids: vec![e2.id],
        ..RunQuery::default()
    };
    assert_eq!(ids(&list_all(&store, &by_exp).await), vec![other.id.clone()]);
    let both = RunQuery {
        experiment_ids: vec![e2.id, e1.id],
        view: ViewType::All,
        ..RunQuery::default()
    };
    assert_eq!(list_all(&store, &both).await.len(), 4);
    assert_eq!(
        ids(&list_all(&store, &q(|q| q.view = ViewType::DeletedOnly)).await),
        vec![gone.id.clone()]
    );
    assert_eq!(
        ids(&list_all(&store, &q(|q| q.statuses = vec![RunStatus::Finished, RunStatus::Failed])).await),
        vec![child.id.clone(), other.id.clone()]
    );
    let by_parent = RunQuery {
        parent_run_id: Some(parent.id.clone()),
        ..RunQuery::default()
    };
    assert_eq!(ids(&list_all(&store, &by_parent).await), vec![child.id.clone()]);
    let unknown_exp = RunQuery {
        experiment_ids: vec![ExperimentId(555_555)],
        ..RunQuery::default()
    };
    assert!(list_all(&store, &unknown_exp).await.is_empty());
}

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
    assert!(before <= end && end <= after, "end_time {end} not in [{before}, {after}]");

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
    assert_eq!(store.get_run(&default_ws(), id).await.expect("get").info, renamed);
    expect_not_found(
        store.update_run(&default_ws(), &RunId::generate(), RunUpdate::default()).await,
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
    store.update_run(&default_ws(), id, to(RunStatus::Running)).await.expect("start");
    expect_invalid_state(store.update_run(&default_ws(), id, to(RunStatus::Queued)).await);
    store.update_run(&default_ws(), id, to(RunStatus::Killed)).await.expect("kill");
    expect_invalid_state(store.update_run(&default_ws(), id, to(RunStatus::Queued)).await);
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
    store.record_artifact(&default_ws(), id, artifact("a.txt", 1)).await.expect("artifact");
    store.append_log(&default_ws(), id, "before\n").await.expect("log");
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
    expect_invalid_state(store.log_batch(&ws, id, metrics_batch(vec![metric("m", 0, 0, 1.0)])).await);
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
    assert_eq!(store.read_log(&ws, id, 0, 1024).await.expect("read").data, "before\n");
    store.get_artifact(&ws, id, &path).await.expect("artifact still there");
    // Once restored, writes work again.
    store.set_run_lifecycle(&ws, id, LifecycleStage::Active).await.expect("restore");
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
    store.delete_run_tag(&default_ws(), id, "k").await.expect("delete");
    assert!(matches!(
        store.delete_run_tag(&default_ws(), id, "k").await,
        Err(StoreError::NotFound { .. })
    ));
    expect_not_found(store.delete_run_tag(&default_ws(), &RunId::generate(), "k").await, Entity::Run);
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
    store.record_artifact(&a, id, artifact("f", 1)).await.expect("artifact");
    let path = ArtifactPath::parse("f").expect("path");

    expect_not_found(store.get_experiment(&b, exp.id).await, Entity::Experiment);
    expect_not_found(store.get_experiment_by_name(&b, "secret").await, Entity::Experiment);
    expect_not_found(store.rename_experiment(&b, exp.id, "mine").await, Entity::Experiment);
    expect_not_found(store.set_experiment_tag(&b, exp.id, tag("k", "v")).await, Entity::Experiment);
    expect_not_found(
        store.set_experiment_lifecycle(&b, exp.id, LifecycleStage::Deleted).await,
        Entity::Experiment,
    );
    expect_not_found(store.create_run(&b, new_run(exp.id, 1)).await, Entity::Experiment);
    expect_not_found(store.get_run(&b, id).await, Entity::Run);
    expect_not_found(store.update_run(&b, id, RunUpdate::default()).await, Entity::Run);
    expect_not_found(store.set_run_lifecycle(&b, id, LifecycleStage::Deleted).await, Entity::Run);
    expect_not_found(store.log_batch(&b, id, LogBatch::default()).await, Entity::Run);
    expect_not_found(store.delete_run_tag(&b, id, "k").await, Entity::Run);
    expect_not_found(store.metric_history(&b, id, "m", &page(0, None)).await, Entity::Run);
    expect_not_found(store.metric_history_sampled(&b, id, "m", 10).await, Entity::Run);
    expect_not_found(store.append_log(&b, id, "x").await, Entity::Run);
    expect_not_found(store.read_log(&b, id, 0, 10).await, Entity::Run);
    expect_not_found(store.record_artifact(&b, id, artifact("g", 1)).await, Entity::Run);
    expect_not_found(store.get_artifact(&b, id, &path).await, Entity::Run);
    expect_not_found(store.list_artifacts(&b, id, &ArtifactPath::root()).await, Entity::Run);
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
