//! Built-in roles (Azure ML's Owner, Contributor, Reader, Data Scientist, Compute Operator)
//! and custom roles as checked lists of action patterns.
//!
//! Invariants:
//! - a built-in role's name can never be taken by a custom role;
//! - only Owner grants `roles/write`, so only an Owner (or an administrator) changes who
//!   holds which role in a workspace.

use crate::actions::{ActionPattern, CATALOG};

/// Why a role or an action list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    #[error("unknown action '{0}'")]
    UnknownAction(String),
    #[error("'{0}' is a built-in role")]
    Builtin(String),
    #[error("invalid role name '{0}': use 1-64 letters, digits, '-', '_' or spaces")]
    InvalidName(String),
    #[error("a custom role needs at least one action")]
    Empty,
}

/// The roles every server knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinRole {
    Owner,
    Contributor,
    Reader,
    DataScientist,
    ComputeOperator,
}

impl BuiltinRole {
    pub const ALL: [BuiltinRole; 5] = [
        BuiltinRole::Owner,
        BuiltinRole::Contributor,
        BuiltinRole::Reader,
        BuiltinRole::DataScientist,
        BuiltinRole::ComputeOperator,
    ];

    /// The role's name as users write it.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinRole::Owner => "Owner",
            BuiltinRole::Contributor => "Contributor",
            BuiltinRole::Reader => "Reader",
            BuiltinRole::DataScientist => "Data Scientist",
            BuiltinRole::ComputeOperator => "Compute Operator",
        }
    }

    /// The built-in role named `s` (case-insensitive; `-` and `_` count as spaces).
    pub fn parse(s: &str) -> Option<Self> {
        let norm: String = s
            .trim()
            .chars()
            .map(|c| {
                if c == '-' || c == '_' {
                    ' '
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        BuiltinRole::ALL
            .into_iter()
            .find(|r| r.name().to_ascii_lowercase() == norm)
    }

    /// The catalog actions the role grants in a workspace.
    pub fn actions(self) -> impl Iterator<Item = &'static str> {
        CATALOG.iter().copied().filter(move |a| self.grants(a))
    }

    fn grants(self, action: &str) -> bool {
        let (resource, verb) = action.split_once('/').unwrap_or((action, ""));
        let read = verb == "read";
        match self {
            BuiltinRole::Owner => true,
            BuiltinRole::Contributor => action != "roles/write",
            BuiltinRole::Reader => read && resource != "secrets",
            BuiltinRole::DataScientist => {
                (read && resource != "secrets")
                    || matches!(
                        resource,
                        "experiments"
                            | "runs"
                            | "artifacts"
                            | "jobs"
                            | "data"
                            | "models"
                            | "environments"
                            | "components"
                    )
            }
            BuiltinRole::ComputeOperator => {
                (read && resource != "secrets") || matches!(resource, "computes" | "endpoints")
            }
        }
    }
}

/// Checks a custom role's name and actions; returns the parsed patterns.
pub fn check_custom_role(name: &str, actions: &[String]) -> Result<Vec<ActionPattern>, RoleError> {
    let ok_name = !name.trim().is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ' '));
    if !ok_name {
        return Err(RoleError::InvalidName(name.to_owned()));
    }
    if BuiltinRole::parse(name).is_some() {
        return Err(RoleError::Builtin(name.to_owned()));
    }
    if actions.is_empty() {
        return Err(RoleError::Empty);
    }
    actions
        .iter()
        .map(|a| {
            if a == crate::actions::USERS_ADMIN {
                // Administration is a server-wide flag, not something a workspace role gives.
                return Err(RoleError::UnknownAction(a.clone()));
            }
            ActionPattern::parse(a)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(r: BuiltinRole, a: &str) -> bool {
        r.actions().any(|x| x == a)
    }

    #[test]
    fn builtin_roles_grant_what_azure_ml_roles_do() {
        use BuiltinRole::*;
        assert!(has(Owner, "roles/write"));
        assert!(!has(Contributor, "roles/write") && has(Contributor, "secrets/write"));
        assert!(has(Reader, "runs/read") && !has(Reader, "runs/write"));
        assert!(!has(Reader, "secrets/read"));
        assert!(has(DataScientist, "jobs/write") && has(DataScientist, "models/write"));
        assert!(!has(DataScientist, "computes/write") && !has(DataScientist, "endpoints/write"));
        assert!(!has(DataScientist, "roles/write"));
        assert!(has(ComputeOperator, "computes/write") && has(ComputeOperator, "endpoints/write"));
        assert!(!has(ComputeOperator, "runs/write"));
    }

    #[test]
    fn role_names_parse_loosely() {
        assert_eq!(
            BuiltinRole::parse("data-scientist"),
            Some(BuiltinRole::DataScientist)
        );
        assert_eq!(BuiltinRole::parse("OWNER"), Some(BuiltinRole::Owner));
        assert_eq!(BuiltinRole::parse("root"), None);
    }

    #[test]
    fn custom_roles_are_checked() {
        assert!(
            check_custom_role("run-logger", &["runs/*".into(), "experiments/read".into()]).is_ok()
        );
        assert_eq!(
            check_custom_role("Owner", &["runs/read".into()]),
            Err(RoleError::Builtin("Owner".into()))
        );
        assert!(matches!(
            check_custom_role("x", &["runs/fly".into()]),
            Err(RoleError::UnknownAction(_))
        ));
        assert!(check_custom_role("x", &["users/admin".into()]).is_err());
        assert_eq!(check_custom_role("x", &[]), Err(RoleError::Empty));
        assert!(check_custom_role("../x", &["runs/read".into()]).is_err());
    }
}
