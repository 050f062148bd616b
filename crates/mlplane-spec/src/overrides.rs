//! `--set path=value` overrides, applied to the parsed tree before validation, so an
//! override is checked exactly like the file it changes.
//!
//! Invariants:
//! - a path is dot-separated mapping keys (`inputs.lr`, `limits.timeout`); missing
//!   mappings on the way are created, a non-mapping on the way is an error;
//! - the value is read as one YAML scalar (so `--set inputs.lr=0.1` is a number and
//!   `--set name="'007'"` a string), or an error names the override.

use crate::error::{Pos, Result, SpecError, SpecErrors};
use crate::yaml::{Key, Node, Value};

/// The position given to values that came from the command line.
const CLI: Pos = Pos { line: 0, col: 0 };

fn fail(set: &str, message: impl Into<String>) -> SpecErrors {
    SpecErrors::one(SpecError::new(CLI, format!("--set {set}"), message))
}

pub fn apply(root: &mut Node, sets: &[String]) -> Result<()> {
    for set in sets {
        let (path, raw) = set
            .split_once('=')
            .ok_or_else(|| fail(set, "expected path=value"))?;
        let keys: Vec<&str> = path.split('.').collect();
        if keys.iter().any(|k| k.is_empty()) {
            return Err(fail(set, "the path has an empty part"));
        }
        let value = scalar(raw).map_err(|m| fail(set, m))?;
        set_path(root, &keys, value).map_err(|m| fail(set, m))?;
    }
    Ok(())
}

fn scalar(raw: &str) -> std::result::Result<Node, String> {
    let parsed =
        crate::yaml::parse(&format!("v: {raw}")).map_err(|e| format!("invalid value: {e}"))?;
    match parsed.get("v") {
        Some(
            n @ Node {
                value: Value::Scalar { .. } | Value::Null,
                ..
            },
        ) => Ok(Node {
            pos: CLI,
            value: n.value.clone(),
        }),
        _ => Err("the value must be a single scalar".into()),
    }
}

fn set_path(node: &mut Node, keys: &[&str], value: Node) -> std::result::Result<(), String> {
    let Some((first, rest)) = keys.split_first() else {
        *node = value;
        return Ok(());
    };
    if node.value == Value::Null {
        node.value = Value::Map(Vec::new());
    }
    let Value::Map(entries) = &mut node.value else {
        return Err(format!(
            "'{first}' is set inside {}, not a mapping",
            node.kind()
        ));
    };
    let idx = match entries.iter().position(|(k, _)| k.name == *first) {
        Some(i) => i,
        None => {
            entries.push((
                Key {
                    name: first.to_string(),
                    pos: CLI,
                },
                Node {
                    pos: CLI,
                    value: Value::Null,
                },
            ));
            entries.len() - 1
        }
    };
    set_path(&mut entries[idx].1, rest, value)
}
