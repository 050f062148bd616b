//! Where the server's secrets master key comes from, and the offline key rotation.
//!
//! Sources, first match wins: `--secrets-key-file F` / `MLPLANE_SECRETS_KEY_FILE` (a file
//! holding 32 raw bytes or their base64), `MLPLANE_SECRETS_KEY` (base64 text), else
//! `<data_dir>/secrets.key`, generated with mode 0600 on first start (the log says so).
//!
//! Rotation ([`rotate`]) runs against the database while no server uses it: every secret
//! sealed under the old key is opened and sealed again under the new one, and all rows are
//! replaced in one transaction.
//!
//! Invariants:
//! - key material is never logged; only key ids are;
//! - a rotation changes every secret or none, and refuses to start if a secret is under a
//!   key that is neither the old nor the new one.

use mlplane_core::secrets::Rewrapped;
use mlplane_secrets::{MasterKey, SecretsError};
use std::path::{Path, PathBuf};

/// Where the master key comes from.
#[derive(Clone, Default)]
pub enum KeySource {
    /// A key file the operator provides.
    File(PathBuf),
    /// Base64 text (from `MLPLANE_SECRETS_KEY`).
    Base64(String),
    /// `<data_dir>/secrets.key`, created on first start.
    #[default]
    DataDir,
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::File(p) => write!(f, "File({})", p.display()),
            KeySource::Base64(_) => f.write_str("Base64(***)"),
            KeySource::DataDir => f.write_str("DataDir"),
        }
    }
}

impl KeySource {
    /// Loads (or, for [`KeySource::DataDir`], creates) the key.
    pub fn load(&self, data_dir: &Path) -> Result<MasterKey, SecretsError> {
        let key = match self {
            KeySource::File(p) => MasterKey::load_file(p)?,
            KeySource::Base64(t) => MasterKey::from_base64(t, "MLPLANE_SECRETS_KEY")?,
            KeySource::DataDir => {
                let path = data_dir.join("secrets.key");
                let (key, created) = MasterKey::load_or_create(&path)?;
                if created {
                    tracing::warn!(
                        path = %path.display(),
                        key_id = key.id(),
                        "generated the secrets master key (mode 0600); back it up: stored secrets cannot be decrypted without it"
                    );
                }
                key
            }
        };
        tracing::info!(key_id = key.id(), "secrets master key loaded");
        Ok(key)
    }
}

/// Why a rotation failed.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error("metadata store: {0}")]
    Store(#[from] mlplane_store::StoreError),
    #[error(
        "secret '{name}' of workspace '{workspace}' is encrypted under key {key_id}, which is neither the old key ({old}) nor the new one ({new}); nothing was rotated"
    )]
    UnknownKey {
        workspace: String,
        name: String,
        key_id: String,
        old: String,
        new: String,
    },
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    /// Secrets sealed again under the new key.
    pub rotated: usize,
    /// Secrets already under the new key (left as they were).
    pub already: usize,
    pub old_key_id: String,
    pub new_key_id: String,
}

/// Opens the store at `db_url` (migrating it like a server start would), rotates every
/// secret from the key in `old_file` to the key in `new_file`, and closes it.
pub async fn rotate_database(
    db_url: &str,
    old_file: &Path,
    new_file: &Path,
) -> Result<Rotated, RotateError> {
    let old = MasterKey::load_file(old_file)?;
    let new = MasterKey::load_file(new_file)?;
    let store = mlplane_store::open(db_url).await?;
    let done = rotate(&*store, &old, &new).await;
    store.close().await;
    done
}

/// Re-encrypts every secret of the store from `old` to `new` in one transaction.
pub async fn rotate(
    store: &dyn mlplane_store::MetadataStore,
    old: &MasterKey,
    new: &MasterKey,
) -> Result<Rotated, RotateError> {
    let all = store.all_sealed_secrets().await?;
    let mut rows = Vec::new();
    let mut already = 0;
    for (ws, name, sealed) in all {
        if sealed.key_id == new.id() {
            already += 1;
            continue;
        }
        if sealed.key_id != old.id() {
            return Err(RotateError::UnknownKey {
                workspace: ws.to_string(),
                name: name.to_string(),
                key_id: sealed.key_id,
                old: old.id().to_string(),
                new: new.id().to_string(),
            });
        }
        let value = old.open(&ws, &name, &sealed)?;
        let resealed = new.seal(&ws, &name, &value);
        rows.push(Rewrapped {
            workspace: ws,
            name,
            old_nonce: sealed.nonce,
            sealed: resealed,
        });
    }
    let rotated = if rows.is_empty() {
        0
    } else {
        store.rewrap_secrets(rows).await?
    };
    Ok(Rotated {
        rotated,
        already,
        old_key_id: old.id().to_string(),
        new_key_id: new.id().to_string(),
    })
}
