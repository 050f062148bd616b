//! SQL for workspaces, experiments and shared helpers; every function runs on a connection
//! handed out by the engine (the writer for writes, a reader for reads).
//!
//! Invariants:
//! - functions here never begin or commit transactions: the engine owns transaction scope;
//! - a row from another workspace is reported as `NotFound`, exactly like a missing row.

use super::Db;
use crate::{Entity, Result, StoreError};
use mlplane_core::limits::MAX_PAGE_SIZE;
use mlplane_core::{
    Cursor, CursorValue, Experiment, ExperimentId, LifecycleStage, NewExperiment, Page,
    PageRequest, Tag, TokenCodec, ViewType, Workspace, WorkspaceName,
};
use rusqlite::{Connection, OptionalExtension, params};

pub(crate) use crate::rules::{now_ms, page_size};

pub(crate) fn view_sql(view: ViewType) -> &'static str {
    match view {
        ViewType::ActiveOnly => "('active')",
        ViewType::DeletedOnly => "('deleted')",
        ViewType::All => "('active','deleted')",
    }
}

pub(crate) fn stage(s: &str) -> Result<LifecycleStage> {
    LifecycleStage::parse(s)
        .ok_or_else(|| StoreError::Internal(format!("unknown lifecycle stage '{s}' in database")))
}

pub(crate) fn decode_ints(
    codec: &TokenCodec,
    token: &str,
    scope: &str,
    n: usize,
) -> Result<Vec<i64>> {
    let pos = codec.decode(token, scope)?;
    let ints: Vec<i64> = pos
        .iter()
        .filter_map(|v| match v {
            CursorValue::Int(i) => Some(*i),
            CursorValue::Str(_) => None,
        })
        .collect();
    if ints.len() != n || pos.len() != n {
        return Err(mlplane_core::TokenError::Malformed.into());
    }
    Ok(ints)
}

/// Creates the `default` workspace with its `Default` experiment (id 0) and the page-token
/// secret when missing; returns the secret.
pub(crate) fn init(conn: &Connection) -> Result<Vec<u8>> {
    let now = now_ms();
    conn.execute(
        "INSERT OR IGNORE INTO workspaces (name, description, created_at) VALUES ('default', 'the default workspace', ?1)",
        [now],
    )
    .db()?;
    conn.execute(
        "INSERT OR IGNORE INTO experiments (id, workspace, name, artifact_location, lifecycle_stage, created_at, updated_at)
         VALUES (0, 'default', 'Default', 'mlplane-artifacts:/default/0', 'active', ?1, ?1)",
        [now],
    )
    .db()?;
    let key: [u8; 32] = rand::random();
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('page_token_key', ?1)",
        [&key[..]],
    )
    .db()?;
    conn.query_row(
        "SELECT value FROM meta WHERE key = 'page_token_key'",
        [],
        |r| r.get(0),
    )
    .db()
}

fn workspace_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

fn to_workspace((name, description, created_at): (String, String, i64)) -> Result<Workspace> {
    let name = WorkspaceName::parse(&name)
        .map_err(|_| StoreError::Internal(format!("bad workspace name '{name}' in database")))?;
    Ok(Workspace {
        name,
        description,
        created_at,
    })
}

pub(crate) fn get_workspace(conn: &Connection, ws: &WorkspaceName) -> Result<Workspace> {
    let row = conn
        .prepare_cached("SELECT name, description, created_at FROM workspaces WHERE name = ?1")
        .db()?
        .query_row([ws.as_str()], workspace_row)
        .optional()
        .db()?;
    match row {
        Some(r) => to_workspace(r),
        None => Err(StoreError::not_found(Entity::Workspace, ws)),
    }
}

pub(crate) fn require_workspace(conn: &Connection, ws: &WorkspaceName) -> Result<()> {
    get_workspace(conn, ws).map(|_| ())
}

pub(crate) fn create_workspace(
    conn: &Connection,
    ws: &WorkspaceName,
    description: &str,
) -> Result<Workspace> {
    if get_workspace(conn, ws).is_ok() {
        return Err(StoreError::AlreadyExists {
            entity: Entity::Workspace,
            id: ws.to_string(),
        });
    }
    let now = now_ms();
    conn.execute(
        "INSERT INTO workspaces (name, description, created_at) VALUES (?1, ?2, ?3)",
        params![ws.as_str(), description, now],
    )
    .db()?;
    insert_experiment(
        conn,
        ws,
        &NewExperiment {
            name: "Default".into(),
            artifact_location: None,
            tags: vec![],
        },
    )?;
    get_workspace(conn, ws)
}

pub(crate) fn list_workspaces(
    conn: &Connection,
    codec: &TokenCodec,
    page: &PageRequest,
) -> Result<Page<Workspace>> {
    const SCOPE: &str = "workspaces";
    let n = page_size(page, MAX_PAGE_SIZE)?;
    let after = match &page.page_token {
        Some(t) => match codec.decode(t, SCOPE)?.as_slice() {
            [CursorValue::Str(s)] => s.clone(),
            _ => return Err(mlplane_core::TokenError::Malformed.into()),
        },
        None => String::new(),
    };
    let mut stmt = conn
        .prepare_cached(
            "SELECT name, description, created_at FROM workspaces WHERE name > ?1 ORDER BY name LIMIT ?2",
        )
        .db()?;
    let rows = stmt
        .query_map(params![after, (n + 1) as i64], workspace_row)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    let mut items = rows
        .into_iter()
        .map(to_workspace)
        .collect::<Result<Vec<_>>>()?;
    let next_page_token = if items.len() > n {
        items.truncate(n);
        items.last().map(|w| {
            codec.encode(&Cursor {
                scope: SCOPE.into(),
                position: vec![CursorValue::Str(w.name.to_string())],
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

pub(crate) const EXPERIMENT_COLS: &str =
    "id, workspace, name, artifact_location, lifecycle_stage, created_at, updated_at";

pub(crate) type ExperimentRow = (i64, String, String, String, String, i64, i64);

pub(crate) fn experiment_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ExperimentRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

pub(crate) fn to_experiment(conn: &Connection, row: ExperimentRow) -> Result<Experiment> {
    let (id, ws, name, artifact_location, lifecycle, created_at, updated_at) = row;
    let workspace = WorkspaceName::parse(&ws)
        .map_err(|_| StoreError::Internal(format!("bad workspace name '{ws}' in database")))?;
    let tags = conn
        .prepare_cached(
            "SELECT key, value FROM experiment_tags WHERE experiment_id = ?1 ORDER BY key",
        )
        .db()?
        .query_map([id], |r| {
            Ok(Tag {
                key: r.get(0)?,
                value: r.get(1)?,
            })
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    Ok(Experiment {
        id: ExperimentId(id),
        workspace,
        name,
        artifact_location,
        lifecycle_stage: stage(&lifecycle)?,
        created_at,
        updated_at,
        tags,
    })
}

pub(crate) fn get_experiment(
    conn: &Connection,
    ws: &WorkspaceName,
    id: ExperimentId,
) -> Result<Experiment> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {EXPERIMENT_COLS} FROM experiments WHERE id = ?1 AND workspace = ?2"
        ))
        .db()?
        .query_row(params![id.0, ws.as_str()], experiment_row)
        .optional()
        .db()?;
    match row {
        Some(r) => to_experiment(conn, r),
        None => {
            require_workspace(conn, ws)?;
            Err(StoreError::not_found(Entity::Experiment, id))
        }
    }
}

pub(crate) fn get_experiment_by_name(
    conn: &Connection,
    ws: &WorkspaceName,
    name: &str,
) -> Result<Experiment> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {EXPERIMENT_COLS} FROM experiments WHERE workspace = ?1 AND name = ?2"
        ))
        .db()?
        .query_row(params![ws.as_str(), name], experiment_row)
        .optional()
        .db()?;
    match row {
        Some(r) => to_experiment(conn, r),
        None => {
            require_workspace(conn, ws)?;
            Err(StoreError::not_found(Entity::Experiment, name))
        }
    }
}

fn insert_experiment(conn: &Connection, ws: &WorkspaceName, e: &NewExperiment) -> Result<i64> {
    let now = now_ms();
    let id: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(id), 0) + 1 FROM experiments",
            [],
            |r| r.get(0),
        )
        .db()?;
    let location = e
        .artifact_location
        .clone()
        .unwrap_or_else(|| format!("mlplane-artifacts:/{ws}/{id}"));
    conn.execute(
        "INSERT INTO experiments (id, workspace, name, artifact_location, lifecycle_stage, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'active', ?5, ?5)",
        params![id, ws.as_str(), e.name, location, now],
    )
    .db()?;
    for t in &e.tags {
        upsert_experiment_tag(conn, id, t)?;
    }
    Ok(id)
}

pub(crate) fn create_experiment(
    conn: &Connection,
    ws: &WorkspaceName,
    e: &NewExperiment,
) -> Result<Experiment> {
    require_workspace(conn, ws)?;
    if get_experiment_by_name(conn, ws, &e.name).is_ok() {
        return Err(StoreError::AlreadyExists {
            entity: Entity::Experiment,
            id: e.name.clone(),
        });
    }
    let id = insert_experiment(conn, ws, e)?;
    get_experiment(conn, ws, ExperimentId(id))
}

pub(crate) fn list_experiments(
    conn: &Connection,
    codec: &TokenCodec,
    ws: &WorkspaceName,
    view: ViewType,
    page: &PageRequest,
) -> Result<Page<Experiment>> {
    require_workspace(conn, ws)?;
    let scope = format!("experiments:{ws}:{view:?}");
    let n = page_size(page, MAX_PAGE_SIZE)?;
    let after = match &page.page_token {
        Some(t) => decode_ints(codec, t, &scope, 1)?[0],
        None => -1,
    };
    let rows = conn
        .prepare_cached(&format!(
            "SELECT {EXPERIMENT_COLS} FROM experiments WHERE workspace = ?1 AND id > ?2
             AND lifecycle_stage IN {} ORDER BY id LIMIT ?3",
            view_sql(view)
        ))
        .db()?
        .query_map(params![ws.as_str(), after, (n + 1) as i64], experiment_row)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    let mut items = rows
        .into_iter()
        .map(|r| to_experiment(conn, r))
        .collect::<Result<Vec<_>>>()?;
    let next_page_token = if items.len() > n {
        items.truncate(n);
        items.last().map(|e| {
            codec.encode(&Cursor {
                scope: scope.clone(),
                position: vec![CursorValue::Int(e.id.0)],
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

pub(crate) fn rename_experiment(
    conn: &Connection,
    ws: &WorkspaceName,
    id: ExperimentId,
    new_name: &str,
) -> Result<Experiment> {
    let e = get_experiment(conn, ws, id)?;
    if e.name == new_name {
        return Ok(e);
    }
    if get_experiment_by_name(conn, ws, new_name).is_ok() {
        return Err(StoreError::AlreadyExists {
            entity: Entity::Experiment,
            id: new_name.into(),
        });
    }
    conn.execute(
        "UPDATE experiments SET name = ?1, updated_at = ?2 WHERE id = ?3",
        params![new_name, now_ms(), id.0],
    )
    .db()?;
    get_experiment(conn, ws, id)
}

pub(crate) fn set_experiment_lifecycle(
    conn: &Connection,
    ws: &WorkspaceName,
    id: ExperimentId,
    to: LifecycleStage,
) -> Result<Experiment> {
    let e = get_experiment(conn, ws, id)?;
    if e.lifecycle_stage == to {
        return Err(StoreError::InvalidState(format!(
            "experiment '{id}' is already {}",
            to.as_str()
        )));
    }
    if to == LifecycleStage::Deleted && e.name == "Default" {
        return Err(StoreError::InvalidState(
            "the Default experiment cannot be deleted".into(),
        ));
    }
    conn.execute(
        "UPDATE experiments SET lifecycle_stage = ?1, updated_at = ?2 WHERE id = ?3",
        params![to.as_str(), now_ms(), id.0],
    )
    .db()?;
    conn.execute(
        "UPDATE runs SET lifecycle_stage = ?1 WHERE experiment_id = ?2",
        params![to.as_str(), id.0],
    )
    .db()?;
    get_experiment(conn, ws, id)
}

fn upsert_experiment_tag(conn: &Connection, id: i64, t: &Tag) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
    )
    .db()?
    .execute(params![id, t.key, t.value])
    .db()?;
    Ok(())
}

pub(crate) fn set_experiment_tag(
    conn: &Connection,
    ws: &WorkspaceName,
    id: ExperimentId,
    t: &Tag,
) -> Result<()> {
    get_experiment(conn, ws, id)?;
    upsert_experiment_tag(conn, id.0, t)?;
    conn.execute(
        "UPDATE experiments SET updated_at = ?1 WHERE id = ?2",
        params![now_ms(), id.0],
    )
    .db()?;
    Ok(())
}

pub(crate) fn delete_experiment_tag(
    conn: &Connection,
    ws: &WorkspaceName,
    id: ExperimentId,
    key: &str,
) -> Result<()> {
    get_experiment(conn, ws, id)?;
    let n = conn
        .execute(
            "DELETE FROM experiment_tags WHERE experiment_id = ?1 AND key = ?2",
            params![id.0, key],
        )
        .db()?;
    if n == 0 {
        return Err(StoreError::not_found(
            Entity::Experiment,
            format!("{id}/tag {key}"),
        ));
    }
    conn.execute(
        "UPDATE experiments SET updated_at = ?1 WHERE id = ?2",
        params![now_ms(), id.0],
    )
    .db()?;
    Ok(())
}
