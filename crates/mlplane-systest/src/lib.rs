//! Harness for system tests: starts the real `mlplane` binary as a child process on a free
//! port over a data directory, and talks to it over HTTP like any client.
//!
//! The binary is found next to the test executable (`target/<profile>/mlplane`), which
//! `cargo test --workspace` builds before running tests, or at `$MLPLANE_BIN`.
//!
//! Invariants:
//! - a [`Server`] kills its child on drop, so a failing test leaves no process behind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An HTTP client for tests (installs the TLS crypto provider reqwest expects).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("invariant: a default reqwest client builds")
}

/// GETs `url` and parses the answer as JSON; panics (failing the test) on any error.
pub async fn get_json(c: &reqwest::Client, url: &str) -> serde_json::Value {
    let resp = c.get(url).send().await.expect("GET sent");
    resp.json().await.expect("GET answered JSON")
}

/// POSTs `body` as JSON to `url` and parses the answer as JSON; panics on any error.
pub async fn post_json(
    c: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
) -> serde_json::Value {
    let resp = c.post(url).json(body).send().await.expect("POST sent");
    resp.json().await.expect("POST answered JSON")
}

/// Runs the `mlplane` CLI with `args` against `url` (as `MLPLANE_URL`), stdin closed and
/// no ambient `MLPLANE_TOKEN` or `XDG_CONFIG_HOME`, plus `env`; returns (exit code,
/// stdout, stderr). Pass `("HOME", …)` in `env` to isolate stored credentials.
pub fn cli(url: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(binary())
        .args(args)
        .env("MLPLANE_URL", url)
        .env_remove("MLPLANE_TOKEN")
        .env_remove("XDG_CONFIG_HOME")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("the mlplane CLI runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn with_token(r: reqwest::RequestBuilder, token: Option<&str>) -> reqwest::RequestBuilder {
    match token {
        Some(t) => r.bearer_auth(t),
        None => r,
    }
}

/// Submits the job `spec` to the workspace API `api` (`…/api/v1/workspaces/<ws>`), as
/// `token` if given; panics unless the server accepted it. Returns the job.
pub async fn submit_job(
    c: &reqwest::Client,
    api: &str,
    token: Option<&str>,
    spec: &serde_json::Value,
) -> serde_json::Value {
    let resp = with_token(c.post(format!("{api}/jobs")), token)
        .json(spec)
        .send()
        .await
        .expect("submit sent");
    let status = resp.status();
    let job: serde_json::Value = resp.json().await.expect("submit answered JSON");
    assert!(status.is_success(), "submit: {status} {job}");
    job
}

/// Polls the job at `url` until it is Completed, Failed or Canceled (at most 300 s).
pub async fn wait_job(c: &reqwest::Client, url: &str, token: Option<&str>) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let job: serde_json::Value = with_token(c.get(url), token)
            .send()
            .await
            .expect("job sent")
            .json()
            .await
            .expect("job answered JSON");
        if matches!(
            job["status"].as_str(),
            Some("Completed" | "Failed" | "Canceled")
        ) {
            return job;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "job not done: {job}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The whole log of run `run_id` (a job's output) under the workspace API `api`.
pub async fn run_log(c: &reqwest::Client, api: &str, run_id: &str, token: Option<&str>) -> String {
    let log: serde_json::Value =
        with_token(c.get(format!("{api}/runs/{run_id}/logs?offset=0")), token)
            .send()
            .await
            .expect("log sent")
            .json()
            .await
            .expect("log answered JSON");
    log["data"].as_str().unwrap_or("").to_owned()
}

/// Path of the `mlplane` binary under test.
pub fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("MLPLANE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("invariant: tests know their own path");
    // target/<profile>/deps/<test> -> target/<profile>/mlplane
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("invariant: test lives in target/<profile>/deps");
    profile_dir.join("mlplane")
}

/// A running server process.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Server {
    /// Starts `mlplane server --port 0 --data-dir <dir>` with extra args and waits until it
    /// prints its URL.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        Self::start_with_env(data_dir, extra, &[])
    }

    /// Like [`Server::start`] with extra environment variables for the child.
    pub fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, String)]) -> Server {
        Self::start_logged(data_dir, extra, env, Stdio::inherit())
    }

    /// Like [`Server::start_with_env`], with the server's stderr (its log) sent to `stderr`.
    pub fn start_logged(
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, String)],
        stderr: Stdio,
    ) -> Server {
        let bin = binary();
        assert!(
            bin.exists(),
            "mlplane binary not found at {} (build it or set MLPLANE_BIN)",
            bin.display()
        );
        let mut child = Command::new(&bin)
            .args(["server", "--host", "127.0.0.1", "--port", "0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .env("MLPLANE_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .spawn()
            .expect("spawn mlplane");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("mlplane listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(u) => u,
            Err(_) => {
                let _ = child.kill();
                panic!("mlplane did not report its URL within 60 s");
            }
        };
        Server { child, url }
    }

    /// `kill -9`: no chance to flush or clean up.
    pub fn kill_hard(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for exit; returns the exit status success.
    pub fn terminate(mut self, within: Duration) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn api(&self) -> String {
        format!("{}/api/v1/workspaces/default", self.url)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running s3s-fs S3-protocol server over a temp dir, with bucket `mlplane`.
pub struct S3Server {
    child: Child,
    pub endpoint: String,
    pub dir: tempfile::TempDir,
}

impl S3Server {
    pub const ACCESS_KEY: &'static str = "AKIATEST";
    pub const SECRET_KEY: &'static str = "SECRETTEST";

    /// Starts s3s-fs from `$MLPLANE_S3S_FS_BIN` or `<repo>/.cache/tools/bin/s3s-fs`; `None`
    /// when it is not installed (and `MLPLANE_REQUIRE_S3` is not set, else panics).
    pub fn start() -> Option<S3Server> {
        let bin = std::env::var("MLPLANE_S3S_FS_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/tools/bin/s3s-fs")
            });
        if !bin.exists() {
            assert!(
                std::env::var("MLPLANE_REQUIRE_S3").as_deref() != Ok("1"),
                "s3s-fs not found at {} but MLPLANE_REQUIRE_S3=1",
                bin.display()
            );
            eprintln!("skipping: s3s-fs not installed (bash scripts/s3-server.sh install)");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("mlplane")).expect("bucket dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--access-key",
                Self::ACCESS_KEY,
                "--secret-key",
                Self::SECRET_KEY,
            ])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn s3s-fs");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            dir,
        })
    }

    /// Environment that points mlplane at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("MLPLANE_S3_ENDPOINT", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", Self::ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", Self::SECRET_KEY.to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether job tests that build Python environments can run: `MLPLANE_UV` names uv
/// (`make test` installs it). Panics when `MLPLANE_REQUIRE_UV` is set without it, so CI
/// cannot skip them silently.
pub fn uv_available() -> bool {
    let found = std::env::var_os("MLPLANE_UV").is_some();
    if !found && std::env::var_os("MLPLANE_REQUIRE_UV").is_some() {
        panic!("MLPLANE_REQUIRE_UV is set but MLPLANE_UV names no uv binary");
    }
    if !found {
        eprintln!("skipping: MLPLANE_UV is not set (make test installs uv)");
    }
    found
}
