//! SQL for versioned assets on SQLite: creating versions (numbering automatic ones), reading
//! one version or the latest, listings and archiving.
//!
//! Invariants:
//! - functions here never begin or commit transactions; writes run on the single writer
//!   thread, so the automatic version read and the insert cannot interleave with another
//!   create;
//! - an asset of another workspace is `NotFound`, exactly like a missing one;
//! - only `archived` is ever updated, and `storage_uri` once, from null, when a pending
//!   version completes; its file records change only before that.

use super::Db;
use super::ops::{now_ms, page_size, require_workspace};
use crate::Result;
use crate::jobs::{
    RawAsset, asset_exists, asset_not_found, assets_scope, check_asset, check_asset_key,
    check_completion, check_file, check_kind_has_files, check_pending, decode_file,
};
use crate::rules::encode_input_tags;
use mlplane_core::assets::numeric_version;
use mlplane_core::limits::MAX_PAGE_SIZE;
use mlplane_core::{
    Asset, AssetFile, AssetKind, AssetVersionRef, Cursor, CursorValue, NewAsset, Page, PageRequest,
    TokenCodec, WorkspaceName,
};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params, params_from_iter};

const ASSET_COLS: &str = "a.id, a.kind, a.workspace, a.name, a.version, a.description, a.tags, \
     a.spec, a.storage_uri, a.source_job, a.archived, a.created_at";

fn asset_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, RawAsset)> {
    Ok((
        r.get(0)?,
        RawAsset {
            kind: r.get(1)?,
            workspace: r.get(2)?,
            name: r.get(3)?,
            version: r.get(4)?,
            description: r.get(5)?,
            tags: r.get(6)?,
            spec: r.get(7)?,
            storage_uri: r.get(8)?,
            source_job: r.get(9)?,
            archived: r.get(10)?,
            created_at: r.get(11)?,
        },
    ))
}

fn query_assets(conn: &Connection, cond: &str, args: Vec<SqlValue>) -> Result<Vec<(i64, Asset)>> {
    let rows = conn
        .prepare_cached(&format!("SELECT {ASSET_COLS} FROM assets a WHERE {cond}"))
        .db()?
        .query_map(params_from_iter(args), asset_row)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    rows.into_iter()
        .map(|(id, raw)| Ok((id, raw.decode()?)))
        .collect()
}

fn key_args(ws: &WorkspaceName, kind: AssetKind, name: &str) -> Vec<SqlValue> {
    vec![
        ws.as_str().to_string().into(),
        kind.as_str().to_string().into(),
        name.to_string().into(),
    ]
}

pub(crate) fn get(
    conn: &Connection,
    ws: &WorkspaceName,
    kind: AssetKind,
    name: &str,
    version: &AssetVersionRef,
) -> Result<Asset> {
    let mut args = key_args(ws, kind, name);
    let cond = match version {
        AssetVersionRef::Exact(v) => {
            args.push(v.clone().into());
            "a.workspace = ?1 AND a.kind = ?2 AND a.name = ?3 AND a.version = ?4"
        }
        AssetVersionRef::Latest => {
            "a.workspace = ?1 AND a.kind = ?2 AND a.name = ?3 AND a.archived = 0
             ORDER BY a.created_at DESC, a.id DESC LIMIT 1"
        }
    };
    match query_assets(conn, cond, args)?.pop() {
        Some((_, a)) => Ok(a),
        None => {
            require_workspace(conn, ws)?;
            Err(asset_not_found(kind, name, version))
        }
    }
}

pub(crate) fn get_exact(
    conn: &Connection,
    ws: &WorkspaceName,
    kind: AssetKind,
    name: &str,
    version: &str,
) -> Result<Asset> {
    get(
        conn,
        ws,
        kind,
        name,
        &AssetVersionRef::Exact(version.to_string()),
    )
}

pub(crate) fn create(conn: &Connection, ws: &WorkspaceName, a: &NewAsset) -> Result<Asset> {
    check_asset(a)?;
    require_workspace(conn, ws)?;
    if let Some(job) = &a.source_job {
        super::jobs::find_job(conn, ws, job)?;
    }
    let version = match &a.version {
        Some(v) => v.clone(),
        None => {
            let max: Option<i64> = conn
                .prepare_cached(
                    "SELECT MAX(version_num) FROM assets
                     WHERE workspace = ?1 AND kind = ?2 AND name = ?3",
                )
                .db()?
                .query_row(params![ws.as_str(), a.kind.as_str(), a.name], |r| r.get(0))
                .db()?;
            max.unwrap_or(0).saturating_add(1).to_string()
        }
    };
    let taken = conn
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM assets
             WHERE workspace = ?1 AND kind = ?2 AND name = ?3 AND version = ?4)",
        )
        .db()?
        .query_row(
            params![ws.as_str(), a.kind.as_str(), a.name, version],
            |r| r.get::<_, bool>(0),
        )
        .db()?;
    if taken {
        return Err(asset_exists(a.kind, &a.name, &version));
    }
    conn.prepare_cached(
        "INSERT INTO assets (workspace, kind, name, version, version_num, description, tags,
             spec, storage_uri, source_job, archived, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, ?11)",
    )
    .db()?
    .execute(params![
        ws.as_str(),
        a.kind.as_str(),
        a.name,
        version,
        numeric_version(&version),
        a.description,
        encode_input_tags(&a.tags),
        a.spec,
        a.storage_uri,
        a.source_job.as_ref().map(|j| j.as_str()),
        now_ms(),
    ])
    .db()?;
    get_exact(conn, ws, a.kind, &a.name, &version)
}

pub(crate) fn list_latest(
    conn: &Connection,
    codec: &TokenCodec,
    ws: &WorkspaceName,
    kind: AssetKind,
    include_archived: bool,
    page: &PageRequest,
) -> Result<Page<Asset>> {
    require_workspace(conn, ws)?;
    let n = page_size(page, MAX_PAGE_SIZE)?;
    let scope = assets_scope(ws, kind, None, include_archived);
    let after = match &page.page_token {
        Some(t) => match codec.decode(t, &scope)?.as_slice() {
            [CursorValue::Str(s)] => s.clone(),
            _ => return Err(mlplane_core::TokenError::Malformed.into()),
        },
        None => String::new(),
    };
    let args: Vec<SqlValue> = vec![
        ws.as_str().to_string().into(),
        kind.as_str().to_string().into(),
        include_archived.into(),
        after.into(),
        i64::try_from(n + 1).unwrap_or(i64::MAX).into(),
    ];
    let mut items: Vec<Asset> = query_assets(
        conn,
        "a.workspace = ?1 AND a.kind = ?2 AND a.name > ?4
           AND a.id = (SELECT b.id FROM assets b
                       WHERE b.workspace = a.workspace AND b.kind = a.kind AND b.name = a.name
                         AND (?3 OR b.archived = 0)
                       ORDER BY b.created_at DESC, b.id DESC LIMIT 1)
         ORDER BY a.name LIMIT ?5",
        args,
    )?
    .into_iter()
    .map(|(_, a)| a)
    .collect();
    let next_page_token = if items.len() > n {
        items.truncate(n);
        items.last().map(|a| {
            codec.encode(&Cursor {
                scope: scope.clone(),
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

pub(crate) fn list_versions(
    conn: &Connection,
    codec: &TokenCodec,
    ws: &WorkspaceName,
    kind: AssetKind,
    name: &str,
    include_archived: bool,
    page: &PageRequest,
) -> Result<Page<Asset>> {
    check_asset_key(name, None)?;
    require_workspace(conn, ws)?;
    let n = page_size(page, MAX_PAGE_SIZE)?;
    let scope = assets_scope(ws, kind, Some(name), include_archived);
    let (at, id) = match &page.page_token {
        Some(t) => {
            let p = super::ops::decode_ints(codec, t, &scope, 2)?;
            (p[0], p[1])
        }
        None => (i64::MAX, i64::MAX),
    };
    let mut args = key_args(ws, kind, name);
    args.extend([
        SqlValue::from(include_archived),
        at.into(),
        id.into(),
        i64::try_from(n + 1).unwrap_or(i64::MAX).into(),
    ]);
    let mut rows = query_assets(
        conn,
        "a.workspace = ?1 AND a.kind = ?2 AND a.name = ?3 AND (?4 OR a.archived = 0)
           AND (a.created_at < ?5 OR (a.created_at = ?5 AND a.id < ?6))
         ORDER BY a.created_at DESC, a.id DESC LIMIT ?7",
        args,
    )?;
    let next_page_token = if rows.len() > n {
        rows.truncate(n);
        rows.last().map(|(id, a)| {
            codec.encode(&Cursor {
                scope: scope.clone(),
                position: vec![CursorValue::Int(a.created_at), CursorValue::Int(*id)],
            })
        })
    } else {
        None
    };
    Ok(Page {
        items: rows.into_iter().map(|(_, a)| a).collect(),
        next_page_token,
    })
}

pub(crate) fn set_archived(
    conn: &Connection,
    ws: &WorkspaceName,
    kind: AssetKind,
    name: &str,
    version: &str,
    archived: bool,
) -> Result<Asset> {
    get_exact(conn, ws, kind, name, version)?;
    conn.prepare_cached(
        "UPDATE assets SET archived = ?1
         WHERE workspace = ?2 AND kind = ?3 AND name = ?4 AND version = ?5",
    )
    .db()?
    .execute(params![archived, ws.as_str(), kind.as_str(), name, version])
    .db()?;
    get_exact(conn, ws, kind, name, version)
}

/// The row id and the version `(kind, name, version)`.
fn get_with_id(
    conn: &Connection,
    ws: &WorkspaceName,
    kind: AssetKind,
    name: &str,
    version: &str,
) -> Result<(i64, Asset)> {
    let mut args = key_args(ws, kind, name);
    args.push(version.to_string().into());
    match query_assets(
        conn,
        "a.workspace = ?1 AND a.kind = ?2 AND a.name = ?3 AND a.version = ?4",
        args,
    )?
    .pop()
    {
        Some(r) => Ok(r),
        None => {
            require_workspace(conn, ws)?;
            Err(asset_not_found(
                kind,
                name,
                &AssetVersionRef::Exact(version.to_string()),
            ))
        }
    }
}

pub(crate) fn record_file(
    conn: &Connection,
    ws: &WorkspaceName,
    kind: AssetKind,
    name: &str,
    version: &str,
    f: &AssetFile,
) -> Result<()> {
    check_file(kind, name, version, f)?;
    let (id, a) = get_with_id(conn, ws, kind, name, version)?;
    check_pending(&a)?;
    conn.prepare_cached(
        "INSERT INTO asset_files (asset_id, path, size, sha256) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (asset_id, path) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256",
    )
    .db()?
    .execute(params![
        id,
        f.path.as_str(),
        i64::try_from(f.size).unwrap_or(i64::MAX),
        f.sha256
    ])
    .db()?;
    Ok(())
}

pub(crate) fn files(
    conn: &Connection,
    ws: &WorkspaceName,
    kind: AssetKind,
    name: &str,
    version: &str,
) -> Result<Vec<AssetFile>> {
    check_asset_key(name, Some(version))?;
    let (id, _) = get_with_id(conn, ws, kind, name, version)?;
    let rows = conn
        .prepare_cached(
            "SELECT path, size, sha256 FROM asset_files WHERE asset_id = ?1 ORDER BY path",
        )
        .db()?
        .query_map(params![id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .db()?
        .collect::<rusqlite::Result<Vec<(String, i64, String)>>>()
        .db()?;
    rows.into_iter()
        .map(|(p, n, h)| decode_file(p, n, h))
        .collect()
}

pub(crate) fn complete(
    conn: &Connection,
    ws: &WorkspaceName,
    kind: AssetKind,
    name: &str,
    version: &str,
    storage_uri: &str,
) -> Result<Asset> {
    check_completion(name, version, storage_uri)?;
    check_kind_has_files(kind)?;
    let (id, a) = get_with_id(conn, ws, kind, name, version)?;
    check_pending(&a)?;
    conn.prepare_cached("UPDATE assets SET storage_uri = ?1 WHERE id = ?2 AND storage_uri IS NULL")
        .db()?
        .execute(params![storage_uri, id])
        .db()?;
    get_exact(conn, ws, kind, name, version)
}
