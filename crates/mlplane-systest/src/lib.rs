//! Harness for system tests: starts the real `mlplane` binary as a child process on a free
//! port over a data directory, and talks to it over HTTP like any client.
//!
//! The binary is found next to the test executable (`target/<profile>/mlplane`), which
//! `cargo test --workspace` builds before running tests, or at `$MLPLANE_BIN`.
//!
//! Invariants:
//! - a [`Server`] kills its child on drop, so a failing test leaves no process behind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An HTTP client for tests (installs the TLS crypto provider reqwest expects).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("invariant: a default reqwest client builds")
}

/// Path of the `mlplane` binary under test.
pub fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("MLPLANE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("invariant: tests know their own path");
    // target/<profile>/deps/<test> -> target/<profile>/mlplane
    let profile_dir = exe.parent().and_then(Path::parent).expect("invariant: test lives in target/<profile>/deps");
    profile_dir.join("mlplane")
}

/// A running server process.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Server {
    /// Starts `mlplane server --port 0 --data-dir <dir>` with extra args and waits until it
    /// prints its URL.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        let bin = binary();
        assert!(bin.exists(), "mlplane binary not found at {} (build it or set MLPLANE_BIN)", bin.display());
        let mut child = Command::new(&bin)
            .args(["server", "--host", "127.0.0.1", "--port", "0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .env("MLPLANE_LOG", "warn")
            .spawn()
            .expect("spawn mlplane");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("mlplane listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(u) => u,
            Err(_) => {
                let _ = child.kill();
                panic!("mlplane did not report its URL within 60 s");
            }
        };
        Server { child, url }
    }

    /// `kill -9`: no chance to flush or clean up.
    pub fn kill_hard(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for exit; returns the exit status success.
    pub fn terminate(mut self, within: Duration) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn api(&self) -> String {
        format!("{}/api/v1/workspaces/default", self.url)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
