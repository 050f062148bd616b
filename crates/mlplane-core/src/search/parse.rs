//! Recursive-descent parsers for search filters and order_by entries.
//!
//! Invariants:
//! - a single forward pass over the input, no backtracking: linear time;
//! - a clause is accepted only if its comparator is valid for its entity (see [`check_op`])
//!   and its value has the shape the comparator needs;
//! - entity prefixes, comparators and `AND` / `ASC` / `DESC` are case-insensitive; keys and
//!   values are kept exactly as written (minus quotes);
//! - errors point at the first byte of the offending token.

use super::scan::Cursor;
use super::{
    Attr, Clause, Comparator, DatasetField, Entity, Filter, FilterError, MAX_CLAUSES,
    MAX_FILTER_LEN, MAX_ORDER_BY, OrderBy, SearchKind, Value,
};

/// Parses the `filter` of `runs/search`. An empty or all-whitespace filter matches all runs.
pub fn parse_run_filter(s: &str) -> Result<Filter, FilterError> {
    parse_filter(s, SearchKind::Runs)
}

/// Parses the `filter` of `experiments/search`: attributes `name`, `experiment_id`,
/// `creation_time`, `last_update_time` and `tags.<key>`.
pub fn parse_experiment_filter(s: &str) -> Result<Filter, FilterError> {
    parse_filter(s, SearchKind::Experiments)
}

/// Parses the `filter` of `registered-models/search` or `model-versions/search` (`kind`
/// says which).
pub fn parse_registry_filter(s: &str, kind: SearchKind) -> Result<Filter, FilterError> {
    parse_filter(s, kind)
}

/// Parses the `filter` of `logged-models/search`: attributes `name`, `status`, `model_type`,
/// `source_run_id`, `creation_timestamp`, `last_updated_timestamp`, plus `metrics.<key>`
/// (numeric comparators), `params.<key>` and `tags.<key>`; string entities only take `=`
/// and `!=`.
pub fn parse_logged_model_filter(s: &str) -> Result<Filter, FilterError> {
    parse_filter(s, SearchKind::LoggedModels)
}

/// Parses the `order_by` entries of a search, each `<entity> [ASC|DESC]` (ascending by
/// default). Error positions are byte offsets into the offending entry, whose index the
/// message names.
pub fn parse_order_by(items: &[String], kind: SearchKind) -> Result<Vec<OrderBy>, FilterError> {
    if items.len() > MAX_ORDER_BY {
        return Err(FilterError::new(
            0,
            format!(
                "{} order_by entries given, the limit is {MAX_ORDER_BY}",
                items.len()
            ),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            order_by_entry(item, kind).map_err(|e| FilterError {
                position: e.position,
                message: format!("{} in order_by[{i}]", e.message),
            })
        })
        .collect()
}

fn check_len(s: &str, what: &str) -> Result<(), FilterError> {
    if s.len() > MAX_FILTER_LEN {
        return Err(FilterError::new(
            MAX_FILTER_LEN,
            format!(
                "{what} is {} bytes long, the limit is {MAX_FILTER_LEN}",
                s.len()
            ),
        ));
    }
    Ok(())
}

fn parse_filter(s: &str, kind: SearchKind) -> Result<Filter, FilterError> {
    check_len(s, "filter")?;
    let mut cur = Cursor::new(s);
    let mut clauses = Vec::new();
    cur.skip_ws();
    if cur.at_end() {
        return Ok(Filter { clauses });
    }
    loop {
        if clauses.len() == MAX_CLAUSES {
            return Err(cur.error(format!("too many clauses, the limit is {MAX_CLAUSES}")));
        }
        clauses.push(clause(&mut cur, kind)?);
        cur.skip_ws();
        if cur.at_end() {
            return Ok(Filter { clauses });
        }
        let found = cur.found();
        let pos = cur.pos();
        let word = cur.word();
        if word.eq_ignore_ascii_case("and") {
            cur.skip_ws();
        } else if word.eq_ignore_ascii_case("or") {
            return Err(FilterError::new(
                pos,
                "OR is not supported, clauses can only be combined with AND",
            ));
        } else {
            return Err(FilterError::new(
                pos,
                format!("expected AND, found {found}"),
            ));
        }
    }
}

fn clause(cur: &mut Cursor<'_>, kind: SearchKind) -> Result<Clause, FilterError> {
    let entity = entity(cur, kind)?;
    cur.skip_ws();
    let op_pos = cur.pos();
    let op = comparator(cur)?;
    check_op(&entity, op, op_pos)?;
    if kind == SearchKind::LoggedModels
        && !is_numeric(&entity)
        && !matches!(op, Comparator::Eq | Comparator::Ne)
    {
        return Err(FilterError::new(
            op_pos,
            format!(
                "comparator '{}' is not supported for {} in logged model searches, use = or !=",
                op.as_str(),
                describe(&entity)
            ),
        ));
    }
    cur.skip_ws();
    let value = value(cur, &entity, op)?;
    Ok(Clause { entity, op, value })
}

#[derive(Clone, Copy)]
enum Prefix {
    Metric,
    Param,
    Tag,
    Attribute,
    Dataset,
}

fn prefix(word: &str) -> Option<Prefix> {
    let lower = word.to_ascii_lowercase();
    Some(match lower.as_str() {
        "metric" | "metrics" => Prefix::Metric,
        "param" | "params" | "parameter" | "parameters" => Prefix::Param,
        "tag" | "tags" => Prefix::Tag,
        "attribute" | "attributes" | "attr" | "run" => Prefix::Attribute,
        "dataset" | "datasets" => Prefix::Dataset,
        _ => return None,
    })
}

/// Looks up an attribute name (case-insensitive) for the given search.
fn attribute(name: &str, kind: SearchKind) -> Option<Attr> {
    let lower = name.to_lowercase();
    Some(match (kind, lower.as_str()) {
        (SearchKind::Runs, "run_id") => Attr::RunId,
        (SearchKind::Runs, "run_name" | "run name") => Attr::RunName,
        (SearchKind::Runs, "status") => Attr::Status,
        (SearchKind::Runs, "user_id") => Attr::UserId,
        (SearchKind::Runs, "artifact_uri") => Attr::ArtifactUri,
        (SearchKind::Runs, "lifecycle_stage") => Attr::LifecycleStage,
        (SearchKind::Runs, "start_time" | "created") => Attr::StartTime,
        (SearchKind::Runs, "end_time") => Attr::EndTime,
        (SearchKind::Experiments, "experiment_id") => Attr::ExperimentId,
        (SearchKind::Experiments, "name") => Attr::Name,
        (SearchKind::Experiments, "creation_time") => Attr::CreationTime,
        (SearchKind::Experiments, "last_update_time") => Attr::LastUpdateTime,
        (SearchKind::RegisteredModels | SearchKind::ModelVersions, "name") => Attr::Name,
        (
            SearchKind::RegisteredModels | SearchKind::ModelVersions,
            "creation_timestamp" | "timestamp",
        ) => Attr::CreationTimestamp,
        (SearchKind::RegisteredModels | SearchKind::ModelVersions, "last_updated_timestamp") => {
            Attr::LastUpdatedTimestamp
        }
        (SearchKind::ModelVersions, "run_id") => Attr::RunId,
        (SearchKind::ModelVersions, "version_number") => Attr::VersionNumber,
        (SearchKind::ModelVersions, "source_path") => Attr::SourcePath,
        (SearchKind::LoggedModels, "name") => Attr::Name,
        (SearchKind::LoggedModels, "status") => Attr::Status,
        (SearchKind::LoggedModels, "model_type") => Attr::ModelType,
        (SearchKind::LoggedModels, "source_run_id") => Attr::SourceRunId,
        (SearchKind::LoggedModels, "creation_timestamp" | "creation_time") => Attr::CreationTime,
        (SearchKind::LoggedModels, "last_updated_timestamp" | "last_update_time") => {
            Attr::LastUpdateTime
        }
        _ => return None,
    })
}

fn attribute_names(kind: SearchKind) -> &'static str {
    match kind {
        SearchKind::Runs => {
            "run_id, run_name, status, user_id, artifact_uri, lifecycle_stage, start_time \
             or end_time"
        }
        SearchKind::Experiments => "name, experiment_id, creation_time or last_update_time",
        SearchKind::RegisteredModels => "name, creation_timestamp or last_updated_timestamp",
        SearchKind::ModelVersions => {
            "name, version_number, run_id, source_path, creation_timestamp or \
             last_updated_timestamp"
        }
        SearchKind::LoggedModels => {
            "name, status, model_type, source_run_id, creation_timestamp or \
             last_updated_timestamp"
        }
    }
}

fn unknown_attribute(pos: usize, name: &str, kind: SearchKind) -> FilterError {
    FilterError::new(
        pos,
        format!(
            "unknown attribute '{name}', expected {}",
            attribute_names(kind)
        ),
    )
}

/// Reads an entity: `prefix.key`, ``prefix.`key` ``, `prefix."key"`, a bare attribute name,
/// or a bare attribute name in backquotes or double quotes (MLflow's `` `run name` ``).
fn entity(cur: &mut Cursor<'_>, kind: SearchKind) -> Result<Entity, FilterError> {
    let start = cur.pos();
    if matches!(cur.peek(), Some('`' | '"')) {
        let name = match cur.quoted() {
            Some(r) => r?,
            None => return Err(cur.expected("an entity")),
        };
        return attribute(&name, kind)
            .map(Entity::Attribute)
            .ok_or_else(|| unknown_attribute(start, &name, kind));
    }
    let found = cur.found();
    let word = cur.word();
    if word.is_empty() {
        return Err(FilterError::new(
            start,
            format!("expected an entity, found {found}"),
        ));
    }
    let Some((head, tail)) = word.split_once('.') else {
        return attribute(word, kind).map(Entity::Attribute).ok_or_else(|| {
            let prefixes = match kind {
                SearchKind::Runs => "metrics., params., tags., attributes., datasets.",
                SearchKind::LoggedModels => "metrics., params., tags., attributes.",
                _ => "tags., attributes.",
            };
            FilterError::new(
                start,
                format!(
                    "unknown entity '{word}', expected a prefix ({prefixes}) or an attribute \
                     ({})",
                    attribute_names(kind)
                ),
            )
        });
    };
    let Some(prefix) = prefix(head) else {
        return Err(FilterError::new(
            start,
            format!("unknown entity prefix '{head}'"),
        ));
    };
    let key_pos = start + head.len() + 1;
    let key = if !tail.is_empty() {
        tail.to_string()
    } else if matches!(cur.peek(), Some('`' | '"')) {
        match cur.quoted() {
            Some(r) => r?,
            None => return Err(cur.expected("a key")),
        }
    } else {
        return Err(FilterError::new(
            key_pos,
            format!("expected a key after '{head}.', found {}", cur.found()),
        ));
    };
    if key.is_empty() {
        return Err(FilterError::new(
            key_pos,
            format!("empty key after '{head}.'"),
        ));
    }
    let not_here = |what: &str| {
        Err(FilterError::new(
            start,
            format!("{what} cannot be searched in {}", kind.plural()),
        ))
    };
    match (prefix, kind) {
        (Prefix::Tag, _) => Ok(Entity::Tag(key)),
        (Prefix::Attribute, _) => attribute(&key, kind)
            .map(Entity::Attribute)
            .ok_or_else(|| unknown_attribute(key_pos, &key, kind)),
        (Prefix::Metric, SearchKind::Runs) => Ok(Entity::Metric(key)),
        (Prefix::Param, SearchKind::Runs) => Ok(Entity::Param(key)),
        (Prefix::Dataset, SearchKind::Runs) => {
            let field = match key.to_ascii_lowercase().as_str() {
                "name" => DatasetField::Name,
                "digest" => DatasetField::Digest,
                "context" => DatasetField::Context,
                _ => {
                    return Err(FilterError::new(
                        key_pos,
                        format!("unknown dataset field '{key}', expected name, digest or context"),
                    ));
                }
            };
            Ok(Entity::Dataset(field))
        }
        (Prefix::Param, SearchKind::LoggedModels) => Ok(Entity::Param(key)),
        (Prefix::Metric, SearchKind::LoggedModels) => Ok(Entity::Metric(key)),
        (Prefix::Metric, _) => not_here("metrics"),
        (Prefix::Param, _) => not_here("params"),
        (Prefix::Dataset, _) => not_here("datasets"),
    }
}

fn comparator(cur: &mut Cursor<'_>) -> Result<Comparator, FilterError> {
    let pos = cur.pos();
    let found = cur.found();
    let sym = cur.take_while(|c| matches!(c, '=' | '!' | '<' | '>'));
    if !sym.is_empty() {
        return match sym {
            "=" => Ok(Comparator::Eq),
            "!=" => Ok(Comparator::Ne),
            ">" => Ok(Comparator::Gt),
            ">=" => Ok(Comparator::Ge),
            "<" => Ok(Comparator::Lt),
            "<=" => Ok(Comparator::Le),
            _ => Err(FilterError::new(pos, format!("unknown comparator '{sym}'"))),
        };
    }
    let word = cur.take_while(|c| c.is_ascii_alphabetic());
    match word.to_ascii_lowercase().as_str() {
        "like" => Ok(Comparator::Like),
        "ilike" => Ok(Comparator::ILike),
        "in" => Ok(Comparator::In),
        "not" => {
            cur.skip_ws();
            let found = cur.found();
            let pos = cur.pos();
            if cur
                .take_while(|c| c.is_ascii_alphabetic())
                .eq_ignore_ascii_case("in")
            {
                Ok(Comparator::NotIn)
            } else {
                Err(FilterError::new(
                    pos,
                    format!("expected IN after NOT, found {found}"),
                ))
            }
        }
        _ => Err(FilterError::new(
            pos,
            format!("expected a comparator, found {found}"),
        )),
    }
}

fn describe(entity: &Entity) -> String {
    match entity {
        Entity::Metric(k) => format!("metric '{k}'"),
        Entity::Param(k) => format!("param '{k}'"),
        Entity::Tag(k) => format!("tag '{k}'"),
        Entity::Attribute(a) => format!("attribute '{}'", a.name()),
        Entity::Dataset(f) => format!("dataset field '{}'", f.name()),
    }
}

fn is_numeric(entity: &Entity) -> bool {
    match entity {
        Entity::Metric(_) => true,
        Entity::Attribute(a) => a.is_numeric(),
        _ => false,
    }
}

/// Which comparators an entity takes, as in MLflow: numbers take the six ordering
/// comparators; params and tags `= != LIKE ILIKE`; string attributes the same plus
/// `IN` / `NOT IN` for ids only; dataset fields all string comparators.
pub(crate) fn check_op(entity: &Entity, op: Comparator, pos: usize) -> Result<(), FilterError> {
    use Comparator::*;
    let (ok, allowed) = if is_numeric(entity) {
        (
            matches!(op, Eq | Ne | Gt | Ge | Lt | Le),
            "=, !=, >, >=, <, <=",
        )
    } else {
        let lists = match entity {
            Entity::Attribute(a) => a.allows_list(),
            Entity::Dataset(_) => true,
            _ => false,
        };
        if lists {
            (
                matches!(op, Eq | Ne | Like | ILike | In | NotIn),
                "=, !=, LIKE, ILIKE, IN, NOT IN",
            )
        } else {
            (matches!(op, Eq | Ne | Like | ILike), "=, !=, LIKE, ILIKE")
        }
    };
    if ok {
        Ok(())
    } else {
        Err(FilterError::new(
            pos,
            format!(
                "comparator {} is not valid for {}, expected one of {allowed}",
                op.as_str(),
                describe(entity)
            ),
        ))
    }
}

fn value(cur: &mut Cursor<'_>, entity: &Entity, op: Comparator) -> Result<Value, FilterError> {
    if matches!(op, Comparator::In | Comparator::NotIn) {
        return list(cur).map(Value::List);
    }
    if is_numeric(entity) {
        return match cur.number() {
            Some(r) => r.map(Value::Number),
            None => Err(cur.expected(&format!("a number for {}", describe(entity)))),
        };
    }
    string(cur, &format!("a quoted string for {}", describe(entity))).map(Value::String)
}

fn string(cur: &mut Cursor<'_>, what: &str) -> Result<String, FilterError> {
    if matches!(cur.peek(), Some('\'' | '"'))
        && let Some(r) = cur.quoted()
    {
        return r;
    }
    Err(cur.expected(what))
}

fn list(cur: &mut Cursor<'_>) -> Result<Vec<String>, FilterError> {
    if !cur.eat('(') {
        return Err(cur.expected("'(' starting a list of quoted strings"));
    }
    cur.skip_ws();
    if cur.peek() == Some(')') {
        return Err(cur.error("empty list, IN and NOT IN need at least one value"));
    }
    let mut items = Vec::new();
    loop {
        cur.skip_ws();
        items.push(string(cur, "a quoted string")?);
        cur.skip_ws();
        if cur.eat(')') {
            return Ok(items);
        }
        if !cur.eat(',') {
            return Err(cur.expected("',' or ')'"));
        }
    }
}

fn order_by_entry(s: &str, kind: SearchKind) -> Result<OrderBy, FilterError> {
    check_len(s, "order_by entry")?;
    let mut cur = Cursor::new(s);
    cur.skip_ws();
    if cur.at_end() {
        return Err(cur.error("empty order_by entry"));
    }
    let start = cur.pos();
    let entity = entity(&mut cur, kind)?;
    match (&entity, kind) {
        (Entity::Dataset(_), _) => {
            return Err(FilterError::new(start, "cannot order by a dataset field"));
        }
        (Entity::Tag(_) | Entity::Param(_), SearchKind::LoggedModels) => {
            return Err(FilterError::new(
                start,
                format!(
                    "logged models can only be ordered by {}",
                    attribute_names(kind)
                ),
            ));
        }
        (Entity::Tag(_), kind) if kind != SearchKind::Runs => {
            return Err(FilterError::new(
                start,
                format!(
                    "{} can only be ordered by {}",
                    kind.plural(),
                    attribute_names(kind)
                ),
            ));
        }
        _ => {}
    }
    cur.skip_ws();
    let mut ascending = true;
    if !cur.at_end() {
        let found = cur.found();
        let pos = cur.pos();
        let word = cur.word();
        if word.eq_ignore_ascii_case("desc") {
            ascending = false;
        } else if !word.eq_ignore_ascii_case("asc") {
            return Err(FilterError::new(
                pos,
                format!("expected ASC or DESC, found {found}"),
            ));
        }
        cur.skip_ws();
        if !cur.at_end() {
            return Err(cur.expected("end of the order_by entry"));
        }
    }
    Ok(OrderBy { entity, ascending })
}
