//! Opaque, tamper-evident page tokens.
//!
//! A token is `base64url(version | scope | position | mac)`, where the MAC is a truncated
//! HMAC-SHA256 under a server secret. The scope names the listing it belongs to (for
//! example `runs:default:exp=3`), so a token from one listing is refused by another.
//!
//! Invariants:
//! - [`TokenCodec::decode`] accepts only tokens this server's key produced for the same scope;
//! - decoding never panics, whatever the input.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const VERSION: u8 = 1;
const MAC_LEN: usize = 16;
const MAX_TOKEN_LEN: usize = 4096;

/// One value of a cursor position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorValue {
    Int(i64),
    Str(String),
}

/// Where a listing stopped: the scope of the listing and the sort key of the last item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub scope: String,
    pub position: Vec<CursorValue>,
}

/// Why a page token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("page token is not valid base64url")]
    Encoding,
    #[error("page token is malformed")]
    Malformed,
    #[error("page token was altered or was not issued by this server")]
    BadSignature,
    #[error("page token belongs to a different listing")]
    WrongScope,
}

/// Signs and checks page tokens with a server-wide secret.
#[derive(Clone)]
pub struct TokenCodec {
    key: Vec<u8>,
}

impl std::fmt::Debug for TokenCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCodec(..)")
    }
}

impl TokenCodec {
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    fn mac(&self, body: &[u8]) -> [u8; MAC_LEN] {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("invariant: HMAC accepts keys of any length");
        m.update(body);
        let full = m.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }

    pub fn encode(&self, cursor: &Cursor) -> String {
        let mut body = vec![VERSION];
        put_bytes(&mut body, cursor.scope.as_bytes());
        body.push(cursor.position.len().min(255) as u8);
        for v in cursor.position.iter().take(255) {
            match v {
                CursorValue::Int(i) => {
                    body.push(0);
                    body.extend_from_slice(&i.to_be_bytes());
                }
                CursorValue::Str(s) => {
                    body.push(1);
                    put_bytes(&mut body, s.as_bytes());
                }
            }
        }
        let mac = self.mac(&body);
        body.extend_from_slice(&mac);
        URL_SAFE_NO_PAD.encode(body)
    }

    /// Checks a token's signature and scope and returns its position.
    pub fn decode(&self, token: &str, scope: &str) -> Result<Vec<CursorValue>, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(token.as_bytes())
            .map_err(|_| TokenError::Encoding)?;
        if raw.len() < 1 + MAC_LEN {
            return Err(TokenError::Malformed);
        }
        let (body, mac) = raw.split_at(raw.len() - MAC_LEN);
        let expected = self.mac(body);
        // Constant-time comparison of the MAC.
        let diff = expected
            .iter()
            .zip(mac)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 {
            return Err(TokenError::BadSignature);
        }
        let mut r = Reader { buf: body, pos: 0 };
        if r.u8()? != VERSION {
            return Err(TokenError::Malformed);
        }
        let token_scope = r.bytes()?;
        if token_scope != scope.as_bytes() {
            return Err(TokenError::WrongScope);
        }
        let n = r.u8()?;
        let mut out = Vec::with_capacity(n as usize);
        for _ in 0..n {
            match r.u8()? {
                0 => {
                    let b = r.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    out.push(CursorValue::Int(i64::from_be_bytes(a)));
                }
                1 => {
                    let s = std::str::from_utf8(r.bytes()?).map_err(|_| TokenError::Malformed)?;
                    out.push(CursorValue::Str(s.to_string()));
                }
                _ => return Err(TokenError::Malformed),
            }
        }
        if r.pos != body.len() {
            return Err(TokenError::Malformed);
        }
        Ok(out)
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    let len = b.len().min(u16::MAX as usize);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&b[..len]);
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TokenError> {
        let end = self.pos.checked_add(n).ok_or(TokenError::Malformed)?;
        let s = self.buf.get(self.pos..end).ok_or(TokenError::Malformed)?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, TokenError> {
        Ok(self.take(1)?[0])
    }
    fn bytes(&mut self) -> Result<&'a [u8], TokenError> {
        let l = self.take(2)?;
        let n = u16::from_be_bytes([l[0], l[1]]) as usize;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn codec() -> TokenCodec {
        TokenCodec::new(b"test-key")
    }

    #[test]
    fn tokens_round_trip_and_bind_to_their_scope() {
        let c = Cursor {
            scope: "runs:default".into(),
            position: vec![CursorValue::Int(-3), CursorValue::Str("héllo".into())],
        };
        let t = codec().encode(&c);
        assert_eq!(codec().decode(&t, "runs:default").unwrap(), c.position);
        assert_eq!(
            codec().decode(&t, "runs:other"),
            Err(TokenError::WrongScope)
        );
        assert_eq!(
            TokenCodec::new(b"other").decode(&t, "runs:default"),
            Err(TokenError::BadSignature)
        );
    }

    proptest! {
        #[test]
        fn tampered_tokens_are_refused(flip in 0usize..64, bit in 0u8..8, s in "\\PC{0,200}") {
            let c = Cursor { scope: "s".into(), position: vec![CursorValue::Int(42)] };
            let t = codec().encode(&c);
            let mut raw = URL_SAFE_NO_PAD.decode(&t).unwrap();
            let i = flip % raw.len();
            raw[i] ^= 1 << bit;
            let bad = URL_SAFE_NO_PAD.encode(raw);
            prop_assert!(codec().decode(&bad, "s").is_err());
            // Arbitrary strings never panic and are never accepted.
            prop_assert!(codec().decode(&s, "s").is_err());
        }
    }
}
