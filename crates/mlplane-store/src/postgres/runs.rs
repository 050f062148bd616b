//! Runs on PostgreSQL: creation, reads, listing, status changes, lifecycle and run tags.
//!
//! Invariants:
//! - a run is created only in an active experiment of its workspace, which is locked
//!   (`FOR SHARE`) until the run is committed, so it cannot be deleted in between;
//! - a run's `end_time` is set exactly when its status is terminal (a terminal status
//!   without an end time gets the start time at creation, the current time on update), and
//!   nothing moves back to `QUEUED`;
//! - a run page token is bound to the workspace and to every filter of the query.

use super::PgStore;
use super::catalog::dedup_tags;
use super::pool::Db;
use super::rows::{
    check_live, col, cursor_int, cursor_len, cursor_str, experiment_id, limit_plus_one,
    lock_live_run, not_found, now_ms, page_size, parse_run_id, parse_stage, parse_status,
    parse_workspace, require_workspace, view_stages,
};
use crate::{Entity, Result, RunQuery, StoreError};
use mlplane_core::limits::MAX_PAGE_SIZE;
use mlplane_core::{
    Cursor, CursorValue, LifecycleStage, NewRun, Page, PageRequest, Run, RunId, RunInfo, RunStatus,
    RunUpdate, Tag, WorkspaceName, default_run_name,
};
use tokio_postgres::Row;

/// Columns of a run, in the order [`run_row`] reads them.
macro_rules! run_cols {
    () => {
        "id, experiment_id, workspace, name, user_name, status, start_time, end_time, \
         lifecycle_stage, parent_run_id, artifact_uri"
    };
}

/// [`run_cols!`] as a constant, for queries built at run time.
pub(super) const RUN_COLUMNS: &str = run_cols!();

pub(super) fn run_row(row: &Row) -> Result<RunInfo> {
    let parent: Option<&str> = col(row, 9)?;
    Ok(RunInfo {
        id: parse_run_id(col(row, 0)?)?,
        experiment_id: experiment_id(row, 1)?,
        workspace: parse_workspace(col(row, 2)?)?,
        name: col(row, 3)?,
        user: col(row, 4)?,
        status: parse_status(col(row, 5)?)?,
        start_time: col(row, 6)?,
        end_time: col(row, 7)?,
        lifecycle_stage: parse_stage(col(row, 8)?)?,
        parent_run_id: parent.map(parse_run_id).transpose()?,
        artifact_uri: col(row, 10)?,
    })
}

/// Inserts or replaces tags of a run: `$1` run id, `$2` keys, `$3` values (keys unique).
pub(super) const UPSERT_RUN_TAGS: &str = "INSERT INTO run_tags (run_id, key, value)
     SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS t(k, v)
     ON CONFLICT (run_id, key) DO UPDATE SET value = EXCLUDED.value";

/// Inserts or replaces tags of a run, the last value of a repeated key winning.
async fn upsert_run_tags(db: Db<'_>, id: &RunId, tags: &[Tag]) -> Result<()> {
    if tags.is_empty() {
        return Ok(());
    }
    let (keys, values) = dedup_tags(tags);
    db.execute(UPSERT_RUN_TAGS, &[&id.as_str(), &keys, &values])
        .await?;
    Ok(())
}

/// A stable 64-bit FNV-1a hash, for binding page tokens to query filters.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The page-token scope of a run listing: the workspace plus a digest of the filters.
fn runs_scope(ws: &WorkspaceName, q: &RunQuery) -> String {
    let mut exps: Vec<i64> = q.experiment_ids.iter().map(|e| e.0).collect();
    exps.sort_unstable();
    exps.dedup();
    let mut statuses: Vec<&str> = q.statuses.iter().map(|s| s.as_str()).collect();
    statuses.sort_unstable();
    statuses.dedup();
    let filters = format!(
        "exp={exps:?};view={:?};status={statuses:?};parent={:?}",
        q.view,
        q.parent_run_id.as_ref().map(RunId::as_str)
    );
    format!("runs:{ws}:{:016x}", fnv1a(&filters))
}

impl PgStore {
    pub(super) async fn run_create(&self, ws: &WorkspaceName, r: NewRun) -> Result<Run> {
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let run = insert_run(tx.db(), ws, &r).await?;
        tx.commit().await?;
        Ok(run)
    }

    pub(super) async fn run_get(&self, ws: &WorkspaceName, id: &RunId) -> Result<Run> {
        let conn = self.pool.get().await?;
        let db = conn.db();
        let info = db
            .query_opt(
                concat!(
                    "SELECT ",
                    run_cols!(),
                    " FROM runs WHERE id = $1 AND workspace = $2"
                ),
                &[&id.as_str(), &ws.as_str()],
            )
            .await?;
        let Some(info) = info else {
            return Err(not_found(db, ws, Entity::Run, id).await);
        };
        let mut runs = super::search::with_data(db, vec![run_row(&info)?]).await?;
        runs.pop()
            .ok_or_else(|| StoreError::Internal("run vanished while loading".into()))
    }

    pub(super) async fn run_list(
        &self,
        ws: &WorkspaceName,
        q: &RunQuery,
        page: &PageRequest,
    ) -> Result<Page<RunInfo>> {
        let scope = runs_scope(ws, q);
        let size = page_size(page, MAX_PAGE_SIZE)?;
        let (after_time, after_id) = match &page.page_token {
            Some(t) => {
                let pos = self.codec.decode(t, &scope)?;
                cursor_len(&pos, 2)?;
                (
                    Some(cursor_int(&pos, 0)?),
                    Some(cursor_str(&pos, 1)?.to_string()),
                )
            }
            None => (None, None),
        };
        let exps: Vec<i64> = q.experiment_ids.iter().map(|e| e.0).collect();
        let statuses: Vec<&str> = q.statuses.iter().map(|s| s.as_str()).collect();
        let conn = self.pool.get().await?;
        let db = conn.db();
        require_workspace(db, ws).await?;
        let rows = db
            .query(
                concat!(
                    "SELECT ",
                    run_cols!(),
                    " FROM runs
                      WHERE workspace = $1
                        AND (cardinality($2::bigint[]) = 0 OR experiment_id = ANY($2))
                        AND lifecycle_stage = ANY($3::text[])
                        AND (cardinality($4::text[]) = 0 OR status = ANY($4))
                        AND ($5::text IS NULL OR parent_run_id = $5)
                        AND ($6::bigint IS NULL OR start_time < $6
                             OR (start_time = $6 AND id > $7::text))
                      ORDER BY start_time DESC, id
                      LIMIT $8"
                ),
                &[
                    &ws.as_str(),
                    &exps,
                    &view_stages(q.view),
                    &statuses,
                    &q.parent_run_id.as_ref().map(RunId::as_str),
                    &after_time,
                    &after_id,
                    &limit_plus_one(size),
                ],
            )
            .await?;
        let mut items = rows.iter().map(run_row).collect::<Result<Vec<_>>>()?;
        let next_page_token = if items.len() > size {
            items.truncate(size);
            items.last().map(|r| {
                self.codec.encode(&Cursor {
                    scope,
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

    pub(super) async fn run_update(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        u: RunUpdate,
    ) -> Result<RunInfo> {
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        let row = db
            .query_opt(
                "SELECT status, end_time, lifecycle_stage FROM runs
                 WHERE id = $1 AND workspace = $2 FOR UPDATE",
                &[&id.as_str(), &ws.as_str()],
            )
            .await?;
        let Some(row) = row else {
            return Err(not_found(db, ws, Entity::Run, id).await);
        };
        let status = parse_status(col(&row, 0)?)?;
        let end_time: Option<i64> = col(&row, 1)?;
        check_live(id, parse_stage(col(&row, 2)?)?)?;
        let new_status = u.status.unwrap_or(status);
        if new_status == RunStatus::Queued && status != RunStatus::Queued {
            return Err(StoreError::InvalidState(format!(
                "run '{id}' is {status}; a run cannot move back to QUEUED"
            )));
        }
        // `end_time` is set exactly when the status is terminal.
        let new_end = if new_status.is_terminal() {
            u.end_time.or(end_time).or_else(|| Some(now_ms()))
        } else {
            None
        };
        let row = db
            .query_one(
                concat!(
                    "UPDATE runs SET status = $2, end_time = $3, name = COALESCE($4, name)
                     WHERE id = $1 RETURNING ",
                    run_cols!()
                ),
                &[&id.as_str(), &new_status.as_str(), &new_end, &u.name],
            )
            .await?;
        let info = run_row(&row)?;
        tx.commit().await?;
        Ok(info)
    }

    pub(super) async fn run_set_lifecycle(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        stage: LifecycleStage,
    ) -> Result<RunInfo> {
        let conn = self.pool.get().await?;
        let db = conn.db();
        let row = db
            .query_opt(
                concat!(
                    "UPDATE runs SET lifecycle_stage = $3 WHERE id = $1 AND workspace = $2 RETURNING ",
                    run_cols!()
                ),
                &[&id.as_str(), &ws.as_str(), &stage.as_str()],
            )
            .await?;
        match row {
            Some(row) => run_row(&row),
            None => Err(not_found(db, ws, Entity::Run, id).await),
        }
    }

    pub(super) async fn run_delete_tag(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        key: &str,
    ) -> Result<()> {
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        lock_live_run(db, ws, id).await?;
        let deleted = db
            .execute(
                "DELETE FROM run_tags WHERE run_id = $1 AND key = $2",
                &[&id.as_str(), &key],
            )
            .await?;
        if deleted == 0 {
            return Err(StoreError::not_found(
                Entity::Run,
                format!("{id}/tag {key}"),
            ));
        }
        tx.commit().await
    }
}

/// Creates a run inside the caller's transaction (the experiment row stays locked
/// `FOR SHARE` until it commits); used by `create_run` and by job creation.
pub(super) async fn insert_run(db: Db<'_>, ws: &WorkspaceName, r: &NewRun) -> Result<Run> {
    let id = RunId::generate();
    let exp = db
        .query_opt(
            "SELECT lifecycle_stage FROM experiments WHERE id = $1 AND workspace = $2 FOR SHARE",
            &[&r.experiment_id.0, &ws.as_str()],
        )
        .await?;
    let Some(exp) = exp else {
        return Err(not_found(db, ws, Entity::Experiment, r.experiment_id).await);
    };
    if parse_stage(col(&exp, 0)?)? == LifecycleStage::Deleted {
        return Err(StoreError::InvalidState(format!(
            "experiment {} is deleted; restore it before creating runs in it",
            r.experiment_id
        )));
    }
    if let Some(parent) = &r.parent_run_id {
        let found = db
            .query_opt(
                "SELECT 1 FROM runs WHERE id = $1 AND workspace = $2",
                &[&parent.as_str(), &ws.as_str()],
            )
            .await?;
        if found.is_none() {
            return Err(StoreError::not_found(Entity::Run, parent));
        }
    }
    let name = r.name.clone().unwrap_or_else(|| default_run_name(&id));
    let artifact_uri = format!("mlplane-artifacts:/{ws}/{}/{id}/artifacts", r.experiment_id);
    let end_time = r.status.is_terminal().then_some(r.start_time);
    let row = db
        .query_one(
            concat!(
                "INSERT INTO runs (id, experiment_id, workspace, name, user_name, status,
                                   start_time, end_time, lifecycle_stage, parent_run_id,
                                   artifact_uri)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9, $10) RETURNING ",
                run_cols!()
            ),
            &[
                &id.as_str(),
                &r.experiment_id.0,
                &ws.as_str(),
                &name,
                &r.user,
                &r.status.as_str(),
                &r.start_time,
                &end_time,
                &r.parent_run_id.as_ref().map(RunId::as_str),
                &artifact_uri,
            ],
        )
        .await?;
    let info = run_row(&row)?;
    upsert_run_tags(db, &id, &r.tags).await?;
    let (keys, values) = dedup_tags(&r.tags);
    let tags = keys
        .into_iter()
        .zip(values)
        .map(|(k, v)| Tag {
            key: k.to_string(),
            value: v.to_string(),
        })
        .collect();
    Ok(Run {
        info,
        params: Vec::new(),
        tags,
        metrics: Vec::new(),
        inputs: Vec::new(),
        outputs: Vec::new(),
    })
}
