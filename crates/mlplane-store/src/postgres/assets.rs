//! Versioned assets on PostgreSQL: creating versions (numbering automatic ones), reading one
//! version or the latest, and listings. The trait wiring is in [`super::jobs`].
//!
//! Invariants:
//! - creating a version takes a transaction-scoped advisory lock on `(workspace, kind, name)`
//!   before reading the highest number, so concurrent creates of one name serialize and get
//!   distinct numbers; the unique key catches anything else as `AlreadyExists`;
//! - an asset of another workspace is `NotFound`, exactly like a missing one;
//! - only `archived` is ever updated, and `storage_uri` once, from null, when a pending
//!   version completes (under the row lock that file records take too), so no file record
//!   changes after completion.

use super::PgStore;
use super::pool::Db;
use super::rows::{col, cursor_int, cursor_len, cursor_str, db_err, is_unique_violation};
use super::rows::{limit_plus_one, now_ms, page_size, require_workspace};
use crate::Result;
use crate::jobs::check_asset_key;
use crate::jobs::{RawAsset, asset_exists, asset_not_found, assets_scope, check_asset};
use crate::jobs::{check_completion, check_file, check_kind_has_files, check_pending, decode_file};
use mlplane_core::assets::numeric_version;
use mlplane_core::limits::MAX_PAGE_SIZE;
use mlplane_core::{
    Asset, AssetFile, AssetKind, AssetVersionRef, Cursor, CursorValue, NewAsset, Page, PageRequest,
    WorkspaceName,
};
use tokio_postgres::Row;

/// Columns of an asset, in the order [`asset_row`] reads them.
macro_rules! asset_cols {
    () => {
        "a.id, a.kind, a.workspace, a.name, a.version, a.description, a.tags, a.spec, \
         a.storage_uri, a.source_job, a.archived, a.created_at"
    };
}

fn asset_row(row: &Row) -> Result<(i64, Asset)> {
    let raw = RawAsset {
        kind: col(row, 1)?,
        workspace: col(row, 2)?,
        name: col(row, 3)?,
        version: col(row, 4)?,
        description: col(row, 5)?,
        tags: col(row, 6)?,
        spec: col(row, 7)?,
        storage_uri: col(row, 8)?,
        source_job: col(row, 9)?,
        archived: col(row, 10)?,
        created_at: col(row, 11)?,
    };
    Ok((col(row, 0)?, raw.decode()?))
}

pub(super) async fn get(
    db: Db<'_>,
    ws: &WorkspaceName,
    kind: AssetKind,
    name: &str,
    version: &AssetVersionRef,
) -> Result<Asset> {
    let row = match version {
        AssetVersionRef::Exact(v) => {
            db.query_opt(
                concat!(
                    "SELECT ",
                    asset_cols!(),
                    " FROM assets a
                      WHERE a.workspace = $1 AND a.kind = $2 AND a.name = $3 AND a.version = $4"
                ),
                &[&ws.as_str(), &kind.as_str(), &name, v],
            )
            .await?
        }
        AssetVersionRef::Latest => {
            db.query_opt(
                concat!(
                    "SELECT ",
                    asset_cols!(),
                    " FROM assets a
                      WHERE a.workspace = $1 AND a.kind = $2 AND a.name = $3 AND NOT a.archived
                      ORDER BY a.created_at DESC, a.id DESC LIMIT 1"
                ),
                &[&ws.as_str(), &kind.as_str(), &name],
            )
            .await?
        }
    };
    match row {
        Some(r) => Ok(asset_row(&r)?.1),
        None => {
            require_workspace(db, ws).await?;
            Err(asset_not_found(kind, name, version))
        }
    }
}

pub(super) async fn get_exact(
    db: Db<'_>,
    ws: &WorkspaceName,
    kind: AssetKind,
    name: &str,
    version: &str,
) -> Result<Asset> {
    get(
        db,
        ws,
        kind,
        name,
        &AssetVersionRef::Exact(version.to_string()),
    )
    .await
}

impl PgStore {
    pub(super) async fn asset_create(&self, ws: &WorkspaceName, a: NewAsset) -> Result<Asset> {
        check_asset(&a)?;
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        require_workspace(db, ws).await?;
        if let Some(job) = &a.source_job {
            super::jobs::find_job(db, ws, job, false).await?;
        }
        let lock_key = format!("asset\u{1f}{ws}\u{1f}{}\u{1f}{}", a.kind, a.name);
        db.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&lock_key],
        )
        .await?;
        let version = match &a.version {
            Some(v) => v.clone(),
            None => {
                let row = db
                    .query_one(
                        "SELECT MAX(version_num) FROM assets
                         WHERE workspace = $1 AND kind = $2 AND name = $3",
                        &[&ws.as_str(), &a.kind.as_str(), &a.name],
                    )
                    .await?;
                let max: Option<i64> = col(&row, 0)?;
                max.unwrap_or(0).saturating_add(1).to_string()
            }
        };
        let inserted = db
            .query_opt_raw(
                concat!(
                    "INSERT INTO assets AS a (workspace, kind, name, version, version_num,
                         description, tags, spec, storage_uri, source_job, archived, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, false, $11)
                     RETURNING ",
                    asset_cols!()
                ),
                &[
                    &ws.as_str(),
                    &a.kind.as_str(),
                    &a.name,
                    &version,
                    &numeric_version(&version),
                    &a.description,
                    &crate::rules::encode_input_tags(&a.tags),
                    &a.spec,
                    &a.storage_uri,
                    &a.source_job.as_ref().map(|j| j.as_str()),
                    &now_ms(),
                ],
            )
            .await?;
        let asset = match inserted {
            Ok(Some(row)) => asset_row(&row)?.1,
            Ok(None) => return Err(super::rows::internal("insert returned no row")),
            Err(e) if is_unique_violation(&e) => {
                return Err(asset_exists(a.kind, &a.name, &version));
            }
            Err(e) => return Err(db_err(e)),
        };
        tx.commit().await?;
        Ok(asset)
    }

    pub(super) async fn asset_list_latest(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        include_archived: bool,
        page: &PageRequest,
    ) -> Result<Page<Asset>> {
        let size = page_size(page, MAX_PAGE_SIZE)?;
        let scope = assets_scope(ws, kind, None, include_archived);
        let after = match &page.page_token {
            Some(t) => {
                let pos = self.codec.decode(t, &scope)?;
                cursor_len(&pos, 1)?;
                cursor_str(&pos, 0)?.to_string()
            }
            None => String::new(),
        };
        let conn = self.pool.get().await?;
        let db = conn.db();
        require_workspace(db, ws).await?;
        let rows = db
            .query(
                concat!(
                    "SELECT ",
                    asset_cols!(),
                    " FROM assets a
                      WHERE a.workspace = $1 AND a.kind = $2 AND a.name > $4
                        AND a.id = (SELECT b.id FROM assets b
                                    WHERE b.workspace = a.workspace AND b.kind = a.kind
                                      AND b.name = a.name AND ($3 OR NOT b.archived)
                                    ORDER BY b.created_at DESC, b.id DESC LIMIT 1)
                      ORDER BY a.name LIMIT $5"
                ),
                &[
                    &ws.as_str(),
                    &kind.as_str(),
                    &include_archived,
                    &after,
                    &limit_plus_one(size),
                ],
            )
            .await?;
        let mut items = rows
            .iter()
            .map(|r| asset_row(r).map(|(_, a)| a))
            .collect::<Result<Vec<_>>>()?;
        let next_page_token = if items.len() > size {
            items.truncate(size);
            items.last().map(|a| {
                self.codec.encode(&Cursor {
                    scope,
                    position: vec![CursorValue::Str(a.name.clone())],
                })
            })
        } else {
            None
        };
        Ok(Page {
            items,
            next_page_token,
        })
    }

    pub(super) async fn asset_list_versions(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        include_archived: bool,
        page: &PageRequest,
    ) -> Result<Page<Asset>> {
        check_asset_key(name, None)?;
        let size = page_size(page, MAX_PAGE_SIZE)?;
        let scope = assets_scope(ws, kind, Some(name), include_archived);
        let (at, id) = match &page.page_token {
            Some(t) => {
                let pos = self.codec.decode(t, &scope)?;
                cursor_len(&pos, 2)?;
                (cursor_int(&pos, 0)?, cursor_int(&pos, 1)?)
            }
            None => (i64::MAX, i64::MAX),
        };
        let conn = self.pool.get().await?;
        let db = conn.db();
        require_workspace(db, ws).await?;
        let rows = db
            .query(
                concat!(
                    "SELECT ",
                    asset_cols!(),
                    " FROM assets a
                      WHERE a.workspace = $1 AND a.kind = $2 AND a.name = $3
                        AND ($4 OR NOT a.archived)
                        AND (a.created_at < $5 OR (a.created_at = $5 AND a.id < $6))
                      ORDER BY a.created_at DESC, a.id DESC LIMIT $7"
                ),
                &[
                    &ws.as_str(),
                    &kind.as_str(),
                    &name,
                    &include_archived,
                    &at,
                    &id,
                    &limit_plus_one(size),
                ],
            )
            .await?;
        let mut items = rows.iter().map(asset_row).collect::<Result<Vec<_>>>()?;
        let next_page_token = if items.len() > size {
            items.truncate(size);
            items.last().map(|(id, a)| {
                self.codec.encode(&Cursor {
                    scope,
                    position: vec![CursorValue::Int(a.created_at), CursorValue::Int(*id)],
                })
            })
        } else {
            None
        };
        Ok(Page {
            items: items.into_iter().map(|(_, a)| a).collect(),
            next_page_token,
        })
    }

    /// The row id and the version, locked `FOR UPDATE` when `lock` (inside a transaction).
    async fn asset_with_id(
        db: Db<'_>,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        version: &str,
        lock: bool,
    ) -> Result<(i64, Asset)> {
        let sql = if lock {
            concat!(
                "SELECT ",
                asset_cols!(),
                " FROM assets a
                  WHERE a.workspace = $1 AND a.kind = $2 AND a.name = $3 AND a.version = $4
                  FOR UPDATE"
            )
        } else {
            concat!(
                "SELECT ",
                asset_cols!(),
                " FROM assets a
                  WHERE a.workspace = $1 AND a.kind = $2 AND a.name = $3 AND a.version = $4"
            )
        };
        match db
            .query_opt(sql, &[&ws.as_str(), &kind.as_str(), &name, &version])
            .await?
        {
            Some(r) => asset_row(&r),
            None => {
                require_workspace(db, ws).await?;
                Err(asset_not_found(
                    kind,
                    name,
                    &AssetVersionRef::Exact(version.to_string()),
                ))
            }
        }
    }

    pub(super) async fn asset_record_file(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        version: &str,
        f: &AssetFile,
    ) -> Result<()> {
        check_file(kind, name, version, f)?;
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        let (id, a) = Self::asset_with_id(db, ws, kind, name, version, true).await?;
        check_pending(&a)?;
        db.execute(
            "INSERT INTO asset_files (asset_id, path, size, sha256) VALUES ($1, $2, $3, $4)
             ON CONFLICT (asset_id, path) DO UPDATE SET size = EXCLUDED.size,
                 sha256 = EXCLUDED.sha256",
            &[
                &id,
                &f.path.as_str(),
                &i64::try_from(f.size).unwrap_or(i64::MAX),
                &f.sha256,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn asset_file_list(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        version: &str,
    ) -> Result<Vec<AssetFile>> {
        check_asset_key(name, Some(version))?;
        let conn = self.pool.get().await?;
        let db = conn.db();
        let (id, _) = Self::asset_with_id(db, ws, kind, name, version, false).await?;
        let rows = db
            .query(
                "SELECT path, size, sha256 FROM asset_files WHERE asset_id = $1 ORDER BY path",
                &[&id],
            )
            .await?;
        rows.iter()
            .map(|r| decode_file(col(r, 0)?, col(r, 1)?, col(r, 2)?))
            .collect()
    }

    pub(super) async fn asset_complete(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        version: &str,
        storage_uri: &str,
    ) -> Result<Asset> {
        check_completion(name, version, storage_uri)?;
        check_kind_has_files(kind)?;
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        let (id, a) = Self::asset_with_id(db, ws, kind, name, version, true).await?;
        check_pending(&a)?;
        db.execute(
            "UPDATE assets SET storage_uri = $1 WHERE id = $2",
            &[&storage_uri, &id],
        )
        .await?;
        let asset = get_exact(db, ws, kind, name, version).await?;
        tx.commit().await?;
        Ok(asset)
    }
}
