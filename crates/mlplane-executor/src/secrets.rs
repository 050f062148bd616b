//! A job's secrets: the `${{secrets.<name>}}` references of its environment variables,
//! opened with the executor's master key just before the process starts.
//!
//! Invariants:
//! - a value goes only into the process environment and the log pump's mask list;
//! - an error names the variable and the secret, never a value.

use crate::Shared;
use crate::process::LogPump;
use mlplane_core::Job;
use mlplane_secrets::SecretValue;
use mlplane_spec::CommandJob;

/// Environment variables set from secrets: name and plaintext.
pub type Secrets = Vec<(String, SecretValue)>;

/// Decrypts every secret the job's environment variables reference and has the log mask
/// their values; an error names the variable and secret, never a value.
pub(crate) async fn resolve_secrets(
    sh: &Shared,
    job: &Job,
    spec: &CommandJob,
    log: &LogPump,
) -> Result<Secrets, String> {
    let refs = spec.secret_refs();
    if refs.is_empty() {
        return Ok(Vec::new());
    }
    let key = sh.cfg.secrets_key.as_ref().ok_or_else(|| {
        "the job references secrets, but this executor has no secrets key".to_string()
    })?;
    let mut out = Vec::with_capacity(refs.len());
    for (var, name) in refs {
        let sealed = sh
            .cfg
            .store
            .sealed_secret(&job.workspace, &name)
            .await
            .map_err(|e| format!("environment_variables.{var}: secret '{name}': {e}"))?;
        let value = key
            .open(&job.workspace, &name, &sealed)
            .map_err(|e| format!("environment_variables.{var}: {e}"))?;
        out.push((var, value));
    }
    log.redact(out.iter().map(|(_, v)| v.clone()).collect());
    Ok(out)
}
