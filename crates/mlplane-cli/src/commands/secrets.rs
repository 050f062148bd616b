//! `mlplane secret` (set, list, delete workspace secrets) and `mlplane audit list`.
//!
//! Invariants:
//! - a secret's value is never an argv string (other users can read a process's arguments):
//!   it comes from a file (`--value-file`, `-` for stdin) or an environment variable
//!   (`--from-env`);
//! - one trailing newline of a value file is dropped (what `echo pw > f` adds), nothing
//!   else is changed;
//! - no command prints a value: the server never returns one.

use crate::client::{Client, typed};
use crate::output::{self, Output, Table};
use anyhow::Context;
use mlplane_api::{AuditList, PutSecretRequest, SecretList, SecretView};
use reqwest::Method;
use std::io::Read;
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum SecretCmd {
    /// Create a secret or replace its value.
    Set {
        /// Secret name: letters, digits and '_', not starting with a digit.
        name: String,
        /// Read the value from this file (`-` reads standard input).
        #[arg(
            long,
            conflicts_with = "from_env",
            required_unless_present = "from_env"
        )]
        value_file: Option<PathBuf>,
        /// Read the value from this environment variable.
        #[arg(long, value_name = "VAR")]
        from_env: Option<String>,
    },
    /// List the workspace's secrets (names and who changed them when; never values).
    List,
    /// Show one secret's metadata.
    Show { name: String },
    /// Delete a secret.
    Delete { name: String },
}

#[derive(Debug, clap::Subcommand)]
pub enum AuditCmd {
    /// List audit records, newest first.
    List {
        /// Records since: a duration back from now (`1h`, `7d`) or a time
        /// (`2026-11-26T00:00:00Z`).
        #[arg(long)]
        since: Option<String>,
        /// Records before this time (same forms as --since).
        #[arg(long)]
        until: Option<String>,
        /// Only records about this workspace (this flag, not the global --workspace).
        #[arg(long = "in-workspace", value_name = "WORKSPACE")]
        in_workspace: Option<String>,
        /// Only records of this actor (id or name).
        #[arg(long)]
        actor: Option<String>,
        /// Only records of this action.
        #[arg(long)]
        action: Option<String>,
        /// Most records per page.
        #[arg(long)]
        max_results: Option<usize>,
        /// Follow page tokens until the end.
        #[arg(long)]
        all_pages: bool,
    },
}

fn read_value(value_file: Option<PathBuf>, from_env: Option<String>) -> anyhow::Result<String> {
    if let Some(var) = from_env {
        return std::env::var(&var)
            .with_context(|| format!("--from-env {var}: the variable is not set (or not UTF-8)"));
    }
    let path = value_file.context("give --value-file FILE or --from-env VAR")?;
    let mut text = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("--value-file -: cannot read standard input as UTF-8 text")?;
        s
    } else {
        std::fs::read_to_string(&path).with_context(|| {
            format!(
                "--value-file {}: cannot read it as UTF-8 text",
                path.display()
            )
        })?
    };
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

fn show(out: Output, v: &SecretView) -> anyhow::Result<()> {
    match out {
        Output::Json => output::json(&serde_json::to_value(v)?),
        Output::Table => output::line(&output::fields(&[
            ("name", v.name.clone()),
            ("created", output::time_ms(v.created_at)),
            ("created_by", v.created_by.clone()),
            ("updated", output::time_ms(v.updated_at)),
            ("updated_by", v.updated_by.clone()),
            ("key_id", v.key_id.clone()),
        ])),
    }
}

pub async fn run(c: &Client, out: Output, cmd: SecretCmd) -> anyhow::Result<()> {
    match cmd {
        SecretCmd::Set {
            name,
            value_file,
            from_env,
        } => {
            let body = PutSecretRequest {
                value: read_value(value_file, from_env)?,
            };
            let v = c
                .call(Method::PUT, c.url(["secrets", name.as_str()]), Some(&body))
                .await?;
            drop(body);
            show(out, &typed(&v)?)
        }
        SecretCmd::List => {
            let list: SecretList = typed(&c.get(c.url(["secrets"])).await?)?;
            match out {
                Output::Json => output::json(&serde_json::to_value(&list)?),
                Output::Table => {
                    let mut t = Table::new(&["NAME", "UPDATED", "UPDATED_BY", "CREATED_BY"]);
                    for s in &list.items {
                        t.row(vec![
                            s.name.clone(),
                            output::time_ms(s.updated_at),
                            s.updated_by.clone(),
                            s.created_by.clone(),
                        ]);
                    }
                    t.print()
                }
            }
        }
        SecretCmd::Show { name } => show(
            out,
            &typed(&c.get(c.url(["secrets", name.as_str()])).await?)?,
        ),
        SecretCmd::Delete { name } => {
            c.delete(c.url(["secrets", name.as_str()])).await?;
            if out == Output::Table {
                output::line(&format!("deleted secret {name}"))?;
            }
            Ok(())
        }
    }
}

pub async fn audit(c: &Client, out: Output, cmd: AuditCmd) -> anyhow::Result<()> {
    let AuditCmd::List {
        since,
        until,
        in_workspace,
        actor,
        action,
        max_results,
        all_pages,
    } = cmd;
    let mut token: Option<String> = None;
    let mut items = Vec::new();
    loop {
        let mut url = c.api_url(["audit"]);
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in [
                ("since", &since),
                ("until", &until),
                ("workspace", &in_workspace),
                ("actor", &actor),
                ("action", &action),
                ("page_token", &token),
            ] {
                if let Some(v) = v {
                    q.append_pair(k, v);
                }
            }
            if let Some(n) = max_results {
                q.append_pair("max_results", &n.to_string());
            }
        }
        let page: AuditList = typed(&c.get(url).await?)?;
        items.extend(page.items);
        match page.next_page_token {
            Some(t) if all_pages => token = Some(t),
            _ => break,
        }
    }
    match out {
        Output::Json => output::json(&serde_json::to_value(&items)?),
        Output::Table => {
            let mut t = Table::new(&[
                "TIME", "ACTOR", "ACTION", "TARGET", "STATUS", "OUTCOME", "IP",
            ]);
            for r in &items {
                t.row(vec![
                    output::time_ms(r.time),
                    format!("{}:{}", r.actor_kind, r.actor_name),
                    r.action.clone(),
                    r.target.clone(),
                    r.status.to_string(),
                    r.outcome.clone(),
                    r.client_ip.clone().unwrap_or_default(),
                ]);
            }
            t.print()
        }
    }
}
