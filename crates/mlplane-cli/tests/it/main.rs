//! End-to-end tests of the `mlplane` binary: each test starts `mlplane server --port 0`
//! over a fresh data directory, drives client subcommands as subprocesses and checks their
//! stdout, stderr and exit codes; the server is stopped with SIGTERM and must exit 0.

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mlplane");

/// A running `mlplane server` child; killed on drop if a test fails midway.
struct Server {
    child: Child,
    url: String,
    _data: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let data = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(BIN)
            .args(["server", "--host", "127.0.0.1", "--port", "0", "--data-dir"])
            .arg(data.path())
            .env("MLPLANE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn mlplane server");
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
                panic!("mlplane server did not print its URL within 60 s");
            }
        };
        assert!(url.starts_with("http://127.0.0.1:"), "unexpected URL {url}");
        Server {
            child,
            url,
            _data: data,
        }
    }

    /// Runs a client subcommand against this server.
    fn cli(&self, args: &[&str]) -> Out {
        cli(&["--url", &self.url], args)
    }

    /// Like [`Server::cli`] but the command must succeed; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert_eq!(out.code, 0, "mlplane {args:?} failed: {}", out.stderr);
        out.stdout
    }

    /// Like [`Server::ok`] with `--output json`, parsed.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--output", "json"];
        all.extend_from_slice(args);
        let stdout = self.ok(&all);
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
    }

    /// SIGTERM, then waits up to `within` for the exit status.
    fn stop(mut self, within: Duration) -> Option<ExitStatus> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid} failed");
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn stop_cleanly(self) {
        let status = self.stop(Duration::from_secs(10));
        assert!(
            status.is_some_and(|s| s.success()),
            "server must exit 0 within 10 s of SIGTERM, got {status:?}"
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `mlplane <pre> <args>` with a clean environment for `MLPLANE_*` client settings.
fn cli(pre: &[&str], args: &[&str]) -> Out {
    let out = Command::new(BIN)
        .args(pre)
        .args(args)
        .env_remove("MLPLANE_URL")
        .env_remove("MLPLANE_WORKSPACE")
        .stdin(Stdio::null())
        .output()
        .expect("run mlplane");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Deterministic pseudo-random bytes (xorshift), so big files do not compress to nothing.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

fn find<'a>(items: &'a Value, key: &str) -> Option<&'a Value> {
    items
        .as_array()?
        .iter()
        .find(|kv| kv["key"].as_str() == Some(key))
}

#[test]
fn logged_metrics_params_and_tags_show_up_in_runs_show_json() {
    let s = Server::start();
    let exp_id = s.ok(&["experiments", "create", "cli-e2e", "--tag", "team=ml"]);
    let exp_id = exp_id.trim();
    assert!(!exp_id.is_empty() && exp_id.chars().all(|c| c.is_ascii_digit()));

    let listed = s.json(&["experiments", "list"]);
    assert!(
        listed["items"]
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["name"] == "cli-e2e")),
        "experiment missing from list: {listed}"
    );
    let by_name = s.json(&["experiments", "show", "--name", "cli-e2e"]);
    assert_eq!(by_name["experiment_id"], exp_id);

    let run_id = s.ok(&[
        "runs",
        "create",
        "--experiment-id",
        exp_id,
        "--name",
        "first",
        "--param",
        "batch=32",
    ]);
    let run_id = run_id.trim();
    assert_eq!(run_id.len(), 32, "run id: {run_id}");

    s.ok(&["runs", "log-metric", run_id, "loss", "0.5", "--step", "1"]);
    s.ok(&["runs", "log-metric", run_id, "loss", "0.25", "--step", "2"]);
    s.ok(&["runs", "log-metric", run_id, "bad", "nan"]);
    s.ok(&["runs", "log-metric", run_id, "neg", "-inf"]);
    s.ok(&["runs", "log-param", run_id, "lr", "0.01"]);
    s.ok(&["runs", "set-tag", run_id, "stage", "dev"]);

    let run = s.json(&["runs", "show", run_id]);
    assert_eq!(run["info"]["experiment_id"], exp_id);
    assert_eq!(run["info"]["name"], "first");
    let metrics = &run["data"]["metrics"];
    assert_eq!(
        find(metrics, "loss").map(|m| m["value"].clone()),
        Some(0.25.into())
    );
    assert_eq!(
        find(metrics, "loss").map(|m| m["step"].clone()),
        Some(2.into())
    );
    assert_eq!(
        find(metrics, "bad").map(|m| m["value"].clone()),
        Some("NaN".into())
    );
    assert_eq!(
        find(metrics, "neg").map(|m| m["value"].clone()),
        Some("-Infinity".into())
    );
    let params = &run["data"]["params"];
    assert_eq!(
        find(params, "lr").map(|p| p["value"].clone()),
        Some("0.01".into())
    );
    assert_eq!(
        find(params, "batch").map(|p| p["value"].clone()),
        Some("32".into())
    );
    assert_eq!(
        find(&run["data"]["tags"], "stage").map(|t| t["value"].clone()),
        Some("dev".into())
    );

    let table = s.ok(&["runs", "show", run_id]);
    assert!(
        table.contains("loss") && table.contains("0.25"),
        "table: {table}"
    );

    let history = s.json(&["runs", "metric-history", run_id, "loss", "--all"]);
    let steps: Vec<i64> = history["points"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["step"].as_i64()).collect())
        .unwrap_or_default();
    assert_eq!(steps, vec![1, 2]);
    let sampled = s.json(&[
        "runs",
        "metric-history",
        run_id,
        "loss",
        "--max-points",
        "10",
    ]);
    assert_eq!(sampled["total_points"], 2);

    let listed = s.json(&["runs", "list", "--experiment-id", exp_id]);
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));

    s.ok(&["runs", "log-append", run_id, "epoch 1 done"]);
    let mut piped = Command::new(BIN)
        .args(["--url", &s.url, "runs", "log-append", run_id, "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn log-append");
    piped
        .stdin
        .take()
        .expect("piped stdin")
        .write_all("from stdin: é\n".as_bytes())
        .expect("write stdin");
    assert!(
        piped.wait().is_ok_and(|st| st.success()),
        "log-append - failed"
    );
    s.ok(&["runs", "update", run_id, "--status", "finished"]);
    let logs = s.ok(&["runs", "logs", run_id, "--follow"]);
    assert_eq!(logs, "epoch 1 done\nfrom stdin: é\n");

    s.stop_cleanly();
}

#[test]
fn an_uploaded_directory_tree_downloads_back_byte_identical() {
    let s = Server::start();
    let run_id = s.ok(&["runs", "create"]);
    let run_id = run_id.trim();

    let work = tempfile::tempdir().expect("tempdir");
    let src = work.path().join("model");
    std::fs::create_dir_all(src.join("weights/shards")).expect("mkdir");
    let big = noise(20 << 20, 7);
    std::fs::write(src.join("weights/shards/part-0.bin"), &big).expect("write");
    std::fs::write(src.join("config.json"), br#"{"layers": 4}"#).expect("write");
    std::fs::write(src.join("weights/README"), b"hello\n").expect("write");

    let src_arg = src.to_str().expect("utf-8 temp path");
    let uploaded = s.json(&["artifacts", "upload", run_id, src_arg, "--dest", "model"]);
    assert_eq!(uploaded.as_array().map(Vec::len), Some(3), "{uploaded}");

    let listed = s.json(&["artifacts", "list", run_id, "model"]);
    assert_eq!(listed["dirs"], serde_json::json!(["weights"]));
    assert_eq!(listed["files"][0]["path"], "model/config.json");

    // One file to an explicit path.
    let one = work.path().join("part.bin");
    s.ok(&[
        "artifacts",
        "download",
        run_id,
        "model/weights/shards/part-0.bin",
        "--out",
        one.to_str().expect("utf-8"),
    ]);
    assert!(
        std::fs::read(&one).expect("read") == big,
        "single download differs"
    );

    // The whole directory.
    let back = work.path().join("back");
    s.ok(&[
        "artifacts",
        "download",
        run_id,
        "model",
        "--out",
        back.to_str().expect("utf-8"),
    ]);
    for rel in ["weights/shards/part-0.bin", "config.json", "weights/README"] {
        let want = std::fs::read(src.join(rel)).expect("read source");
        let got = std::fs::read(back.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert!(got == want, "{rel} differs after the round trip");
    }
    let leftovers: Vec<_> = std::fs::read_dir(work.path())
        .expect("read_dir")
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".mlplane-download-")
        })
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");

    s.stop_cleanly();
}

#[test]
fn server_errors_exit_1_and_print_their_code() {
    let s = Server::start();

    let bad = s.cli(&["runs", "show", "not-a-run-id"]);
    assert_eq!(bad.code, 1, "stderr: {}", bad.stderr);
    assert!(
        bad.stderr.starts_with("error: invalid_parameter: "),
        "stderr: {}",
        bad.stderr
    );
    assert!(bad.stdout.is_empty());

    let missing = s.cli(&["runs", "show", &"0".repeat(32)]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("run_not_found"),
        "stderr: {}",
        missing.stderr
    );

    let run_id = s.ok(&["runs", "create"]);
    let run_id = run_id.trim();
    s.ok(&["runs", "log-param", run_id, "lr", "0.1"]);
    s.ok(&["runs", "log-param", run_id, "lr", "0.1"]);
    let conflict = s.cli(&["runs", "log-param", run_id, "lr", "0.2"]);
    assert_eq!(conflict.code, 1, "stderr: {}", conflict.stderr);
    assert!(
        conflict.stderr.contains("error: param_conflict: "),
        "stderr: {}",
        conflict.stderr
    );

    let dup = s.cli(&["experiments", "create", "Default"]);
    assert_eq!(dup.code, 1);
    assert!(
        dup.stderr.contains("experiment_already_exists"),
        "stderr: {}",
        dup.stderr
    );

    s.stop_cleanly();
}

#[test]
fn an_unreachable_server_exits_2_with_a_clear_message() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let out = cli(&["--url", &url], &["experiments", "list"]);
    assert_eq!(out.code, 2, "stderr: {}", out.stderr);
    assert!(
        out.stderr
            .starts_with(&format!("error: cannot reach mlplane at {url}: ")),
        "stderr: {}",
        out.stderr
    );
    assert_eq!(
        out.stderr.lines().count(),
        1,
        "printed once: {}",
        out.stderr
    );
}

#[test]
fn usage_errors_exit_2_before_any_request() {
    // Port 9 (discard) is never asked: these fail in argument parsing.
    let pre = ["--url", "http://127.0.0.1:9"];
    for args in [
        &["runs", "update", "abc"][..],
        &["experiments", "create", "x", "--tag", "novalue"],
        &["runs", "log-metric", "abc", "loss", "fast"],
        &["runs", "list", "--status", "DONE"],
        &["--output", "yaml", "experiments", "list"],
    ] {
        let out = cli(&pre, args);
        assert_eq!(out.code, 2, "mlplane {args:?}: {}", out.stderr);
        assert!(
            !out.stderr.contains("cannot reach"),
            "{args:?} sent a request"
        );
    }
    let bad_url = cli(&["--url", "ftp://x"], &["experiments", "list"]);
    assert_eq!(bad_url.code, 2);
    assert!(
        bad_url.stderr.contains("invalid --url"),
        "{}",
        bad_url.stderr
    );
}

#[test]
fn a_server_that_cannot_bind_its_port_exits_2() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port().to_string();
    let data = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args([
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--data-dir",
        ])
        .arg(data.path())
        .env("MLPLANE_LOG", "warn")
        .output()
        .expect("run server");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("cannot listen on"), "stderr: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout when not listening"
    );
}

#[test]
fn a_bad_database_url_makes_the_server_exit_2() {
    let data = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args(["server", "--port", "0", "--database-url", "mysql://nope"])
        .arg("--data-dir")
        .arg(data.path())
        .env("MLPLANE_LOG", "warn")
        .output()
        .expect("run server");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.lines().any(|l| l.starts_with("error: ")),
        "stderr: {stderr}"
    );
}

#[test]
fn job_create_reports_spec_errors_with_file_line_and_field() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "comand: echo hi\nenvironment: {pip: []}\n").expect("write spec");
    let bad = bad.display().to_string();
    let out = server.cli(&["job", "create", "-f", &bad]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "{bad}:1:1: comand: unknown field 'comand'; did you mean 'command'?"
        )),
        "{}",
        out.stderr
    );
    let out = server.cli(&["job", "create", "-f", "/nonexistent/job.yml"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("/nonexistent/job.yml"),
        "{}",
        out.stderr
    );
}

#[test]
fn job_create_stream_runs_the_job_and_prints_its_output() {
    if std::env::var_os("MLPLANE_UV").is_none() {
        assert!(
            std::env::var_os("MLPLANE_REQUIRE_UV").is_none(),
            "MLPLANE_REQUIRE_UV is set but MLPLANE_UV is not"
        );
        eprintln!("skipping: MLPLANE_UV is not set (make test installs uv)");
        return;
    }
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = dir.path().join("job.yml");
    std::fs::write(
        &spec,
        "type: command\nexperiment_name: cli-jobs\ncommand: echo lr=${{inputs.lr}}\n\
         environment:\n  pip: []\ninputs:\n  lr: 0.05\n",
    )
    .expect("write spec");
    let spec = spec.display().to_string();
    let out = server.cli(&[
        "job",
        "create",
        "-f",
        &spec,
        "--set",
        "inputs.lr=0.5",
        "--stream",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("lr=0.5"), "{}", out.stdout);
    let listed = server.ok(&["job", "list", "--output", "json"]);
    let v: Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(v["items"][0]["status"], "Completed", "{v}");

    let failing = dir.path().join("fail.yml");
    std::fs::write(&failing, "command: exit 3\nenvironment: {pip: []}\n").expect("write spec");
    let out = server.cli(&[
        "job",
        "create",
        "-f",
        &failing.display().to_string(),
        "--stream",
    ]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("exited with code 3"), "{}", out.stderr);
}

#[test]
fn data_create_uploads_next_to_the_spec_and_downloads_back() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let proj = dir.path().join("proj");
    std::fs::create_dir_all(proj.join("csv/sub")).expect("mkdir");
    std::fs::write(proj.join("csv/iris.csv"), "a,b\n1,2\n").expect("write");
    let blob = noise(300_000, 7);
    std::fs::write(proj.join("csv/sub/blob.bin"), &blob).expect("write");
    std::fs::write(dir.path().join("secret.txt"), "secret").expect("write");
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), proj.join("escape"))
        .expect("symlink");
    let spec = proj.join("data.yml");
    std::fs::write(&spec, "name: iris\ntype: uri_folder\npath: csv\n").expect("write spec");
    let spec = spec.display().to_string();
    let v = server.json(&["data", "create", "-f", &spec]);
    assert_eq!(v["pending_upload"], false, "{v}");
    assert_eq!(v["storage_uri"], "mlplane-assets:/default/data/iris/1");

    let out_dir = dir.path().join("down");
    server.ok(&[
        "data",
        "download",
        "iris",
        "--output-dir",
        &out_dir.display().to_string(),
    ]);
    assert_eq!(
        std::fs::read_to_string(out_dir.join("iris.csv")).expect("csv"),
        "a,b\n1,2\n"
    );
    assert_eq!(
        std::fs::read(out_dir.join("sub/blob.bin")).expect("blob"),
        blob
    );

    // A path that leaves the spec's folder (here through a link) creates nothing.
    let bad = proj.join("bad.yml");
    std::fs::write(&bad, "name: leak\ntype: uri_file\npath: escape\n").expect("write spec");
    let out = server.cli(&["data", "create", "-f", &bad.display().to_string()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("outside"), "{}", out.stderr);
    let out = server.cli(&["data", "show", "leak"]);
    assert_eq!(out.code, 1, "nothing was created: {}", out.stdout);
    // `..` is refused by the spec rules, with the file, line and field.
    std::fs::write(&bad, "name: leak\ntype: uri_file\npath: ../secret.txt\n").expect("write spec");
    let out = server.cli(&["data", "create", "-f", &bad.display().to_string()]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("bad.yml:3:7: path"), "{}", out.stderr);
}

#[test]
fn a_job_with_a_local_input_registers_its_output_and_downloads() {
    if std::env::var_os("MLPLANE_UV").is_none() {
        assert!(std::env::var_os("MLPLANE_REQUIRE_UV").is_none());
        eprintln!("skipping: MLPLANE_UV is not set (make test installs uv)");
        return;
    }
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("data")).expect("mkdir");
    std::fs::write(dir.path().join("data/rows.csv"), "x\n1\n2\n3\n").expect("write");
    let spec = dir.path().join("job.yml");
    std::fs::write(
        &spec,
        "command: wc -l < ${{inputs.rows}}/rows.csv > ${{outputs.count}}/n.txt\n\
         environment: {pip: []}\n\
         inputs:\n  rows: {type: uri_folder, path: data}\n\
         outputs:\n  count: {type: uri_folder, name: row-count, version: '7'}\n",
    )
    .expect("write spec");
    let out = server.cli(&[
        "job",
        "create",
        "-f",
        &spec.display().to_string(),
        "--stream",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("registered output 'count' as data row-count:7"),
        "{}",
        out.stdout
    );
    let jobs = server.json(&["job", "list"]);
    let name = jobs["items"][0]["name"].as_str().expect("name").to_string();
    let target = dir.path().join("dl");
    server.ok(&[
        "job",
        "download",
        &name,
        "--output-dir",
        &target.display().to_string(),
    ]);
    assert_eq!(
        std::fs::read_to_string(target.join("named-outputs/count/n.txt")).expect("output"),
        "4\n"
    );
    let log = std::fs::read_to_string(target.join("user_logs/std_log.txt")).expect("log");
    assert!(log.contains("registered output"), "{log}");
    let lineage = server.json(&["data", "show", "row-count", "-v", "7"]);
    assert_eq!(lineage["source_job"], name.as_str());
}

#[test]
fn job_environments_come_from_a_requirements_or_conda_file_next_to_the_spec() {
    if std::env::var_os("MLPLANE_UV").is_none() {
        assert!(std::env::var_os("MLPLANE_REQUIRE_UV").is_none());
        eprintln!("skipping: MLPLANE_UV is not set (make test installs uv)");
        return;
    }
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let proj = dir.path().join("proj");
    std::fs::create_dir_all(proj.join("env")).expect("mkdir");
    std::fs::write(proj.join("env/requirements.txt"), "# tiny\nsix==1.16.0\n").expect("write");
    std::fs::write(
        proj.join("conda.yml"),
        "name: x\ndependencies:\n  - pip\n  - pip:\n    - six==1.17.0\n",
    )
    .expect("write");
    let cmd = "command: python -c \"import six; print('six', six.__version__)\"\n";
    let req = proj.join("req.yml");
    std::fs::write(
        &req,
        format!("{cmd}environment:\n  pip_requirements: env/requirements.txt\n"),
    )
    .expect("write");
    let out = server.cli(&[
        "job",
        "create",
        "-f",
        &req.display().to_string(),
        "--stream",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("six 1.16.0"), "{}", out.stdout);
    let conda = proj.join("conda-job.yml");
    std::fs::write(
        &conda,
        format!("{cmd}environment:\n  conda_file: conda.yml\n"),
    )
    .expect("write");
    let out = server.cli(&[
        "job",
        "create",
        "-f",
        &conda.display().to_string(),
        "--stream",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("six 1.17.0"), "{}", out.stdout);

    // A registered environment from a conda file with a conda-only package: exit 1 naming
    // the conda file's line; a file leading outside the spec's folder is refused.
    std::fs::write(proj.join("bad.yml"), "dependencies:\n  - numpy=1.26\n").expect("write");
    let env = proj.join("env.yml");
    std::fs::write(&env, "name: e\nconda_file: bad.yml\n").expect("write");
    let out = server.cli(&["environment", "create", "-f", &env.display().to_string()]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("bad.yml:2:") && out.stderr.contains("numpy"),
        "{}",
        out.stderr
    );
    std::fs::write(dir.path().join("outside.txt"), "six\n").expect("write");
    std::os::unix::fs::symlink(dir.path().join("outside.txt"), proj.join("link.txt"))
        .expect("symlink");
    std::fs::write(&env, "name: e\npip_requirements: link.txt\n").expect("write");
    let out = server.cli(&["environment", "create", "-f", &env.display().to_string()]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("outside"), "{}", out.stderr);
    std::fs::write(&env, "name: e\npip_requirements: env/requirements.txt\n").expect("write");
    let v: Value = serde_json::from_str(&server.ok(&[
        "environment",
        "create",
        "-f",
        &env.display().to_string(),
        "--output",
        "json",
    ]))
    .expect("json");
    assert_eq!(
        v["spec"]["deps"]["inline"]["pip"],
        serde_json::json!(["six==1.16.0"])
    );
}
