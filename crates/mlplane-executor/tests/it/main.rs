//! Executor tests with real processes and a real SQLite store: each test submits jobs as
//! canonical JSON, runs an executor and checks the jobs' statuses, messages and logs.

mod code;
mod data;
mod harness;

use harness::{bench, done, is, spec, uv_available};
use mlplane_core::{AssetKind, JobStatus, NewAsset, RunStatus};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn echo_job_completes_with_its_output_in_the_log() {
    if !uv_available() {
        return;
    }
    let b = bench().await;
    let job = b.submit("echo1", spec("echo hello from the job")).await;
    let exec = b.start(1);
    let j = b.wait_terminal(&job).await;
    let log = b.log(&job).await;
    assert_eq!(
        j.status,
        JobStatus::Completed,
        "{:?}\n{log}",
        j.status_message
    );
    assert!(log.contains("hello from the job\n"), "{log}");
    assert!(log.contains("environment"), "{log}");
    assert_eq!(b.run_status(&job).await, RunStatus::Finished);
    exec.shutdown().await;
}

#[tokio::test]
async fn literal_inputs_are_substituted_quoted() {
    if !uv_available() {
        return;
    }
    let b = bench().await;
    let mut s = spec("echo ${{inputs.msg}} ${{inputs.n}}; echo after");
    s["inputs"] = json!({
        "msg": {"type": "literal", "value": "two words; echo INJECTED"},
        "n": {"type": "literal", "value": 7},
    });
    let job = b.submit("inputs1", s).await;
    let exec = b.start(1);
    let j = b.wait_terminal(&job).await;
    let log = b.log(&job).await;
    assert_eq!(j.status, JobStatus::Completed, "{log}");
    assert!(log.contains("two words; echo INJECTED 7\n"), "{log}");
    assert!(!log.contains("\nINJECTED"), "{log}");
    assert!(log.contains("after\n"), "{log}");
    exec.shutdown().await;
}

#[tokio::test]
async fn non_zero_exit_fails_with_the_code() {
    if !uv_available() {
        return;
    }
    let b = bench().await;
    let job = b.submit("fail1", spec("echo oops >&2; exit 3")).await;
    let exec = b.start(1);
    let j = b.wait_terminal(&job).await;
    assert_eq!(j.status, JobStatus::Failed);
    assert_eq!(j.status_message.as_deref(), Some("exited with code 3"));
    assert!(b.log(&job).await.contains("oops\n"));
    assert_eq!(b.run_status(&job).await, RunStatus::Failed);
    exec.shutdown().await;
}

#[tokio::test]
async fn a_job_past_its_timeout_is_killed_and_fails() {
    if !uv_available() {
        return;
    }
    let b = bench().await;
    let mut s = spec("sleep 30");
    s["limits"] = json!({"timeout": 1});
    let job = b.submit("slow1", s).await;
    let exec = b.start(1);
    let j = b.wait_for(&job, Duration::from_secs(20), done).await;
    assert_eq!(j.status, JobStatus::Failed);
    assert_eq!(j.status_message.as_deref(), Some("timed out after 1 s"));
    exec.shutdown().await;
}

fn alive(pid: &str) -> bool {
    std::path::Path::new(&format!("/proc/{}", pid.trim())).exists()
        && !std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
            .unwrap_or_default()
            .contains(") Z ")
}

#[tokio::test]
async fn canceling_a_running_job_kills_its_processes() {
    if !uv_available() {
        return;
    }
    let b = bench().await;
    let pidfile = b.dir.path().join("pid");
    let cmd = format!("sleep 60 & echo $! > {}; wait", pidfile.display());
    let job = b.submit("cancel1", spec(&cmd)).await;
    let exec = b.start(1);
    b.wait_for(&job, Duration::from_secs(60), is(JobStatus::Running))
        .await;
    let mut pid = String::new();
    for _ in 0..100 {
        pid = std::fs::read_to_string(&pidfile).unwrap_or_default();
        if !pid.trim().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(alive(&pid), "the job's sleep runs");
    b.store
        .request_cancel(&b.ws, &job.name)
        .await
        .expect("cancel is accepted");
    let j = b.wait_for(&job, Duration::from_secs(20), done).await;
    assert_eq!(j.status, JobStatus::Canceled);
    assert!(!alive(&pid), "the job's sleep {} is gone", pid.trim());
    assert_eq!(b.run_status(&job).await, RunStatus::Killed);
    exec.shutdown().await;
}

#[tokio::test]
async fn two_slots_run_two_jobs_at_once() {
    if !uv_available() {
        return;
    }
    let b = bench().await;
    let mut jobs = Vec::new();
    for i in 0..2 {
        let f = b.dir.path().join(format!("t{i}"));
        let cmd = format!(
            "date +%s.%N > {f}.start; sleep 1.5; date +%s.%N > {f}.end",
            f = f.display()
        );
        jobs.push(b.submit(&format!("par{i}"), spec(&cmd)).await);
    }
    let exec = b.start(2);
    for j in &jobs {
        assert_eq!(b.wait_terminal(j).await.status, JobStatus::Completed);
    }
    let read = |name: &str| -> f64 {
        std::fs::read_to_string(b.dir.path().join(name))
            .expect("timestamp written")
            .trim()
            .parse()
            .expect("a timestamp")
    };
    let (s0, e0, s1, e1) = (
        read("t0.start"),
        read("t0.end"),
        read("t1.start"),
        read("t1.end"),
    );
    assert!(
        s1 < e0 && s0 < e1,
        "the jobs overlap: {s0}-{e0} and {s1}-{e1}"
    );
    exec.shutdown().await;
}

#[tokio::test]
async fn jobs_a_previous_process_held_are_failed_on_start() {
    let b = bench().await;
    let job = b.submit("left1", spec("true")).await;
    let claimed = b
        .store
        .claim_next_job("local", "old-worker")
        .await
        .expect("claim works")
        .expect("the job is claimed");
    b.store
        .transition_job(
            &b.ws,
            &claimed.name,
            &[JobStatus::Preparing],
            JobStatus::Running,
            None,
        )
        .await
        .expect("moves to Running");
    let exec = b.start(1);
    let j = b.wait_terminal(&job).await;
    assert_eq!(j.status, JobStatus::Failed);
    assert_eq!(
        j.status_message.as_deref(),
        Some("the server stopped while the job was Running; it was not resumed")
    );
    exec.shutdown().await;
}

#[tokio::test]
async fn large_output_streams_into_the_log() {
    if !uv_available() {
        return;
    }
    let b = bench().await;
    // 5 MiB: 65536 lines of 80 bytes (79 characters and a newline).
    let cmd = "i=0; line=$(printf '%079d' 0); while [ $i -lt 65536 ]; do echo \"$line\"; i=$((i+1)); done";
    let job = b.submit("big1", spec(cmd)).await;
    let exec = b.start(1);
    let j = b.wait_for(&job, Duration::from_secs(120), done).await;
    assert_eq!(j.status, JobStatus::Completed);
    let log = b.log(&job).await;
    let lines = log.lines().filter(|l| l.len() == 79).count();
    assert_eq!(lines, 65536);
    exec.shutdown().await;
}

#[tokio::test]
async fn the_process_gets_the_run_id_and_outputs_in_its_environment() {
    if !uv_available() {
        return;
    }
    let b = bench().await;
    let mut s = spec(
        "echo run=$MLFLOW_RUN_ID exp=$MLFLOW_EXPERIMENT_ID job=$MLPLANE_JOB_NAME \
         uri=$MLFLOW_TRACKING_URI mine=$MY_VAR; test -d \"$MLPLANE_OUTPUTS_MODEL\" && \
         test \"$MLPLANE_OUTPUTS_MODEL\" = ${{outputs.model}} && echo outputs-ok; \
         test -x \"$VIRTUAL_ENV/bin/python\" && echo venv-ok",
    );
    s["environment_variables"] = json!({"MY_VAR": "hi"});
    s["outputs"] = json!({"model": {"type": "uri_folder", "name": null, "version": null}});
    let job = b.submit("env1", s).await;
    let exec = b.start(1);
    let j = b.wait_terminal(&job).await;
    let log = b.log(&job).await;
    assert_eq!(j.status, JobStatus::Completed, "{log}");
    let want = format!(
        "run={} exp=0 job=env1 uri=http://127.0.0.1:5050 mine=hi\n",
        job.run_id
    );
    assert!(log.contains(&want), "{log}");
    assert!(log.contains("outputs-ok\n"), "{log}");
    assert!(log.contains("venv-ok\n"), "{log}");
    exec.shutdown().await;
}

#[tokio::test]
async fn local_data_inputs_and_images_fail_with_a_reason() {
    if !uv_available() {
        return;
    }
    let b = bench().await;
    let mut s = spec("cat ${{inputs.d}}");
    s["inputs"] = json!({"d": {"type": "uri_file", "local_path": "data.csv", "mode": "ro_mount"}});
    let data = b.submit("data1", s).await;
    let mut s = spec("true");
    s["environment"] = json!({"inline": {"image": "python:3.11", "deps": null}});
    let image = b.submit("image1", s).await;
    let exec = b.start(2);
    let j = b.wait_terminal(&data).await;
    assert_eq!(j.status, JobStatus::Failed);
    assert!(
        j.status_message
            .as_deref()
            .unwrap_or("")
            .contains("input 'd': 'data.csv' is a local path the server never received"),
        "{:?}",
        j.status_message
    );
    let j = b.wait_terminal(&image).await;
    assert_eq!(j.status, JobStatus::Failed);
    assert!(
        j.status_message
            .as_deref()
            .unwrap_or("")
            .contains("container images need container-capable compute"),
        "{:?}",
        j.status_message
    );
    exec.shutdown().await;
}

#[tokio::test]
async fn shutdown_kills_running_jobs_and_fails_them() {
    if !uv_available() {
        return;
    }
    let b = bench().await;
    let job = b.submit("stop1", spec("sleep 60")).await;
    let exec = b.start(1);
    b.wait_for(&job, Duration::from_secs(60), is(JobStatus::Running))
        .await;
    exec.shutdown().await;
    let j = b.job(&job).await;
    assert_eq!(j.status, JobStatus::Failed);
    assert_eq!(j.status_message.as_deref(), Some("server shutting down"));
}

#[tokio::test]
async fn a_registered_environment_is_read_from_its_asset() {
    if !uv_available() {
        return;
    }
    let b = bench().await;
    b.store
        .create_asset(
            &b.ws,
            NewAsset {
                kind: AssetKind::Environment,
                name: "plain".into(),
                version: Some("1".into()),
                description: String::new(),
                tags: vec![],
                spec: json!({"image": null, "deps": {"inline": {"python": null, "pip": []}}})
                    .to_string(),
                storage_uri: None,
                source_job: None,
            },
        )
        .await
        .expect("the environment is registered");
    let mut s = spec("python -c 'import sys; print(sys.prefix)'");
    s["environment"] = json!({"asset": "plain:1"});
    let job = b.submit("asset1", s).await;
    let mut missing = spec("true");
    missing["environment"] = json!({"asset": "nope:1"});
    let missing = b.submit("asset2", missing).await;
    let exec = b.start(1);
    let j = b.wait_terminal(&job).await;
    let log = b.log(&job).await;
    assert_eq!(
        j.status,
        JobStatus::Completed,
        "{:?}\n{log}",
        j.status_message
    );
    assert!(
        log.contains("executor-envs/"),
        "python runs from the built venv: {log}"
    );
    let j = b.wait_terminal(&missing).await;
    assert_eq!(j.status, JobStatus::Failed);
    assert!(
        j.status_message
            .as_deref()
            .unwrap_or("")
            .starts_with("environment 'nope'"),
        "{:?}",
        j.status_message
    );
    exec.shutdown().await;
}

#[tokio::test]
async fn an_environment_that_cannot_be_built_fails_the_job_with_its_log_tail() {
    if !uv_available() {
        return;
    }
    let b = bench().await;
    let mut s = spec("true");
    s["environment"] =
        json!({"inline": {"image": null, "deps": {"inline": {"python": "2.1", "pip": []}}}});
    let job = b.submit("badenv1", s).await;
    let exec = b.start(1);
    let j = b.wait_for(&job, Duration::from_secs(120), done).await;
    let log = b.log(&job).await;
    assert_eq!(j.status, JobStatus::Failed, "{log}");
    let msg = j.status_message.unwrap_or_default();
    assert!(msg.starts_with("building environment "), "{msg}");
    assert!(
        msg.contains("error: "),
        "the message says what uv said: {msg}"
    );
    assert!(log.contains("building environment "), "{log}");
    assert!(
        log.contains("2.1"),
        "the build log's tail is in the job log: {log}"
    );
    exec.shutdown().await;
}

#[tokio::test]
async fn a_process_killed_by_a_signal_says_which() {
    if !uv_available() {
        return;
    }
    let b = bench().await;
    let job = b.submit("sig1", spec("kill -9 $$")).await;
    let exec = b.start(1);
    let j = b.wait_terminal(&job).await;
    assert_eq!(j.status, JobStatus::Failed);
    assert_eq!(j.status_message.as_deref(), Some("killed by signal 9"));
    exec.shutdown().await;
}

#[tokio::test]
async fn output_reaches_the_log_while_the_job_runs() {
    if !uv_available() {
        return;
    }
    let b = bench().await;
    let job = b.submit("live1", spec("echo early; sleep 60")).await;
    let exec = b.start(1);
    b.wait_for(&job, Duration::from_secs(60), is(JobStatus::Running))
        .await;
    let start = std::time::Instant::now();
    while !b.log(&job).await.contains("early\n") {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the first line is in the log within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(b.job(&job).await.status, JobStatus::Running);
    b.store
        .request_cancel(&b.ws, &job.name)
        .await
        .expect("cancel is accepted");
    assert_eq!(b.wait_terminal(&job).await.status, JobStatus::Canceled);
    exec.shutdown().await;
}

#[tokio::test]
async fn a_shutdown_that_is_already_due_claims_nothing() {
    let b = bench().await;
    let job = b.submit("wait1", spec("true")).await;
    let exec = mlplane_executor::Executor::new(b.config(1));
    exec.run(std::future::ready(()))
        .await
        .expect("the executor returns Ok");
    assert_eq!(b.job(&job).await.status, JobStatus::Queued);
}
