//! MLflow 3 logged models: a model's identity, status, params, tags and metrics, plus the
//! engine-independent search rules (filter evaluation and ordering) both stores share.
//!
//! A model's metrics are run metrics logged with the model's id (`runs/log-metric` and
//! `runs/log-batch` with `model_id`, MLflow 3), each remembering its run and the dataset it
//! was computed on; a metric is stored once per (key, timestamp, step, run), as MLflow does.
//!
//! Invariants:
//! - a [`LoggedModelId`] is always `m-` followed by 32 lowercase hex characters;
//! - a model's name is 1 to [`MAX_LOGGED_MODEL_NAME_LEN`] characters; params and tags follow
//!   the run rules of [`crate::validate`];
//! - [`matches`] accepts only filters parsed by `search::parse_logged_model_filter`, and
//!   evaluates them without IO.

use crate::error::{Invalid, Violation};
use crate::ids::{ExperimentId, RunId};
use crate::limits::{
    MAX_BATCH_PARAMS, MAX_BATCH_TOTAL, MAX_DATASET_DIGEST_LEN, MAX_DATASET_NAME_LEN,
    MAX_LOGGED_MODEL_NAME_LEN,
};
use crate::model::{Metric, Param, Tag};
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

/// A metric of a logged model: a run metric that was logged with the model's id.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedModelMetric {
    pub key: String,
    pub value: f64,
    pub timestamp: TimestampMs,
    pub step: i64,
    /// The run the metric was logged to.
    pub run_id: RunId,
    pub dataset_name: Option<String>,
    pub dataset_digest: Option<String>,
}

/// A run metric that is also logged to a model (a `model_id` on a log call).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelMetricLink {
    pub model_id: LoggedModelId,
    pub metric: Metric,
    pub dataset_name: Option<String>,
    pub dataset_digest: Option<String>,
}

/// Checks the dataset fields of metrics linked to models: MLflow's size limits, and a digest
/// only together with a name. `field` names each link (`metrics[3]`).
pub fn model_metric_links(links: &[(String, &ModelMetricLink)]) -> Result<(), Invalid> {
    let mut v = Vec::new();
    for (field, l) in links {
        if let Some(n) = &l.dataset_name
            && n.chars().count() > MAX_DATASET_NAME_LEN
        {
            v.push(Violation::new(
                format!("{field}.dataset_name"),
                format!("is longer than {MAX_DATASET_NAME_LEN} characters"),
            ));
        }
        if let Some(d) = &l.dataset_digest {
            if d.chars().count() > MAX_DATASET_DIGEST_LEN {
                v.push(Violation::new(
                    format!("{field}.dataset_digest"),
                    format!("is longer than {MAX_DATASET_DIGEST_LEN} characters"),
                ));
            }
            if l.dataset_name.is_none() {
                v.push(Violation::new(
                    format!("{field}.dataset_digest"),
                    "is only allowed together with dataset_name",
                ));
            }
        }
    }
    Invalid::check(v)
}

/// A stored logged model.
#[derive(Debug, Clone, PartialEq)]
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
    /// Sorted by (key, timestamp, step, run id).
    pub metrics: Vec<LoggedModelMetric>,
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

/// A `datasets` entry of a logged model search: metric clauses (and, without any, the
/// whole search) only consider metrics computed on one of the listed datasets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDatasetFilter {
    pub name: String,
    /// `None` matches any digest.
    pub digest: Option<String>,
}

impl ModelDatasetFilter {
    fn admits(&self, m: &LoggedModelMetric) -> bool {
        m.dataset_name.as_deref() == Some(self.name.as_str())
            && self
                .digest
                .as_ref()
                .is_none_or(|d| m.dataset_digest.as_deref() == Some(d.as_str()))
    }
}

/// Fields a logged model search can order by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelOrderField {
    CreationTime,
    LastUpdateTime,
    Name,
    /// The model's latest value of a metric (greatest timestamp, then step, then the
    /// smallest run id), among the metrics of the named dataset when one is given; models
    /// without it come last in either direction.
    Metric {
        key: String,
        dataset_name: Option<String>,
        dataset_digest: Option<String>,
    },
}

impl ModelOrderField {
    /// MLflow's attribute names: `creation_timestamp`, `last_updated_timestamp`, `name`.
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelOrder {
    pub field: ModelOrderField,
    pub ascending: bool,
}

/// The default order: newest first.
pub const DEFAULT_MODEL_ORDER: ModelOrder = ModelOrder {
    field: ModelOrderField::CreationTime,
    ascending: false,
};

/// The latest value of metric `key` of `m` that `admits` accepts: greatest timestamp, then
/// greatest step, then the smallest run id (MLflow's choice).
fn latest_metric(
    m: &LoggedModel,
    key: &str,
    admits: impl Fn(&LoggedModelMetric) -> bool,
) -> Option<f64> {
    m.metrics
        .iter()
        .filter(|x| x.key == key && admits(x))
        .max_by(|a, b| {
            (a.timestamp, a.step)
                .cmp(&(b.timestamp, b.step))
                .then_with(|| b.run_id.cmp(&a.run_id))
        })
        .map(|x| x.value)
}

/// Compares two models by `order`, then, as MLflow does, newest first unless the order
/// names the creation time, then by id so the order is total.
pub fn compare(a: &LoggedModel, b: &LoggedModel, order: &[ModelOrder]) -> Ordering {
    for o in order {
        let c = match &o.field {
            ModelOrderField::CreationTime => a.created_ms.cmp(&b.created_ms),
            ModelOrderField::LastUpdateTime => a.updated_ms.cmp(&b.updated_ms),
            ModelOrderField::Name => a.name.cmp(&b.name),
            ModelOrderField::Metric {
                key,
                dataset_name,
                dataset_digest,
            } => {
                let admits = |x: &LoggedModelMetric| {
                    dataset_name
                        .as_ref()
                        .is_none_or(|n| x.dataset_name.as_ref() == Some(n))
                        && dataset_digest
                            .as_ref()
                            .is_none_or(|d| x.dataset_digest.as_ref() == Some(d))
                };
                match (latest_metric(a, key, admits), latest_metric(b, key, admits)) {
                    // Models without the metric come last whatever the direction.
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => return Ordering::Greater,
                    (Some(_), None) => return Ordering::Less,
                    (Some(x), Some(y)) => x.total_cmp(&y),
                }
            }
        };
        let c = if o.ascending { c } else { c.reverse() };
        if c != Ordering::Equal {
            return c;
        }
    }
    if !order
        .iter()
        .any(|o| o.field == ModelOrderField::CreationTime)
    {
        let c = b.created_ms.cmp(&a.created_ms);
        if c != Ordering::Equal {
            return c;
        }
    }
    a.id.cmp(&b.id)
}

/// Whether `m` satisfies every clause of `f`, with metric clauses (and, when `f` has none,
/// the model as a whole) restricted to metrics of the given datasets, if any.
pub fn matches(m: &LoggedModel, f: &Filter, datasets: &[ModelDatasetFilter]) -> bool {
    let on_datasets =
        |x: &LoggedModelMetric| datasets.is_empty() || datasets.iter().any(|d| d.admits(x));
    let has_metric_clause = f
        .clauses
        .iter()
        .any(|c| matches!(c.entity, Entity::Metric(_)));
    if !datasets.is_empty() && !has_metric_clause && !m.metrics.iter().any(on_datasets) {
        return false;
    }
    f.clauses.iter().all(|c| clause_matches(m, c, &on_datasets))
}

fn compare_number(op: Comparator, actual: f64, want: f64) -> bool {
    match op {
        Comparator::Eq => actual == want,
        Comparator::Ne => actual != want,
        Comparator::Gt => actual > want,
        Comparator::Ge => actual >= want,
        Comparator::Lt => actual < want,
        Comparator::Le => actual <= want,
        _ => false,
    }
}

fn clause_matches(
    m: &LoggedModel,
    c: &Clause,
    on_datasets: &impl Fn(&LoggedModelMetric) -> bool,
) -> bool {
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
        compare_number(c.op, actual as f64, want)
    };
    match &c.entity {
        // Any stored value of the metric may match (MLflow does not pick the latest here).
        Entity::Metric(k) => {
            let Value::Number(want) = c.value else {
                return false;
            };
            m.metrics
                .iter()
                .any(|x| &x.key == k && on_datasets(x) && compare_number(c.op, x.value, want))
        }
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
            metrics: vec![
                metric("acc", 0.5, 1, 0, None),
                metric("acc", 0.9, 2, 1, Some("eval")),
            ],
            created_ms: 10,
            updated_ms: 20,
            artifact_location: String::new(),
        }
    }

    fn metric(
        key: &str,
        value: f64,
        ts: i64,
        step: i64,
        dataset: Option<&str>,
    ) -> LoggedModelMetric {
        LoggedModelMetric {
            key: key.into(),
            value,
            timestamp: ts,
            step,
            run_id: RunId::parse(&"a".repeat(32)).unwrap(),
            dataset_name: dataset.map(String::from),
            dataset_digest: dataset.map(|_| "d1".to_string()),
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
    fn filters_match_attributes_params_tags_and_metrics() {
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
            ("metrics.acc > 0.8", true),
            ("metrics.acc < 0.4", false),
            ("metrics.loss > 0", false),
        ] {
            let parsed = parse_logged_model_filter(f).unwrap();
            assert_eq!(matches(&m, &parsed, &[]), want, "{f}");
        }
        assert!(parse_logged_model_filter("name LIKE 'c%'").is_err());
        assert!(parse_logged_model_filter("metrics.acc LIKE '1'").is_err());
    }

    #[test]
    fn metric_clauses_and_dataset_restrictions_consider_only_the_named_datasets() {
        let m = model();
        let eval = |digest: Option<&str>| ModelDatasetFilter {
            name: "eval".into(),
            digest: digest.map(String::from),
        };
        let f = |s: &str| parse_logged_model_filter(s).unwrap();
        assert!(matches(&m, &f("metrics.acc > 0.8"), &[eval(None)]));
        assert!(matches(&m, &f("metrics.acc > 0.8"), &[eval(Some("d1"))]));
        assert!(!matches(&m, &f("metrics.acc > 0.8"), &[eval(Some("d2"))]));
        assert!(!matches(&m, &f("metrics.acc < 0.6"), &[eval(None)]));
        // Without metric clauses the model needs some metric on a listed dataset.
        assert!(matches(&m, &f(""), &[eval(None)]));
        let other = ModelDatasetFilter {
            name: "train".into(),
            digest: None,
        };
        assert!(!matches(&m, &f(""), &[other]));
    }

    #[test]
    fn metric_order_uses_the_latest_value_and_puts_models_without_it_last() {
        let mut a = model();
        let mut b = model();
        let mut c = model();
        a.metrics = vec![
            metric("acc", 0.1, 5, 0, None),
            metric("acc", 0.99, 1, 9, None),
        ];
        b.metrics = vec![metric("acc", 0.5, 1, 0, None)];
        c.metrics = Vec::new();
        let by_acc = |ascending| {
            vec![ModelOrder {
                field: ModelOrderField::Metric {
                    key: "acc".into(),
                    dataset_name: None,
                    dataset_digest: None,
                },
                ascending,
            }]
        };
        // a's latest acc (timestamp 5) is 0.1, not the larger 0.99 logged earlier.
        assert_eq!(compare(&a, &b, &by_acc(true)), Ordering::Less);
        assert_eq!(compare(&a, &b, &by_acc(false)), Ordering::Greater);
        assert_eq!(compare(&c, &a, &by_acc(true)), Ordering::Greater);
        assert_eq!(compare(&c, &a, &by_acc(false)), Ordering::Greater);
    }

    #[test]
    fn dataset_digests_need_a_name() {
        let link = |name: Option<&str>, digest: Option<&str>| ModelMetricLink {
            model_id: LoggedModelId::generate(),
            metric: Metric {
                key: "acc".into(),
                value: 1.0,
                timestamp: 1,
                step: 0,
            },
            dataset_name: name.map(String::from),
            dataset_digest: digest.map(String::from),
        };
        let ok = link(Some("eval"), Some("abc"));
        let bad = link(None, Some("abc"));
        let long = link(Some(&"n".repeat(501)), None);
        assert!(model_metric_links(&[("metrics[0]".into(), &ok)]).is_ok());
        let e = model_metric_links(&[("metrics[1]".into(), &bad), ("metrics[2]".into(), &long)])
            .unwrap_err();
        assert_eq!(e.violations.len(), 2);
        assert_eq!(e.violations[0].field, "metrics[1].dataset_digest");
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
