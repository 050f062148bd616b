//! Jobs: submitted work (a command job today; sweeps and pipelines later) that a scheduler
//! claims and an executor moves through its lifecycle, each with the tracking run it logs to.
//!
//! Invariants:
//! - a [`JobName`] always matches `^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$`;
//! - a job's status only moves forward: once [`JobStatus::is_terminal`] it never changes;
//! - a job's run has the status [`JobStatus::run_status`] maps the job's status to;
//! - `started_at` is set once the job entered `Running`; `ended_at` is set iff the status
//!   is terminal;
//! - the spec is canonical JSON text, opaque to the store.

use crate::assets::AssetKind;
use crate::error::{Invalid, Violation};
use crate::ids::{ExperimentId, RunId, WorkspaceName};
use crate::limits::{
    MAX_COMPUTE_NAME_LEN, MAX_JOB_DESCRIPTION_LEN, MAX_JOB_DISPLAY_NAME_LEN, MAX_JOB_IO_PER_CALL,
    MAX_JOB_NAME_LEN, MAX_JOB_TAGS, MAX_SPEC_BYTES, MAX_STATUS_MESSAGE_LEN, MAX_URI_BYTES,
    MAX_WORKER_LEN,
};
use crate::model::{ADJECTIVES, NOUNS, NewRun, RunStatus, Tag};
use crate::validate::tags_into;
use crate::{TimestampMs, validate};
use std::fmt;

/// Whether `s` is 1..=`max` characters of `[A-Za-z0-9_-]` (plus `extra`), starting with an
/// ASCII letter or digit.
pub(crate) fn is_name(s: &str, max: usize, extra: &[u8]) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-' || extra.contains(c))
}

/// Name of a job, unique within its workspace (Azure ML's job `name`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobName(String);

impl JobName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if is_name(s, MAX_JOB_NAME_LEN, &[]) {
            Ok(Self(s.to_string()))
        } else {
            Err(Invalid::one(
                "name",
                format!(
                    "must be 1-{MAX_JOB_NAME_LEN} characters of letters, digits, '_' and '-', \
                     starting with a letter or digit"
                ),
            ))
        }
    }

    /// A readable, practically unique name: `adjective_noun_` and 8 random base36
    /// characters (`brave_otter_k3x9q0za`), 36^8 ≈ 2.8e12 suffixes per word pair.
    pub fn generate() -> Self {
        use rand::Rng;
        const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let mut rng = rand::rng();
        let adjective = ADJECTIVES[rng.random_range(0..ADJECTIVES.len())];
        let noun = NOUNS[rng.random_range(0..NOUNS.len())];
        let suffix: String = (0..8)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect();
        Self(format!("{adjective}_{noun}_{suffix}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a job is in its life, with Azure ML's spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Waiting for a scheduler to claim it.
    Queued,
    /// Claimed by a worker, which is setting it up (image, code, inputs).
    Preparing,
    /// The job's process runs.
    Running,
    /// The process ended; outputs are being uploaded and registered.
    Finalizing,
    /// A user asked to cancel a job that a worker holds; the worker must stop it.
    CancelRequested,
    Completed,
    Failed,
    Canceled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 8] = [
        JobStatus::Queued,
        JobStatus::Preparing,
        JobStatus::Running,
        JobStatus::Finalizing,
        JobStatus::CancelRequested,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Canceled,
    ];

    /// Statuses of a job a worker holds: what restart reconciliation looks at.
    pub const UNFINISHED: [JobStatus; 4] = [
        JobStatus::Preparing,
        JobStatus::Running,
        JobStatus::Finalizing,
        JobStatus::CancelRequested,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "Queued",
            JobStatus::Preparing => "Preparing",
            JobStatus::Running => "Running",
            JobStatus::Finalizing => "Finalizing",
            JobStatus::CancelRequested => "CancelRequested",
            JobStatus::Completed => "Completed",
            JobStatus::Failed => "Failed",
            JobStatus::Canceled => "Canceled",
        }
    }

    /// Parses a status case-insensitively.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        JobStatus::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                Invalid::one(
                    "status",
                    format!(
                        "'{s}' is not a job status, expected Queued, Preparing, Running, \
                         Finalizing, CancelRequested, Completed, Failed or Canceled"
                    ),
                )
            })
    }

    /// Completed, failed and canceled jobs are terminal: their status never changes again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Canceled
        )
    }

    /// The status of the job's tracking run.
    pub fn run_status(self) -> RunStatus {
        match self {
            JobStatus::Queued | JobStatus::Preparing => RunStatus::Queued,
            JobStatus::Running | JobStatus::Finalizing | JobStatus::CancelRequested => {
                RunStatus::Running
            }
            JobStatus::Completed => RunStatus::Finished,
            JobStatus::Failed => RunStatus::Failed,
            JobStatus::Canceled => RunStatus::Killed,
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a job runs. Sweeps and pipelines will be parent jobs of command jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobKind {
    Command,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Command => "command",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s {
            "command" => Ok(JobKind::Command),
            _ => Err(Invalid::one(
                "type",
                format!("'{s}' is not a job type, expected command"),
            )),
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A submitted job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub name: JobName,
    pub workspace: WorkspaceName,
    pub experiment_id: ExperimentId,
    /// The tracking run the job logs to, created with it.
    pub run_id: RunId,
    pub kind: JobKind,
    /// The sweep or pipeline job this job belongs to, in the same workspace.
    pub parent: Option<JobName>,
    pub display_name: String,
    pub description: String,
    pub tags: Vec<Tag>,
    /// The compute target whose workers may claim the job.
    pub compute: String,
    /// The submitted spec as canonical JSON text.
    pub spec: String,
    pub status: JobStatus,
    pub status_message: Option<String>,
    /// The worker that claimed the job last.
    pub worker: Option<String>,
    /// How many times the job was claimed.
    pub attempt: u32,
    pub created_at: TimestampMs,
    pub started_at: Option<TimestampMs>,
    pub ended_at: Option<TimestampMs>,
}

/// Input to submit a job, checked by [`check_new_job`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// `None`: the store picks one with [`JobName::generate`].
    pub name: Option<JobName>,
    /// The job's tracking run, created in the same transaction as the job; the store forces
    /// its status to `QUEUED` and adds the tag [`JOB_TAG`].
    pub run: NewRun,
    pub kind: JobKind,
    pub parent: Option<JobName>,
    pub display_name: String,
    pub description: String,
    pub tags: Vec<Tag>,
    pub compute: String,
    pub spec: String,
}

/// The run tag naming the job a run belongs to.
pub const JOB_TAG: &str = "mlplane.job";

/// Filters for listing jobs; empty or `None` means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobQuery {
    pub statuses: Vec<JobStatus>,
    pub compute: Option<String>,
    pub parent: Option<JobName>,
    pub experiment_id: Option<ExperimentId>,
}

/// Whether a job input or output is meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IoDirection {
    Input,
    Output,
}

impl IoDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            IoDirection::Input => "input",
            IoDirection::Output => "output",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "input" => Some(IoDirection::Input),
            "output" => Some(IoDirection::Output),
            _ => None,
        }
    }
}

/// One input or output of a job, for lineage: the asset version it is, or the URI it
/// reads or writes (or both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobIo {
    pub job: JobName,
    pub direction: IoDirection,
    /// The input or output name in the job's spec.
    pub name: String,
    /// `(kind, name, version)` of an asset version.
    pub asset: Option<(AssetKind, String, String)>,
    pub uri: Option<String>,
}

fn push(v: &mut Vec<Violation>, field: &str, msg: impl Into<String>) {
    v.push(Violation::new(field, msg));
}

fn chars_into(v: &mut Vec<Violation>, field: &str, s: &str, max: usize) {
    if s.chars().count() > max {
        push(v, field, format!("is longer than {max} characters"));
    }
}

/// Checks a compute target name: job-name characters, 1-[`MAX_COMPUTE_NAME_LEN`].
pub fn compute_into(v: &mut Vec<Violation>, field: &str, compute: &str) {
    if !is_name(compute, MAX_COMPUTE_NAME_LEN, &[]) {
        push(
            v,
            field,
            format!(
                "must be 1-{MAX_COMPUTE_NAME_LEN} characters of letters, digits, '_' and '-', \
                 starting with a letter or digit"
            ),
        );
    }
}

/// Checks a spec: at most [`MAX_SPEC_BYTES`].
pub fn spec_into(v: &mut Vec<Violation>, field: &str, spec: &str) {
    if spec.len() > MAX_SPEC_BYTES {
        push(v, field, format!("is larger than {MAX_SPEC_BYTES} bytes"));
    }
}

/// Checks a job submission: its run, texts, tags, compute and spec.
pub fn check_new_job(j: &NewJob) -> Result<(), Invalid> {
    let mut v = match validate::new_run(&j.run) {
        Ok(()) => Vec::new(),
        Err(e) => e.within("run").violations,
    };
    chars_into(
        &mut v,
        "display_name",
        &j.display_name,
        MAX_JOB_DISPLAY_NAME_LEN,
    );
    if j.display_name.chars().any(char::is_control) {
        push(
            &mut v,
            "display_name",
            "must not contain control characters",
        );
    }
    chars_into(
        &mut v,
        "description",
        &j.description,
        MAX_JOB_DESCRIPTION_LEN,
    );
    if j.tags.len() > MAX_JOB_TAGS {
        push(
            &mut v,
            "tags",
            format!("holds more than {MAX_JOB_TAGS} items"),
        );
    }
    tags_into(&mut v, "tags", &j.tags);
    compute_into(&mut v, "compute", &j.compute);
    spec_into(&mut v, "spec", &j.spec);
    Invalid::check(v)
}

/// Checks a worker id given when claiming a job.
pub fn check_worker(worker: &str) -> Result<(), Invalid> {
    if worker.is_empty()
        || worker.chars().count() > MAX_WORKER_LEN
        || worker.chars().any(char::is_control)
    {
        return Err(Invalid::one(
            "worker",
            format!("must be 1-{MAX_WORKER_LEN} printable characters"),
        ));
    }
    Ok(())
}

/// Checks a status message.
pub fn check_status_message(message: Option<&str>) -> Result<(), Invalid> {
    let mut v = Vec::new();
    if let Some(m) = message {
        chars_into(&mut v, "message", m, MAX_STATUS_MESSAGE_LEN);
    }
    Invalid::check(v)
}

/// Checks inputs and outputs recorded for `job`: each names that job, has an identifier-like
/// name, appears once per direction, and its asset reference and URI are well formed.
pub fn check_job_io(job: &JobName, io: &[JobIo]) -> Result<(), Invalid> {
    let mut v = Vec::new();
    if io.len() > MAX_JOB_IO_PER_CALL {
        push(
            &mut v,
            "io",
            format!("holds more than {MAX_JOB_IO_PER_CALL} items"),
        );
        return Invalid::check(v);
    }
    let mut seen = std::collections::HashSet::new();
    for (i, x) in io.iter().enumerate() {
        let f = |s: &str| format!("io[{i}].{s}");
        if &x.job != job {
            push(&mut v, &f("job"), format!("must be '{job}'"));
        }
        if !is_name(&x.name, MAX_JOB_NAME_LEN, &[]) {
            push(
                &mut v,
                &f("name"),
                format!("must be 1-{MAX_JOB_NAME_LEN} characters of letters, digits, '_' and '-'"),
            );
        } else if !seen.insert((x.direction, x.name.as_str())) {
            push(
                &mut v,
                &f("name"),
                format!("{} '{}' appears twice", x.direction.as_str(), x.name),
            );
        }
        if let Some((_, name, version)) = &x.asset {
            if let Err(e) = crate::assets::check_asset_name(name) {
                v.extend(e.within(&f("asset")).violations);
            }
            if let Err(e) = crate::assets::check_asset_version(version) {
                v.extend(e.within(&f("asset")).violations);
            }
        }
        if let Some(uri) = &x.uri
            && (uri.is_empty() || uri.len() > MAX_URI_BYTES || uri.chars().any(char::is_control))
        {
            push(
                &mut v,
                &f("uri"),
                format!("must be 1-{MAX_URI_BYTES} bytes without control characters"),
            );
        }
        if x.asset.is_none() && x.uri.is_none() {
            push(&mut v, &f("asset"), "an asset or a uri is required");
        }
    }
    Invalid::check(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_follow_the_azure_ml_alphabet() {
        assert!(JobName::parse("train_1-a").is_ok());
        assert!(JobName::parse(&"a".repeat(100)).is_ok());
        assert!(JobName::parse(&"a".repeat(101)).is_err());
        for bad in ["", "_a", "-a", "a.b", "a b", "é", "a/b"] {
            assert!(JobName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn generated_job_names_are_valid_and_differ() {
        let a = JobName::generate();
        let b = JobName::generate();
        assert_ne!(a, b);
        assert!(JobName::parse(a.as_str()).is_ok());
        assert_eq!(a.as_str().rsplit('_').next().map(str::len), Some(8));
    }

    #[test]
    fn statuses_round_trip_and_map_to_run_statuses() {
        for s in JobStatus::ALL {
            assert_eq!(JobStatus::parse(s.as_str()), Ok(s));
            assert_eq!(s.is_terminal(), s.run_status().is_terminal(), "{s}");
        }
        assert_eq!(
            JobStatus::parse("cancelrequested"),
            Ok(JobStatus::CancelRequested)
        );
        assert!(JobStatus::parse("Succeeded").is_err());
        assert_eq!(JobStatus::Preparing.run_status(), RunStatus::Queued);
        assert_eq!(JobStatus::Finalizing.run_status(), RunStatus::Running);
        assert_eq!(JobStatus::Canceled.run_status(), RunStatus::Killed);
        assert!(JobStatus::UNFINISHED.iter().all(|s| !s.is_terminal()));
    }

    fn job() -> NewJob {
        NewJob {
            name: None,
            run: NewRun {
                experiment_id: ExperimentId(0),
                name: None,
                user: "alice".into(),
                start_time: 1,
                status: RunStatus::Queued,
                parent_run_id: None,
                tags: vec![],
            },
            kind: JobKind::Command,
            parent: None,
            display_name: String::new(),
            description: String::new(),
            tags: vec![],
            compute: "local".into(),
            spec: "{}".into(),
        }
    }

    fn fields(r: Result<(), Invalid>) -> Vec<String> {
        r.err()
            .map(|e| e.violations.into_iter().map(|v| v.field).collect())
            .unwrap_or_default()
    }

    #[test]
    fn check_new_job_reports_every_problem_with_its_field() {
        assert!(check_new_job(&job()).is_ok());
        let mut j = job();
        j.compute = String::new();
        j.spec = "x".repeat(MAX_SPEC_BYTES + 1);
        j.description = "d".repeat(MAX_JOB_DESCRIPTION_LEN + 1);
        j.tags = vec![Tag {
            key: "../x".into(),
            value: String::new(),
        }];
        j.run.start_time = -1;
        assert_eq!(
            fields(check_new_job(&j)),
            vec![
                "run.start_time",
                "description",
                "tags[0].key",
                "compute",
                "spec"
            ]
        );
    }

    #[test]
    fn job_io_must_name_the_job_once_per_direction() {
        let name = JobName::parse("j").unwrap();
        let io = |dir, n: &str| JobIo {
            job: name.clone(),
            direction: dir,
            name: n.into(),
            asset: None,
            uri: Some("file:///x".into()),
        };
        let ok = vec![io(IoDirection::Input, "a"), io(IoDirection::Output, "a")];
        assert!(check_job_io(&name, &ok).is_ok());
        let dup = vec![io(IoDirection::Input, "a"), io(IoDirection::Input, "a")];
        assert_eq!(fields(check_job_io(&name, &dup)), vec!["io[1].name"]);
        let mut other = io(IoDirection::Input, "b");
        other.job = JobName::parse("k").unwrap();
        other.uri = None;
        assert_eq!(
            fields(check_job_io(&name, &[other])),
            vec!["io[0].job", "io[0].asset"]
        );
    }
}
