//! Contract checks for MLflow-style searches: run and experiment filters, orderings,
//! paging, and the run inputs (datasets) that `datasets.` filters read.
//!
//! Invariants:
//! - each check builds its own small fixture and compares whole result lists, in order.

use super::*;
use mlplane_core::search::{SearchKind, parse_experiment_filter, parse_order_by, parse_run_filter};
use mlplane_core::{Dataset, DatasetInput, RunId, RunStatus, RunUpdate, ViewType};
use mlplane_store::{ExperimentSearch, RunSearch};

fn input(name: &str, digest: &str, context: &str) -> DatasetInput {
    DatasetInput {
        dataset: Dataset {
            name: name.into(),
            digest: digest.into(),
            source_type: "local".into(),
            source: format!("{{\"uri\": \"/data/{name}.csv\"}}"),
            schema: Some("{}".into()),
            profile: None,
        },
        tags: vec![tag(DatasetInput::CONTEXT_TAG, context)],
    }
}

struct Fixture {
    exp: ExperimentId,
    ids: Vec<(String, RunId)>,
}

impl Fixture {
    fn id(&self, name: &str) -> &RunId {
        &self
            .ids
            .iter()
            .find(|(n, _)| n == name)
            .expect("fixture run")
            .1
    }
}

/// name, start time, metrics, params, tags.
type RunSpec = (
    &'static str,
    i64,
    &'static [(&'static str, f64)],
    &'static [(&'static str, &'static str)],
    &'static [(&'static str, &'static str)],
);

/// Five runs with a mix of metrics (one NaN), params, tags, a status and a dataset.
async fn fixture(store: &Store) -> Fixture {
    let exp = create_exp(store, &default_ws(), "search").await.id;
    let specs: [RunSpec; 5] = [
        (
            "alpha",
            1000,
            &[("acc", 0.9), ("loss", 0.3)],
            &[("lr", "0.1"), ("opt", "adam")],
            &[("team", "vision")],
        ),
        (
            "beta",
            2000,
            &[("acc", 0.7)],
            &[("lr", "0.01"), ("opt", "sgd")],
            &[("team", "nlp")],
        ),
        (
            "gamma",
            3000,
            &[("acc", f64::NAN)],
            &[("lr", "0.1")],
            &[("team", "Vision")],
        ),
        ("delta", 4000, &[], &[("opt", "adam")], &[]),
        ("alphabet", 5000, &[("acc", 0.95), ("loss", 0.1)], &[], &[]),
    ];
    let mut ids = Vec::new();
    for (name, start, metrics, params, tags) in specs {
        let mut nr = new_run(exp, start);
        nr.name = Some(name.into());
        let run = store.create_run(&default_ws(), nr).await.expect("run");
        let batch = LogBatch {
            metrics: metrics
                .iter()
                .map(|(k, v)| metric(k, 0, start, *v))
                .collect(),
            params: params.iter().map(|(k, v)| param(k, v)).collect(),
            tags: tags.iter().map(|(k, v)| tag(k, v)).collect(),
        };
        store
            .log_batch(&default_ws(), &run.info.id, batch)
            .await
            .expect("batch");
        ids.push((name.to_string(), run.info.id));
    }
    let f = Fixture { exp, ids };
    store
        .update_run(
            &default_ws(),
            f.id("beta"),
            RunUpdate {
                status: Some(RunStatus::Finished),
                end_time: Some(2500),
                name: None,
            },
        )
        .await
        .expect("finish beta");
    store
        .log_inputs(
            &default_ws(),
            f.id("alphabet"),
            vec![input("iris", "abc", "training")],
        )
        .await
        .expect("inputs");
    f
}

async fn names(store: &Store, q: &RunSearch, page_size: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let p = store
            .search_runs(&default_ws(), q, &page(page_size, token))
            .await
            .expect("search page");
        assert!(p.items.len() <= page_size);
        out.extend(p.items.into_iter().map(|r| r.info.name));
        match p.next_page_token {
            Some(t) => token = Some(t),
            None => return out,
        }
    }
}

fn run_search(exp: ExperimentId, filter: &str, order: &[&str]) -> RunSearch {
    let order: Vec<String> = order.iter().map(|s| s.to_string()).collect();
    RunSearch {
        experiment_ids: vec![exp],
        view: ViewType::ActiveOnly,
        filter: parse_run_filter(filter).expect("test filters parse"),
        order_by: parse_order_by(&order, SearchKind::Runs).expect("test order_by parses"),
    }
}

pub async fn run_filters_select_like_mlflow(store: Store) {
    let f = fixture(&store).await;
    let (a, b) = (f.id("alpha").to_string(), f.id("beta").to_string());
    let in_ids = format!("attributes.run_id IN ('{a}', '{b}')");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("", vec!["alphabet", "delta", "gamma", "beta", "alpha"]),
        ("metrics.acc > 0.8", vec!["alphabet", "alpha"]),
        ("metrics.acc != 0.7", vec!["alphabet", "alpha"]),
        ("metrics.loss <= 0.1", vec!["alphabet"]),
        ("params.lr = '0.1'", vec!["gamma", "alpha"]),
        ("params.lr != '0.1'", vec!["beta"]),
        ("params.opt = 'adam' AND metrics.acc >= 0.9", vec!["alpha"]),
        ("tags.team LIKE 'vis%'", vec!["alpha"]),
        ("tags.team ILIKE 'vis%'", vec!["gamma", "alpha"]),
        ("tags.team LIKE '%i%n'", vec!["gamma", "alpha"]),
        ("tags.team LIKE '_lp'", vec!["beta"]),
        (
            "attributes.run_name LIKE 'alpha%'",
            vec!["alphabet", "alpha"],
        ),
        ("run_name = 'beta'", vec!["beta"]),
        ("tags.`mlflow.runName` = 'delta'", vec!["delta"]),
        ("attributes.status = 'FINISHED'", vec!["beta"]),
        (
            "attributes.start_time >= 3000",
            vec!["alphabet", "delta", "gamma"],
        ),
        ("attributes.end_time < 3000", vec!["beta"]),
        ("datasets.name = 'iris'", vec!["alphabet"]),
        (
            "datasets.context = 'training' AND datasets.digest = 'abc'",
            vec!["alphabet"],
        ),
        ("datasets.name != 'iris'", vec![]),
        (&in_ids, vec!["beta", "alpha"]),
        ("params.`x'; DROP TABLE runs; --` = 'y'", vec![]),
    ];
    for (filter, want) in cases {
        let got = names(&store, &run_search(f.exp, filter, &[]), 100).await;
        assert_eq!(got, want, "filter {filter:?}");
    }
}

pub async fn run_orderings_put_missing_last_and_page_stably(store: Store) {
    let f = fixture(&store).await;
    let cases: Vec<(&[&str], Vec<&str>)> = vec![
        (
            &["metrics.acc ASC"],
            vec!["beta", "alpha", "alphabet", "gamma", "delta"],
        ),
        (
            &["metrics.acc DESC"],
            vec!["alphabet", "alpha", "beta", "gamma", "delta"],
        ),
        (
            &["params.opt ASC", "attributes.start_time ASC"],
            vec!["alpha", "delta", "beta", "gamma", "alphabet"],
        ),
        (
            &["attributes.run_name DESC"],
            vec!["gamma", "delta", "beta", "alphabet", "alpha"],
        ),
        (
            &["tags.team"],
            vec!["gamma", "beta", "alpha", "alphabet", "delta"],
        ),
    ];
    for (order, want) in cases {
        for size in [1, 2, 100] {
            let got = names(&store, &run_search(f.exp, "", order), size).await;
            assert_eq!(got, want, "order_by {order:?}, page size {size}");
        }
    }
}

pub async fn search_results_carry_run_data_and_inputs(store: Store) {
    let f = fixture(&store).await;
    let p = store
        .search_runs(
            &default_ws(),
            &run_search(f.exp, "datasets.name = 'iris'", &[]),
            &page(10, None),
        )
        .await
        .expect("search");
    let run = &p.items[0];
    assert_eq!(run.metrics.len(), 2);
    assert_eq!(run.inputs, vec![input("iris", "abc", "training")]);
    let got = store
        .get_run(&default_ws(), f.id("alpha"))
        .await
        .expect("get");
    assert_eq!(got.params.len(), 2);
    assert_eq!(got.tags.len(), 1);
    assert!(got.inputs.is_empty());
}

pub async fn inputs_are_kept_once_per_dataset_and_context(store: Store) {
    let run = fresh_run(&store).await;
    let ws = default_ws();
    let id = &run.info.id;
    store
        .log_inputs(
            &ws,
            id,
            vec![input("a", "d1", "training"), input("b", "d2", "eval")],
        )
        .await
        .expect("first");
    store
        .log_inputs(
            &ws,
            id,
            vec![input("a", "d1", "training"), input("a", "d1", "eval")],
        )
        .await
        .expect("second");
    let got = store.get_run(&ws, id).await.expect("get").inputs;
    assert_eq!(
        got,
        vec![
            input("a", "d1", "training"),
            input("b", "d2", "eval"),
            input("a", "d1", "eval")
        ]
    );
    store
        .set_run_lifecycle(&ws, id, mlplane_core::LifecycleStage::Deleted)
        .await
        .expect("delete");
    expect_invalid_state(store.log_inputs(&ws, id, vec![input("c", "d3", "x")]).await);
}

pub async fn search_tokens_only_continue_their_own_search(store: Store) {
    let f = fixture(&store).await;
    let q = run_search(f.exp, "", &[]);
    let p = store
        .search_runs(&default_ws(), &q, &page(2, None))
        .await
        .expect("page");
    let token = p.next_page_token.expect("more pages");
    let other = run_search(f.exp, "metrics.acc > 0", &[]);
    match store
        .search_runs(&default_ws(), &other, &page(2, Some(token)))
        .await
    {
        Err(StoreError::PageToken(_)) => {}
        r => panic!("expected PageToken, got {r:?}"),
    }
}

fn exp_search(filter: &str, order: &[&str]) -> ExperimentSearch {
    let order: Vec<String> = order.iter().map(|s| s.to_string()).collect();
    ExperimentSearch {
        view: ViewType::ActiveOnly,
        filter: parse_experiment_filter(filter).expect("test filters parse"),
        order_by: parse_order_by(&order, SearchKind::Experiments).expect("order parses"),
    }
}

pub async fn experiment_filters_and_orderings(store: Store) {
    let ws = default_ws();
    let a = create_exp(&store, &ws, "exp-a").await;
    store
        .set_experiment_tag(&ws, a.id, tag("owner", "me"))
        .await
        .expect("tag");
    create_exp(&store, &ws, "exp-b").await;
    create_exp(&store, &ws, "other").await;
    let cases: Vec<(&str, &[&str], Vec<&str>)> = vec![
        ("name LIKE 'exp-%'", &["name ASC"], vec!["exp-a", "exp-b"]),
        ("tags.owner = 'me'", &[], vec!["exp-a"]),
        ("name = 'Default'", &[], vec!["Default"]),
        (
            "",
            &["name DESC"],
            vec!["other", "exp-b", "exp-a", "Default"],
        ),
        (
            "attributes.creation_time > 0 AND name ILIKE 'EXP-A'",
            &[],
            vec!["exp-a"],
        ),
        (
            "",
            &["experiment_id DESC"],
            vec!["other", "exp-b", "exp-a", "Default"],
        ),
    ];
    for (filter, order, want) in cases {
        for size in [1, 100] {
            let mut got = Vec::new();
            let mut token = None;
            loop {
                let p = store
                    .search_experiments(&ws, &exp_search(filter, order), &page(size, token))
                    .await
                    .expect("search");
                got.extend(p.items.into_iter().map(|e| e.name));
                match p.next_page_token {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
            assert_eq!(got, want, "filter {filter:?} order {order:?} size {size}");
        }
    }
}
