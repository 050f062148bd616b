//! The [`AuditStore`] trait: the append-only audit log of state-changing and refused
//! requests, and the engine-independent paging of its listing.
//!
//! Invariants:
//! - records are only appended: both engines install triggers that refuse `UPDATE` and
//!   `DELETE` on the table, and no method changes a record;
//! - a listing is newest first (by id, which grows in append order); its page token is a
//!   signed cursor holding the last id, bound to the filters.

use crate::{Result, StoreError};
use async_trait::async_trait;
use mlplane_core::PrincipalKind;
use mlplane_core::audit::{AuditOutcome, AuditQuery, AuditRecord, MAX_AUDIT_PAGE, NewAuditRecord};
use mlplane_core::{Cursor, CursorValue, Page, PageRequest, TokenCodec, TokenError};

/// The audit log.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends records (in order) in one transaction.
    async fn append_audit(&self, records: Vec<NewAuditRecord>) -> Result<()>;
    /// Records matching `q`, newest first.
    async fn list_audit(&self, q: &AuditQuery, page: &PageRequest) -> Result<Page<AuditRecord>>;
}

/// The filters and position of one page, decoded from a request.
pub(crate) struct AuditPage {
    pub before_id: Option<i64>,
    pub limit: usize,
    scope: String,
}

fn scope(q: &AuditQuery) -> String {
    format!(
        "audit:{:?}:{:?}:{:?}:{:?}:{:?}",
        q.since_ms, q.until_ms, q.workspace, q.actor, q.action
    )
}

pub(crate) fn audit_page(
    codec: &TokenCodec,
    q: &AuditQuery,
    page: &PageRequest,
) -> Result<AuditPage> {
    let limit = crate::rules::page_size(page, MAX_AUDIT_PAGE)?;
    let scope = scope(q);
    let before_id = match &page.page_token {
        None => None,
        Some(t) => match codec.decode(t, &scope)?.as_slice() {
            [CursorValue::Int(id)] => Some(*id),
            _ => return Err(StoreError::PageToken(TokenError::Malformed)),
        },
    };
    Ok(AuditPage {
        before_id,
        limit,
        scope,
    })
}

/// Cuts the rows (read with `limit + 1`) to a page and signs the next token.
pub(crate) fn finish_page(
    codec: &TokenCodec,
    p: &AuditPage,
    mut rows: Vec<AuditRecord>,
) -> Page<AuditRecord> {
    let next_page_token = if rows.len() > p.limit {
        rows.truncate(p.limit);
        rows.last().map(|r| {
            codec.encode(&Cursor {
                scope: p.scope.clone(),
                position: vec![CursorValue::Int(r.id)],
            })
        })
    } else {
        None
    };
    Page {
        items: rows,
        next_page_token,
    }
}

/// An audit row as read, before its enums are checked (both engines).
pub(crate) struct AuditRow {
    pub id: i64,
    pub time_ms: i64,
    pub actor_kind: String,
    pub actor_id: String,
    pub actor_name: String,
    pub action: String,
    pub target: String,
    pub workspace: Option<String>,
    pub client_ip: Option<String>,
    pub request_id: String,
    pub method: String,
    pub status: i64,
    pub outcome: String,
}

impl AuditRow {
    pub(crate) fn decode(self) -> Result<AuditRecord> {
        let bad = |what: &str, v: &str| StoreError::Internal(format!("bad audit {what} '{v}'"));
        Ok(AuditRecord {
            id: self.id,
            record: NewAuditRecord {
                time_ms: self.time_ms,
                actor_kind: PrincipalKind::parse(&self.actor_kind)
                    .ok_or_else(|| bad("actor kind", &self.actor_kind))?,
                actor_id: self.actor_id,
                actor_name: self.actor_name,
                action: self.action,
                target: self.target,
                workspace: self.workspace,
                client_ip: self.client_ip,
                request_id: self.request_id,
                method: self.method,
                status: u16::try_from(self.status).map_err(|_| bad("status", "out of range"))?,
                outcome: AuditOutcome::parse(&self.outcome)
                    .ok_or_else(|| bad("outcome", &self.outcome))?,
            },
        })
    }
}
