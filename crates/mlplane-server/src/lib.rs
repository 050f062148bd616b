//! The HTTP edge of mlplane: axum routes for `/api/v1`, the MLflow REST API (see [`mlflow`]),
//! health and metrics endpoints, the OpenAPI document, and the server's start-up and
//! graceful shutdown.
//!
//! This is the only crate that knows HTTP status codes and axum. Handlers validate input with
//! `mlplane_core`, call one `MetadataStore` or `ArtifactStore` operation and map the result
//! to an `mlplane_api` view; errors leave through [`error::ApiError`].
//!
//! Invariants:
//! - no handler panics on user input; a panic anyway becomes a 500 in the error shape;
//! - unknown routes and methods answer in the error shape too;
//! - on SIGTERM/SIGINT the server stops accepting, finishes in-flight requests, then closes
//!   the store.

pub mod audit;
pub mod auth;
pub mod error;
pub mod extract;
pub mod http_metrics;
pub mod mlflow;
pub mod openapi;
pub mod routes;
pub mod secrets_key;
pub mod specs;
pub mod state;
pub mod tls;

pub use state::{AppState, Limits};

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use error::{ApiError, ErrorCode};
use mlplane_artifacts::{ArtifactStore, PartStaging};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// The full application router: every route of the table behind the auth layer.
pub fn app(state: AppState) -> Router {
    app_with_table(state).0
}

/// The application router and its route table (every method and path with its action).
pub fn app_with_table(state: AppState) -> (Router, Arc<auth::table::RouteTable>) {
    use auth::table::{Routes, get};
    use mlplane_auth::actions::{PUBLIC, USERS_ADMIN};
    let (router, table) = Routes::new()
        .merge(routes::api_v1(&state))
        .merge(mlflow::router(&state))
        .route("/healthz", get(PUBLIC, routes::health::healthz))
        .route("/readyz", get(PUBLIC, routes::health::readyz))
        .route("/metrics", get(USERS_ADMIN, routes::health::metrics))
        .route("/api/v1/openapi.json", get(PUBLIC, routes::health::openapi))
        .route("/", get(PUBLIC, routes::studio::root))
        .route("/studio", get(PUBLIC, routes::studio::bare))
        .route("/studio/", get(PUBLIC, routes::studio::index))
        .route("/studio/{*path}", get(PUBLIC, routes::studio::file))
        .finish();
    let table = Arc::new(table);
    let layer_state = auth::layer::LayerState {
        app: state.clone(),
        table: Arc::clone(&table),
    };
    let router = router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            layer_state,
            auth::layer::enforce,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http_metrics::track,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        // Outermost: request ids, security headers, then the audit log (see `audit`).
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            audit::record,
        ))
        .layer(axum::middleware::from_fn(audit::security_headers))
        .layer(axum::middleware::from_fn(audit::request_id))
        .with_state(state);
    (router, table)
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::RouteNotFound, "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "method not allowed on this route",
    )
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    let mut r = ApiError::new(ErrorCode::Internal, "internal server error").into_response();
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}

/// Settings of `mlplane server`, after flags, env vars and defaults were merged.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    /// Holds the SQLite file and local artifacts unless told otherwise.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default `sqlite://<data_dir>/mlplane.db`.
    pub database_url: Option<String>,
    /// A folder, `file://…` or `s3://bucket/prefix`; default `<data_dir>/artifacts`.
    pub artifacts_uri: Option<String>,
    pub limits: Limits,
    /// Jobs of compute `local` run at once by the built-in executor; 0 runs none (jobs
    /// then wait for another server of the same database to run them).
    pub job_slots: usize,
    /// How often the executor polls the store for jobs and cancels another server stored;
    /// this server's own submits and cancels wake it at once.
    pub job_poll: std::time::Duration,
    /// `--auth`: `None` (anonymous, loopback only) or `On`.
    pub auth: auth::AuthMode,
    /// Password of the `admin` user made at the first start with auth.
    pub admin_password: Option<String>,
    /// Where the master key of workspace secrets comes from.
    pub secrets_key: secrets_key::KeySource,
    /// PEM certificate chain and private key: serve HTTPS instead of HTTP.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// PEM CA certificate(s) the built-in executor's jobs trust to reach this HTTPS server
    /// (`MLPLANE_CA_CERT`, `REQUESTS_CA_BUNDLE`, `MLFLOW_TRACKING_SERVER_CERT_PATH` in their
    /// environment); without it they skip verification of the loopback connection.
    pub tls_ca: Option<PathBuf>,
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("metadata store: {0}")]
    Store(#[from] mlplane_store::StoreError),
    #[error("artifact store: {0}")]
    Artifacts(#[from] mlplane_artifacts::ArtifactError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
    #[error("{0}")]
    Refused(String),
    #[error("secrets: {0}")]
    Secrets(#[from] mlplane_secrets::SecretsError),
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
}

impl ServerConfig {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("mlplane.db").display()))
    }

    pub fn artifacts_uri(&self) -> String {
        self.artifacts_uri
            .clone()
            .unwrap_or_else(|| self.data_dir.join("artifacts").display().to_string())
    }
}

/// Opens the stores, serves until SIGTERM/SIGINT, then shuts down gracefully.
/// `on_ready` receives the bound address (useful with port 0).
pub async fn run(
    config: ServerConfig,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<(), ServerError> {
    if config.auth == auth::AuthMode::None && !auth::is_loopback_host(&config.host) {
        return Err(ServerError::Refused(format!(
            "refusing to serve {} without authentication: --auth none is only allowed on a \
             loopback address (127.0.0.1, ::1, localhost); start with --auth on (MLPLANE_AUTH=on)",
            config.host
        )));
    }
    let db_url = config.database_url();
    let store = mlplane_store::open(&db_url).await?;
    let artifacts = ArtifactStore::from_uri(&config.artifacts_uri())?;
    let swept = artifacts.sweep_incomplete().await?;
    if swept > 0 {
        tracing::info!(count = swept, "removed leftovers of interrupted uploads");
    }
    tracing::info!(
        store = %mlplane_store::redact(&db_url),
        artifacts = %artifacts.describe(),
        "stores ready"
    );
    let parts = PartStaging::new(&config.data_dir.join("mpu-staging"));
    let stale = parts
        .sweep_older_than(std::time::Duration::from_secs(
            mlplane_core::limits::STALE_UPLOAD_SECS,
        ))
        .await?;
    if stale > 0 {
        tracing::info!(count = stale, "removed stale multipart uploads");
    }
    let key = Arc::new(config.secrets_key.load(&config.data_dir)?);
    let mut state = AppState::new(Arc::clone(&store), artifacts, config.limits)
        .with_part_staging(parts)
        .with_secrets_key(key);
    state.local_slots = config.job_slots;
    let mut auth_config = auth::AuthConfig::new(config.auth);
    // Session cookies are marked `Secure` when the server itself serves HTTPS.
    auth_config.secure_cookies = config.tls.is_some();
    let state = state.with_auth(auth_config);
    match config.auth {
        auth::AuthMode::None => tracing::warn!(
            "authentication is off (--auth none): anyone who can reach {} acts with every permission",
            config.host
        ),
        auth::AuthMode::On => {
            let made = auth::bootstrap_admin(&state, config.admin_password.clone())
                .await
                .map_err(|e| {
                    ServerError::Refused(format!("cannot create the administrator: {}", e.message))
                })?;
            if let Some(token) = made {
                // Shown once, on stderr (stdout carries only the listening line).
                eprintln!(
                    "mlplane: created the administrator 'admin'{}; its bootstrap API token \
                     (shown once, store it now):\n{token}",
                    if config.admin_password.is_some() {
                        " with the password from MLPLANE_ADMIN_PASSWORD"
                    } else {
                        ""
                    }
                );
            }
            tracing::info!("authentication is on");
        }
    }
    let acceptor = match &config.tls {
        Some((cert, key)) => Some(tls::acceptor(cert, key)?),
        None => None,
    };
    let addr = format!("{}:{}", config.host, config.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: addr.clone(),
            source,
        })?;
    let local = listener.local_addr().map_err(ServerError::Serve)?;
    on_ready(local);
    // One shutdown signal for the HTTP server and the executor.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let executor = (config.job_slots > 0).then(|| {
        let exec = mlplane_executor::Executor::new(executor_config(
            &config,
            &store,
            &state.artifacts,
            local,
            state.wake.clone(),
            Arc::clone(&state.secrets_key),
        ));
        tokio::spawn(exec.run(stopped(stop_rx.clone())))
    });
    let audit = state.audit.clone();
    let shutdown = async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    };
    let served = match acceptor {
        None => {
            axum::serve(
                listener,
                app(state).into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown)
            .await
        }
        Some(acceptor) => {
            use axum::serve::ListenerExt;
            let tls = tls::TlsListener::new(listener, acceptor).map_err(ServerError::Serve)?;
            // `tap_io` gives the listener axum's `ConnectInfo<SocketAddr>` support.
            axum::serve(
                tls.tap_io(|_| {}),
                app(state).into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown)
            .await
        }
    };
    if let Some(task) = executor {
        tracing::info!("stopping the job executor");
        match task.await {
            Ok(Err(e)) => tracing::error!(error = %e, "job executor failed"),
            Err(e) => tracing::error!(error = %e, "job executor panicked"),
            Ok(Ok(())) => {}
        }
    }
    audit.close().await;
    tracing::info!("draining done, closing the store");
    store.close().await;
    served.map_err(ServerError::Serve)
}

/// The built-in executor: jobs of compute `local`, run under `<data_dir>/jobs`, with
/// environments cached under `<data_dir>/envs`, logging back to this server.
fn executor_config(
    config: &ServerConfig,
    store: &Arc<dyn mlplane_store::MetadataStore>,
    artifacts: &ArtifactStore,
    local: SocketAddr,
    wake: mlplane_executor::Wake,
    secrets_key: Arc<mlplane_secrets::MasterKey>,
) -> mlplane_executor::ExecutorConfig {
    // A server bound to every interface is still reached locally through loopback.
    let host = if local.ip().is_unspecified() {
        std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), local.port())
    } else {
        local
    };
    mlplane_executor::ExecutorConfig {
        store: Arc::clone(store),
        artifacts: artifacts.clone(),
        compute: "local".into(),
        worker: format!("local-{}", std::process::id()),
        work_root: config.data_dir.join("jobs"),
        env_cache: config.data_dir.join("envs"),
        slots: config.job_slots,
        tracking_uri: Some(format!(
            "{}://{host}",
            if config.tls.is_some() {
                "https"
            } else {
                "http"
            }
        )),
        // Submits and cancels through this server wake the executor at once; the poll only
        // finds jobs and cancels stored by another server sharing the database.
        poll: config.job_poll,
        wake,
        job_tokens: config.auth == auth::AuthMode::On,
        secrets_key: Some(secrets_key),
        // Absolute: jobs run in their own folders.
        ca_cert: config
            .tls
            .as_ref()
            .and(config.tls_ca.as_ref())
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
