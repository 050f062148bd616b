//! Identifier newtypes: workspace names, experiment ids and run ids.
//!
//! Invariants:
//! - a [`RunId`] is always 32 lowercase hex characters;
//! - a [`WorkspaceName`] always matches `^[a-z0-9][a-z0-9-]{0,62}$`;
//! - an [`ExperimentId`] is never negative.

use crate::error::Invalid;
use crate::limits::MAX_WORKSPACE_NAME_LEN;
use std::fmt;

/// Name of a workspace, the unit of isolation (what Azure ML calls a workspace).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkspaceName(String);

impl WorkspaceName {
    /// The workspace that exists on every server.
    pub const DEFAULT: &'static str = "default";

    pub fn default_workspace() -> Self {
        Self(Self::DEFAULT.to_string())
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let ok = !s.is_empty()
            && s.len() <= MAX_WORKSPACE_NAME_LEN
            && s.bytes()
                .enumerate()
                .all(|(i, b)| b.is_ascii_lowercase() || b.is_ascii_digit() || (b == b'-' && i > 0));
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(Invalid::one(
                "workspace",
                format!(
                    "must be 1-{MAX_WORKSPACE_NAME_LEN} characters of a-z, 0-9 and '-', not starting with '-'"
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkspaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Numeric id of an experiment, unique across the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExperimentId(pub i64);

impl ExperimentId {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s.parse::<i64>() {
            Ok(v) if v >= 0 && !s.starts_with('+') => Ok(Self(v)),
            _ => Err(Invalid::one(
                "experiment_id",
                "must be a non-negative integer",
            )),
        }
    }
}

impl fmt::Display for ExperimentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Id of a run: 32 lowercase hex characters (a UUID without dashes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(String);

impl RunId {
    /// A fresh random id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(Invalid::one("run_id", "must be 32 hexadecimal characters"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_normalised_to_lowercase() {
        let id = RunId::parse("ABCDEF0123456789abcdef0123456789").unwrap();
        assert_eq!(id.as_str(), "abcdef0123456789abcdef0123456789");
        assert!(RunId::parse("xyz").is_err());
        assert!(RunId::parse("g".repeat(32).as_str()).is_err());
        assert_eq!(RunId::generate().as_str().len(), 32);
    }

    #[test]
    fn workspace_names_reject_uppercase_and_leading_dash() {
        assert!(WorkspaceName::parse("team-a").is_ok());
        assert!(WorkspaceName::parse("Team").is_err());
        assert!(WorkspaceName::parse("-a").is_err());
        assert!(WorkspaceName::parse("").is_err());
        assert!(WorkspaceName::parse(&"a".repeat(64)).is_err());
    }

    #[test]
    fn experiment_ids_are_non_negative_integers() {
        assert_eq!(ExperimentId::parse("0").unwrap(), ExperimentId(0));
        assert!(ExperimentId::parse("-1").is_err());
        assert!(ExperimentId::parse("+1").is_err());
        assert!(ExperimentId::parse("1a").is_err());
    }
}
