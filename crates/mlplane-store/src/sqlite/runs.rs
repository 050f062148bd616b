//! SQL for runs: their rows, params and tags, listing and lifecycle.
//!
//! Invariants:
//! - only active runs are written to ([`active`]); a deleted run is `InvalidState`;
//! - a run's params, tags, metric series, inputs and outputs are keyed by its integer key
//!   `runs.num` (migration 16), which the lookups here return beside the run.

use super::Db;
use super::ops::{get_experiment, now_ms, page_size, require_workspace, view_sql};
use crate::{Entity, Result, RunQuery, StoreError};
use mlplane_core::limits::MAX_PAGE_SIZE;
use mlplane_core::{
    Cursor, CursorValue, ExperimentId, LifecycleStage, NewRun, Page, PageRequest, Run, RunId,
    RunInfo, RunStatus, RunUpdate, Tag, TokenCodec, WorkspaceName, default_run_name,
};
use rusqlite::{Connection, OptionalExtension, params};

pub(crate) const RUN_COLS: &str = "id, workspace, experiment_id, name, user_id, status, start_time, end_time, lifecycle_stage, parent_run_id, artifact_uri";

pub(crate) type RunRow = (
    String,
    String,
    i64,
    String,
    String,
    String,
    i64,
    Option<i64>,
    String,
    Option<String>,
    String,
);

pub(crate) fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
    ))
}

/// A row selected as `{RUN_COLS}, num`: the run's integer key and its columns.
pub(crate) fn numbered_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, RunRow)> {
    Ok((r.get(11)?, run_row(r)?))
}

pub(crate) fn corrupt(what: &str, v: &str) -> StoreError {
    StoreError::Internal(format!("bad {what} '{v}' in database"))
}

pub(crate) fn to_info(row: RunRow) -> Result<RunInfo> {
    let (id, ws, exp, name, user, status, start, end, stage, parent, uri) = row;
    Ok(RunInfo {
        id: RunId::parse(&id).map_err(|_| corrupt("run id", &id))?,
        workspace: WorkspaceName::parse(&ws).map_err(|_| corrupt("workspace", &ws))?,
        experiment_id: ExperimentId(exp),
        name,
        user,
        status: status
            .parse::<RunStatus>()
            .map_err(|_| corrupt("status", &status))?,
        start_time: start,
        end_time: end,
        lifecycle_stage: super::ops::stage(&stage)?,
        parent_run_id: match parent {
            Some(p) => Some(RunId::parse(&p).map_err(|_| corrupt("parent run id", &p))?),
            None => None,
        },
        artifact_uri: uri,
    })
}

pub(crate) fn get_info(conn: &Connection, ws: &WorkspaceName, id: &RunId) -> Result<RunInfo> {
    Ok(located(conn, ws, id)?.1)
}

/// The run's integer key (`runs.num`) and its info.
pub(crate) fn located(conn: &Connection, ws: &WorkspaceName, id: &RunId) -> Result<(i64, RunInfo)> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {RUN_COLS}, num FROM runs WHERE id = ?1 AND workspace = ?2"
        ))
        .db()?
        .query_row(params![id.as_str(), ws.as_str()], numbered_row)
        .optional()
        .db()?;
    match row {
        Some((num, r)) => Ok((num, to_info(r)?)),
        None => {
            require_workspace(conn, ws)?;
            Err(StoreError::not_found(Entity::Run, id))
        }
    }
}

/// The run's integer key and info; the run must be active to be written to.
pub(crate) fn active(conn: &Connection, ws: &WorkspaceName, id: &RunId) -> Result<(i64, RunInfo)> {
    let (num, info) = located(conn, ws, id)?;
    if info.lifecycle_stage == LifecycleStage::Deleted {
        return Err(StoreError::InvalidState(format!("run '{id}' is deleted")));
    }
    Ok((num, info))
}

pub(crate) fn get_run(conn: &Connection, ws: &WorkspaceName, id: &RunId) -> Result<Run> {
    let found = located(conn, ws, id)?;
    let mut runs = super::search::with_data(conn, vec![found])?;
    runs.pop()
        .ok_or_else(|| StoreError::Internal("run vanished while loading".into()))
}

/// Sets a tag of the run whose integer key is `run`.
pub(crate) fn upsert_tag(conn: &Connection, run: i64, t: &Tag) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO run_tags (run_num, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (run_num, key) DO UPDATE SET value = excluded.value",
    )
    .db()?
    .execute(params![run, t.key, t.value])
    .db()?;
    Ok(())
}

pub(crate) fn create_run(conn: &Connection, ws: &WorkspaceName, r: &NewRun) -> Result<Run> {
    let exp = get_experiment(conn, ws, r.experiment_id)?;
    if exp.lifecycle_stage == LifecycleStage::Deleted {
        return Err(StoreError::InvalidState(format!(
            "experiment '{}' is deleted",
            exp.id
        )));
    }
    if let Some(parent) = &r.parent_run_id {
        get_info(conn, ws, parent)?;
    }
    let id = RunId::generate();
    let name = r
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| default_run_name(&id));
    let end_time = r.status.is_terminal().then_some(r.start_time);
    conn.prepare_cached(&format!(
        "INSERT INTO runs ({RUN_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'active', ?9, ?10)"
    ))
    .db()?
    .execute(params![
        id.as_str(),
        ws.as_str(),
        exp.id.0,
        name,
        r.user,
        r.status.as_str(),
        r.start_time,
        end_time,
        r.parent_run_id.as_ref().map(|p| p.as_str()),
        format!("mlplane-artifacts:/{ws}/{}/{id}/artifacts", exp.id),
    ])
    .db()?;
    let num = conn.last_insert_rowid();
    for t in &r.tags {
        upsert_tag(conn, num, t)?;
    }
    get_run(conn, ws, &id)
}

fn query_scope(ws: &WorkspaceName, q: &RunQuery) -> String {
    let mut s = format!("runs:{ws}:{:?}:", q.view);
    for e in &q.experiment_ids {
        s.push_str(&format!("{e},"));
    }
    s.push(':');
    for st in &q.statuses {
        s.push_str(st.as_str());
        s.push(',');
    }
    if let Some(p) = &q.parent_run_id {
        s.push_str(p.as_str());
    }
    s
}

pub(crate) fn list_runs(
    conn: &Connection,
    codec: &TokenCodec,
    ws: &WorkspaceName,
    q: &RunQuery,
    page: &PageRequest,
) -> Result<Page<RunInfo>> {
    require_workspace(conn, ws)?;
    let n = page_size(page, MAX_PAGE_SIZE)?;
    let scope = query_scope(ws, q);
    let mut sql = format!(
        "SELECT {RUN_COLS} FROM runs WHERE workspace = ?1 AND lifecycle_stage IN {}",
        view_sql(q.view)
    );
    let mut args: Vec<rusqlite::types::Value> = vec![ws.as_str().to_string().into()];
    if !q.experiment_ids.is_empty() {
        let list: Vec<String> = q.experiment_ids.iter().map(|e| e.0.to_string()).collect();
        sql.push_str(&format!(" AND experiment_id IN ({})", list.join(",")));
    }
    if !q.statuses.is_empty() {
        let list: Vec<String> = q
            .statuses
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        sql.push_str(&format!(" AND status IN ({})", list.join(",")));
    }
    if let Some(p) = &q.parent_run_id {
        args.push(p.as_str().to_string().into());
        sql.push_str(&format!(" AND parent_run_id = ?{}", args.len()));
    }
    if let Some(t) = &page.page_token {
        let pos = codec.decode(t, &scope)?;
        let (start, id) = match pos.as_slice() {
            [CursorValue::Int(s), CursorValue::Str(id)] => (*s, id.clone()),
            _ => return Err(mlplane_core::TokenError::Malformed.into()),
        };
        args.push(start.into());
        args.push(id.into());
        let (a, b) = (args.len() - 1, args.len());
        sql.push_str(&format!(
            " AND (start_time < ?{a} OR (start_time = ?{a} AND id > ?{b}))"
        ));
    }
    args.push(((n + 1) as i64).into());
    sql.push_str(&format!(
        " ORDER BY start_time DESC, id ASC LIMIT ?{}",
        args.len()
    ));
    let rows = conn
        .prepare(&sql)
        .db()?
        .query_map(rusqlite::params_from_iter(args), run_row)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    let mut items = rows.into_iter().map(to_info).collect::<Result<Vec<_>>>()?;
    let next_page_token = if items.len() > n {
        items.truncate(n);
        items.last().map(|r| {
            codec.encode(&Cursor {
                scope: scope.clone(),
                position: vec![
                    CursorValue::Int(r.start_time),
                    CursorValue::Str(r.id.to_string()),
                ],
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

pub(crate) fn update_run(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    u: &RunUpdate,
) -> Result<RunInfo> {
    let (_, info) = active(conn, ws, id)?;
    let status = u.status.unwrap_or(info.status);
    if status == RunStatus::Queued && info.status != RunStatus::Queued {
        return Err(StoreError::InvalidState(format!(
            "run '{id}' is {} and cannot move back to QUEUED",
            info.status
        )));
    }
    let end_time = if status.is_terminal() {
        u.end_time.or(info.end_time).or(Some(now_ms()))
    } else {
        None
    };
    let name = u.name.clone().unwrap_or(info.name);
    conn.prepare_cached("UPDATE runs SET status = ?1, end_time = ?2, name = ?3 WHERE id = ?4")
        .db()?
        .execute(params![status.as_str(), end_time, name, id.as_str()])
        .db()?;
    get_info(conn, ws, id)
}

pub(crate) fn set_run_lifecycle(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    to: LifecycleStage,
) -> Result<RunInfo> {
    get_info(conn, ws, id)?;
    conn.execute(
        "UPDATE runs SET lifecycle_stage = ?1 WHERE id = ?2",
        params![to.as_str(), id.as_str()],
    )
    .db()?;
    get_info(conn, ws, id)
}

pub(crate) fn delete_run_tag(
    conn: &Connection,
    ws: &WorkspaceName,
    id: &RunId,
    key: &str,
) -> Result<()> {
    let (num, _) = active(conn, ws, id)?;
    let n = conn
        .execute(
            "DELETE FROM run_tags WHERE run_num = ?1 AND key = ?2",
            params![num, key],
        )
        .db()?;
    if n == 0 {
        return Err(StoreError::not_found(
            Entity::Run,
            format!("{id}/tag {key}"),
        ));
    }
    Ok(())
}
