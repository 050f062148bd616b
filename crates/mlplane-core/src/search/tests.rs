//! Tests of the search grammar: tables of accepted and refused filters, order_by entries,
//! LIKE matching, and properties (no panics, linear time on adversarial inputs).
//!
//! Invariants:
//! - every refused case pins the byte position of the error, not just that one occurred;
//! - adversarial cases assert on results, never on wall-clock time.

use super::*;
use proptest::prelude::*;

fn m(key: &str) -> Entity {
    Entity::Metric(key.into())
}
fn p(key: &str) -> Entity {
    Entity::Param(key.into())
}
fn t(key: &str) -> Entity {
    Entity::Tag(key.into())
}
fn a(attr: Attr) -> Entity {
    Entity::Attribute(attr)
}
fn d(field: DatasetField) -> Entity {
    Entity::Dataset(field)
}
fn num(n: f64) -> Value {
    Value::Number(n)
}
fn s(v: &str) -> Value {
    Value::String(v.into())
}
fn list(v: &[&str]) -> Value {
    Value::List(v.iter().map(|x| x.to_string()).collect())
}
fn c(entity: Entity, op: Comparator, value: Value) -> Clause {
    Clause { entity, op, value }
}

use Comparator::*;

fn accepted_runs() -> Vec<(&'static str, Vec<Clause>)> {
    vec![
        ("", vec![]),
        ("  \t\n ", vec![]),
        ("metrics.acc > 0.9", vec![c(m("acc"), Gt, num(0.9))]),
        ("metric.acc >= 1", vec![c(m("acc"), Ge, num(1.0))]),
        ("METRICS.acc < 2", vec![c(m("acc"), Lt, num(2.0))]),
        ("metrics.acc<=-1.5e3", vec![c(m("acc"), Le, num(-1500.0))]),
        ("metrics.a = +3", vec![c(m("a"), Eq, num(3.0))]),
        ("metrics.a != .5", vec![c(m("a"), Ne, num(0.5))]),
        ("metrics.a = 5.", vec![c(m("a"), Eq, num(5.0))]),
        ("metrics.a > 2.5E-3", vec![c(m("a"), Gt, num(0.0025))]),
        (
            "metrics.train/loss < 0.1",
            vec![c(m("train/loss"), Lt, num(0.1))],
        ),
        ("metrics.a-b > 0", vec![c(m("a-b"), Gt, num(0.0))]),
        (
            "metrics.`f1 score` != 0",
            vec![c(m("f1 score"), Ne, num(0.0))],
        ),
        ("params.lr = '0.01'", vec![c(p("lr"), Eq, s("0.01"))]),
        ("param.lr != \"x\"", vec![c(p("lr"), Ne, s("x"))]),
        ("parameter.lr LIKE '%1'", vec![c(p("lr"), Like, s("%1"))]),
        ("parameters.lr ilike 'A%'", vec![c(p("lr"), ILike, s("A%"))]),
        ("params.a='it''s'", vec![c(p("a"), Eq, s("it's"))]),
        (
            "params.a = \"say \"\"hi\"\"\"",
            vec![c(p("a"), Eq, s("say \"hi\""))],
        ),
        ("params.a = 'a\\b'", vec![c(p("a"), Eq, s("a\\b"))]),
        ("params.a = ''", vec![c(p("a"), Eq, s(""))]),
        (
            "tags.mlflow.runName = 'r'",
            vec![c(t("mlflow.runName"), Eq, s("r"))],
        ),
        ("tag.x LiKe 'y'", vec![c(t("x"), Like, s("y"))]),
        ("tags.`my key` = 'v'", vec![c(t("my key"), Eq, s("v"))]),
        ("tags.`a``b` = 'v'", vec![c(t("a`b"), Eq, s("v"))]),
        (
            "tags.\"mlflow.user\" = 'bob'",
            vec![c(t("mlflow.user"), Eq, s("bob"))],
        ),
        (
            "tags.ключ = 'значение'",
            vec![c(t("ключ"), Eq, s("значение"))],
        ),
        (
            "attributes.status = 'FINISHED'",
            vec![c(a(Attr::Status), Eq, s("FINISHED"))],
        ),
        (
            "attribute.run_name = 'a'",
            vec![c(a(Attr::RunName), Eq, s("a"))],
        ),
        ("attr.user_id = 'u'", vec![c(a(Attr::UserId), Eq, s("u"))]),
        (
            "run.artifact_uri LIKE 's3://%'",
            vec![c(a(Attr::ArtifactUri), Like, s("s3://%"))],
        ),
        (
            "status != 'FAILED'",
            vec![c(a(Attr::Status), Ne, s("FAILED"))],
        ),
        ("run_name = 'x'", vec![c(a(Attr::RunName), Eq, s("x"))]),
        ("`run name` = 'x'", vec![c(a(Attr::RunName), Eq, s("x"))]),
        (
            "attributes.\"Run Name\" = 'x'",
            vec![c(a(Attr::RunName), Eq, s("x"))],
        ),
        (
            "lifecycle_stage = 'active'",
            vec![c(a(Attr::LifecycleStage), Eq, s("active"))],
        ),
        (
            "start_time >= 1700000000000",
            vec![c(a(Attr::StartTime), Ge, num(1.7e12))],
        ),
        ("created < 5", vec![c(a(Attr::StartTime), Lt, num(5.0))]),
        ("Created < 5", vec![c(a(Attr::StartTime), Lt, num(5.0))]),
        (
            "attributes.end_time <= -1.5e3",
            vec![c(a(Attr::EndTime), Le, num(-1500.0))],
        ),
        (
            "run_id IN ('a', \"b\" ,'c')",
            vec![c(a(Attr::RunId), In, list(&["a", "b", "c"]))],
        ),
        (
            "attributes.run_id not   in('x')",
            vec![c(a(Attr::RunId), NotIn, list(&["x"]))],
        ),
        (
            "datasets.name = 'train'",
            vec![c(d(DatasetField::Name), Eq, s("train"))],
        ),
        (
            "dataset.digest IN ('d1','d2')",
            vec![c(d(DatasetField::Digest), In, list(&["d1", "d2"]))],
        ),
        (
            "datasets.context NOT IN ( 'eval' )",
            vec![c(d(DatasetField::Context), NotIn, list(&["eval"]))],
        ),
        (
            "user_id ILIKE '%bob'",
            vec![c(a(Attr::UserId), ILike, s("%bob"))],
        ),
        (
            "metrics.a = 1 and params.b = 'x' AnD tags.c like 'y%'",
            vec![
                c(m("a"), Eq, num(1.0)),
                c(p("b"), Eq, s("x")),
                c(t("c"), Like, s("y%")),
            ],
        ),
        (
            "  metrics.a   <   2   AND\n\tparams.b='x'  ",
            vec![c(m("a"), Lt, num(2.0)), c(p("b"), Eq, s("x"))],
        ),
    ]
}

#[test]
fn accepted_run_filters() {
    let cases = accepted_runs();
    assert!(cases.len() >= 25);
    for (input, clauses) in cases {
        match parse_run_filter(input) {
            Ok(f) => assert_eq!(f.clauses, clauses, "input: {input:?}"),
            Err(e) => panic!("input {input:?} refused: {e}"),
        }
    }
}

#[test]
fn accepted_experiment_filters() {
    let cases = vec![
        ("", vec![]),
        ("name = 'x'", vec![c(a(Attr::Name), Eq, s("x"))]),
        ("name LIKE 'x%'", vec![c(a(Attr::Name), Like, s("x%"))]),
        (
            "attributes.name ILIKE 'a'",
            vec![c(a(Attr::Name), ILike, s("a"))],
        ),
        (
            "creation_time > 5",
            vec![c(a(Attr::CreationTime), Gt, num(5.0))],
        ),
        (
            "last_update_time <= 5 AND tags.k = 'v'",
            vec![
                c(a(Attr::LastUpdateTime), Le, num(5.0)),
                c(t("k"), Eq, s("v")),
            ],
        ),
        (
            "experiment_id IN ('1','2')",
            vec![c(a(Attr::ExperimentId), In, list(&["1", "2"]))],
        ),
        (
            "experiment_id = '1'",
            vec![c(a(Attr::ExperimentId), Eq, s("1"))],
        ),
    ];
    for (input, clauses) in cases {
        match parse_experiment_filter(input) {
            Ok(f) => assert_eq!(f.clauses, clauses, "input: {input:?}"),
            Err(e) => panic!("input {input:?} refused: {e}"),
        }
    }
}

fn repeat_clauses(n: usize) -> String {
    let mut out = "params.a = 'x' AND ".repeat(n - 1);
    out.push_str("params.a = 'x'");
    out
}

#[test]
fn refused_run_filters() {
    let long = "a".repeat(MAX_FILTER_LEN + 1);
    let too_many = repeat_clauses(MAX_CLAUSES + 1);
    let cases: Vec<(&str, usize, &str)> = vec![
        ("metrics.a > 1 OR metrics.b < 2", 14, "OR is not supported"),
        (
            "params.a = 'x' and params.b = 'y' or params.c = 'z'",
            34,
            "OR is not supported",
        ),
        (
            "params.lr = ",
            12,
            "expected a quoted string for param 'lr'",
        ),
        ("params.lr", 9, "expected a comparator, found end of input"),
        ("tags.x = 'abc", 9, "unterminated string"),
        ("tags.x = \"abc", 9, "unterminated string"),
        ("foo.bar = 'x'", 0, "unknown entity prefix 'foo'"),
        ("bogus = 'x'", 0, "unknown entity 'bogus'"),
        ("attributes.bogus = 'x'", 11, "unknown attribute 'bogus'"),
        ("datasets.foo = 'x'", 9, "unknown dataset field 'foo'"),
        (
            "metrics.acc LIKE '%a'",
            12,
            "comparator LIKE is not valid for metric 'acc'",
        ),
        (
            "metrics.acc IN ('a')",
            12,
            "comparator IN is not valid for metric 'acc'",
        ),
        (
            "params.a > 'x'",
            9,
            "comparator > is not valid for param 'a'",
        ),
        (
            "status IN ('a')",
            7,
            "comparator IN is not valid for attribute 'status'",
        ),
        (
            "start_time LIKE '1%'",
            11,
            "comparator LIKE is not valid for attribute 'start_time'",
        ),
        (
            "params.a = 'x' garbage",
            15,
            "expected AND, found 'garbage'",
        ),
        ("params.a = 'x' )", 15, "expected AND, found ')'"),
        ("metrics. > 1", 8, "expected a key after 'metrics.'"),
        ("metrics.`` > 1", 8, "empty key after 'metrics.'"),
        ("metrics.`abc = 1", 8, "unterminated string"),
        (long.as_str(), MAX_FILTER_LEN, "the limit is 10000"),
        (too_many.as_str(), 1900, "too many clauses"),
        ("params.a = 1", 11, "expected a quoted string for param 'a'"),
        ("metrics.a = '1'", 12, "expected a number for metric 'a'"),
        ("start_time > 'x'", 13, "expected a number"),
        ("run_id IN ()", 11, "empty list"),
        (
            "run_id IN ('a',)",
            15,
            "expected a quoted string, found ')'",
        ),
        ("run_id IN ('a' 'b')", 15, "expected ',' or ')'"),
        (
            "run_id IN ('a'",
            14,
            "expected ',' or ')', found end of input",
        ),
        ("run_id IN 'a'", 10, "expected '(' starting a list"),
        ("run_id IN (1)", 11, "expected a quoted string, found '1'"),
        ("metrics.a >> 1", 10, "unknown comparator '>>'"),
        ("params.a == 'x'", 9, "unknown comparator '=='"),
        ("metrics.a 1", 10, "expected a comparator, found '1'"),
        ("params.a NOT LIKE 'x'", 13, "expected IN after NOT"),
        (
            "metrics.a = 1 AND",
            17,
            "expected an entity, found end of input",
        ),
        (
            "params.a = 'x' AND AND params.b = 'y'",
            19,
            "unknown entity 'AND'",
        ),
        ("(params.a = 'x')", 0, "expected an entity, found '('"),
        ("metrics.a = 1e", 14, "expected digits in the exponent"),
        ("metrics.a = 1e999", 12, "out of range"),
        ("metrics.a = 12abc", 12, "invalid number '12abc'"),
        ("metrics.a = - 1", 12, "expected a number"),
        ("metrics.a = 1AND params.b = 'x'", 12, "invalid number"),
    ];
    assert!(cases.len() >= 20);
    for (input, position, fragment) in cases {
        match parse_run_filter(input) {
            Ok(f) => panic!("input {input:?} accepted: {f:?}"),
            Err(e) => {
                assert_eq!(e.position, position, "input {input:?}: {e}");
                assert!(
                    e.message.contains(fragment),
                    "input {input:?}: {e} lacks {fragment:?}"
                );
                assert!(!e.message.ends_with('.'), "{e}");
                assert!(e.position <= input.len(), "{e}");
            }
        }
    }
}

#[test]
fn refused_experiment_filters() {
    let cases: Vec<(&str, usize, &str)> = vec![
        (
            "metrics.a > 1",
            0,
            "metrics cannot be searched in experiments",
        ),
        ("params.a = 'x'", 0, "params cannot be searched"),
        ("datasets.name = 'x'", 0, "datasets cannot be searched"),
        ("status = 'x'", 0, "unknown entity 'status'"),
        ("attributes.run_id = 'x'", 11, "unknown attribute 'run_id'"),
        (
            "name IN ('a')",
            5,
            "comparator IN is not valid for attribute 'name'",
        ),
        ("creation_time = 'x'", 16, "expected a number"),
        ("name = 'a' OR name = 'b'", 11, "OR is not supported"),
    ];
    for (input, position, fragment) in cases {
        match parse_experiment_filter(input) {
            Ok(f) => panic!("input {input:?} accepted: {f:?}"),
            Err(e) => {
                assert_eq!(e.position, position, "input {input:?}: {e}");
                assert!(e.message.contains(fragment), "input {input:?}: {e}");
            }
        }
    }
}

#[test]
fn error_display_names_position_and_problem() {
    let e = parse_run_filter("metrics.acc foo 1").err();
    assert_eq!(
        e.map(|e| e.to_string()),
        Some("at position 12: expected a comparator, found 'foo'".to_string())
    );
    let e = parse_run_filter("params.a = 1").err();
    assert_eq!(
        e.map(|e| e.to_string()),
        Some("at position 11: expected a quoted string for param 'a', found '1'".to_string())
    );
    let e = parse_run_filter("metrics.a = 'x'").err();
    assert_eq!(
        e.map(|e| e.to_string()),
        Some(
            "at position 12: expected a number for metric 'a', found the quoted string 'x'"
                .to_string()
        )
    );
}

fn ob(entity: Entity, ascending: bool) -> OrderBy {
    OrderBy { entity, ascending }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn order_by_accepted() {
    let got = parse_order_by(
        &strings(&[
            "metrics.acc DESC",
            "start_time",
            "attributes.run_name ASC",
            "params.lr",
            "  tags.x   desc ",
            "metrics.`f1 score` asc",
            "created DESC",
        ]),
        SearchKind::Runs,
    );
    assert_eq!(
        got,
        Ok(vec![
            ob(m("acc"), false),
            ob(a(Attr::StartTime), true),
            ob(a(Attr::RunName), true),
            ob(p("lr"), true),
            ob(t("x"), false),
            ob(m("f1 score"), true),
            ob(a(Attr::StartTime), false),
        ])
    );
    let got = parse_order_by(
        &strings(&[
            "name",
            "creation_time DESC",
            "experiment_id asc",
            "last_update_time",
        ]),
        SearchKind::Experiments,
    );
    assert_eq!(
        got,
        Ok(vec![
            ob(a(Attr::Name), true),
            ob(a(Attr::CreationTime), false),
            ob(a(Attr::ExperimentId), true),
            ob(a(Attr::LastUpdateTime), true),
        ])
    );
    assert_eq!(parse_order_by(&[], SearchKind::Runs), Ok(vec![]));
}

#[test]
fn order_by_refused() {
    let cases: Vec<(&str, SearchKind, usize, &str)> = vec![
        (
            "metrics.acc UP",
            SearchKind::Runs,
            12,
            "expected ASC or DESC, found 'UP'",
        ),
        (
            "datasets.name",
            SearchKind::Runs,
            0,
            "cannot order by a dataset field",
        ),
        ("", SearchKind::Runs, 0, "empty order_by entry"),
        ("   ", SearchKind::Runs, 3, "empty order_by entry"),
        (
            "metrics.a DESC x",
            SearchKind::Runs,
            15,
            "expected end of the order_by entry",
        ),
        ("metrics. DESC", SearchKind::Runs, 8, "expected a key"),
        ("bogus", SearchKind::Runs, 0, "unknown entity 'bogus'"),
        (
            "tags.x",
            SearchKind::Experiments,
            0,
            "experiments can only be ordered by",
        ),
        (
            "status ASC",
            SearchKind::Experiments,
            0,
            "unknown entity 'status'",
        ),
        (
            "metrics.a",
            SearchKind::Experiments,
            0,
            "metrics cannot be searched",
        ),
    ];
    for (item, kind, position, fragment) in cases {
        let first = match kind {
            SearchKind::Runs => "start_time",
            SearchKind::Experiments
            | SearchKind::RegisteredModels
            | SearchKind::ModelVersions
            | SearchKind::LoggedModels => "name",
        };
        let items = strings(&[first, item]);
        match parse_order_by(&items, kind) {
            Ok(o) => panic!("order_by {item:?} accepted: {o:?}"),
            Err(e) => {
                assert_eq!(e.position, position, "order_by {item:?}: {e}");
                assert!(e.message.contains(fragment), "order_by {item:?}: {e}");
                assert!(e.message.ends_with("in order_by[1]"), "{e}");
            }
        }
    }
    let many = vec!["start_time".to_string(); MAX_ORDER_BY + 1];
    assert!(parse_order_by(&many, SearchKind::Runs).is_err());
}

#[test]
fn long_adversarial_inputs_finish() {
    // Exactly the clause limit is accepted.
    let f = parse_run_filter(&repeat_clauses(MAX_CLAUSES));
    assert_eq!(f.map(|f| f.clauses.len()), Ok(MAX_CLAUSES));
    // A huge LIKE pattern.
    let pat = "%".repeat(5000);
    let f = parse_run_filter(&format!("params.a LIKE '{pat}'"));
    assert_eq!(
        f.map(|f| f.clauses),
        Ok(vec![c(p("a"), Like, Value::String(pat.clone()))])
    );
    // Unterminated strings, lone parentheses, deep NOTs, long keys and numbers.
    let inputs = [
        format!("params.a = '{}", "x".repeat(9_000)),
        format!("run_id IN ({}", "'a',".repeat(2_000)),
        "(".repeat(9_000),
        format!("run_id {}IN ('a')", "NOT ".repeat(2_000)),
        format!("metrics.{} > 1", "k".repeat(9_000)),
        format!("metrics.a > {}", "9".repeat(9_000)),
        format!("metrics.a > 1{}", "e".repeat(9_000)),
        "'".repeat(9_999),
        "`".repeat(9_999),
        "AND ".repeat(2_000),
    ];
    for input in &inputs {
        assert!(input.len() <= MAX_FILTER_LEN);
        let _ = parse_run_filter(input);
        let _ = parse_experiment_filter(input);
    }
    assert!(parse_run_filter(&"(".repeat(9_000)).is_err());
    // 9000 nines overflow f64 and are refused, pointing at the number.
    assert_eq!(
        parse_run_filter(&format!("metrics.a > {}", "9".repeat(9_000))).map_err(|e| e.position),
        Err(12)
    );
}

fn clause_of(filter: &str) -> Clause {
    match parse_run_filter(filter) {
        Ok(mut f) if f.clauses.len() == 1 => f.clauses.remove(0),
        other => panic!("{filter:?}: {other:?}"),
    }
}

#[test]
fn like_semantics() {
    assert!(like_match("a%c", "abbbc", false));
    assert!(like_match("a%c", "ac", false));
    assert!(!like_match("a%c", "acb", false));
    assert!(like_match("a_c", "abc", false));
    assert!(!like_match("a_c", "ac", false));
    assert!(like_match("%", "", false));
    assert!(like_match("", "", false));
    assert!(!like_match("", "a", false));
    assert!(like_match("%%", "xyz", false));
    assert!(!like_match("ABC", "abc", false));
    assert!(like_match("ABC", "abc", true));
    assert!(like_match("_é_", "aÉb", true));
    assert!(like_match("100%", "100% sure", false));
    assert!(like_match("%b%", "a%b", false));
}

#[test]
fn clause_matching() {
    assert!(clause_of("params.a = 'x'").matches_str(Some("x")));
    assert!(!clause_of("params.a = 'x'").matches_str(Some("X")));
    assert!(!clause_of("params.a = 'x'").matches_str(None));
    assert!(clause_of("params.a != 'x'").matches_str(Some("y")));
    assert!(!clause_of("params.a != 'x'").matches_str(None));
    assert!(clause_of("tags.a LIKE 'x%'").matches_str(Some("xyz")));
    assert!(!clause_of("tags.a LIKE 'x%'").matches_str(Some("Xyz")));
    assert!(clause_of("tags.a ILIKE 'x%'").matches_str(Some("Xyz")));
    assert!(clause_of("run_id IN ('a','b')").matches_str(Some("b")));
    assert!(!clause_of("run_id IN ('a','b')").matches_str(Some("c")));
    assert!(clause_of("run_id NOT IN ('a','b')").matches_str(Some("c")));
    assert!(!clause_of("run_id NOT IN ('a','b')").matches_str(None));
    assert!(clause_of("metrics.a > 1").matches_num(Some(1.5)));
    assert!(!clause_of("metrics.a > 1").matches_num(Some(1.0)));
    assert!(clause_of("metrics.a >= 1").matches_num(Some(1.0)));
    assert!(clause_of("metrics.a < 1").matches_num(Some(-3.0)));
    assert!(clause_of("metrics.a <= 1").matches_num(Some(1.0)));
    assert!(clause_of("metrics.a = 1").matches_num(Some(1.0)));
    assert!(clause_of("metrics.a != 1").matches_num(Some(f64::NAN)));
    assert!(!clause_of("metrics.a = 1").matches_num(Some(f64::NAN)));
    assert!(!clause_of("metrics.a != 1").matches_num(None));
    assert!(clause_of("start_time > 10").matches_str(Some("11")));
    assert!(!clause_of("start_time > 10").matches_str(Some("abc")));
    assert!(!clause_of("params.a = 'x'").matches_num(Some(1.0)));
}

#[test]
fn pathological_like_patterns_finish() {
    let pattern = format!("{}%b", "%a".repeat(2_000));
    let text = "a".repeat(5_000);
    assert!(!like_match(&pattern, &text, false));
    assert!(like_match(&pattern, &format!("{text}b"), false));
    assert!(like_match(
        &pattern,
        &format!("{}B", text.to_uppercase()),
        true
    ));
    let under = format!("{}%{}", "_".repeat(1_000), "a".repeat(1_000));
    assert!(!like_match(&under, &format!("{text}c"), false));
    assert!(like_match(&under, &text, false));
    let f = clause_of(&format!("params.p LIKE '{pattern}'"));
    assert!(!f.matches_str(Some(&text)));
}

/// Reference matcher: the textbook dynamic program over (pattern, text) prefixes.
fn like_reference(p: &[char], t: &[char]) -> bool {
    let mut prev = vec![false; t.len() + 1];
    prev[0] = true;
    for &pc in p {
        let mut cur = vec![false; t.len() + 1];
        if pc == '%' {
            cur[0] = prev[0];
        }
        for j in 1..=t.len() {
            cur[j] = match pc {
                '%' => cur[j - 1] || prev[j],
                '_' => prev[j - 1],
                c => prev[j - 1] && c == t[j - 1],
            };
        }
        prev = cur;
    }
    prev[t.len()]
}

proptest! {
    #[test]
    fn parser_never_panics(input in "\\PC{0,300}") {
        let _ = parse_run_filter(&input);
        let _ = parse_experiment_filter(&input);
        let _ = parse_order_by(std::slice::from_ref(&input), SearchKind::Runs);
        let _ = parse_order_by(std::slice::from_ref(&input), SearchKind::Experiments);
    }

    #[test]
    fn grammar_like_noise_never_panics(input in "[a-zA-Z_.=!<>'\"` ()%,0-9eE+-]{0,300}") {
        if let Err(e) = parse_run_filter(&input) {
            prop_assert!(e.position <= input.len());
            prop_assert!(input.is_char_boundary(e.position));
        }
        let _ = parse_experiment_filter(&input);
    }

    #[test]
    fn quoted_keys_and_values_round_trip(
        key in "[^`]{1,40}",
        value in "\\PC{0,60}",
        quote in prop::sample::select(vec!['\'', '"']),
    ) {
        let q = quote.to_string();
        let escaped = value.replace(quote, &format!("{q}{q}"));
        let filter = format!("params.`{key}` = {q}{escaped}{q} AND metrics.m >= -0.25");
        let parsed = parse_run_filter(&filter);
        prop_assert_eq!(
            parsed.map(|f| f.clauses),
            Ok(vec![
                c(p(&key), Eq, Value::String(value.clone())),
                c(m("m"), Ge, num(-0.25)),
            ])
        );
    }

    #[test]
    fn like_agrees_with_reference(pattern in "[ab%_]{0,12}", text in "[ab]{0,16}") {
        let pc: Vec<char> = pattern.chars().collect();
        let tc: Vec<char> = text.chars().collect();
        prop_assert_eq!(like_match(&pattern, &text, false), like_reference(&pc, &tc));
    }
}
