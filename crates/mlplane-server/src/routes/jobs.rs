//! `/api/v1/workspaces/{ws}/jobs`: submitting command jobs, reading and listing them,
//! cancelling them and reading their inputs and outputs.
//!
//! Invariants:
//! - a job is stored only after its spec validated and every asset it references resolved
//!   to an existing version; the stored spec names exact versions (`env@latest` becomes
//!   `env:<n>` at submission), so a later version never changes what a job runs;
//! - a spec naming `code` is accepted only with a stored `code_snapshot` of the workspace,
//!   recorded as the job and run tag `mlplane.code.snapshot` (git state as run tags);
//! - a data or model input must name a complete version (not pending, not archived); local
//!   paths are refused, since the server never reads a client's files;
//! - nothing here runs a job: it stays `Queued` until an executor claims it.

use super::{computes, experiment_id, now_ms, page, workspace};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{AppJson, AppPath, AppQuery};
use crate::specs::{self, DEFAULT_COMPUTE, asset_ref, position, spec_error};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use mlplane_api::{CreateJobRequest, ErrorBody, JobIoList, JobList, JobListQuery, JobView};
use mlplane_core::{
    AssetKind, AssetVersionRef, ExperimentId, IoDirection, JobIo, JobKind, JobName, JobQuery,
    JobStatus, NewExperiment, NewJob, NewRun, RunStatus, Tag, WorkspaceName, validate,
};
use mlplane_spec::{AssetRef, CommandJob, DataPath, EnvSource, JobInput};
use mlplane_store::StoreError;

/// The experiment of a job that names none.
const DEFAULT_EXPERIMENT: &str = "Default";

type JobPath = AppPath<(String, String)>;

fn job_name(s: &str) -> ApiResult<JobName> {
    Ok(JobName::parse(s)?)
}

/// Resolves `r` to an existing version of `kind`, or an `invalid_spec` error at `field`.
async fn resolve(
    s: &AppState,
    ws: &WorkspaceName,
    src: &str,
    kind: AssetKind,
    r: &AssetRef,
    field: &[&str],
) -> ApiResult<(String, String)> {
    let (name, version) = match r {
        AssetRef::Exact { name, version } => (name, AssetVersionRef::Exact(version.clone())),
        AssetRef::Latest { name } => (name, AssetVersionRef::Latest),
    };
    let at = || position(src, field);
    match s.store.get_asset(ws, kind, name, &version).await {
        Ok(a) if a.archived => Err(spec_error(
            at(),
            &field.join("."),
            format!(
                "{kind} '{}:{}' is archived; restore it or name another version",
                a.name, a.version
            ),
        )),
        Ok(a) if mlplane_core::assets::has_files(kind) && a.storage_uri.is_none() => {
            Err(spec_error(
                at(),
                &field.join("."),
                format!(
                    "{kind} '{}:{}' is still waiting for its files to be uploaded; a pending version \
                 cannot be used by a job",
                    a.name, a.version
                ),
            ))
        }
        Ok(a) => Ok((a.name, a.version)),
        Err(StoreError::NotFound { .. }) => Err(spec_error(
            position(src, field),
            &field.join("."),
            format!(
                "{kind} '{}' does not exist in workspace '{ws}'{}",
                asset_ref(r),
                if matches!(r, AssetRef::Latest { .. }) {
                    " (or every version is archived)"
                } else {
                    ""
                }
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Every `${{secrets.<name>}}` the job's environment variables name exists in `ws`; only
/// the reference is stored with the job, the executor decrypts it when the process starts.
async fn check_secrets(
    s: &AppState,
    ws: &WorkspaceName,
    src: &str,
    job: &CommandJob,
) -> ApiResult<()> {
    for (var, name) in job.secret_refs() {
        match s.store.get_secret(ws, &name).await {
            Ok(_) => {}
            Err(StoreError::NotFound { .. }) => {
                let field = ["environment_variables", var.as_str()];
                return Err(spec_error(
                    position(src, &field),
                    &field.join("."),
                    format!("secret '{name}' does not exist in workspace '{ws}'"),
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Pins every asset the job references to an exact version; returns the inputs to record.
async fn pin_assets(
    s: &AppState,
    ws: &WorkspaceName,
    src: &str,
    job: &mut CommandJob,
) -> ApiResult<Vec<(String, AssetKind, String, String)>> {
    if let EnvSource::Asset(r) = &job.environment {
        let (name, version) =
            resolve(s, ws, src, AssetKind::Environment, r, &["environment"]).await?;
        job.environment = EnvSource::Asset(AssetRef::Exact { name, version });
    }
    let mut used = Vec::new();
    for (input, value) in job.inputs.iter_mut() {
        if let JobInput::Data {
            path: DataPath::Local(local),
            ..
        } = value
        {
            let field = ["inputs", input.as_str(), "path"];
            return Err(spec_error(
                position(src, &field),
                &field.join("."),
                format!(
                    "'{local}' is a local path, which the server cannot read: register it as a \
                     data asset first (`mlplane job create` uploads local inputs for you)"
                ),
            ));
        }
        if let JobInput::Data {
            kind,
            path: path @ DataPath::Asset(_),
            ..
        } = value
            && let DataPath::Asset(r) = &*path
        {
            let asset_kind = if kind.is_model() {
                AssetKind::Model
            } else {
                AssetKind::Data
            };
            let field = ["inputs", input.as_str(), "path"];
            let (name, version) = resolve(s, ws, src, asset_kind, r, &field).await?;
            *path = DataPath::Asset(AssetRef::Exact {
                name: name.clone(),
                version: version.clone(),
            });
            used.push((input.clone(), asset_kind, name, version));
        }
    }
    Ok(used)
}

/// The container image of the job's environment (inline, or the pinned asset version).
async fn environment_image(
    s: &AppState,
    ws: &WorkspaceName,
    env: &EnvSource,
) -> ApiResult<Option<String>> {
    match env {
        EnvSource::Inline(e) => Ok(e.image.clone()),
        EnvSource::Asset(AssetRef::Exact { name, version }) => {
            let a = s
                .store
                .get_asset(
                    ws,
                    AssetKind::Environment,
                    name,
                    &AssetVersionRef::Exact(version.clone()),
                )
                .await?;
            let spec: serde_json::Value = serde_json::from_str(&a.spec).unwrap_or_default();
            Ok(spec["image"].as_str().map(str::to_string))
        }
        // pin_assets made every reference exact.
        EnvSource::Asset(AssetRef::Latest { .. }) => Ok(None),
    }
}

/// The id of the experiment called `name`, created when missing.
async fn experiment(s: &AppState, ws: &WorkspaceName, name: &str) -> ApiResult<ExperimentId> {
    match s.store.get_experiment_by_name(ws, name).await {
        Ok(e) => return Ok(e.id),
        Err(StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let new = NewExperiment {
        name: name.to_string(),
        artifact_location: None,
        tags: vec![],
    };
    validate::new_experiment(&new)?;
    match s.store.create_experiment(ws, new).await {
        Ok(e) => Ok(e.id),
        // Another submission created it first.
        Err(StoreError::AlreadyExists { .. }) => {
            Ok(s.store.get_experiment_by_name(ws, name).await?.id)
        }
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/jobs", tag = "jobs",
    params(("ws" = String, Path)), request_body = CreateJobRequest,
    responses((status = 201, body = JobView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    AppPath(ws): AppPath<String>,
    AppJson(mut req): AppJson<CreateJobRequest>,
) -> ApiResult<(StatusCode, Json<JobView>)> {
    let ws = workspace(&ws)?;
    let mut files = std::mem::take(&mut req.spec.files);
    let (src, sets) = specs::spec_text(req.spec)?;
    let mut code_snapshot = req.code_snapshot;
    let (mut job, component) = match mlplane_spec::component_ref(&src, &sets)? {
        None => (mlplane_spec::parse_command_job(&src, &sets)?, None),
        Some((r, _)) => {
            let (name, version) =
                resolve(&s, &ws, &src, AssetKind::Component, &r, &["component"]).await?;
            let a = s
                .store
                .get_asset(
                    &ws,
                    AssetKind::Component,
                    &name,
                    &AssetVersionRef::Exact(version.clone()),
                )
                .await?;
            let comp = specs::component_of(&a.spec)?;
            let job = mlplane_spec::parse_component_job(&src, &sets, &comp)?;
            // The job's own `code` (uploaded with this submission) wins over the component's,
            // whose snapshot was stored with the component version.
            let own_code = comp.code.is_none()
                || mlplane_spec::parse_component_job(
                    &src,
                    &sets,
                    &mlplane_spec::ComponentSpec {
                        code: None,
                        ..comp.clone()
                    },
                )?
                .code
                .is_some();
            if !own_code {
                if code_snapshot.is_some() {
                    return Err(ApiError::bad_request(
                        "code_snapshot was given but the job spec names no `code` folder; the \
                         component's own code snapshot is used",
                    ));
                }
                code_snapshot = specs::component_snapshot(&a.spec)?;
            }
            (job, Some(format!("{name}:{version}")))
        }
    };
    if let EnvSource::Inline(e) = &mut job.environment {
        specs::inline_env_files(e, &mut files, &src, &["environment"])?;
    }
    specs::no_unused_files(&files)?;
    check_secrets(&s, &ws, &src, &job).await?;
    let used = pin_assets(&s, &ws, &src, &mut job).await?;
    let image = environment_image(&s, &ws, &job.environment).await?;
    let compute = job
        .compute
        .clone()
        .unwrap_or_else(|| DEFAULT_COMPUTE.into());
    computes::check_job_compute(&s, &src, &compute, &job.environment, image.as_deref()).await?;
    let user_tags: Vec<(String, String)> = job
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let code = super::snapshots::job_code(
        &s,
        &ws,
        &src,
        job.code.as_deref(),
        &user_tags,
        code_snapshot,
    )
    .await?;
    let name = match job.name.as_deref() {
        Some(n) => JobName::parse(n)
            .map_err(|e| spec_error(position(&src, &["name"]), "name", e.to_string()))?,
        None => JobName::generate(),
    };
    let experiment_name = job.experiment_name.as_deref().unwrap_or(DEFAULT_EXPERIMENT);
    let experiment_id = experiment(&s, &ws, experiment_name).await?;
    let display_name = job.display_name.clone().unwrap_or_default();
    let run_name = if display_name.is_empty() {
        name.to_string()
    } else {
        display_name.clone()
    };
    let spec = specs::job_json(&job);
    let new = NewJob {
        name: Some(name.clone()),
        run: NewRun {
            experiment_id,
            name: Some(run_name),
            user: "anonymous".into(),
            start_time: now_ms(),
            status: RunStatus::Queued,
            parent_run_id: None,
            tags: code.run_tags,
        },
        kind: JobKind::Command,
        parent: None,
        display_name,
        description: job.description.clone().unwrap_or_default(),
        tags: user_tags
            .into_iter()
            .map(|(key, value)| Tag { key, value })
            .chain(component.map(|c| Tag {
                key: "mlplane.component".into(),
                value: c,
            }))
            .chain(code.job_tags)
            .collect(),
        compute,
        spec: spec.to_string(),
    };
    let created = s.store.create_job(&ws, new).await?;
    if !used.is_empty() {
        let io = used
            .into_iter()
            .map(|(input, kind, asset, version)| JobIo {
                job: name.clone(),
                direction: IoDirection::Input,
                name: input,
                asset: Some((kind, asset, version)),
                uri: None,
            })
            .collect();
        s.store.record_job_io(&ws, &name, io).await?;
    }
    s.wake.job_submitted();
    Ok((StatusCode::CREATED, Json(created.into())))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/jobs", tag = "jobs",
    params(("ws" = String, Path), JobListQuery),
    responses((status = 200, body = JobList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    AppPath(ws): AppPath<String>,
    AppQuery(q): AppQuery<JobListQuery>,
) -> ApiResult<Json<JobList>> {
    let ws = workspace(&ws)?;
    let statuses = q
        .status
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| JobStatus::parse(x).map_err(ApiError::from))
        .collect::<ApiResult<Vec<_>>>()?;
    let query = JobQuery {
        statuses,
        compute: q.compute.filter(|c| !c.is_empty()),
        parent: None,
        experiment_id: q.experiment_id.as_deref().map(experiment_id).transpose()?,
    };
    let p = s
        .store
        .list_jobs(&ws, &query, &page(q.max_results, q.page_token))
        .await?;
    Ok(Json(JobList {
        items: p.items.into_iter().map(Into::into).collect(),
        next_page_token: p.next_page_token,
    }))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/jobs/{name}", tag = "jobs",
    params(("ws" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = JobView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(s): State<AppState>,
    AppPath((ws, name)): JobPath,
) -> ApiResult<Json<JobView>> {
    let job = s.store.get_job(&workspace(&ws)?, &job_name(&name)?).await?;
    Ok(Json(job.into()))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/jobs/{name}/cancel", tag = "jobs",
    params(("ws" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "A queued job is Canceled at once; a running one becomes CancelRequested", body = JobView),
              (status = 404, body = ErrorBody), (status = 409, description = "job_terminal: the job already ended", body = ErrorBody)))]
pub async fn cancel(
    State(s): State<AppState>,
    AppPath((ws, name)): JobPath,
) -> ApiResult<Json<JobView>> {
    match s
        .store
        .request_cancel(&workspace(&ws)?, &job_name(&name)?)
        .await
    {
        Ok(job) => {
            s.wake.cancel_requested();
            Ok(Json(job.into()))
        }
        Err(StoreError::InvalidState(m)) => Err(ApiError::new(ErrorCode::JobTerminal, m)),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/jobs/{name}/io", tag = "jobs",
    params(("ws" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = JobIoList), (status = 404, body = ErrorBody)))]
pub async fn io(
    State(s): State<AppState>,
    AppPath((ws, name)): JobPath,
) -> ApiResult<Json<JobIoList>> {
    let items = s.store.job_io(&workspace(&ws)?, &job_name(&name)?).await?;
    Ok(Json(JobIoList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}
