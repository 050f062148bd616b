//! Data inputs and outputs of a job: materialising each data or model input under the job's
//! folder before the process starts, and registering each output as a versioned asset after
//! it exited 0.
//!
//! An input named `x` is copied from the artifact store to `inputs/x/` (the files of the
//! version its storage URI names, which may be another version's) and `${{inputs.x}}` is
//! bound to that folder, or to its one file for a `uri_file`; `ro_mount` inputs are made
//! read-only, `download` inputs stay writable, `direct` inputs pass the storage URI as is.
//! An output named `y` is `outputs/y/` (a folder) or `outputs/y` (a `uri_file`); its files are
//! uploaded into a new version (data for `uri_file`/`uri_folder`/`mltable`, model for
//! `mlflow_model`/`custom_model`) named as the spec says or `azureml_<job>_output_data_<y>`,
//! which is completed and recorded as the job's output for lineage.
//!
//! Invariants:
//! - nothing is read or written outside the job's folder: input paths come from checked
//!   `ArtifactPath`s; output trees are walked without following symbolic links, and a link
//!   (or any other non-regular file) anywhere in an output fails the job; the final path
//!   component is opened with `O_NOFOLLOW`;
//! - an output version is complete (has a `storage_uri`) only once every file was uploaded
//!   and recorded; a failure leaves it pending, which no job can use, and fails the job.

use crate::Shared;
use bytes::Bytes;
use futures::Stream;
use mlplane_artifacts::{ArtifactKey, AssetVersionKey};
use mlplane_core::assets::{parse_stored_asset_uri, stored_asset_uri};
use mlplane_core::{
    ArtifactPath, AssetFile, AssetKind, AssetVersionRef, IoDirection, Job, JobIo, NewAsset,
};
use mlplane_spec::{AssetRef, CommandJob, DataPath, DataType, InputMode, JobInput, JobOutput};
use std::collections::BTreeMap;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// The asset kind a data type is stored as.
pub fn asset_kind(t: DataType) -> AssetKind {
    if t.is_model() {
        AssetKind::Model
    } else {
        AssetKind::Data
    }
}

/// Where output `name` lives in the job folder `dir`.
pub fn output_path(dir: &Path, name: &str) -> PathBuf {
    dir.join("outputs").join(name)
}

/// The asset name of output `output` of `job` when the spec gives none (Azure ML's default).
pub fn default_output_name(job: &str, output: &str) -> String {
    format!("azureml_{job}_output_data_{output}")
}

/// Copies every data input into `dir/inputs/<name>` and returns the value each binds to.
pub(crate) async fn materialise_inputs(
    sh: &Shared,
    job: &Job,
    spec: &CommandJob,
    dir: &Path,
) -> Result<BTreeMap<String, String>, String> {
    let mut bound = BTreeMap::new();
    for (name, input) in &spec.inputs {
        let JobInput::Data { kind, path, mode } = input else {
            continue;
        };
        let v = materialise(sh, job, name, *kind, path, *mode, dir)
            .await
            .map_err(|e| format!("input '{name}': {e}"))?;
        bound.insert(name.clone(), v);
    }
    Ok(bound)
}

async fn materialise(
    sh: &Shared,
    job: &Job,
    name: &str,
    kind: DataType,
    path: &DataPath,
    mode: InputMode,
    dir: &Path,
) -> Result<String, String> {
    let (asset, version) = match path {
        DataPath::Asset(AssetRef::Exact { name, version }) => (name, version),
        DataPath::Asset(AssetRef::Latest { name }) => {
            return Err(format!("'{name}@latest' was not pinned at submission"));
        }
        DataPath::Local(p) => {
            return Err(format!("'{p}' is a local path the server never received"));
        }
    };
    let ak = asset_kind(kind);
    let a = sh
        .cfg
        .store
        .get_asset(
            &job.workspace,
            ak,
            asset,
            &AssetVersionRef::Exact(version.clone()),
        )
        .await
        .map_err(|e| e.to_string())?;
    let uri = a
        .storage_uri
        .ok_or_else(|| format!("{ak} '{asset}:{version}' has no uploaded files"))?;
    if mode == InputMode::Direct {
        return Ok(uri);
    }
    let Some((ws, src_kind, src_name, src_version)) = parse_stored_asset_uri(&uri) else {
        return Err(format!(
            "{ak} '{asset}:{version}' is stored at '{uri}', which the local executor cannot read"
        ));
    };
    if ws != job.workspace {
        return Err(format!("'{uri}' belongs to another workspace"));
    }
    let artifacts = &sh.cfg.artifacts;
    let files = sh
        .cfg
        .store
        .asset_files(&ws, src_kind, &src_name, &src_version)
        .await
        .map_err(|e| e.to_string())?;
    let owner =
        AssetVersionKey::new(src_kind, &src_name, &src_version).map_err(|e| e.to_string())?;
    let target = dir.join("inputs").join(name);
    tokio::fs::create_dir_all(&target)
        .await
        .map_err(|e| format!("cannot create {}: {e}", target.display()))?;
    let mut first = None;
    for f in &files {
        let key = ArtifactKey::asset(ws.clone(), owner.clone(), f.path.clone());
        let dest = f.path.components().fold(target.clone(), |p, c| p.join(c));
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let (_, mut stream) = artifacts
            .get_stream(&key)
            .await
            .map_err(|e| format!("reading '{}': {e}", f.path))?;
        let mut out = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&dest)
            .await
            .map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
        use futures::StreamExt;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| format!("reading '{}': {e}", f.path))?;
            out.write_all(&chunk)
                .await
                .map_err(|e| format!("writing {}: {e}", dest.display()))?;
        }
        out.flush()
            .await
            .map_err(|e| format!("writing {}: {e}", dest.display()))?;
        drop(out);
        if mode == InputMode::ReadOnlyMount {
            tokio::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o444))
                .await
                .map_err(|e| format!("cannot make {} read-only: {e}", dest.display()))?;
        }
        first.get_or_insert(dest);
    }
    let bound = match (kind, first) {
        (DataType::UriFile, Some(file)) if files.len() == 1 => file,
        (DataType::UriFile, _) => {
            return Err(format!(
                "a uri_file input needs a version with exactly one file; '{asset}:{version}' has {}",
                files.len()
            ));
        }
        _ => target,
    };
    Ok(bound.display().to_string())
}

/// One file found in an output tree.
struct Found {
    path: ArtifactPath,
    abs: PathBuf,
}

/// Lists the regular files under `root` (or `root` itself when it is a file), refusing
/// symbolic links and special files anywhere.
fn walk(root: &Path, as_file: bool, file_name: &str) -> Result<Vec<Found>, String> {
    let meta = match std::fs::symlink_metadata(root) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return if as_file {
                Err(format!("the job wrote no file at {}", root.display()))
            } else {
                Ok(vec![])
            };
        }
        Err(e) => return Err(format!("{}: {e}", root.display())),
    };
    if as_file {
        if !meta.file_type().is_file() {
            return Err(format!(
                "{} is not a regular file (symbolic links are not followed)",
                root.display()
            ));
        }
        let path = ArtifactPath::parse(file_name).map_err(|e| e.to_string())?;
        return Ok(vec![Found {
            path,
            abs: root.to_path_buf(),
        }]);
    }
    if !meta.file_type().is_dir() {
        return Err(format!(
            "{} is not a folder (symbolic links are not followed)",
            root.display()
        ));
    }
    let mut out = Vec::new();
    let mut todo = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = todo.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
            let name = entry.file_name();
            let name = name
                .to_str()
                .ok_or_else(|| format!("{}: a file name is not UTF-8", dir.display()))?;
            let rel_path = if rel.is_empty() {
                name.to_string()
            } else {
                format!("{rel}/{name}")
            };
            let ft = entry
                .file_type()
                .map_err(|e| format!("{}: {e}", entry.path().display()))?;
            if ft.is_dir() {
                todo.push((entry.path(), rel_path));
            } else if ft.is_file() {
                let path = ArtifactPath::parse(&rel_path)
                    .map_err(|e| format!("'{rel_path}' cannot be stored: {e}"))?;
                out.push(Found {
                    path,
                    abs: entry.path(),
                });
            } else {
                return Err(format!(
                    "'{rel_path}' is a symbolic link or special file; outputs must be regular \
                     files and folders"
                ));
            }
        }
    }
    out.sort_by(|a, b| a.path.as_str().cmp(b.path.as_str()));
    Ok(out)
}

/// Checks that no component from the job folder down to `outputs` is a symbolic link.
fn check_no_links(dir: &Path) -> Result<(), String> {
    for p in [dir.to_path_buf(), dir.join("outputs")] {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!(
                    "{} was replaced by a symbolic link; outputs are not read through links",
                    p.display()
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Streams a file in 256 KiB chunks.
fn file_stream(file: std::fs::File) -> impl Stream<Item = std::io::Result<Bytes>> + Send + Unpin {
    let file = tokio::fs::File::from_std(file);
    Box::pin(futures::stream::unfold(Some(file), |state| async move {
        use tokio::io::AsyncReadExt;
        let mut f = state?;
        let mut buf = vec![0u8; 256 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(f)))
            }
            Err(e) => Some((Err(e), None)),
        }
    }))
}

/// Uploads and registers every output; the first failure is the job's failure message.
pub(crate) async fn register_outputs(
    sh: &Shared,
    job: &Job,
    spec: &CommandJob,
    dir: &Path,
) -> Result<Vec<String>, String> {
    if spec.outputs.is_empty() {
        return Ok(vec![]);
    }
    check_no_links(dir)?;
    let mut notes = Vec::new();
    let mut io = Vec::new();
    for (name, out) in &spec.outputs {
        let (note, row) = register(sh, job, name, out, dir)
            .await
            .map_err(|e| format!("output '{name}': {e}"))?;
        notes.push(note);
        io.push(row);
    }
    sh.cfg
        .store
        .record_job_io(&job.workspace, &job.name, io)
        .await
        .map_err(|e| format!("recording the outputs for lineage: {e}"))?;
    Ok(notes)
}

async fn register(
    sh: &Shared,
    job: &Job,
    name: &str,
    out: &JobOutput,
    dir: &Path,
) -> Result<(String, JobIo), String> {
    let root = output_path(dir, name);
    let as_file = out.kind == DataType::UriFile;
    let found = {
        let root = root.clone();
        let name = name.to_string();
        tokio::task::spawn_blocking(move || walk(&root, as_file, &name))
            .await
            .map_err(|e| e.to_string())??
    };
    let kind = asset_kind(out.kind);
    let asset_name = out
        .name
        .clone()
        .unwrap_or_else(|| default_output_name(job.name.as_str(), name));
    let spec = serde_json::json!({"type": out.kind.name(), "job_output": name});
    let created = sh
        .cfg
        .store
        .create_asset(
            &job.workspace,
            NewAsset {
                kind,
                name: asset_name.clone(),
                version: out.version.clone(),
                description: format!("output '{name}' of job {}", job.name),
                tags: vec![],
                spec: spec.to_string(),
                storage_uri: None,
                source_job: Some(job.name.clone()),
            },
        )
        .await
        .map_err(|e| format!("registering {kind} '{asset_name}': {e}"))?;
    let version = created.version;
    let owner = AssetVersionKey::new(kind, &asset_name, &version).map_err(|e| e.to_string())?;
    let artifacts = &sh.cfg.artifacts;
    let mut total = 0u64;
    for f in &found {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&f.abs)
            .map_err(|e| format!("cannot open {}: {e}", f.abs.display()))?;
        let key = ArtifactKey::asset(job.workspace.clone(), owner.clone(), f.path.clone());
        let stored = artifacts
            .put_stream(&key, file_stream(file), u64::MAX)
            .await
            .map_err(|e| format!("uploading '{}': {e}", f.path))?;
        total += stored.size;
        sh.cfg
            .store
            .record_asset_file(
                &job.workspace,
                kind,
                &asset_name,
                &version,
                AssetFile {
                    path: f.path.clone(),
                    size: stored.size,
                    sha256: stored.sha256,
                },
            )
            .await
            .map_err(|e| format!("recording '{}': {e}", f.path))?;
    }
    let uri = stored_asset_uri(&job.workspace, kind, &asset_name, &version);
    sh.cfg
        .store
        .complete_asset(&job.workspace, kind, &asset_name, &version, &uri)
        .await
        .map_err(|e| format!("completing {kind} '{asset_name}:{version}': {e}"))?;
    let note = format!(
        "registered output '{name}' as {kind} {asset_name}:{version} ({} files, {total} bytes)",
        found.len()
    );
    let row = JobIo {
        job: job.name.clone(),
        direction: IoDirection::Output,
        name: name.to_string(),
        asset: Some((kind, asset_name, version)),
        uri: Some(uri),
    };
    Ok((note, row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_trees_are_walked_without_following_links() {
        let d = tempfile::tempdir().expect("tempdir");
        let root = d.path().join("out");
        std::fs::create_dir_all(root.join("a/b")).expect("mkdir");
        std::fs::write(root.join("a/b/x.txt"), "x").expect("write");
        std::fs::write(root.join("top.txt"), "t").expect("write");
        let found = walk(&root, false, "out").expect("walked");
        let paths: Vec<&str> = found.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["a/b/x.txt", "top.txt"]);

        std::os::unix::fs::symlink("/etc/passwd", root.join("a/leak")).expect("symlink");
        let e = walk(&root, false, "out").err().expect("a link is refused");
        assert!(e.contains("a/leak"), "{e}");

        let file = d.path().join("f");
        std::os::unix::fs::symlink("/etc/passwd", &file).expect("symlink");
        assert!(
            walk(&file, true, "f").is_err(),
            "a linked uri_file is refused"
        );
        assert!(walk(&d.path().join("missing"), true, "m").is_err());
        assert!(
            walk(&d.path().join("missing"), false, "m")
                .expect("empty")
                .is_empty()
        );
    }
}
