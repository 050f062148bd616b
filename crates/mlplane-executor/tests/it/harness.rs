//! A real SQLite store in a temporary directory, an executor running on it, and helpers to
//! submit jobs as canonical JSON and wait for them.
//!
//! Invariants:
//! - every test gets its own store and work folder; built environments share one cache
//!   under `CARGO_TARGET_TMPDIR` (builds of one spec are locked across processes);
//! - without uv a test that needs it is skipped with a notice, unless
//!   `MLPLANE_REQUIRE_UV` is set, in which case it fails.

use mlplane_core::{
    ExperimentId, Job, JobKind, JobName, JobStatus, NewJob, NewRun, RunStatus, WorkspaceName,
};
use mlplane_executor::{Executor, ExecutorConfig};
use mlplane_store::MetadataStore;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub type Store = Arc<dyn MetadataStore>;

/// Whether uv is available; prints a notice (or panics under `MLPLANE_REQUIRE_UV`) if not.
pub fn uv_available() -> bool {
    match mlplane_envs::find_uv() {
        Ok(_) => true,
        Err(e) => {
            if std::env::var_os("MLPLANE_REQUIRE_UV").is_some() {
                panic!("MLPLANE_REQUIRE_UV is set but uv is missing: {e}");
            }
            eprintln!("note: skipping executor test, uv is missing: {e}");
            false
        }
    }
}

pub struct Bench {
    pub store: Store,
    pub dir: tempfile::TempDir,
    pub ws: WorkspaceName,
}

pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<mlplane_executor::Result<()>>,
}

impl Running {
    /// Asks the executor to shut down and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), &mut self.task)
            .await
            .expect("the executor stops within 30 s")
            .expect("the executor task does not panic")
            .expect("the executor returns Ok");
    }
}

pub async fn bench() -> Bench {
    let dir = tempfile::tempdir().expect("a temporary directory can be created");
    let url = format!("sqlite://{}/m.db", dir.path().display());
    let store = mlplane_store::open(&url).await.expect("sqlite store opens");
    Bench {
        store,
        dir,
        ws: WorkspaceName::default_workspace(),
    }
}

impl Bench {
    /// The artifact store the executor reads snapshots from.
    pub fn artifacts(&self) -> mlplane_artifacts::ArtifactStore {
        mlplane_artifacts::ArtifactStore::local(&self.dir.path().join("artifacts"))
            .expect("a local artifact store opens")
    }

    pub fn config(&self, slots: usize) -> ExecutorConfig {
        ExecutorConfig {
            store: self.store.clone(),
            artifacts: self.artifacts(),
            compute: "local".into(),
            worker: "test-worker".into(),
            work_root: self.dir.path().join("work"),
            env_cache: PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("executor-envs"),
            slots,
            tracking_uri: Some("http://127.0.0.1:5050".into()),
            poll: Duration::from_millis(50),
            wake: Default::default(),
            job_tokens: false,
            secrets_key: None,
            ca_cert: None,
        }
    }

    pub fn start(&self, slots: usize) -> Running {
        let exec = Executor::new(self.config(slots));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(exec.run(async move {
            let _ = rx.await;
        }));
        Running {
            stop: Some(tx),
            task,
        }
    }

    /// Submits a command job whose spec is canonical JSON (as the server stores it).
    pub async fn submit(&self, name: &str, spec: Value) -> Job {
        self.submit_tagged(name, spec, vec![]).await
    }

    /// [`Self::submit`] with job tags (e.g. `mlplane.code.snapshot`).
    pub async fn submit_tagged(
        &self,
        name: &str,
        spec: Value,
        tags: Vec<mlplane_core::Tag>,
    ) -> Job {
        let job = NewJob {
            name: Some(JobName::parse(name).expect("test job names are valid")),
            run: NewRun {
                experiment_id: ExperimentId(0),
                name: Some(name.into()),
                user: "tester".into(),
                start_time: 1,
                status: RunStatus::Queued,
                parent_run_id: None,
                tags: vec![],
            },
            kind: JobKind::Command,
            parent: None,
            display_name: String::new(),
            description: String::new(),
            tags,
            compute: "local".into(),
            spec: spec.to_string(),
        };
        self.store
            .create_job(&self.ws, job)
            .await
            .expect("job is created")
    }

    pub async fn job(&self, job: &Job) -> Job {
        self.store
            .get_job(&self.ws, &job.name)
            .await
            .expect("job exists")
    }

    /// Polls until the job is terminal (or `status`), failing after `limit`.
    pub async fn wait_for(&self, job: &Job, limit: Duration, until: impl Fn(&Job) -> bool) -> Job {
        let start = Instant::now();
        loop {
            let j = self.job(job).await;
            if until(&j) {
                return j;
            }
            assert!(
                start.elapsed() < limit,
                "job {} still {} ({:?}) after {limit:?}; log:\n{}",
                j.name,
                j.status,
                j.status_message,
                self.log(job).await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_terminal(&self, job: &Job) -> Job {
        self.wait_for(job, Duration::from_secs(60), |j| j.status.is_terminal())
            .await
    }

    /// The whole log of the job's run.
    pub async fn log(&self, job: &Job) -> String {
        let mut out = String::new();
        let mut offset = 0;
        loop {
            let c = self
                .store
                .read_log(&self.ws, &job.run_id, offset, 1 << 20)
                .await
                .expect("log reads");
            out.push_str(&c.data);
            if c.next_offset == offset {
                return out;
            }
            offset = c.next_offset;
        }
    }

    pub async fn run_status(&self, job: &Job) -> RunStatus {
        self.store
            .get_run(&self.ws, &job.run_id)
            .await
            .expect("run exists")
            .info
            .status
    }
}

/// Canonical job JSON (the shape of `mlplane-server`'s `job_json`) with an inline
/// environment holding an empty pip list.
pub fn spec(command: &str) -> Value {
    json!({
        "type": "command",
        "name": null,
        "display_name": null,
        "experiment_name": null,
        "description": null,
        "tags": {},
        "command": command,
        "code": null,
        "environment": {"inline": {"image": null, "deps": {"inline": {"python": null, "pip": []}}}},
        "environment_variables": {},
        "compute": "local",
        "inputs": {},
        "outputs": {},
        "limits": {"timeout": null},
        "resources": {"instance_count": 1, "instance_type": null},
        "distribution": null,
    })
}

pub fn done(j: &Job) -> bool {
    j.status.is_terminal()
}

pub fn is(status: JobStatus) -> impl Fn(&Job) -> bool {
    move |j| j.status == status
}
