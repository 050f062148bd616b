//! Command components: a reusable command with declared, typed inputs (with defaults) and
//! outputs, an environment and optional code, registered as a versioned `component` asset.
//! A job names one with `component: azureml:name:version` and binds its `inputs`; see
//! [`crate::parse_component_job`].
//!
//! ```yaml
//! type: command
//! name: train
//! version: "1"
//! display_name: Train a model
//! inputs:
//!   lr: {type: number, default: 0.01}
//!   epochs: {type: integer, default: 3}
//!   data: {type: uri_folder, optional: true}
//! outputs:
//!   model: {type: mlflow_model}
//! command: python train.py --lr ${{inputs.lr}} --epochs ${{inputs.epochs}} $[[--data ${{inputs.data}}]]
//! environment: azureml:sk-env:1
//! code: ./src
//! ```
//!
//! Invariants:
//! - the command uses only declared inputs and outputs;
//! - a default has the declared type (a literal of that type, or a data path).

use crate::assets::{
    AssetMeta, DataPath, DataType, EnvSource, data_path, environment_ref, local_path,
};
use crate::bind::CommandTemplate;
use crate::decode::{Cx, choice, fields, is_identifier, string};
use crate::job::{InputMode, JobInput, JobOutput, LITERAL_TYPES, command_of, literal_of, names_ok};
use crate::yaml::{Node, Value};
use std::collections::BTreeMap;

/// The fields a command component may have.
pub const COMPONENT_FIELDS: &[&str] = &[
    "type",
    "name",
    "version",
    "display_name",
    "description",
    "tags",
    "inputs",
    "outputs",
    "command",
    "environment",
    "code",
];
/// The fields of one declared input.
pub const INPUT_FIELDS: &[&str] = &["type", "default", "optional", "description"];
/// The fields of one declared output.
pub const OUTPUT_FIELDS: &[&str] = &["type", "description"];

/// A declared input.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentInput {
    /// A data type name (`uri_folder`, ...) or a literal type (`string`, `integer`,
    /// `number`, `boolean`).
    pub kind: String,
    pub default: Option<JobInput>,
    pub optional: bool,
}

/// A command component.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentSpec {
    pub meta: AssetMeta,
    pub display_name: Option<String>,
    pub inputs: BTreeMap<String, ComponentInput>,
    pub outputs: BTreeMap<String, DataType>,
    pub command: CommandTemplate,
    pub environment: EnvSource,
    pub code: Option<String>,
}

pub fn decode_component(cx: &mut Cx, root: &Node) -> Option<ComponentSpec> {
    let f = fields(cx, root, "", COMPONENT_FIELDS)?;
    if let Some(t) = f.get("type") {
        choice(cx, t, "type", &["command"]);
    }
    let name = f.req_string(cx, "", "name").unwrap_or_default();
    if !name.is_empty() && !is_identifier(&name, true) {
        cx.error(
            f.get("name").map_or(f.pos, |n| n.pos),
            "name",
            format!("'{name}' is not a valid component name (letters, digits, '_', '-')"),
        );
    }
    let mut inputs = BTreeMap::new();
    if let Some(n) = f.get("inputs") {
        for (iname, _, v) in names_ok(cx, n, "inputs") {
            let path = format!("inputs.{iname}");
            if let Some(i) = declared_input(cx, &v, &path) {
                inputs.insert(iname, i);
            }
        }
    }
    let mut outputs = BTreeMap::new();
    if let Some(n) = f.get("outputs") {
        for (oname, _, v) in names_ok(cx, n, "outputs") {
            let path = format!("outputs.{oname}");
            let Some(of) = fields(cx, &v, &path, OUTPUT_FIELDS) else {
                continue;
            };
            let kind = match of.get("type") {
                Some(t) => choice(cx, t, &format!("{path}.type"), DataType::NAMES)
                    .and_then(DataType::from_name),
                None => Some(DataType::UriFolder),
            };
            if let Some(k) = kind {
                outputs.insert(oname, k);
            }
        }
    }
    let as_job_outputs: BTreeMap<String, JobOutput> = outputs
        .iter()
        .map(|(k, kind)| {
            (
                k.clone(),
                JobOutput {
                    kind: *kind,
                    name: None,
                    version: None,
                },
            )
        })
        .collect();
    let names: Vec<String> = inputs.keys().cloned().collect();
    let command = command_of(cx, &f, &names, &as_job_outputs);
    let environment = f
        .require(cx, "", "environment")
        .and_then(|n| environment_ref(cx, n, "environment"));
    let code = f.get("code").and_then(|n| {
        let text = string(cx, n, "code")?;
        local_path(cx, n.pos, "code", &text)
    });
    Some(ComponentSpec {
        meta: AssetMeta {
            name,
            version: f.opt_string(cx, "", "version"),
            description: f.opt_string(cx, "", "description"),
            tags: f.str_map(cx, "", "tags"),
        },
        display_name: f.opt_string(cx, "", "display_name"),
        inputs,
        outputs,
        command: command?,
        environment: environment?,
        code,
    })
}

fn declared_input(cx: &mut Cx, v: &Node, path: &str) -> Option<ComponentInput> {
    let f = fields(cx, v, path, INPUT_FIELDS)?;
    let all: Vec<&'static str> = DataType::NAMES
        .iter()
        .chain(LITERAL_TYPES)
        .copied()
        .collect();
    let type_node = f.require(cx, path, "type")?;
    let kind = choice(cx, type_node, &format!("{path}.type"), &all)?;
    let optional = match f.get("optional") {
        None => false,
        Some(n) => match &n.value {
            Value::Scalar { text, plain: true } if text == "true" => true,
            Value::Scalar { text, plain: true } if text == "false" => false,
            _ => {
                cx.error(n.pos, &format!("{path}.optional"), "expected true or false");
                return None;
            }
        },
    };
    let default = match f.get("default") {
        None => None,
        Some(d) => {
            let dpath = format!("{path}.default");
            if LITERAL_TYPES.contains(&kind) {
                Some(JobInput::Literal(literal_of(cx, kind, d, &dpath)?))
            } else {
                let p: DataPath = data_path(cx, d, &dpath)?;
                Some(JobInput::Data {
                    kind: DataType::from_name(kind)?,
                    path: p,
                    mode: InputMode::ReadOnlyMount,
                })
            }
        }
    };
    Some(ComponentInput {
        kind: kind.to_string(),
        default,
        optional,
    })
}

/// Binds a job's `inputs` and `outputs` to component `c`: every job input must be declared
/// with a matching type, missing ones take their default (or stay unset when optional),
/// and the job's outputs are the component's, optionally named for registration.
pub(crate) fn bind(
    cx: &mut Cx,
    f: &crate::decode::Fields<'_>,
    c: &ComponentSpec,
    inputs: &mut BTreeMap<String, JobInput>,
    outputs: &mut BTreeMap<String, JobOutput>,
) {
    use crate::job::{Literal, literal_matches};
    let in_pos = f.get("inputs").map_or(f.pos, |n| n.pos);
    let out_pos = f.get("outputs").map_or(f.pos, |n| n.pos);
    let cname = &c.meta.name;
    let names: Vec<&str> = c.inputs.keys().map(String::as_str).collect();
    for (name, given) in inputs.iter_mut() {
        let path = format!("inputs.{name}");
        let Some(decl) = c.inputs.get(name) else {
            cx.error(
                in_pos,
                &path,
                format!(
                    "component '{cname}' has no input '{name}'; its inputs: {}",
                    names.join(", ")
                ),
            );
            continue;
        };
        let literal_kind = LITERAL_TYPES.contains(&decl.kind.as_str());
        match given {
            JobInput::Literal(lit) if literal_kind => {
                if !literal_matches(&decl.kind, lit) {
                    cx.error(
                        in_pos,
                        &path,
                        format!("'{}' is not a valid {}", lit.render(), decl.kind),
                    );
                } else if decl.kind == "string" {
                    *lit = Literal::String(lit.render());
                }
            }
            JobInput::Data { kind, .. } if !literal_kind => {
                if kind.name() != decl.kind {
                    cx.error(
                        in_pos,
                        &path,
                        format!(
                            "component '{cname}' declares '{name}' as {}, not {}",
                            decl.kind,
                            kind.name()
                        ),
                    );
                }
            }
            _ => cx.error(
                in_pos,
                &path,
                format!(
                    "component '{cname}' declares '{name}' as {}{}",
                    decl.kind,
                    if literal_kind {
                        ""
                    } else {
                        "; give {type, path}"
                    }
                ),
            ),
        }
    }
    for (name, decl) in &c.inputs {
        if inputs.contains_key(name) {
            continue;
        }
        match &decl.default {
            Some(d) => {
                inputs.insert(name.clone(), d.clone());
            }
            None if decl.optional => {}
            None => cx.error(
                in_pos,
                &format!("inputs.{name}"),
                format!("component '{cname}' needs a value for input '{name}' (it has no default)"),
            ),
        }
    }
    for (name, given) in outputs.iter() {
        match c.outputs.get(name) {
            None => cx.error(
                out_pos,
                &format!("outputs.{name}"),
                format!("component '{cname}' has no output '{name}'"),
            ),
            Some(kind) if *kind != given.kind && f.get("outputs").is_some() => {
                // An output given without a type took the default; the component's wins.
            }
            Some(_) => {}
        }
    }
    for (name, kind) in &c.outputs {
        let o = outputs.entry(name.clone()).or_insert(JobOutput {
            kind: *kind,
            name: None,
            version: None,
        });
        o.kind = *kind;
    }
}

#[cfg(test)]
mod tests {
    use crate::{JobInput, Literal, parse_component, parse_component_job};

    const COMP: &str = "type: command
name: train
version: '1'
display_name: Train
inputs:
  lr: {type: number, default: 0.01}
  epochs: {type: integer}
  note: {type: string, default: hi}
  data: {type: uri_folder, optional: true}
outputs:
  model: {type: mlflow_model}
command: python train.py --lr ${{inputs.lr}} --epochs ${{inputs.epochs}} $[[--data ${{inputs.data}}]] --out ${{outputs.model}}
environment: azureml:sk-env:1
code: ./src
";

    #[test]
    fn a_component_parses_with_typed_defaults() {
        let c = parse_component(COMP, &[]).expect("valid");
        assert_eq!(c.meta.name, "train");
        assert_eq!(
            c.inputs["lr"].default,
            Some(JobInput::Literal(Literal::Number(0.01)))
        );
        assert!(c.inputs["data"].optional);
        assert_eq!(c.code.as_deref(), Some("./src"));
    }

    #[test]
    fn a_component_with_undeclared_references_or_bad_defaults_is_refused() {
        let e = parse_component(
            "name: c\ncommand: echo ${{inputs.x}}\nenvironment: e@latest\ninputs:\n  n: {type: integer, default: many}\n",
            &[],
        )
        .expect_err("invalid");
        let fields: Vec<&str> = e.0.iter().map(|x| x.field.as_str()).collect();
        assert!(
            fields.contains(&"command") && fields.contains(&"inputs.n.default"),
            "{e:?}"
        );
    }

    #[test]
    fn a_job_binds_inputs_to_the_component_and_takes_its_defaults() {
        let c = parse_component(COMP, &[]).expect("valid");
        let j = parse_component_job(
            "component: azureml:train:1\ninputs:\n  epochs: 5\noutputs:\n  model: {name: iris-model}\n",
            &[],
            &c,
        )
        .expect("valid job");
        assert_eq!(j.inputs["epochs"], JobInput::Literal(Literal::Integer(5)));
        assert_eq!(j.inputs["lr"], JobInput::Literal(Literal::Number(0.01)));
        assert!(!j.inputs.contains_key("data"));
        assert_eq!(j.outputs["model"].name.as_deref(), Some("iris-model"));
        assert_eq!(j.outputs["model"].kind, crate::DataType::MlflowModel);
        assert_eq!(j.code.as_deref(), Some("./src"));
        let rendered = j
            .command
            .render(
                &[
                    ("epochs".to_string(), "5".to_string()),
                    ("lr".to_string(), "0.01".to_string()),
                ]
                .into_iter()
                .collect(),
                &[("model".to_string(), "/o".to_string())]
                    .into_iter()
                    .collect(),
            )
            .expect("renders");
        assert_eq!(rendered, "python train.py --lr 0.01 --epochs 5  --out /o");
    }

    #[test]
    fn a_job_with_unknown_missing_or_mistyped_inputs_is_refused() {
        let c = parse_component(COMP, &[]).expect("valid");
        let e = parse_component_job(
            "component: train:1\ncommand: echo\ninputs:\n  epochs: many\n  lr2: 1\n",
            &[],
            &c,
        )
        .expect_err("invalid");
        let mut fields: Vec<&str> = e.0.iter().map(|x| x.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["command", "inputs.epochs", "inputs.lr2"], "{e:?}");
        let e = parse_component_job("component: train:1\n", &[], &c).expect_err("epochs missing");
        assert_eq!(e.0[0].field, "inputs.epochs", "{e:?}");
    }

    #[test]
    fn the_component_reference_is_read_before_resolving() {
        let (r, _) = crate::component_ref("component: azureml:train:1\n", &[])
            .expect("valid")
            .expect("named");
        assert_eq!(
            r,
            crate::AssetRef::Exact {
                name: "train".into(),
                version: "1".into()
            }
        );
        assert!(
            crate::component_ref("command: x\n", &[])
                .expect("valid")
                .is_none()
        );
        assert!(
            crate::parse_command_job(
                "component: train:1\ncommand: x\nenvironment: e@latest\n",
                &[]
            )
            .is_err()
        );
    }

    #[test]
    fn a_jobs_own_code_is_read_without_its_component() {
        assert_eq!(
            crate::job_code("component: train:1\ncode: ./mine/\n", &[])
                .expect("valid")
                .as_deref(),
            Some("./mine")
        );
        assert!(
            crate::job_code("component: train:1\n", &[])
                .expect("valid")
                .is_none()
        );
        assert_eq!(
            crate::job_code("component: train:1\n", &["code=src".into()])
                .expect("valid")
                .as_deref(),
            Some("src")
        );
        let e = crate::job_code("component: train:1\ncode: ../up\n", &[]).expect_err("escapes");
        assert_eq!(e.0[0].field, "code", "{e:?}");
    }
}
