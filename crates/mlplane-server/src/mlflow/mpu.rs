//! Multipart uploads through MLflow's artifact proxy: `mpu/create/{dir}` hands out one URL
//! per part pointing back at this server (`mpu/part/{upload_id}/{part_number}`), each part
//! `PUT` is staged on local disk ([`mlplane_artifacts::PartStaging`]) and answered with an
//! `ETag` (the part's sha256), `mpu/complete/{path}` checks the parts and streams their
//! concatenation into the artifact store (local or S3) and records it, `mpu/abort/{path}`
//! drops the staged parts.
//!
//! As in MLflow, the URL names the destination directory and the body's `path` is the
//! client's local file: the object is `{dir}/{basename(path)}`.
//!
//! Invariants:
//! - the `{dir}` of create, complete and abort is validated like every proxy path (see
//!   [`super::artifacts::target`]) and the file name like any path component; complete and
//!   abort must name the same file as create, else INVALID_PARAMETER_VALUE;
//! - an upload belongs to the workspace it was created in: an unknown, malformed or foreign
//!   upload id is RESOURCE_DOES_NOT_EXIST;
//! - a part number is within `1..=num_parts`, a part within `MAX_UPLOAD_PART_BYTES`, the
//!   whole file within the artifact byte limit;
//! - complete needs every part `1..=num_parts`, each with the etag its `PUT` answered.

use super::artifacts::{ProxyPath, Target, target};
use super::error::{MlflowCode, MlflowError, MlflowResult};
use super::int64::opt_i64;
use super::views::Empty;
use super::{MlflowJson, Workspace};
use crate::routes::artifacts::record;
use crate::state::AppState;
use axum::Json;
use axum::body::Body;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use mlplane_artifacts::StagedPart;
use mlplane_core::limits::{MAX_UPLOAD_PART_BYTES, MAX_UPLOAD_PARTS};
use mlplane_core::{ArtifactEntry, ArtifactPath, WorkspaceName};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
pub struct CreateMpu {
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub num_parts: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Credential {
    pub part_number: u32,
    pub url: String,
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct CreateMpuResponse {
    pub upload_id: String,
    pub credentials: Vec<Credential>,
}

#[derive(Debug, Deserialize)]
pub struct PartIn {
    #[serde(default, deserialize_with = "opt_i64")]
    pub part_number: Option<i64>,
    #[serde(default)]
    pub etag: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CompleteMpu {
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub upload_id: Option<String>,
    #[serde(default)]
    pub parts: Vec<PartIn>,
}

#[derive(Debug, Deserialize)]
pub struct AbortMpu {
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub upload_id: Option<String>,
}

/// What create records about an upload: its part count and the object it will become.
struct Meta {
    num_parts: u32,
    object_key: String,
}

impl Meta {
    fn encode(&self) -> String {
        format!("{}\n{}", self.num_parts, self.object_key)
    }

    fn decode(s: &str) -> MlflowResult<Self> {
        let (n, key) = s
            .split_once('\n')
            .ok_or_else(|| MlflowError::internal("corrupt multipart upload metadata"))?;
        let num_parts = n
            .parse()
            .map_err(|_| MlflowError::internal("corrupt multipart upload metadata"))?;
        Ok(Meta {
            num_parts,
            object_key: key.to_string(),
        })
    }
}

fn unknown_upload(id: &str) -> MlflowError {
    MlflowError::new(
        MlflowCode::ResourceDoesNotExist,
        format!("multipart upload '{}' not found", id.escape_default()),
    )
}

/// The upload's metadata, if it exists and belongs to `ws`.
async fn upload_meta(s: &AppState, ws: &WorkspaceName, id: &str) -> MlflowResult<Meta> {
    let meta = Meta::decode(&s.parts.meta(id).await?)?;
    if !meta.object_key.starts_with(&format!("{ws}/")) {
        return Err(unknown_upload(id));
    }
    Ok(meta)
}

/// `http(s)://{host}{prefix}` of the request, where `prefix` is the route prefix before
/// `/mpu/create/` (so parts come back through the same API prefix).
fn base_url(headers: &HeaderMap, uri: &axum::http::Uri) -> MlflowResult<String> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
        })
        .ok_or_else(|| MlflowError::invalid("a valid Host header is required"))?;
    let scheme = match headers.get("x-forwarded-proto").map(HeaderValue::as_bytes) {
        Some(b"https") => "https",
        _ => "http",
    };
    let path = uri.path();
    let prefix = path
        .find("/mpu/create/")
        .map(|i| &path[..i])
        .ok_or_else(|| MlflowError::invalid("not a multipart create path"))?;
    Ok(format!("{scheme}://{host}{prefix}"))
}

/// The file a multipart request targets: the URL's directory joined with the base name of
/// the client's local file.
async fn file_target(
    s: &AppState,
    ws: WorkspaceName,
    raw: &str,
    local: Option<&str>,
) -> MlflowResult<Target> {
    let local = local
        .filter(|p| !p.is_empty())
        .ok_or_else(|| MlflowError::invalid("missing value for required parameter 'path'"))?;
    let name = local.rsplit(['/', '\\']).next().unwrap_or(local);
    let mut t = target(s, ws, raw.trim_end_matches('/'), true).await?;
    t.key.path = t.key.path.join(&ArtifactPath::parse(name)?);
    Ok(t)
}

/// `POST mpu/create/{dir}`.
pub async fn create(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    ProxyPath(raw): ProxyPath,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    MlflowJson(req): MlflowJson<CreateMpu>,
) -> MlflowResult<Json<CreateMpuResponse>> {
    let t = file_target(&s, ws, &raw, req.path.as_deref()).await?;
    if !t.writable {
        return Err(MlflowError::invalid(format!(
            "'{raw}' belongs to a run that is not active"
        )));
    }
    let num_parts = req
        .num_parts
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| (1..=MAX_UPLOAD_PARTS).contains(n))
        .ok_or_else(|| {
            MlflowError::invalid(format!(
                "num_parts must be between 1 and {MAX_UPLOAD_PARTS}"
            ))
        })?;
    let base = base_url(&headers, &uri)?;
    let meta = Meta {
        num_parts,
        object_key: t.key.object_key(),
    };
    let upload_id = s.parts.create(&meta.encode()).await?;
    let credentials = (1..=num_parts)
        .map(|n| Credential {
            part_number: n,
            url: format!("{base}/mpu/part/{upload_id}/{n}"),
            headers: BTreeMap::new(),
        })
        .collect();
    Ok(Json(CreateMpuResponse {
        upload_id,
        credentials,
    }))
}

/// `PUT mpu/part/{upload_id}/{part_number}`: stages one part, answers its `ETag`.
pub async fn put_part(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    mut params: super::PathParams,
    body: Body,
) -> MlflowResult<Response> {
    let (id, number) = (params.take("upload_id")?, params.take("part_number")?);
    let meta = upload_meta(&s, &ws, &id).await?;
    let number = number
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=meta.num_parts).contains(n))
        .ok_or_else(|| {
            MlflowError::invalid(format!(
                "part number must be between 1 and {}",
                meta.num_parts
            ))
        })?;
    let max = MAX_UPLOAD_PART_BYTES.min(s.limits.max_artifact_bytes);
    let part = s
        .parts
        .put_part(&id, number, body.into_data_stream(), max)
        .await?;
    let mut resp = Json(Empty {}).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", part.etag)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(resp)
}

/// Resolves the upload of a complete or abort request and checks it targets `raw`.
async fn same_upload(
    s: &AppState,
    ws: WorkspaceName,
    raw: &str,
    local: Option<&str>,
    id: Option<&str>,
) -> MlflowResult<(Target, String, Meta)> {
    let id = id
        .filter(|i| !i.is_empty())
        .ok_or_else(|| MlflowError::invalid("missing value for required parameter 'upload_id'"))?;
    let meta = upload_meta(s, &ws, id).await?;
    let t = file_target(s, ws, raw, local).await?;
    if t.key.object_key() != meta.object_key {
        return Err(MlflowError::invalid(format!(
            "upload '{id}' was created for another path than '{raw}'"
        )));
    }
    Ok((t, id.to_string(), meta))
}

/// The staged copy of each part the client lists: every part `1..=num_parts` exactly once,
/// each with an etag a staged copy has (quotes around etags are ignored).
fn choose_parts(
    listed: &[PartIn],
    staged: &[StagedPart],
    num_parts: u32,
) -> MlflowResult<Vec<(u32, String)>> {
    let mut chosen = Vec::with_capacity(listed.len());
    for p in listed {
        let n = p
            .part_number
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| MlflowError::invalid("every part needs a part_number"))?;
        let etag = p.etag.as_deref().unwrap_or("").trim_matches('"');
        chosen.push((n, etag.to_string()));
    }
    chosen.sort();
    if !chosen.iter().map(|(n, _)| *n).eq(1..=num_parts) {
        return Err(MlflowError::invalid(format!(
            "parts must list each part 1 to {num_parts} exactly once"
        )));
    }
    for (n, etag) in &chosen {
        let copies: Vec<&str> = staged
            .iter()
            .filter(|p| p.number == *n)
            .map(|p| p.etag.as_str())
            .collect();
        if copies.is_empty() {
            return Err(MlflowError::invalid(format!("part {n} was not uploaded")));
        }
        if !copies.contains(&etag.as_str()) {
            return Err(MlflowError::invalid(format!(
                "part {n} was uploaded with etag '{}', not '{etag}'",
                copies.join("', '")
            )));
        }
    }
    Ok(chosen)
}

/// `POST mpu/complete/{dir}`.
pub async fn complete(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    ProxyPath(raw): ProxyPath,
    MlflowJson(req): MlflowJson<CompleteMpu>,
) -> MlflowResult<Json<Empty>> {
    let (t, id, meta) =
        same_upload(&s, ws, &raw, req.path.as_deref(), req.upload_id.as_deref()).await?;
    if !t.writable {
        return Err(MlflowError::invalid(format!(
            "'{raw}' belongs to a run that is not active"
        )));
    }
    let staged = s.parts.parts(&id).await?;
    let chosen = choose_parts(&req.parts, &staged, meta.num_parts)?;
    let bytes = s.parts.concat(&id, chosen)?;
    let stored = s
        .artifacts
        .put_stream(&t.key, bytes, s.limits.max_artifact_bytes)
        .await?;
    let entry = ArtifactEntry {
        path: t.key.path.clone(),
        size: stored.size,
        sha256: stored.sha256,
        created_at: crate::routes::now_ms(),
    };
    record(&s, &t.ws, &t.key, entry).await?;
    s.parts.remove(&id).await?;
    Ok(Json(Empty {}))
}

/// `POST mpu/abort/{dir}`.
pub async fn abort(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    ProxyPath(raw): ProxyPath,
    MlflowJson(req): MlflowJson<AbortMpu>,
) -> MlflowResult<Json<Empty>> {
    let (_, id, _) =
        same_upload(&s, ws, &raw, req.path.as_deref(), req.upload_id.as_deref()).await?;
    s.parts.remove(&id).await?;
    Ok(Json(Empty {}))
}
