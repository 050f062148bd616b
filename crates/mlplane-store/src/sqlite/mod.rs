//! The SQLite engine, mlplane's embedded default.
//!
//! Writes never meet "database is locked": one writer thread owns the only writing
//! connection. Callers send it jobs over a channel; it takes the jobs waiting or arriving
//! while the group runs (up to [`MAX_GROUP`], for at most a few milliseconds of work), runs
//! them in one `BEGIN IMMEDIATE` transaction, commits once, and only then answers each
//! caller (group commit); a failing job leaves nothing, and how each job's writes are
//! undone is in [`writer`]. Reads run on a small pool of read-only connections in WAL mode,
//! which never block the writer and never see uncommitted data.
//!
//! Durability: WAL with `synchronous=NORMAL` keeps every committed transaction across a
//! crash of the process (kill -9); `synchronous=FULL` (option `sync_full`) also survives
//! power loss at some cost in throughput.
//!
//! Checkpoints (copying committed WAL frames back into the database file and syncing it)
//! run on a checkpointer thread with a connection of its own, not inside the writer's
//! commit, and the log is made to start over between two transactions instead of with a
//! `RESTART` that stops the writer: see [`checkpoint`].
//!
//! Invariants:
//! - a caller is answered `Ok` only after the transaction holding its write committed;
//! - only the writer thread writes;
//! - in-memory databases have no read pool: reads go through the writer, which sees all.

mod assets;
mod auth;
mod checkpoint;
mod files;
mod jobs;
mod jobs_impl;
mod logged_models;
mod m4;
mod metrics;
mod ops;
mod registry;
mod registry_impl;
mod runs;
mod schema;
mod search;
mod secrets;
mod store_impl;
mod writer;

use crate::{OpTiming, Result, StoreError};
use mlplane_core::TokenCodec;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{Semaphore, oneshot};
use writer::{Job, Undo};

/// Most jobs committed together in one transaction.
pub const MAX_GROUP: usize = 512;
const READERS: usize = 4;
/// The writer connection's page cache. Kept small: every commit after a b-tree split walks
/// the whole cache (SQLite's page sort in `balance_nonroot` parks a page at the lock-byte
/// page number, so the end-of-transaction truncate of the cache cannot take its short
/// path), and the writer's working set is the pages its inserts touch.
const WRITER_CACHE_KIB: u32 = 8_192;

/// The SQLite implementation of [`crate::MetadataStore`].
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Option<ReadPool>,
    codec: TokenCodec,
    timings: Timings,
}

struct ReadPool {
    conns: Mutex<Vec<Connection>>,
    /// Shared so a permit can travel with its connection into the blocking task.
    permits: Arc<Semaphore>,
}

/// Per-operation counters for `/metrics`.
#[derive(Default)]
pub(crate) struct Timings(Mutex<HashMap<&'static str, (u64, f64, u64)>>);

impl Timings {
    pub(crate) fn record(&self, op: &'static str, started: Instant, ok: bool) {
        if let Ok(mut m) = self.0.lock() {
            let e = m.entry(op).or_insert((0, 0.0, 0));
            e.0 += 1;
            e.1 += started.elapsed().as_secs_f64();
            if !ok {
                e.2 += 1;
            }
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<OpTiming> {
        let Ok(m) = self.0.lock() else {
            return Vec::new();
        };
        let mut v: Vec<OpTiming> = m
            .iter()
            .map(|(op, (count, secs, errors))| OpTiming {
                op,
                count: *count,
                total_seconds: *secs,
                errors: *errors,
            })
            .collect();
        v.sort_by_key(|t| t.op);
        v
    }
}

pub(crate) fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Internal(format!("sqlite: {e}"))
}

/// Shorthand to turn rusqlite results into store results.
pub(crate) trait Db<T> {
    fn db(self) -> Result<T>;
}

impl<T> Db<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T> {
        self.map_err(db_err)
    }
}

fn synchronous(sync_full: bool) -> &'static str {
    if sync_full { "FULL" } else { "NORMAL" }
}

/// The writer connection: WAL, foreign keys, a large page cache, and no automatic
/// checkpoints (the checkpointer thread runs them).
/// Table-valued functions the store's SQL uses on every connection: `rarray(?)`, an array
/// of values bound as one parameter (a page's run keys).
fn register_functions(conn: &Connection) -> Result<()> {
    rusqlite::vtab::array::load_module(conn).db()
}

fn configure(conn: &Connection, sync_full: bool) -> Result<()> {
    register_functions(conn)?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).db()?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous={}; PRAGMA foreign_keys=ON; \
         PRAGMA temp_store=MEMORY; PRAGMA cache_size=-{WRITER_CACHE_KIB}; \
         PRAGMA wal_autocheckpoint=0;",
        synchronous(sync_full)
    ))
    .db()
}

fn migrate(conn: &mut Connection) -> Result<()> {
    migrate_with(conn, schema::MIGRATIONS)
}

/// Applies every migration of `list` whose version has no row yet, in version order.
fn migrate_with(conn: &mut Connection, list: &[(i64, &str)]) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .db()?;
    // In version order whatever the list's order; versions may have gaps.
    let mut migrations = list.to_vec();
    migrations.sort_by_key(|(v, _)| *v);
    // Migrations that rebuild a table (create, copy, drop, rename) must run with foreign
    // keys off, or dropping the old table would check its children; each applied migration
    // ends with `foreign_key_check` instead, inside its transaction. The pragma is a no-op
    // inside a transaction, so it is set around the loop.
    let fk: bool = conn
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .db()?;
    conn.execute_batch("PRAGMA foreign_keys=OFF").db()?;
    let applied = apply_migrations(conn, &migrations);
    if fk {
        conn.execute_batch("PRAGMA foreign_keys=ON").db()?;
    }
    applied
}

fn apply_migrations(conn: &mut Connection, migrations: &[(i64, &str)]) -> Result<()> {
    for (version, sql) in migrations {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .db()?;
        let done: bool = tx
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE version = ?1)",
                [version],
                |r| r.get(0),
            )
            .db()?;
        if !done {
            tx.execute_batch(sql).db()?;
            let broken: Option<String> = tx
                .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
                .optional()
                .db()?;
            if let Some(table) = broken {
                return Err(StoreError::Internal(format!(
                    "migration {version} left a dangling foreign key in table '{table}'"
                )));
            }
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                rusqlite::params![version, ops::now_ms()],
            )
            .db()?;
        }
        tx.commit().db()?;
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`.
    pub async fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, false).await
    }

    /// Like [`SqliteStore::open`]; `sync_full` selects `synchronous=FULL`.
    pub async fn open_with(path: &Path, sync_full: bool) -> Result<Self> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Config(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let mut writer = Connection::open(&path)
                .map_err(|e| StoreError::Config(format!("cannot open {}: {e}", path.display())))?;
            configure(&writer, sync_full)?;
            migrate(&mut writer)?;
            let key = ops::init(&writer)?;
            let checkpointer = checkpoint::open(&path, sync_full)?;
            let mut readers = Vec::with_capacity(READERS);
            for _ in 0..READERS {
                let c = Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .db()?;
                c.busy_timeout(std::time::Duration::from_secs(10)).db()?;
                register_functions(&c)?;
                // Searches cache their statement by shape; leave room for several.
                c.set_prepared_statement_cache_capacity(64);
                // Searches sort and build IN-lists in temporary b-trees: keep them in
                // memory; map the file so warm pages cost no read() call.
                c.execute_batch(
                    "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-16384; \
                     PRAGMA mmap_size=268435456;",
                )
                .db()?;
                readers.push(c);
            }
            let pool = ReadPool {
                conns: Mutex::new(readers),
                permits: Arc::new(Semaphore::new(READERS)),
            };
            Ok(Self::start(writer, Some(checkpointer), Some(pool), key))
        })
        .await
        .map_err(|e| StoreError::Internal(format!("open task failed: {e}")))?
    }

    /// An in-memory database, for tests.
    pub async fn open_in_memory() -> Result<Self> {
        let mut writer = Connection::open_in_memory().db()?;
        writer.execute_batch("PRAGMA foreign_keys=ON;").db()?;
        register_functions(&writer)?;
        migrate(&mut writer)?;
        let key = ops::init(&writer)?;
        Ok(Self::start(writer, None, None, key))
    }

    fn start(
        writer: Connection,
        checkpointer: Option<Connection>,
        readers: Option<ReadPool>,
        key: Vec<u8>,
    ) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let handle = std::thread::Builder::new()
            .name("mlplane-sqlite-writer".into())
            .spawn(move || writer::writer_loop(writer, rx, checkpointer))
            .ok();
        Self {
            inner: Arc::new(Inner {
                writer: Mutex::new(Some(tx)),
                writer_thread: Mutex::new(handle),
                readers,
                codec: TokenCodec::new(&key),
                timings: Timings::default(),
            }),
        }
    }

    /// Runs `f` on the writer connection in a group-committed transaction, inside a
    /// savepoint unless it opens the group (see the module doc): either way, if `f` fails,
    /// nothing it wrote is kept.
    pub(crate) async fn write<R, F>(&self, op: &'static str, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        self.write_with(op, Undo::Savepoint, f).await
    }

    /// Like [`Self::write`], for an `f` that makes every check that can fail before its
    /// first write, so that after it only SQLite itself can fail (an I/O error, a full
    /// disk): it runs without a savepoint. If it fails having written nothing, there is
    /// nothing to undo; if it fails after writing, the writer rolls back the whole group and
    /// every earlier job of it fails too (they were in the same transaction).
    pub(crate) async fn write_checks_first<R, F>(&self, op: &'static str, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        self.write_with(op, Undo::ChecksFirst, f).await
    }

    async fn write_with<R, F>(&self, op: &'static str, undo: Undo, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        let started = Instant::now();
        let (tx, rx) = oneshot::channel::<Result<R>>();
        let job = writer::job(undo, f, tx);
        let sent = {
            let guard = self
                .inner
                .writer
                .lock()
                .map_err(|_| StoreError::Internal("writer lock poisoned".into()))?;
            match guard.as_ref() {
                Some(s) => s.send(job).is_ok(),
                None => false,
            }
        };
        if !sent {
            return Err(StoreError::Unavailable("store is closed".into()));
        }
        let r = rx
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable("writer stopped".into())));
        self.inner.timings.record(op, started, r.is_ok());
        r
    }

    /// Runs `f` on a read-only connection (or the writer, for in-memory databases).
    pub(crate) async fn read<R, F>(&self, op: &'static str, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        let Some(pool) = &self.inner.readers else {
            return self.write(op, f).await;
        };
        let started = Instant::now();
        if self.is_closed() {
            return Err(StoreError::Unavailable("store is closed".into()));
        }
        let permit = pool
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("store is closed".into()))?;
        let conn = pool
            .conns
            .lock()
            .map_err(|_| StoreError::Internal("reader pool poisoned".into()))?
            .pop()
            .ok_or_else(|| StoreError::Internal("reader pool empty".into()))?;
        // The connection goes back to the pool, and only then the permit is released, inside
        // the blocking task: a caller that stops waiting (a client that went away drops the
        // request's future) must not lose the connection, or the pool would shrink until
        // every read failed with "reader pool empty".
        let inner = self.inner.clone();
        let r = tokio::task::spawn_blocking(move || {
            let r = f(&conn);
            if let Some(pool) = &inner.readers
                && let Ok(mut v) = pool.conns.lock()
            {
                v.push(conn);
            }
            drop(permit);
            r
        })
        .await
        .map_err(|e| StoreError::Internal(format!("read task failed: {e}")))?;
        self.inner.timings.record(op, started, r.is_ok());
        r
    }

    fn is_closed(&self) -> bool {
        self.inner
            .writer
            .lock()
            .map(|g| g.is_none())
            .unwrap_or(true)
    }

    pub(crate) fn codec(&self) -> &TokenCodec {
        &self.inner.codec
    }

    pub(crate) fn timings_snapshot(&self) -> Vec<OpTiming> {
        self.inner.timings.snapshot()
    }

    /// Stops the writer after it drained its queue, then checkpoints the WAL.
    pub(crate) async fn shutdown(&self) {
        let sender = self.inner.writer.lock().ok().and_then(|mut g| g.take());
        drop(sender);
        let handle = self
            .inner
            .writer_thread
            .lock()
            .ok()
            .and_then(|mut g| g.take());
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(conn: &Connection) -> Vec<i64> {
        let mut stmt = conn
            .prepare("SELECT version FROM schema_migrations ORDER BY version")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<Vec<i64>>>()
            .unwrap()
    }

    #[test]
    fn migration_gaps_are_filled_when_the_missing_version_arrives_later() {
        let mut conn = Connection::open_in_memory().unwrap();
        // A database that got version 5 before version 4 existed ...
        let without_four: Vec<(i64, &str)> = schema::MIGRATIONS
            .iter()
            .copied()
            .filter(|(v, _)| *v != 4)
            .collect();
        migrate_with(&mut conn, &without_four).unwrap();
        // Versions after 5 (later features) are whatever the list holds.
        let all: Vec<i64> = schema::MIGRATIONS.iter().map(|(v, _)| *v).collect();
        let all_but_four: Vec<i64> = all.iter().copied().filter(|v| *v != 4).collect();
        assert_eq!(applied(&conn), all_but_four);
        // ... gets 4 when it arrives, even though 5 is already there.
        migrate(&mut conn).unwrap();
        assert_eq!(applied(&conn), all);
        conn.execute("SELECT count(*) FROM logged_models", [])
            .map(|_| ())
            .or_else(|e| match e {
                rusqlite::Error::ExecuteReturnedResults => Ok(()),
                e => Err(e),
            })
            .unwrap();
        // Running again applies nothing twice.
        migrate(&mut conn).unwrap();
        assert_eq!(applied(&conn), all);
    }
}
