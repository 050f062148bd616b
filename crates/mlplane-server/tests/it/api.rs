//! Happy paths of `/api/v1` and the documents served next to it.

use crate::support::{TestApp, WS};
use serde_json::json;

#[tokio::test]
async fn run_lifecycle_logs_params_metrics_tags_and_logs() {
    let t = TestApp::new().await;
    let (exp, run) = t.run().await;
    t.ok("POST", &format!("{WS}/runs/{run}/batch"), Some(json!({
        "metrics": [{"key": "loss", "value": 0.5, "step": 1, "timestamp": 10}, {"key": "loss", "value": "NaN", "step": 2, "timestamp": 11},
                    {"key": "acc", "value": "Infinity", "step": 0}],
        "params": [{"key": "lr", "value": "0.1"}],
        "tags": [{"key": "team", "value": "a"}]
    }))).await;
    let r = t.ok("GET", &format!("{WS}/runs/{run}"), None).await;
    assert_eq!(r["info"]["experiment_id"], exp);
    assert_eq!(r["data"]["params"], json!([{"key": "lr", "value": "0.1"}]));
    let loss = r["data"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "loss")
        .unwrap()
        .clone();
    assert_eq!(loss["value"], "NaN");
    assert_eq!(loss["step"], 2);
    t.ok(
        "POST",
        &format!("{WS}/runs/{run}/logs"),
        Some(json!({"data": "hello\n"})),
    )
    .await;
    let l = t
        .ok(
            "POST",
            &format!("{WS}/runs/{run}/logs"),
            Some(json!({"data": "wörld\n"})),
        )
        .await;
    assert_eq!(l["length"], 13);
    let c = t
        .ok("GET", &format!("{WS}/runs/{run}/logs?offset=6"), None)
        .await;
    assert_eq!(c["data"], "wörld\n");
    let u = t
        .ok(
            "PATCH",
            &format!("{WS}/runs/{run}"),
            Some(json!({"status": "FINISHED"})),
        )
        .await;
    assert_eq!(u["status"], "FINISHED");
    assert!(u["end_time"].is_i64());
    let h = t
        .ok(
            "GET",
            &format!("{WS}/runs/{run}/metric-history?key=loss"),
            None,
        )
        .await;
    assert_eq!(h["points"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn artifacts_round_trip_with_sha256_and_listing() {
    let t = TestApp::new().await;
    let (_, run) = t.run().await;
    let data: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let (s, body) = t
        .raw(
            "PUT",
            &format!("{WS}/runs/{run}/artifacts/model/weights.bin"),
            Some("application/octet-stream"),
            data.clone(),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{}", String::from_utf8_lossy(&body));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["size"], data.len());
    use sha2::Digest;
    assert_eq!(v["sha256"], hex::encode(sha2::Sha256::digest(&data)));
    let (s, back) = t
        .raw(
            "GET",
            &format!("{WS}/runs/{run}/artifacts/model/weights.bin"),
            None,
            vec![],
        )
        .await;
    assert_eq!(s.as_u16(), 200);
    assert!(back == data);
    let root = t
        .ok("GET", &format!("{WS}/runs/{run}/artifact-list"), None)
        .await;
    assert_eq!(root["dirs"], json!(["model"]));
    let sub = t
        .ok(
            "GET",
            &format!("{WS}/runs/{run}/artifact-list?path=model"),
            None,
        )
        .await;
    assert_eq!(sub["files"][0]["path"], "model/weights.bin");
}

#[tokio::test]
async fn lists_page_with_tokens_until_exhausted() {
    let t = TestApp::new().await;
    let (exp, _) = t.run().await;
    for _ in 0..6 {
        t.ok(
            "POST",
            &format!("{WS}/runs"),
            Some(json!({"experiment_id": exp})),
        )
        .await;
    }
    let mut seen = std::collections::HashSet::new();
    let mut token: Option<String> = None;
    loop {
        let uri = match &token {
            Some(tk) => format!("{WS}/runs?experiment_id={exp}&max_results=3&page_token={tk}"),
            None => format!("{WS}/runs?experiment_id={exp}&max_results=3"),
        };
        let p = t.ok("GET", &uri, None).await;
        for r in p["items"].as_array().unwrap() {
            assert!(seen.insert(r["run_id"].as_str().unwrap().to_string()));
        }
        match p["next_page_token"].as_str() {
            Some(tk) => token = Some(tk.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
}

#[tokio::test]
async fn openapi_document_lists_every_route_and_health_endpoints_answer() {
    let t = TestApp::new().await;
    let doc = t.ok("GET", "/api/v1/openapi.json", None).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/workspaces",
        "/api/v1/workspaces/{ws}/experiments",
        "/api/v1/workspaces/{ws}/runs/{run_id}/batch",
        "/api/v1/workspaces/{ws}/runs/{run_id}/artifacts/{path}",
        "/api/v1/workspaces/{ws}/runs/{run_id}/metric-history/sampled",
        "/api/v1/workspaces/{ws}/{kind}/{name}/versions/{version}/files/{path}",
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/workspaces/{ws}/secrets",
        "/api/v1/workspaces/{ws}/secrets/{name}",
        "/api/v1/audit",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
    // Every native route of the route table is documented, and nothing else is.
    let native: std::collections::BTreeSet<String> = t
        .table
        .entries()
        .iter()
        .map(|e| e.path.replace("{*", "{"))
        .filter(|p| {
            p.starts_with("/api/v1/") || ["/healthz", "/readyz", "/metrics"].contains(&p.as_str())
        })
        .filter(|p| p != "/api/v1/openapi.json")
        .collect();
    let documented: std::collections::BTreeSet<String> = paths.keys().cloned().collect();
    assert_eq!(native, documented, "routes and OpenAPI paths drifted apart");
    let mut ids = std::collections::HashSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            if let Some(id) = op.get("operationId").and_then(|v| v.as_str()) {
                assert!(
                    ids.insert(id.to_string()),
                    "operationId {id} repeats ({method} {path})"
                );
            }
        }
    }
    assert!(
        ids.contains("runs_search_runs") && ids.contains("assets_list"),
        "{ids:?}"
    );
    t.ok("GET", "/healthz", None).await;
    t.ok("GET", "/readyz", None).await;
    let (s, m) = t.raw("GET", "/metrics", None, vec![]).await;
    assert_eq!(s.as_u16(), 200);
    let text = String::from_utf8(m).unwrap();
    assert!(
        text.contains(
            "mlplane_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("mlplane_store_operations_total{engine=\"sqlite\",op=\"ping\"}"),
        "{text}"
    );
}

#[tokio::test]
async fn workspaces_isolate_experiments_and_runs() {
    let t = TestApp::new().await;
    let (_, run) = t.run().await;
    t.ok(
        "POST",
        "/api/v1/workspaces",
        Some(json!({"name": "team-a"})),
    )
    .await;
    let (s, v) = t
        .call(
            "GET",
            &format!("/api/v1/workspaces/team-a/runs/{run}"),
            None,
        )
        .await;
    crate::support::assert_error(s, &v, 404, "run_not_found");
    let exps = t
        .ok("GET", "/api/v1/workspaces/team-a/experiments", None)
        .await;
    assert_eq!(
        exps["items"].as_array().unwrap().len(),
        1,
        "only its own Default experiment"
    );
    let (s, v) = t
        .call("GET", "/api/v1/workspaces/nope/experiments", None)
        .await;
    crate::support::assert_error(s, &v, 404, "workspace_not_found");
}
