//! The writer thread: group commit of write jobs on the only writing connection.
//!
//! The writer takes the jobs waiting or arriving while a group runs (up to [`MAX_GROUP`],
//! for at most [`GROUP_BUDGET`] of work), runs them in one `BEGIN IMMEDIATE` transaction,
//! commits once, and only then answers each caller. The group's first job runs as is: if
//! it fails, the writer rolls back the transaction, which holds nothing else yet. Every
//! later job runs inside its own savepoint (rolled back alone if the job fails), except a
//! job that does all its checks before its first write ([`Undo::ChecksFirst`]): a savepoint
//! copies each page the job changes, which is most of what it costs on a large batch. If
//! such a job fails after writing anyway (only SQLite itself can make it: an I/O error, a
//! full disk), the writer rolls back the whole group and fails every job of it.
//!
//! Invariants:
//! - a caller is answered `Ok` only after the transaction holding its write committed;
//! - a caller answered with an error has nothing of its write stored.

use super::{MAX_GROUP, Result, checkpoint, db_err};
use crate::StoreError;
use rusqlite::Connection;
use std::sync::mpsc;
use std::time::Instant;
use tokio::sync::oneshot;

/// How long a commit group may keep taking queued jobs before it commits.
const GROUP_BUDGET: std::time::Duration = std::time::Duration::from_millis(4);
type Completer = Box<dyn FnOnce(Option<String>) + Send>;
/// Where the writer runs a job: its connection, and whether the job opens the group (see
/// the module doc).
#[derive(Clone, Copy)]
pub(super) struct Slot<'c> {
    conn: &'c Connection,
    first: bool,
}
/// What a job that ran leaves to the writer.
pub(super) struct Ran {
    complete: Completer,
    /// The job failed and left writes that only rolling back the transaction undoes (the
    /// group's first job, or a later one without a savepoint that failed after writing).
    roll_back: bool,
}
/// How a job's writes are undone if it fails after the group's first.
#[derive(Clone, Copy)]
pub(super) enum Undo {
    /// Its own savepoint.
    Savepoint,
    /// None needed: it checks before writing (see `SqliteStore::write_checks_first`).
    ChecksFirst,
}
/// A write job, with when it was queued; given `None` it must not run and only reports
/// failure.
pub(super) type Job = (Instant, Box<dyn FnOnce(Option<Slot<'_>>) -> Ran + Send>);

/// The job that runs `f` on the writer and sends its result to `tx`.
pub(super) fn job<R, F>(undo: Undo, f: F, tx: oneshot::Sender<Result<R>>) -> Job
where
    R: Send + 'static,
    F: FnOnce(&Connection) -> Result<R> + Send + 'static,
{
    (
        Instant::now(),
        Box::new(move |slot: Option<Slot<'_>>| {
            let Some(Slot { conn, first }) = slot else {
                return Ran {
                    complete: Box::new(move |e: Option<String>| {
                        let msg = e.unwrap_or_default();
                        let _ = tx.send(Err(StoreError::Internal(format!(
                            "sqlite begin failed: {msg}"
                        ))));
                    }),
                    roll_back: false,
                };
            };
            let (result, roll_back) = match (first, undo) {
                (true, _) => {
                    let r = f(conn);
                    let failed = r.is_err();
                    (r, failed)
                }
                (false, Undo::Savepoint) => (in_savepoint(conn, f), false),
                (false, Undo::ChecksFirst) => {
                    let before = conn.total_changes();
                    let r = f(conn);
                    let wrote = conn.total_changes() != before;
                    let failed = r.is_err();
                    (r, failed && wrote)
                }
            };
            Ran {
                complete: Box::new(move |commit_error: Option<String>| {
                    let out = match commit_error {
                        None => result,
                        Some(e) => Err(StoreError::Internal(format!("sqlite commit failed: {e}"))),
                    };
                    let _ = tx.send(out);
                }),
                roll_back,
            }
        }),
    )
}

/// Runs `f` inside the savepoint `op`, which is rolled back if `f` fails. The statements
/// are cached: a group runs them once per job.
fn in_savepoint<R>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
    let run = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([]));
    run("SAVEPOINT op").map_err(db_err)?;
    let r = f(conn);
    if r.is_err() {
        run("ROLLBACK TO op").map_err(db_err)?;
    }
    run("RELEASE op").map_err(db_err)?;
    r
}

/// Rolls back the writer's transaction; a failure is only logged (the next `BEGIN` reports
/// a connection left in a transaction).
fn roll_back(conn: &Connection, what: &str) {
    if let Err(e) = conn.execute_batch("ROLLBACK") {
        tracing::warn!(error = %e, "sqlite rollback of {what} failed");
    }
}

/// The writer thread's loop: runs groups of jobs until the channel closes, then stops the
/// checkpointer and folds the WAL back into the database.
pub(super) fn writer_loop(
    conn: Connection,
    rx: mpsc::Receiver<Job>,
    checkpointer: Option<Connection>,
) {
    // Without a checkpointer (in-memory databases) nothing needs checkpointing.
    let checkpointer = checkpointer.and_then(|c| checkpoint::attach(&conn, c, checkpoint::LIMITS));
    loop {
        let next = match rx.recv_timeout(checkpoint::IDLE_NUDGE) {
            Ok(j) => Ok(j),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                checkpoint::nudge_when_idle();
                rx.recv()
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(mpsc::RecvError),
        };
        let Ok((queued, first)) = next else { break };
        checkpoint::restart_log_if_due(&conn);
        let started = Instant::now();
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            (first(None).complete)(Some(e.to_string()));
            continue;
        }
        // Jobs that are queued, or arrive while the group runs, join it until the group
        // has run for GROUP_BUDGET: throughput keeps the one-commit-per-group saving, and
        // no caller waits behind more than a budget's worth of other callers' work.
        let waited = started.duration_since(queued);
        let opened = first(Some(Slot {
            conn: &conn,
            first: true,
        }));
        if opened.roll_back {
            // The first job failed without a savepoint: its writes are the transaction's.
            roll_back(&conn, "a failed job");
            (opened.complete)(None);
            continue;
        }
        let mut completers: Vec<Completer> = vec![opened.complete];
        let mut broken = false;
        while completers.len() < MAX_GROUP && started.elapsed() < GROUP_BUDGET {
            let Ok((_, j)) = rx.try_recv() else { break };
            let ran = j(Some(Slot {
                conn: &conn,
                first: false,
            }));
            if ran.roll_back {
                // A job without a savepoint failed after writing: only rolling back the
                // transaction undoes it, and with it the group's earlier jobs.
                roll_back(&conn, "a failed group");
                tracing::warn!(
                    jobs = completers.len() + 1,
                    "a write failed after writing; its group was rolled back"
                );
                for c in completers.drain(..) {
                    c(Some(
                        "rolled back with its group, in which a later write failed".into(),
                    ));
                }
                (ran.complete)(None);
                broken = true;
                break;
            }
            completers.push(ran.complete);
        }
        if broken {
            continue;
        }
        let ran = started.elapsed();
        let commit_error = match conn.execute_batch("COMMIT") {
            Ok(()) => None,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Some(e.to_string())
            }
        };
        // Stage timings of the write path (`MLPLANE_LOG=mlplane_store::writer=debug`): how
        // long the group's first job waited in the queue, ran its jobs, and committed.
        tracing::debug!(
            target: "mlplane_store::writer",
            jobs = completers.len(),
            wait_us = waited.as_micros() as u64,
            run_us = ran.as_micros() as u64,
            commit_us = (started.elapsed() - ran).as_micros() as u64,
            "commit group"
        );
        for c in completers {
            c(commit_error.clone());
        }
    }
    // Channel closed: the store is shutting down. Stop the checkpointer, then fold the WAL
    // back into the database.
    checkpoint::detach(&conn);
    if let Some(h) = checkpointer {
        let _ = h.join();
    }
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
    let _ = conn.close();
}

#[cfg(test)]
mod tests {
    use super::super::{Db, SqliteStore};
    use super::*;

    /// Inserts `v` into `t` and then fails if `fail`, as a job whose error comes after a write.
    async fn insert(store: &SqliteStore, v: i64, fail: bool) -> Result<()> {
        store
            .write("test", move |c| {
                c.execute("INSERT INTO t (v) VALUES (?1)", [v]).db()?;
                if fail {
                    return Err(StoreError::Internal(format!("job {v} fails")));
                }
                Ok(())
            })
            .await
    }

    /// A job that promises to check before writing: fails before its insert if `fail`,
    /// or after it (breaking the promise, as an I/O error would) if `fail_after`.
    async fn insert_checked(
        store: &SqliteStore,
        v: i64,
        fail: bool,
        fail_after: bool,
    ) -> Result<()> {
        store
            .write_checks_first("test", move |c| {
                if fail {
                    return Err(StoreError::Internal(format!("job {v} fails")));
                }
                c.execute("INSERT INTO t (v) VALUES (?1)", [v]).db()?;
                if fail_after {
                    return Err(StoreError::Internal(format!("job {v} fails after writing")));
                }
                Ok(())
            })
            .await
    }

    /// A store on a fresh file with one table `t (v INTEGER)`; keep the directory alive.
    async fn store_with_table() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite"))
            .await
            .unwrap();
        store
            .write("test", |c| {
                c.execute_batch("CREATE TABLE t (v INTEGER)").db()
            })
            .await
            .unwrap();
        (dir, store)
    }

    /// Asserts that exactly the jobs `fails` picks failed.
    fn assert_failed(
        results: &[Result<()>],
        values: std::ops::Range<i64>,
        fails: impl Fn(i64) -> bool,
    ) {
        for (v, r) in values.zip(results) {
            assert_eq!(r.is_err(), fails(v), "job {v}: {r:?}");
        }
    }

    async fn stored(store: &SqliteStore) -> Vec<i64> {
        store
            .read("test", |c| {
                let mut stmt = c.prepare("SELECT v FROM t ORDER BY v").db()?;
                stmt.query_map([], |r| r.get(0))
                    .db()?
                    .collect::<rusqlite::Result<Vec<i64>>>()
                    .db()
            })
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_write_keeps_nothing_and_spares_the_other_jobs_of_its_group() {
        let (_dir, store) = store_with_table().await;
        // Alone, a failing job opens its group (no savepoint): the rollback is the writer's.
        assert!(insert(&store, 1, true).await.is_err());
        assert!(insert(&store, 2, false).await.is_ok());
        assert_eq!(stored(&store).await, vec![2]);
        // Many at once: groups form, with failing jobs first in some and inside others.
        let results =
            futures::future::join_all((10..200).map(|v| insert(&store, v, v % 3 == 0))).await;
        assert_failed(&results, 10..200, |v| v % 3 == 0);
        let mut kept = vec![2];
        kept.extend((10..200).filter(|v| v % 3 != 0));
        assert_eq!(stored(&store).await, kept);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_that_check_first_keep_exactly_what_their_callers_were_told() {
        let (_dir, store) = store_with_table().await;
        // Failing before writing spares the rest of the group.
        let results = futures::future::join_all(
            (10..200).map(|v| insert_checked(&store, v, v % 3 == 0, false)),
        )
        .await;
        assert_failed(&results, 10..200, |v| v % 3 == 0);
        let mut kept: Vec<i64> = (10..200).filter(|v| v % 3 != 0).collect();
        assert_eq!(stored(&store).await, kept);
        // A job that fails after writing takes its group down with it: whoever was told Ok
        // is stored, and nobody else.
        let jobs = (1000..1100).map(|v| insert_checked(&store, v, false, v % 25 == 7));
        let results = futures::future::join_all(jobs).await;
        for (v, r) in (1000..1100).zip(&results) {
            if v % 25 == 7 {
                assert!(r.is_err(), "job {v} failed after writing but was told Ok");
            }
            if r.is_ok() {
                kept.push(v);
            }
        }
        assert_eq!(stored(&store).await, kept);
    }
}
