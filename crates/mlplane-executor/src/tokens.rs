//! Per-job API tokens: minted when a job's process starts (when the server runs with auth),
//! handed to the process as `MLFLOW_TRACKING_TOKEN` and `MLPLANE_TOKEN`, revoked when the
//! job ends, whatever its outcome, and by reconciliation for jobs found dead after a restart.
//!
//! A job's token belongs to the principal `job` with id `<workspace>/<job name>`, is bound to
//! the job's workspace, and carries [`JOB_SCOPES`]: read the workspace's experiments, runs,
//! data, models, environments and components; write runs (its own run's metrics, params,
//! tags and logs), artifacts and models (its outputs). Writes are not limited to the job's
//! own run: any run of its workspace is writable while the job lives.
//!
//! Invariants:
//! - only the sha256 of the secret is stored; the secret lives in the process environment;
//! - a token never outlives its job by more than the revocation write (or, if the server
//!   died, the next start's reconciliation), and never its expiry ([`JOB_TOKEN_TTL`]).

use mlplane_auth::ApiToken;
use mlplane_core::{Job, PrincipalKind};
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

/// Stores a new token for `job` and returns it as the process will see it.
pub async fn mint(store: &dyn MetadataStore, job: &Job) -> Result<String, String> {
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
