//! Artifact metadata on PostgreSQL: one row per stored file of a run.
//!
//! Directories are not stored; a listing derives them from the paths under a prefix. The
//! `path` column uses the "C" collation, so everything under `dir/` is the index range
//! `['dir/', 'dir0')` ('0' is the byte after '/').
//!
//! Invariants:
//! - a path is stored only as an [`ArtifactPath`] produced it (relative, normalised);
//! - (run, path) is unique: recording a path again replaces its size, hash and time.

use super::PgStore;
use super::rows::{col, internal, lock_live_run, not_found};
use crate::{Entity, Result, StoreError};
use mlplane_core::{ArtifactEntry, ArtifactListing, ArtifactPath, Invalid, RunId, WorkspaceName};
use tokio_postgres::Row;

/// An artifact record from `path, size, sha256, created_at` (run or logged-model table).
pub(super) fn entry_row(row: &Row) -> Result<ArtifactEntry> {
    let path: &str = col(row, 0)?;
    let size: i64 = col(row, 1)?;
    Ok(ArtifactEntry {
        path: ArtifactPath::parse(path)
            .map_err(|e| internal(format!("stored artifact path '{path}' is invalid: {e}")))?,
        size: u64::try_from(size).map_err(|_| internal("negative artifact size"))?,
        sha256: col(row, 2)?,
        created_at: col(row, 3)?,
    })
}

impl PgStore {
    pub(super) async fn artifact_record(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        entry: ArtifactEntry,
    ) -> Result<()> {
        let size = i64::try_from(entry.size)
            .map_err(|_| StoreError::Invalid(Invalid::one("size", "is too large")))?;
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        lock_live_run(db, ws, id).await?;
        db.execute(
            "INSERT INTO artifacts (run_id, path, size, sha256, created_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (run_id, path) DO UPDATE
             SET size = EXCLUDED.size, sha256 = EXCLUDED.sha256, created_at = EXCLUDED.created_at",
            &[
                &id.as_str(),
                &entry.path.as_str(),
                &size,
                &entry.sha256,
                &entry.created_at,
            ],
        )
        .await?;
        tx.commit().await
    }

    pub(super) async fn artifact_get(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        path: &ArtifactPath,
    ) -> Result<ArtifactEntry> {
        let conn = self.pool.get().await?;
        let db = conn.db();
        let row = db
            .query_opt(
                "SELECT a.path, a.size, a.sha256, a.created_at
                 FROM runs r LEFT JOIN artifacts a ON a.run_id = r.id AND a.path = $3
                 WHERE r.id = $1 AND r.workspace = $2",
                &[&id.as_str(), &ws.as_str(), &path.as_str()],
            )
            .await?;
        let Some(row) = row else {
            return Err(not_found(db, ws, Entity::Run, id).await);
        };
        let found: Option<&str> = col(&row, 0)?;
        if found.is_none() {
            return Err(StoreError::not_found(Entity::Artifact, path));
        }
        entry_row(&row)
    }

    pub(super) async fn artifact_list(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        dir: &ArtifactPath,
    ) -> Result<ArtifactListing> {
        let conn = self.pool.get().await?;
        let db = conn.db();
        let run = db
            .query_opt(
                "SELECT 1 FROM runs WHERE id = $1 AND workspace = $2",
                &[&id.as_str(), &ws.as_str()],
            )
            .await?;
        if run.is_none() {
            return Err(not_found(db, ws, Entity::Run, id).await);
        }
        // Paths under `dir` are those in [lower, upper); `skip` is the number of characters
        // of the prefix, so `substr(path, skip + 1)` is the path relative to `dir`.
        let (lower, upper) = if dir.is_root() {
            (String::new(), None)
        } else {
            (format!("{dir}/"), Some(format!("{dir}0")))
        };
        let skip = i32::try_from(lower.chars().count() + 1)
            .map_err(|_| internal("artifact directory too long"))?;
        let files_st = db
            .stmt(
                "SELECT path, size, sha256, created_at FROM artifacts
                 WHERE run_id = $1 AND path >= $2 AND ($3::text IS NULL OR path < $3)
                   AND strpos(substr(path, $4), '/') = 0
                 ORDER BY path",
            )
            .await?;
        let dirs_st = db
            .stmt(
                "SELECT DISTINCT split_part(substr(path, $4), '/', 1) AS d FROM artifacts
                 WHERE run_id = $1 AND path >= $2 AND ($3::text IS NULL OR path < $3)
                   AND strpos(substr(path, $4), '/') > 0",
            )
            .await?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
            [&id.as_str(), &lower, &upper, &skip];
        let (files, dirs) = futures::try_join!(
            db.query_stmt(&files_st, &params),
            db.query_stmt(&dirs_st, &params),
        )?;
        let mut files = files.iter().map(entry_row).collect::<Result<Vec<_>>>()?;
        // Sorted here as well, by bytes, whatever collation the expressions ended up with.
        files.sort_by(|a, b| a.path.as_str().cmp(b.path.as_str()));
        let mut dirs = dirs
            .iter()
            .map(|r| col::<String>(r, 0))
            .collect::<Result<Vec<_>>>()?;
        dirs.sort();
        Ok(ArtifactListing { files, dirs })
    }

    pub(super) async fn artifact_delete(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        path: &ArtifactPath,
    ) -> Result<()> {
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        lock_live_run(db, ws, id).await?;
        let deleted = db
            .execute(
                "DELETE FROM artifacts WHERE run_id = $1 AND path = $2",
                &[&id.as_str(), &path.as_str()],
            )
            .await?;
        if deleted == 0 {
            return Err(StoreError::not_found(Entity::Artifact, path));
        }
        tx.commit().await
    }
}
