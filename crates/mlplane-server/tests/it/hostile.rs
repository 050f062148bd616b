//! Hostile and malformed input: every case answers 4xx with a code and a message, never a
//! 500 or a panic, and nothing stored before is lost or changed.

use crate::support::{TestApp, WS, assert_error};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Snapshot of everything observable about a run, to prove bad requests change nothing.
async fn snapshot(t: &TestApp, run: &str) -> (Value, Value, Value) {
    let r = t.ok("GET", &format!("{WS}/runs/{run}"), None).await;
    let h = t
        .ok(
            "GET",
            &format!("{WS}/runs/{run}/metric-history?key=m"),
            None,
        )
        .await;
    let a = t
        .ok("GET", &format!("{WS}/runs/{run}/artifact-list"), None)
        .await;
    (r, h, a)
}

async fn seeded() -> (TestApp, String) {
    let t = TestApp::new().await;
    let (_, run) = t.run().await;
    t.ok("POST", &format!("{WS}/runs/{run}/batch"), Some(json!({
        "metrics": [{"key": "m", "value": 1.0, "step": 0}], "params": [{"key": "p", "value": "v"}]
    }))).await;
    let (s, _) = t
        .raw(
            "PUT",
            &format!("{WS}/runs/{run}/artifacts/a.txt"),
            None,
            b"hello".to_vec(),
        )
        .await;
    assert_eq!(s.as_u16(), 201);
    (t, run)
}

/// (method, uri, content type, body, expected status, expected code)
type Case<'a> = (&'a str, String, Option<&'a str>, Vec<u8>, u16, &'a str);

#[tokio::test]
async fn malformed_bodies_are_4xx_and_change_nothing() {
    let (t, run) = seeded().await;
    let before = snapshot(&t, &run).await;
    let batch = format!("{WS}/runs/{run}/batch");
    let long_key = "k".repeat(251);
    let cases: Vec<Case> = vec![
        ("POST", batch.clone(), Some("application/json"), b"{not json".to_vec(), 400, "bad_request"),
        ("POST", batch.clone(), Some("application/json"), b"".to_vec(), 400, "bad_request"),
        ("POST", batch.clone(), Some("application/json"), b"{\"metrics\": 5}".to_vec(), 400, "invalid_parameter"),
        ("POST", batch.clone(), Some("application/json"), b"{\"metrics\": [{\"key\": \"m\"}]}".to_vec(), 400, "invalid_parameter"),
        ("POST", batch.clone(), Some("application/json"), b"{\"metrics\": [{\"key\": \"m\", \"value\": NaN}]}".to_vec(), 400, "bad_request"),
        ("POST", batch.clone(), Some("application/json"), b"{\"metrics\": [{\"key\": \"m\", \"value\": 1, \"step\": \"NaN\"}]}".to_vec(), 400, "invalid_parameter"),
        ("POST", batch.clone(), Some("application/json"), b"{\"metrics\": [{\"key\": \"m\", \"value\": 1, \"timestamp\": 1.5}]}".to_vec(), 400, "invalid_parameter"),
        ("POST", batch.clone(), Some("application/json"), b"{\"metrics\": [{\"key\": \"m\", \"value\": \"abc\"}]}".to_vec(), 400, "invalid_parameter"),
        ("POST", batch.clone(), Some("application/json"), b"{\"unknown\": 1}".to_vec(), 400, "invalid_parameter"),
        ("POST", batch.clone(), Some("application/json"), vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'], 400, "bad_request"),
        ("POST", batch.clone(), Some("text/plain"), b"{}".to_vec(), 415, "unsupported_media_type"),
        ("POST", batch.clone(), Some("application/json"), json!({"metrics": [{"key": long_key, "value": 1}]}).to_string().into_bytes(), 400, "invalid_parameter"),
        ("POST", batch.clone(), Some("application/json"), json!({"metrics": [{"key": "../x", "value": 1}]}).to_string().into_bytes(), 400, "invalid_parameter"),
        ("POST", batch.clone(), Some("application/json"), json!({"params": [{"key": "p", "value": "other"}], "metrics": [{"key": "m", "value": 9}]}).to_string().into_bytes(), 409, "param_conflict"),
        ("POST", batch.clone(), Some("application/json"), json!({"params": [{"key": "q", "value": "1"}, {"key": "q", "value": "2"}]}).to_string().into_bytes(), 400, "invalid_parameter"),
        ("POST", batch.clone(), Some("application/json"), json!({"metrics": vec![json!({"key": "m", "value": 1}); 1001]}).to_string().into_bytes(), 400, "invalid_parameter"),
        ("POST", batch.clone(), Some("application/json"), vec![b' '; 70 * 1024], 413, "payload_too_large"),
        ("PATCH", format!("{WS}/runs/{run}"), Some("application/json"), b"{\"status\": \"DONE\"}".to_vec(), 400, "invalid_parameter"),
        ("PATCH", format!("{WS}/runs/{run}"), Some("application/json"), b"{\"status\": \"QUEUED\"}".to_vec(), 409, "invalid_state"),
        ("POST", format!("{WS}/runs"), Some("application/json"), b"{\"experiment_id\": \"-1\"}".to_vec(), 400, "invalid_parameter"),
        ("POST", format!("{WS}/runs"), Some("application/json"), b"{\"experiment_id\": \"999\"}".to_vec(), 404, "experiment_not_found"),
        ("POST", format!("{WS}/experiments"), Some("application/json"), b"{\"name\": \"\"}".to_vec(), 400, "invalid_parameter"),
        ("POST", format!("{WS}/experiments"), Some("application/json"), b"{\"name\": \"Default\"}".to_vec(), 409, "experiment_already_exists"),
        ("DELETE", format!("{WS}/experiments/0"), None, vec![], 409, "invalid_state"),
        ("GET", format!("{WS}/runs/zzz"), None, vec![], 400, "invalid_parameter"),
        ("GET", format!("{WS}/runs/{}", "0".repeat(32)), None, vec![], 404, "run_not_found"),
        ("GET", "/api/v1/workspaces/BAD_NAME/runs".into(), None, vec![], 400, "invalid_parameter"),
        ("GET", format!("{WS}/runs?max_results=100000000"), None, vec![], 400, "invalid_parameter"),
        ("GET", format!("{WS}/runs?max_results=-1"), None, vec![], 400, "invalid_parameter"),
        ("GET", format!("{WS}/runs?view=everything"), None, vec![], 400, "invalid_parameter"),
        ("GET", format!("{WS}/runs/{run}/metric-history?key=nope"), None, vec![], 404, "metric_not_found"),
        ("GET", format!("{WS}/runs/{run}/metric-history"), None, vec![], 400, "invalid_parameter"),
        ("GET", format!("{WS}/runs/{run}/metric-history/sampled?key=m&max_points=0"), None, vec![], 400, "invalid_parameter"),
        ("GET", format!("{WS}/runs/{run}/logs?offset=999"), None, vec![], 400, "invalid_parameter"),
        ("GET", "/api/v1/nothing".into(), None, vec![], 404, "route_not_found"),
        ("GET", format!("{WS}/runs/{run}/metric-history?key=%FF%FE"), None, vec![], 404, "metric_not_found"),
        ("GET", format!("{WS}/experiments/by-name/%FF%FE"), None, vec![], 400, "bad_request"),
        ("GET", format!("{WS}/runs/{run}/metric-history?key=m&max_results=abc"), None, vec![], 400, "invalid_parameter"),
        ("PUT", "/api/v1/workspaces".into(), None, vec![], 405, "method_not_allowed"),
    ];
    for (method, uri, ct, body, want, code) in cases {
        let (s, out) = t.raw(method, &uri, ct, body).await;
        let v: Value = serde_json::from_slice(&out).unwrap_or_else(|_| {
            panic!(
                "{method} {uri}: not JSON: {}",
                String::from_utf8_lossy(&out)
            )
        });
        assert_error(s, &v, want, code);
    }
    assert_eq!(snapshot(&t, &run).await, before);
}

#[tokio::test]
async fn hostile_artifact_paths_are_refused_and_change_nothing() {
    let (t, run) = seeded().await;
    let before = snapshot(&t, &run).await;
    let base = format!("{WS}/runs/{run}/artifacts");
    for (path, want) in [
        ("..%2F..%2Fetc%2Fpasswd", 400),
        ("a/..%2F..%2Fx", 400),
        ("%2Fetc%2Fpasswd", 400),
        ("a%5Cb", 400),
        ("a%00b", 400),
        ("a//b", 400),
        ("./a", 400),
        ("a/%2E%2E/b", 400),
    ] {
        for method in ["PUT", "GET", "DELETE"] {
            let (s, out) = t
                .raw(method, &format!("{base}/{path}"), None, b"x".to_vec())
                .await;
            let v: Value = serde_json::from_slice(&out).unwrap_or(Value::Null);
            assert_eq!(s.as_u16(), want, "{method} {path}: {v}");
            assert!(v["code"].is_string(), "{method} {path}: {v}");
        }
    }
    let (s, out) = t
        .raw("GET", &format!("{base}/missing.txt"), None, vec![])
        .await;
    assert_error(
        s,
        &serde_json::from_slice(&out).unwrap(),
        404,
        "artifact_not_found",
    );
    let (s, out) = t
        .raw("PUT", &format!("{base}/big.bin"), None, vec![0u8; 9 << 20])
        .await;
    assert_error(
        s,
        &serde_json::from_slice(&out).unwrap(),
        413,
        "payload_too_large",
    );
    assert_eq!(snapshot(&t, &run).await, before);
}

#[cfg(unix)]
#[tokio::test]
async fn symlinks_planted_in_the_local_store_are_not_followed() {
    let (t, run) = seeded().await;
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), b"top secret").unwrap();
    // Find the run's artifact directory and plant a symlinked directory inside it.
    let root = t.dir.path().join("artifacts/default");
    let run_dir = walk_find(&root, &run).expect("run dir");
    std::os::unix::fs::symlink(outside.path(), run_dir.join("artifacts/evil")).unwrap();
    let base = format!("{WS}/runs/{run}/artifacts");
    let (s, out) = t
        .raw(
            "PUT",
            &format!("{base}/evil/secret"),
            None,
            b"overwrite".to_vec(),
        )
        .await;
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_error(s, &v, 400, "unsafe_path");
    assert_eq!(
        std::fs::read(outside.path().join("secret")).unwrap(),
        b"top secret"
    );
}

fn walk_find(dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
        if p.is_dir()
            && let Some(f) = walk_find(&p, name)
        {
            return Some(f);
        }
    }
    None
}

#[tokio::test]
async fn tampered_and_foreign_page_tokens_are_refused() {
    let (t, run) = seeded().await;
    for _ in 0..3 {
        t.ok(
            "POST",
            &format!("{WS}/runs"),
            Some(json!({"experiment_id": "0"})),
        )
        .await;
    }
    let p = t.ok("GET", &format!("{WS}/runs?max_results=1"), None).await;
    let token = p["next_page_token"].as_str().unwrap().to_string();
    let mut bad = token.clone().into_bytes();
    let i = bad.len() / 2;
    bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
    let bad = String::from_utf8(bad).unwrap();
    for tk in [bad.as_str(), "garbage", "%00%01", &"A".repeat(5000)] {
        let (s, v) = t
            .call(
                "GET",
                &format!("{WS}/runs?max_results=1&page_token={tk}"),
                None,
            )
            .await;
        assert_error(s, &v, 400, "invalid_page_token");
    }
    // A token from the runs listing is refused by the experiments listing and by history.
    let (s, v) = t
        .call("GET", &format!("{WS}/experiments?page_token={token}"), None)
        .await;
    assert_error(s, &v, 400, "invalid_page_token");
    let (s, v) = t
        .call(
            "GET",
            &format!("{WS}/runs/{run}/metric-history?key=m&page_token={token}"),
            None,
        )
        .await;
    assert_error(s, &v, 400, "invalid_page_token");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn arbitrary_batch_bodies_never_cause_a_5xx(body in proptest::collection::vec(any::<u8>(), 0..200), s in "\\PC{0,80}") {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let t = TestApp::new().await;
            let (_, run) = t.run().await;
            for b in [body.clone(), s.clone().into_bytes(), format!("{{\"metrics\":[{{\"key\":{s:?},\"value\":1}}]}}").into_bytes()] {
                let (st, out) = t.raw("POST", &format!("{WS}/runs/{run}/batch"), Some("application/json"), b).await;
                assert!(st.is_success() || st.is_client_error(), "{st}: {}", String::from_utf8_lossy(&out));
            }
        });
    }
}
