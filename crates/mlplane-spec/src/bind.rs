//! Command templates: `${{inputs.x}}` / `${{outputs.y}}` references and `$[[ ... ]]`
//! optional parts, parsed once and rendered with the values of one job.
//!
//! Invariants:
//! - parsing is linear in the command's length and reports the byte offset of a problem;
//! - only the `inputs` and `outputs` namespaces exist; names are identifiers;
//! - optional parts do not nest; an optional part is dropped when any input inside it has
//!   no value, and kept (rendered) otherwise;
//! - every substituted value is shell-quoted unless it consists only of characters that
//!   need no quoting, so a literal input can never inject shell syntax.

use std::collections::{BTreeMap, BTreeSet};

/// A piece of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Input(String),
    Output(String),
    /// `$[[ ... ]]`: text and references dropped together when an input is missing.
    Optional(Vec<Piece>),
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandTemplate {
    pub source: String,
    pub pieces: Vec<Piece>,
}

/// Why a command could not be parsed: what and at which byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}

fn err(offset: usize, message: impl Into<String>) -> TemplateError {
    TemplateError {
        offset,
        message: message.into(),
    }
}

impl CommandTemplate {
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let mut top: Vec<Piece> = Vec::new();
        let mut optional: Option<(usize, Vec<Piece>)> = None;
        let mut text = String::new();
        let mut i = 0;
        let b = source.as_bytes();
        let flush = |text: &mut String, into: &mut Vec<Piece>| {
            if !text.is_empty() {
                into.push(Piece::Text(std::mem::take(text)));
            }
        };
        while i < b.len() {
            if source[i..].starts_with("${{") {
                let end = source[i + 3..]
                    .find("}}")
                    .ok_or_else(|| err(i, "'${{' is not closed by '}}'"))?;
                let inner = source[i + 3..i + 3 + end].trim();
                let piece = reference(inner).map_err(|m| err(i, m))?;
                let into = match &mut optional {
                    Some((_, parts)) => parts,
                    None => &mut top,
                };
                flush(&mut text, into);
                into.push(piece);
                i += 3 + end + 2;
            } else if source[i..].starts_with("$[[") {
                if optional.is_some() {
                    return Err(err(i, "optional parts '$[[ ]]' cannot nest"));
                }
                flush(&mut text, &mut top);
                optional = Some((i, Vec::new()));
                i += 3;
            } else if source[i..].starts_with("]]") && optional.is_some() {
                if let Some((_, mut parts)) = optional.take() {
                    flush(&mut text, &mut parts);
                    top.push(Piece::Optional(parts));
                }
                i += 2;
            } else {
                let c = source[i..].chars().next().unwrap_or(' ');
                text.push(c);
                i += c.len_utf8();
            }
        }
        if let Some((start, _)) = optional {
            return Err(err(start, "'$[[' is not closed by ']]'"));
        }
        flush(&mut text, &mut top);
        Ok(CommandTemplate {
            source: source.to_string(),
            pieces: top,
        })
    }

    /// Inputs referenced, with whether every reference is inside an optional part.
    pub fn inputs(&self) -> BTreeMap<String, bool> {
        let mut out = BTreeMap::new();
        for p in &self.pieces {
            match p {
                Piece::Input(n) => {
                    out.insert(n.clone(), false);
                }
                Piece::Optional(parts) => {
                    for q in parts {
                        if let Piece::Input(n) = q {
                            out.entry(n.clone()).or_insert(true);
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Outputs referenced.
    pub fn outputs(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for p in &self.pieces {
            match p {
                Piece::Output(n) => {
                    out.insert(n.clone());
                }
                Piece::Optional(parts) => out.extend(parts.iter().filter_map(|q| match q {
                    Piece::Output(n) => Some(n.clone()),
                    _ => None,
                })),
                _ => {}
            }
        }
        out
    }

    /// The command with values substituted. A required input or an output without a value
    /// is an error naming it.
    pub fn render(
        &self,
        inputs: &BTreeMap<String, String>,
        outputs: &BTreeMap<String, String>,
    ) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Optional(parts) => {
                    let complete = parts.iter().all(|q| match q {
                        Piece::Input(n) => inputs.contains_key(n),
                        _ => true,
                    });
                    if complete {
                        for q in parts {
                            render_one(q, inputs, outputs, &mut out)?;
                        }
                    }
                }
                p => render_one(p, inputs, outputs, &mut out)?,
            }
        }
        Ok(out)
    }
}

fn render_one(
    p: &Piece,
    inputs: &BTreeMap<String, String>,
    outputs: &BTreeMap<String, String>,
    out: &mut String,
) -> Result<(), String> {
    match p {
        Piece::Text(t) => out.push_str(t),
        Piece::Input(n) => out.push_str(&shell_quote(
            inputs
                .get(n)
                .ok_or_else(|| format!("input '{n}' has no value"))?,
        )),
        Piece::Output(n) => out.push_str(&shell_quote(
            outputs
                .get(n)
                .ok_or_else(|| format!("output '{n}' has no location"))?,
        )),
        Piece::Optional(_) => {}
    }
    Ok(())
}

/// `inputs.name` or `outputs.name` inside `${{ }}`.
fn reference(inner: &str) -> Result<Piece, String> {
    let (ns, name) = inner
        .split_once('.')
        .ok_or_else(|| format!("'${{{{{inner}}}}}' should be inputs.<name> or outputs.<name>"))?;
    if !crate::decode::is_identifier(name, false) {
        return Err(format!("'{name}' is not a valid input or output name"));
    }
    match ns {
        "inputs" => Ok(Piece::Input(name.to_string())),
        "outputs" => Ok(Piece::Output(name.to_string())),
        other => Err(format!(
            "unknown expression namespace '{other}' (a command job can use inputs and outputs)"
        )),
    }
}

/// `s` as one shell word: unchanged when it holds only safe characters, else single-quoted.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn references_and_optional_parts() {
        let t = CommandTemplate::parse(
            "python train.py --data ${{inputs.data}} $[[--lr ${{ inputs.lr }}]] --out ${{outputs.model}}",
        )
        .expect("parses");
        assert_eq!(
            t.inputs(),
            BTreeMap::from([("data".to_string(), false), ("lr".to_string(), true)])
        );
        assert_eq!(t.outputs(), BTreeSet::from(["model".to_string()]));
        let outs = map(&[("model", "/w/out/model")]);
        assert_eq!(
            t.render(&map(&[("data", "/w/in/data.csv")]), &outs)
                .expect("renders"),
            "python train.py --data /w/in/data.csv  --out /w/out/model"
        );
        assert_eq!(
            t.render(&map(&[("data", "d"), ("lr", "0.1")]), &outs)
                .expect("renders"),
            "python train.py --data d --lr 0.1 --out /w/out/model"
        );
        assert!(t.render(&map(&[]), &outs).is_err());
    }

    #[test]
    fn values_cannot_inject_shell() {
        let t = CommandTemplate::parse("echo ${{inputs.msg}}").expect("parses");
        let got = t
            .render(&map(&[("msg", "hi; rm -rf / 'x'")]), &map(&[]))
            .expect("renders");
        assert_eq!(got, r"echo 'hi; rm -rf / '\''x'\'''");
    }

    #[test]
    fn bad_templates_say_where() {
        for (src, offset) in [
            ("echo ${{inputs.x", 5),
            ("echo $[[ a ${{inputs.x}}", 5),
            ("a $[[ $[[ b ]] ]]", 6),
            ("${{search_space.lr}}", 0),
            ("x ${{inputs.bad name}}", 2),
            ("${{inputs}}", 0),
        ] {
            let e = CommandTemplate::parse(src).expect_err(src);
            assert_eq!(e.offset, offset, "{src}: {}", e.message);
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "[-${}\\[\\]a-z. ]{0,80}") {
            let _ = CommandTemplate::parse(&s);
        }

        #[test]
        fn quoted_values_round_trip_through_sh_rules(v in "\\PC{0,40}") {
            let q = shell_quote(&v);
            if q.starts_with('\'') {
                let inner = &q[1..q.len() - 1];
                prop_assert_eq!(inner.replace(r"'\''", "'"), v);
            } else {
                prop_assert_eq!(q, v);
            }
        }
    }
}
