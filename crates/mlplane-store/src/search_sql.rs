//! Translates a parsed MLflow search (`mlplane_core::search`) into SQL for either engine.
//!
//! One translation serves SQLite and PostgreSQL; a [`Dialect`] supplies the few spellings
//! that differ (placeholders, case-sensitive `LIKE`, NaN handling, the user column).
//!
//! Invariants:
//! - every value from a filter reaches the database as a bound parameter, never as SQL
//!   text; keys are bound too, so no filter can change the shape of the query;
//! - the SQL is linear in the number of clauses (one subquery or column test per clause);
//!   the most selective keyed clause is an uncorrelated `IN (subquery)` read once through
//!   its `(key, value)` index, and it drives the scan: the other keyed clauses are probes
//!   of the runs it found by their `(run, key)` primary key (`EXISTS`), so no second list
//!   of ids is built;
//! - runs are joined to their params, tags, metric series and inputs by the run's key:
//!   the integer `runs.num` on SQLite (migration 16), the id on PostgreSQL;
//! - a missing metric, param, tag or dataset matches no clause (as `like_match` in core);
//! - rows missing an order_by key sort last in both directions, then metrics that are NaN
//!   sort after real values, as in MLflow; ties end on `start_time DESC, id ASC` for runs
//!   and `id` for experiments, so paging by offset is stable.

use mlplane_core::search::{
    Attr, Clause, Comparator, DatasetField, Entity, Filter, OrderBy, Value,
};

/// The SQL spellings that differ between engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Text(String),
    Real(f64),
}

/// A `WHERE` fragment (to be joined with `AND`) and an `ORDER BY` list over the tables
/// aliased `r` (runs) or `e` (experiments), with their bound values in placeholder order.
#[derive(Debug, Clone, Default)]
pub(crate) struct SqlParts {
    /// `LEFT JOIN`s that bring order_by keys in (one row at most per run each).
    pub joins: Vec<String>,
    pub conditions: Vec<String>,
    pub order: Vec<String>,
    pub args: Vec<Arg>,
    /// Whether a condition reads a key-first index (metrics, params, tags, datasets): then
    /// the runs should be reached through that index rather than by experiment.
    pub keyed: bool,
}

struct Builder {
    dialect: Dialect,
    /// Placeholders the caller already uses before ours.
    offset: usize,
    parts: SqlParts,
}

impl Builder {
    fn new(dialect: Dialect, offset: usize) -> Self {
        Builder {
            dialect,
            offset,
            parts: SqlParts::default(),
        }
    }

    /// Binds a value and returns its placeholder.
    fn bind(&mut self, a: Arg) -> String {
        self.parts.args.push(a);
        let n = self.offset + self.parts.args.len();
        // PostgreSQL infers a placeholder's type from its context (a bigint column would
        // make it bigint); the casts keep the bound type in charge.
        match (self.dialect, self.parts.args.last()) {
            (Dialect::Sqlite, _) => format!("?{n}"),
            (Dialect::Postgres, Some(Arg::Real(_))) => format!("${n}::float8"),
            (Dialect::Postgres, _) => format!("${n}::text"),
        }
    }
}

/// The latest value of a metric, with NaN as SQL NULL in both engines (SQLite already
/// stores NaN as NULL in `last_value`).
fn metric_value(d: Dialect, alias: &str) -> String {
    match d {
        Dialect::Sqlite => format!("{alias}.last_value"),
        Dialect::Postgres => format!("NULLIF({alias}.last_value, 'NaN'::float8)"),
    }
}

/// The run's key in `runs r`, and the column that holds it in the tables keyed by run.
fn run_key(d: Dialect) -> (&'static str, &'static str) {
    match d {
        Dialect::Sqlite => ("r.num", "run_num"),
        Dialect::Postgres => ("r.id", "run_id"),
    }
}

fn user_column(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => "r.user_id",
        Dialect::Postgres => "r.user_name",
    }
}

/// A text expression in byte order for sorting (PostgreSQL's default collation is not).
fn sortable_text(d: Dialect, expr: &str) -> String {
    match d {
        Dialect::Sqlite => expr.to_string(),
        Dialect::Postgres => format!("({expr}) COLLATE \"C\""),
    }
}

/// A `LIKE` pattern rewritten for SQLite's case-sensitive `GLOB`.
fn like_to_glob(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    for c in pattern.chars() {
        match c {
            '%' => out.push('*'),
            '_' => out.push('?'),
            '*' => out.push_str("[*]"),
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            c => out.push(c),
        }
    }
    out
}

/// Builds `<expr> <op> <value>` for a clause whose left side is the SQL `expr`.
fn compare(b: &mut Builder, expr: &str, op: Comparator, value: &Value) -> String {
    let d = b.dialect;
    match (op, value) {
        (Comparator::In | Comparator::NotIn, Value::List(items)) => {
            let marks: Vec<String> = items.iter().map(|v| b.bind(Arg::Text(v.clone()))).collect();
            let not = if op == Comparator::NotIn { "NOT " } else { "" };
            format!("{expr} {not}IN ({})", marks.join(", "))
        }
        (Comparator::Like, Value::String(p)) => match d {
            Dialect::Sqlite => {
                let m = b.bind(Arg::Text(like_to_glob(p)));
                format!("{expr} GLOB {m}")
            }
            Dialect::Postgres => {
                let m = b.bind(Arg::Text(p.clone()));
                format!("{expr} LIKE {m} ESCAPE ''")
            }
        },
        (Comparator::ILike, Value::String(p)) => {
            // SQLite's LIKE folds ASCII case and has no escape character by default.
            let m = b.bind(Arg::Text(p.clone()));
            match d {
                Dialect::Sqlite => format!("{expr} LIKE {m}"),
                Dialect::Postgres => format!("{expr} ILIKE {m} ESCAPE ''"),
            }
        }
        (op, Value::Number(n)) => {
            let m = b.bind(Arg::Real(*n));
            format!("{expr} {} {m}", op.as_str())
        }
        (op, Value::String(s)) => {
            let m = b.bind(Arg::Text(s.clone()));
            format!("{expr} {} {m}", op.as_str())
        }
        // The parser pairs lists only with IN / NOT IN, so this shape cannot occur;
        // matching nothing is the safe answer if it does.
        (_, Value::List(_)) => "1 = 0".to_string(),
    }
}

/// Run tag that mlplane keeps as the run's name column rather than as a tag row.
const RUN_NAME_TAG: &str = "mlflow.runName";

/// A keyed clause's test: `IN (subquery)` over the key index when it drives the scan,
/// else an `EXISTS` probe of the run's own row in `table` (`cond` is over alias `alias`).
fn keyed(d: Dialect, drives: bool, table: &str, alias: &str, cond: &str) -> String {
    let (rk, col) = run_key(d);
    if drives {
        format!("{rk} IN (SELECT {alias}.{col} FROM {table} {alias} WHERE {cond})")
    } else {
        format!("EXISTS (SELECT 1 FROM {table} {alias} WHERE {alias}.{col} = {rk} AND {cond})")
    }
}

fn run_clause(b: &mut Builder, c: &Clause, drives: bool) -> String {
    let d = b.dialect;
    match &c.entity {
        Entity::Metric(key) => {
            let k = b.bind(Arg::Text(key.clone()));
            let cmp = compare(b, &metric_value(d, "ms"), c.op, &c.value);
            keyed(
                d,
                drives,
                "metric_series",
                "ms",
                &format!("ms.key = {k} AND {cmp}"),
            )
        }
        Entity::Tag(key) if key == RUN_NAME_TAG => compare(b, "r.name", c.op, &c.value),
        Entity::Param(key) | Entity::Tag(key) => {
            let table = if matches!(c.entity, Entity::Param(_)) {
                "run_params"
            } else {
                "run_tags"
            };
            let k = b.bind(Arg::Text(key.clone()));
            let cmp = compare(b, "kv.value", c.op, &c.value);
            keyed(d, drives, table, "kv", &format!("kv.key = {k} AND {cmp}"))
        }
        Entity::Attribute(a) => {
            let col = run_attribute(d, *a);
            compare(b, &col, c.op, &c.value)
        }
        Entity::Dataset(f) => {
            let col = match f {
                DatasetField::Name => "ri.name",
                DatasetField::Digest => "ri.digest",
                DatasetField::Context => "ri.context",
            };
            let cmp = compare(b, col, c.op, &c.value);
            keyed(d, drives, "run_inputs", "ri", &cmp)
        }
    }
}

fn run_attribute(d: Dialect, a: Attr) -> String {
    match a {
        Attr::RunId => "r.id".into(),
        Attr::RunName => "r.name".into(),
        Attr::Status => "r.status".into(),
        Attr::UserId => user_column(d).into(),
        Attr::ArtifactUri => "r.artifact_uri".into(),
        Attr::LifecycleStage => "r.lifecycle_stage".into(),
        Attr::StartTime => "r.start_time".into(),
        Attr::EndTime => "r.end_time".into(),
        // Experiment and registry attributes are refused by the run filter parser; these
        // are the closest meanings should one arrive.
        Attr::ExperimentId => "r.experiment_id".into(),
        Attr::Name => "r.name".into(),
        Attr::CreationTime | Attr::LastUpdateTime | Attr::CreationTimestamp => {
            "r.start_time".into()
        }
        Attr::LastUpdatedTimestamp => "r.end_time".into(),
        Attr::VersionNumber | Attr::SourcePath | Attr::ModelType | Attr::SourceRunId => {
            "r.id".into()
        }
    }
}

/// Lower is likely to match fewer runs: equalities on keyed values, then other keyed
/// comparisons, then run attributes (checked on the run row itself).
fn selectivity_rank(c: &Clause) -> u8 {
    match (&c.entity, c.op) {
        (Entity::Attribute(_), _) => 3,
        (Entity::Metric(_), _) => 1,
        (_, Comparator::Eq | Comparator::In) => 0,
        _ => 2,
    }
}

/// SQL for a runs search over `runs r`. `offset` is the number of placeholders the caller
/// already uses before these.
pub(crate) fn runs(d: Dialect, offset: usize, filter: &Filter, order: &[OrderBy]) -> SqlParts {
    let mut b = Builder::new(d, offset);
    // Most selective first: SQLite drives the scan from the first key subquery, and an
    // equality on a param, tag or dataset usually narrows more than a metric range.
    let mut clauses: Vec<&Clause> = filter.clauses.iter().collect();
    clauses.sort_by_key(|c| selectivity_rank(c));
    for c in clauses {
        let is_keyed = !matches!(c.entity, Entity::Attribute(_))
            && !(matches!(&c.entity, Entity::Tag(k) if k == RUN_NAME_TAG));
        // The first keyed clause (the most selective) drives; the rest probe its runs.
        let drives = is_keyed && !b.parts.keyed;
        b.parts.keyed |= is_keyed;
        let cond = run_clause(&mut b, c, drives);
        b.parts.conditions.push(cond);
    }
    let (rk, col) = run_key(d);
    let mut has_start = false;
    for o in order {
        let dir = if o.ascending { "ASC" } else { "DESC" };
        match &o.entity {
            Entity::Metric(key) => {
                let k = b.bind(Arg::Text(key.clone()));
                let o = format!("o{}", b.parts.joins.len());
                b.parts.joins.push(format!(
                    "LEFT JOIN metric_series {o} ON {o}.{col} = {rk} AND {o}.key = {k} AND {o}.count > 0"
                ));
                let v = metric_value(d, &o);
                // 0 = a value, 1 = NaN, 2 = no such metric.
                b.parts.order.push(format!(
                    "CASE WHEN {o}.{col} IS NULL THEN 2 WHEN {v} IS NULL THEN 1 ELSE 0 END ASC"
                ));
                b.parts.order.push(format!("{v} {dir}"));
            }
            Entity::Tag(key) if key == RUN_NAME_TAG => {
                b.parts
                    .order
                    .push(format!("{} {dir}", sortable_text(d, "r.name")));
            }
            Entity::Param(key) | Entity::Tag(key) => {
                let table = if matches!(o.entity, Entity::Param(_)) {
                    "run_params"
                } else {
                    "run_tags"
                };
                let k = b.bind(Arg::Text(key.clone()));
                let o = format!("o{}", b.parts.joins.len());
                b.parts.joins.push(format!(
                    "LEFT JOIN {table} {o} ON {o}.{col} = {rk} AND {o}.key = {k}"
                ));
                b.parts.order.push(format!("({o}.value IS NULL) ASC"));
                b.parts
                    .order
                    .push(format!("{} {dir}", sortable_text(d, &format!("{o}.value"))));
            }
            Entity::Attribute(a) => {
                has_start |= *a == Attr::StartTime;
                let col = run_attribute(d, *a);
                if a.is_numeric() {
                    b.parts.order.push(format!("({col} IS NULL) ASC"));
                    b.parts.order.push(format!("{col} {dir}"));
                } else {
                    b.parts
                        .order
                        .push(format!("{} {dir}", sortable_text(d, &col)));
                }
            }
            // The order_by parser refuses datasets; ignoring one keeps the tie-breakers.
            Entity::Dataset(_) => {}
        }
    }
    if !has_start {
        b.parts.order.push("r.start_time DESC".into());
    }
    b.parts.order.push(sortable_text(d, "r.id") + " ASC");
    b.parts
}

fn experiment_attribute(a: Attr) -> &'static str {
    match a {
        Attr::ExperimentId => "e.id",
        Attr::CreationTime => "e.created_at",
        Attr::LastUpdateTime => "e.updated_at",
        Attr::LifecycleStage => "e.lifecycle_stage",
        // Run attributes are refused by the experiment filter parser.
        _ => "e.name",
    }
}

/// SQL for an experiments search over `experiments e`.
pub(crate) fn experiments(
    d: Dialect,
    offset: usize,
    filter: &Filter,
    order: &[OrderBy],
) -> SqlParts {
    let mut b = Builder::new(d, offset);
    for c in &filter.clauses {
        let cond = match &c.entity {
            Entity::Tag(key) => {
                let k = b.bind(Arg::Text(key.clone()));
                let cmp = compare(&mut b, "kv.value", c.op, &c.value);
                format!(
                    "EXISTS (SELECT 1 FROM experiment_tags kv WHERE kv.experiment_id = e.id AND kv.key = {k} AND {cmp})"
                )
            }
            Entity::Attribute(Attr::ExperimentId) => {
                // Experiment ids are numeric strings on the wire; compare them as text.
                let col = match d {
                    Dialect::Sqlite => "CAST(e.id AS TEXT)",
                    Dialect::Postgres => "e.id::text",
                };
                compare(&mut b, col, c.op, &c.value)
            }
            Entity::Attribute(a) => compare(&mut b, experiment_attribute(*a), c.op, &c.value),
            // Refused by the experiment filter parser.
            _ => "1 = 0".to_string(),
        };
        b.parts.conditions.push(cond);
    }
    let order_default;
    let order = if order.is_empty() {
        order_default = [
            OrderBy {
                entity: Entity::Attribute(Attr::CreationTime),
                ascending: false,
            },
            OrderBy {
                entity: Entity::Attribute(Attr::ExperimentId),
                ascending: true,
            },
        ];
        &order_default[..]
    } else {
        order
    };
    let mut has_id = false;
    for o in order {
        let dir = if o.ascending { "ASC" } else { "DESC" };
        if let Entity::Attribute(a) = &o.entity {
            has_id |= *a == Attr::ExperimentId;
            let col = experiment_attribute(*a);
            let expr = if *a == Attr::Name {
                sortable_text(d, col)
            } else {
                col.to_string()
            };
            b.parts.order.push(format!("{expr} {dir}"));
        }
    }
    if !has_id {
        b.parts.order.push("e.id DESC".into());
    }
    b.parts
}

/// `a, b, c` as `r.a, r.b, r.c`: select lists stay unambiguous next to joined tables.
pub(crate) fn qualified(alias: &str, cols: &str) -> String {
    cols.split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlplane_core::search::{SearchKind, parse_order_by, parse_run_filter};

    #[test]
    fn glob_escapes_its_own_wildcards() {
        assert_eq!(like_to_glob("a%b_c*d?e[f"), "a*b?c[*]d[?]e[[]f");
    }

    #[test]
    fn values_and_keys_are_bound_not_inlined() {
        let f = parse_run_filter("params.`x'; DROP TABLE runs; --` = 'y''' AND metrics.m > 1")
            .expect("filter");
        let o = parse_order_by(&["metrics.m DESC".to_string()], SearchKind::Runs).expect("order");
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            let p = runs(d, 2, &f, &o);
            let sql = p.joins.join(" ") + &p.conditions.join(" AND ") + &p.order.join(", ");
            assert!(!sql.contains("DROP"), "{sql}");
            assert!(!sql.contains("'y"), "{sql}");
            assert_eq!(p.args.len(), 5);
            let first = if d == Dialect::Sqlite { "?3" } else { "$3" };
            assert!(sql.contains(first), "{sql}");
        }
    }
}
