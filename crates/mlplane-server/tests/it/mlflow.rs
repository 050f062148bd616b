//! The MLflow REST API: error shape and codes, round trips through create and get, the
//! `/ajax-api` alias, param conflicts and int64 fields sent as strings.

use crate::support::{TestApp, assert_mlflow_error};
use axum::http::StatusCode;
use serde_json::{Value, json};

const API: &str = "/api/2.0/mlflow";
const AJAX: &str = "/ajax-api/2.0/mlflow";

async fn create_experiment(app: &TestApp, name: &str) -> String {
    let v = app
        .ok(
            "POST",
            &format!("{API}/experiments/create"),
            Some(json!({"name": name, "tags": [{"key": "k", "value": "v"}]})),
        )
        .await;
    v["experiment_id"]
        .as_str()
        .expect("experiment_id")
        .to_string()
}

async fn create_run(app: &TestApp, exp: &str) -> String {
    let v = app
        .ok(
            "POST",
            &format!("{API}/runs/create"),
            Some(json!({"experiment_id": exp, "start_time": "1700000000000",
                "tags": [{"key": "mlflow.runName", "value": "from-tag"},
                         {"key": "mlflow.user", "value": "alice"}]})),
        )
        .await;
    v["run"]["info"]["run_id"]
        .as_str()
        .expect("run_id")
        .to_string()
}

#[tokio::test]
async fn health_and_version_are_plain_text() {
    let app = TestApp::new().await;
    let (s, body) = app.raw("GET", "/health", None, Vec::new()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body, b"OK");
    let (s, body) = app.raw("GET", "/version", None, Vec::new()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!body.is_empty());
}

#[tokio::test]
async fn experiment_round_trip_and_errors() {
    let app = TestApp::new().await;
    let id = create_experiment(&app, "exp-a").await;
    let v = app
        .ok(
            "GET",
            &format!("{API}/experiments/get?experiment_id={id}"),
            None,
        )
        .await;
    let e = &v["experiment"];
    assert_eq!(e["name"], "exp-a");
    assert_eq!(e["lifecycle_stage"], "active");
    assert_eq!(
        e["artifact_location"],
        format!("mlflow-artifacts:/default/{id}")
    );
    assert_eq!(e["tags"], json!([{"key": "k", "value": "v"}]));

    let (s, v) = app
        .call(
            "GET",
            &format!("{API}/experiments/get-by-name?experiment_name=nope"),
            None,
        )
        .await;
    assert_mlflow_error(s, &v, 404, "RESOURCE_DOES_NOT_EXIST");
    let (s, v) = app
        .call(
            "POST",
            &format!("{API}/experiments/create"),
            Some(json!({"name": "exp-a"})),
        )
        .await;
    assert_mlflow_error(s, &v, 400, "RESOURCE_ALREADY_EXISTS");
    let (s, v) = app
        .call(
            "POST",
            &format!("{API}/experiments/delete"),
            Some(json!({"experiment_id": "0"})),
        )
        .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    let (s, v) = app
        .call(
            "POST",
            &format!("{API}/experiments/create"),
            Some(json!({})),
        )
        .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    let (s, v) = app
        .raw(
            "POST",
            &format!("{API}/experiments/create"),
            Some("application/json"),
            b"{not json".to_vec(),
        )
        .await;
    let v: Value = serde_json::from_slice(&v).expect("json error body");
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    let (s, v) = app
        .call("GET", &format!("{API}/experiments/get"), None)
        .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
}

#[tokio::test]
async fn run_round_trip_through_the_ajax_alias() {
    let app = TestApp::new().await;
    let exp = create_experiment(&app, "runs").await;
    let id = create_run(&app, &exp).await;
    let v = app
        .ok("GET", &format!("{AJAX}/runs/get?run_id={id}"), None)
        .await;
    let info = &v["run"]["info"];
    assert_eq!(info["run_id"], id.as_str());
    assert_eq!(info["run_uuid"], id.as_str());
    assert_eq!(info["run_name"], "from-tag");
    assert_eq!(info["user_id"], "alice");
    assert_eq!(info["status"], "RUNNING");
    assert_eq!(info["start_time"], 1_700_000_000_000_i64);
    assert_eq!(info["experiment_id"], exp.as_str());
    assert_eq!(
        info["artifact_uri"],
        format!("mlflow-artifacts:/default/{exp}/{id}/artifacts")
    );
    assert!(info.get("end_time").is_none());
    assert_eq!(v["run"]["inputs"], json!({}));

    let v = app
        .ok(
            "POST",
            &format!("{AJAX}/runs/update"),
            Some(json!({"run_uuid": id, "status": "FINISHED", "end_time": "1700000001000"})),
        )
        .await;
    assert_eq!(v["run_info"]["status"], "FINISHED");
    assert_eq!(v["run_info"]["end_time"], 1_700_000_001_000_i64);
}

#[tokio::test]
async fn logging_accepts_string_int64_and_special_floats() {
    let app = TestApp::new().await;
    let id = create_run(&app, "0").await;
    app.ok(
        "POST",
        &format!("{API}/runs/log-metric"),
        Some(json!({"run_id": id, "key": "loss", "value": 0.5, "timestamp": "10", "step": "1"})),
    )
    .await;
    app.ok(
        "POST",
        &format!("{API}/runs/log-batch"),
        Some(json!({"run_id": id,
            "metrics": [{"key": "loss", "value": "NaN", "timestamp": 20, "step": 2}],
            "params": [{"key": "lr", "value": "0.1"}],
            "tags": [{"key": "mlflow.runName", "value": "renamed"}]})),
    )
    .await;
    let v = app
        .ok(
            "GET",
            &format!("{API}/metrics/get-history?run_id={id}&metric_key=loss"),
            None,
        )
        .await;
    assert_eq!(
        v["metrics"],
        json!([{"key": "loss", "value": 0.5, "timestamp": 10, "step": 1},
               {"key": "loss", "value": "NaN", "timestamp": 20, "step": 2}])
    );
    let v = app
        .ok("GET", &format!("{API}/runs/get?run_id={id}"), None)
        .await;
    assert_eq!(v["run"]["info"]["run_name"], "renamed");
    assert_eq!(
        v["run"]["data"]["params"],
        json!([{"key": "lr", "value": "0.1"}])
    );
    let (s, v) = app
        .call(
            "POST",
            &format!("{API}/runs/log-metric"),
            Some(json!({"run_id": id, "key": "x", "value": 1, "timestamp": "soon"})),
        )
        .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
}

#[tokio::test]
async fn param_conflict_and_unknown_run_have_mlflow_codes() {
    let app = TestApp::new().await;
    let id = create_run(&app, "0").await;
    let uri = format!("{API}/runs/log-parameter");
    app.ok(
        "POST",
        &uri,
        Some(json!({"run_id": id, "key": "p", "value": "1"})),
    )
    .await;
    app.ok(
        "POST",
        &uri,
        Some(json!({"run_id": id, "key": "p", "value": "1"})),
    )
    .await;
    let (s, v) = app
        .call(
            "POST",
            &uri,
            Some(json!({"run_id": id, "key": "p", "value": "2"})),
        )
        .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");

    let missing = "0".repeat(32);
    let (s, v) = app
        .call("GET", &format!("{API}/runs/get?run_id={missing}"), None)
        .await;
    assert_mlflow_error(s, &v, 404, "RESOURCE_DOES_NOT_EXIST");
    let (s, v) = app
        .call(
            "POST",
            &format!("{API}/runs/create"),
            Some(json!({"experiment_id": "424242"})),
        )
        .await;
    assert_mlflow_error(s, &v, 404, "RESOURCE_DOES_NOT_EXIST");
    let (s, v) = app
        .call("GET", &format!("{API}/runs/get?run_id=not-a-uuid"), None)
        .await;
    assert_mlflow_error(s, &v, 404, "RESOURCE_DOES_NOT_EXIST");
    let (s, v) = app
        .call("GET", &format!("{API}/runs/get?run_id=..%2Fx"), None)
        .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    let (s, v) = app
        .call("GET", &format!("{API}/runs/no-such-endpoint"), None)
        .await;
    assert_mlflow_error(s, &v, 404, "ENDPOINT_NOT_FOUND");
}

#[tokio::test]
async fn logging_to_a_deleted_run_is_invalid() {
    let app = TestApp::new().await;
    let id = create_run(&app, "0").await;
    app.ok(
        "POST",
        &format!("{API}/runs/delete"),
        Some(json!({"run_id": id})),
    )
    .await;
    let (s, v) = app
        .call(
            "POST",
            &format!("{API}/runs/set-tag"),
            Some(json!({"run_id": id, "key": "k", "value": "v"})),
        )
        .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    app.ok(
        "POST",
        &format!("{API}/runs/restore"),
        Some(json!({"run_id": id})),
    )
    .await;
    app.ok(
        "POST",
        &format!("{API}/runs/set-tag"),
        Some(json!({"run_id": id, "key": "k", "value": "v"})),
    )
    .await;
}
