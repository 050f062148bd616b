//! The outer layers every request passes: request ids, the audit log and security headers.
//!
//! Order, outermost first: [`request_id`] (takes a well-formed `x-request-id` from the
//! request or makes one, and echoes it on the response), [`security_headers`], then
//! [`record`], which queues an audit record for every state-changing request (any method but
//! GET, HEAD and OPTIONS, unless the route's action is a read such as `runs/read` for the
//! POSTed searches) and every refusal (401 or 403 of any method) after the inner
//! service answered and before the response leaves; [`AuditSink`] appends them.
//!
//! The record's actor is the [`Principal`] and its action the [`RouteAction`] the auth layer
//! put into the response's extensions; without an auth layer the actor is
//! [`Principal::anonymous`] and the action `<METHOD> <matched route>`.
//!
//! Invariants:
//! - the record is queued before the response leaves and appended by one background task
//!   in batches ([`AuditSink`]): a request never waits for a second commit (measured: an
//!   inline write halved the 16-writers throughput of the bench); a record that cannot be
//!   written is logged at error level, and records still queued when the process is killed
//!   are lost (a graceful stop drains the queue first); reads of the log through
//!   `GET /api/v1/audit` flush the queue first, so they see every earlier request;
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

/// Whether a request with this method, route action and answer is recorded: refusals
/// always; otherwise requests that may change state, which a read action (`runs/read`, the
/// action of MLflow's and the native POSTed searches) or a read method rules out.
pub fn is_recorded(method: &Method, action: Option<&str>, status: u16) -> bool {
    if status == 401 || status == 403 {
        return true;
    }
    let reads = [Method::GET, Method::HEAD, Method::OPTIONS];
    !reads.contains(method) && !action.is_some_and(|a| a.ends_with("/read"))
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
    let route_action = resp.extensions().get::<RouteAction>().map(|a| a.0);
    if !is_recorded(&method, route_action, status) {
        return resp;
    }
    let principal = resp
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or_else(Principal::anonymous);
    let action = match route_action {
        Some(a) => a.to_string(),
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
    s.audit.record(record).await;
    resp
}

/// What the audit writer task receives.
enum AuditMsg {
    /// A record to append.
    Record(NewAuditRecord),
    /// Answered once every record sent before it has been appended (or failed).
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Records waiting for the writer; a full queue makes requests wait (never drops).
const AUDIT_QUEUE: usize = 10_000;
/// Most records appended in one store call.
const AUDIT_BATCH: usize = 512;

/// Hands audit records to one background task that appends them in batches, so a request
/// does not wait for a second database commit. Records still queued when the process is
/// killed (not stopped) are lost; on a graceful stop the queue is drained before the store
/// closes ([`AuditSink::close`]).
#[derive(Clone)]
pub struct AuditSink {
    tx: tokio::sync::mpsc::Sender<AuditMsg>,
    task: std::sync::Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl AuditSink {
    /// Starts the writer task over `store` (needs a Tokio runtime).
    pub fn start(store: std::sync::Arc<dyn mlplane_store::MetadataStore>) -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel(AUDIT_QUEUE);
        let task = tokio::spawn(audit_writer(store, rx));
        AuditSink {
            tx,
            task: std::sync::Arc::new(std::sync::Mutex::new(Some(task))),
        }
    }

    /// Queues a record.
    pub async fn record(&self, r: NewAuditRecord) {
        if self.tx.send(AuditMsg::Record(r)).await.is_err() {
            tracing::error!("the audit writer has stopped; a record was lost");
        }
    }

    /// Waits until every record queued before this call has been appended.
    pub async fn flush(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.tx.send(AuditMsg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Drains the queue and stops the writer; later records are logged as lost.
    pub async fn close(&self) {
        self.flush().await;
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = task {
            t.abort();
            let _ = t.await;
        }
    }
}

async fn audit_writer(
    store: std::sync::Arc<dyn mlplane_store::MetadataStore>,
    mut rx: tokio::sync::mpsc::Receiver<AuditMsg>,
) {
    let mut batch = Vec::new();
    let mut flushes = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                AuditMsg::Record(r) => batch.push(r),
                AuditMsg::Flush(done) => flushes.push(done),
            }
            next = if batch.len() < AUDIT_BATCH {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        if !batch.is_empty() {
            let n = batch.len();
            if let Err(e) = store.append_audit(std::mem::take(&mut batch)).await {
                tracing::error!(error = %e, records = n, "cannot write audit records; they are lost");
            }
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
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
    fn reads_are_not_recorded_unless_refused() {
        assert!(!is_recorded(&Method::GET, Some("runs/read"), 200));
        assert!(!is_recorded(&Method::POST, Some("runs/read"), 200));
        assert!(is_recorded(&Method::POST, Some("runs/read"), 403));
        assert!(is_recorded(&Method::GET, Some("runs/read"), 401));
        assert!(is_recorded(&Method::POST, Some("runs/write"), 400));
        assert!(is_recorded(&Method::POST, Some("public"), 200));
        assert!(is_recorded(&Method::DELETE, None, 204));
        assert!(!is_recorded(&Method::HEAD, None, 200));
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
