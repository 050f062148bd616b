//! `GET …/runs/{run_id}/logs/stream`: a run's log as server-sent events, from any offset,
//! until the run ends — what `mlplane job create --stream` and the studio follow.
//!
//! Invariants:
//! - every `log` event carries `id: <offset after it>`, so a client that reconnects with
//!   `Last-Event-ID` (or `?offset=`) continues exactly where it stopped: nothing is lost or
//!   sent twice;
//! - the stream ends with one `end` event whose data is the run's final status, sent only
//!   after the log was read to its end once more after the run became terminal;
//! - a chunk is at most 1 MiB and the server holds one chunk at a time per stream.

use super::{run_id, workspace};
use crate::error::{ApiError, ApiResult};
use crate::extract::{AppPath, AppQuery};
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use mlplane_api::LogQuery;
use mlplane_core::{RunId, RunStatus, WorkspaceName};
use std::convert::Infallible;
use std::time::Duration;

/// How often an idle stream looks for new log text.
const POLL: Duration = Duration::from_millis(250);
/// Largest piece of log sent in one event.
const CHUNK: usize = 1 << 20;

struct Follow {
    s: AppState,
    ws: WorkspaceName,
    id: RunId,
    offset: u64,
    /// Set once the run was seen terminal: read to the end once more, then stop.
    ending: Option<RunStatus>,
    done: bool,
}

/// The next event of a stream, or `None` when it is over.
async fn next(mut f: Follow) -> Option<(Result<Event, Infallible>, Follow)> {
    if f.done {
        return None;
    }
    loop {
        match f.s.store.read_log(&f.ws, &f.id, f.offset, CHUNK).await {
            Ok(c) if !c.data.is_empty() && c.next_offset > f.offset => {
                f.offset = c.next_offset;
                let ev = Event::default()
                    .event("log")
                    .id(c.next_offset.to_string())
                    .data(c.data);
                return Some((Ok(ev), f));
            }
            Ok(_) => {}
            Err(e) => {
                f.done = true;
                let ev = Event::default().event("error").data(e.to_string());
                return Some((Ok(ev), f));
            }
        }
        if let Some(status) = f.ending {
            f.done = true;
            let ev = Event::default().event("end").data(status.as_str());
            return Some((Ok(ev), f));
        }
        match f.s.store.get_run(&f.ws, &f.id).await {
            Ok(run) if run.info.status.is_terminal() => f.ending = Some(run.info.status),
            Ok(_) => tokio::time::sleep(POLL).await,
            Err(e) => {
                f.done = true;
                let ev = Event::default().event("error").data(e.to_string());
                return Some((Ok(ev), f));
            }
        }
    }
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/runs/{run_id}/logs/stream", tag = "runs",
    params(("ws" = String, Path), ("run_id" = String, Path), LogQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Offset to resume from; wins over `offset`")),
    responses((status = 200, description = "text/event-stream of `log` events (id = offset after the chunk) and one final `end` event with the run status", content_type = "text/event-stream"),
        (status = 404, body = mlplane_api::ErrorBody)))]
pub async fn stream(
    State(s): State<AppState>,
    AppPath((ws, id)): AppPath<(String, String)>,
    AppQuery(q): AppQuery<LogQuery>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let (ws, id) = (workspace(&ws)?, run_id(&id)?);
    // The run must exist before the stream starts, so a bad id is a 404, not an event.
    s.store.get_run(&ws, &id).await?;
    let resume = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::new(
                        crate::error::ErrorCode::InvalidParameter,
                        "Last-Event-ID: must be a log offset (a non-negative integer)",
                    )
                })
        })
        .transpose()?;
    let f = Follow {
        s,
        ws,
        id,
        offset: resume.or(q.offset).unwrap_or(0),
        ending: None,
        done: false,
    };
    Ok(Sse::new(futures::stream::unfold(f, next)).keep_alive(KeepAlive::default()))
}
