//! The run log as server-sent events: chunks with offsets as event ids, resuming from
//! `Last-Event-ID` without loss or duplication, and one final `end` event.

use crate::support::{TestApp, WS};
use axum::body::Body;
use axum::http::Request;
use futures::StreamExt;
use serde_json::json;
use tower::ServiceExt;

/// (event, id, data) triples of an SSE body, data lines joined with '\n'.
fn parse(body: &str) -> Vec<(String, Option<String>, String)> {
    let mut out = Vec::new();
    for block in body.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let (mut event, mut id, mut data) = (String::from("message"), None, Vec::new());
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                event = v.trim_start().to_string();
            } else if let Some(v) = line.strip_prefix("id:") {
                id = Some(v.trim_start().to_string());
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
            }
        }
        if !data.is_empty() || event != "message" {
            out.push((event, id, data.join("\n")));
        }
    }
    out
}

async fn stream(t: &TestApp, run: &str, last_event_id: Option<&str>) -> String {
    let mut b = Request::builder().uri(format!("{WS}/runs/{run}/logs/stream"));
    if let Some(id) = last_event_id {
        b = b.header("last-event-id", id);
    }
    let resp = t
        .router
        .clone()
        .oneshot(b.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap_or(""),
        "text/event-stream"
    );
    let mut body = resp.into_body().into_data_stream();
    let mut text = String::new();
    while let Some(chunk) = body.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
    }
    text
}

#[tokio::test]
async fn a_finished_runs_log_streams_then_ends_and_resumes_from_an_offset() {
    let t = TestApp::new().await;
    let run = t.run().await.1;
    t.ok(
        "POST",
        &format!("{WS}/runs/{run}/logs"),
        Some(json!({"data": "first line\nsecond"})),
    )
    .await;
    t.ok(
        "POST",
        &format!("{WS}/runs/{run}/logs"),
        Some(json!({"data": " continued\n"})),
    )
    .await;
    t.ok(
        "PATCH",
        &format!("{WS}/runs/{run}"),
        Some(json!({"status": "FINISHED"})),
    )
    .await;
    let events = parse(&stream(&t, &run, None).await);
    let log: String = events
        .iter()
        .filter(|(e, _, _)| e == "log")
        .map(|(_, _, d)| d.as_str())
        .collect();
    assert_eq!(log, "first line\nsecond continued\n");
    assert_eq!(
        events.last().map(|e| (e.0.as_str(), e.2.as_str())),
        Some(("end", "FINISHED"))
    );
    // Resuming after the first line sends only what follows it.
    let resumed = parse(&stream(&t, &run, Some("11")).await);
    let rest: String = resumed
        .iter()
        .filter(|(e, _, _)| e == "log")
        .map(|(_, _, d)| d.as_str())
        .collect();
    assert_eq!(rest, "second continued\n");
    let last_id = events
        .iter()
        .filter_map(|(e, id, _)| (e == "log").then_some(id.clone()).flatten())
        .next_back()
        .expect("an id");
    assert_eq!(last_id, "first line\nsecond continued\n".len().to_string());
}

#[tokio::test]
async fn a_live_run_streams_text_appended_while_following() {
    let t = TestApp::new().await;
    let run = t.run().await.1;
    let writer = {
        let t2 = t.router.clone();
        let run = run.clone();
        tokio::spawn(async move {
            for i in 0..3 {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                let req = Request::builder()
                    .method("POST")
                    .uri(format!("{WS}/runs/{run}/logs"))
                    .header("content-type", "application/json")
                    .body(Body::from(
                        json!({"data": format!("tick {i}\n")}).to_string(),
                    ))
                    .expect("request");
                t2.clone().oneshot(req).await.expect("infallible");
            }
            let req = Request::builder()
                .method("PATCH")
                .uri(format!("{WS}/runs/{run}"))
                .header("content-type", "application/json")
                .body(Body::from(json!({"status": "FAILED"}).to_string()))
                .expect("request");
            t2.oneshot(req).await.expect("infallible");
        })
    };
    let events = parse(&stream(&t, &run, None).await);
    writer.await.expect("writer");
    let log: String = events
        .iter()
        .filter(|(e, _, _)| e == "log")
        .map(|(_, _, d)| d.as_str())
        .collect();
    assert_eq!(log, "tick 0\ntick 1\ntick 2\n");
    assert_eq!(events.last().map(|e| e.2.as_str()), Some("FAILED"));
}

#[tokio::test]
async fn bad_runs_and_offsets_are_refused_before_streaming() {
    let t = TestApp::new().await;
    let (s, _) = t
        .call(
            "GET",
            &format!("{WS}/runs/{}/logs/stream", "0".repeat(32)),
            None,
        )
        .await;
    assert_eq!(s.as_u16(), 404);
    let run = t.run().await.1;
    let req = Request::builder()
        .uri(format!("{WS}/runs/{run}/logs/stream"))
        .header("last-event-id", "not-a-number")
        .body(Body::empty())
        .expect("request");
    let resp = t.router.clone().oneshot(req).await.expect("infallible");
    assert_eq!(resp.status(), 400);
}
