//! The git state of a code folder: commit, branch, remote URL and whether the working tree
//! has uncommitted changes, read with the `git` binary.
//!
//! Invariants:
//! - a folder outside any repository, or a machine without `git`, gives `None`, never an
//!   error: git information is optional;
//! - a remote URL never carries credentials ([`strip_credentials`]);
//! - git runs with explicit arguments and no shell.

use std::path::Path;
use std::process::{Command, Stdio};

/// What git says about the repository holding a folder.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GitInfo {
    /// The checked-out commit (`None` in a repository without commits).
    pub commit: Option<String>,
    /// The branch (`None` for a detached HEAD).
    pub branch: Option<String>,
    /// The `origin` remote's URL without credentials.
    pub repo_url: Option<String>,
    /// Whether `git status` lists changes (tracked or untracked, ignored files excepted).
    pub dirty: bool,
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

/// The git state of the repository holding `dir`, or `None` when there is none.
pub fn git_info(dir: &Path) -> Option<GitInfo> {
    git(dir, &["rev-parse", "--show-toplevel"])?;
    let commit = git(dir, &["rev-parse", "--verify", "--quiet", "HEAD"]).filter(|s| !s.is_empty());
    let branch =
        git(dir, &["symbolic-ref", "--quiet", "--short", "HEAD"]).filter(|s| !s.is_empty());
    let repo_url = git(dir, &["config", "--get", "remote.origin.url"])
        .filter(|s| !s.is_empty())
        .map(|u| strip_credentials(&u));
    let dirty = git(dir, &["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
    Some(GitInfo {
        commit,
        branch,
        repo_url,
        dirty,
    })
}

/// `url` without a user or password: `https://user:token@host/x` becomes `https://host/x`.
/// scp-like remotes (`git@host:org/repo.git`) keep their user, which is not a secret.
pub fn strip_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_stripped_from_remote_urls() {
        for (url, want) in [
            (
                "https://user:ghp_secret@github.com/org/repo.git",
                "https://github.com/org/repo.git",
            ),
            ("https://token@host/a@b", "https://host/a@b"),
            ("ssh://git@host:22/org/repo", "ssh://host:22/org/repo"),
            ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
            ("https://github.com/org/repo", "https://github.com/org/repo"),
        ] {
            assert_eq!(strip_credentials(url), want, "{url}");
        }
    }

    #[test]
    fn a_folder_outside_any_repository_has_no_git_info() {
        let dir = tempfile::tempdir().expect("temp dir");
        // GIT_CEILING_DIRECTORIES is not needed: /tmp is not inside a repository.
        if git(dir.path(), &["--version"]).is_some() {
            assert_eq!(git_info(dir.path()), None);
        }
    }
}
