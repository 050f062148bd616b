//! A small fixed-size connection pool for tokio-postgres, with a per-connection cache of
//! prepared statements.
//!
//! tokio-postgres has no pool of its own. This one keeps at most `size` connections: a
//! semaphore bounds how many are checked out, idle ones wait in a vector, and broken ones
//! (whose driver task has ended) are dropped and replaced on the next checkout.
//!
//! Invariants:
//! - at most `size` connections exist at any time; a caller waits for a free one;
//! - a connection goes back to the idle list only if it is open and the pool is not
//!   closed; a transaction left open by a cancelled caller is rolled back by
//!   `tokio_postgres::Transaction`'s drop before the next query on that connection;
//! - once [`Pool::close`] has run, every checkout fails with `Unavailable`;
//! - SQL text passed to [`Db`] is `'static`, so each statement is prepared at most once
//!   per connection.

use crate::{Result, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row, Statement, Transaction};

use super::rows::db_err;

/// Query parameters as tokio-postgres takes them.
pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub(super) struct Pool {
    config: Config,
    idle: Mutex<Vec<Conn>>,
    permits: Semaphore,
    closed: AtomicBool,
}

impl Pool {
    pub(super) fn new(config: Config, size: usize) -> Self {
        Self {
            config,
            idle: Mutex::new(Vec::with_capacity(size)),
            permits: Semaphore::new(size.max(1)),
            closed: AtomicBool::new(false),
        }
    }

    /// Opens a connection and spawns its driver task on the current tokio runtime.
    pub(super) async fn connect(&self) -> Result<Conn> {
        let (client, connection) = self
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
            stmts: StmtCache::default(),
        })
    }

    /// Checks out a connection, waiting while all of them are in use.
    pub(super) async fn get(&self) -> Result<PooledConn<'_>> {
        if self.is_closed() {
            return Err(closed());
        }
        let permit = self.permits.acquire().await.map_err(|_| closed())?;
        loop {
            let next = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match next {
                Some(conn) if conn.client.is_closed() => continue,
                Some(conn) => {
                    return Ok(PooledConn {
                        pool: self,
                        conn: Some(conn),
                        _permit: permit,
                    });
                }
                None => break,
            }
        }
        let conn = self.connect().await?;
        Ok(PooledConn {
            pool: self,
            conn: Some(conn),
            _permit: permit,
        })
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Refuses further checkouts and drops idle connections; checked-out ones are dropped
    /// when their holders finish.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.permits.close();
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the store is closed".to_string())
}

/// A connection checked out of the pool; returns to it on drop.
pub(super) struct PooledConn<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
    _permit: SemaphorePermit<'a>,
}

impl std::ops::Deref for PooledConn<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn.as_ref().expect("invariant: a pooled connection is present until drop")
    }
}

impl std::ops::DerefMut for PooledConn<'_> {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("invariant: a pooled connection is present until drop")
    }
}

impl Drop for PooledConn<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && !conn.client.is_closed()
            && !self.pool.is_closed()
        {
            self.pool.idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
        }
    }
}

/// Statements prepared on one connection, by SQL text.
#[derive(Default)]
pub(super) struct StmtCache(Mutex<HashMap<&'static str, Statement>>);

/// One database connection with its statement cache.
pub(super) struct Conn {
    client: Client,
    stmts: StmtCache,
}

impl Conn {
    /// Runs statements outside a transaction (each one commits on its own).
    pub(super) fn db(&self) -> Db<'_> {
        Db {
            client: &self.client,
            stmts: &self.stmts,
        }
    }

    /// Starts a transaction; it rolls back unless [`Tx::commit`] is called.
    pub(super) async fn begin(&mut self) -> Result<Tx<'_>> {
        let Conn { client, stmts } = self;
        let tx = client.transaction().await.map_err(db_err)?;
        Ok(Tx { tx, stmts })
    }
}

/// An open transaction.
pub(super) struct Tx<'a> {
    tx: Transaction<'a>,
    stmts: &'a StmtCache,
}

impl Tx<'_> {
    pub(super) fn db(&self) -> Db<'_> {
        Db {
            client: self.tx.client(),
            stmts: self.stmts,
        }
    }

    pub(super) async fn commit(self) -> Result<()> {
        self.tx.commit().await.map_err(db_err)
    }
}

/// Where statements run: a connection, inside or outside a transaction.
#[derive(Clone, Copy)]
pub(super) struct Db<'a> {
    client: &'a Client,
    stmts: &'a StmtCache,
}

impl Db<'_> {
    /// The prepared statement for `sql`, preparing it on first use.
    pub(super) async fn stmt(&self, sql: &'static str) -> Result<Statement> {
        let cached = self.stmts.0.lock().unwrap_or_else(|p| p.into_inner()).get(sql).cloned();
        if let Some(st) = cached {
            return Ok(st);
        }
        let st = self.client.prepare(sql).await.map_err(db_err)?;
        self.stmts
            .0
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
        self.client.query(st, params).await.map_err(db_err)
    }

    pub(super) async fn query_opt(
        &self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Option<Row>> {
        let st = self.stmt(sql).await?;
        self.client.query_opt(&st, params).await.map_err(db_err)
    }

    pub(super) async fn query_one(&self, sql: &'static str, params: Params<'_>) -> Result<Row> {
        let st = self.stmt(sql).await?;
        self.client.query_one(&st, params).await.map_err(db_err)
    }

    /// Like [`Db::query_opt`], but hands back the driver's error so the caller can look at
    /// its SQLSTATE (for example to turn a unique violation into `AlreadyExists`).
    pub(super) async fn query_opt_raw(
        &self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Result<Option<Row>, tokio_postgres::Error>> {
        let st = self.stmt(sql).await?;
        Ok(self.client.query_opt(&st, params).await)
    }

    pub(super) async fn execute(&self, sql: &'static str, params: Params<'_>) -> Result<u64> {
        let st = self.stmt(sql).await?;
        self.execute_stmt(&st, params).await
    }

    pub(super) async fn execute_stmt(&self, st: &Statement, params: Params<'_>) -> Result<u64> {
        self.client.execute(st, params).await.map_err(db_err)
    }

    /// Runs SQL text (possibly several statements) without parameters.
    pub(super) async fn batch_execute(&self, sql: &str) -> Result<()> {
        self.client.batch_execute(sql).await.map_err(db_err)
    }

    /// Streams the rows of a query instead of collecting them.
    pub(super) async fn query_stream(
        &self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<tokio_postgres::RowStream> {
        let st = self.stmt(sql).await?;
        self.client
            .query_raw(&st, params.iter().copied())
            .await
            .map_err(db_err)
    }
}
