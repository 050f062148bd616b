//! Reading typed values out of the positioned tree, collecting every problem with its
//! place instead of stopping at the first.
//!
//! Invariants:
//! - a reader that finds a problem records it in [`Cx`] and returns `None` (or a default),
//!   so one pass reports all errors of a spec;
//! - unknown mapping keys are always errors, with a did-you-mean when one is close;
//!   `$schema` is accepted anywhere a kind's top level is read (editors use it).

use crate::error::{Pos, SpecError, SpecErrors, did_you_mean};
use crate::yaml::{Key, Node, Value};
use std::collections::BTreeMap;

/// Collected errors of one decoding pass.
#[derive(Debug, Default)]
pub struct Cx {
    errors: Vec<SpecError>,
}

impl Cx {
    pub fn error(&mut self, pos: Pos, field: &str, message: impl Into<String>) {
        self.errors.push(SpecError::new(pos, field, message));
    }

    /// `Ok(value)` when nothing was recorded, else every error in document order.
    pub fn finish<T>(mut self, value: T) -> Result<T, SpecErrors> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            self.errors
                .sort_by_key(|e| (e.pos.line, e.pos.col, e.field.clone()));
            Err(SpecErrors(self.errors))
        }
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }
}

/// `parent.child`, or `child` at the root.
pub fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}.{child}")
    }
}

/// The entries of a mapping whose keys are all in `allowed`; unknown keys are recorded.
pub fn fields<'a>(cx: &mut Cx, node: &'a Node, path: &str, allowed: &[&str]) -> Option<Fields<'a>> {
    let entries = match &node.value {
        Value::Map(entries) => entries,
        Value::Null => {
            return Some(Fields {
                pos: node.pos,
                entries: &[],
            });
        }
        _ => {
            cx.error(
                node.pos,
                path,
                format!("expected a mapping, found {}", node.kind()),
            );
            return None;
        }
    };
    for (k, _) in entries {
        if k.name == "$schema" || allowed.contains(&k.name.as_str()) {
            continue;
        }
        let hint = did_you_mean(&k.name, allowed)
            .map(|s| format!("; did you mean '{s}'?"))
            .unwrap_or_else(|| format!("; expected one of: {}", allowed.join(", ")));
        cx.error(
            k.pos,
            &join(path, &k.name),
            format!("unknown field '{}'{hint}", k.name),
        );
    }
    Some(Fields {
        pos: node.pos,
        entries,
    })
}

/// The entries of one mapping, already checked against the allowed keys.
pub struct Fields<'a> {
    pub pos: Pos,
    entries: &'a [(Key, Node)],
}

impl<'a> Fields<'a> {
    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
            .filter(|v| v.value != Value::Null)
    }

    /// A required field; its absence is recorded at the mapping's position.
    pub fn require(&self, cx: &mut Cx, path: &str, key: &str) -> Option<&'a Node> {
        let v = self.get(key);
        if v.is_none() {
            cx.error(self.pos, &join(path, key), "is required");
        }
        v
    }

    pub fn opt_string(&self, cx: &mut Cx, path: &str, key: &str) -> Option<String> {
        self.get(key).and_then(|n| string(cx, n, &join(path, key)))
    }

    pub fn req_string(&self, cx: &mut Cx, path: &str, key: &str) -> Option<String> {
        self.require(cx, path, key)
            .and_then(|n| string(cx, n, &join(path, key)))
    }

    pub fn str_map(&self, cx: &mut Cx, path: &str, key: &str) -> BTreeMap<String, String> {
        self.get(key)
            .map(|n| str_map(cx, n, &join(path, key)))
            .unwrap_or_default()
    }
}

/// A scalar as text (numbers and booleans included, as written).
pub fn string(cx: &mut Cx, node: &Node, path: &str) -> Option<String> {
    match &node.value {
        Value::Scalar { text, .. } => Some(text.clone()),
        _ => {
            cx.error(
                node.pos,
                path,
                format!("expected a string, found {}", node.kind()),
            );
            None
        }
    }
}

/// A whole number.
pub fn int(cx: &mut Cx, node: &Node, path: &str) -> Option<i64> {
    match &node.value {
        Value::Scalar { text, plain: true } => match text.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                cx.error(
                    node.pos,
                    path,
                    format!("expected an integer, found '{text}'"),
                );
                None
            }
        },
        _ => {
            cx.error(
                node.pos,
                path,
                format!("expected an integer, found {}", node.kind()),
            );
            None
        }
    }
}

/// A list of strings.
pub fn str_list(cx: &mut Cx, node: &Node, path: &str) -> Vec<String> {
    match &node.value {
        Value::Seq(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, n)| string(cx, n, &format!("{path}[{i}]")))
            .collect(),
        _ => {
            cx.error(
                node.pos,
                path,
                format!("expected a list, found {}", node.kind()),
            );
            Vec::new()
        }
    }
}

/// A mapping of strings to strings (tags, environment variables).
pub fn str_map(cx: &mut Cx, node: &Node, path: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match &node.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                let p = join(path, &k.name);
                let text = match &v.value {
                    Value::Null => Some(String::new()),
                    _ => string(cx, v, &p),
                };
                if let Some(text) = text {
                    out.insert(k.name.clone(), text);
                }
            }
        }
        Value::Null => {}
        _ => cx.error(
            node.pos,
            path,
            format!("expected a mapping, found {}", node.kind()),
        ),
    }
    out
}

/// One of a fixed set of words (case-insensitive), returned in its canonical spelling.
pub fn choice(
    cx: &mut Cx,
    node: &Node,
    path: &str,
    allowed: &[&'static str],
) -> Option<&'static str> {
    let text = string(cx, node, path)?;
    if let Some(found) = allowed.iter().find(|a| a.eq_ignore_ascii_case(&text)) {
        return Some(found);
    }
    let hint = did_you_mean(&text, allowed)
        .map(|s| format!("; did you mean '{s}'?"))
        .unwrap_or_default();
    cx.error(
        node.pos,
        path,
        format!("'{text}' is not one of: {}{hint}", allowed.join(", ")),
    );
    None
}

/// Whether `name` is a valid input, output or asset name: a letter or `_`, then letters,
/// digits, `_` or `-`, at most 255 chars.
pub fn is_identifier(name: &str, allow_dash: bool) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && name.len() <= 255
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (allow_dash && c == '-'))
}
