//! `/api/v1/workspaces/{ws}/snapshots/{sha256}`: content-addressed code snapshots of jobs.
//!
//! `PUT` streams the archive to a temporary file while hashing it, refuses it when the
//! hash is not the one in the URL (`snapshot_mismatch`) or when it is not a safe archive
//! within `mlplane_snapshot::Limits` (`invalid_snapshot`), and only then stores it at
//! `{ws}/snapshots/{sha256}/snapshot.tar.gz`; a snapshot already stored is not uploaded
//! again. `HEAD` says whether it is stored, `GET` lists its entries and `.../files/{path}`
//! answers one file (for the studio's code browser).
//! [`job_code`] is the job submission's side: it checks the snapshot a spec's `code`
//! names and returns the tags to record on the job and its run.
//!
//! Invariants:
//! - a stored snapshot's bytes hash to its id, and its entries passed the same checks the
//!   executor applies when extracting;
//! - nothing invalid is ever visible at a snapshot key: checks run before `put_stream`;
//! - snapshots are per workspace: another workspace's snapshot is `snapshot_not_found`.

use super::workspace;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::AppPath;
use crate::specs::{position, spec_error};
use crate::state::AppState;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use mlplane_api::{CodeSnapshotRequest, ErrorBody, SnapshotFileView, SnapshotView};
use mlplane_artifacts::{ArtifactError, ArtifactKey};
use mlplane_core::snapshot::{
    TAG_GIT_BRANCH, TAG_GIT_COMMIT, TAG_GIT_DIRTY, TAG_GIT_REPO_URL, TAG_SNAPSHOT,
};
use mlplane_core::{SnapshotId, Tag, WorkspaceName};
use mlplane_snapshot::{EntryKind, Limits, MAX_ARCHIVE_BYTES, SnapshotError};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// Largest file answered by `.../files/{path}`.
pub const MAX_SHOWN_FILE: u64 = 16 << 20;

type SnapshotPath = AppPath<(String, String)>;

fn snapshot_id(s: &str) -> ApiResult<SnapshotId> {
    Ok(SnapshotId::parse(s)?)
}

fn not_found(ws: &WorkspaceName, id: &SnapshotId) -> ApiError {
    ApiError::new(
        ErrorCode::SnapshotNotFound,
        format!("snapshot {id} does not exist in workspace '{ws}'"),
    )
    .with_details(serde_json::json!({ "sha256": id.as_str() }))
}

fn invalid(e: SnapshotError) -> ApiError {
    if e.is_user_error() {
        ApiError::new(ErrorCode::InvalidSnapshot, e.to_string())
    } else {
        ApiError::internal(e)
    }
}

/// The stored size of a snapshot, or `None` when it is not stored.
pub(crate) async fn stored_size(
    s: &AppState,
    ws: &WorkspaceName,
    id: &SnapshotId,
) -> ApiResult<Option<u64>> {
    match s
        .artifacts
        .get_stream(&ArtifactKey::snapshot(ws.clone(), id.clone()))
        .await
    {
        Ok((size, _)) => Ok(Some(size)),
        Err(ArtifactError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The stored archive copied into a temporary file, rewound.
async fn fetch(s: &AppState, ws: &WorkspaceName, id: &SnapshotId) -> ApiResult<std::fs::File> {
    let key = ArtifactKey::snapshot(ws.clone(), id.clone());
    let (_, mut stream) = match s.artifacts.get_stream(&key).await {
        Ok(v) => v,
        Err(ArtifactError::NotFound { .. }) => return Err(not_found(ws, id)),
        Err(e) => return Err(e.into()),
    };
    let tmp = tempfile::tempfile().map_err(ApiError::internal)?;
    let mut out = tokio::fs::File::from_std(tmp.try_clone().map_err(ApiError::internal)?);
    while let Some(chunk) = stream.next().await {
        out.write_all(&chunk?).await.map_err(ApiError::internal)?;
    }
    out.flush().await.map_err(ApiError::internal)?;
    let mut file = tmp;
    use std::io::Seek;
    file.rewind().map_err(ApiError::internal)?;
    Ok(file)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SnapshotError> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
        .map_err(invalid)
}

#[utoipa::path(head, path = "/api/v1/workspaces/{ws}/snapshots/{sha256}", tag = "snapshots",
    params(("ws" = String, Path), ("sha256" = String, Path, description = "the archive's sha256")),
    responses((status = 200, description = "stored; Content-Length is the archive's size"), (status = 404)))]
pub async fn head(State(s): State<AppState>, AppPath((ws, id)): SnapshotPath) -> Response {
    let answer = async {
        let (ws, id) = (workspace(&ws)?, snapshot_id(&id)?);
        s.store.get_workspace(&ws).await?;
        stored_size(&s, &ws, &id).await
    };
    match answer.await {
        Ok(Some(size)) => {
            let mut r = StatusCode::OK.into_response();
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(size));
            r
        }
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        // A HEAD answer has no body; the status says enough.
        Err(e) => e.code.status().into_response(),
    }
}

#[utoipa::path(put, path = "/api/v1/workspaces/{ws}/snapshots/{sha256}", tag = "snapshots",
    params(("ws" = String, Path), ("sha256" = String, Path, description = "the archive's sha256")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "a tar or tar.gz archive"),
    responses((status = 201, body = SnapshotView), (status = 200, description = "already stored", body = SnapshotView),
              (status = 400, description = "snapshot_mismatch, invalid_snapshot", body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn put(
    State(s): State<AppState>,
    AppPath((ws, id)): SnapshotPath,
    body: Body,
) -> ApiResult<(StatusCode, Json<SnapshotView>)> {
    let (ws, id) = (workspace(&ws)?, snapshot_id(&id)?);
    s.store.get_workspace(&ws).await?;
    if stored_size(&s, &ws, &id).await?.is_some() {
        let file = fetch(&s, &ws, &id).await?;
        return Ok((StatusCode::OK, Json(view(&id, file).await?)));
    }
    let tmp = tempfile::tempfile().map_err(ApiError::internal)?;
    let mut out = tokio::fs::File::from_std(tmp.try_clone().map_err(ApiError::internal)?);
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("upload body failed: {e}")))?;
        size += chunk.len() as u64;
        if size > MAX_ARCHIVE_BYTES {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("a snapshot archive may hold at most {MAX_ARCHIVE_BYTES} bytes"),
            )
            .with_details(serde_json::json!({ "limit_bytes": MAX_ARCHIVE_BYTES })));
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    out.flush().await.map_err(ApiError::internal)?;
    let actual = hex::encode(hasher.finalize());
    if actual != id.as_str() {
        return Err(ApiError::new(
            ErrorCode::SnapshotMismatch,
            format!("the uploaded bytes hash to {actual}, not {id}; nothing was stored"),
        )
        .with_details(serde_json::json!({ "expected": id.as_str(), "actual": actual })));
    }
    let mut file = tmp;
    use std::io::Seek;
    file.rewind().map_err(ApiError::internal)?;
    let checked = file.try_clone().map_err(ApiError::internal)?;
    let view = view(&id, checked).await?;
    file.rewind().map_err(ApiError::internal)?;
    let reader = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
    s.artifacts
        .put_stream(&ArtifactKey::snapshot(ws, id), reader, MAX_ARCHIVE_BYTES)
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The checked listing of the archive in `file`.
async fn view(id: &SnapshotId, file: std::fs::File) -> ApiResult<SnapshotView> {
    let size = file.metadata().map_err(ApiError::internal)?.len();
    let entries = blocking(move || mlplane_snapshot::list(file, &Limits::DEFAULT)).await?;
    Ok(SnapshotView {
        sha256: id.to_string(),
        size,
        files: entries
            .into_iter()
            .map(|e| {
                let (kind, target) = match e.kind {
                    EntryKind::File => ("file", None),
                    EntryKind::Dir => ("dir", None),
                    EntryKind::Symlink { target } => ("symlink", Some(target)),
                };
                SnapshotFileView {
                    path: e.path,
                    kind: kind.into(),
                    size: e.size,
                    executable: e.executable,
                    target,
                }
            })
            .collect(),
    })
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/snapshots/{sha256}", tag = "snapshots",
    params(("ws" = String, Path), ("sha256" = String, Path)),
    responses((status = 200, body = SnapshotView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(s): State<AppState>,
    AppPath((ws, id)): SnapshotPath,
) -> ApiResult<Json<SnapshotView>> {
    let (ws, id) = (workspace(&ws)?, snapshot_id(&id)?);
    let file = fetch(&s, &ws, &id).await?;
    Ok(Json(view(&id, file).await?))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/snapshots/{sha256}/files/{path}", tag = "snapshots",
    params(("ws" = String, Path), ("sha256" = String, Path), ("path" = String, Path, description = "relative file path")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 404, body = ErrorBody),
              (status = 413, description = "the file is larger than 16 MiB", body = ErrorBody)))]
pub async fn file(
    State(s): State<AppState>,
    AppPath((ws, id, path)): AppPath<(String, String, String)>,
) -> ApiResult<Response> {
    let (ws, id) = (workspace(&ws)?, snapshot_id(&id)?);
    let archive = fetch(&s, &ws, &id).await?;
    let wanted = path.clone();
    let read = blocking(move || {
        let mut buf = Capped {
            buf: Vec::new(),
            over: false,
        };
        match mlplane_snapshot::read_file(archive, &wanted, &Limits::DEFAULT, &mut buf) {
            Err(SnapshotError::Corrupt(_)) if buf.over => Ok(Err(())),
            Ok(Some(_)) => Ok(Ok(Some(buf.buf))),
            Ok(None) => Ok(Ok(None)),
            Err(e) => Err(e),
        }
    })
    .await?;
    match read {
        Ok(Some(bytes)) => {
            let mut resp = Body::from(bytes).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            Ok(resp)
        }
        Ok(None) => Err(ApiError::new(
            ErrorCode::ArtifactNotFound,
            format!("snapshot {id} holds no file '{path}'"),
        )),
        Err(()) => Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "'{path}' is larger than {MAX_SHOWN_FILE} bytes; download the snapshot instead"
            ),
        )),
    }
}

/// A buffer that refuses to grow past [`MAX_SHOWN_FILE`].
struct Capped {
    buf: Vec<u8>,
    over: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() as u64 + b.len() as u64 > MAX_SHOWN_FILE {
            self.over = true;
            return Err(std::io::Error::other("file too large to show"));
        }
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a job submission's code snapshot adds: the job tags and the run tags.
pub(crate) struct JobCode {
    pub job_tags: Vec<Tag>,
    pub run_tags: Vec<Tag>,
}

fn tag(key: &str, value: impl Into<String>) -> Tag {
    Tag {
        key: key.into(),
        value: value.into(),
    }
}

/// Checks a submission's `code` against its `code_snapshot`: both or neither, the snapshot
/// stored in `ws`; returns the tags recording it (and the git state) on the job and run.
pub(crate) async fn job_code(
    s: &AppState,
    ws: &WorkspaceName,
    src: &str,
    code: Option<&str>,
    user_tags: &[(String, String)],
    req: Option<CodeSnapshotRequest>,
) -> ApiResult<JobCode> {
    if user_tags.iter().any(|(k, _)| k == TAG_SNAPSHOT) {
        return Err(spec_error(
            position(src, &["tags", TAG_SNAPSHOT]),
            &format!("tags.{TAG_SNAPSHOT}"),
            "this tag is set by the server from the uploaded code snapshot",
        ));
    }
    let how = "submit with `mlplane job create -f <file>` or the Python SDK, which pack and \
               upload it";
    let Some((id, req)) = checked(s, ws, src, code, req, how).await? else {
        return Ok(JobCode {
            job_tags: vec![],
            run_tags: vec![],
        });
    };
    tracing::debug!(code, snapshot = %id, "job code snapshot");
    let mut run_tags = vec![tag(TAG_SNAPSHOT, id.as_str())];
    if let Some(git) = req.git {
        if let Some(c) = git.commit.filter(|c| !c.is_empty()) {
            run_tags.push(tag(TAG_GIT_COMMIT, c));
        }
        if let Some(b) = git.branch.filter(|b| !b.is_empty()) {
            run_tags.push(tag(TAG_GIT_BRANCH, b));
        }
        if let Some(u) = git.repo_url.filter(|u| !u.is_empty()) {
            run_tags.push(tag(
                TAG_GIT_REPO_URL,
                mlplane_snapshot::git::strip_credentials(&u),
            ));
        }
        run_tags.push(tag(TAG_GIT_DIRTY, git.dirty.to_string()));
    }
    Ok(JobCode {
        job_tags: vec![tag(TAG_SNAPSHOT, id.as_str())],
        run_tags,
    })
}

/// Checks a component's `code` against its `code_snapshot` like [`job_code`] does for a
/// job; returns the snapshot to store with the component version.
pub(crate) async fn component_code(
    s: &AppState,
    ws: &WorkspaceName,
    src: &str,
    code: Option<&str>,
    req: Option<CodeSnapshotRequest>,
) -> ApiResult<Option<CodeSnapshotRequest>> {
    let how = "register it with `mlplane component create -f <file>`, which packs and uploads it";
    Ok(checked(s, ws, src, code, req, how).await?.map(|(_, r)| r))
}

/// Both `code` and its snapshot or neither; the snapshot's id valid and stored in `ws`.
async fn checked(
    s: &AppState,
    ws: &WorkspaceName,
    src: &str,
    code: Option<&str>,
    req: Option<CodeSnapshotRequest>,
    how: &str,
) -> ApiResult<Option<(SnapshotId, CodeSnapshotRequest)>> {
    let req = match (code, req) {
        (None, None) => return Ok(None),
        (None, Some(_)) => {
            return Err(ApiError::bad_request(
                "code_snapshot was given but the spec names no `code` folder",
            ));
        }
        (Some(code), None) => {
            return Err(spec_error(
                position(src, &["code"]),
                "code",
                format!("the folder '{code}' must be uploaded as a code snapshot first: {how}"),
            ));
        }
        (Some(_), Some(r)) => r,
    };
    let id =
        SnapshotId::parse(&req.sha256).map_err(|e| ApiError::from(e.within("code_snapshot")))?;
    if stored_size(s, ws, &id).await?.is_none() {
        return Err(not_found(ws, &id));
    }
    Ok(Some((id, req)))
}
