//! The action catalog: every string a route can require, what kind of check it needs, and
//! patterns over actions (`runs/*`, `*/read`, `*`) for custom roles and token scopes.
//!
//! Invariants:
//! - [`CATALOG`] lists every workspace action; a role, scope or route naming anything else
//!   is refused when it is created ([`ActionPattern::parse`]) or denied when checked;
//! - the markers `public`, `signed_in`, `tokens/self` and `users/admin` are not workspace
//!   actions and are never granted by a role.

/// Every workspace-scoped action, `resource/verb`.
pub const CATALOG: &[&str] = &[
    "workspaces/read",
    "experiments/read",
    "experiments/write",
    "runs/read",
    "runs/write",
    "artifacts/read",
    "artifacts/write",
    "jobs/read",
    "jobs/write",
    "jobs/cancel",
    "data/read",
    "data/write",
    "models/read",
    "models/write",
    "environments/read",
    "environments/write",
    "components/read",
    "components/write",
    "computes/read",
    "computes/write",
    "endpoints/read",
    "endpoints/write",
    "secrets/read",
    "secrets/write",
    "roles/read",
    "roles/write",
    "audit/read",
];

/// Needs no credentials (health, version, login).
pub const PUBLIC: &str = "public";
/// Needs any authenticated principal, nothing more (who am I, JSON schemas, listings that
/// filter themselves).
pub const SIGNED_IN: &str = "signed_in";
/// A principal acting on its own tokens.
pub const TOKENS_SELF: &str = "tokens/self";
/// Server administration: users, service principals, workspaces, custom roles, metrics.
pub const USERS_ADMIN: &str = "users/admin";

/// What kind of check an action string needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    Public,
    SignedIn,
    Admin,
    /// A grant of this action in the request's workspace.
    Workspace,
    /// Not an action mlplane knows: always denied.
    Unknown,
}

/// The check `action` needs.
pub fn requirement(action: &str) -> Requirement {
    match action {
        PUBLIC => Requirement::Public,
        SIGNED_IN | TOKENS_SELF => Requirement::SignedIn,
        USERS_ADMIN => Requirement::Admin,
        a if CATALOG.contains(&a) => Requirement::Workspace,
        _ => Requirement::Unknown,
    }
}

/// An action or a wildcard over actions: `runs/write`, `runs/*`, `*/read`, `*`.
/// `users/admin` may be named exactly (token scopes of administrators).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionPattern(String);

impl ActionPattern {
    /// Checks `s` against the catalog: an exact action, or a wildcard matching at least one.
    pub fn parse(s: &str) -> Result<Self, crate::RoleError> {
        let p = ActionPattern(s.to_owned());
        let known = s == USERS_ADMIN || CATALOG.iter().any(|a| p.matches(a));
        if s.is_empty() || !known {
            return Err(crate::RoleError::UnknownAction(s.to_owned()));
        }
        Ok(p)
    }

    /// The pattern's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `action` is covered. `*` covers every catalog action and `users/admin`.
    pub fn matches(&self, action: &str) -> bool {
        let p = self.0.as_str();
        if p == "*" || p == action {
            return true;
        }
        let (Some((pr, pv)), Some((ar, av))) = (p.split_once('/'), action.split_once('/')) else {
            return false;
        };
        (pr == "*" || pr == ar) && (pv == "*" || pv == av)
    }

    /// The catalog actions the pattern covers.
    pub fn expand(&self) -> impl Iterator<Item = &'static str> + '_ {
        CATALOG.iter().copied().filter(|a| self.matches(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_what_they_say() {
        let p = ActionPattern::parse("runs/*").unwrap();
        assert!(p.matches("runs/read") && p.matches("runs/write") && !p.matches("jobs/read"));
        let p = ActionPattern::parse("*/read").unwrap();
        assert!(p.matches("secrets/read") && !p.matches("runs/write"));
        assert_eq!(
            ActionPattern::parse("*").unwrap().expand().count(),
            CATALOG.len()
        );
    }

    #[test]
    fn parse_refuses_names_outside_the_catalog() {
        for bad in [
            "",
            "runs/explode",
            "nothing/*",
            "runs",
            "public",
            "signed_in",
        ] {
            assert!(ActionPattern::parse(bad).is_err(), "{bad}");
        }
        assert!(ActionPattern::parse("users/admin").is_ok());
    }

    #[test]
    fn requirements_of_markers_and_actions() {
        assert_eq!(requirement("public"), Requirement::Public);
        assert_eq!(requirement("tokens/self"), Requirement::SignedIn);
        assert_eq!(requirement("users/admin"), Requirement::Admin);
        assert_eq!(requirement("runs/write"), Requirement::Workspace);
        assert_eq!(requirement("runs/*"), Requirement::Unknown);
    }
}
