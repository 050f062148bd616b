//! MLflow 3 logged models on PostgreSQL: model rows, params, tags, metrics and artifact
//! records, and the [`LoggedModelStore`] wiring of [`PgStore`].
//!
//! Invariants:
//! - a deleted model (`lifecycle_stage = 'deleted'`) is invisible to every method here;
//! - every write runs in one transaction that first locks the live model row (`FOR UPDATE`)
//!   in its workspace, so concurrent param writes of one model are serialized and a param
//!   conflict check cannot race;
//! - a model is created while its experiment is locked `FOR SHARE`, so the experiment cannot
//!   be deleted in between;
//! - model metrics are inserted inside their run batch's transaction, with every linked
//!   model locked `FOR SHARE` (live, in the workspace) first.

use super::PgStore;
use super::artifacts::entry_row;
use super::pool::Db;
use super::rows::{col, experiment_id, internal, not_found, now_ms, parse_run_id, parse_stage};
use crate::logged_models::{LoggedModelQuery, check_params_batch, check_query, search_page};
use crate::rules::{dir_range, group_listing};
use crate::{Entity, LoggedModelStore, Result, StoreError};
use async_trait::async_trait;
use mlplane_core::logged_model::{default_model_name, model_artifact_location};
use mlplane_core::{
    ArtifactEntry, ArtifactListing, ArtifactPath, Invalid, LifecycleStage, LogBatch, LoggedModel,
    LoggedModelId, LoggedModelMetric, LoggedModelStatus, ModelMetricLink, NewLoggedModel, Page,
    PageRequest, Param, RunId, Tag, WorkspaceName,
};
use std::collections::HashMap;
use tokio_postgres::Row;

const SELECT_MODEL: &str = "SELECT id, experiment_id, name, model_type, source_run_id, status, \
     status_message, created_at, updated_at, artifact_location FROM logged_models \
     WHERE id = $1 AND workspace = $2 AND lifecycle_stage = 'active'";

fn model_from_row(
    row: &Row,
    params: Vec<Param>,
    tags: Vec<Tag>,
    metrics: Vec<LoggedModelMetric>,
) -> Result<LoggedModel> {
    let id: &str = col(row, 0)?;
    let status: &str = col(row, 5)?;
    let source: Option<&str> = col(row, 4)?;
    Ok(LoggedModel {
        id: LoggedModelId::parse(id)
            .map_err(|e| internal(format!("stored model id '{id}' is invalid: {e}")))?,
        experiment_id: experiment_id(row, 1)?,
        name: col(row, 2)?,
        model_type: col(row, 3)?,
        source_run_id: source.map(parse_run_id).transpose()?,
        status: LoggedModelStatus::parse(status)
            .ok_or_else(|| internal(format!("stored model status '{status}' is unknown")))?,
        status_message: col(row, 6)?,
        params,
        tags,
        metrics,
        created_ms: col(row, 7)?,
        updated_ms: col(row, 8)?,
        artifact_location: col(row, 9)?,
    })
}

/// Params and tags of the given models, by model id, each sorted by key.
async fn key_values(
    db: Db<'_>,
    ids: &[String],
) -> Result<(HashMap<String, Vec<Param>>, HashMap<String, Vec<Tag>>)> {
    let prows = db
        .query(
            "SELECT model_id, key, value FROM logged_model_params
             WHERE model_id = ANY($1) ORDER BY model_id, key",
            &[&ids],
        )
        .await?;
    let trows = db
        .query(
            "SELECT model_id, key, value FROM logged_model_tags
             WHERE model_id = ANY($1) ORDER BY model_id, key",
            &[&ids],
        )
        .await?;
    let mut params: HashMap<String, Vec<Param>> = HashMap::new();
    for r in &prows {
        params.entry(col(r, 0)?).or_default().push(Param {
            key: col(r, 1)?,
            value: col(r, 2)?,
        });
    }
    let mut tags: HashMap<String, Vec<Tag>> = HashMap::new();
    for r in &trows {
        tags.entry(col(r, 0)?).or_default().push(Tag {
            key: col(r, 1)?,
            value: col(r, 2)?,
        });
    }
    Ok((params, tags))
}

/// Metrics of the given models, by model id, each sorted by (key, timestamp, step, run).
async fn metrics_of(db: Db<'_>, ids: &[String]) -> Result<HashMap<String, Vec<LoggedModelMetric>>> {
    let rows = db
        .query(
            "SELECT model_id, key, value, ts, step, run_id, dataset_name, dataset_digest
             FROM logged_model_metrics WHERE model_id = ANY($1)
             ORDER BY model_id, key, ts, step, run_id",
            &[&ids],
        )
        .await?;
    let mut out: HashMap<String, Vec<LoggedModelMetric>> = HashMap::new();
    for r in &rows {
        out.entry(col(r, 0)?).or_default().push(LoggedModelMetric {
            key: col(r, 1)?,
            value: col(r, 2)?,
            timestamp: col(r, 3)?,
            step: col(r, 4)?,
            run_id: parse_run_id(col(r, 5)?)?,
            dataset_name: col(r, 6)?,
            dataset_digest: col(r, 7)?,
        });
    }
    Ok(out)
}

/// Inserts run `run`'s metrics linked to models, inside the caller's transaction, after
/// locking every linked model `FOR SHARE`; a model missing in `ws` is `NotFound`.
pub(super) async fn insert_model_metrics(
    db: Db<'_>,
    ws: &WorkspaceName,
    run: &RunId,
    links: &[ModelMetricLink],
) -> Result<()> {
    super::rows::lock_live_models(db, ws, links.iter().map(|l| l.model_id.as_str()).collect())
        .await?;
    let model: Vec<&str> = links.iter().map(|l| l.model_id.as_str()).collect();
    let key: Vec<&str> = links.iter().map(|l| l.metric.key.as_str()).collect();
    let ts: Vec<i64> = links.iter().map(|l| l.metric.timestamp).collect();
    let step: Vec<i64> = links.iter().map(|l| l.metric.step).collect();
    let value: Vec<f64> = links.iter().map(|l| l.metric.value).collect();
    let dataset_name: Vec<Option<&str>> = links.iter().map(|l| l.dataset_name.as_deref()).collect();
    let dataset_digest: Vec<Option<&str>> =
        links.iter().map(|l| l.dataset_digest.as_deref()).collect();
    // Rows in the order given, so of two rows with one key in this batch the first wins.
    db.execute(
        "INSERT INTO logged_model_metrics
             (model_id, key, ts, step, run_id, value, dataset_name, dataset_digest)
         SELECT m, k, t, s, $8, v, dn, dd
         FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::float8[],
                     $6::text[], $7::text[]) WITH ORDINALITY AS b(m, k, t, s, v, dn, dd, n)
         ORDER BY n
         ON CONFLICT (model_id, key, ts, step, run_id) DO NOTHING",
        &[
            &model,
            &key,
            &ts,
            &step,
            &value,
            &dataset_name,
            &dataset_digest,
            &run.as_str(),
        ],
    )
    .await?;
    Ok(())
}

async fn get_in(db: Db<'_>, ws: &WorkspaceName, id: &LoggedModelId) -> Result<LoggedModel> {
    let row = db
        .query_opt(SELECT_MODEL, &[&id.as_str(), &ws.as_str()])
        .await?;
    let Some(row) = row else {
        return Err(not_found(db, ws, Entity::LoggedModel, id).await);
    };
    let ids = vec![id.as_str().to_string()];
    let (mut params, mut tags) = key_values(db, &ids).await?;
    let mut metrics = metrics_of(db, &ids).await?;
    model_from_row(
        &row,
        params.remove(id.as_str()).unwrap_or_default(),
        tags.remove(id.as_str()).unwrap_or_default(),
        metrics.remove(id.as_str()).unwrap_or_default(),
    )
}

/// Locks the live model of `ws` for the rest of the transaction.
async fn lock_model(db: Db<'_>, ws: &WorkspaceName, id: &LoggedModelId) -> Result<()> {
    let row = db
        .query_opt(
            "SELECT 1 FROM logged_models
             WHERE id = $1 AND workspace = $2 AND lifecycle_stage = 'active' FOR UPDATE",
            &[&id.as_str(), &ws.as_str()],
        )
        .await?;
    match row {
        Some(_) => Ok(()),
        None => Err(not_found(db, ws, Entity::LoggedModel, id).await),
    }
}

async fn touch(db: Db<'_>, id: &LoggedModelId) -> Result<()> {
    db.execute(
        "UPDATE logged_models SET updated_at = $2 WHERE id = $1",
        &[&id.as_str(), &now_ms()],
    )
    .await?;
    Ok(())
}

async fn insert_params(db: Db<'_>, id: &LoggedModelId, params: &[Param]) -> Result<()> {
    check_params_batch(params)?;
    for p in params {
        let old = db
            .query_opt(
                "SELECT value FROM logged_model_params WHERE model_id = $1 AND key = $2",
                &[&id.as_str(), &p.key],
            )
            .await?;
        match old {
            Some(row) => {
                let old: String = col(&row, 0)?;
                if old != p.value {
                    return Err(StoreError::ParamConflict {
                        key: p.key.clone(),
                        old,
                        new: p.value.clone(),
                    });
                }
            }
            None => {
                db.execute(
                    "INSERT INTO logged_model_params (model_id, key, value) VALUES ($1, $2, $3)",
                    &[&id.as_str(), &p.key, &p.value],
                )
                .await?;
            }
        }
    }
    Ok(())
}

async fn upsert_tags(db: Db<'_>, id: &LoggedModelId, tags: &[Tag]) -> Result<()> {
    for t in tags {
        db.execute(
            "INSERT INTO logged_model_tags (model_id, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (model_id, key) DO UPDATE SET value = EXCLUDED.value",
            &[&id.as_str(), &t.key, &t.value],
        )
        .await?;
    }
    Ok(())
}

/// Checks the live model exists in `ws`, without locking.
async fn require_model(db: Db<'_>, ws: &WorkspaceName, id: &LoggedModelId) -> Result<()> {
    let row = db
        .query_opt(
            "SELECT 1 FROM logged_models
             WHERE id = $1 AND workspace = $2 AND lifecycle_stage = 'active'",
            &[&id.as_str(), &ws.as_str()],
        )
        .await?;
    match row {
        Some(_) => Ok(()),
        None => Err(not_found(db, ws, Entity::LoggedModel, id).await),
    }
}

impl PgStore {
    async fn lm_create(&self, ws: &WorkspaceName, m: NewLoggedModel) -> Result<LoggedModel> {
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        let exp = db
            .query_opt(
                "SELECT lifecycle_stage FROM experiments WHERE id = $1 AND workspace = $2 FOR SHARE",
                &[&m.experiment_id.0, &ws.as_str()],
            )
            .await?;
        let Some(exp) = exp else {
            return Err(not_found(db, ws, Entity::Experiment, m.experiment_id).await);
        };
        if parse_stage(col(&exp, 0)?)? == LifecycleStage::Deleted {
            return Err(StoreError::InvalidState(format!(
                "experiment {} is deleted; restore it before creating models in it",
                m.experiment_id
            )));
        }
        if let Some(run) = &m.source_run_id {
            let found = db
                .query_opt(
                    "SELECT 1 FROM runs WHERE id = $1 AND workspace = $2",
                    &[&run.as_str(), &ws.as_str()],
                )
                .await?;
            if found.is_none() {
                return Err(StoreError::not_found(Entity::Run, run));
            }
        }
        let id = LoggedModelId::generate();
        let name = m.name.clone().unwrap_or_else(|| default_model_name(&id));
        let now = now_ms();
        db.execute(
            "INSERT INTO logged_models (id, workspace, experiment_id, name, model_type,
             source_run_id, status, status_message, lifecycle_stage, created_at, updated_at,
             artifact_location)
             VALUES ($1, $2, $3, $4, $5, $6, 'PENDING', NULL, 'active', $7, $7, $8)",
            &[
                &id.as_str(),
                &ws.as_str(),
                &m.experiment_id.0,
                &name,
                &m.model_type,
                &m.source_run_id.as_ref().map(|r| r.as_str()),
                &now,
                &model_artifact_location(ws, m.experiment_id, &id),
            ],
        )
        .await?;
        insert_params(db, &id, &m.params).await?;
        upsert_tags(db, &id, &m.tags).await?;
        let model = get_in(db, ws, &id).await?;
        tx.commit().await?;
        Ok(model)
    }

    async fn lm_get(&self, ws: &WorkspaceName, id: &LoggedModelId) -> Result<LoggedModel> {
        let conn = self.pool.get().await?;
        get_in(conn.db(), ws, id).await
    }

    async fn lm_finalize(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        status: LoggedModelStatus,
        message: Option<String>,
    ) -> Result<LoggedModel> {
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        lock_model(db, ws, id).await?;
        db.execute(
            "UPDATE logged_models SET status = $2, status_message = $3, updated_at = $4
             WHERE id = $1",
            &[&id.as_str(), &status.as_str(), &message, &now_ms()],
        )
        .await?;
        let model = get_in(db, ws, id).await?;
        tx.commit().await?;
        Ok(model)
    }

    async fn lm_params(&self, ws: &WorkspaceName, id: &LoggedModelId, p: Vec<Param>) -> Result<()> {
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        lock_model(db, ws, id).await?;
        insert_params(db, id, &p).await?;
        touch(db, id).await?;
        tx.commit().await
    }

    async fn lm_tags(&self, ws: &WorkspaceName, id: &LoggedModelId, t: Vec<Tag>) -> Result<()> {
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        lock_model(db, ws, id).await?;
        upsert_tags(db, id, &t).await?;
        touch(db, id).await?;
        tx.commit().await
    }

    async fn lm_delete_tag(&self, ws: &WorkspaceName, id: &LoggedModelId, key: &str) -> Result<()> {
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        lock_model(db, ws, id).await?;
        let n = db
            .execute(
                "DELETE FROM logged_model_tags WHERE model_id = $1 AND key = $2",
                &[&id.as_str(), &key],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::not_found(
                Entity::LoggedModel,
                format!("{id}/tag {key}"),
            ));
        }
        touch(db, id).await?;
        tx.commit().await
    }

    async fn lm_delete(&self, ws: &WorkspaceName, id: &LoggedModelId) -> Result<()> {
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        lock_model(db, ws, id).await?;
        db.execute(
            "UPDATE logged_models SET lifecycle_stage = 'deleted', updated_at = $2 WHERE id = $1",
            &[&id.as_str(), &now_ms()],
        )
        .await?;
        tx.commit().await
    }

    async fn lm_search(
        &self,
        ws: &WorkspaceName,
        q: &LoggedModelQuery,
        page: &PageRequest,
    ) -> Result<Page<LoggedModel>> {
        let size = check_query(q, page)?;
        let conn = self.pool.get().await?;
        let tx = conn.tx();
        tx.send_begin_snapshot().await?;
        let db = tx.db();
        super::rows::require_workspace(db, ws).await?;
        let exps: Vec<i64> = q.experiment_ids.iter().map(|e| e.0).collect();
        let rows = db
            .query(
                "SELECT id, experiment_id, name, model_type, source_run_id, status,
                 status_message, created_at, updated_at, artifact_location FROM logged_models
                 WHERE workspace = $1 AND experiment_id = ANY($2) AND lifecycle_stage = 'active'",
                &[&ws.as_str(), &exps],
            )
            .await?;
        let ids = rows
            .iter()
            .map(|r| col::<String>(r, 0))
            .collect::<Result<Vec<_>>>()?;
        let (mut params, mut tags) = key_values(db, &ids).await?;
        let mut metrics = metrics_of(db, &ids).await?;
        tx.commit().await?;
        let models = rows
            .iter()
            .zip(&ids)
            .map(|(r, id)| {
                model_from_row(
                    r,
                    params.remove(id).unwrap_or_default(),
                    tags.remove(id).unwrap_or_default(),
                    metrics.remove(id).unwrap_or_default(),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        search_page(&self.codec, ws, q, page, size, models)
    }

    async fn lm_record_artifact(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        e: ArtifactEntry,
    ) -> Result<()> {
        let size = i64::try_from(e.size)
            .map_err(|_| StoreError::Invalid(Invalid::one("size", "is too large")))?;
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        lock_model(db, ws, id).await?;
        db.execute(
            "INSERT INTO logged_model_artifacts (model_id, path, size, sha256, created_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (model_id, path) DO UPDATE
             SET size = EXCLUDED.size, sha256 = EXCLUDED.sha256, created_at = EXCLUDED.created_at",
            &[
                &id.as_str(),
                &e.path.as_str(),
                &size,
                &e.sha256,
                &e.created_at,
            ],
        )
        .await?;
        tx.commit().await
    }

    async fn lm_get_artifact(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        path: &ArtifactPath,
    ) -> Result<ArtifactEntry> {
        let conn = self.pool.get().await?;
        let db = conn.db();
        require_model(db, ws, id).await?;
        let row = db
            .query_opt(
                "SELECT path, size, sha256, created_at FROM logged_model_artifacts
                 WHERE model_id = $1 AND path = $2",
                &[&id.as_str(), &path.as_str()],
            )
            .await?;
        match row {
            Some(r) => entry_row(&r),
            None => Err(StoreError::not_found(Entity::Artifact, path)),
        }
    }

    async fn lm_list_artifacts(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        dir: &ArtifactPath,
    ) -> Result<ArtifactListing> {
        let conn = self.pool.get().await?;
        let db = conn.db();
        require_model(db, ws, id).await?;
        let (lo, hi) = dir_range(dir);
        let rows = db
            .query(
                "SELECT path, size, sha256, created_at FROM logged_model_artifacts
                 WHERE model_id = $1 AND path >= $2 AND path < $3 ORDER BY path",
                &[&id.as_str(), &lo, &hi],
            )
            .await?;
        let mut entries = rows.iter().map(entry_row).collect::<Result<Vec<_>>>()?;
        entries.sort_by(|a, b| a.path.as_str().cmp(b.path.as_str()));
        Ok(group_listing(&lo, entries))
    }

    async fn lm_delete_artifact(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        path: &ArtifactPath,
    ) -> Result<()> {
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        lock_model(db, ws, id).await?;
        let n = db
            .execute(
                "DELETE FROM logged_model_artifacts WHERE model_id = $1 AND path = $2",
                &[&id.as_str(), &path.as_str()],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::not_found(Entity::Artifact, path));
        }
        tx.commit().await
    }
}

#[async_trait]
impl LoggedModelStore for PgStore {
    async fn create_logged_model(
        &self,
        ws: &WorkspaceName,
        m: NewLoggedModel,
    ) -> Result<LoggedModel> {
        self.timed("create_logged_model", self.lm_create(ws, m))
            .await
    }

    async fn get_logged_model(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
    ) -> Result<LoggedModel> {
        self.timed("get_logged_model", self.lm_get(ws, id)).await
    }

    async fn finalize_logged_model(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        status: LoggedModelStatus,
        message: Option<String>,
    ) -> Result<LoggedModel> {
        self.timed(
            "finalize_logged_model",
            self.lm_finalize(ws, id, status, message),
        )
        .await
    }

    async fn delete_logged_model(&self, ws: &WorkspaceName, id: &LoggedModelId) -> Result<()> {
        self.timed("delete_logged_model", self.lm_delete(ws, id))
            .await
    }

    async fn log_logged_model_params(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        params: Vec<Param>,
    ) -> Result<()> {
        self.timed("log_logged_model_params", self.lm_params(ws, id, params))
            .await
    }

    async fn set_logged_model_tags(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        tags: Vec<Tag>,
    ) -> Result<()> {
        self.timed("set_logged_model_tags", self.lm_tags(ws, id, tags))
            .await
    }

    async fn delete_logged_model_tag(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        key: &str,
    ) -> Result<()> {
        self.timed("delete_logged_model_tag", self.lm_delete_tag(ws, id, key))
            .await
    }

    async fn search_logged_models(
        &self,
        ws: &WorkspaceName,
        q: &LoggedModelQuery,
        page: &PageRequest,
    ) -> Result<Page<LoggedModel>> {
        self.timed("search_logged_models", self.lm_search(ws, q, page))
            .await
    }

    async fn log_batch_with_model_metrics(
        &self,
        ws: &WorkspaceName,
        run: &RunId,
        batch: LogBatch,
        links: Vec<ModelMetricLink>,
    ) -> Result<()> {
        self.timed(
            "log_batch_with_model_metrics",
            self.batch_log(ws, run, batch, &links),
        )
        .await
    }

    async fn record_model_artifact(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        entry: ArtifactEntry,
    ) -> Result<()> {
        self.timed(
            "record_model_artifact",
            self.lm_record_artifact(ws, id, entry),
        )
        .await
    }

    async fn get_model_artifact(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        path: &ArtifactPath,
    ) -> Result<ArtifactEntry> {
        self.timed("get_model_artifact", self.lm_get_artifact(ws, id, path))
            .await
    }

    async fn list_model_artifacts(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        dir: &ArtifactPath,
    ) -> Result<ArtifactListing> {
        self.timed("list_model_artifacts", self.lm_list_artifacts(ws, id, dir))
            .await
    }

    async fn delete_model_artifact(
        &self,
        ws: &WorkspaceName,
        id: &LoggedModelId,
        path: &ArtifactPath,
    ) -> Result<()> {
        self.timed(
            "delete_model_artifact",
            self.lm_delete_artifact(ws, id, path),
        )
        .await
    }
}
