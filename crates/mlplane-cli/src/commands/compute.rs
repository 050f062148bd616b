//! `mlplane compute`: define compute targets from spec files, list and show them.
//!
//! Invariant: like `mlplane job create`, the spec file is sent as text; the server's
//! `invalid_spec` errors are printed as `<file>:<line>:<col>: <field>: <message>` and the
//! command exits 1.

use super::jobs::with_spec_lines;
use crate::client::{Client, typed};
use crate::output::{self, Output};
use mlplane_api::{AssetList, AssetView};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Subcommand)]
pub enum ComputeCmd {
    /// Define a compute target (or store the next version of one) from a spec file.
    Create {
        #[arg(short = 'f', long)]
        file: PathBuf,
        /// Override a field: `--set slots=4` (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
    },
    /// List compute targets, the built-in `local` first.
    List,
    /// Show one compute target.
    Show { name: String },
}

pub async fn run(c: &Client, out: Output, cmd: ComputeCmd) -> anyhow::Result<()> {
    match cmd {
        ComputeCmd::Create { file, set } => {
            let v = create(c, &file, set).await?;
            show(out, &v)
        }
        ComputeCmd::List => {
            let list: AssetList = typed(&c.get(c.api_url(["computes"])).await?)?;
            match out {
                Output::Json => output::json(&serde_json::to_value(&list)?),
                Output::Table => {
                    for v in &list.items {
                        output::line(&format!(
                            "{}\t{}\t{} slots",
                            v.name,
                            v.spec["type"].as_str().unwrap_or(""),
                            v.spec["slots"]
                        ))?;
                    }
                    Ok(())
                }
            }
        }
        ComputeCmd::Show { name } => {
            let v: AssetView = typed(&c.get(c.api_url(["computes", name.as_str()])).await?)?;
            show(out, &v)
        }
    }
}

async fn create(c: &Client, file: &Path, set: Vec<String>) -> anyhow::Result<AssetView> {
    let shown = file.display().to_string();
    let text = super::data::read_spec(file)?;
    match c
        .post(
            c.api_url(["computes"]),
            &json!({ "yaml": text, "set": set }),
        )
        .await
    {
        Ok(v) => typed(&v),
        Err(e) => Err(with_spec_lines(e, &shown, "compute spec")),
    }
}

fn show(out: Output, v: &AssetView) -> anyhow::Result<()> {
    match out {
        Output::Json => output::json(&serde_json::to_value(v)?),
        Output::Table => output::line(&output::fields(&[
            ("name", v.name.clone()),
            ("type", v.spec["type"].as_str().unwrap_or("").to_string()),
            ("slots", v.spec["slots"].to_string()),
            ("cpu", v.spec["cpu"].to_string()),
            ("memory", v.spec["memory"].to_string()),
            ("version", v.version.clone()),
            ("description", v.description.clone()),
        ])),
    }
}
