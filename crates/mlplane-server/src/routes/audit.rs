//! `GET /api/v1/audit`: the audit log, newest first, filtered by time, workspace, actor and
//! action. There is no route that changes or removes a record.

use super::page;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::AppQuery;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use mlplane_api::{AuditList, AuditListQuery, ErrorBody};
use mlplane_core::audit::{AuditQuery, parse_time_bound};

fn bound(field: &str, v: Option<&str>) -> ApiResult<Option<i64>> {
    v.map(|t| {
        parse_time_bound(t, super::now_ms()).map_err(|m| {
            ApiError::new(ErrorCode::InvalidParameter, format!("{field}: {m}"))
                .with_details(serde_json::json!({"violations": [{"field": field, "message": m}]}))
        })
    })
    .transpose()
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditListQuery),
    responses((status = 200, body = AuditList), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    AppQuery(q): AppQuery<AuditListQuery>,
) -> ApiResult<Json<AuditList>> {
    let query = AuditQuery {
        since_ms: bound("since", q.since.as_deref())?,
        until_ms: bound("until", q.until.as_deref())?,
        workspace: q.workspace.filter(|w| !w.is_empty()),
        actor: q.actor.filter(|a| !a.is_empty()),
        action: q.action.filter(|a| !a.is_empty()),
    };
    // Read your writes: records of earlier requests may still be queued.
    s.audit.flush().await;
    let p = s
        .store
        .list_audit(&query, &page(q.max_results, q.page_token))
        .await?;
    Ok(Json(AuditList {
        items: p.items.into_iter().map(Into::into).collect(),
        next_page_token: p.next_page_token,
    }))
}
