//! The seam between the scheduler and what runs a job.
//!
//! The scheduler ([`crate::Executor::run`]) knows compute targets, slots, claims, wake-ups
//! and shutdown; a [`Backend`] knows how to run one claimed job of its compute type to a
//! terminal status. [`LocalBackend`] runs jobs as local process groups (see [`crate::job`]).
//! A Ray, Slurm or Kubernetes backend implements the same trait (submit the job to the
//! cluster, follow it, write its end through `JobStore::transition_job`) and is handed to
//! [`crate::Executor::with_backend`]; the scheduler does not change.
//!
//! Invariant: a backend's `run` future ends only when the job is terminal (or could not be
//! written, in which case the next start's reconciliation fails it), and it stops the job
//! when `stop` turns true.

use crate::Shared;
use mlplane_core::Job;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::watch;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Runs claimed jobs of one compute type.
pub trait Backend: Send + Sync + 'static {
    /// The `type` of the compute targets this backend serves (`local`).
    fn compute_type(&self) -> &'static str;

    /// Runs a claimed (`Preparing`) job to a terminal status; stops it when `stop` turns
    /// true.
    fn run(&self, job: Job, stop: watch::Receiver<bool>) -> BoxFuture<()>;

    /// Cleans up after a job a previous server held when it died (e.g. kills what is left
    /// of it); returns a clause for the job's failure message, or an empty string.
    fn clean_up_lost(&self, job: &Job) -> String {
        let _ = job;
        String::new()
    }
}

/// Jobs as process groups on this machine.
pub struct LocalBackend {
    pub(crate) shared: Arc<Shared>,
}

impl Backend for LocalBackend {
    fn compute_type(&self) -> &'static str {
        "local"
    }

    fn run(&self, job: Job, stop: watch::Receiver<bool>) -> BoxFuture<()> {
        Box::pin(crate::job::run_job(self.shared.clone(), job, stop))
    }

    /// Kills the job's process group if it outlived the server (see [`crate::orphans`]).
    fn clean_up_lost(&self, job: &Job) -> String {
        let dir = self
            .shared
            .cfg
            .work_root
            .join(job.workspace.as_str())
            .join(job.name.as_str());
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        crate::orphans::kill_orphan(&dir).describe()
    }
}
