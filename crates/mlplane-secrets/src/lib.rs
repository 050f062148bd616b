//! Encryption of workspace secrets: XChaCha20-Poly1305 under a 32-byte master key.
//!
//! A [`MasterKey`] comes from a file (`--secrets-key-file`), from base64 text in an env var
//! (`MLPLANE_SECRETS_KEY`), or is generated once into `<data_dir>/secrets.key` (mode 0600)
//! by [`MasterKey::load_or_create`]. Its id is the first 8 bytes of sha256 over a label and
//! the key, in hex, so a stored ciphertext names the key it needs without revealing it.
//!
//! Each value is sealed with a fresh random 24-byte nonce, and the associated data binds
//! the workspace and the secret's name: a ciphertext copied to another row (another name or
//! workspace) fails authentication instead of decrypting.
//!
//! Invariants:
//! - no HTTP, no SQL: this crate turns plaintext into [`SealedSecret`]s and back;
//! - plaintext and key bytes live in zeroizing buffers ([`SecretValue`], [`MasterKey`]) and
//!   neither type prints its content through `Debug` or `Display`;
//! - errors never carry plaintext or key bytes.

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use mlplane_core::WorkspaceName;
use mlplane_core::secrets::{SealedSecret, SecretName};
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Length of a master key in bytes.
pub const KEY_LEN: usize = 32;
/// Length of an XChaCha20 nonce in bytes.
pub const NONCE_LEN: usize = 24;

/// What went wrong with a key or a ciphertext.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The key file could not be read or written.
    #[error("secrets key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The key material is not 32 bytes (raw, or base64 of 32 bytes).
    #[error("{origin}: {why}")]
    BadKey { origin: String, why: String },
    /// The value was sealed under another master key.
    #[error("secret is encrypted under key {stored}, but the server has key {current}")]
    WrongKey { stored: String, current: String },
    /// Authentication failed: the ciphertext was changed or moved to another row.
    #[error("secret '{name}' cannot be decrypted: ciphertext altered or moved")]
    Tampered { name: String },
    /// Decryption succeeded but the value is not UTF-8 text.
    #[error("secret '{name}' is not UTF-8 text")]
    NotText { name: String },
}

pub type Result<T, E = SecretsError> = std::result::Result<T, E>;

/// A secret's plaintext: zeroed when dropped, never printed.
#[derive(Clone)]
pub struct SecretValue(Zeroizing<String>);

impl SecretValue {
    pub fn new(value: String) -> Self {
        SecretValue(Zeroizing::new(value))
    }

    /// The plaintext, for the few places that must hand it on (a job's environment).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(***)")
    }
}

/// The 32-byte key every secret is encrypted under.
pub struct MasterKey {
    key: Zeroizing<[u8; KEY_LEN]>,
    id: String,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    /// A key from its 32 raw bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let key = Zeroizing::new(bytes);
        let mut h = Sha256::new();
        h.update(b"mlplane-secrets-key-id\0");
        h.update(key.as_slice());
        let id = hex::encode(&h.finalize()[..8]);
        MasterKey { key, id }
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rand::rng().fill_bytes(bytes.as_mut_slice());
        Self::from_bytes(*bytes)
    }

    /// A key from base64 text (standard alphabet, padding optional, surrounding whitespace
    /// ignored); `origin` names where it came from in errors.
    pub fn from_base64(text: &str, origin: &str) -> Result<Self> {
        let text = text.trim();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
            .map_err(|_| SecretsError::BadKey {
                origin: origin.to_string(),
                why: "not base64 text".into(),
            })?;
        let decoded = Zeroizing::new(decoded);
        let bytes: [u8; KEY_LEN] =
            decoded
                .as_slice()
                .try_into()
                .map_err(|_| SecretsError::BadKey {
                    origin: origin.to_string(),
                    why: format!(
                        "must be {KEY_LEN} bytes, base64-encoded (got {} bytes)",
                        decoded.len()
                    ),
                })?;
        Ok(Self::from_bytes(bytes))
    }

    /// Reads a key file: base64 text of 32 bytes, or exactly 32 raw bytes.
    pub fn load_file(path: &Path) -> Result<Self> {
        let data = Zeroizing::new(std::fs::read(path).map_err(|source| SecretsError::KeyFile {
            path: path.to_path_buf(),
            source,
        })?);
        if let Ok(raw) = <[u8; KEY_LEN]>::try_from(data.as_slice())
            && std::str::from_utf8(&raw).is_err()
        {
            return Ok(Self::from_bytes(raw));
        }
        let text = std::str::from_utf8(&data).map_err(|_| SecretsError::BadKey {
            origin: path.display().to_string(),
            why: format!("must hold {KEY_LEN} raw bytes or their base64 text"),
        })?;
        Self::from_base64(text, &path.display().to_string())
    }

    /// Reads the key file at `path`, or creates it (mode 0600, base64 text) with a fresh key
    /// when it does not exist; the flag tells whether it was created.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool)> {
        if path.exists() {
            return Ok((Self::load_file(path)?, false));
        }
        let key = Self::generate();
        let text = Zeroizing::new(format!(
            "{}\n",
            base64::engine::general_purpose::STANDARD.encode(key.key.as_slice())
        ));
        let err = |source| SecretsError::KeyFile {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        use std::io::Write as _;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(err)?;
        f.write_all(text.as_bytes()).map_err(err)?;
        f.sync_all().map_err(err)?;
        Ok((key, true))
    }

    /// The key's public id, stored next to every ciphertext.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key as base64 text, for writing a key file.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.key.as_slice()))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.key.as_slice().into())
    }

    /// Encrypts `value` as the secret `name` of `ws`.
    pub fn seal(&self, ws: &WorkspaceName, name: &SecretName, value: &SecretValue) -> SealedSecret {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = associated_data(ws, name);
        let ciphertext = self
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: value.expose().as_bytes(),
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail for inputs below 256 GiB");
        SealedSecret {
            key_id: self.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    /// Decrypts the secret `name` of `ws`; fails if it was sealed under another key, for
    /// another row, or altered.
    pub fn open(
        &self,
        ws: &WorkspaceName,
        name: &SecretName,
        sealed: &SealedSecret,
    ) -> Result<SecretValue> {
        if sealed.key_id != self.id {
            return Err(SecretsError::WrongKey {
                stored: sealed.key_id.clone(),
                current: self.id.clone(),
            });
        }
        let tampered = || SecretsError::Tampered {
            name: name.to_string(),
        };
        if sealed.nonce.len() != NONCE_LEN {
            return Err(tampered());
        }
        let aad = associated_data(ws, name);
        let plain = Zeroizing::new(
            self.cipher()
                .decrypt(
                    XNonce::from_slice(&sealed.nonce),
                    Payload {
                        msg: &sealed.ciphertext,
                        aad: &aad,
                    },
                )
                .map_err(|_| tampered())?,
        );
        let text = std::str::from_utf8(&plain).map_err(|_| SecretsError::NotText {
            name: name.to_string(),
        })?;
        Ok(SecretValue::new(text.to_string()))
    }
}

/// Binds a ciphertext to its row: a label, the workspace and the name, NUL-separated (none
/// of them can hold a NUL).
fn associated_data(ws: &WorkspaceName, name: &SecretName) -> Vec<u8> {
    let mut aad = Vec::with_capacity(32 + ws.as_str().len() + name.as_str().len());
    aad.extend_from_slice(b"mlplane-secret-v1\0");
    aad.extend_from_slice(ws.as_str().as_bytes());
    aad.push(0);
    aad.extend_from_slice(name.as_str().as_bytes());
    aad
}

/// Replaces every occurrence of each value in `text` by `***`; values shorter than 4 bytes
/// are left alone (they would mask ordinary text and hide nothing worth hiding).
pub fn redact(text: &str, values: &[SecretValue]) -> String {
    let mut out = text.to_string();
    let mut sorted: Vec<&str> = values
        .iter()
        .map(SecretValue::expose)
        .filter(|v| v.len() >= 4)
        .collect();
    // Longer first, so a value containing another is masked whole.
    sorted.sort_by_key(|v| std::cmp::Reverse(v.len()));
    for v in sorted {
        if out.contains(v) {
            out = out.replace(v, "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(s: &str) -> WorkspaceName {
        WorkspaceName::parse(s).unwrap()
    }
    fn name(s: &str) -> SecretName {
        SecretName::parse(s).unwrap()
    }

    #[test]
    fn sealed_value_opens_only_for_its_row_and_key() {
        let key = MasterKey::generate();
        let v = SecretValue::new("hunter2-planted".into());
        let sealed = key.seal(&ws("default"), &name("db"), &v);
        assert_eq!(sealed.nonce.len(), NONCE_LEN);
        assert!(
            !sealed
                .ciphertext
                .windows(v.expose().len())
                .any(|w| w == v.expose().as_bytes())
        );
        let back = key.open(&ws("default"), &name("db"), &sealed).unwrap();
        assert_eq!(back.expose(), "hunter2-planted");
        // Moved to another name or workspace: refused.
        assert!(matches!(
            key.open(&ws("default"), &name("db2"), &sealed),
            Err(SecretsError::Tampered { .. })
        ));
        assert!(matches!(
            key.open(&ws("other"), &name("db"), &sealed),
            Err(SecretsError::Tampered { .. })
        ));
        // Another key.
        let other = MasterKey::generate();
        assert!(matches!(
            other.open(&ws("default"), &name("db"), &sealed),
            Err(SecretsError::WrongKey { .. })
        ));
        // A flipped bit.
        let mut bad = sealed.clone();
        bad.ciphertext[0] ^= 1;
        assert!(matches!(
            key.open(&ws("default"), &name("db"), &bad),
            Err(SecretsError::Tampered { .. })
        ));
        // Two seals of one value differ (fresh nonces).
        let again = key.seal(&ws("default"), &name("db"), &v);
        assert_ne!(again.nonce, sealed.nonce);
        assert_ne!(again.ciphertext, sealed.ciphertext);
    }

    #[test]
    fn debug_never_prints_plaintext_or_key() {
        let key = MasterKey::generate();
        let v = SecretValue::new("plaintext-xyz".into());
        assert!(!format!("{v:?}").contains("plaintext"));
        let shown = format!("{key:?}");
        assert!(shown.contains(key.id()));
        assert!(!shown.contains(key.to_base64().as_str()));
    }

    #[test]
    fn key_files_are_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/secrets.key");
        let (k1, created) = MasterKey::load_or_create(&path).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (k2, created) = MasterKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(k1.id(), k2.id());
        let raw = dir.path().join("raw.key");
        std::fs::write(&raw, [0xffu8; 32]).unwrap();
        assert_eq!(
            MasterKey::load_file(&raw).unwrap().id(),
            MasterKey::from_bytes([0xff; 32]).id()
        );
        std::fs::write(&raw, "c2hvcnQ=").unwrap();
        let e = MasterKey::load_file(&raw).unwrap_err().to_string();
        assert!(e.contains("32 bytes"), "{e}");
    }

    #[test]
    fn redact_masks_every_occurrence() {
        let vals = [
            SecretValue::new("s3cr3t-value".into()),
            SecretValue::new("ab".into()),
        ];
        assert_eq!(
            redact("x s3cr3t-value y s3cr3t-value ab", &vals),
            "x *** y *** ab"
        );
    }
}
