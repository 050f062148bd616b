//! `mlplane job`: submit a command job from a YAML (or JSON) spec file and follow it, show,
//! list, cancel and stream jobs.
//!
//! Invariants:
//! - a spec naming `code` has that folder (next to the spec file) packed and uploaded as a
//!   code snapshot first (`code.rs`), sent as `code_snapshot` with its git state; a job of a
//!   component that names no `code` itself runs the component's stored snapshot;
//! - the spec file is read here and sent as text with the `--set` overrides; the server
//!   validates it, and its `invalid_spec` errors are printed as `<file>:<line>:<col>: <field>:
//!   <message>` before the command fails with exit code 1;
//! - local input paths (relative to the spec file, never outside its folder) are uploaded
//!   first as anonymous data or model versions named by their content
//!   (`azureml_anon_<sha256 prefix>`, so the same files are uploaded once) and the inputs
//!   are rewritten with `--set inputs.<name>.path=azureml:<asset>:1`, as Azure ML does;
//! - `download` writes the job's registered outputs under `named-outputs/<output>/` and its
//!   log to `user_logs/std_log.txt`, never outside the target folder;
//! - `--stream` prints the job's log from the server's event stream (resuming from the last
//!   offset if the connection drops) until its run ends, then exits 0 only for `Completed`.

use super::{Paging, fetch_pages, print_page};
use crate::client::{ApiFailure, Client, typed};
use crate::output::{self, Output};
use anyhow::Context;
use mlplane_api::{AssetView, JobIoList, JobView};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

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
    /// Download a job's outputs and its log (default folder `./<name>`).
    Download {
        name: String,
        #[arg(long = "output-dir", visible_alias = "download-path")]
        output_dir: Option<PathBuf>,
    },
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
        JobCmd::Download { name, output_dir } => {
            let dest = output_dir.unwrap_or_else(|| PathBuf::from(&name));
            download(c, &name, &dest).await
        }
    }
}

/// The job's outputs under `dest/named-outputs/<output>/` and its log in
/// `dest/user_logs/std_log.txt`.
async fn download(c: &Client, name: &str, dest: &Path) -> anyhow::Result<()> {
    let job: JobView = typed(&c.get(c.url(["jobs", name])).await?)?;
    let io: JobIoList = typed(&c.get(c.url(["jobs", name, "io"])).await?)?;
    let mut outputs = 0;
    for x in io.items.iter().filter(|x| x.direction == "output") {
        let Some(a) = &x.asset else { continue };
        let segment = if a.kind == "model" { "models" } else { "data" };
        let target = dest
            .join("named-outputs")
            .join(super::artifacts::safe_relative(&x.name)?);
        let n = super::data::download_version(c, segment, &a.name, &a.version, &target).await?;
        eprintln!(
            "output {}: {} {}:{} ({n} files) -> {}",
            x.name,
            a.kind,
            a.name,
            a.version,
            target.display()
        );
        outputs += 1;
    }
    let logs = dest.join("user_logs");
    tokio::fs::create_dir_all(&logs)
        .await
        .with_context(|| format!("cannot create {}", logs.display()))?;
    let mut text = String::new();
    let mut offset = 0u64;
    loop {
        let url = c.url_with(
            ["runs", &job.run_id, "logs"],
            &[("offset", Some(offset.to_string()))],
        );
        let chunk: mlplane_api::LogChunkView = typed(&c.get(url).await?)?;
        text.push_str(&chunk.data);
        if chunk.next_offset <= offset || chunk.data.is_empty() {
            break;
        }
        offset = chunk.next_offset;
    }
    let log = logs.join("std_log.txt");
    tokio::fs::write(&log, text)
        .await
        .with_context(|| format!("cannot write {}", log.display()))?;
    eprintln!(
        "job {name} ({}): {outputs} outputs and its log in {}",
        job.status,
        dest.display()
    );
    Ok(())
}

/// Uploads every local data input of the spec as an anonymous version named by its content
/// and answers the `--set` overrides that point the inputs at them.
async fn upload_local_inputs(
    c: &Client,
    file: &Path,
    text: &str,
    set: &[String],
) -> anyhow::Result<Vec<String>> {
    // An invalid spec is left to the server, which answers with positions.
    let Ok(job) = mlplane_spec::parse_command_job(text, set) else {
        return Ok(vec![]);
    };
    let mut extra = Vec::new();
    for (input, value) in &job.inputs {
        let mlplane_spec::JobInput::Data {
            kind,
            path: mlplane_spec::DataPath::Local(rel),
            ..
        } = value
        else {
            continue;
        };
        let field = format!("inputs.{input}.path");
        let local = super::data::resolve_local(file, rel, &field)?;
        let plan = super::artifacts::plan_upload(&local, "")?;
        let asset = anonymous_name(&plan)?;
        let segment = if kind.is_model() { "models" } else { "data" };
        let existing = c.get(c.url([segment, &asset, "versions", "1"])).await;
        let ready = match existing {
            Ok(v) => !typed::<AssetView>(&v)?.pending_upload,
            Err(e) if is_not_found(&e) => {
                let spec = json!({"name": asset, "version": "1", "type": kind.name(),
                                  "path": rel, "description": format!("local input '{input}' of {}", file.display())});
                c.post(c.url([segment]), &spec).await?;
                false
            }
            Err(e) => return Err(e),
        };
        if !ready {
            super::data::upload_and_complete(c, segment, &asset, "1", &plan).await?;
        }
        eprintln!("input {input}: uploaded {} as {asset}:1", local.display());
        extra.push(format!("{field}=azureml:{asset}:1"));
    }
    Ok(extra)
}

fn is_not_found(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ApiFailure>()
        .is_some_and(|f| f.body.code.ends_with("not_found"))
}

/// `azureml_anon_<24 hex>`: a digest of every file's relative path and content.
fn anonymous_name(plan: &[super::artifacts::Planned]) -> anyhow::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut all = Sha256::new();
    for p in plan {
        let mut f = std::fs::File::open(&p.local)
            .with_context(|| format!("cannot read {}", p.local.display()))?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f
                .read(&mut buf)
                .with_context(|| format!("cannot read {}", p.local.display()))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        all.update(p.remote.as_bytes());
        all.update([0]);
        all.update(h.finalize());
    }
    let hex = hex::encode(all.finalize());
    Ok(format!("azureml_anon_{}", &hex[..24]))
}

/// Turns an `invalid_spec` failure into one `<file>:<line>:<col>: <field>: <message>` line
/// per problem on stderr, keeping exit code 1.
pub fn with_spec_lines(e: anyhow::Error, shown: &str, what: &str) -> anyhow::Error {
    let Some(f) = e.downcast_ref::<ApiFailure>() else {
        return e;
    };
    let lines = spec_error_lines(shown, &f.body.details);
    if lines.is_empty() {
        return e;
    }
    for line in &lines {
        eprintln!("{line}");
    }
    ApiFailure {
        body: mlplane_api::ErrorBody {
            code: f.body.code.clone(),
            message: format!("{shown} is not a valid {what} ({} problems)", lines.len()),
            details: Value::Null,
        },
    }
    .into()
}

async fn create(
    c: &Client,
    file: &Path,
    mut set: Vec<String>,
    quiet: bool,
) -> anyhow::Result<JobView> {
    let shown = file.display().to_string();
    let text = super::data::read_spec(file)?;
    set.extend(upload_local_inputs(c, file, &text, &set).await?);
    // A spec that does not parse here is sent as it is, so the server's positioned errors
    // are printed below; one that names `code` gets its folder packed and uploaded first.
    // A job of a component gets the component's stored snapshot unless it names its own.
    let own = match mlplane_spec::component_ref(&text, &set) {
        Ok(Some(_)) => mlplane_spec::job_code(&text, &set).ok().flatten(),
        Ok(None) => mlplane_spec::parse_command_job(&text, &set)
            .ok()
            .and_then(|spec| spec.code),
        Err(_) => None,
    };
    let code = match own {
        Some(code) => Some(super::code::snapshot(c, file, &code, quiet).await?),
        None => None,
    };
    let mut files = serde_json::Map::new();
    if let Ok(spec) = mlplane_spec::parse_command_job(&text, &set)
        && let mlplane_spec::EnvSource::Inline(e) = &spec.environment
    {
        files = super::data::env_files(file, e)?;
    }
    let mut body = json!({ "yaml": text, "set": set, "files": files });
    if let Some(code) = code {
        body["code_snapshot"] = serde_json::to_value(code)?;
    }
    match c.post(c.url(["jobs"]), &body).await {
        Ok(v) => typed(&v),
        Err(e) => Err(with_spec_lines(e, &shown, "job spec")),
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
    let last_id = super::logs::stream(c, run_id, None).await?;
    // The run can end before the job does: the mlflow client in the job ends it at exit,
    // while the process still prints its last lines and the executor registers outputs.
    // Wait for the job's own terminal status, then print what the log gained meanwhile.
    let mut job: JobView = typed(&c.get(c.url(["jobs", name])).await?)?;
    while !matches!(job.status.as_str(), "Completed" | "Failed" | "Canceled") {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        job = typed(&c.get(c.url(["jobs", name])).await?)?;
    }
    super::logs::stream(c, run_id, last_id).await?;
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
