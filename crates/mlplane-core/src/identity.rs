//! Who acts: the principal a request or a job runs as, as the auth layer established it.
//!
//! The server's auth layer puts a [`Principal`] into each request's extensions (and a copy
//! into the response's, with the route's [`RouteAction`], so layers outside it, such as the
//! audit log, can see who was allowed or refused and for what). With `--auth none` every request acts as [`Principal::local`].
//!
//! A job's own API token also carries a [`JobScope`]: the run, experiment and assets the
//! job may touch, which the auth layer enforces on top of the token's actions.

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

/// What a job's API token may touch beyond reading its workspace's experiments and runs:
/// its own run and the runs nested under it, the assets its spec reads and the outputs it
/// declares. The executor computes it when it mints the token; the store keeps it with the
/// token; the auth layer enforces it on every request the token makes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobScope {
    /// The job's tracking run.
    pub run_id: String,
    /// The experiment of the job's run: nested runs may be created only there.
    pub experiment_id: String,
    /// Assets the job may read: its inputs, its environment and its components.
    pub reads: Vec<ScopedAsset>,
    /// Assets the job may write: its declared outputs.
    pub writes: Vec<ScopedAsset>,
}

/// An asset named in a [`JobScope`], by the resource name of its actions (`data`,
/// `models`, `environments`, `components`) and its asset name (every version).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ScopedAsset {
    pub kind: String,
    pub name: String,
}

impl ScopedAsset {
    pub fn new(kind: impl Into<String>, name: impl Into<String>) -> Self {
        ScopedAsset {
            kind: kind.into(),
            name: name.into(),
        }
    }
}

impl JobScope {
    /// The scope as lines of text (`run <id>`, `experiment <id>`, `read <kind>/<name>`,
    /// `write <kind>/<name>`), as stored; [`JobScope::decode`] reads it back.
    pub fn encode(&self) -> String {
        let mut out = format!("run {}\nexperiment {}\n", self.run_id, self.experiment_id);
        for (verb, list) in [("read", &self.reads), ("write", &self.writes)] {
            for a in list {
                out.push_str(&format!("{verb} {}/{}\n", a.kind, a.name));
            }
        }
        out
    }

    /// Reads [`JobScope::encode`]'s text; `None` if a line is not one it writes.
    pub fn decode(text: &str) -> Option<Self> {
        let mut s = JobScope::default();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (verb, rest) = line.split_once(' ')?;
            match verb {
                "run" => s.run_id = rest.to_owned(),
                "experiment" => s.experiment_id = rest.to_owned(),
                "read" | "write" => {
                    let (kind, name) = rest.split_once('/')?;
                    let a = ScopedAsset::new(kind, name);
                    if verb == "read" {
                        s.reads.push(a);
                    } else {
                        s.writes.push(a);
                    }
                }
                _ => return None,
            }
        }
        (!s.run_id.is_empty()).then_some(s)
    }
}

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

    #[test]
    fn a_job_scope_survives_its_text_form() {
        let s = JobScope {
            run_id: "abc".into(),
            experiment_id: "3".into(),
            reads: vec![
                ScopedAsset::new("data", "train"),
                ScopedAsset::new("environments", "py"),
            ],
            writes: vec![ScopedAsset::new("models", "clf")],
        };
        assert_eq!(JobScope::decode(&s.encode()), Some(s));
        assert_eq!(JobScope::decode("bogus line"), None);
        assert_eq!(JobScope::decode("read data"), None);
        assert_eq!(JobScope::decode(""), None);
    }
}
