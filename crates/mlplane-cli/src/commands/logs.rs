//! Run logs from the command line: appending text (from an argument or streamed from stdin)
//! and printing the log, optionally following it until the run ends.
//!
//! Invariants:
//! - text is sent in pieces no larger than [`LOG_PIECE`], split on UTF-8 character
//!   boundaries; a character split across stdin reads waits for its remaining bytes;
//! - stdin text is sent at least every [`FLUSH_EVERY`], so piping a training script's
//!   output shows up live;
//! - `follow` stops only after it has seen a terminal status and then read the log to its
//!   end once more, so lines written just before the run finished are not lost.

use crate::client::{Client, typed};
use crate::output;
use anyhow::Context;
use mlplane_api::{AppendLogRequest, LogChunkView, RunView};
use mlplane_core::RunStatus;
use mlplane_core::limits::MAX_LOG_APPEND_BYTES;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

/// Longest time `log-append -` holds stdin text before sending it.
const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// Largest piece of log text per request: the server's append limit, halved so that JSON
/// escaping cannot push the request over the default body limit.
const LOG_PIECE: usize = MAX_LOG_APPEND_BYTES / 2;
/// Poll interval of `logs --follow`.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// Appends `text` in pieces of at most [`LOG_PIECE`] bytes.
pub async fn append_text(c: &Client, run_id: &str, text: &str) -> anyhow::Result<()> {
    let url = c.url(["runs", run_id, "logs"]);
    for piece in utf8_pieces(text, LOG_PIECE) {
        let req = AppendLogRequest {
            data: piece.to_string(),
        };
        c.post(url.clone(), &req).await?;
    }
    Ok(())
}

/// Splits `s` into pieces of at most `max` bytes (at least one character each) on
/// character boundaries.
fn utf8_pieces(s: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let mut end = rest.len().min(max.max(1));
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        if end == 0 {
            // `max` is smaller than the first character: send that character alone.
            end = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        let (piece, tail) = rest.split_at(end);
        out.push(piece);
        rest = tail;
    }
    out
}

/// Streams stdin into the run's log; sends whenever [`LOG_PIECE`] bytes are pending or
/// [`FLUSH_EVERY`] has passed since the oldest pending byte arrived.
pub async fn append_stdin(c: &Client, run_id: &str) -> anyhow::Result<()> {
    let mut stdin = tokio::io::stdin();
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut oldest: Option<Instant> = None;
    loop {
        let read = match oldest {
            // `read` is cancel safe: a timed-out read loses no input.
            Some(t) => tokio::time::timeout_at(t + FLUSH_EVERY, stdin.read(&mut buf))
                .await
                .ok(),
            None => Some(stdin.read(&mut buf).await),
        };
        match read {
            None => flush(c, run_id, &mut pending, false).await?,
            Some(Ok(0)) => return flush(c, run_id, &mut pending, true).await,
            Some(Ok(n)) => {
                pending.extend_from_slice(&buf[..n]);
                oldest.get_or_insert_with(Instant::now);
                if pending.len() >= LOG_PIECE {
                    flush(c, run_id, &mut pending, false).await?;
                }
            }
            Some(Err(e)) => return Err(e).context("cannot read standard input"),
        }
        if pending.is_empty() {
            oldest = None;
        }
    }
}

/// Sends the valid UTF-8 prefix of `pending`; at the end of input, sends the rest too
/// (invalid bytes replaced by U+FFFD).
async fn flush(
    c: &Client,
    run_id: &str,
    pending: &mut Vec<u8>,
    at_end: bool,
) -> anyhow::Result<()> {
    let valid = match std::str::from_utf8(pending) {
        Ok(_) => pending.len(),
        // An incomplete character at the end waits for more input.
        Err(e) if e.error_len().is_none() && !at_end => e.valid_up_to(),
        Err(_) => {
            let text = String::from_utf8_lossy(pending).into_owned();
            pending.clear();
            return append_text(c, run_id, &text).await;
        }
    };
    let rest = pending.split_off(valid);
    let text = String::from_utf8(std::mem::replace(pending, rest))
        .context("invariant: prefix checked as UTF-8")?;
    if !text.is_empty() {
        append_text(c, run_id, &text).await?;
    }
    Ok(())
}

/// Prints the log from the start; with `follow`, polls until the run is terminal.
pub async fn logs(c: &Client, run_id: &str, follow: bool) -> anyhow::Result<()> {
    let mut offset = 0u64;
    let mut terminal_seen = false;
    loop {
        loop {
            let url = c.url_with(
                ["runs", run_id, "logs"],
                &[("offset", Some(offset.to_string()))],
            );
            let chunk: LogChunkView = typed(&c.get(url).await?)?;
            output::raw(&chunk.data)?;
            if chunk.next_offset <= offset || chunk.data.is_empty() {
                break;
            }
            offset = chunk.next_offset;
        }
        if !follow || terminal_seen {
            return Ok(());
        }
        let run: RunView = typed(&c.get(c.url(["runs", run_id])).await?)?;
        terminal_seen = run
            .info
            .status
            .parse::<RunStatus>()
            .is_ok_and(RunStatus::is_terminal);
        if !terminal_seen {
            tokio::time::sleep(FOLLOW_EVERY).await;
        }
    }
}

/// How many times `stream` reconnects after losing the event stream.
const RECONNECTS: u32 = 20;

/// One server-sent event: its type, id and data (data lines joined with '\n').
#[derive(Debug, PartialEq)]
struct SseEvent {
    event: String,
    id: Option<String>,
    data: String,
}

/// Takes every complete event (ended by a blank line) off the front of `buf`.
fn take_events(buf: &mut String) -> Vec<SseEvent> {
    let mut out = Vec::new();
    while let Some(end) = buf.find("\n\n") {
        let block: String = buf.drain(..end + 2).collect();
        let (mut event, mut id, mut data) = ("message".to_string(), None, Vec::new());
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                event = v.trim_start().to_string();
            } else if let Some(v) = line.strip_prefix("id:") {
                id = Some(v.trim_start().to_string());
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v));
            }
        }
        if !data.is_empty() {
            out.push(SseEvent {
                event,
                id,
                data: data.join("\n"),
            });
        }
    }
    out
}

/// Prints the run's log from the server's event stream, from `last_id` on (or the start),
/// until the run ends, reconnecting from the last offset seen (`Last-Event-ID`) when the
/// connection drops. Returns the offset after the last chunk printed (the `Last-Event-ID`
/// to resume from), once the server sent its `end` event.
pub async fn stream(
    c: &Client,
    run_id: &str,
    mut last_id: Option<String>,
) -> anyhow::Result<Option<String>> {
    use futures::StreamExt;
    let url = c.url(["runs", run_id, "logs", "stream"]);
    let mut failures = 0u32;
    loop {
        let mut req = c.request(reqwest::Method::GET, url.clone());
        if let Some(id) = &last_id {
            req = req.header("last-event-id", id.as_str());
        }
        let resp = c.send(req).await?;
        let mut body = resp.bytes_stream();
        let mut buf = String::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut dropped = None;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(b) => b,
                Err(e) => {
                    dropped = Some(e);
                    break;
                }
            };
            pending.extend_from_slice(&chunk);
            // Keep an incomplete UTF-8 character for the next chunk.
            let valid = match std::str::from_utf8(&pending) {
                Ok(_) => pending.len(),
                Err(e) => e.valid_up_to(),
            };
            buf.push_str(&String::from_utf8_lossy(&pending[..valid]));
            pending.drain(..valid);
            for ev in take_events(&mut buf) {
                match ev.event.as_str() {
                    "log" => {
                        output::raw(&ev.data)?;
                        last_id = ev.id.or(last_id);
                        failures = 0;
                    }
                    "end" => return Ok(last_id),
                    "error" => anyhow::bail!("the log stream failed: {}", ev.data),
                    _ => {}
                }
            }
        }
        failures += 1;
        if failures > RECONNECTS {
            let why = dropped.map_or_else(|| "the server closed it".to_string(), |e| e.to_string());
            anyhow::bail!("lost the log stream {RECONNECTS} times in a row: {why}");
        }
        tokio::time::sleep(FOLLOW_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_parsed_as_they_complete() {
        let mut buf = String::from(
            "event: log\nid: 6\ndata: hello\ndata: \n\n: keep-alive\n\nevent: end\ndata: FIN",
        );
        let evs = take_events(&mut buf);
        assert_eq!(
            evs,
            vec![SseEvent {
                event: "log".into(),
                id: Some("6".into()),
                data: "hello\n".into()
            }]
        );
        assert_eq!(buf, "event: end\ndata: FIN");
        buf.push_str("ISHED\n\n");
        let evs = take_events(&mut buf);
        assert_eq!(evs[0].event, "end");
        assert_eq!(evs[0].data, "FINISHED");
    }

    #[test]
    fn log_pieces_respect_the_size_limit_and_character_boundaries() {
        let s = "aé€😀b";
        let pieces = utf8_pieces(s, 3);
        assert_eq!(pieces.concat(), s);
        assert!(
            pieces
                .iter()
                .all(|p| p.len() <= 3 || p.chars().count() == 1)
        );
        assert_eq!(pieces, vec!["aé", "€", "😀", "b"]);
        assert!(utf8_pieces("", 10).is_empty());
    }
}
