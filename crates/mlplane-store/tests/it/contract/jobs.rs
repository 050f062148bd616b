//! Contract checks for jobs: creation with the tracking run, listing, claiming (also by
//! concurrent claimers), inputs/outputs and workspace isolation; status changes are in
//! [`super::job_status`].
//!
//! Invariants:
//! - each check starts from a fresh store and asserts on variants, not messages.

use super::*;
use mlplane_core::jobs::JOB_TAG;
use mlplane_core::{
    AssetKind, ExperimentId, IoDirection, Job, JobIo, JobKind, JobName, JobQuery, JobStatus,
    NewAsset, NewJob,
};
use std::collections::HashSet;

pub fn job_name(s: &str) -> JobName {
    JobName::parse(s).expect("test job names are valid")
}

pub fn new_job(name: Option<&str>, exp: ExperimentId, compute: &str) -> NewJob {
    NewJob {
        name: name.map(job_name),
        run: new_run(exp, now_ms()),
        kind: JobKind::Command,
        parent: None,
        display_name: "train".into(),
        description: "trains".into(),
        tags: vec![tag("team", "risk")],
        compute: compute.into(),
        spec: r#"{"command":"python train.py"}"#.into(),
    }
}

pub async fn submit(store: &Store, ws: &WorkspaceName, name: &str, compute: &str) -> Job {
    store
        .create_job(ws, new_job(Some(name), ExperimentId(0), compute))
        .await
        .expect("job is created")
}

pub async fn run_of(store: &Store, job: &Job) -> Run {
    store
        .get_run(&job.workspace, &job.run_id)
        .await
        .expect("the job's run exists")
}

pub async fn move_to(store: &Store, job: &Job, from: JobStatus, to: JobStatus) -> Job {
    store
        .transition_job(&job.workspace, &job.name, &[from], to, None)
        .await
        .expect("transition is allowed")
}

pub async fn job_is_created_queued_with_its_run(store: Store) {
    let exp = create_exp(&store, &default_ws(), "jobs").await;
    let job = store
        .create_job(&default_ws(), new_job(None, exp.id, "cpu"))
        .await
        .expect("created");
    assert!(JobName::parse(job.name.as_str()).is_ok());
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.experiment_id, exp.id);
    assert_eq!(job.kind, JobKind::Command);
    assert_eq!(job.compute, "cpu");
    assert_eq!(job.spec, r#"{"command":"python train.py"}"#);
    assert_eq!(job.tags, vec![tag("team", "risk")]);
    assert_eq!(
        (job.display_name.as_str(), job.description.as_str()),
        ("train", "trains")
    );
    assert_eq!((job.attempt, job.worker.clone()), (0, None));
    assert_eq!((job.started_at, job.ended_at), (None, None));
    assert!(job.created_at > 0);
    let run = run_of(&store, &job).await;
    assert_eq!(run.info.status, RunStatus::Queued);
    assert_eq!(run.info.experiment_id, exp.id);
    assert!(run.tags.contains(&tag(JOB_TAG, job.name.as_str())));
    assert_eq!(
        store.get_job(&default_ws(), &job.name).await.expect("get"),
        job
    );
    expect_not_found(
        store.get_job(&default_ws(), &job_name("nope")).await,
        Entity::Job,
    );
}

pub async fn duplicate_job_name_is_already_exists_and_creates_no_run(store: Store) {
    let exp = create_exp(&store, &default_ws(), "dup").await;
    store
        .create_job(&default_ws(), new_job(Some("j1"), exp.id, "cpu"))
        .await
        .expect("first");
    expect_already_exists(
        store
            .create_job(&default_ws(), new_job(Some("j1"), exp.id, "cpu"))
            .await,
        Entity::Job,
        "j1",
    );
    let runs = store
        .list_runs(
            &default_ws(),
            &mlplane_store::RunQuery {
                experiment_ids: vec![exp.id],
                ..Default::default()
            },
            &page(0, None),
        )
        .await
        .expect("runs");
    assert_eq!(runs.items.len(), 1, "the refused job left no run behind");
    let mut bad = new_job(Some("j2"), exp.id, "cpu");
    bad.compute = "no spaces".into();
    expect_invalid(store.create_job(&default_ws(), bad).await, "compute");
    expect_not_found(
        store
            .create_job(&default_ws(), new_job(Some("j3"), ExperimentId(999), "cpu"))
            .await,
        Entity::Experiment,
    );
}

pub async fn parent_job_must_exist_and_gives_the_run_its_parent(store: Store) {
    let sweep = submit(&store, &default_ws(), "sweep", "cpu").await;
    let mut child = new_job(Some("trial-1"), ExperimentId(0), "cpu");
    child.parent = Some(job_name("missing"));
    expect_not_found(
        store.create_job(&default_ws(), child.clone()).await,
        Entity::Job,
    );
    child.parent = Some(sweep.name.clone());
    let child = store.create_job(&default_ws(), child).await.expect("child");
    assert_eq!(child.parent, Some(sweep.name.clone()));
    let run = run_of(&store, &child).await;
    assert_eq!(run.info.parent_run_id, Some(sweep.run_id.clone()));
    let q = JobQuery {
        parent: Some(sweep.name.clone()),
        ..Default::default()
    };
    let page = store
        .list_jobs(&default_ws(), &q, &page(0, None))
        .await
        .expect("list");
    assert_eq!(names(&page.items), vec!["trial-1"]);
    let other = ws("other");
    store.create_workspace(&other, "").await.expect("ws");
    let mut elsewhere = new_job(Some("trial-2"), ExperimentId(0), "cpu");
    elsewhere.parent = Some(sweep.name.clone());
    let default_of_other = store
        .get_experiment_by_name(&other, "Default")
        .await
        .expect("default exp");
    elsewhere.run.experiment_id = default_of_other.id;
    expect_not_found(store.create_job(&other, elsewhere).await, Entity::Job);
}

pub fn names(jobs: &[Job]) -> Vec<&str> {
    jobs.iter().map(|j| j.name.as_str()).collect()
}

pub async fn list_jobs_is_newest_first_filtered_and_paged(store: Store) {
    let exp = create_exp(&store, &default_ws(), "listing").await;
    for (i, compute) in ["cpu", "gpu", "cpu", "gpu", "cpu"].iter().enumerate() {
        let e = if i == 4 { exp.id } else { ExperimentId(0) };
        store
            .create_job(&default_ws(), new_job(Some(&format!("j{i}")), e, compute))
            .await
            .expect("job");
    }
    let all = store
        .list_jobs(&default_ws(), &JobQuery::default(), &page(0, None))
        .await
        .expect("list");
    assert_eq!(names(&all.items), vec!["j4", "j3", "j2", "j1", "j0"]);
    assert_eq!(all.next_page_token, None);
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let p = store
            .list_jobs(&default_ws(), &JobQuery::default(), &page(2, token))
            .await
            .expect("page");
        assert!(p.items.len() <= 2);
        seen.extend(p.items.iter().map(|j| j.name.to_string()));
        token = p.next_page_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, vec!["j4", "j3", "j2", "j1", "j0"]);
    let gpu = JobQuery {
        compute: Some("gpu".into()),
        ..Default::default()
    };
    let p = store
        .list_jobs(&default_ws(), &gpu, &page(1, None))
        .await
        .expect("gpu");
    assert_eq!(names(&p.items), vec!["j3"]);
    let token = p.next_page_token.expect("more gpu jobs");
    expect_page_token_error(
        store
            .list_jobs(&default_ws(), &JobQuery::default(), &page(1, Some(token)))
            .await,
    );
    let by_exp = JobQuery {
        experiment_id: Some(exp.id),
        ..Default::default()
    };
    let p = store
        .list_jobs(&default_ws(), &by_exp, &page(0, None))
        .await
        .expect("by experiment");
    assert_eq!(names(&p.items), vec!["j4"]);
    store
        .claim_next_job("cpu", "w1")
        .await
        .expect("claim")
        .expect("a cpu job");
    let preparing = JobQuery {
        statuses: vec![JobStatus::Preparing, JobStatus::Running],
        ..Default::default()
    };
    let p = store
        .list_jobs(&default_ws(), &preparing, &page(0, None))
        .await
        .expect("by status");
    assert_eq!(names(&p.items), vec!["j0"]);
}

#[track_caller]
fn expect_page_token_error<T: Debug>(r: Result<T, StoreError>) {
    match r {
        Err(StoreError::PageToken(_)) => {}
        other => panic!("expected PageToken, got {other:?}"),
    }
}

pub async fn claim_takes_the_oldest_queued_job_of_the_compute_in_any_workspace(store: Store) {
    let other = ws("team-b");
    store.create_workspace(&other, "").await.expect("ws");
    let other_exp = store
        .get_experiment_by_name(&other, "Default")
        .await
        .expect("exp");
    submit(&store, &default_ws(), "a1", "cpu").await;
    store
        .create_job(&other, new_job(Some("b1"), other_exp.id, "cpu"))
        .await
        .expect("b1");
    submit(&store, &default_ws(), "g1", "gpu").await;
    submit(&store, &default_ws(), "a2", "cpu").await;
    let first = store
        .claim_next_job("cpu", "worker-1")
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(first.name.as_str(), "a1");
    assert_eq!(first.status, JobStatus::Preparing);
    assert_eq!(first.worker.as_deref(), Some("worker-1"));
    assert_eq!(first.attempt, 1);
    assert_eq!(run_of(&store, &first).await.info.status, RunStatus::Queued);
    let second = store
        .claim_next_job("cpu", "worker-2")
        .await
        .expect("claim");
    let second = second.expect("a job");
    assert_eq!((second.name.as_str(), &second.workspace), ("b1", &other));
    let third = store
        .claim_next_job("cpu", "worker-1")
        .await
        .expect("claim");
    assert_eq!(third.map(|j| j.name.to_string()).as_deref(), Some("a2"));
    assert_eq!(
        store
            .claim_next_job("cpu", "worker-1")
            .await
            .expect("claim"),
        None
    );
    assert_eq!(
        store
            .claim_next_job("tpu", "worker-1")
            .await
            .expect("claim"),
        None
    );
    let gpu = store
        .claim_next_job("gpu", "worker-9")
        .await
        .expect("claim");
    assert_eq!(gpu.map(|j| j.name.to_string()).as_deref(), Some("g1"));
    expect_invalid(store.claim_next_job("cpu", "").await, "worker");
}

pub async fn concurrent_claimers_never_get_the_same_job(store: Store) {
    const JOBS: usize = 24;
    for i in 0..JOBS {
        submit(&store, &default_ws(), &format!("c{i}"), "cpu").await;
    }
    let tasks: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(job) = store
                    .claim_next_job("cpu", &format!("worker-{w}"))
                    .await
                    .expect("claim")
                {
                    assert_eq!(job.worker, Some(format!("worker-{w}")));
                    assert_eq!(job.attempt, 1, "a job is claimed once");
                    got.push(job.name.to_string());
                }
                got
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("claimer task"));
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "no job was claimed twice: {all:?}");
    assert_eq!(all.len(), JOBS, "every job was claimed");
}

fn io(job: &JobName, dir: IoDirection, name: &str, asset: Option<(&str, &str)>) -> JobIo {
    JobIo {
        job: job.clone(),
        direction: dir,
        name: name.into(),
        asset: asset.map(|(n, v)| (AssetKind::Data, n.to_string(), v.to_string())),
        uri: Some(format!("mlplane://{name}")),
    }
}

pub async fn job_io_is_recorded_replaced_and_feeds_lineage(store: Store) {
    let prep = submit(&store, &default_ws(), "prep", "cpu").await;
    let train = submit(&store, &default_ws(), "train", "cpu").await;
    let eval = submit(&store, &default_ws(), "eval", "cpu").await;
    let asset = |name: &str, source_job: Option<&JobName>| NewAsset {
        kind: AssetKind::Data,
        name: name.into(),
        version: Some("1".into()),
        description: String::new(),
        tags: vec![],
        spec: "{}".into(),
        storage_uri: None,
        source_job: source_job.cloned(),
    };
    store
        .create_asset(&default_ws(), asset("raw", None))
        .await
        .expect("raw");
    store
        .create_asset(&default_ws(), asset("clean", None))
        .await
        .expect("clean");
    store
        .record_job_io(
            &default_ws(),
            &prep.name,
            vec![
                io(&prep.name, IoDirection::Output, "out", Some(("clean", "1"))),
                io(&prep.name, IoDirection::Input, "src", Some(("raw", "1"))),
            ],
        )
        .await
        .expect("prep io");
    for j in [&train, &eval] {
        store
            .record_job_io(
                &default_ws(),
                &j.name,
                vec![io(
                    &j.name,
                    IoDirection::Input,
                    "data",
                    Some(("clean", "1")),
                )],
            )
            .await
            .expect("consumer io");
    }
    let got = store.job_io(&default_ws(), &prep.name).await.expect("io");
    assert_eq!(
        got,
        vec![
            io(&prep.name, IoDirection::Input, "src", Some(("raw", "1"))),
            io(&prep.name, IoDirection::Output, "out", Some(("clean", "1"))),
        ]
    );
    let lineage = store
        .asset_lineage(&default_ws(), AssetKind::Data, "clean", "1")
        .await
        .expect("lineage");
    assert_eq!(lineage.producer, Some(prep.name.clone()));
    assert_eq!(
        lineage.consumers,
        vec![train.name.clone(), eval.name.clone()]
    );
    // Recording an input again replaces it.
    store
        .record_job_io(
            &default_ws(),
            &eval.name,
            vec![io(&eval.name, IoDirection::Input, "data", None)],
        )
        .await
        .expect("replace");
    let lineage = store
        .asset_lineage(&default_ws(), AssetKind::Data, "clean", "1")
        .await
        .expect("lineage");
    assert_eq!(lineage.consumers, vec![train.name.clone()]);
    // A version's source_job wins over recorded outputs.
    store
        .create_asset(&default_ws(), asset("model-data", Some(&train.name)))
        .await
        .expect("produced");
    let lineage = store
        .asset_lineage(&default_ws(), AssetKind::Data, "model-data", "1")
        .await
        .expect("lineage");
    assert_eq!(
        (lineage.producer, lineage.consumers),
        (Some(train.name.clone()), vec![])
    );
    expect_not_found(
        store
            .asset_lineage(&default_ws(), AssetKind::Data, "clean", "2")
            .await,
        Entity::Asset,
    );
    expect_not_found(
        store
            .record_job_io(&default_ws(), &job_name("ghost"), vec![])
            .await,
        Entity::Job,
    );
    expect_invalid(
        store
            .record_job_io(
                &default_ws(),
                &prep.name,
                vec![io(&train.name, IoDirection::Input, "x", None)],
            )
            .await,
        "io[0].job",
    );
}

pub async fn jobs_are_scoped_by_workspace(store: Store) {
    let other = ws("other");
    store.create_workspace(&other, "").await.expect("ws");
    let exp = store
        .get_experiment_by_name(&other, "Default")
        .await
        .expect("exp");
    let mine = submit(&store, &default_ws(), "same", "cpu").await;
    let theirs = store
        .create_job(&other, new_job(Some("same"), exp.id, "cpu"))
        .await
        .expect("the same name in another workspace");
    assert_ne!(mine.run_id, theirs.run_id);
    let only = store
        .create_job(&other, new_job(Some("only-there"), exp.id, "cpu"))
        .await
        .expect("job");
    expect_not_found(store.get_job(&default_ws(), &only.name).await, Entity::Job);
    expect_not_found(
        store
            .transition_job(
                &default_ws(),
                &only.name,
                &[JobStatus::Queued],
                JobStatus::Canceled,
                None,
            )
            .await,
        Entity::Job,
    );
    expect_not_found(
        store.request_cancel(&default_ws(), &only.name).await,
        Entity::Job,
    );
    expect_not_found(store.job_io(&default_ws(), &only.name).await, Entity::Job);
    // A run of a job is a run of its workspace only.
    expect_not_found(
        store.get_run(&default_ws(), &only.run_id).await,
        Entity::Run,
    );
    let listed = store
        .list_jobs(&default_ws(), &JobQuery::default(), &page(0, None))
        .await
        .expect("list");
    assert_eq!(names(&listed.items), vec!["same"]);
    expect_not_found(
        store.get_job(&ws("nowhere"), &mine.name).await,
        Entity::Workspace,
    );
    expect_not_found(
        store
            .list_jobs(&ws("nowhere"), &JobQuery::default(), &page(0, None))
            .await,
        Entity::Workspace,
    );
}

pub async fn concurrent_creates_of_one_name_make_one_job_and_one_run(store: Store) {
    let exp = create_exp(&store, &default_ws(), "racing-names").await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .create_job(&default_ws(), new_job(Some("once"), exp.id, "cpu"))
                    .await
            })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(_) => created += 1,
            Err(StoreError::AlreadyExists {
                entity: Entity::Job,
                ..
            }) => {}
            Err(other) => panic!("expected AlreadyExists, got {other:?}"),
        }
    }
    assert_eq!(created, 1);
    let runs = store
        .list_runs(
            &default_ws(),
            &mlplane_store::RunQuery {
                experiment_ids: vec![exp.id],
                ..Default::default()
            },
            &page(0, None),
        )
        .await
        .expect("runs");
    assert_eq!(runs.items.len(), 1, "refused creates left no run behind");
}
