//! Wire shapes of identities and grants: sign-in, API tokens, users, service principals,
//! role bindings and roles.
//!
//! Invariants:
//! - no view carries a password, a password hash or a token's secret; the one exception is
//!   [`CreatedTokenView::token`], answered once when the token is made.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/v1/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub user: String,
    pub password: String,
}

/// The answer to a sign-in: the session cookie is set by the response; the CSRF token goes
/// into `X-CSRF-Token` on every state-changing request of the session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginView {
    pub user: String,
    pub csrf_token: String,
    /// When the session ends, ms since the epoch.
    pub expires_at: i64,
}

/// A principal as clients see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PrincipalView {
    /// `user`, `service_principal`, `job`, `local` or `anonymous`.
    pub kind: String,
    pub id: String,
    pub name: String,
}

/// A role held in a workspace.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HeldRoleView {
    pub workspace: String,
    pub role: String,
}

/// `GET /api/v1/auth/me`: who the caller is and what it may do.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MeView {
    pub principal: PrincipalView,
    /// `none` (anonymous local access) or `on`.
    pub auth_mode: String,
    pub admin: bool,
    pub roles: Vec<HeldRoleView>,
    /// Allowed actions per workspace (only workspaces where something is allowed).
    pub workspaces: std::collections::BTreeMap<String, Vec<String>>,
    /// The token the request came with, if it came with one.
    pub token_id: Option<String>,
}

/// `POST /api/v1/tokens` (and `POST /api/v1/service-principals/{name}/tokens`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    pub name: String,
    /// Action patterns (`runs/*`, `models/read`, `*`); default `["*"]`: all the owner may do.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Restrict the token to one workspace.
    #[serde(default)]
    pub workspace: Option<String>,
    /// Lifetime in days (1 to 3650); default 90.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// A stored token, without its secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub owner: PrincipalView,
    pub scopes: Vec<String>,
    pub workspace: Option<String>,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
}

/// A new token: the only answer that carries its secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedTokenView {
    /// `mlp_<id>_<secret>`: shown once, store it now.
    pub token: String,
    #[serde(flatten)]
    pub view: TokenView,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    pub items: Vec<TokenView>,
}

/// `POST /api/v1/users`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub name: String,
    /// Omit for a user who only uses tokens an administrator makes.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub admin: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub name: String,
    pub admin: bool,
    pub has_password: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    pub items: Vec<UserView>,
}

/// `POST /api/v1/service-principals`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServicePrincipalRequest {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ServicePrincipalView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ServicePrincipalList {
    pub items: Vec<ServicePrincipalView>,
}

/// A role binding named by principal name: `POST` body, `DELETE` query and list item.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RoleBindingRequest {
    /// `user` (default) or `service_principal`.
    #[serde(default)]
    pub principal_type: Option<String>,
    /// The user's or service principal's name.
    pub principal: String,
    /// A built-in role (`Owner`, `Contributor`, `Reader`, `Data Scientist`,
    /// `Compute Operator`) or a custom role's name.
    pub role: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoleBindingView {
    pub workspace: String,
    pub principal_type: String,
    pub principal: String,
    pub role: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoleBindingList {
    pub items: Vec<RoleBindingView>,
}

/// `PUT /api/v1/roles/{name}`: a custom role's actions.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutRoleRequest {
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoleView {
    pub name: String,
    pub builtin: bool,
    /// Action patterns as written (built-in roles list their actions).
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoleList {
    pub items: Vec<RoleView>,
}
