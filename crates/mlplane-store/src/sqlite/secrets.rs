//! Secrets and the audit log on SQLite: the SQL, and the [`SecretStore`] and [`AuditStore`]
//! wiring of [`SqliteStore`] (writes on the writer thread, reads on the pool).
//!
//! Invariants:
//! - a rotation's rows are replaced inside one savepoint: all of them or none;
//! - the audit table is only inserted into (its triggers refuse anything else).

use super::ops::{now_ms, require_workspace};
use super::{Db, SqliteStore};
use crate::audit::{AuditRow, AuditStore, audit_page, finish_page};
use crate::secrets::{SecretStore, changed_meanwhile, too_many};
use crate::{Entity, Result, StoreError};
use async_trait::async_trait;
use mlplane_core::audit::{AuditQuery, AuditRecord, NewAuditRecord};
use mlplane_core::secrets::{
    MAX_SECRETS_PER_WORKSPACE, Rewrapped, SealedSecret, SecretMeta, SecretName,
};
use mlplane_core::{Page, PageRequest, WorkspaceName};
use rusqlite::{Connection, OptionalExtension, params};

const META_COLUMNS: &str = "name, created_at, updated_at, created_by, updated_by, key_id";

fn meta_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, i64, i64, String, String, String)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn to_meta(
    (name, created_ms, updated_ms, created_by, updated_by, key_id): (
        String,
        i64,
        i64,
        String,
        String,
        String,
    ),
) -> Result<SecretMeta> {
    Ok(SecretMeta {
        name: SecretName::parse(&name)
            .map_err(|_| StoreError::Internal(format!("bad secret name '{name}' in database")))?,
        created_ms,
        updated_ms,
        created_by,
        updated_by,
        key_id,
    })
}

fn get_meta(conn: &Connection, ws: &WorkspaceName, name: &SecretName) -> Result<SecretMeta> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {META_COLUMNS} FROM secrets WHERE workspace = ?1 AND name = ?2"
        ))
        .db()?
        .query_row([ws.as_str(), name.as_str()], meta_row)
        .optional()
        .db()?;
    match row {
        Some(r) => to_meta(r),
        None => {
            require_workspace(conn, ws)?;
            Err(StoreError::not_found(Entity::Secret, name))
        }
    }
}

fn put(
    conn: &Connection,
    ws: &WorkspaceName,
    name: &SecretName,
    s: &SealedSecret,
    actor: &str,
) -> Result<(SecretMeta, bool)> {
    require_workspace(conn, ws)?;
    let now = now_ms();
    let updated = conn
        .execute(
            "UPDATE secrets SET key_id = ?3, nonce = ?4, ciphertext = ?5, updated_at = ?6,
             updated_by = ?7 WHERE workspace = ?1 AND name = ?2",
            params![
                ws.as_str(),
                name.as_str(),
                s.key_id,
                s.nonce,
                s.ciphertext,
                now,
                actor
            ],
        )
        .db()?;
    let created = updated == 0;
    if created {
        let count: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM secrets WHERE workspace = ?1",
                [ws.as_str()],
                |r| r.get(0),
            )
            .db()?;
        if count as usize >= MAX_SECRETS_PER_WORKSPACE {
            return Err(too_many());
        }
        conn.execute(
            "INSERT INTO secrets (workspace, name, key_id, nonce, ciphertext, created_at,
             updated_at, created_by, updated_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?7)",
            params![
                ws.as_str(),
                name.as_str(),
                s.key_id,
                s.nonce,
                s.ciphertext,
                now,
                actor
            ],
        )
        .db()?;
    }
    Ok((get_meta(conn, ws, name)?, created))
}

fn sealed(conn: &Connection, ws: &WorkspaceName, name: &SecretName) -> Result<SealedSecret> {
    let row = conn
        .prepare_cached(
            "SELECT key_id, nonce, ciphertext FROM secrets WHERE workspace = ?1 AND name = ?2",
        )
        .db()?
        .query_row([ws.as_str(), name.as_str()], |r| {
            Ok(SealedSecret {
                key_id: r.get(0)?,
                nonce: r.get(1)?,
                ciphertext: r.get(2)?,
            })
        })
        .optional()
        .db()?;
    match row {
        Some(s) => Ok(s),
        None => {
            require_workspace(conn, ws)?;
            Err(StoreError::not_found(Entity::Secret, name))
        }
    }
}

fn rewrap(conn: &Connection, rows: &[Rewrapped]) -> Result<usize> {
    let mut st = conn
        .prepare_cached(
            "UPDATE secrets SET key_id = ?4, nonce = ?5, ciphertext = ?6
             WHERE workspace = ?1 AND name = ?2 AND nonce = ?3",
        )
        .db()?;
    for r in rows {
        let n = st
            .execute(params![
                r.workspace.as_str(),
                r.name.as_str(),
                r.old_nonce,
                r.sealed.key_id,
                r.sealed.nonce,
                r.sealed.ciphertext
            ])
            .db()?;
        if n != 1 {
            // The savepoint of this job is rolled back: no row changes.
            return Err(changed_meanwhile(&r.workspace, &r.name));
        }
    }
    Ok(rows.len())
}

fn parse_ws(s: &str) -> Result<WorkspaceName> {
    WorkspaceName::parse(s)
        .map_err(|_| StoreError::Internal(format!("bad workspace name '{s}' in database")))
}

#[async_trait]
impl SecretStore for SqliteStore {
    async fn put_secret(
        &self,
        ws: &WorkspaceName,
        name: &SecretName,
        sealed: SealedSecret,
        actor: &str,
    ) -> Result<(SecretMeta, bool)> {
        let (ws, name, actor) = (ws.clone(), name.clone(), actor.to_string());
        self.write("put_secret", move |c| put(c, &ws, &name, &sealed, &actor))
            .await
    }

    async fn get_secret(&self, ws: &WorkspaceName, name: &SecretName) -> Result<SecretMeta> {
        let (ws, name) = (ws.clone(), name.clone());
        self.read("get_secret", move |c| get_meta(c, &ws, &name))
            .await
    }

    async fn list_secrets(&self, ws: &WorkspaceName) -> Result<Vec<SecretMeta>> {
        let ws = ws.clone();
        self.read("list_secrets", move |c| {
            require_workspace(c, &ws)?;
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {META_COLUMNS} FROM secrets WHERE workspace = ?1 ORDER BY name"
                ))
                .db()?;
            let rows = st
                .query_map([ws.as_str()], meta_row)
                .db()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .db()?;
            rows.into_iter().map(to_meta).collect()
        })
        .await
    }

    async fn delete_secret(&self, ws: &WorkspaceName, name: &SecretName) -> Result<()> {
        let (ws, name) = (ws.clone(), name.clone());
        self.write("delete_secret", move |c| {
            let n = c
                .execute(
                    "DELETE FROM secrets WHERE workspace = ?1 AND name = ?2",
                    [ws.as_str(), name.as_str()],
                )
                .db()?;
            if n == 0 {
                require_workspace(c, &ws)?;
                return Err(StoreError::not_found(Entity::Secret, &name));
            }
            Ok(())
        })
        .await
    }

    async fn sealed_secret(&self, ws: &WorkspaceName, name: &SecretName) -> Result<SealedSecret> {
        let (ws, name) = (ws.clone(), name.clone());
        self.read("sealed_secret", move |c| sealed(c, &ws, &name))
            .await
    }

    async fn all_sealed_secrets(&self) -> Result<Vec<(WorkspaceName, SecretName, SealedSecret)>> {
        self.read("all_sealed_secrets", move |c| {
            let mut st = c
                .prepare(
                    "SELECT workspace, name, key_id, nonce, ciphertext FROM secrets
                     ORDER BY workspace, name",
                )
                .db()?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        SealedSecret {
                            key_id: r.get(2)?,
                            nonce: r.get(3)?,
                            ciphertext: r.get(4)?,
                        },
                    ))
                })
                .db()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .db()?;
            rows.into_iter()
                .map(|(ws, name, s)| {
                    let name = SecretName::parse(&name).map_err(|_| {
                        StoreError::Internal(format!("bad secret name '{name}' in database"))
                    })?;
                    Ok((parse_ws(&ws)?, name, s))
                })
                .collect()
        })
        .await
    }

    async fn rewrap_secrets(&self, rows: Vec<Rewrapped>) -> Result<usize> {
        self.write("rewrap_secrets", move |c| rewrap(c, &rows))
            .await
    }
}

fn audit_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok(AuditRow {
        id: r.get(0)?,
        time_ms: r.get(1)?,
        actor_kind: r.get(2)?,
        actor_id: r.get(3)?,
        actor_name: r.get(4)?,
        action: r.get(5)?,
        target: r.get(6)?,
        workspace: r.get(7)?,
        client_ip: r.get(8)?,
        request_id: r.get(9)?,
        method: r.get(10)?,
        status: r.get(11)?,
        outcome: r.get(12)?,
    })
}

const AUDIT_COLUMNS: &str = "id, time_ms, actor_kind, actor_id, actor_name, action, target, \
     workspace, client_ip, request_id, method, status, outcome";

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, records: Vec<NewAuditRecord>) -> Result<()> {
        self.write("append_audit", move |c| {
            let mut st = c
                .prepare_cached(
                    "INSERT INTO audit_log (time_ms, actor_kind, actor_id, actor_name, action,
                     target, workspace, client_ip, request_id, method, status, outcome)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )
                .db()?;
            for r in &records {
                st.execute(params![
                    r.time_ms,
                    r.actor_kind.as_str(),
                    r.actor_id,
                    r.actor_name,
                    r.action,
                    r.target,
                    r.workspace,
                    r.client_ip,
                    r.request_id,
                    r.method,
                    r.status,
                    r.outcome.as_str()
                ])
                .db()?;
            }
            Ok(())
        })
        .await
    }

    async fn list_audit(&self, q: &AuditQuery, page: &PageRequest) -> Result<Page<AuditRecord>> {
        let p = audit_page(self.codec(), q, page)?;
        let q = q.clone();
        let (before, limit) = (p.before_id, p.limit);
        let rows = self
            .read("list_audit", move |c| {
                let sql = format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_log
                     WHERE (?1 IS NULL OR id < ?1) AND (?2 IS NULL OR time_ms >= ?2)
                       AND (?3 IS NULL OR time_ms < ?3) AND (?4 IS NULL OR workspace = ?4)
                       AND (?5 IS NULL OR actor_id = ?5 OR actor_name = ?5)
                       AND (?6 IS NULL OR action = ?6)
                     ORDER BY id DESC LIMIT ?7"
                );
                let mut st = c.prepare_cached(&sql).db()?;
                let rows = st
                    .query_map(
                        params![
                            before,
                            q.since_ms,
                            q.until_ms,
                            q.workspace,
                            q.actor,
                            q.action,
                            (limit + 1) as i64
                        ],
                        audit_row,
                    )
                    .db()?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .db()?;
                rows.into_iter()
                    .map(AuditRow::decode)
                    .collect::<Result<Vec<_>>>()
            })
            .await?;
        Ok(finish_page(self.codec(), &p, rows))
    }
}
