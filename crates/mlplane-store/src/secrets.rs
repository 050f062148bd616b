//! The [`SecretStore`] trait: named secrets of a workspace, kept sealed (encrypted by
//! `mlplane-secrets` before they get here), with who created and last changed them.
//!
//! Invariants:
//! - the store never sees plaintext: it keeps a key id, a nonce and a ciphertext per
//!   `(workspace, name)`;
//! - metadata reads ([`SecretStore::get_secret`], [`SecretStore::list_secrets`]) never
//!   return the ciphertext; only [`SecretStore::sealed_secret`] (the executor) and the
//!   rotation calls do;
//! - [`SecretStore::rewrap_secrets`] changes every listed row or none, and only rows that
//!   still hold the nonce they were read with.

use crate::Result;
use async_trait::async_trait;
use mlplane_core::WorkspaceName;
use mlplane_core::secrets::{Rewrapped, SealedSecret, SecretMeta, SecretName};

/// Encrypted secrets per workspace.
#[async_trait]
pub trait SecretStore: Send + Sync + 'static {
    /// Creates the secret or replaces its value; `actor` is the display name of who did it.
    /// Returns the metadata and whether the secret was created. A workspace holds at most
    /// [`mlplane_core::secrets::MAX_SECRETS_PER_WORKSPACE`] secrets (`InvalidState`).
    async fn put_secret(
        &self,
        ws: &WorkspaceName,
        name: &SecretName,
        sealed: SealedSecret,
        actor: &str,
    ) -> Result<(SecretMeta, bool)>;
    /// Metadata of one secret.
    async fn get_secret(&self, ws: &WorkspaceName, name: &SecretName) -> Result<SecretMeta>;
    /// Metadata of every secret of the workspace, by name.
    async fn list_secrets(&self, ws: &WorkspaceName) -> Result<Vec<SecretMeta>>;
    /// Removes a secret; a missing one is `NotFound`.
    async fn delete_secret(&self, ws: &WorkspaceName, name: &SecretName) -> Result<()>;
    /// The sealed value, for a job that references the secret.
    async fn sealed_secret(&self, ws: &WorkspaceName, name: &SecretName) -> Result<SealedSecret>;
    /// Every sealed secret of every workspace, for key rotation.
    async fn all_sealed_secrets(&self) -> Result<Vec<(WorkspaceName, SecretName, SealedSecret)>>;
    /// Replaces the sealed values of the listed secrets in one transaction; if any row is
    /// gone or no longer holds `old_nonce`, nothing changes (`InvalidState`). Returns the
    /// count replaced.
    async fn rewrap_secrets(&self, rows: Vec<Rewrapped>) -> Result<usize>;
}

pub(crate) fn too_many() -> crate::StoreError {
    crate::StoreError::InvalidState(format!(
        "a workspace holds at most {} secrets",
        mlplane_core::secrets::MAX_SECRETS_PER_WORKSPACE
    ))
}

pub(crate) fn changed_meanwhile(ws: &WorkspaceName, name: &SecretName) -> crate::StoreError {
    crate::StoreError::InvalidState(format!(
        "secret '{name}' of workspace '{ws}' changed or was deleted during the rotation; nothing was rotated, run it again"
    ))
}
