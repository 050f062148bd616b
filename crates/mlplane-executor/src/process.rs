//! A job's process: spawned in its own process group, its merged output streamed into the
//! run log, and its group signalled as a whole.
//!
//! Signals are sent with `libc::kill(-pgid, sig)` (libc is already in the lockfile through
//! tokio), which reaches the shell and everything it started; no `nix`, no `kill` binary.
//!
//! Invariants:
//! - the output is never held whole in memory: lines (cut at [`MAX_LINE`] bytes) go through
//!   a bounded channel to one writer, which appends to the log when [`FLUSH_BYTES`] are
//!   buffered or every [`FLUSH_EVERY`], so a fast writer is slowed down, not buffered;
//! - a process group is signalled only while the executor still owns it: between spawn and
//!   the moment every reader reached end of file;
//! - every value given to [`LogPump::redact`] is replaced by `***` in the text before it is
//!   appended to the log (a value cut in two by the [`MAX_LINE`] split of an endless line is
//!   the one case it can miss).

use mlplane_core::{RunId, WorkspaceName};
use mlplane_secrets::SecretValue;
use mlplane_store::MetadataStore;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Bytes buffered before the log is appended to.
pub const FLUSH_BYTES: usize = 64 * 1024;
/// Longest time output waits in the buffer.
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// A longer line is cut into pieces of this size.
pub const MAX_LINE: u64 = 64 * 1024;
/// Lines in flight between the readers and the log writer.
const CHANNEL_LINES: usize = 64;

/// Sends `sig` to every process of the group `pgid`; a group that is gone is not an error.
pub fn signal_group(pgid: u32, sig: i32) {
    let Ok(pgid) = i32::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        return; // never signal our own group or every process
    }
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::kill(-pgid, sig) };
    if rc != 0 {
        tracing::debug!(pgid, sig, "kill: {}", std::io::Error::last_os_error());
    }
}

/// Streams the output of one process into a run's log.
pub struct LogPump {
    tx: mpsc::Sender<String>,
    writer: JoinHandle<()>,
    readers: Vec<JoinHandle<()>>,
    redactions: Redactions,
}

/// Values masked in the log, shared with the writer.
type Redactions = Arc<Mutex<Vec<SecretValue>>>;

impl LogPump {
    /// Starts the writer for `run` in `ws`.
    pub fn start(store: Arc<dyn MetadataStore>, ws: WorkspaceName, run: RunId) -> Self {
        let (tx, rx) = mpsc::channel(CHANNEL_LINES);
        let redactions = Redactions::default();
        let writer = tokio::spawn(write_log(store, ws, run, rx, redactions.clone()));
        LogPump {
            tx,
            writer,
            readers: Vec::new(),
            redactions,
        }
    }

    /// Masks `values` (a job's secrets) in everything appended to the log from now on.
    pub fn redact(&self, values: Vec<SecretValue>) {
        if let Ok(mut r) = self.redactions.lock() {
            r.extend(values);
        }
    }

    /// `text` with the masked values replaced, for messages that leave by another way.
    pub fn masked(&self, text: &str) -> String {
        match self.redactions.lock() {
            Ok(r) => mlplane_secrets::redact(text, &r),
            Err(_) => text.to_string(),
        }
    }

    /// A line of the executor's own (not the process's), prefixed with `[mlplane]`.
    pub async fn note(&self, text: &str) {
        let _ = self.tx.send(format!("[mlplane] {text}\n")).await;
    }

    /// Text as it is (e.g. the tail of a build log).
    pub async fn raw(&self, text: String) {
        let _ = self.tx.send(text).await;
    }

    /// Reads `r` line by line into the log until end of file.
    pub fn read_from<R: AsyncRead + Unpin + Send + 'static>(&mut self, r: R) {
        let tx = self.tx.clone();
        self.readers.push(tokio::spawn(read_lines(r, tx)));
    }

    /// Waits up to `grace` for the readers to reach end of file (aborting them after), then
    /// for the writer to flush everything.
    pub async fn finish(self, grace: Duration) {
        let LogPump {
            tx,
            writer,
            readers,
            ..
        } = self;
        drop(tx);
        for mut r in readers {
            if tokio::time::timeout(grace, &mut r).await.is_err() {
                r.abort();
            }
        }
        let _ = writer.await;
    }
}

async fn read_lines<R: AsyncRead + Unpin>(r: R, tx: mpsc::Sender<String>) {
    let mut reader = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut buf)
            .await
        {
            Ok(0) => return,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf).into_owned();
                if tx.send(line).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::debug!("reading job output: {e}");
                return;
            }
        }
    }
}

async fn write_log(
    store: Arc<dyn MetadataStore>,
    ws: WorkspaceName,
    run: RunId,
    mut rx: mpsc::Receiver<String>,
    redactions: Redactions,
) {
    let mut buf = String::new();
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            line = rx.recv() => match line {
                Some(l) => {
                    buf.push_str(&l);
                    if buf.len() >= FLUSH_BYTES {
                        flush(&*store, &ws, &run, &mut buf, &redactions).await;
                    }
                }
                None => break,
            },
            _ = tick.tick() => {
                if !buf.is_empty() {
                    flush(&*store, &ws, &run, &mut buf, &redactions).await;
                }
            }
        }
    }
    if !buf.is_empty() {
        flush(&*store, &ws, &run, &mut buf, &redactions).await;
    }
}

async fn flush(
    store: &dyn MetadataStore,
    ws: &WorkspaceName,
    run: &RunId,
    buf: &mut String,
    redactions: &Redactions,
) {
    let masked = match redactions.lock() {
        Ok(r) if !r.is_empty() => Some(mlplane_secrets::redact(buf, &r)),
        _ => None,
    };
    let text = masked.as_deref().unwrap_or(buf);
    if let Err(e) = store.append_log(ws, run, text).await {
        tracing::warn!(%run, "appending to the job log failed, {} bytes lost: {e}", buf.len());
    }
    buf.clear();
}
