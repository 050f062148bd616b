//! `mlplane experiments ...`: list, show, create, rename, delete, restore and tag experiments.
//!
//! Invariants:
//! - `--output json` prints the server's answer unchanged (pretty-printed);
//! - in table mode `create` prints only the new id, so `$(mlplane experiments create x)`
//!   works in scripts.

use super::{Paging, View, fetch_pages, parse_kv, print_page};
use crate::client::{Client, typed};
use crate::output::{self, Output, Table};
use mlplane_api::{
    CreateExperimentRequest, ExperimentList, ExperimentView, KeyValue, UpdateExperimentRequest,
};
use serde_json::Value;

#[derive(Debug, clap::Subcommand)]
pub enum ExperimentsCmd {
    /// List experiments of the workspace.
    List {
        /// Which lifecycle stage to list.
        #[arg(long, value_enum, default_value_t = View::Active)]
        view: View,
        #[command(flatten)]
        paging: Paging,
    },
    /// Show one experiment, by id or by name.
    Show {
        /// Experiment id.
        #[arg(required_unless_present = "name", conflicts_with = "name")]
        id: Option<String>,
        /// Look the experiment up by name instead.
        #[arg(long)]
        name: Option<String>,
    },
    /// Create an experiment and print its id.
    Create {
        name: String,
        /// A tag, KEY=VALUE (repeatable).
        #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_kv)]
        tags: Vec<KeyValue>,
    },
    /// Rename an experiment.
    Rename { id: String, new_name: String },
    /// Soft-delete an experiment (and hide its runs).
    Delete { id: String },
    /// Restore a deleted experiment.
    Restore { id: String },
    /// Set a tag on an experiment.
    SetTag {
        id: String,
        #[arg(value_name = "KEY=VALUE", value_parser = parse_kv)]
        tag: KeyValue,
    },
    /// Remove a tag from an experiment.
    DeleteTag { id: String, key: String },
}

pub async fn run(c: &Client, out: Output, cmd: ExperimentsCmd) -> anyhow::Result<()> {
    match cmd {
        ExperimentsCmd::List { view, paging } => {
            let query = [("view", Some(view.as_str().to_string()))];
            let page = fetch_pages(c, &["experiments"], &query, &paging).await?;
            let list: ExperimentList = typed(&page)?;
            let mut t = Table::new(&["ID", "NAME", "STAGE", "CREATED", "TAGS"]);
            for e in &list.items {
                t.row(vec![
                    e.experiment_id.clone(),
                    e.name.clone(),
                    e.lifecycle_stage.clone(),
                    output::time_ms(e.created_at),
                    e.tags.len().to_string(),
                ]);
            }
            print_page(out, &page, t)
        }
        ExperimentsCmd::Show { id, name } => {
            let url = match (&id, &name) {
                (_, Some(n)) => c.url(["experiments", "by-name", n.as_str()]),
                (Some(id), None) => c.url(["experiments", id.as_str()]),
                (None, None) => anyhow::bail!("give an experiment id or --name"),
            };
            let v = c.get(url).await?;
            show(out, &v)
        }
        ExperimentsCmd::Create { name, tags } => {
            let v = c
                .post(
                    c.url(["experiments"]),
                    &CreateExperimentRequest { name, tags },
                )
                .await?;
            match out {
                Output::Json => output::json(&v),
                Output::Table => output::line(&typed::<ExperimentView>(&v)?.experiment_id),
            }
        }
        ExperimentsCmd::Rename { id, new_name } => {
            let v = c
                .patch(
                    c.url(["experiments", id.as_str()]),
                    &UpdateExperimentRequest { name: new_name },
                )
                .await?;
            done(out, &v, |e| {
                format!("renamed experiment {} to '{}'", e.experiment_id, e.name)
            })
        }
        ExperimentsCmd::Delete { id } => {
            let v = c.delete(c.url(["experiments", id.as_str()])).await?;
            done(out, &v, |e| {
                format!("deleted experiment {}", e.experiment_id)
            })
        }
        ExperimentsCmd::Restore { id } => {
            let v = c
                .post_empty(c.url(["experiments", id.as_str(), "restore"]))
                .await?;
            done(out, &v, |e| {
                format!("restored experiment {}", e.experiment_id)
            })
        }
        ExperimentsCmd::SetTag { id, tag } => {
            c.post(c.url(["experiments", id.as_str(), "tags"]), &tag)
                .await?;
            Ok(())
        }
        ExperimentsCmd::DeleteTag { id, key } => {
            let url = c.url_with(["experiments", id.as_str(), "tags"], &[("key", Some(key))]);
            c.delete(url).await?;
            Ok(())
        }
    }
}

/// Prints an experiment answer: JSON, or a one-line confirmation.
fn done(out: Output, v: &Value, line: impl Fn(&ExperimentView) -> String) -> anyhow::Result<()> {
    match out {
        Output::Json => output::json(v),
        Output::Table => output::line(&line(&typed(v)?)),
    }
}

fn show(out: Output, v: &Value) -> anyhow::Result<()> {
    if out == Output::Json {
        return output::json(v);
    }
    let e: ExperimentView = typed(v)?;
    let mut text = output::fields(&[
        ("experiment_id", e.experiment_id),
        ("name", e.name),
        ("workspace", e.workspace),
        ("stage", e.lifecycle_stage),
        ("artifact_location", e.artifact_location),
        ("created", output::time_ms(e.created_at)),
        ("updated", output::time_ms(e.updated_at)),
    ]);
    if !e.tags.is_empty() {
        let mut t = Table::new(&["TAG", "VALUE"]);
        for kv in e.tags {
            t.row(vec![kv.key, kv.value]);
        }
        text.push('\n');
        text.push_str(&t.render());
    }
    output::raw(&text)
}
