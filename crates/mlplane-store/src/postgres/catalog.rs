//! Workspaces and experiments on PostgreSQL.
//!
//! Invariants:
//! - every workspace has exactly one experiment with `is_default`, created with it (id 0
//!   for the `default` workspace), and that experiment cannot be deleted;
//! - experiment names are unique per workspace (a unique index; violations become
//!   `AlreadyExists`);
//! - deleting or restoring an experiment moves all of its runs to the same stage in the
//!   same transaction.

use super::PgStore;
use super::pool::Db;
use super::rows::{
    col, cursor_int, cursor_len, cursor_str, experiment_id, is_unique_violation, limit_plus_one,
    not_found, now_ms, page_size, parse_stage, parse_workspace, require_workspace, view_stages,
};
use crate::{Entity, Result, StoreError};
use mlplane_core::limits::MAX_PAGE_SIZE;
use mlplane_core::{
    Cursor, CursorValue, Experiment, ExperimentId, LifecycleStage, NewExperiment, Page,
    PageRequest, Tag, ViewType, Workspace, WorkspaceName,
};
use tokio_postgres::Row;

/// Columns of an experiment, in the order [`experiment_row`] reads them.
macro_rules! exp_cols {
    () => {
        "id, workspace, name, artifact_location, lifecycle_stage, created_at, updated_at"
    };
}

fn workspace_row(row: &Row) -> Result<Workspace> {
    Ok(Workspace {
        name: parse_workspace(col(row, 0)?)?,
        description: col(row, 1)?,
        created_at: col(row, 2)?,
    })
}

/// [`exp_cols!`] as a constant, for queries built at run time.
pub(super) const EXP_COLUMNS: &str = exp_cols!();

pub(super) fn experiment_row(row: &Row) -> Result<Experiment> {
    Ok(Experiment {
        id: experiment_id(row, 0)?,
        workspace: parse_workspace(col(row, 1)?)?,
        name: col(row, 2)?,
        artifact_location: col(row, 3)?,
        lifecycle_stage: parse_stage(col(row, 4)?)?,
        created_at: col(row, 5)?,
        updated_at: col(row, 6)?,
        tags: Vec::new(),
    })
}

/// Fills in the tags of experiments (one query for all of them).
pub(super) async fn with_tags(db: Db<'_>, mut exps: Vec<Experiment>) -> Result<Vec<Experiment>> {
    if exps.is_empty() {
        return Ok(exps);
    }
    let ids: Vec<i64> = exps.iter().map(|e| e.id.0).collect();
    let rows = db
        .query(
            "SELECT experiment_id, key, value FROM experiment_tags
             WHERE experiment_id = ANY($1) ORDER BY experiment_id, key",
            &[&ids],
        )
        .await?;
    for row in &rows {
        let id: i64 = col(row, 0)?;
        if let Some(e) = exps.iter_mut().find(|e| e.id.0 == id) {
            e.tags.push(Tag {
                key: col(row, 1)?,
                value: col(row, 2)?,
            });
        }
    }
    Ok(exps)
}

async fn one_with_tags(db: Db<'_>, exp: Experiment) -> Result<Experiment> {
    with_tags(db, vec![exp])
        .await?
        .pop()
        .ok_or_else(|| StoreError::Internal("experiment vanished while reading tags".into()))
}

/// Inserts tags of one experiment, the last value of a repeated key winning.
async fn insert_experiment_tags(db: Db<'_>, id: i64, tags: &[Tag]) -> Result<()> {
    if tags.is_empty() {
        return Ok(());
    }
    let (keys, values) = dedup_tags(tags);
    db.execute(
        "INSERT INTO experiment_tags (experiment_id, key, value)
         SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS t(k, v)
         ON CONFLICT (experiment_id, key) DO UPDATE SET value = EXCLUDED.value",
        &[&id, &keys, &values],
    )
    .await?;
    Ok(())
}

/// Keys and values of tags with repeated keys removed (the last one wins), sorted by key.
pub(super) fn dedup_tags(tags: &[Tag]) -> (Vec<&str>, Vec<&str>) {
    let mut map = std::collections::BTreeMap::new();
    for t in tags {
        map.insert(t.key.as_str(), t.value.as_str());
    }
    map.into_iter().unzip()
}

impl PgStore {
    pub(super) async fn ws_create(
        &self,
        name: &WorkspaceName,
        description: &str,
    ) -> Result<Workspace> {
        let now = now_ms();
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        let inserted = db
            .query_opt_raw(
                "INSERT INTO workspaces (name, description, created_at) VALUES ($1, $2, $3)
                 RETURNING name, description, created_at",
                &[&name.as_str(), &description, &now],
            )
            .await?;
        let row = match inserted {
            Ok(Some(row)) => row,
            Ok(None) => return Err(StoreError::Internal("insert returned no row".into())),
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::AlreadyExists {
                    entity: Entity::Workspace,
                    id: name.to_string(),
                });
            }
            Err(e) => return Err(super::rows::db_err(e)),
        };
        let ws = workspace_row(&row)?;
        db.execute(
            "WITH n AS (SELECT nextval('experiment_id_seq') AS id)
             INSERT INTO experiments (id, workspace, name, artifact_location, lifecycle_stage,
                                      is_default, created_at, updated_at)
             SELECT n.id, $1::text, 'Default', 'mlplane-artifacts:/' || $1::text || '/' || n.id, 'active',
                    true, $2::bigint, $2::bigint
             FROM n",
            &[&name.as_str(), &now],
        )
        .await?;
        tx.commit().await?;
        Ok(ws)
    }

    pub(super) async fn ws_get(&self, name: &WorkspaceName) -> Result<Workspace> {
        let conn = self.pool.get().await?;
        let row = conn
            .db()
            .query_opt(
                "SELECT name, description, created_at FROM workspaces WHERE name = $1",
                &[&name.as_str()],
            )
            .await?;
        match row {
            Some(row) => workspace_row(&row),
            None => Err(StoreError::not_found(Entity::Workspace, name)),
        }
    }

    pub(super) async fn ws_list(&self, page: &PageRequest) -> Result<Page<Workspace>> {
        const SCOPE: &str = "workspaces";
        let size = page_size(page, MAX_PAGE_SIZE)?;
        let after = match &page.page_token {
            Some(t) => {
                let pos = self.codec.decode(t, SCOPE)?;
                cursor_len(&pos, 1)?;
                Some(cursor_str(&pos, 0)?.to_string())
            }
            None => None,
        };
        let conn = self.pool.get().await?;
        let rows = conn
            .db()
            .query(
                "SELECT name, description, created_at FROM workspaces
                 WHERE $1::text IS NULL OR name > $1 ORDER BY name LIMIT $2",
                &[&after, &limit_plus_one(size)],
            )
            .await?;
        let mut items = rows.iter().map(workspace_row).collect::<Result<Vec<_>>>()?;
        let next_page_token = if items.len() > size {
            items.truncate(size);
            items.last().map(|w| {
                self.codec.encode(&Cursor {
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

    pub(super) async fn exp_create(
        &self,
        ws: &WorkspaceName,
        e: NewExperiment,
    ) -> Result<Experiment> {
        let now = now_ms();
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        require_workspace(db, ws).await?;
        let inserted = db
            .query_opt_raw(
                concat!(
                    "WITH n AS (SELECT nextval('experiment_id_seq') AS id)
                     INSERT INTO experiments (id, workspace, name, artifact_location,
                                              lifecycle_stage, created_at, updated_at)
                     SELECT n.id, $1::text, $2::text,
                            COALESCE($3::text, 'mlplane-artifacts:/' || $1::text || '/' || n.id),
                            'active', $4::bigint, $4::bigint
                     FROM n RETURNING ",
                    exp_cols!()
                ),
                &[&ws.as_str(), &e.name, &e.artifact_location, &now],
            )
            .await?;
        let row = match inserted {
            Ok(Some(row)) => row,
            Ok(None) => return Err(StoreError::Internal("insert returned no row".into())),
            Err(err) if is_unique_violation(&err) => {
                return Err(StoreError::AlreadyExists {
                    entity: Entity::Experiment,
                    id: e.name,
                });
            }
            Err(err) => return Err(super::rows::db_err(err)),
        };
        let exp = experiment_row(&row)?;
        insert_experiment_tags(db, exp.id.0, &e.tags).await?;
        let exp = one_with_tags(db, exp).await?;
        tx.commit().await?;
        Ok(exp)
    }

    pub(super) async fn exp_get(&self, ws: &WorkspaceName, id: ExperimentId) -> Result<Experiment> {
        let conn = self.pool.get().await?;
        let db = conn.db();
        let row = db
            .query_opt(
                concat!(
                    "SELECT ",
                    exp_cols!(),
                    " FROM experiments WHERE id = $1 AND workspace = $2"
                ),
                &[&id.0, &ws.as_str()],
            )
            .await?;
        match row {
            Some(row) => one_with_tags(db, experiment_row(&row)?).await,
            None => Err(not_found(db, ws, Entity::Experiment, id).await),
        }
    }

    pub(super) async fn exp_get_by_name(
        &self,
        ws: &WorkspaceName,
        name: &str,
    ) -> Result<Experiment> {
        let conn = self.pool.get().await?;
        let db = conn.db();
        let row = db
            .query_opt(
                concat!(
                    "SELECT ",
                    exp_cols!(),
                    " FROM experiments WHERE workspace = $1 AND name = $2"
                ),
                &[&ws.as_str(), &name],
            )
            .await?;
        match row {
            Some(row) => one_with_tags(db, experiment_row(&row)?).await,
            None => Err(not_found(db, ws, Entity::Experiment, name).await),
        }
    }

    pub(super) async fn exp_list(
        &self,
        ws: &WorkspaceName,
        view: ViewType,
        page: &PageRequest,
    ) -> Result<Page<Experiment>> {
        let scope = format!("experiments:{ws}:{view:?}");
        let size = page_size(page, MAX_PAGE_SIZE)?;
        let after = match &page.page_token {
            Some(t) => {
                let pos = self.codec.decode(t, &scope)?;
                cursor_len(&pos, 1)?;
                cursor_int(&pos, 0)?
            }
            None => -1,
        };
        let conn = self.pool.get().await?;
        let db = conn.db();
        require_workspace(db, ws).await?;
        let rows = db
            .query(
                concat!(
                    "SELECT ",
                    exp_cols!(),
                    " FROM experiments WHERE workspace = $1 AND lifecycle_stage = ANY($2)
                      AND id > $3 ORDER BY id LIMIT $4"
                ),
                &[
                    &ws.as_str(),
                    &view_stages(view),
                    &after,
                    &limit_plus_one(size),
                ],
            )
            .await?;
        let mut items = rows
            .iter()
            .map(experiment_row)
            .collect::<Result<Vec<_>>>()?;
        let next_page_token = if items.len() > size {
            items.truncate(size);
            items.last().map(|e| {
                self.codec.encode(&Cursor {
                    scope,
                    position: vec![CursorValue::Int(e.id.0)],
                })
            })
        } else {
            None
        };
        let items = with_tags(db, items).await?;
        Ok(Page {
            items,
            next_page_token,
        })
    }

    pub(super) async fn exp_rename(
        &self,
        ws: &WorkspaceName,
        id: ExperimentId,
        new_name: &str,
    ) -> Result<Experiment> {
        let conn = self.pool.get().await?;
        let db = conn.db();
        let updated = db
            .query_opt_raw(
                concat!(
                    "UPDATE experiments SET name = $3, updated_at = $4
                     WHERE id = $1 AND workspace = $2 RETURNING ",
                    exp_cols!()
                ),
                &[&id.0, &ws.as_str(), &new_name, &now_ms()],
            )
            .await?;
        match updated {
            Ok(Some(row)) => one_with_tags(db, experiment_row(&row)?).await,
            Ok(None) => Err(not_found(db, ws, Entity::Experiment, id).await),
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists {
                entity: Entity::Experiment,
                id: new_name.to_string(),
            }),
            Err(e) => Err(super::rows::db_err(e)),
        }
    }

    pub(super) async fn exp_set_lifecycle(
        &self,
        ws: &WorkspaceName,
        id: ExperimentId,
        stage: LifecycleStage,
    ) -> Result<Experiment> {
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        let row = db
            .query_opt(
                "SELECT lifecycle_stage, is_default FROM experiments
                 WHERE id = $1 AND workspace = $2 FOR UPDATE",
                &[&id.0, &ws.as_str()],
            )
            .await?;
        let Some(row) = row else {
            return Err(not_found(db, ws, Entity::Experiment, id).await);
        };
        let current = parse_stage(col(&row, 0)?)?;
        let is_default: bool = col(&row, 1)?;
        match (stage, current) {
            (LifecycleStage::Deleted, _) if is_default => {
                return Err(StoreError::InvalidState(format!(
                    "experiment {id} is the default experiment of workspace '{ws}' and cannot be deleted"
                )));
            }
            (LifecycleStage::Deleted, LifecycleStage::Deleted) => {
                return Err(StoreError::InvalidState(format!(
                    "experiment {id} is already deleted"
                )));
            }
            (LifecycleStage::Active, LifecycleStage::Active) => {
                return Err(StoreError::InvalidState(format!(
                    "experiment {id} is active; only a deleted experiment can be restored"
                )));
            }
            _ => {}
        }
        let row = db
            .query_one(
                concat!(
                    "UPDATE experiments SET lifecycle_stage = $2, updated_at = $3
                     WHERE id = $1 RETURNING ",
                    exp_cols!()
                ),
                &[&id.0, &stage.as_str(), &now_ms()],
            )
            .await?;
        db.execute(
            "UPDATE runs SET lifecycle_stage = $2 WHERE experiment_id = $1 AND lifecycle_stage <> $2",
            &[&id.0, &stage.as_str()],
        )
        .await?;
        let exp = one_with_tags(db, experiment_row(&row)?).await?;
        tx.commit().await?;
        Ok(exp)
    }

    pub(super) async fn exp_set_tag(
        &self,
        ws: &WorkspaceName,
        id: ExperimentId,
        tag: Tag,
    ) -> Result<()> {
        let conn = self.pool.get().await?;
        let db = conn.db();
        let row = db
            .query_opt(
                "WITH e AS (
                     UPDATE experiments SET updated_at = $3
                     WHERE id = $1 AND workspace = $2 RETURNING id
                 )
                 INSERT INTO experiment_tags (experiment_id, key, value)
                 SELECT id, $4::text, $5::text FROM e
                 ON CONFLICT (experiment_id, key) DO UPDATE SET value = EXCLUDED.value
                 RETURNING experiment_id",
                &[&id.0, &ws.as_str(), &now_ms(), &tag.key, &tag.value],
            )
            .await?;
        match row {
            Some(_) => Ok(()),
            None => Err(not_found(db, ws, Entity::Experiment, id).await),
        }
    }

    pub(super) async fn exp_delete_tag(
        &self,
        ws: &WorkspaceName,
        id: ExperimentId,
        key: &str,
    ) -> Result<()> {
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        let row = db
            .query_opt(
                "SELECT 1 FROM experiments WHERE id = $1 AND workspace = $2 FOR UPDATE",
                &[&id.0, &ws.as_str()],
            )
            .await?;
        if row.is_none() {
            return Err(not_found(db, ws, Entity::Experiment, id).await);
        }
        let deleted = db
            .execute(
                "DELETE FROM experiment_tags WHERE experiment_id = $1 AND key = $2",
                &[&id.0, &key],
            )
            .await?;
        if deleted == 0 {
            return Err(StoreError::not_found(
                Entity::Experiment,
                format!("{id}/tag {key}"),
            ));
        }
        db.execute(
            "UPDATE experiments SET updated_at = $2 WHERE id = $1",
            &[&id.0, &now_ms()],
        )
        .await?;
        tx.commit().await
    }
}
