//! The local executor: claims queued command jobs of one compute target from the store and
//! runs each as a local process, in a Python environment built by `mlplane-envs`.
//!
//! [`Executor::run`] first reconciles: every job the store shows as held by a worker of this
//! compute (`Preparing`, `Running`, `Finalizing`, `CancelRequested`) was left by a previous
//! process and is marked `Failed` with a message saying so; nothing is resumed. Then it
//! claims jobs while a slot is free, each running in its own task (see [`job`]), and sleeps
//! `poll` when nothing is queued. On shutdown it stops claiming, tells every task to stop
//! (their process groups are killed and the jobs marked `Failed`) and returns when all
//! tasks ended.
//!
//! Invariants:
//! - every claimed job ends in a terminal status with a message saying why (or is left for
//!   the next start's reconciliation if the store cannot be reached);
//! - at most `slots` jobs are held at once;
//! - no shell runs except `/bin/sh -c` with the job's own rendered command;
//! - a job's processes run in their own process group, which is killed on cancel, timeout
//!   and shutdown.

pub mod data;
pub mod job;
pub mod process;
pub mod spec;

use mlplane_core::JobStatus;
use mlplane_envs::EnvBuilder;
use mlplane_store::MetadataStore;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// What the executor failed at, outside any one job.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The store refused or failed a call the executor cannot do without.
    #[error("store: {0}")]
    Store(#[from] mlplane_store::StoreError),
    /// The configuration cannot work (e.g. zero slots).
    #[error("invalid executor configuration: {0}")]
    Config(String),
}

pub type Result<T> = std::result::Result<T, ExecutorError>;

/// How an executor runs.
#[derive(Clone)]
pub struct ExecutorConfig {
    pub store: Arc<dyn MetadataStore>,
    /// The compute target whose jobs this executor claims (`local`).
    pub compute: String,
    /// This executor's worker id, recorded on claimed jobs.
    pub worker: String,
    /// Jobs run in `<work_root>/<workspace>/<job>/`.
    pub work_root: PathBuf,
    /// Where built Python environments are cached.
    pub env_cache: PathBuf,
    /// How many jobs run at once.
    pub slots: usize,
    /// The tracking server jobs log to, exported as `MLFLOW_TRACKING_URI` (with
    /// `/w/<workspace>` appended for a workspace other than the default one).
    pub tracking_uri: Option<String>,
    /// How long to sleep when nothing is queued; also how often a running job's
    /// cancellation is checked (at most every second).
    pub poll: Duration,
    /// Where the files of data and model versions live: inputs are copied from it and
    /// outputs uploaded into it. `None`: jobs with data inputs or outputs fail.
    pub artifacts: Option<mlplane_artifacts::ArtifactStore>,
}

/// What every job task shares.
pub(crate) struct Shared {
    pub cfg: ExecutorConfig,
    /// The environment builder, or why there is none (uv missing).
    pub envs: std::result::Result<EnvBuilder, String>,
}

impl Shared {
    /// The artifact store, or why jobs cannot move data without one.
    pub(crate) fn artifacts(
        &self,
    ) -> std::result::Result<&mlplane_artifacts::ArtifactStore, String> {
        self.cfg
            .artifacts
            .as_ref()
            .ok_or_else(|| "this executor has no artifact store for data inputs and outputs".into())
    }
}

/// Runs queued jobs of one compute target as local processes.
pub struct Executor {
    shared: Arc<Shared>,
}

/// The message of a job found held by a previous process.
pub fn reconcile_message(status: JobStatus) -> String {
    format!("the server stopped while the job was {status}; it was not resumed")
}

impl Executor {
    pub fn new(cfg: ExecutorConfig) -> Self {
        let envs = EnvBuilder::discover(cfg.env_cache.clone()).map_err(|e| e.to_string());
        Executor {
            shared: Arc::new(Shared { cfg, envs }),
        }
    }

    /// Marks every job of this compute that a worker holds as `Failed`; returns how many.
    pub async fn reconcile(&self) -> Result<usize> {
        let cfg = &self.shared.cfg;
        let jobs = cfg.store.unfinished_jobs(&cfg.compute).await?;
        let mut n = 0;
        for j in jobs {
            let msg = reconcile_message(j.status);
            match cfg
                .store
                .transition_job(
                    &j.workspace,
                    &j.name,
                    &[j.status],
                    JobStatus::Failed,
                    Some(msg.clone()),
                )
                .await
            {
                Ok(_) => {
                    n += 1;
                    let _ = cfg
                        .store
                        .append_log(&j.workspace, &j.run_id, &format!("[mlplane] {msg}\n"))
                        .await;
                }
                Err(e) => tracing::warn!(job = %j.name, "reconciling a left-over job: {e}"),
            }
        }
        Ok(n)
    }

    /// Reconciles, then runs jobs until `shutdown` completes; returns when every job task
    /// ended.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let cfg = &self.shared.cfg;
        if cfg.slots == 0 {
            return Err(ExecutorError::Config("slots must be at least 1".into()));
        }
        self.reconcile().await?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            if tasks.len() < cfg.slots {
                // A shutdown that is already due wins over claiming one more job.
                let claimed = tokio::select! {
                    biased;
                    _ = &mut shutdown => break,
                    c = cfg.store.claim_next_job(&cfg.compute, &cfg.worker) => c,
                };
                match claimed {
                    Ok(Some(j)) => {
                        tracing::info!(job = %j.name, workspace = %j.workspace, "claimed job");
                        tasks.spawn(job::run_job(self.shared.clone(), j, stop_rx.clone()));
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!("claiming a job: {e}"),
                }
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(cfg.poll) => {}
                Some(r) = tasks.join_next(), if !tasks.is_empty() => log_task_end(r),
            }
        }
        let _ = stop_tx.send(true);
        while let Some(r) = tasks.join_next().await {
            log_task_end(r);
        }
        Ok(())
    }
}

fn log_task_end(r: std::result::Result<(), tokio::task::JoinError>) {
    if let Err(e) = r {
        tracing::error!("a job task ended abnormally: {e}");
    }
}
