//! The auth layer: one middleware around every route that finds the route's action in the
//! [`RouteTable`], authenticates the request, checks the action in the request's workspace
//! and records the outcome in the request and response extensions.
//!
//! Steps of [`enforce`]:
//! 1. look up `(method, matched path)`: an unlisted route is refused (403), a listed path
//!    without this method answers 405; unmatched paths (404s) need only a signed-in caller;
//! 2. resolve the action (`{kind}/read` → `models/read`) and the workspace (`{ws}` of native
//!    routes, `{workspace}` of MLflow `/w/…` routes, else `default`);
//! 3. authenticate: `Authorization: Bearer <token>`, `Basic user:password` or
//!    `Basic user:<token>`, else the session cookie (whose CSRF token must come in
//!    `X-CSRF-Token` on state-changing methods); `--auth none` is `Principal::local()`;
//! 4. authorize with `mlplane_auth::authorize`; 401 without credentials, 403 without a
//!    grant, in the native or MLflow error shape depending on the path; a job's token is
//!    further narrowed to its job's run, inputs and outputs ([`super::job_scope`]);
//! 5. put [`Caller`], `Principal` and `RouteAction` in the request, run the handler, and put
//!    `Principal` and `RouteAction` in the response, also on refusals.
//!
//! Invariants:
//! - a presented credential that does not check out is 401, never anonymous access (public
//!   routes ignore credentials entirely);
//! - secrets are compared as sha256 digests in constant time; no secret is logged.

use super::table::{Lookup, RouteTable, resolve};
use super::{AuthMode, CSRF_HEADER, Caller, SESSION_COOKIE, now_ms};
use crate::error::{ApiError, ErrorCode};
use crate::mlflow::error::{MlflowCode, MlflowError};
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mlplane_auth::actions::{CATALOG, PUBLIC, SIGNED_IN};
use mlplane_auth::token::{ApiToken, digest, digest_eq};
use mlplane_auth::{
    ActionPattern, BuiltinRole, Credentials, Decision, Grants, Requirement, Restriction, authorize,
    parse_authorization, requirement,
};
use mlplane_core::{Principal, PrincipalKind, RouteAction};
use mlplane_store::auth::PrincipalRef;
use mlplane_store::{MetadataStore, StoreError};
use std::net::SocketAddr;
use std::sync::Arc;

/// State of the layer: the app and its finished route table.
#[derive(Clone)]
pub struct LayerState {
    pub app: AppState,
    pub table: Arc<RouteTable>,
}

/// Why a request was refused before its handler.
#[derive(Debug)]
pub enum Refusal {
    Unauthenticated(&'static str),
    Forbidden(String),
    TooMany(u64),
    /// A body too large to look into (job tokens' requests only).
    TooLarge(String),
    Internal(String),
}

/// The middleware; see the module doc for its steps.
pub async fn enforce(State(s): State<LayerState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mlflow = is_mlflow_path(&path);
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let (mut parts, body) = req.into_parts();
    let listed = match &matched {
        Some(p) => s.table.lookup(&method, p),
        None => Lookup::Action(SIGNED_IN),
    };
    let template = match listed {
        Lookup::Action(a) => a,
        Lookup::MethodNotListed => {
            let mut resp = ApiError::new(
                ErrorCode::MethodNotAllowed,
                "method not allowed on this route",
            )
            .into_response();
            resp.extensions_mut().insert(Principal::anonymous());
            resp.extensions_mut()
                .insert(RouteAction("method_not_allowed"));
            return resp;
        }
        Lookup::Unlisted => {
            tracing::error!(route = ?matched, %method, "route has no action in the route table; refused");
            let r = Refusal::Forbidden("this route has no action and is refused".into());
            return refuse(r, mlflow, Principal::anonymous(), RouteAction("unlisted"));
        }
    };
    let params = RawPathParams::from_request_parts(&mut parts, &())
        .await
        .ok();
    let param = |name: &str| {
        params.as_ref().and_then(|p| {
            p.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_owned())
        })
    };
    let workspace = param("ws")
        .or_else(|| param("workspace"))
        .unwrap_or_else(|| "default".to_owned());
    let action: &'static str = match resolve(template, param("kind").as_deref()) {
        Some(a) => static_action(&a).unwrap_or(template),
        None => template,
    };
    let route_action = RouteAction(action);
    let caller = match authenticate(&s.app, &parts, &method, action).await {
        Ok(c) => c,
        Err(r) => return refuse(r, mlflow, Principal::anonymous(), route_action),
    };
    let allowed = match &caller {
        None => matches!(requirement(action), Requirement::Public),
        // `--auth none`: the local caller may do everything, also on `{kind}` routes whose
        // unknown kind the handler answers with 404.
        Some(_) if s.app.auth.mode == AuthMode::None => true,
        Some(c) => authorize(&c.grants, Some(&workspace), action) == Decision::Allow,
    };
    let principal = caller
        .as_ref()
        .map(|c| c.principal.clone())
        .unwrap_or_else(Principal::anonymous);
    if !allowed {
        let r = match &caller {
            None => Refusal::Unauthenticated("authentication required"),
            Some(_) => Refusal::Forbidden(format!(
                "{} may not {action} in workspace '{workspace}'",
                principal.name
            )),
        };
        return refuse(r, mlflow, principal, route_action);
    }
    let job = caller.as_ref().and_then(|c| c.job.clone().map(|j| (c, j)));
    let body = match job {
        Some((c, scope)) if s.app.auth.mode == AuthMode::On => {
            let req = super::job_scope::Request {
                action,
                workspace: &workspace,
                method: &method,
                route: matched.as_deref().unwrap_or(""),
                mlflow,
                params: params
                    .iter()
                    .flat_map(|p| p.iter())
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
                uri: &parts.uri,
            };
            match super::job_scope::check(&s.app, c, &scope, &req, body).await {
                Ok(b) => b,
                Err(r) => return refuse(r, mlflow, principal, route_action),
            }
        }
        _ => body,
    };
    parts.extensions.insert(principal.clone());
    parts.extensions.insert(route_action);
    if let Some(c) = caller {
        parts.extensions.insert(c);
    }
    let mut resp = next.run(Request::from_parts(parts, body)).await;
    resp.extensions_mut().insert(principal);
    resp.extensions_mut().insert(route_action);
    resp
}

/// The catalog's own `&'static str` for an action resolved at request time.
fn static_action(a: &str) -> Option<&'static str> {
    CATALOG.iter().copied().find(|c| *c == a)
}

/// Paths answered in MLflow's error shape.
pub fn is_mlflow_path(path: &str) -> bool {
    let p = match path.strip_prefix("/w/") {
        Some(rest) => return !rest.is_empty(),
        None => path,
    };
    p.starts_with("/api/2.0/mlflow")
        || p.starts_with("/ajax-api/")
        || p.starts_with("/api/3.0/mlflow")
        || p == "/health"
        || p == "/version"
}

fn refuse(r: Refusal, mlflow: bool, principal: Principal, action: RouteAction) -> Response {
    let mut resp = match r {
        Refusal::Unauthenticated(msg) => {
            let mut resp = if mlflow {
                MlflowError::new(MlflowCode::Unauthenticated, msg).into_response()
            } else {
                ApiError::new(ErrorCode::Unauthenticated, msg).into_response()
            };
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"mlplane\""),
            );
            resp
        }
        Refusal::Forbidden(msg) => {
            if mlflow {
                MlflowError::new(MlflowCode::PermissionDenied, msg).into_response()
            } else {
                ApiError::new(ErrorCode::Forbidden, msg).into_response()
            }
        }
        Refusal::TooMany(wait) => {
            let mut resp = ApiError::new(
                ErrorCode::TooManyRequests,
                "too many failed sign-ins; try again later",
            )
            .with_details(serde_json::json!({ "retry_after_secs": wait }))
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
                resp.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
            resp
        }
        Refusal::TooLarge(msg) => {
            if mlflow {
                MlflowError::new(MlflowCode::PayloadTooLarge, msg).into_response()
            } else {
                ApiError::new(ErrorCode::PayloadTooLarge, msg).into_response()
            }
        }
        Refusal::Internal(cause) => {
            if mlflow {
                MlflowError::internal(cause).into_response()
            } else {
                ApiError::internal(cause).into_response()
            }
        }
    };
    resp.extensions_mut().insert(principal);
    resp.extensions_mut().insert(action);
    resp
}

/// Who the request is: `Ok(None)` when it presented nothing (or the route is public).
async fn authenticate(
    app: &AppState,
    parts: &Parts,
    method: &Method,
    action: &str,
) -> Result<Option<Caller>, Refusal> {
    if app.auth.mode == AuthMode::None {
        return Ok(Some(Caller::local()));
    }
    if action == PUBLIC {
        return Ok(None);
    }
    if let Some(h) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        let creds = parse_authorization(h.as_bytes())
            .map_err(|_| Refusal::Unauthenticated("malformed Authorization header"))?;
        return match creds {
            Credentials::Bearer(t) => token_caller(app, &t, None).await.map(Some),
            Credentials::Basic { user, password } => {
                if ApiToken::parse(&password).is_ok() {
                    token_caller(app, &password, Some(&user)).await.map(Some)
                } else {
                    password_caller(app, &user, &password, client_ip(parts).as_deref())
                        .await
                        .map(Some)
                }
            }
        };
    }
    if let Some(cookie) = session_cookie(parts) {
        return session_caller(app, &cookie, parts, method).await.map(Some);
    }
    Ok(None)
}

fn bad_credentials() -> Refusal {
    Refusal::Unauthenticated("invalid, expired or revoked credentials")
}

fn store_refusal(e: StoreError) -> Refusal {
    match e {
        StoreError::NotFound { .. } => bad_credentials(),
        other => Refusal::Internal(other.to_string()),
    }
}

/// The client address, when the server was started with connect info.
pub fn client_ip(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}

fn session_cookie(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// Authenticates an API token; `basic_user`, when the token came as a Basic password, must
/// name the token's owner.
pub(crate) async fn token_caller(
    app: &AppState,
    raw: &str,
    basic_user: Option<&str>,
) -> Result<Caller, Refusal> {
    let token = ApiToken::parse(raw).map_err(|_| bad_credentials())?;
    let rec = app
        .store
        .get_token(&token.id)
        .await
        .map_err(store_refusal)?;
    if !digest_eq(&rec.secret_sha256, &token.secret_digest()) {
        return Err(bad_credentials());
    }
    let now = now_ms();
    if rec.revoked_at.is_some() || rec.expires_at.is_some_and(|e| e <= now) {
        return Err(bad_credentials());
    }
    let (principal, admin) = owner_principal(app.store.as_ref(), &rec.owner).await?;
    if let Some(user) = basic_user
        && user != principal.name
    {
        return Err(bad_credentials());
    }
    let mut grants = if rec.owner.kind == PrincipalKind::Job {
        // A job's token carries its own grants: its scopes in its workspace.
        let mut g = Grants::default();
        if let Some(ws) = &rec.workspace {
            g.grant(
                ws,
                rec.scopes
                    .iter()
                    .filter_map(|s| ActionPattern::parse(s).ok())
                    .flat_map(|p| p.expand().collect::<Vec<_>>())
                    .map(str::to_owned),
            );
        }
        g
    } else {
        grants_of(app.store.as_ref(), &rec.owner, admin).await?
    };
    grants.restriction = Some(Restriction {
        scopes: rec
            .scopes
            .iter()
            .filter_map(|s| ActionPattern::parse(s).ok())
            .collect(),
        workspace: rec.workspace.clone(),
    });
    if app.auth.should_touch(&rec.id) {
        let store = Arc::clone(&app.store);
        let id = rec.id.clone();
        tokio::spawn(async move {
            if let Err(e) = store.touch_token(&id, now).await {
                tracing::warn!(error = %e, "could not record a token's last use");
            }
        });
    }
    // A job token without a stored scope (minted before scopes existed) gets an empty one,
    // which lets it write nothing.
    let job = (rec.owner.kind == PrincipalKind::Job)
        .then(|| Arc::new(rec.job_scope.clone().unwrap_or_default()));
    Ok(Caller {
        principal,
        grants,
        admin,
        token_id: Some(rec.id),
        session: None,
        job,
    })
}

/// The principal a stored owner reference names, and whether it is an administrator; a
/// deleted owner is 401.
async fn owner_principal(
    store: &dyn MetadataStore,
    owner: &PrincipalRef,
) -> Result<(Principal, bool), Refusal> {
    match owner.kind {
        PrincipalKind::User => {
            let u = store.get_user(&owner.id).await.map_err(store_refusal)?;
            Ok((
                Principal {
                    kind: PrincipalKind::User,
                    id: u.id,
                    name: u.name,
                },
                u.is_admin,
            ))
        }
        PrincipalKind::ServicePrincipal => {
            let sp = store
                .get_service_principal(&owner.id)
                .await
                .map_err(store_refusal)?;
            Ok((
                Principal {
                    kind: PrincipalKind::ServicePrincipal,
                    id: sp.id,
                    name: sp.name,
                },
                false,
            ))
        }
        PrincipalKind::Job => Ok((
            Principal {
                kind: PrincipalKind::Job,
                id: owner.id.clone(),
                name: owner.id.clone(),
            },
            false,
        )),
        PrincipalKind::Local | PrincipalKind::Anonymous => Err(bad_credentials()),
    }
}

/// The actions a principal's role bindings grant, per workspace.
pub(crate) async fn grants_of(
    store: &dyn MetadataStore,
    who: &PrincipalRef,
    admin: bool,
) -> Result<Grants, Refusal> {
    let bindings = store
        .role_bindings_of(who)
        .await
        .map_err(|e| Refusal::Internal(e.to_string()))?;
    let mut grants = Grants {
        admin,
        ..Grants::default()
    };
    let mut custom = None;
    for b in bindings {
        if let Some(role) = BuiltinRole::parse(&b.role) {
            grants.grant(&b.workspace, role.actions().map(str::to_owned));
            continue;
        }
        if custom.is_none() {
            custom = Some(
                store
                    .list_custom_roles()
                    .await
                    .map_err(|e| Refusal::Internal(e.to_string()))?,
            );
        }
        if let Some(r) = custom.iter().flatten().find(|r| r.name == b.role) {
            let actions: Vec<String> = r
                .actions
                .iter()
                .filter_map(|a| ActionPattern::parse(a).ok())
                .flat_map(|p| p.expand().collect::<Vec<_>>())
                .map(str::to_owned)
                .collect();
            grants.grant(&b.workspace, actions);
        }
    }
    Ok(grants)
}

/// Checks a user's password, with rate limiting; shared by Basic auth and the login route.
pub(crate) async fn check_password(
    app: &AppState,
    user: &str,
    password: &str,
    ip: Option<&str>,
) -> Result<mlplane_store::auth::UserRecord, Refusal> {
    // The lockout applies before anything else, also to remembered sign-ins.
    app.auth.limiter.check(user, ip).map_err(Refusal::TooMany)?;
    let cache_key = digest(&format!("{user}\0{password}"));
    if let Some(id) = app.auth.cached_basic(&cache_key)
        && let Ok(u) = app.store.get_user(&id).await
    {
        return Ok(u);
    }
    let found = match app.store.find_user(user).await {
        Ok(u) => Some(u),
        Err(StoreError::NotFound { .. }) => None,
        Err(e) => return Err(Refusal::Internal(e.to_string())),
    };
    let stored = found
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| mlplane_auth::password::decoy_hash().to_owned());
    let pw = password.to_owned();
    let ok = tokio::task::spawn_blocking(move || mlplane_auth::password::verify(&pw, &stored))
        .await
        .map_err(|e| Refusal::Internal(e.to_string()))?;
    match found {
        Some(u) if ok && u.password_hash.is_some() => {
            app.auth.limiter.succeed(user, ip);
            app.auth.remember_basic(cache_key, u.id.clone());
            Ok(u)
        }
        _ => {
            app.auth.limiter.fail(user, ip);
            Err(bad_credentials())
        }
    }
}

async fn password_caller(
    app: &AppState,
    user: &str,
    password: &str,
    ip: Option<&str>,
) -> Result<Caller, Refusal> {
    let u = check_password(app, user, password, ip).await?;
    user_caller(app, u, None).await
}

async fn user_caller(
    app: &AppState,
    u: mlplane_store::auth::UserRecord,
    session: Option<String>,
) -> Result<Caller, Refusal> {
    let who = PrincipalRef {
        kind: PrincipalKind::User,
        id: u.id.clone(),
    };
    let grants = grants_of(app.store.as_ref(), &who, u.is_admin).await?;
    Ok(Caller {
        principal: Principal {
            kind: PrincipalKind::User,
            id: u.id,
            name: u.name,
        },
        grants,
        admin: u.is_admin,
        token_id: None,
        session,
        job: None,
    })
}

async fn session_caller(
    app: &AppState,
    cookie: &str,
    parts: &Parts,
    method: &Method,
) -> Result<Caller, Refusal> {
    let id = digest(cookie);
    let s = app.store.get_session(&id).await.map_err(store_refusal)?;
    if s.expires_at <= now_ms() {
        return Err(bad_credentials());
    }
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let presented = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(digest);
        if !presented.is_some_and(|p| digest_eq(&p, &s.csrf_sha256)) {
            return Err(Refusal::Forbidden(
                "missing or wrong CSRF token (send it in X-CSRF-Token)".into(),
            ));
        }
    }
    let u = app
        .store
        .get_user(&s.user_id)
        .await
        .map_err(store_refusal)?;
    user_caller(app, u, Some(id)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlflow_paths_are_told_apart() {
        for p in [
            "/api/2.0/mlflow/runs/get",
            "/ajax-api/2.0/mlflow/runs/get",
            "/api/2.0/mlflow-artifacts/artifacts/x",
            "/api/3.0/mlflow/server-info",
            "/health",
            "/version",
            "/w/team/api/2.0/mlflow/runs/get",
        ] {
            assert!(is_mlflow_path(p), "{p}");
        }
        for p in ["/api/v1/workspaces", "/healthz", "/metrics", "/w/"] {
            assert!(!is_mlflow_path(p), "{p}");
        }
    }
}
