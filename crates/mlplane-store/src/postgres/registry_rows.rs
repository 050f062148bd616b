//! Row access of the PostgreSQL model registry: model lookups (optionally locking), loading
//! models and versions with their tags and aliases, and resolving a version's source.
//!
//! Invariants:
//! - functions here never begin or commit transactions: the caller in [`super::registry`]
//!   owns transaction scope;
//! - a lookup that finds nothing reports the workspace or the model as `NotFound`.

use super::pool::Db;
use super::rows::{col, now_ms, parse_run_id, require_workspace};
use crate::registry::{
    check_run_source, check_source_workspace, latest_per_stage, model_not_found,
    other_storage_location, run_storage_location, run_to_check, version_not_found,
};
use crate::{Result, StoreError};
use mlplane_core::registry::{
    ModelAlias, ModelSource, ModelVersion, NewModelVersion, RegisteredModel, Stage, VersionStatus,
};
use mlplane_core::{Invalid, Tag, WorkspaceName};
use std::collections::HashMap;

/// The surrogate id of a model, optionally locking its row, or `NotFound`.
pub(super) async fn model_id(
    db: Db<'_>,
    ws: &WorkspaceName,
    name: &str,
    lock: bool,
) -> Result<i64> {
    let row = if lock {
        db.query_opt(
            "SELECT id FROM registered_models WHERE workspace = $1 AND name = $2 FOR UPDATE",
            &[&ws.as_str(), &name],
        )
        .await?
    } else {
        db.query_opt(
            "SELECT id FROM registered_models WHERE workspace = $1 AND name = $2",
            &[&ws.as_str(), &name],
        )
        .await?
    };
    match row {
        Some(r) => col(&r, 0),
        None => {
            require_workspace(db, ws).await?;
            Err(model_not_found(name))
        }
    }
}

pub(super) async fn touch(db: Db<'_>, id: i64) -> Result<()> {
    db.execute(
        "UPDATE registered_models SET updated_at = $1 WHERE id = $2",
        &[&now_ms(), &id],
    )
    .await?;
    Ok(())
}

pub(super) async fn require_version(db: Db<'_>, id: i64, name: &str, version: i64) -> Result<()> {
    let row = db
        .query_opt(
            "SELECT 1 FROM model_versions WHERE model_id = $1 AND version = $2",
            &[&id, &version],
        )
        .await?;
    row.map(|_| ())
        .ok_or_else(|| version_not_found(name, version))
}

/// Versions of a workspace, optionally of one model and one version, with tags and aliases.
pub(super) async fn load_versions(
    db: Db<'_>,
    ws: &WorkspaceName,
    model: Option<i64>,
    version: Option<i64>,
) -> Result<Vec<ModelVersion>> {
    let args: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&ws.as_str(), &model, &version];
    let mut tags: HashMap<(i64, i64), Vec<Tag>> = HashMap::new();
    for r in db
        .query(
            "SELECT v.model_id, v.version, v.key, v.value FROM model_version_tags v
             JOIN registered_models m ON m.id = v.model_id
             WHERE m.workspace = $1 AND ($2::bigint IS NULL OR m.id = $2)
               AND ($3::bigint IS NULL OR v.version = $3)
             ORDER BY v.key",
            &args,
        )
        .await?
    {
        tags.entry((col(&r, 0)?, col(&r, 1)?))
            .or_default()
            .push(Tag {
                key: col(&r, 2)?,
                value: col(&r, 3)?,
            });
    }
    let mut aliases: HashMap<(i64, i64), Vec<String>> = HashMap::new();
    for r in db
        .query(
            "SELECT v.model_id, v.version, v.alias FROM model_aliases v
             JOIN registered_models m ON m.id = v.model_id
             WHERE m.workspace = $1 AND ($2::bigint IS NULL OR m.id = $2)
               AND ($3::bigint IS NULL OR v.version = $3)
             ORDER BY v.alias",
            &args,
        )
        .await?
    {
        aliases
            .entry((col(&r, 0)?, col(&r, 1)?))
            .or_default()
            .push(col(&r, 2)?);
    }
    let rows = db
        .query(
            "SELECT v.model_id, v.version, m.name, v.source, v.storage_location, v.run_id,
                    v.run_link, v.description, v.user_id, v.status, v.status_message, v.stage,
                    v.logged_model_id, v.created_at, v.updated_at
             FROM model_versions v JOIN registered_models m ON m.id = v.model_id
             WHERE m.workspace = $1 AND ($2::bigint IS NULL OR m.id = $2)
               AND ($3::bigint IS NULL OR v.version = $3)
             ORDER BY m.name, v.version DESC",
            &args,
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let key: (i64, i64) = (col(r, 0)?, col(r, 1)?);
        let run_id: Option<String> = col(r, 5)?;
        let status: String = col(r, 9)?;
        let stage: String = col(r, 11)?;
        out.push(ModelVersion {
            name: col(r, 2)?,
            version: key.1,
            source: col(r, 3)?,
            storage_location: col(r, 4)?,
            run_id: run_id.as_deref().map(parse_run_id).transpose()?,
            run_link: col(r, 6)?,
            description: col(r, 7)?,
            user_id: col(r, 8)?,
            status: VersionStatus::parse(&status).ok_or_else(|| {
                StoreError::Internal(format!("stored version status '{status}' is unknown"))
            })?,
            status_message: col(r, 10)?,
            stage: Stage::parse(&stage)
                .map_err(|_| StoreError::Internal(format!("stored stage '{stage}' is unknown")))?,
            tags: tags.remove(&key).unwrap_or_default(),
            aliases: aliases.remove(&key).unwrap_or_default(),
            model_id: col(r, 12)?,
            created_ms: col(r, 13)?,
            updated_ms: col(r, 14)?,
        });
    }
    Ok(out)
}

/// Models of a workspace (or one model) with tags and aliases, without latest versions.
pub(super) async fn load_models(
    db: Db<'_>,
    ws: &WorkspaceName,
    model: Option<i64>,
) -> Result<Vec<(i64, RegisteredModel)>> {
    let args: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&ws.as_str(), &model];
    let mut tags: HashMap<i64, Vec<Tag>> = HashMap::new();
    for r in db
        .query(
            "SELECT t.model_id, t.key, t.value FROM registered_model_tags t
             JOIN registered_models m ON m.id = t.model_id
             WHERE m.workspace = $1 AND ($2::bigint IS NULL OR m.id = $2) ORDER BY t.key",
            &args,
        )
        .await?
    {
        tags.entry(col(&r, 0)?).or_default().push(Tag {
            key: col(&r, 1)?,
            value: col(&r, 2)?,
        });
    }
    let mut aliases: HashMap<i64, Vec<ModelAlias>> = HashMap::new();
    for r in db
        .query(
            "SELECT a.model_id, a.alias, a.version FROM model_aliases a
             JOIN registered_models m ON m.id = a.model_id
             WHERE m.workspace = $1 AND ($2::bigint IS NULL OR m.id = $2) ORDER BY a.alias",
            &args,
        )
        .await?
    {
        aliases.entry(col(&r, 0)?).or_default().push(ModelAlias {
            alias: col(&r, 1)?,
            version: col(&r, 2)?,
        });
    }
    let rows = db
        .query(
            "SELECT m.id, m.name, m.description, m.user_id, m.created_at, m.updated_at
             FROM registered_models m
             WHERE m.workspace = $1 AND ($2::bigint IS NULL OR m.id = $2) ORDER BY m.name",
            &args,
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let id: i64 = col(r, 0)?;
        out.push((
            id,
            RegisteredModel {
                name: col(r, 1)?,
                description: col(r, 2)?,
                user_id: col(r, 3)?,
                created_ms: col(r, 4)?,
                updated_ms: col(r, 5)?,
                tags: tags.remove(&id).unwrap_or_default(),
                aliases: aliases.remove(&id).unwrap_or_default(),
                latest_versions: Vec::new(),
            },
        ));
    }
    Ok(out)
}

pub(super) async fn full_model(
    db: Db<'_>,
    ws: &WorkspaceName,
    id: i64,
    name: &str,
) -> Result<RegisteredModel> {
    let (_, mut m) = load_models(db, ws, Some(id))
        .await?
        .pop()
        .ok_or_else(|| model_not_found(name))?;
    m.latest_versions = latest_per_stage(load_versions(db, ws, Some(id), None).await?, &[]);
    Ok(m)
}

pub(super) async fn one_version(
    db: Db<'_>,
    ws: &WorkspaceName,
    id: i64,
    name: &str,
    version: i64,
) -> Result<ModelVersion> {
    load_versions(db, ws, Some(id), Some(version))
        .await?
        .pop()
        .ok_or_else(|| version_not_found(name, version))
}

pub(super) async fn upsert_model_tag(db: Db<'_>, id: i64, t: &Tag) -> Result<()> {
    db.execute(
        "INSERT INTO registered_model_tags (model_id, key, value) VALUES ($1, $2, $3)
         ON CONFLICT (model_id, key) DO UPDATE SET value = EXCLUDED.value",
        &[&id, &t.key, &t.value],
    )
    .await?;
    Ok(())
}

pub(super) async fn upsert_version_tag(db: Db<'_>, id: i64, version: i64, t: &Tag) -> Result<()> {
    db.execute(
        "INSERT INTO model_version_tags (model_id, version, key, value) VALUES ($1, $2, $3, $4)
         ON CONFLICT (model_id, version, key) DO UPDATE SET value = EXCLUDED.value",
        &[&id, &version, &t.key, &t.value],
    )
    .await?;
    Ok(())
}

/// Checks the run or experiment a source names and returns the version's storage location.
pub(super) async fn resolve_source(
    db: Db<'_>,
    ws: &WorkspaceName,
    v: &NewModelVersion,
) -> Result<String> {
    check_source_workspace(ws, &v.parsed)?;
    if let Some((run, field)) = run_to_check(v)? {
        let row = db
            .query_opt(
                "SELECT experiment_id, artifact_uri FROM runs WHERE id = $1 AND workspace = $2",
                &[&run.as_str(), &ws.as_str()],
            )
            .await?;
        let Some(row) = row else {
            return Err(Invalid::one(field, format!("run '{run}' not found")).into());
        };
        if field == "source" {
            let (exp, uri): (i64, String) = (col(&row, 0)?, col(&row, 1)?);
            check_run_source(ws, &v.parsed, exp)?;
            return run_storage_location(&v.parsed, &uri)
                .ok_or_else(|| StoreError::Internal("run source without a location".into()));
        }
    }
    if let ModelSource::LoggedModelArtifacts { experiment_id, .. } = &v.parsed {
        let found = db
            .query_opt(
                "SELECT 1 FROM experiments WHERE id = $1 AND workspace = $2",
                &[&experiment_id.0, &ws.as_str()],
            )
            .await?;
        if found.is_none() {
            return Err(
                Invalid::one("source", format!("experiment '{experiment_id}' not found")).into(),
            );
        }
    }
    other_storage_location(v)
}
