//! MLflow search grammar: the `filter` and `order_by` arguments of `runs/search` and
//! `experiments/search`, parsed into a small AST that stores evaluate in memory or translate
//! to SQL.
//!
//! Grammar (keywords are case-insensitive):
//!
//! ```text
//! filter   := ws | clause (ws AND ws clause)*          -- no OR, no parentheses
//! clause   := entity ws comparator ws value
//! entity   := prefix '.' key | attribute
//! prefix   := metric(s) | param(s) | parameter(s) | tag(s) | attribute(s) | attr | run
//!           | dataset(s)
//! key      := word | '`' chars '`' | '"' chars '"'     -- a doubled quote stands for itself
//! word     := (alphanumeric | '_' | '.' | '-' | '/')+
//! op       := = | != | > | >= | < | <= | LIKE | ILIKE | IN | NOT IN
//! value    := number | string | '(' string (',' string)* ')'
//! string   := "'" chars "'" | '"' chars '"'            -- a doubled quote stands for itself
//! order_by := entity [ws (ASC | DESC)]
//! ```
//!
//! Invariants:
//! - parsing never panics and runs in time linear in the input length;
//! - inputs longer than [`MAX_FILTER_LEN`] bytes or with more than [`MAX_CLAUSES`] clauses
//!   are refused before any store sees them;
//! - every [`Clause`] in a parsed [`Filter`] has a comparator valid for its entity and a value
//!   of the shape that comparator needs (number, string or non-empty list);
//! - every error carries the byte offset into the input where parsing stopped;
//! - this module does no IO.

mod like;
mod parse;
mod scan;
#[cfg(test)]
mod tests;

pub use like::like_match;
pub use parse::{
    parse_experiment_filter, parse_logged_model_filter, parse_order_by, parse_registry_filter,
    parse_run_filter,
};

/// Longest filter or order_by entry accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 10_000;
/// Most clauses in one filter.
pub const MAX_CLAUSES: usize = 100;
/// Most order_by entries in one search.
pub const MAX_ORDER_BY: usize = 100;

/// Which search a filter or order_by belongs to; each accepts different entities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchKind {
    Runs,
    Experiments,
    /// `registered-models/search`: `name`, `tags.<key>`; order by name and timestamps.
    RegisteredModels,
    /// `model-versions/search`: `name`, `version_number`, `run_id`, `source_path`,
    /// `tags.<key>`; order by those attributes and timestamps.
    ModelVersions,
    /// MLflow 3 logged models: `name`, `status`, `model_type`, `source_run_id`,
    /// `creation_timestamp`, `last_updated_timestamp`, `params.<key>` and `tags.<key>`.
    LoggedModels,
}

impl SearchKind {
    /// What the search lists, for messages.
    pub fn plural(self) -> &'static str {
        match self {
            SearchKind::Runs => "runs",
            SearchKind::Experiments => "experiments",
            SearchKind::RegisteredModels => "registered models",
            SearchKind::ModelVersions => "model versions",
            SearchKind::LoggedModels => "logged models",
        }
    }
}

/// A parsed filter: the conjunction of its clauses. An empty filter matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub clauses: Vec<Clause>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }
}

/// One `<entity> <comparator> <value>` comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub entity: Entity,
    pub op: Comparator,
    pub value: Value,
}

/// What a clause or an order_by entry refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Entity {
    Metric(String),
    Param(String),
    Tag(String),
    Attribute(Attr),
    Dataset(DatasetField),
}

/// Built-in attributes of runs and experiments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attr {
    // Runs.
    RunId,
    RunName,
    Status,
    UserId,
    ArtifactUri,
    LifecycleStage,
    /// Also reached through MLflow's aliases `created` and `Created`.
    StartTime,
    EndTime,
    // Experiments.
    ExperimentId,
    Name,
    CreationTime,
    LastUpdateTime,
    // Registered models and model versions (`name` and `run_id` are shared).
    /// Also reached through `timestamp`.
    CreationTimestamp,
    LastUpdatedTimestamp,
    VersionNumber,
    SourcePath,
    // Logged models (also `Name`, `Status`, `CreationTime`, `LastUpdateTime`).
    ModelType,
    SourceRunId,
}

impl Attr {
    /// The canonical (MLflow) name of the attribute.
    pub fn name(self) -> &'static str {
        match self {
            Attr::RunId => "run_id",
            Attr::RunName => "run_name",
            Attr::Status => "status",
            Attr::UserId => "user_id",
            Attr::ArtifactUri => "artifact_uri",
            Attr::LifecycleStage => "lifecycle_stage",
            Attr::StartTime => "start_time",
            Attr::EndTime => "end_time",
            Attr::ExperimentId => "experiment_id",
            Attr::Name => "name",
            Attr::CreationTime => "creation_time",
            Attr::LastUpdateTime => "last_update_time",
            Attr::CreationTimestamp => "creation_timestamp",
            Attr::LastUpdatedTimestamp => "last_updated_timestamp",
            Attr::VersionNumber => "version_number",
            Attr::SourcePath => "source_path",
            Attr::ModelType => "model_type",
            Attr::SourceRunId => "source_run_id",
        }
    }

    /// Whether the attribute is a timestamp compared as a number.
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            Attr::StartTime
                | Attr::EndTime
                | Attr::CreationTime
                | Attr::LastUpdateTime
                | Attr::CreationTimestamp
                | Attr::LastUpdatedTimestamp
                | Attr::VersionNumber
        )
    }

    /// Whether `IN` / `NOT IN` lists are allowed on the attribute (ids only, as in MLflow).
    pub fn allows_list(self) -> bool {
        matches!(self, Attr::RunId | Attr::ExperimentId)
    }
}

/// The fields of a run's input datasets that a filter can compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatasetField {
    Name,
    Digest,
    Context,
}

impl DatasetField {
    pub fn name(self) -> &'static str {
        match self {
            DatasetField::Name => "name",
            DatasetField::Digest => "digest",
            DatasetField::Context => "context",
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Comparator {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Like,
    ILike,
    In,
    NotIn,
}

impl Comparator {
    /// The operator as written in a filter (keywords upper-case).
    pub fn as_str(self) -> &'static str {
        match self {
            Comparator::Eq => "=",
            Comparator::Ne => "!=",
            Comparator::Gt => ">",
            Comparator::Ge => ">=",
            Comparator::Lt => "<",
            Comparator::Le => "<=",
            Comparator::Like => "LIKE",
            Comparator::ILike => "ILIKE",
            Comparator::In => "IN",
            Comparator::NotIn => "NOT IN",
        }
    }
}

/// The right-hand side of a clause.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Always finite.
    Number(f64),
    String(String),
    /// Never empty; only with `IN` / `NOT IN`.
    List(Vec<String>),
}

/// One `order_by` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderBy {
    pub entity: Entity,
    pub ascending: bool,
}

/// Why a filter or order_by entry was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at position {position}: {message}")]
pub struct FilterError {
    /// Byte offset into the input (for order_by, into the entry) where the problem is.
    pub position: usize,
    pub message: String,
}

impl FilterError {
    pub(crate) fn new(position: usize, message: impl Into<String>) -> Self {
        FilterError {
            position,
            message: message.into(),
        }
    }
}
