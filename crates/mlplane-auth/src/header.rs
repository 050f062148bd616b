//! The `Authorization` header: `Bearer <token>` and `Basic base64(user:password)` (which the
//! `mlflow` client sends for `MLFLOW_TRACKING_USERNAME`/`MLFLOW_TRACKING_PASSWORD`; the
//! password may also be an API token).
//!
//! Invariants:
//! - any byte string yields `Ok` or a [`HeaderError`], never a panic (a proptest checks);
//! - the scheme is case-insensitive; credentials are taken verbatim.

use base64::Engine;

/// Longest header value looked at.
pub const MAX_HEADER_LEN: usize = 8192;

/// Credentials presented in an `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Bearer(String),
    Basic { user: String, password: String },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Bearer(_) => f.write_str("Bearer(***)"),
            Credentials::Basic { user, .. } => write!(f, "Basic({user}, ***)"),
        }
    }
}

/// Why a header could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("authorization header is too long")]
    TooLong,
    #[error("authorization scheme must be Bearer or Basic")]
    UnknownScheme,
    #[error("authorization header has no credentials")]
    Empty,
    #[error("basic credentials are not base64 of 'user:password'")]
    BadBasic,
}

/// Parses an `Authorization` header value.
pub fn parse_authorization(value: &[u8]) -> Result<Credentials, HeaderError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(HeaderError::TooLong);
    }
    let text = std::str::from_utf8(value).map_err(|_| HeaderError::UnknownScheme)?;
    let text = text.trim();
    let (scheme, rest) = text.split_once(' ').ok_or(if text.is_empty() {
        HeaderError::Empty
    } else {
        HeaderError::UnknownScheme
    })?;
    let rest = rest.trim();
    if rest.is_empty() {
        return Err(HeaderError::Empty);
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        if rest.contains(char::is_whitespace) {
            return Err(HeaderError::Empty);
        }
        return Ok(Credentials::Bearer(rest.to_owned()));
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(HeaderError::UnknownScheme);
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest)
        .map_err(|_| HeaderError::BadBasic)?;
    let pair = String::from_utf8(raw).map_err(|_| HeaderError::BadBasic)?;
    let (user, password) = pair.split_once(':').ok_or(HeaderError::BadBasic)?;
    if user.is_empty() {
        return Err(HeaderError::BadBasic);
    }
    Ok(Credentials::Basic {
        user: user.to_owned(),
        password: password.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn basic(s: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    }

    #[test]
    fn bearer_and_basic_parse() {
        assert_eq!(
            parse_authorization(b"Bearer mlp_x"),
            Ok(Credentials::Bearer("mlp_x".into()))
        );
        assert_eq!(
            parse_authorization(b"bearer   tok  "),
            Ok(Credentials::Bearer("tok".into()))
        );
        assert_eq!(
            parse_authorization(basic("alice:pa:ss").as_bytes()),
            Ok(Credentials::Basic {
                user: "alice".into(),
                password: "pa:ss".into()
            })
        );
    }

    #[test]
    fn malformed_headers_are_errors() {
        assert_eq!(parse_authorization(b""), Err(HeaderError::Empty));
        assert_eq!(
            parse_authorization(b"Bearer"),
            Err(HeaderError::UnknownScheme)
        );
        assert_eq!(
            parse_authorization(b"Bearer  "),
            Err(HeaderError::UnknownScheme)
        );
        assert_eq!(parse_authorization(b"Bearer a b"), Err(HeaderError::Empty));
        assert_eq!(
            parse_authorization(b"Digest x"),
            Err(HeaderError::UnknownScheme)
        );
        assert_eq!(
            parse_authorization(b"Basic !!!"),
            Err(HeaderError::BadBasic)
        );
        assert_eq!(
            parse_authorization(basic("nocolon").as_bytes()),
            Err(HeaderError::BadBasic)
        );
        assert_eq!(
            parse_authorization(basic(":pw").as_bytes()),
            Err(HeaderError::BadBasic)
        );
        assert_eq!(
            parse_authorization(&[0xff, 0xfe, b' ', b'x']),
            Err(HeaderError::UnknownScheme)
        );
        assert_eq!(
            parse_authorization(&vec![b'a'; MAX_HEADER_LEN + 1]),
            Err(HeaderError::TooLong)
        );
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_fail_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_authorization(&bytes);
            let mut with_scheme = b"Basic ".to_vec();
            with_scheme.extend_from_slice(&bytes);
            let _ = parse_authorization(&with_scheme);
        }

        #[test]
        fn basic_round_trips(user in "[^:\\s]{1,40}", password in "\\PC{0,60}") {
            let h = basic(&format!("{user}:{password}"));
            prop_assert_eq!(
                parse_authorization(h.as_bytes()),
                Ok(Credentials::Basic { user: user.clone(), password: password.clone() })
            );
        }

        #[test]
        fn bearer_round_trips(tok in "[A-Za-z0-9_\\-\\.]{1,100}") {
            let h = format!("Bearer {tok}");
            prop_assert_eq!(parse_authorization(h.as_bytes()), Ok(Credentials::Bearer(tok.clone())));
        }
    }
}
