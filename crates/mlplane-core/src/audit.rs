//! The audit log's records: who did what to which target, from where, and how it ended.
//!
//! Invariants:
//! - a record is written once and never changed or removed (the store enforces it);
//! - `target` is the request path as the client sent it, without the query string.

use crate::{PrincipalKind, TimestampMs};

/// How a recorded request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditOutcome {
    /// The request was allowed and answered with a status below 400.
    Allowed,
    /// Authentication or authorization refused it (401 or 403).
    Denied,
    /// It was allowed but failed (any other status of 400 or more).
    Failed,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Allowed => "allowed",
            AuditOutcome::Denied => "denied",
            AuditOutcome::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "allowed" => AuditOutcome::Allowed,
            "denied" => AuditOutcome::Denied,
            "failed" => AuditOutcome::Failed,
            _ => return None,
        })
    }

    /// The outcome of a response status.
    pub fn of_status(status: u16) -> Self {
        match status {
            401 | 403 => AuditOutcome::Denied,
            s if s >= 400 => AuditOutcome::Failed,
            _ => AuditOutcome::Allowed,
        }
    }
}

/// A record to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditRecord {
    pub time_ms: TimestampMs,
    pub actor_kind: PrincipalKind,
    pub actor_id: String,
    pub actor_name: String,
    /// The route's action string (`runs/write`), or `<METHOD> <matched path>`.
    pub action: String,
    /// The request path.
    pub target: String,
    /// The workspace the request addressed, when it names one.
    pub workspace: Option<String>,
    pub client_ip: Option<String>,
    pub request_id: String,
    pub method: String,
    pub status: u16,
    pub outcome: AuditOutcome,
}

/// A stored record: a [`NewAuditRecord`] with its id (increasing in append order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: i64,
    pub record: NewAuditRecord,
}

/// Which records to list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only records at or after this time.
    pub since_ms: Option<TimestampMs>,
    /// Only records before this time.
    pub until_ms: Option<TimestampMs>,
    pub workspace: Option<String>,
    /// Matches the actor's id or name.
    pub actor: Option<String>,
    pub action: Option<String>,
}

/// Most records in one page of the audit log.
pub const MAX_AUDIT_PAGE: usize = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_follow_status() {
        assert_eq!(AuditOutcome::of_status(204), AuditOutcome::Allowed);
        assert_eq!(AuditOutcome::of_status(401), AuditOutcome::Denied);
        assert_eq!(AuditOutcome::of_status(403), AuditOutcome::Denied);
        assert_eq!(AuditOutcome::of_status(404), AuditOutcome::Failed);
        assert_eq!(AuditOutcome::of_status(500), AuditOutcome::Failed);
        for o in [
            AuditOutcome::Allowed,
            AuditOutcome::Denied,
            AuditOutcome::Failed,
        ] {
            assert_eq!(AuditOutcome::parse(o.as_str()), Some(o));
        }
    }
}
