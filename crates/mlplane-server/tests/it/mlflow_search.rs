//! MLflow searches over HTTP (`runs/search`, `experiments/search` POST and GET), run inputs,
//! the bulk history the UI charts read, `/w/{workspace}` isolation, server-info and the
//! error for endpoints mlplane does not serve.

use crate::support::{TestApp, assert_mlflow_error};
use axum::http::StatusCode;
use serde_json::{Value, json};

const API: &str = "/api/2.0/mlflow";

async fn experiment(app: &TestApp, prefix: &str, name: &str) -> String {
    let v = app
        .ok(
            "POST",
            &format!("{prefix}/experiments/create"),
            Some(json!({"name": name})),
        )
        .await;
    v["experiment_id"]
        .as_str()
        .expect("experiment_id")
        .to_string()
}

async fn run(app: &TestApp, prefix: &str, exp: &str, name: &str, start: i64) -> String {
    let v = app
        .ok(
            "POST",
            &format!("{prefix}/runs/create"),
            Some(json!({"experiment_id": exp, "run_name": name, "start_time": start})),
        )
        .await;
    v["run"]["info"]["run_id"]
        .as_str()
        .expect("run_id")
        .to_string()
}

async fn log(app: &TestApp, run_id: &str, acc: f64, lr: &str) {
    app.ok(
        "POST",
        &format!("{API}/runs/log-batch"),
        Some(json!({"run_id": run_id,
            "metrics": [{"key": "acc", "value": acc, "timestamp": 1, "step": 0}],
            "params": [{"key": "lr", "value": lr}]})),
    )
    .await;
}

fn run_names(v: &Value) -> Vec<String> {
    v["runs"]
        .as_array()
        .map(|runs| {
            runs.iter()
                .map(|r| r["info"]["run_name"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn runs_search_filters_orders_and_pages() {
    let app = TestApp::new().await;
    let exp = experiment(&app, API, "s").await;
    for (i, (name, acc, lr)) in [("a", 0.5, "0.1"), ("b", 0.9, "0.1"), ("c", 0.7, "0.2")]
        .into_iter()
        .enumerate()
    {
        let id = run(&app, API, &exp, name, 1000 + i as i64).await;
        log(&app, &id, acc, lr).await;
    }
    let url = format!("{API}/runs/search");
    let v = app
        .ok(
            "POST",
            &url,
            Some(
                json!({"experiment_ids": [exp], "filter": "params.lr = '0.1' and metrics.acc > 0.4",
                "order_by": ["metrics.acc DESC"]}),
            ),
        )
        .await;
    assert_eq!(run_names(&v), ["b", "a"]);
    assert_eq!(v["runs"][0]["data"]["params"][0]["value"], "0.1");
    // Paging: one run per page, in the default order (newest first).
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"experiment_ids": [exp], "max_results": 1});
        if let Some(t) = &token {
            body["page_token"] = json!(t);
        }
        let v = app.ok("POST", &url, Some(body)).await;
        names.extend(run_names(&v));
        match v["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(names, ["c", "b", "a"]);
}

#[tokio::test]
async fn bad_searches_name_what_is_wrong() {
    let app = TestApp::new().await;
    let url = format!("{API}/runs/search");
    let cases = [
        json!({"experiment_ids": ["0"], "filter": "metrics.acc >> 1"}),
        json!({"experiment_ids": ["0"], "filter": "params.x = 'unterminated"}),
        json!({"experiment_ids": ["0"], "filter": "metrics.acc > 1 OR params.a = 'b'"}),
        json!({"experiment_ids": ["0"], "order_by": ["metrics.acc SIDEWAYS"]}),
        json!({"experiment_ids": ["0"], "max_results": 50001}),
        json!({"experiment_ids": ["0"], "max_results": 0}),
        json!({"experiment_ids": ["0"], "page_token": "not-a-token"}),
        json!({"experiment_ids": ["0"], "run_view_type": "SOME"}),
        json!({"experiment_ids": ["x; DROP TABLE runs"]}),
        json!({"experiment_ids": ["0"], "filter": "a".repeat(20_000)}),
    ];
    for body in cases {
        let (s, v) = app.call("POST", &url, Some(body.clone())).await;
        assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
        assert!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    let (s, v) = app
        .call("POST", &url, Some(json!({"filter": "metrics.acc >> 1"})))
        .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    assert!(
        v["message"].as_str().unwrap_or("").contains("position"),
        "{v}"
    );
}

#[tokio::test]
async fn experiments_search_by_post_and_get() {
    let app = TestApp::new().await;
    experiment(&app, API, "exp-b").await;
    experiment(&app, API, "exp-a").await;
    experiment(&app, API, "zzz").await;
    let v = app
        .ok(
            "POST",
            &format!("{API}/experiments/search"),
            Some(json!({"filter": "name LIKE 'exp-%'", "order_by": ["name ASC"]})),
        )
        .await;
    let names: Vec<&str> = v["experiments"]
        .as_array()
        .expect("experiments")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["exp-a", "exp-b"]);
    let v = app
        .ok(
            "GET",
            &format!(
                "{API}/experiments/search?max_results=2&order_by=name%20DESC&order_by=experiment_id"
            ),
            None,
        )
        .await;
    let names: Vec<&str> = v["experiments"]
        .as_array()
        .expect("experiments")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["zzz", "exp-b"]);
    assert!(v["next_page_token"].is_string());
}

#[tokio::test]
async fn log_inputs_show_in_runs_and_filter_by_dataset() {
    let app = TestApp::new().await;
    let exp = experiment(&app, API, "d").await;
    let id = run(&app, API, &exp, "with-data", 1).await;
    run(&app, API, &exp, "without", 2).await;
    let dataset = json!({"name": "iris", "digest": "d1", "source_type": "local",
        "source": "{\"uri\": \"/tmp/iris.csv\"}", "schema": "{}"});
    app.ok(
        "POST",
        &format!("{API}/runs/log-inputs"),
        Some(json!({"run_id": id, "datasets": [{"tags": [{"key": "mlflow.data.context", "value": "train"}],
            "dataset": dataset}]})),
    )
    .await;
    let v = app
        .ok("GET", &format!("{API}/runs/get?run_id={id}"), None)
        .await;
    let inputs = &v["run"]["inputs"]["dataset_inputs"];
    assert_eq!(inputs[0]["dataset"], dataset);
    assert_eq!(inputs[0]["tags"][0]["value"], "train");
    let v = app
        .ok(
            "POST",
            &format!("{API}/runs/search"),
            Some(json!({"experiment_ids": [exp], "filter": "datasets.context = 'train'"})),
        )
        .await;
    assert_eq!(run_names(&v), ["with-data"]);
    let (s, v) = app
        .call(
            "POST",
            &format!("{API}/runs/log-inputs"),
            Some(
                json!({"run_id": id, "datasets": [{"dataset": {"name": "", "digest": "x",
                "source_type": "local", "source": "s"}}]}),
            ),
        )
        .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
}

#[tokio::test]
async fn bulk_interval_history_samples_each_run() {
    let app = TestApp::new().await;
    let exp = experiment(&app, API, "h").await;
    let (a, b) = (
        run(&app, API, &exp, "a", 1).await,
        run(&app, API, &exp, "b", 2).await,
    );
    for id in [&a, &b] {
        for chunk in 0..4 {
            let metrics: Vec<Value> = (chunk * 250..(chunk + 1) * 250)
                .map(|i| json!({"key": "loss", "value": 1.0 / (i + 1) as f64, "timestamp": i, "step": i}))
                .collect();
            app.ok(
                "POST",
                &format!("{API}/runs/log-batch"),
                Some(json!({"run_id": id, "metrics": metrics})),
            )
            .await;
        }
    }
    let v = app
        .ok(
            "GET",
            &format!("{API}/metrics/get-history-bulk-interval?run_ids={a}&run_ids={b}&metric_key=loss&max_results=50"),
            None,
        )
        .await;
    let pts = v["metrics"].as_array().expect("metrics");
    for id in [&a, &b] {
        let steps: Vec<i64> = pts
            .iter()
            .filter(|p| p["run_id"] == json!(id))
            .filter_map(|p| p["step"].as_i64())
            .collect();
        assert!(steps.len() <= 50 && steps.len() >= 10, "{}", steps.len());
        assert_eq!(steps.first(), Some(&0));
        assert_eq!(steps.last(), Some(&999));
    }
    let v = app
        .ok(
            "GET",
            &format!("{API}/metrics/get-history-bulk-interval?run_ids={a}&metric_key=loss&start_step=100&end_step=199&max_results=1000"),
            None,
        )
        .await;
    let steps: Vec<i64> = v["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .filter_map(|p| p["step"].as_i64())
        .collect();
    assert_eq!(steps, (100..200).collect::<Vec<_>>());
    let (s, v) = app
        .call(
            "GET",
            &format!("{API}/metrics/get-history-bulk-interval?metric_key=loss"),
            None,
        )
        .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
}

#[tokio::test]
async fn workspaces_under_w_are_isolated() {
    let app = TestApp::new().await;
    app.ok(
        "POST",
        "/api/v1/workspaces",
        Some(json!({"name": "team-a"})),
    )
    .await;
    let team = "/w/team-a/api/2.0/mlflow";
    let exp = experiment(&app, team, "shared-name").await;
    experiment(&app, API, "shared-name").await;
    let id = run(&app, team, &exp, "in-team", 1).await;
    // Visible through its workspace, not through the root (default) one.
    app.ok("GET", &format!("{team}/runs/get?run_id={id}"), None)
        .await;
    let (s, v) = app
        .call("GET", &format!("{API}/runs/get?run_id={id}"), None)
        .await;
    assert_mlflow_error(s, &v, 404, "RESOURCE_DOES_NOT_EXIST");
    let v = app
        .ok(
            "POST",
            &format!("{team}/runs/search"),
            Some(json!({"experiment_ids": [exp]})),
        )
        .await;
    assert_eq!(run_names(&v), ["in-team"]);
    let v = app
        .ok(
            "POST",
            &format!("{API}/runs/search"),
            Some(json!({"experiment_ids": [exp]})),
        )
        .await;
    assert_eq!(run_names(&v), Vec::<String>::new());
    // Artifacts: the run's URI names its workspace, and the proxy checks it.
    let uri = app
        .ok("GET", &format!("{team}/runs/get?run_id={id}"), None)
        .await["run"]["info"]["artifact_uri"]
        .as_str()
        .expect("artifact_uri")
        .to_string();
    let rel = uri.trim_start_matches("mlflow-artifacts:/");
    let (s, _) = app
        .raw(
            "PUT",
            &format!("/w/team-a/api/2.0/mlflow-artifacts/artifacts/{rel}/f.txt"),
            None,
            b"hi".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = app
        .raw(
            "GET",
            &format!("/w/team-a/api/2.0/mlflow-artifacts/artifacts/{rel}/f.txt"),
            None,
            Vec::new(),
        )
        .await;
    assert_eq!((s, body.as_slice()), (StatusCode::OK, b"hi".as_slice()));
    let (s, _) = app
        .raw(
            "GET",
            &format!("/api/2.0/mlflow-artifacts/artifacts/{rel}/f.txt"),
            None,
            Vec::new(),
        )
        .await;
    assert!(s.is_client_error(), "{s}");
    // Unknown and invalid workspaces.
    let (s, v) = app
        .call(
            "POST",
            "/w/nope/api/2.0/mlflow/runs/search",
            Some(json!({})),
        )
        .await;
    assert_mlflow_error(s, &v, 404, "RESOURCE_DOES_NOT_EXIST");
    let (s, v) = app
        .call(
            "POST",
            "/w/Bad%20Name!/api/2.0/mlflow/runs/search",
            Some(json!({})),
        )
        .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
}

#[tokio::test]
async fn server_info_and_unserved_endpoints() {
    let app = TestApp::new().await;
    for prefix in ["", "/w/default"] {
        let v = app
            .ok("GET", &format!("{prefix}/api/3.0/mlflow/server-info"), None)
            .await;
        assert_eq!(v["workspaces_enabled"], false);
        for path in [
            "/api/2.0/mlflow/traces",
            "/ajax-api/2.0/mlflow/gateway/routes",
            "/api/3.0/mlflow/traces/abc",
            "/api/2.0/mlflow-artifacts/presigned/x",
        ] {
            let (s, v) = app.call("GET", &format!("{prefix}{path}"), None).await;
            assert_mlflow_error(s, &v, 404, "ENDPOINT_NOT_FOUND");
            assert!(
                v["message"].as_str().unwrap_or("").contains(path),
                "{path}: {v}"
            );
        }
    }
}
