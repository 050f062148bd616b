//! Authentication and authorization at the HTTP edge: the route table ([`table`]), the one
//! layer every request passes ([`layer`]), the narrowing of job tokens ([`job_scope`]),
//! sign-in rate limiting ([`limiter`]) and the server's auth settings and caches
//! ([`AuthConfig`]).
//!
//! With `--auth none` (loopback only) every request acts as `Principal::local()` with every
//! action; with `--auth on` a request authenticates with a session cookie, a Bearer API
//! token, or Basic user + password / user + token, and the route's action must be granted
//! in the request's workspace.
//!
//! Invariants:
//! - the only route served without a table entry is none: an unlisted matched route is 403;
//! - every response, allowed or refused, carries the request's `Principal` and
//!   `RouteAction` in its extensions (for the audit layer outside).

pub mod job_scope;
pub mod layer;
pub mod limiter;
pub mod table;

use mlplane_auth::Grants;
use mlplane_core::{JobScope, Principal};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `--auth`: who may call the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Anonymous access with every action; only on loopback.
    None,
    /// Every request but public routes needs credentials, and each action a grant.
    On,
}

impl AuthMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" | "off" => Some(AuthMode::None),
            "on" => Some(AuthMode::On),
            _ => None,
        }
    }
}

/// Name of the web session cookie.
pub const SESSION_COOKIE: &str = "mlplane_session";
/// Header carrying the session's CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a web session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// A token's `last_used_at` is written at most this often.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// A verified Basic user + password is remembered this long (argon2 costs ~50 ms a check).
pub const BASIC_CACHE_TTL: Duration = Duration::from_secs(60);

/// The server's auth settings and in-memory state; one per server, shared by clones of
/// `AppState`.
pub struct AuthConfig {
    pub mode: AuthMode,
    /// Adds `Secure` to the session cookie (set when the server serves TLS).
    pub secure_cookies: bool,
    pub limiter: limiter::LoginLimiter,
    /// sha256 of `user \0 password` → (user id, when verified).
    basic_cache: Mutex<HashMap<String, (String, Instant)>>,
    /// Token id → when its `last_used_at` was last written.
    touched: Mutex<HashMap<String, Instant>>,
    /// `(job token id, run id)` pairs known to be in the job's run tree.
    job_runs: Mutex<HashSet<(String, String)>>,
}

impl AuthConfig {
    pub fn new(mode: AuthMode) -> Self {
        AuthConfig {
            mode,
            secure_cookies: false,
            limiter: limiter::LoginLimiter::default(),
            basic_cache: Mutex::new(HashMap::new()),
            touched: Mutex::new(HashMap::new()),
            job_runs: Mutex::new(HashSet::new()),
        }
    }

    /// Whether `run` was found in the run tree of the job holding `token` before.
    fn job_run_known(&self, token: &str, run: &str) -> bool {
        let set = self.job_runs.lock().unwrap_or_else(|p| p.into_inner());
        set.contains(&(token.to_owned(), run.to_owned()))
    }

    /// Remembers that `run` is in the run tree of the job holding `token` (a run's parent
    /// never changes, so the answer stays true while the token lives).
    fn remember_job_run(&self, token: &str, run: String) {
        let mut set = self.job_runs.lock().unwrap_or_else(|p| p.into_inner());
        if set.len() > 100_000 {
            set.clear();
        }
        set.insert((token.to_owned(), run));
    }

    fn cached_basic(&self, key: &str) -> Option<String> {
        let map = self.basic_cache.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .filter(|(_, at)| at.elapsed() < BASIC_CACHE_TTL)
            .map(|(id, _)| id.clone())
    }

    fn remember_basic(&self, key: String, user_id: String) {
        let mut map = self.basic_cache.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, (_, at)| at.elapsed() < BASIC_CACHE_TTL);
        }
        map.insert(key, (user_id, Instant::now()));
    }

    /// Forgets every remembered Basic sign-in (after a password change or user deletion).
    pub fn forget_basic(&self) {
        self.basic_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Whether the token's use should be written now (at most once per [`TOUCH_EVERY`]).
    fn should_touch(&self, token_id: &str) -> bool {
        let mut map = self.touched.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(token_id) {
            Some(at) if at.elapsed() < TOUCH_EVERY => false,
            _ => {
                map.insert(token_id.to_owned(), Instant::now());
                true
            }
        }
    }
}

/// Who the request acts as and what it may do; in the request extensions of every request
/// the layer let through.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub grants: Grants,
    /// Whether the principal is a server administrator.
    pub admin: bool,
    /// The API token the request came with, if any.
    pub token_id: Option<String>,
    /// The web session the request came with (sha256 of the cookie), if any.
    pub session: Option<String>,
    /// The scope of a job's token: the layer narrows such a caller to its run, inputs and
    /// outputs.
    pub job: Option<Arc<JobScope>>,
}

impl Caller {
    /// The caller of a server with `--auth none`.
    pub fn local() -> Self {
        Caller {
            principal: Principal::local(),
            grants: Grants::everything(),
            admin: true,
            token_id: None,
            session: None,
            job: None,
        }
    }
}

/// Whether `host` (a `--host` value) is a loopback address.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub(crate) fn now_ms() -> i64 {
    crate::routes::now_ms()
}

/// First start with auth: when no user exists, creates the administrator `admin` (with
/// `password` if given) and a bootstrap API token for it, and returns the token, to be
/// shown once. Later starts find a user and return `None`.
pub async fn bootstrap_admin(
    state: &crate::AppState,
    password: Option<String>,
) -> Result<Option<String>, crate::error::ApiError> {
    if !state.store.list_users().await?.is_empty() {
        return Ok(None);
    }
    let admin = crate::routes::principals::make_user(state, "admin", password, true).await?;
    let token = mlplane_auth::ApiToken::generate();
    state
        .store
        .create_token(mlplane_store::auth::ApiTokenRecord {
            id: token.id.clone(),
            owner: mlplane_store::auth::PrincipalRef {
                kind: mlplane_core::PrincipalKind::User,
                id: admin.id,
            },
            name: "bootstrap".into(),
            secret_sha256: token.secret_digest(),
            scopes: vec!["*".into()],
            workspace: None,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
            created_at: now_ms(),
            job_scope: None,
        })
        .await?;
    Ok(Some(token.reveal()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognized() {
        for h in ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["0.0.0.0", "::", "10.0.0.1", "example.com", ""] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
