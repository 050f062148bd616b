//! [`AuthStore`] for [`PgStore`]: users, service principals, tokens, sessions, role bindings
//! and custom roles. Name uniqueness is kept by `ON CONFLICT DO NOTHING` inserts, deletions
//! of a principal run in one transaction with the revocation of its tokens.

use super::PgStore;
use super::pool::Db;
use super::rows::col;
use crate::auth::{
    ApiTokenRecord, AuthStore, CustomRole, PrincipalRef, RoleBinding, ServicePrincipalRecord,
    SessionRecord, UserRecord, check_actions, decode_job_scope, join_actions, not_found,
    principal_kind, split_actions,
};
use crate::{Entity, Result, StoreError};
use async_trait::async_trait;
use mlplane_core::{PrincipalKind, WorkspaceName};
use tokio_postgres::Row;

fn user_row(r: &Row) -> Result<UserRecord> {
    Ok(UserRecord {
        id: col(r, 0)?,
        name: col(r, 1)?,
        password_hash: col(r, 2)?,
        is_admin: col(r, 3)?,
        created_at: col(r, 4)?,
    })
}

fn sp_row(r: &Row) -> Result<ServicePrincipalRecord> {
    Ok(ServicePrincipalRecord {
        id: col(r, 0)?,
        name: col(r, 1)?,
        description: col(r, 2)?,
        created_at: col(r, 3)?,
    })
}

fn token_row(r: &Row) -> Result<ApiTokenRecord> {
    let kind: String = col(r, 1)?;
    let scopes: String = col(r, 5)?;
    Ok(ApiTokenRecord {
        id: col(r, 0)?,
        owner: PrincipalRef {
            kind: principal_kind(&kind)?,
            id: col(r, 2)?,
        },
        name: col(r, 3)?,
        secret_sha256: col(r, 4)?,
        scopes: split_actions(&scopes),
        workspace: col(r, 6)?,
        expires_at: col(r, 7)?,
        last_used_at: col(r, 8)?,
        revoked_at: col(r, 9)?,
        created_at: col(r, 10)?,
        job_scope: decode_job_scope(col(r, 11)?),
    })
}

fn binding_row(r: &Row) -> Result<RoleBinding> {
    let kind: String = col(r, 1)?;
    Ok(RoleBinding {
        workspace: col(r, 0)?,
        principal: PrincipalRef {
            kind: principal_kind(&kind)?,
            id: col(r, 2)?,
        },
        role: col(r, 3)?,
        created_at: col(r, 4)?,
    })
}

fn session_row(r: &Row) -> Result<SessionRecord> {
    Ok(SessionRecord {
        id_sha256: col(r, 0)?,
        user_id: col(r, 1)?,
        csrf_sha256: col(r, 2)?,
        expires_at: col(r, 3)?,
        created_at: col(r, 4)?,
    })
}

fn role_row(r: &Row) -> Result<CustomRole> {
    let actions: String = col(r, 1)?;
    Ok(CustomRole {
        name: col(r, 0)?,
        actions: split_actions(&actions),
        created_at: col(r, 2)?,
    })
}

/// Revokes a removed principal's tokens and drops its role bindings.
async fn forget_principal(db: Db<'_>, kind: PrincipalKind, id: &str) -> Result<()> {
    let now = crate::rules::now_ms();
    db.execute(
        "UPDATE api_tokens SET revoked_at = $3 WHERE owner_kind = $1 AND owner_id = $2 AND revoked_at IS NULL",
        &[&kind.as_str(), &id, &now],
    )
    .await?;
    db.execute(
        "DELETE FROM role_bindings WHERE principal_kind = $1 AND principal_id = $2",
        &[&kind.as_str(), &id],
    )
    .await?;
    Ok(())
}

impl PgStore {
    async fn one<T>(
        &self,
        sql: &'static str,
        key: &str,
        f: fn(&Row) -> Result<T>,
        entity: Entity,
    ) -> Result<T> {
        let conn = self.pool.get().await?;
        match conn.db().query_opt(sql, &[&key]).await? {
            Some(r) => f(&r),
            None => Err(not_found(entity, key)),
        }
    }

    async fn all<T>(
        &self,
        sql: &'static str,
        params: super::pool::Params<'_>,
        f: fn(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let conn = self.pool.get().await?;
        conn.db().query(sql, params).await?.iter().map(f).collect()
    }
}

#[async_trait]
impl AuthStore for PgStore {
    async fn create_user(&self, u: UserRecord) -> Result<UserRecord> {
        self.timed("create_user", async {
            let conn = self.pool.get().await?;
            let n = conn
                .db()
                .execute(
                    "INSERT INTO users (id, name, password_hash, is_admin, created_at) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (name) DO NOTHING",
                    &[&u.id, &u.name, &u.password_hash, &u.is_admin, &u.created_at],
                )
                .await?;
            if n == 0 {
                return Err(StoreError::AlreadyExists {
                    entity: Entity::User,
                    id: u.name,
                });
            }
            Ok(u)
        })
        .await
    }

    async fn get_user(&self, id: &str) -> Result<UserRecord> {
        self.timed(
            "get_user",
            self.one(
                "SELECT id, name, password_hash, is_admin, created_at FROM users WHERE id = $1",
                id,
                user_row,
                Entity::User,
            ),
        )
        .await
    }

    async fn find_user(&self, name: &str) -> Result<UserRecord> {
        self.timed(
            "find_user",
            self.one(
                "SELECT id, name, password_hash, is_admin, created_at FROM users WHERE name = $1",
                name,
                user_row,
                Entity::User,
            ),
        )
        .await
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>> {
        self.timed(
            "list_users",
            self.all(
                "SELECT id, name, password_hash, is_admin, created_at FROM users ORDER BY name",
                &[],
                user_row,
            ),
        )
        .await
    }

    async fn set_user_password(&self, id: &str, password_hash: &str) -> Result<()> {
        self.timed("set_user_password", async {
            let conn = self.pool.get().await?;
            let n = conn
                .db()
                .execute(
                    "UPDATE users SET password_hash = $2 WHERE id = $1",
                    &[&id, &password_hash],
                )
                .await?;
            if n == 0 {
                return Err(not_found(Entity::User, id));
            }
            Ok(())
        })
        .await
    }

    async fn delete_user(&self, id: &str) -> Result<()> {
        self.timed("delete_user", async {
            let conn = self.pool.get().await?;
            let tx = conn.begin().await?;
            tx.db()
                .execute("DELETE FROM sessions WHERE user_id = $1", &[&id])
                .await?;
            let n = tx
                .db()
                .execute("DELETE FROM users WHERE id = $1", &[&id])
                .await?;
            if n == 0 {
                tx.rollback().await?;
                return Err(not_found(Entity::User, id));
            }
            forget_principal(tx.db(), PrincipalKind::User, id).await?;
            tx.commit().await
        })
        .await
    }

    async fn create_service_principal(
        &self,
        sp: ServicePrincipalRecord,
    ) -> Result<ServicePrincipalRecord> {
        self.timed("create_service_principal", async {
            let conn = self.pool.get().await?;
            let n = conn
                .db()
                .execute(
                    "INSERT INTO service_principals (id, name, description, created_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (name) DO NOTHING",
                    &[&sp.id, &sp.name, &sp.description, &sp.created_at],
                )
                .await?;
            if n == 0 {
                return Err(StoreError::AlreadyExists {
                    entity: Entity::ServicePrincipal,
                    id: sp.name,
                });
            }
            Ok(sp)
        })
        .await
    }

    async fn get_service_principal(&self, id: &str) -> Result<ServicePrincipalRecord> {
        self.timed(
            "get_service_principal",
            self.one(
                "SELECT id, name, description, created_at FROM service_principals WHERE id = $1",
                id,
                sp_row,
                Entity::ServicePrincipal,
            ),
        )
        .await
    }

    async fn find_service_principal(&self, name: &str) -> Result<ServicePrincipalRecord> {
        self.timed(
            "find_service_principal",
            self.one(
                "SELECT id, name, description, created_at FROM service_principals WHERE name = $1",
                name,
                sp_row,
                Entity::ServicePrincipal,
            ),
        )
        .await
    }

    async fn list_service_principals(&self) -> Result<Vec<ServicePrincipalRecord>> {
        self.timed(
            "list_service_principals",
            self.all(
                "SELECT id, name, description, created_at FROM service_principals ORDER BY name",
                &[],
                sp_row,
            ),
        )
        .await
    }

    async fn delete_service_principal(&self, id: &str) -> Result<()> {
        self.timed("delete_service_principal", async {
            let conn = self.pool.get().await?;
            let tx = conn.begin().await?;
            let n = tx
                .db()
                .execute("DELETE FROM service_principals WHERE id = $1", &[&id])
                .await?;
            if n == 0 {
                tx.rollback().await?;
                return Err(not_found(Entity::ServicePrincipal, id));
            }
            forget_principal(tx.db(), PrincipalKind::ServicePrincipal, id).await?;
            tx.commit().await
        })
        .await
    }

    async fn create_token(&self, t: ApiTokenRecord) -> Result<ApiTokenRecord> {
        check_actions(&t.scopes)?;
        self.timed("create_token", async {
            let conn = self.pool.get().await?;
            conn.db()
                .execute(
                    "INSERT INTO api_tokens (id, owner_kind, owner_id, name, secret_sha256, scopes, workspace, expires_at, last_used_at, revoked_at, created_at, job_scope)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    &[
                        &t.id,
                        &t.owner.kind.as_str(),
                        &t.owner.id,
                        &t.name,
                        &t.secret_sha256,
                        &join_actions(&t.scopes),
                        &t.workspace,
                        &t.expires_at,
                        &t.last_used_at,
                        &t.revoked_at,
                        &t.created_at,
                        &t.job_scope.as_ref().map(mlplane_core::JobScope::encode),
                    ],
                )
                .await?;
            Ok(t)
        })
        .await
    }

    async fn get_token(&self, id: &str) -> Result<ApiTokenRecord> {
        self.timed(
            "get_token",
            self.one(
                "SELECT id, owner_kind, owner_id, name, secret_sha256, scopes, workspace, expires_at, last_used_at, revoked_at, created_at, job_scope
                 FROM api_tokens WHERE id = $1",
                id,
                token_row,
                Entity::ApiToken,
            ),
        )
        .await
    }

    async fn list_tokens(&self, owner: &PrincipalRef) -> Result<Vec<ApiTokenRecord>> {
        self.timed(
            "list_tokens",
            self.all(
                "SELECT id, owner_kind, owner_id, name, secret_sha256, scopes, workspace, expires_at, last_used_at, revoked_at, created_at, job_scope
                 FROM api_tokens WHERE owner_kind = $1 AND owner_id = $2 ORDER BY created_at DESC, id",
                &[&owner.kind.as_str(), &owner.id],
                token_row,
            ),
        )
        .await
    }

    async fn revoke_token(&self, id: &str, at: i64) -> Result<()> {
        self.timed("revoke_token", async {
            let conn = self.pool.get().await?;
            let n = conn
                .db()
                .execute(
                    "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
                    &[&id, &at],
                )
                .await?;
            if n == 0 {
                return Err(not_found(Entity::ApiToken, id));
            }
            Ok(())
        })
        .await
    }

    async fn revoke_tokens_of(&self, owner: &PrincipalRef, at: i64) -> Result<u64> {
        self.timed("revoke_tokens_of", async {
            let conn = self.pool.get().await?;
            conn.db()
                .execute(
                    "UPDATE api_tokens SET revoked_at = $3 WHERE owner_kind = $1 AND owner_id = $2 AND revoked_at IS NULL",
                    &[&owner.kind.as_str(), &owner.id, &at],
                )
                .await
        })
        .await
    }

    async fn touch_token(&self, id: &str, at: i64) -> Result<()> {
        self.timed("touch_token", async {
            let conn = self.pool.get().await?;
            conn.db()
                .execute(
                    "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1",
                    &[&id, &at],
                )
                .await?;
            Ok(())
        })
        .await
    }

    async fn create_session(&self, s: SessionRecord) -> Result<()> {
        self.timed("create_session", async {
            let conn = self.pool.get().await?;
            conn.db()
                .execute(
                    "INSERT INTO sessions (id_sha256, user_id, csrf_sha256, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)",
                    &[&s.id_sha256, &s.user_id, &s.csrf_sha256, &s.expires_at, &s.created_at],
                )
                .await?;
            Ok(())
        })
        .await
    }

    async fn get_session(&self, id_sha256: &str) -> Result<SessionRecord> {
        self.timed("get_session", async {
            let conn = self.pool.get().await?;
            match conn
                .db()
                .query_opt(
                    "SELECT id_sha256, user_id, csrf_sha256, expires_at, created_at FROM sessions WHERE id_sha256 = $1",
                    &[&id_sha256],
                )
                .await?
            {
                Some(r) => session_row(&r),
                None => Err(not_found(Entity::Session, "(session)")),
            }
        })
        .await
    }

    async fn delete_session(&self, id_sha256: &str) -> Result<()> {
        self.timed("delete_session", async {
            let conn = self.pool.get().await?;
            conn.db()
                .execute("DELETE FROM sessions WHERE id_sha256 = $1", &[&id_sha256])
                .await?;
            Ok(())
        })
        .await
    }

    async fn purge_expired_sessions(&self, now: i64) -> Result<u64> {
        self.timed("purge_expired_sessions", async {
            let conn = self.pool.get().await?;
            conn.db()
                .execute("DELETE FROM sessions WHERE expires_at <= $1", &[&now])
                .await
        })
        .await
    }

    async fn set_role_binding(&self, b: RoleBinding) -> Result<()> {
        self.timed("set_role_binding", async {
            let conn = self.pool.get().await?;
            let n = conn
                .db()
                .execute(
                    "INSERT INTO role_bindings (workspace, principal_kind, principal_id, role, created_at)
                     SELECT name, $2, $3, $4, $5 FROM workspaces WHERE name = $1
                     ON CONFLICT DO NOTHING",
                    &[&b.workspace, &b.principal.kind.as_str(), &b.principal.id, &b.role, &b.created_at],
                )
                .await?;
            if n == 0
                && conn
                    .db()
                    .query_opt("SELECT 1 FROM workspaces WHERE name = $1", &[&b.workspace])
                    .await?
                    .is_none()
            {
                return Err(not_found(Entity::Workspace, &b.workspace));
            }
            Ok(())
        })
        .await
    }

    async fn delete_role_binding(
        &self,
        ws: &WorkspaceName,
        principal: &PrincipalRef,
        role: &str,
    ) -> Result<()> {
        self.timed("delete_role_binding", async {
            let conn = self.pool.get().await?;
            let n = conn
                .db()
                .execute(
                    "DELETE FROM role_bindings WHERE workspace = $1 AND principal_kind = $2 AND principal_id = $3 AND role = $4",
                    &[&ws.as_str(), &principal.kind.as_str(), &principal.id, &role],
                )
                .await?;
            if n == 0 {
                return Err(not_found(
                    Entity::RoleBinding,
                    &format!("{}:{} {role}", principal.kind.as_str(), principal.id),
                ));
            }
            Ok(())
        })
        .await
    }

    async fn list_role_bindings(&self, ws: &WorkspaceName) -> Result<Vec<RoleBinding>> {
        self.timed(
            "list_role_bindings",
            self.all(
                "SELECT workspace, principal_kind, principal_id, role, created_at FROM role_bindings
                 WHERE workspace = $1 ORDER BY principal_kind, principal_id, role",
                &[&ws.as_str()],
                binding_row,
            ),
        )
        .await
    }

    async fn role_bindings_of(&self, principal: &PrincipalRef) -> Result<Vec<RoleBinding>> {
        self.timed(
            "role_bindings_of",
            self.all(
                "SELECT workspace, principal_kind, principal_id, role, created_at FROM role_bindings
                 WHERE principal_kind = $1 AND principal_id = $2 ORDER BY workspace, role",
                &[&principal.kind.as_str(), &principal.id],
                binding_row,
            ),
        )
        .await
    }

    async fn put_custom_role(&self, r: CustomRole) -> Result<CustomRole> {
        check_actions(&r.actions)?;
        self.timed("put_custom_role", async {
            let conn = self.pool.get().await?;
            let row = conn
                .db()
                .query_one(
                    "INSERT INTO custom_roles (name, actions, created_at) VALUES ($1, $2, $3)
                     ON CONFLICT (name) DO UPDATE SET actions = EXCLUDED.actions
                     RETURNING name, actions, created_at",
                    &[&r.name, &join_actions(&r.actions), &r.created_at],
                )
                .await?;
            role_row(&row)
        })
        .await
    }

    async fn list_custom_roles(&self) -> Result<Vec<CustomRole>> {
        self.timed(
            "list_custom_roles",
            self.all(
                "SELECT name, actions, created_at FROM custom_roles ORDER BY name",
                &[],
                role_row,
            ),
        )
        .await
    }

    async fn delete_custom_role(&self, name: &str) -> Result<()> {
        self.timed("delete_custom_role", async {
            let conn = self.pool.get().await?;
            let tx = conn.begin().await?;
            let n = tx
                .db()
                .execute("DELETE FROM custom_roles WHERE name = $1", &[&name])
                .await?;
            if n == 0 {
                tx.rollback().await?;
                return Err(not_found(Entity::Role, name));
            }
            tx.db()
                .execute("DELETE FROM role_bindings WHERE role = $1", &[&name])
                .await?;
            tx.commit().await
        })
        .await
    }
}
