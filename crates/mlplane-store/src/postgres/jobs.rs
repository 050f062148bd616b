//! Jobs on PostgreSQL: [`JobStore`] for [`PgStore`], one transaction per call. Asset methods
//! are in [`super::assets`].
//!
//! Invariants:
//! - a job and its run are inserted in one transaction (the run through
//!   [`super::runs::insert_run`], the same code `create_run` uses);
//! - a status change locks the job row (`FOR UPDATE`), checks the current status and writes
//!   the job and its run before committing, so concurrent changes serialize;
//! - a claim is one statement whose candidate row is taken `FOR UPDATE SKIP LOCKED`, so
//!   concurrent claimers never get the same job and never wait on each other;
//! - a job of another workspace is `NotFound`, exactly like a missing one.

use super::PgStore;
use super::pool::Db;
use super::rows::{col, db_err, is_unique_violation, not_found, now_ms, page_size};
use super::rows::{cursor_int, cursor_len, limit_plus_one, require_workspace};
use crate::jobs::{
    JobStore, RawJob, RawJobIo, Transition, check_claim, check_io, job_exists, job_name,
    job_not_found, jobs_scope, plan_cancel, plan_transition, prepare_job,
};
use crate::rules::encode_input_tags;
use crate::{AssetLineage, Entity, Result};
use async_trait::async_trait;
use mlplane_core::limits::MAX_PAGE_SIZE;
use mlplane_core::{
    Asset, AssetFile, AssetKind, AssetVersionRef, Cursor, CursorValue, Job, JobIo, JobName,
    JobQuery, JobStatus, NewAsset, NewJob, Page, PageRequest, WorkspaceName,
};
use tokio_postgres::Row;

/// Columns of a job, in the order [`job_row`] reads them.
macro_rules! job_cols {
    () => {
        "id, name, workspace, experiment_id, run_id, kind, parent, display_name, description, \
         tags, compute, spec, status, status_message, worker, attempt, created_at, started_at, \
         ended_at"
    };
}

fn job_row(row: &Row) -> Result<(i64, Job)> {
    let raw = RawJob {
        name: col(row, 1)?,
        workspace: col(row, 2)?,
        experiment_id: col(row, 3)?,
        run_id: col(row, 4)?,
        kind: col(row, 5)?,
        parent: col(row, 6)?,
        display_name: col(row, 7)?,
        description: col(row, 8)?,
        tags: col(row, 9)?,
        compute: col(row, 10)?,
        spec: col(row, 11)?,
        status: col(row, 12)?,
        status_message: col(row, 13)?,
        worker: col(row, 14)?,
        attempt: col(row, 15)?,
        created_at: col(row, 16)?,
        started_at: col(row, 17)?,
        ended_at: col(row, 18)?,
    };
    Ok((col(row, 0)?, raw.decode()?))
}

/// The job's surrogate id and the job, optionally locking its row, or `NotFound`.
pub(super) async fn find_job(
    db: Db<'_>,
    ws: &WorkspaceName,
    name: &JobName,
    lock: bool,
) -> Result<(i64, Job)> {
    let args: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&ws.as_str(), &name.as_str()];
    let row = if lock {
        db.query_opt(
            concat!(
                "SELECT ",
                job_cols!(),
                " FROM jobs WHERE workspace = $1 AND name = $2 FOR UPDATE"
            ),
            &args,
        )
        .await?
    } else {
        db.query_opt(
            concat!(
                "SELECT ",
                job_cols!(),
                " FROM jobs WHERE workspace = $1 AND name = $2"
            ),
            &args,
        )
        .await?
    };
    match row {
        Some(r) => job_row(&r),
        None => {
            require_workspace(db, ws).await?;
            Err(job_not_found(name))
        }
    }
}

/// Writes a planned transition to the job and its run; returns the updated job.
async fn apply(db: Db<'_>, id: i64, job: &Job, t: &Transition) -> Result<Job> {
    let row = db
        .query_one(
            concat!(
                "UPDATE jobs SET status = $2, status_message = $3, started_at = $4, ended_at = $5
                 WHERE id = $1 RETURNING ",
                job_cols!()
            ),
            &[&id, &t.to.as_str(), &t.message, &t.started_at, &t.ended_at],
        )
        .await?;
    db.execute(
        "UPDATE runs SET status = $2, end_time = $3 WHERE id = $1",
        &[
            &job.run_id.as_str(),
            &t.to.run_status().as_str(),
            &t.ended_at,
        ],
    )
    .await?;
    Ok(job_row(&row)?.1)
}

fn io_row(row: &Row) -> Result<RawJobIo> {
    Ok(RawJobIo {
        direction: col(row, 0)?,
        name: col(row, 1)?,
        asset_kind: col(row, 2)?,
        asset_name: col(row, 3)?,
        asset_version: col(row, 4)?,
        uri: col(row, 5)?,
    })
}

impl PgStore {
    async fn job_create(&self, ws: &WorkspaceName, j: NewJob) -> Result<Job> {
        let (name, mut j) = prepare_job(j)?;
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        require_workspace(db, ws).await?;
        let taken = db
            .query_opt(
                "SELECT 1 FROM jobs WHERE workspace = $1 AND name = $2",
                &[&ws.as_str(), &name.as_str()],
            )
            .await?;
        if taken.is_some() {
            return Err(job_exists(&name));
        }
        if let Some(parent) = &j.parent {
            let (_, p) = find_job(db, ws, parent, false).await?;
            if j.run.parent_run_id.is_none() {
                j.run.parent_run_id = Some(p.run_id);
            }
        }
        let run = super::runs::insert_run(db, ws, &j.run).await?;
        let inserted = db
            .query_opt_raw(
                concat!(
                    "INSERT INTO jobs (workspace, name, experiment_id, run_id, kind, parent,
                         display_name, description, tags, compute, spec, status, attempt,
                         created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'Queued', 0, $12)
                     RETURNING ",
                    job_cols!()
                ),
                &[
                    &ws.as_str(),
                    &name.as_str(),
                    &run.info.experiment_id.0,
                    &run.info.id.as_str(),
                    &j.kind.as_str(),
                    &j.parent.as_ref().map(JobName::as_str),
                    &j.display_name,
                    &j.description,
                    &encode_input_tags(&j.tags),
                    &j.compute,
                    &j.spec,
                    &now_ms(),
                ],
            )
            .await?;
        let job = match inserted {
            Ok(Some(row)) => job_row(&row)?.1,
            Ok(None) => return Err(super::rows::internal("insert returned no row")),
            Err(e) if is_unique_violation(&e) => return Err(job_exists(&name)),
            Err(e) => return Err(db_err(e)),
        };
        tx.commit().await?;
        Ok(job)
    }

    async fn job_list(
        &self,
        ws: &WorkspaceName,
        q: &JobQuery,
        page: &PageRequest,
    ) -> Result<Page<Job>> {
        let scope = jobs_scope(ws, q);
        let size = page_size(page, MAX_PAGE_SIZE)?;
        let (after_at, after_id) = match &page.page_token {
            Some(t) => {
                let pos = self.codec.decode(t, &scope)?;
                cursor_len(&pos, 2)?;
                (Some(cursor_int(&pos, 0)?), Some(cursor_int(&pos, 1)?))
            }
            None => (None, None),
        };
        let statuses: Vec<&str> = q.statuses.iter().map(|s| s.as_str()).collect();
        let conn = self.pool.get().await?;
        let db = conn.db();
        require_workspace(db, ws).await?;
        let rows = db
            .query(
                concat!(
                    "SELECT ",
                    job_cols!(),
                    " FROM jobs
                      WHERE workspace = $1
                        AND (cardinality($2::text[]) = 0 OR status = ANY($2))
                        AND ($3::text IS NULL OR compute = $3)
                        AND ($4::text IS NULL OR parent = $4)
                        AND ($5::bigint IS NULL OR experiment_id = $5)
                        AND ($6::bigint IS NULL OR created_at < $6
                             OR (created_at = $6 AND id < $7::bigint))
                      ORDER BY created_at DESC, id DESC
                      LIMIT $8"
                ),
                &[
                    &ws.as_str(),
                    &statuses,
                    &q.compute,
                    &q.parent.as_ref().map(JobName::as_str),
                    &q.experiment_id.map(|e| e.0),
                    &after_at,
                    &after_id,
                    &limit_plus_one(size),
                ],
            )
            .await?;
        let mut items = rows.iter().map(job_row).collect::<Result<Vec<_>>>()?;
        let next_page_token = if items.len() > size {
            items.truncate(size);
            items.last().map(|(id, j)| {
                self.codec.encode(&Cursor {
                    scope,
                    position: vec![CursorValue::Int(j.created_at), CursorValue::Int(*id)],
                })
            })
        } else {
            None
        };
        Ok(Page {
            items: items.into_iter().map(|(_, j)| j).collect(),
            next_page_token,
        })
    }

    async fn job_claim(&self, compute: &str, worker: &str) -> Result<Option<Job>> {
        check_claim(compute, worker)?;
        let conn = self.pool.get().await?;
        let row = conn
            .db()
            .query_opt(
                concat!(
                    "UPDATE jobs SET status = 'Preparing', worker = $2, attempt = attempt + 1
                     WHERE id = (SELECT id FROM jobs WHERE status = 'Queued' AND compute = $1
                                 ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
                     RETURNING ",
                    job_cols!()
                ),
                &[&compute, &worker],
            )
            .await?;
        row.map(|r| job_row(&r).map(|(_, j)| j)).transpose()
    }

    async fn job_transition(
        &self,
        ws: &WorkspaceName,
        name: &JobName,
        from: &[JobStatus],
        to: JobStatus,
        message: Option<String>,
    ) -> Result<Job> {
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        let (id, job) = find_job(db, ws, name, true).await?;
        let planned = plan_transition(
            name,
            job.status,
            job.started_at,
            from,
            to,
            message,
            now_ms(),
        );
        let t = match planned {
            Ok(t) => t,
            Err(e) => {
                // Release the row lock now: a claimer right after us must see the job.
                tx.rollback().await?;
                return Err(e);
            }
        };
        let out = apply(db, id, &job, &t).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn job_cancel(&self, ws: &WorkspaceName, name: &JobName) -> Result<Job> {
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        let (id, job) = find_job(db, ws, name, true).await?;
        let planned = match plan_cancel(name, job.status, job.started_at, now_ms()) {
            Ok(p) => p,
            Err(e) => {
                tx.rollback().await?;
                return Err(e);
            }
        };
        let out = match planned {
            Some(t) => apply(db, id, &job, &t).await?,
            None => job,
        };
        tx.commit().await?;
        Ok(out)
    }

    async fn jobs_unfinished(&self, compute: &str) -> Result<Vec<Job>> {
        let statuses: Vec<&str> = JobStatus::UNFINISHED.iter().map(|s| s.as_str()).collect();
        let conn = self.pool.get().await?;
        let rows = conn
            .db()
            .query(
                concat!(
                    "SELECT ",
                    job_cols!(),
                    " FROM jobs WHERE compute = $1 AND status = ANY($2::text[])
                      ORDER BY created_at, id"
                ),
                &[&compute, &statuses],
            )
            .await?;
        rows.iter().map(|r| job_row(r).map(|(_, j)| j)).collect()
    }

    async fn io_record(&self, ws: &WorkspaceName, name: &JobName, io: &[JobIo]) -> Result<()> {
        check_io(name, io)?;
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        let (id, _) = find_job(db, ws, name, true).await?;
        for x in io {
            let (k, n, v) = match &x.asset {
                Some((k, n, v)) => (Some(k.as_str()), Some(n.as_str()), Some(v.as_str())),
                None => (None, None, None),
            };
            db.execute(
                "INSERT INTO job_io (job_id, direction, name, asset_kind, asset_name,
                     asset_version, uri)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (job_id, direction, name) DO UPDATE SET
                     asset_kind = EXCLUDED.asset_kind, asset_name = EXCLUDED.asset_name,
                     asset_version = EXCLUDED.asset_version, uri = EXCLUDED.uri",
                &[&id, &x.direction.as_str(), &x.name, &k, &n, &v, &x.uri],
            )
            .await?;
        }
        tx.commit().await
    }

    async fn io_list(&self, ws: &WorkspaceName, name: &JobName) -> Result<Vec<JobIo>> {
        let conn = self.pool.get().await?;
        let db = conn.db();
        let (id, _) = find_job(db, ws, name, false).await?;
        let rows = db
            .query(
                "SELECT direction, name, asset_kind, asset_name, asset_version, uri FROM job_io
                 WHERE job_id = $1 ORDER BY direction, name",
                &[&id],
            )
            .await?;
        rows.iter().map(|r| io_row(r)?.decode(name)).collect()
    }

    async fn io_lineage(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        version: &str,
    ) -> Result<AssetLineage> {
        let conn = self.pool.get().await?;
        let tx = conn.tx();
        tx.send_begin_snapshot().await?;
        let db = tx.db();
        let asset = super::assets::get_exact(db, ws, kind, name, version).await?;
        let mut by_direction = Vec::new();
        for direction in ["output", "input"] {
            let rows = db
                .query(
                    "SELECT j.name FROM job_io io JOIN jobs j ON j.id = io.job_id
                     WHERE j.workspace = $1 AND io.asset_kind = $2 AND io.asset_name = $3
                       AND io.asset_version = $4 AND io.direction = $5
                     ORDER BY j.created_at, j.id",
                    &[&ws.as_str(), &kind.as_str(), &name, &version, &direction],
                )
                .await?;
            let names = rows
                .iter()
                .map(|r| job_name(col(r, 0)?))
                .collect::<Result<Vec<_>>>()?;
            by_direction.push(names);
        }
        tx.commit().await?;
        let consumers = by_direction.pop().unwrap_or_default();
        let producers = by_direction.pop().unwrap_or_default();
        Ok(AssetLineage {
            producer: asset.source_job.or_else(|| producers.into_iter().next()),
            consumers,
        })
    }
}

#[async_trait]
impl JobStore for PgStore {
    async fn create_job(&self, ws: &WorkspaceName, j: NewJob) -> Result<Job> {
        self.timed("create_job", self.job_create(ws, j)).await
    }

    async fn get_job(&self, ws: &WorkspaceName, name: &JobName) -> Result<Job> {
        self.timed("get_job", async {
            let conn = self.pool.get().await?;
            find_job(conn.db(), ws, name, false).await.map(|(_, j)| j)
        })
        .await
    }

    async fn list_jobs(
        &self,
        ws: &WorkspaceName,
        q: &JobQuery,
        page: &PageRequest,
    ) -> Result<Page<Job>> {
        self.timed("list_jobs", self.job_list(ws, q, page)).await
    }

    async fn claim_next_job(&self, compute: &str, worker: &str) -> Result<Option<Job>> {
        self.timed("claim_next_job", self.job_claim(compute, worker))
            .await
    }

    async fn transition_job(
        &self,
        ws: &WorkspaceName,
        name: &JobName,
        from: &[JobStatus],
        to: JobStatus,
        message: Option<String>,
    ) -> Result<Job> {
        self.timed(
            "transition_job",
            self.job_transition(ws, name, from, to, message),
        )
        .await
    }

    async fn request_cancel(&self, ws: &WorkspaceName, name: &JobName) -> Result<Job> {
        self.timed("request_cancel", self.job_cancel(ws, name))
            .await
    }

    async fn unfinished_jobs(&self, compute: &str) -> Result<Vec<Job>> {
        self.timed("unfinished_jobs", self.jobs_unfinished(compute))
            .await
    }

    async fn record_job_io(
        &self,
        ws: &WorkspaceName,
        name: &JobName,
        io: Vec<JobIo>,
    ) -> Result<()> {
        self.timed("record_job_io", self.io_record(ws, name, &io))
            .await
    }

    async fn job_io(&self, ws: &WorkspaceName, name: &JobName) -> Result<Vec<JobIo>> {
        self.timed("job_io", self.io_list(ws, name)).await
    }

    async fn asset_lineage(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        version: &str,
    ) -> Result<AssetLineage> {
        self.timed("asset_lineage", self.io_lineage(ws, kind, name, version))
            .await
    }

    async fn create_asset(&self, ws: &WorkspaceName, a: NewAsset) -> Result<Asset> {
        self.timed("create_asset", self.asset_create(ws, a)).await
    }

    async fn get_asset(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        version: &AssetVersionRef,
    ) -> Result<Asset> {
        self.timed("get_asset", async {
            let conn = self.pool.get().await?;
            super::assets::get(conn.db(), ws, kind, name, version).await
        })
        .await
    }

    async fn list_assets(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        include_archived: bool,
        page: &PageRequest,
    ) -> Result<Page<Asset>> {
        self.timed(
            "list_assets",
            self.asset_list_latest(ws, kind, include_archived, page),
        )
        .await
    }

    async fn list_asset_versions(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        include_archived: bool,
        page: &PageRequest,
    ) -> Result<Page<Asset>> {
        self.timed(
            "list_asset_versions",
            self.asset_list_versions(ws, kind, name, include_archived, page),
        )
        .await
    }

    async fn set_asset_archived(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        version: &str,
        archived: bool,
    ) -> Result<Asset> {
        self.timed("set_asset_archived", async {
            let conn = self.pool.get().await?;
            let db = conn.db();
            let row = db
                .query_opt(
                    "UPDATE assets SET archived = $5
                     WHERE workspace = $1 AND kind = $2 AND name = $3 AND version = $4
                     RETURNING id",
                    &[&ws.as_str(), &kind.as_str(), &name, &version, &archived],
                )
                .await?;
            if row.is_none() {
                return Err(not_found(
                    db,
                    ws,
                    Entity::Asset,
                    crate::jobs::asset_id(kind, name, version),
                )
                .await);
            }
            super::assets::get_exact(db, ws, kind, name, version).await
        })
        .await
    }

    async fn record_asset_file(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        version: &str,
        file: AssetFile,
    ) -> Result<()> {
        self.timed(
            "record_asset_file",
            self.asset_record_file(ws, kind, name, version, &file),
        )
        .await
    }

    async fn asset_files(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        version: &str,
    ) -> Result<Vec<AssetFile>> {
        self.timed("asset_files", self.asset_file_list(ws, kind, name, version))
            .await
    }

    async fn complete_asset(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        version: &str,
        storage_uri: &str,
    ) -> Result<Asset> {
        self.timed(
            "complete_asset",
            self.asset_complete(ws, kind, name, version, storage_uri),
        )
        .await
    }
}
