//! A job's token narrowed to its job's run, inputs and outputs, in-process with `--auth on`:
//! each protocol shape that names a run (native path, MLflow query and JSON body, the
//! artifact proxy path, run creation with a parent) or an asset (native path, MLflow
//! registry body) is allowed on the job's own objects and refused with 403, changing
//! nothing, on others; oversize bodies are 413; reads of runs stay open.

use super::auth::{AuthApp, bearer};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use mlplane_core::{JobScope, PrincipalKind, ScopedAsset};
use serde_json::{Value, json};

/// The app, a job token for a "job" whose run is `own` in experiment `exp`, and a run of
/// someone else (`other`) in the same experiment.
struct Fixture {
    app: AuthApp,
    token: String,
    exp: String,
    own: String,
    other: String,
}

impl Fixture {
    async fn new() -> Self {
        let app = AuthApp::new().await;
        let admin = app.admin();
        let (s, e) = app
            .call(
                "POST",
                "/api/2.0/mlflow/experiments/create",
                Some(&admin),
                Some(json!({"name": "jobs"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{e}");
        let exp = e["experiment_id"].as_str().expect("id").to_owned();
        let mut runs = Vec::new();
        for _ in 0..2 {
            let (s, r) = app
                .call(
                    "POST",
                    "/api/2.0/mlflow/runs/create",
                    Some(&admin),
                    Some(json!({"experiment_id": exp})),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{r}");
            runs.push(r["run"]["info"]["run_id"].as_str().expect("id").to_owned());
        }
        let (own, other) = (runs[0].clone(), runs[1].clone());
        let token = mlplane_auth::ApiToken::generate();
        app.state
            .store
            .create_token(mlplane_store::auth::ApiTokenRecord {
                id: token.id.clone(),
                owner: mlplane_store::auth::PrincipalRef {
                    kind: PrincipalKind::Job,
                    id: "default/the-job".into(),
                },
                name: "job the-job".into(),
                secret_sha256: token.secret_digest(),
                scopes: mlplane_executor::tokens::JOB_SCOPES
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect(),
                workspace: Some("default".into()),
                expires_at: None,
                last_used_at: None,
                revoked_at: None,
                created_at: 0,
                job_scope: Some(JobScope {
                    run_id: own.clone(),
                    experiment_id: exp.clone(),
                    reads: vec![ScopedAsset::new("data", "train")],
                    writes: vec![ScopedAsset::new("models", "clf")],
                }),
            })
            .await
            .expect("token");
        Fixture {
            app,
            token: bearer(&token.reveal()),
            exp,
            own,
            other,
        }
    }

    async fn job(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.app.call(method, uri, Some(&self.token), body).await
    }

    /// Sends as the job and expects 200; returns the answer.
    async fn ok(&self, method: &str, uri: &str, body: Option<Value>) -> Value {
        let (s, b) = self.job(method, uri, body).await;
        assert_eq!(s, StatusCode::OK, "{method} {uri}: {b}");
        b
    }

    /// Sends as the job and expects the job scope's 403; returns the answer.
    async fn refused(&self, method: &str, uri: &str, body: Option<Value>) -> Value {
        let (s, b) = self.job(method, uri, body).await;
        denied(s, &b);
        b
    }

    /// The metric keys of run `id`, read by the administrator.
    async fn metric_keys(&self, id: &str) -> Vec<String> {
        let (s, r) = self
            .app
            .call(
                "GET",
                &format!("/api/2.0/mlflow/runs/get?run_id={id}"),
                Some(&self.app.admin()),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{r}");
        let mut keys: Vec<String> = r["run"]["data"]["metrics"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| m["key"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default();
        keys.sort();
        keys
    }

    /// The tag keys of run `id`.
    async fn tag_keys(&self, id: &str) -> Vec<String> {
        let (_, r) = self
            .app
            .call(
                "GET",
                &format!("/api/2.0/mlflow/runs/get?run_id={id}"),
                Some(&self.app.admin()),
                None,
            )
            .await;
        r["run"]["data"]["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|t| t["key"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn denied(s: StatusCode, b: &Value) {
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let msg = b["message"].as_str().unwrap_or("");
    assert!(msg.contains("job"), "the refusal names the job scope: {b}");
}

#[tokio::test]
async fn mlflow_run_writes_reach_only_the_jobs_own_run() {
    let f = Fixture::new().await;
    let metric =
        |run: &str| json!({"run_id": run, "key": "m", "value": 1.0, "timestamp": 1, "step": 0});
    f.ok(
        "POST",
        "/api/2.0/mlflow/runs/log-metric",
        Some(metric(&f.own)),
    )
    .await;
    let b = f
        .refused(
            "POST",
            "/api/2.0/mlflow/runs/log-metric",
            Some(metric(&f.other)),
        )
        .await;
    assert_eq!(b["error_code"], "PERMISSION_DENIED");

    let batch = |run: &str| {
        json!({"run_id": run, "metrics": [{"key": "b", "value": 2.0, "timestamp": 1, "step": 0}],
               "params": [{"key": "p", "value": "1"}]})
    };
    f.ok(
        "POST",
        "/api/2.0/mlflow/runs/log-batch",
        Some(batch(&f.own)),
    )
    .await;
    f.refused(
        "POST",
        "/api/2.0/mlflow/runs/log-batch",
        Some(batch(&f.other)),
    )
    .await;

    // `run_uuid`, MLflow's older spelling, names the run as well.
    let tag = |run: &str| json!({"run_uuid": run, "key": "t", "value": "v"});
    f.ok("POST", "/api/2.0/mlflow/runs/set-tag", Some(tag(&f.own)))
        .await;
    f.refused("POST", "/api/2.0/mlflow/runs/set-tag", Some(tag(&f.other)))
        .await;

    let update = |run: &str| json!({"run_id": run, "status": "FINISHED", "end_time": 5});
    f.refused(
        "POST",
        "/api/2.0/mlflow/runs/update",
        Some(update(&f.other)),
    )
    .await;
    let inputs = |run: &str| {
        json!({"run_id": run, "datasets": [{"dataset": {"name": "d", "digest": "x",
               "source_type": "local", "source": "s"}}]})
    };
    f.refused(
        "POST",
        "/api/2.0/mlflow/runs/log-inputs",
        Some(inputs(&f.other)),
    )
    .await;
    f.ok(
        "POST",
        "/api/2.0/mlflow/runs/log-inputs",
        Some(inputs(&f.own)),
    )
    .await;
    // Both spellings must name the job's runs: they cannot disagree to get past the check.
    f.refused(
        "POST",
        "/api/2.0/mlflow/runs/set-tag",
        Some(json!({"run_id": "", "run_uuid": f.other, "key": "t", "value": "v"})),
    )
    .await;
    f.refused(
        "POST",
        "/api/2.0/mlflow/runs/set-tag",
        Some(json!({"run_id": f.own, "run_uuid": f.other, "key": "t2", "value": "v"})),
    )
    .await;
    // A body naming no run cannot be checked and is refused.
    f.refused(
        "POST",
        "/api/2.0/mlflow/runs/log-batch",
        Some(json!({"metrics": []})),
    )
    .await;

    assert_eq!(f.metric_keys(&f.own).await, ["b", "m"]);
    assert!(f.metric_keys(&f.other).await.is_empty(), "nothing changed");
    assert!(!f.tag_keys(&f.other).await.contains(&"t".to_owned()));
    f.ok("POST", "/api/2.0/mlflow/runs/update", Some(update(&f.own)))
        .await;
}

#[tokio::test]
async fn nested_runs_are_created_under_the_jobs_run_and_writable_to_any_depth() {
    let f = Fixture::new().await;
    let create = |exp: &str, parent: Option<&str>| {
        let mut tags = vec![json!({"key": "mlflow.user", "value": "job"})];
        if let Some(p) = parent {
            tags.push(json!({"key": "mlflow.parentRunId", "value": p}));
        }
        json!({"experiment_id": exp, "tags": tags})
    };
    let child = f
        .ok(
            "POST",
            "/api/2.0/mlflow/runs/create",
            Some(create(&f.exp, Some(&f.own))),
        )
        .await;
    let child = child["run"]["info"]["run_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let grandchild = f
        .ok(
            "POST",
            "/api/2.0/mlflow/runs/create",
            Some(create(&f.exp, Some(&child))),
        )
        .await;
    let grandchild = grandchild["run"]["info"]["run_id"]
        .as_str()
        .expect("id")
        .to_owned();
    for run in [&child, &grandchild] {
        f.ok(
                "POST",
                "/api/2.0/mlflow/runs/log-batch",
                Some(json!({"run_id": run, "metrics": [{"key": "n", "value": 1.0, "timestamp": 1, "step": 0}]})),
            ).await;
    }
    assert_eq!(f.metric_keys(&grandchild).await, ["n"]);

    // Without a parent, under someone else's run, or in another experiment: refused.
    f.refused(
        "POST",
        "/api/2.0/mlflow/runs/create",
        Some(create(&f.exp, None)),
    )
    .await;
    f.refused(
        "POST",
        "/api/2.0/mlflow/runs/create",
        Some(create(&f.exp, Some(&f.other))),
    )
    .await;
    f.refused(
        "POST",
        "/api/2.0/mlflow/runs/create",
        Some(create("0", Some(&f.own))),
    )
    .await;

    // The native API: a nested run by `parent_run_id`, metrics by path.
    let (s, b) = f
        .job(
            "POST",
            "/api/v1/workspaces/default/runs",
            Some(json!({"experiment_id": f.exp, "parent_run_id": f.own})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let native_child = b["info"]["run_id"].as_str().expect("id").to_owned();
    let b = f
        .refused(
            "POST",
            "/api/v1/workspaces/default/runs",
            Some(json!({"experiment_id": f.exp})),
        )
        .await;
    assert_eq!(b["code"], "forbidden");
    let metric = json!({"key": "k", "value": 1.0});
    for (run, ok) in [(&f.own, true), (&native_child, true), (&f.other, false)] {
        let (s, b) = f
            .job(
                "POST",
                &format!("/api/v1/workspaces/default/runs/{run}/metrics"),
                Some(metric.clone()),
            )
            .await;
        if ok {
            assert!(s.is_success(), "{s} {b}");
        } else {
            denied(s, &b);
        }
    }
    assert!(f.metric_keys(&f.other).await.is_empty());
}

#[tokio::test]
async fn artifacts_are_written_only_under_the_jobs_runs() {
    let f = Fixture::new().await;
    let put = |uri: String| {
        Request::builder()
            .method("PUT")
            .uri(uri)
            .header("authorization", f.token.clone())
            .body(Body::from("hello"))
            .expect("request")
    };
    let proxy = |run: &str| {
        format!(
            "/api/2.0/mlflow-artifacts/artifacts/default/{}/{run}/artifacts/a.txt",
            f.exp
        )
    };
    let r = f.app.send(put(proxy(&f.own))).await;
    assert!(r.status().is_success(), "{}", r.status());
    let r = f.app.send(put(proxy(&f.other))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A multipart upload is checked where it names its run: at creation (and completion).
    f.refused(
        "POST",
        &format!(
            "/api/2.0/mlflow-artifacts/mpu/create/default/{}/{}/artifacts/big.bin",
            f.exp, f.other
        ),
        Some(json!({"path": "big.bin", "num_parts": 2})),
    )
    .await;
    let native = |run: &str| format!("/api/v1/workspaces/default/runs/{run}/artifacts/b.txt");
    let r = f.app.send(put(native(&f.own))).await;
    assert!(r.status().is_success(), "{}", r.status());
    let r = f.app.send(put(native(&f.other))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (s, b) = f
        .app
        .call(
            "GET",
            &format!("/api/2.0/mlflow/artifacts/list?run_id={}", f.other),
            Some(&f.app.admin()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(
        b.get("files")
            .is_none_or(|x| x.as_array().is_none_or(|a| a.is_empty())),
        "{b}"
    );
    // Reading another run's artifacts and the run itself stays allowed.
    f.ok(
        "GET",
        &format!("/api/2.0/mlflow/artifacts/list?run_id={}", f.other),
        None,
    )
    .await;
    f.ok(
        "GET",
        &format!("/api/2.0/mlflow/runs/get?run_id={}", f.other),
        None,
    )
    .await;
}

#[tokio::test]
async fn assets_are_read_by_input_name_and_written_only_as_declared_outputs() {
    let f = Fixture::new().await;
    // An input is readable (it does not exist, but the layer lets the request through).
    let (s, b) = f
        .job(
            "GET",
            "/api/v1/workspaces/default/data/train/versions",
            None,
        )
        .await;
    assert_ne!(s, StatusCode::FORBIDDEN, "{b}");
    f.refused(
        "GET",
        "/api/v1/workspaces/default/data/payroll/versions",
        None,
    )
    .await;
    f.refused("GET", "/api/v1/workspaces/default/data", None)
        .await;
    // The declared output may be registered through the MLflow registry, nothing else.
    f.ok(
        "POST",
        "/api/2.0/mlflow/registered-models/create",
        Some(json!({"name": "clf"})),
    )
    .await;
    f.refused(
        "POST",
        "/api/2.0/mlflow/registered-models/create",
        Some(json!({"name": "someone-elses"})),
    )
    .await;
    f.refused(
        "POST",
        "/api/2.0/mlflow/registered-models/rename",
        Some(json!({"name": "clf", "new_name": "renamed"})),
    )
    .await;
    f.refused(
        "GET",
        "/api/2.0/mlflow/registered-models/get?name=someone-elses",
        None,
    )
    .await;
    f.ok(
        "GET",
        "/api/2.0/mlflow/registered-models/get?name=clf",
        None,
    )
    .await;
    let (s, b) = f
        .app
        .call(
            "GET",
            "/api/2.0/mlflow/registered-models/search",
            Some(&f.app.admin()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> = b["registered_models"]
        .as_array()
        .expect("models")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(names, ["clf"]);
    // Other writes the scopes allow are still refused without a target of the job's.
    let (s, b) = f
        .job(
            "POST",
            "/api/2.0/mlflow/experiments/create",
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
}

#[tokio::test]
async fn an_oversize_body_is_413_and_a_revoked_job_token_is_401() {
    let f = Fixture::new().await;
    let big = "x".repeat(mlplane_server::Limits::default().max_request_bytes + 10);
    let req = Request::builder()
        .method("POST")
        .uri("/api/2.0/mlflow/runs/log-batch")
        .header("authorization", f.token.clone())
        .header("content-type", "application/json")
        .body(Body::from(big))
        .expect("request");
    let r = f.app.send(req).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    f.app
        .state
        .store
        .revoke_tokens_of(
            &mlplane_store::auth::PrincipalRef {
                kind: PrincipalKind::Job,
                id: "default/the-job".into(),
            },
            1,
        )
        .await
        .expect("revoke");
    let (s, b) = f
        .job(
            "POST",
            "/api/2.0/mlflow/runs/log-metric",
            Some(json!({"run_id": f.own, "key": "late", "value": 1.0, "timestamp": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert!(!f.metric_keys(&f.own).await.contains(&"late".to_owned()));
}
