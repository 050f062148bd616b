//! [`AuthStore`] for [`SqliteStore`]: users, service principals, tokens, sessions, role
//! bindings and custom roles. Writes run on the writer thread, so a check-then-insert there
//! cannot race another write.

use super::{Db, SqliteStore};
use crate::auth::{
    ApiTokenRecord, AuthStore, CustomRole, PrincipalRef, RoleBinding, ServicePrincipalRecord,
    SessionRecord, UserRecord, check_actions, decode_job_scope, join_actions, not_found,
    principal_kind, split_actions,
};
use crate::{Entity, Result, StoreError};
use async_trait::async_trait;
use mlplane_core::{PrincipalKind, WorkspaceName};
use rusqlite::{Connection, OptionalExtension, Row, params};

const USER_COLS: &str = "id, name, password_hash, is_admin, created_at";
const SP_COLS: &str = "id, name, description, created_at";
const TOKEN_COLS: &str = "id, owner_kind, owner_id, name, secret_sha256, scopes, workspace, \
                          expires_at, last_used_at, revoked_at, created_at, job_scope";

fn user_row(r: &Row) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        password_hash: r.get(2)?,
        is_admin: r.get(3)?,
        created_at: r.get(4)?,
    })
}

fn sp_row(r: &Row) -> rusqlite::Result<ServicePrincipalRecord> {
    Ok(ServicePrincipalRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        created_at: r.get(3)?,
    })
}

type RawToken = (String, String, ApiTokenRecord);

fn token_row(r: &Row) -> rusqlite::Result<RawToken> {
    let kind: String = r.get(1)?;
    let scopes: String = r.get(5)?;
    Ok((
        kind,
        scopes,
        ApiTokenRecord {
            id: r.get(0)?,
            owner: PrincipalRef {
                kind: PrincipalKind::Anonymous,
                id: r.get(2)?,
            },
            name: r.get(3)?,
            secret_sha256: r.get(4)?,
            scopes: Vec::new(),
            workspace: r.get(6)?,
            expires_at: r.get(7)?,
            last_used_at: r.get(8)?,
            revoked_at: r.get(9)?,
            created_at: r.get(10)?,
            job_scope: decode_job_scope(r.get(11)?),
        },
    ))
}

fn token(raw: RawToken) -> Result<ApiTokenRecord> {
    let (kind, scopes, mut t) = raw;
    t.owner.kind = principal_kind(&kind)?;
    t.scopes = split_actions(&scopes);
    Ok(t)
}

type RawBinding = (String, String, String, String, i64);

fn binding_row(r: &Row) -> rusqlite::Result<RawBinding> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn binding(raw: RawBinding) -> Result<RoleBinding> {
    let (workspace, kind, id, role, created_at) = raw;
    Ok(RoleBinding {
        workspace,
        principal: PrincipalRef {
            kind: principal_kind(&kind)?,
            id,
        },
        role,
        created_at,
    })
}

fn one<T>(
    c: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
    f: impl FnOnce(&Row) -> rusqlite::Result<T>,
    entity: Entity,
    id: &str,
) -> Result<T> {
    c.query_row(sql, p, f)
        .optional()
        .db()?
        .ok_or_else(|| not_found(entity, id))
}

fn all<T>(
    c: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
    f: impl FnMut(&Row) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut st = c.prepare_cached(sql).db()?;
    let rows = st.query_map(p, f).db()?;
    rows.collect::<rusqlite::Result<Vec<T>>>().db()
}

/// Removes a principal's sessions and bindings and revokes its tokens.
fn forget_principal(c: &Connection, kind: PrincipalKind, id: &str, now: i64) -> Result<()> {
    c.execute(
        "UPDATE api_tokens SET revoked_at = ?3 WHERE owner_kind = ?1 AND owner_id = ?2 AND revoked_at IS NULL",
        params![kind.as_str(), id, now],
    )
    .db()?;
    c.execute(
        "DELETE FROM role_bindings WHERE principal_kind = ?1 AND principal_id = ?2",
        params![kind.as_str(), id],
    )
    .db()?;
    Ok(())
}

#[async_trait]
impl AuthStore for SqliteStore {
    async fn create_user(&self, u: UserRecord) -> Result<UserRecord> {
        self.write("create_user", move |c| {
            let taken: Option<i64> = c
                .query_row("SELECT 1 FROM users WHERE name = ?1", [&u.name], |r| r.get(0))
                .optional()
                .db()?;
            if taken.is_some() {
                return Err(StoreError::AlreadyExists {
                    entity: Entity::User,
                    id: u.name,
                });
            }
            c.execute(
                "INSERT INTO users (id, name, password_hash, is_admin, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![u.id, u.name, u.password_hash, u.is_admin, u.created_at],
            )
            .db()?;
            Ok(u)
        })
        .await
    }

    async fn get_user(&self, id: &str) -> Result<UserRecord> {
        let id = id.to_owned();
        self.read("get_user", move |c| {
            let sql = format!("SELECT {USER_COLS} FROM users WHERE id = ?1");
            one(c, &sql, [&id], user_row, Entity::User, &id)
        })
        .await
    }

    async fn find_user(&self, name: &str) -> Result<UserRecord> {
        let name = name.to_owned();
        self.read("find_user", move |c| {
            let sql = format!("SELECT {USER_COLS} FROM users WHERE name = ?1");
            one(c, &sql, [&name], user_row, Entity::User, &name)
        })
        .await
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>> {
        self.read("list_users", move |c| {
            let sql = format!("SELECT {USER_COLS} FROM users ORDER BY name");
            all(c, &sql, [], user_row)
        })
        .await
    }

    async fn set_user_password(&self, id: &str, password_hash: &str) -> Result<()> {
        let (id, hash) = (id.to_owned(), password_hash.to_owned());
        self.write("set_user_password", move |c| {
            let n = c
                .execute(
                    "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                    params![id, hash],
                )
                .db()?;
            if n == 0 {
                return Err(not_found(Entity::User, &id));
            }
            Ok(())
        })
        .await
    }

    async fn delete_user(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.write("delete_user", move |c| {
            c.execute("DELETE FROM sessions WHERE user_id = ?1", [&id])
                .db()?;
            let n = c.execute("DELETE FROM users WHERE id = ?1", [&id]).db()?;
            if n == 0 {
                return Err(not_found(Entity::User, &id));
            }
            forget_principal(c, PrincipalKind::User, &id, crate::rules::now_ms())
        })
        .await
    }

    async fn create_service_principal(
        &self,
        sp: ServicePrincipalRecord,
    ) -> Result<ServicePrincipalRecord> {
        self.write("create_service_principal", move |c| {
            let taken: Option<i64> = c
                .query_row(
                    "SELECT 1 FROM service_principals WHERE name = ?1",
                    [&sp.name],
                    |r| r.get(0),
                )
                .optional()
                .db()?;
            if taken.is_some() {
                return Err(StoreError::AlreadyExists {
                    entity: Entity::ServicePrincipal,
                    id: sp.name,
                });
            }
            c.execute(
                "INSERT INTO service_principals (id, name, description, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![sp.id, sp.name, sp.description, sp.created_at],
            )
            .db()?;
            Ok(sp)
        })
        .await
    }

    async fn get_service_principal(&self, id: &str) -> Result<ServicePrincipalRecord> {
        let id = id.to_owned();
        self.read("get_service_principal", move |c| {
            let sql = format!("SELECT {SP_COLS} FROM service_principals WHERE id = ?1");
            one(c, &sql, [&id], sp_row, Entity::ServicePrincipal, &id)
        })
        .await
    }

    async fn find_service_principal(&self, name: &str) -> Result<ServicePrincipalRecord> {
        let name = name.to_owned();
        self.read("find_service_principal", move |c| {
            let sql = format!("SELECT {SP_COLS} FROM service_principals WHERE name = ?1");
            one(c, &sql, [&name], sp_row, Entity::ServicePrincipal, &name)
        })
        .await
    }

    async fn list_service_principals(&self) -> Result<Vec<ServicePrincipalRecord>> {
        self.read("list_service_principals", move |c| {
            let sql = format!("SELECT {SP_COLS} FROM service_principals ORDER BY name");
            all(c, &sql, [], sp_row)
        })
        .await
    }

    async fn delete_service_principal(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.write("delete_service_principal", move |c| {
            let n = c
                .execute("DELETE FROM service_principals WHERE id = ?1", [&id])
                .db()?;
            if n == 0 {
                return Err(not_found(Entity::ServicePrincipal, &id));
            }
            forget_principal(
                c,
                PrincipalKind::ServicePrincipal,
                &id,
                crate::rules::now_ms(),
            )
        })
        .await
    }

    async fn create_token(&self, t: ApiTokenRecord) -> Result<ApiTokenRecord> {
        check_actions(&t.scopes)?;
        self.write("create_token", move |c| {
            c.execute(
                "INSERT INTO api_tokens (id, owner_kind, owner_id, name, secret_sha256, scopes, workspace, expires_at, last_used_at, revoked_at, created_at, job_scope)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    t.id,
                    t.owner.kind.as_str(),
                    t.owner.id,
                    t.name,
                    t.secret_sha256,
                    join_actions(&t.scopes),
                    t.workspace,
                    t.expires_at,
                    t.last_used_at,
                    t.revoked_at,
                    t.created_at,
                    t.job_scope.as_ref().map(mlplane_core::JobScope::encode)
                ],
            )
            .db()?;
            Ok(t)
        })
        .await
    }

    async fn get_token(&self, id: &str) -> Result<ApiTokenRecord> {
        let id = id.to_owned();
        self.read("get_token", move |c| {
            let sql = format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE id = ?1");
            token(one(c, &sql, [&id], token_row, Entity::ApiToken, &id)?)
        })
        .await
    }

    async fn list_tokens(&self, owner: &PrincipalRef) -> Result<Vec<ApiTokenRecord>> {
        let owner = owner.clone();
        self.read("list_tokens", move |c| {
            let sql = format!(
                "SELECT {TOKEN_COLS} FROM api_tokens WHERE owner_kind = ?1 AND owner_id = ?2 ORDER BY created_at DESC, id"
            );
            all(c, &sql, params![owner.kind.as_str(), owner.id], token_row)?
                .into_iter()
                .map(token)
                .collect()
        })
        .await
    }

    async fn revoke_token(&self, id: &str, at: i64) -> Result<()> {
        let id = id.to_owned();
        self.write("revoke_token", move |c| {
            let n = c
                .execute(
                    "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                    params![id, at],
                )
                .db()?;
            if n == 0 {
                return Err(not_found(Entity::ApiToken, &id));
            }
            Ok(())
        })
        .await
    }

    async fn revoke_tokens_of(&self, owner: &PrincipalRef, at: i64) -> Result<u64> {
        let owner = owner.clone();
        self.write("revoke_tokens_of", move |c| {
            let n = c
                .execute(
                    "UPDATE api_tokens SET revoked_at = ?3 WHERE owner_kind = ?1 AND owner_id = ?2 AND revoked_at IS NULL",
                    params![owner.kind.as_str(), owner.id, at],
                )
                .db()?;
            Ok(n as u64)
        })
        .await
    }

    async fn touch_token(&self, id: &str, at: i64) -> Result<()> {
        let id = id.to_owned();
        self.write("touch_token", move |c| {
            c.execute(
                "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1",
                params![id, at],
            )
            .db()?;
            Ok(())
        })
        .await
    }

    async fn create_session(&self, s: SessionRecord) -> Result<()> {
        self.write("create_session", move |c| {
            c.execute(
                "INSERT INTO sessions (id_sha256, user_id, csrf_sha256, expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![s.id_sha256, s.user_id, s.csrf_sha256, s.expires_at, s.created_at],
            )
            .db()?;
            Ok(())
        })
        .await
    }

    async fn get_session(&self, id_sha256: &str) -> Result<SessionRecord> {
        let id = id_sha256.to_owned();
        self.read("get_session", move |c| {
            one(
                c,
                "SELECT id_sha256, user_id, csrf_sha256, expires_at, created_at FROM sessions WHERE id_sha256 = ?1",
                [&id],
                |r| {
                    Ok(SessionRecord {
                        id_sha256: r.get(0)?,
                        user_id: r.get(1)?,
                        csrf_sha256: r.get(2)?,
                        expires_at: r.get(3)?,
                        created_at: r.get(4)?,
                    })
                },
                Entity::Session,
                "(session)",
            )
        })
        .await
    }

    async fn delete_session(&self, id_sha256: &str) -> Result<()> {
        let id = id_sha256.to_owned();
        self.write("delete_session", move |c| {
            c.execute("DELETE FROM sessions WHERE id_sha256 = ?1", [&id])
                .db()?;
            Ok(())
        })
        .await
    }

    async fn purge_expired_sessions(&self, now: i64) -> Result<u64> {
        self.write("purge_expired_sessions", move |c| {
            let n = c
                .execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])
                .db()?;
            Ok(n as u64)
        })
        .await
    }

    async fn set_role_binding(&self, b: RoleBinding) -> Result<()> {
        self.write("set_role_binding", move |c| {
            let ws: Option<i64> = c
                .query_row("SELECT 1 FROM workspaces WHERE name = ?1", [&b.workspace], |r| {
                    r.get(0)
                })
                .optional()
                .db()?;
            if ws.is_none() {
                return Err(not_found(Entity::Workspace, &b.workspace));
            }
            c.execute(
                "INSERT OR IGNORE INTO role_bindings (workspace, principal_kind, principal_id, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![b.workspace, b.principal.kind.as_str(), b.principal.id, b.role, b.created_at],
            )
            .db()?;
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
        let (ws, p, role) = (ws.as_str().to_owned(), principal.clone(), role.to_owned());
        self.write("delete_role_binding", move |c| {
            let n = c
                .execute(
                    "DELETE FROM role_bindings WHERE workspace = ?1 AND principal_kind = ?2 AND principal_id = ?3 AND role = ?4",
                    params![ws, p.kind.as_str(), p.id, role],
                )
                .db()?;
            if n == 0 {
                return Err(not_found(Entity::RoleBinding, &format!("{}:{} {role}", p.kind.as_str(), p.id)));
            }
            Ok(())
        })
        .await
    }

    async fn list_role_bindings(&self, ws: &WorkspaceName) -> Result<Vec<RoleBinding>> {
        let ws = ws.as_str().to_owned();
        self.read("list_role_bindings", move |c| {
            all(
                c,
                "SELECT workspace, principal_kind, principal_id, role, created_at FROM role_bindings WHERE workspace = ?1 ORDER BY principal_kind, principal_id, role",
                [&ws],
                binding_row,
            )?
            .into_iter()
            .map(binding)
            .collect()
        })
        .await
    }

    async fn role_bindings_of(&self, principal: &PrincipalRef) -> Result<Vec<RoleBinding>> {
        let p = principal.clone();
        self.read("role_bindings_of", move |c| {
            all(
                c,
                "SELECT workspace, principal_kind, principal_id, role, created_at FROM role_bindings WHERE principal_kind = ?1 AND principal_id = ?2 ORDER BY workspace, role",
                params![p.kind.as_str(), p.id],
                binding_row,
            )?
            .into_iter()
            .map(binding)
            .collect()
        })
        .await
    }

    async fn put_custom_role(&self, r: CustomRole) -> Result<CustomRole> {
        check_actions(&r.actions)?;
        self.write("put_custom_role", move |c| {
            c.execute(
                "INSERT INTO custom_roles (name, actions, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET actions = excluded.actions",
                params![r.name, join_actions(&r.actions), r.created_at],
            )
            .db()?;
            let created: i64 = c
                .query_row(
                    "SELECT created_at FROM custom_roles WHERE name = ?1",
                    [&r.name],
                    |x| x.get(0),
                )
                .db()?;
            Ok(CustomRole {
                created_at: created,
                ..r
            })
        })
        .await
    }

    async fn list_custom_roles(&self) -> Result<Vec<CustomRole>> {
        self.read("list_custom_roles", move |c| {
            let rows = all(
                c,
                "SELECT name, actions, created_at FROM custom_roles ORDER BY name",
                [],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                },
            )?;
            Ok(rows
                .into_iter()
                .map(|(name, actions, created_at)| CustomRole {
                    name,
                    actions: split_actions(&actions),
                    created_at,
                })
                .collect())
        })
        .await
    }

    async fn delete_custom_role(&self, name: &str) -> Result<()> {
        let name = name.to_owned();
        self.write("delete_custom_role", move |c| {
            let n = c
                .execute("DELETE FROM custom_roles WHERE name = ?1", [&name])
                .db()?;
            if n == 0 {
                return Err(not_found(Entity::Role, &name));
            }
            c.execute("DELETE FROM role_bindings WHERE role = ?1", [&name])
                .db()?;
            Ok(())
        })
        .await
    }
}
