//! Wire shapes of workspace secrets and the audit log.
//!
//! Invariants:
//! - no response shape has a field for a secret's value; only [`PutSecretRequest`] carries
//!   one, and its `Debug` hides it.

use mlplane_core as core;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Body of `PUT /api/v1/workspaces/{ws}/secrets/{name}`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSecretRequest {
    /// The plaintext value; stored encrypted and never returned by any route.
    pub value: String,
}

impl std::fmt::Debug for PutSecretRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PutSecretRequest { value: *** }")
    }
}

/// A secret's metadata; the value is never part of it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SecretView {
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub created_by: String,
    pub updated_by: String,
    /// Id of the master key the value is encrypted under.
    pub key_id: String,
}

impl From<core::secrets::SecretMeta> for SecretView {
    fn from(m: core::secrets::SecretMeta) -> Self {
        Self {
            name: m.name.to_string(),
            created_at: m.created_ms,
            updated_at: m.updated_ms,
            created_by: m.created_by,
            updated_by: m.updated_by,
            key_id: m.key_id,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SecretList {
    pub items: Vec<SecretView>,
}

/// One audit record.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditRecordView {
    pub id: i64,
    /// Milliseconds since the epoch.
    pub time: i64,
    /// `user`, `service_principal`, `job`, `local` or `anonymous`.
    pub actor_kind: String,
    pub actor_id: String,
    pub actor_name: String,
    pub action: String,
    /// The request path.
    pub target: String,
    pub workspace: Option<String>,
    pub client_ip: Option<String>,
    pub request_id: String,
    pub method: String,
    pub status: u16,
    /// `allowed`, `denied` or `failed`.
    pub outcome: String,
}

impl From<core::audit::AuditRecord> for AuditRecordView {
    fn from(r: core::audit::AuditRecord) -> Self {
        let a = r.record;
        Self {
            id: r.id,
            time: a.time_ms,
            actor_kind: a.actor_kind.as_str().to_string(),
            actor_id: a.actor_id,
            actor_name: a.actor_name,
            action: a.action,
            target: a.target,
            workspace: a.workspace,
            client_ip: a.client_ip,
            request_id: a.request_id,
            method: a.method,
            status: a.status,
            outcome: a.outcome.as_str().to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditList {
    pub items: Vec<AuditRecordView>,
    pub next_page_token: Option<String>,
}

/// Query of `GET /api/v1/audit`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditListQuery {
    /// Records at or after this time: RFC 3339 (`2026-11-26T00:00:00Z`), milliseconds since
    /// the epoch, or a duration back from now (`90s`, `15m`, `1h`, `7d`).
    pub since: Option<String>,
    /// Records before this time, in the same forms as `since`.
    pub until: Option<String>,
    pub workspace: Option<String>,
    /// An actor's id or name.
    pub actor: Option<String>,
    pub action: Option<String>,
    pub page_token: Option<String>,
    pub max_results: Option<usize>,
}
