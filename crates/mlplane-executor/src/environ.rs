//! The environment of a job's process: a cleared environment plus the few variables a
//! process needs, the job's own variables (secrets resolved), the virtualenv first on
//! `PATH`, and what tells MLflow and mlplane clients where and as what to log.

use crate::secrets::Secrets;
use mlplane_core::{Job, WorkspaceName};
use mlplane_envs::BuiltEnv;
use mlplane_spec::CommandJob;
use std::collections::BTreeMap;
use std::path::Path;

/// The tracking URI a job of `ws` logs to: the server's, under `/w/<ws>` outside the
/// default workspace.
pub fn tracking_uri_for(base: &str, ws: &WorkspaceName) -> String {
    let base = base.trim_end_matches('/');
    if ws.as_str() == WorkspaceName::DEFAULT {
        base.to_string()
    } else {
        format!("{base}/w/{ws}")
    }
}

/// The process environment: the job's variables (those naming a secret set to its value),
/// then ours (which win). `tracking` is the server's URI and the CA bundle that verifies it.
pub fn process_env(
    (sh_tracking, ca): (Option<&str>, Option<&Path>),
    job: &Job,
    spec: &CommandJob,
    (env, secrets): (&BuiltEnv, &Secrets),
    dir: &Path,
) -> Vec<(String, String)> {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    for k in ["HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER"] {
        if let Ok(v) = std::env::var(k) {
            vars.insert(k.into(), v);
        }
    }
    for (k, v) in &spec.environment_variables {
        vars.insert(k.clone(), v.clone());
    }
    for (k, v) in secrets {
        vars.insert(k.clone(), v.expose().to_string());
    }
    let bin = env.dir.join("bin");
    let path = match std::env::var("PATH") {
        Ok(p) if !p.is_empty() => format!("{}:{p}", bin.display()),
        _ => format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
    };
    vars.insert("PATH".into(), path);
    vars.insert("VIRTUAL_ENV".into(), env.dir.display().to_string());
    if let Some(uri) = sh_tracking {
        vars.insert(
            "MLFLOW_TRACKING_URI".into(),
            tracking_uri_for(uri, &job.workspace),
        );
        // Given a CA bundle, clients verify the server with it (the mlflow client through
        // requests, the SDK and scripts through the variables). Without one, the built-in
        // executor reaches its own HTTPS server over loopback, by IP, where a certificate
        // made for the server's public name cannot match: the connection never leaves the
        // host, so verification is skipped for it alone.
        match ca {
            Some(ca) if uri.starts_with("https://") => {
                let ca = ca.display().to_string();
                for k in [
                    "MLPLANE_CA_CERT",
                    "REQUESTS_CA_BUNDLE",
                    "MLFLOW_TRACKING_SERVER_CERT_PATH",
                ] {
                    vars.insert(k.into(), ca.clone());
                }
            }
            _ if uri.starts_with("https://127.0.0.1:") || uri.starts_with("https://[::1]:") => {
                vars.insert("MLFLOW_TRACKING_INSECURE_TLS".into(), "true".into());
            }
            _ => {}
        }
    }
    vars.insert("MLFLOW_RUN_ID".into(), job.run_id.to_string());
    vars.insert(
        "MLFLOW_EXPERIMENT_ID".into(),
        job.experiment_id.0.to_string(),
    );
    vars.insert("MLPLANE_JOB_NAME".into(), job.name.to_string());
    for name in spec.outputs.keys() {
        let p = dir.join("outputs").join(name);
        vars.insert(
            format!("MLPLANE_OUTPUTS_{}", name.to_ascii_uppercase()),
            p.display().to_string(),
        );
    }
    vars.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_uri_names_non_default_workspaces() {
        let ws = |s: &str| WorkspaceName::parse(s).expect("valid workspace");
        assert_eq!(
            tracking_uri_for("http://127.0.0.1:5050/", &ws("default")),
            "http://127.0.0.1:5050"
        );
        assert_eq!(
            tracking_uri_for("http://127.0.0.1:5050", &ws("team-a")),
            "http://127.0.0.1:5050/w/team-a"
        );
    }
}
