//! `--auth` through the real binary: a non-loopback host without auth refuses to start; the
//! first start with auth prints the administrator's bootstrap token once (never again after
//! a restart); the CLI works with `--token`, with `mlplane login`'s stored token (a file of
//! mode 0600), and a revoked token is refused with exit 1.

use mlplane_systest::binary;
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

fn cli(
    url: &str,
    home: &std::path::Path,
    env: &[(&str, &str)],
    args: &[&str],
) -> std::process::Output {
    Command::new(binary())
        .arg("--url")
        .arg(url)
        .args(args)
        .env_remove("MLPLANE_TOKEN")
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("the CLI ran")
}

fn text(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
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
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
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
    let o = cli(&url, h, &[], &["experiments", "list"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unauthenticated"));

    // The admin makes a Reader.
    let o = cli(
        &url,
        h,
        &[("MLPLANE_NEW_PASSWORD", "alice-password")],
        &["--token", &admin, "user", "create", "alice"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = cli(
        &url,
        h,
        &[],
        &["--token", &admin, "role-binding", "set", "alice", "Reader"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = cli(&url, h, &[], &["--token", &admin, "role-binding", "list"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("alice"),
        "{}",
        text(&o)
    );

    // alice signs in; the token lands in a 0600 file and is used by later commands.
    let o = cli(
        &url,
        h,
        &[("MLPLANE_PASSWORD", "alice-password")],
        &["login", "--user", "alice"],
    );
    assert!(o.status.success(), "{}", text(&o));
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
    let o = cli(&url, h, &[], &["experiments", "list"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = cli(&url, h, &[], &["experiments", "create", "nope"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("forbidden"),
        "{}",
        text(&o)
    );
    let o = cli(
        &url,
        h,
        &[("MLPLANE_PASSWORD", "wrong-password")],
        &["login", "--user", "alice"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    // Tokens: made once, listed without secrets, revoked for good.
    let o = cli(&url, h, &[], &["token", "create", "ci"]);
    assert!(o.status.success(), "{}", text(&o));
    let token = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    assert!(token.starts_with("mlp_"), "{}", text(&o));
    let o = cli(&url, h, &[], &["--token", &token, "token", "list"]);
    let listed = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success() && listed.contains("ci"), "{}", text(&o));
    let secret = token.rsplit('_').next().expect("secret");
    assert!(!listed.contains(secret), "token list shows no secret");
    let id = token.split('_').nth(1).expect("id");
    let o = cli(&url, h, &[], &["--token", &token, "token", "revoke", id]);
    assert!(o.status.success(), "{}", text(&o));
    let o = cli(&url, h, &[], &["--token", &token, "experiments", "list"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    // A restart does not print the bootstrap token again; the admin's token still works.
    drop(server);
    let again = start(data.path());
    assert!(
        again.bootstrap.is_none(),
        "the bootstrap token is shown once"
    );
    let o = cli(&again.url, h, &[], &["--token", &admin, "user", "list"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("alice"),
        "{}",
        text(&o)
    );
}

/// A job's process gets its own token: it acts as the job in its workspace (logging to its
/// run works, administration does not), and the token is revoked once the job ended.
/// Needs uv (`MLPLANE_UV`); skipped without it unless `MLPLANE_REQUIRE_UV` is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_acts_with_its_own_token_which_dies_with_the_job() {
    if std::env::var_os("MLPLANE_UV").is_none() {
        assert!(
            std::env::var_os("MLPLANE_REQUIRE_UV").is_none(),
            "MLPLANE_REQUIRE_UV is set but MLPLANE_UV names no uv binary"
        );
        eprintln!("skipping: MLPLANE_UV is not set");
        return;
    }
    let data = tempfile::tempdir().expect("tempdir");
    let mut server = start_with(data.path(), &["--job-slots", "1"]);
    let admin = server.bootstrap.take().expect("token");
    let c = mlplane_systest::client();
    let api = format!("{}/api/v1/workspaces/default", server.url);
    let script = r#"import os, json, urllib.request as u
base = os.environ["MLFLOW_TRACKING_URI"]
tok = os.environ["MLPLANE_TOKEN"]
def call(method, path, body=None):
    req = u.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                    headers={"Authorization": "Bearer " + tok, "content-type": "application/json"})
    try:
        with u.urlopen(req) as r:
            return r.status, json.loads(r.read() or b"null")
    except u.HTTPError as e:
        return e.code, None
status, me = call("GET", "/api/v1/auth/me")
print("ME", status, me["principal"]["kind"], me["principal"]["id"])
print("SAME", tok == os.environ["MLFLOW_TRACKING_TOKEN"])
run = os.environ["MLFLOW_RUN_ID"]
print("LOG", call("POST", "/api/v1/workspaces/default/runs/" + run + "/batch",
                  {"metrics": [{"key": "from_job", "value": 1.5, "step": 0, "timestamp": 1}]})[0])
print("ADMIN", call("GET", "/api/v1/users")[0])
print("TOKEN", tok)
"#;
    let job: serde_json::Value = c
        .post(format!("{api}/jobs"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({
            "command": format!("python -c '{script}'"),
            "environment": {"pip": []},
        }))
        .send()
        .await
        .expect("submit")
        .json()
        .await
        .expect("json");
    let name = job["name"].as_str().expect("name").to_owned();
    let run_id = job["run_id"].as_str().expect("run").to_owned();
    let start = std::time::Instant::now();
    let done = loop {
        let j: serde_json::Value = c
            .get(format!("{api}/jobs/{name}"))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        if matches!(
            j["status"].as_str(),
            Some("Completed" | "Failed" | "Canceled")
        ) {
            break j;
        }
        assert!(start.elapsed() < Duration::from_secs(300), "{j}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let log: serde_json::Value = c
        .get(format!("{api}/runs/{run_id}/logs?offset=0"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("json");
    let log = log["data"].as_str().unwrap_or("").to_owned();
    assert_eq!(done["status"], "Completed", "{done}\n{log}");
    assert!(log.contains(&format!("ME 200 job default/{name}")), "{log}");
    assert!(log.contains("SAME True"), "{log}");
    assert!(log.contains("LOG 204"), "{log}");
    assert!(log.contains("ADMIN 403"), "{log}");
    let run: serde_json::Value = c
        .get(format!("{api}/runs/{run_id}"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("run")
        .json()
        .await
        .expect("json");
    assert!(run.to_string().contains("from_job"), "{run}");
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
}
