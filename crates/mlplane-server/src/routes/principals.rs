//! Users, service principals (administrators only), role bindings per workspace and custom
//! roles. Routed with their actions by [`super::identity::routes`].
//!
//! Invariants:
//! - a role binding names an existing principal and an existing role (built-in or custom);
//! - deleting a user or service principal revokes its tokens and drops its bindings (the
//!   store does it in one transaction) and forgets remembered Basic sign-ins.

use super::identity::{check_name, mint, new_id};
use crate::auth::{Caller, now_ms};
use crate::error::{ApiError, ApiResult};
use crate::extract::{AppJson, AppPath, AppQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use mlplane_api::{
    CreateServicePrincipalRequest, CreateTokenRequest, CreateUserRequest, CreatedTokenView,
    ErrorBody, PutRoleRequest, RoleBindingList, RoleBindingRequest, RoleBindingView, RoleList,
    RoleView, ServicePrincipalList, ServicePrincipalView, UserList, UserView,
};
use mlplane_auth::BuiltinRole;
use mlplane_auth::roles::check_custom_role;
use mlplane_core::{Principal, PrincipalKind, WorkspaceName};
use mlplane_store::auth::{
    CustomRole, PrincipalRef, RoleBinding, ServicePrincipalRecord, UserRecord,
};

fn user_view(u: UserRecord) -> UserView {
    UserView {
        id: u.id,
        name: u.name,
        admin: u.is_admin,
        has_password: u.password_hash.is_some(),
        created_at: u.created_at,
    }
}

/// Hashes a password off the async threads.
async fn hash_password(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || mlplane_auth::password::hash(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| match e {
            mlplane_auth::password::PasswordError::Length => {
                mlplane_core::Invalid::one("password", e.to_string()).into()
            }
            other => ApiError::internal(other),
        })
}

/// Creates a user; shared with the bootstrap at first start.
pub async fn make_user(
    s: &AppState,
    name: &str,
    password: Option<String>,
    admin: bool,
) -> ApiResult<UserRecord> {
    check_name("name", name)?;
    let password_hash = match password {
        Some(p) => Some(hash_password(p).await?),
        None => None,
    };
    Ok(s.store
        .create_user(UserRecord {
            id: new_id("u"),
            name: name.to_owned(),
            password_hash,
            is_admin: admin,
            created_at: now_ms(),
        })
        .await?)
}

#[utoipa::path(post, path = "/api/v1/users", request_body = CreateUserRequest, tag = "auth",
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_user(
    State(s): State<AppState>,
    AppJson(req): AppJson<CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let u = make_user(&s, &req.name, req.password, req.admin).await?;
    Ok((StatusCode::CREATED, Json(user_view(u))))
}

#[utoipa::path(get, path = "/api/v1/users", tag = "auth",
    responses((status = 200, body = UserList), (status = 403, body = ErrorBody)))]
pub async fn list_users(State(s): State<AppState>) -> ApiResult<Json<UserList>> {
    let items = s
        .store
        .list_users()
        .await?
        .into_iter()
        .map(user_view)
        .collect();
    Ok(Json(UserList { items }))
}

#[utoipa::path(delete, path = "/api/v1/users/{name}", tag = "auth",
    params(("name" = String, Path, description = "user name")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_user(
    State(s): State<AppState>,
    AppPath(name): AppPath<String>,
) -> ApiResult<StatusCode> {
    let u = s.store.find_user(&name).await?;
    s.store.delete_user(&u.id).await?;
    s.auth.forget_basic();
    Ok(StatusCode::NO_CONTENT)
}

fn sp_view(sp: ServicePrincipalRecord) -> ServicePrincipalView {
    ServicePrincipalView {
        id: sp.id,
        name: sp.name,
        description: sp.description,
        created_at: sp.created_at,
    }
}

#[utoipa::path(post, path = "/api/v1/service-principals", request_body = CreateServicePrincipalRequest, tag = "auth",
    responses((status = 201, body = ServicePrincipalView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_service_principal(
    State(s): State<AppState>,
    AppJson(req): AppJson<CreateServicePrincipalRequest>,
) -> ApiResult<(StatusCode, Json<ServicePrincipalView>)> {
    check_name("name", &req.name)?;
    if req.description.chars().count() > 1000 {
        return Err(
            mlplane_core::Invalid::one("description", "is longer than 1000 characters").into(),
        );
    }
    let sp = s
        .store
        .create_service_principal(ServicePrincipalRecord {
            id: new_id("sp"),
            name: req.name,
            description: req.description,
            created_at: now_ms(),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(sp_view(sp))))
}

#[utoipa::path(get, path = "/api/v1/service-principals", tag = "auth",
    responses((status = 200, body = ServicePrincipalList), (status = 403, body = ErrorBody)))]
pub async fn list_service_principals(
    State(s): State<AppState>,
) -> ApiResult<Json<ServicePrincipalList>> {
    let items = s
        .store
        .list_service_principals()
        .await?
        .into_iter()
        .map(sp_view)
        .collect();
    Ok(Json(ServicePrincipalList { items }))
}

#[utoipa::path(delete, path = "/api/v1/service-principals/{name}", tag = "auth",
    params(("name" = String, Path, description = "service principal name")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_service_principal(
    State(s): State<AppState>,
    AppPath(name): AppPath<String>,
) -> ApiResult<StatusCode> {
    let sp = s.store.find_service_principal(&name).await?;
    s.store.delete_service_principal(&sp.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An administrator makes a token for a service principal; its scopes must lie within the
/// principal's own role bindings when used (they are intersected at every request).
#[utoipa::path(post, path = "/api/v1/service-principals/{name}/tokens", request_body = CreateTokenRequest, tag = "auth",
    params(("name" = String, Path, description = "service principal name")),
    responses((status = 201, body = CreatedTokenView), (status = 404, body = ErrorBody)))]
pub async fn create_service_principal_token(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    AppPath(name): AppPath<String>,
    AppJson(req): AppJson<CreateTokenRequest>,
) -> ApiResult<(StatusCode, Json<CreatedTokenView>)> {
    let sp = s.store.find_service_principal(&name).await?;
    let owner = Principal {
        kind: PrincipalKind::ServicePrincipal,
        id: sp.id,
        name: sp.name,
    };
    mint(&s, &caller, &owner, req).await
}

/// The stored principal a binding request names.
async fn resolve_principal(s: &AppState, req: &RoleBindingRequest) -> ApiResult<PrincipalRef> {
    match req.principal_type.as_deref().unwrap_or("user") {
        "user" => Ok(PrincipalRef {
            kind: PrincipalKind::User,
            id: s.store.find_user(&req.principal).await?.id,
        }),
        "service_principal" => Ok(PrincipalRef {
            kind: PrincipalKind::ServicePrincipal,
            id: s.store.find_service_principal(&req.principal).await?.id,
        }),
        other => Err(mlplane_core::Invalid::one(
            "principal_type",
            format!("unknown principal type '{other}' (expected user or service_principal)"),
        )
        .into()),
    }
}

/// The canonical name of a built-in role, or an existing custom role's name.
async fn resolve_role(s: &AppState, role: &str) -> ApiResult<String> {
    if let Some(b) = BuiltinRole::parse(role) {
        return Ok(b.name().to_owned());
    }
    let custom = s.store.list_custom_roles().await?;
    custom
        .into_iter()
        .find(|r| r.name == role)
        .map(|r| r.name)
        .ok_or_else(|| mlplane_core::Invalid::one("role", format!("unknown role '{role}'")).into())
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/role-bindings", tag = "auth",
    params(("ws" = String, Path, description = "workspace name")),
    responses((status = 200, body = RoleBindingList), (status = 403, body = ErrorBody)))]
pub async fn list_role_bindings(
    State(s): State<AppState>,
    AppPath(ws): AppPath<String>,
) -> ApiResult<Json<RoleBindingList>> {
    let ws = WorkspaceName::parse(&ws)?;
    s.store.get_workspace(&ws).await?;
    let mut items = Vec::new();
    for b in s.store.list_role_bindings(&ws).await? {
        let name = match b.principal.kind {
            PrincipalKind::User => s.store.get_user(&b.principal.id).await.map(|u| u.name),
            _ => s
                .store
                .get_service_principal(&b.principal.id)
                .await
                .map(|p| p.name),
        }
        .unwrap_or_else(|_| b.principal.id.clone());
        items.push(RoleBindingView {
            workspace: b.workspace,
            principal_type: b.principal.kind.as_str().to_owned(),
            principal: name,
            role: b.role,
            created_at: b.created_at,
        });
    }
    Ok(Json(RoleBindingList { items }))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/role-bindings", request_body = RoleBindingRequest, tag = "auth",
    params(("ws" = String, Path, description = "workspace name")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_role_binding(
    State(s): State<AppState>,
    AppPath(ws): AppPath<String>,
    AppJson(req): AppJson<RoleBindingRequest>,
) -> ApiResult<StatusCode> {
    let ws = WorkspaceName::parse(&ws)?;
    let principal = resolve_principal(&s, &req).await?;
    let role = resolve_role(&s, &req.role).await?;
    s.store
        .set_role_binding(RoleBinding {
            workspace: ws.as_str().to_owned(),
            principal,
            role,
            created_at: now_ms(),
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{ws}/role-bindings", tag = "auth",
    params(("ws" = String, Path, description = "workspace name"), RoleBindingRequest),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_role_binding(
    State(s): State<AppState>,
    AppPath(ws): AppPath<String>,
    AppQuery(req): AppQuery<RoleBindingRequest>,
) -> ApiResult<StatusCode> {
    let ws = WorkspaceName::parse(&ws)?;
    let principal = resolve_principal(&s, &req).await?;
    let role = BuiltinRole::parse(&req.role)
        .map(|b| b.name().to_owned())
        .unwrap_or(req.role);
    s.store.delete_role_binding(&ws, &principal, &role).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/roles", tag = "auth",
    responses((status = 200, body = RoleList)))]
pub async fn list_roles(State(s): State<AppState>) -> ApiResult<Json<RoleList>> {
    let mut items: Vec<RoleView> = BuiltinRole::ALL
        .into_iter()
        .map(|r| RoleView {
            name: r.name().to_owned(),
            builtin: true,
            actions: r.actions().map(str::to_owned).collect(),
        })
        .collect();
    items.extend(
        s.store
            .list_custom_roles()
            .await?
            .into_iter()
            .map(|r| RoleView {
                name: r.name,
                builtin: false,
                actions: r.actions,
            }),
    );
    Ok(Json(RoleList { items }))
}

#[utoipa::path(put, path = "/api/v1/roles/{name}", request_body = PutRoleRequest, tag = "auth",
    params(("name" = String, Path, description = "custom role name")),
    responses((status = 200, body = RoleView), (status = 400, body = ErrorBody)))]
pub async fn put_role(
    State(s): State<AppState>,
    AppPath(name): AppPath<String>,
    AppJson(req): AppJson<PutRoleRequest>,
) -> ApiResult<Json<RoleView>> {
    check_custom_role(&name, &req.actions)
        .map_err(|e| ApiError::from(mlplane_core::Invalid::one("actions", e.to_string())))?;
    let r = s
        .store
        .put_custom_role(CustomRole {
            name,
            actions: req.actions,
            created_at: now_ms(),
        })
        .await?;
    Ok(Json(RoleView {
        name: r.name,
        builtin: false,
        actions: r.actions,
    }))
}

#[utoipa::path(delete, path = "/api/v1/roles/{name}", tag = "auth",
    params(("name" = String, Path, description = "custom role name")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_role(
    State(s): State<AppState>,
    AppPath(name): AppPath<String>,
) -> ApiResult<StatusCode> {
    s.store.delete_custom_role(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
