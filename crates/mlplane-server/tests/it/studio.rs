//! What the studio reads: `POST …/runs/search` (filter grammar, order, paging, errors with
//! positions), the registry reads `…/registered-models[/{name}[/versions]]`, the windowed
//! sampled history, and the studio itself under `/studio/` with `/` redirecting to it.

use crate::support::{TestApp, WS, assert_error};
use axum::body::Body;
use axum::http::Request;
use serde_json::json;

const MLFLOW: &str = "/api/2.0/mlflow";

async fn seed_runs(t: &TestApp, n: usize) -> String {
    let (exp, _) = t.run().await;
    for i in 0..n {
        let r = t
            .ok(
                "POST",
                &format!("{WS}/runs"),
                Some(json!({"experiment_id": exp, "name": format!("r{i}")})),
            )
            .await;
        let id = r["info"]["run_id"].as_str().unwrap().to_string();
        t.ok(
            "POST",
            &format!("{WS}/runs/{id}/batch"),
            Some(json!({
                "metrics": [{"key": "loss", "value": 1.0 / (i as f64 + 1.0), "step": 0}],
                "params": [{"key": "lr", "value": format!("0.{i}")}],
                "tags": [{"key": "parity", "value": if i % 2 == 0 { "even" } else { "odd" }}],
            })),
        )
        .await;
    }
    exp
}

#[tokio::test]
async fn run_search_filters_orders_and_pages() {
    let t = TestApp::new().await;
    let exp = seed_runs(&t, 5).await;
    let url = format!("{WS}/runs/search");
    let page = t
        .ok(
            "POST",
            &url,
            Some(
                json!({"experiment_ids": [exp], "filter": "tags.parity = 'even'",
                        "order_by": ["metrics.loss ASC"], "max_results": 2}),
            ),
        )
        .await;
    let runs = page["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    // Even runs r0, r2, r4 have losses 1, 1/3, 1/5: ascending is r4, r2, then r0 on page 2.
    assert_eq!(runs[0]["info"]["name"], "r4");
    assert_eq!(runs[1]["info"]["name"], "r2");
    assert_eq!(runs[0]["data"]["params"][0]["value"], "0.4");
    assert_eq!(runs[0]["data"]["metrics"][0]["key"], "loss");
    let token = page["next_page_token"].as_str().expect("a next page");
    let next = t
        .ok(
            "POST",
            &url,
            Some(
                json!({"experiment_ids": [exp], "filter": "tags.parity = 'even'",
                        "order_by": ["metrics.loss ASC"], "max_results": 2, "page_token": token}),
            ),
        )
        .await;
    assert_eq!(next["runs"].as_array().unwrap().len(), 1);
    assert_eq!(next["runs"][0]["info"]["name"], "r0");
    assert!(next["next_page_token"].is_null());
}

#[tokio::test]
async fn run_search_reports_bad_filters_with_their_position() {
    let t = TestApp::new().await;
    let exp = seed_runs(&t, 1).await;
    let url = format!("{WS}/runs/search");
    let (s, v) = t
        .call(
            "POST",
            &url,
            Some(json!({"experiment_ids": [exp], "filter": "metrics.loss <<< 1"})),
        )
        .await;
    assert_error(s, &v, 400, "invalid_filter");
    assert_eq!(v["details"]["field"], "filter");
    let pos = v["details"]["position"].as_u64().expect("a position");
    assert!((12..=15).contains(&pos), "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains(&format!("position {pos}"))
    );

    let (s, v) = t
        .call(
            "POST",
            &url,
            Some(json!({"experiment_ids": [exp], "order_by": ["start_time ASC", "metrics.loss SIDEWAYS"]})),
        )
        .await;
    assert_error(s, &v, 400, "invalid_filter");
    assert_eq!(v["details"]["field"], "order_by");
    assert_eq!(v["details"]["index"], 1);

    for body in [
        json!({"experiment_ids": [exp], "max_results": 1001}),
        json!({"experiment_ids": [exp], "max_results": 0}),
        json!({"experiment_ids": []}),
        json!({"experiment_ids": ["not-a-number"]}),
    ] {
        let (s, v) = t.call("POST", &url, Some(body.clone())).await;
        assert_error(s, &v, 400, "invalid_parameter");
    }
    let (s, v) = t
        .call(
            "POST",
            &url,
            Some(json!({"experiment_ids": [exp], "surprise": 1})),
        )
        .await;
    assert_eq!(s.as_u16(), 400, "{v}");
}

#[tokio::test]
async fn registry_reads_list_models_versions_and_aliases() {
    let t = TestApp::new().await;
    let (_, run) = t.run().await;
    t.ok(
        "POST",
        &format!("{MLFLOW}/registered-models/create"),
        Some(json!({"name": "fraud", "description": "catches fraud"})),
    )
    .await;
    t.ok(
        "POST",
        &format!("{MLFLOW}/registered-models/create"),
        Some(json!({"name": "churn"})),
    )
    .await;
    for _ in 0..2 {
        t.ok(
            "POST",
            &format!("{MLFLOW}/model-versions/create"),
            Some(json!({"name": "fraud", "source": format!("runs:/{run}/model"), "run_id": run})),
        )
        .await;
    }
    t.ok(
        "POST",
        &format!("{MLFLOW}/registered-models/alias"),
        Some(json!({"name": "fraud", "alias": "champion", "version": "1"})),
    )
    .await;

    let list = t.ok("GET", &format!("{WS}/registered-models"), None).await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["churn", "fraud"]);
    let only = t
        .ok(
            "GET",
            &format!("{WS}/registered-models?filter=name%20LIKE%20%27fr%25%27"),
            None,
        )
        .await;
    assert_eq!(only["items"].as_array().unwrap().len(), 1);

    let m = t
        .ok("GET", &format!("{WS}/registered-models/fraud"), None)
        .await;
    assert_eq!(m["description"], "catches fraud");
    assert_eq!(m["aliases"][0]["alias"], "champion");
    assert_eq!(m["aliases"][0]["version"], 1);

    let vs = t
        .ok(
            "GET",
            &format!("{WS}/registered-models/fraud/versions"),
            None,
        )
        .await;
    let items = vs["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["version"], 2, "newest first");
    assert_eq!(items[1]["aliases"][0], "champion");
    assert_eq!(items[1]["run_id"], run.as_str());
    assert_eq!(items[1]["stage"], "None");

    let (s, v) = t
        .call("GET", &format!("{WS}/registered-models/nope"), None)
        .await;
    assert_error(s, &v, 404, "model_not_found");
    let (s, v) = t
        .call(
            "GET",
            &format!("{WS}/registered-models/nope/versions"),
            None,
        )
        .await;
    assert_error(s, &v, 404, "model_not_found");
    let (s, v) = t
        .call(
            "GET",
            &format!("{WS}/registered-models?filter=name%20%3D%3D"),
            None,
        )
        .await;
    assert_error(s, &v, 400, "invalid_filter");
    let (s, v) = t
        .call(
            "GET",
            &format!("{WS}/registered-models?max_results=5000"),
            None,
        )
        .await;
    assert_error(s, &v, 400, "invalid_parameter");
}

#[tokio::test]
async fn sampled_history_window_returns_only_that_window() {
    let t = TestApp::new().await;
    let (_, run) = t.run().await;
    let metrics: Vec<_> = (0..1000)
        .map(|i| json!({"key": "m", "value": i as f64, "step": i, "timestamp": 1000 + i}))
        .collect();
    t.ok(
        "POST",
        &format!("{WS}/runs/{run}/batch"),
        Some(json!({ "metrics": metrics })),
    )
    .await;
    let base = format!("{WS}/runs/{run}/metric-history/sampled?key=m");
    let whole = t.ok("GET", &format!("{base}&max_points=50"), None).await;
    assert_eq!(whole["total_points"], 1000);
    assert_eq!(whole["downsampled"], true);
    let win = t
        .ok(
            "GET",
            &format!("{base}&max_points=50&start_step=100&end_step=119"),
            None,
        )
        .await;
    let steps: Vec<i64> = win["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["step"].as_i64().unwrap())
        .collect();
    assert_eq!(
        steps,
        (100..120).collect::<Vec<_>>(),
        "every point of a small window"
    );
    assert_eq!(win["downsampled"], false);
    let wide = t
        .ok("GET", &format!("{base}&max_points=10&start_step=500"), None)
        .await;
    let pts = wide["points"].as_array().unwrap();
    assert_eq!(pts.len(), 10);
    assert_eq!(pts[0]["step"], 500);
    assert_eq!(pts[9]["step"], 999);
    let (s, v) = t
        .call("GET", &format!("{base}&max_points=0&start_step=1"), None)
        .await;
    assert_error(s, &v, 400, "invalid_parameter");
}

#[tokio::test]
async fn studio_is_served_under_studio_with_deep_links_and_root_redirects() {
    let t = TestApp::new().await;
    let get = |uri: &str, etag: Option<&str>| {
        let mut b = Request::builder().method("GET").uri(uri);
        if let Some(e) = etag {
            b = b.header("if-none-match", e);
        }
        b.body(Body::empty()).unwrap()
    };
    let (s, h, _) = t.send(get("/", None)).await;
    assert!(s.is_redirection(), "{s}");
    assert_eq!(h["location"], "/studio/");
    let (s, h, _) = t.send(get("/studio", None)).await;
    assert!(s.is_redirection(), "{s}");
    assert_eq!(h["location"], "/studio/");

    let (s, h, index) = t.send(get("/studio/", None)).await;
    let index = String::from_utf8(index).unwrap();
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    if !mlplane_studio::is_built() {
        assert_eq!(s.as_u16(), 503);
        assert!(index.contains("make run"), "{index}");
        return;
    }
    assert_eq!(s.as_u16(), 200);
    assert_eq!(h["cache-control"], "no-cache");
    let (s, _, deep) = t
        .send(get("/studio/w/default/runs/abc/metrics", None))
        .await;
    assert_eq!(s.as_u16(), 200);
    assert_eq!(
        String::from_utf8(deep).unwrap(),
        index,
        "deep links get index.html"
    );

    // The script the page loads is served as immutable JavaScript, revalidated by etag.
    let src = index
        .split("src=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a script");
    assert!(src.starts_with("/studio/assets/"), "{src}");
    let (s, h, js) = t.send(get(src, None)).await;
    assert_eq!(s.as_u16(), 200);
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(h["cache-control"].to_str().unwrap().contains("immutable"));
    assert!(!js.is_empty());
    let etag = h["etag"].to_str().unwrap().to_string();
    let (s, _, body) = t.send(get(src, Some(&etag))).await;
    assert_eq!(s.as_u16(), 304);
    assert!(body.is_empty());

    let (s, _, body) = t.send(get("/studio/assets/missing-0000.js", None)).await;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_error(s, &v, 404, "route_not_found");
    // The API is untouched by the studio's routes.
    let (s, v) = t.call("GET", "/api/v1/no-such", None).await;
    assert_error(s, &v, 404, "route_not_found");
}
