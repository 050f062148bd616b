//! The model registry on PostgreSQL: [`ModelRegistry`] for [`PgStore`], one transaction
//! per call; row access lives in [`super::registry_rows`].
//!
//! Invariants:
//! - every write runs in one transaction that first locks the model row (`FOR UPDATE`), so
//!   version numbers, alias moves and stage transitions of one model are serialized;
//! - reads of a model with its versions run in one snapshot, so they are consistent;
//! - a model of another workspace is `NotFound`, exactly like a missing one.

use super::PgStore;
use super::registry_rows::{
    full_model, load_models, load_versions, model_id, one_version, require_version, resolve_source,
    touch, upsert_model_tag, upsert_version_tag,
};
use super::rows::{col, db_err, is_unique_violation, now_ms, require_workspace};
use crate::registry::{
    ModelRegistry, RegistryQuery, alias_not_found, exact_name, latest_per_stage, model_exists,
    page_models, page_versions, version_not_found,
};
use crate::{Entity, Result, StoreError};
use async_trait::async_trait;
use mlplane_core::registry::{
    ModelVersion, NewModelVersion, NewRegisteredModel, RegisteredModel, Stage, VersionStatus,
};
use mlplane_core::{Page, PageRequest, Tag, WorkspaceName};
use std::collections::HashMap;

#[async_trait]
impl ModelRegistry for PgStore {
    async fn create_registered_model(
        &self,
        ws: &WorkspaceName,
        m: NewRegisteredModel,
    ) -> Result<RegisteredModel> {
        self.timed("create_registered_model", async {
            let now = now_ms();
            let conn = self.pool.get().await?;
            let tx = conn.begin().await?;
            let db = tx.db();
            require_workspace(db, ws).await?;
            let inserted = db
                .query_opt_raw(
                    "INSERT INTO registered_models
                         (workspace, name, description, user_id, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
                    &[&ws.as_str(), &m.name, &m.description, &m.user_id, &now],
                )
                .await?;
            let id: i64 = match inserted {
                Ok(Some(row)) => col(&row, 0)?,
                Ok(None) => return Err(StoreError::Internal("insert returned no row".into())),
                Err(e) if is_unique_violation(&e) => return Err(model_exists(&m.name)),
                Err(e) => return Err(db_err(e)),
            };
            for t in &m.tags {
                upsert_model_tag(db, id, t).await?;
            }
            let out = full_model(db, ws, id, &m.name).await?;
            tx.commit().await?;
            Ok(out)
        })
        .await
    }

    async fn get_registered_model(
        &self,
        ws: &WorkspaceName,
        name: &str,
    ) -> Result<RegisteredModel> {
        self.timed("get_registered_model", async {
            let conn = self.pool.get().await?;
            let tx = conn.tx();
            tx.send_begin_snapshot().await?;
            let id = model_id(tx.db(), ws, name, false).await?;
            let out = full_model(tx.db(), ws, id, name).await?;
            tx.commit().await?;
            Ok(out)
        })
        .await
    }

    async fn rename_registered_model(
        &self,
        ws: &WorkspaceName,
        name: &str,
        new_name: &str,
    ) -> Result<RegisteredModel> {
        self.timed("rename_registered_model", async {
            let conn = self.pool.get().await?;
            let tx = conn.begin().await?;
            let db = tx.db();
            let id = model_id(db, ws, name, true).await?;
            if name != new_name {
                let updated = db
                    .query_opt_raw(
                        "UPDATE registered_models SET name = $1, updated_at = $2 WHERE id = $3
                         RETURNING id",
                        &[&new_name, &now_ms(), &id],
                    )
                    .await?;
                match updated {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => return Err(model_exists(new_name)),
                    Err(e) => return Err(db_err(e)),
                }
            }
            let out = full_model(db, ws, id, new_name).await?;
            tx.commit().await?;
            Ok(out)
        })
        .await
    }

    async fn update_registered_model(
        &self,
        ws: &WorkspaceName,
        name: &str,
        description: &str,
    ) -> Result<RegisteredModel> {
        self.timed("update_registered_model", async {
            let conn = self.pool.get().await?;
            let tx = conn.begin().await?;
            let db = tx.db();
            let id = model_id(db, ws, name, true).await?;
            db.execute(
                "UPDATE registered_models SET description = $1, updated_at = $2 WHERE id = $3",
                &[&description, &now_ms(), &id],
            )
            .await?;
            let out = full_model(db, ws, id, name).await?;
            tx.commit().await?;
            Ok(out)
        })
        .await
    }

    async fn delete_registered_model(&self, ws: &WorkspaceName, name: &str) -> Result<()> {
        self.timed("delete_registered_model", async {
            let conn = self.pool.get().await?;
            let tx = conn.begin().await?;
            let id = model_id(tx.db(), ws, name, true).await?;
            tx.db()
                .execute("DELETE FROM registered_models WHERE id = $1", &[&id])
                .await?;
            tx.commit().await
        })
        .await
    }

    async fn search_registered_models(
        &self,
        ws: &WorkspaceName,
        q: &RegistryQuery,
        page: &PageRequest,
    ) -> Result<Page<RegisteredModel>> {
        self.timed("search_registered_models", async {
            let conn = self.pool.get().await?;
            let tx = conn.tx();
            tx.send_begin_snapshot().await?;
            let db = tx.db();
            require_workspace(db, ws).await?;
            let rows = load_models(db, ws, None).await?;
            let ids: HashMap<String, i64> =
                rows.iter().map(|(id, m)| (m.name.clone(), *id)).collect();
            let models = rows.into_iter().map(|(_, m)| m).collect();
            let mut p = page_models(&self.codec, ws, q, page, models)?;
            for m in &mut p.items {
                let id = ids.get(&m.name).copied();
                if id.is_some() {
                    m.latest_versions =
                        latest_per_stage(load_versions(db, ws, id, None).await?, &[]);
                }
            }
            tx.commit().await?;
            Ok(p)
        })
        .await
    }

    async fn set_registered_model_tag(
        &self,
        ws: &WorkspaceName,
        name: &str,
        tag: Tag,
    ) -> Result<()> {
        self.timed("set_registered_model_tag", async {
            let conn = self.pool.get().await?;
            let tx = conn.begin().await?;
            let id = model_id(tx.db(), ws, name, true).await?;
            upsert_model_tag(tx.db(), id, &tag).await?;
            touch(tx.db(), id).await?;
            tx.commit().await
        })
        .await
    }

    async fn delete_registered_model_tag(
        &self,
        ws: &WorkspaceName,
        name: &str,
        key: &str,
    ) -> Result<()> {
        self.timed("delete_registered_model_tag", async {
            let conn = self.pool.get().await?;
            let tx = conn.begin().await?;
            let id = model_id(tx.db(), ws, name, true).await?;
            let n = tx
                .db()
                .execute(
                    "DELETE FROM registered_model_tags WHERE model_id = $1 AND key = $2",
                    &[&id, &key],
                )
                .await?;
            if n == 0 {
                return Err(StoreError::not_found(
                    Entity::RegisteredModel,
                    format!("{name}/tag {key}"),
                ));
            }
            touch(tx.db(), id).await?;
            tx.commit().await
        })
        .await
    }

    async fn set_model_alias(
        &self,
        ws: &WorkspaceName,
        name: &str,
        alias: &str,
        version: i64,
    ) -> Result<()> {
        self.timed("set_model_alias", async {
            let conn = self.pool.get().await?;
            let tx = conn.begin().await?;
            let db = tx.db();
            let id = model_id(db, ws, name, true).await?;
            require_version(db, id, name, version).await?;
            db.execute(
                "INSERT INTO model_aliases (model_id, alias, version) VALUES ($1, $2, $3)
                 ON CONFLICT (model_id, alias) DO UPDATE SET version = EXCLUDED.version",
                &[&id, &alias, &version],
            )
            .await?;
            touch(db, id).await?;
            tx.commit().await
        })
        .await
    }

    async fn delete_model_alias(&self, ws: &WorkspaceName, name: &str, alias: &str) -> Result<()> {
        self.timed("delete_model_alias", async {
            let conn = self.pool.get().await?;
            let tx = conn.begin().await?;
            let db = tx.db();
            let id = model_id(db, ws, name, true).await?;
            let n = db
                .execute(
                    "DELETE FROM model_aliases WHERE model_id = $1 AND alias = $2",
                    &[&id, &alias],
                )
                .await?;
            if n == 0 {
                return Err(alias_not_found(name, alias));
            }
            touch(db, id).await?;
            tx.commit().await
        })
        .await
    }

    async fn get_model_version_by_alias(
        &self,
        ws: &WorkspaceName,
        name: &str,
        alias: &str,
    ) -> Result<ModelVersion> {
        self.timed("get_model_version_by_alias", async {
            let conn = self.pool.get().await?;
            let tx = conn.tx();
            tx.send_begin_snapshot().await?;
            let db = tx.db();
            let id = model_id(db, ws, name, false).await?;
            let row = db
                .query_opt(
                    "SELECT version FROM model_aliases WHERE model_id = $1 AND alias = $2",
                    &[&id, &alias],
                )
                .await?
                .ok_or_else(|| alias_not_found(name, alias))?;
            let out = one_version(db, ws, id, name, col(&row, 0)?).await?;
            tx.commit().await?;
            Ok(out)
        })
        .await
    }

    async fn create_model_version(
        &self,
        ws: &WorkspaceName,
        v: NewModelVersion,
    ) -> Result<ModelVersion> {
        self.timed("create_model_version", async {
            let conn = self.pool.get().await?;
            let tx = conn.begin().await?;
            let db = tx.db();
            let id = model_id(db, ws, &v.name, true).await?;
            let location = resolve_source(db, ws, &v).await?;
            let now = now_ms();
            let row = db
                .query_one(
                    "UPDATE registered_models SET last_version = last_version + 1, updated_at = $1
                     WHERE id = $2 RETURNING last_version",
                    &[&now, &id],
                )
                .await?;
            let version: i64 = col(&row, 0)?;
            let run_id = v.parsed.run_id().or(v.run_id.as_ref()).map(|r| r.as_str());
            db.execute(
                "INSERT INTO model_versions (model_id, version, source, storage_location, run_id,
                     run_link, description, user_id, status, status_message, stage,
                     logged_model_id, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '', $10, $11, $12, $12)",
                &[
                    &id,
                    &version,
                    &v.source,
                    &location,
                    &run_id,
                    &v.run_link,
                    &v.description,
                    &v.user_id,
                    &VersionStatus::Ready.as_str(),
                    &Stage::None.as_str(),
                    &v.model_id,
                    &now,
                ],
            )
            .await?;
            for t in &v.tags {
                upsert_version_tag(db, id, version, t).await?;
            }
            let out = one_version(db, ws, id, &v.name, version).await?;
            tx.commit().await?;
            Ok(out)
        })
        .await
    }

    async fn get_model_version(
        &self,
        ws: &WorkspaceName,
        name: &str,
        version: i64,
    ) -> Result<ModelVersion> {
        self.timed("get_model_version", async {
            let conn = self.pool.get().await?;
            let tx = conn.tx();
            tx.send_begin_snapshot().await?;
            let id = model_id(tx.db(), ws, name, false).await?;
            let out = one_version(tx.db(), ws, id, name, version).await?;
            tx.commit().await?;
            Ok(out)
        })
        .await
    }

    async fn update_model_version(
        &self,
        ws: &WorkspaceName,
        name: &str,
        version: i64,
        description: &str,
    ) -> Result<ModelVersion> {
        self.timed("update_model_version", async {
            let conn = self.pool.get().await?;
            let tx = conn.begin().await?;
            let db = tx.db();
            let id = model_id(db, ws, name, true).await?;
            let n = db
                .execute(
                    "UPDATE model_versions SET description = $1, updated_at = $2
                     WHERE model_id = $3 AND version = $4",
                    &[&description, &now_ms(), &id, &version],
                )
                .await?;
            if n == 0 {
                return Err(version_not_found(name, version));
            }
            let out = one_version(db, ws, id, name, version).await?;
            tx.commit().await?;
            Ok(out)
        })
        .await
    }

    async fn delete_model_version(
        &self,
        ws: &WorkspaceName,
        name: &str,
        version: i64,
    ) -> Result<()> {
        self.timed("delete_model_version", async {
            let conn = self.pool.get().await?;
            let tx = conn.begin().await?;
            let db = tx.db();
            let id = model_id(db, ws, name, true).await?;
            let n = db
                .execute(
                    "DELETE FROM model_versions WHERE model_id = $1 AND version = $2",
                    &[&id, &version],
                )
                .await?;
            if n == 0 {
                return Err(version_not_found(name, version));
            }
            touch(db, id).await?;
            tx.commit().await
        })
        .await
    }

    async fn transition_model_version_stage(
        &self,
        ws: &WorkspaceName,
        name: &str,
        version: i64,
        stage: Stage,
        archive_existing: bool,
    ) -> Result<ModelVersion> {
        self.timed("transition_model_version_stage", async {
            let conn = self.pool.get().await?;
            let tx = conn.begin().await?;
            let db = tx.db();
            let id = model_id(db, ws, name, true).await?;
            require_version(db, id, name, version).await?;
            let now = now_ms();
            if archive_existing && stage.archives_others() {
                db.execute(
                    "UPDATE model_versions SET stage = $1, updated_at = $2
                     WHERE model_id = $3 AND version <> $4 AND stage = $5",
                    &[
                        &Stage::Archived.as_str(),
                        &now,
                        &id,
                        &version,
                        &stage.as_str(),
                    ],
                )
                .await?;
            }
            db.execute(
                "UPDATE model_versions SET stage = $1, updated_at = $2
                 WHERE model_id = $3 AND version = $4",
                &[&stage.as_str(), &now, &id, &version],
            )
            .await?;
            let out = one_version(db, ws, id, name, version).await?;
            tx.commit().await?;
            Ok(out)
        })
        .await
    }

    async fn set_model_version_tag(
        &self,
        ws: &WorkspaceName,
        name: &str,
        version: i64,
        tag: Tag,
    ) -> Result<()> {
        self.timed("set_model_version_tag", async {
            let conn = self.pool.get().await?;
            let tx = conn.begin().await?;
            let id = model_id(tx.db(), ws, name, true).await?;
            require_version(tx.db(), id, name, version).await?;
            upsert_version_tag(tx.db(), id, version, &tag).await?;
            tx.commit().await
        })
        .await
    }

    async fn delete_model_version_tag(
        &self,
        ws: &WorkspaceName,
        name: &str,
        version: i64,
        key: &str,
    ) -> Result<()> {
        self.timed("delete_model_version_tag", async {
            let conn = self.pool.get().await?;
            let tx = conn.begin().await?;
            let id = model_id(tx.db(), ws, name, true).await?;
            require_version(tx.db(), id, name, version).await?;
            let n = tx
                .db()
                .execute(
                    "DELETE FROM model_version_tags WHERE model_id = $1 AND version = $2 AND key = $3",
                    &[&id, &version, &key],
                )
                .await?;
            if n == 0 {
                return Err(StoreError::not_found(
                    Entity::ModelVersion,
                    format!("{name}/{version}/tag {key}"),
                ));
            }
            tx.commit().await
        })
        .await
    }

    async fn search_model_versions(
        &self,
        ws: &WorkspaceName,
        q: &RegistryQuery,
        page: &PageRequest,
    ) -> Result<Page<ModelVersion>> {
        self.timed("search_model_versions", async {
            let conn = self.pool.get().await?;
            let tx = conn.tx();
            tx.send_begin_snapshot().await?;
            let db = tx.db();
            require_workspace(db, ws).await?;
            let rows = match exact_name(&q.filter) {
                Some(name) => match model_id(db, ws, name, false).await {
                    Ok(id) => load_versions(db, ws, Some(id), None).await?,
                    Err(StoreError::NotFound { .. }) => Vec::new(),
                    Err(e) => return Err(e),
                },
                None => load_versions(db, ws, None, None).await?,
            };
            let out = page_versions(&self.codec, ws, q, page, rows)?;
            tx.commit().await?;
            Ok(out)
        })
        .await
    }

    async fn latest_model_versions(
        &self,
        ws: &WorkspaceName,
        name: &str,
        stages: &[Stage],
    ) -> Result<Vec<ModelVersion>> {
        self.timed("latest_model_versions", async {
            let conn = self.pool.get().await?;
            let tx = conn.tx();
            tx.send_begin_snapshot().await?;
            let id = model_id(tx.db(), ws, name, false).await?;
            let out = latest_per_stage(load_versions(tx.db(), ws, Some(id), None).await?, stages);
            tx.commit().await?;
            Ok(out)
        })
        .await
    }
}
