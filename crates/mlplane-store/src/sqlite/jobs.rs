//! SQL for jobs on SQLite: creation with the job's run, listing, claiming, status changes
//! (kept in step with the run), and the inputs and outputs recorded for lineage.
//!
//! Invariants:
//! - functions here never begin or commit transactions: the engine owns transaction scope,
//!   and writes run on the single writer thread, so a claim's select-then-update is atomic;
//! - a job of another workspace is `NotFound`, exactly like a missing one;
//! - a job's status and its run's status change in the same statement group.

use super::Db;
use super::ops::{now_ms, page_size, require_workspace};
use super::runs;
use crate::jobs::{
    RawJob, RawJobIo, Transition, job_exists, job_name, job_not_found, jobs_scope, plan_cancel,
    plan_transition, prepare_job,
};
use crate::rules::encode_input_tags;
use crate::{AssetLineage, Result, StoreError};
use mlplane_core::limits::MAX_PAGE_SIZE;
use mlplane_core::{
    AssetKind, Cursor, CursorValue, Job, JobIo, JobName, JobQuery, JobStatus, NewJob, Page,
    PageRequest, TokenCodec, WorkspaceName,
};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

const JOB_COLS: &str = "j.id, j.name, j.workspace, j.experiment_id, j.run_id, j.kind, j.parent, \
     j.display_name, j.description, j.tags, j.compute, j.spec, j.status, j.status_message, \
     j.worker, j.attempt, j.created_at, j.started_at, j.ended_at";

fn job_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, RawJob)> {
    Ok((
        r.get(0)?,
        RawJob {
            name: r.get(1)?,
            workspace: r.get(2)?,
            experiment_id: r.get(3)?,
            run_id: r.get(4)?,
            kind: r.get(5)?,
            parent: r.get(6)?,
            display_name: r.get(7)?,
            description: r.get(8)?,
            tags: r.get(9)?,
            compute: r.get(10)?,
            spec: r.get(11)?,
            status: r.get(12)?,
            status_message: r.get(13)?,
            worker: r.get(14)?,
            attempt: r.get(15)?,
            created_at: r.get(16)?,
            started_at: r.get(17)?,
            ended_at: r.get(18)?,
        },
    ))
}

fn query_jobs(conn: &Connection, cond: &str, args: Vec<SqlValue>) -> Result<Vec<(i64, Job)>> {
    let rows = conn
        .prepare_cached(&format!("SELECT {JOB_COLS} FROM jobs j WHERE {cond}"))
        .db()?
        .query_map(params_from_iter(args), job_row)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    rows.into_iter()
        .map(|(id, raw)| Ok((id, raw.decode()?)))
        .collect()
}

/// The job's surrogate id and the job, or `NotFound` (for the workspace or the job).
pub(crate) fn find_job(
    conn: &Connection,
    ws: &WorkspaceName,
    name: &JobName,
) -> Result<(i64, Job)> {
    let found = query_jobs(
        conn,
        "j.workspace = ?1 AND j.name = ?2",
        vec![
            ws.as_str().to_string().into(),
            name.as_str().to_string().into(),
        ],
    )?
    .pop();
    match found {
        Some(j) => Ok(j),
        None => {
            require_workspace(conn, ws)?;
            Err(job_not_found(name))
        }
    }
}

pub(crate) fn get_job(conn: &Connection, ws: &WorkspaceName, name: &JobName) -> Result<Job> {
    find_job(conn, ws, name).map(|(_, j)| j)
}

pub(crate) fn create_job(conn: &Connection, ws: &WorkspaceName, j: NewJob) -> Result<Job> {
    let (name, mut j) = prepare_job(j)?;
    require_workspace(conn, ws)?;
    let taken: Option<i64> = conn
        .prepare_cached("SELECT id FROM jobs WHERE workspace = ?1 AND name = ?2")
        .db()?
        .query_row(params![ws.as_str(), name.as_str()], |r| r.get(0))
        .optional()
        .db()?;
    if taken.is_some() {
        return Err(job_exists(&name));
    }
    if let Some(parent) = &j.parent {
        let (_, p) = find_job(conn, ws, parent)?;
        if j.run.parent_run_id.is_none() {
            j.run.parent_run_id = Some(p.run_id);
        }
    }
    let run = runs::create_run(conn, ws, &j.run)?;
    conn.prepare_cached(
        "INSERT INTO jobs (workspace, name, experiment_id, run_id, kind, parent, display_name,
             description, tags, compute, spec, status, attempt, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'Queued', 0, ?12)",
    )
    .db()?
    .execute(params![
        ws.as_str(),
        name.as_str(),
        run.info.experiment_id.0,
        run.info.id.as_str(),
        j.kind.as_str(),
        j.parent.as_ref().map(JobName::as_str),
        j.display_name,
        j.description,
        encode_input_tags(&j.tags),
        j.compute,
        j.spec,
        now_ms(),
    ])
    .db()?;
    get_job(conn, ws, &name)
}

pub(crate) fn list_jobs(
    conn: &Connection,
    codec: &TokenCodec,
    ws: &WorkspaceName,
    q: &JobQuery,
    page: &PageRequest,
) -> Result<Page<Job>> {
    require_workspace(conn, ws)?;
    let n = page_size(page, MAX_PAGE_SIZE)?;
    let scope = jobs_scope(ws, q);
    let mut cond = "j.workspace = ?1".to_string();
    let mut args: Vec<SqlValue> = vec![ws.as_str().to_string().into()];
    let mut arg = |cond: &mut String, sql: &str, v: SqlValue| {
        args.push(v);
        cond.push_str(&sql.replace('?', &format!("?{}", args.len())));
    };
    if !q.statuses.is_empty() {
        let list: Vec<String> = q
            .statuses
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        cond.push_str(&format!(" AND j.status IN ({})", list.join(",")));
    }
    if let Some(c) = &q.compute {
        arg(&mut cond, " AND j.compute = ?", c.clone().into());
    }
    if let Some(p) = &q.parent {
        arg(
            &mut cond,
            " AND j.parent = ?",
            p.as_str().to_string().into(),
        );
    }
    if let Some(e) = q.experiment_id {
        arg(&mut cond, " AND j.experiment_id = ?", e.0.into());
    }
    if let Some(t) = &page.page_token {
        let pos = super::ops::decode_ints(codec, t, &scope, 2)?;
        let (at, id) = (pos[0], pos[1]);
        arg(&mut cond, " AND (j.created_at < ?", at.into());
        arg(&mut cond, " OR (j.created_at = ?", at.into());
        arg(&mut cond, " AND j.id < ?))", id.into());
    }
    arg(
        &mut cond,
        " ORDER BY j.created_at DESC, j.id DESC LIMIT ?",
        i64::try_from(n + 1).unwrap_or(i64::MAX).into(),
    );
    let mut rows = query_jobs(conn, &cond, args)?;
    let next_page_token = if rows.len() > n {
        rows.truncate(n);
        rows.last().map(|(id, j)| {
            codec.encode(&Cursor {
                scope: scope.clone(),
                position: vec![CursorValue::Int(j.created_at), CursorValue::Int(*id)],
            })
        })
    } else {
        None
    };
    Ok(Page {
        items: rows.into_iter().map(|(_, j)| j).collect(),
        next_page_token,
    })
}

pub(crate) fn claim_next(conn: &Connection, compute: &str, worker: &str) -> Result<Option<Job>> {
    let next: Option<(i64, String, String)> = conn
        .prepare_cached(
            "SELECT id, workspace, name FROM jobs WHERE status = 'Queued' AND compute = ?1
             ORDER BY created_at, id LIMIT 1",
        )
        .db()?
        .query_row([compute], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()
        .db()?;
    let Some((id, ws, name)) = next else {
        return Ok(None);
    };
    conn.prepare_cached(
        "UPDATE jobs SET status = 'Preparing', worker = ?1, attempt = attempt + 1 WHERE id = ?2",
    )
    .db()?
    .execute(params![worker, id])
    .db()?;
    let ws = WorkspaceName::parse(&ws)
        .map_err(|_| StoreError::Internal(format!("bad workspace '{ws}' in database")))?;
    get_job(conn, &ws, &job_name(&name)?).map(Some)
}

/// Writes a planned transition to the job and its run.
fn apply(conn: &Connection, id: i64, job: &Job, t: &Transition) -> Result<()> {
    conn.prepare_cached(
        "UPDATE jobs SET status = ?1, status_message = ?2, started_at = ?3, ended_at = ?4
         WHERE id = ?5",
    )
    .db()?
    .execute(params![
        t.to.as_str(),
        t.message,
        t.started_at,
        t.ended_at,
        id
    ])
    .db()?;
    conn.prepare_cached("UPDATE runs SET status = ?1, end_time = ?2 WHERE id = ?3")
        .db()?
        .execute(params![
            t.to.run_status().as_str(),
            t.ended_at,
            job.run_id.as_str()
        ])
        .db()?;
    Ok(())
}

pub(crate) fn transition(
    conn: &Connection,
    ws: &WorkspaceName,
    name: &JobName,
    from: &[JobStatus],
    to: JobStatus,
    message: Option<String>,
) -> Result<Job> {
    let (id, job) = find_job(conn, ws, name)?;
    let t = plan_transition(
        name,
        job.status,
        job.started_at,
        from,
        to,
        message,
        now_ms(),
    )?;
    apply(conn, id, &job, &t)?;
    get_job(conn, ws, name)
}

pub(crate) fn cancel(conn: &Connection, ws: &WorkspaceName, name: &JobName) -> Result<Job> {
    let (id, job) = find_job(conn, ws, name)?;
    match plan_cancel(name, job.status, job.started_at, now_ms())? {
        Some(t) => {
            apply(conn, id, &job, &t)?;
            get_job(conn, ws, name)
        }
        None => Ok(job),
    }
}

pub(crate) fn unfinished(conn: &Connection, compute: &str) -> Result<Vec<Job>> {
    let list: Vec<String> = JobStatus::UNFINISHED
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    let jobs = query_jobs(
        conn,
        &format!(
            "j.compute = ?1 AND j.status IN ({}) ORDER BY j.created_at, j.id",
            list.join(",")
        ),
        vec![compute.to_string().into()],
    )?;
    Ok(jobs.into_iter().map(|(_, j)| j).collect())
}

pub(crate) fn record_io(
    conn: &Connection,
    ws: &WorkspaceName,
    name: &JobName,
    io: &[JobIo],
) -> Result<()> {
    crate::jobs::check_io(name, io)?;
    let (id, _) = find_job(conn, ws, name)?;
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO job_io (job_id, direction, name, asset_kind, asset_name, asset_version, uri)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (job_id, direction, name) DO UPDATE SET asset_kind = excluded.asset_kind,
                 asset_name = excluded.asset_name, asset_version = excluded.asset_version,
                 uri = excluded.uri",
        )
        .db()?;
    for x in io {
        let (k, n, v) = match &x.asset {
            Some((k, n, v)) => (Some(k.as_str()), Some(n.as_str()), Some(v.as_str())),
            None => (None, None, None),
        };
        stmt.execute(params![id, x.direction.as_str(), x.name, k, n, v, x.uri])
            .db()?;
    }
    Ok(())
}

pub(crate) fn job_io(conn: &Connection, ws: &WorkspaceName, name: &JobName) -> Result<Vec<JobIo>> {
    let (id, _) = find_job(conn, ws, name)?;
    let rows = conn
        .prepare_cached(
            "SELECT direction, name, asset_kind, asset_name, asset_version, uri FROM job_io
             WHERE job_id = ?1 ORDER BY direction, name",
        )
        .db()?
        .query_map([id], |r| {
            Ok(RawJobIo {
                direction: r.get(0)?,
                name: r.get(1)?,
                asset_kind: r.get(2)?,
                asset_name: r.get(3)?,
                asset_version: r.get(4)?,
                uri: r.get(5)?,
            })
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    rows.into_iter().map(|r| r.decode(name)).collect()
}

pub(crate) fn lineage(
    conn: &Connection,
    ws: &WorkspaceName,
    kind: AssetKind,
    name: &str,
    version: &str,
) -> Result<AssetLineage> {
    let asset = super::assets::get_exact(conn, ws, kind, name, version)?;
    let jobs = |direction: &str| -> Result<Vec<JobName>> {
        let names = conn
            .prepare_cached(
                "SELECT j.name FROM job_io io JOIN jobs j ON j.id = io.job_id
                 WHERE j.workspace = ?1 AND io.asset_kind = ?2 AND io.asset_name = ?3
                   AND io.asset_version = ?4 AND io.direction = ?5
                 ORDER BY j.created_at, j.id",
            )
            .db()?
            .query_map(
                params![ws.as_str(), kind.as_str(), name, version, direction],
                |r| r.get::<_, String>(0),
            )
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()?;
        names.iter().map(|n| job_name(n)).collect()
    };
    let producer = match asset.source_job {
        Some(j) => Some(j),
        None => jobs("output")?.into_iter().next(),
    };
    Ok(AssetLineage {
        producer,
        consumers: jobs("input")?,
    })
}
