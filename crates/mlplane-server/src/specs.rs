//! The spec side of job and asset submissions: reading a [`SpecRequest`] into spec text,
//! mapping [`SpecErrors`] to `invalid_spec`, and the canonical JSON the store keeps for a
//! validated command job, data, model or environment.
//!
//! Invariants:
//! - a request gives either `yaml` or spec fields, never both;
//! - the canonical JSON is built from the validated types only, so what is stored is
//!   always something the spec parser accepted (asset references resolved to exact
//!   versions by the caller before it is built);
//! - a local path is kept as `local_path` and never read here: the server does no uploads;
//! - a stored environment never names a file: a `pip_requirements`/`conda_file` reference
//!   is replaced by the packages of the request's `files` entry (`inline_env_files`).

use crate::error::{ApiError, ApiResult, ErrorCode};
use mlplane_api::SpecRequest;
use mlplane_spec::assets::DepsSource;
use mlplane_spec::job::{Distribution, InputMode};
use mlplane_spec::{
    AssetRef, CommandJob, DataPath, DataSpec, EnvSource, EnvironmentSpec, JobInput, Literal,
    ModelSpec, Pos, PythonDeps, SpecError, SpecErrors,
};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The spec text and overrides of a submission.
pub fn spec_text(req: SpecRequest) -> ApiResult<(String, Vec<String>)> {
    match req.yaml {
        Some(_) if !req.fields.is_empty() => Err(ApiError::bad_request(
            "give either 'yaml' or the spec's fields, not both",
        )),
        Some(text) => Ok((text, req.set)),
        None if req.fields.is_empty() => Err(ApiError::bad_request(
            "the request holds no spec: give 'yaml' or the spec's fields",
        )),
        None => {
            let text =
                serde_json::to_string(&Value::Object(req.fields)).map_err(ApiError::internal)?;
            Ok((text, req.set))
        }
    }
}

/// One spec problem as `details.errors` lists it.
fn error_json(e: &SpecError) -> Value {
    json!({"line": e.pos.line, "column": e.pos.col, "field": e.field, "message": e.message})
}

impl From<SpecErrors> for ApiError {
    fn from(e: SpecErrors) -> Self {
        let errors: Vec<Value> = e.0.iter().map(error_json).collect();
        ApiError::new(ErrorCode::InvalidSpec, e.to_string())
            .with_details(json!({ "errors": errors }))
    }
}

/// A single `invalid_spec` error at `pos` (0:0 when unknown).
pub fn spec_error(pos: Pos, field: &str, message: impl Into<String>) -> ApiError {
    SpecErrors::one(SpecError::new(pos, field, message)).into()
}

/// Where the value at a dotted `path` starts in `src`, when it can be found.
pub fn position(src: &str, path: &[&str]) -> Pos {
    let Ok(root) = mlplane_spec::yaml::parse(src) else {
        return Pos::default();
    };
    let mut node = &root;
    for key in path {
        match node.get(key) {
            Some(n) => node = n,
            None => return node.pos,
        }
    }
    node.pos
}

pub fn asset_ref(r: &AssetRef) -> String {
    match r {
        AssetRef::Exact { name, version } => format!("{name}:{version}"),
        AssetRef::Latest { name } => format!("{name}@latest"),
    }
}

fn tags(t: &BTreeMap<String, String>) -> Value {
    Value::Object(
        t.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

fn path_into(m: &mut Map<String, Value>, p: &DataPath) {
    match p {
        DataPath::Asset(r) => m.insert("asset".into(), Value::String(asset_ref(r))),
        DataPath::Local(l) => m.insert("local_path".into(), Value::String(l.clone())),
    };
}

fn literal(l: &Literal) -> Value {
    match l {
        Literal::String(s) => json!(s),
        Literal::Integer(i) => json!(i),
        Literal::Number(n) => json!(n),
        Literal::Boolean(b) => json!(b),
    }
}

fn python(p: &PythonDeps) -> Value {
    json!({"python": p.python, "pip": p.pip})
}

/// An environment's canonical JSON, without its name, version, description and tags.
fn environment_body(e: &EnvironmentSpec) -> Value {
    let mut m = Map::new();
    m.insert("image".into(), json!(e.image));
    let deps = match &e.deps {
        DepsSource::Inline(p) => json!({"inline": python(p)}),
        DepsSource::RequirementsFile(f) => json!({"pip_requirements": f}),
        DepsSource::CondaFile(f) => json!({"conda_file": f}),
        DepsSource::CondaInline(p) => json!({"conda_inline": python(p)}),
        DepsSource::None => Value::Null,
    };
    m.insert("deps".into(), deps);
    Value::Object(m)
}

fn distribution(d: &Distribution) -> Value {
    match d {
        Distribution::PyTorch {
            process_count_per_instance,
        } => json!({"type": "pytorch", "process_count_per_instance": process_count_per_instance}),
        Distribution::Mpi {
            process_count_per_instance,
        } => json!({"type": "mpi", "process_count_per_instance": process_count_per_instance}),
        Distribution::TensorFlow {
            worker_count,
            parameter_server_count,
        } => json!({"type": "tensorflow", "worker_count": worker_count,
                    "parameter_server_count": parameter_server_count}),
    }
}

/// The default compute target of a job that names none.
pub const DEFAULT_COMPUTE: &str = "local";

/// The canonical JSON of a validated command job.
pub fn job_json(j: &CommandJob) -> Value {
    let inputs: Map<String, Value> = j
        .inputs
        .iter()
        .map(|(name, i)| {
            let v = match i {
                JobInput::Literal(l) => json!({"type": "literal", "value": literal(l)}),
                JobInput::Data { kind, path, mode } => {
                    let mut m = Map::new();
                    m.insert("type".into(), json!(kind.name()));
                    path_into(&mut m, path);
                    let mode = match mode {
                        InputMode::ReadOnlyMount => "ro_mount",
                        InputMode::Download => "download",
                        InputMode::Direct => "direct",
                    };
                    m.insert("mode".into(), json!(mode));
                    Value::Object(m)
                }
            };
            (name.clone(), v)
        })
        .collect();
    let outputs: Map<String, Value> = j
        .outputs
        .iter()
        .map(|(name, o)| {
            let v = json!({"type": o.kind.name(), "name": o.name, "version": o.version});
            (name.clone(), v)
        })
        .collect();
    let environment = match &j.environment {
        EnvSource::Asset(r) => json!({"asset": asset_ref(r)}),
        EnvSource::Inline(e) => json!({"inline": environment_body(e)}),
    };
    json!({
        "type": "command",
        "name": j.name,
        "display_name": j.display_name,
        "experiment_name": j.experiment_name,
        "description": j.description,
        "tags": tags(&j.tags),
        "command": j.command.source,
        "code": j.code,
        "environment": environment,
        "environment_variables": tags(&j.environment_variables),
        "compute": j.compute.as_deref().unwrap_or(DEFAULT_COMPUTE),
        "inputs": inputs,
        "outputs": outputs,
        "limits": {"timeout": j.timeout_secs},
        "resources": {"instance_count": j.resources.instance_count,
                      "instance_type": j.resources.instance_type},
        "distribution": j.distribution.as_ref().map(distribution),
    })
}

fn data_like(kind: &str, path: &DataPath) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!(kind));
    path_into(&mut m, path);
    Value::Object(m)
}

pub fn data_json(d: &DataSpec) -> Value {
    data_like(d.kind.name(), &d.path)
}

pub fn model_json(d: &ModelSpec) -> Value {
    data_like(d.kind.name(), &d.path)
}

pub fn environment_json(e: &EnvironmentSpec) -> Value {
    environment_body(e)
}

/// A command component's canonical JSON: a summary of its interface plus the spec text and
/// overrides it was created from, which [`component_of`] parses again when a job uses it.
pub fn component_json(c: &mlplane_spec::ComponentSpec, src: &str, sets: &[String]) -> Value {
    let inputs: Map<String, Value> = c
        .inputs
        .iter()
        .map(|(n, i)| {
            (
                n.clone(),
                json!({"type": i.kind, "optional": i.optional, "has_default": i.default.is_some()}),
            )
        })
        .collect();
    let outputs: Map<String, Value> = c
        .outputs
        .iter()
        .map(|(n, k)| (n.clone(), json!({"type": k.name()})))
        .collect();
    json!({
        "type": "command",
        "display_name": c.display_name,
        "inputs": inputs,
        "outputs": outputs,
        "source": src,
        "set": sets,
    })
}

/// The code snapshot stored with a component version (`code_snapshot` beside its spec),
/// if its spec names `code`.
pub fn component_snapshot(spec: &str) -> ApiResult<Option<mlplane_api::CodeSnapshotRequest>> {
    let v: Value = serde_json::from_str(spec).map_err(|e| {
        tracing::error!("a stored component is not JSON: {e}");
        ApiError::new(ErrorCode::Internal, "internal server error")
    })?;
    match v.get("code_snapshot") {
        None | Some(Value::Null) => Ok(None),
        Some(c) => serde_json::from_value(c.clone()).map(Some).map_err(|e| {
            tracing::error!("a stored component's code_snapshot does not parse: {e}");
            ApiError::new(ErrorCode::Internal, "internal server error")
        }),
    }
}

/// The component a stored component asset holds.
pub fn component_of(spec: &str) -> ApiResult<mlplane_spec::ComponentSpec> {
    let v: Value = serde_json::from_str(spec).map_err(|e| {
        tracing::error!("a stored component is not JSON: {e}");
        ApiError::new(ErrorCode::Internal, "internal server error")
    })?;
    let src = v["source"].as_str().unwrap_or_default();
    let sets: Vec<String> = v["set"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    mlplane_spec::parse_component(src, &sets).map_err(|e| {
        tracing::error!("a stored component no longer parses: {e}");
        ApiError::new(ErrorCode::Internal, "internal server error")
    })
}

/// The largest file an environment may reference (`pip_requirements`, `conda_file`).
pub const MAX_ENV_FILE_BYTES: usize = 1024 * 1024;

/// Replaces the file an environment references (`pip_requirements` or `conda_file`, at
/// `at` in the spec `src`) with its content from `files`, so the stored spec carries the
/// packages inline (the environment's hash then covers them). A missing, oversize or
/// invalid file is an `invalid_spec` error at the field, naming the file; a file the spec
/// does not reference is refused too. `files` is emptied of the file used.
pub fn inline_env_files(
    e: &mut EnvironmentSpec,
    files: &mut BTreeMap<String, String>,
    src: &str,
    at: &[&str],
) -> ApiResult<()> {
    let (key, rel) = match &e.deps {
        DepsSource::RequirementsFile(r) => ("pip_requirements", r.clone()),
        DepsSource::CondaFile(r) => ("conda_file", r.clone()),
        _ => return Ok(()),
    };
    let mut path = at.to_vec();
    path.push(key);
    let field = path.join(".");
    let pos = position(src, &path);
    let Some(text) = files.remove(&rel) else {
        return Err(spec_error(
            pos,
            &field,
            format!(
                "the file '{rel}' was not sent: give its content in the request's 'files' (the CLI and SDK read it next to the spec file)"
            ),
        ));
    };
    if text.len() > MAX_ENV_FILE_BYTES {
        return Err(spec_error(
            pos,
            &field,
            format!(
                "the file '{rel}' is {} bytes; at most {MAX_ENV_FILE_BYTES} are allowed",
                text.len()
            ),
        ));
    }
    e.deps = if key == "pip_requirements" {
        let pip = text
            .lines()
            .map(|l| {
                let cut = l
                    .char_indices()
                    .find(|&(i, c)| c == '#' && (i == 0 || l[..i].ends_with(char::is_whitespace)))
                    .map_or(l.len(), |(i, _)| i);
                l[..cut].trim()
            })
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        DepsSource::Inline(PythonDeps { python: None, pip })
    } else {
        let deps = mlplane_spec::parse_conda(&text).map_err(|errs| {
            let problems: Vec<String> = errs
                .0
                .iter()
                .map(|x| {
                    let f = if x.field.is_empty() {
                        String::new()
                    } else {
                        format!("{}: ", x.field)
                    };
                    format!("{rel}:{}:{}: {f}{}", x.pos.line, x.pos.col, x.message)
                })
                .collect();
            spec_error(pos, &field, problems.join("; "))
        })?;
        DepsSource::CondaInline(deps)
    };
    Ok(())
}

/// Refuses files a request sent that its spec did not reference.
pub fn no_unused_files(files: &BTreeMap<String, String>) -> ApiResult<()> {
    match files.keys().next() {
        None => Ok(()),
        Some(k) => Err(ApiError::bad_request(format!(
            "the file '{k}' was sent but the spec does not reference it (only an environment's pip_requirements or conda_file are read)"
        ))),
    }
}
