//! Identities and authorization for mlplane, without HTTP, SQL or IO beyond randomness:
//! password hashing ([`password`]), API tokens and session secrets ([`token`]), the
//! `Authorization` header parser ([`header`]), the action catalog and roles ([`actions`],
//! [`roles`]), the one decision function [`authorize`] and its narrowing for job tokens
//! ([`job`]).
//!
//! Invariants:
//! - secrets (passwords, token secrets, session ids, CSRF tokens) are kept only as argon2id
//!   PHC strings or sha256 digests, and compared in constant time;
//! - an action string outside the catalog is never granted; a decision is `Allow` only if an
//!   explicit grant covers the action in the request's workspace.

pub mod actions;
pub mod header;
pub mod job;
pub mod password;
pub mod roles;
pub mod token;

pub use actions::{ActionPattern, Requirement, requirement};
pub use header::{Credentials, HeaderError, parse_authorization};
pub use job::{JobTarget, authorize_job};
pub use roles::{BuiltinRole, RoleError};
pub use token::{ApiToken, TokenError};

use std::collections::{BTreeMap, BTreeSet};

/// What a principal may do: everything if `admin`, else the actions its role bindings give
/// per workspace, narrowed by a token's restriction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// A server administrator: every action in every workspace plus `users/admin`.
    pub admin: bool,
    /// Actions granted per workspace (roles already expanded to their actions).
    pub workspaces: BTreeMap<String, BTreeSet<String>>,
    /// The narrowing of the token the request came with, if any.
    pub restriction: Option<Restriction>,
}

/// A token's narrowing of its owner's grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restriction {
    /// Only actions matching one of these (empty: none).
    pub scopes: Vec<ActionPattern>,
    /// Only this workspace, if set.
    pub workspace: Option<String>,
}

impl Grants {
    /// Every action in every workspace (`--auth none`).
    pub fn everything() -> Self {
        Grants {
            admin: true,
            ..Grants::default()
        }
    }

    /// Adds `actions` in `workspace`.
    pub fn grant(&mut self, workspace: &str, actions: impl IntoIterator<Item = String>) {
        self.workspaces
            .entry(workspace.to_owned())
            .or_default()
            .extend(actions);
    }

    /// The actions allowed in `workspace`, as [`authorize`] decides them, for clients that
    /// hide what a user cannot do.
    pub fn allowed_in(&self, workspace: &str) -> Vec<&'static str> {
        actions::CATALOG
            .iter()
            .copied()
            .filter(|a| authorize(self, Some(workspace), a) == Decision::Allow)
            .collect()
    }
}

/// The outcome of [`authorize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Refused, with the reason for logs (never shown with secrets).
    Deny(&'static str),
}

/// Whether `grants` allow `action` in `workspace` (`None` for routes outside workspaces).
///
/// `public` and `signed_in` requirements are the caller's business (authentication); here
/// `tokens/self` is allowed to every principal, `users/admin` only to administrators, and a
/// workspace action only with a grant in that workspace. A token restriction applies to all.
pub fn authorize(grants: &Grants, workspace: Option<&str>, action: &str) -> Decision {
    let requirement = requirement(action);
    if let Some(r) = &grants.restriction {
        if !matches!(requirement, Requirement::Public | Requirement::SignedIn)
            && !r.scopes.iter().any(|p| p.matches(action))
        {
            return Decision::Deny("the token's scopes do not include this action");
        }
        if let (Some(only), Some(ws)) = (&r.workspace, workspace)
            && only != ws
        {
            return Decision::Deny("the token is restricted to another workspace");
        }
        if r.workspace.is_some() && matches!(requirement, Requirement::Admin) {
            return Decision::Deny("a workspace-restricted token cannot administer the server");
        }
    }
    match requirement {
        Requirement::Public | Requirement::SignedIn => Decision::Allow,
        Requirement::Unknown => Decision::Deny("unknown action"),
        Requirement::Admin => {
            if grants.admin {
                Decision::Allow
            } else {
                Decision::Deny("only administrators may do this")
            }
        }
        Requirement::Workspace => {
            if grants.admin {
                return Decision::Allow;
            }
            let Some(ws) = workspace else {
                return Decision::Deny("no workspace");
            };
            match grants.workspaces.get(ws) {
                Some(set) if set.contains(action) => Decision::Allow,
                _ => Decision::Deny("no role in this workspace grants this action"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader_in(ws: &str) -> Grants {
        let mut g = Grants::default();
        g.grant(ws, BuiltinRole::Reader.actions().map(str::to_owned));
        g
    }

    #[test]
    fn a_reader_reads_but_does_not_write_and_only_in_its_workspace() {
        let g = reader_in("a");
        assert_eq!(authorize(&g, Some("a"), "runs/read"), Decision::Allow);
        assert!(matches!(
            authorize(&g, Some("a"), "runs/write"),
            Decision::Deny(_)
        ));
        assert!(matches!(
            authorize(&g, Some("b"), "runs/read"),
            Decision::Deny(_)
        ));
        assert!(matches!(
            authorize(&g, Some("a"), "secrets/read"),
            Decision::Deny(_)
        ));
    }

    #[test]
    fn admin_only_actions_need_the_admin_flag() {
        let g = reader_in("a");
        assert!(matches!(
            authorize(&g, None, "users/admin"),
            Decision::Deny(_)
        ));
        assert_eq!(
            authorize(&Grants::everything(), None, "users/admin"),
            Decision::Allow
        );
        assert_eq!(authorize(&g, None, "tokens/self"), Decision::Allow);
    }

    #[test]
    fn a_token_restriction_narrows_even_an_admin() {
        let mut g = Grants::everything();
        g.restriction = Some(Restriction {
            scopes: vec![ActionPattern::parse("runs/*").unwrap()],
            workspace: Some("a".into()),
        });
        assert_eq!(authorize(&g, Some("a"), "runs/write"), Decision::Allow);
        assert!(matches!(
            authorize(&g, Some("b"), "runs/write"),
            Decision::Deny(_)
        ));
        assert!(matches!(
            authorize(&g, Some("a"), "models/read"),
            Decision::Deny(_)
        ));
        assert!(matches!(
            authorize(&g, None, "users/admin"),
            Decision::Deny(_)
        ));
        assert_eq!(authorize(&g, None, "public"), Decision::Allow);
    }

    #[test]
    fn unknown_actions_are_never_allowed() {
        assert!(matches!(
            authorize(&Grants::everything(), Some("a"), "runs/explode"),
            Decision::Deny(_)
        ));
    }

    #[test]
    fn allowed_in_lists_catalog_actions() {
        let g = reader_in("a");
        let allowed = g.allowed_in("a");
        assert!(allowed.contains(&"runs/read"));
        assert!(!allowed.contains(&"runs/write"));
        assert!(g.allowed_in("b").is_empty());
    }
}
