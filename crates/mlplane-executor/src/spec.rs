//! Reading a stored job spec back into a validated [`CommandJob`].
//!
//! The server stores a job's spec as canonical JSON (`mlplane-server`'s `job_json`), whose
//! shape differs from the spec files users write: the environment is wrapped in
//! `{"inline": ..}` or `{"asset": ..}`, literal inputs are `{"type": "literal", ..}`, data
//! inputs name `asset` or `local_path`, and absent values are `null`. This module maps that
//! shape back to the spec-file shape and runs it through [`mlplane_spec::parse_command_job`],
//! so the executor runs only what the spec parser accepts.
//!
//! Invariants:
//! - a spec already in the spec-file shape (no wrapped environment) parses unchanged;
//! - `null` values are dropped (they mean "not given"), never turned into text.

use mlplane_spec::CommandJob;
use serde_json::{Map, Value};

/// Parses the spec text of a stored job.
pub fn parse_job_spec(text: &str) -> Result<CommandJob, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("the job spec is not JSON: {e}"))?;
    let shaped = to_spec_shape(value);
    let src = serde_json::to_string(&shaped).map_err(|e| e.to_string())?;
    mlplane_spec::parse_command_job(&src, &[]).map_err(|e| e.to_string())
}

/// Parses the canonical JSON of a registered environment asset (`environment_json`).
pub fn parse_environment_asset(text: &str) -> Result<mlplane_spec::EnvironmentSpec, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("the environment is not JSON: {e}"))?;
    let mut body = environment_body(value);
    // A registered environment needs a name to parse; it is not used to build.
    if let Value::Object(m) = &mut body {
        m.entry("name")
            .or_insert_with(|| Value::String("env".into()));
    }
    let src = serde_json::to_string(&body).map_err(|e| e.to_string())?;
    mlplane_spec::parse_environment(&src, &[]).map_err(|e| e.to_string())
}

fn drop_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, drop_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(drop_nulls).collect()),
        other => other,
    }
}

fn to_spec_shape(v: Value) -> Value {
    let Value::Object(mut m) = drop_nulls(v) else {
        return Value::Null;
    };
    if let Some(env) = m.remove("environment") {
        let env = match env {
            Value::Object(mut e) if e.contains_key("asset") => {
                e.remove("asset").unwrap_or_default()
            }
            Value::Object(mut e) if e.contains_key("inline") => {
                environment_body(e.remove("inline").unwrap_or_default())
            }
            other => other,
        };
        m.insert("environment".into(), env);
    }
    if let Some(Value::Object(inputs)) = m.remove("inputs") {
        let inputs: Map<String, Value> = inputs
            .into_iter()
            .map(|(k, v)| (k, input_shape(v)))
            .collect();
        m.insert("inputs".into(), Value::Object(inputs));
    }
    Value::Object(m)
}

/// `{"image", "deps": {"inline" | "conda_inline" | "pip_requirements" | "conda_file"}}` to
/// the spec-file fields; a body already in that shape is kept.
fn environment_body(v: Value) -> Value {
    let Value::Object(mut m) = drop_nulls(v) else {
        return Value::Null;
    };
    let Some(deps) = m.remove("deps") else {
        return Value::Object(m);
    };
    if let Value::Object(d) = deps {
        for (kind, body) in d {
            match (kind.as_str(), body) {
                ("inline" | "conda_inline", Value::Object(p)) => {
                    for (k, v) in p {
                        m.insert(k, v);
                    }
                }
                ("pip_requirements" | "conda_file", v) => {
                    m.insert(kind, v);
                }
                _ => {}
            }
        }
    }
    Value::Object(m)
}

fn input_shape(v: Value) -> Value {
    let Value::Object(mut m) = v else {
        return v;
    };
    match m.get("type").and_then(Value::as_str) {
        Some("literal") => {
            let value = m.remove("value").unwrap_or_default();
            let kind = match &value {
                Value::Bool(_) => "boolean",
                Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
                Value::Number(_) => "number",
                _ => "string",
            };
            let mut out = Map::new();
            out.insert("type".into(), Value::String(kind.into()));
            out.insert("value".into(), value);
            Value::Object(out)
        }
        _ => {
            if let Some(p) = m.remove("asset").or_else(|| m.remove("local_path")) {
                m.insert("path".into(), p);
            }
            Value::Object(m)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlplane_spec::{EnvSource, JobInput, Literal};

    #[test]
    fn canonical_json_parses_back() {
        let text = r#"{"type":"command","name":"j1","display_name":null,"experiment_name":null,
            "description":null,"tags":{},"command":"echo ${{inputs.msg}} ${{inputs.n}}","code":null,
            "environment":{"inline":{"image":null,"deps":{"inline":{"python":null,"pip":[]}}}},
            "environment_variables":{"A":"1"},"compute":"local",
            "inputs":{"msg":{"type":"literal","value":"a b; c"},"n":{"type":"literal","value":3}},
            "outputs":{"out":{"type":"uri_folder","name":null,"version":null}},
            "limits":{"timeout":5},"resources":{"instance_count":1,"instance_type":null},
            "distribution":null}"#;
        let j = parse_job_spec(text).expect("parses");
        assert_eq!(j.timeout_secs, Some(5));
        assert!(matches!(j.environment, EnvSource::Inline(_)));
        assert_eq!(
            j.inputs.get("msg"),
            Some(&JobInput::Literal(Literal::String("a b; c".into())))
        );
        assert_eq!(
            j.inputs.get("n"),
            Some(&JobInput::Literal(Literal::Integer(3)))
        );
        assert!(j.outputs.contains_key("out"));
    }

    #[test]
    fn asset_environments_become_references() {
        let text = r#"{"command":"true","environment":{"asset":"py:2"}}"#;
        let j = parse_job_spec(text).expect("parses");
        assert!(matches!(j.environment, EnvSource::Asset(_)));
        let env = parse_environment_asset(
            r#"{"image":null,"deps":{"inline":{"python":"3.11","pip":["numpy"]}}}"#,
        )
        .expect("parses");
        assert!(env.image.is_none());
    }
}
