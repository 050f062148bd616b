//! The auth layer's narrowing of job tokens: finds the object a request by a job's token
//! names and asks `mlplane_auth::authorize_job` whether the job's [`JobScope`] covers it.
//!
//! Where the target comes from, cheapest first:
//! - markers (`signed_in`, `tokens/self`) and reads of experiments, runs, artifacts and jobs
//!   need none (they are allowed);
//! - path parameters: `{run_id}` (native run routes), `{model_id}` (logged models),
//!   `{kind}`+`{name}` (native asset routes), the artifact proxy's `{*path}`
//!   (`{ws}/{experiment}/{run}/artifacts/…` or `{ws}/{experiment}/models/{id}/artifacts/…`);
//! - the query string of MLflow `GET`/`DELETE` requests (`run_id`, `run_uuid`, `name`);
//! - the JSON body of other requests that name their target in it (MLflow `runs/log-batch`,
//!   `runs/create`, `registered-models/create`, …, native run and asset creation): the body
//!   is read into memory up to `--max-request-bytes` (the limit its handler applies anyway;
//!   larger is 413) and handed on unchanged.
//!
//! A run is in the job's tree if it is the job's run or its parent chain (at most
//! [`MAX_DEPTH`] steps) reaches it; positive answers are remembered per token.
//!
//! Invariants:
//! - only requests made with a job token pass through here; others never pay for a body
//!   read or a run lookup;
//! - a target that cannot be determined is `JobTarget::Unknown`, which writes never pass.

use super::Caller;
use super::layer::Refusal;
use crate::state::AppState;
use axum::body::Body;
use axum::http::Method;
use mlplane_auth::{Decision, JobTarget, Requirement, authorize_job, requirement};
use mlplane_core::{JobScope, LoggedModelId, RunId, WorkspaceName};
use serde::Deserialize;
use serde_json::Value;

/// How many parent runs are followed to find the job's run.
pub const MAX_DEPTH: usize = 16;

const ASSET_RESOURCES: [&str; 4] = ["data", "models", "environments", "components"];

/// The fields of a request body or query that name a target; everything else is skipped.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Peek {
    run_id: Option<Value>,
    run_uuid: Option<Value>,
    name: Option<Value>,
    new_name: Option<Value>,
    experiment_id: Option<Value>,
    source_run_id: Option<Value>,
    parent_run_id: Option<Value>,
    tags: Option<Vec<PeekTag>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PeekTag {
    key: Option<Value>,
    value: Option<Value>,
}

fn text(v: &Option<Value>) -> Option<String> {
    match v.as_ref()? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Peek {
    /// Every run the body names: `run_id` and the deprecated `run_uuid` (handlers take the
    /// first that is not empty; both must pass, so they cannot disagree to our cost).
    fn runs(&self) -> Vec<String> {
        [text(&self.run_id), text(&self.run_uuid)]
            .into_iter()
            .flatten()
            .filter(|r| !r.is_empty())
            .collect()
    }

    /// The parent a new run names: `parent_run_id` (native) or the `mlflow.parentRunId` tag.
    fn parent(&self) -> Option<String> {
        text(&self.parent_run_id).or_else(|| {
            self.tags.iter().flatten().find_map(|t| {
                (text(&t.key).as_deref() == Some("mlflow.parentRunId"))
                    .then(|| text(&t.value))
                    .flatten()
            })
        })
    }
}

/// What the layer knows about the request.
pub(super) struct Request<'a> {
    pub action: &'static str,
    pub workspace: &'a str,
    pub method: &'a Method,
    /// The matched route pattern.
    pub route: &'a str,
    pub mlflow: bool,
    pub params: Vec<(String, String)>,
    pub uri: &'a axum::http::Uri,
}

impl Request<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Checks a job token's request against its scope; returns the body to hand on (read and
/// rebuilt if it was peeked at).
pub(super) async fn check(
    app: &AppState,
    caller: &Caller,
    scope: &JobScope,
    req: &Request<'_>,
    body: Body,
) -> Result<Body, Refusal> {
    // Markers (`signed_in`, `tokens/self`, …) are not about the workspace's objects.
    if requirement(req.action) != Requirement::Workspace {
        return Ok(body);
    }
    let (resource, verb) = req.action.split_once('/').unwrap_or((req.action, ""));
    let asset = ASSET_RESOURCES.contains(&resource);
    if verb == "read" && !asset {
        return Ok(body);
    }
    let ws = WorkspaceName::parse(req.workspace)
        .map_err(|_| Refusal::Forbidden("unknown workspace".into()))?;
    let tree = Tree {
        app,
        caller,
        scope,
        ws: &ws,
    };
    let (target, body) = target(&tree, req, resource, verb, body).await?;
    let decided = match &target {
        Target::Named(names) => names
            .iter()
            .map(|n| authorize_job(scope, req.action, JobTarget::Asset { name: n.as_str() }))
            .find(|d| *d != Decision::Allow)
            .unwrap_or(Decision::Allow),
        Target::One(t) => authorize_job(scope, req.action, t.as_job_target()),
    };
    match decided {
        Decision::Allow => Ok(body),
        Decision::Deny(why) => Err(Refusal::Forbidden(format!(
            "{why} (job {}: {} refused)",
            caller.principal.name, req.action
        ))),
    }
}

/// A resolved target: asset names (each must pass) or one other target.
enum Target {
    Named(Vec<String>),
    One(Resolved),
}

enum Resolved {
    Unknown,
    /// A run, whether in the job's tree.
    Run(bool),
    /// A run to create: its experiment, whether its parent is in the tree.
    NewRun(Option<String>, bool),
    /// A logged model, whether its source run is in the tree.
    LoggedModel(bool),
}

impl Resolved {
    fn as_job_target(&self) -> JobTarget<'_> {
        match self {
            Resolved::Unknown => JobTarget::Unknown,
            Resolved::Run(in_tree) => JobTarget::Run { in_tree: *in_tree },
            Resolved::NewRun(experiment, parent_in_tree) => JobTarget::NewRun {
                experiment_id: experiment.as_deref(),
                parent_in_tree: *parent_in_tree,
            },
            Resolved::LoggedModel(source_in_tree) => JobTarget::LoggedModel {
                source_in_tree: *source_in_tree,
            },
        }
    }
}

async fn target(
    tree: &Tree<'_>,
    req: &Request<'_>,
    resource: &str,
    verb: &str,
    body: Body,
) -> Result<(Target, Body), Refusal> {
    let write = verb != "read";
    if let Some(id) = req.param("run_id") {
        return Ok((Target::One(Resolved::Run(tree.contains(id).await)), body));
    }
    if let Some(id) = req.param("model_id") {
        let in_tree = write && tree.model_source_in_tree(id).await;
        return Ok((Target::One(Resolved::LoggedModel(in_tree)), body));
    }
    if req.route.contains("mlflow-artifacts") {
        if let Some(path) = req.param("path") {
            return Ok((Target::One(tree.proxy_path(path).await), body));
        }
        // A part of a multipart upload lands in staging under an unguessable upload id; the
        // `mpu/complete/{path}` request that moves it under a run is checked by its path.
        if req.param("upload_id").is_some() {
            return Ok((Target::One(Resolved::Run(true)), body));
        }
    }
    if ASSET_RESOURCES.contains(&resource)
        && let Some(name) = req.param("name")
    {
        return Ok((Target::Named(vec![name.to_owned()]), body));
    }
    let (peek, body) = peek(tree.app, req, body).await?;
    let Some(peek) = peek else {
        return Ok((Target::One(Resolved::Unknown), body));
    };
    if ASSET_RESOURCES.contains(&resource) {
        if req.route.ends_with("/logged-models") {
            let src = match text(&peek.source_run_id) {
                Some(id) => tree.contains(&id).await,
                None => false,
            };
            return Ok((Target::One(Resolved::LoggedModel(src)), body));
        }
        let names: Vec<String> = [text(&peek.name), text(&peek.new_name)]
            .into_iter()
            .flatten()
            .collect();
        if names.is_empty() {
            return Ok((Target::One(Resolved::Unknown), body));
        }
        return Ok((Target::Named(names), body));
    }
    let creating = req.route.ends_with("/runs/create")
        || (!req.mlflow && req.route.ends_with("/runs") && *req.method == Method::POST);
    if creating {
        let parent = match peek.parent() {
            Some(p) => tree.contains(&p).await,
            None => false,
        };
        let experiment = text(&peek.experiment_id);
        return Ok((Target::One(Resolved::NewRun(experiment, parent)), body));
    }
    let runs = peek.runs();
    let mut resolved = if runs.is_empty() {
        Resolved::Unknown
    } else {
        Resolved::Run(true)
    };
    for id in &runs {
        if !tree.contains(id).await {
            resolved = Resolved::Run(false);
            break;
        }
    }
    Ok((Target::One(resolved), body))
}

/// The target fields of the query (MLflow `GET`/`DELETE` without a body) or of the JSON
/// body, which is read up to the request limit and rebuilt.
async fn peek(
    app: &AppState,
    req: &Request<'_>,
    body: Body,
) -> Result<(Option<Peek>, Body), Refusal> {
    let limit = app.limits.max_request_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        Refusal::TooLarge(format!(
            "a job token's request body must be at most {limit} bytes"
        ))
    })?;
    let peek = if bytes.iter().all(u8::is_ascii_whitespace) {
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(req.uri)
            .ok()
            .map(|axum::extract::Query(pairs)| {
                let get = |k: &str| {
                    pairs
                        .iter()
                        .find(|(n, _)| n == k)
                        .map(|(_, v)| Value::String(v.clone()))
                };
                Peek {
                    run_id: get("run_id"),
                    run_uuid: get("run_uuid"),
                    name: get("name"),
                    experiment_id: get("experiment_id"),
                    ..Peek::default()
                }
            })
    } else {
        serde_json::from_slice::<Peek>(&bytes).ok()
    };
    Ok((peek, Body::from(bytes)))
}

/// The job's run tree in its workspace.
struct Tree<'a> {
    app: &'a AppState,
    caller: &'a Caller,
    scope: &'a JobScope,
    ws: &'a WorkspaceName,
}

impl Tree<'_> {
    /// Whether run `raw` is the job's run or nested under it.
    async fn contains(&self, raw: &str) -> bool {
        let Ok(id) = RunId::parse(raw) else {
            return false;
        };
        let token = self.caller.token_id.as_deref().unwrap_or("");
        let start = id.to_string();
        if start == self.scope.run_id || self.app.auth.job_run_known(token, &start) {
            return true;
        }
        let mut cur = id;
        for _ in 0..MAX_DEPTH {
            let Ok(run) = self.app.store.get_run(self.ws, &cur).await else {
                return false;
            };
            match run.info.parent_run_id {
                Some(p) if p.to_string() == self.scope.run_id => {
                    self.app.auth.remember_job_run(token, start);
                    return true;
                }
                Some(p) => cur = p,
                None => return false,
            }
        }
        false
    }

    async fn model_source_in_tree(&self, raw: &str) -> bool {
        let Ok(id) = LoggedModelId::parse(raw) else {
            return false;
        };
        match self.app.store.get_logged_model(self.ws, &id).await {
            Ok(m) => match m.source_run_id {
                Some(r) => self.contains(&r.to_string()).await,
                None => false,
            },
            Err(_) => false,
        }
    }

    /// `{ws}/{experiment}/{run}/artifacts/…` or `{ws}/{experiment}/models/{id}/artifacts/…`.
    async fn proxy_path(&self, path: &str) -> Resolved {
        let mut parts = path.split('/');
        let (_ws, _exp, owner) = (parts.next(), parts.next(), parts.next());
        match owner {
            Some("models") => match parts.next() {
                Some(id) => Resolved::LoggedModel(self.model_source_in_tree(id).await),
                None => Resolved::Unknown,
            },
            Some(run) => Resolved::Run(self.contains(run).await),
            None => Resolved::Unknown,
        }
    }
}
