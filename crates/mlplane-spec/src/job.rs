//! Command jobs and command components: their inputs, outputs, limits, resources and
//! distribution, and the checks that tie the command to what is declared.
//!
//! Invariants:
//! - every `${{inputs.x}}` / `${{outputs.y}}` in a command names a declared input or
//!   output (else an error at the command, with a did-you-mean);
//! - a job input without a value may only appear inside `$[[ ]]`;
//! - input, output and environment variable names are identifiers; `code` is a relative
//!   path inside the spec's folder.

use crate::assets::{DataPath, DataType, EnvSource, data_path, environment_ref, local_path};
use crate::bind::CommandTemplate;
use crate::component::ComponentSpec;
use crate::decode::{Cx, Fields, choice, fields, int, is_identifier, join, string};
use crate::error::{Pos, did_you_mean};
use crate::yaml::{Node, Value};
use std::collections::BTreeMap;

/// A literal input value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    String(String),
    Integer(i64),
    Number(f64),
    Boolean(bool),
}

impl Literal {
    /// The value as it is substituted into a command.
    pub fn render(&self) -> String {
        match self {
            Literal::String(s) => s.clone(),
            Literal::Integer(i) => i.to_string(),
            Literal::Number(n) => n.to_string(),
            Literal::Boolean(b) => b.to_string(),
        }
    }

    /// A scalar as YAML types it: quoted text stays a string.
    fn from_scalar(text: &str, plain: bool) -> Self {
        if !plain {
            return Literal::String(text.into());
        }
        if let Ok(i) = text.parse::<i64>() {
            return Literal::Integer(i);
        }
        if let Ok(n) = text.parse::<f64>()
            && n.is_finite()
        {
            return Literal::Number(n);
        }
        match text {
            "true" | "True" | "TRUE" => Literal::Boolean(true),
            "false" | "False" | "FALSE" => Literal::Boolean(false),
            _ => Literal::String(text.into()),
        }
    }
}

/// How a data input reaches the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputMode {
    ReadOnlyMount,
    Download,
    Direct,
}

/// A job input: a literal or data.
#[derive(Debug, Clone, PartialEq)]
pub enum JobInput {
    Literal(Literal),
    Data {
        kind: DataType,
        path: DataPath,
        mode: InputMode,
    },
}

/// A job output; `name`/`version` register it as an asset when the job completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutput {
    pub kind: DataType,
    pub name: Option<String>,
    pub version: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distribution {
    PyTorch {
        process_count_per_instance: u32,
    },
    Mpi {
        process_count_per_instance: u32,
    },
    TensorFlow {
        worker_count: Option<u32>,
        parameter_server_count: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub instance_count: u32,
    pub instance_type: Option<String>,
}

impl Default for Resources {
    fn default() -> Self {
        Resources {
            instance_count: 1,
            instance_type: None,
        }
    }
}

/// A command job, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandJob {
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub experiment_name: Option<String>,
    pub description: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub command: CommandTemplate,
    pub code: Option<String>,
    pub environment: EnvSource,
    pub environment_variables: BTreeMap<String, String>,
    pub compute: Option<String>,
    pub inputs: BTreeMap<String, JobInput>,
    pub outputs: BTreeMap<String, JobOutput>,
    pub timeout_secs: Option<u64>,
    pub resources: Resources,
    pub distribution: Option<Distribution>,
}

impl CommandJob {
    /// The environment variables whose value is a `${{secrets.<name>}}` reference, with the
    /// secret each names (the spec's check already refused malformed references).
    pub fn secret_refs(&self) -> BTreeMap<String, mlplane_core::secrets::SecretName> {
        self.environment_variables
            .iter()
            .filter_map(|(k, v)| match mlplane_core::secrets::secret_reference(v) {
                Some(Ok(name)) => Some((k.clone(), name)),
                _ => None,
            })
            .collect()
    }
}

const JOB_FIELDS: &[&str] = &[
    "type",
    "name",
    "display_name",
    "experiment_name",
    "description",
    "tags",
    "command",
    "code",
    "environment",
    "environment_variables",
    "compute",
    "inputs",
    "outputs",
    "limits",
    "resources",
    "distribution",
    "component",
];

pub fn decode_command_job(cx: &mut Cx, root: &Node) -> Option<CommandJob> {
    decode_command_job_with(cx, root, None)
}

/// A command job; with `comp`, a job of that component: its command, environment and code
/// come from the component unless the job gives them (the command only from it), its
/// inputs must be declared there and take their defaults, its outputs are the component's.
pub fn decode_command_job_with(
    cx: &mut Cx,
    root: &Node,
    comp: Option<&ComponentSpec>,
) -> Option<CommandJob> {
    let f = fields(cx, root, "", JOB_FIELDS)?;
    if comp.is_none()
        && let Some(n) = f.get("component")
    {
        cx.error(
            n.pos,
            "component",
            "a job naming a component must be submitted to a server, which resolves it",
        );
    }
    if let Some(t) = f.get("type") {
        let kind = choice(cx, t, "type", &["command", "sweep", "pipeline"]);
        if matches!(kind, Some("sweep" | "pipeline")) {
            cx.error(
                t.pos,
                "type",
                format!(
                    "{} jobs are not supported yet; use type: command",
                    kind.unwrap_or("")
                ),
            );
        }
    }
    let name = f.opt_string(cx, "", "name");
    if let Some(n) = &name
        && !is_identifier(n, true)
    {
        cx.error(
            f.get("name").map_or(f.pos, |n| n.pos),
            "name",
            format!("'{n}' is not a valid job name"),
        );
    }
    let experiment_name = f.opt_string(cx, "", "experiment_name");
    if let Some(e) = &experiment_name
        && (e.trim().is_empty() || e.chars().count() > 500)
    {
        cx.error(
            f.get("experiment_name").map_or(f.pos, |n| n.pos),
            "experiment_name",
            "must be 1 to 500 characters",
        );
    }
    let mut inputs = f
        .get("inputs")
        .map(|n| job_inputs(cx, n))
        .unwrap_or_default();
    let mut outputs = f
        .get("outputs")
        .map(|n| job_outputs(cx, n))
        .unwrap_or_default();
    let command = match comp {
        None => command_of(
            cx,
            &f,
            &inputs.keys().cloned().collect::<Vec<_>>(),
            &outputs,
        ),
        Some(c) => {
            if let Some(n) = f.get("command") {
                cx.error(
                    n.pos,
                    "command",
                    "a job of a component runs the component's command; remove it",
                );
            }
            crate::component::bind(cx, &f, c, &mut inputs, &mut outputs);
            Some(c.command.clone())
        }
    };
    let code = f
        .get("code")
        .and_then(|n| {
            let text = string(cx, n, "code")?;
            local_path(cx, n.pos, "code", &text)
        })
        .or_else(|| comp.and_then(|c| c.code.clone()));
    let environment = match (f.get("environment"), comp) {
        (None, Some(c)) => Some(c.environment.clone()),
        _ => f
            .require(cx, "", "environment")
            .and_then(|n| environment_ref(cx, n, "environment")),
    };
    let environment_variables = f.str_map(cx, "", "environment_variables");
    if let Some(n) = f.get("environment_variables")
        && let Value::Map(entries) = &n.value
    {
        for (k, v) in entries {
            if !is_identifier(&k.name, false) {
                cx.error(
                    k.pos,
                    &join("environment_variables", &k.name),
                    "is not a valid environment variable name",
                );
            }
            if let Value::Scalar { text, .. } = &v.value
                && let Some(Err(msg)) = mlplane_core::secrets::secret_reference(text)
            {
                cx.error(v.pos, &join("environment_variables", &k.name), msg);
            }
        }
    }
    let timeout_secs = f.get("limits").and_then(|n| {
        let lf = fields(cx, n, "limits", &["timeout"])?;
        let t = lf.get("timeout")?;
        let v = int(cx, t, "limits.timeout")?;
        if v <= 0 {
            cx.error(
                t.pos,
                "limits.timeout",
                "must be a positive number of seconds",
            );
            return None;
        }
        Some(v as u64)
    });
    let resources = f
        .get("resources")
        .map(|n| resources(cx, n))
        .unwrap_or_default();
    let distribution = f.get("distribution").and_then(|n| distribution(cx, n));
    Some(CommandJob {
        name,
        display_name: f.opt_string(cx, "", "display_name"),
        experiment_name,
        description: f.opt_string(cx, "", "description"),
        tags: f.str_map(cx, "", "tags"),
        command: command?,
        code,
        environment: environment?,
        environment_variables,
        compute: f
            .opt_string(cx, "", "compute")
            .map(|c| c.trim_start_matches("azureml:").to_string()),
        inputs,
        outputs,
        timeout_secs,
        resources,
        distribution,
    })
}

/// Parses the command and checks its references against the declared names.
pub(crate) fn command_of(
    cx: &mut Cx,
    f: &Fields<'_>,
    inputs: &[String],
    outputs: &BTreeMap<String, JobOutput>,
) -> Option<CommandTemplate> {
    let node = f.require(cx, "", "command")?;
    let text = string(cx, node, "command")?;
    let t = match CommandTemplate::parse(&text) {
        Ok(t) => t,
        Err(e) => {
            cx.error(
                node.pos,
                "command",
                format!("at character {}: {}", e.offset + 1, e.message),
            );
            return None;
        }
    };
    let declared_in: Vec<&str> = inputs.iter().map(String::as_str).collect();
    for name in t.inputs().keys() {
        if !inputs.contains(name) {
            undeclared(cx, node.pos, "input", name, &declared_in);
        }
    }
    let declared_out: Vec<&str> = outputs.keys().map(String::as_str).collect();
    for name in t.outputs() {
        if !outputs.contains_key(&name) {
            undeclared(cx, node.pos, "output", &name, &declared_out);
        }
    }
    Some(t)
}

fn undeclared(cx: &mut Cx, pos: Pos, what: &str, name: &str, declared: &[&str]) {
    let hint = did_you_mean(name, declared)
        .map(|s| format!("; did you mean '{s}'?"))
        .unwrap_or_default();
    cx.error(
        pos,
        "command",
        format!("uses {what} '{name}', which is not declared in {what}s{hint}"),
    );
}

pub(crate) fn names_ok(cx: &mut Cx, node: &Node, path: &str) -> Vec<(String, Pos, Node)> {
    match &node.value {
        Value::Map(entries) => entries
            .iter()
            .filter(|(k, _)| {
                let ok = is_identifier(&k.name, false);
                if !ok {
                    cx.error(
                        k.pos,
                        &join(path, &k.name),
                        "is not a valid name (letters, digits and '_', not starting with a digit)",
                    );
                }
                ok
            })
            .map(|(k, v)| (k.name.clone(), k.pos, v.clone()))
            .collect(),
        Value::Null => Vec::new(),
        _ => {
            cx.error(
                node.pos,
                path,
                format!("expected a mapping, found {}", node.kind()),
            );
            Vec::new()
        }
    }
}

fn job_inputs(cx: &mut Cx, node: &Node) -> BTreeMap<String, JobInput> {
    let mut out = BTreeMap::new();
    for (name, _, v) in names_ok(cx, node, "inputs") {
        let path = join("inputs", &name);
        let input = match &v.value {
            Value::Scalar { text, plain } => {
                Some(JobInput::Literal(Literal::from_scalar(text, *plain)))
            }
            Value::Map(_) => job_input_object(cx, &v, &path),
            _ => {
                cx.error(
                    v.pos,
                    &path,
                    format!("expected a value or a mapping, found {}", v.kind()),
                );
                None
            }
        };
        if let Some(i) = input {
            out.insert(name, i);
        }
    }
    out
}

pub(crate) const LITERAL_TYPES: &[&str] = &["string", "integer", "number", "boolean"];

/// A scalar `value` as a literal of `kind` (one of [`LITERAL_TYPES`]), or an error at `path`.
pub(crate) fn literal_of(cx: &mut Cx, kind: &str, value: &Node, path: &str) -> Option<Literal> {
    let Value::Scalar { text, plain } = &value.value else {
        cx.error(value.pos, path, "expected a scalar");
        return None;
    };
    let lit = Literal::from_scalar(text, *plain);
    if !literal_matches(kind, &lit) {
        cx.error(value.pos, path, format!("'{text}' is not a valid {kind}"));
        return None;
    }
    Some(if kind == "string" {
        Literal::String(text.clone())
    } else {
        lit
    })
}

/// Whether `lit` is a value of the literal type `kind`.
pub(crate) fn literal_matches(kind: &str, lit: &Literal) -> bool {
    matches!(
        (kind, lit),
        ("string", _)
            | ("integer", Literal::Integer(_))
            | ("number", Literal::Integer(_) | Literal::Number(_))
            | ("boolean", Literal::Boolean(_))
    )
}

fn job_input_object(cx: &mut Cx, v: &Node, path: &str) -> Option<JobInput> {
    let f = fields(
        cx,
        v,
        path,
        &["type", "path", "mode", "value", "description"],
    )?;
    let all: Vec<&'static str> = DataType::NAMES
        .iter()
        .chain(LITERAL_TYPES)
        .copied()
        .collect();
    let kind = match f.get("type") {
        Some(t) => choice(cx, t, &join(path, "type"), &all)?,
        None => "uri_folder",
    };
    if LITERAL_TYPES.contains(&kind) {
        let value = f.require(cx, path, "value")?;
        return literal_of(cx, kind, value, &join(path, "value")).map(JobInput::Literal);
    }
    let kind = DataType::from_name(kind)?;
    let data = f
        .require(cx, path, "path")
        .and_then(|n| data_path(cx, n, &join(path, "path")));
    let mode = match f.get("mode") {
        Some(m) => match choice(
            cx,
            m,
            &join(path, "mode"),
            &["ro_mount", "download", "direct"],
        )? {
            "download" => InputMode::Download,
            "direct" => InputMode::Direct,
            _ => InputMode::ReadOnlyMount,
        },
        None => InputMode::ReadOnlyMount,
    };
    Some(JobInput::Data {
        kind,
        path: data?,
        mode,
    })
}

fn job_outputs(cx: &mut Cx, node: &Node) -> BTreeMap<String, JobOutput> {
    let mut out = BTreeMap::new();
    for (name, _, v) in names_ok(cx, node, "outputs") {
        let path = join("outputs", &name);
        let Some(f) = fields(
            cx,
            &v,
            &path,
            &["type", "mode", "name", "version", "description"],
        ) else {
            continue;
        };
        let kind = match f.get("type") {
            Some(t) => {
                choice(cx, t, &join(&path, "type"), DataType::NAMES).and_then(DataType::from_name)
            }
            None => Some(DataType::UriFolder),
        };
        if let Some(m) = f.get("mode") {
            choice(cx, m, &join(&path, "mode"), &["rw_mount", "upload"]);
        }
        let asset_name = f.opt_string(cx, &path, "name");
        if let Some(n) = &asset_name
            && !is_identifier(n, true)
        {
            cx.error(
                f.pos,
                &join(&path, "name"),
                format!("'{n}' is not a valid asset name"),
            );
        }
        let version = f.opt_string(cx, &path, "version");
        if version.is_some() && asset_name.is_none() {
            cx.error(
                f.pos,
                &join(&path, "version"),
                "needs a name to register the output under",
            );
        }
        if let Some(kind) = kind {
            out.insert(
                name,
                JobOutput {
                    kind,
                    name: asset_name,
                    version,
                },
            );
        }
    }
    out
}

fn positive(cx: &mut Cx, f: &Fields<'_>, path: &str, key: &str) -> Option<u32> {
    let n = f.get(key)?;
    let v = int(cx, n, &join(path, key))?;
    match u32::try_from(v) {
        Ok(v) if v >= 1 => Some(v),
        _ => {
            cx.error(n.pos, &join(path, key), "must be a positive integer");
            None
        }
    }
}

fn resources(cx: &mut Cx, node: &Node) -> Resources {
    let Some(f) = fields(
        cx,
        node,
        "resources",
        &["instance_count", "instance_type", "shm_size", "docker_args"],
    ) else {
        return Resources::default();
    };
    Resources {
        instance_count: positive(cx, &f, "resources", "instance_count").unwrap_or(1),
        instance_type: f.opt_string(cx, "resources", "instance_type"),
    }
}

fn distribution(cx: &mut Cx, node: &Node) -> Option<Distribution> {
    let p = "distribution";
    let f = fields(
        cx,
        node,
        p,
        &[
            "type",
            "process_count_per_instance",
            "worker_count",
            "parameter_server_count",
        ],
    )?;
    let t = f.require(cx, p, "type")?;
    match choice(
        cx,
        t,
        "distribution.type",
        &["pytorch", "mpi", "tensorflow"],
    )? {
        "pytorch" => Some(Distribution::PyTorch {
            process_count_per_instance: positive(cx, &f, p, "process_count_per_instance")
                .unwrap_or(1),
        }),
        "mpi" => {
            f.require(cx, p, "process_count_per_instance")?;
            Some(Distribution::Mpi {
                process_count_per_instance: positive(cx, &f, p, "process_count_per_instance")?,
            })
        }
        _ => Some(Distribution::TensorFlow {
            worker_count: positive(cx, &f, p, "worker_count"),
            parameter_server_count: f
                .get("parameter_server_count")
                .and_then(|n| int(cx, n, "distribution.parameter_server_count"))
                .map_or(0, |v| v.max(0) as u32),
        }),
    }
}
