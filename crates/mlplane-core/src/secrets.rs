//! Named secrets of a workspace, as the rest of mlplane sees them: a checked [`SecretName`],
//! the metadata any caller may read ([`SecretMeta`]) and the sealed (encrypted) form the
//! store keeps ([`SealedSecret`]). Encryption itself lives in `mlplane-secrets`.
//!
//! A job names a secret in its environment variables as a whole-value reference,
//! `${{secrets.<name>}}` ([`secret_reference`]); the value is put into the job's process
//! environment only, never into its stored spec.
//!
//! Invariants:
//! - no type here holds a plaintext value: only names, metadata and ciphertext;
//! - a [`SecretName`] is 1 to [`MAX_SECRET_NAME_LEN`] characters of `a-z`, `A-Z`, `0-9`
//!   and `_`, not starting with a digit, so it is safe in paths, SQL text and references.

use crate::{Invalid, TimestampMs};
use std::fmt;

/// Longest secret name.
pub const MAX_SECRET_NAME_LEN: usize = 128;
/// Largest secret value, in bytes.
pub const MAX_SECRET_VALUE_BYTES: usize = 64 * 1024;
/// Most secrets in one workspace.
pub const MAX_SECRETS_PER_WORKSPACE: usize = 1000;

/// The name of a secret, unique within its workspace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretName(String);

impl SecretName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let ok = !s.is_empty()
            && s.len() <= MAX_SECRET_NAME_LEN
            && !s.as_bytes()[0].is_ascii_digit()
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(Invalid::one(
                "name",
                format!(
                    "must be 1-{MAX_SECRET_NAME_LEN} characters of a-z, A-Z, 0-9 and '_', not starting with a digit"
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What anyone allowed to list secrets may see: never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMeta {
    pub name: SecretName,
    pub created_ms: TimestampMs,
    pub updated_ms: TimestampMs,
    /// Display name of the principal that created the secret.
    pub created_by: String,
    /// Display name of the principal that last set its value.
    pub updated_by: String,
    /// Id of the master key the value is encrypted under.
    pub key_id: String,
}

/// A value encrypted by `mlplane-secrets`: the key's id, the random nonce and the
/// ciphertext with its authentication tag.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSecret")
            .field("key_id", &self.key_id)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

/// One stored secret re-encrypted under another key, for key rotation: applied only if the
/// row still holds `old_nonce` (nothing changed it since it was read).
#[derive(Debug, Clone)]
pub struct Rewrapped {
    pub workspace: crate::WorkspaceName,
    pub name: SecretName,
    pub old_nonce: Vec<u8>,
    pub sealed: SealedSecret,
}

/// The secret a job's environment variable value refers to: `Some(Ok(name))` for a
/// whole-value `${{secrets.<name>}}`, `Some(Err(message))` for a value that mentions
/// `${{secrets.` any other way (part of a longer text, or a bad name), `None` for a plain
/// value.
pub fn secret_reference(value: &str) -> Option<Result<SecretName, String>> {
    if !value.contains("${{secrets.") && !value.contains("${{ secrets.") {
        return None;
    }
    let inner = value
        .strip_prefix("${{")
        .and_then(|v| v.strip_suffix("}}"))
        .map(str::trim)
        .and_then(|v| v.strip_prefix("secrets."));
    match inner {
        Some(name) if !name.contains("${{") && !name.contains("}}") => {
            Some(SecretName::parse(name).map_err(|_| {
                format!(
                    "'{name}' is not a valid secret name (1-{MAX_SECRET_NAME_LEN} characters of a-z, A-Z, 0-9 and '_')"
                )
            }))
        }
        _ => Some(Err(
            "a secret must be the whole value, as \"${{secrets.<name>}}\"".to_string()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for ok in ["db_password", "A", "_x1", &"a".repeat(128)] {
            assert!(SecretName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1abc", "a-b", "a b", "a/b", "..", &"a".repeat(129)] {
            assert!(SecretName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn references_must_be_whole_values() {
        assert_eq!(secret_reference("plain"), None);
        assert_eq!(secret_reference("${{inputs.x}}"), None);
        assert_eq!(
            secret_reference("${{secrets.db_password}}").map(|r| r.map(|n| n.0)),
            Some(Ok("db_password".to_string()))
        );
        assert_eq!(
            secret_reference("${{ secrets.k }}").map(|r| r.map(|n| n.0)),
            Some(Ok("k".to_string()))
        );
        assert!(matches!(
            secret_reference("pre-${{secrets.x}}"),
            Some(Err(_))
        ));
        assert!(matches!(
            secret_reference("${{secrets.x}}${{secrets.y}}"),
            Some(Err(_))
        ));
        assert!(matches!(secret_reference("${{secrets.a-b}}"), Some(Err(_))));
    }
}
