//! A job's code: the snapshot named by its `mlplane.code.snapshot` tag is fetched from the
//! artifact store, its hash checked, and extracted into `<job folder>/code/`, which becomes
//! the command's working folder (like Azure ML's code folder).
//!
//! Invariants:
//! - the archive is verified against its id (sha256) before a single file is extracted;
//! - extraction goes through `mlplane_snapshot::extract`, so nothing lands outside
//!   `<job folder>/code/` and hostile entries fail the job;
//! - a missing, corrupt or refused snapshot is the job's failure message, naming the
//!   snapshot; a leftover `code/` of an earlier attempt is replaced.

use crate::Shared;
use crate::process::LogPump;
use futures::StreamExt;
use mlplane_artifacts::{ArtifactError, ArtifactKey};
use mlplane_core::snapshot::TAG_SNAPSHOT;
use mlplane_core::{Job, SnapshotId};
use mlplane_snapshot::Limits;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// Fetches and extracts the job's code snapshot into `<dir>/code` and returns that folder.
pub(crate) async fn materialize(
    sh: &Shared,
    job: &Job,
    code: &str,
    dir: &Path,
    log: &LogPump,
) -> Result<PathBuf, String> {
    let Some(tag) = job.tags.iter().find(|t| t.key == TAG_SNAPSHOT) else {
        return Err(format!(
            "code '{code}': the job has no code snapshot (tag {TAG_SNAPSHOT})"
        ));
    };
    let id = SnapshotId::parse(&tag.value)
        .map_err(|e| format!("code '{code}': snapshot id {:?}: {e}", tag.value))?;
    let key = ArtifactKey::snapshot(job.workspace.clone(), id.clone());
    let (_, mut stream) = sh
        .cfg
        .artifacts
        .get_stream(&key)
        .await
        .map_err(|e| match e {
            ArtifactError::NotFound { .. } => {
                format!("code snapshot {id} is missing from the artifact store")
            }
            e => format!("code snapshot {id}: {e}"),
        })?;
    let archive = dir.join("code.tar.gz");
    let target = dir.join("code");
    for old in [&archive, &target] {
        remove(old).await?;
    }
    let mut out = tokio::fs::File::create(&archive)
        .await
        .map_err(|e| format!("cannot write {}: {e}", archive.display()))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("code snapshot {id}: {e}"))?;
        hasher.update(&chunk);
        size += chunk.len() as u64;
        out.write_all(&chunk)
            .await
            .map_err(|e| format!("cannot write {}: {e}", archive.display()))?;
    }
    out.flush()
        .await
        .map_err(|e| format!("cannot write {}: {e}", archive.display()))?;
    drop(out);
    let actual = hex::encode(hasher.finalize());
    if actual != id.as_str() {
        return Err(format!(
            "code snapshot {id} is corrupt: its bytes hash to {actual}"
        ));
    }
    let (from, to) = (archive.clone(), target.clone());
    let extracted = tokio::task::spawn_blocking(move || {
        let f = std::fs::File::open(&from)?;
        mlplane_snapshot::extract(f, &to, &Limits::DEFAULT).map_err(std::io::Error::other)
    })
    .await
    .map_err(|e| format!("extracting code snapshot {id}: {e}"))?
    .map_err(|e| format!("code snapshot {id} cannot be extracted: {e}"))?;
    let _ = tokio::fs::remove_file(&archive).await;
    log.note(&format!(
        "code snapshot {id}: {} entries ({size} bytes) extracted into {}",
        extracted.len(),
        target.display()
    ))
    .await;
    Ok(target)
}

async fn remove(p: &Path) -> Result<(), String> {
    let r = match tokio::fs::symlink_metadata(p).await {
        Ok(m) if m.is_dir() => tokio::fs::remove_dir_all(p).await,
        Ok(_) => tokio::fs::remove_file(p).await,
        Err(_) => return Ok(()),
    };
    r.map_err(|e| format!("cannot remove {}: {e}", p.display()))
}
