//! The MLflow model registry over HTTP: the full lifecycle on both prefixes, error codes and
//! statuses, searches with repeated query keys, and hostile version sources.

use crate::support::{TestApp, assert_mlflow_error};
use serde_json::{Value, json};

const API: &str = "/api/2.0/mlflow";
const AJAX: &str = "/ajax-api/2.0/mlflow";

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn lifecycle(app: &TestApp, p: &str) {
    let (exp, run) = app.run().await;
    let m = app
        .ok(
            "POST",
            &format!("{p}/registered-models/create"),
            Some(json!({"name": "fraud", "description": "d",
                        "tags": [{"key": "team", "value": "risk"}]})),
        )
        .await;
    assert_eq!(m["registered_model"]["name"], "fraud");
    assert_eq!(m["registered_model"]["tags"][0]["key"], "team");
    let (s, body) = app
        .call(
            "POST",
            &format!("{p}/registered-models/create"),
            Some(json!({"name": "fraud"})),
        )
        .await;
    assert_mlflow_error(s, &body, 400, "RESOURCE_ALREADY_EXISTS");

    let v1 = app
        .ok(
            "POST",
            &format!("{p}/model-versions/create"),
            Some(json!({"name": "fraud", "source": format!("runs:/{run}/model"), "run_id": run})),
        )
        .await;
    let mv = &v1["model_version"];
    assert_eq!(mv["version"], "1");
    assert_eq!(mv["status"], "READY");
    assert_eq!(mv["current_stage"], "None");
    assert_eq!(mv["run_id"], run.as_str());
    let artifact_source = format!("mlflow-artifacts:/default/{exp}/{run}/artifacts/model");
    let v2 = app
        .ok(
            "POST",
            &format!("{p}/model-versions/create"),
            Some(json!({"name": "fraud", "source": artifact_source})),
        )
        .await;
    assert_eq!(v2["model_version"]["version"], "2");

    let uri = app
        .ok(
            "GET",
            &format!("{p}/model-versions/get-download-uri?name=fraud&version=1"),
            None,
        )
        .await;
    assert_eq!(uri["artifact_uri"], artifact_source.as_str());

    app.ok(
        "POST",
        &format!("{p}/registered-models/alias"),
        Some(json!({"name": "fraud", "alias": "champion", "version": "2"})),
    )
    .await;
    let by_alias = app
        .ok(
            "GET",
            &format!("{p}/registered-models/alias?name=fraud&alias=champion"),
            None,
        )
        .await;
    assert_eq!(by_alias["model_version"]["version"], "2");
    assert_eq!(by_alias["model_version"]["aliases"], json!(["champion"]));

    let t = app
        .ok(
            "POST",
            &format!("{p}/model-versions/transition-stage"),
            Some(
                json!({"name": "fraud", "version": "1", "stage": "production",
                        "archive_existing_versions": true}),
            ),
        )
        .await;
    assert_eq!(t["model_version"]["current_stage"], "Production");
    app.ok(
        "POST",
        &format!("{p}/model-versions/set-tag"),
        Some(json!({"name": "fraud", "version": "1", "key": "k", "value": "v"})),
    )
    .await;
    app.ok(
        "DELETE",
        &format!("{p}/model-versions/delete-tag"),
        Some(json!({"name": "fraud", "version": "1", "key": "k"})),
    )
    .await;
    let upd = app
        .ok(
            "PATCH",
            &format!("{p}/model-versions/update"),
            Some(json!({"name": "fraud", "version": "1", "description": "first"})),
        )
        .await;
    assert_eq!(upd["model_version"]["description"], "first");
    let latest = app
        .ok(
            "POST",
            &format!("{p}/registered-models/get-latest-versions"),
            Some(json!({"name": "fraud", "stages": ["Production"]})),
        )
        .await;
    assert_eq!(latest["model_versions"][0]["version"], "1");
    let latest_get = app
        .ok(
            "GET",
            &format!(
                "{p}/registered-models/get-latest-versions?name=fraud&stages=None&stages=Production"
            ),
            None,
        )
        .await;
    assert_eq!(
        latest_get["model_versions"].as_array().map(Vec::len),
        Some(2)
    );

    app.ok(
        "POST",
        &format!("{p}/registered-models/set-tag"),
        Some(json!({"name": "fraud", "key": "tier", "value": "1"})),
    )
    .await;
    app.ok(
        "DELETE",
        &format!("{p}/registered-models/delete-tag"),
        Some(json!({"name": "fraud", "key": "tier"})),
    )
    .await;
    let upd = app
        .ok(
            "PATCH",
            &format!("{p}/registered-models/update"),
            Some(json!({"name": "fraud", "description": "new"})),
        )
        .await;
    assert_eq!(upd["registered_model"]["description"], "new");

    let renamed = app
        .ok(
            "POST",
            &format!("{p}/registered-models/rename"),
            Some(json!({"name": "fraud", "new_name": "fraud-v2"})),
        )
        .await;
    let rm = &renamed["registered_model"];
    assert_eq!(rm["name"], "fraud-v2");
    assert_eq!(
        rm["aliases"],
        json!([{"alias": "champion", "version": "2"}])
    );
    assert_eq!(rm["latest_versions"].as_array().map(Vec::len), Some(2));

    let found = app
        .ok(
            "GET",
            &format!(
                "{p}/registered-models/search?filter={}&max_results=10&order_by={}",
                enc("name LIKE 'fraud%'"),
                enc("name DESC")
            ),
            None,
        )
        .await;
    assert_eq!(found["registered_models"][0]["name"], "fraud-v2");
    let versions = app
        .ok(
            "GET",
            &format!(
                "{p}/model-versions/search?filter={}&order_by={}",
                enc("name = 'fraud-v2'"),
                enc("version_number ASC")
            ),
            None,
        )
        .await;
    let nums: Vec<&str> = versions["model_versions"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v["version"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(nums, vec!["1", "2"]);

    app.ok(
        "DELETE",
        &format!("{p}/registered-models/alias"),
        Some(json!({"name": "fraud-v2", "alias": "champion"})),
    )
    .await;
    app.ok(
        "DELETE",
        &format!("{p}/model-versions/delete"),
        Some(json!({"name": "fraud-v2", "version": "2"})),
    )
    .await;
    let (s, body) = app
        .call(
            "GET",
            &format!("{p}/model-versions/get?name=fraud-v2&version=2"),
            None,
        )
        .await;
    assert_mlflow_error(s, &body, 404, "RESOURCE_DOES_NOT_EXIST");
    // DELETE parameters may also come in the query string.
    app.ok(
        "DELETE",
        &format!("{p}/registered-models/delete?name=fraud-v2"),
        None,
    )
    .await;
    let (s, body) = app
        .call(
            "GET",
            &format!("{p}/registered-models/get?name=fraud-v2"),
            None,
        )
        .await;
    assert_mlflow_error(s, &body, 404, "RESOURCE_DOES_NOT_EXIST");
}

#[tokio::test]
async fn registry_lifecycle_on_the_sdk_prefix() {
    lifecycle(&TestApp::new().await, API).await;
}

#[tokio::test]
async fn registry_lifecycle_on_the_ajax_prefix() {
    lifecycle(&TestApp::new().await, AJAX).await;
}

#[tokio::test]
async fn registry_errors_have_mlflow_codes() {
    let app = TestApp::new().await;
    let cases: Vec<(&str, String, Option<Value>, u16, &str)> = vec![
        (
            "GET",
            format!("{API}/registered-models/get?name=missing"),
            None,
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            "GET",
            format!("{API}/registered-models/get?name="),
            None,
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            format!("{API}/registered-models/create"),
            Some(json!({"name": ""})),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            format!("{API}/registered-models/create"),
            Some(json!({"name": "a%2Fb"})),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            format!("{API}/registered-models/create"),
            Some(json!({"name": "a/b"})),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            format!("{API}/registered-models/create"),
            Some(json!({"name": "t", "tags": [{"key": "k".repeat(251), "value": "v"}]})),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "GET",
            format!("{API}/model-versions/get?name=missing&version=1"),
            None,
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            "GET",
            format!("{API}/model-versions/get?name=x&version=abc"),
            None,
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "GET",
            format!(
                "{API}/registered-models/search?filter={}",
                enc("name <> 'x'")
            ),
            None,
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "GET",
            format!("{API}/registered-models/search?max_results=1001"),
            None,
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "GET",
            format!("{API}/registered-models/search?page_token=garbage"),
            None,
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "GET",
            format!(
                "{API}/model-versions/search?filter={}",
                enc("metrics.a > 1")
            ),
            None,
            400,
            "INVALID_PARAMETER_VALUE",
        ),
    ];
    for (method, uri, body, status, code) in cases {
        let (s, v) = app.call(method, &uri, body).await;
        assert_mlflow_error(s, &v, status, code);
    }
    app.ok(
        "POST",
        &format!("{API}/registered-models/create"),
        Some(json!({"name": "m"})),
    )
    .await;
    let (_, run) = app.run().await;
    app.ok(
        "POST",
        &format!("{API}/model-versions/create"),
        Some(json!({"name": "m", "source": format!("runs:/{run}/model")})),
    )
    .await;
    for alias in ["latest", "v1", "a.b"] {
        let (s, v) = app
            .call(
                "POST",
                &format!("{API}/registered-models/alias"),
                Some(json!({"name": "m", "alias": alias, "version": "1"})),
            )
            .await;
        assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    }
    let (s, v) = app
        .call(
            "POST",
            &format!("{API}/model-versions/transition-stage"),
            Some(json!({"name": "m", "version": "1", "stage": "prod"})),
        )
        .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    let (s, v) = app
        .call(
            "GET",
            &format!("{API}/registered-models/alias?name=m&alias=none"),
            None,
        )
        .await;
    assert_mlflow_error(s, &v, 404, "RESOURCE_DOES_NOT_EXIST");
    let (s, v) = app
        .call(
            "POST",
            &format!("{API}/model-versions/create"),
            Some(json!({"name": "m", "source": format!("runs:/{run}/model"),
                        "run_id": "0123456789abcdef0123456789abcdef"})),
        )
        .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
}

#[tokio::test]
async fn hostile_sources_are_refused_and_create_nothing() {
    let app = TestApp::new().await;
    app.ok(
        "POST",
        &format!("{API}/registered-models/create"),
        Some(json!({"name": "victim"})),
    )
    .await;
    let missing_run = "0123456789abcdef0123456789abcdef";
    let sources = [
        "file:///etc/passwd".to_string(),
        "/etc".into(),
        "//proc/self/root".into(),
        "\\\\host\\share".into(),
        "FILE:/x".into(),
        "mlflow-artifacts:/1/../../etc".into(),
        "mlflow-artifacts:/1/%2e%2e/x".into(),
        "mlflow-artifacts:/1/%252e%252e/x".into(),
        "mlflow-artifacts://evil.com/1/r/artifacts".into(),
        "http://169.254.169.254/".into(),
        "s3://bucket/key".into(),
        format!("runs:/{missing_run}/model"),
        "models:/../x".into(),
        "models:/m-0123456789abcdef0123456789abcdef".into(),
        "".into(),
    ];
    for source in &sources {
        let (s, v) = app
            .call(
                "POST",
                &format!("{API}/model-versions/create"),
                Some(json!({"name": "victim", "source": source})),
            )
            .await;
        assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
        assert!(
            v["message"]
                .as_str()
                .is_some_and(|m| m.contains("source") || m.contains("logged model not found")),
            "{source:?}: {v}"
        );
    }
    let found = app
        .ok(
            "GET",
            &format!(
                "{API}/model-versions/search?filter={}",
                enc("name = 'victim'")
            ),
            None,
        )
        .await;
    assert!(
        found["model_versions"].as_array().is_none_or(Vec::is_empty),
        "{found}"
    );
}
