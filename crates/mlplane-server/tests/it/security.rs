//! Secrets routes, the audit log, request ids, security headers and CORS, in-process.
//!
//! Invariants:
//! - a secret's value appears in no response, error body or audit record;
//! - every state-changing request and every refusal is in the audit log, reads are not.

use crate::support::{TestApp, WS, assert_error};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};

const VALUE: &str = "v4lue-that-must-never-show";

#[tokio::test]
async fn secrets_are_set_listed_shown_and_deleted_without_their_value() {
    let t = TestApp::new().await;
    let (s, v) = t
        .call(
            "PUT",
            &format!("{WS}/secrets/db_password"),
            Some(json!({"value": VALUE})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["name"], "db_password");
    assert_eq!(v["created_by"], "local");
    let (s, v2) = t
        .call(
            "PUT",
            &format!("{WS}/secrets/db_password"),
            Some(json!({"value": "other-value"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v2}");
    assert_eq!(v2["created_at"], v["created_at"]);
    let list = t.ok("GET", &format!("{WS}/secrets"), None).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    let one = t
        .ok("GET", &format!("{WS}/secrets/db_password"), None)
        .await;
    for shown in [&v, &v2, &list, &one] {
        assert!(!shown.to_string().contains(VALUE), "{shown}");
        assert!(!shown.to_string().contains("other-value"), "{shown}");
    }
    let (s, _) = t
        .call("DELETE", &format!("{WS}/secrets/db_password"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = t
        .call("GET", &format!("{WS}/secrets/db_password"), None)
        .await;
    assert_error(s, &v, 404, "secret_not_found");
    let (s, v) = t.call("GET", "/api/v1/workspaces/nope/secrets", None).await;
    assert_error(s, &v, 404, "workspace_not_found");
}

#[tokio::test]
async fn bad_secret_requests_are_refused_without_echoing_the_value() {
    let t = TestApp::new().await;
    let cases: Vec<(String, Vec<u8>, u16, &str)> = vec![
        (
            format!("{WS}/secrets/bad-name"),
            json!({"value": VALUE}).to_string().into_bytes(),
            400,
            "invalid_parameter",
        ),
        (
            format!("{WS}/secrets/9lives"),
            json!({"value": VALUE}).to_string().into_bytes(),
            400,
            "invalid_parameter",
        ),
        (
            format!("{WS}/secrets/ok"),
            json!({"value": ""}).to_string().into_bytes(),
            400,
            "invalid_parameter",
        ),
        (
            format!("{WS}/secrets/ok"),
            json!({"value": "x".repeat(70_000)})
                .to_string()
                .into_bytes(),
            413,
            "payload_too_large",
        ),
        (
            format!("{WS}/secrets/ok"),
            format!("{{\"value\": 123{VALUE}}}").into_bytes(),
            400,
            "bad_request",
        ),
        (
            format!("{WS}/secrets/ok"),
            json!({"value": VALUE, "extra": VALUE})
                .to_string()
                .into_bytes(),
            400,
            "bad_request",
        ),
        (
            format!("{WS}/secrets/ok"),
            json!({"val": VALUE}).to_string().into_bytes(),
            400,
            "bad_request",
        ),
        (
            format!("{WS}/secrets/ok"),
            json!([VALUE]).to_string().into_bytes(),
            400,
            "bad_request",
        ),
    ];
    let t2 = TestApp::with_limits(mlplane_server::Limits {
        max_request_bytes: 1 << 20,
        max_artifact_bytes: 1 << 20,
    })
    .await;
    for (uri, body, status, code) in cases {
        let app = if status == 413 { &t } else { &t2 };
        let (s, out) = app.raw("PUT", &uri, Some("application/json"), body).await;
        let text = String::from_utf8_lossy(&out).into_owned();
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_error(s, &v, status, code);
        assert!(!text.contains(VALUE), "{uri}: {text}");
    }
    let long = json!({"value": "x".repeat(70_000)})
        .to_string()
        .into_bytes();
    let (s, out) = t2
        .raw(
            "PUT",
            &format!("{WS}/secrets/ok"),
            Some("application/json"),
            long,
        )
        .await;
    assert_error(
        s,
        &serde_json::from_slice(&out).unwrap(),
        400,
        "invalid_parameter",
    );
    assert_eq!(
        t2.ok("GET", &format!("{WS}/secrets"), None).await["items"],
        json!([])
    );
}

#[tokio::test]
async fn a_job_naming_a_missing_secret_is_refused_naming_the_variable() {
    let t = TestApp::new().await;
    let job = |var: &str| {
        json!({
            "command": "true", "environment": {"pip": []},
            "environment_variables": {"DB_PASSWORD": var},
        })
    };
    let (s, v) = t
        .call(
            "POST",
            &format!("{WS}/jobs"),
            Some(job("${{secrets.db_password}}")),
        )
        .await;
    assert_error(s, &v, 400, "invalid_spec");
    assert_eq!(
        v["details"]["errors"][0]["field"], "environment_variables.DB_PASSWORD",
        "{v}"
    );
    let (s, v) = t
        .call(
            "POST",
            &format!("{WS}/jobs"),
            Some(job("x${{secrets.db_password}}")),
        )
        .await;
    assert_error(s, &v, 400, "invalid_spec");
    assert_eq!(
        t.ok("GET", &format!("{WS}/jobs"), None).await["items"],
        json!([])
    );
    // Once it exists the job is accepted and stores only the reference.
    t.ok(
        "PUT",
        &format!("{WS}/secrets/db_password"),
        Some(json!({"value": VALUE})),
    )
    .await;
    let v = t
        .ok(
            "POST",
            &format!("{WS}/jobs"),
            Some(job("${{secrets.db_password}}")),
        )
        .await;
    assert!(v.to_string().contains("${{secrets.db_password}}"), "{v}");
    assert!(!v.to_string().contains(VALUE));
    let db = std::fs::read(t.dir.path().join("m.db")).unwrap_or_default();
    let wal = std::fs::read(t.dir.path().join("m.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(!bytes.windows(VALUE.len()).any(|w| w == VALUE.as_bytes()));
    }
}

async fn audit(t: &TestApp, query: &str) -> Vec<Value> {
    let v = t.ok("GET", &format!("/api/v1/audit{query}"), None).await;
    v["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn state_changes_and_failures_are_audited_reads_are_not() {
    let t = TestApp::new().await;
    t.ok("GET", &format!("{WS}/experiments"), None).await;
    // Searches are POSTed reads (action runs/read): not audited either.
    t.ok(
        "POST",
        "/api/2.0/mlflow/runs/search",
        Some(json!({"experiment_ids": ["0"]})),
    )
    .await;
    t.ok(
        "PUT",
        &format!("{WS}/secrets/k"),
        Some(json!({"value": VALUE})),
    )
    .await;
    let (s, _) = t
        .call("DELETE", &format!("{WS}/secrets/missing"), None)
        .await;
    assert_eq!(s.as_u16(), 404);
    t.ok(
        "POST",
        "/api/2.0/mlflow/experiments/create",
        Some(json!({"name": "e"})),
    )
    .await;
    let items = audit(&t, "").await;
    let shown: Vec<(String, String, u64, String)> = items
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_string(),
                r["action"].as_str().unwrap().to_string(),
                r["status"].as_u64().unwrap(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            (
                "POST".into(),
                "experiments/write".into(),
                200,
                "allowed".into()
            ),
            (
                "DELETE".into(),
                "secrets/write".into(),
                404,
                "failed".into()
            ),
            ("PUT".into(), "secrets/write".into(), 201, "allowed".into()),
        ]
    );
    let put = &items[2];
    assert_eq!(put["target"], "/api/v1/workspaces/default/secrets/k");
    assert_eq!(put["workspace"], "default");
    assert_eq!(put["actor_kind"], "local");
    assert_eq!(items[0]["workspace"], "default");
    assert!(
        put["request_id"].as_str().is_some_and(|r| r.len() == 32),
        "{put}"
    );
    assert!(!serde_json::to_string(&items).unwrap().contains(VALUE));
    // Filters and paging.
    assert_eq!(audit(&t, "?since=1h&action=secrets%2Fwrite").await.len(), 2);
    assert_eq!(audit(&t, "?until=2000-01-01T00:00:00Z").await.len(), 0);
    assert_eq!(audit(&t, "?actor=local&workspace=default").await.len(), 3);
    let p = t.ok("GET", "/api/v1/audit?max_results=2", None).await;
    let token = p["next_page_token"].as_str().expect("token");
    let rest = t
        .ok(
            "GET",
            &format!("/api/v1/audit?max_results=2&page_token={token}"),
            None,
        )
        .await;
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(1));
    let (s, v) = t.call("GET", "/api/v1/audit?since=yesterday", None).await;
    assert_error(s, &v, 400, "invalid_parameter");
    // No route edits the log.
    for m in ["POST", "PUT", "PATCH", "DELETE"] {
        let (s, _) = t.call(m, "/api/v1/audit", Some(json!({}))).await;
        assert_eq!(s.as_u16(), 405, "{m}");
    }
}

#[tokio::test]
async fn principals_and_actions_from_the_auth_layer_are_recorded() {
    use axum::routing::post;
    use mlplane_core::{Principal, PrincipalKind, RouteAction};
    let t = TestApp::new().await;
    // A stand-in for the auth layer: it refuses and names who and what, in the response.
    async fn refused() -> axum::response::Response {
        let mut r = axum::response::IntoResponse::into_response(StatusCode::FORBIDDEN);
        r.extensions_mut().insert(Principal {
            kind: PrincipalKind::User,
            id: "u-42".into(),
            name: "mallory".into(),
        });
        r.extensions_mut().insert(RouteAction("secrets/write"));
        r
    }
    let state = mlplane_server::AppState::new(
        mlplane_store::open(&format!("sqlite://{}", t.dir.path().join("m.db").display()))
            .await
            .unwrap(),
        mlplane_artifacts::ArtifactStore::from_uri(&t.dir.path().join("a").display().to_string())
            .unwrap(),
        mlplane_server::Limits::default(),
    );
    let router = axum::Router::new()
        .route(
            "/api/v1/workspaces/{ws}/secrets/{name}",
            post(refused).get(refused),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            mlplane_server::audit::record,
        ))
        .layer(axum::middleware::from_fn(mlplane_server::audit::request_id))
        .with_state(state.clone());
    for m in ["POST", "GET"] {
        let req = Request::builder()
            .method(m)
            .uri("/api/v1/workspaces/team-a/secrets/x")
            .header("x-request-id", "client-chosen-1")
            .body(Body::empty())
            .unwrap();
        let resp = tower::ServiceExt::oneshot(router.clone(), req)
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(resp.headers()["x-request-id"], "client-chosen-1");
    }
    state.audit.flush().await;
    let page = state
        .store
        .list_audit(&Default::default(), &Default::default())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2, "a GET denial is recorded too");
    for r in &page.items {
        let a = &r.record;
        assert_eq!(
            (a.actor_name.as_str(), a.actor_id.as_str()),
            ("mallory", "u-42")
        );
        assert_eq!(a.action, "secrets/write");
        assert_eq!(a.outcome.as_str(), "denied");
        assert_eq!(a.workspace.as_deref(), Some("team-a"));
        assert_eq!(a.request_id, "client-chosen-1");
    }
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let t = TestApp::new().await;
    for (given, kept) in [
        (Some("abc-123"), true),
        (Some("bad id"), false),
        (Some("a\"b"), false),
        (Some(&*"x".repeat(200)), false),
        (None, false),
    ] {
        let mut b = Request::builder().uri("/healthz");
        if let Some(g) = given {
            b = b.header("x-request-id", g.as_bytes());
        }
        let (_, headers, _) = t.send(b.body(Body::empty()).unwrap()).await;
        let id = headers["x-request-id"].to_str().unwrap();
        if kept {
            assert_eq!(Some(id), given);
        } else {
            assert_eq!(id.len(), 32, "{id}");
        }
    }
}

#[tokio::test]
async fn every_response_carries_security_headers_and_no_cors() {
    let t = TestApp::new().await;
    for (m, uri) in [
        ("GET", "/healthz".to_string()),
        ("GET", format!("{WS}/experiments")),
        ("GET", "/no/such/route".to_string()),
        ("POST", "/api/2.0/mlflow/runs/search".to_string()),
        ("GET", "/api/v1/openapi.json".to_string()),
    ] {
        let req = Request::builder()
            .method(m)
            .uri(&uri)
            .header("origin", "https://evil.example.com")
            .body(Body::empty())
            .unwrap();
        let (_, h, _) = t.send(req).await;
        assert_eq!(h["x-content-type-options"], "nosniff", "{uri}");
        assert_eq!(h["x-frame-options"], "DENY", "{uri}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{uri}");
        assert!(
            h.keys().all(|k| !k.as_str().starts_with("access-control-")),
            "{uri}: {h:?}"
        );
    }
    // A cross-origin preflight gets no Access-Control-Allow-*.
    let req = Request::builder()
        .method("OPTIONS")
        .uri(format!("{WS}/secrets/x"))
        .header("origin", "https://evil.example.com")
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "content-type")
        .body(Body::empty())
        .unwrap();
    let (s, h, _) = t.send(req).await;
    assert!(!s.is_success(), "{s}");
    assert!(
        h.keys().all(|k| !k.as_str().starts_with("access-control-")),
        "{h:?}"
    );
    // HTML answers get the strict CSP (the studio's pages go through the same layer).
    let html = axum::Router::new()
        .route(
            "/",
            axum::routing::get(|| async { axum::response::Html("<p>hi</p>") }),
        )
        .route("/j", axum::routing::get(|| async { axum::Json(json!({})) }))
        .layer(axum::middleware::from_fn(
            mlplane_server::audit::security_headers,
        ));
    let resp =
        tower::ServiceExt::oneshot(html.clone(), Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
    assert_eq!(
        resp.headers()["content-security-policy"],
        mlplane_server::audit::HTML_CSP
    );
    assert!(mlplane_server::audit::HTML_CSP.starts_with("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'"));
    let resp = tower::ServiceExt::oneshot(html, Request::get("/j").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(resp.headers().get("content-security-policy").is_none());
}
