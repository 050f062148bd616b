//! Secrets end to end through the real binary: a planted secret set with the CLI reaches a
//! job's process environment (the job proves it by printing the value's sha256) and nothing
//! else: not the server's log, the job log, the database files, the artifact and job folders
//! or any API response. Rotating the master key offline keeps jobs working under the new key.
//!
//! Needs uv for the jobs' environment (`MLPLANE_UV`), like `jobs.rs`.

use mlplane_systest::{Server, binary, cli, client, get_json, post_json, uv_available, wait_job};
use serde_json::{Value, json};
use sha2::Digest;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Every file under `root` whose bytes contain `needle`.
fn files_containing(root: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(p);
            } else if meta.is_file()
                && let Ok(bytes) = std::fs::read(&p)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                hits.push(p.display().to_string());
            }
        }
    }
    hits
}

/// GET or send, recording the whole answer (status line, headers, body) as text.
struct Recorder {
    c: reqwest::Client,
    seen: Vec<String>,
}

impl Recorder {
    async fn send(&mut self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let headers = format!("{:?}", resp.headers());
        let body = resp.text().await.expect("body read");
        self.seen.push(format!("{status} {headers} {body}"));
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }
    async fn get(&mut self, url: &str) -> Value {
        let r = self.c.get(url);
        self.send(r).await.1
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_secret_reaches_only_the_jobs_environment() {
    if !uv_available() {
        return;
    }
    let data = tempfile::tempdir().expect("tempdir");
    let side = tempfile::tempdir().expect("tempdir");
    let secret = format!("pl4nted-{}", hex::encode(rand::random::<[u8; 16]>()));
    let sha = hex::encode(sha2::Sha256::digest(secret.as_bytes()));
    let log_path = side.path().join("server.log");
    let log_file = std::fs::File::create(&log_path).expect("log file");
    let server = Server::start_logged(
        data.path(),
        &["--job-slots", "1"],
        &[("MLPLANE_LOG", "debug".into())],
        Stdio::from(log_file),
    );
    let url = server.url.clone();
    let api = server.api();
    let mut rec = Recorder {
        c: client(),
        seen: Vec::new(),
    };

    // Set through the CLI from a file and from an env var; the value is never an argument.
    let value_file = side.path().join("pw.txt");
    std::fs::write(&value_file, format!("{secret}\n")).expect("value file");
    let (code, out, err) = cli(
        &url,
        &[
            "secret",
            "set",
            "db_password",
            "--value-file",
            value_file.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out2, err) = cli(
        &url,
        &["secret", "set", "copy_of_it", "--from-env", "PLANTED"],
        &[("PLANTED", &secret)],
    );
    assert_eq!(code, 0, "{out2}{err}");
    let (code, list, err) = cli(&url, &["secret", "list", "-o", "json"], &[]);
    assert_eq!(code, 0, "{err}");
    for text in [&out, &out2, &list] {
        assert!(!text.contains(&secret), "CLI printed the value: {text}");
    }
    let listed: Value = serde_json::from_str(&list).expect("json list");
    let names: Vec<&str> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["copy_of_it", "db_password"]);
    let one = rec.get(&format!("{api}/secrets/db_password")).await;
    assert_eq!(one["name"], "db_password");
    assert!(one.get("value").is_none(), "{one}");
    // The value must not be an argv string: `--value` does not exist.
    let (code, _, _) = cli(&url, &["secret", "set", "x", "--value", &secret], &[]);
    assert_eq!(code, 2);

    // A job that prints it (and its hash), one that fails mentioning it.
    let env = json!({"DB_PASSWORD": "${{secrets.db_password}}", "PLAIN": "visible"});
    let ok_job = |cmd: &str| {
        json!({
            "command": cmd,
            "environment": {"pip": []},
            "environment_variables": env,
            "experiment_name": "secrets",
        })
    };
    let printing = ok_job(
        "echo \"value=$DB_PASSWORD plain=$PLAIN\"; printf %s \"$DB_PASSWORD\" | sha256sum | sed 's/^/sha=/'",
    );
    let failing = ok_job("echo \"error: cannot log in with '$DB_PASSWORD'\" >&2; exit 3");
    let mut runs = Vec::new();
    for (spec, want) in [(&printing, "Completed"), (&failing, "Failed")] {
        let r = rec.c.post(format!("{api}/jobs")).json(spec);
        let (status, job) = rec.send(r).await;
        assert_eq!(status, 201, "{job}");
        let name = job["name"].as_str().expect("name").to_string();
        let done = wait_job(&rec.c, &format!("{api}/jobs/{name}"), None).await;
        rec.seen.push(done.to_string());
        let run_id = job["run_id"].as_str().expect("run").to_string();
        let log = rec.get(&format!("{api}/runs/{run_id}/logs?offset=0")).await;
        let text = log["data"].as_str().unwrap_or("").to_string();
        assert_eq!(done["status"], want, "{done}\n{text}");
        assert!(text.contains("***"), "the value was not masked: {text}");
        if want == "Completed" {
            assert!(
                text.contains(&format!("sha={sha}")),
                "the job saw another value: {text}"
            );
            assert!(text.contains("value=*** plain=visible"), "{text}");
        } else {
            assert!(text.contains("cannot log in with '***'"), "{text}");
        }
        runs.push((name, run_id));
    }

    // A reference to a missing secret is refused at submission, naming the variable.
    let before = rec.get(&format!("{api}/jobs")).await;
    let bad = json!({
        "command": "true", "environment": {"pip": []},
        "environment_variables": {"TOKEN": "${{secrets.nope}}"},
    });
    let r = rec.c.post(format!("{api}/jobs")).json(&bad);
    let (status, body) = rec.send(r).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "invalid_spec");
    assert!(
        body.to_string().contains("environment_variables.TOKEN"),
        "{body}"
    );
    let after = rec.get(&format!("{api}/jobs")).await;
    assert_eq!(before["items"], after["items"], "a refused job was stored");

    // Every other view a client could read.
    for (name, run_id) in &runs {
        rec.get(&format!("{api}/jobs/{name}")).await;
        rec.get(&format!("{api}/runs/{run_id}")).await;
        rec.get(&format!("{api}/runs/{run_id}/artifact-list")).await;
        rec.get(&format!("{url}/api/2.0/mlflow/runs/get?run_id={run_id}"))
            .await;
    }
    rec.get(&format!("{api}/secrets")).await;
    rec.get(&format!("{api}/jobs")).await;
    rec.get(&format!("{url}/api/v1/audit?max_results=1000"))
        .await;
    let r = rec
        .c
        .post(format!("{url}/api/2.0/mlflow/runs/search"))
        .json(&json!({"experiment_ids": ["1"], "max_results": 100}));
    rec.send(r).await;
    let audit = rec
        .get(&format!("{url}/api/v1/audit?since=1h&workspace=default"))
        .await;
    assert!(
        audit["items"]
            .as_array()
            .is_some_and(|a| a.iter().any(|r| r["target"]
                == "/api/v1/workspaces/default/secrets/db_password"
                && r["method"] == "PUT")),
        "the secret's PUT is not in the audit log: {audit}"
    );
    for seen in &rec.seen {
        assert!(
            !seen.contains(&secret),
            "an API answer holds the value: {seen}"
        );
    }

    // Stop the server (checkpointing SQLite), then grep everything it wrote.
    assert!(server.terminate(Duration::from_secs(30)), "clean shutdown");
    let log = std::fs::read_to_string(&log_path).expect("server log");
    assert!(log.len() > 100, "the server logged almost nothing: {log}");
    assert!(!log.contains(&secret), "the server log holds the value");
    assert_eq!(
        files_containing(data.path(), secret.as_bytes()),
        Vec::<String>::new()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.path().join("secrets.key"))
            .expect("generated key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Rotate offline to a new key; the server started with it still runs the job right.
    let new_key = side.path().join("new.key");
    std::fs::write(&new_key, "UV8cMtnuqQ7VRcFV6bHwFI2qFuAnZ1rpyD5/rbSUSKM=\n").expect("key");
    let out = Command::new(binary())
        .args(["server", "--data-dir"])
        .arg(data.path())
        .args(["rotate-secrets-key", "--old-key-file"])
        .arg(data.path().join("secrets.key"))
        .arg("--new-key-file")
        .arg(&new_key)
        .output()
        .expect("rotate");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("rotated 2 secret(s)"), "{said}");
    let server = Server::start(
        data.path(),
        &[
            "--job-slots",
            "1",
            "--secrets-key-file",
            new_key.to_str().unwrap(),
        ],
    );
    let api = server.api();
    let c = client();
    let job = post_json(&c, &format!("{api}/jobs"), &printing).await;
    let name = job["name"].as_str().expect("name").to_string();
    let done = wait_job(&c, &format!("{api}/jobs/{name}"), None).await;
    let log = get_json(
        &c,
        &format!(
            "{api}/runs/{}/logs?offset=0",
            job["run_id"].as_str().unwrap()
        ),
    )
    .await;
    let text = log["data"].as_str().unwrap_or("").to_string();
    assert_eq!(done["status"], "Completed", "{done}\n{text}");
    assert!(text.contains(&format!("sha={sha}")), "{text}");
    drop(server);
    // Under the old key a server cannot open them: its job fails without the value.
    let server = Server::start(data.path(), &["--job-slots", "1"]);
    let api = server.api();
    let job = post_json(&c, &format!("{api}/jobs"), &printing).await;
    let name = job["name"].as_str().expect("name").to_string();
    let done = wait_job(&c, &format!("{api}/jobs/{name}"), None).await;
    assert_eq!(done["status"], "Failed", "{done}");
    assert!(done.to_string().contains("encrypted under key"), "{done}");
}
