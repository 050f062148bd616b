//! The `code` folder of a job spec: resolved next to the spec file, packed into a snapshot,
//! uploaded unless the server already has it (`HEAD` first), and described with its git
//! state for the submission's `code_snapshot` field.
//!
//! Invariants:
//! - `code` is resolved relative to the spec file's folder and, after following links, must
//!   stay inside it; the spec crate has already refused absolute and `..` paths;
//! - the archive is written to a temporary file and streamed, never held whole in memory;
//! - every error names the spec file and its `code` field.

use crate::client::Client;
use anyhow::Context;
use mlplane_api::{CodeSnapshotRequest, GitInfoRequest};
use mlplane_snapshot::{Limits, PackSummary};
use reqwest::{Method, StatusCode};
use std::io::Seek;
use std::path::Path;
use tokio_util::io::ReaderStream;

/// Packs and uploads the folder `code` names (relative to `spec_file`), returning what the
/// job submission sends. `quiet` silences the progress line on stderr.
pub async fn snapshot(
    c: &Client,
    spec_file: &Path,
    code: &str,
    quiet: bool,
) -> anyhow::Result<CodeSnapshotRequest> {
    let shown = spec_file.display();
    let at = || format!("{shown}: code '{code}'");
    let base = spec_file.parent().filter(|p| !p.as_os_str().is_empty());
    let base = base.unwrap_or(Path::new("."));
    let base = base
        .canonicalize()
        .with_context(|| format!("{}: cannot resolve the spec's folder", shown))?;
    let dir = base
        .join(code)
        .canonicalize()
        .with_context(|| format!("{}: the folder does not exist", at()))?;
    if !dir.starts_with(&base) {
        anyhow::bail!(
            "{}: resolves to {}, outside the spec file's folder {}",
            at(),
            dir.display(),
            base.display()
        );
    }
    if !dir.is_dir() {
        anyhow::bail!("{}: {} is not a folder", at(), dir.display());
    }
    let packing = dir.clone();
    let (summary, mut file) =
        tokio::task::spawn_blocking(move || -> anyhow::Result<(PackSummary, std::fs::File)> {
            let mut file = tempfile::tempfile().context("cannot create a temporary file")?;
            let s = mlplane_snapshot::pack(&packing, &Limits::DEFAULT, &mut file)?;
            file.rewind().context("rewinding the archive")?;
            Ok((s, file))
        })
        .await
        .context("the packing task failed")?
        .with_context(at)?;
    let id = summary.id.to_string();
    let url = c.url(["snapshots", &id]);
    let head = c
        .request(Method::HEAD, url.clone())
        .send()
        .await
        .map_err(|e| c.unreachable(e))?;
    let uploaded = match head.status() {
        StatusCode::OK => false,
        StatusCode::NOT_FOUND => {
            file.rewind().context("rewinding the archive")?;
            let body =
                reqwest::Body::wrap_stream(ReaderStream::new(tokio::fs::File::from_std(file)));
            c.send(
                c.request(Method::PUT, url)
                    .header("content-type", "application/octet-stream")
                    .body(body),
            )
            .await
            .with_context(|| format!("{}: uploading snapshot {id}", at()))?;
            true
        }
        other => {
            // Let the server's error body say what is wrong (e.g. an unknown workspace).
            c.send(c.request(Method::GET, c.url(["snapshots", &id])))
                .await
                .with_context(|| format!("{}: checking snapshot {id} ({other})", at()))?;
            anyhow::bail!(
                "{}: checking snapshot {id}: the server answered {other}",
                at()
            );
        }
    };
    if !quiet {
        eprintln!(
            "code {code}: snapshot {id} ({} files, {} bytes packed to {}){}",
            summary.files,
            summary.content_bytes,
            summary.archive_bytes,
            if uploaded {
                " uploaded"
            } else {
                " already on the server"
            }
        );
    }
    let git = mlplane_snapshot::git::git_info(&dir).map(|g| GitInfoRequest {
        commit: g.commit,
        branch: g.branch,
        repo_url: g.repo_url,
        dirty: g.dirty,
    });
    Ok(CodeSnapshotRequest { sha256: id, git })
}
