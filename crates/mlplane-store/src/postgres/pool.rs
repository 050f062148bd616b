//! A small fixed-size connection pool for tokio-postgres, with a per-connection cache of
//! prepared statements and transactions that can be pipelined.
//!
//! tokio-postgres has no pool of its own. This one keeps at most `size` connections: a
//! semaphore bounds how many are checked out, idle ones wait in a vector, and broken ones
//! (whose driver task has ended) are dropped and replaced on the next checkout.
//!
//! Transactions are plain `BEGIN`/`COMMIT` statements rather than
//! `tokio_postgres::Transaction`, so that `BEGIN` can travel in the same network flight as
//! the first statements and `COMMIT` with the last ones (tokio-postgres pipelines requests
//! whose futures are polled together, in the order they are first polled).
//!
//! Invariants:
//! - at most `size` connections exist at any time; a caller waits for a free one;
//! - a connection goes back to the idle list only outside a transaction: one returned with
//!   a transaction still open (an error path or a cancelled caller) is rolled back by a
//!   spawned task first, and dropped if that fails; its pool slot stays taken meanwhile;
//! - once [`Pool::close`] has run, every checkout fails with `Unavailable`;
//! - SQL text passed to [`Db`] is `'static`, so each statement is prepared at most once
//!   per connection.

use crate::{Result, StoreError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

use super::rows::db_err;

/// Query parameters as tokio-postgres takes them.
pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub(super) struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    idle: Mutex<Vec<Conn>>,
    permits: Arc<Semaphore>,
    closed: AtomicBool,
}

impl Inner {
    fn give_back(&self, conn: Conn) {
        if !conn.client.is_closed() && !self.closed.load(Ordering::Acquire) {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
        }
    }
}

impl Pool {
    pub(super) fn new(config: Config, size: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                idle: Mutex::new(Vec::with_capacity(size)),
                permits: Arc::new(Semaphore::new(size.max(1))),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// Opens a connection and spawns its driver task on the current tokio runtime.
    pub(super) async fn connect(&self) -> Result<Conn> {
        let (client, connection) = self
            .inner
            .config
            .connect(NoTls)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to postgres: {e}")))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "postgres connection ended with an error");
            }
        });
        Ok(Conn {
            client,
            stmts: Mutex::new(HashMap::new()),
            in_tx: AtomicBool::new(false),
        })
    }

    /// Checks out a connection, waiting while all of them are in use.
    pub(super) async fn get(&self) -> Result<PooledConn> {
        if self.is_closed() {
            return Err(closed());
        }
        let permit = Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .map_err(|_| closed())?;
        loop {
            let next = self
                .inner
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop();
            match next {
                Some(conn) if conn.client.is_closed() => continue,
                Some(conn) => return Ok(self.wrap(conn, permit)),
                None => break,
            }
        }
        let conn = self.connect().await?;
        Ok(self.wrap(conn, permit))
    }

    fn wrap(&self, conn: Conn, permit: OwnedSemaphorePermit) -> PooledConn {
        PooledConn {
            pool: Arc::clone(&self.inner),
            conn: Some(conn),
            permit: Some(permit),
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Refuses further checkouts and drops idle connections; checked-out ones are dropped
    /// when their holders finish.
    pub(super) fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.permits.close();
        self.inner
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the store is closed".to_string())
}

/// A connection checked out of the pool; returns to it on drop.
pub(super) struct PooledConn {
    pool: Arc<Inner>,
    conn: Option<Conn>,
    permit: Option<OwnedSemaphorePermit>,
}

impl std::ops::Deref for PooledConn {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn
            .as_ref()
            .expect("invariant: a pooled connection is present until drop")
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        let (Some(conn), Some(permit)) = (self.conn.take(), self.permit.take()) else {
            return;
        };
        if !conn.in_tx.load(Ordering::Acquire) {
            self.pool.give_back(conn);
            return;
        }
        // A transaction was left open: roll it back before anyone else gets the connection,
        // holding the pool slot until then. Without a runtime the connection is just closed,
        // which rolls back too.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let pool = Arc::clone(&self.pool);
            rt.spawn(async move {
                if conn.client.batch_execute("ROLLBACK").await.is_ok() {
                    conn.in_tx.store(false, Ordering::Release);
                    pool.give_back(conn);
                }
                drop(permit);
            });
        }
    }
}

/// One database connection with its statement cache.
pub(super) struct Conn {
    client: Client,
    stmts: Mutex<HashMap<&'static str, Statement>>,
    /// Whether a transaction may be open on the connection.
    in_tx: AtomicBool,
}

impl Conn {
    /// Runs statements outside a transaction (each one commits on its own).
    pub(super) fn db(&self) -> Db<'_> {
        Db { conn: self }
    }

    /// Starts a transaction and waits for the server to confirm it.
    pub(super) async fn begin(&self) -> Result<Tx<'_>> {
        let tx = self.tx();
        tx.send_begin().await?;
        Ok(tx)
    }

    /// A transaction whose `BEGIN` the caller sends itself, with [`Tx::send_begin`] polled
    /// first in the flight that carries its first statements.
    pub(super) fn tx(&self) -> Tx<'_> {
        self.in_tx.store(true, Ordering::Release);
        Tx { conn: self }
    }
}

/// An open transaction; rolled back when dropped without [`Tx::commit`] (see [`PooledConn`]).
pub(super) struct Tx<'a> {
    conn: &'a Conn,
}

impl<'a> Tx<'a> {
    pub(super) fn db(&self) -> Db<'a> {
        Db { conn: self.conn }
    }

    pub(super) async fn send_begin(&self) -> Result<()> {
        self.db().batch_execute("BEGIN").await
    }

    /// Like [`Tx::send_begin`], for a read-only transaction whose statements all see one
    /// snapshot.
    pub(super) async fn send_begin_snapshot(&self) -> Result<()> {
        self.db()
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
    }

    /// Sends `COMMIT`; meant to be pipelined behind the last statements. If one of them
    /// failed, the server answers `COMMIT` by rolling back, so the caller must check their
    /// results before reporting success.
    pub(super) async fn send_commit(&self) -> Result<()> {
        self.db().batch_execute("COMMIT").await?;
        self.conn.in_tx.store(false, Ordering::Release);
        Ok(())
    }

    pub(super) async fn commit(self) -> Result<()> {
        self.send_commit().await
    }

    pub(super) async fn rollback(self) -> Result<()> {
        self.db().batch_execute("ROLLBACK").await?;
        self.conn.in_tx.store(false, Ordering::Release);
        Ok(())
    }
}

/// Where statements run: a connection, inside or outside a transaction.
#[derive(Clone, Copy)]
pub(super) struct Db<'a> {
    conn: &'a Conn,
}

impl<'a> Db<'a> {
    fn client(&self) -> &'a Client {
        &self.conn.client
    }

    /// The prepared statement for `sql`, preparing it on first use.
    pub(super) async fn stmt(&self, sql: &'static str) -> Result<Statement> {
        let cached = self
            .conn
            .stmts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sql)
            .cloned();
        if let Some(st) = cached {
            return Ok(st);
        }
        let st = self.client().prepare(sql).await.map_err(db_err)?;
        self.conn
            .stmts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sql, st.clone());
        Ok(st)
    }

    pub(super) async fn query(&self, sql: &'static str, params: Params<'_>) -> Result<Vec<Row>> {
        let st = self.stmt(sql).await?;
        self.query_stmt(&st, params).await
    }

    pub(super) async fn query_stmt(&self, st: &Statement, params: Params<'_>) -> Result<Vec<Row>> {
        self.client().query(st, params).await.map_err(db_err)
    }

    pub(super) async fn query_opt(
        &self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Option<Row>> {
        let st = self.stmt(sql).await?;
        self.client().query_opt(&st, params).await.map_err(db_err)
    }

    pub(super) async fn query_one(&self, sql: &'static str, params: Params<'_>) -> Result<Row> {
        let st = self.stmt(sql).await?;
        self.client().query_one(&st, params).await.map_err(db_err)
    }

    /// Like [`Db::query_opt`], but hands back the driver's error so the caller can look at
    /// its SQLSTATE (for example to turn a unique violation into `AlreadyExists`).
    pub(super) async fn query_opt_raw(
        &self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Result<Option<Row>, tokio_postgres::Error>> {
        let st = self.stmt(sql).await?;
        Ok(self.client().query_opt(&st, params).await)
    }

    pub(super) async fn execute(&self, sql: &'static str, params: Params<'_>) -> Result<u64> {
        let st = self.stmt(sql).await?;
        self.execute_stmt(&st, params).await
    }

    pub(super) async fn execute_stmt(&self, st: &Statement, params: Params<'_>) -> Result<u64> {
        self.client().execute(st, params).await.map_err(db_err)
    }

    /// Runs a query whose text is built at run time (searches); not cached.
    pub(super) async fn query_text(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
        self.client().query(sql, params).await.map_err(db_err)
    }

    /// Runs SQL text (possibly several statements) without parameters.
    pub(super) async fn batch_execute(&self, sql: &str) -> Result<()> {
        self.client().batch_execute(sql).await.map_err(db_err)
    }

    /// Streams the rows of a query instead of collecting them.
    pub(super) async fn query_stream(
        &self,
        st: &Statement,
        params: Params<'_>,
    ) -> Result<tokio_postgres::RowStream> {
        self.client()
            .query_raw(st, params.iter().copied())
            .await
            .map_err(db_err)
    }
}
