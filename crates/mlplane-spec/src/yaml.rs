//! A small positioned YAML tree: every node knows the line and column it starts at, so
//! validation errors can point into the file. JSON documents parse through the same path
//! (JSON is YAML's flow style), so API requests get the same checks and positions.
//!
//! Invariants:
//! - input larger than [`MAX_SPEC_BYTES`], deeper than [`MAX_DEPTH`] or with more than
//!   [`MAX_NODES`] nodes is refused, so no spec can exhaust memory;
//! - anchors and aliases are refused (no "billion laughs"), as are tags, multiple
//!   documents and mapping keys that are not plain strings;
//! - a key appears at most once in a mapping;
//! - an empty document is an empty mapping.

use crate::error::{Pos, Result, SpecError, SpecErrors};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Largest spec accepted, in bytes.
pub const MAX_SPEC_BYTES: usize = 1 << 20;
/// Deepest nesting of mappings and sequences.
pub const MAX_DEPTH: usize = 64;
/// Most nodes (scalars, mappings, sequences) in one spec.
pub const MAX_NODES: usize = 100_000;

/// One value of the document, with where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or nothing.
    Null,
    /// A scalar; `plain` is false when it was quoted or a block, so `"1"` stays a string.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Entries in document order; keys are unique.
    Map(Vec<(Key, Node)>),
}

/// A mapping key and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub pos: Pos,
}

impl Node {
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The entry under `key` when this is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

fn pos(m: Marker) -> Pos {
    Pos {
        line: m.line(),
        col: m.col() + 1,
    }
}

enum Frame {
    Seq(Pos, Vec<Node>),
    Map(Pos, Vec<(Key, Node)>, Option<Key>),
}

/// Builds the tree from parser events, checking the invariants as it goes.
#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    nodes: usize,
    documents: usize,
    error: Option<SpecError>,
}

impl Builder {
    fn fail(&mut self, p: Pos, msg: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(SpecError::new(p, "", msg));
        }
    }

    /// Places a finished node into its parent (or as the root).
    fn push(&mut self, node: Node) {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            let p = node.pos;
            return self.fail(p, format!("the spec has more than {MAX_NODES} values"));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq(_, items)) => items.push(node),
            Some(Frame::Map(_, entries, pending)) => match pending.take() {
                Some(key) => entries.push((key, node)),
                None => {
                    let name = match &node.value {
                        Value::Scalar { text, .. } => text.clone(),
                        Value::Null => String::new(),
                        _ => {
                            let p = node.pos;
                            return self.fail(p, "mapping keys must be plain strings");
                        }
                    };
                    if entries.iter().any(|(k, _)| k.name == name) {
                        let p = node.pos;
                        return self.fail(p, format!("key '{name}' appears twice"));
                    }
                    *pending = Some(Key {
                        name,
                        pos: node.pos,
                    });
                }
            },
        }
    }

    fn open(&mut self, frame: Frame, p: Pos) {
        if self.stack.len() >= MAX_DEPTH {
            return self.fail(p, format!("the spec nests deeper than {MAX_DEPTH} levels"));
        }
        self.stack.push(frame);
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let p = pos(mark);
        match ev {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    self.fail(p, "a spec file holds one document; found a second '---'");
                }
            }
            Event::Alias(_) => self.fail(p, "YAML aliases (*name) are not supported in specs"),
            Event::Scalar(text, style, anchor, tag) => {
                if anchor != 0 || tag.is_some() {
                    return self.fail(p, "YAML anchors and tags are not supported in specs");
                }
                let plain = style == TScalarStyle::Plain;
                let value = if plain && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL")
                {
                    Value::Null
                } else {
                    Value::Scalar { text, plain }
                };
                self.push(Node { pos: p, value });
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag)
                if anchor != 0 || tag.is_some() =>
            {
                self.fail(p, "YAML anchors and tags are not supported in specs")
            }
            Event::SequenceStart(..) => self.open(Frame::Seq(p, Vec::new()), p),
            Event::MappingStart(..) => self.open(Frame::Map(p, Vec::new(), None), p),
            Event::SequenceEnd => {
                if let Some(Frame::Seq(start, items)) = self.stack.pop() {
                    self.push(Node {
                        pos: start,
                        value: Value::Seq(items),
                    });
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(start, entries, _)) = self.stack.pop() {
                    // A block mapping's start event can be marked after its first key; the
                    // mapping starts where its first key does.
                    let pos = entries
                        .first()
                        .map(|(k, _)| k.pos)
                        .filter(|k| (k.line, k.col) < (start.line, start.col))
                        .unwrap_or(start);
                    self.push(Node {
                        pos,
                        value: Value::Map(entries),
                    });
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

/// Parses one YAML (or JSON) document into a positioned tree.
pub fn parse(src: &str) -> Result<Node> {
    if src.len() > MAX_SPEC_BYTES {
        return Err(SpecErrors::one(SpecError::new(
            Pos { line: 1, col: 1 },
            "",
            format!(
                "the spec is {} bytes, the limit is {MAX_SPEC_BYTES}",
                src.len()
            ),
        )));
    }
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(src);
    if let Err(e) = parser.load(&mut b, true) {
        let m = e.marker();
        return Err(SpecErrors::one(SpecError::new(
            pos(*m),
            "",
            format!("invalid YAML: {}", e.info()),
        )));
    }
    if let Some(e) = b.error {
        return Err(SpecErrors::one(e));
    }
    Ok(b.root.unwrap_or(Node {
        pos: Pos { line: 1, col: 1 },
        value: Value::Map(Vec::new()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn positions_point_at_values_and_keys() {
        let n = parse("a: 1\nb:\n  c: \"2\"\n  d: [x, y]\n").expect("parses");
        let b = n.get("b").expect("b");
        assert_eq!(b.get("c").map(|c| c.pos), Some(Pos { line: 3, col: 6 }));
        match &b.get("c").expect("c").value {
            Value::Scalar { text, plain } => assert_eq!((text.as_str(), *plain), ("2", false)),
            v => panic!("{v:?}"),
        }
        let Value::Map(entries) = &b.value else {
            panic!("map")
        };
        assert_eq!(entries[1].0.pos, Pos { line: 4, col: 3 });
    }

    #[test]
    fn json_parses_too() {
        let n = parse(r#"{"command": "echo hi", "inputs": {"x": 1}}"#).expect("json");
        assert!(n.get("inputs").and_then(|i| i.get("x")).is_some());
    }

    #[test]
    fn hostile_documents_are_refused() {
        for (src, needle) in [
            ("a: &x [1]\nb: *x\n", "anchors"),
            ("a: 1\na: 2\n", "twice"),
            ("? [a]\n: 1\n", "plain strings"),
            ("a: 1\n---\nb: 2\n", "one document"),
            ("a: !!binary aGk=\n", "tags"),
            ("a: [1, 2\n", "invalid YAML"),
        ] {
            let e = parse(src).expect_err(src);
            assert!(e.to_string().contains(needle), "{src}: {e}");
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(
            parse(&deep)
                .expect_err("deep")
                .to_string()
                .contains("deeper")
        );
        let big = "a: ".to_string() + &"x".repeat(MAX_SPEC_BYTES);
        assert!(parse(&big).expect_err("big").to_string().contains("limit"));
    }

    #[test]
    fn empty_document_is_an_empty_map() {
        assert_eq!(parse("").expect("empty").value, Value::Map(Vec::new()));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = parse(&s);
        }

        #[test]
        fn never_panics_on_yaml_punctuation(s in "[-:\\[\\]{},?&*!|>'\"%@` \n#a1]{0,120}") {
            let _ = parse(&s);
        }
    }
}
