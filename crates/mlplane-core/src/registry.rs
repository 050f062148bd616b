//! The model registry's domain: registered models, their versions, stages and aliases, the
//! rules their names, aliases and tags follow, and the check of a version's `source`.
//!
//! Invariants:
//! - a model name accepted by [`model_name`] reads the same before and after URL-decoding
//!   (no `%`, no `/`, no control characters, no surrounding whitespace), so two names can
//!   never collide once a proxy or client decodes them (MLflow CVE-2024-3099);
//! - a source accepted by [`parse_model_source`] names a location this server owns: an
//!   artifact root of one of its runs or logged models, never a host, a local file, a query,
//!   a fragment or a `..` segment (MLflow CVE-2023-1177, CVE-2023-6977, CVE-2024-3573);
//! - [`parse_model_source`] is a pure function that never panics.

use crate::error::{Invalid, Violation};
use crate::ids::{ExperimentId, RunId, WorkspaceName};
use crate::model::Tag;
use crate::{ArtifactPath, TimestampMs};

/// Longest registered model name, in characters.
pub const MAX_MODEL_NAME_LEN: usize = 256;
/// Longest alias, in characters.
pub const MAX_ALIAS_LEN: usize = 255;
/// Longest registry tag key, in characters.
pub const MAX_REGISTRY_TAG_KEY_LEN: usize = 250;
/// Longest registry tag value, in characters.
pub const MAX_REGISTRY_TAG_VALUE_LEN: usize = 5000;
/// Longest model or version description, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 65_535;
/// Longest model version source, in bytes.
pub const MAX_SOURCE_LEN: usize = 4096;
/// Longest run link, in characters.
pub const MAX_RUN_LINK_LEN: usize = 4096;
/// Default and largest page of `registered-models/search`.
pub const DEFAULT_REGISTRY_PAGE: usize = 100;
pub const MAX_REGISTERED_MODELS_PAGE: usize = 1000;
/// Default and largest page of `model-versions/search` (MLflow's client default and
/// threshold).
pub const DEFAULT_MODEL_VERSIONS_PAGE: usize = 10_000;
pub const MAX_MODEL_VERSIONS_PAGE: usize = 200_000;

/// A registered model: a name under which versions of a model are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredModel {
    pub name: String,
    pub description: String,
    pub user_id: String,
    pub created_ms: TimestampMs,
    pub updated_ms: TimestampMs,
    pub tags: Vec<Tag>,
    /// Sorted by alias.
    pub aliases: Vec<ModelAlias>,
    /// The newest version in each stage.
    pub latest_versions: Vec<ModelVersion>,
}

/// An alias and the version it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelAlias {
    pub alias: String,
    pub version: i64,
}

/// The registration status of a version. mlplane only accepts sources it owns, so versions
/// are `Ready` as soon as they exist; the other states are kept for the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionStatus {
    PendingRegistration,
    FailedRegistration,
    Ready,
}

impl VersionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::PendingRegistration => "PENDING_REGISTRATION",
            VersionStatus::FailedRegistration => "FAILED_REGISTRATION",
            VersionStatus::Ready => "READY",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "PENDING_REGISTRATION" => VersionStatus::PendingRegistration,
            "FAILED_REGISTRATION" => VersionStatus::FailedRegistration,
            "READY" => VersionStatus::Ready,
            _ => return None,
        })
    }
}

/// The (deprecated in MLflow, still served) stage of a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    None,
    Staging,
    Production,
    Archived,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::None,
        Stage::Staging,
        Stage::Production,
        Stage::Archived,
    ];

    /// MLflow's spelling: `None`, `Staging`, `Production`, `Archived`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::None => "None",
            Stage::Staging => "Staging",
            Stage::Production => "Production",
            Stage::Archived => "Archived",
        }
    }

    /// Parses a stage case-insensitively, as MLflow does.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        Stage::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                Invalid::one(
                    "stage",
                    format!("'{s}' is not a stage, expected None, Staging, Production or Archived"),
                )
            })
    }

    /// Whether moving a version here may archive the others (`archive_existing_versions`).
    pub fn archives_others(self) -> bool {
        matches!(self, Stage::Staging | Stage::Production)
    }
}

/// One version of a registered model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelVersion {
    pub name: String,
    pub version: i64,
    /// As the client sent it (validated by [`parse_model_source`]).
    pub source: String,
    /// Where the files are, as an artifact URI of this server (the source resolved).
    pub storage_location: String,
    pub run_id: Option<RunId>,
    pub run_link: String,
    pub description: String,
    pub user_id: String,
    pub status: VersionStatus,
    pub status_message: String,
    pub stage: Stage,
    pub tags: Vec<Tag>,
    /// Sorted.
    pub aliases: Vec<String>,
    pub model_id: Option<String>,
    pub created_ms: TimestampMs,
    pub updated_ms: TimestampMs,
}

/// A registered model to create.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewRegisteredModel {
    pub name: String,
    pub description: String,
    pub user_id: String,
    pub tags: Vec<Tag>,
}

/// A version to create; `source` has been parsed into `parsed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewModelVersion {
    pub name: String,
    pub source: String,
    pub parsed: ModelSource,
    pub run_id: Option<RunId>,
    pub run_link: String,
    pub description: String,
    pub user_id: String,
    pub tags: Vec<Tag>,
    pub model_id: Option<String>,
    /// Where a `models:/<id>` source lives, resolved by the caller; `None` for run sources,
    /// which the store resolves itself.
    pub logged_model_location: Option<String>,
}

/// A source the server accepts for a model version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// `mlflow-artifacts:/[<ws>/]<exp>/<run>/artifacts[/<path>]`.
    RunArtifacts {
        workspace: Option<WorkspaceName>,
        experiment_id: ExperimentId,
        run_id: RunId,
        path: Option<ArtifactPath>,
    },
    /// `mlflow-artifacts:/[<ws>/]<exp>/models/<model_id>/artifacts[/<path>]`.
    LoggedModelArtifacts {
        workspace: Option<WorkspaceName>,
        experiment_id: ExperimentId,
        model_id: String,
        path: Option<ArtifactPath>,
    },
    /// `runs:/<run>/<path>`.
    Run { run_id: RunId, path: ArtifactPath },
    /// `models:/<model_id>`.
    LoggedModel { model_id: String },
}

impl ModelSource {
    /// The run the source names, if any.
    pub fn run_id(&self) -> Option<&RunId> {
        match self {
            ModelSource::RunArtifacts { run_id, .. } | ModelSource::Run { run_id, .. } => {
                Some(run_id)
            }
            _ => None,
        }
    }
}

fn push(v: &mut Vec<Violation>, field: &str, msg: impl Into<String>) {
    v.push(Violation::new(field, msg));
}

/// Checks a registered model name.
pub fn model_name_into(v: &mut Vec<Violation>, field: &str, name: &str) {
    if name.is_empty() {
        return push(v, field, "must not be empty");
    }
    if name.chars().count() > MAX_MODEL_NAME_LEN {
        return push(
            v,
            field,
            format!("is longer than {MAX_MODEL_NAME_LEN} characters"),
        );
    }
    if name.trim() != name {
        return push(v, field, "must not start or end with whitespace");
    }
    if name.chars().any(|c| c.is_control() || c == '/' || c == '%') {
        push(v, field, "must not contain '/', '%' or control characters");
    }
}

/// Checks a registered model name (field `name`).
pub fn model_name(name: &str) -> Result<(), Invalid> {
    let mut v = Vec::new();
    model_name_into(&mut v, "name", name);
    Invalid::check(v)
}

/// Checks an alias: at most 255 of `[A-Za-z0-9_-]`, not `latest` and not `v<digits>`, which
/// would shadow version references in `models:/<name>@<alias>` URIs.
pub fn alias(a: &str) -> Result<(), Invalid> {
    let fail = |m: String| Err(Invalid::one("alias", m));
    if a.is_empty() {
        return fail("must not be empty".into());
    }
    if a.chars().count() > MAX_ALIAS_LEN {
        return fail(format!("is longer than {MAX_ALIAS_LEN} characters"));
    }
    if !a
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return fail("may only contain letters, digits, '_' and '-'".into());
    }
    if a.eq_ignore_ascii_case("latest") {
        return fail("'latest' is reserved".into());
    }
    if let Some(rest) = a.strip_prefix(['v', 'V'])
        && !rest.is_empty()
        && rest.bytes().all(|b| b.is_ascii_digit())
    {
        return fail(format!("'{a}' is reserved for version references"));
    }
    Ok(())
}

/// Checks a registry tag (key ≤ 250, value ≤ 5000 characters, key non-empty).
pub fn registry_tag_into(v: &mut Vec<Violation>, field: &str, t: &Tag) {
    if t.key.is_empty() {
        push(v, &format!("{field}.key"), "must not be empty");
    } else if t.key.chars().count() > MAX_REGISTRY_TAG_KEY_LEN {
        push(
            v,
            &format!("{field}.key"),
            format!("is longer than {MAX_REGISTRY_TAG_KEY_LEN} characters"),
        );
    } else if t.key.chars().any(char::is_control) {
        push(
            v,
            &format!("{field}.key"),
            "must not contain control characters",
        );
    }
    if t.value.chars().count() > MAX_REGISTRY_TAG_VALUE_LEN {
        push(
            v,
            &format!("{field}.value"),
            format!("is longer than {MAX_REGISTRY_TAG_VALUE_LEN} characters"),
        );
    }
}

/// Checks one registry tag (fields `key`, `value`).
pub fn registry_tag(t: &Tag) -> Result<(), Invalid> {
    let mut v = Vec::new();
    registry_tag_into(&mut v, "tag", t);
    for x in &mut v {
        x.field = x.field.trim_start_matches("tag.").to_string();
    }
    Invalid::check(v)
}

fn description_into(v: &mut Vec<Violation>, d: &str) {
    if d.chars().count() > MAX_DESCRIPTION_LEN {
        push(
            v,
            "description",
            format!("is longer than {MAX_DESCRIPTION_LEN} characters"),
        );
    }
}

/// Checks a description.
pub fn description(d: &str) -> Result<(), Invalid> {
    let mut v = Vec::new();
    description_into(&mut v, d);
    Invalid::check(v)
}

/// Checks a registered model to create.
pub fn new_registered_model(m: &NewRegisteredModel) -> Result<(), Invalid> {
    let mut v = Vec::new();
    model_name_into(&mut v, "name", &m.name);
    description_into(&mut v, &m.description);
    for (i, t) in m.tags.iter().enumerate() {
        registry_tag_into(&mut v, &format!("tags[{i}]"), t);
    }
    Invalid::check(v)
}

/// Checks a version to create, apart from its source (parsed before).
pub fn new_model_version(m: &NewModelVersion) -> Result<(), Invalid> {
    let mut v = Vec::new();
    model_name_into(&mut v, "name", &m.name);
    description_into(&mut v, &m.description);
    if m.run_link.chars().count() > MAX_RUN_LINK_LEN {
        push(
            &mut v,
            "run_link",
            format!("is longer than {MAX_RUN_LINK_LEN} characters"),
        );
    }
    for (i, t) in m.tags.iter().enumerate() {
        registry_tag_into(&mut v, &format!("tags[{i}]"), t);
    }
    if let (Some(given), Some(named)) = (&m.run_id, m.parsed.run_id())
        && given != named
    {
        push(
            &mut v,
            "run_id",
            format!("is '{given}' but the source names run '{named}'"),
        );
    }
    if let Some(id) = &m.model_id
        && !is_logged_model_id(id)
    {
        push(&mut v, "model_id", "must be 'm-' followed by 32 hex digits");
    }
    if let (ModelSource::LoggedModel { model_id }, Some(given)) = (&m.parsed, &m.model_id)
        && model_id != given
    {
        push(
            &mut v,
            "model_id",
            format!("is '{given}' but the source names model '{model_id}'"),
        );
    }
    Invalid::check(v)
}

/// Parses a version number (a positive integer).
pub fn version_number(s: &str) -> Result<i64, Invalid> {
    match s.trim().parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(Invalid::one(
            "version",
            format!("'{s}' is not a positive integer"),
        )),
    }
}

/// Whether `s` is a logged model id: `m-` and 32 lowercase hex digits.
pub fn is_logged_model_id(s: &str) -> bool {
    s.strip_prefix("m-").is_some_and(|h| {
        h.len() == 32
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

const ARTIFACTS_SCHEME: &str = "mlflow-artifacts:/";
const RUNS_SCHEME: &str = "runs:/";
const MODELS_SCHEME: &str = "models:/";

/// Parses and checks the `source` of a model version. Only locations this server owns are
/// accepted; see the module invariants for what is refused.
pub fn parse_model_source(s: &str) -> Result<ModelSource, Invalid> {
    let fail = |m: &str| Err(Invalid::one("source", format!("'{}' {m}", shorten(s))));
    if s.is_empty() {
        return Err(Invalid::one("source", "must not be empty"));
    }
    if s.len() > MAX_SOURCE_LEN {
        return Err(Invalid::one(
            "source",
            format!("is longer than {MAX_SOURCE_LEN} bytes"),
        ));
    }
    if s.chars()
        .any(|c| c.is_control() || c.is_whitespace() && c != ' ')
    {
        return fail("must not contain control characters");
    }
    if s.contains(['#', '?']) {
        return fail("must not contain a query or fragment ('?', '#')");
    }
    if s.contains('%') {
        return fail("must not be percent-encoded");
    }
    if s.contains('\\') {
        return fail("must not contain '\\'");
    }
    let (scheme, rest) = if let Some(r) = s.strip_prefix(ARTIFACTS_SCHEME) {
        (ARTIFACTS_SCHEME, r)
    } else if let Some(r) = s.strip_prefix(RUNS_SCHEME) {
        (RUNS_SCHEME, r)
    } else if let Some(r) = s.strip_prefix(MODELS_SCHEME) {
        (MODELS_SCHEME, r)
    } else {
        return fail(
            "is not a location of this server: expected runs:/<run_id>/<path>, \
             models:/<model_id> or mlflow-artifacts:/<experiment_id>/<run_id>/artifacts/<path>",
        );
    };
    if rest.starts_with('/') {
        return fail("must not name a host");
    }
    let segs: Vec<&str> = rest.split('/').collect();
    if segs.iter().any(|p| p.is_empty() || *p == "." || *p == "..") {
        return fail("must not contain empty, '.' or '..' segments");
    }
    let path_of = |parts: &[&str]| -> Result<Option<ArtifactPath>, Invalid> {
        if parts.is_empty() {
            return Ok(None);
        }
        ArtifactPath::parse(&parts.join("/"))
            .map(Some)
            .map_err(|e| e.within("source"))
    };
    match scheme {
        RUNS_SCHEME => {
            let [run, path @ ..] = segs.as_slice() else {
                return fail("must be runs:/<run_id>/<path>");
            };
            let run_id = RunId::parse(run).map_err(|e| e.within("source"))?;
            match path_of(path)? {
                Some(path) => Ok(ModelSource::Run { run_id, path }),
                None => fail("must name a path inside the run: runs:/<run_id>/<path>"),
            }
        }
        MODELS_SCHEME => match segs.as_slice() {
            [id] if is_logged_model_id(id) => Ok(ModelSource::LoggedModel {
                model_id: (*id).to_string(),
            }),
            _ => fail("must be models:/<model_id> with a logged model id (m-<32 hex>)"),
        },
        _ => {
            // With or without the workspace segment: the run id or `models` sits right after
            // the experiment id, and the experiment id is a number.
            let (workspace, body) = match segs.first() {
                Some(first) if ExperimentId::parse(first).is_ok() => (None, &segs[..]),
                Some(first) => (
                    Some(WorkspaceName::parse(first).map_err(|e| e.within("source"))?),
                    &segs[1..],
                ),
                None => return fail("is empty after the scheme"),
            };
            match body {
                [exp, "models", id, "artifacts", path @ ..] => {
                    let experiment_id = ExperimentId::parse(exp).map_err(|e| e.within("source"))?;
                    if !is_logged_model_id(id) {
                        return fail("does not name a logged model (m-<32 hex>)");
                    }
                    Ok(ModelSource::LoggedModelArtifacts {
                        workspace,
                        experiment_id,
                        model_id: (*id).to_string(),
                        path: path_of(path)?,
                    })
                }
                [exp, run, "artifacts", path @ ..] => {
                    let experiment_id = ExperimentId::parse(exp).map_err(|e| e.within("source"))?;
                    let run_id = RunId::parse(run).map_err(|e| e.within("source"))?;
                    Ok(ModelSource::RunArtifacts {
                        workspace,
                        experiment_id,
                        run_id,
                        path: path_of(path)?,
                    })
                }
                _ => fail(
                    "must be mlflow-artifacts:/<experiment_id>/<run_id>/artifacts[/<path>] or \
                     mlflow-artifacts:/<experiment_id>/models/<model_id>/artifacts[/<path>]",
                ),
            }
        }
    }
}

/// The first 200 characters of `s`, for messages.
fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(200).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
