//! Jobs and versioned assets in the store: the [`JobStore`] trait, and the engine-independent
//! rules both engines apply (status transitions, decoding rows, errors), so both answer the
//! same call the same way.
//!
//! A scheduler calls [`JobStore::claim_next_job`] per compute target; the worker that got a
//! job moves it with [`JobStore::transition_job`], naming the statuses it expects the job to
//! be in, so a concurrent cancel or a second worker makes the call fail with `InvalidState`
//! instead of being overwritten. After a restart, [`JobStore::unfinished_jobs`] lists the
//! jobs workers held, to be resumed or failed explicitly.
//!
//! Invariants:
//! - every method but `claim_next_job` and `unfinished_jobs` (which serve the scheduler
//!   across workspaces) is scoped by workspace: a job or asset of another workspace is
//!   `NotFound`;
//! - a job and its run are created in one transaction, and every status change updates the
//!   run's status (and end time) in the same transaction;
//! - a terminal job status never changes again; nothing moves back to `Queued` except a
//!   `Preparing` job (a claim given back);
//! - two claimers never get the same job;
//! - asset versions are immutable; automatic version numbers are taken inside the write
//!   transaction, so concurrent creates get distinct numbers.

use crate::rules::decode_input_tags;
use crate::{Entity, Result, StoreError};
use async_trait::async_trait;
use mlplane_core::assets::{
    check_asset_file, check_asset_name, check_asset_version, check_new_asset, has_files,
};
use mlplane_core::jobs::{
    JOB_TAG, check_job_io, check_new_job, check_status_message, check_worker,
};
use mlplane_core::{
    Asset, AssetFile, AssetKind, AssetVersionRef, ExperimentId, IoDirection, Job, JobIo, JobKind,
    JobName, JobQuery, JobStatus, NewAsset, NewJob, Page, PageRequest, RunId, RunStatus, Tag,
    WorkspaceName,
};

/// Who produced an asset version and which jobs read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssetLineage {
    /// The version's `source_job`, else the first job that recorded it as an output.
    pub producer: Option<JobName>,
    /// Jobs that recorded it as an input, oldest first.
    pub consumers: Vec<JobName>,
}

/// Jobs, their inputs and outputs, and versioned assets.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Creates the job (status `Queued`) and its tracking run (status `QUEUED`, tag
    /// `mlplane.job` = the job name; a parent job's run becomes the run's parent unless one
    /// is given) in one transaction. A taken name is `AlreadyExists`; a parent job must
    /// exist in the workspace.
    async fn create_job(&self, ws: &WorkspaceName, j: NewJob) -> Result<Job>;
    async fn get_job(&self, ws: &WorkspaceName, name: &JobName) -> Result<Job>;
    /// Jobs matching the query, newest first.
    async fn list_jobs(
        &self,
        ws: &WorkspaceName,
        q: &JobQuery,
        page: &PageRequest,
    ) -> Result<Page<Job>>;
    /// Takes the oldest `Queued` job of `compute` in any workspace: it becomes `Preparing`,
    /// held by `worker`, with `attempt` one higher. `None` when nothing is queued.
    async fn claim_next_job(&self, compute: &str, worker: &str) -> Result<Option<Job>>;
    /// Moves a job whose status is one of `from` to `to`, replacing its status message.
    /// Entering `Running` sets `started_at` (once); a terminal status sets `ended_at`.
    /// Another current status, or a terminal one, is `InvalidState`.
    async fn transition_job(
        &self,
        ws: &WorkspaceName,
        name: &JobName,
        from: &[JobStatus],
        to: JobStatus,
        message: Option<String>,
    ) -> Result<Job>;
    /// Cancels a job: a `Queued` one becomes `Canceled` at once; one a worker holds becomes
    /// `CancelRequested` (again: unchanged); a terminal one is `InvalidState`.
    async fn request_cancel(&self, ws: &WorkspaceName, name: &JobName) -> Result<Job>;
    /// Jobs of `compute` that workers hold (`Preparing`, `Running`, `Finalizing`,
    /// `CancelRequested`) in any workspace, oldest first, for restart reconciliation.
    async fn unfinished_jobs(&self, compute: &str) -> Result<Vec<Job>>;
    /// Records (or replaces, by direction and name) inputs and outputs of a job.
    async fn record_job_io(&self, ws: &WorkspaceName, name: &JobName, io: Vec<JobIo>)
    -> Result<()>;
    /// A job's inputs then outputs, each by name.
    async fn job_io(&self, ws: &WorkspaceName, name: &JobName) -> Result<Vec<JobIo>>;
    /// Who produced an existing asset version and who read it.
    async fn asset_lineage(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        version: &str,
    ) -> Result<AssetLineage>;

    /// Creates an asset version; an existing `(kind, name, version)` is `AlreadyExists`.
    /// A `source_job` must exist in the workspace.
    async fn create_asset(&self, ws: &WorkspaceName, a: NewAsset) -> Result<Asset>;
    async fn get_asset(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        version: &AssetVersionRef,
    ) -> Result<Asset>;
    /// The latest version of each name of `kind` (the newest by creation among the listed
    /// ones), by name.
    async fn list_assets(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        include_archived: bool,
        page: &PageRequest,
    ) -> Result<Page<Asset>>;
    /// Versions of one asset, newest first (empty when the name has none).
    async fn list_asset_versions(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        include_archived: bool,
        page: &PageRequest,
    ) -> Result<Page<Asset>>;
    async fn set_asset_archived(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        version: &str,
        archived: bool,
    ) -> Result<Asset>;

    /// Records (or replaces, by path) a file of a pending data or model version, one whose
    /// `storage_uri` is still null. A completed version, or an environment or component, is
    /// `InvalidState`: versions are immutable once complete.
    async fn record_asset_file(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        version: &str,
        file: AssetFile,
    ) -> Result<()>;
    /// The recorded files of a version, by path.
    async fn asset_files(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        version: &str,
    ) -> Result<Vec<AssetFile>>;
    /// Completes a pending data or model version: sets its `storage_uri`, after which its
    /// files never change. A version that has a `storage_uri` already is `InvalidState`.
    async fn complete_asset(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        version: &str,
        storage_uri: &str,
    ) -> Result<Asset>;
}

/// Checks a file record of `kind` before it is written.
pub(crate) fn check_file(kind: AssetKind, name: &str, version: &str, f: &AssetFile) -> Result<()> {
    check_asset_key(name, Some(version))?;
    check_kind_has_files(kind)?;
    Ok(check_asset_file(f)?)
}

pub(crate) fn check_kind_has_files(kind: AssetKind) -> Result<()> {
    if has_files(kind) {
        Ok(())
    } else {
        Err(StoreError::InvalidState(format!(
            "{kind} assets have no files of their own"
        )))
    }
}

/// Checks that `a` may still get files: it has no storage location yet.
pub(crate) fn check_pending(a: &Asset) -> Result<()> {
    match &a.storage_uri {
        None => Ok(()),
        Some(_) => Err(StoreError::InvalidState(format!(
            "{} is complete; its files cannot change",
            asset_id(a.kind, &a.name, &a.version)
        ))),
    }
}

/// Checks a completion request: a storage URI without control characters.
pub(crate) fn check_completion(name: &str, version: &str, storage_uri: &str) -> Result<()> {
    check_asset_key(name, Some(version))?;
    let uri_ok = !storage_uri.is_empty()
        && storage_uri.len() <= mlplane_core::limits::MAX_URI_BYTES
        && !storage_uri.chars().any(char::is_control);
    if uri_ok {
        Ok(())
    } else {
        Err(mlplane_core::Invalid::one(
            "storage_uri",
            format!(
                "must be 1-{} bytes without control characters",
                mlplane_core::limits::MAX_URI_BYTES
            ),
        )
        .into())
    }
}

/// A file row (path, size, sha256) as both engines read it.
pub(crate) fn decode_file(path: String, size: i64, sha256: String) -> Result<AssetFile> {
    Ok(AssetFile {
        path: mlplane_core::ArtifactPath::parse(&path)
            .map_err(|_| corrupt("asset file path", &path))?,
        size: u64::try_from(size).map_err(|_| corrupt("asset file size", &size.to_string()))?,
        sha256,
    })
}

pub(crate) fn job_not_found(name: &JobName) -> StoreError {
    StoreError::not_found(Entity::Job, name)
}

pub(crate) fn job_exists(name: &JobName) -> StoreError {
    StoreError::AlreadyExists {
        entity: Entity::Job,
        id: name.to_string(),
    }
}

pub(crate) fn asset_id(kind: AssetKind, name: &str, version: &str) -> String {
    format!("{kind}:{name}:{version}")
}

pub(crate) fn asset_not_found(
    kind: AssetKind,
    name: &str,
    version: &AssetVersionRef,
) -> StoreError {
    let v = match version {
        AssetVersionRef::Exact(v) => v.as_str(),
        AssetVersionRef::Latest => "latest",
    };
    StoreError::not_found(Entity::Asset, asset_id(kind, name, v))
}

pub(crate) fn asset_exists(kind: AssetKind, name: &str, version: &str) -> StoreError {
    StoreError::AlreadyExists {
        entity: Entity::Asset,
        id: asset_id(kind, name, version),
    }
}

/// Checks a submission and prepares its run: status `QUEUED`, the job tag, and the given
/// parent run (the caller fills in the parent job's run when none is given).
pub(crate) fn prepare_job(mut j: NewJob) -> Result<(JobName, NewJob)> {
    check_new_job(&j)?;
    let name = j.name.clone().unwrap_or_else(JobName::generate);
    j.run.status = RunStatus::Queued;
    j.run.tags.retain(|t| t.key != JOB_TAG);
    j.run.tags.push(Tag {
        key: JOB_TAG.to_string(),
        value: name.to_string(),
    });
    Ok((name, j))
}

pub(crate) fn check_claim(compute: &str, worker: &str) -> Result<()> {
    let mut v = Vec::new();
    mlplane_core::jobs::compute_into(&mut v, "compute", compute);
    mlplane_core::Invalid::check(v)?;
    check_worker(worker)?;
    Ok(())
}

/// What a transition changes, decided from the current row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Transition {
    pub to: JobStatus,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub message: Option<String>,
}

/// Checks moving a job from `current` to `to` when the caller expects one of `from`.
pub(crate) fn plan_transition(
    name: &JobName,
    current: JobStatus,
    started_at: Option<i64>,
    from: &[JobStatus],
    to: JobStatus,
    message: Option<String>,
    now: i64,
) -> Result<Transition> {
    check_status_message(message.as_deref())?;
    if current.is_terminal() {
        return Err(StoreError::InvalidState(format!(
            "job '{name}' is {current}, a terminal status; it cannot move to {to}"
        )));
    }
    if !from.contains(&current) {
        let expected: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        return Err(StoreError::InvalidState(format!(
            "job '{name}' is {current}, not {}; it cannot move to {to}",
            if expected.is_empty() {
                "any expected status".to_string()
            } else {
                expected.join(" or ")
            }
        )));
    }
    if to == JobStatus::Queued && current != JobStatus::Preparing {
        return Err(StoreError::InvalidState(format!(
            "job '{name}' is {current}; only a Preparing job can move back to Queued"
        )));
    }
    let started_at = if to == JobStatus::Running {
        started_at.or(Some(now))
    } else {
        started_at
    };
    Ok(Transition {
        to,
        started_at,
        ended_at: to.is_terminal().then_some(now),
        message,
    })
}

/// What cancelling a job in `current` does: the transition, or `None` to leave it as it is.
pub(crate) fn plan_cancel(
    name: &JobName,
    current: JobStatus,
    started_at: Option<i64>,
    now: i64,
) -> Result<Option<Transition>> {
    let to = match current {
        JobStatus::Queued => JobStatus::Canceled,
        JobStatus::Preparing | JobStatus::Running | JobStatus::Finalizing => {
            JobStatus::CancelRequested
        }
        JobStatus::CancelRequested => return Ok(None),
        JobStatus::Completed | JobStatus::Failed | JobStatus::Canceled => {
            return Err(StoreError::InvalidState(format!(
                "job '{name}' is {current}, a terminal status; it cannot be canceled"
            )));
        }
    };
    plan_transition(
        name,
        current,
        started_at,
        &[current],
        to,
        Some("canceled by request".to_string()),
        now,
    )
    .map(Some)
}

pub(crate) fn check_io(name: &JobName, io: &[JobIo]) -> Result<()> {
    Ok(check_job_io(name, io)?)
}

pub(crate) fn check_asset(a: &NewAsset) -> Result<()> {
    Ok(check_new_asset(a)?)
}

pub(crate) fn check_asset_key(name: &str, version: Option<&str>) -> Result<()> {
    check_asset_name(name)?;
    if let Some(v) = version {
        check_asset_version(v)?;
    }
    Ok(())
}

fn corrupt(what: &str, v: &str) -> StoreError {
    StoreError::Internal(format!("bad {what} '{v}' in database"))
}

/// A job row as both engines read it, before decoding.
pub(crate) struct RawJob {
    pub name: String,
    pub workspace: String,
    pub experiment_id: i64,
    pub run_id: String,
    pub kind: String,
    pub parent: Option<String>,
    pub display_name: String,
    pub description: String,
    pub tags: String,
    pub compute: String,
    pub spec: String,
    pub status: String,
    pub status_message: Option<String>,
    pub worker: Option<String>,
    pub attempt: i64,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
}

pub(crate) fn job_name(s: &str) -> Result<JobName> {
    JobName::parse(s).map_err(|_| corrupt("job name", s))
}

pub(crate) fn job_status(s: &str) -> Result<JobStatus> {
    JobStatus::parse(s).map_err(|_| corrupt("job status", s))
}

pub(crate) fn asset_kind(s: &str) -> Result<AssetKind> {
    AssetKind::parse(s).map_err(|_| corrupt("asset kind", s))
}

impl RawJob {
    pub(crate) fn decode(self) -> Result<Job> {
        Ok(Job {
            name: job_name(&self.name)?,
            workspace: WorkspaceName::parse(&self.workspace)
                .map_err(|_| corrupt("workspace", &self.workspace))?,
            experiment_id: ExperimentId(self.experiment_id),
            run_id: RunId::parse(&self.run_id).map_err(|_| corrupt("run id", &self.run_id))?,
            kind: JobKind::parse(&self.kind).map_err(|_| corrupt("job kind", &self.kind))?,
            parent: self.parent.as_deref().map(job_name).transpose()?,
            display_name: self.display_name,
            description: self.description,
            tags: decode_input_tags(&self.tags)?,
            compute: self.compute,
            spec: self.spec,
            status: job_status(&self.status)?,
            status_message: self.status_message,
            worker: self.worker,
            attempt: u32::try_from(self.attempt)
                .map_err(|_| corrupt("attempt", &self.attempt.to_string()))?,
            created_at: self.created_at,
            started_at: self.started_at,
            ended_at: self.ended_at,
        })
    }
}

/// An asset row as both engines read it, before decoding.
pub(crate) struct RawAsset {
    pub kind: String,
    pub workspace: String,
    pub name: String,
    pub version: String,
    pub description: String,
    pub tags: String,
    pub spec: String,
    pub storage_uri: Option<String>,
    pub source_job: Option<String>,
    pub archived: bool,
    pub created_at: i64,
}

impl RawAsset {
    pub(crate) fn decode(self) -> Result<Asset> {
        Ok(Asset {
            kind: asset_kind(&self.kind)?,
            workspace: WorkspaceName::parse(&self.workspace)
                .map_err(|_| corrupt("workspace", &self.workspace))?,
            name: self.name,
            version: self.version,
            description: self.description,
            tags: decode_input_tags(&self.tags)?,
            spec: self.spec,
            storage_uri: self.storage_uri,
            source_job: self.source_job.as_deref().map(job_name).transpose()?,
            archived: self.archived,
            created_at: self.created_at,
        })
    }
}

/// A job input/output row, before decoding.
pub(crate) struct RawJobIo {
    pub direction: String,
    pub name: String,
    pub asset_kind: Option<String>,
    pub asset_name: Option<String>,
    pub asset_version: Option<String>,
    pub uri: Option<String>,
}

impl RawJobIo {
    pub(crate) fn decode(self, job: &JobName) -> Result<JobIo> {
        let asset = match (self.asset_kind, self.asset_name, self.asset_version) {
            (Some(k), Some(n), Some(v)) => Some((asset_kind(&k)?, n, v)),
            _ => None,
        };
        Ok(JobIo {
            job: job.clone(),
            direction: IoDirection::parse(&self.direction)
                .ok_or_else(|| corrupt("io direction", &self.direction))?,
            name: self.name,
            asset,
            uri: self.uri,
        })
    }
}

/// The page-token scope of a job listing: the workspace and a digest of the query.
pub(crate) fn jobs_scope(ws: &WorkspaceName, q: &JobQuery) -> String {
    let mut statuses: Vec<&str> = q.statuses.iter().map(|s| s.as_str()).collect();
    statuses.sort_unstable();
    statuses.dedup();
    let key = format!(
        "{statuses:?}|{:?}|{:?}|{:?}",
        q.compute,
        q.parent.as_ref().map(JobName::as_str),
        q.experiment_id.map(|e| e.0)
    );
    crate::types::search_scope("jobs", ws, &key)
}

/// The page-token scope of an asset listing.
pub(crate) fn assets_scope(
    ws: &WorkspaceName,
    kind: AssetKind,
    name: Option<&str>,
    include_archived: bool,
) -> String {
    crate::types::search_scope("assets", ws, &(kind.as_str(), name, include_archived))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n() -> JobName {
        JobName::parse("j").unwrap()
    }

    #[test]
    fn transitions_check_the_expected_status_and_stamp_times() {
        use JobStatus::*;
        let t = plan_transition(&n(), Preparing, None, &[Preparing], Running, None, 5).unwrap();
        assert_eq!((t.started_at, t.ended_at), (Some(5), None));
        let t = plan_transition(&n(), Running, Some(5), &[Running], Completed, None, 9).unwrap();
        assert_eq!((t.started_at, t.ended_at), (Some(5), Some(9)));
        assert!(plan_transition(&n(), Running, None, &[Preparing], Failed, None, 1).is_err());
        assert!(plan_transition(&n(), Failed, None, &[Failed], Running, None, 1).is_err());
        assert!(plan_transition(&n(), Running, None, &[Running], Queued, None, 1).is_err());
        assert!(plan_transition(&n(), Preparing, None, &[Preparing], Queued, None, 1).is_ok());
    }

    #[test]
    fn cancel_depends_on_where_the_job_is() {
        use JobStatus::*;
        let to = |s| plan_cancel(&n(), s, None, 1).map(|t| t.map(|t| t.to));
        assert_eq!(to(Queued).unwrap(), Some(Canceled));
        assert_eq!(to(Running).unwrap(), Some(CancelRequested));
        assert_eq!(to(CancelRequested).unwrap(), None);
        assert!(to(Completed).is_err());
    }
}
