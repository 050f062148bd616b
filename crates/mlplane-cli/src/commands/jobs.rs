//! `mlplane job`: submit a command job from a YAML (or JSON) spec file and follow it, show,
//! list, cancel and stream jobs.
//!
//! Invariants:
//! - a spec naming `code` has that folder (next to the spec file) packed and uploaded as a
//!   code snapshot first (`code.rs`), sent as `code_snapshot` with its git state;
//! - the spec file is read here and sent as text with the `--set` overrides; the server
//!   validates it, and its `invalid_spec` errors are printed as `<file>:<line>:<col>: <field>:
//!   <message>` before the command fails with exit code 1;
//! - `--stream` prints the job's log from the server's event stream (resuming from the last
//!   offset if the connection drops) until its run ends, then exits 0 only for `Completed`.

use super::{Paging, fetch_pages, print_page};
use crate::client::{ApiFailure, Client, typed};
use crate::output::{self, Output};
use anyhow::Context;
use mlplane_api::JobView;
use serde_json::{Value, json};
use std::path::PathBuf;

/// Largest spec file read, in bytes (the server's own limit is the same).
pub(crate) const MAX_SPEC_FILE: u64 = 1 << 20;

#[derive(Debug, clap::Subcommand)]
pub enum JobCmd {
    /// Submit a job from a spec file (Azure ML command job YAML, or JSON).
    Create {
        /// The spec file.
        #[arg(short = 'f', long)]
        file: PathBuf,
        /// Override a field: `--set inputs.lr=0.1` (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// Print the job's log until it ends; exit non-zero unless it completed.
        #[arg(long)]
        stream: bool,
    },
    /// Show one job.
    Show { name: String },
    /// List jobs, newest first.
    List {
        /// Only these statuses, comma-separated (e.g. `Running,Queued`).
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
    /// Ask a job to stop (a queued job is canceled at once).
    Cancel { name: String },
    /// Print a job's log until it ends.
    Stream { name: String },
}

pub async fn run(c: &Client, out: Output, cmd: JobCmd) -> anyhow::Result<()> {
    match cmd {
        JobCmd::Create { file, set, stream } => {
            let job = create(c, &file, set, out == Output::Json).await?;
            if stream {
                if out == Output::Table {
                    eprintln!("job {} queued (run {})", job.name, job.run_id);
                }
                follow(c, &job.name, &job.run_id).await
            } else {
                show(out, &job)
            }
        }
        JobCmd::Show { name } => {
            let job: JobView = typed(&c.get(c.url(["jobs", &name])).await?)?;
            show(out, &job)
        }
        JobCmd::List { status, paging } => {
            let page = fetch_pages(c, &["jobs"], &[("status", status)], &paging).await?;
            let mut table = output::Table::new(&["NAME", "STATUS", "EXPERIMENT", "CREATED"]);
            for j in page["items"].as_array().into_iter().flatten() {
                let j: JobView = typed(j)?;
                table.row(vec![
                    j.name,
                    j.status,
                    j.experiment_id,
                    output::time_ms(j.created_at),
                ]);
            }
            print_page(out, &page, table)
        }
        JobCmd::Cancel { name } => {
            let job: JobView = typed(&c.post_empty(c.url(["jobs", &name, "cancel"])).await?)?;
            show(out, &job)
        }
        JobCmd::Stream { name } => {
            let job: JobView = typed(&c.get(c.url(["jobs", &name])).await?)?;
            follow(c, &job.name, &job.run_id).await
        }
    }
}

async fn create(
    c: &Client,
    file: &PathBuf,
    set: Vec<String>,
    quiet: bool,
) -> anyhow::Result<JobView> {
    let shown = file.display().to_string();
    let meta = std::fs::metadata(file).with_context(|| format!("cannot read {shown}"))?;
    if meta.len() > MAX_SPEC_FILE {
        anyhow::bail!(
            "{shown} is {} bytes; a spec file may hold at most {MAX_SPEC_FILE}",
            meta.len()
        );
    }
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {shown}"))?;
    // A spec that does not parse here is sent as it is, so the server's positioned errors
    // are printed below; one that names `code` gets its folder packed and uploaded first.
    let code = match mlplane_spec::parse_command_job(&text, &set) {
        Ok(spec) => match spec.code {
            Some(code) => Some(super::code::snapshot(c, file, &code, quiet).await?),
            None => None,
        },
        Err(_) => None,
    };
    let mut body = json!({ "yaml": text, "set": set });
    if let Some(code) = code {
        body["code_snapshot"] = serde_json::to_value(code)?;
    }
    match c.post(c.url(["jobs"]), &body).await {
        Ok(v) => typed(&v),
        Err(e) => {
            let Some(f) = e.downcast_ref::<ApiFailure>() else {
                return Err(e);
            };
            let lines = spec_error_lines(&shown, &f.body.details);
            if lines.is_empty() {
                return Err(e);
            }
            for line in &lines {
                eprintln!("{line}");
            }
            // The lines above already say what is wrong and where; keep the failure (exit
            // code 1) but not the server's copy of the same lines.
            Err(ApiFailure {
                body: mlplane_api::ErrorBody {
                    code: f.body.code.clone(),
                    message: format!("{shown} is not a valid job spec ({} problems)", lines.len()),
                    details: Value::Null,
                },
            }
            .into())
        }
    }
}

/// `<file>:<line>:<col>: <field>: <message>` for each error of an `invalid_spec` answer.
pub(crate) fn spec_error_lines(file: &str, details: &Value) -> Vec<String> {
    details
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| {
            let n = |k: &str| e.get(k).and_then(Value::as_u64).unwrap_or(0);
            let field = e.get("field").and_then(Value::as_str).unwrap_or("");
            let message = e.get("message").and_then(Value::as_str).unwrap_or("");
            let at = if field.is_empty() {
                String::new()
            } else {
                format!("{field}: ")
            };
            format!("{file}:{}:{}: {at}{message}", n("line"), n("column"))
        })
        .collect()
}

fn show(out: Output, job: &JobView) -> anyhow::Result<()> {
    match out {
        Output::Json => output::json(&serde_json::to_value(job)?),
        Output::Table => output::line(&output::fields(&[
            ("name", job.name.clone()),
            ("status", job.status.clone()),
            ("message", job.status_message.clone().unwrap_or_default()),
            ("experiment", job.experiment_id.clone()),
            ("run", job.run_id.clone()),
            ("compute", job.compute.clone()),
            ("created", output::time_ms(job.created_at)),
        ])),
    }
}

/// Prints the job's log (server-sent events) until its run ends, then fails unless the
/// job completed.
async fn follow(c: &Client, name: &str, run_id: &str) -> anyhow::Result<()> {
    super::logs::stream(c, run_id).await?;
    let job: JobView = typed(&c.get(c.url(["jobs", name])).await?)?;
    match job.status.as_str() {
        "Completed" => {
            eprintln!("job {name} completed");
            Ok(())
        }
        status => anyhow::bail!(
            "job {name} ended {status}{}",
            job.status_message
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_errors_name_the_file_line_and_field() {
        let details = json!({"errors": [
            {"line": 3, "column": 1, "field": "comand", "message": "unknown field 'comand'; did you mean 'command'?"},
            {"line": 0, "column": 0, "field": "", "message": "bad"}
        ]});
        assert_eq!(
            spec_error_lines("job.yml", &details),
            vec![
                "job.yml:3:1: comand: unknown field 'comand'; did you mean 'command'?".to_string(),
                "job.yml:0:0: bad".to_string()
            ]
        );
    }
}
