//! SQL for a run's log stream and its artifact records.
//!
//! Invariants:
//! - log chunks are stored at their byte offset, so the stream's length is the end of the
//!   last chunk and reads never split a UTF-8 character;
//! - an artifact record exists only for bytes already durable in the artifact store.

use super::Db;
use super::runs::{active, corrupt, get_info};
use crate::rules::{dir_range, group_listing};
use crate::{Entity, Result, StoreError};
use mlplane_core::{
    ArtifactEntry, ArtifactListing, ArtifactPath, Invalid, LogChunk, RunId, WorkspaceName,
};
use rusqlite::{Connection, OptionalExtension, params};

fn log_len(conn: &Connection, id: &RunId) -> Result<u64> {
    let len: Option<i64> = conn
        .prepare_cached(
            "SELECT start_offset + length(CAST(data AS BLOB)) FROM run_logs WHERE run_id = ?1
             ORDER BY start_offset DESC LIMIT 1",
        )
        .db()?
        .query_row([id.as_str()], |r| r.get(0))
        .optional()
        .db()?;
    Ok(len.unwrap_or(0) as u64)
}

pub(crate) fn append_log(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    data: &str,
) -> Result<u64> {
    crate::rules::check_log_append(data)?;
    active(conn, ws, id)?;
    let start = log_len(conn, id)?;
    if data.is_empty() {
        return Ok(start);
    }
    conn.prepare_cached("INSERT INTO run_logs (run_id, start_offset, data) VALUES (?1, ?2, ?3)")
        .db()?
        .execute(params![id.as_str(), start as i64, data])
        .db()?;
    Ok(start + data.len() as u64)
}

pub(crate) fn read_log(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    offset: u64,
    max_bytes: usize,
) -> Result<LogChunk> {
    get_info(conn, ws, id)?;
    let total = log_len(conn, id)?;
    if offset > total {
        return Err(StoreError::Invalid(Invalid::one(
            "offset",
            format!("is beyond the end of the log ({total} bytes)"),
        )));
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT start_offset, data FROM run_logs WHERE run_id = ?1
             AND start_offset + length(CAST(data AS BLOB)) > ?2 ORDER BY start_offset",
        )
        .db()?;
    let mut rows = stmt.query(params![id.as_str(), offset as i64]).db()?;
    let mut out = String::new();
    while let Some(row) = rows.next().db()? {
        let start: i64 = row.get(0).db()?;
        let data: String = row.get(1).db()?;
        let skip = (offset as i64 - start).max(0) as usize;
        let Some(piece) = data.get(skip..) else {
            return Err(StoreError::Invalid(Invalid::one(
                "offset",
                "is not on a character boundary",
            )));
        };
        let room = max_bytes.saturating_sub(out.len());
        if piece.len() <= room {
            out.push_str(piece);
        } else {
            let mut cut = room;
            while !piece.is_char_boundary(cut) {
                cut -= 1;
            }
            out.push_str(&piece[..cut]);
            break;
        }
        if out.len() >= max_bytes {
            break;
        }
    }
    let next_offset = offset + out.len() as u64;
    Ok(LogChunk {
        offset,
        data: out,
        next_offset,
    })
}

pub(crate) fn record_artifact(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    e: &ArtifactEntry,
) -> Result<()> {
    active(conn, ws, id)?;
    conn.prepare_cached(
        "INSERT INTO artifacts (run_id, path, size, sha256, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (run_id, path) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256,
         created_at = excluded.created_at",
    )
    .db()?
    .execute(params![
        id.as_str(),
        e.path.as_str(),
        e.size as i64,
        e.sha256,
        e.created_at
    ])
    .db()?;
    Ok(())
}

pub(crate) fn artifact_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, i64, String, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

pub(crate) fn to_entry(
    (path, size, sha256, created_at): (String, i64, String, i64),
) -> Result<ArtifactEntry> {
    Ok(ArtifactEntry {
        path: ArtifactPath::parse(&path).map_err(|_| corrupt("artifact path", &path))?,
        size: size.max(0) as u64,
        sha256,
        created_at,
    })
}

pub(crate) fn get_artifact(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    path: &ArtifactPath,
) -> Result<ArtifactEntry> {
    get_info(conn, ws, id)?;
    let row = conn
        .prepare_cached(
            "SELECT path, size, sha256, created_at FROM artifacts WHERE run_id = ?1 AND path = ?2",
        )
        .db()?
        .query_row(params![id.as_str(), path.as_str()], artifact_row)
        .optional()
        .db()?;
    match row {
        Some(r) => to_entry(r),
        None => Err(StoreError::not_found(Entity::Artifact, path)),
    }
}

pub(crate) fn list_artifacts(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    dir: &ArtifactPath,
) -> Result<ArtifactListing> {
    get_info(conn, ws, id)?;
    let (lo, hi) = dir_range(dir);
    let entries = conn
        .prepare_cached(
            "SELECT path, size, sha256, created_at FROM artifacts WHERE run_id = ?1 AND path >= ?2 AND path < ?3 ORDER BY path",
        )
        .db()?
        .query_map(params![id.as_str(), lo, hi], artifact_row)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?
        .into_iter()
        .map(to_entry)
        .collect::<Result<Vec<_>>>()?;
    Ok(group_listing(&lo, entries))
}

pub(crate) fn delete_artifact(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    path: &ArtifactPath,
) -> Result<()> {
    active(conn, ws, id)?;
    let n = conn
        .execute(
            "DELETE FROM artifacts WHERE run_id = ?1 AND path = ?2",
            params![id.as_str(), path.as_str()],
        )
        .db()?;
    if n == 0 {
        return Err(StoreError::not_found(Entity::Artifact, path));
    }
    Ok(())
}
