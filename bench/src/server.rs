//! Starting and stopping a server under test: a free loopback port, a child process in its
//! own process group with its output in a log file, a readiness poll, and a stop that
//! signals the whole group (mlflow forks uvicorn workers, a job runner and huey consumers).
//!
//! Invariants:
//! - every server is started with `process_group(0)`, so its pid is its process group id
//!   and one signal to `-pgid` reaches all the processes it spawned;
//! - a `Server` that is dropped without `stop` kills its group with SIGKILL, so an error or
//!   Ctrl-C in the bench never leaves a server running;
//! - `stop` returns only once no live process is left in the group, so the next server's
//!   memory and CPU figures are not disturbed by the previous one.

use crate::procfs;
use anyhow::{Context, Result, bail};
use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("bind an ephemeral port")?;
    Ok(l.local_addr()?.port())
}

/// A running server under test.
pub struct Server {
    pub name: String,
    child: Child,
    log: PathBuf,
    stopped: bool,
}

impl Server {
    /// Spawns `cmd` in a new process group, stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<Self> {
        let out = File::create(log).with_context(|| format!("create {}", log.display()))?;
        let err = out.try_clone()?;
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = cmd
            .spawn()
            .with_context(|| format!("start {name}: {cmd:?}"))?;
        Ok(Self {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
            stopped: false,
        })
    }

    /// The root process id (also the process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Polls `url` until it answers 2xx, failing early if the server exits.
    pub async fn wait_ready(
        &mut self,
        client: &reqwest::Client,
        url: &str,
        timeout: Duration,
    ) -> Result<Duration> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited with {status} before it was ready; log tail:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            let probe = client.get(url).timeout(Duration::from_secs(2)).send().await;
            if let Ok(resp) = probe
                && resp.status().is_success()
            {
                return Ok(start.elapsed());
            }
            if start.elapsed() > timeout {
                bail!(
                    "{} was not ready at {url} after {timeout:?}; log tail:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Sends SIGTERM to the group, waits up to 20 s for it to empty, then SIGKILLs it.
    pub async fn stop(&mut self) -> Result<()> {
        self.stopped = true;
        signal_group(self.pid(), "TERM");
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            let _ = self.child.try_wait();
            if !procfs::group_alive(self.pid()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!(
            "bench: {} did not stop within 20 s of SIGTERM, sending SIGKILL",
            self.name
        );
        signal_group(self.pid(), "KILL");
        let _ = self.child.wait();
        Ok(())
    }

    /// The last lines of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.stopped {
            signal_group(self.pid(), "KILL");
            let _ = self.child.wait();
        }
    }
}

/// `kill -s SIG -- -pgid`; failures are ignored (the group may already be gone).
fn signal_group(pgid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args(["-s", sig, "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// First line of `program args...` on stdout, or "unknown".
pub fn command_line_output(program: &Path, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(|l| l.trim().to_string())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
