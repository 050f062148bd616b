//! `EnvBuilder`: builds a `ResolvedEnv` as a virtualenv with `uv`, once per spec hash, and
//! hands back the cached build afterwards.
//!
//! Layout under the cache root:
//! - `<hash>/`: the virtualenv, built in place (venvs are not relocatable), with
//!   `mlplane-requirements.txt` (what was installed) and `.mlplane-complete` (see below);
//! - `<hash>.log`: the last build's log: the commands run and uv's stdout and stderr;
//! - `<hash>.lock`: the cross-process build lock (see `lock.rs`);
//! - `.uv-cache/`: uv's download and wheel cache (`UV_CACHE_DIR`), shared by every build.
//!
//! Invariants:
//! - an environment directory is complete iff `.mlplane-complete` exists, holds exactly
//!   the spec's canonical text and `bin/python` exists; the marker is written last (via a
//!   rename); a directory that is not complete is removed and built again;
//! - one build per hash at a time: in one process a per-hash async mutex serializes
//!   `ensure` calls, across processes the `<hash>.lock` file lock does; both re-check the
//!   marker after waiting, so concurrent callers build once and all get the same directory;
//! - no shell: uv runs with explicit arguments, requirements go through a file, the python
//!   version is digits and dots (checked in `resolve.rs`) and paths are absolute, so no
//!   value can be read as an option;
//! - a child uv is killed when its `ensure` future is dropped (`kill_on_drop`) or the build
//!   timeout passes; a failed or timed-out build leaves its log and no environment dir.

use crate::error::{EnvError, Result};
use crate::lock;
use crate::resolve::{ResolvedEnv, spec_hash};
use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a build may take before uv is killed.
pub const DEFAULT_BUILD_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// Extra time a waiter gives another process's build before giving up on its lock.
const LOCK_GRACE: Duration = Duration::from_secs(60);
const MARKER: &str = ".mlplane-complete";
const REQUIREMENTS: &str = "mlplane-requirements.txt";
/// Lines of the log a `Build` error carries.
const TAIL_LINES: usize = 40;
const TAIL_BYTES: u64 = 64 * 1024;

const INSTALL_HINT: &str = "set MLPLANE_UV to the uv binary, put uv on PATH, or install it \
with `python3 -m venv ~/.cache/mlplane/tools/uv && ~/.cache/mlplane/tools/uv/bin/pip install uv` \
(scripts/test.sh does this through ensure_uv in scripts/common.sh)";

/// A built (or reused) environment.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltEnv {
    pub hash: String,
    /// The virtualenv's directory.
    pub dir: PathBuf,
    /// `dir/bin/python`: the interpreter a job runs with.
    pub python: PathBuf,
    /// The log of the build that made `dir`.
    pub build_log: PathBuf,
    /// `true` when an earlier build was reused.
    pub reused: bool,
    /// Seconds this `ensure` call took, waiting for another builder included.
    pub build_secs: f64,
}

type Slots = Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>;

/// Builds environments into a cache folder with a given `uv` binary.
#[derive(Debug)]
pub struct EnvBuilder {
    cache_root: PathBuf,
    uv: PathBuf,
    timeout: Duration,
    slots: Slots,
    builds: AtomicU64,
}

impl EnvBuilder {
    /// A builder caching under `cache_root` (made absolute) and running `uv`.
    pub fn new(cache_root: PathBuf, uv: PathBuf) -> Self {
        let cache_root = std::path::absolute(&cache_root).unwrap_or(cache_root);
        EnvBuilder {
            cache_root,
            uv,
            timeout: DEFAULT_BUILD_TIMEOUT,
            slots: Mutex::new(HashMap::new()),
            builds: AtomicU64::new(0),
        }
    }

    /// A builder with `uv` found by [`find_uv`].
    pub fn discover(cache_root: PathBuf) -> Result<Self> {
        Ok(EnvBuilder::new(cache_root, find_uv()?))
    }

    /// Sets the build timeout (default [`DEFAULT_BUILD_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn cache_root(&self) -> &Path {
        &self.cache_root
    }

    pub fn uv(&self) -> &Path {
        &self.uv
    }

    /// How many builds this builder has started (reuses are not counted).
    pub fn builds_started(&self) -> u64 {
        self.builds.load(Ordering::SeqCst)
    }

    /// The environment directory for a hash.
    pub fn env_dir(&self, hash: &str) -> PathBuf {
        self.cache_root.join(hash)
    }

    /// The build log for a hash.
    pub fn log_path(&self, hash: &str) -> PathBuf {
        self.cache_root.join(format!("{hash}.log"))
    }

    /// Builds `env` unless a complete build of the same spec exists, and returns it.
    pub async fn ensure(&self, env: &ResolvedEnv) -> Result<BuiltEnv> {
        let started = Instant::now();
        if let Some(image) = &env.image {
            return Err(EnvError::Unsupported(format!(
                "the environment uses the container image '{image}': container images need \
                 container-capable compute, and the local executor runs jobs as plain processes"
            )));
        }
        let hash = spec_hash(env);
        let spec = env.canonical_text();
        let dir = self.env_dir(&hash);
        let log = self.log_path(&hash);
        let slot = SlotGuard::take(&self.slots, &hash);
        let reused = {
            let _in_process = slot.slot.lock().await;
            if is_complete(&dir, &spec).await {
                true
            } else {
                tokio::fs::create_dir_all(&self.cache_root)
                    .await
                    .map_err(EnvError::io(format!(
                        "cannot create the cache folder {}",
                        self.cache_root.display()
                    )))?;
                let lock_path = self.cache_root.join(format!("{hash}.lock"));
                let _across_processes =
                    lock::acquire(&lock_path, self.timeout + LOCK_GRACE).await?;
                if is_complete(&dir, &spec).await {
                    true
                } else {
                    self.build(&hash, &spec, env, &dir, &log).await?;
                    false
                }
            }
        };
        drop(slot);
        Ok(BuiltEnv {
            python: dir.join("bin").join("python"),
            hash,
            dir,
            build_log: log,
            reused,
            build_secs: started.elapsed().as_secs_f64(),
        })
    }

    /// Builds into `dir`; the caller holds both locks for `hash`.
    async fn build(
        &self,
        hash: &str,
        spec: &str,
        env: &ResolvedEnv,
        dir: &Path,
        log_path: &Path,
    ) -> Result<()> {
        self.builds.fetch_add(1, Ordering::SeqCst);
        tracing::info!(hash, dir = %dir.display(), "building python environment");
        remove_dir(dir).await?;
        let mut log = File::create(log_path).map_err(EnvError::io(format!(
            "cannot create the build log {}",
            log_path.display()
        )))?;
        let header = format!("# mlplane environment {hash}\n# spec:\n{spec}");
        log_line(&mut log, &header);
        let outcome = tokio::time::timeout(self.timeout, self.steps(env, dir, &log)).await;
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(Step::Failed(why))) => Some(why),
            Ok(Err(Step::Env(e))) => {
                log_line(&mut log, &format!("# error: {e}"));
                remove_dir(dir).await?;
                return Err(e);
            }
            Err(_) => Some(format!(
                "the build timed out after {}s and uv was killed",
                self.timeout.as_secs_f64()
            )),
        };
        if let Some(why) = failure {
            log_line(&mut log, &format!("# failed: {why}"));
            drop(log);
            remove_dir(dir).await?;
            tracing::warn!(hash, log = %log_path.display(), "environment build failed: {why}");
            return Err(EnvError::Build {
                hash: hash.to_string(),
                log: log_path.to_path_buf(),
                tail: tail(log_path),
            });
        }
        let tmp = dir.join(format!("{MARKER}.tmp"));
        tokio::fs::write(&tmp, spec)
            .await
            .map_err(EnvError::io(format!("cannot write {}", tmp.display())))?;
        tokio::fs::rename(&tmp, dir.join(MARKER))
            .await
            .map_err(EnvError::io(format!("cannot complete {}", dir.display())))?;
        log_line(&mut log, "# complete");
        Ok(())
    }

    /// `uv venv`, then `uv pip install -r` when there is anything to install.
    async fn steps(
        &self,
        env: &ResolvedEnv,
        dir: &Path,
        log: &File,
    ) -> std::result::Result<(), Step> {
        let python: OsString = match &env.python {
            Some(v) => v.into(),
            None => {
                find_on_path("python3").map_or_else(|| "python3".into(), PathBuf::into_os_string)
            }
        };
        let venv: Vec<OsString> = vec![
            "venv".into(),
            "--color".into(),
            "never".into(),
            "--python".into(),
            python,
            dir.into(),
        ];
        self.run(&venv, &self.cache_root, log).await?;
        let python = dir.join("bin").join("python");
        if tokio::fs::metadata(&python).await.is_err() {
            return Err(Step::Failed(format!(
                "uv venv finished but {} does not exist",
                python.display()
            )));
        }
        if env.requirements.is_empty() {
            return Ok(());
        }
        let reqs = dir.join(REQUIREMENTS);
        let mut text = env.requirements.join("\n");
        text.push('\n');
        tokio::fs::write(&reqs, text)
            .await
            .map_err(|e| Step::Env(EnvError::io(format!("cannot write {}", reqs.display()))(e)))?;
        let install: Vec<OsString> = vec![
            "pip".into(),
            "install".into(),
            "--color".into(),
            "never".into(),
            "--python".into(),
            python.into(),
            "-r".into(),
            reqs.into(),
        ];
        self.run(&install, dir, log).await
    }

    /// Runs uv with `args`, its output appended to `log`.
    async fn run(
        &self,
        args: &[OsString],
        cwd: &Path,
        log: &File,
    ) -> std::result::Result<(), Step> {
        let shown: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let mut w = log;
        log_line(
            &mut w,
            &format!("$ {} {}", self.uv.display(), shown.join(" ")),
        );
        let out = |what: &str| {
            log.try_clone().map_err(|e| {
                Step::Env(EnvError::io(format!(
                    "cannot share the build log with uv's {what}"
                ))(e))
            })
        };
        let mut child = tokio::process::Command::new(&self.uv)
            .args(args)
            .env("UV_CACHE_DIR", self.cache_root.join(".uv-cache"))
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out("stdout")?))
            .stderr(Stdio::from(out("stderr")?))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                Step::Env(EnvError::Uv(format!(
                    "cannot run {}: {e}; {INSTALL_HINT}",
                    self.uv.display()
                )))
            })?;
        let started = Instant::now();
        let status = child
            .wait()
            .await
            .map_err(|e| Step::Env(EnvError::io("cannot wait for uv")(e)))?;
        let secs = started.elapsed().as_secs_f64();
        log_line(&mut w, &format!("# {status} after {secs:.1}s"));
        if status.success() {
            Ok(())
        } else {
            Err(Step::Failed(format!(
                "uv {} exited with {status}",
                shown[..2.min(shown.len())].join(" ")
            )))
        }
    }
}

/// Why a build step stopped.
enum Step {
    /// uv ran and failed: a build error.
    Failed(String),
    /// We could not run it: an error of ours.
    Env(EnvError),
}

/// Holds a per-hash in-process mutex; drops the map's entry when the last user leaves.
struct SlotGuard<'a> {
    slots: &'a Slots,
    hash: String,
    slot: Arc<tokio::sync::Mutex<()>>,
}

impl<'a> SlotGuard<'a> {
    fn take(slots: &'a Slots, hash: &str) -> Self {
        let mut map = slots.lock().unwrap_or_else(|p| p.into_inner());
        let slot = map.entry(hash.to_string()).or_default().clone();
        SlotGuard {
            slots,
            hash: hash.to_string(),
            slot,
        }
    }
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        let mut map = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        // Clones are made only under the map's lock, so two references (the map's and
        // ours) mean nobody else is waiting on this slot.
        if Arc::strong_count(&self.slot) == 2 {
            map.remove(&self.hash);
        }
    }
}

async fn is_complete(dir: &Path, spec: &str) -> bool {
    match tokio::fs::read_to_string(dir.join(MARKER)).await {
        Ok(text) => {
            text == spec
                && tokio::fs::metadata(dir.join("bin").join("python"))
                    .await
                    .is_ok()
        }
        Err(_) => false,
    }
}

async fn remove_dir(dir: &Path) -> Result<()> {
    match tokio::fs::remove_dir_all(dir).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(EnvError::io(format!("cannot remove {}", dir.display()))(e))
        }
        _ => Ok(()),
    }
}

/// Appends a line to the log; a log that cannot be written must not fail the build.
fn log_line(mut log: impl Write, text: &str) {
    if let Err(e) = writeln!(log, "{text}") {
        tracing::warn!("cannot write to an environment build log: {e}");
    }
}

/// The last [`TAIL_LINES`] lines of a log.
fn tail(path: &Path) -> String {
    let read = || -> std::io::Result<String> {
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    match read() {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
        }
        Err(e) => format!("(cannot read the log: {e})"),
    }
}

/// An executable file called `name` in a folder of `$PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Finds uv: `$MLPLANE_UV`, else `uv` on `$PATH`, else `uv/bin/uv` in the tools folder
/// (`$MLPLANE_TOOLS_DIR`, default `~/.cache/mlplane/tools`).
pub fn find_uv() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("MLPLANE_UV").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(EnvError::Uv(format!(
                "MLPLANE_UV is {} but there is no such file; {INSTALL_HINT}",
                p.display()
            )))
        };
    }
    if let Some(p) = find_on_path("uv") {
        return Ok(p);
    }
    let mut tools = Vec::new();
    if let Some(d) = std::env::var_os("MLPLANE_TOOLS_DIR").filter(|p| !p.is_empty()) {
        tools.push(PathBuf::from(d));
    }
    if let Some(home) = std::env::var_os("HOME").filter(|p| !p.is_empty()) {
        tools.push(Path::new(&home).join(".cache/mlplane/tools"));
    }
    tools
        .into_iter()
        .map(|d| d.join("uv/bin/uv"))
        .find(|p| p.is_file())
        .ok_or_else(|| EnvError::Uv(format!("uv was not found; {INSTALL_HINT}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> ResolvedEnv {
        ResolvedEnv {
            python: None,
            requirements: vec!["six".into()],
            image: None,
        }
    }

    #[tokio::test]
    async fn failing_uv_is_a_build_error_and_frees_the_slot() {
        let root = tempfile::tempdir().expect("tempdir");
        let b = EnvBuilder::new(root.path().to_path_buf(), "/bin/false".into());
        let err = b.ensure(&env()).await.expect_err("uv fails");
        let EnvError::Build { hash, log, tail } = err else {
            panic!("unexpected {err:?}");
        };
        assert!(tail.contains("exited with"), "{tail}");
        assert!(log.is_file());
        assert!(!root.path().join(&hash).exists());
        assert!(b.slots.lock().expect("slots").is_empty());
    }

    #[tokio::test]
    async fn uv_that_makes_no_interpreter_is_a_build_error() {
        let root = tempfile::tempdir().expect("tempdir");
        let b = EnvBuilder::new(root.path().to_path_buf(), "/bin/true".into());
        let err = b.ensure(&env()).await.expect_err("no bin/python");
        let EnvError::Build { hash, tail, .. } = err else {
            panic!("unexpected {err:?}");
        };
        assert!(tail.contains("does not exist"), "{tail}");
        assert!(!root.path().join(&hash).join(MARKER).exists());
    }
}
