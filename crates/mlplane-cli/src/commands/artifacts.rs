//! `mlplane artifacts ...`: upload files or directory trees to a run, download files or
//! directories, and list one directory level.
//!
//! Invariants:
//! - file contents are streamed in both directions, never held whole in memory;
//! - a download is written to a temporary file next to its destination and renamed into
//!   place only after the whole body arrived and its sha256 matched `x-mlplane-sha256`
//!   (when the server sent one), so an interrupted or corrupt download leaves no file;
//! - paths the server returns are checked to stay inside the download directory;
//! - progress bars draw on stderr only when stderr is a terminal.

use crate::client::{ApiFailure, Client, typed};
use crate::output::{self, Output, Table};
use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mlplane_api::{ArtifactListView, ArtifactView};
use reqwest::Method;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::IsTerminal;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

/// Read size of uploads.
const UPLOAD_CHUNK: usize = 256 * 1024;

#[derive(Debug, clap::Subcommand)]
pub enum ArtifactsCmd {
    /// Upload a file, or the contents of a directory recursively.
    Upload {
        run_id: String,
        /// A file or a directory.
        local_path: PathBuf,
        /// Directory inside the run to upload into [default: the run's root].
        #[arg(long, value_name = "DIR")]
        dest: Option<String>,
    },
    /// Download a file, or a directory recursively.
    Download {
        run_id: String,
        /// Path inside the run; `/` for everything.
        artifact_path: String,
        /// Where to write: a file name, or an existing directory to write into
        /// [default: the artifact's name in the current directory].
        #[arg(short = 'O', long = "out", value_name = "PATH")]
        out: Option<PathBuf>,
    },
    /// List one directory level of a run's artifacts.
    List {
        run_id: String,
        /// Directory inside the run [default: the root].
        path: Option<String>,
    },
}

pub async fn run(c: &Client, out: Output, cmd: ArtifactsCmd) -> anyhow::Result<()> {
    match cmd {
        ArtifactsCmd::Upload {
            run_id,
            local_path,
            dest,
        } => upload(c, out, &run_id, &local_path, dest.as_deref()).await,
        ArtifactsCmd::Download {
            run_id,
            artifact_path,
            out: target,
        } => download(c, &run_id, &artifact_path, target).await,
        ArtifactsCmd::List { run_id, path } => {
            let v = list(c, &run_id, path.as_deref().unwrap_or("")).await?;
            if out == Output::Json {
                return output::json(&v);
            }
            let l: ArtifactListView = typed(&v)?;
            let mut t = Table::new(&["PATH", "SIZE", "SHA256", "CREATED"]);
            let prefix = if l.path.is_empty() {
                String::new()
            } else {
                format!("{}/", l.path)
            };
            for d in &l.dirs {
                t.row(vec![
                    format!("{prefix}{d}/"),
                    String::new(),
                    String::new(),
                    String::new(),
                ]);
            }
            for f in &l.files {
                t.row(vec![
                    f.path.clone(),
                    output::bytes(f.size),
                    f.sha256.clone(),
                    output::time_ms(f.created_at),
                ]);
            }
            t.print()
        }
    }
}

async fn list(c: &Client, run_id: &str, dir: &str) -> anyhow::Result<Value> {
    let dir = dir.trim_matches('/');
    let url = c.url_with(
        ["runs", run_id, "artifact-list"],
        &[("path", (!dir.is_empty()).then(|| dir.to_string()))],
    );
    c.get(url).await
}

/// A file to upload and where it goes in the run.
pub(crate) struct Planned {
    pub local: PathBuf,
    pub remote: String,
    pub size: u64,
}

async fn upload(
    c: &Client,
    out: Output,
    run_id: &str,
    local: &Path,
    dest: Option<&str>,
) -> anyhow::Result<()> {
    let dest = dest.unwrap_or("").trim_matches('/');
    let plan = plan_upload(local, dest)?;
    // One cheap request up front, so a wrong run id fails before gigabytes are sent.
    c.get(c.url(["runs", run_id])).await?;
    let total = plan.iter().map(|p| p.size).sum();
    let bar = progress(total);
    let mut uploaded: Vec<Value> = Vec::new();
    for p in &plan {
        bar.set_message(p.remote.clone());
        let v = upload_file(c, run_id, p, &bar)
            .await
            .with_context(|| format!("uploading {}", p.local.display()))?;
        uploaded.push(v);
    }
    bar.finish_and_clear();
    if out == Output::Json {
        return output::json(&Value::Array(uploaded));
    }
    let mut t = Table::new(&["PATH", "SIZE", "SHA256"]);
    for v in &uploaded {
        let a: ArtifactView = typed(v)?;
        t.row(vec![a.path, output::bytes(a.size), a.sha256]);
    }
    t.print()
}

/// Lists the files to upload: `local` itself, or every file under it (sorted, symlinks to
/// files followed, symlinked directories skipped with a warning).
pub(crate) fn plan_upload(local: &Path, dest: &str) -> anyhow::Result<Vec<Planned>> {
    let meta =
        std::fs::metadata(local).with_context(|| format!("cannot read {}", local.display()))?;
    let join = |rel: &str| {
        if dest.is_empty() {
            rel.to_string()
        } else {
            format!("{dest}/{rel}")
        }
    };
    if meta.is_file() {
        let name = local
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("{} has no usable UTF-8 file name", local.display()))?;
        return Ok(vec![Planned {
            local: local.to_path_buf(),
            remote: join(name),
            size: meta.len(),
        }]);
    }
    if !meta.is_dir() {
        anyhow::bail!("{} is neither a file nor a directory", local.display());
    }
    let mut plan = Vec::new();
    let mut stack = vec![(local.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let mut entries = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot read directory {}", dir.display()))?
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("cannot read directory {}", dir.display()))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let name = e.file_name();
            let name = name
                .to_str()
                .with_context(|| format!("{} has no UTF-8 file name", path.display()))?;
            let child_rel = if rel.is_empty() {
                name.to_string()
            } else {
                format!("{rel}/{name}")
            };
            let is_link = e.file_type().is_ok_and(|t| t.is_symlink());
            let m = std::fs::metadata(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if m.is_dir() {
                if is_link {
                    eprintln!("warning: skipping symlinked directory {}", path.display());
                } else {
                    stack.push((path, child_rel));
                }
            } else if m.is_file() {
                plan.push(Planned {
                    local: path,
                    remote: join(&child_rel),
                    size: m.len(),
                });
            }
        }
    }
    if plan.is_empty() {
        anyhow::bail!("{} contains no files to upload", local.display());
    }
    plan.sort_by(|a, b| a.remote.cmp(&b.remote));
    Ok(plan)
}

async fn upload_file(
    c: &Client,
    run_id: &str,
    p: &Planned,
    bar: &ProgressBar,
) -> anyhow::Result<Value> {
    upload_to(c, &["runs", run_id, "artifacts"], p, bar).await
}

/// Streams `p.local` with `PUT` to the URL `segments` + `p.remote`; answers the JSON body
/// (`null` for an empty answer).
pub(crate) async fn upload_to(
    c: &Client,
    segments: &[&str],
    p: &Planned,
    bar: &ProgressBar,
) -> anyhow::Result<Value> {
    let file = tokio::fs::File::open(&p.local)
        .await
        .with_context(|| format!("cannot open {}", p.local.display()))?;
    // A read error inside the body stream reaches us as a send error; keep the real cause.
    let read_error: Arc<Mutex<Option<String>>> = Arc::default();
    let slot = Arc::clone(&read_error);
    let progress = bar.clone();
    let stream = ReaderStream::with_capacity(file, UPLOAD_CHUNK)
        .inspect_ok(move |b| progress.inc(b.len() as u64))
        .map_err(move |e| {
            if let Ok(mut s) = slot.lock() {
                *s = Some(e.to_string());
            }
            e
        });
    let mut segments = segments.to_vec();
    segments.extend(p.remote.split('/'));
    let req = c
        .request(Method::PUT, c.url(segments))
        .header(CONTENT_TYPE, "application/octet-stream")
        .header(CONTENT_LENGTH, p.size)
        .body(reqwest::Body::wrap_stream(stream));
    match req.send().await {
        Ok(resp) => {
            let resp = c.check(resp).await?;
            let bytes = resp.bytes().await.map_err(|e| c.unreachable(e))?;
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            serde_json::from_slice(&bytes).context("the server's answer is not valid JSON")
        }
        Err(e) => match read_error.lock().ok().and_then(|mut s| s.take()) {
            Some(cause) => Err(anyhow::anyhow!(
                "cannot read {}: {cause}",
                p.local.display()
            )),
            None => Err(c.unreachable(e)),
        },
    }
}

async fn download(
    c: &Client,
    run_id: &str,
    path: &str,
    target: Option<PathBuf>,
) -> anyhow::Result<()> {
    let path = path.trim_matches('/');
    let base = path
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or(run_id);
    if !path.is_empty() {
        let mut segments = vec!["runs", run_id, "artifacts"];
        segments.extend(path.split('/'));
        let req = c.request(Method::GET, c.url(segments));
        match c.send(req).await {
            Ok(resp) => {
                let dest = match target {
                    Some(t) if t.is_dir() => t.join(base),
                    Some(t) => t,
                    None => PathBuf::from(base),
                };
                let bar = progress(resp.content_length().unwrap_or(0));
                bar.set_message(path.to_string());
                save(c, resp, &dest, &bar).await?;
                bar.finish_and_clear();
                return Ok(());
            }
            Err(e) if !is_artifact_not_found(&e) => return Err(e),
            Err(e) => {
                // Not a file; maybe a directory. Keep the original error if it is not one.
                let files = collect_dir(c, run_id, path).await?;
                if files.is_empty() {
                    return Err(e);
                }
                let root = target.unwrap_or_else(|| PathBuf::from(base));
                return download_dir(c, run_id, path, files, &root).await;
            }
        }
    }
    let files = collect_dir(c, run_id, "").await?;
    if files.is_empty() {
        anyhow::bail!("run {run_id} has no artifacts");
    }
    let root = target.unwrap_or_else(|| PathBuf::from(base));
    download_dir(c, run_id, "", files, &root).await
}

fn is_artifact_not_found(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ApiFailure>()
        .is_some_and(|f| f.body.code == "artifact_not_found")
}

/// Every file under `dir`, walking the listing level by level.
async fn collect_dir(c: &Client, run_id: &str, dir: &str) -> anyhow::Result<Vec<ArtifactView>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_string()];
    while let Some(d) = pending.pop() {
        let l: ArtifactListView = typed(&list(c, run_id, &d).await?)?;
        files.extend(l.files);
        for sub in l.dirs {
            pending.push(if d.is_empty() {
                sub
            } else {
                format!("{d}/{sub}")
            });
        }
    }
    Ok(files)
}

async fn download_dir(
    c: &Client,
    run_id: &str,
    dir: &str,
    files: Vec<ArtifactView>,
    root: &Path,
) -> anyhow::Result<()> {
    let bar = progress(files.iter().map(|f| f.size).sum());
    for f in files {
        let rel = if dir.is_empty() {
            f.path.as_str()
        } else {
            f.path
                .strip_prefix(dir)
                .and_then(|r| r.strip_prefix('/'))
                .with_context(|| format!("the server listed '{}' outside '{dir}'", f.path))?
        };
        let dest = root.join(safe_relative(rel)?);
        bar.set_message(f.path.clone());
        let mut segments = vec!["runs", run_id, "artifacts"];
        segments.extend(f.path.split('/'));
        let resp = c.send(c.request(Method::GET, c.url(segments))).await?;
        save(c, resp, &dest, &bar).await?;
    }
    bar.finish_and_clear();
    Ok(())
}

/// Turns a server-provided `a/b/c` into a relative path that cannot leave its root.
pub(crate) fn safe_relative(rel: &str) -> anyhow::Result<PathBuf> {
    let parts_ok = rel
        .split('/')
        .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\\'));
    let p = PathBuf::from_iter(rel.split('/'));
    let ok = parts_ok && p.components().all(|c| matches!(c, Component::Normal(_)));
    if !ok {
        anyhow::bail!("refusing to write artifact path '{rel}' outside the target directory");
    }
    Ok(p)
}

/// Streams a download into `dest` through a temporary file, checking the sha256.
pub(crate) async fn save(
    c: &Client,
    resp: reqwest::Response,
    dest: &Path,
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    let expected = resp
        .headers()
        .get("x-mlplane-sha256")
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    tokio::fs::create_dir_all(&dir)
        .await
        .with_context(|| format!("cannot create directory {}", dir.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".mlplane-download-")
        .tempfile_in(&dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    let std_file = tmp
        .as_file()
        .try_clone()
        .with_context(|| format!("cannot open {}", tmp.path().display()))?;
    let mut file = tokio::fs::File::from_std(std_file);
    let mut hasher = Sha256::new();
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| c.unreachable(e))?;
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .with_context(|| format!("cannot write {}", tmp.path().display()))?;
        bar.inc(chunk.len() as u64);
    }
    file.flush()
        .await
        .and(file.sync_all().await)
        .with_context(|| format!("cannot write {}", tmp.path().display()))?;
    drop(file);
    let actual = hex::encode(hasher.finalize());
    if let Some(expected) = expected
        && expected != actual
    {
        anyhow::bail!(
            "checksum mismatch for {}: the server says sha256 {expected}, received {actual}; nothing was written",
            dest.display()
        );
    }
    tmp.persist(dest)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", dest.display()))?;
    Ok(())
}

/// A byte progress bar on stderr, hidden when stderr is not a terminal.
pub(crate) fn progress(total: u64) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    if let Ok(style) = ProgressStyle::with_template(
        "{wide_msg} {bytes}/{total_bytes} {binary_bytes_per_sec} [{bar:25}] {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_paths_that_would_escape_the_target_are_refused() {
        assert!(safe_relative("a/b.txt").is_ok());
        assert!(safe_relative("../x").is_err());
        assert!(safe_relative("a/../../x").is_err());
        assert!(safe_relative("/etc/passwd").is_err());
        assert!(safe_relative("").is_err());
        assert!(safe_relative("a//b").is_err());
    }

    #[test]
    fn a_directory_upload_maps_every_file_under_the_destination() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("sub/deeper")).expect("mkdir");
        std::fs::write(dir.path().join("a.txt"), b"a").expect("write");
        std::fs::write(dir.path().join("sub/deeper/b.bin"), b"bb").expect("write");
        let plan = plan_upload(dir.path(), "out").expect("plan");
        let remote: Vec<_> = plan.iter().map(|p| (p.remote.as_str(), p.size)).collect();
        assert_eq!(remote, vec![("out/a.txt", 1), ("out/sub/deeper/b.bin", 2)]);
    }
}
