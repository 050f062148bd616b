//! `POST /api/v1/workspaces/{ws}/runs/search`: runs of some experiments matching a filter in
//! MLflow's grammar, in an order, one page at a time, each with params, latest metrics and tags.
//!
//! Invariants:
//! - the filter and order_by are parsed by `mlplane_core::search` before the store sees them;
//!   a bad one is 400 `invalid_filter` with `details.{field, position}` (byte offset; for
//!   order_by also `details.index`, the entry at fault);
//! - `max_results` is 1..=1000 (default 100).

use super::{experiment_id, view, workspace};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{AppJson, AppPath};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use mlplane_api::{ErrorBody, RunSearchPage, SearchRunsRequest};
use mlplane_core::PageRequest;
use mlplane_core::search::{SearchKind, parse_order_by, parse_run_filter};
use mlplane_store::RunSearch;
use serde_json::json;

/// Most runs one page may hold.
pub const MAX_SEARCH_RESULTS: usize = 1000;
const DEFAULT_SEARCH_RESULTS: usize = 100;

#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/runs/search", tag = "runs",
    params(("ws" = String, Path)), request_body = SearchRunsRequest,
    responses((status = 200, body = RunSearchPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn search_runs(
    State(s): State<AppState>,
    AppPath(ws): AppPath<String>,
    AppJson(req): AppJson<SearchRunsRequest>,
) -> ApiResult<Json<RunSearchPage>> {
    let ws = workspace(&ws)?;
    if req.experiment_ids.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            "experiment_ids: name at least one experiment",
        ));
    }
    let n = req.max_results.unwrap_or(DEFAULT_SEARCH_RESULTS);
    if !(1..=MAX_SEARCH_RESULTS).contains(&n) {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            format!("max_results: must be between 1 and {MAX_SEARCH_RESULTS}, got {n}"),
        ));
    }
    let filter_text = req.filter.unwrap_or_default();
    let filter = parse_run_filter(&filter_text).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidFilter,
            format!("invalid filter at position {}: {}", e.position, e.message),
        )
        .with_details(json!({"field": "filter", "position": e.position}))
    })?;
    let mut order_by = Vec::with_capacity(req.order_by.len());
    for (i, entry) in req.order_by.iter().enumerate() {
        let mut one =
            parse_order_by(std::slice::from_ref(entry), SearchKind::Runs).map_err(|e| {
                ApiError::new(
                    ErrorCode::InvalidFilter,
                    format!(
                        "invalid order_by '{entry}' at position {}: {}",
                        e.position, e.message
                    ),
                )
                .with_details(json!({"field": "order_by", "index": i, "position": e.position}))
            })?;
        order_by.append(&mut one);
    }
    let q = RunSearch {
        experiment_ids: req
            .experiment_ids
            .iter()
            .map(|e| experiment_id(e))
            .collect::<ApiResult<_>>()?,
        view: view(req.view.as_deref())?,
        filter,
        order_by,
    };
    let page = PageRequest {
        max_results: n,
        page_token: req.page_token.filter(|t| !t.is_empty()),
    };
    let p = s.store.search_runs(&ws, &q, &page).await?;
    Ok(Json(RunSearchPage {
        runs: p.items.into_iter().map(Into::into).collect(),
        next_page_token: p.next_page_token,
    }))
}
