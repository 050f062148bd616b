//! Jobs end to end through the real binary: a command job submitted over the REST API is
//! claimed by the server's built-in executor, runs as a process in a uv-built environment,
//! streams its output into the run's log and completes; a long job is cancelled; the
//! sklearn example reads its data asset and registers its model output with lineage.
//!
//! Needs uv (`MLPLANE_UV`, installed by `make test`); without it the test prints a notice
//! and returns, unless `MLPLANE_REQUIRE_UV` is set.

use mlplane_systest::{Server, cli, client, get_json, post_json, uv_available};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn wait_for(c: &reqwest::Client, url: &str, done: &[&str]) -> Value {
    let start = Instant::now();
    loop {
        let job = get_json(c, url).await;
        let status = job["status"].as_str().unwrap_or("").to_string();
        if done.contains(&status.as_str()) {
            return job;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "job still {status} after 300 s: {job}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn log_of(c: &reqwest::Client, api: &str, run_id: &str) -> String {
    let v = get_json(c, &format!("{api}/runs/{run_id}/logs?offset=0")).await;
    v["data"].as_str().unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submitted_job_runs_logs_and_completes_and_a_long_one_cancels() {
    if !uv_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--job-slots", "2"]);
    let api = server.api();
    let c = client();

    let job = post_json(
        &c,
        &format!("{api}/jobs"),
        &json!({
            "command": "echo hello ${{inputs.who}} && python -c 'import os, sys; print(\"run\", os.environ[\"MLFLOW_RUN_ID\"], sys.prefix)'",
            "environment": {"pip": []},
            "inputs": {"who": "from a job; not a shell command"},
            "experiment_name": "systest-jobs",
        }),
    )
    .await;
    let name = job["name"].as_str().expect("job name").to_string();
    let run_id = job["run_id"].as_str().expect("run id").to_string();
    assert_eq!(job["status"], "Queued", "{job}");
    let done = wait_for(
        &c,
        &format!("{api}/jobs/{name}"),
        &["Completed", "Failed", "Canceled"],
    )
    .await;
    let log = log_of(&c, &api, &run_id).await;
    assert_eq!(done["status"], "Completed", "{done}\nlog:\n{log}");
    assert!(
        log.contains("hello from a job; not a shell command"),
        "{log}"
    );
    assert!(log.contains(&format!("run {run_id}")), "{log}");
    let run = get_json(&c, &format!("{api}/runs/{run_id}")).await;
    assert_eq!(run["info"]["status"], "FINISHED", "{run}");

    let long = post_json(
        &c,
        &format!("{api}/jobs"),
        &json!({"command": "echo started; sleep 120", "environment": {"pip": []}}),
    )
    .await;
    let long_name = long["name"].as_str().expect("job name").to_string();
    let url = format!("{api}/jobs/{long_name}");
    wait_for(&c, &url, &["Running"]).await;
    let resp = c
        .post(format!("{url}/cancel"))
        .send()
        .await
        .expect("cancel sent");
    assert!(resp.status().is_success(), "{}", resp.status());
    let ended = wait_for(&c, &url, &["Canceled", "Failed", "Completed"]).await;
    assert_eq!(ended["status"], "Canceled", "{ended}");
    drop(server);
}

fn example(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
        .join("job.yml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_examples_run_and_mlflow_logs_land_on_the_jobs_run() {
    if !uv_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--job-slots", "2"]);
    let api = server.api();
    let c = client();

    // The data asset goes in through the CLI, which uploads the committed CSV.
    let data_spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/sklearn-iris/data.yml");
    let out = std::process::Command::new(mlplane_systest::binary())
        .args(["--url", &server.url, "-o", "json", "data", "create", "-f"])
        .arg(&data_spec)
        .output()
        .expect("run mlplane data create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data: Value = serde_json::from_slice(&out.stdout).expect("data create prints JSON");
    assert_eq!(data["pending_upload"], false, "{data}");
    let files = get_json(&c, &format!("{api}/data/iris-csv/versions/1/files")).await;
    assert_eq!(files["items"][0]["path"], "iris.csv", "{files}");

    // The job goes in through the CLI too: it packs `code: ./src` into a snapshot first.
    let job_spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/sklearn-iris/job.yml");
    let out = std::process::Command::new(mlplane_systest::binary())
        .args(["--url", &server.url, "-o", "json", "job", "create", "-f"])
        .arg(&job_spec)
        .output()
        .expect("run mlplane job create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let job: Value = serde_json::from_slice(&out.stdout).expect("job create prints JSON");
    let name = job["name"]
        .as_str()
        .unwrap_or_else(|| panic!("{job}"))
        .to_string();
    let run_id = job["run_id"].as_str().expect("run id").to_string();
    let failing = post_json(
        &c,
        &format!("{api}/jobs"),
        &json!({"yaml": example("failing-job")}),
    )
    .await;
    let failing_name = failing["name"]
        .as_str()
        .unwrap_or_else(|| panic!("{failing}"))
        .to_string();

    let done = wait_for(
        &c,
        &format!("{api}/jobs/{name}"),
        &["Completed", "Failed", "Canceled"],
    )
    .await;
    let log = log_of(&c, &api, &run_id).await;
    assert_eq!(done["status"], "Completed", "{done}\nlog:\n{log}");
    assert!(log.contains("rows 150 accuracy 0.9"), "{log}");
    // The command ran train.py from the job's code snapshot.
    let run = get_json(&c, &format!("{api}/runs/{run_id}")).await;
    let has_tag = |key: &str| {
        run["data"]["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| t["key"] == key)
    };
    assert!(has_tag("mlplane.code.snapshot"), "{run}");
    let exit_code = run["data"]["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["key"] == "mlplane.job.exit_code")
        .map(|t| t["value"].clone());
    assert_eq!(exit_code, Some(json!("0")), "{run}");
    assert!(
        log.contains("registered output 'model' as model iris-classifier:1"),
        "{log}"
    );
    let model = get_json(&c, &format!("{api}/models/iris-classifier/versions/latest")).await;
    assert_eq!(model["version"], "1", "{model}");
    assert_eq!(model["source_job"], name.as_str(), "{model}");
    assert_eq!(model["pending_upload"], false, "{model}");
    let files = get_json(
        &c,
        &format!("{api}/models/iris-classifier/versions/1/files"),
    )
    .await;
    let paths: Vec<&str> = files["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert!(paths.contains(&"MLmodel"), "{files}");
    assert!(paths.contains(&"model.pkl"), "{files}");
    let lineage = get_json(
        &c,
        &format!("{api}/models/iris-classifier/versions/1/lineage"),
    )
    .await;
    assert_eq!(lineage["producer"], name.as_str(), "{lineage}");
    let lineage = get_json(&c, &format!("{api}/data/iris-csv/versions/1/lineage")).await;
    assert_eq!(lineage["consumers"], json!([name]), "{lineage}");
    let run = get_json(&c, &format!("{api}/runs/{run_id}")).await;
    let metric = run["data"]["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["key"] == "accuracy")
        .unwrap_or_else(|| panic!("no accuracy metric on the job's run: {run}"));
    assert!(metric["value"].as_f64().unwrap_or(0.0) > 0.9, "{run}");
    let params: Vec<(String, String)> = run["data"]["params"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["key"].as_str().unwrap_or("").to_string(),
                p["value"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(
        params.contains(&("max_iter".into(), "200".into())),
        "{params:?}"
    );
    assert!(params.contains(&("C".into(), "0.5".into())), "{params:?}");

    let failed = wait_for(
        &c,
        &format!("{api}/jobs/{failing_name}"),
        &["Completed", "Failed", "Canceled"],
    )
    .await;
    assert_eq!(failed["status"], "Failed", "{failed}");
    assert!(
        failed["status_message"]
            .as_str()
            .unwrap_or("")
            .contains("exited with code 3"),
        "{failed}"
    );
    let run_id = failed["run_id"].as_str().expect("run id");
    let run = get_json(&c, &format!("{api}/runs/{run_id}")).await;
    assert!(
        run["data"]["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| t["key"] == "mlplane.job.exit_code" && t["value"] == "3"),
        "{run}"
    );
    drop(server);
}

/// With the fallback poll at 60 s, only the server's wake-ups can start a job or deliver a
/// cancel quickly: a submitted job starts (the command writes its own start time) well
/// before the poll, and a cancel ends a running job well before it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_and_cancel_wake_the_executor_without_waiting_for_the_poll() {
    if !uv_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--job-slots", "1", "--job-poll-ms", "60000"]);
    let api = server.api();
    let c = client();
    let marker = dir.path().join("started");
    std::fs::create_dir_all(&marker).expect("marker dir");
    let mut starts = Vec::new();
    for i in 0..4 {
        let sent = std::time::SystemTime::now();
        let job = post_json(
            &c,
            &format!("{api}/jobs"),
            &json!({
                "command": format!("date +%s%N > {}", marker.join(i.to_string()).display()),
                "environment": {"pip": []},
            }),
        )
        .await;
        let url = format!("{api}/jobs/{}", job["name"].as_str().expect("name"));
        // The first job builds the environment; later ones reuse it.
        let done = wait_for(&c, &url, &["Completed", "Failed", "Canceled"]).await;
        assert_eq!(done["status"], "Completed", "{done}");
        if i == 0 {
            continue;
        }
        let ns: u128 = std::fs::read_to_string(marker.join(i.to_string()))
            .expect("the job wrote its start time")
            .trim()
            .parse()
            .expect("nanoseconds");
        let sent_ns = sent
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        starts.push(Duration::from_nanos((ns.saturating_sub(sent_ns)) as u64));
    }
    for s in &starts {
        assert!(
            *s < Duration::from_secs(10),
            "a job started {s:?} after its submit; the 60 s poll, not a wake-up, started it"
        );
    }

    let long = post_json(
        &c,
        &format!("{api}/jobs"),
        &json!({"command": "sleep 120", "environment": {"pip": []}}),
    )
    .await;
    let url = format!("{api}/jobs/{}", long["name"].as_str().expect("name"));
    wait_for(&c, &url, &["Running"]).await;
    let asked = Instant::now();
    let resp = c
        .post(format!("{url}/cancel"))
        .send()
        .await
        .expect("cancel");
    assert!(resp.status().is_success(), "{}", resp.status());
    let ended = wait_for(&c, &url, &["Canceled", "Failed", "Completed"]).await;
    assert_eq!(ended["status"], "Canceled", "{ended}");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "cancel took {:?}; the 60 s poll, not a wake-up, delivered it",
        asked.elapsed()
    );
    drop(server);
}

/// A job that ends its own run (as the mlflow client does at exit) and prints afterwards.
const ENDS_ITS_RUN_EARLY: &str = r#"import json, os, time, urllib.request
body = json.dumps({"run_id": os.environ["MLFLOW_RUN_ID"], "status": "FINISHED"}).encode()
req = urllib.request.Request(os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/runs/update", data=body, headers={"Content-Type": "application/json"})
token = os.environ.get("MLFLOW_TRACKING_TOKEN")
if token:
    req.add_header("Authorization", "Bearer " + token)
print("UPDATED", urllib.request.urlopen(req).status, flush=True)
time.sleep(1.5)
print("PRINTED AFTER THE RUN ENDED", flush=True)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_create_stream_prints_what_a_job_prints_after_its_run_ended() {
    if !uv_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--job-slots", "1"]);
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join("src")).expect("dirs");
    std::fs::write(project.join("src/job.py"), ENDS_ITS_RUN_EARLY).expect("script");
    let spec = project.join("job.yml");
    std::fs::write(
        &spec,
        "command: python job.py\ncode: src\nenvironment:\n  pip: []\n",
    )
    .expect("spec");
    let spec = spec.to_str().expect("utf-8 path");
    let (code, out, err) = cli(&server.url, &["job", "create", "-f", spec, "--stream"], &[]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("UPDATED 200"), "{out}\n{err}");
    assert!(
        out.contains("PRINTED AFTER THE RUN ENDED"),
        "the stream stopped when the run ended:\n{out}\n{err}"
    );
    // Printed once: the second stream resumes where the first stopped.
    assert_eq!(out.matches("UPDATED 200").count(), 1, "{out}");
    drop(server);
}
