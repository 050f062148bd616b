//! The MLflow artifact proxy and `artifacts/list`: put/get/list/delete round trips addressed
//! the way the MLflow client derives them from a run's `artifact_uri`, hostile paths, and runs
//! addressed through the wrong experiment.

use crate::support::{TestApp, WS, assert_mlflow_error};
use axum::http::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const PROXY: &str = "/api/2.0/mlflow-artifacts/artifacts";
const AJAX_PROXY: &str = "/ajax-api/2.0/mlflow-artifacts/artifacts";
const API: &str = "/api/2.0/mlflow";

/// A run created through the MLflow API; returns (experiment id, run id, proxy root).
async fn mlflow_run(app: &TestApp) -> (String, String, String) {
    let (exp, run) = app.run().await;
    let v = app
        .ok("GET", &format!("{API}/runs/get?run_id={run}"), None)
        .await;
    let uri = v["run"]["info"]["artifact_uri"]
        .as_str()
        .expect("artifact_uri")
        .to_string();
    let root = uri
        .strip_prefix("mlflow-artifacts:/")
        .expect("mlflow-artifacts uri")
        .to_string();
    assert_eq!(root, format!("default/{exp}/{run}/artifacts"));
    (exp, run, root)
}

async fn put(app: &TestApp, uri: &str, bytes: &[u8]) -> (StatusCode, Value) {
    let (s, out) = app
        .raw("PUT", uri, Some("application/octet-stream"), bytes.to_vec())
        .await;
    let v = serde_json::from_slice(&out).unwrap_or(Value::Null);
    (s, v)
}

#[tokio::test]
async fn put_get_list_delete_round_trip() {
    let app = TestApp::new().await;
    let (_, run, root) = mlflow_run(&app).await;
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let (s, v) = put(&app, &format!("{PROXY}/{root}/d/sub/data.bin"), &data).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v, json!({}));
    let (s, v) = put(&app, &format!("{AJAX_PROXY}/{root}/top.txt"), b"hello").await;
    assert_eq!(s, StatusCode::OK, "{v}");

    let (s, got) = app
        .raw(
            "GET",
            &format!("{PROXY}/{root}/d/sub/data.bin"),
            None,
            vec![],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(Sha256::digest(&got), Sha256::digest(&data));
    // The native records carry the same hash.
    let native = app
        .ok(
            "GET",
            &format!("{WS}/runs/{run}/artifact-list?path=d/sub"),
            None,
        )
        .await;
    assert_eq!(
        native["files"][0]["sha256"],
        hex::encode(Sha256::digest(&data))
    );

    // Proxy listing: child names relative to the listed directory.
    let v = app.ok("GET", &format!("{PROXY}?path={root}"), None).await;
    assert_eq!(
        v,
        json!({"files": [{"path": "d", "is_dir": true},
                         {"path": "top.txt", "is_dir": false, "file_size": 5}]})
    );
    let v = app
        .ok("GET", &format!("{PROXY}?path={root}/d/sub"), None)
        .await;
    assert_eq!(
        v,
        json!({"files": [{"path": "data.bin", "is_dir": false, "file_size": 100_000}]})
    );

    // Tracking listing: paths relative to the run's artifact root.
    let v = app
        .ok(
            "GET",
            &format!("{API}/artifacts/list?run_id={run}&path=d"),
            None,
        )
        .await;
    assert_eq!(
        v,
        json!({"root_uri": format!("mlflow-artifacts:/{root}"),
               "files": [{"path": "d/sub", "is_dir": true}]})
    );
    let v = app
        .ok("GET", &format!("{API}/artifacts/list?run_id={run}"), None)
        .await;
    assert_eq!(v["files"].as_array().map(Vec::len), Some(2), "{v}");

    // Delete a file, then a directory.
    let v = app
        .ok("DELETE", &format!("{PROXY}/{root}/top.txt"), None)
        .await;
    assert_eq!(v, json!({}));
    let (s, v) = app
        .call("GET", &format!("{PROXY}/{root}/top.txt"), None)
        .await;
    assert_mlflow_error(s, &v, 404, "RESOURCE_DOES_NOT_EXIST");
    app.ok("DELETE", &format!("{PROXY}/{root}/d"), None).await;
    let v = app.ok("GET", &format!("{PROXY}?path={root}"), None).await;
    assert_eq!(v, json!({"files": []}));
    let (s, v) = app.call("DELETE", &format!("{PROXY}/{root}/d"), None).await;
    assert_mlflow_error(s, &v, 404, "RESOURCE_DOES_NOT_EXIST");
}

#[tokio::test]
async fn hostile_paths_are_invalid_and_store_nothing() {
    let app = TestApp::new().await;
    let (exp, run, root) = mlflow_run(&app).await;
    let hostile = [
        format!("{root}/../../../etc/passwd"),
        format!("{root}/%2e%2e/%2e%2e/x"),
        format!("{root}/a/..%2f..%2fx"),
        format!("{root}/..%5c..%5cx"),
        format!("{root}/a%00b"),
        format!("{root}//etc/passwd"),
        format!("/{root}/x"),
        format!("other/{exp}/{run}/artifacts/x"),
        format!("default/{exp}/{run}/notartifacts/x"),
        format!("default/abc/{run}/artifacts/x"),
        format!("default/{exp}/..%2f{run}/artifacts/x"),
        "etc/passwd".to_string(),
    ];
    for p in &hostile {
        let (s, v) = put(&app, &format!("{PROXY}/{p}"), b"evil").await;
        assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
        let (s, v) = app.call("GET", &format!("{PROXY}/{p}"), None).await;
        assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
        let (s, v) = app.call("DELETE", &format!("{PROXY}/{p}"), None).await;
        assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
        let (s, v) = app.call("GET", &format!("{PROXY}?path={p}"), None).await;
        assert!(s == StatusCode::BAD_REQUEST, "{p}: {s} {v}");
    }
    // The artifact root is a directory: listable, but not a file to write.
    let (s, v) = put(&app, &format!("{PROXY}/{root}"), b"evil").await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    let (s, v) = app
        .call(
            "GET",
            &format!("{API}/artifacts/list?run_id={run}&path=../x"),
            None,
        )
        .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    // Nothing was written anywhere.
    let v = app.ok("GET", &format!("{PROXY}?path={root}"), None).await;
    assert_eq!(v, json!({"files": []}));
}

#[tokio::test]
async fn run_of_another_experiment_or_unknown_run_is_not_found() {
    let app = TestApp::new().await;
    let (_, run_a, root_a) = mlflow_run(&app).await;
    let (exp_b, _, _) = mlflow_run(&app).await;
    let (s, _) = put(&app, &format!("{PROXY}/{root_a}/f.txt"), b"x").await;
    assert_eq!(s, StatusCode::OK);
    let wrong = format!("default/{exp_b}/{run_a}/artifacts");
    let (s, v) = put(&app, &format!("{PROXY}/{wrong}/f.txt"), b"x").await;
    assert_mlflow_error(s, &v, 404, "RESOURCE_DOES_NOT_EXIST");
    let (s, v) = app
        .call("GET", &format!("{PROXY}/{wrong}/f.txt"), None)
        .await;
    assert_mlflow_error(s, &v, 404, "RESOURCE_DOES_NOT_EXIST");
    let (s, v) = app
        .call("GET", &format!("{PROXY}?path={wrong}"), None)
        .await;
    assert_mlflow_error(s, &v, 404, "RESOURCE_DOES_NOT_EXIST");
    let unknown = format!("default/{exp_b}/{}/artifacts/f.txt", "0".repeat(32));
    let (s, v) = put(&app, &format!("{PROXY}/{unknown}"), b"x").await;
    assert_mlflow_error(s, &v, 404, "RESOURCE_DOES_NOT_EXIST");
}

#[tokio::test]
async fn upload_to_deleted_run_is_invalid() {
    let app = TestApp::new().await;
    let (_, run, root) = mlflow_run(&app).await;
    app.ok(
        "POST",
        &format!("{API}/runs/delete"),
        Some(json!({"run_id": run})),
    )
    .await;
    let (s, v) = put(&app, &format!("{PROXY}/{root}/f.txt"), b"x").await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
}

#[tokio::test]
async fn upload_over_the_artifact_limit_is_refused() {
    let app = TestApp::with_limits(mlplane_server::Limits {
        max_request_bytes: 1024,
        max_artifact_bytes: 64 * 1024,
    })
    .await;
    let (_, _, root) = mlflow_run(&app).await;
    // Larger than the JSON request limit but within the artifact limit: accepted.
    let (s, v) = put(&app, &format!("{PROXY}/{root}/ok.bin"), &[7u8; 32 * 1024]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = put(&app, &format!("{PROXY}/{root}/big.bin"), &[7u8; 65 * 1024]).await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    let v = app.ok("GET", &format!("{PROXY}?path={root}"), None).await;
    assert_eq!(v["files"].as_array().map(Vec::len), Some(1), "{v}");
}

#[tokio::test]
async fn logged_model_search_of_an_experiment_without_models_is_an_empty_page() {
    let app = TestApp::new().await;
    let v = app
        .ok(
            "POST",
            &format!("{API}/logged-models/search"),
            Some(json!({"experiment_ids": ["0"], "filter": "name = 'm'"})),
        )
        .await;
    assert_eq!(v, json!({"models": []}));
    let (s, v) = app
        .call(
            "POST",
            &format!("{API}/logged-models/search"),
            Some(json!({"experiment_ids": ["../x"]})),
        )
        .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
}
