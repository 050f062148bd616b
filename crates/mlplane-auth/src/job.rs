//! The narrowing of a job's API token to its [`JobScope`]: after the ordinary check of the
//! token's actions in its workspace, [`authorize_job`] decides on the object a request
//! names (a run, a run to create, an asset by name, a logged model's source run).
//!
//! The rules:
//! - experiments, runs, artifacts and jobs of the workspace may be read (the `mlflow`
//!   client looks runs and experiments up freely);
//! - runs and their artifacts are written only on the job's run and runs nested under it
//!   (`in_tree`, which the caller resolves by walking parent runs); a run may be created
//!   only in the job's experiment with a parent in that tree;
//! - data, models, environments and components are read only by a name the scope lists
//!   (inputs, environment, and the outputs themselves) and written only under a declared
//!   output's name; listings and searches of assets, which name no asset, are refused;
//! - a logged model (MLflow 3) is read freely and written only if its source run is in the
//!   job's tree;
//! - any other write is refused.
//!
//! Invariants:
//! - the function is pure: the caller resolves names and run ancestry, so it is tested here
//!   without a store;
//! - a target the caller could not determine is [`JobTarget::Unknown`], which no write and
//!   no asset read passes.

use crate::Decision;
use mlplane_core::JobScope;

/// What a request names, as far as the scope cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobTarget<'a> {
    /// Nothing the scope can check (a listing, a search, an unreadable body).
    Unknown,
    /// An existing run; `in_tree` if it is the job's run or nested under it.
    Run { in_tree: bool },
    /// A run to create in `experiment_id`; `parent_in_tree` if its parent is in the tree.
    NewRun {
        experiment_id: Option<&'a str>,
        parent_in_tree: bool,
    },
    /// An asset by name, of the action's resource (`models/write` → a model).
    Asset { name: &'a str },
    /// A logged model; `source_in_tree` if its source run is in the job's tree.
    LoggedModel { source_in_tree: bool },
}

const ASSET_RESOURCES: [&str; 4] = ["data", "models", "environments", "components"];

/// Whether a job token with `scope` may do `action` on `target` (after its grants allowed
/// the action itself).
pub fn authorize_job(scope: &JobScope, action: &str, target: JobTarget<'_>) -> Decision {
    let (resource, verb) = action.split_once('/').unwrap_or((action, ""));
    let read = verb == "read";
    if let JobTarget::LoggedModel { source_in_tree } = target {
        return if read || source_in_tree {
            Decision::Allow
        } else {
            Decision::Deny("a job's token writes only logged models of its own runs")
        };
    }
    if ASSET_RESOURCES.contains(&resource) {
        let JobTarget::Asset { name } = target else {
            return Decision::Deny(if read {
                "a job's token reads only the assets its spec names, each by name"
            } else {
                "a job's token writes only its declared outputs, each by name"
            });
        };
        let listed = |list: &[mlplane_core::ScopedAsset]| {
            list.iter().any(|a| a.kind == resource && a.name == name)
        };
        return if listed(&scope.writes) || (read && listed(&scope.reads)) {
            Decision::Allow
        } else if read {
            Decision::Deny("a job's token reads only the assets its spec names")
        } else {
            Decision::Deny("a job's token writes only its declared outputs")
        };
    }
    if read {
        return Decision::Allow;
    }
    match (resource, target) {
        ("runs" | "artifacts", JobTarget::Run { in_tree: true }) => Decision::Allow,
        (
            "runs",
            JobTarget::NewRun {
                experiment_id,
                parent_in_tree,
            },
        ) => {
            if experiment_id != Some(scope.experiment_id.as_str()) {
                Decision::Deny("a job's token creates runs only in its job's experiment")
            } else if !parent_in_tree {
                Decision::Deny("a job's token creates only runs nested under its job's run")
            } else {
                Decision::Allow
            }
        }
        ("runs" | "artifacts", _) => {
            Decision::Deny("a job's token writes only its job's run and runs nested under it")
        }
        _ => Decision::Deny("a job's token may not change this"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlplane_core::ScopedAsset;

    fn scope() -> JobScope {
        JobScope {
            run_id: "r1".into(),
            experiment_id: "5".into(),
            reads: vec![
                ScopedAsset::new("data", "train"),
                ScopedAsset::new("environments", "py"),
            ],
            writes: vec![ScopedAsset::new("models", "clf")],
        }
    }

    fn allowed(action: &str, t: JobTarget<'_>) -> bool {
        authorize_job(&scope(), action, t) == Decision::Allow
    }

    #[test]
    fn runs_are_written_only_in_the_jobs_tree_and_read_anywhere() {
        assert!(allowed("runs/write", JobTarget::Run { in_tree: true }));
        assert!(allowed("artifacts/write", JobTarget::Run { in_tree: true }));
        assert!(!allowed("runs/write", JobTarget::Run { in_tree: false }));
        assert!(!allowed(
            "artifacts/write",
            JobTarget::Run { in_tree: false }
        ));
        assert!(!allowed("runs/write", JobTarget::Unknown));
        assert!(allowed("runs/read", JobTarget::Run { in_tree: false }));
        assert!(allowed("experiments/read", JobTarget::Unknown));
        assert!(!allowed("experiments/write", JobTarget::Unknown));
    }

    #[test]
    fn new_runs_need_the_jobs_experiment_and_a_parent_in_the_tree() {
        let new = |e, p| JobTarget::NewRun {
            experiment_id: e,
            parent_in_tree: p,
        };
        assert!(allowed("runs/write", new(Some("5"), true)));
        assert!(!allowed("runs/write", new(Some("6"), true)));
        assert!(!allowed("runs/write", new(None, true)));
        assert!(!allowed("runs/write", new(Some("5"), false)));
    }

    #[test]
    fn assets_are_read_and_written_only_by_listed_names() {
        let a = |name| JobTarget::Asset { name };
        assert!(allowed("data/read", a("train")));
        assert!(allowed("environments/read", a("py")));
        assert!(allowed("models/read", a("clf")), "outputs are readable");
        assert!(allowed("models/write", a("clf")));
        assert!(
            !allowed("data/write", a("train")),
            "inputs are not writable"
        );
        assert!(!allowed("data/read", a("secret-set")));
        assert!(!allowed("models/read", a("train")), "the kind must match");
        assert!(!allowed("models/write", a("other")));
        assert!(!allowed("data/read", JobTarget::Unknown), "no listings");
    }

    #[test]
    fn logged_models_follow_their_source_run() {
        let m = |t| JobTarget::LoggedModel { source_in_tree: t };
        assert!(allowed("models/write", m(true)));
        assert!(!allowed("models/write", m(false)));
        assert!(allowed("models/read", m(false)));
    }
}
