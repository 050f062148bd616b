//! mlplane's spec files: command jobs, data, models and environments, in the YAML shapes
//! of Azure ML's CLI v2 (JSON is accepted as well), parsed into validated types.
//!
//! Errors name the file, line, column and field, say what was expected, and suggest the
//! closest known field or value for a typo. One pass reports every problem of a spec.
//!
//! Invariants:
//! - this crate does no IO: callers read files and resolve local paths (which are always
//!   relative and free of `..`, see [`assets::local_path`]);
//! - parsing is bounded in size, depth and node count ([`yaml`]) and never panics.

pub mod assets;
pub mod bind;
pub mod component;
pub mod compute;
mod decode;
pub mod error;
pub mod job;
pub mod overrides;
pub mod yaml;

pub use assets::{
    AssetRef, DataPath, DataSpec, DataType, EnvSource, EnvironmentSpec, ModelSpec, PythonDeps,
};
pub use bind::CommandTemplate;
pub use component::ComponentSpec;
pub use compute::{ComputeSpec, ComputeType};
pub use error::{Pos, Result, SpecError, SpecErrors};
pub use job::{CommandJob, InputMode, JobInput, JobOutput, Literal};

use decode::Cx;

fn run<T>(
    src: &str,
    sets: &[String],
    f: impl FnOnce(&mut Cx, &yaml::Node) -> Option<T>,
) -> Result<T> {
    let mut root = yaml::parse(src)?;
    overrides::apply(&mut root, sets)?;
    let mut cx = Cx::default();
    let value = f(&mut cx, &root);
    cx.finish(value)?.ok_or_else(|| {
        // A decoder returns None only after recording why; this covers a decoder that
        // forgot to, so the caller still gets an error rather than nothing.
        SpecErrors::one(SpecError::new(root.pos, "", "the spec is not valid"))
    })
}

/// A command job, with `--set path=value` overrides applied first.
pub fn parse_command_job(src: &str, sets: &[String]) -> Result<CommandJob> {
    run(src, sets, job::decode_command_job)
}

pub fn parse_data(src: &str, sets: &[String]) -> Result<DataSpec> {
    run(src, sets, assets::decode_data)
}

pub fn parse_model(src: &str, sets: &[String]) -> Result<ModelSpec> {
    run(src, sets, assets::decode_model)
}

pub fn parse_environment(src: &str, sets: &[String]) -> Result<EnvironmentSpec> {
    run(src, sets, |cx, root| {
        assets::decode_environment(cx, root, "", false)
    })
}

/// The python version and pip requirements of a conda environment file.
pub fn parse_conda(src: &str) -> Result<PythonDeps> {
    run(src, &[], |cx, root| assets::decode_conda(cx, root, ""))
}

/// A compute target.
pub fn parse_compute(src: &str, sets: &[String]) -> Result<ComputeSpec> {
    run(src, sets, compute::decode_compute)
}

/// A command component.
pub fn parse_component(src: &str, sets: &[String]) -> Result<ComponentSpec> {
    run(src, sets, component::decode_component)
}

/// The component a job spec names (`component: azureml:name:version` or `name@latest`),
/// if any; the server resolves it before [`parse_component_job`].
pub fn component_ref(src: &str, sets: &[String]) -> Result<Option<(AssetRef, Pos)>> {
    run(src, sets, |cx, root| {
        let yaml::Value::Map(entries) = &root.value else {
            return Some(None);
        };
        let Some((_, node)) = entries.iter().find(|(k, _)| k.name == "component") else {
            return Some(None);
        };
        let text = decode::string(cx, node, "component")?;
        match AssetRef::parse(&text) {
            Ok(r) => Some(Some((r, node.pos))),
            Err(e) => {
                cx.error(node.pos, "component", e);
                None
            }
        }
    })
}

/// The `code` folder a job spec names itself (not through its component), checked like
/// [`parse_command_job`] checks it; the CLI packs it before the server sees the job.
pub fn job_code(src: &str, sets: &[String]) -> Result<Option<String>> {
    run(src, sets, |cx, root| {
        let yaml::Value::Map(entries) = &root.value else {
            return Some(None);
        };
        let Some((_, node)) = entries.iter().find(|(k, _)| k.name == "code") else {
            return Some(None);
        };
        let text = decode::string(cx, node, "code")?;
        assets::local_path(cx, node.pos, "code", &text).map(Some)
    })
}

/// A job of component `comp` (see [`job::decode_command_job_with`]).
pub fn parse_component_job(src: &str, sets: &[String], comp: &ComponentSpec) -> Result<CommandJob> {
    run(src, sets, |cx, root| {
        job::decode_command_job_with(cx, root, Some(comp))
    })
}
