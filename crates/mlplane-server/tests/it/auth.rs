//! The auth layer with `--auth on`, in-process: the route table covers every route, each
//! built-in role against each route's action with real requests, and the attack classes
//! (deleted user's, expired and revoked tokens, role escalation, CSRF, brute force, reading
//! another workspace) refused with no side effect.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::response::Response;
use base64::Engine;
use mlplane_artifacts::{ArtifactStore, PartStaging};
use mlplane_auth::actions::{Requirement, requirement};
use mlplane_auth::{BuiltinRole, Decision, Grants, authorize};
use mlplane_core::{Principal, PrincipalKind, RouteAction};
use mlplane_server::auth::table::{ASSET_KINDS, RouteEntry, RouteMethod, resolve};
use mlplane_server::auth::{AuthConfig, AuthMode, bootstrap_admin};
use mlplane_server::{AppState, Limits, app_with_table};
use serde_json::{Value, json};
use tower::ServiceExt;

pub(crate) struct AuthApp {
    router: axum::Router,
    pub(crate) state: AppState,
    table: std::sync::Arc<mlplane_server::auth::table::RouteTable>,
    admin: String,
    _dir: tempfile::TempDir,
}

impl AuthApp {
    pub(crate) async fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("m.db").display());
        let store = mlplane_store::open(&url).await.expect("store");
        let artifacts =
            ArtifactStore::from_uri(&dir.path().join("artifacts").display().to_string())
                .expect("artifacts");
        let state = AppState::new(store, artifacts, Limits::default())
            .with_part_staging(PartStaging::new(&dir.path().join("mpu")))
            .with_auth(AuthConfig::new(AuthMode::On));
        let admin = bootstrap_admin(&state, Some("admin-password".into()))
            .await
            .expect("bootstrap")
            .expect("first start makes a token");
        assert!(
            bootstrap_admin(&state, None)
                .await
                .expect("again")
                .is_none(),
            "the bootstrap token is made once"
        );
        let (router, table) = app_with_table(state.clone());
        AuthApp {
            router,
            state,
            table,
            admin,
            _dir: dir,
        }
    }

    pub(crate) async fn send(&self, req: Request<Body>) -> Response {
        self.router.clone().oneshot(req).await.expect("infallible")
    }

    pub(crate) async fn call(
        &self,
        method: &str,
        uri: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        let req = match body {
            Some(v) => b
                .header("content-type", "application/json")
                .body(Body::from(v.to_string())),
            None => b.body(Body::empty()),
        }
        .expect("request");
        let resp = self.send(req).await;
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub(crate) fn admin(&self) -> String {
        bearer(&self.admin)
    }

    /// A user `name` with `role` in `ws` and a token of it.
    async fn user_with_role(&self, name: &str, ws: &str, role: Option<&str>) -> String {
        let (s, b) = self
            .call(
                "POST",
                "/api/v1/users",
                Some(&self.admin()),
                Some(json!({"name": name, "password": format!("{name}-password")})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        if let Some(role) = role {
            let (s, b) = self
                .call(
                    "POST",
                    &format!("/api/v1/workspaces/{ws}/role-bindings"),
                    Some(&self.admin()),
                    Some(json!({"principal": name, "role": role})),
                )
                .await;
            assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
        }
        self.token_of(name, json!({"name": "t"})).await
    }

    /// A token `name` makes for itself, signing in with Basic user + password.
    async fn token_of(&self, name: &str, req: Value) -> String {
        let basic = basic(name, &format!("{name}-password"));
        let (s, b) = self
            .call("POST", "/api/v1/tokens", Some(&basic), Some(req))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["token"].as_str().expect("token").to_owned()
    }

    async fn experiment_names(&self, ws: &str) -> Vec<String> {
        let (s, b) = self
            .call(
                "GET",
                &format!("/api/v1/workspaces/{ws}/experiments"),
                Some(&self.admin()),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|e| e["name"].as_str().expect("name").to_owned())
            .collect()
    }
}

pub(crate) fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A concrete request for a table row: placeholders filled, `{kind}` as `models`.
fn request_for(e: &RouteEntry, auth: Option<&str>) -> Request<Body> {
    let mut path = e.path.clone();
    for (from, to) in [
        ("{ws}", "default"),
        ("{workspace}", "default"),
        ("{kind}", "models"),
        ("{*path}", "a/b.txt"),
        ("{*rest}", "nothing/here"),
    ] {
        path = path.replace(from, to);
    }
    while let Some(start) = path.find('{') {
        let end = path[start..].find('}').expect("closing brace") + start;
        path.replace_range(start..=end, "x");
    }
    let method = match &e.method {
        RouteMethod::One(m) => m.clone(),
        RouteMethod::Any => Method::GET,
    };
    let mut b = Request::builder().method(method).uri(path);
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    b.header("content-type", "application/json")
        .body(Body::from("{}"))
        .expect("request")
}

fn resolved(e: &RouteEntry) -> String {
    resolve(e.action, Some("models")).expect("resolves")
}

#[tokio::test]
async fn every_route_in_the_table_has_a_known_action_and_answers_under_it() {
    let app = AuthApp::new().await;
    let entries = app.table.entries();
    assert!(entries.len() > 150, "only {} routes?", entries.len());
    let mut seen = std::collections::HashSet::new();
    for e in entries {
        assert!(
            seen.insert((e.method.clone(), e.path.clone())),
            "{} {} listed twice",
            e.method,
            e.path
        );
        if e.action.starts_with("{kind}/") {
            for k in ASSET_KINDS {
                let a = resolve(e.action, Some(k)).expect("resolves");
                assert_eq!(requirement(&a), Requirement::Workspace, "{a}");
            }
        } else {
            assert_ne!(
                requirement(e.action),
                Requirement::Unknown,
                "{} {} has the unknown action {}",
                e.method,
                e.path,
                e.action
            );
        }
        // The row is the route axum matches: the layer reports the row's action.
        let resp = app.send(request_for(e, Some(&app.admin()))).await;
        let got = resp.extensions().get::<RouteAction>().copied();
        assert_eq!(
            got.map(|a| a.0.to_owned()),
            Some(resolved(e)),
            "{} {} answered {} under another action",
            e.method,
            e.path,
            resp.status()
        );
        assert_ne!(
            resp.status(),
            StatusCode::FORBIDDEN,
            "{} {}",
            e.method,
            e.path
        );
        assert_ne!(
            resp.status(),
            StatusCode::UNAUTHORIZED,
            "{} {}",
            e.method,
            e.path
        );
    }
}

#[tokio::test]
async fn a_route_added_around_the_table_is_refused() {
    let app = AuthApp::new().await;
    let (router, table) = mlplane_server::auth::table::Routes::new()
        .route(
            "/listed",
            mlplane_server::auth::table::get("public", || async { "ok" }),
        )
        .finish();
    let layer = mlplane_server::auth::layer::LayerState {
        app: app.state.clone(),
        table: std::sync::Arc::new(table),
    };
    let router: axum::Router = router
        .route("/sneaky", axum::routing::get(|| async { "secret" }))
        .layer(axum::middleware::from_fn_with_state(
            layer,
            mlplane_server::auth::layer::enforce,
        ))
        .with_state(app.state.clone());
    let get = |uri: &str| {
        let req = Request::builder()
            .uri(uri)
            .header("authorization", app.admin())
            .body(Body::empty())
            .expect("request");
        router.clone().oneshot(req)
    };
    assert_eq!(get("/listed").await.expect("ok").status(), StatusCode::OK);
    let refused = get("/sneaky").await.expect("ok");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn each_builtin_role_gets_exactly_its_actions_with_real_requests() {
    let app = AuthApp::new().await;
    for (i, role) in BuiltinRole::ALL.into_iter().enumerate() {
        let token = app
            .user_with_role(&format!("user{i}"), "default", Some(role.name()))
            .await;
        let mut grants = Grants::default();
        grants.grant("default", role.actions().map(str::to_owned));
        let mut allowed = 0;
        let mut refused = 0;
        for e in app.table.entries() {
            let action = resolved(e);
            let expect_allowed = authorize(&grants, Some("default"), &action) == Decision::Allow;
            let resp = app.send(request_for(e, Some(&bearer(&token)))).await;
            let status = resp.status();
            if expect_allowed {
                allowed += 1;
                assert!(
                    status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                    "{} should {action} ({} {}): {status}",
                    role.name(),
                    e.method,
                    e.path
                );
            } else {
                refused += 1;
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{} should not {action} ({} {})",
                    role.name(),
                    e.method,
                    e.path
                );
                let p = resp.extensions().get::<Principal>().expect("principal");
                assert_eq!(p.name, format!("user{i}"));
            }
        }
        assert!(
            allowed > 0 && refused > 0,
            "{}: {allowed}/{refused}",
            role.name()
        );
    }
    // Refused writes changed nothing: only the requests of roles that may write experiments
    // reached the handler, and those bodies were empty (400).
    assert_eq!(app.experiment_names("default").await, ["Default"]);
}

#[tokio::test]
async fn no_credentials_is_401_in_the_native_and_the_mlflow_shape_and_public_routes_stay_open() {
    let app = AuthApp::new().await;
    let (s, b) = app.call("GET", "/api/v1/workspaces", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(b["code"], "unauthenticated");
    let (s, b) = app
        .call(
            "GET",
            "/api/2.0/mlflow/experiments/get?experiment_id=0",
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(b["error_code"], "UNAUTHENTICATED");
    for open in [
        "/healthz",
        "/readyz",
        "/health",
        "/version",
        "/api/v1/openapi.json",
    ] {
        let (s, _) = app.call("GET", open, None, None).await;
        assert_eq!(s, StatusCode::OK, "{open}");
    }
    let (s, _) = app.call("GET", "/metrics", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = app.call("GET", "/no/such/route", None, None).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "unknown routes do not answer strangers"
    );
    let (s, _) = app
        .call("GET", "/no/such/route", Some(&app.admin()), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, b) = app
        .call(
            "GET",
            "/api/v1/workspaces",
            Some("Bearer mlp_nonsense"),
            None,
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
    );
    let (s, _) = app
        .call("GET", "/api/v1/workspaces", Some("Digest abc"), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_reader_is_refused_writes_in_both_protocols_and_nothing_changes() {
    let app = AuthApp::new().await;
    let reader = bearer(&app.user_with_role("rita", "default", Some("Reader")).await);
    let (s, b) = app
        .call(
            "POST",
            "/api/v1/workspaces/default/experiments",
            Some(&reader),
            Some(json!({"name": "nope"})),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (s, b) = app
        .call(
            "POST",
            "/api/2.0/mlflow/experiments/create",
            Some(&reader),
            Some(json!({"name": "nope"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(b["error_code"], "PERMISSION_DENIED");
    assert_eq!(app.experiment_names("default").await, ["Default"]);
    let (s, _) = app
        .call(
            "GET",
            "/api/2.0/mlflow/experiments/get?experiment_id=0",
            Some(&reader),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn tokens_of_deleted_users_and_expired_or_revoked_tokens_are_401_and_change_nothing() {
    let app = AuthApp::new().await;
    let create = |tok: String| {
        let app = &app;
        async move {
            app.call(
                "POST",
                "/api/v1/workspaces/default/experiments",
                Some(&bearer(&tok)),
                Some(json!({"name": "should-not-exist"})),
            )
            .await
        }
    };
    // Revoked.
    let t = app
        .user_with_role("rev", "default", Some("Contributor"))
        .await;
    let id = mlplane_auth::ApiToken::parse(&t).expect("token").id;
    let (s, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/tokens/{id}"),
            Some(&bearer(&t)),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(create(t).await.0, StatusCode::UNAUTHORIZED);
    // Deleted owner.
    let t = app
        .user_with_role("gone", "default", Some("Contributor"))
        .await;
    let (s, _) = app
        .call("DELETE", "/api/v1/users/gone", Some(&app.admin()), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(create(t).await.0, StatusCode::UNAUTHORIZED);
    let (s, _) = app
        .call(
            "GET",
            "/api/v1/auth/me",
            Some(&basic("gone", "gone-password")),
            None,
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "the password died with the user"
    );
    // Expired: a token whose expiry passed, written as the store would hold it.
    let u = app.state.store.find_user("admin").await.expect("admin");
    let token = mlplane_auth::ApiToken::generate();
    app.state
        .store
        .create_token(mlplane_store::auth::ApiTokenRecord {
            id: token.id.clone(),
            owner: mlplane_store::auth::PrincipalRef {
                kind: PrincipalKind::User,
                id: u.id,
            },
            name: "old".into(),
            secret_sha256: token.secret_digest(),
            scopes: vec!["*".into()],
            workspace: None,
            expires_at: Some(1),
            last_used_at: None,
            revoked_at: None,
            created_at: 0,
            job_scope: None,
        })
        .await
        .expect("token");
    assert_eq!(create(token.reveal()).await.0, StatusCode::UNAUTHORIZED);
    // A right id with a wrong secret.
    let forged = format!("mlp_{}_{}", token.id, "0".repeat(64));
    assert_eq!(create(forged).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.experiment_names("default").await, ["Default"]);
}

#[tokio::test]
async fn a_contributor_cannot_grant_itself_owner() {
    let app = AuthApp::new().await;
    let (s, _) = app
        .call(
            "POST",
            "/api/v1/workspaces",
            Some(&app.admin()),
            Some(json!({"name": "team"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let c = bearer(
        &app.user_with_role("carl", "team", Some("Contributor"))
            .await,
    );
    let bindings = "/api/v1/workspaces/team/role-bindings";
    let before = app.call("GET", bindings, Some(&app.admin()), None).await.1;
    let (s, b) = app
        .call(
            "POST",
            bindings,
            Some(&c),
            Some(json!({"principal": "carl", "role": "Owner"})),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (s, _) = app
        .call(
            "DELETE",
            &format!("{bindings}?principal=carl&role=Contributor"),
            Some(&c),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let after = app.call("GET", bindings, Some(&app.admin()), None).await.1;
    assert_eq!(before, after);
    // A token cannot carry more than its owner holds either.
    let basic_c = basic("carl", "carl-password");
    let (s, _) = app
        .call(
            "POST",
            "/api/v1/tokens",
            Some(&basic_c),
            Some(json!({"name": "x", "scopes": ["roles/write"], "workspace": "team"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app
        .call(
            "POST",
            "/api/v1/tokens",
            Some(&basic_c),
            Some(json!({"name": "x", "scopes": ["users/admin"]})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // An Owner can.
    let o = bearer(&app.user_with_role("olga", "team", Some("Owner")).await);
    let (s, _) = app
        .call(
            "POST",
            bindings,
            Some(&o),
            Some(json!({"principal": "carl", "role": "reader"})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_token_bound_to_one_workspace_cannot_read_another_by_id() {
    let app = AuthApp::new().await;
    for ws in ["a", "b"] {
        let (s, _) = app
            .call(
                "POST",
                "/api/v1/workspaces",
                Some(&app.admin()),
                Some(json!({"name": ws})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let (s, e) = app
        .call(
            "POST",
            "/api/v1/workspaces/b/experiments",
            Some(&app.admin()),
            Some(json!({"name": "e"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let (_, exps) = app
        .call(
            "GET",
            "/api/v1/workspaces/b/experiments",
            Some(&app.admin()),
            None,
        )
        .await;
    let exp = exps["items"][0]["experiment_id"].clone();
    let (s, run) = app
        .call(
            "POST",
            "/api/v1/workspaces/b/runs",
            Some(&app.admin()),
            Some(json!({"experiment_id": exp})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{run}");
    let run_id = run["info"]["run_id"].as_str().expect("run id").to_owned();
    // A user who is Owner of both, with a token restricted to a.
    app.user_with_role("wanda", "a", Some("Owner")).await;
    let (s, _) = app
        .call(
            "POST",
            "/api/v1/workspaces/b/role-bindings",
            Some(&app.admin()),
            Some(json!({"principal": "wanda", "role": "Owner"})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let t = bearer(
        &app.token_of("wanda", json!({"name": "a-only", "workspace": "a"}))
            .await,
    );
    let (s, _) = app
        .call(
            "GET",
            &format!("/api/v1/workspaces/b/runs/{run_id}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) = app
        .call(
            "GET",
            &format!("/w/b/api/2.0/mlflow/runs/get?run_id={run_id}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(
        (s, b["error_code"].as_str()),
        (StatusCode::FORBIDDEN, Some("PERMISSION_DENIED"))
    );
    let (s, _) = app
        .call(
            "GET",
            &format!("/w/a/api/2.0/mlflow/runs/get?run_id={run_id}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "the run is not in a");
    let (s, _) = app
        .call(
            "GET",
            &format!("/api/v1/workspaces/b/runs/{run_id}"),
            Some(&app.admin()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // The restricted token cannot mint a wider one.
    let (s, _) = app
        .call(
            "POST",
            "/api/v1/tokens",
            Some(&t),
            Some(json!({"name": "wider", "workspace": "b"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn cookie_sessions_need_the_csrf_token_for_state_changes() {
    let app = AuthApp::new().await;
    app.user_with_role("sam", "default", Some("Contributor"))
        .await;
    let req = Request::post("/api/v1/auth/login")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"user": "sam", "password": "sam-password"}).to_string(),
        ))
        .expect("request");
    let resp = app.send(req).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let set = resp
        .headers()
        .get("set-cookie")
        .expect("cookie")
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/"));
    let cookie = set.split(';').next().expect("pair").to_owned();
    let body: Value = serde_json::from_slice(
        &axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body"),
    )
    .expect("json");
    let csrf = body["csrf_token"].as_str().expect("csrf").to_owned();
    let post = |csrf: Option<&str>, name: &str| {
        let mut b = Request::post("/api/v1/workspaces/default/experiments")
            .header("cookie", &cookie)
            .header("content-type", "application/json");
        if let Some(c) = csrf {
            b = b.header("x-csrf-token", c);
        }
        b.body(Body::from(json!({"name": name}).to_string()))
            .expect("request")
    };
    let r = app.send(post(None, "forged")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app.send(post(Some("wrong"), "forged2")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.experiment_names("default").await, ["Default"]);
    let r = app.send(post(Some(&csrf), "real")).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let get = Request::get("/api/v1/auth/me")
        .header("cookie", &cookie)
        .body(Body::empty())
        .expect("request");
    let r = app.send(get).await;
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = serde_json::from_slice(
        &axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .expect("body"),
    )
    .expect("json");
    assert_eq!(me["principal"]["name"], "sam");
    assert!(
        me["workspaces"]["default"]
            .as_array()
            .expect("actions")
            .contains(&json!("experiments/write"))
    );
    // Logout ends the session.
    let out = Request::post("/api/v1/auth/logout")
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .body(Body::empty())
        .expect("request");
    assert_eq!(app.send(out).await.status(), StatusCode::NO_CONTENT);
    let get = Request::get("/api/v1/auth/me")
        .header("cookie", &cookie)
        .body(Body::empty())
        .expect("request");
    assert_eq!(app.send(get).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn brute_force_sign_in_locks_the_user_out_even_with_the_right_password() {
    let app = AuthApp::new().await;
    app.user_with_role("bea", "default", Some("Reader")).await;
    let login = |user: &str, pw: &str| {
        let app = &app;
        let body = json!({"user": user, "password": pw});
        async move {
            app.call("POST", "/api/v1/auth/login", None, Some(body))
                .await
        }
    };
    let (s_unknown, b_unknown) = login("nobody", "whatever-pw").await;
    let (s_wrong, b_wrong) = login("bea", "wrong-password").await;
    assert_eq!(s_unknown, StatusCode::UNAUTHORIZED);
    assert_eq!(
        (s_unknown, &b_unknown),
        (s_wrong, &b_wrong),
        "same answer for both"
    );
    for _ in 0..4 {
        assert_eq!(
            login("bea", "wrong-password").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (s, b) = login("bea", "bea-password").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{b}");
    assert!(b["details"]["retry_after_secs"].as_u64().expect("wait") >= 1);
    let (s, _) = app
        .call(
            "GET",
            "/api/v1/auth/me",
            Some(&basic("bea", "bea-password")),
            None,
        )
        .await;
    assert_eq!(
        s,
        StatusCode::TOO_MANY_REQUESTS,
        "Basic auth counts the same lockout"
    );
}

#[tokio::test]
async fn basic_auth_takes_a_password_or_a_token_of_that_user() {
    let app = AuthApp::new().await;
    let t = app.user_with_role("ben", "default", Some("Reader")).await;
    for creds in [basic("ben", "ben-password"), basic("ben", &t)] {
        let (s, b) = app.call("GET", "/api/v1/auth/me", Some(&creds), None).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["principal"]["name"], "ben");
    }
    let (s, _) = app
        .call("GET", "/api/v1/auth/me", Some(&basic("admin", &t)), None)
        .await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "a token is only good for its owner's name"
    );
    let (s, b) = app
        .call("GET", "/api/v1/tokens", Some(&bearer(&t)), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let item = &b["items"][0];
    assert!(item.get("token").is_none() && item.get("secret_sha256").is_none());
    assert_eq!(item["scopes"], json!(["*"]));
    // The token's use is recorded (in the background, at most once a minute).
    let mut used = Value::Null;
    for _ in 0..50 {
        let (_, b) = app
            .call("GET", "/api/v1/tokens", Some(&bearer(&t)), None)
            .await;
        used = b["items"][0]["last_used_at"].clone();
        if used.is_i64() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(used.as_i64().is_some_and(|ms| ms > 0), "{used}");
}

#[tokio::test]
async fn custom_roles_grant_their_actions_and_are_checked() {
    let app = AuthApp::new().await;
    let (s, b) = app
        .call(
            "PUT",
            "/api/v1/roles/run-logger",
            Some(&app.admin()),
            Some(json!({"actions": ["runs/*", "experiments/read"]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, _) = app
        .call(
            "PUT",
            "/api/v1/roles/bad",
            Some(&app.admin()),
            Some(json!({"actions": ["runs/fly"]})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let t = bearer(
        &app.user_with_role("lou", "default", Some("run-logger"))
            .await,
    );
    let (s, _) = app
        .call(
            "POST",
            "/api/v1/workspaces/default/runs",
            Some(&t),
            Some(json!({"experiment_id": "0"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = app
        .call(
            "POST",
            "/api/v1/workspaces/default/experiments",
            Some(&t),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app
        .call(
            "POST",
            "/api/v1/workspaces/default/role-bindings",
            Some(&app.admin()),
            Some(json!({"principal": "lou", "role": "no-such-role"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_audit_log_names_the_signed_in_actor_and_records_refusals() {
    let app = AuthApp::new().await;
    let reader = bearer(&app.user_with_role("rita", "default", Some("Reader")).await);
    let (s, _) = app
        .call(
            "POST",
            "/api/v1/workspaces/default/experiments",
            Some(&reader),
            Some(json!({"name": "nope"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app
        .call(
            "POST",
            "/api/v1/workspaces/default/experiments",
            Some(&app.admin()),
            Some(json!({"name": "yes"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    // Only administrators read the audit log.
    let (s, _) = app.call("GET", "/api/v1/audit", Some(&reader), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) = app
        .call(
            "GET",
            "/api/v1/audit?action=experiments%2Fwrite",
            Some(&app.admin()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let rows: Vec<(String, String, String, u64)> = b["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| {
            (
                r["actor_kind"].as_str().unwrap_or_default().to_owned(),
                r["actor_name"].as_str().unwrap_or_default().to_owned(),
                r["outcome"].as_str().unwrap_or_default().to_owned(),
                r["status"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("user".into(), "admin".into(), "allowed".into(), 201),
            ("user".into(), "rita".into(), "denied".into(), 403),
        ]
    );
    // The reader's refused read of the audit log is itself recorded.
    let (_, b) = app
        .call("GET", "/api/v1/audit?actor=rita", Some(&app.admin()), None)
        .await;
    let denied_reads = b["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|r| r["method"] == "GET" && r["outcome"] == "denied")
        .count();
    assert_eq!(denied_reads, 1, "{b}");
}

#[tokio::test]
async fn signing_in_purges_expired_sessions_and_keeps_live_ones() {
    let app = AuthApp::new().await;
    let admin = app.state.store.find_user("admin").await.expect("admin");
    for (id, expires_at) in [("expired", 1), ("live", i64::MAX)] {
        app.state
            .store
            .create_session(mlplane_store::auth::SessionRecord {
                id_sha256: id.into(),
                user_id: admin.id.clone(),
                csrf_sha256: "c".into(),
                expires_at,
                created_at: 0,
            })
            .await
            .expect("session");
    }
    let (s, b) = app
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"user": "admin", "password": "admin-password"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(matches!(
        app.state.store.get_session("expired").await,
        Err(mlplane_store::StoreError::NotFound { .. })
    ));
    assert!(app.state.store.get_session("live").await.is_ok());
}
