//! Validation rules for everything a caller can send, shared by every interface.
//!
//! Each function checks one kind of input and reports every violation with its field path.
//! Key names follow MLflow's rule (alphanumerics, `_`, `-`, `.`, space and `/`, and the name
//! must already be a normalised relative path), so a key valid here is valid for MLflow.
//!
//! Invariants:
//! - validators are pure functions of their input;
//! - a validator accepting an input means the store may persist it as-is.

use crate::error::{Invalid, Violation};
use crate::limits::*;
use crate::model::{DatasetInput, LogBatch, Metric, NewExperiment, NewRun, Param, Tag};
use std::collections::HashMap;

fn push(v: &mut Vec<Violation>, field: &str, msg: impl Into<String>) {
    v.push(Violation::new(field, msg));
}

/// Checks a metric, param or tag key.
pub fn key_into(v: &mut Vec<Violation>, field: &str, key: &str) {
    if key.is_empty() {
        return push(v, field, "must not be empty");
    }
    if key.chars().count() > MAX_KEY_LEN {
        return push(v, field, format!("is longer than {MAX_KEY_LEN} characters"));
    }
    if !key
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | '/'))
    {
        return push(
            v,
            field,
            "may only contain letters, digits, '_', '-', '.', ' ' and '/'",
        );
    }
    let normalised = key.starts_with('/')
        || key.ends_with('/')
        || key
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if normalised {
        push(
            v,
            field,
            "must be a normalised relative path (no leading or trailing '/', '//', '.' or '..')",
        );
    }
}

fn value_len_into(v: &mut Vec<Violation>, field: &str, value: &str, max: usize) {
    if value.chars().count() > max {
        push(v, field, format!("is longer than {max} characters"));
    }
}

/// Checks tags as run tags are checked: valid keys, values within [`MAX_TAG_VALUE_LEN`].
pub fn tags_into(v: &mut Vec<Violation>, field: &str, tags: &[Tag]) {
    for (i, t) in tags.iter().enumerate() {
        key_into(v, &format!("{field}[{i}].key"), &t.key);
        value_len_into(
            v,
            &format!("{field}[{i}].value"),
            &t.value,
            MAX_TAG_VALUE_LEN,
        );
    }
}

/// Checks one tag.
pub fn tag(t: &Tag) -> Result<(), Invalid> {
    let mut v = Vec::new();
    key_into(&mut v, "key", &t.key);
    value_len_into(&mut v, "value", &t.value, MAX_TAG_VALUE_LEN);
    Invalid::check(v)
}

/// Checks one param.
pub fn param(p: &Param) -> Result<(), Invalid> {
    let mut v = Vec::new();
    key_into(&mut v, "key", &p.key);
    value_len_into(&mut v, "value", &p.value, MAX_PARAM_VALUE_LEN);
    Invalid::check(v)
}

/// Checks one metric: a valid key and a non-negative timestamp; any f64 value is allowed.
pub fn metric(m: &Metric) -> Result<(), Invalid> {
    let mut v = Vec::new();
    metric_into(&mut v, "", m);
    Invalid::check(v)
}

fn metric_into(v: &mut Vec<Violation>, prefix: &str, m: &Metric) {
    let f = |name: &str| {
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        }
    };
    key_into(v, &f("key"), &m.key);
    if m.timestamp < 0 {
        push(v, &f("timestamp"), "must not be negative");
    }
}

/// Checks a batch: counts within limits, every item valid, no param key twice.
pub fn log_batch(b: &LogBatch) -> Result<(), Invalid> {
    let mut v = Vec::new();
    if b.metrics.len() > MAX_BATCH_METRICS {
        push(
            &mut v,
            "metrics",
            format!("holds more than {MAX_BATCH_METRICS} items"),
        );
    }
    if b.params.len() > MAX_BATCH_PARAMS {
        push(
            &mut v,
            "params",
            format!("holds more than {MAX_BATCH_PARAMS} items"),
        );
    }
    if b.tags.len() > MAX_BATCH_TAGS {
        push(
            &mut v,
            "tags",
            format!("holds more than {MAX_BATCH_TAGS} items"),
        );
    }
    let total = b.metrics.len() + b.params.len() + b.tags.len();
    if total > MAX_BATCH_TOTAL {
        push(
            &mut v,
            "",
            format!("holds {total} items, more than {MAX_BATCH_TOTAL}"),
        );
    }
    if !v.is_empty() {
        return Invalid::check(v);
    }
    // A batch usually repeats a few keys many times: check each distinct key once.
    let mut good_keys: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for (i, m) in b.metrics.iter().enumerate() {
        if m.timestamp < 0 {
            push(
                &mut v,
                &format!("metrics[{i}].timestamp"),
                "must not be negative",
            );
        }
        if good_keys.contains(m.key.as_str()) {
            continue;
        }
        let before = v.len();
        key_into(&mut v, &format!("metrics[{i}].key"), &m.key);
        if v.len() == before {
            good_keys.insert(m.key.as_str());
        }
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, p) in b.params.iter().enumerate() {
        key_into(&mut v, &format!("params[{i}].key"), &p.key);
        value_len_into(
            &mut v,
            &format!("params[{i}].value"),
            &p.value,
            MAX_PARAM_VALUE_LEN,
        );
        if let Some(first) = seen.insert(p.key.as_str(), i) {
            push(
                &mut v,
                &format!("params[{i}].key"),
                format!("duplicates params[{first}].key '{}'", p.key),
            );
        }
    }
    tags_into(&mut v, "tags", &b.tags);
    Invalid::check(v)
}

/// Checks an experiment name.
pub fn experiment_name_into(v: &mut Vec<Violation>, field: &str, name: &str) {
    if name.trim().is_empty() {
        push(v, field, "must not be empty");
    } else if name.chars().count() > MAX_EXPERIMENT_NAME_LEN {
        push(
            v,
            field,
            format!("is longer than {MAX_EXPERIMENT_NAME_LEN} characters"),
        );
    } else if name.chars().any(|c| c.is_control()) {
        push(v, field, "must not contain control characters");
    }
}

/// Checks a new experiment.
pub fn new_experiment(e: &NewExperiment) -> Result<(), Invalid> {
    let mut v = Vec::new();
    experiment_name_into(&mut v, "name", &e.name);
    tags_into(&mut v, "tags", &e.tags);
    if e.tags.len() > MAX_BATCH_TAGS {
        push(
            &mut v,
            "tags",
            format!("holds more than {MAX_BATCH_TAGS} items"),
        );
    }
    Invalid::check(v)
}

/// Checks a run name.
pub fn run_name_into(v: &mut Vec<Violation>, field: &str, name: &str) {
    if name.chars().count() > MAX_RUN_NAME_LEN {
        push(
            v,
            field,
            format!("is longer than {MAX_RUN_NAME_LEN} characters"),
        );
    } else if name.chars().any(|c| c.is_control()) {
        push(v, field, "must not contain control characters");
    }
}

/// Checks a new run.
pub fn new_run(r: &NewRun) -> Result<(), Invalid> {
    let mut v = Vec::new();
    if let Some(n) = &r.name {
        run_name_into(&mut v, "name", n);
    }
    if r.user.chars().count() > MAX_USER_LEN || r.user.chars().any(|c| c.is_control()) {
        push(
            &mut v,
            "user",
            format!("must be at most {MAX_USER_LEN} printable characters"),
        );
    }
    if r.start_time < 0 {
        push(&mut v, "start_time", "must not be negative");
    }
    if r.tags.len() > MAX_BATCH_TAGS {
        push(
            &mut v,
            "tags",
            format!("holds more than {MAX_BATCH_TAGS} items"),
        );
    }
    tags_into(&mut v, "tags", &r.tags);
    Invalid::check(v)
}

fn required_into(v: &mut Vec<Violation>, field: &str, value: &str, max_chars: usize) {
    if value.is_empty() {
        push(v, field, "must not be empty");
    } else {
        value_len_into(v, field, value, max_chars);
    }
}

fn bytes_into(v: &mut Vec<Violation>, field: &str, value: &str, max: usize) {
    if value.len() > max {
        push(v, field, format!("is larger than {max} bytes"));
    }
}

/// Checks the datasets of one `log-inputs` call: sizes as MLflow limits them, input tag
/// keys and values, and no dataset twice for the same context.
pub fn dataset_inputs(inputs: &[DatasetInput]) -> Result<(), Invalid> {
    let mut v = Vec::new();
    if inputs.len() > MAX_INPUTS_PER_CALL {
        push(
            &mut v,
            "datasets",
            format!(
                "holds {} datasets, the limit is {MAX_INPUTS_PER_CALL}",
                inputs.len()
            ),
        );
    }
    for (i, input) in inputs.iter().enumerate() {
        let d = &input.dataset;
        let f = |name: &str| format!("datasets[{i}].dataset.{name}");
        required_into(&mut v, &f("name"), &d.name, MAX_DATASET_NAME_LEN);
        required_into(&mut v, &f("digest"), &d.digest, MAX_DATASET_DIGEST_LEN);
        required_into(
            &mut v,
            &f("source_type"),
            &d.source_type,
            MAX_DATASET_SOURCE_TYPE_LEN,
        );
        required_into(&mut v, &f("source"), &d.source, MAX_DATASET_SOURCE_BYTES);
        bytes_into(&mut v, &f("source"), &d.source, MAX_DATASET_SOURCE_BYTES);
        if let Some(s) = &d.schema {
            bytes_into(&mut v, &f("schema"), s, MAX_DATASET_SCHEMA_BYTES);
        }
        if let Some(p) = &d.profile {
            bytes_into(&mut v, &f("profile"), p, MAX_DATASET_PROFILE_BYTES);
        }
        for (j, t) in input.tags.iter().enumerate() {
            let field = format!("datasets[{i}].tags[{j}]");
            required_into(
                &mut v,
                &format!("{field}.key"),
                &t.key,
                MAX_INPUT_TAG_KEY_LEN,
            );
            value_len_into(
                &mut v,
                &format!("{field}.value"),
                &t.value,
                MAX_INPUT_TAG_VALUE_LEN,
            );
        }
    }
    Invalid::check(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key_ok(k: &str) -> bool {
        let mut v = Vec::new();
        key_into(&mut v, "key", k);
        v.is_empty()
    }

    #[test]
    fn keys_follow_mlflow_rules() {
        for good in ["loss", "train/loss", "a.b-c d_e", "ünï"] {
            assert!(key_ok(good), "{good}");
        }
        for bad in [
            "",
            "/a",
            "a/",
            "a//b",
            "../a",
            "a/./b",
            "a\0",
            "a;drop",
            &"k".repeat(251),
        ] {
            assert!(!key_ok(bad), "{bad:?}");
        }
    }

    #[test]
    fn batch_rejects_duplicate_params_and_oversize_lists() {
        let p = |k: &str| Param {
            key: k.into(),
            value: "1".into(),
        };
        let b = LogBatch {
            params: vec![p("a"), p("a")],
            ..Default::default()
        };
        let err = log_batch(&b).unwrap_err();
        assert_eq!(err.violations[0].field, "params[1].key");
        let m = Metric {
            key: "m".into(),
            value: f64::NAN,
            timestamp: 0,
            step: 0,
        };
        let b = LogBatch {
            metrics: vec![m; 1001],
            ..Default::default()
        };
        assert!(log_batch(&b).is_err());
    }

    #[test]
    fn nan_and_infinite_metric_values_are_valid() {
        for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0] {
            assert!(
                metric(&Metric {
                    key: "m".into(),
                    value,
                    timestamp: 1,
                    step: -5
                })
                .is_ok()
            );
        }
        assert!(
            metric(&Metric {
                key: "m".into(),
                value: 1.0,
                timestamp: -1,
                step: 0
            })
            .is_err()
        );
    }

    proptest! {
        #[test]
        fn accepted_keys_are_normalised_paths(k in "\\PC{0,20}|[a./ ]{0,10}") {
            if key_ok(&k) {
                prop_assert!(!k.starts_with('/') && !k.ends_with('/'));
                prop_assert!(!k.split('/').any(|c| c == ".." || c == "." || c.is_empty()));
            }
        }

        #[test]
        fn validators_never_panic(name in "\\PC{0,600}", user in "\\PC{0,300}") {
            let _ = new_experiment(&NewExperiment { name: name.clone(), artifact_location: None, tags: vec![] });
            let _ = new_run(&NewRun {
                experiment_id: crate::ExperimentId(0), name: Some(name), user,
                start_time: 0, status: crate::RunStatus::Running, parent_run_id: None, tags: vec![],
            });
        }
    }
}
