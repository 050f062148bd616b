//! API tokens and other bearer secrets.
//!
//! An API token reads `mlp_<id>_<secret>`: `id` is 16 lowercase hex characters that name the
//! stored row, `secret` 64 lowercase hex characters (32 random bytes) of which only the
//! sha256 is stored. Session ids and CSRF tokens are bare random secrets ([`random_secret`]),
//! stored the same way.
//!
//! Invariants:
//! - the secret part is compared only as sha256 digests, in constant time ([`digest_eq`]);
//! - [`ApiToken::parse`] accepts exactly the format [`ApiToken::generate`] produces.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "mlp_";
const ID_LEN: usize = 16;
const SECRET_LEN: usize = 64;

/// Why a presented token is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not an mlplane API token")]
    Malformed,
}

/// A parsed (or freshly generated) API token.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// The public id naming the stored row.
    pub id: String,
    secret: String,
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiToken({}, ***)", self.id)
    }
}

impl ApiToken {
    /// A new random token.
    pub fn generate() -> Self {
        let id: [u8; ID_LEN / 2] = rand::random();
        ApiToken {
            id: hex::encode(id),
            secret: random_secret(),
        }
    }

    /// Splits `mlp_<id>_<secret>`, checking lengths and alphabet.
    pub fn parse(s: &str) -> Result<Self, TokenError> {
        let rest = s.strip_prefix(PREFIX).ok_or(TokenError::Malformed)?;
        let (id, secret) = rest.split_once('_').ok_or(TokenError::Malformed)?;
        let hex_ok = |x: &str, n: usize| {
            x.len() == n && x.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        if !hex_ok(id, ID_LEN) || !hex_ok(secret, SECRET_LEN) {
            return Err(TokenError::Malformed);
        }
        Ok(ApiToken {
            id: id.to_owned(),
            secret: secret.to_owned(),
        })
    }

    /// The whole token as the user sees it, once.
    pub fn reveal(&self) -> String {
        format!("{PREFIX}{}_{}", self.id, self.secret)
    }

    /// The sha256 of the secret part, hex, as stored.
    pub fn secret_digest(&self) -> String {
        digest(&self.secret)
    }
}

/// 32 random bytes as 64 hex characters.
pub fn random_secret() -> String {
    let b: [u8; 32] = rand::random();
    hex::encode(b)
}

/// The sha256 of `secret`, hex.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Constant-time equality of two digests (or any two strings of public length).
pub fn digest_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_back_and_keep_their_digest() {
        let t = ApiToken::generate();
        let s = t.reveal();
        assert!(s.starts_with("mlp_"));
        let back = ApiToken::parse(&s).unwrap();
        assert_eq!(back, t);
        assert!(digest_eq(&back.secret_digest(), &t.secret_digest()));
        assert!(!format!("{t:?}").contains(&t.secret));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = ApiToken::generate().reveal();
        for bad in [
            "",
            "mlp_",
            "mlp_abc_def",
            &good[..good.len() - 1],
            &good.replace("mlp_", "xyz_"),
            &good.to_uppercase(),
            &format!("{good}0"),
        ] {
            assert_eq!(ApiToken::parse(bad), Err(TokenError::Malformed), "{bad}");
        }
    }

    #[test]
    fn digest_eq_compares_whole_strings() {
        assert!(digest_eq("abc", "abc"));
        assert!(!digest_eq("abc", "abd"));
        assert!(!digest_eq("abc", "abcd"));
    }
}
