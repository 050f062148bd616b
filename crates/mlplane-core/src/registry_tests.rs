//! Tests of the registry rules: names, aliases, stages and, above all, source validation.

use super::*;
use crate::search::{Attr, Entity, SearchKind, parse_order_by, parse_registry_filter};
use proptest::prelude::*;

const RUN: &str = "0123456789abcdef0123456789abcdef";
const MODEL: &str = "m-0123456789abcdef0123456789abcdef";

#[test]
fn accepts_sources_the_server_owns() {
    let ok = [
        format!("runs:/{RUN}/model"),
        format!("runs:/{RUN}/a/b/c"),
        format!("models:/{MODEL}"),
        format!("mlflow-artifacts:/1/{RUN}/artifacts"),
        format!("mlflow-artifacts:/1/{RUN}/artifacts/model"),
        format!("mlflow-artifacts:/default/1/{RUN}/artifacts/model"),
        format!("mlflow-artifacts:/3/models/{MODEL}/artifacts"),
        format!("mlflow-artifacts:/ws-a/3/models/{MODEL}/artifacts/x"),
    ];
    for s in ok {
        assert!(parse_model_source(&s).is_ok(), "{s} should be accepted");
    }
    match parse_model_source(&format!(
        "mlflow-artifacts:/default/1/{RUN}/artifacts/model"
    )) {
        Ok(ModelSource::RunArtifacts {
            workspace: Some(ws),
            experiment_id,
            path: Some(p),
            ..
        }) => {
            assert_eq!(ws.as_str(), "default");
            assert_eq!(experiment_id, ExperimentId(1));
            assert_eq!(p.as_str(), "model");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn refuses_hostile_sources() {
    let bad = [
        "".to_string(),
        "file:///etc/passwd".into(),
        "file:/etc".into(),
        "FILE:/x".into(),
        "/etc".into(),
        "etc/passwd".into(),
        "//proc/self/root".into(),
        "\\\\host\\share".into(),
        "Runs:/x".into(),
        "MLFLOW-ARTIFACTS:/1/x".into(),
        "mlflow-artifacts:/1/../../etc".into(),
        "mlflow-artifacts:/1/%2e%2e/x".into(),
        "mlflow-artifacts:/1/%252e%252e/x".into(),
        "mlflow-artifacts://evil.com/1/r/artifacts".into(),
        "http://169.254.169.254/".into(),
        "https://example.com/model".into(),
        "s3://bucket/model".into(),
        "models:/../x".into(),
        "models:/name/1".into(),
        format!("models:/{MODEL}/../x"),
        format!("runs:/{RUN}"),
        format!("runs:/{RUN}/"),
        format!("runs:/{RUN}/../x"),
        format!("runs:/{RUN}/a/./b"),
        format!("runs:/{RUN}/a#b"),
        format!("runs:/{RUN}/a?b=1"),
        format!("runs://{RUN}/a"),
        format!("mlflow-artifacts:/1/{RUN}/artifacts/../../x"),
        format!("mlflow-artifacts:/1/{RUN}/artifacts//x"),
        format!("mlflow-artifacts:/1/{RUN}/other/x"),
        format!("mlflow-artifacts:/1/{RUN}/artifacts/a\\..\\b"),
        format!("mlflow-artifacts:/1/{RUN}/artifacts/a\nb"),
    ];
    for s in bad {
        assert!(parse_model_source(&s).is_err(), "{s:?} should be refused");
    }
}

#[test]
fn model_names_cannot_collide_after_decoding() {
    assert!(model_name("my model").is_ok());
    assert!(model_name("a%20b").is_err());
    assert!(model_name("a/b").is_err());
    assert!(model_name(" a").is_err());
    assert!(model_name("a\u{0}").is_err());
    assert!(model_name("").is_err());
    assert!(model_name(&"x".repeat(MAX_MODEL_NAME_LEN + 1)).is_err());
}

#[test]
fn alias_rules() {
    assert!(alias("champion").is_ok());
    assert!(alias("v1x").is_ok());
    assert!(alias("v").is_ok());
    for bad in ["latest", "LATEST", "v1", "V42", "a b", "a.b", ""] {
        assert!(alias(bad).is_err(), "{bad}");
    }
    assert!(alias(&"a".repeat(MAX_ALIAS_LEN + 1)).is_err());
}

#[test]
fn stages_parse_case_insensitively() {
    assert_eq!(Stage::parse("production").ok(), Some(Stage::Production));
    assert_eq!(Stage::parse("NONE").ok(), Some(Stage::None));
    assert!(Stage::parse("prod").is_err());
}

#[test]
fn registry_search_filters_and_order_by() {
    let f = parse_registry_filter(
        "name LIKE 'abc%' AND tags.team = 'x'",
        SearchKind::RegisteredModels,
    )
    .unwrap();
    assert_eq!(f.clauses.len(), 2);
    assert_eq!(f.clauses[0].entity, Entity::Attribute(Attr::Name));
    let f = parse_registry_filter(
        "name='x' and version_number = 3 and run_id IN ('a', 'b') and source_path = 'y'",
        SearchKind::ModelVersions,
    )
    .unwrap();
    assert_eq!(f.clauses[1].entity, Entity::Attribute(Attr::VersionNumber));
    assert!(parse_registry_filter("run_id = 'a'", SearchKind::RegisteredModels).is_err());
    assert!(parse_registry_filter("metrics.a > 1", SearchKind::ModelVersions).is_err());
    let o = parse_order_by(
        &["timestamp DESC".to_string()],
        SearchKind::RegisteredModels,
    )
    .unwrap();
    assert_eq!(o[0].entity, Entity::Attribute(Attr::CreationTimestamp));
    assert!(parse_order_by(&["tags.a".to_string()], SearchKind::ModelVersions).is_err());
}

proptest! {
    #[test]
    fn source_parser_never_panics(s in "\\PC{0,80}") {
        let _ = parse_model_source(&s);
    }

    #[test]
    fn dot_dot_segments_are_always_refused(
        prefix in "(runs:/0123456789abcdef0123456789abcdef|mlflow-artifacts:/1/0123456789abcdef0123456789abcdef/artifacts|models:)",
        a in "[a-z/.%2eE]{0,12}",
        b in "[a-z/.%2eE]{0,12}",
    ) {
        let s = format!("{prefix}/{a}/../{b}");
        prop_assert!(parse_model_source(&s).is_err());
    }

    #[test]
    fn accepted_sources_have_no_dot_segments(s in "(runs:/|models:/|mlflow-artifacts:/)[a-z0-9/.%-]{0,60}") {
        if parse_model_source(&s).is_ok() {
            prop_assert!(!s.split('/').any(|p| p == ".." || p == "."));
            prop_assert!(!s.contains('%'));
        }
    }
}
