//! Relative paths inside a snapshot: checking an archive entry's path and a link's target.
//!
//! Invariants:
//! - a checked path is non-empty, relative, `/`-separated, with only normal components
//!   (a leading or inner `.` is dropped; `..`, `/` and NUL are refused);
//! - a link target is accepted only if, resolved lexically from the link's directory, it
//!   never climbs above the snapshot root at any step.

use crate::{Limits, SnapshotError};

/// The normalised form of an archive entry's path, or why it is refused.
pub(crate) fn check_entry_path(raw: &[u8], limits: &Limits) -> Result<String, SnapshotError> {
    let shown = String::from_utf8_lossy(raw).into_owned();
    let refuse = |reason: &str| SnapshotError::UnsafeEntry {
        path: shown.clone(),
        reason: reason.to_string(),
    };
    let s = std::str::from_utf8(raw).map_err(|_| refuse("the path is not valid UTF-8"))?;
    if s.starts_with('/') {
        return Err(refuse("absolute paths are not allowed"));
    }
    if s.contains('\0') {
        return Err(refuse("the path contains a NUL byte"));
    }
    let mut parts = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(refuse("'..' components are not allowed")),
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err(refuse("the path is empty"));
    }
    let path = parts.join("/");
    if path.len() > limits.max_path_len {
        return Err(SnapshotError::Limit {
            limit: "max_path_len",
            max: limits.max_path_len as u64,
            actual: path.len() as u64,
            path,
        });
    }
    Ok(path)
}

/// Whether `target`, a link's target, stays inside the root when followed from the
/// directory of the link at `link` (a checked relative path).
pub(crate) fn link_stays_inside(link: &str, target: &str) -> bool {
    if target.is_empty() || target.starts_with('/') || target.contains('\0') {
        return false;
    }
    // Depth of the link's directory below the root.
    let mut depth = link.split('/').count() as i64 - 1;
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => depth += 1,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths_are_normalised_or_refused() {
        let l = Limits::DEFAULT;
        assert_eq!(check_entry_path(b"./a/./b", &l).expect("ok"), "a/b");
        assert_eq!(check_entry_path(b"dir/", &l).expect("ok"), "dir");
        for bad in [
            &b"/etc/passwd"[..],
            b"../x",
            b"a/../../x",
            b"a/..",
            b"",
            b".",
            b"\xff",
        ] {
            assert!(check_entry_path(bad, &l).is_err(), "{bad:?} accepted");
        }
        let long = "a".repeat(1025);
        match check_entry_path(long.as_bytes(), &l) {
            Err(SnapshotError::Limit { limit, .. }) => assert_eq!(limit, "max_path_len"),
            other => panic!("expected a limit error, got {other:?}"),
        }
    }

    #[test]
    fn link_targets_must_stay_inside_the_root() {
        assert!(link_stays_inside("a", "b"));
        assert!(link_stays_inside("d/a", "../b"));
        assert!(link_stays_inside("d/e/a", "../../b/c"));
        assert!(!link_stays_inside("a", "../b"));
        assert!(!link_stays_inside("d/a", "../../b"));
        assert!(!link_stays_inside("d/a", "/etc/passwd"));
        // Climbing out and back in is refused too: the outside may not exist.
        assert!(!link_stays_inside("a", "../root/b"));
        assert!(!link_stays_inside("a", ""));
    }
}
