//! SQL for the model registry on SQLite: registered models, versions, tags and aliases.
//! Writes run on the writer thread inside the caller's savepoint, reads on a reader.
//!
//! Invariants:
//! - functions here never begin or commit transactions: the engine owns transaction scope;
//! - a model of another workspace is `NotFound`, exactly like a missing one;
//! - rows are addressed by the model's surrogate id once its name has been looked up.

use super::Db;
use super::ops::{now_ms, require_workspace};
use crate::registry::{
    RegistryQuery, alias_not_found, check_run_source, check_source_workspace, exact_name,
    latest_per_stage, model_exists, model_not_found, other_storage_location, page_models,
    page_versions, run_storage_location, run_to_check, version_not_found,
};
use crate::{Entity, Result, StoreError};
use mlplane_core::registry::{
    ModelAlias, ModelSource, ModelVersion, NewModelVersion, NewRegisteredModel, RegisteredModel,
    Stage, VersionStatus,
};
use mlplane_core::{Page, PageRequest, RunId, Tag, TokenCodec, WorkspaceName};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use std::collections::HashMap;

/// Which versions a load reads.
enum Scope<'a> {
    Workspace(&'a WorkspaceName),
    Model(i64),
    Version(i64, i64),
}

impl Scope<'_> {
    fn sql(&self) -> (&'static str, Vec<SqlValue>) {
        match self {
            Scope::Workspace(ws) => ("m.workspace = ?1", vec![ws.as_str().to_string().into()]),
            Scope::Model(id) => ("m.id = ?1", vec![(*id).into()]),
            Scope::Version(id, v) => (
                "m.id = ?1 AND v.version = ?2",
                vec![(*id).into(), (*v).into()],
            ),
        }
    }
}

/// The surrogate id of a model, or `NotFound` (for the workspace or the model).
fn model_id(conn: &Connection, ws: &WorkspaceName, name: &str) -> Result<i64> {
    let id = conn
        .prepare_cached("SELECT id FROM registered_models WHERE workspace = ?1 AND name = ?2")
        .db()?
        .query_row(params![ws.as_str(), name], |r| r.get(0))
        .optional()
        .db()?;
    match id {
        Some(id) => Ok(id),
        None => {
            require_workspace(conn, ws)?;
            Err(model_not_found(name))
        }
    }
}

fn touch(conn: &Connection, id: i64) -> Result<()> {
    conn.execute(
        "UPDATE registered_models SET updated_at = ?1 WHERE id = ?2",
        params![now_ms(), id],
    )
    .db()?;
    Ok(())
}

fn stage_of(s: &str) -> Result<Stage> {
    Stage::parse(s).map_err(|_| StoreError::Internal(format!("unknown stage '{s}' in database")))
}

fn load_versions(conn: &Connection, scope: Scope<'_>) -> Result<Vec<ModelVersion>> {
    let (cond, args) = scope.sql();
    let mut tags: HashMap<(i64, i64), Vec<Tag>> = HashMap::new();
    let mut stmt = conn
        .prepare(&format!(
            "SELECT v.model_id, v.version, v.key, v.value FROM model_version_tags v
             JOIN registered_models m ON m.id = v.model_id WHERE {cond} ORDER BY v.key"
        ))
        .db()?;
    let mut rows = stmt.query(params_from_iter(args.iter())).db()?;
    while let Some(r) = rows.next().db()? {
        tags.entry((r.get(0).db()?, r.get(1).db()?))
            .or_default()
            .push(Tag {
                key: r.get(2).db()?,
                value: r.get(3).db()?,
            });
    }
    let mut aliases: HashMap<(i64, i64), Vec<String>> = HashMap::new();
    let mut stmt = conn
        .prepare(&format!(
            "SELECT v.model_id, v.version, v.alias FROM model_aliases v
             JOIN registered_models m ON m.id = v.model_id WHERE {cond} ORDER BY v.alias"
        ))
        .db()?;
    let mut rows = stmt.query(params_from_iter(args.iter())).db()?;
    while let Some(r) = rows.next().db()? {
        aliases
            .entry((r.get(0).db()?, r.get(1).db()?))
            .or_default()
            .push(r.get(2).db()?);
    }
    let mut stmt = conn
        .prepare(&format!(
            "SELECT v.model_id, v.version, m.name, v.source, v.storage_location, v.run_id,
                    v.run_link, v.description, v.user_id, v.status, v.status_message, v.stage,
                    v.logged_model_id, v.created_at, v.updated_at
             FROM model_versions v JOIN registered_models m ON m.id = v.model_id
             WHERE {cond} ORDER BY m.name, v.version DESC"
        ))
        .db()?;
    let mut rows = stmt.query(params_from_iter(args.iter())).db()?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().db()? {
        let key: (i64, i64) = (r.get(0).db()?, r.get(1).db()?);
        let run_id: Option<String> = r.get(5).db()?;
        let status: String = r.get(9).db()?;
        let stage: String = r.get(11).db()?;
        out.push(ModelVersion {
            name: r.get(2).db()?,
            version: key.1,
            source: r.get(3).db()?,
            storage_location: r.get(4).db()?,
            run_id: run_id
                .map(|s| {
                    RunId::parse(&s)
                        .map_err(|_| StoreError::Internal(format!("bad run id '{s}' in database")))
                })
                .transpose()?,
            run_link: r.get(6).db()?,
            description: r.get(7).db()?,
            user_id: r.get(8).db()?,
            status: VersionStatus::parse(&status).ok_or_else(|| {
                StoreError::Internal(format!("unknown version status '{status}' in database"))
            })?,
            status_message: r.get(10).db()?,
            stage: stage_of(&stage)?,
            tags: tags.remove(&key).unwrap_or_default(),
            aliases: aliases.remove(&key).unwrap_or_default(),
            model_id: r.get(12).db()?,
            created_ms: r.get(13).db()?,
            updated_ms: r.get(14).db()?,
        });
    }
    Ok(out)
}

/// Models of a workspace (or one model) with tags and aliases, without latest versions.
fn load_models(
    conn: &Connection,
    ws: &WorkspaceName,
    one: Option<i64>,
) -> Result<Vec<RegisteredModel>> {
    let (cond, args): (&str, Vec<SqlValue>) = match one {
        Some(id) => ("m.id = ?1", vec![id.into()]),
        None => ("m.workspace = ?1", vec![ws.as_str().to_string().into()]),
    };
    let mut tags: HashMap<i64, Vec<Tag>> = HashMap::new();
    let mut stmt = conn
        .prepare(&format!(
            "SELECT t.model_id, t.key, t.value FROM registered_model_tags t
             JOIN registered_models m ON m.id = t.model_id WHERE {cond} ORDER BY t.key"
        ))
        .db()?;
    let mut rows = stmt.query(params_from_iter(args.iter())).db()?;
    while let Some(r) = rows.next().db()? {
        tags.entry(r.get(0).db()?).or_default().push(Tag {
            key: r.get(1).db()?,
            value: r.get(2).db()?,
        });
    }
    let mut aliases: HashMap<i64, Vec<ModelAlias>> = HashMap::new();
    let mut stmt = conn
        .prepare(&format!(
            "SELECT a.model_id, a.alias, a.version FROM model_aliases a
             JOIN registered_models m ON m.id = a.model_id WHERE {cond} ORDER BY a.alias"
        ))
        .db()?;
    let mut rows = stmt.query(params_from_iter(args.iter())).db()?;
    while let Some(r) = rows.next().db()? {
        aliases.entry(r.get(0).db()?).or_default().push(ModelAlias {
            alias: r.get(1).db()?,
            version: r.get(2).db()?,
        });
    }
    let mut stmt = conn
        .prepare(&format!(
            "SELECT m.id, m.name, m.description, m.user_id, m.created_at, m.updated_at
             FROM registered_models m WHERE {cond} ORDER BY m.name"
        ))
        .db()?;
    let mut rows = stmt.query(params_from_iter(args.iter())).db()?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().db()? {
        let id: i64 = r.get(0).db()?;
        out.push(RegisteredModel {
            name: r.get(1).db()?,
            description: r.get(2).db()?,
            user_id: r.get(3).db()?,
            created_ms: r.get(4).db()?,
            updated_ms: r.get(5).db()?,
            tags: tags.remove(&id).unwrap_or_default(),
            aliases: aliases.remove(&id).unwrap_or_default(),
            latest_versions: Vec::new(),
        });
    }
    Ok(out)
}

fn full_model(
    conn: &Connection,
    ws: &WorkspaceName,
    id: i64,
    name: &str,
) -> Result<RegisteredModel> {
    let mut m = load_models(conn, ws, Some(id))?
        .pop()
        .ok_or_else(|| model_not_found(name))?;
    m.latest_versions = latest_per_stage(load_versions(conn, Scope::Model(id))?, &[]);
    Ok(m)
}

fn one_version(conn: &Connection, id: i64, name: &str, version: i64) -> Result<ModelVersion> {
    load_versions(conn, Scope::Version(id, version))?
        .pop()
        .ok_or_else(|| version_not_found(name, version))
}

fn require_version(conn: &Connection, id: i64, name: &str, version: i64) -> Result<()> {
    let found = conn
        .prepare_cached("SELECT 1 FROM model_versions WHERE model_id = ?1 AND version = ?2")
        .db()?
        .query_row(params![id, version], |_| Ok(()))
        .optional()
        .db()?;
    found.ok_or_else(|| version_not_found(name, version))
}

fn upsert_model_tag(conn: &Connection, id: i64, t: &Tag) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO registered_model_tags (model_id, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
    )
    .db()?
    .execute(params![id, t.key, t.value])
    .db()?;
    Ok(())
}

fn upsert_version_tag(conn: &Connection, id: i64, version: i64, t: &Tag) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO model_version_tags (model_id, version, key, value) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (model_id, version, key) DO UPDATE SET value = excluded.value",
    )
    .db()?
    .execute(params![id, version, t.key, t.value])
    .db()?;
    Ok(())
}

pub(crate) fn create_model(
    conn: &Connection,
    ws: &WorkspaceName,
    m: &NewRegisteredModel,
) -> Result<RegisteredModel> {
    require_workspace(conn, ws)?;
    let exists = conn
        .prepare_cached("SELECT 1 FROM registered_models WHERE workspace = ?1 AND name = ?2")
        .db()?
        .query_row(params![ws.as_str(), m.name], |_| Ok(()))
        .optional()
        .db()?;
    if exists.is_some() {
        return Err(model_exists(&m.name));
    }
    let now = now_ms();
    conn.execute(
        "INSERT INTO registered_models (workspace, name, description, user_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![ws.as_str(), m.name, m.description, m.user_id, now],
    )
    .db()?;
    let id = conn.last_insert_rowid();
    for t in &m.tags {
        upsert_model_tag(conn, id, t)?;
    }
    full_model(conn, ws, id, &m.name)
}

pub(crate) fn get_model(
    conn: &Connection,
    ws: &WorkspaceName,
    name: &str,
) -> Result<RegisteredModel> {
    let id = model_id(conn, ws, name)?;
    full_model(conn, ws, id, name)
}

pub(crate) fn rename_model(
    conn: &Connection,
    ws: &WorkspaceName,
    name: &str,
    new_name: &str,
) -> Result<RegisteredModel> {
    let id = model_id(conn, ws, name)?;
    if name != new_name {
        if model_id(conn, ws, new_name).is_ok() {
            return Err(model_exists(new_name));
        }
        conn.execute(
            "UPDATE registered_models SET name = ?1, updated_at = ?2 WHERE id = ?3",
            params![new_name, now_ms(), id],
        )
        .db()?;
    }
    full_model(conn, ws, id, new_name)
}

pub(crate) fn update_model(
    conn: &Connection,
    ws: &WorkspaceName,
    name: &str,
    description: &str,
) -> Result<RegisteredModel> {
    let id = model_id(conn, ws, name)?;
    conn.execute(
        "UPDATE registered_models SET description = ?1, updated_at = ?2 WHERE id = ?3",
        params![description, now_ms(), id],
    )
    .db()?;
    full_model(conn, ws, id, name)
}

pub(crate) fn delete_model(conn: &Connection, ws: &WorkspaceName, name: &str) -> Result<()> {
    let id = model_id(conn, ws, name)?;
    conn.execute("DELETE FROM registered_models WHERE id = ?1", [id])
        .db()?;
    Ok(())
}

pub(crate) fn search_models(
    conn: &Connection,
    codec: &TokenCodec,
    ws: &WorkspaceName,
    q: &RegistryQuery,
    page: &PageRequest,
) -> Result<Page<RegisteredModel>> {
    require_workspace(conn, ws)?;
    let mut p = page_models(codec, ws, q, page, load_models(conn, ws, None)?)?;
    for m in &mut p.items {
        let id = model_id(conn, ws, &m.name)?;
        m.latest_versions = latest_per_stage(load_versions(conn, Scope::Model(id))?, &[]);
    }
    Ok(p)
}

pub(crate) fn set_model_tag(
    conn: &Connection,
    ws: &WorkspaceName,
    name: &str,
    t: &Tag,
) -> Result<()> {
    let id = model_id(conn, ws, name)?;
    upsert_model_tag(conn, id, t)?;
    touch(conn, id)
}

pub(crate) fn delete_model_tag(
    conn: &Connection,
    ws: &WorkspaceName,
    name: &str,
    key: &str,
) -> Result<()> {
    let id = model_id(conn, ws, name)?;
    let n = conn
        .execute(
            "DELETE FROM registered_model_tags WHERE model_id = ?1 AND key = ?2",
            params![id, key],
        )
        .db()?;
    if n == 0 {
        return Err(StoreError::not_found(
            Entity::RegisteredModel,
            format!("{name}/tag {key}"),
        ));
    }
    touch(conn, id)
}

pub(crate) fn set_alias(
    conn: &Connection,
    ws: &WorkspaceName,
    name: &str,
    alias: &str,
    version: i64,
) -> Result<()> {
    let id = model_id(conn, ws, name)?;
    require_version(conn, id, name, version)?;
    conn.execute(
        "INSERT INTO model_aliases (model_id, alias, version) VALUES (?1, ?2, ?3)
         ON CONFLICT (model_id, alias) DO UPDATE SET version = excluded.version",
        params![id, alias, version],
    )
    .db()?;
    touch(conn, id)
}

pub(crate) fn delete_alias(
    conn: &Connection,
    ws: &WorkspaceName,
    name: &str,
    alias: &str,
) -> Result<()> {
    let id = model_id(conn, ws, name)?;
    let n = conn
        .execute(
            "DELETE FROM model_aliases WHERE model_id = ?1 AND alias = ?2",
            params![id, alias],
        )
        .db()?;
    if n == 0 {
        return Err(alias_not_found(name, alias));
    }
    touch(conn, id)
}

pub(crate) fn version_by_alias(
    conn: &Connection,
    ws: &WorkspaceName,
    name: &str,
    alias: &str,
) -> Result<ModelVersion> {
    let id = model_id(conn, ws, name)?;
    let version: Option<i64> = conn
        .prepare_cached("SELECT version FROM model_aliases WHERE model_id = ?1 AND alias = ?2")
        .db()?
        .query_row(params![id, alias], |r| r.get(0))
        .optional()
        .db()?;
    let version = version.ok_or_else(|| alias_not_found(name, alias))?;
    one_version(conn, id, name, version)
}

/// Checks the run a source names and returns the version's storage location.
fn resolve_source(conn: &Connection, ws: &WorkspaceName, v: &NewModelVersion) -> Result<String> {
    check_source_workspace(ws, &v.parsed)?;
    if let Some((run, field)) = run_to_check(v)? {
        let row: Option<(i64, String)> = conn
            .prepare_cached(
                "SELECT experiment_id, artifact_uri FROM runs WHERE id = ?1 AND workspace = ?2",
            )
            .db()?
            .query_row(params![run.as_str(), ws.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .db()?;
        let Some((exp, uri)) = row else {
            return Err(StoreError::Invalid(mlplane_core::Invalid::one(
                field,
                format!("run '{run}' not found"),
            )));
        };
        if field == "source" {
            check_run_source(ws, &v.parsed, exp)?;
            return run_storage_location(&v.parsed, &uri)
                .ok_or_else(|| StoreError::Internal("run source without a location".into()));
        }
    }
    if let ModelSource::LoggedModelArtifacts { experiment_id, .. } = &v.parsed {
        let found = conn
            .prepare_cached("SELECT 1 FROM experiments WHERE id = ?1 AND workspace = ?2")
            .db()?
            .query_row(params![experiment_id.0, ws.as_str()], |_| Ok(()))
            .optional()
            .db()?;
        if found.is_none() {
            return Err(StoreError::Invalid(mlplane_core::Invalid::one(
                "source",
                format!("experiment '{experiment_id}' not found"),
            )));
        }
    }
    other_storage_location(v)
}

pub(crate) fn create_version(
    conn: &Connection,
    ws: &WorkspaceName,
    v: &NewModelVersion,
) -> Result<ModelVersion> {
    let id = model_id(conn, ws, &v.name)?;
    let location = resolve_source(conn, ws, v)?;
    let now = now_ms();
    let version: i64 = conn
        .query_row(
            "UPDATE registered_models SET last_version = last_version + 1, updated_at = ?1
             WHERE id = ?2 RETURNING last_version",
            params![now, id],
            |r| r.get(0),
        )
        .db()?;
    conn.execute(
        "INSERT INTO model_versions (model_id, version, source, storage_location, run_id, run_link,
             description, user_id, status, status_message, stage, logged_model_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, '', ?10, ?11, ?12, ?12)",
        params![
            id,
            version,
            v.source,
            location,
            v.parsed.run_id().or(v.run_id.as_ref()).map(|r| r.as_str()),
            v.run_link,
            v.description,
            v.user_id,
            VersionStatus::Ready.as_str(),
            Stage::None.as_str(),
            v.model_id,
            now
        ],
    )
    .db()?;
    for t in &v.tags {
        upsert_version_tag(conn, id, version, t)?;
    }
    one_version(conn, id, &v.name, version)
}

pub(crate) fn get_version(
    conn: &Connection,
    ws: &WorkspaceName,
    name: &str,
    version: i64,
) -> Result<ModelVersion> {
    let id = model_id(conn, ws, name)?;
    one_version(conn, id, name, version)
}

pub(crate) fn update_version(
    conn: &Connection,
    ws: &WorkspaceName,
    name: &str,
    version: i64,
    description: &str,
) -> Result<ModelVersion> {
    let id = model_id(conn, ws, name)?;
    require_version(conn, id, name, version)?;
    conn.execute(
        "UPDATE model_versions SET description = ?1, updated_at = ?2 WHERE model_id = ?3 AND version = ?4",
        params![description, now_ms(), id, version],
    )
    .db()?;
    one_version(conn, id, name, version)
}

pub(crate) fn delete_version(
    conn: &Connection,
    ws: &WorkspaceName,
    name: &str,
    version: i64,
) -> Result<()> {
    let id = model_id(conn, ws, name)?;
    let n = conn
        .execute(
            "DELETE FROM model_versions WHERE model_id = ?1 AND version = ?2",
            params![id, version],
        )
        .db()?;
    if n == 0 {
        return Err(version_not_found(name, version));
    }
    touch(conn, id)
}

pub(crate) fn transition_stage(
    conn: &Connection,
    ws: &WorkspaceName,
    name: &str,
    version: i64,
    stage: Stage,
    archive_existing: bool,
) -> Result<ModelVersion> {
    let id = model_id(conn, ws, name)?;
    require_version(conn, id, name, version)?;
    let now = now_ms();
    if archive_existing && stage.archives_others() {
        conn.execute(
            "UPDATE model_versions SET stage = ?1, updated_at = ?2
             WHERE model_id = ?3 AND version != ?4 AND stage = ?5",
            params![Stage::Archived.as_str(), now, id, version, stage.as_str()],
        )
        .db()?;
    }
    conn.execute(
        "UPDATE model_versions SET stage = ?1, updated_at = ?2 WHERE model_id = ?3 AND version = ?4",
        params![stage.as_str(), now, id, version],
    )
    .db()?;
    one_version(conn, id, name, version)
}

pub(crate) fn set_version_tag(
    conn: &Connection,
    ws: &WorkspaceName,
    name: &str,
    version: i64,
    t: &Tag,
) -> Result<()> {
    let id = model_id(conn, ws, name)?;
    require_version(conn, id, name, version)?;
    upsert_version_tag(conn, id, version, t)
}

pub(crate) fn delete_version_tag(
    conn: &Connection,
    ws: &WorkspaceName,
    name: &str,
    version: i64,
    key: &str,
) -> Result<()> {
    let id = model_id(conn, ws, name)?;
    require_version(conn, id, name, version)?;
    let n = conn
        .execute(
            "DELETE FROM model_version_tags WHERE model_id = ?1 AND version = ?2 AND key = ?3",
            params![id, version, key],
        )
        .db()?;
    if n == 0 {
        return Err(StoreError::not_found(
            Entity::ModelVersion,
            format!("{name}/{version}/tag {key}"),
        ));
    }
    Ok(())
}

pub(crate) fn search_versions(
    conn: &Connection,
    codec: &TokenCodec,
    ws: &WorkspaceName,
    q: &RegistryQuery,
    page: &PageRequest,
) -> Result<Page<ModelVersion>> {
    require_workspace(conn, ws)?;
    let rows = match exact_name(&q.filter) {
        Some(name) => match model_id(conn, ws, name) {
            Ok(id) => load_versions(conn, Scope::Model(id))?,
            Err(StoreError::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(e),
        },
        None => load_versions(conn, Scope::Workspace(ws))?,
    };
    page_versions(codec, ws, q, page, rows)
}

pub(crate) fn latest_versions(
    conn: &Connection,
    ws: &WorkspaceName,
    name: &str,
    stages: &[Stage],
) -> Result<Vec<ModelVersion>> {
    let id = model_id(conn, ws, name)?;
    Ok(latest_per_stage(
        load_versions(conn, Scope::Model(id))?,
        stages,
    ))
}
