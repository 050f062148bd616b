//! Identities and grants: users, service principals, API tokens, web sessions, role bindings
//! and custom roles ([`AuthStore`], a supertrait of [`crate::MetadataStore`]).
//!
//! The store keeps what `mlplane-auth` computed (argon2id PHC strings, sha256 digests of
//! token secrets, session ids and CSRF tokens) and never sees a plain secret. Ids are chosen
//! by the caller (random), so they are never reused.
//!
//! Invariants:
//! - user and service principal names are unique; deleting one removes its row, sessions and
//!   role bindings and revokes its tokens in the same transaction;
//! - a token row is never deleted: revocation sets `revoked_at` once, later revocations keep
//!   the first time;
//! - a role binding names an existing workspace; binding the same role twice is one binding.

use crate::{Entity, Result, StoreError};
use async_trait::async_trait;
use mlplane_core::{JobScope, PrincipalKind, WorkspaceName};

/// The identity a token, session or binding belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PrincipalRef {
    pub kind: PrincipalKind,
    pub id: String,
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: String,
    pub name: String,
    /// argon2id PHC string; `None` for a user that can only use tokens.
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub created_at: i64,
}

/// A stored service principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePrincipalRecord {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_at: i64,
}

/// A stored API token (never its secret, only the secret's sha256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenRecord {
    pub id: String,
    pub owner: PrincipalRef,
    pub name: String,
    pub secret_sha256: String,
    /// Action patterns the token is limited to (`*` for all its owner may do).
    pub scopes: Vec<String>,
    /// The only workspace the token may act in, if restricted.
    pub workspace: Option<String>,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
    /// A job token's narrowing to its run, inputs and outputs (job tokens only).
    pub job_scope: Option<JobScope>,
}

/// A web session: the sha256 of its cookie value and of its CSRF token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id_sha256: String,
    pub user_id: String,
    pub csrf_sha256: String,
    pub expires_at: i64,
    pub created_at: i64,
}

/// A role granted to a principal in a workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleBinding {
    pub workspace: String,
    pub principal: PrincipalRef,
    /// A built-in role's name or a custom role's.
    pub role: String,
    pub created_at: i64,
}

/// A custom role: a name and its checked action patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomRole {
    pub name: String,
    pub actions: Vec<String>,
    pub created_at: i64,
}

/// Storage of identities and grants.
#[async_trait]
pub trait AuthStore: Send + Sync {
    /// Stores a new user; `AlreadyExists` if the name is taken.
    async fn create_user(&self, u: UserRecord) -> Result<UserRecord>;
    async fn get_user(&self, id: &str) -> Result<UserRecord>;
    async fn find_user(&self, name: &str) -> Result<UserRecord>;
    async fn list_users(&self) -> Result<Vec<UserRecord>>;
    /// Replaces a user's password hash.
    async fn set_user_password(&self, id: &str, password_hash: &str) -> Result<()>;
    /// Removes the user with its sessions and role bindings and revokes its tokens.
    async fn delete_user(&self, id: &str) -> Result<()>;

    async fn create_service_principal(
        &self,
        sp: ServicePrincipalRecord,
    ) -> Result<ServicePrincipalRecord>;
    async fn get_service_principal(&self, id: &str) -> Result<ServicePrincipalRecord>;
    async fn find_service_principal(&self, name: &str) -> Result<ServicePrincipalRecord>;
    async fn list_service_principals(&self) -> Result<Vec<ServicePrincipalRecord>>;
    /// Removes the service principal with its role bindings and revokes its tokens.
    async fn delete_service_principal(&self, id: &str) -> Result<()>;

    async fn create_token(&self, t: ApiTokenRecord) -> Result<ApiTokenRecord>;
    /// A token by id, revoked or not.
    async fn get_token(&self, id: &str) -> Result<ApiTokenRecord>;
    /// The tokens of `owner`, newest first.
    async fn list_tokens(&self, owner: &PrincipalRef) -> Result<Vec<ApiTokenRecord>>;
    /// Sets `revoked_at` (once).
    async fn revoke_token(&self, id: &str, at: i64) -> Result<()>;
    /// Revokes every live token of `owner`; returns how many.
    async fn revoke_tokens_of(&self, owner: &PrincipalRef, at: i64) -> Result<u64>;
    /// Records a use of the token.
    async fn touch_token(&self, id: &str, at: i64) -> Result<()>;

    async fn create_session(&self, s: SessionRecord) -> Result<()>;
    async fn get_session(&self, id_sha256: &str) -> Result<SessionRecord>;
    async fn delete_session(&self, id_sha256: &str) -> Result<()>;
    /// Deletes every session that expired at or before `now`; returns how many.
    async fn purge_expired_sessions(&self, now: i64) -> Result<u64>;

    /// Grants a role (idempotent); `NotFound` for a missing workspace.
    async fn set_role_binding(&self, b: RoleBinding) -> Result<()>;
    /// `NotFound` if there was no such binding.
    async fn delete_role_binding(
        &self,
        ws: &WorkspaceName,
        principal: &PrincipalRef,
        role: &str,
    ) -> Result<()>;
    async fn list_role_bindings(&self, ws: &WorkspaceName) -> Result<Vec<RoleBinding>>;
    /// Every binding of `principal`, in every workspace.
    async fn role_bindings_of(&self, principal: &PrincipalRef) -> Result<Vec<RoleBinding>>;

    /// Creates or replaces a custom role.
    async fn put_custom_role(&self, r: CustomRole) -> Result<CustomRole>;
    async fn list_custom_roles(&self) -> Result<Vec<CustomRole>>;
    async fn delete_custom_role(&self, name: &str) -> Result<()>;
}

/// A stored job scope, `None` for a missing or unreadable one (which then allows nothing
/// beyond the token's scopes: the auth layer refuses job tokens without a scope).
pub(crate) fn decode_job_scope(text: Option<String>) -> Option<JobScope> {
    text.as_deref().and_then(JobScope::decode)
}

/// Action lists are stored as lines (actions never contain a newline).
pub(crate) fn join_actions(a: &[String]) -> String {
    a.join("\n")
}

pub(crate) fn split_actions(s: &str) -> Vec<String> {
    s.split('\n')
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(crate) fn principal_kind(s: &str) -> Result<PrincipalKind> {
    PrincipalKind::parse(s)
        .ok_or_else(|| StoreError::Internal(format!("unknown principal kind '{s}' in database")))
}

pub(crate) fn check_actions(a: &[String]) -> Result<()> {
    if a.iter().any(|x| x.contains('\n') || x.is_empty()) {
        return Err(StoreError::InvalidState(
            "an action must be a non-empty single line".into(),
        ));
    }
    Ok(())
}

pub(crate) fn not_found(entity: Entity, id: &str) -> StoreError {
    StoreError::not_found(entity, id)
}
