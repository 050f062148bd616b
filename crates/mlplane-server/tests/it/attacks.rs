//! Attack classes that hit ML platforms, replayed against the in-process app: each is
//! refused with a 4xx in the error shape and leaves no trace, checked by reading state back
//! (API listings and every file under the test's folder but the database).
//!
//! Covered: path traversal in artifact paths (`..`, `%2e%2e`, `%2F`, absolute, backslash,
//! NUL) for reads, writes and deletes on the native and MLflow artifact routes and the
//! asset and snapshot file routes; model version sources naming local files or other hosts;
//! URI-taking fields that could make the server fetch (SSRF): none is ever fetched;
//! another workspace's runs, artifacts and secrets by id; oversize and deeply nested JSON
//! and YAML; and properties of the search-filter parser (no panic, positions inside the
//! input, linear-time LIKE).

use crate::support::{TestApp, WS, assert_error};
use mlplane_server::Limits;
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::Path;

/// Every file under `root` but the SQLite database, with its sha256.
fn files(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if rel.starts_with("m.db") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap_or_default();
                out.insert(rel, hex::encode(sha2::Sha256::digest(&bytes)));
            }
        }
    }
    out
}

/// The traversal spellings every artifact-path route must refuse.
const TRAVERSALS: &[&str] = &[
    "..%2F..%2Fescaped",
    "a/%2e%2e/%2e%2e/escaped",
    "%2E%2E/escaped",
    "a/..%2F..%2F..%2Fescaped",
    "%2Fetc%2Fpasswd",
    "a%5C..%5C..%5Cescaped",
    "a%00b",
    "a//b",
    "./a",
];

fn body_of(out: &[u8]) -> Value {
    serde_json::from_slice(out).unwrap_or(Value::Null)
}

/// Sends every traversal with every method to `base/<path>`; each must be a 4xx (404 is
/// accepted only where the route cannot even name the path) with an error body.
async fn refuse_all(t: &TestApp, base: &str, methods: &[&str]) {
    for path in TRAVERSALS {
        for m in methods {
            let (s, out) = t
                .raw(m, &format!("{base}/{path}"), None, b"evil".to_vec())
                .await;
            let v = body_of(&out);
            assert!(
                s.is_client_error(),
                "{m} {base}/{path} -> {s}: {}",
                String::from_utf8_lossy(&out)
            );
            assert!(
                v["code"].is_string() || v["error_code"].is_string(),
                "{m} {path}: {v}"
            );
        }
    }
}

#[tokio::test]
async fn path_traversal_is_refused_on_every_file_route_and_writes_nothing() {
    let t = TestApp::new().await;
    let (exp, run) = t.run().await;
    let (s, _) = t
        .raw(
            "PUT",
            &format!("{WS}/runs/{run}/artifacts/ok.txt"),
            None,
            b"ok".to_vec(),
        )
        .await;
    assert_eq!(s.as_u16(), 201);
    t.ok(
        "POST",
        &format!("{WS}/data"),
        Some(json!({"name": "d", "path": "x"})),
    )
    .await;
    let (sha, tarball) = crate::snapshots::packed(&[("train.py", "print(1)")]);
    let (s, _) = t
        .raw("PUT", &format!("{WS}/snapshots/{sha}"), None, tarball)
        .await;
    assert!(s.is_success());
    let before = files(t.dir.path());
    let listing = t
        .ok("GET", &format!("{WS}/runs/{run}/artifact-list"), None)
        .await;

    refuse_all(
        &t,
        &format!("{WS}/runs/{run}/artifacts"),
        &["GET", "PUT", "DELETE"],
    )
    .await;
    let root = format!("default/{exp}/{run}/artifacts");
    for prefix in [
        "/api/2.0/mlflow-artifacts/artifacts",
        "/ajax-api/2.0/mlflow-artifacts/artifacts",
    ] {
        refuse_all(&t, &format!("{prefix}/{root}"), &["GET", "PUT", "DELETE"]).await;
    }
    refuse_all(
        &t,
        &format!("{WS}/data/d/versions/1/files"),
        &["GET", "PUT"],
    )
    .await;
    refuse_all(&t, &format!("{WS}/snapshots/{sha}/files"), &["GET"]).await;
    // MLflow listing with a traversing path.
    for path in ["../..", "a/../../..", "/etc"] {
        let (s, out) = t
            .raw(
                "GET",
                &format!(
                    "/api/2.0/mlflow/artifacts/list?run_id={run}&path={}",
                    path.replace('/', "%2F")
                ),
                None,
                vec![],
            )
            .await;
        assert!(
            s.is_client_error(),
            "list {path}: {s} {}",
            String::from_utf8_lossy(&out)
        );
    }

    assert_eq!(
        files(t.dir.path()),
        before,
        "a refused request wrote a file"
    );
    assert!(!t.dir.path().join("escaped").exists());
    assert!(!t.dir.path().parent().unwrap().join("escaped").exists());
    assert_eq!(
        t.ok("GET", &format!("{WS}/runs/{run}/artifact-list"), None)
            .await,
        listing
    );
    let files_of_d = t
        .ok("GET", &format!("{WS}/data/d/versions/1/files"), None)
        .await;
    assert_eq!(files_of_d["items"], json!([]));
}

#[tokio::test]
async fn model_version_sources_outside_the_server_are_refused() {
    let t = TestApp::new().await;
    let (_, run) = t.run().await;
    t.ok(
        "POST",
        "/api/2.0/mlflow/registered-models/create",
        Some(json!({"name": "m"})),
    )
    .await;
    for source in [
        "file:///etc/passwd",
        "/etc/passwd",
        "../../etc/passwd",
        "http://169.254.169.254/latest/meta-data/",
        "https://evil.example.com/model",
        "s3://someone-elses-bucket/model",
        "mlflow-artifacts://evil.example.com/default/0/x",
        "mlflow-artifacts:/default/0/../../../etc",
        "mlflow-artifacts:/default/0/%2e%2e/x",
        "runs:/../../etc/passwd",
        "models:/../../x",
    ] {
        let (s, v) = t
            .call(
                "POST",
                "/api/2.0/mlflow/model-versions/create",
                Some(json!({"name": "m", "source": source, "run_id": run})),
            )
            .await;
        assert_eq!(s.as_u16(), 400, "{source}: {v}");
        assert_eq!(v["error_code"], "INVALID_PARAMETER_VALUE", "{source}: {v}");
    }
    let versions = t
        .ok(
            "GET",
            "/api/2.0/mlflow/model-versions/search?filter=name%3D%27m%27",
            None,
        )
        .await;
    assert!(
        versions["model_versions"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{versions}"
    );
}

#[tokio::test]
async fn uri_fields_are_refused_or_never_fetched() {
    // The server fetches no URL on a client's behalf: data paths with a scheme are refused
    // at the spec, and an MLflow experiment's artifact_location is ignored (the server's
    // own layout is used), so nothing here can reach the metadata endpoint.
    let t = TestApp::new().await;
    for path in [
        "http://169.254.169.254/latest/meta-data",
        "https://example.com/data.csv",
        "s3://other/x",
        "file:///etc/passwd",
        "/etc/passwd",
    ] {
        let (s, v) = t
            .call(
                "POST",
                &format!("{WS}/data"),
                Some(json!({"name": "d", "path": path})),
            )
            .await;
        assert_error(s, &v, 400, "invalid_spec");
    }
    let (s, v) = t
        .call(
            "POST",
            &format!("{WS}/jobs"),
            Some(json!({
                "command": "true", "environment": {"pip": []},
                "inputs": {"x": {"type": "uri_file", "path": "http://169.254.169.254/x"}},
            })),
        )
        .await;
    assert_error(s, &v, 400, "invalid_spec");
    let v = t
        .ok(
            "POST",
            "/api/2.0/mlflow/experiments/create",
            Some(json!({"name": "ssrf", "artifact_location": "http://169.254.169.254/x"})),
        )
        .await;
    let id = v["experiment_id"].as_str().unwrap();
    let e = t
        .ok(
            "GET",
            &format!("/api/2.0/mlflow/experiments/get?experiment_id={id}"),
            None,
        )
        .await;
    assert_eq!(
        e["experiment"]["artifact_location"],
        format!("mlflow-artifacts:/default/{id}")
    );
}

#[tokio::test]
async fn another_workspaces_runs_artifacts_and_secrets_are_not_found_by_id() {
    let t = TestApp::new().await;
    t.ok(
        "POST",
        "/api/v1/workspaces",
        Some(json!({"name": "team-b"})),
    )
    .await;
    let (exp, run) = t.run().await;
    let (s, _) = t
        .raw(
            "PUT",
            &format!("{WS}/runs/{run}/artifacts/model.pkl"),
            None,
            b"weights".to_vec(),
        )
        .await;
    assert_eq!(s.as_u16(), 201);
    t.ok(
        "PUT",
        &format!("{WS}/secrets/db"),
        Some(json!({"value": "s3cr3t-default"})),
    )
    .await;
    let other = "/api/v1/workspaces/team-b";
    for (m, uri, code) in [
        ("GET", format!("{other}/runs/{run}"), "run_not_found"),
        (
            "GET",
            format!("{other}/runs/{run}/artifacts/model.pkl"),
            "run_not_found",
        ),
        (
            "GET",
            format!("{other}/runs/{run}/artifact-list"),
            "run_not_found",
        ),
        (
            "DELETE",
            format!("{other}/runs/{run}/artifacts/model.pkl"),
            "run_not_found",
        ),
        ("GET", format!("{other}/runs/{run}/logs"), "run_not_found"),
        (
            "GET",
            format!("{other}/experiments/{exp}"),
            "experiment_not_found",
        ),
        ("GET", format!("{other}/secrets/db"), "secret_not_found"),
        ("DELETE", format!("{other}/secrets/db"), "secret_not_found"),
    ] {
        let (s, v) = t.call(m, &uri, None).await;
        assert_error(s, &v, 404, code);
    }
    assert_eq!(
        t.ok("GET", &format!("{other}/secrets"), None).await["items"],
        json!([])
    );
    // The MLflow protocol under /w/team-b, and its artifact proxy naming default's run.
    let (s, v) = t
        .call(
            "GET",
            &format!("/w/team-b/api/2.0/mlflow/runs/get?run_id={run}"),
            None,
        )
        .await;
    assert_eq!(s.as_u16(), 404, "{v}");
    for m in ["GET", "PUT", "DELETE"] {
        let (s, out) = t
            .raw(
                m,
                &format!(
                    "/w/team-b/api/2.0/mlflow-artifacts/artifacts/default/{exp}/{run}/artifacts/model.pkl"
                ),
                None,
                b"overwrite".to_vec(),
            )
            .await;
        assert!(
            s.is_client_error(),
            "{m}: {s} {}",
            String::from_utf8_lossy(&out)
        );
    }
    // Still there and unchanged in its own workspace.
    let (s, bytes) = t
        .raw(
            "GET",
            &format!("{WS}/runs/{run}/artifacts/model.pkl"),
            None,
            vec![],
        )
        .await;
    assert_eq!((s.as_u16(), bytes), (200, b"weights".to_vec()));
    t.ok("GET", &format!("{WS}/secrets/db"), None).await;
}

#[tokio::test]
async fn oversize_bodies_are_413_on_native_and_mlflow_routes() {
    let t = TestApp::new().await; // 64 KiB JSON limit
    let (_, run) = t.run().await;
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(100 * 1024));
    for uri in [
        format!("{WS}/experiments"),
        format!("{WS}/runs/{run}/batch"),
        format!("{WS}/jobs"),
        format!("{WS}/secrets/big"),
        "/api/v1/workspaces".to_string(),
        "/api/2.0/mlflow/runs/log-batch".to_string(),
        "/api/2.0/mlflow/experiments/create".to_string(),
        "/api/2.0/mlflow/registered-models/create".to_string(),
    ] {
        let method = if uri.contains("/secrets/") {
            "PUT"
        } else {
            "POST"
        };
        let (s, out) = t
            .raw(
                method,
                &uri,
                Some("application/json"),
                big.clone().into_bytes(),
            )
            .await;
        assert_eq!(s.as_u16(), 413, "{uri}: {}", String::from_utf8_lossy(&out));
        let v = body_of(&out);
        assert!(
            v["code"] == "payload_too_large" || v["error_code"].is_string(),
            "{uri}: {v}"
        );
    }
    let (s, _) = t.call("GET", &format!("{WS}/secrets/big"), None).await;
    assert_eq!(s.as_u16(), 404);
}

#[tokio::test]
async fn deeply_nested_json_is_a_400_in_the_error_shape() {
    let t = TestApp::with_limits(Limits {
        max_request_bytes: 1 << 20,
        max_artifact_bytes: 1 << 20,
    })
    .await;
    let (_, run) = t.run().await;
    let deep = "[".repeat(100_000).into_bytes();
    let deep_obj = format!("{}1{}", "{\"a\":".repeat(50_000), "}".repeat(50_000)).into_bytes();
    // Inside a field that takes any JSON value, so only the recursion limit stops it.
    let deep_value = format!(
        "{{\"command\": \"true\", \"metrics\": {}, \"tags\": {}1{}}}",
        "[".repeat(100_000),
        "{\"a\":".repeat(50_000),
        "}".repeat(50_000)
    )
    .into_bytes();
    for body in [&deep, &deep_obj, &deep_value] {
        for uri in [
            format!("{WS}/runs/{run}/batch"),
            format!("{WS}/jobs"),
            format!("{WS}/secrets/x"),
            format!("{WS}/data"),
        ] {
            let m = if uri.contains("/secrets/") {
                "PUT"
            } else {
                "POST"
            };
            let (s, out) = t.raw(m, &uri, Some("application/json"), body.clone()).await;
            let v = body_of(&out);
            assert_eq!(s.as_u16(), 400, "{uri}: {v}");
            assert!(
                v["code"] == "bad_request" || v["code"] == "invalid_parameter",
                "{uri}: {v}"
            );
            assert!(
                !v["message"].as_str().unwrap_or("").is_empty(),
                "{uri}: {v}"
            );
        }
        // MLflow skips unknown fields (as MLflow does), however deep; anything else is a
        // 400 in MLflow's shape. Never a 5xx or a crash.
        for uri in [
            "/api/2.0/mlflow/runs/log-batch",
            "/api/2.0/mlflow/runs/search",
        ] {
            let (s, out) = t
                .raw("POST", uri, Some("application/json"), body.clone())
                .await;
            let v = body_of(&out);
            let skipped = s.as_u16() == 200 && body.first() == Some(&b'{');
            assert!(skipped || s.as_u16() == 400, "{uri}: {s} {v}");
            assert!(skipped || v["error_code"].is_string(), "{uri}: {v}");
        }
    }
}

#[tokio::test]
async fn deep_and_oversized_yaml_specs_are_invalid_spec_through_the_route() {
    let t = TestApp::with_limits(Limits {
        max_request_bytes: 4 << 20,
        max_artifact_bytes: 1 << 20,
    })
    .await;
    let flow = format!(
        "command: echo\nenvironment: {{pip: []}}\ntags: {}1{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let mut block = String::from("command: echo\nenvironment: {pip: []}\ntags:\n");
    for i in 0..200 {
        block.push_str(&" ".repeat(2 * (i + 1)));
        block.push_str("a:\n");
    }
    let big = format!(
        "command: echo\nenvironment: {{pip: []}}\ndescription: {}\n",
        "x".repeat(2 << 20)
    );
    let anchors = {
        // A billion-laughs style alias bomb.
        let mut s = String::from(
            "command: echo\nenvironment: {pip: []}\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n",
        );
        for i in 1..10 {
            s.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n", p = i - 1));
        }
        s
    };
    let before = t.ok("GET", &format!("{WS}/jobs"), None).await;
    for yaml in [flow, block, big, anchors] {
        for kind in ["jobs", "data", "environments"] {
            let (s, v) = t
                .call("POST", &format!("{WS}/{kind}"), Some(json!({"yaml": yaml})))
                .await;
            assert_error(s, &v, 400, "invalid_spec");
        }
    }
    assert_eq!(t.ok("GET", &format!("{WS}/jobs"), None).await, before);
}

#[tokio::test]
async fn pathological_like_patterns_run_in_linear_time() {
    use mlplane_core::search::like_match;
    let text = "a".repeat(200_000);
    let pattern = "%a".repeat(10_000) + "%b";
    let started = std::time::Instant::now();
    assert!(!like_match(&pattern, &text, false));
    assert!(!like_match(&pattern, &text, true));
    let underscores = "_%".repeat(5_000) + "b";
    assert!(!like_match(&underscores, &text, false));
    // Quadratic work here would be ~10^9 steps; linear is a few milliseconds.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "LIKE took {:?}",
        started.elapsed()
    );
    // The same through the HTTP route.
    let t = TestApp::with_limits(Limits {
        max_request_bytes: 1 << 20,
        max_artifact_bytes: 1 << 20,
    })
    .await;
    let (exp, run) = t.run().await;
    t.ok(
        "POST",
        &format!("{WS}/runs/{run}/tags"),
        Some(json!({"key": "t", "value": "a".repeat(5000)})),
    )
    .await;
    let started = std::time::Instant::now();
    let filter = format!("tags.t LIKE '{}'", "%a".repeat(2_000) + "%b");
    let v = t
        .ok(
            "POST",
            "/api/2.0/mlflow/runs/search",
            Some(json!({"experiment_ids": [exp], "filter": filter})),
        )
        .await;
    assert!(v["runs"].as_array().is_none_or(Vec::is_empty), "{v}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

fn check_position(
    input: &str,
    r: Result<mlplane_core::search::Filter, mlplane_core::search::FilterError>,
) -> Result<(), TestCaseError> {
    if let Err(e) = r {
        prop_assert!(
            e.position <= input.len(),
            "{} > {}",
            e.position,
            input.len()
        );
        prop_assert!(input.is_char_boundary(e.position));
        prop_assert!(!e.message.is_empty());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Every filter grammar: no panic, and an error points inside the input.
    #[test]
    fn search_filters_never_panic_and_errors_point_into_the_input(
        input in prop_oneof![
            "\\PC{0,200}",
            "[a-z_.`'\" =!<>()%,0-9A-Z-]{0,200}",
            "(metrics|params|tags|attributes)\\.[a-z`]{0,8} ?(=|!=|<|>|LIKE|ILIKE|IN) ?('[a-z%_]{0,10}'|[0-9.e-]{0,6}|\\([0-9', ]{0,12}\\))( (AND|and|OR) )?"
        ],
    ) {
        use mlplane_core::search::{SearchKind, parse_experiment_filter, parse_logged_model_filter, parse_registry_filter, parse_run_filter};
        check_position(&input, parse_run_filter(&input))?;
        check_position(&input, parse_experiment_filter(&input))?;
        check_position(&input, parse_logged_model_filter(&input))?;
        check_position(&input, parse_registry_filter(&input, SearchKind::RegisteredModels))?;
        check_position(&input, parse_registry_filter(&input, SearchKind::ModelVersions))?;
    }
}
