//! Test harness: a fresh app per test and a `call` helper returning status and JSON.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use mlplane_artifacts::{ArtifactStore, PartStaging};
use mlplane_server::{AppState, Limits, app_with_table};
use serde_json::Value;
use tower::ServiceExt;

pub struct TestApp {
    pub router: Router,
    pub dir: tempfile::TempDir,
    /// Every route of `router` with its action.
    pub table: std::sync::Arc<mlplane_server::auth::table::RouteTable>,
}

pub const WS: &str = "/api/v1/workspaces/default";

impl TestApp {
    pub async fn new() -> Self {
        Self::with_limits(Limits {
            max_request_bytes: 64 * 1024,
            max_artifact_bytes: 8 << 20,
        })
        .await
    }

    pub async fn with_limits(limits: Limits) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("m.db").display());
        let store = mlplane_store::open(&url).await.expect("store");
        let artifacts =
            ArtifactStore::from_uri(&dir.path().join("artifacts").display().to_string())
                .expect("artifacts");
        let parts = PartStaging::new(&dir.path().join("mpu-staging"));
        let (router, table) =
            app_with_table(AppState::new(store, artifacts, limits).with_part_staging(parts));
        Self { router, dir, table }
    }

    /// Sends a request; `body` is sent as JSON when it parses as JSON, raw otherwise.
    pub async fn raw(
        &self,
        method: &str,
        uri: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Vec<u8>) {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(ct) = content_type {
            b = b.header("content-type", ct);
        }
        let req = b.body(Body::from(body)).expect("request");
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, bytes.to_vec())
    }

    /// Sends a prepared request; returns status, headers and the body bytes.
    pub async fn send(&self, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let (status, headers) = (resp.status(), resp.headers().clone());
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, headers, bytes.to_vec())
    }

    /// Uploads `files` into the pending version `kind/name/version` and completes it.
    pub async fn upload_asset(
        &self,
        kind: &str,
        name: &str,
        version: &str,
        files: &[(&str, &[u8])],
    ) {
        let base = format!("{WS}/{kind}/{name}/versions/{version}");
        for (path, bytes) in files {
            let (s, b) = self
                .raw("PUT", &format!("{base}/files/{path}"), None, bytes.to_vec())
                .await;
            assert_eq!(s.as_u16(), 204, "{}", String::from_utf8_lossy(&b));
        }
        self.ok("POST", &format!("{base}/complete"), None).await;
    }

    pub async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let (ct, bytes) = match body {
            Some(v) => (
                Some("application/json"),
                serde_json::to_vec(&v).expect("json"),
            ),
            None => (None, Vec::new()),
        };
        let (status, out) = self.raw(method, uri, ct, bytes).await;
        let v = if out.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&out)
                .unwrap_or(Value::String(String::from_utf8_lossy(&out).into()))
        };
        (status, v)
    }

    pub async fn ok(&self, method: &str, uri: &str, body: Option<Value>) -> Value {
        let (s, v) = self.call(method, uri, body).await;
        assert!(s.is_success(), "{method} {uri} -> {s}: {v}");
        v
    }

    /// Creates an experiment and a run in it; returns (experiment id, run id).
    pub async fn run(&self) -> (String, String) {
        let e = self
            .ok(
                "POST",
                &format!("{WS}/experiments"),
                Some(serde_json::json!({"name": format!("e-{}", rand_suffix())})),
            )
            .await;
        let exp = e["experiment_id"].as_str().expect("id").to_string();
        let r = self
            .ok(
                "POST",
                &format!("{WS}/runs"),
                Some(serde_json::json!({"experiment_id": exp})),
            )
            .await;
        (
            exp,
            r["info"]["run_id"].as_str().expect("run id").to_string(),
        )
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

/// Asserts an error answer: the status, the code, and a non-empty message.
pub fn assert_error(status: StatusCode, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status.as_u16(), want_status, "body: {body}");
    assert_eq!(body["code"], want_code, "body: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "body: {body}"
    );
}

/// Asserts an MLflow error answer: the status, the `error_code` and a non-empty message.
pub fn assert_mlflow_error(status: StatusCode, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status.as_u16(), want_status, "body: {body}");
    assert_eq!(body["error_code"], want_code, "body: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "body: {body}"
    );
}
