//! The cross-process lock that makes one process at a time build a given environment.
//!
//! Choice: an advisory `flock` on `<cache_root>/<hash>.lock` through the standard
//! library's `File::try_lock` (no libc). The kernel drops the lock when its holder exits or
//! is killed, so there is no stale-lock detection to get wrong (an `O_EXCL` lock file left
//! by a killed process needs an age rule, and two waiters can both "break" it).
//!
//! Invariants:
//! - the lock file is never removed: removing it could let a process lock a fresh file
//!   while another still holds the old one, and both would build;
//! - waiting polls `try_lock` with backoff on the async runtime, so a dropped `ensure`
//!   future stops waiting at once and never blocks a runtime thread;
//! - the lock is held exactly as long as the `FileLock` value lives.

use crate::error::{EnvError, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

/// A held lock; released when dropped (closing the file releases the `flock`).
#[derive(Debug)]
pub(crate) struct FileLock {
    _file: File,
}

/// Takes the lock on `path`, waiting at most `wait` for another holder to let go.
pub(crate) async fn acquire(path: &Path, wait: Duration) -> Result<FileLock> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(EnvError::io(format!(
            "cannot open lock file {}",
            path.display()
        )))?;
    let started = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(FileLock { _file: file }),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => {
                return Err(EnvError::io(format!("cannot lock {}", path.display()))(e));
            }
        }
        if started.elapsed() >= wait {
            return Err(EnvError::io(format!(
                "another process still holds {} after {}s",
                path.display(),
                wait.as_secs()
            ))(std::io::ErrorKind::TimedOut.into()));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}
