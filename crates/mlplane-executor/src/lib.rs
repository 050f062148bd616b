//! The scheduler and the local executor: claims queued command jobs of the compute targets
//! it serves (the built-in `local` plus every `compute` asset of its backend's type, each
//! with its own slots) and hands each to a [`Backend`]; [`LocalBackend`] runs it as a local
//! process group, in a Python environment built by `mlplane-envs`.
//!
//! [`Executor::run`] first reconciles: every job the store shows as held by a worker of a
//! served target (`Preparing`, `Running`, `Finalizing`, `CancelRequested`) was left by a
//! previous process; a `Preparing` one is queued again while attempts remain, any other is
//! marked `Failed` with a message saying so, after its orphaned process group was killed
//! (see [`orphans`]); nothing is resumed. Then it
//! claims jobs while a slot is free, each running in its own task (see [`job`]), and sleeps
//! until a [`Wake`] from the server (a job submitted) or at most `poll` when nothing is
//! queued. On shutdown it stops claiming, tells every task to stop
//! (their process groups are killed and the jobs marked `Failed`) and returns when all
//! tasks ended.
//!
//! Invariants:
//! - every claimed job ends in a terminal status with a message saying why (or is left for
//!   the next start's reconciliation if the store cannot be reached);
//! - at most `slots` jobs of each target are held at once;
//! - only infrastructure failures before the command started are retried, at most
//!   [`orphans::MAX_ATTEMPTS`] attempts in all;
//! - no shell runs except `/bin/sh -c` with the job's own rendered command;
//! - a job's processes run in their own process group, which is killed on cancel, timeout
//!   and shutdown.

pub mod backend;
mod code;
pub mod data;
pub mod environ;
pub mod job;
pub mod orphans;
pub mod process;
pub mod secrets;
pub mod spec;
pub mod tokens;
pub mod wake;

pub use backend::{Backend, LocalBackend};
pub use wake::Wake;

use mlplane_core::{AssetKind, JobStatus, PageRequest, WorkspaceName};
use mlplane_envs::EnvBuilder;
use mlplane_store::MetadataStore;
use std::collections::HashMap;
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
    /// Where jobs' code snapshots (and other files) are read from.
    pub artifacts: mlplane_artifacts::ArtifactStore,
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
    /// cancellation is checked. With a [`Wake`] wired to the server
    /// this is only the fallback for jobs submitted or canceled through another server.
    pub poll: Duration,
    /// Wakes the claim loop on submit and job tasks on cancel.
    pub wake: Wake,
    /// Give each job's process its own API token (servers with `--auth on`).
    pub job_tokens: bool,
    /// Decrypts the secrets a job's environment variables reference; without it such a job
    /// fails before its process starts.
    pub secrets_key: Option<Arc<mlplane_secrets::MasterKey>>,
    /// A CA bundle jobs trust for an `https://` tracking URI, exported as `MLPLANE_CA_CERT`,
    /// `REQUESTS_CA_BUNDLE` and `MLFLOW_TRACKING_SERVER_CERT_PATH`; without it a loopback
    /// `https://` URI is used with `MLFLOW_TRACKING_INSECURE_TLS=true`.
    pub ca_cert: Option<PathBuf>,
}

/// What every job task shares.
pub(crate) struct Shared {
    pub cfg: ExecutorConfig,
    /// The environment builder, or why there is none (uv missing).
    pub envs: std::result::Result<EnvBuilder, String>,
}

/// A compute target the scheduler serves, with its capacity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub slots: usize,
}

/// Schedules queued jobs of the compute targets of its backend's type onto that backend.
pub struct Executor {
    shared: Arc<Shared>,
    backend: Arc<dyn Backend>,
}

/// The message of a job found held by a previous process.
pub fn reconcile_message(status: JobStatus) -> String {
    format!("the server stopped while the job was {status}; it was not resumed")
}

impl Executor {
    /// An executor running jobs as local processes ([`LocalBackend`]).
    pub fn new(cfg: ExecutorConfig) -> Self {
        let envs = EnvBuilder::discover(cfg.env_cache.clone()).map_err(|e| e.to_string());
        let shared = Arc::new(Shared { cfg, envs });
        let backend = Arc::new(LocalBackend {
            shared: shared.clone(),
        });
        Executor { shared, backend }
    }

    /// An executor handing its jobs to `backend` (targets of `backend.compute_type()`).
    pub fn with_backend(cfg: ExecutorConfig, backend: Arc<dyn Backend>) -> Self {
        let envs = EnvBuilder::discover(cfg.env_cache.clone()).map_err(|e| e.to_string());
        Executor {
            shared: Arc::new(Shared { cfg, envs }),
            backend,
        }
    }

    /// The targets served: the built-in one (`compute`, `slots`) when the backend is local,
    /// then every compute target defined in the store whose type is the backend's. A store
    /// error leaves only the built-in target, until the next look.
    pub async fn targets(&self) -> Vec<Target> {
        let cfg = &self.shared.cfg;
        let kind = self.backend.compute_type();
        let mut out = Vec::new();
        if kind == "local" {
            out.push(Target {
                name: cfg.compute.clone(),
                slots: cfg.slots,
            });
        }
        let ws = WorkspaceName::default_workspace();
        let mut token = None;
        loop {
            let page = PageRequest {
                max_results: 100,
                page_token: token,
            };
            let p = match cfg
                .store
                .list_assets(&ws, AssetKind::Compute, false, &page)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!("listing compute targets: {e}");
                    break;
                }
            };
            for a in p.items {
                let spec: serde_json::Value = serde_json::from_str(&a.spec).unwrap_or_default();
                let slots = spec["slots"].as_u64().unwrap_or(0) as usize;
                if spec["type"].as_str() == Some(kind) && slots > 0 && a.name != cfg.compute {
                    out.push(Target {
                        name: a.name,
                        slots,
                    });
                }
            }
            match p.next_page_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        out
    }

    /// Settles every job of the served targets that a worker held: a `Preparing` one is
    /// queued again while attempts remain ([`orphans::MAX_ATTEMPTS`]); any other is marked
    /// `Failed`, after the backend killed what was left of it. Returns how many.
    pub async fn reconcile(&self) -> Result<usize> {
        let mut n = 0;
        for t in self.targets().await {
            n += self.reconcile_target(&t.name).await?;
        }
        Ok(n)
    }

    async fn reconcile_target(&self, compute: &str) -> Result<usize> {
        let cfg = &self.shared.cfg;
        let jobs = cfg.store.unfinished_jobs(compute).await?;
        let mut n = 0;
        for j in jobs {
            // A dead job's token dies with it.
            tokens::revoke(cfg.store.as_ref(), &j).await;
            // Worker lost before the command started: an infrastructure failure, so the job
            // is queued again while attempts remain.
            let (to, msg) = if j.status == JobStatus::Preparing && j.attempt < orphans::MAX_ATTEMPTS
            {
                (
                    JobStatus::Queued,
                    format!(
                        "the server stopped while the job was Preparing (attempt {} of {}); queued again",
                        j.attempt,
                        orphans::MAX_ATTEMPTS
                    ),
                )
            } else {
                (
                    JobStatus::Failed,
                    format!(
                        "{}{}",
                        reconcile_message(j.status),
                        self.backend.clean_up_lost(&j)
                    ),
                )
            };
            match cfg
                .store
                .transition_job(&j.workspace, &j.name, &[j.status], to, Some(msg.clone()))
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
    /// ended. Each target holds at most its `slots` jobs at once.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let cfg = &self.shared.cfg;
        if cfg.slots == 0 {
            return Err(ExecutorError::Config("slots must be at least 1".into()));
        }
        self.reconcile().await?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        // Which target each task holds a slot of, and how many slots each target uses.
        let mut holder: HashMap<tokio::task::Id, String> = HashMap::new();
        let mut running: HashMap<String, usize> = HashMap::new();
        let mut shutdown = std::pin::pin!(shutdown);
        'serve: loop {
            let targets = self.targets().await;
            let mut claimed_any = false;
            for t in &targets {
                if running.get(&t.name).copied().unwrap_or(0) >= t.slots {
                    continue;
                }
                // A shutdown that is already due wins over claiming one more job.
                let claimed = tokio::select! {
                    biased;
                    _ = &mut shutdown => break 'serve,
                    c = cfg.store.claim_next_job(&t.name, &cfg.worker) => c,
                };
                match claimed {
                    Ok(Some(j)) => {
                        tracing::info!(job = %j.name, workspace = %j.workspace, compute = %t.name, "claimed job");
                        let handle = tasks.spawn(self.backend.run(j, stop_rx.clone()));
                        holder.insert(handle.id(), t.name.clone());
                        *running.entry(t.name.clone()).or_default() += 1;
                        claimed_any = true;
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(compute = %t.name, "claiming a job: {e}"),
                }
            }
            if claimed_any {
                continue;
            }
            let free = targets
                .iter()
                .any(|t| running.get(&t.name).copied().unwrap_or(0) < t.slots);
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(cfg.poll) => {}
                _ = cfg.wake.submitted(), if free => {}
                Some(r) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                    let id = match &r {
                        Ok((id, ())) => *id,
                        Err(e) => e.id(),
                    };
                    if let Some(name) = holder.remove(&id)
                        && let Some(n) = running.get_mut(&name)
                    {
                        *n = n.saturating_sub(1);
                    }
                    log_task_end(r.map(|_| ()));
                }
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
