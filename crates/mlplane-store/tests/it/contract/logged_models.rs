//! Contract checks for MLflow 3 logged models, their metrics and their artifact records.
//!
//! Invariants:
//! - each check starts from a fresh store and asserts on variants, not messages.

use super::*;
use mlplane_core::logged_model::{ModelDatasetFilter, ModelOrder, ModelOrderField};
use mlplane_core::search::parse_logged_model_filter;
use mlplane_core::{
    LoggedModel, LoggedModelId, LoggedModelStatus, ModelMetricLink, NewLoggedModel, RunId,
};
use mlplane_store::LoggedModelQuery;

fn new_model(exp: ExperimentId, name: &str) -> NewLoggedModel {
    NewLoggedModel {
        experiment_id: exp,
        name: Some(name.into()),
        model_type: Some("sklearn".into()),
        source_run_id: None,
        params: vec![param("alpha", "0.1")],
        tags: vec![tag("team", "a")],
    }
}

fn query(exps: &[ExperimentId], filter: &str, order: Vec<ModelOrder>) -> LoggedModelQuery {
    LoggedModelQuery {
        experiment_ids: exps.to_vec(),
        filter: parse_logged_model_filter(filter).expect("test filters parse"),
        filter_text: filter.into(),
        order,
        datasets: Vec::new(),
    }
}

fn link(model: &LoggedModelId, m: &Metric, dataset: Option<(&str, &str)>) -> ModelMetricLink {
    ModelMetricLink {
        model_id: model.clone(),
        metric: m.clone(),
        dataset_name: dataset.map(|d| d.0.to_string()),
        dataset_digest: dataset.map(|d| d.1.to_string()),
    }
}

/// Logs `metrics` to `run`, each also to `model` on `dataset`.
async fn log_to_model(
    store: &Store,
    run: &RunId,
    model: &LoggedModelId,
    metrics: Vec<Metric>,
    dataset: Option<(&str, &str)>,
) {
    let links = metrics.iter().map(|m| link(model, m, dataset)).collect();
    store
        .log_batch_with_model_metrics(&default_ws(), run, metrics_batch(metrics), links)
        .await
        .expect("log batch with model metrics");
}

/// `(key, value bits, timestamp, step, dataset name)` of a model's metrics.
async fn model_metrics(
    store: &Store,
    id: &LoggedModelId,
) -> Vec<(String, u64, i64, i64, Option<String>)> {
    store
        .get_logged_model(&default_ws(), id)
        .await
        .expect("get model")
        .metrics
        .into_iter()
        .map(|m| {
            (
                m.key,
                m.value.to_bits(),
                m.timestamp,
                m.step,
                m.dataset_name,
            )
        })
        .collect()
}

pub async fn logged_model_metrics_come_from_run_batches_linked_to_the_model(store: Store) {
    let ws = default_ws();
    let run = fresh_run(&store).await;
    let model = store
        .create_logged_model(&ws, new_model(run.info.experiment_id, "clf"))
        .await
        .expect("create");
    assert!(model.metrics.is_empty());
    let acc = metric("acc", 0, 10, 0.5);
    let nan = metric("acc", 1, 20, f64::NAN);
    let loss = metric("loss", 0, 10, 1.0);
    let mut batch = metrics_batch(vec![acc.clone(), nan.clone(), loss.clone()]);
    batch.params = vec![param("lr", "0.1")];
    let links = vec![
        link(&model.id, &acc, Some(("eval", "d1"))),
        link(&model.id, &nan, Some(("eval", "d1"))),
        link(&model.id, &loss, None),
    ];
    store
        .log_batch_with_model_metrics(&ws, &run.info.id, batch, links)
        .await
        .expect("log");
    let eval = Some("eval".to_string());
    let want = vec![
        ("acc".to_string(), 0.5f64.to_bits(), 10, 0, eval.clone()),
        ("acc".to_string(), f64::NAN.to_bits(), 20, 1, eval.clone()),
        ("loss".to_string(), 1.0f64.to_bits(), 10, 0, None),
    ];
    assert_eq!(model_metrics(&store, &model.id).await, want);
    let got = store.get_logged_model(&ws, &model.id).await.expect("get");
    assert!(got.metrics.iter().all(|m| m.run_id == run.info.id));
    assert_eq!(got.metrics[0].dataset_digest.as_deref(), Some("d1"));
    // The run got the whole batch as a plain log_batch would.
    let r = store.get_run(&ws, &run.info.id).await.expect("run");
    assert_eq!(r.params, vec![param("lr", "0.1")]);
    let history = store
        .metric_history(&ws, &run.info.id, "acc", &page(0, None))
        .await
        .expect("history");
    assert_eq!(history.items.len(), 2);
    // The same (key, timestamp, step, run) again keeps the model's first value.
    log_to_model(
        &store,
        &run.info.id,
        &model.id,
        vec![metric("acc", 0, 10, 0.7)],
        None,
    )
    .await;
    assert_eq!(model_metrics(&store, &model.id).await, want);
    // A missing, deleted or foreign model refuses the whole batch.
    let before = store
        .metric_history(&ws, &run.info.id, "acc", &page(0, None))
        .await
        .expect("history")
        .items
        .len();
    let gone = store
        .create_logged_model(&ws, new_model(run.info.experiment_id, "gone"))
        .await
        .expect("create");
    store
        .delete_logged_model(&ws, &gone.id)
        .await
        .expect("delete");
    let team = super::ws("team-b");
    store.create_workspace(&team, "").await.expect("ws");
    let team_exp = create_exp(&store, &team, "e").await;
    let foreign = store
        .create_logged_model(&team, new_model(team_exp.id, "theirs"))
        .await
        .expect("create");
    for id in [LoggedModelId::generate(), gone.id, foreign.id] {
        let m = metric("acc", 5, 50, 0.9);
        let mut batch = metrics_batch(vec![m.clone()]);
        batch.params = vec![param("new", "x")];
        expect_not_found(
            store
                .log_batch_with_model_metrics(&ws, &run.info.id, batch, vec![link(&id, &m, None)])
                .await,
            Entity::LoggedModel,
        );
    }
    let after = store
        .metric_history(&ws, &run.info.id, "acc", &page(0, None))
        .await
        .expect("history");
    assert_eq!(after.items.len(), before);
    let r = store.get_run(&ws, &run.info.id).await.expect("run");
    assert_eq!(r.params, vec![param("lr", "0.1")]);
}

pub async fn logged_model_search_filters_and_orders_by_metrics(store: Store) {
    let ws = default_ws();
    let run = fresh_run(&store).await;
    let exp = run.info.experiment_id;
    let mut ids = Vec::new();
    for name in ["a", "b", "c", "none"] {
        let m = store
            .create_logged_model(&ws, new_model(exp, name))
            .await
            .expect("create");
        ids.push(m.id);
    }
    // a: latest acc 0.2 (an older 0.95); b: 0.8 on eval, 0.1 on train (later); c: 0.6.
    log_to_model(
        &store,
        &run.info.id,
        &ids[0],
        vec![metric("acc", 0, 1, 0.95)],
        None,
    )
    .await;
    log_to_model(
        &store,
        &run.info.id,
        &ids[0],
        vec![metric("acc", 1, 2, 0.2)],
        None,
    )
    .await;
    log_to_model(
        &store,
        &run.info.id,
        &ids[1],
        vec![metric("acc", 0, 1, 0.8)],
        Some(("eval", "d1")),
    )
    .await;
    log_to_model(
        &store,
        &run.info.id,
        &ids[1],
        vec![metric("acc", 0, 3, 0.1)],
        Some(("train", "d2")),
    )
    .await;
    log_to_model(
        &store,
        &run.info.id,
        &ids[2],
        vec![metric("acc", 0, 1, 0.6)],
        Some(("eval", "d1")),
    )
    .await;
    let by_acc = |ascending, dataset: Option<&str>| {
        vec![ModelOrder {
            field: ModelOrderField::Metric {
                key: "acc".into(),
                dataset_name: dataset.map(String::from),
                dataset_digest: None,
            },
            ascending,
        }]
    };
    // Any stored value may match a clause.
    assert_eq!(
        names(
            &store,
            &query(
                &[exp],
                "metrics.acc > 0.7",
                vec![ModelOrder {
                    field: ModelOrderField::Name,
                    ascending: true
                }]
            )
        )
        .await,
        ["a", "b"]
    );
    // Ordered by the latest value; models without the metric last in both directions.
    assert_eq!(
        names(&store, &query(&[exp], "", by_acc(false, None))).await,
        ["c", "a", "b", "none"]
    );
    assert_eq!(
        names(&store, &query(&[exp], "", by_acc(true, None))).await,
        ["b", "a", "c", "none"]
    );
    // On "eval" only b and c have acc; a and "none" follow in some order of their own.
    let on_eval = names(&store, &query(&[exp], "", by_acc(false, Some("eval")))).await;
    assert_eq!(on_eval[..2], ["b", "c"]);
    assert_eq!(on_eval.len(), 4);
    // A datasets restriction applies to metric clauses, and without them to the model.
    let mut q = query(&[exp], "metrics.acc < 0.7", by_acc(true, Some("eval")));
    q.datasets = vec![ModelDatasetFilter {
        name: "eval".into(),
        digest: None,
    }];
    assert_eq!(names(&store, &q).await, ["c"]);
    let mut q = query(&[exp], "", by_acc(true, Some("eval")));
    q.datasets = vec![ModelDatasetFilter {
        name: "train".into(),
        digest: Some("d2".into()),
    }];
    assert_eq!(names(&store, &q).await, ["b"]);
    q.datasets[0].digest = Some("other".into());
    assert!(names(&store, &q).await.is_empty());
}

async fn names(store: &Store, q: &LoggedModelQuery) -> Vec<String> {
    store
        .search_logged_models(&default_ws(), q, &page(0, None))
        .await
        .expect("search")
        .items
        .into_iter()
        .map(|m| m.name)
        .collect()
}

pub async fn logged_models_are_created_finalized_and_deleted(store: Store) {
    let run = fresh_run(&store).await;
    let mut m = new_model(run.info.experiment_id, "clf");
    m.source_run_id = Some(run.info.id.clone());
    let created = store
        .create_logged_model(&default_ws(), m)
        .await
        .expect("create");
    assert!(created.id.as_str().starts_with("m-"));
    assert_eq!(created.status, LoggedModelStatus::Pending);
    assert_eq!(created.source_run_id.as_ref(), Some(&run.info.id));
    assert_eq!(created.params, vec![param("alpha", "0.1")]);
    assert!(created.artifact_location.ends_with(&format!(
        "/{}/models/{}/artifacts",
        run.info.experiment_id, created.id
    )));
    let got: LoggedModel = store
        .get_logged_model(&default_ws(), &created.id)
        .await
        .expect("get");
    assert_eq!(got, created);
    let ready = store
        .finalize_logged_model(&default_ws(), &created.id, LoggedModelStatus::Ready, None)
        .await
        .expect("finalize");
    assert_eq!(ready.status, LoggedModelStatus::Ready);
    assert!(ready.updated_ms >= created.updated_ms);
    store
        .delete_logged_model(&default_ws(), &created.id)
        .await
        .expect("delete");
    expect_not_found(
        store.get_logged_model(&default_ws(), &created.id).await,
        Entity::LoggedModel,
    );
    expect_not_found(
        store.delete_logged_model(&default_ws(), &created.id).await,
        Entity::LoggedModel,
    );
    expect_not_found(
        store
            .get_logged_model(&default_ws(), &LoggedModelId::generate())
            .await,
        Entity::LoggedModel,
    );
}

pub async fn logged_models_need_a_live_experiment_and_a_run_of_the_workspace(store: Store) {
    let other = ws("other");
    store.create_workspace(&other, "").await.expect("workspace");
    let foreign = create_exp(&store, &other, "theirs").await;
    expect_not_found(
        store
            .create_logged_model(&default_ws(), new_model(foreign.id, "x"))
            .await,
        Entity::Experiment,
    );
    let foreign_run = store
        .create_run(&other, new_run(foreign.id, 1))
        .await
        .expect("run");
    let exp = create_exp(&store, &default_ws(), "mine").await;
    let mut m = new_model(exp.id, "x");
    m.source_run_id = Some(foreign_run.info.id.clone());
    expect_not_found(
        store.create_logged_model(&default_ws(), m).await,
        Entity::Run,
    );
    let theirs = store
        .create_logged_model(&other, new_model(foreign.id, "t"))
        .await
        .expect("create in other");
    expect_not_found(
        store.get_logged_model(&default_ws(), &theirs.id).await,
        Entity::LoggedModel,
    );
    store
        .set_experiment_lifecycle(&default_ws(), exp.id, mlplane_core::LifecycleStage::Deleted)
        .await
        .expect("delete experiment");
    expect_invalid_state(
        store
            .create_logged_model(&default_ws(), new_model(exp.id, "y"))
            .await,
    );
}

pub async fn logged_model_params_are_immutable_and_tags_replaceable(store: Store) {
    let exp = create_exp(&store, &default_ws(), "e").await;
    let m = store
        .create_logged_model(&default_ws(), new_model(exp.id, "clf"))
        .await
        .expect("create");
    let ws = default_ws();
    store
        .log_logged_model_params(&ws, &m.id, vec![param("alpha", "0.1"), param("beta", "2")])
        .await
        .expect("same value again is fine");
    match store
        .log_logged_model_params(&ws, &m.id, vec![param("alpha", "0.2")])
        .await
    {
        Err(StoreError::ParamConflict { key, .. }) => assert_eq!(key, "alpha"),
        other => panic!("expected ParamConflict, got {other:?}"),
    }
    store
        .set_logged_model_tags(&ws, &m.id, vec![tag("team", "b"), tag("x", "1")])
        .await
        .expect("tags");
    store
        .delete_logged_model_tag(&ws, &m.id, "x")
        .await
        .expect("delete tag");
    expect_not_found(
        store.delete_logged_model_tag(&ws, &m.id, "x").await,
        Entity::LoggedModel,
    );
    let got = store.get_logged_model(&ws, &m.id).await.expect("get");
    assert_eq!(got.params, vec![param("alpha", "0.1"), param("beta", "2")]);
    assert_eq!(got.tags, vec![tag("team", "b")]);
}

pub async fn logged_model_search_filters_orders_and_pages(store: Store) {
    let ws = default_ws();
    let exp = create_exp(&store, &ws, "e").await;
    let other = create_exp(&store, &ws, "f").await;
    for name in ["b", "a", "c"] {
        let m = store
            .create_logged_model(&ws, new_model(exp.id, name))
            .await
            .expect("create");
        if name == "a" {
            store
                .finalize_logged_model(&ws, &m.id, LoggedModelStatus::Ready, None)
                .await
                .expect("finalize");
            store
                .set_logged_model_tags(&ws, &m.id, vec![tag("team", "z")])
                .await
                .expect("tag");
        }
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    store
        .create_logged_model(&ws, new_model(other.id, "elsewhere"))
        .await
        .expect("create");
    let by_name = |ascending| {
        vec![ModelOrder {
            field: ModelOrderField::Name,
            ascending,
        }]
    };
    assert_eq!(
        names(&store, &query(&[exp.id], "", vec![])).await,
        ["c", "a", "b"]
    );
    assert_eq!(
        names(&store, &query(&[exp.id], "", by_name(true))).await,
        ["a", "b", "c"]
    );
    assert_eq!(
        names(&store, &query(&[exp.id, other.id], "", by_name(false))).await,
        ["elsewhere", "c", "b", "a"]
    );
    assert_eq!(
        names(
            &store,
            &query(&[exp.id], "status = 'LOGGED_MODEL_READY'", vec![])
        )
        .await,
        ["a"]
    );
    assert_eq!(
        names(
            &store,
            &query(&[exp.id], "tags.team = 'a' AND name != 'b'", vec![])
        )
        .await,
        ["c"]
    );
    assert_eq!(
        names(
            &store,
            &query(&[exp.id], "params.alpha = '0.1'", by_name(true))
        )
        .await,
        ["a", "b", "c"]
    );
    let q = query(&[exp.id], "", by_name(true));
    let first = store
        .search_logged_models(&ws, &q, &page(2, None))
        .await
        .expect("page 1");
    assert_eq!(first.items.len(), 2);
    let token = first.next_page_token.expect("a second page");
    let second = store
        .search_logged_models(&ws, &q, &page(2, Some(token.clone())))
        .await
        .expect("page 2");
    assert_eq!(second.items[0].name, "c");
    assert!(second.next_page_token.is_none());
    let other_q = query(&[exp.id], "name = 'a'", by_name(true));
    assert!(matches!(
        store
            .search_logged_models(&ws, &other_q, &page(2, Some(token)))
            .await,
        Err(StoreError::PageToken(_))
    ));
    expect_invalid(
        store.search_logged_models(&ws, &q, &page(51, None)).await,
        "max_results",
    );
    expect_invalid(
        store
            .search_logged_models(&ws, &query(&[], "", vec![]), &page(0, None))
            .await,
        "experiment_ids",
    );
}

pub async fn logged_model_artifacts_are_recorded_listed_and_deleted(store: Store) {
    let ws = default_ws();
    let exp = create_exp(&store, &ws, "e").await;
    let m = store
        .create_logged_model(&ws, new_model(exp.id, "clf"))
        .await
        .expect("create");
    for (p, size) in [("MLmodel", 10), ("model.pkl", 20), ("env/conda.yaml", 5)] {
        store
            .record_model_artifact(&ws, &m.id, artifact(p, size))
            .await
            .expect("record");
    }
    let root = store
        .list_model_artifacts(&ws, &m.id, &ArtifactPath::root())
        .await
        .expect("list");
    assert_eq!(root.dirs, ["env"]);
    let files: Vec<&str> = root.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(files, ["MLmodel", "model.pkl"]);
    let env = ArtifactPath::parse("env").expect("path");
    let sub = store
        .list_model_artifacts(&ws, &m.id, &env)
        .await
        .expect("list env");
    assert_eq!(sub.files[0].path.as_str(), "env/conda.yaml");
    let pkl = ArtifactPath::parse("model.pkl").expect("path");
    assert_eq!(
        store
            .get_model_artifact(&ws, &m.id, &pkl)
            .await
            .expect("get")
            .size,
        20
    );
    store
        .delete_model_artifact(&ws, &m.id, &pkl)
        .await
        .expect("delete");
    expect_not_found(
        store.get_model_artifact(&ws, &m.id, &pkl).await,
        Entity::Artifact,
    );
    expect_not_found(
        store
            .list_model_artifacts(&super::ws("nope"), &m.id, &ArtifactPath::root())
            .await,
        Entity::Workspace,
    );
}

pub async fn run_metrics_sent_again_with_a_model_id_are_stored_once(store: Store) {
    let ws = default_ws();
    let run = fresh_run(&store).await;
    let model = store
        .create_logged_model(&ws, new_model(run.info.experiment_id, "clf"))
        .await
        .expect("create");
    let points = vec![metric("acc", 0, 10, 0.5), metric("acc", 1, 20, 0.6)];
    // Sent twice, as a client that retries (or logs the model's metrics again) does.
    for _ in 0..2 {
        log_to_model(&store, &run.info.id, &model.id, points.clone(), None).await;
    }
    let history = store
        .metric_history(&ws, &run.info.id, "acc", &page(0, None))
        .await
        .expect("history");
    let got: Vec<(i64, i64, f64)> = history
        .items
        .iter()
        .map(|p| (p.step, p.timestamp, p.value))
        .collect();
    assert_eq!(got, vec![(0, 10, 0.5), (1, 20, 0.6)]);
    let want = vec![
        ("acc".to_string(), 0.5f64.to_bits(), 10, 0, None),
        ("acc".to_string(), 0.6f64.to_bits(), 20, 1, None),
    ];
    assert_eq!(model_metrics(&store, &model.id).await, want);
}

pub async fn run_outputs_record_the_models_a_run_produced(store: Store) {
    use mlplane_core::{LifecycleStage, ModelOutput};
    let ws = default_ws();
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    assert!(run.outputs.is_empty());
    let exp = run.info.experiment_id;
    let a = store
        .create_logged_model(&ws, new_model(exp, "a"))
        .await
        .expect("a");
    let b = store
        .create_logged_model(&ws, new_model(exp, "b"))
        .await
        .expect("b");
    let out = |m: &LoggedModel, step: i64| ModelOutput {
        model_id: m.id.clone(),
        step,
    };
    store
        .log_outputs(&ws, id, vec![out(&b, 3), out(&a, 0)])
        .await
        .expect("outputs");
    // Again, with another step for b: a model keeps its first step, in the first order.
    store
        .log_outputs(&ws, id, vec![out(&b, 7)])
        .await
        .expect("again");
    let want = vec![out(&b, 3), out(&a, 0)];
    assert_eq!(store.get_run(&ws, id).await.expect("run").outputs, want);
    let q = mlplane_store::RunSearch {
        experiment_ids: vec![exp],
        view: mlplane_core::ViewType::ActiveOnly,
        filter: mlplane_core::search::parse_run_filter("").expect("empty filter"),
        order_by: Vec::new(),
    };
    let found = store
        .search_runs(&ws, &q, &page(10, None))
        .await
        .expect("search");
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].outputs, want);
    // A missing, deleted or foreign model refuses the whole call.
    let gone = store
        .create_logged_model(&ws, new_model(exp, "gone"))
        .await
        .expect("gone");
    store
        .delete_logged_model(&ws, &gone.id)
        .await
        .expect("delete");
    let team = super::ws("team-b");
    store.create_workspace(&team, "").await.expect("ws");
    let team_exp = create_exp(&store, &team, "e").await;
    let foreign = store
        .create_logged_model(&team, new_model(team_exp.id, "theirs"))
        .await
        .expect("foreign");
    let c = store
        .create_logged_model(&ws, new_model(exp, "c"))
        .await
        .expect("c");
    for bad in [LoggedModelId::generate(), gone.id, foreign.id] {
        let missing = ModelOutput {
            model_id: bad,
            step: 1,
        };
        expect_not_found(
            store.log_outputs(&ws, id, vec![out(&c, 1), missing]).await,
            Entity::LoggedModel,
        );
    }
    assert_eq!(store.get_run(&ws, id).await.expect("run").outputs, want);
    // A missing run is NotFound, a deleted one InvalidState.
    expect_not_found(
        store
            .log_outputs(&ws, &RunId::generate(), vec![out(&c, 1)])
            .await,
        Entity::Run,
    );
    store
        .set_run_lifecycle(&ws, id, LifecycleStage::Deleted)
        .await
        .expect("delete run");
    expect_invalid_state(store.log_outputs(&ws, id, vec![out(&c, 1)]).await);
}
