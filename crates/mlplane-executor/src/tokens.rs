//! Per-job API tokens: minted when a job's process starts (when the server runs with auth),
//! handed to the process as `MLFLOW_TRACKING_TOKEN` and `MLPLANE_TOKEN`, revoked when the
//! job ends, whatever its outcome, and by reconciliation for jobs found dead after a restart.
//!
//! A job's token belongs to the principal `job` with id `<workspace>/<job name>`, is bound to
//! the job's workspace, carries [`JOB_SCOPES`] and a [`JobScope`] ([`scope_of`]) that the
//! auth layer enforces: runs and artifacts are written only on the job's own run and runs
//! nested under it (created in the job's experiment), assets are read only if the spec names
//! them (inputs, environment) and written only if they are its declared outputs;
//! experiments, runs and artifacts of the workspace stay readable.
//!
//! Invariants:
//! - only the sha256 of the secret is stored; the secret lives in the process environment;
//! - a token never outlives its job by more than the revocation write (or, if the server
//!   died, the next start's reconciliation), and never its expiry ([`JOB_TOKEN_TTL`]).

use mlplane_auth::ApiToken;
use mlplane_core::{AssetKind, Job, JobScope, PrincipalKind, ScopedAsset};
use mlplane_spec::{AssetRef, CommandJob, DataPath, EnvSource, JobInput};
use mlplane_store::MetadataStore;
use mlplane_store::auth::{ApiTokenRecord, PrincipalRef};
use std::time::Duration;

/// What a job's token may do in its workspace.
pub const JOB_SCOPES: &[&str] = &[
    "experiments/read",
    "runs/read",
    "runs/write",
    "artifacts/read",
    "artifacts/write",
    "data/read",
    "models/read",
    "models/write",
    "environments/read",
    "components/read",
    "jobs/read",
];

/// Upper bound of a job token's life, whatever happens to the job.
pub const JOB_TOKEN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// The principal a job's token belongs to.
pub fn job_principal(job: &Job) -> PrincipalRef {
    PrincipalRef {
        kind: PrincipalKind::Job,
        id: format!("{}/{}", job.workspace, job.name),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The resource name of an asset kind's actions (`models/read` for a model).
fn resource(kind: AssetKind) -> &'static str {
    match kind {
        AssetKind::Data => "data",
        AssetKind::Model => "models",
        AssetKind::Environment => "environments",
        AssetKind::Component => "components",
        AssetKind::Compute => "computes",
    }
}

fn ref_name(r: &AssetRef) -> &str {
    match r {
        AssetRef::Exact { name, .. } | AssetRef::Latest { name } => name,
    }
}

/// What the token of `job` (running `spec`) may touch: its run, the assets its inputs and
/// environment name (every version of each name) and its declared outputs, under the
/// names [`crate::data`] registers them as.
pub fn scope_of(job: &Job, spec: &CommandJob) -> JobScope {
    let mut reads = Vec::new();
    if let EnvSource::Asset(r) = &spec.environment {
        reads.push(ScopedAsset::new("environments", ref_name(r)));
    }
    for input in spec.inputs.values() {
        if let JobInput::Data {
            kind,
            path: DataPath::Asset(r),
            ..
        } = input
        {
            let k = resource(crate::data::asset_kind(*kind));
            reads.push(ScopedAsset::new(k, ref_name(r)));
        }
    }
    let writes = spec
        .outputs
        .iter()
        .map(|(key, out)| {
            let name = out
                .name
                .clone()
                .unwrap_or_else(|| crate::data::default_output_name(job.name.as_str(), key));
            ScopedAsset::new(resource(crate::data::asset_kind(out.kind)), name)
        })
        .collect();
    reads.sort();
    reads.dedup();
    JobScope {
        run_id: job.run_id.to_string(),
        experiment_id: job.experiment_id.0.to_string(),
        reads,
        writes,
    }
}

/// Stores a new token for `job`, narrowed to `scope`, and returns it as the process will
/// see it.
pub async fn mint(store: &dyn MetadataStore, job: &Job, scope: JobScope) -> Result<String, String> {
    let token = ApiToken::generate();
    let now = now_ms();
    store
        .create_token(ApiTokenRecord {
            id: token.id.clone(),
            owner: job_principal(job),
            name: format!("job {}", job.name),
            secret_sha256: token.secret_digest(),
            scopes: JOB_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            workspace: Some(job.workspace.as_str().to_owned()),
            expires_at: Some(now + JOB_TOKEN_TTL.as_millis() as i64),
            last_used_at: None,
            revoked_at: None,
            created_at: now,
            job_scope: Some(scope),
        })
        .await
        .map_err(|e| format!("cannot make the job's API token: {e}"))?;
    Ok(token.reveal())
}

/// Revokes every token of `job`; failures are logged (the tokens still expire).
pub async fn revoke(store: &dyn MetadataStore, job: &Job) {
    if let Err(e) = store.revoke_tokens_of(&job_principal(job), now_ms()).await {
        tracing::warn!(job = %job.name, error = %e, "cannot revoke the job's API token");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlplane_core::{ExperimentId, JobKind, JobName, JobStatus, RunId, WorkspaceName};

    #[test]
    fn the_scope_names_the_run_the_read_assets_and_the_outputs() {
        let spec = mlplane_spec::parse_command_job(
            "command: python t.py ${{inputs.d}} ${{inputs.m}} ${{inputs.n}} ${{outputs.out}} ${{outputs.model}}\n\
             environment: azureml:py-env:3\n\
             inputs:\n  d: {type: uri_folder, path: azureml:train@latest}\n  \
             m: {type: mlflow_model, path: azureml:base:1}\n  n: 3\n\
             outputs:\n  out: {type: uri_folder}\n  model: {type: mlflow_model, name: clf}\n",
            &[],
        )
        .expect("spec");
        let job = Job {
            name: JobName::parse("j1").expect("name"),
            workspace: WorkspaceName::default_workspace(),
            experiment_id: ExperimentId(4),
            run_id: RunId::parse(&"a".repeat(32)).expect("run"),
            kind: JobKind::Command,
            parent: None,
            display_name: String::new(),
            description: String::new(),
            tags: vec![],
            compute: "local".into(),
            spec: String::new(),
            status: JobStatus::Queued,
            status_message: None,
            worker: None,
            attempt: 0,
            created_at: 0,
            started_at: None,
            ended_at: None,
        };
        let s = scope_of(&job, &spec);
        assert_eq!(s.run_id, "a".repeat(32));
        assert_eq!(s.experiment_id, "4");
        assert_eq!(
            s.reads,
            [
                ScopedAsset::new("data", "train"),
                ScopedAsset::new("environments", "py-env"),
                ScopedAsset::new("models", "base"),
            ]
        );
        assert_eq!(
            s.writes,
            [
                ScopedAsset::new("models", "clf"),
                ScopedAsset::new("data", "azureml_j1_output_data_out"),
            ]
        );
    }
}
