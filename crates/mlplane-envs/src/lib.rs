//! Python environments for jobs: an `EnvironmentSpec` (from `mlplane-spec`) is resolved
//! into a `ResolvedEnv` (referenced files read, requirement lines checked), hashed, and
//! built once as a virtualenv with `uv` into a cache folder, with a build log.
//! Jobs call [`EnvBuilder::ensure`] before starting their process and run `BuiltEnv::python`.
//!
//! Invariants:
//! - no HTTP, no SQL, no shell: this crate reads spec-referenced files through a caller's
//!   reader and runs `uv` with explicit arguments;
//! - an environment can only install packages from the package index (see
//!   [`resolve::requirement_line`]);
//! - a cached environment is used only when complete (see [`build`]); builds of one spec
//!   happen once at a time, across tasks and processes.

pub mod build;
pub mod error;
mod lock;
pub mod resolve;

pub use build::{BuiltEnv, DEFAULT_BUILD_TIMEOUT, EnvBuilder, find_uv};
pub use error::{EnvError, Result};
pub use resolve::{ResolvedEnv, spec_hash};
