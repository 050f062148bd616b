//! One job, from claimed to terminal: `Preparing` (spec, environment, working folder,
//! command) → `Running` (the process) → `Finalizing` → `Completed`, or `Failed` /
//! `Canceled` with a message.
//!
//! Invariants:
//! - [`run_job`] always tries to leave the job terminal: every path returns an [`Outcome`]
//!   and one place ([`finish`]) writes it, accepting `CancelRequested` as a current status;
//! - the command runs as `/bin/sh -c <command>` in its own process group, with a cleared
//!   environment plus what is listed in [`process_env`], stdin null, cwd the job's folder
//!   (its `code/` subfolder, extracted from the code snapshot, when the spec names `code`);
//! - a stop (cancel, timeout, shutdown) sends SIGTERM to the group, then SIGKILL after
//!   [`KILL_GRACE`]; after the shell exits the group is SIGKILLed too, so no leftover
//!   process outlives its job.

use crate::environ::process_env;
use crate::process::{LogPump, signal_group};
use crate::secrets::{Secrets, resolve_secrets};
use crate::{Shared, data, spec};
use mlplane_core::{AssetKind, AssetVersionRef, Job, JobStatus, LogBatch, Tag, WorkspaceName};
use mlplane_envs::{BuiltEnv, EnvError, ResolvedEnv, spec_hash};
use mlplane_spec::{AssetRef, CommandJob, DataType, EnvSource, EnvironmentSpec, JobInput};
use std::collections::BTreeMap;
use std::future::Future;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The run tag that holds the command's exit code (or `signal <n>`).
pub const EXIT_TAG: &str = "mlplane.job.exit_code";

/// Time between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(5);
/// How long output readers may run on after the process group is gone.
const READ_GRACE: Duration = Duration::from_secs(2);
/// Longest status message written (the store allows more; the log has the rest).
const MAX_MESSAGE: usize = 2000;

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    Failed(String),
    /// Canceled by request.
    Canceled,
    /// An infrastructure failure before the process started: queue the job again.
    Retry(String),
}

/// Why waiting on something stopped early.
enum Interrupt {
    Cancel,
    Shutdown,
}

const SHUTDOWN: &str = "server shutting down";

/// Runs a claimed (`Preparing`) job to a terminal status.
pub(crate) async fn run_job(sh: Arc<Shared>, job: Job, stop: watch::Receiver<bool>) {
    let log = LogPump::start(
        sh.cfg.store.clone(),
        job.workspace.clone(),
        job.run_id.clone(),
    );
    let outcome = execute(&sh, &job, stop, log).await;
    if sh.cfg.job_tokens {
        crate::tokens::revoke(sh.cfg.store.as_ref(), &job).await;
    }
    finish(&sh, &job, outcome).await;
}

/// Writes the outcome; a job canceled meanwhile becomes `Canceled`.
async fn finish(sh: &Shared, job: &Job, outcome: Outcome) {
    let store = &sh.cfg.store;
    let (ws, name) = (&job.workspace, &job.name);
    let result = match outcome {
        Outcome::Completed => {
            let fin = store
                .transition_job(ws, name, &[JobStatus::Running], JobStatus::Finalizing, None)
                .await;
            match fin {
                Ok(_) => {
                    store
                        .transition_job(
                            ws,
                            name,
                            &[JobStatus::Finalizing, JobStatus::CancelRequested],
                            JobStatus::Completed,
                            None,
                        )
                        .await
                }
                // Canceled after the process ended, or the store failed: the job must still
                // end, as Canceled if it was asked to, else as Failed.
                Err(e) => match store
                    .transition_job(
                        ws,
                        name,
                        &[JobStatus::CancelRequested],
                        JobStatus::Canceled,
                        Some("canceled by request".into()),
                    )
                    .await
                {
                    Ok(j) => Ok(j),
                    Err(_) => {
                        store
                            .transition_job(
                                ws,
                                name,
                                &JobStatus::UNFINISHED,
                                JobStatus::Failed,
                                Some(truncate(&format!(
                                    "the process exited with code 0 but the job could not be \
                                     finalized: {e}"
                                ))),
                            )
                            .await
                    }
                },
            }
        }
        Outcome::Failed(msg) => {
            let _ = store
                .append_log(ws, &job.run_id, &format!("[mlplane] failed: {msg}\n"))
                .await;
            store
                .transition_job(
                    ws,
                    name,
                    &JobStatus::UNFINISHED,
                    JobStatus::Failed,
                    Some(truncate(&msg)),
                )
                .await
        }
        Outcome::Retry(msg) => {
            let _ = store
                .append_log(
                    ws,
                    &job.run_id,
                    &format!(
                        "[mlplane] attempt {} failed: {msg}; queued again\n",
                        job.attempt
                    ),
                )
                .await;
            let again = store
                .transition_job(
                    ws,
                    name,
                    &[JobStatus::Preparing],
                    JobStatus::Queued,
                    Some(truncate(&format!(
                        "attempt {} of {} failed, queued again: {msg}",
                        job.attempt,
                        crate::orphans::MAX_ATTEMPTS
                    ))),
                )
                .await;
            match again {
                Ok(j) => Ok(j),
                // Canceled meanwhile (or the store failed): end it instead.
                Err(_) => {
                    store
                        .transition_job(
                            ws,
                            name,
                            &JobStatus::UNFINISHED,
                            if cancel_requested(sh, job).await {
                                JobStatus::Canceled
                            } else {
                                JobStatus::Failed
                            },
                            Some(truncate(&msg)),
                        )
                        .await
                }
            }
        }
        Outcome::Canceled => {
            store
                .transition_job(
                    ws,
                    name,
                    &JobStatus::UNFINISHED,
                    JobStatus::Canceled,
                    Some("canceled by request".into()),
                )
                .await
        }
    };
    match result {
        Ok(j) => tracing::info!(job = %name, status = %j.status, "job ended"),
        Err(e) => tracing::warn!(job = %name, "recording the end of the job: {e}"),
    }
}

fn truncate(msg: &str) -> String {
    if msg.chars().count() <= MAX_MESSAGE {
        return msg.to_string();
    }
    let mut s: String = msg.chars().take(MAX_MESSAGE).collect();
    s.push('…');
    s
}

/// Awaits `fut` unless the job is canceled (checked at each cancel wake-up and every `poll`)
/// or the executor stops.
async fn guarded<T>(
    sh: &Shared,
    job: &Job,
    stop: &mut watch::Receiver<bool>,
    fut: impl Future<Output = T>,
) -> Result<T, Interrupt> {
    let mut fut = std::pin::pin!(fut);
    let mut tick = tokio::time::interval(check_every(sh));
    let mut cancels = sh.cfg.wake.cancels();
    loop {
        tokio::select! {
            v = &mut fut => return Ok(v),
            _ = stopped(stop) => return Err(Interrupt::Shutdown),
            _ = tick.tick() => {}
            Ok(()) = cancels.changed() => {}
        }
        if cancel_requested(sh, job).await {
            return Err(Interrupt::Cancel);
        }
    }
}

/// Completes when the executor is told to stop (never, if the sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        let now = *stop.borrow_and_update();
        if now {
            return;
        }
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

fn check_every(sh: &Shared) -> Duration {
    sh.cfg.poll.max(Duration::from_millis(10))
}

async fn cancel_requested(sh: &Shared, job: &Job) -> bool {
    matches!(
        sh.cfg.store.get_job(&job.workspace, &job.name).await,
        Ok(j) if j.status == JobStatus::CancelRequested
    )
}

fn interrupted(i: Interrupt) -> Outcome {
    match i {
        Interrupt::Cancel => Outcome::Canceled,
        Interrupt::Shutdown => Outcome::Failed(SHUTDOWN.into()),
    }
}

async fn execute(sh: &Shared, job: &Job, mut stop: watch::Receiver<bool>, log: LogPump) -> Outcome {
    let prepared = guarded(sh, job, &mut stop, prepare(sh, job, &log)).await;
    let (spec, env, dir, cwd, command, secrets) = match prepared {
        Ok(Ok(p)) => p,
        Ok(Err(msg)) => {
            log.finish(READ_GRACE).await;
            return crate::orphans::after_preparation_failure(job, msg);
        }
        Err(i) => {
            log.finish(READ_GRACE).await;
            return interrupted(i);
        }
    };
    if let Err(e) = sh
        .cfg
        .store
        .transition_job(
            &job.workspace,
            &job.name,
            &[JobStatus::Preparing],
            JobStatus::Running,
            None,
        )
        .await
    {
        log.finish(READ_GRACE).await;
        return if cancel_requested(sh, job).await {
            Outcome::Canceled
        } else {
            Outcome::Failed(format!("cannot start the job: {e}"))
        };
    }
    let outcome = run_process(
        sh,
        job,
        &spec,
        &env,
        (&dir, &cwd),
        (&command, &secrets),
        stop,
        log,
    )
    .await;
    if outcome != Outcome::Completed {
        return outcome;
    }
    // Outputs are registered only after a clean exit; a failure here fails the job.
    match data::register_outputs(sh, job, &spec, &dir).await {
        Ok(notes) => {
            for n in notes {
                let _ = sh
                    .cfg
                    .store
                    .append_log(&job.workspace, &job.run_id, &format!("[mlplane] {n}\n"))
                    .await;
            }
            Outcome::Completed
        }
        Err(msg) => Outcome::Failed(msg),
    }
}

/// The spec, environment, job folder, working folder, rendered command and the decrypted
/// secrets its environment variables reference.
type Prepared = (CommandJob, BuiltEnv, PathBuf, PathBuf, String, Secrets);

/// Everything before the process starts; an error is the job's failure message.
async fn prepare(sh: &Shared, job: &Job, log: &LogPump) -> Result<Prepared, String> {
    let spec =
        spec::parse_job_spec(&job.spec).map_err(|e| format!("the job spec is not valid: {e}"))?;
    let secrets = resolve_secrets(sh, job, &spec, log).await?;
    let env_spec = environment(sh, &job.workspace, &spec.environment).await?;
    let env = build_env(sh, &env_spec, log).await?;
    let dir = sh
        .cfg
        .work_root
        .join(job.workspace.as_str())
        .join(job.name.as_str());
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let mut outputs = BTreeMap::new();
    for (name, out) in &spec.outputs {
        let p = data::output_path(&dir, name);
        // A uri_file output is a file the job writes; its folder is `outputs/`.
        let folder = if out.kind == DataType::UriFile {
            dir.join("outputs")
        } else {
            p.clone()
        };
        tokio::fs::create_dir_all(&folder)
            .await
            .map_err(|e| format!("cannot create the output folder {}: {e}", folder.display()))?;
        outputs.insert(name.clone(), p.display().to_string());
    }
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| format!("cannot create the job folder {}: {e}", dir.display()))?;
    let cwd = match &spec.code {
        Some(code) => crate::code::materialize(sh, job, code, &dir, log).await?,
        None => dir.clone(),
    };
    let mut inputs = data::materialise_inputs(sh, job, &spec, &dir).await?;
    for (name, input) in &spec.inputs {
        if let JobInput::Literal(l) = input {
            inputs.insert(name.clone(), l.render());
        }
    }
    let command = spec
        .command
        .render(&inputs, &outputs)
        .map_err(|e| format!("cannot render the command: {e}"))?;
    Ok((spec, env, dir, cwd, command, secrets))
}

/// The job's environment spec: inline, or a registered asset.
async fn environment(
    sh: &Shared,
    ws: &WorkspaceName,
    src: &EnvSource,
) -> Result<EnvironmentSpec, String> {
    let (name, version) = match src {
        EnvSource::Inline(e) => return Ok(e.clone()),
        EnvSource::Asset(AssetRef::Exact { name, version }) => {
            (name, AssetVersionRef::Exact(version.clone()))
        }
        EnvSource::Asset(AssetRef::Latest { name }) => (name, AssetVersionRef::Latest),
    };
    let asset = sh
        .cfg
        .store
        .get_asset(ws, AssetKind::Environment, name, &version)
        .await
        .map_err(|e| format!("environment '{name}': {e}"))?;
    spec::parse_environment_asset(&asset.spec)
        .map_err(|e| format!("environment '{name}:{}' is not valid: {e}", asset.version))
}

/// Resolves and builds (or reuses) the environment, telling the job log.
async fn build_env(sh: &Shared, env: &EnvironmentSpec, log: &LogPump) -> Result<BuiltEnv, String> {
    if env.image.is_some() {
        return Err(
            "container images need container-capable compute; the local executor \
                    runs jobs as plain processes"
                .into(),
        );
    }
    // The server keeps no spec folder, so files an environment names cannot be read here.
    let resolved = ResolvedEnv::resolve(env, Path::new("."), |p| {
        Err(std::io::Error::other(format!(
            "{} is not available: the local executor cannot read files next to a spec",
            p.display()
        )))
    })
    .map_err(|e| format!("environment: {e}"))?;
    let builder = sh.envs.as_ref().map_err(|e| format!("environment: {e}"))?;
    let hash = spec_hash(&resolved);
    let fresh = !builder.env_dir(&hash).exists();
    if fresh {
        log.note(&format!("building environment {hash}…")).await;
    }
    let started = Instant::now();
    match builder.ensure(&resolved).await {
        Ok(b) => {
            if b.reused {
                log.note(&format!("reusing environment {hash}")).await;
            } else {
                log.note(&format!(
                    "building environment {hash}… done in {} s",
                    started.elapsed().as_secs()
                ))
                .await;
            }
            Ok(b)
        }
        Err(EnvError::Build {
            hash,
            log: path,
            tail,
        }) => {
            log.raw(format!("{tail}\n")).await;
            let why = tail
                .lines()
                .rev()
                .find(|l| l.trim_start().starts_with("error"))
                .map(|l| format!(": {}", l.trim()))
                .unwrap_or_default();
            Err(format!(
                "building environment {hash} failed{why} (log: {})",
                path.display()
            ))
        }
        Err(e) => Err(format!("environment: {e}")),
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_process(
    sh: &Shared,
    job: &Job,
    spec: &CommandJob,
    env: &BuiltEnv,
    (dir, cwd): (&Path, &Path),
    (command, secrets): (&str, &Secrets),
    mut stop: watch::Receiver<bool>,
    mut log: LogPump,
) -> Outcome {
    let token = if sh.cfg.job_tokens {
        let scope = crate::tokens::scope_of(job, spec);
        match crate::tokens::mint(sh.cfg.store.as_ref(), job, scope).await {
            Ok(t) => Some(t),
            Err(e) => {
                log.finish(READ_GRACE).await;
                return Outcome::Failed(e);
            }
        }
    } else {
        None
    };
    let token_env = token.iter().flat_map(|t| {
        [
            ("MLFLOW_TRACKING_TOKEN", t.clone()),
            ("MLPLANE_TOKEN", t.clone()),
        ]
    });
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(cwd)
        .env_clear()
        .envs(process_env(
            (sh.cfg.tracking_uri.as_deref(), sh.cfg.ca_cert.as_deref()),
            job,
            spec,
            (env, secrets),
            dir,
        ))
        .envs(token_env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            log.finish(READ_GRACE).await;
            return Outcome::Failed(format!("cannot start /bin/sh: {e}"));
        }
    };
    let Some(pgid) = child.id() else {
        log.finish(READ_GRACE).await;
        return Outcome::Failed("the process ended before it could be watched".into());
    };
    crate::orphans::record(dir, pgid);
    if let Some(out) = child.stdout.take() {
        log.read_from(out);
    }
    if let Some(err) = child.stderr.take() {
        log.read_from(err);
    }
    let timeout = spec.timeout_secs.map(Duration::from_secs);
    let deadline = async {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    let waited = {
        let wait = async {
            tokio::select! {
                s = child.wait() => Ok(s),
                _ = deadline => Err(()),
            }
        };
        guarded(sh, job, &mut stop, wait).await
    };
    let outcome = match waited {
        Ok(Ok(Ok(status))) => {
            signal_group(pgid, libc::SIGKILL);
            record_exit(sh, job, &status).await;
            if status.success() {
                Outcome::Completed
            } else if let Some(code) = status.code() {
                Outcome::Failed(format!("exited with code {code}"))
            } else {
                Outcome::Failed(format!(
                    "killed by signal {}",
                    status.signal().unwrap_or_default()
                ))
            }
        }
        Ok(Ok(Err(e))) => {
            signal_group(pgid, libc::SIGKILL);
            Outcome::Failed(format!("waiting for the process failed: {e}"))
        }
        Ok(Err(())) => {
            stop_group(pgid, &mut child).await;
            Outcome::Failed(format!(
                "timed out after {} s",
                timeout.map_or(0, |t| t.as_secs())
            ))
        }
        Err(i) => {
            stop_group(pgid, &mut child).await;
            interrupted(i)
        }
    };
    // Every path above has killed the group.
    crate::orphans::forget(dir);
    if outcome == Outcome::Canceled {
        log.note("canceled by request").await;
    }
    log.finish(READ_GRACE).await;
    outcome
}

/// Records how the command ended as the run tag [`EXIT_TAG`]: its exit code, or
/// `signal <n>` when a signal ended it. Best effort: the job's outcome does not depend on it.
async fn record_exit(sh: &Shared, job: &Job, status: &std::process::ExitStatus) {
    let value = match status.code() {
        Some(code) => code.to_string(),
        None => format!("signal {}", status.signal().unwrap_or_default()),
    };
    let batch = LogBatch {
        tags: vec![Tag {
            key: EXIT_TAG.into(),
            value,
        }],
        ..LogBatch::default()
    };
    if let Err(e) = sh
        .cfg
        .store
        .log_batch(&job.workspace, &job.run_id, batch)
        .await
    {
        tracing::warn!(job = %job.name, "cannot record the exit code: {e}");
    }
}

/// SIGTERM to the group, SIGKILL after [`KILL_GRACE`] if the shell has not exited, and a
/// final SIGKILL for anything left in the group.
async fn stop_group(pgid: u32, child: &mut tokio::process::Child) {
    signal_group(pgid, libc::SIGTERM);
    if tokio::time::timeout(KILL_GRACE, child.wait())
        .await
        .is_err()
    {
        signal_group(pgid, libc::SIGKILL);
        let _ = child.wait().await;
    }
    signal_group(pgid, libc::SIGKILL);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut() {
        let m = truncate(&"x".repeat(MAX_MESSAGE + 10));
        assert_eq!(m.chars().count(), MAX_MESSAGE + 1);
        assert_eq!(truncate("short"), "short");
    }
}
