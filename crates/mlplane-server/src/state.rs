//! Shared state handed to every handler.

use crate::http_metrics::HttpMetrics;
use mlplane_artifacts::{ArtifactStore, PartStaging};
use mlplane_store::MetadataStore;
use std::sync::Arc;

/// Limits the edge enforces on requests.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest JSON request body, in bytes.
    pub max_request_bytes: usize,
    /// Largest single artifact upload, in bytes.
    pub max_artifact_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_bytes: 4 << 20,
            max_artifact_bytes: 64 << 30,
        }
    }
}

/// Everything a handler may use; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn MetadataStore>,
    pub artifacts: ArtifactStore,
    pub metrics: Arc<HttpMetrics>,
    pub limits: Limits,
    /// Where parts of multipart uploads wait for `mpu/complete`.
    pub parts: PartStaging,
    /// Wakes the built-in executor when a job is submitted or a cancel stored.
    pub wake: mlplane_executor::Wake,
    /// Slots of the built-in `local` compute target (`--job-slots`), for its view.
    pub local_slots: usize,
    /// Striped locks over asset versions: file uploads hold one shared, completion holds it
    /// exclusively, so no upload in this process writes bytes after its version completed.
    pub asset_locks: Arc<[tokio::sync::RwLock<()>; 64]>,
    /// `--auth`, sign-in limits and the auth layer's caches.
    pub auth: Arc<crate::auth::AuthConfig>,
    /// Seals workspace secrets; [`AppState::new`] makes a random one, which the server
    /// replaces with its configured key.
    pub secrets_key: Arc<mlplane_secrets::MasterKey>,
    /// Queues audit records for the background writer.
    pub audit: crate::audit::AuditSink,
}

impl AppState {
    /// The lock stripe of one asset version.
    pub fn asset_lock(&self, key: &str) -> &tokio::sync::RwLock<()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        &self.asset_locks[(h.finish() % 64) as usize]
    }
}

impl AppState {
    /// Starts the audit writer, so it must run inside a Tokio runtime.
    pub fn new(store: Arc<dyn MetadataStore>, artifacts: ArtifactStore, limits: Limits) -> Self {
        Self {
            audit: crate::audit::AuditSink::start(Arc::clone(&store)),
            store,
            artifacts,
            metrics: Arc::new(HttpMetrics::default()),
            limits,
            parts: PartStaging::new(&std::env::temp_dir().join("mlplane-mpu-staging")),
            wake: mlplane_executor::Wake::default(),
            local_slots: 0,
            asset_locks: Arc::new(std::array::from_fn(|_| tokio::sync::RwLock::new(()))),
            auth: Arc::new(crate::auth::AuthConfig::new(crate::auth::AuthMode::None)),
            secrets_key: Arc::new(mlplane_secrets::MasterKey::generate()),
        }
    }

    /// Serves with `auth` (`AppState::new` starts with `--auth none`).
    pub fn with_auth(mut self, auth: crate::auth::AuthConfig) -> Self {
        self.auth = Arc::new(auth);
        self
    }

    /// Seals and opens secrets with `key`.
    pub fn with_secrets_key(mut self, key: Arc<mlplane_secrets::MasterKey>) -> Self {
        self.secrets_key = key;
        self
    }

    /// Stages multipart uploads in `parts` (the server uses `<data_dir>/mpu-staging`).
    pub fn with_part_staging(mut self, parts: PartStaging) -> Self {
        self.parts = parts;
        self
    }
}
