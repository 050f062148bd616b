//! The outer layers every request passes: request ids, the audit log and security headers.
//!
//! Order, outermost first: [`request_id`] (takes a well-formed `x-request-id` from the
//! request or makes one, and echoes it on the response), [`security_headers`], then
//! [`record`], which writes an audit record for every state-changing request (any method but
//! GET, HEAD and OPTIONS) and every refusal (401 or 403 of any method) after the inner
//! service answered and before the response leaves.
//!
//! The record's actor is the [`Principal`] and its action the [`RouteAction`] the auth layer
//! put into the response's extensions; without an auth layer the actor is
//! [`Principal::anonymous`] and the action `<METHOD> <matched route>`.
//!
//! Invariants:
//! - a request whose record cannot be written is still answered (the failure is logged at
//!   error level): the change it made is already committed;
//! - no CORS headers are ever added: a cross-origin preflight gets no
//!   `Access-Control-Allow-*`;
//! - HTML responses carry a CSP that allows only same-origin scripts, styles (inline styles
//!   too), images (plus data: and blob:) and connections.

use crate::state::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use mlplane_core::audit::{AuditOutcome, NewAuditRecord};
use mlplane_core::{Principal, RouteAction};
use std::net::SocketAddr;

/// The request's id, in the request's extensions once [`request_id`] ran.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The CSP of HTML responses (the studio's SPA: same-origin assets, no inline scripts).
pub const HTML_CSP: &str = "default-src 'self'; img-src 'self' data: blob:; \
     style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; \
     base-uri 'self'; form-action 'self'";

/// 1 to 128 characters of `A-Z a-z 0-9 - _ . :`.
fn well_formed(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Assigns the request id and echoes it on the response.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| well_formed(v))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(X_REQUEST_ID.clone(), v.clone());
        req.extensions_mut().insert(RequestId(id));
        let mut resp = next.run(req).await;
        resp.headers_mut().insert(X_REQUEST_ID.clone(), v);
        resp
    } else {
        next.run(req).await
    }
}

/// Adds the security headers to every response.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    let html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    if html {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(HTML_CSP),
        );
    }
    resp
}

/// The workspace a request path addresses: `/api/v1/workspaces/{ws}/…`, the MLflow
/// protocol's `/w/{ws}/…`, or `default` for the MLflow protocol at the root.
pub fn workspace_of(path: &str) -> Option<String> {
    let seg = |rest: &str| {
        rest.split('/')
            .next()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    if let Some(rest) = path.strip_prefix("/api/v1/workspaces/") {
        return seg(rest);
    }
    if let Some(rest) = path.strip_prefix("/w/") {
        return seg(rest);
    }
    let mlflow = ["/api/2.0/", "/ajax-api/2.0/", "/api/3.0/", "/ajax-api/3.0/"];
    mlflow
        .iter()
        .any(|p| path.starts_with(p))
        .then(|| "default".to_string())
}

/// Whether a request with this method and answer is recorded.
pub fn is_recorded(method: &Method, status: u16) -> bool {
    let reads = [Method::GET, Method::HEAD, Method::OPTIONS];
    !reads.contains(method) || status == 401 || status == 403
}

/// Writes the audit record of a state-changing or refused request.
pub async fn record(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let target = req.uri().path().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let client_ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    if !is_recorded(&method, status) {
        return resp;
    }
    let principal = resp
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or_else(Principal::anonymous);
    let action = match resp.extensions().get::<RouteAction>() {
        Some(a) => a.0.to_string(),
        None => format!("{method} {}", route.as_deref().unwrap_or(&target)),
    };
    let record = NewAuditRecord {
        time_ms: crate::routes::now_ms(),
        actor_kind: principal.kind,
        actor_id: principal.id,
        actor_name: principal.name,
        action,
        workspace: workspace_of(&target),
        target,
        client_ip,
        request_id,
        method: method.to_string(),
        status,
        outcome: AuditOutcome::of_status(status),
    };
    if let Err(e) = s.store.append_audit(vec![record]).await {
        tracing::error!(error = %e, "cannot write the audit record of a request");
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspaces_are_read_from_paths() {
        assert_eq!(
            workspace_of("/api/v1/workspaces/team-a/runs").as_deref(),
            Some("team-a")
        );
        assert_eq!(
            workspace_of("/w/team-b/api/2.0/mlflow/runs/create").as_deref(),
            Some("team-b")
        );
        assert_eq!(
            workspace_of("/api/2.0/mlflow/runs/create").as_deref(),
            Some("default")
        );
        assert_eq!(workspace_of("/api/v1/computes"), None);
        assert_eq!(workspace_of("/api/v1/workspaces"), None);
    }

    #[test]
    fn request_ids_are_checked() {
        assert!(well_formed("abc-123_x.y:z"));
        assert!(!well_formed(""));
        assert!(!well_formed("a b"));
        assert!(!well_formed(&"a".repeat(129)));
        assert!(!well_formed("a\u{e9}"));
    }
}
