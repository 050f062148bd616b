//! `/api/v1/workspaces/{ws}/{data,models,environments}`: creating versions from YAML and
//! JSON, automatic numbering, `latest`, listing, archive and restore, duplicates, workspace
//! isolation and bad specs.

use crate::support::{TestApp, WS, assert_error};
use serde_json::json;

#[tokio::test]
async fn data_versions_are_numbered_listed_and_read_by_latest() {
    let t = TestApp::new().await;
    let a = t
        .ok(
            "POST",
            &format!("{WS}/data"),
            Some(json!({"yaml": "name: iris\ntype: uri_file\npath: data/iris.csv\ntags: {src: uci}\n"})),
        )
        .await;
    assert_eq!(a["kind"], "data");
    assert_eq!(a["version"], "1");
    assert_eq!(a["storage_uri"], json!(null));
    assert_eq!(a["pending_upload"], true);
    assert_eq!(
        a["spec"],
        json!({"type": "uri_file", "local_path": "data/iris.csv"})
    );
    assert_eq!(a["tags"], json!([{"key": "src", "value": "uci"}]));
    let b = t
        .ok(
            "POST",
            &format!("{WS}/data"),
            Some(json!({"name": "iris", "path": "data/v2", "description": "second"})),
        )
        .await;
    assert_eq!(b["version"], "2");
    t.ok(
        "POST",
        &format!("{WS}/data"),
        Some(json!({"name": "wine", "version": "2024.1", "path": "w"})),
    )
    .await;
    let latest = t
        .ok("GET", &format!("{WS}/data/iris/versions/latest"), None)
        .await;
    assert_eq!(latest["version"], "2");
    assert_eq!(latest["description"], "second");
    let one = t
        .ok("GET", &format!("{WS}/data/iris/versions/1"), None)
        .await;
    assert_eq!(one["spec"]["local_path"], "data/iris.csv");
    let list = t.ok("GET", &format!("{WS}/data"), None).await;
    let names: Vec<(String, String)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().into(),
                a["version"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("iris".into(), "2".into()),
            ("wine".into(), "2024.1".into())
        ]
    );
    let v = t.ok("GET", &format!("{WS}/data/iris/versions"), None).await;
    let versions: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, vec!["2", "1"]);
    let (s, b) = t
        .call(
            "POST",
            &format!("{WS}/data"),
            Some(json!({"name": "iris", "version": "1", "path": "x"})),
        )
        .await;
    assert_error(s, &b, 409, "asset_already_exists");
}

#[tokio::test]
async fn archive_hides_a_version_from_latest_and_lists_until_restored() {
    let t = TestApp::new().await;
    for p in ["a", "b"] {
        t.ok(
            "POST",
            &format!("{WS}/models"),
            Some(json!({"name": "clf", "type": "mlflow_model", "path": p})),
        )
        .await;
    }
    let a = t
        .ok(
            "POST",
            &format!("{WS}/models/clf/versions/latest/archive"),
            None,
        )
        .await;
    assert_eq!(
        (a["version"].clone(), a["archived"].clone()),
        (json!("2"), json!(true))
    );
    let latest = t
        .ok("GET", &format!("{WS}/models/clf/versions/latest"), None)
        .await;
    assert_eq!(latest["version"], "1");
    let v = t
        .ok("GET", &format!("{WS}/models/clf/versions"), None)
        .await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    let v = t
        .ok(
            "GET",
            &format!("{WS}/models/clf/versions?include_archived=true"),
            None,
        )
        .await;
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    let r = t
        .ok("POST", &format!("{WS}/models/clf/versions/2/restore"), None)
        .await;
    assert_eq!(r["archived"], false);
    let latest = t
        .ok("GET", &format!("{WS}/models/clf/versions/latest"), None)
        .await;
    assert_eq!(latest["version"], "2");
    let l = t
        .ok("GET", &format!("{WS}/models/clf/versions/2/lineage"), None)
        .await;
    assert_eq!(
        l,
        json!({"asset": {"kind": "model", "name": "clf", "version": "2"},
                         "producer": null, "consumers": []})
    );
}

#[tokio::test]
async fn environments_accept_yaml_pip_and_conda_forms() {
    let t = TestApp::new().await;
    let e = t
        .ok(
            "POST",
            &format!("{WS}/environments"),
            Some(json!({"yaml": "name: sk\nimage: python:3.11\npip: [scikit-learn==1.5]\n"})),
        )
        .await;
    assert_eq!(e["kind"], "environment");
    assert_eq!(e["spec"]["image"], "python:3.11");
    assert_eq!(
        e["spec"]["deps"]["inline"]["pip"],
        json!(["scikit-learn==1.5"])
    );
    assert_eq!(e["pending_upload"], false);
    let (s, b) = t
        .call(
            "POST",
            &format!("{WS}/environments"),
            Some(json!({"yaml": "name: sk\nimage: python:3.11\npipp: [x]\n"})),
        )
        .await;
    assert_error(s, &b, 400, "invalid_spec");
    let err = &b["details"]["errors"][0];
    assert_eq!(
        (err["line"].clone(), err["field"].clone()),
        (json!(3), json!("pipp"))
    );
}

#[tokio::test]
async fn bad_asset_requests_are_4xx() {
    let t = TestApp::new().await;
    let (s, b) = t
        .call("POST", &format!("{WS}/data"), Some(json!({"path": "x"})))
        .await;
    assert_error(s, &b, 400, "invalid_spec");
    let (s, b) = t
        .call(
            "POST",
            &format!("{WS}/data"),
            Some(json!({"name": "d", "path": "../etc"})),
        )
        .await;
    assert_error(s, &b, 400, "invalid_spec");
    assert_eq!(b["details"]["errors"][0]["field"], "path");
    let (s, b) = t
        .call(
            "POST",
            &format!("{WS}/data"),
            Some(json!({"name": "d", "path": "/abs"})),
        )
        .await;
    assert_error(s, &b, 400, "invalid_spec");
    let (s, b) = t.call("GET", &format!("{WS}/widgets"), None).await;
    assert_error(s, &b, 404, "route_not_found");
    let (s, b) = t
        .call("GET", &format!("{WS}/data/nope/versions/latest"), None)
        .await;
    assert_error(s, &b, 404, "asset_not_found");
    let (s, b) = t
        .call("POST", &format!("{WS}/data/nope/versions/1/archive"), None)
        .await;
    assert_error(s, &b, 404, "asset_not_found");
    let (s, b) = t
        .call("GET", &format!("{WS}/data/nope/versions/1/lineage"), None)
        .await;
    assert_error(s, &b, 404, "asset_not_found");
    let (s, b) = t
        .call("GET", &format!("{WS}/data/a%20b/versions/1"), None)
        .await;
    assert_error(s, &b, 400, "invalid_parameter");
    let (s, b) = t
        .raw(
            "POST",
            &format!("{WS}/models"),
            Some("application/json"),
            b"{\"name\": ".to_vec(),
        )
        .await;
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_error(s, &v, 400, "bad_request");
    // Static routes still win over `{kind}`.
    t.ok("GET", &format!("{WS}/runs"), None).await;
    t.ok("GET", &format!("{WS}/experiments"), None).await;
}

#[tokio::test]
async fn assets_are_invisible_from_other_workspaces() {
    let t = TestApp::new().await;
    t.ok(
        "POST",
        &format!("{WS}/data"),
        Some(json!({"name": "iris", "path": "d"})),
    )
    .await;
    t.ok("POST", "/api/v1/workspaces", Some(json!({"name": "other"})))
        .await;
    let other = "/api/v1/workspaces/other";
    let (s, b) = t
        .call("GET", &format!("{other}/data/iris/versions/1"), None)
        .await;
    assert_error(s, &b, 404, "asset_not_found");
    let l = t.ok("GET", &format!("{other}/data"), None).await;
    assert_eq!(l["items"], json!([]));
    // The same name starts at version 1 there.
    let a = t
        .ok(
            "POST",
            &format!("{other}/data"),
            Some(json!({"name": "iris", "path": "d"})),
        )
        .await;
    assert_eq!(a["version"], "1");
}
