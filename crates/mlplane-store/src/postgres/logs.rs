//! Run log streams on PostgreSQL.
//!
//! A stream is stored as the chunks it was appended in, `(run_id, start_offset, data)`,
//! with the stream length kept on the run row (`runs.log_bytes`). Chunks are `BYTEA`
//! because log text may hold NUL characters, which PostgreSQL `TEXT` cannot.
//!
//! Invariants:
//! - appends to one run are serialized by locking its row, so chunks tile the stream:
//!   each chunk starts where the previous one ended and `log_bytes` is their total length;
//! - every chunk is valid UTF-8, so a chunk boundary is always a character boundary;
//! - a read never starts or ends inside a character.

use super::PgStore;
use super::rows::{check_live, col, internal, not_found, parse_stage};
use crate::{Entity, Result, StoreError};
use mlplane_core::limits::MAX_LOG_READ_BYTES;
use mlplane_core::{Invalid, LogChunk, RunId, WorkspaceName};
use tokio_postgres::types::ToSql;

/// Whether `b` continues a multi-byte UTF-8 character (is not the start of one).
fn is_continuation(b: u8) -> bool {
    b & 0b1100_0000 == 0b1000_0000
}

fn offset_i64(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Invalid(Invalid::one("offset", "is too large")))
}

impl PgStore {
    pub(super) async fn log_append(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        data: &str,
    ) -> Result<u64> {
        crate::rules::check_log_append(data)?;
        let conn = self.pool.get().await?;
        let tx = conn.tx();
        let db = tx.db();
        let lock = db
            .stmt("SELECT lifecycle_stage, log_bytes FROM runs WHERE id = $1 AND workspace = $2 FOR UPDATE")
            .await?;
        let (run, wsn) = (id.as_str(), ws.as_str());
        let lock_args: [&(dyn ToSql + Sync); 2] = [&run, &wsn];
        let (begun, row) = futures::join!(tx.send_begin(), db.query_stmt(&lock, &lock_args));
        begun?;
        let Some(row) = row?.into_iter().next() else {
            tx.rollback().await?;
            return Err(not_found(conn.db(), ws, Entity::Run, id).await);
        };
        check_live(id, parse_stage(col(&row, 0)?)?)?;
        let start: i64 = col(&row, 1)?;
        if data.is_empty() {
            tx.commit().await?;
            return u64::try_from(start).map_err(|_| internal("negative log length"));
        }
        let len = i64::try_from(data.len()).map_err(|_| internal("log chunk too large"))?;
        let end = start
            .checked_add(len)
            .ok_or_else(|| internal("log length overflows"))?;
        let insert = db
            .stmt("INSERT INTO run_logs (run_id, start_offset, data) VALUES ($1, $2, $3)")
            .await?;
        let update = db
            .stmt("UPDATE runs SET log_bytes = $2 WHERE id = $1")
            .await?;
        let bytes = data.as_bytes();
        let chunk: [&(dyn ToSql + Sync); 3] = [&run, &start, &bytes];
        let length: [&(dyn ToSql + Sync); 2] = [&run, &end];
        // If a statement fails, the server turns the COMMIT behind it into a rollback.
        let (inserted, updated, committed) = futures::join!(
            db.execute_stmt(&insert, &chunk),
            db.execute_stmt(&update, &length),
            tx.send_commit(),
        );
        inserted?;
        updated?;
        committed?;
        u64::try_from(end).map_err(|_| internal("negative log length"))
    }

    pub(super) async fn log_read(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        offset: u64,
        max_bytes: usize,
    ) -> Result<LogChunk> {
        let conn = self.pool.get().await?;
        let db = conn.db();
        let row = db
            .query_opt(
                "SELECT log_bytes FROM runs WHERE id = $1 AND workspace = $2",
                &[&id.as_str(), &ws.as_str()],
            )
            .await?;
        let Some(row) = row else {
            return Err(not_found(db, ws, Entity::Run, id).await);
        };
        let length: i64 = col(&row, 0)?;
        let length = u64::try_from(length).map_err(|_| internal("negative log length"))?;
        if offset > length {
            return Err(StoreError::Invalid(Invalid::one(
                "offset",
                format!("is past the end of the log ({length} bytes)"),
            )));
        }
        let empty = LogChunk {
            offset,
            data: String::new(),
            next_offset: offset,
        };
        if offset == length {
            return Ok(empty);
        }
        let want = max_bytes.min(MAX_LOG_READ_BYTES) as u64;
        let end = offset.saturating_add(want).min(length);
        let rows = db
            .query(
                "SELECT start_offset, data FROM run_logs
                 WHERE run_id = $1
                   AND start_offset >= (SELECT max(start_offset) FROM run_logs
                                        WHERE run_id = $1 AND start_offset <= $2)
                   AND start_offset < $3
                 ORDER BY start_offset",
                &[
                    &id.as_str(),
                    &offset_i64(offset)?,
                    &offset_i64(end.max(offset + 1))?,
                ],
            )
            .await?;
        let mut buf: Vec<u8> = Vec::new();
        let mut first: Option<u64> = None;
        for row in &rows {
            let start: i64 = col(row, 0)?;
            let start = u64::try_from(start).map_err(|_| internal("negative log offset"))?;
            let data: &[u8] = col(row, 1)?;
            let base = *first.get_or_insert(start);
            if start != base + buf.len() as u64 {
                return Err(internal(format!(
                    "log chunks of run '{id}' do not tile at {start}"
                )));
            }
            buf.extend_from_slice(data);
        }
        let base = first
            .ok_or_else(|| internal(format!("log chunk of run '{id}' at {offset} is missing")))?;
        let from = usize::try_from(offset - base).map_err(|_| internal("log offset too large"))?;
        if from >= buf.len() {
            return Err(internal(format!(
                "log chunk of run '{id}' at {offset} is missing"
            )));
        }
        if is_continuation(buf[from]) {
            return Err(StoreError::Invalid(Invalid::one(
                "offset",
                "is not on a character boundary",
            )));
        }
        let mut to = usize::try_from(end - base)
            .map_err(|_| internal("log offset too large"))?
            .min(buf.len());
        while to > from && to < buf.len() && is_continuation(buf[to]) {
            to -= 1;
        }
        if to == from {
            return Ok(empty);
        }
        let data = String::from_utf8(buf[from..to].to_vec())
            .map_err(|e| internal(format!("log of run '{id}' is not UTF-8: {e}")))?;
        let next_offset = offset + data.len() as u64;
        Ok(LogChunk {
            offset,
            data,
            next_offset,
        })
    }
}
