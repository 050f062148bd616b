//! Restarting the server under jobs, through the real binary: after a `kill -9`, a job that
//! was running is marked `Failed` and its orphaned process group is killed (the message
//! says so), jobs that were queued run; environment builds that fail because the package
//! index cannot be reached are retried a bounded number of times, a non-zero exit never.
//!
//! Needs uv (`MLPLANE_UV`); without it the test prints a notice and returns, unless
//! `MLPLANE_REQUIRE_UV` is set.

use mlplane_systest::{Server, client, get_json, post_json, uv_available};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

async fn wait_for(c: &reqwest::Client, url: &str, done: &[&str]) -> Value {
    let start = Instant::now();
    loop {
        let job = get_json(c, url).await;
        if done.contains(&job["status"].as_str().unwrap_or("")) {
            return job;
        }
        assert!(start.elapsed() < Duration::from_secs(300), "{job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn submit(c: &reqwest::Client, api: &str, body: Value) -> String {
    let job = post_json(c, &format!("{api}/jobs"), &body).await;
    format!("{api}/jobs/{}", job["name"].as_str().expect("job name"))
}

fn alive(pid: u32) -> bool {
    // A zombie has been killed already; only a live process counts.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

fn read_pid(p: &Path) -> Option<u32> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_crash_running_jobs_fail_with_their_orphans_killed_and_queued_jobs_run() {
    if !uv_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let child_pid = dir.path().join("child.pid");
    let server = Server::start(&data, &["--job-slots", "1"]);
    let api = server.api();
    let c = client();
    // The shell starts a child in its group and waits: both outlive a killed server.
    let long = submit(
        &c,
        &api,
        json!({"command": format!("sleep 120 & echo $! > {}; wait", child_pid.display()),
               "environment": {"pip": []}}),
    )
    .await;
    let queued: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..2 {
            v.push(
                submit(
                    &c,
                    &api,
                    json!({"command": "true", "environment": {"pip": []}}),
                )
                .await,
            );
        }
        v
    };
    wait_for(&c, &long, &["Running"]).await;
    let start = Instant::now();
    let pid = loop {
        if let Some(p) = read_pid(&child_pid) {
            break p;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no child pid");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for q in &queued {
        assert_eq!(get_json(&c, q).await["status"], "Queued");
    }
    server.kill_hard();
    assert!(alive(pid), "the job's child outlives a killed server");

    let server = Server::start(&data, &["--job-slots", "1"]);
    let api2 = server.api();
    let long = long.replace(&api, &api2);
    let failed = wait_for(&c, &long, &["Failed", "Completed", "Canceled"]).await;
    assert_eq!(failed["status"], "Failed", "{failed}");
    let msg = failed["status_message"].as_str().unwrap_or("");
    assert!(
        msg.contains("the server stopped while the job was Running")
            && msg.contains("was still running and was killed"),
        "{failed}"
    );
    let start = Instant::now();
    while alive(pid) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the orphaned child {pid} is still alive"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for q in &queued {
        let done = wait_for(
            &c,
            &q.replace(&api, &api2),
            &["Failed", "Completed", "Canceled"],
        )
        .await;
        assert_eq!(
            done["status"], "Completed",
            "queued jobs run after a restart: {done}"
        );
    }
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_package_index_is_retried_a_bounded_number_of_times_an_exit_code_never() {
    if !uv_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // Nothing listens on port 9 of loopback: every fetch is refused.
    let server = Server::start_with_env(
        dir.path(),
        &["--job-slots", "1"],
        &[
            ("UV_INDEX_URL", "http://127.0.0.1:9/simple".to_string()),
            ("UV_HTTP_RETRIES", "0".to_string()),
        ],
    );
    let api = server.api();
    let c = client();
    let url = submit(
        &c,
        &api,
        json!({"command": "true", "environment": {"pip": ["six==1.17.0"]}}),
    )
    .await;
    let done = wait_for(&c, &url, &["Failed", "Completed", "Canceled"]).await;
    assert_eq!(done["status"], "Failed", "{done}");
    let msg = done["status_message"].as_str().unwrap_or("");
    assert!(msg.contains("(attempt 3 of 3)"), "{done}");
    let run_id = done["run_id"].as_str().expect("run id");
    let log = get_json(&c, &format!("{api}/runs/{run_id}/logs?offset=0")).await;
    let log = log["data"].as_str().unwrap_or("");
    assert!(
        log.contains("attempt 1 failed") && log.contains("attempt 2 failed"),
        "{log}"
    );

    let url = submit(
        &c,
        &api,
        json!({"command": "exit 3", "environment": {"pip": []}}),
    )
    .await;
    let done = wait_for(&c, &url, &["Failed", "Completed", "Canceled"]).await;
    assert_eq!(done["status_message"], "exited with code 3", "{done}");
    let run_id = done["run_id"].as_str().expect("run id");
    let log = get_json(&c, &format!("{api}/runs/{run_id}/logs?offset=0")).await;
    assert!(
        !log["data"].as_str().unwrap_or("").contains("queued again"),
        "{log}"
    );
    drop(server);
}
