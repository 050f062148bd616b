//! Contract checks for job status changes: transitions that check the current status and
//! keep the run in step, terminal statuses that never change, cancellation and the listing
//! used for restart reconciliation.
//!
//! Invariants:
//! - each check starts from a fresh store and asserts on variants, not messages.

use super::jobs::{move_to, names, run_of, submit};
use super::*;
use mlplane_core::JobStatus;

pub async fn transitions_check_the_current_status_and_sync_the_run(store: Store) {
    let job = submit(&store, &default_ws(), "t1", "cpu").await;
    expect_invalid_state(
        store
            .transition_job(
                &default_ws(),
                &job.name,
                &[JobStatus::Preparing],
                JobStatus::Running,
                None,
            )
            .await,
    );
    let job = store
        .claim_next_job("cpu", "w")
        .await
        .expect("claim")
        .expect("job");
    let running = move_to(&store, &job, JobStatus::Preparing, JobStatus::Running).await;
    let started = running.started_at.expect("started_at is set on Running");
    assert_eq!(running.ended_at, None);
    let run = run_of(&store, &running).await;
    assert_eq!(
        (run.info.status, run.info.end_time),
        (RunStatus::Running, None)
    );
    let finalizing = store
        .transition_job(
            &default_ws(),
            &job.name,
            &[JobStatus::Running],
            JobStatus::Finalizing,
            Some("uploading outputs".into()),
        )
        .await
        .expect("finalizing");
    assert_eq!(
        finalizing.status_message.as_deref(),
        Some("uploading outputs")
    );
    assert_eq!(finalizing.started_at, Some(started));
    let done = move_to(&store, &job, JobStatus::Finalizing, JobStatus::Completed).await;
    let ended = done.ended_at.expect("ended_at is set on a terminal status");
    assert!(ended >= started);
    let run = run_of(&store, &done).await;
    assert_eq!(
        (run.info.status, run.info.end_time),
        (RunStatus::Finished, Some(ended))
    );
    // Terminal statuses never change again, whatever the caller expects.
    for to in [JobStatus::Running, JobStatus::Failed, JobStatus::Queued] {
        expect_invalid_state(
            store
                .transition_job(&default_ws(), &job.name, &[JobStatus::Completed], to, None)
                .await,
        );
    }
    expect_invalid_state(store.request_cancel(&default_ws(), &job.name).await);
    let again = store.get_job(&default_ws(), &job.name).await.expect("get");
    assert_eq!(again, done);
}

pub async fn failed_job_fails_its_run_with_the_message(store: Store) {
    submit(&store, &default_ws(), "f1", "cpu").await;
    let job = store
        .claim_next_job("cpu", "w")
        .await
        .expect("claim")
        .expect("job");
    let failed = store
        .transition_job(
            &default_ws(),
            &job.name,
            &[JobStatus::Preparing, JobStatus::Running],
            JobStatus::Failed,
            Some("image pull failed".into()),
        )
        .await
        .expect("failed");
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.started_at, None, "it never ran");
    assert!(failed.ended_at.is_some());
    assert_eq!(failed.status_message.as_deref(), Some("image pull failed"));
    let run = run_of(&store, &failed).await;
    assert_eq!(run.info.status, RunStatus::Failed);
    assert_eq!(run.info.end_time, failed.ended_at);
}

pub async fn preparing_job_can_be_given_back_to_the_queue(store: Store) {
    submit(&store, &default_ws(), "r1", "cpu").await;
    let job = store
        .claim_next_job("cpu", "w1")
        .await
        .expect("claim")
        .expect("job");
    let queued = move_to(&store, &job, JobStatus::Preparing, JobStatus::Queued).await;
    assert_eq!(queued.status, JobStatus::Queued);
    let again = store
        .claim_next_job("cpu", "w2")
        .await
        .expect("claim")
        .expect("job again");
    assert_eq!((again.attempt, again.worker.as_deref()), (2, Some("w2")));
    let running = move_to(&store, &again, JobStatus::Preparing, JobStatus::Running).await;
    expect_invalid_state(
        store
            .transition_job(
                &default_ws(),
                &running.name,
                &[JobStatus::Running],
                JobStatus::Queued,
                None,
            )
            .await,
    );
}

pub async fn cancel_is_immediate_when_queued_and_requested_when_held(store: Store) {
    let queued = submit(&store, &default_ws(), "q", "cpu").await;
    let canceled = store
        .request_cancel(&default_ws(), &queued.name)
        .await
        .expect("cancel");
    assert_eq!(canceled.status, JobStatus::Canceled);
    assert!(canceled.ended_at.is_some());
    assert_eq!(
        run_of(&store, &canceled).await.info.status,
        RunStatus::Killed
    );
    assert_eq!(store.claim_next_job("cpu", "w").await.expect("claim"), None);
    expect_invalid_state(store.request_cancel(&default_ws(), &queued.name).await);

    submit(&store, &default_ws(), "held", "cpu").await;
    let job = store
        .claim_next_job("cpu", "w")
        .await
        .expect("claim")
        .expect("job");
    move_to(&store, &job, JobStatus::Preparing, JobStatus::Running).await;
    let requested = store
        .request_cancel(&default_ws(), &job.name)
        .await
        .expect("cancel");
    assert_eq!(requested.status, JobStatus::CancelRequested);
    assert_eq!(requested.ended_at, None);
    assert_eq!(
        run_of(&store, &requested).await.info.status,
        RunStatus::Running
    );
    let twice = store
        .request_cancel(&default_ws(), &job.name)
        .await
        .expect("cancel again");
    assert_eq!(twice, requested);
    // The worker's own move from Running loses against the cancel request.
    expect_invalid_state(
        store
            .transition_job(
                &default_ws(),
                &job.name,
                &[JobStatus::Running],
                JobStatus::Completed,
                None,
            )
            .await,
    );
    let done = move_to(
        &store,
        &job,
        JobStatus::CancelRequested,
        JobStatus::Canceled,
    )
    .await;
    assert_eq!(run_of(&store, &done).await.info.status, RunStatus::Killed);
}

pub async fn unfinished_jobs_lists_what_workers_held(store: Store) {
    for n in ["u0", "u1", "u2", "u3", "u4", "u5"] {
        submit(&store, &default_ws(), n, "cpu").await;
    }
    submit(&store, &default_ws(), "gpu-job", "gpu").await;
    let mut claimed = Vec::new();
    for _ in 0..5 {
        claimed.push(
            store
                .claim_next_job("cpu", "w")
                .await
                .expect("claim")
                .expect("job"),
        );
    }
    store
        .claim_next_job("gpu", "w")
        .await
        .expect("claim")
        .expect("gpu job");
    // u0 Preparing, u1 Running, u2 Finalizing, u3 CancelRequested, u4 Completed, u5 Queued.
    move_to(
        &store,
        &claimed[1],
        JobStatus::Preparing,
        JobStatus::Running,
    )
    .await;
    move_to(
        &store,
        &claimed[2],
        JobStatus::Preparing,
        JobStatus::Running,
    )
    .await;
    move_to(
        &store,
        &claimed[2],
        JobStatus::Running,
        JobStatus::Finalizing,
    )
    .await;
    store
        .request_cancel(&default_ws(), &claimed[3].name)
        .await
        .expect("cancel");
    move_to(
        &store,
        &claimed[4],
        JobStatus::Preparing,
        JobStatus::Running,
    )
    .await;
    move_to(
        &store,
        &claimed[4],
        JobStatus::Running,
        JobStatus::Completed,
    )
    .await;
    let unfinished = store.unfinished_jobs("cpu").await.expect("unfinished");
    assert_eq!(names(&unfinished), vec!["u0", "u1", "u2", "u3"]);
    assert_eq!(
        unfinished.iter().map(|j| j.status).collect::<Vec<_>>(),
        vec![
            JobStatus::Preparing,
            JobStatus::Running,
            JobStatus::Finalizing,
            JobStatus::CancelRequested
        ]
    );
    let gpu = store.unfinished_jobs("gpu").await.expect("gpu");
    assert_eq!(names(&gpu), vec!["gpu-job"]);
}

pub async fn cancels_racing_claims_leave_every_job_in_one_consistent_state(store: Store) {
    const JOBS: usize = 16;
    let mut jobs = Vec::new();
    for i in 0..JOBS {
        jobs.push(submit(&store, &default_ws(), &format!("race{i}"), "cpu").await);
    }
    let claimers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(j) = store
                    .claim_next_job("cpu", &format!("w{w}"))
                    .await
                    .expect("claim")
                {
                    got.push(j.name.to_string());
                }
                got
            })
        })
        .collect();
    let cancels: Vec<_> = jobs
        .iter()
        .map(|j| {
            let (store, name) = (store.clone(), j.name.clone());
            tokio::spawn(async move { store.request_cancel(&default_ws(), &name).await })
        })
        .collect();
    let mut claimed = Vec::new();
    for t in claimers {
        claimed.extend(t.await.expect("claimer"));
    }
    for t in cancels {
        t.await
            .expect("canceler")
            .expect("a job is never terminal before its cancel");
    }
    for j in &jobs {
        let now = store.get_job(&default_ws(), &j.name).await.expect("get");
        let was_claimed = claimed.iter().filter(|c| *c == j.name.as_str()).count();
        match now.status {
            // Canceled while queued: nobody got it.
            JobStatus::Canceled => assert_eq!((was_claimed, now.attempt), (0, 0)),
            // Claimed first: exactly one worker holds it and must stop it.
            JobStatus::CancelRequested => assert_eq!((was_claimed, now.attempt), (1, 1)),
            other => panic!("job {} ended up {other}", j.name),
        }
        let run = run_of(&store, &now).await;
        assert_eq!(run.info.status, now.status.run_status());
    }
}
