//! Contract checks for runs: creation, reads and listing.
//!
//! Invariants:
//! - each check starts from a fresh store and asserts on variants, not messages.

use super::*;
use mlplane_core::{LifecycleStage, RunId, RunInfo, ViewType, default_run_name};
use mlplane_store::RunQuery;

async fn list_all(store: &Store, q: &RunQuery) -> Vec<RunInfo> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let p = store
            .list_runs(&default_ws(), q, &page(2, token))
            .await
            .expect("runs page");
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
    let run = store
        .create_run(&default_ws(), new_run(exp.id, 1234))
        .await
        .expect("run");
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
    assert_eq!(
        i.artifact_uri,
        format!("mlplane-artifacts:/default/{}/{}/artifacts", exp.id, i.id)
    );
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
    expect_not_found(
        store.get_run(&default_ws(), &RunId::generate()).await,
        Entity::Run,
    );
}

pub async fn run_in_missing_or_deleted_experiment_is_refused(store: Store) {
    expect_not_found(
        store
            .create_run(&default_ws(), new_run(ExperimentId(987_654), 1))
            .await,
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
    let team_default = store
        .get_experiment_by_name(&team, "Default")
        .await
        .expect("default");
    let foreign = store
        .create_run(&team, new_run(team_default.id, 1))
        .await
        .expect("run");
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
    let parent = store
        .create_run(&default_ws(), new_run(exp.id, 1))
        .await
        .expect("parent");
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
    let got = store
        .get_run(&default_ws(), &run.info.id)
        .await
        .expect("get");
    assert_eq!(got.tags, expected);
    store
        .delete_run_tag(&default_ws(), &run.info.id, "z")
        .await
        .expect("tags from creation are deletable");
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
    store
        .log_batch(&default_ws(), id, batch)
        .await
        .expect("batch");
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
            metrics_batch(vec![
                metric("loss", 3, 100, 1.5),
                metric("loss", 3, 100, 2.5),
            ]),
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
            metrics_batch(vec![
                metric("loss", 3, 101, 3.5),
                metric("loss", 3, 100, 4.5),
            ]),
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
        created.push(
            store
                .create_run(&default_ws(), new_run(exp.id, t))
                .await
                .expect("run")
                .info,
        );
    }
    created.sort_by(|a, b| {
        b.start_time
            .cmp(&a.start_time)
            .then_with(|| a.id.cmp(&b.id))
    });
    let q = RunQuery {
        experiment_ids: vec![exp.id],
        ..RunQuery::default()
    };
    let all = store
        .list_runs(&default_ws(), &q, &page(0, None))
        .await
        .expect("list");
    assert_eq!(all.items, created);
    assert_eq!(all.next_page_token, None);
    assert_eq!(list_all(&store, &q).await, created);
    // An empty experiment list means every experiment of the workspace.
    assert_eq!(
        ids(&list_all(&store, &RunQuery::default()).await),
        ids(&created)
    );
}

pub async fn list_runs_filters_by_experiment_status_view_and_parent(store: Store) {
    let e1 = create_exp(&store, &default_ws(), "e1").await;
    let e2 = create_exp(&store, &default_ws(), "e2").await;
    let parent = store
        .create_run(&default_ws(), new_run(e1.id, 10))
        .await
        .expect("run")
        .info;
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
    let gone = store
        .create_run(&default_ws(), new_run(e2.id, 7))
        .await
        .expect("run")
        .info;
    store
        .set_run_lifecycle(&default_ws(), &gone.id, LifecycleStage::Deleted)
        .await
        .expect("delete");
    let q = |f: fn(&mut RunQuery)| {
        let mut q = RunQuery::default();
        f(&mut q);
        q
    };
    assert_eq!(
        ids(&list_all(&store, &q(|_| {})).await),
        ids(&[parent.clone(), child.clone(), other.clone()])
    );
    let by_exp = RunQuery {
        experiment_ids: vec![e2.id],
        ..RunQuery::default()
    };
    assert_eq!(
        ids(&list_all(&store, &by_exp).await),
        vec![other.id.clone()]
    );
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
        ids(&list_all(
            &store,
            &q(|q| q.statuses = vec![RunStatus::Finished, RunStatus::Failed])
        )
        .await),
        vec![child.id.clone(), other.id.clone()]
    );
    let by_parent = RunQuery {
        parent_run_id: Some(parent.id.clone()),
        ..RunQuery::default()
    };
    assert_eq!(
        ids(&list_all(&store, &by_parent).await),
        vec![child.id.clone()]
    );
    let unknown_exp = RunQuery {
        experiment_ids: vec![ExperimentId(555_555)],
        ..RunQuery::default()
    };
    assert!(list_all(&store, &unknown_exp).await.is_empty());
}
