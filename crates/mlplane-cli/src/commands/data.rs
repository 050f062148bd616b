//! `mlplane data` and `mlplane model`: create versions from spec files (uploading a local
//! file or folder, then completing the version), show, list and download them.
//!
//! Invariants:
//! - a local `path` is resolved against the spec file's folder and must stay inside it (also
//!   after resolving symbolic links); it is checked before anything is created on the server;
//! - a version is completed only after every file was uploaded; if an upload fails the
//!   version stays pending (no job can use it) and the command fails naming the file;
//! - downloads never write outside the target folder (`safe_relative`) and check each file's
//!   sha256.

use super::artifacts::{Planned, plan_upload, progress, safe_relative, save, upload_to};
use super::{Paging, fetch_pages, print_page};
use crate::client::{Client, typed};
use crate::output::{self, Output};
use anyhow::Context;
use mlplane_api::{AssetFileList, AssetView};
use mlplane_spec::DataPath;
use reqwest::Method;
use serde_json::json;
use std::path::{Path, PathBuf};

/// Largest spec file read, in bytes (the server's own limit is the same).
pub(crate) const MAX_SPEC_FILE: u64 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Data,
    Model,
    Environment,
}

impl Kind {
    /// The URL segment of the kind.
    pub fn segment(self) -> &'static str {
        match self {
            Kind::Data => "data",
            Kind::Model => "models",
            Kind::Environment => "environments",
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum AssetCmd {
    /// Create a version from a spec file; a local `path` (relative to the file) is uploaded.
    Create {
        /// The spec file (Azure ML data or model YAML, or JSON).
        #[arg(short = 'f', long)]
        file: PathBuf,
        /// Override a field: `--set version=2` (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
    },
    /// Show one version (`latest` by default).
    Show {
        name: String,
        /// The version, or `latest`.
        #[arg(
            long = "asset-version",
            short = 'v',
            id = "asset_version",
            default_value = "latest"
        )]
        version: String,
    },
    /// List the latest version of each name.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Download a version's files into a folder (default `./<name>`).
    Download {
        name: String,
        /// The version, or `latest`.
        #[arg(
            long = "asset-version",
            short = 'v',
            id = "asset_version",
            default_value = "latest"
        )]
        version: String,
        #[arg(long = "output-dir", visible_alias = "download-path")]
        output_dir: Option<PathBuf>,
    },
}

pub async fn run(c: &Client, out: Output, kind: Kind, cmd: AssetCmd) -> anyhow::Result<()> {
    match cmd {
        AssetCmd::Create { file, set } => {
            let v = create_from_file(c, kind, &file, set).await?;
            show(out, &v)
        }
        AssetCmd::Show { name, version } => {
            let v: AssetView = typed(
                &c.get(c.url([kind.segment(), &name, "versions", &version]))
                    .await?,
            )?;
            show(out, &v)
        }
        AssetCmd::List { paging } => {
            let page = fetch_pages(c, &[kind.segment()], &[], &paging).await?;
            let mut table = output::Table::new(&["NAME", "VERSION", "STORAGE", "CREATED"]);
            for a in page["items"].as_array().into_iter().flatten() {
                let a: AssetView = typed(a)?;
                let at = storage(&a);
                table.row(vec![a.name, a.version, at, output::time_ms(a.created_at)]);
            }
            print_page(out, &page, table)
        }
        AssetCmd::Download {
            name,
            version,
            output_dir,
        } => {
            let dest = output_dir.unwrap_or_else(|| PathBuf::from(&name));
            let n = download_version(c, kind.segment(), &name, &version, &dest).await?;
            eprintln!("downloaded {n} files to {}", dest.display());
            Ok(())
        }
    }
}

fn storage(a: &AssetView) -> String {
    match (&a.storage_uri, a.pending_upload) {
        (Some(u), _) => u.clone(),
        (None, true) => "(pending upload)".into(),
        (None, false) => String::new(),
    }
}

fn show(out: Output, a: &AssetView) -> anyhow::Result<()> {
    match out {
        Output::Json => output::json(&serde_json::to_value(a)?),
        Output::Table => output::line(&output::fields(&[
            ("kind", a.kind.clone()),
            ("name", a.name.clone()),
            ("version", a.version.clone()),
            ("storage", storage(a)),
            ("source job", a.source_job.clone().unwrap_or_default()),
            ("archived", a.archived.to_string()),
            ("created", output::time_ms(a.created_at)),
        ])),
    }
}

/// Reads a spec file (size-limited) as text.
pub fn read_spec(file: &Path) -> anyhow::Result<String> {
    let shown = file.display();
    let meta = std::fs::metadata(file).with_context(|| format!("cannot read {shown}"))?;
    if meta.len() > MAX_SPEC_FILE {
        anyhow::bail!(
            "{shown} is {} bytes; a spec file may hold at most {MAX_SPEC_FILE}",
            meta.len()
        );
    }
    std::fs::read_to_string(file).with_context(|| format!("cannot read {shown}"))
}

/// The local path `rel` of a spec in `spec_file`, which must stay inside the spec's folder.
pub fn resolve_local(spec_file: &Path, rel: &str, field: &str) -> anyhow::Result<PathBuf> {
    let base = spec_file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base = base
        .canonicalize()
        .with_context(|| format!("cannot read the folder of {}", spec_file.display()))?;
    let full = base.join(rel);
    let real = full.canonicalize().with_context(|| {
        format!(
            "{}: {field}: '{rel}' does not exist next to the spec file",
            spec_file.display()
        )
    })?;
    if !real.starts_with(&base) {
        anyhow::bail!(
            "{}: {field}: '{rel}' leads outside the spec file's folder (to {})",
            spec_file.display(),
            real.display()
        );
    }
    Ok(real)
}

/// The file an environment references (`pip_requirements`, `conda_file`), read next to
/// `spec_file` (it must stay inside its folder, be UTF-8 and at most [`MAX_SPEC_FILE`]
/// bytes), as the request's `files` map; empty when it references none.
pub fn env_files(
    spec_file: &Path,
    e: &mlplane_spec::EnvironmentSpec,
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    use mlplane_spec::assets::DepsSource;
    let (field, rel) = match &e.deps {
        DepsSource::RequirementsFile(r) => ("pip_requirements", r),
        DepsSource::CondaFile(r) => ("conda_file", r),
        _ => return Ok(serde_json::Map::new()),
    };
    let full = resolve_local(spec_file, rel, field)?;
    let text = read_spec(&full).with_context(|| format!("{}: {field}", spec_file.display()))?;
    let mut m = serde_json::Map::new();
    m.insert(rel.clone(), serde_json::Value::String(text));
    Ok(m)
}

/// Creates a version from `file`, uploading its local path when it names one.
pub async fn create_from_file(
    c: &Client,
    kind: Kind,
    file: &Path,
    set: Vec<String>,
) -> anyhow::Result<AssetView> {
    let text = read_spec(file)?;
    // Parse here too, to find the local path and check it before creating anything; the
    // server validates again and answers with positions if the spec is invalid.
    let mut files = serde_json::Map::new();
    let local = match kind {
        Kind::Data => mlplane_spec::parse_data(&text, &set).ok().map(|d| d.path),
        Kind::Model => mlplane_spec::parse_model(&text, &set).ok().map(|m| m.path),
        Kind::Environment => {
            if let Ok(e) = mlplane_spec::parse_environment(&text, &set) {
                files = env_files(file, &e)?;
            }
            None
        }
    };
    let local = match local {
        Some(DataPath::Local(rel)) => Some(resolve_local(file, &rel, "path")?),
        _ => None,
    };
    let plan = local.as_deref().map(|l| plan_upload(l, "")).transpose()?;
    let created = c
        .post(
            c.url([kind.segment()]),
            &json!({"yaml": text, "set": set, "files": files}),
        )
        .await
        .map_err(|e| super::jobs::with_spec_lines(e, &file.display().to_string(), "spec"))?;
    let created: AssetView = typed(&created)?;
    match plan {
        Some(plan) if created.pending_upload => {
            upload_and_complete(c, kind.segment(), &created.name, &created.version, &plan).await
        }
        _ => Ok(created),
    }
}

/// Uploads `plan` into the pending version and completes it.
pub async fn upload_and_complete(
    c: &Client,
    segment: &str,
    name: &str,
    version: &str,
    plan: &[Planned],
) -> anyhow::Result<AssetView> {
    let bar = progress(plan.iter().map(|p| p.size).sum());
    for p in plan {
        bar.set_message(p.remote.clone());
        upload_to(c, &[segment, name, "versions", version, "files"], p, &bar)
            .await
            .with_context(|| {
                format!(
                    "uploading {} into {name}:{version} (the version stays pending)",
                    p.local.display()
                )
            })?;
    }
    bar.finish_and_clear();
    typed(
        &c.post_empty(c.url([segment, name, "versions", version, "complete"]))
            .await?,
    )
}

/// Downloads every file of a version into `dest`; answers how many.
pub async fn download_version(
    c: &Client,
    segment: &str,
    name: &str,
    version: &str,
    dest: &Path,
) -> anyhow::Result<usize> {
    let files: AssetFileList = typed(
        &c.get(c.url([segment, name, "versions", version, "files"]))
            .await?,
    )?;
    let bar = progress(files.items.iter().map(|f| f.size).sum());
    for f in &files.items {
        let target = dest.join(safe_relative(&f.path)?);
        bar.set_message(f.path.clone());
        let mut segments = vec![segment, name, "versions", version, "files"];
        segments.extend(f.path.split('/'));
        let resp = c.send(c.request(Method::GET, c.url(segments))).await?;
        save(c, resp, &target, &bar).await?;
    }
    bar.finish_and_clear();
    tokio::fs::create_dir_all(dest)
        .await
        .with_context(|| format!("cannot create {}", dest.display()))?;
    Ok(files.items.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_must_stay_next_to_the_spec() {
        let d = tempfile::tempdir().expect("tempdir");
        let spec = d.path().join("proj/data.yml");
        std::fs::create_dir_all(d.path().join("proj/csv")).expect("mkdir");
        std::fs::write(d.path().join("secret.txt"), "s").expect("write");
        std::os::unix::fs::symlink(d.path().join("secret.txt"), d.path().join("proj/link"))
            .expect("symlink");
        assert!(resolve_local(&spec, "csv", "path").is_ok());
        let e = resolve_local(&spec, "link", "path").expect_err("a link out is refused");
        assert!(e.to_string().contains("outside"), "{e}");
        let e = resolve_local(&spec, "missing", "path").expect_err("missing");
        assert!(e.to_string().contains("does not exist"), "{e}");
    }
}
