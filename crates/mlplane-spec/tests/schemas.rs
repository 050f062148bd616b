//! The JSON Schemas in `schemas/` against the decoders: at every mapping a schema closes
//! (`additionalProperties: false`), the schema's properties are exactly the fields the
//! decoder accepts there. The decoder's set is read from its own error for an unknown field
//! ("expected one of: ..."), so a field added to one side only fails this test.

use serde_json::Value;
use std::collections::BTreeSet;

const PROBE: &str = "zzzzzzzzzzzzzzzzzzzz_probe";

fn schema(kind: &str) -> Value {
    let text = match kind {
        "command_job" => include_str!("../../../schemas/command_job.schema.json"),
        "data" => include_str!("../../../schemas/data.schema.json"),
        "model" => include_str!("../../../schemas/model.schema.json"),
        "environment" => include_str!("../../../schemas/environment.schema.json"),
        "compute" => include_str!("../../../schemas/compute.schema.json"),
        "command_component" => include_str!("../../../schemas/command_component.schema.json"),
        other => panic!("no schema {other}"),
    };
    serde_json::from_str(text).expect("the schema is JSON")
}

/// The properties the schema object at `pointer` lists (without the editor-only `$schema`).
fn schema_fields(kind: &str, pointer: &str) -> BTreeSet<String> {
    let s = schema(kind);
    let o = s
        .pointer(pointer)
        .unwrap_or_else(|| panic!("{kind}: no {pointer}"));
    assert_eq!(
        o["additionalProperties"],
        Value::Bool(false),
        "{kind}{pointer} must be closed"
    );
    o["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .filter(|k| *k != "$schema")
        .cloned()
        .collect()
}

/// The fields the decoder accepts at `at`, read from its unknown-field error for the probe.
fn decoder_fields<T: std::fmt::Debug>(
    parse: fn(&str, &[String]) -> mlplane_spec::Result<T>,
    doc: &str,
    at: &str,
) -> BTreeSet<String> {
    let doc = doc.replace("PROBE", PROBE);
    let field = if at.is_empty() {
        PROBE.to_string()
    } else {
        format!("{at}.{PROBE}")
    };
    let errs = parse(&doc, &[]).expect_err("the probe is an unknown field");
    let e = errs
        .0
        .iter()
        .find(|e| e.field == field)
        .unwrap_or_else(|| panic!("no error at {field}: {errs:?}"));
    let list = e
        .message
        .split("expected one of: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no field list in '{}'", e.message));
    list.split(", ").map(|s| s.trim().to_string()).collect()
}

fn same(kind: &str, pointer: &str, decoder: BTreeSet<String>) {
    let schema = schema_fields(kind, pointer);
    assert_eq!(
        schema, decoder,
        "{kind}{pointer}: the schema (left) and the decoder (right) disagree"
    );
}

#[test]
fn asset_schemas_match_their_decoders() {
    use mlplane_spec::{parse_compute, parse_data, parse_environment, parse_model};
    same(
        "data",
        "",
        decoder_fields(parse_data, "name: a\npath: p\nPROBE: 1\n", ""),
    );
    same(
        "model",
        "",
        decoder_fields(parse_model, "name: a\npath: p\nPROBE: 1\n", ""),
    );
    same(
        "environment",
        "",
        decoder_fields(parse_environment, "name: e\npip: []\nPROBE: 1\n", ""),
    );
    same(
        "compute",
        "",
        decoder_fields(parse_compute, "name: c\nPROBE: 1\n", ""),
    );
}

#[test]
fn the_command_component_schema_matches_its_decoder() {
    use mlplane_spec::parse_component as p;
    let head = "name: c\ncommand: x\nenvironment: e@latest\n";
    same(
        "command_component",
        "",
        decoder_fields(p, &format!("{head}PROBE: 1\n"), ""),
    );
    same(
        "command_component",
        "/$defs/input",
        decoder_fields(
            p,
            &format!("{head}inputs: {{a: {{type: string, PROBE: 1}}}}\n"),
            "inputs.a",
        ),
    );
    same(
        "command_component",
        "/$defs/output",
        decoder_fields(
            p,
            &format!("{head}outputs: {{o: {{type: uri_folder, PROBE: 1}}}}\n"),
            "outputs.o",
        ),
    );
}

#[test]
fn the_command_job_schema_matches_its_decoder_at_every_level() {
    use mlplane_spec::parse_command_job as p;
    let head = "command: x\nenvironment: e@latest\n";
    same(
        "command_job",
        "",
        decoder_fields(p, &format!("{head}PROBE: 1\n"), ""),
    );
    for (key, body) in [
        ("limits", "{PROBE: 1}"),
        ("resources", "{PROBE: 1}"),
        ("distribution", "{type: pytorch, PROBE: 1}"),
    ] {
        same(
            "command_job",
            &format!("/properties/{key}"),
            decoder_fields(p, &format!("{head}{key}: {body}\n"), key),
        );
    }
    same(
        "command_job",
        "/$defs/input",
        decoder_fields(
            p,
            &format!("{head}inputs: {{d: {{type: uri_folder, path: x, PROBE: 1}}}}\n"),
            "inputs.d",
        ),
    );
    same(
        "command_job",
        "/$defs/output",
        decoder_fields(
            p,
            &format!("{head}outputs: {{o: {{type: uri_folder, PROBE: 1}}}}\n"),
            "outputs.o",
        ),
    );
    // An inline environment takes the environment's fields except name and version, which
    // the decoder reads only to refuse them with a pointed message.
    let mut inline = decoder_fields(
        p,
        "command: x\nenvironment: {pip: [], PROBE: 1}\n",
        "environment",
    );
    inline.remove("name");
    inline.remove("version");
    same("command_job", "/$defs/inline_environment", inline);
}

#[test]
fn every_schema_is_draft_2020_12_with_an_id() {
    for kind in [
        "command_job",
        "data",
        "model",
        "environment",
        "compute",
        "command_component",
    ] {
        let s = schema(kind);
        assert_eq!(
            s["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{kind}"
        );
        assert!(
            s["$id"]
                .as_str()
                .is_some_and(|i| i.ends_with(&format!("/{kind}.schema.json"))),
            "{kind}"
        );
    }
}
