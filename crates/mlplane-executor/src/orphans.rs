//! Process groups a previous server left behind, and infrastructure failures worth another
//! attempt.
//!
//! When a job's process starts, [`record`] writes `<job dir>/.mlplane-process` holding its
//! process group id and the leader's start time (`/proc/<pid>/stat` field 22, clock ticks
//! since boot); [`forget`] removes it when the job's group has been killed. After a crash
//! the file is still there, and [`kill_orphan`] kills the group if it is still ours:
//! - the leader still exists with the recorded start time: ours;
//! - the leader's pid exists with another start time: the pid was reused, not ours;
//! - the leader is gone: Linux does not hand out a pid that is still some process group's
//!   id, so every process whose group is the recorded id is a left-over member of ours.
//!
//! Invariant: nothing is signalled without a matching record, and never group 0 or 1.

use crate::process::signal_group;
use std::path::{Path, PathBuf};

/// The record's file name inside a job's folder.
pub const RECORD: &str = ".mlplane-process";

/// How many times a job is claimed at most when its failures are infrastructure failures.
pub const MAX_ATTEMPTS: u32 = 3;

fn record_path(job_dir: &Path) -> PathBuf {
    job_dir.join(RECORD)
}

/// Fields of `/proc/<pid>/stat` after the command name: (state, ppid, pgrp, ..., starttime).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces or parentheses.
    let rest = &text[text.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// The start time of `pid` in clock ticks since boot.
pub fn start_time(pid: u32) -> Option<u64> {
    // Field 22 overall is index 19 after the pid and the command name.
    stat_fields(pid)?.get(19)?.parse().ok()
}

fn group_of(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(2)?.parse().ok()
}

/// Records the running job's process group (best effort: a job without a record is only
/// not cleaned up after a crash).
pub fn record(job_dir: &Path, pgid: u32) {
    let Some(start) = start_time(pgid) else {
        return;
    };
    let path = record_path(job_dir);
    if let Err(e) = std::fs::write(&path, format!("{pgid} {start}\n")) {
        tracing::warn!("writing {}: {e}", path.display());
    }
}

/// Removes the record once the job's group is gone.
pub fn forget(job_dir: &Path) {
    let _ = std::fs::remove_file(record_path(job_dir));
}

/// Whether any process still belongs to group `pgid`.
fn group_alive(pgid: u32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .any(|pid| group_of(pid) == Some(pgid))
}

/// What [`kill_orphan`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Orphan {
    /// No record: the process had not started, or its end was recorded.
    None,
    /// The recorded group had no process left.
    Gone { pgid: u32 },
    /// The recorded pid now belongs to another process: nothing was signalled.
    Reused { pgid: u32 },
    /// The group was still running and got SIGKILL.
    Killed { pgid: u32 },
}

impl Orphan {
    /// The clause added to the job's failure message.
    pub fn describe(&self) -> String {
        match self {
            Orphan::None => String::new(),
            Orphan::Gone { pgid } => format!("; its process group {pgid} had already ended"),
            Orphan::Reused { pgid } => format!(
                "; its process group {pgid} had ended (the pid now belongs to another process, which was left alone)"
            ),
            Orphan::Killed { pgid } => {
                format!("; its process group {pgid} was still running and was killed")
            }
        }
    }
}

/// Kills the process group recorded in `job_dir` if it is still the job's; removes the
/// record.
pub fn kill_orphan(job_dir: &Path) -> Orphan {
    let path = record_path(job_dir);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Orphan::None;
    };
    let mut parts = text.split_whitespace().map(str::parse::<u64>);
    let (Some(Ok(pgid)), Some(Ok(start))) = (parts.next(), parts.next()) else {
        forget(job_dir);
        return Orphan::None;
    };
    let Ok(pgid) = u32::try_from(pgid) else {
        forget(job_dir);
        return Orphan::None;
    };
    let found = match start_time(pgid) {
        Some(s) if s == start => Orphan::Killed { pgid },
        Some(_) => Orphan::Reused { pgid },
        None if group_alive(pgid) => Orphan::Killed { pgid },
        None => Orphan::Gone { pgid },
    };
    if let Orphan::Killed { pgid } = found {
        signal_group(pgid, libc::SIGKILL);
    }
    forget(job_dir);
    found
}

/// Whether a preparation failure is the infrastructure's (the package index could not be
/// reached), so another attempt may succeed. A command's own failure never is.
pub fn is_infrastructure(message: &str) -> bool {
    const MARKERS: &[&str] = &[
        "connect error",
        "Connection refused",
        "connection reset",
        "dns error",
        "error sending request",
        "Failed to fetch",
        "Network is unreachable",
        "Request failed after",
        "operation timed out",
    ];
    message.starts_with("building environment") && MARKERS.iter().any(|m| message.contains(m))
}

/// The outcome of a job whose preparation failed with `msg`: another attempt for an
/// infrastructure failure while attempts remain, else a failure (saying how many attempts
/// were made when that is why).
pub(crate) fn after_preparation_failure(
    job: &mlplane_core::Job,
    msg: String,
) -> crate::job::Outcome {
    use crate::job::Outcome;
    if !is_infrastructure(&msg) {
        Outcome::Failed(msg)
    } else if job.attempt < MAX_ATTEMPTS {
        Outcome::Retry(msg)
    } else {
        Outcome::Failed(format!("{msg} (attempt {} of {MAX_ATTEMPTS})", job.attempt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_start_time_is_readable() {
        let me = std::process::id();
        assert!(start_time(me).is_some());
        assert!(group_of(me).is_some());
    }

    #[test]
    fn a_record_with_another_start_time_is_not_ours() {
        let dir = tempfile::tempdir().expect("tempdir");
        let me = std::process::id();
        let start = start_time(me).expect("start");
        std::fs::write(dir.path().join(RECORD), format!("{me} {}\n", start + 1)).expect("write");
        assert_eq!(kill_orphan(dir.path()), Orphan::Reused { pgid: me });
        assert!(!dir.path().join(RECORD).exists());
        assert_eq!(kill_orphan(dir.path()), Orphan::None);
    }

    #[test]
    fn network_failures_of_builds_are_infrastructure() {
        assert!(is_infrastructure(
            "building environment abc failed: error: Failed to fetch: `http://127.0.0.1:1/simple/six/` (log: x)"
        ));
        assert!(!is_infrastructure("exited with code 1"));
        assert!(!is_infrastructure(
            "building environment abc failed: error: No solution found (log: x)"
        ));
    }
}
