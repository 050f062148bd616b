//! Compute targets: where jobs run and how many at once.
//!
//! ```yaml
//! name: cpu-small
//! type: local        # the only type so far; Ray, Slurm and Kubernetes come later
//! slots: 2           # jobs of this target run at once
//! cpu: 4             # optional, recorded: cores a job may use
//! memory: 8Gi        # optional, recorded: Ki/Mi/Gi/Ti (powers of 1024) or K/M/G/T
//! description: two jobs at a time on the server's machine
//! tags: {team: vision}
//! ```
//!
//! Invariants:
//! - `local` names the server's built-in target and cannot be defined by a spec;
//! - slots are 1..=[`MAX_SLOTS`]; `cpu` is 1..=[`MAX_SLOTS`] cores; `memory` is a positive
//!   size that fits in 64 bits.

use crate::assets::AssetMeta;
use crate::decode::{Cx, choice, fields, int, is_identifier, string};
use crate::yaml::Node;

/// The name of the built-in target every server has.
pub const BUILTIN_LOCAL: &str = "local";
/// Most slots (and cores) one target may declare.
pub const MAX_SLOTS: i64 = 1024;
/// The fields a compute spec may have.
pub const COMPUTE_FIELDS: &[&str] = &[
    "name",
    "description",
    "tags",
    "type",
    "slots",
    "cpu",
    "memory",
];

/// What kind of machine runs a target's jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComputeType {
    /// Plain processes on the server's machine.
    Local,
}

impl ComputeType {
    pub const NAMES: &'static [&'static str] = &["local"];

    pub fn name(self) -> &'static str {
        match self {
            ComputeType::Local => "local",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "local" => Some(ComputeType::Local),
            _ => None,
        }
    }

    /// Whether jobs whose environment names a container `image` can run here.
    pub fn runs_containers(self) -> bool {
        match self {
            ComputeType::Local => false,
        }
    }
}

/// A compute target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputeSpec {
    /// Name, description and tags (compute targets carry no version of their own: each
    /// `create` stores the next version and the latest one is the target).
    pub meta: AssetMeta,
    pub kind: ComputeType,
    pub slots: u32,
    pub cpu: Option<u32>,
    /// Bytes.
    pub memory: Option<u64>,
}

pub fn decode_compute(cx: &mut Cx, root: &Node) -> Option<ComputeSpec> {
    let f = fields(cx, root, "", COMPUTE_FIELDS)?;
    let name = f.req_string(cx, "", "name").unwrap_or_default();
    let name_pos = f.get("name").map_or(f.pos, |n| n.pos);
    if !name.is_empty() && !is_identifier(&name, true) {
        cx.error(
            name_pos,
            "name",
            format!("'{name}' is not a valid compute name (letters, digits, '_', '-')"),
        );
    } else if name == BUILTIN_LOCAL {
        cx.error(
            name_pos,
            "name",
            "'local' is the server's built-in target (its slots are `mlplane server --job-slots`); choose another name",
        );
    }
    let kind = match f.get("type") {
        Some(n) => choice(cx, n, "type", ComputeType::NAMES).and_then(ComputeType::from_name),
        None => Some(ComputeType::Local),
    };
    let count = |cx: &mut Cx, key: &str, default: Option<i64>| -> Option<Option<u32>> {
        let Some(n) = f.get(key) else {
            return Some(default.map(|d| d as u32));
        };
        let v = int(cx, n, key)?;
        if !(1..=MAX_SLOTS).contains(&v) {
            cx.error(
                n.pos,
                key,
                format!("expected a whole number from 1 to {MAX_SLOTS}, found {v}"),
            );
            return None;
        }
        Some(Some(v as u32))
    };
    let slots = count(cx, "slots", Some(1));
    let cpu = count(cx, "cpu", None);
    let memory = match f.get("memory") {
        None => Some(None),
        Some(n) => string(cx, n, "memory").and_then(|t| match parse_size(&t) {
            Some(b) => Some(Some(b)),
            None => {
                cx.error(
                    n.pos,
                    "memory",
                    format!(
                        "'{t}' is not a size: expected a positive number with an optional unit Ki, Mi, Gi, Ti, K, M, G or T (e.g. 8Gi)"
                    ),
                );
                None
            }
        }),
    };
    Some(ComputeSpec {
        meta: AssetMeta {
            name,
            version: None,
            description: f.opt_string(cx, "", "description"),
            tags: f.str_map(cx, "", "tags"),
        },
        kind: kind?,
        slots: slots??,
        cpu: cpu?,
        memory: memory?,
    })
}

/// `8Gi`, `512Mi`, `2G`, `1048576`: bytes, if positive and within 64 bits.
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let mult: u64 = match unit {
        "" => 1,
        "K" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult).filter(|b| *b > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_compute_spec_parses() {
        let c = crate::parse_compute(
            "name: cpu-small\ntype: local\nslots: 3\ncpu: 4\nmemory: 8Gi\ndescription: d\ntags: {a: b}\n",
            &[],
        )
        .expect("valid");
        assert_eq!(c.meta.name, "cpu-small");
        assert_eq!(
            (c.kind, c.slots, c.cpu, c.memory),
            (ComputeType::Local, 3, Some(4), Some(8 << 30))
        );
    }

    #[test]
    fn defaults_are_one_local_slot() {
        let c = crate::parse_compute("name: one\n", &[]).expect("valid");
        assert_eq!(
            (c.kind, c.slots, c.cpu, c.memory),
            (ComputeType::Local, 1, None, None)
        );
    }

    #[test]
    fn bad_fields_are_each_reported() {
        let e = crate::parse_compute(
            "name: local\ntype: ray\nslots: 0\nmemory: lots\nslotz: 2\n",
            &[],
        )
        .expect_err("invalid");
        let mut fields: Vec<&str> = e.0.iter().map(|x| x.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["memory", "name", "slots", "slotz", "type"],
            "{e:?}"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512Mi"), Some(512 << 20));
        assert_eq!(parse_size("2G"), Some(2_000_000_000));
        assert_eq!(parse_size("10"), Some(10));
        assert_eq!(parse_size("0"), None);
        assert_eq!(parse_size("1Pi"), None);
        assert_eq!(parse_size("99999999999Ti"), None);
    }
}
