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
mod decode;
pub mod error;
pub mod job;
pub mod overrides;
pub mod yaml;

pub use assets::{
    AssetRef, DataPath, DataSpec, DataType, EnvSource, EnvironmentSpec, ModelSpec, PythonDeps,
};
pub use bind::CommandTemplate;
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
