//! MLflow 3 logged models over HTTP: the lifecycle a 3.x client drives (create, upload
//! through the proxy, finalize, search, params, tags, delete), path-vs-body id mismatches,
//! and hostile model ids and artifact paths.

use crate::support::{TestApp, assert_mlflow_error};
use axum::http::StatusCode;
use serde_json::{Value, json};

const API: &str = "/api/2.0/mlflow";
const PROXY: &str = "/api/2.0/mlflow-artifacts/artifacts";

/// Creates a model in a fresh experiment (with its run as source); returns the model.
async fn create_model(app: &TestApp, name: &str) -> (String, Value) {
    let (exp, run) = app.run().await;
    let v = app
        .ok(
            "POST",
            &format!("{API}/logged-models"),
            Some(json!({
                "experiment_id": exp,
                "name": name,
                "model_type": "sklearn",
                "source_run_id": run,
                "params": [{"key": "alpha", "value": "0.5"}],
                "tags": [{"key": "team", "value": "a"}],
            })),
        )
        .await;
    (exp, v["model"].clone())
}

#[tokio::test]
async fn logged_model_lifecycle() {
    let app = TestApp::new().await;
    let (exp, model) = create_model(&app, "clf").await;
    let info = &model["info"];
    let id = info["model_id"].as_str().expect("model id").to_string();
    assert!(id.starts_with("m-"));
    assert_eq!(info["status"], "LOGGED_MODEL_PENDING");
    assert_eq!(info["experiment_id"], exp.as_str());
    assert_eq!(
        info["artifact_uri"],
        format!("mlflow-artifacts:/default/{exp}/models/{id}/artifacts")
    );
    assert_eq!(info["tags"], json!([{"key": "team", "value": "a"}]));
    assert_eq!(model["data"]["params"][0]["value"], "0.5");

    // Upload through the proxy, the way the client derives the address from artifact_uri.
    let root = format!("default/{exp}/models/{id}/artifacts");
    let (s, _) = app
        .raw(
            "PUT",
            &format!("{PROXY}/{root}/MLmodel"),
            None,
            b"flavors: {}".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .raw(
            "PUT",
            &format!("{PROXY}/{root}/env/req.txt"),
            None,
            b"x".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, got) = app
        .raw("GET", &format!("{PROXY}/{root}/MLmodel"), None, vec![])
        .await;
    assert_eq!((s, got.as_slice()), (StatusCode::OK, &b"flavors: {}"[..]));
    let listed = app.ok("GET", &format!("{PROXY}?path={root}"), None).await;
    assert_eq!(
        listed["files"],
        json!([
            {"path": "env", "is_dir": true},
            {"path": "MLmodel", "is_dir": false, "file_size": 11},
        ])
    );
    let dirs = app
        .ok(
            "GET",
            &format!("{API}/logged-models/{id}/artifacts/directories?artifact_directory_path=env"),
            None,
        )
        .await;
    assert_eq!(dirs["files"][0]["path"], "env/req.txt");
    let (s, got) = app
        .raw(
            "GET",
            &format!("/ajax-api/2.0/mlflow/logged-models/{id}/artifacts/files?artifact_file_path=env/req.txt"),
            None,
            vec![],
        )
        .await;
    assert_eq!((s, got.as_slice()), (StatusCode::OK, &b"x"[..]));
    let (s, v) = app
        .call(
            "GET",
            &format!(
                "{API}/logged-models/{id}/artifacts/files?artifact_file_path=../../etc/passwd"
            ),
            None,
        )
        .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");

    let done = app
        .ok(
            "PATCH",
            &format!("{API}/logged-models/{id}"),
            Some(json!({"model_id": id, "status": "LOGGED_MODEL_READY"})),
        )
        .await;
    assert_eq!(done["model"]["info"]["status"], "LOGGED_MODEL_READY");

    app.ok(
        "POST",
        &format!("{API}/logged-models/{id}/params"),
        Some(json!({"model_id": id, "params": [{"key": "beta", "value": "1"}]})),
    )
    .await;
    let (s, v) = app
        .call(
            "POST",
            &format!("{API}/logged-models/{id}/params"),
            Some(json!({"params": [{"key": "alpha", "value": "0.9"}]})),
        )
        .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    app.ok(
        "PATCH",
        &format!("{API}/logged-models/{id}/tags"),
        Some(json!({"tags": [{"key": "stage", "value": "prod"}]})),
    )
    .await;
    app.ok(
        "DELETE",
        &format!("{API}/logged-models/{id}/tags/team"),
        None,
    )
    .await;
    let got = app
        .ok("GET", &format!("{API}/logged-models/{id}"), None)
        .await;
    assert_eq!(
        got["model"]["info"]["tags"],
        json!([{"key": "stage", "value": "prod"}])
    );
    assert_eq!(
        got["model"]["data"]["params"].as_array().map(Vec::len),
        Some(2)
    );

    let found = app
        .ok(
            "POST",
            &format!("{API}/logged-models/search"),
            Some(json!({
                "experiment_ids": [exp],
                "filter": "name = 'clf' AND tags.stage = 'prod'",
                "order_by": [{"field_name": "creation_timestamp", "ascending": false}],
            })),
        )
        .await;
    assert_eq!(found["models"][0]["info"]["model_id"], id.as_str());
    let (s, v) = app
        .call(
            "POST",
            &format!("{API}/logged-models/search"),
            Some(json!({"experiment_ids": [exp], "filter": "name LIKE 'c%'"})),
        )
        .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    assert!(
        v["message"].as_str().unwrap_or("").contains("position"),
        "{v}"
    );

    // The run side of log_model.
    let (_, run) = app.run().await;
    app.ok(
        "POST",
        &format!("{API}/runs/outputs"),
        Some(json!({"run_id": run, "models": [{"model_id": id, "step": "3"}]})),
    )
    .await;
    // Recorded: the run's outputs name the model and its step, as MLflow's do.
    let got = app
        .ok("GET", &format!("{API}/runs/get?run_id={run}"), None)
        .await;
    assert_eq!(
        got["run"]["outputs"],
        json!({"model_outputs": [{"model_id": id, "step": 3}]})
    );
    let (s, v) = app
        .call(
            "POST",
            &format!("{API}/runs/outputs"),
            Some(json!({"run_id": run, "models": [{"step": 1}]})),
        )
        .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    app.ok(
        "POST",
        &format!("{API}/runs/log-metric"),
        Some(json!({"run_id": run, "key": "m", "value": 1.0, "timestamp": 1, "model_id": id})),
    )
    .await;

    app.ok("DELETE", &format!("{API}/logged-models/{id}"), None)
        .await;
    let (s, v) = app
        .call("GET", &format!("{API}/logged-models/{id}"), None)
        .await;
    assert_mlflow_error(s, &v, 404, "RESOURCE_DOES_NOT_EXIST");
    let (s, v) = app
        .call("GET", &format!("{PROXY}/{root}/MLmodel"), None)
        .await;
    assert_mlflow_error(s, &v, 404, "RESOURCE_DOES_NOT_EXIST");
}

#[tokio::test]
async fn body_model_id_must_match_the_path() {
    let app = TestApp::new().await;
    let (_, a) = create_model(&app, "a").await;
    let (_, b) = create_model(&app, "b").await;
    let (a, b) = (
        a["info"]["model_id"].as_str().expect("id").to_string(),
        b["info"]["model_id"].as_str().expect("id").to_string(),
    );
    for (method, path, body) in [
        (
            "PATCH",
            format!("{API}/logged-models/{a}"),
            json!({"model_id": b, "status": "LOGGED_MODEL_READY"}),
        ),
        (
            "POST",
            format!("{API}/logged-models/{a}/params"),
            json!({"model_id": b, "params": [{"key": "k", "value": "v"}]}),
        ),
        (
            "PATCH",
            format!("{API}/logged-models/{a}/tags"),
            json!({"model_id": b, "tags": [{"key": "k", "value": "v"}]}),
        ),
        (
            "DELETE",
            format!("{API}/logged-models/{a}"),
            json!({"model_id": b}),
        ),
    ] {
        let (s, v) = app.call(method, &path, Some(body)).await;
        assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    }
    // Neither model was touched.
    for id in [&a, &b] {
        let m = app
            .ok("GET", &format!("{API}/logged-models/{id}"), None)
            .await;
        assert_eq!(m["model"]["info"]["status"], "LOGGED_MODEL_PENDING");
        assert_eq!(
            m["model"]["data"]["params"].as_array().map(Vec::len),
            Some(1)
        );
    }
}

#[tokio::test]
async fn hostile_model_ids_and_paths_are_refused() {
    let app = TestApp::new().await;
    let (exp, m) = create_model(&app, "a").await;
    let id = m["info"]["model_id"].as_str().expect("id").to_string();
    let (s, v) = app
        .call("GET", &format!("{API}/logged-models/m-nope"), None)
        .await;
    assert_mlflow_error(s, &v, 404, "RESOURCE_DOES_NOT_EXIST");
    let (s, v) = app
        .call("GET", &format!("{API}/logged-models/..%2F..%2Fetc"), None)
        .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    for path in [
        format!("default/{exp}/models/{id}/artifacts/../../x"),
        format!("default/{exp}/models/{id}/artifacts/%2e%2e/x"),
        format!("default/{exp}/models/{id}/artifacts/a%5c..%5cb"),
        format!("default/{exp}/models/{id}/x/MLmodel"),
        format!("default/{exp}/models/../artifacts/MLmodel"),
        format!("default/{exp}/models/{id}/artifacts//etc/passwd"),
        format!("other/{exp}/models/{id}/artifacts/MLmodel"),
    ] {
        let (s, v) = app
            .call("PUT", &format!("{PROXY}/{path}"), Some(json!("x")))
            .await;
        assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    }
    // The right model through the wrong experiment.
    let (other_exp, _) = app.run().await;
    let (s, v) = app
        .call(
            "PUT",
            &format!("{PROXY}/default/{other_exp}/models/{id}/artifacts/MLmodel"),
            Some(json!("x")),
        )
        .await;
    assert_mlflow_error(s, &v, 404, "RESOURCE_DOES_NOT_EXIST");
    let (s, v) = app
        .call(
            "POST",
            &format!("{API}/logged-models"),
            Some(json!({"experiment_id": exp, "name": "x".repeat(501)})),
        )
        .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    let (s, v) = app
        .call(
            "POST",
            &format!("{API}/logged-models/search"),
            Some(json!({"experiment_ids": [exp], "max_results": 51})),
        )
        .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
}

#[tokio::test]
async fn metrics_logged_with_a_model_id_show_on_the_model_and_drive_its_search() {
    let app = TestApp::new().await;
    let (exp, a) = create_model(&app, "a").await;
    let run = a["info"]["source_run_id"]
        .as_str()
        .expect("run")
        .to_string();
    let a = a["info"]["model_id"].as_str().expect("id").to_string();
    let b = app
        .ok(
            "POST",
            &format!("{API}/logged-models"),
            Some(json!({"experiment_id": exp, "name": "b"})),
        )
        .await["model"]["info"]["model_id"]
        .as_str()
        .expect("id")
        .to_string();
    app.ok(
        "POST",
        &format!("{API}/runs/log-batch"),
        Some(json!({"run_id": run, "metrics": [
            {"key": "acc", "value": 0.9, "timestamp": 10, "step": 1, "model_id": a,
             "dataset_name": "eval", "dataset_digest": "d1"},
            {"key": "acc", "value": "NaN", "timestamp": 11, "step": 2, "model_id": a},
            {"key": "plain", "value": 1.0, "timestamp": 10, "step": 1},
        ]})),
    )
    .await;
    app.ok(
        "POST",
        &format!("{API}/runs/log-metric"),
        Some(
            json!({"run_id": run, "key": "acc", "value": 0.4, "timestamp": 10, "step": 1,
                    "model_id": b}),
        ),
    )
    .await;
    let got = app
        .ok("GET", &format!("{API}/logged-models/{a}"), None)
        .await;
    assert_eq!(
        got["model"]["data"]["metrics"],
        json!([
            {"key": "acc", "value": 0.9, "timestamp": 10, "step": 1, "run_id": run,
             "model_id": a, "dataset_name": "eval", "dataset_digest": "d1"},
            {"key": "acc", "value": "NaN", "timestamp": 11, "step": 2, "run_id": run,
             "model_id": a},
        ])
    );
    // The run holds every metric, linked or not.
    let r = app
        .ok("GET", &format!("{API}/runs/get?run_id={run}"), None)
        .await;
    let keys: Vec<&str> = r["run"]["data"]["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .filter_map(|m| m["key"].as_str())
        .collect();
    assert_eq!(keys, ["acc", "plain"]);

    let search = |body: Value| {
        let app = &app;
        async move {
            let v = app
                .ok("POST", &format!("{API}/logged-models/search"), Some(body))
                .await;
            v["models"]
                .as_array()
                .expect("models")
                .iter()
                .map(|m| m["info"]["name"].as_str().expect("name").to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        search(json!({"experiment_ids": [exp], "filter": "metrics.acc > 0.5"})).await,
        ["a"]
    );
    assert_eq!(
        search(
            json!({"experiment_ids": [exp], "filter": "metrics.acc < 0.5",
                      "order_by": [{"field_name": "name"}]})
        )
        .await,
        ["b"]
    );
    assert_eq!(
        search(json!({"experiment_ids": [exp],
                      "order_by": [{"field_name": "metrics.acc", "ascending": false,
                                    "dataset_name": "eval"}]}))
        .await,
        ["a", "b"]
    );
    assert_eq!(
        search(json!({"experiment_ids": [exp],
                      "datasets": [{"dataset_name": "eval", "dataset_digest": "d1"}]}))
        .await,
        ["a"]
    );
    assert!(
        search(
            json!({"experiment_ids": [exp], "filter": "metrics.acc < 0.5",
                      "datasets": [{"dataset_name": "eval"}]})
        )
        .await
        .is_empty()
    );

    // Bad input is refused and changes nothing.
    for (body, status, code) in [
        (
            json!({"run_id": run, "key": "acc", "value": 1.0, "model_id": "m-0123456789abcdef0123456789abcdef"}),
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            json!({"run_id": run, "key": "acc", "value": 1.0, "model_id": "../etc"}),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            json!({"run_id": run, "key": "acc", "value": 1.0, "model_id": a, "dataset_digest": "d"}),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
    ] {
        let (s, v) = app
            .call("POST", &format!("{API}/runs/log-metric"), Some(body))
            .await;
        assert_mlflow_error(s, &v, status, code);
    }
    let h = app
        .ok(
            "GET",
            &format!("{API}/metrics/get-history?run_id={run}&metric_key=acc"),
            None,
        )
        .await;
    assert_eq!(h["metrics"].as_array().map(Vec::len), Some(3));
    for body in [
        json!({"experiment_ids": [exp], "datasets": [{"dataset_digest": "d1"}]}),
        json!({"experiment_ids": [exp], "order_by": [{"field_name": "params.alpha"}]}),
        json!({"experiment_ids": [exp], "filter": "metrics.acc LIKE '1'"}),
    ] {
        let (s, v) = app
            .call("POST", &format!("{API}/logged-models/search"), Some(body))
            .await;
        assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    }
}
