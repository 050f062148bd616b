//! MLflow 3 logged models: a model's identity, status, params and tags, plus the
//! engine-independent search rules (filter evaluation and ordering) both stores share.
//!
//! Invariants:
//! - a [`LoggedModelId`] is always `m-` followed by 32 lowercase hex characters;
//! - a model's name is 1 to [`MAX_LOGGED_MODEL_NAME_LEN`] characters; params and tags follow
//!   the run rules of [`crate::validate`];
//! - [`matches`] accepts only filters parsed by `search::parse_logged_model_filter`, and
//!   evaluates them without IO.

use crate::error::{Invalid, Violation};
use crate::ids::{ExperimentId, RunId};
use crate::limits::{MAX_BATCH_PARAMS, MAX_BATCH_TOTAL, MAX_LOGGED_MODEL_NAME_LEN};
use crate::model::{Param, Tag};
use crate::search::{Attr, Clause, Comparator, Entity, Filter, Value};
use crate::{TimestampMs, validate};
use std::cmp::Ordering;
use std::fmt;

/// Id of a logged model: `m-` and 32 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LoggedModelId(String);

impl LoggedModelId {
    const PREFIX: &'static str = "m-";

    /// A fresh random id.
    pub fn generate() -> Self {
        Self(format!("{}{}", Self::PREFIX, uuid::Uuid::new_v4().simple()))
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s.strip_prefix(Self::PREFIX) {
            Some(hex) if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(Self(
                format!("{}{}", Self::PREFIX, hex.to_ascii_lowercase()),
            )),
            _ => Err(Invalid::one(
                "model_id",
                "must be 'm-' followed by 32 hexadecimal characters",
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LoggedModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Upload state of a logged model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoggedModelStatus {
    /// Created, artifacts not yet (fully) uploaded.
    Pending,
    Ready,
    UploadFailed,
}

impl LoggedModelStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LoggedModelStatus::Pending => "PENDING",
            LoggedModelStatus::Ready => "READY",
            LoggedModelStatus::UploadFailed => "UPLOAD_FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PENDING" => Some(LoggedModelStatus::Pending),
            "READY" => Some(LoggedModelStatus::Ready),
            "UPLOAD_FAILED" => Some(LoggedModelStatus::UploadFailed),
            _ => None,
        }
    }
}

/// A stored logged model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedModel {
    pub id: LoggedModelId,
    pub experiment_id: ExperimentId,
    pub name: String,
    pub model_type: Option<String>,
    pub source_run_id: Option<RunId>,
    pub status: LoggedModelStatus,
    pub status_message: Option<String>,
    /// Sorted by key.
    pub params: Vec<Param>,
    /// Sorted by key.
    pub tags: Vec<Tag>,
    pub created_ms: TimestampMs,
    pub updated_ms: TimestampMs,
    /// `mlplane-artifacts:/{ws}/{experiment_id}/models/{id}/artifacts`.
    pub artifact_location: String,
}

/// What a caller gives to create a logged model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLoggedModel {
    pub experiment_id: ExperimentId,
    /// `None` picks a readable name derived from the id.
    pub name: Option<String>,
    pub model_type: Option<String>,
    pub source_run_id: Option<RunId>,
    pub params: Vec<Param>,
    pub tags: Vec<Tag>,
}

/// The artifact root of a model, in mlplane's own scheme.
pub fn model_artifact_location(
    ws: &crate::WorkspaceName,
    exp: ExperimentId,
    id: &LoggedModelId,
) -> String {
    format!("mlplane-artifacts:/{ws}/{exp}/models/{id}/artifacts")
}

/// A readable default model name derived from the id (`model-3f2a9c1e`).
pub fn default_model_name(id: &LoggedModelId) -> String {
    let hex = id.as_str().trim_start_matches(LoggedModelId::PREFIX);
    format!("model-{}", &hex[..8.min(hex.len())])
}

/// Checks a model name.
pub fn name_into(v: &mut Vec<Violation>, field: &str, name: &str) {
    if name.trim().is_empty() {
        v.push(Violation::new(field, "must not be empty"));
    } else if name.chars().count() > MAX_LOGGED_MODEL_NAME_LEN {
        v.push(Violation::new(
            field,
            format!("is longer than {MAX_LOGGED_MODEL_NAME_LEN} characters"),
        ));
    }
}

/// Checks params being logged to a model.
pub fn params(params: &[Param]) -> Result<(), Invalid> {
    let mut v = Vec::new();
    if params.len() > MAX_BATCH_PARAMS {
        v.push(Violation::new(
            "params",
            format!("more than {MAX_BATCH_PARAMS} params"),
        ));
    }
    for (i, p) in params.iter().enumerate() {
        if let Err(e) = validate::param(p) {
            v.extend(e.within(&format!("params[{i}]")).violations);
        }
    }
    Invalid::check(v)
}

/// Checks tags being set on a model. The client sends all of a model's tags in one request,
/// so the cap is the batch total rather than the per-batch tag limit of runs.
pub fn tags(tags: &[Tag]) -> Result<(), Invalid> {
    let mut v = Vec::new();
    if tags.len() > MAX_BATCH_TOTAL {
        v.push(Violation::new(
            "tags",
            format!("more than {MAX_BATCH_TOTAL} tags"),
        ));
    }
    for (i, t) in tags.iter().enumerate() {
        if let Err(e) = validate::tag(t) {
            v.extend(e.within(&format!("tags[{i}]")).violations);
        }
    }
    Invalid::check(v)
}

/// Checks a new model: name, model type, params and tags.
pub fn new_logged_model(m: &NewLoggedModel) -> Result<(), Invalid> {
    let mut v = Vec::new();
    if let Some(name) = &m.name {
        name_into(&mut v, "name", name);
    }
    if let Some(t) = &m.model_type
        && t.chars().count() > MAX_LOGGED_MODEL_NAME_LEN
    {
        v.push(Violation::new(
            "model_type",
            format!("is longer than {MAX_LOGGED_MODEL_NAME_LEN} characters"),
        ));
    }
    if let Err(e) = params(&m.params) {
        v.extend(e.violations);
    }
    if let Err(e) = tags(&m.tags) {
        v.extend(e.violations);
    }
    Invalid::check(v)
}

/// Fields a logged model search can order by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelOrderField {
    CreationTime,
    LastUpdateTime,
    Name,
}

impl ModelOrderField {
    /// MLflow's names: `creation_timestamp`, `last_updated_timestamp`, `name`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "creation_timestamp" | "creation_time" => Some(ModelOrderField::CreationTime),
            "last_updated_timestamp" | "last_update_time" => Some(ModelOrderField::LastUpdateTime),
            "name" => Some(ModelOrderField::Name),
            _ => None,
        }
    }
}

/// One ordering of a logged model search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelOrder {
    pub field: ModelOrderField,
    pub ascending: bool,
}

/// The default order: newest first.
pub const DEFAULT_MODEL_ORDER: ModelOrder = ModelOrder {
    field: ModelOrderField::CreationTime,
    ascending: false,
};

/// Compares two models by `order`, then by id so the order is total.
pub fn compare(a: &LoggedModel, b: &LoggedModel, order: &[ModelOrder]) -> Ordering {
    for o in order {
        let c = match o.field {
            ModelOrderField::CreationTime => a.created_ms.cmp(&b.created_ms),
            ModelOrderField::LastUpdateTime => a.updated_ms.cmp(&b.updated_ms),
            ModelOrderField::Name => a.name.cmp(&b.name),
        };
        let c = if o.ascending { c } else { c.reverse() };
        if c != Ordering::Equal {
            return c;
        }
    }
    a.id.cmp(&b.id)
}

/// Whether `m` satisfies every clause of `f`.
pub fn matches(m: &LoggedModel, f: &Filter) -> bool {
    f.clauses.iter().all(|c| clause_matches(m, c))
}

fn clause_matches(m: &LoggedModel, c: &Clause) -> bool {
    let text = |actual: Option<&str>| -> bool {
        let Value::String(want) = &c.value else {
            return false;
        };
        match c.op {
            Comparator::Eq => actual == Some(want.as_str()),
            Comparator::Ne => actual.is_some_and(|a| a != want),
            _ => false,
        }
    };
    let number = |actual: i64| -> bool {
        let Value::Number(want) = c.value else {
            return false;
        };
        let actual = actual as f64;
        match c.op {
            Comparator::Eq => actual == want,
            Comparator::Ne => actual != want,
            Comparator::Gt => actual > want,
            Comparator::Ge => actual >= want,
            Comparator::Lt => actual < want,
            Comparator::Le => actual <= want,
            _ => false,
        }
    };
    match &c.entity {
        Entity::Param(k) => text(find(&m.params, k, |p| (&p.key, &p.value))),
        Entity::Tag(k) => text(find(&m.tags, k, |t| (&t.key, &t.value))),
        Entity::Attribute(Attr::Name) => text(Some(&m.name)),
        Entity::Attribute(Attr::Status) => text(Some(status_filter_value(m.status, &c.value))),
        Entity::Attribute(Attr::ModelType) => text(m.model_type.as_deref()),
        Entity::Attribute(Attr::SourceRunId) => text(m.source_run_id.as_ref().map(RunId::as_str)),
        Entity::Attribute(Attr::CreationTime) => number(m.created_ms),
        Entity::Attribute(Attr::LastUpdateTime) => number(m.updated_ms),
        _ => false,
    }
}

/// The status as the filter spells it: `READY` or MLflow's `LOGGED_MODEL_READY`.
fn status_filter_value(s: LoggedModelStatus, wanted: &Value) -> &'static str {
    let long = matches!(wanted, Value::String(w) if w.starts_with("LOGGED_MODEL_"));
    match (s, long) {
        (LoggedModelStatus::Pending, true) => "LOGGED_MODEL_PENDING",
        (LoggedModelStatus::Ready, true) => "LOGGED_MODEL_READY",
        (LoggedModelStatus::UploadFailed, true) => "LOGGED_MODEL_UPLOAD_FAILED",
        (s, false) => s.as_str(),
    }
}

fn find<'a, T>(
    items: &'a [T],
    key: &str,
    kv: impl Fn(&'a T) -> (&'a String, &'a String),
) -> Option<&'a str> {
    items
        .iter()
        .map(kv)
        .find(|(k, _)| k.as_str() == key)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::parse_logged_model_filter;

    fn model() -> LoggedModel {
        LoggedModel {
            id: LoggedModelId::generate(),
            experiment_id: ExperimentId(1),
            name: "clf".into(),
            model_type: Some("sklearn".into()),
            source_run_id: None,
            status: LoggedModelStatus::Ready,
            status_message: None,
            params: vec![Param {
                key: "alpha".into(),
                value: "0.1".into(),
            }],
            tags: vec![Tag {
                key: "team".into(),
                value: "a".into(),
            }],
            created_ms: 10,
            updated_ms: 20,
            artifact_location: String::new(),
        }
    }

    #[test]
    fn ids_have_the_m_prefix() {
        let id = LoggedModelId::generate();
        assert!(id.as_str().starts_with("m-"));
        assert_eq!(id.as_str().len(), 34);
        assert_eq!(LoggedModelId::parse(id.as_str()).unwrap(), id);
        assert!(LoggedModelId::parse("m-xyz").is_err());
        assert!(LoggedModelId::parse(&"a".repeat(32)).is_err());
        assert!(LoggedModelId::parse("m-../../etc/passwd0000000000000000").is_err());
    }

    #[test]
    fn filters_match_attributes_params_and_tags() {
        let m = model();
        for (f, want) in [
            ("name = 'clf'", true),
            ("name != 'clf'", false),
            ("status = 'LOGGED_MODEL_READY'", true),
            ("status = 'READY'", true),
            ("model_type = 'sklearn' AND params.alpha = '0.1'", true),
            ("tags.team = 'b'", false),
            ("creation_timestamp >= 10", true),
            ("source_run_id = 'x'", false),
        ] {
            let parsed = parse_logged_model_filter(f).unwrap();
            assert_eq!(matches(&m, &parsed), want, "{f}");
        }
        assert!(parse_logged_model_filter("name LIKE 'c%'").is_err());
        assert!(parse_logged_model_filter("metrics.acc > 1").is_err());
    }

    #[test]
    fn names_are_checked() {
        let mut v = Vec::new();
        name_into(&mut v, "name", "");
        name_into(&mut v, "name", &"x".repeat(501));
        name_into(&mut v, "name", "ok");
        assert_eq!(v.len(), 2);
    }
}
