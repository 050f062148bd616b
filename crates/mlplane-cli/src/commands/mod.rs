//! One module per top-level subcommand, plus the argument parsers and the paging loop they
//! share.
//!
//! Invariants:
//! - argument parsers here run inside clap, so a malformed `k=v`, status or size is a usage
//!   error (exit 2) before any request is sent;
//! - a list command fetches one page unless `--all-pages` is given, and then follows
//!   `next_page_token` until the server returns none.

pub mod artifacts;
mod code;
pub mod component;
pub mod compute;
pub mod data;
pub mod experiments;
pub mod identity;
pub mod jobs;
mod logs;
pub mod runs;
pub mod secrets;
pub mod server;

use crate::client::Client;
use crate::output::{self, Output};
use anyhow::Context;
use mlplane_api::KeyValue;
use mlplane_core::RunStatus;
use serde_json::{Value, json};

/// `--view` of list commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum View {
    /// Only active (not deleted) entries.
    Active,
    /// Only deleted entries.
    Deleted,
    /// Both.
    All,
}

impl View {
    pub fn as_str(self) -> &'static str {
        match self {
            View::Active => "active",
            View::Deleted => "deleted",
            View::All => "all",
        }
    }
}

/// Paging flags shared by list commands.
#[derive(Debug, Clone, clap::Args)]
pub struct Paging {
    /// Items per page (the server's default when absent).
    #[arg(long)]
    pub max_results: Option<usize>,
    /// Continue from a previous page's token.
    #[arg(long, conflicts_with = "all_pages")]
    pub page_token: Option<String>,
    /// Follow page tokens and print every item.
    #[arg(long)]
    pub all_pages: bool,
}

/// Parses `key=value` (the value may be empty or contain `=`).
pub fn parse_kv(s: &str) -> Result<KeyValue, String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok(KeyValue {
            key: k.to_string(),
            value: v.to_string(),
        }),
        _ => Err(format!("expected KEY=VALUE, got '{s}'")),
    }
}

/// Parses a run status case-insensitively into the API spelling (`FINISHED`).
pub fn parse_status(s: &str) -> Result<String, String> {
    s.to_ascii_uppercase()
        .parse::<RunStatus>()
        .map(|st| st.as_str().to_string())
        .map_err(|e| e.to_string())
}

/// Fetches one page, or every page with `--all-pages`, of a list answering
/// `{items, next_page_token}`. Returns the combined JSON in that same shape.
pub async fn fetch_pages(
    client: &Client,
    segments: &[&str],
    query: &[(&str, Option<String>)],
    paging: &Paging,
) -> anyhow::Result<Value> {
    let mut items: Vec<Value> = Vec::new();
    let mut token = paging.page_token.clone();
    loop {
        let mut q = query.to_vec();
        q.push(("max_results", paging.max_results.map(|n| n.to_string())));
        q.push(("page_token", token.clone()));
        let page = client
            .get(client.url_with(segments.iter().copied(), &q))
            .await?;
        let next = page
            .get("next_page_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(String::from);
        let got = page
            .get("items")
            .and_then(Value::as_array)
            .context("unexpected answer from the server: no 'items' list")?;
        items.extend(got.iter().cloned());
        match next {
            Some(t) if paging.all_pages => {
                if token.as_deref() == Some(t.as_str()) {
                    anyhow::bail!("the server returned the same page token twice");
                }
                token = Some(t);
            }
            next => return Ok(json!({ "items": items, "next_page_token": next })),
        }
    }
}

/// Prints a list page: JSON as is, or the table plus a hint on stderr when more pages exist.
pub fn print_page(output: Output, page: &Value, table: output::Table) -> anyhow::Result<()> {
    match output {
        Output::Json => output::json(page),
        Output::Table => {
            table.print()?;
            if let Some(t) = page.get("next_page_token").and_then(Value::as_str) {
                eprintln!("more results: add --page-token {t} (or --all-pages)");
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_kv_splits_at_the_first_equals_sign() {
        let kv = parse_kv("lr=a=b").expect("valid");
        assert_eq!((kv.key.as_str(), kv.value.as_str()), ("lr", "a=b"));
        let kv = parse_kv("empty=").expect("valid");
        assert_eq!(kv.value, "");
    }

    #[test]
    fn parse_kv_rejects_a_missing_key_or_equals_sign() {
        assert!(parse_kv("=v").is_err());
        assert!(parse_kv("novalue").is_err());
    }

    #[test]
    fn parse_status_accepts_any_case_and_returns_the_api_spelling() {
        assert_eq!(parse_status("finished").as_deref(), Ok("FINISHED"));
        assert!(parse_status("done").is_err());
    }
}
