//! Who acts: the principal a request or a job runs as, as the auth layer established it.
//!
//! The server's auth layer puts a [`Principal`] into each request's extensions (and a copy
//! into the response's, with the route's [`RouteAction`], so layers outside it, such as the
//! audit log, can see who was allowed or refused and for what). With `--auth none` every request acts as [`Principal::local`].

/// The kinds of identity mlplane knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    /// A person who signs in with a password or uses their own API token.
    User,
    /// An identity for automation (CI pipelines, schedulers); API tokens only.
    ServicePrincipal,
    /// A job's own short-lived credential, scoped to that job.
    Job,
    /// The single local person of a server started with `--auth none` on loopback.
    Local,
    /// No credentials were presented.
    Anonymous,
}

impl PrincipalKind {
    /// The lowercase name used in stored records and wire shapes.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::ServicePrincipal => "service_principal",
            PrincipalKind::Job => "job",
            PrincipalKind::Local => "local",
            PrincipalKind::Anonymous => "anonymous",
        }
    }

    /// The kind named by [`PrincipalKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "user" => PrincipalKind::User,
            "service_principal" => PrincipalKind::ServicePrincipal,
            "job" => PrincipalKind::Job,
            "local" => PrincipalKind::Local,
            "anonymous" => PrincipalKind::Anonymous,
            _ => return None,
        })
    }
}

/// An authenticated (or explicitly anonymous) caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub kind: PrincipalKind,
    /// Stable id of the identity (user id, service principal id, job name); never reused.
    pub id: String,
    /// Display name (user name, service principal name, `workspace/job`).
    pub name: String,
}

impl Principal {
    /// The caller of a server running with `--auth none`.
    pub fn local() -> Self {
        Principal {
            kind: PrincipalKind::Local,
            id: "local".to_owned(),
            name: "local".to_owned(),
        }
    }

    /// A caller that presented no credentials.
    pub fn anonymous() -> Self {
        Principal {
            kind: PrincipalKind::Anonymous,
            id: "anonymous".to_owned(),
            name: "anonymous".to_owned(),
        }
    }
}

/// The action string a route requires (`runs/write`, `models/read`, …), which the auth layer
/// puts into the request and response extensions next to the [`Principal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteAction(pub &'static str);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        for k in [
            PrincipalKind::User,
            PrincipalKind::ServicePrincipal,
            PrincipalKind::Job,
            PrincipalKind::Local,
            PrincipalKind::Anonymous,
        ] {
            assert_eq!(PrincipalKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(PrincipalKind::parse("root"), None);
    }
}
