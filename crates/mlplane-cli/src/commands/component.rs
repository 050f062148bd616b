//! `mlplane component`: register command components from spec files and show them; jobs
//! use one with `component: azureml:<name>:<version>`.
//!
//! Invariant: like `mlplane job create`, the spec file is sent as text; the server's
//! `invalid_spec` errors are printed as `<file>:<line>:<col>: <field>: <message>` and the
//! command exits 1;
//! - a spec naming `code` has that folder (next to the spec file, never outside it) packed and
//!   uploaded as a code snapshot first (`code.rs`, as `job create` does), sent as
//!   `code_snapshot` with its git state and stored with the component version.

use super::jobs::with_spec_lines;
use crate::client::{Client, typed};
use crate::output::{self, Output};
use mlplane_api::AssetView;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Subcommand)]
pub enum ComponentCmd {
    /// Register a version of a command component from a spec file.
    Create {
        #[arg(short = 'f', long)]
        file: PathBuf,
        /// Override a field: `--set version=2` (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
    },
    /// Show a component version (`name`, `name:version` or `name@latest`).
    Show { name: String },
}

pub async fn run(c: &Client, out: Output, cmd: ComponentCmd) -> anyhow::Result<()> {
    match cmd {
        ComponentCmd::Create { file, set } => {
            let v = create(c, &file, set, out == Output::Json).await?;
            show(out, &v)
        }
        ComponentCmd::Show { name } => {
            let (n, v) = match name.split_once(':') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => (
                    name.trim_end_matches("@latest").to_string(),
                    "latest".to_string(),
                ),
            };
            let a: AssetView = typed(
                &c.get(c.url(["components", n.as_str(), "versions", v.as_str()]))
                    .await?,
            )?;
            show(out, &a)
        }
    }
}

async fn create(
    c: &Client,
    file: &Path,
    set: Vec<String>,
    quiet: bool,
) -> anyhow::Result<AssetView> {
    let shown = file.display().to_string();
    let text = super::data::read_spec(file)?;
    // A spec that does not parse here is sent as it is, so the server's positioned errors
    // are printed below; one that names `code` gets its folder packed and uploaded first.
    let code = match mlplane_spec::parse_component(&text, &set) {
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
    match c.post(c.url(["components"]), &body).await {
        Ok(v) => typed(&v),
        Err(e) => Err(with_spec_lines(e, &shown, "component spec")),
    }
}

fn show(out: Output, v: &AssetView) -> anyhow::Result<()> {
    match out {
        Output::Json => output::json(&serde_json::to_value(v)?),
        Output::Table => {
            let names = |k: &str| -> String {
                v.spec[k]
                    .as_object()
                    .map(|m| m.keys().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            };
            output::line(&output::fields(&[
                ("name", v.name.clone()),
                ("version", v.version.clone()),
                ("inputs", names("inputs")),
                ("outputs", names("outputs")),
                ("description", v.description.clone()),
            ]))
        }
    }
}
