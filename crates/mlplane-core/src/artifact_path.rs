//! Relative paths inside a run's artifact tree.
//!
//! Invariants:
//! - an [`ArtifactPath`] never escapes its root: it is relative, `/`-separated, and has no
//!   empty, `.` or `..` component;
//! - it holds no NUL, no control character and no backslash;
//! - it is at most [`MAX_ARTIFACT_PATH_LEN`] bytes and each component at most
//!   [`MAX_ARTIFACT_COMPONENT_LEN`] bytes.

use crate::error::Invalid;
use crate::limits::{MAX_ARTIFACT_COMPONENT_LEN, MAX_ARTIFACT_PATH_LEN};
use std::fmt;

/// A checked relative path of an artifact file or directory; empty means the root.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArtifactPath(String);

impl ArtifactPath {
    /// The root of the tree (only valid as a directory).
    pub fn root() -> Self {
        Self(String::new())
    }

    /// Parses the path of a file: must be non-empty.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.is_empty() {
            return Err(Invalid::one("path", "must not be empty"));
        }
        Self::parse_inner(s)
    }

    /// Parses the path of a directory: empty (or `/`-only trailing) means the root.
    pub fn parse_dir(s: &str) -> Result<Self, Invalid> {
        let trimmed = s.strip_suffix('/').unwrap_or(s);
        if trimmed.is_empty() {
            return Ok(Self::root());
        }
        Self::parse_inner(trimmed)
    }

    fn parse_inner(s: &str) -> Result<Self, Invalid> {
        let fail = |m: &str| Err(Invalid::one("path", m));
        if s.len() > MAX_ARTIFACT_PATH_LEN {
            return fail("is longer than 1024 bytes");
        }
        if s.starts_with('/') {
            return fail("must be relative, not absolute");
        }
        if s.contains('\\') {
            return fail("must use '/' as separator, not '\\'");
        }
        if s.chars().any(|c| c.is_control()) {
            return fail("must not contain NUL or control characters");
        }
        for comp in s.split('/') {
            match comp {
                "" => return fail("must not contain empty components ('//' or a trailing '/')"),
                "." | ".." => return fail("must not contain '.' or '..' components"),
                c if c.len() > MAX_ARTIFACT_COMPONENT_LEN => {
                    return fail("has a component longer than 255 bytes");
                }
                _ => {}
            }
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// `self/child` for a relative suffix that is itself valid.
    pub fn join(&self, child: &ArtifactPath) -> ArtifactPath {
        if self.is_root() {
            child.clone()
        } else if child.is_root() {
            self.clone()
        } else {
            ArtifactPath(format!("{}/{}", self.0, child.0))
        }
    }

    /// The components of the path, root yields none.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }
}

impl fmt::Display for ArtifactPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hostile_paths_are_rejected() {
        for bad in [
            "../x",
            "a/../b",
            "/etc/passwd",
            "a\\b",
            "a\0b",
            "a//b",
            "a/./b",
            ".",
            "..",
            "a/",
            "",
        ] {
            assert!(ArtifactPath::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(ArtifactPath::parse(&"a".repeat(256)).is_err());
        assert!(ArtifactPath::parse(&"a/".repeat(600)).is_err());
    }

    #[test]
    fn ordinary_paths_are_kept_as_given() {
        for good in [
            "model.pkl",
            "a/b/c.txt",
            "weird name (1).json",
            "ünïcode/数据.bin",
            "..a",
            "a..",
        ] {
            assert_eq!(ArtifactPath::parse(good).unwrap().as_str(), good);
        }
        assert!(ArtifactPath::parse_dir("").unwrap().is_root());
        assert_eq!(ArtifactPath::parse_dir("a/b/").unwrap().as_str(), "a/b");
    }

    proptest! {
        #[test]
        fn accepted_paths_never_escape_the_root(s in "\\PC{0,40}|[a./\\\\]{0,12}") {
            if let Ok(p) = ArtifactPath::parse(&s) {
                prop_assert!(!p.as_str().starts_with('/'));
                prop_assert!(p.components().all(|c| c != ".." && c != "." && !c.is_empty()));
                prop_assert!(!p.as_str().contains('\\') && !p.as_str().contains('\0'));
                // Re-parsing is stable.
                prop_assert_eq!(ArtifactPath::parse(p.as_str()).unwrap(), p.clone());
            }
        }
    }
}
