//! Asset specs and references: data, models, environments (with their conda and pip
//! parts), and the `name:version` / `name@latest` references jobs use to name them.
//!
//! Invariants:
//! - an asset reference names a version or `latest`, never both; `azureml:` is accepted as
//!   a prefix (Azure ML files work unchanged) and dropped;
//! - local paths in specs are relative, without `..`, so they cannot leave the folder of
//!   the spec file; URIs with a scheme are refused until a datastore can serve them;
//! - a conda file is accepted only for its python version and `pip:` section; conda-only
//!   packages are an error naming each of them.

use crate::decode::{self, Cx, Fields, choice, fields, is_identifier, join, str_list, string};
use crate::error::Pos;
use crate::yaml::{Node, Value};
use std::collections::BTreeMap;

/// A reference to a versioned asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetRef {
    Exact { name: String, version: String },
    Latest { name: String },
}

impl AssetRef {
    /// Parses `name:version`, `name@latest`, optionally prefixed by `azureml:`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.strip_prefix("azureml:").unwrap_or(text);
        let (name, r) = if let Some((n, label)) = t.split_once('@') {
            if label != "latest" {
                return Err(format!("'{text}': only the label '@latest' is known"));
            }
            (n, AssetRef::Latest { name: n.into() })
        } else if let Some((n, v)) = t.split_once(':') {
            if v.is_empty()
                || !v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
            {
                return Err(format!("'{text}': the version '{v}' is not valid"));
            }
            (
                n,
                AssetRef::Exact {
                    name: n.into(),
                    version: v.into(),
                },
            )
        } else {
            return Err(format!(
                "'{text}' names no version: write '{t}:<version>' or '{t}@latest'"
            ));
        };
        if !is_identifier(name, true) {
            return Err(format!("'{name}' is not a valid asset name"));
        }
        Ok(r)
    }
}

/// Kinds of data and model inputs and outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    UriFile,
    UriFolder,
    Mltable,
    MlflowModel,
    CustomModel,
}

impl DataType {
    pub const NAMES: &'static [&'static str] = &[
        "uri_file",
        "uri_folder",
        "mltable",
        "mlflow_model",
        "custom_model",
    ];

    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "uri_file" => DataType::UriFile,
            "uri_folder" => DataType::UriFolder,
            "mltable" => DataType::Mltable,
            "mlflow_model" => DataType::MlflowModel,
            "custom_model" => DataType::CustomModel,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            DataType::UriFile => "uri_file",
            DataType::UriFolder => "uri_folder",
            DataType::Mltable => "mltable",
            DataType::MlflowModel => "mlflow_model",
            DataType::CustomModel => "custom_model",
        }
    }

    pub fn is_model(self) -> bool {
        matches!(self, DataType::MlflowModel | DataType::CustomModel)
    }
}

/// Where data comes from: a registered asset or a local path next to the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataPath {
    Asset(AssetRef),
    Local(String),
}

/// Reads a `path:` value: an asset reference or a safe relative local path.
pub fn data_path(cx: &mut Cx, node: &Node, path: &str) -> Option<DataPath> {
    let text = string(cx, node, path)?;
    let looks_like_ref = !text.contains(['/', '\\']) && text.contains(['@', ':']);
    if text.starts_with("azureml:") || looks_like_ref {
        return match AssetRef::parse(&text) {
            Ok(r) => Some(DataPath::Asset(r)),
            Err(e) => {
                cx.error(node.pos, path, e);
                None
            }
        };
    }
    local_path(cx, node.pos, path, &text).map(DataPath::Local)
}

/// A relative local path that stays under the spec's folder.
pub fn local_path(cx: &mut Cx, pos: Pos, path: &str, text: &str) -> Option<String> {
    let t = text.strip_prefix("file:").unwrap_or(text);
    let problem = if t.is_empty() {
        Some("must not be empty")
    } else if t.contains("://") {
        Some("remote URIs are not supported here; use a registered asset or a local path")
    } else if t.starts_with('/') || t.starts_with('\\') || t.starts_with('~') || t.contains(':') {
        Some("must be a path relative to the spec file")
    } else if t.contains('\0') || t.contains('\\') {
        Some("must not contain NUL or backslashes")
    } else if t.split('/').any(|c| c == "..") {
        Some("must not contain '..'")
    } else {
        None
    };
    match problem {
        Some(p) => {
            cx.error(pos, path, format!("'{text}' {p}"));
            None
        }
        None => Some(t.trim_end_matches('/').to_string())
            .filter(|s| !s.is_empty())
            .or(Some(".".into())),
    }
}

/// Fields every asset kind shares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssetMeta {
    pub name: String,
    pub version: Option<String>,
    pub description: Option<String>,
    pub tags: BTreeMap<String, String>,
}

fn meta(cx: &mut Cx, f: &Fields<'_>, name_required: bool) -> AssetMeta {
    let name = if name_required {
        f.req_string(cx, "", "name")
    } else {
        f.opt_string(cx, "", "name")
    }
    .unwrap_or_default();
    if !name.is_empty() && !is_identifier(&name, true) {
        let pos = f.get("name").map_or(f.pos, |n| n.pos);
        cx.error(
            pos,
            "name",
            format!("'{name}' is not a valid asset name (letters, digits, '_', '-')"),
        );
    }
    AssetMeta {
        name,
        version: f.opt_string(cx, "", "version"),
        description: f.opt_string(cx, "", "description"),
        tags: f.str_map(cx, "", "tags"),
    }
}

/// A data asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSpec {
    pub meta: AssetMeta,
    pub kind: DataType,
    pub path: DataPath,
}

pub fn decode_data(cx: &mut Cx, root: &Node) -> Option<DataSpec> {
    let f = fields(
        cx,
        root,
        "",
        &["name", "version", "description", "tags", "type", "path"],
    )?;
    let meta = meta(cx, &f, true);
    let kind = match f.get("type") {
        Some(n) => choice(cx, n, "type", &["uri_file", "uri_folder", "mltable"])
            .and_then(DataType::from_name),
        None => Some(DataType::UriFolder),
    };
    let path = f
        .require(cx, "", "path")
        .and_then(|n| data_path(cx, n, "path"));
    Some(DataSpec {
        meta,
        kind: kind?,
        path: path?,
    })
}

/// A model asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    pub meta: AssetMeta,
    pub kind: DataType,
    pub path: DataPath,
}

pub fn decode_model(cx: &mut Cx, root: &Node) -> Option<ModelSpec> {
    let f = fields(
        cx,
        root,
        "",
        &["name", "version", "description", "tags", "type", "path"],
    )?;
    let meta = meta(cx, &f, true);
    let kind = match f.get("type") {
        Some(n) => {
            choice(cx, n, "type", &["custom_model", "mlflow_model"]).and_then(DataType::from_name)
        }
        None => Some(DataType::CustomModel),
    };
    let path = f
        .require(cx, "", "path")
        .and_then(|n| data_path(cx, n, "path"));
    Some(ModelSpec {
        meta,
        kind: kind?,
        path: path?,
    })
}

/// The Python side of an environment, from any of its three forms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PythonDeps {
    /// e.g. `3.11`; `None` means the server's default interpreter.
    pub python: Option<String>,
    /// Requirement lines, in order.
    pub pip: Vec<String>,
}

/// Where the packages of an environment are described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DepsSource {
    /// Inline `pip:` list (and optional `python:` version).
    Inline(PythonDeps),
    /// `pip_requirements: requirements.txt`, a file next to the spec.
    RequirementsFile(String),
    /// `conda_file: env.yml`, a file next to the spec.
    CondaFile(String),
    /// `conda_file:` given inline as a mapping.
    CondaInline(PythonDeps),
    /// Only an `image`: nothing to install.
    None,
}

/// An environment asset or an inline environment of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentSpec {
    pub meta: AssetMeta,
    pub image: Option<String>,
    pub deps: DepsSource,
}

const ENV_FIELDS: &[&str] = &[
    "name",
    "version",
    "description",
    "tags",
    "image",
    "conda_file",
    "pip",
    "pip_requirements",
    "python",
];

/// An environment; `inline` environments (inside a job) must not carry name or version.
pub fn decode_environment(
    cx: &mut Cx,
    node: &Node,
    path: &str,
    inline: bool,
) -> Option<EnvironmentSpec> {
    let f = fields(cx, node, path, ENV_FIELDS)?;
    let meta = if inline {
        for k in ["name", "version"] {
            if let Some(n) = f.get(k) {
                cx.error(n.pos, &join(path, k), "an inline environment has no name or version; register it as an asset to name it");
            }
        }
        AssetMeta::default()
    } else {
        meta(cx, &f, true)
    };
    let image = f.opt_string(cx, path, "image");
    let python = f.opt_string(cx, path, "python");
    let pip = f.get("pip").map(|n| str_list(cx, n, &join(path, "pip")));
    let req = f.opt_string(cx, path, "pip_requirements");
    let conda = f.get("conda_file");
    let given =
        usize::from(pip.is_some()) + usize::from(req.is_some()) + usize::from(conda.is_some());
    if given > 1 {
        cx.error(
            f.pos,
            path,
            "give only one of pip, pip_requirements and conda_file",
        );
    }
    let deps = if let Some(list) = pip {
        DepsSource::Inline(PythonDeps {
            python: python.clone(),
            pip: list,
        })
    } else if let Some(r) = req {
        let p = f.get("pip_requirements").map_or(f.pos, |n| n.pos);
        DepsSource::RequirementsFile(local_path(cx, p, &join(path, "pip_requirements"), &r)?)
    } else if let Some(c) = conda {
        match &c.value {
            Value::Map(_) => {
                DepsSource::CondaInline(decode_conda(cx, c, &join(path, "conda_file"))?)
            }
            _ => {
                let text = string(cx, c, &join(path, "conda_file"))?;
                DepsSource::CondaFile(local_path(cx, c.pos, &join(path, "conda_file"), &text)?)
            }
        }
    } else if image.is_some() {
        DepsSource::None
    } else {
        cx.error(
            f.pos,
            path,
            "an environment needs one of pip, pip_requirements, conda_file or image",
        );
        DepsSource::None
    };
    if python.is_some()
        && !matches!(
            deps,
            DepsSource::Inline(_) | DepsSource::RequirementsFile(_)
        )
    {
        let p = f.get("python").map_or(f.pos, |n| n.pos);
        cx.error(
            p,
            &join(path, "python"),
            "python goes with pip or pip_requirements (a conda file names its own)",
        );
    }
    Some(EnvironmentSpec { meta, image, deps })
}

/// The parts of a conda environment file mlplane can build: the python version and the
/// `pip:` section. Anything else in `dependencies` is a conda-only package: an error.
pub fn decode_conda(cx: &mut Cx, node: &Node, path: &str) -> Option<PythonDeps> {
    let f = fields(
        cx,
        node,
        path,
        &["name", "channels", "dependencies", "prefix", "variables"],
    )?;
    let mut deps = PythonDeps::default();
    let Some(list) = f.get("dependencies") else {
        return Some(deps);
    };
    let Value::Seq(items) = &list.value else {
        cx.error(list.pos, &join(path, "dependencies"), "expected a list");
        return None;
    };
    for (i, item) in items.iter().enumerate() {
        let p = format!("{}[{i}]", join(path, "dependencies"));
        match &item.value {
            Value::Map(_) => {
                if let Some(pf) = fields(cx, item, &p, &["pip"])
                    && let Some(n) = pf.get("pip")
                {
                    deps.pip.extend(str_list(cx, n, &join(&p, "pip")));
                }
            }
            _ => {
                let Some(spec) = string(cx, item, &p) else {
                    continue;
                };
                let name: String = spec
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
                    .collect();
                let version = spec[name.len()..].trim_start_matches(['=', '>', '<', '~', ' ']);
                match name.as_str() {
                    "python" => deps.python = Some(version.to_string()).filter(|v| !v.is_empty()),
                    "pip" => {}
                    _ => cx.error(
                        item.pos,
                        &p,
                        format!("'{spec}' is a conda package; mlplane builds environments with pip, so list it under 'pip:'"),
                    ),
                }
            }
        }
    }
    Some(deps)
}

/// Reads the string at `node` as an environment reference or an inline environment.
pub fn environment_ref(cx: &mut Cx, node: &Node, path: &str) -> Option<EnvSource> {
    match &node.value {
        Value::Map(_) => decode_environment(cx, node, path, true).map(EnvSource::Inline),
        _ => {
            let text = decode::string(cx, node, path)?;
            match AssetRef::parse(&text) {
                Ok(r) => Some(EnvSource::Asset(r)),
                Err(e) => {
                    cx.error(node.pos, path, e);
                    None
                }
            }
        }
    }
}

/// A job's environment: a registered one or inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvSource {
    Asset(AssetRef),
    Inline(EnvironmentSpec),
}
