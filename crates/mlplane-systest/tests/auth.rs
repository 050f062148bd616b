//! `--auth` through the real binary: a non-loopback host without auth refuses to start; the
//! first start with auth prints the administrator's bootstrap token once (never again after
//! a restart); the CLI works with `--token`, with `mlplane login`'s stored token (a file of
//! mode 0600), and a revoked token is refused with exit 1.

use mlplane_systest::{binary, cli};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

struct AuthServer {
    child: std::process::Child,
    url: String,
    bootstrap: Option<String>,
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `mlplane server --auth on`, collecting the bootstrap token from stderr.
fn start(data: &std::path::Path) -> AuthServer {
    start_with(data, &["--job-slots", "0"])
}

fn start_with(data: &std::path::Path, extra: &[&str]) -> AuthServer {
    let mut child = Command::new(binary())
        .args([
            "server",
            "--auth",
            "on",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data-dir",
        ])
        .arg(data)
        .args(extra)
        .env("MLPLANE_LOG", "warn")
        .env("MLPLANE_ADMIN_PASSWORD", "admin-password-1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (tok_tx, tok_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("mlp_") {
                let _ = tok_tx.send(line.trim().to_owned());
            }
        }
    });
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("listening line");
    let url = first
        .trim()
        .strip_prefix("mlplane listening on ")
        .expect("listening line")
        .to_owned();
    // The token line comes before the listening line; allow the reader thread a moment.
    let bootstrap = tok_rx.recv_timeout(Duration::from_millis(500)).ok();
    AuthServer {
        child,
        url,
        bootstrap,
    }
}

/// The CLI in an isolated home (its stored credentials), with `env`.
fn run(
    url: &str,
    home: &std::path::Path,
    env: &[(&str, &str)],
    args: &[&str],
) -> (i32, String, String) {
    let home = home.to_str().expect("utf-8 home");
    let mut all = vec![("HOME", home)];
    all.extend_from_slice(env);
    cli(url, args, &all)
}

fn text(o: &(i32, String, String)) -> String {
    format!("exit {}\nstdout: {}\nstderr: {}", o.0, o.1, o.2)
}

#[test]
fn a_public_address_without_auth_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(binary())
        .args(["server", "--host", "0.0.0.0", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .env("MLPLANE_LOG", "warn")
        .env_remove("MLPLANE_AUTH")
        .output()
        .expect("ran");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--auth on"), "{err}");
    assert!(
        !dir.path().join("mlplane.db").exists(),
        "nothing was created"
    );
}

#[test]
fn auth_on_bootstraps_an_admin_once_and_the_cli_uses_tokens() {
    let data = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("home");
    let server = start(data.path());
    let admin = server
        .bootstrap
        .clone()
        .expect("the first start prints a token");
    assert!(admin.starts_with("mlp_"));
    let url = server.url.clone();
    let h = home.path();

    // Without credentials the CLI is refused.
    let o = run(&url, h, &[], &["experiments", "list"]);
    assert_eq!(o.0, 1, "{}", text(&o));
    assert!(o.2.contains("unauthenticated"));

    // The admin makes a Reader.
    let o = run(
        &url,
        h,
        &[("MLPLANE_NEW_PASSWORD", "alice-password")],
        &["--token", &admin, "user", "create", "alice"],
    );
    assert!(o.0 == 0, "{}", text(&o));
    let o = run(
        &url,
        h,
        &[],
        &["--token", &admin, "role-binding", "set", "alice", "Reader"],
    );
    assert!(o.0 == 0, "{}", text(&o));
    let o = run(&url, h, &[], &["--token", &admin, "role-binding", "list"]);
    assert!(o.1.contains("alice"), "{}", text(&o));

    // alice signs in; the token lands in a 0600 file and is used by later commands.
    let o = run(
        &url,
        h,
        &[("MLPLANE_PASSWORD", "alice-password")],
        &["login", "--user", "alice"],
    );
    assert!(o.0 == 0, "{}", text(&o));
    let creds = h.join(".config/mlplane/credentials");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&creds)
            .expect("credentials")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let o = run(&url, h, &[], &["experiments", "list"]);
    assert!(o.0 == 0, "{}", text(&o));
    let o = run(&url, h, &[], &["experiments", "create", "nope"]);
    assert_eq!(o.0, 1, "{}", text(&o));
    assert!(o.2.contains("forbidden"), "{}", text(&o));
    let o = run(
        &url,
        h,
        &[("MLPLANE_PASSWORD", "wrong-password")],
        &["login", "--user", "alice"],
    );
    assert_eq!(o.0, 1, "{}", text(&o));

    // Tokens: made once, listed without secrets, revoked for good.
    let o = run(&url, h, &[], &["token", "create", "ci"]);
    assert!(o.0 == 0, "{}", text(&o));
    let token = o.1.trim().to_owned();
    assert!(token.starts_with("mlp_"), "{}", text(&o));
    let o = run(&url, h, &[], &["--token", &token, "token", "list"]);
    let listed = o.1.clone();
    assert!(o.0 == 0 && listed.contains("ci"), "{}", text(&o));
    let secret = token.rsplit('_').next().expect("secret");
    assert!(!listed.contains(secret), "token list shows no secret");
    let id = token.split('_').nth(1).expect("id");
    let o = run(&url, h, &[], &["--token", &token, "token", "revoke", id]);
    assert!(o.0 == 0, "{}", text(&o));
    let o = run(&url, h, &[], &["--token", &token, "experiments", "list"]);
    assert_eq!(o.0, 1, "{}", text(&o));

    // A restart does not print the bootstrap token again; the admin's token still works.
    drop(server);
    let again = start(data.path());
    assert!(
        again.bootstrap.is_none(),
        "the bootstrap token is shown once"
    );
    let o = run(&again.url, h, &[], &["--token", &admin, "user", "list"]);
    assert!(o.1.contains("alice"), "{}", text(&o));
}

/// An auth-on server with one job slot, its administrator's token, a client, the default
/// workspace's API root, and someone else's run in that workspace (`other`), which a job
/// can read but not write.
struct JobBed {
    _data: tempfile::TempDir,
    server: AuthServer,
    admin: String,
    c: reqwest::Client,
    api: String,
    other: String,
}

impl JobBed {
    async fn start() -> Self {
        let data = tempfile::tempdir().expect("tempdir");
        let mut server = start_with(data.path(), &["--job-slots", "1"]);
        let admin = server.bootstrap.take().expect("token");
        let c = mlplane_systest::client();
        let api = format!("{}/api/v1/workspaces/default", server.url);
        let other: serde_json::Value = c
            .post(format!("{api}/runs"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("run")
            .json()
            .await
            .expect("json");
        let other = other["info"]["run_id"].as_str().expect("id").to_owned();
        JobBed {
            _data: data,
            server,
            admin,
            c,
            api,
            other,
        }
    }
}

/// A job's process gets its own token: it acts as the job in its workspace, logging to
/// its own run and to a run it nests under it through the MLflow protocol works; writing to
/// another run, reading an asset its spec does not name, registering a model that is not
/// its output and administration are refused; and the token is revoked once the job ended.
/// Needs uv (`MLPLANE_UV`); skipped without it unless `MLPLANE_REQUIRE_UV` is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_acts_with_its_own_token_which_dies_with_the_job() {
    if !mlplane_systest::uv_available() {
        return;
    }
    let JobBed {
        _data,
        server,
        admin,
        c,
        api,
        other,
    } = JobBed::start().await;
    let job = mlplane_systest::submit_job(
        &c,
        &api,
        Some(&admin),
        &serde_json::json!({
            "command": format!("python -c '{JOB_SCRIPT}'"),
            "environment": {"pip": []},
            "environment_variables": {"OTHER_RUN": other},
            "outputs": {"m": {"type": "custom_model", "name": "job_clf"}},
        }),
    )
    .await;
    let name = job["name"].as_str().expect("name").to_owned();
    let run_id = job["run_id"].as_str().expect("run").to_owned();
    let done = mlplane_systest::wait_job(&c, &format!("{api}/jobs/{name}"), Some(&admin)).await;
    let log = mlplane_systest::run_log(&c, &api, &run_id, Some(&admin)).await;
    assert_eq!(done["status"], "Completed", "{done}\n{log}");
    for line in [
        format!("ME 200 job default/{name}"),
        "SAME True".into(),
        "OWN 204".into(),
        "OWN_MLFLOW 200".into(),
        "NESTED 200".into(),
        "NESTED_LOG 200".into(),
        "OTHER 403".into(),
        "OTHER_MLFLOW 403".into(),
        "READ_OTHER 200".into(),
        "ASSET_OTHER 403".into(),
        "MODEL_OUTPUT 200".into(),
        "MODEL_OTHER 403".into(),
        "ADMIN 403".into(),
    ] {
        assert!(log.contains(&line), "{line} missing in\n{log}");
    }
    let run_of = |id: String| {
        let c = c.clone();
        let (api, admin) = (api.clone(), admin.clone());
        async move {
            c.get(format!("{api}/runs/{id}"))
                .bearer_auth(&admin)
                .send()
                .await
                .expect("run")
                .json::<serde_json::Value>()
                .await
                .expect("json")
        }
    };
    let own = run_of(run_id.clone()).await.to_string();
    assert!(
        own.contains("from_job") && own.contains("via_mlflow"),
        "{own}"
    );
    let nested = log
        .lines()
        .find_map(|l| l.strip_prefix("NESTED_ID "))
        .expect("nested id")
        .trim()
        .to_owned();
    let nested_run = run_of(nested).await;
    assert_eq!(
        nested_run["info"]["parent_run_id"],
        run_id.as_str(),
        "{nested_run}"
    );
    assert!(nested_run.to_string().contains("in_child"), "{nested_run}");
    let other_run = run_of(other.clone()).await.to_string();
    assert!(!other_run.contains("intruder"), "{other_run}");
    let token = log
        .lines()
        .find_map(|l| l.strip_prefix("TOKEN "))
        .expect("token line")
        .trim()
        .to_owned();
    let after = c
        .get(format!("{}/api/v1/auth/me", server.url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me");
    assert_eq!(
        after.status().as_u16(),
        401,
        "the job's token died with the job"
    );
    let late = c
        .post(format!("{}/api/2.0/mlflow/runs/log-metric", server.url))
        .bearer_auth(&token)
        .json(&serde_json::json!({"run_id": run_id, "key": "late", "value": 1.0, "timestamp": 1}))
        .send()
        .await
        .expect("late write");
    assert_eq!(late.status().as_u16(), 401);
    assert!(!run_of(run_id).await.to_string().contains("\"late\""));
}

/// The job of [`a_job_acts_with_its_own_token_which_dies_with_the_job`]: plain `urllib`
/// against the native and the MLflow protocol, one line per attempt with its status.
const JOB_SCRIPT: &str = r#"import os, json, ssl, urllib.request as u
base = os.environ["MLFLOW_TRACKING_URI"]
tok = os.environ["MLPLANE_TOKEN"]
ca = os.environ.get("MLPLANE_CA_CERT")
ctx = ssl.create_default_context(cafile=ca) if ca else None
def call(method, path, body=None):
    req = u.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                    headers={"Authorization": "Bearer " + tok, "content-type": "application/json"})
    try:
        with u.urlopen(req, context=ctx) as r:
            return r.status, json.loads(r.read() or b"null")
    except u.HTTPError as e:
        return e.code, None
status, me = call("GET", "/api/v1/auth/me")
print("ME", status, me["principal"]["kind"], me["principal"]["id"])
print("SAME", tok == os.environ["MLFLOW_TRACKING_TOKEN"])
run = os.environ["MLFLOW_RUN_ID"]
exp = os.environ["MLFLOW_EXPERIMENT_ID"]
other = os.environ["OTHER_RUN"]
metric = lambda k: {"key": k, "value": 1.5, "step": 0, "timestamp": 1}
ws = "/api/v1/workspaces/default"
print("OWN", call("POST", ws + "/runs/" + run + "/batch", {"metrics": [metric("from_job")]})[0])
print("OWN_MLFLOW", call("POST", "/api/2.0/mlflow/runs/log-batch", {"run_id": run, "metrics": [metric("via_mlflow")]})[0])
status, child = call("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": exp,
    "tags": [{"key": "mlflow.parentRunId", "value": run}]})
print("NESTED", status)
child = child["run"]["info"]["run_id"]
print("NESTED_ID", child)
print("NESTED_LOG", call("POST", "/api/2.0/mlflow/runs/log-metric", dict(metric("in_child"), run_id=child))[0])
print("OTHER", call("POST", ws + "/runs/" + other + "/batch", {"metrics": [metric("intruder")]})[0])
print("OTHER_MLFLOW", call("POST", "/api/2.0/mlflow/runs/log-metric", dict(metric("intruder"), run_id=other))[0])
print("READ_OTHER", call("GET", "/api/2.0/mlflow/runs/get?run_id=" + other)[0])
print("ASSET_OTHER", call("GET", ws + "/data/payroll/versions")[0])
print("MODEL_OUTPUT", call("POST", "/api/2.0/mlflow/registered-models/create", {"name": "job_clf"})[0])
print("MODEL_OTHER", call("POST", "/api/2.0/mlflow/registered-models/create", {"name": "not_mine"})[0])
print("ADMIN", call("GET", "/api/v1/users")[0])
out = os.environ["MLPLANE_OUTPUTS_M"]
os.makedirs(out, exist_ok=True)
open(os.path.join(out, "model.txt"), "w").write("a model")
print("TOKEN", tok)
"#;

/// The job of [`a_job_logs_with_the_real_mlflow_client_only_to_its_own_runs`]: the stock
/// `mlflow` client resumes the job's run, nests a run under it, logs an artifact, and is
/// refused (PERMISSION_DENIED) on another run.
const MLFLOW_JOB: &str = r#"import os, tempfile, mlflow
from mlflow.exceptions import MlflowException
rid = os.environ["MLFLOW_RUN_ID"]
with mlflow.start_run() as run:
    assert run.info.run_id == rid
    mlflow.log_metric("acc", 0.9)
    mlflow.log_param("lr", "0.1")
    with mlflow.start_run(nested=True) as child:
        mlflow.log_metric("fold_acc", 0.8)
        print("CHILD", child.info.run_id)
    d = tempfile.mkdtemp()
    p = os.path.join(d, "notes.txt")
    open(p, "w").write("hello")
    mlflow.log_artifact(p)
    try:
        mlflow.MlflowClient().log_metric(os.environ["OTHER_RUN"], "intruder", 1.0)
        print("OTHER allowed")
    except MlflowException as e:
        print("OTHER", e.error_code)
print("DONE")
"#;

/// The same rules with the unmodified `mlflow` client inside a job (from the MLflow client
/// venv, `MLPLANE_MLFLOW_VENV` or `~/.cache/mlplane/mlflow-venv`; skipped without it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_logs_with_the_real_mlflow_client_only_to_its_own_runs() {
    if !mlplane_systest::uv_available() {
        return;
    }
    let venv = std::env::var("MLPLANE_MLFLOW_VENV").unwrap_or_else(|_| {
        format!(
            "{}/.cache/mlplane/mlflow-venv",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let python = format!("{venv}/bin/python");
    if !std::path::Path::new(&python).exists() {
        eprintln!(
            "skipping: no MLflow client venv at {venv} (scripts/mlflow-tests.sh --install-only)"
        );
        return;
    }
    let JobBed {
        _data,
        server,
        admin,
        c,
        api,
        other,
    } = JobBed::start().await;
    let job = mlplane_systest::submit_job(
        &c,
        &api,
        Some(&admin),
        &serde_json::json!({
            "command": format!("{python} -c '{MLFLOW_JOB}'"),
            "environment": {"pip": []},
            "environment_variables": {"OTHER_RUN": other},
        }),
    )
    .await;
    let name = job["name"].as_str().expect("name").to_owned();
    let run_id = job["run_id"].as_str().expect("run").to_owned();
    let done = mlplane_systest::wait_job(&c, &format!("{api}/jobs/{name}"), Some(&admin)).await;
    let log = mlplane_systest::run_log(&c, &api, &run_id, Some(&admin)).await;
    assert_eq!(done["status"], "Completed", "{done}\n{log}");
    assert!(log.contains("OTHER PERMISSION_DENIED"), "{log}");
    assert!(log.contains("DONE"), "{log}");
    let get = |id: String| {
        let (c, api, admin) = (c.clone(), api.clone(), admin.clone());
        async move {
            c.get(format!("{api}/runs/{id}"))
                .bearer_auth(&admin)
                .send()
                .await
                .expect("run")
                .json::<serde_json::Value>()
                .await
                .expect("json")
        }
    };
    let own = get(run_id.clone()).await.to_string();
    assert!(own.contains("\"acc\"") && own.contains("\"lr\""), "{own}");
    let child = log
        .lines()
        .find_map(|l| l.strip_prefix("CHILD "))
        .expect("child line")
        .trim()
        .to_owned();
    let child = get(child).await;
    assert_eq!(child["info"]["parent_run_id"], run_id.as_str(), "{child}");
    assert!(child.to_string().contains("fold_acc"), "{child}");
    assert!(!get(other).await.to_string().contains("intruder"));
    let files: serde_json::Value = c
        .get(format!(
            "{}/api/2.0/mlflow/artifacts/list?run_id={run_id}",
            server.url
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert!(files.to_string().contains("notes.txt"), "{files}");
}
