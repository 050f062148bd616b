//! Identities and grants over HTTP: the routes of this area with their actions, sign-in and
//! sessions (`/api/v1/auth/*`) and API tokens (`/api/v1/tokens`); users, service principals,
//! role bindings and custom roles are in [`super::principals`]. The auth layer has already
//! authenticated the caller and checked the route's action; handlers here check what depends
//! on the body (a token's scopes within its owner's grants, a role that exists).
//!
//! Invariants:
//! - a token's secret is answered once, at creation; only its sha256 is stored;
//! - a token never grants more than its creator holds: scopes must be covered by the
//!   caller's grants, and a token made with a token stays within that token's restriction;
//! - jobs cannot mint tokens (theirs die with the job).

use crate::auth::layer::{Refusal, check_password, client_ip};
use crate::auth::table::{Routes, delete, get, post, put};
use crate::auth::{AuthMode, Caller, SESSION_COOKIE, SESSION_TTL, now_ms};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{AppJson, AppPath};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Extension, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mlplane_api::{
    CreateTokenRequest, CreatedTokenView, ErrorBody, HeldRoleView, LoginRequest, LoginView, MeView,
    PrincipalView, TokenList, TokenView,
};
use mlplane_auth::actions::{SIGNED_IN, TOKENS_SELF, USERS_ADMIN};
use mlplane_auth::token::{ApiToken, digest, random_secret};
use mlplane_auth::{ActionPattern, Decision, authorize};
use mlplane_core::{Principal, PrincipalKind, WorkspaceName};
use mlplane_store::auth::{ApiTokenRecord, PrincipalRef, SessionRecord};

/// The identity routes, each with its action.
pub fn routes() -> Routes {
    use super::principals as p;
    let ws = "/api/v1/workspaces/{ws}";
    Routes::new()
        .route(
            "/api/v1/auth/login",
            post(mlplane_auth::actions::PUBLIC, login),
        )
        .route("/api/v1/auth/logout", post(SIGNED_IN, logout))
        .route("/api/v1/auth/me", get(SIGNED_IN, me))
        .route(
            "/api/v1/tokens",
            get(TOKENS_SELF, list_tokens).post(TOKENS_SELF, create_token),
        )
        .route("/api/v1/tokens/{id}", delete(TOKENS_SELF, revoke_token))
        .route(
            "/api/v1/users",
            get(USERS_ADMIN, p::list_users).post(USERS_ADMIN, p::create_user),
        )
        .route("/api/v1/users/{name}", delete(USERS_ADMIN, p::delete_user))
        .route(
            "/api/v1/service-principals",
            get(USERS_ADMIN, p::list_service_principals)
                .post(USERS_ADMIN, p::create_service_principal),
        )
        .route(
            "/api/v1/service-principals/{name}",
            delete(USERS_ADMIN, p::delete_service_principal),
        )
        .route(
            "/api/v1/service-principals/{name}/tokens",
            post(USERS_ADMIN, p::create_service_principal_token),
        )
        .route(
            &format!("{ws}/role-bindings"),
            get("roles/read", p::list_role_bindings)
                .post("roles/write", p::set_role_binding)
                .delete("roles/write", p::delete_role_binding),
        )
        .route("/api/v1/roles", get(SIGNED_IN, p::list_roles))
        .route(
            "/api/v1/roles/{name}",
            put(USERS_ADMIN, p::put_role).delete(USERS_ADMIN, p::delete_role),
        )
}

/// The client address, when known.
pub struct ClientIp(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts)))
    }
}

fn refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::Unauthenticated(m) => ApiError::new(ErrorCode::Unauthenticated, m),
        Refusal::Forbidden(m) => ApiError::new(ErrorCode::Forbidden, m),
        Refusal::TooMany(wait) => ApiError::new(
            ErrorCode::TooManyRequests,
            "too many failed sign-ins; try again later",
        )
        .with_details(serde_json::json!({ "retry_after_secs": wait })),
        Refusal::TooLarge(m) => ApiError::new(ErrorCode::PayloadTooLarge, m),
        Refusal::Internal(cause) => ApiError::internal(cause),
    }
}

fn auth_off() -> ApiError {
    ApiError::bad_request("this server runs with --auth none: there is nothing to sign in to")
}

fn principal_view(p: &Principal) -> PrincipalView {
    PrincipalView {
        kind: p.kind.as_str().to_owned(),
        id: p.id.clone(),
        name: p.name.clone(),
    }
}

/// Names of users and service principals: 1-64 of letters, digits, `.`, `_`, `-`, `@`.
pub(crate) fn check_name(field: &str, name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(
            mlplane_core::Invalid::one(field, "must be 1-64 letters, digits, '.', '_', '-' or '@'")
                .into(),
        )
    }
}

pub(crate) fn new_id(prefix: &str) -> String {
    let b: [u8; 8] = rand::random();
    format!("{prefix}-{}", hex::encode(b))
}

#[utoipa::path(post, path = "/api/v1/auth/login", request_body = LoginRequest, tag = "auth",
    responses((status = 200, body = LoginView), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    AppJson(req): AppJson<LoginRequest>,
) -> ApiResult<Response> {
    if s.auth.mode == AuthMode::None {
        return Err(auth_off());
    }
    let u = check_password(&s, &req.user, &req.password, ip.as_deref())
        .await
        .map_err(refusal)?;
    let (cookie, csrf) = (random_secret(), random_secret());
    let now = now_ms();
    let expires_at = now + SESSION_TTL.as_millis() as i64;
    s.store
        .create_session(SessionRecord {
            id_sha256: digest(&cookie),
            user_id: u.id,
            csrf_sha256: digest(&csrf),
            expires_at,
            created_at: now,
        })
        .await?;
    // Sign-ins clean up: sessions past their expiry are deleted (they are refused anyway).
    match s.store.purge_expired_sessions(now).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(sessions = n, "purged expired sessions"),
        Err(e) => tracing::warn!(error = %e, "could not purge expired sessions"),
    }
    let mut set = format!(
        "{SESSION_COOKIE}={cookie}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        SESSION_TTL.as_secs()
    );
    if s.auth.secure_cookies {
        set.push_str("; Secure");
    }
    let mut resp = Json(LoginView {
        user: u.name,
        csrf_token: csrf,
        expires_at,
    })
    .into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&set).map_err(ApiError::internal)?,
    );
    Ok(resp)
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Response> {
    if let Some(id) = &caller.session {
        s.store.delete_session(id).await?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let clear = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&clear).map_err(ApiError::internal)?,
    );
    Ok(resp)
}

#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, body = MeView), (status = 401, body = ErrorBody)))]
pub async fn me(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<MeView>> {
    let held = match caller.principal.kind {
        PrincipalKind::User | PrincipalKind::ServicePrincipal => {
            s.store
                .role_bindings_of(&PrincipalRef {
                    kind: caller.principal.kind,
                    id: caller.principal.id.clone(),
                })
                .await?
        }
        _ => Vec::new(),
    };
    let mut names: Vec<String> = caller.grants.workspaces.keys().cloned().collect();
    if caller.admin {
        let page = mlplane_core::PageRequest {
            max_results: 1000,
            page_token: None,
        };
        names.extend(
            s.store
                .list_workspaces(&page)
                .await?
                .items
                .into_iter()
                .map(|w| w.name.as_str().to_owned()),
        );
    }
    names.sort();
    names.dedup();
    let workspaces = names
        .into_iter()
        .filter_map(|w| {
            let allowed: Vec<String> = caller
                .grants
                .allowed_in(&w)
                .into_iter()
                .map(str::to_owned)
                .collect();
            (!allowed.is_empty()).then_some((w, allowed))
        })
        .collect();
    Ok(Json(MeView {
        principal: principal_view(&caller.principal),
        auth_mode: match s.auth.mode {
            AuthMode::None => "none",
            AuthMode::On => "on",
        }
        .to_owned(),
        admin: caller.admin,
        roles: held
            .into_iter()
            .map(|b| HeldRoleView {
                workspace: b.workspace,
                role: b.role,
            })
            .collect(),
        workspaces,
        token_id: caller.token_id,
    }))
}

fn token_view(t: ApiTokenRecord, owner_name: &str) -> TokenView {
    TokenView {
        id: t.id,
        name: t.name,
        owner: PrincipalView {
            kind: t.owner.kind.as_str().to_owned(),
            id: t.owner.id,
            name: owner_name.to_owned(),
        },
        scopes: t.scopes,
        workspace: t.workspace,
        expires_at: t.expires_at,
        last_used_at: t.last_used_at,
        revoked_at: t.revoked_at,
        created_at: t.created_at,
    }
}

/// Checks a new token's request against what `granter` may give and makes the token for
/// `owner`.
pub(crate) async fn mint(
    s: &AppState,
    granter: &Caller,
    owner: &Principal,
    req: CreateTokenRequest,
) -> ApiResult<(StatusCode, Json<CreatedTokenView>)> {
    if s.auth.mode == AuthMode::None {
        return Err(auth_off());
    }
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(mlplane_core::Invalid::one("name", "must be 1-100 characters").into());
    }
    let scopes = req.scopes.unwrap_or_else(|| vec!["*".to_owned()]);
    if scopes.is_empty() {
        return Err(mlplane_core::Invalid::one("scopes", "must name at least one action").into());
    }
    let mut workspace = req.workspace.clone();
    if let Some(w) = &workspace {
        let ws = WorkspaceName::parse(w)?;
        s.store.get_workspace(&ws).await?;
    }
    // A token made with a token stays within that token's restriction.
    if let Some(r) = &granter.grants.restriction {
        match (&r.workspace, &workspace) {
            (Some(only), None) => workspace = Some(only.clone()),
            (Some(only), Some(w)) if only != w => {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    format!("this token may only make tokens for workspace '{only}'"),
                ));
            }
            _ => {}
        }
    }
    for (i, raw) in scopes.iter().enumerate() {
        let field = format!("scopes[{i}]");
        let p = ActionPattern::parse(raw)
            .map_err(|e| mlplane_core::Invalid::one(&field, e.to_string()))?;
        let actions: Vec<&str> = if raw == mlplane_auth::actions::USERS_ADMIN {
            vec![USERS_ADMIN]
        } else {
            p.expand().collect()
        };
        let covered = actions.iter().any(|a| {
            let in_some_ws = match &workspace {
                Some(w) => authorize(&granter.grants, Some(w), a) == Decision::Allow,
                None => {
                    granter.admin
                        || granter
                            .grants
                            .workspaces
                            .keys()
                            .any(|w| authorize(&granter.grants, Some(w), a) == Decision::Allow)
                }
            };
            in_some_ws
                || (*a == USERS_ADMIN && authorize(&granter.grants, None, a) == Decision::Allow)
        });
        let within_restriction = granter.grants.restriction.as_ref().is_none_or(|r| {
            actions
                .iter()
                .all(|a| r.scopes.iter().any(|s| s.matches(a)))
        });
        if !covered || !within_restriction {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("scope '{raw}' is not within what you may grant"),
            )
            .with_details(serde_json::json!({ "field": field })));
        }
    }
    let days = req.expires_in_days.unwrap_or(90);
    if !(1..=3650).contains(&days) {
        return Err(mlplane_core::Invalid::one("expires_in_days", "must be 1 to 3650").into());
    }
    let token = ApiToken::generate();
    let now = now_ms();
    let rec = s
        .store
        .create_token(ApiTokenRecord {
            id: token.id.clone(),
            owner: PrincipalRef {
                kind: owner.kind,
                id: owner.id.clone(),
            },
            name: name.to_owned(),
            secret_sha256: token.secret_digest(),
            scopes,
            workspace,
            expires_at: Some(now + i64::from(days) * 86_400_000),
            last_used_at: None,
            revoked_at: None,
            created_at: now,
            job_scope: None,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedTokenView {
            token: token.reveal(),
            view: token_view(rec, &owner.name),
        }),
    ))
}

#[utoipa::path(post, path = "/api/v1/tokens", request_body = CreateTokenRequest, tag = "auth",
    responses((status = 201, body = CreatedTokenView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_token(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    AppJson(req): AppJson<CreateTokenRequest>,
) -> ApiResult<(StatusCode, Json<CreatedTokenView>)> {
    if !matches!(
        caller.principal.kind,
        PrincipalKind::User | PrincipalKind::ServicePrincipal
    ) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "only users and service principals have tokens",
        ));
    }
    let owner = caller.principal.clone();
    mint(&s, &caller, &owner, req).await
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "auth",
    responses((status = 200, body = TokenList), (status = 401, body = ErrorBody)))]
pub async fn list_tokens(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<TokenList>> {
    let me = PrincipalRef {
        kind: caller.principal.kind,
        id: caller.principal.id.clone(),
    };
    let items = s
        .store
        .list_tokens(&me)
        .await?
        .into_iter()
        .map(|t| token_view(t, &caller.principal.name))
        .collect();
    Ok(Json(TokenList { items }))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "auth",
    params(("id" = String, Path, description = "token id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    AppPath(id): AppPath<String>,
) -> ApiResult<StatusCode> {
    let t = s.store.get_token(&id).await?;
    let mine = t.owner.kind == caller.principal.kind && t.owner.id == caller.principal.id;
    if !mine && !caller.admin {
        // Someone else's token is reported like a missing one.
        return Err(ApiError::new(
            ErrorCode::TokenNotFound,
            format!("API token '{id}' not found"),
        ));
    }
    s.store.revoke_token(&id, now_ms()).await?;
    Ok(StatusCode::NO_CONTENT)
}
