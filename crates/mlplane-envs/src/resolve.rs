//! From an `EnvironmentSpec` to a `ResolvedEnv`: the referenced local files are read (a
//! requirements file, a conda file), requirement lines are checked, and the result gets a
//! content hash that names its cached build.
//!
//! Invariants:
//! - every requirement line of a `ResolvedEnv` names a package from the configured index:
//!   no pip options (`-e`, `-r`, `-c`, `--index-url`, `--find-links`, ...), no local paths,
//!   archives or URLs, no direct references (`name @ url`), no control characters or
//!   backslashes; so an environment cannot pull arbitrary local files or change its index;
//! - requirement lines keep their order (it matters to the resolver) and are trimmed, with
//!   blank lines and comments dropped;
//! - a python version is plain digits and dots (`3`, `3.11`, `3.11.7`), so it can never be
//!   read as an option by `uv`;
//! - `spec_hash` is a sha256 over a versioned canonical text; equal hashes mean equal specs
//!   (the text itself is stored in the build's completion marker and compared on reuse).

use crate::error::{EnvError, Result};
use mlplane_spec::assets::DepsSource;
use mlplane_spec::{EnvironmentSpec, PythonDeps};
use sha2::{Digest, Sha256};
use std::path::{Component, Path};

/// Version of the canonical text; bump it when the build recipe changes so old cached
/// environments are no longer reused.
const FORMAT: &str = "mlplane-env v1";

/// The most requirement lines an environment may have.
pub const MAX_REQUIREMENTS: usize = 1000;
/// The longest requirement line, in bytes.
pub const MAX_LINE_BYTES: usize = 1000;
/// The largest referenced file (requirements or conda file), in bytes.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// An environment ready to build: what to install, with every referenced file read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedEnv {
    /// Python version (`3.11`); `None` means the `python3` on the server's PATH.
    pub python: Option<String>,
    /// Checked requirement lines, in order.
    pub requirements: Vec<String>,
    /// A container image; environments with one need container-capable compute.
    pub image: Option<String>,
}

impl ResolvedEnv {
    /// Resolves `spec`, reading referenced files with `read`, which gets `base` joined
    /// with the file's relative path.
    pub fn resolve<F>(spec: &EnvironmentSpec, base: &Path, mut read: F) -> Result<ResolvedEnv>
    where
        F: FnMut(&Path) -> std::io::Result<String>,
    {
        let mut read_rel = |rel: &str| -> Result<String> {
            check_relative(rel)?;
            let text = read(&base.join(rel)).map_err(|e| {
                EnvError::invalid(Some(rel), None, format!("cannot read the file: {e}"))
            })?;
            if text.len() > MAX_FILE_BYTES {
                return Err(EnvError::invalid(
                    Some(rel),
                    None,
                    format!("the file is larger than {MAX_FILE_BYTES} bytes"),
                ));
            }
            Ok(text)
        };
        let (python, requirements) = match &spec.deps {
            DepsSource::Inline(deps) | DepsSource::CondaInline(deps) => {
                (deps.python.clone(), inline_requirements(deps)?)
            }
            DepsSource::RequirementsFile(rel) => {
                let text = read_rel(rel)?;
                (None, requirements_file(rel, &text)?)
            }
            DepsSource::CondaFile(rel) => {
                let text = read_rel(rel)?;
                let deps = mlplane_spec::parse_conda(&text).map_err(|errs| {
                    let line = errs.0.first().map(|e| e.pos.line).filter(|l| *l > 0);
                    let message = errs
                        .0
                        .iter()
                        .map(|e| {
                            let field = if e.field.is_empty() {
                                String::new()
                            } else {
                                format!("{}: ", e.field)
                            };
                            format!("line {}: {field}{}", e.pos.line, e.message)
                        })
                        .collect::<Vec<_>>()
                        .join("; ");
                    EnvError::invalid(Some(rel), line, message)
                })?;
                let reqs = inline_requirements(&deps).map_err(|e| in_file(e, rel))?;
                (deps.python, reqs)
            }
            DepsSource::None => (None, Vec::new()),
        };
        let python = python.as_deref().map(check_python).transpose()?;
        Ok(ResolvedEnv {
            python,
            requirements,
            image: spec.image.clone(),
        })
    }

    /// Resolves `spec` with files read from the local folder `base`.
    pub fn resolve_local(spec: &EnvironmentSpec, base: &Path) -> Result<ResolvedEnv> {
        ResolvedEnv::resolve(spec, base, |p| std::fs::read_to_string(p))
    }

    /// The canonical text the hash is computed over; stored in the completion marker.
    pub fn canonical_text(&self) -> String {
        let mut s = format!(
            "{FORMAT}\npython: {}\n",
            self.python.as_deref().unwrap_or("default")
        );
        if let Some(image) = &self.image {
            s.push_str(&format!("image: {image}\n"));
        }
        for r in &self.requirements {
            s.push_str("requirement: ");
            s.push_str(r);
            s.push('\n');
        }
        s
    }
}

/// The sha256 (hex) of an environment's canonical text; names its cached build.
pub fn spec_hash(env: &ResolvedEnv) -> String {
    hex::encode(Sha256::digest(env.canonical_text().as_bytes()))
}

fn in_file(e: EnvError, rel: &str) -> EnvError {
    match e {
        EnvError::Invalid { line, message, .. } => EnvError::Invalid {
            file: Some(rel.to_string()),
            line,
            message,
        },
        other => other,
    }
}

/// A spec's local path must stay under its folder; the spec parser guarantees it, and we
/// check again because an `EnvironmentSpec` can be built by hand.
fn check_relative(rel: &str) -> Result<()> {
    let p = Path::new(rel);
    if rel.is_empty()
        || !p
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(EnvError::invalid(
            Some(rel),
            None,
            "must be a path relative to the spec's folder, without '..'",
        ));
    }
    Ok(())
}

fn inline_requirements(deps: &PythonDeps) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (i, raw) in deps.pip.iter().enumerate() {
        if let Some(r) = requirement_line(raw)
            .map_err(|m| EnvError::invalid(None, None, format!("pip[{i}]: '{}' {m}", raw.trim())))?
        {
            out.push(r);
        }
    }
    check_count(out.len(), None)?;
    Ok(out)
}

/// The requirement lines of a requirements file's text; errors name the file and line.
pub fn requirements_file(file: &str, text: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if let Some(r) = requirement_line(raw).map_err(|m| {
            EnvError::invalid(Some(file), Some(i + 1), format!("'{}' {m}", raw.trim()))
        })? {
            out.push(r);
        }
    }
    check_count(out.len(), Some(file))?;
    Ok(out)
}

fn check_count(n: usize, file: Option<&str>) -> Result<()> {
    if n > MAX_REQUIREMENTS {
        return Err(EnvError::invalid(
            file,
            None,
            format!("{n} requirements; at most {MAX_REQUIREMENTS} are allowed"),
        ));
    }
    Ok(())
}

/// Checks one requirement line: `Ok(None)` for a blank or comment line, `Ok(Some(line))`
/// (trimmed, without a trailing comment) for a package requirement, `Err(why)` otherwise.
pub fn requirement_line(raw: &str) -> std::result::Result<Option<String>, String> {
    let mut line = raw.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    // pip reads whitespace followed by '#' as the start of a comment.
    if let Some(i) = [line.find(" #"), line.find("\t#")]
        .into_iter()
        .flatten()
        .min()
    {
        line = line[..i].trim_end();
    }
    if line.len() > MAX_LINE_BYTES {
        return Err(format!("is longer than {MAX_LINE_BYTES} bytes"));
    }
    if line.chars().any(char::is_control) || line.contains('\\') {
        return Err("must not contain control characters or backslashes".into());
    }
    if line.starts_with('-') {
        return Err("is a pip option; options such as -e, -r, -c, --index-url, --extra-index-url and --find-links are not allowed, list packages only".into());
    }
    let lower = line.to_ascii_lowercase();
    if lower.starts_with("file:") {
        return Err(
            "looks like a local path; only packages from the package index can be installed".into(),
        );
    }
    if line.contains("://") || line.contains('@') || lower.contains("git+") {
        return Err(
            "is a URL or direct reference; only packages from the package index can be installed"
                .into(),
        );
    }
    if line.starts_with(['/', '.', '~']) || line.contains("..") || line.contains('/') {
        return Err(
            "looks like a local path; only packages from the package index can be installed".into(),
        );
    }
    let first = line.split([' ', '\t', ';']).next().unwrap_or("");
    let first_lower = first.to_ascii_lowercase();
    if [
        ".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar",
    ]
    .iter()
    .any(|ext| first_lower.ends_with(ext))
    {
        return Err(
            "looks like a local archive; only packages from the package index can be installed"
                .into(),
        );
    }
    if !line.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("does not start with a package name".into());
    }
    if let Some(opt) = line
        .split_whitespace()
        .skip(1)
        .find(|t| t.starts_with('-') && !t.starts_with("--hash="))
    {
        return Err(format!(
            "carries the option '{opt}'; only --hash=... may follow a requirement"
        ));
    }
    Ok(Some(line.to_string()))
}

/// A python version is digits and dots (`3.11`); a conda-style `3.11.*` is read as `3.11`.
fn check_python(v: &str) -> Result<String> {
    let t = v.trim();
    let t = t.strip_suffix(".*").unwrap_or(t);
    let ok = !t.is_empty()
        && t.split('.').count() <= 3
        && t.split('.')
            .all(|p| !p.is_empty() && p.len() <= 4 && p.chars().all(|c| c.is_ascii_digit()));
    if !ok {
        return Err(EnvError::invalid(
            None,
            None,
            format!("python: '{v}' is not a version such as 3.11 or 3.11.7"),
        ));
    }
    Ok(t.to_string())
}
