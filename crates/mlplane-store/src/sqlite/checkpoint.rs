//! Checkpoints of the SQLite WAL, kept off the writer's path.
//!
//! A checkpointer thread with a connection of its own copies committed WAL frames back into
//! the database file (`PASSIVE`, which never blocks the writer); the writer's WAL hook nudges
//! it once [`Limits::nudge`] frames were added since the last nudge.
//!
//! The log itself only starts over (and stops growing) when a write transaction begins
//! while every frame of it is checkpointed and no reader uses it. Under sustained writes
//! that moment never comes by itself: each pass ends with the writer's newer frames still
//! to copy. So once the WAL passes [`Limits::soft_restart`], the checkpointer follows a pass
//! with up to [`CATCH_UP_PASSES`] more (each copies what arrived during the one before, so
//! they shrink) and then flags the writer, which, before its next transaction, copies the
//! small rest itself ([`restart_log_if_due`]) so that transaction starts the log over.
//! Only if that keeps failing (readers holding the log) and the WAL passes
//! [`Limits::hard_restart`] does the checkpointer run a `RESTART`, which makes the writer wait.
//! When the writer has been idle for [`IDLE_NUDGE`] it nudges the checkpointer once more.
//! A checkpoint moves data already durable in the WAL, so none of this changes a commit's
//! durability.
//!
//! Invariants:
//! - only the checkpointer thread and, between transactions, the writer checkpoint;
//! - the writer copies frames itself only after the checkpointer's catch-up passes, so what
//!   it copies is what arrived during the last of them.

use super::{Db, Result, synchronous};
use rusqlite::Connection;
use std::cell::RefCell;
use std::ffi::c_int;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Instant;

/// When checkpoints run and when the log is made to start over, in WAL frames (pages).
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Frames added between two nudges of the checkpointer.
    pub nudge: c_int,
    /// Past this size the log is made to start over between two write transactions.
    pub soft_restart: i64,
    /// Past this size the checkpointer runs a `RESTART`, which makes the writer wait.
    pub hard_restart: i64,
}

/// The store's limits. Nudges every 4,000 frames (16 MiB: SQLite's automatic checkpoints
/// ran at the same size; checkpointing more often copies hot pages over and over). The log
/// starts over past 64 MiB. A `RESTART` (256 MiB) stalls every writer for a copy and two
/// `fsync`s (measured 10-300 ms, once 843 ms, on a busy disk), so it is the last resort,
/// for when readers keep the log in use.
pub(super) const LIMITS: Limits = Limits {
    nudge: 4000,
    soft_restart: 16_384,
    hard_restart: 65_536,
};
/// Passes the checkpointer adds after one that found the WAL past the soft limit.
const CATCH_UP_PASSES: usize = 2;
/// How long the writer waits idle before it nudges the checkpointer to catch up, so the
/// next write finds the log fully checkpointed and starts it over.
pub(super) const IDLE_NUDGE: std::time::Duration = std::time::Duration::from_millis(50);

/// The writer thread's side of the checkpointer.
struct WriterSide {
    nudge: mpsc::Sender<()>,
    /// WAL size (frames) at the last nudge.
    last: c_int,
    /// WAL size (frames) after the last commit.
    frames: c_int,
    /// Set by the checkpointer once it has caught up on a WAL past the soft limit.
    caught_up: Arc<AtomicBool>,
    limits: Limits,
}

thread_local! {
    /// On a writer thread: its side of the checkpointer.
    static WRITER: RefCell<Option<WriterSide>> = const { RefCell::new(None) };
}

/// The checkpointer's connection; it syncs the database file as the writer would.
pub(super) fn open(path: &Path, sync_full: bool) -> Result<Connection> {
    let conn = Connection::open(path).db()?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).db()?;
    conn.execute_batch(&format!(
        "PRAGMA synchronous={}; PRAGMA wal_autocheckpoint=0;",
        synchronous(sync_full)
    ))
    .db()?;
    Ok(conn)
}

/// Starts the checkpointer thread for the writer `conn`, which must be used on the calling
/// thread from now on; returns its handle, to join after [`detach`].
pub(super) fn attach(
    conn: &Connection,
    checkpointer: Connection,
    limits: Limits,
) -> Option<std::thread::JoinHandle<()>> {
    let (nudge, nudges) = mpsc::channel::<()>();
    let caught_up = Arc::new(AtomicBool::new(false));
    let flag = caught_up.clone();
    let handle = std::thread::Builder::new()
        .name("mlplane-sqlite-checkpoint".into())
        .spawn(move || checkpoint_loop(checkpointer, nudges, flag, limits))
        .ok()?;
    WRITER.with(|w| {
        *w.borrow_mut() = Some(WriterSide {
            nudge,
            last: 0,
            frames: 0,
            caught_up,
            limits,
        })
    });
    conn.wal_hook(Some(wal_committed));
    Some(handle)
}

/// Stops nudging: the checkpointer ends once it has seen the last nudge.
pub(super) fn detach(conn: &Connection) {
    conn.wal_hook(None);
    WRITER.with(|w| w.borrow_mut().take());
}

/// The writer connection's WAL hook, called on the writer thread after each commit with the
/// number of frames in the WAL: nudges the checkpointer once `limits.nudge` frames were
/// added since the last nudge (the cadence of SQLite's own automatic checkpoints).
fn wal_committed(_: &rusqlite::hooks::Wal, frames: c_int) -> rusqlite::Result<()> {
    WRITER.with(|w| {
        if let Some(w) = w.borrow_mut().as_mut() {
            w.frames = frames;
            if frames < w.last {
                // The log started over: a catch-up flag left from the old one is stale.
                w.last = 0;
                w.caught_up.store(false, Ordering::Relaxed);
            }
            if frames - w.last >= w.limits.nudge {
                w.last = frames;
                let _ = w.nudge.send(());
            }
        }
    });
    Ok(())
}

/// On the writer thread, between transactions: when the WAL is past the soft limit and the
/// checkpointer has caught up on it, copies what is left (what arrived during its last
/// pass) so the next transaction starts the log over.
pub(super) fn restart_log_if_due(conn: &Connection) {
    let due = WRITER.with(|w| {
        w.borrow().as_ref().is_some_and(|w| {
            i64::from(w.frames) >= w.limits.soft_restart
                && w.caught_up.swap(false, Ordering::Relaxed)
        })
    });
    if !due {
        return;
    }
    pass(conn, "writer catch-up");
}

/// Nudges the checkpointer if frames were added since the last nudge (the writer is idle).
pub(super) fn nudge_when_idle() {
    WRITER.with(|w| {
        if let Some(w) = w.borrow_mut().as_mut()
            && w.frames > w.last
        {
            w.last = w.frames;
            let _ = w.nudge.send(());
        }
    });
}

/// A `PASSIVE` checkpoint: (frames in the WAL, frames copied).
fn passive(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    })
}

/// Runs a checkpoint each time the writer nudges it (nudges that pile up meanwhile count
/// once), until the writer drops its sender.
fn checkpoint_loop(
    conn: Connection,
    nudges: mpsc::Receiver<()>,
    caught_up: Arc<AtomicBool>,
    limits: Limits,
) {
    while nudges.recv().is_ok() {
        while nudges.try_recv().is_ok() {}
        let mut result = pass(&conn, "passive checkpoint");
        if result.is_some_and(|(log, _)| log > limits.soft_restart) {
            for _ in 0..CATCH_UP_PASSES {
                result = pass(&conn, "catch-up checkpoint");
            }
            caught_up.store(true, Ordering::Relaxed);
        }
        if result.is_some_and(|(log, _)| log > limits.hard_restart) {
            let started = Instant::now();
            match conn.execute_batch("PRAGMA wal_checkpoint(RESTART);") {
                Ok(()) => tracing::debug!(
                    target: "mlplane_store::checkpoint",
                    us = started.elapsed().as_micros() as u64, "restart checkpoint"
                ),
                Err(e) => tracing::warn!(error = %e, "sqlite restart checkpoint failed"),
            }
        }
    }
    let _ = conn.close();
}

/// One `PASSIVE` checkpoint, logged at debug level as `what`.
fn pass(conn: &Connection, what: &'static str) -> Option<(i64, i64)> {
    let started = Instant::now();
    match passive(conn) {
        Ok((log, copied)) => {
            tracing::debug!(
                target: "mlplane_store::checkpoint",
                log, copied, us = started.elapsed().as_micros() as u64, "{what}"
            );
            Some((log, copied))
        }
        Err(e) => {
            tracing::warn!(error = %e, "sqlite checkpoint failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The WAL size the writer's hook saw after its last commit.
    fn frames() -> c_int {
        WRITER.with(|w| w.borrow().as_ref().map_or(0, |w| w.frames))
    }

    /// How often the log of a writer that is never idle (one transaction right after the
    /// other, the catch-up between them as in the writer loop) started over within 3 s,
    /// counting up to 3.
    fn restarts() -> usize {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("wal.db");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE t (x BLOB);",
        )
        .expect("schema");
        let limits = Limits {
            nudge: 64,
            soft_restart: 256,
            hard_restart: i64::MAX,
        };
        let handle = attach(&conn, open(&path, false).expect("checkpointer"), limits)
            .expect("checkpointer thread");
        let mut restarts = 0;
        let mut previous = 0;
        let deadline = Instant::now() + std::time::Duration::from_secs(3);
        while Instant::now() < deadline && restarts < 3 {
            restart_log_if_due(&conn);
            conn.execute_batch(
                "BEGIN IMMEDIATE; INSERT INTO t SELECT randomblob(2000) FROM \
                 (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4); COMMIT;",
            )
            .expect("write");
            if frames() < previous {
                restarts += 1;
            }
            previous = frames();
        }
        detach(&conn);
        handle.join().expect("checkpointer ends");
        restarts
    }

    /// Past the soft limit and with no `RESTART` (the hard limit is never reached), the log
    /// starts over. Without the catch-up it did not start over once in 3 s here (a pass
    /// would have to end between two transactions); that case is not a test, since a
    /// writer descheduled at the wrong moment makes it happen.
    #[test]
    fn a_busy_writer_starts_the_log_over_past_the_soft_limit() {
        assert!(restarts() >= 3);
    }
}
