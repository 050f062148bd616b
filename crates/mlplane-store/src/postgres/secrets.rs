//! Secrets and the audit log on PostgreSQL, and the [`SecretStore`] and [`AuditStore`]
//! wiring of [`PgStore`].
//!
//! Invariants:
//! - creating a secret locks its workspace row (`FOR UPDATE`), so the per-workspace count
//!   check cannot race another create;
//! - a rotation replaces all of its rows in one transaction or none;
//! - the audit table is only inserted into (its triggers refuse anything else).

use super::PgStore;
use super::pool::Db;
use super::rows::{col, internal, now_ms, require_workspace};
use crate::audit::{AuditRow, AuditStore, audit_page, finish_page};
use crate::secrets::{SecretStore, changed_meanwhile, too_many};
use crate::{Entity, Result, StoreError};
use async_trait::async_trait;
use mlplane_core::audit::{AuditQuery, AuditRecord, NewAuditRecord};
use mlplane_core::secrets::{
    MAX_SECRETS_PER_WORKSPACE, Rewrapped, SealedSecret, SecretMeta, SecretName,
};
use mlplane_core::{Page, PageRequest, WorkspaceName};
use tokio_postgres::Row;

const SELECT_META: &str = "SELECT name, created_at, updated_at, created_by, updated_by, key_id \
     FROM secrets WHERE workspace = $1 AND name = $2";

fn meta(row: &Row) -> Result<SecretMeta> {
    let name: String = col(row, 0)?;
    Ok(SecretMeta {
        name: SecretName::parse(&name)
            .map_err(|_| internal(format!("bad secret name '{name}' in database")))?,
        created_ms: col(row, 1)?,
        updated_ms: col(row, 2)?,
        created_by: col(row, 3)?,
        updated_by: col(row, 4)?,
        key_id: col(row, 5)?,
    })
}

fn sealed_of(row: &Row, from: usize) -> Result<SealedSecret> {
    Ok(SealedSecret {
        key_id: col(row, from)?,
        nonce: col(row, from + 1)?,
        ciphertext: col(row, from + 2)?,
    })
}

async fn missing(db: Db<'_>, ws: &WorkspaceName, name: &SecretName) -> StoreError {
    match require_workspace(db, ws).await {
        Ok(()) => StoreError::not_found(Entity::Secret, name),
        Err(e) => e,
    }
}

impl PgStore {
    async fn s_put(
        &self,
        ws: &WorkspaceName,
        name: &SecretName,
        s: SealedSecret,
        actor: &str,
    ) -> Result<(SecretMeta, bool)> {
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        let locked = db
            .query_opt(
                "SELECT 1 FROM workspaces WHERE name = $1 FOR UPDATE",
                &[&ws.as_str()],
            )
            .await?;
        if locked.is_none() {
            return Err(StoreError::not_found(Entity::Workspace, ws));
        }
        let now = now_ms();
        let updated = db
            .execute(
                "UPDATE secrets SET key_id = $3, nonce = $4, ciphertext = $5, updated_at = $6,
                 updated_by = $7 WHERE workspace = $1 AND name = $2",
                &[
                    &ws.as_str(),
                    &name.as_str(),
                    &s.key_id,
                    &s.nonce,
                    &s.ciphertext,
                    &now,
                    &actor,
                ],
            )
            .await?;
        let created = updated == 0;
        if created {
            let count: i64 = col(
                &db.query_one(
                    "SELECT COUNT(*) FROM secrets WHERE workspace = $1",
                    &[&ws.as_str()],
                )
                .await?,
                0,
            )?;
            if count as usize >= MAX_SECRETS_PER_WORKSPACE {
                return Err(too_many());
            }
            db.execute(
                "INSERT INTO secrets (workspace, name, key_id, nonce, ciphertext, created_at,
                 updated_at, created_by, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $7)",
                &[
                    &ws.as_str(),
                    &name.as_str(),
                    &s.key_id,
                    &s.nonce,
                    &s.ciphertext,
                    &now,
                    &actor,
                ],
            )
            .await?;
        }
        let row = db
            .query_one(SELECT_META, &[&ws.as_str(), &name.as_str()])
            .await?;
        let m = meta(&row)?;
        tx.commit().await?;
        Ok((m, created))
    }

    async fn s_get(&self, ws: &WorkspaceName, name: &SecretName) -> Result<SecretMeta> {
        let conn = self.pool.get().await?;
        let db = conn.db();
        match db
            .query_opt(SELECT_META, &[&ws.as_str(), &name.as_str()])
            .await?
        {
            Some(row) => meta(&row),
            None => Err(missing(db, ws, name).await),
        }
    }

    async fn s_list(&self, ws: &WorkspaceName) -> Result<Vec<SecretMeta>> {
        let conn = self.pool.get().await?;
        let db = conn.db();
        require_workspace(db, ws).await?;
        let rows = db
            .query(
                "SELECT name, created_at, updated_at, created_by, updated_by, key_id
                 FROM secrets WHERE workspace = $1 ORDER BY name",
                &[&ws.as_str()],
            )
            .await?;
        rows.iter().map(meta).collect()
    }

    async fn s_delete(&self, ws: &WorkspaceName, name: &SecretName) -> Result<()> {
        let conn = self.pool.get().await?;
        let db = conn.db();
        let n = db
            .execute(
                "DELETE FROM secrets WHERE workspace = $1 AND name = $2",
                &[&ws.as_str(), &name.as_str()],
            )
            .await?;
        if n == 0 {
            return Err(missing(db, ws, name).await);
        }
        Ok(())
    }

    async fn s_sealed(&self, ws: &WorkspaceName, name: &SecretName) -> Result<SealedSecret> {
        let conn = self.pool.get().await?;
        let db = conn.db();
        match db
            .query_opt(
                "SELECT key_id, nonce, ciphertext FROM secrets WHERE workspace = $1 AND name = $2",
                &[&ws.as_str(), &name.as_str()],
            )
            .await?
        {
            Some(row) => sealed_of(&row, 0),
            None => Err(missing(db, ws, name).await),
        }
    }

    async fn s_all(&self) -> Result<Vec<(WorkspaceName, SecretName, SealedSecret)>> {
        let conn = self.pool.get().await?;
        let rows = conn
            .db()
            .query(
                "SELECT workspace, name, key_id, nonce, ciphertext FROM secrets
                 ORDER BY workspace, name",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let ws: String = col(r, 0)?;
                let name: String = col(r, 1)?;
                Ok((
                    WorkspaceName::parse(&ws)
                        .map_err(|_| internal(format!("bad workspace '{ws}' in database")))?,
                    SecretName::parse(&name)
                        .map_err(|_| internal(format!("bad secret name '{name}' in database")))?,
                    sealed_of(r, 2)?,
                ))
            })
            .collect()
    }

    async fn s_rewrap(&self, rows: Vec<Rewrapped>) -> Result<usize> {
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        for r in &rows {
            let n = db
                .execute(
                    "UPDATE secrets SET key_id = $4, nonce = $5, ciphertext = $6
                     WHERE workspace = $1 AND name = $2 AND nonce = $3",
                    &[
                        &r.workspace.as_str(),
                        &r.name.as_str(),
                        &r.old_nonce,
                        &r.sealed.key_id,
                        &r.sealed.nonce,
                        &r.sealed.ciphertext,
                    ],
                )
                .await?;
            if n != 1 {
                // Dropping the transaction uncommitted rolls every row back.
                return Err(changed_meanwhile(&r.workspace, &r.name));
            }
        }
        tx.commit().await?;
        Ok(rows.len())
    }

    async fn a_append(&self, records: Vec<NewAuditRecord>) -> Result<()> {
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        for r in &records {
            db.execute(
                "INSERT INTO audit_log (time_ms, actor_kind, actor_id, actor_name, action,
                 target, workspace, client_ip, request_id, method, status, outcome)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                &[
                    &r.time_ms,
                    &r.actor_kind.as_str(),
                    &r.actor_id,
                    &r.actor_name,
                    &r.action,
                    &r.target,
                    &r.workspace,
                    &r.client_ip,
                    &r.request_id,
                    &r.method,
                    &i32::from(r.status),
                    &r.outcome.as_str(),
                ],
            )
            .await?;
        }
        tx.commit().await
    }

    async fn a_list(&self, q: &AuditQuery, page: &PageRequest) -> Result<Page<AuditRecord>> {
        let p = audit_page(&self.codec, q, page)?;
        let conn = self.pool.get().await?;
        let rows = conn
            .db()
            .query(
                "SELECT id, time_ms, actor_kind, actor_id, actor_name, action, target,
                        workspace, client_ip, request_id, method, status, outcome
                 FROM audit_log
                 WHERE ($1::BIGINT IS NULL OR id < $1) AND ($2::BIGINT IS NULL OR time_ms >= $2)
                   AND ($3::BIGINT IS NULL OR time_ms < $3)
                   AND ($4::TEXT IS NULL OR workspace = $4)
                   AND ($5::TEXT IS NULL OR actor_id = $5 OR actor_name = $5)
                   AND ($6::TEXT IS NULL OR action = $6)
                 ORDER BY id DESC LIMIT $7",
                &[
                    &p.before_id,
                    &q.since_ms,
                    &q.until_ms,
                    &q.workspace,
                    &q.actor,
                    &q.action,
                    &((p.limit + 1) as i64),
                ],
            )
            .await?;
        let rows = rows
            .iter()
            .map(|r| {
                let status: i32 = col(r, 11)?;
                AuditRow {
                    id: col(r, 0)?,
                    time_ms: col(r, 1)?,
                    actor_kind: col(r, 2)?,
                    actor_id: col(r, 3)?,
                    actor_name: col(r, 4)?,
                    action: col(r, 5)?,
                    target: col(r, 6)?,
                    workspace: col(r, 7)?,
                    client_ip: col(r, 8)?,
                    request_id: col(r, 9)?,
                    method: col(r, 10)?,
                    status: i64::from(status),
                    outcome: col(r, 12)?,
                }
                .decode()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(finish_page(&self.codec, &p, rows))
    }
}

#[async_trait]
impl SecretStore for PgStore {
    async fn put_secret(
        &self,
        ws: &WorkspaceName,
        name: &SecretName,
        sealed: SealedSecret,
        actor: &str,
    ) -> Result<(SecretMeta, bool)> {
        self.timed("put_secret", self.s_put(ws, name, sealed, actor))
            .await
    }
    async fn get_secret(&self, ws: &WorkspaceName, name: &SecretName) -> Result<SecretMeta> {
        self.timed("get_secret", self.s_get(ws, name)).await
    }
    async fn list_secrets(&self, ws: &WorkspaceName) -> Result<Vec<SecretMeta>> {
        self.timed("list_secrets", self.s_list(ws)).await
    }
    async fn delete_secret(&self, ws: &WorkspaceName, name: &SecretName) -> Result<()> {
        self.timed("delete_secret", self.s_delete(ws, name)).await
    }
    async fn sealed_secret(&self, ws: &WorkspaceName, name: &SecretName) -> Result<SealedSecret> {
        self.timed("sealed_secret", self.s_sealed(ws, name)).await
    }
    async fn all_sealed_secrets(&self) -> Result<Vec<(WorkspaceName, SecretName, SealedSecret)>> {
        self.timed("all_sealed_secrets", self.s_all()).await
    }
    async fn rewrap_secrets(&self, rows: Vec<Rewrapped>) -> Result<usize> {
        self.timed("rewrap_secrets", self.s_rewrap(rows)).await
    }
}

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit(&self, records: Vec<NewAuditRecord>) -> Result<()> {
        self.timed("append_audit", self.a_append(records)).await
    }
    async fn list_audit(&self, q: &AuditQuery, page: &PageRequest) -> Result<Page<AuditRecord>> {
        self.timed("list_audit", self.a_list(q, page)).await
    }
}
