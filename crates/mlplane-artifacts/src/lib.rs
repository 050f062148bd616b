//! mlplane-artifacts: stores the bytes of run artifacts on a local disk or in S3.
//!
//! [`ArtifactStore`] moves bytes only; sizes and hashes are recorded by the metadata store,
//! from the [`StoredObject`] that [`ArtifactStore::put_stream`] returns.
//! Objects live at `{workspace}/{experiment_id}/{run_id}/artifacts/{path}` for runs and at
//! `{workspace}/{experiment_id}/models/{model_id}/artifacts/{path}` for MLflow 3 logged models
//! (see [`ArtifactKey::object_key`]) under the store's root directory or bucket prefix; a run
//! id is 32 hex characters, so it never equals `models`.
//! Code snapshots are per workspace, at `{workspace}/snapshots/{sha256}/{path}` (see
//! [`ArtifactKey::snapshot`]); experiment ids are numbers, so they never equal `snapshots`.
//! Files of data and model versions are at `{workspace}/assets/{kind}/{name}/{version}/{path}`
//! (see [`ArtifactKey::asset`]); an experiment id never equals `assets` either.
//!
//! Invariants:
//! - an object is visible at its key only once it is complete: a failed, oversized or
//!   abandoned upload never leaves a partial object behind (local: staging file + rename;
//!   S3: single `PUT` or a multipart upload that is aborted on failure);
//! - uploads and downloads stream with bounded buffers; no body is ever held whole in memory;
//! - a local store never follows a symbolic link found below its root (`UnsafePath`);
//! - keys are built only from checked core types, so no key escapes its owner's `artifacts/`
//!   directory, and none can collide with the local `.staging` directory;
//! - `describe()`, `Debug` and errors never contain credentials.

mod error;
mod intake;
mod local;
#[cfg(test)]
mod memory_tests;
mod parts;
mod s3;

pub use error::{ArtifactError, Result};
pub use parts::{PartStaging, StagedPart};
pub use s3::S3Config;

use bytes::Bytes;
use futures::Stream;
use futures::stream::BoxStream;
use mlplane_core::assets::{check_asset_name, check_asset_version};
use mlplane_core::{
    ArtifactPath, AssetKind, ExperimentId, Invalid, LoggedModelId, RunId, SnapshotId, WorkspaceName,
};
use std::fmt::{self, Display};
use std::path::Path;
use std::sync::Arc;

/// What an artifact belongs to: a run, an MLflow 3 logged model, a code snapshot, or a data
/// or model version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ArtifactOwner {
    Run(RunId),
    Model(LoggedModelId),
    /// A job's code snapshot, content-addressed, shared by a workspace's jobs; the key's
    /// experiment id is not part of its object key.
    Snapshot(SnapshotId),
    Asset(AssetVersionKey),
}

/// One version of a data or model asset, with a checked name and version (letters, digits,
/// `_`, `-`, `.`, starting with a letter or digit), so it is safe as key components.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AssetVersionKey {
    kind: AssetKind,
    name: String,
    version: String,
}

impl AssetVersionKey {
    pub fn new(kind: AssetKind, name: &str, version: &str) -> std::result::Result<Self, Invalid> {
        check_asset_name(name)?;
        check_asset_version(version)?;
        Ok(Self {
            kind,
            name: name.to_string(),
            version: version.to_string(),
        })
    }

    pub fn kind(&self) -> AssetKind {
        self.kind
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> &str {
        &self.version
    }
}

impl ArtifactOwner {
    /// The key components after the workspace and before the file's path.
    fn components(&self, experiment_id: ExperimentId) -> Vec<String> {
        match self {
            ArtifactOwner::Run(id) => vec![
                experiment_id.to_string(),
                id.as_str().to_string(),
                "artifacts".to_string(),
            ],
            ArtifactOwner::Model(id) => vec![
                experiment_id.to_string(),
                "models".to_string(),
                id.as_str().to_string(),
                "artifacts".to_string(),
            ],
            ArtifactOwner::Snapshot(id) => vec!["snapshots".to_string(), id.as_str().to_string()],
            ArtifactOwner::Asset(a) => vec![
                "assets".to_string(),
                a.kind.as_str().to_string(),
                a.name.clone(),
                a.version.clone(),
            ],
        }
    }
}

/// Where one artifact file of one run or logged model lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArtifactKey {
    pub workspace: WorkspaceName,
    pub experiment_id: ExperimentId,
    pub owner: ArtifactOwner,
    /// The file's path inside the owner's artifact tree; must not be the root.
    pub path: ArtifactPath,
}

impl ArtifactKey {
    /// The key of a run's file.
    pub fn run(ws: WorkspaceName, exp: ExperimentId, run: RunId, path: ArtifactPath) -> Self {
        Self {
            workspace: ws,
            experiment_id: exp,
            owner: ArtifactOwner::Run(run),
            path,
        }
    }

    /// The key of a workspace's code snapshot archive, `{workspace}/snapshots/{sha256}/snapshot.tar.gz`.
    pub fn snapshot(ws: WorkspaceName, id: SnapshotId) -> Self {
        Self {
            workspace: ws,
            experiment_id: ExperimentId(0),
            owner: ArtifactOwner::Snapshot(id),
            path: ArtifactPath::parse("snapshot.tar.gz").expect("a constant, valid artifact path"),
        }
    }

    /// The key of a file of a data or model version; `experiment_id` is not part of such
    /// keys and is set to 0.
    pub fn asset(ws: WorkspaceName, asset: AssetVersionKey, path: ArtifactPath) -> Self {
        Self {
            workspace: ws,
            experiment_id: ExperimentId(0),
            owner: ArtifactOwner::Asset(asset),
            path,
        }
    }

    /// The object key relative to the store root:
    /// `{workspace}/{experiment_id}/{run_id}/artifacts/{path}`,
    /// `{workspace}/{experiment_id}/models/{model_id}/artifacts/{path}` or
    /// `{workspace}/snapshots/{sha256}/{path}`,
    /// `{workspace}/assets/{kind}/{name}/{version}/{path}`.
    pub fn object_key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.workspace,
            self.owner.components(self.experiment_id).join("/"),
            self.path
        )
    }

    /// The components of [`Self::object_key`]; fails for the root path, which is a directory.
    fn components(&self) -> Result<Vec<String>> {
        if self.path.is_root() {
            return Err(ArtifactError::UnsafePath {
                reason: "the artifact root is a directory, not a file".into(),
            });
        }
        let mut parts = vec![self.workspace.as_str().to_string()];
        parts.extend(self.owner.components(self.experiment_id));
        parts.extend(self.path.components().map(str::to_string));
        Ok(parts)
    }
}

impl Display for ArtifactKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.object_key())
    }
}

/// What was stored by an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
}

/// Handle to the artifact storage; cheap to clone, shareable between tasks.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    backend: Arc<Backend>,
}

#[derive(Debug)]
enum Backend {
    Local(local::LocalStore),
    S3(s3::S3Store),
}

impl ArtifactStore {
    /// Opens a store from `file:///abs/dir`, a plain filesystem path (relative or
    /// absolute), or `s3://bucket[/prefix]`.
    ///
    /// For S3 the settings come from the environment (see [`S3Config::from_env`]).
    /// Local directories are created if missing.
    pub fn from_uri(uri: &str) -> Result<Self> {
        Self::from_uri_with(uri, S3Config::from_env)
    }

    /// [`Self::from_uri`], taking the S3 settings (only read for `s3://`) from `s3_config`.
    fn from_uri_with(uri: &str, s3_config: impl FnOnce() -> Result<S3Config>) -> Result<Self> {
        let uri = uri.trim();
        if uri.is_empty() {
            return Err(ArtifactError::Config("empty artifact store uri".into()));
        }
        if let Some(rest) = uri.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            return Self::s3(bucket, prefix, s3_config()?);
        }
        if let Some(rest) = uri.strip_prefix("file://") {
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if !path.starts_with('/') {
                return Err(ArtifactError::Config(format!(
                    "file uri must be file:///absolute/path, got {uri:?}"
                )));
            }
            return Self::local(Path::new(path));
        }
        if let Some((scheme, _)) = uri.split_once("://") {
            return Err(ArtifactError::Config(format!(
                "unsupported artifact store scheme {scheme:?} (use file://, s3:// or a path)"
            )));
        }
        Self::local(Path::new(uri))
    }

    /// Opens a store in a local directory, creating it if missing.
    pub fn local(dir: &Path) -> Result<Self> {
        Ok(Self::from_backend(Backend::Local(local::LocalStore::open(
            dir,
        )?)))
    }

    /// Opens a store in an S3 bucket under `prefix` (may be empty), with explicit settings.
    pub fn s3(bucket: &str, prefix: &str, cfg: S3Config) -> Result<Self> {
        Ok(Self::from_backend(Backend::S3(s3::S3Store::new(
            bucket, prefix, cfg,
        )?)))
    }

    fn from_backend(backend: Backend) -> Self {
        Self {
            backend: Arc::new(backend),
        }
    }

    /// A human-readable location without secrets: `local:/data/artifacts` or
    /// `s3://bucket/prefix`.
    pub fn describe(&self) -> String {
        match &*self.backend {
            Backend::Local(l) => format!("local:{}", l.root().display()),
            Backend::S3(s) => s.describe(),
        }
    }

    /// Streams `body` into the store at `key`, hashing and counting on the fly.
    ///
    /// The object becomes visible only when complete; on any error (including
    /// [`ArtifactError::TooLarge`] past `max_bytes`) nothing is left at the key.
    /// An existing object at the key is replaced atomically.
    pub async fn put_stream<S, E>(
        &self,
        key: &ArtifactKey,
        body: S,
        max_bytes: u64,
    ) -> Result<StoredObject>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + Unpin,
        E: Display,
    {
        match &*self.backend {
            Backend::Local(l) => l.put_stream(key, body, max_bytes).await,
            Backend::S3(s) => s.put_stream(key, body, max_bytes).await,
        }
    }

    /// Streams an object out: its size and its bytes in chunks.
    pub async fn get_stream(
        &self,
        key: &ArtifactKey,
    ) -> Result<(u64, BoxStream<'static, Result<Bytes>>)> {
        match &*self.backend {
            Backend::Local(l) => l.get_stream(key).await,
            Backend::S3(s) => s.get_stream(key).await,
        }
    }

    /// Deletes the object at `key`; deleting a missing object succeeds.
    pub async fn delete(&self, key: &ArtifactKey) -> Result<()> {
        match &*self.backend {
            Backend::Local(l) => l.delete(key).await,
            Backend::S3(s) => s.delete(key).await,
        }
    }

    /// Readiness check: the local root is writable, or the bucket answers a list call.
    pub async fn check(&self) -> Result<()> {
        match &*self.backend {
            Backend::Local(l) => l.check().await,
            Backend::S3(s) => s.check().await,
        }
    }

    /// Removes leftovers of interrupted uploads (local staging files) and returns how many
    /// were removed. Uploads in progress in this process are kept. No-op for S3.
    pub async fn sweep_incomplete(&self) -> Result<u64> {
        match &*self.backend {
            Backend::Local(l) => l.sweep_incomplete().await,
            Backend::S3(_) => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg() -> Result<S3Config> {
        Ok(S3Config {
            endpoint: Some("http://127.0.0.1:1".into()),
            access_key_id: "AKIA".into(),
            secret_access_key: "SECRET".into(),
            region: "us-east-1".into(),
        })
    }

    #[test]
    fn model_keys_live_under_models() {
        let id = LoggedModelId::parse("m-0123456789abcdef0123456789abcdef").expect("model id");
        let key = ArtifactKey {
            workspace: WorkspaceName::default_workspace(),
            experiment_id: ExperimentId(3),
            owner: ArtifactOwner::Model(id),
            path: ArtifactPath::parse("MLmodel").expect("path"),
        };
        assert_eq!(
            key.object_key(),
            "default/3/models/m-0123456789abcdef0123456789abcdef/artifacts/MLmodel"
        );
        assert_eq!(key.components().expect("file").len(), 6);
    }

    #[test]
    fn snapshot_keys_live_under_the_workspace() {
        let id = SnapshotId::parse(&"ab".repeat(32)).expect("snapshot id");
        let key = ArtifactKey::snapshot(WorkspaceName::default_workspace(), id);
        assert_eq!(
            key.object_key(),
            format!("default/snapshots/{}/snapshot.tar.gz", "ab".repeat(32))
        );
        assert_eq!(key.components().expect("file").len(), 4);
    }

    #[test]
    fn asset_keys_live_under_assets() {
        let asset = AssetVersionKey::new(AssetKind::Data, "iris", "2").expect("valid");
        let key = ArtifactKey::asset(
            WorkspaceName::default_workspace(),
            asset,
            ArtifactPath::parse("csv/iris.csv").expect("path"),
        );
        assert_eq!(key.object_key(), "default/assets/data/iris/2/csv/iris.csv");
        assert_eq!(key.components().expect("file").join("/"), key.object_key());
        for (name, version) in [("..", "1"), ("a/b", "1"), ("iris", ".."), ("iris", "")] {
            assert!(
                AssetVersionKey::new(AssetKind::Model, name, version).is_err(),
                "{name}:{version} must be refused"
            );
        }
    }

    #[test]
    fn s3_uris_split_bucket_and_prefix() {
        for (uri, described) in [
            ("s3://bucket", "s3://bucket"),
            ("s3://bucket/", "s3://bucket"),
            ("s3://bucket/a/b/", "s3://bucket/a/b"),
        ] {
            let store = ArtifactStore::from_uri_with(uri, cfg).expect("valid s3 uri");
            assert_eq!(store.describe(), described);
            assert!(!store.describe().contains("SECRET"));
        }
        assert!(ArtifactStore::from_uri_with("s3://", cfg).is_err());
    }

    #[test]
    fn s3_settings_come_from_the_documented_variables() {
        let env = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            S3Config::from_lookup(move |k| map.get(k).cloned())
        };
        let full = env(&[
            ("MLPLANE_S3_ENDPOINT", "http://minio:9000"),
            ("AWS_ENDPOINT_URL", "http://other:9000"),
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_SECRET_ACCESS_KEY", "S"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
        ])
        .expect("complete settings");
        assert_eq!(full.endpoint.as_deref(), Some("http://minio:9000"));
        assert_eq!(full.region, "eu-west-1");

        let minimal = env(&[
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_SECRET_ACCESS_KEY", "S"),
        ])
        .expect("credentials are enough");
        assert_eq!(minimal.endpoint, None);
        assert_eq!(minimal.region, "us-east-1");

        let missing = env(&[
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_SECRET_ACCESS_KEY", " "),
        ]);
        match missing {
            Err(ArtifactError::Config(msg)) => assert!(msg.contains("AWS_SECRET_ACCESS_KEY")),
            other => panic!("expected a config error, got {other:?}"),
        }
    }
}
