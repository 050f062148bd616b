//! Reading archives: listing entries, reading one file and extracting into a folder, with
//! every entry checked first.
//!
//! Invariants:
//! - an entry is used only after [`check`] accepted it: a normalised relative path, not seen
//!   before in the archive, of an allowed type, within the limits;
//! - [`extract`] creates the target folder itself (it must not exist), creates files with
//!   `O_EXCL` (never through an existing name or link), refuses any parent that is not a
//!   real directory, writes at most the announced size of each file and creates links only
//!   after every file and directory.

use crate::paths::{check_entry_path, link_stays_inside};
use crate::{Limits, Result, SnapshotError};
use flate2::read::GzDecoder;
use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// What an archive entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    /// A symbolic link to a relative target inside the snapshot.
    Symlink {
        target: String,
    },
}

/// One checked archive entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotEntry {
    /// Normalised relative path, `/`-separated.
    pub path: String,
    pub kind: EntryKind,
    /// Bytes of a file; 0 for directories and links.
    pub size: u64,
    /// Whether a file is executable.
    pub executable: bool,
}

/// State shared by the checks of one archive.
struct Checker<'a> {
    limits: &'a Limits,
    seen: HashSet<String>,
    total: u64,
}

impl Checker<'_> {
    /// Checks one entry; `None` for entries that carry no file (PAX global headers).
    fn check<R: Read>(&mut self, entry: &tar::Entry<'_, R>) -> Result<Option<SnapshotEntry>> {
        let header = entry.header();
        let raw = entry.path_bytes();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let refuse = |reason: &str| SnapshotError::UnsafeEntry {
            path: shown.clone(),
            reason: reason.to_string(),
        };
        let ty = header.entry_type();
        if ty.is_pax_global_extensions() {
            return Ok(None);
        }
        let path = check_entry_path(&raw, self.limits)?;
        let size = header.size().map_err(|e| refuse(&e.to_string()))?;
        let mode = header.mode().unwrap_or(0o644);
        let kind = if ty.is_file() || ty.is_contiguous() {
            EntryKind::File
        } else if ty.is_dir() {
            EntryKind::Dir
        } else if ty.is_symlink() {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| refuse("a symbolic link without a target"))?;
            let target = std::str::from_utf8(&target)
                .map_err(|_| refuse("the link target is not valid UTF-8"))?
                .to_string();
            if !link_stays_inside(&path, &target) {
                return Err(refuse(&format!(
                    "symbolic link to {target:?} points outside the snapshot"
                )));
            }
            EntryKind::Symlink { target }
        } else if ty.is_hard_link() {
            return Err(refuse("hard links are not allowed"));
        } else {
            return Err(refuse(
                "only files, directories and symbolic links are allowed",
            ));
        };
        if !self.seen.insert(path.clone()) {
            return Err(refuse("the path appears twice in the archive"));
        }
        if self.seen.len() > self.limits.max_entries {
            return Err(SnapshotError::Limit {
                limit: "max_entries",
                max: self.limits.max_entries as u64,
                actual: self.seen.len() as u64,
                path,
            });
        }
        let size = if kind == EntryKind::File { size } else { 0 };
        self.total = self.total.saturating_add(size);
        if self.total > self.limits.max_total_bytes {
            return Err(SnapshotError::Limit {
                limit: "max_total_bytes",
                max: self.limits.max_total_bytes,
                actual: self.total,
                path,
            });
        }
        Ok(Some(SnapshotEntry {
            executable: kind == EntryKind::File && mode & 0o100 != 0,
            path,
            kind,
            size,
        }))
    }
}

/// The archive's bytes decompressed when they start with the gzip magic, else as they are.
fn decompressed<'a, R: Read + 'a>(reader: R) -> Result<Box<dyn Read + 'a>> {
    let mut buf = BufReader::new(reader);
    let head = buf
        .fill_buf()
        .map_err(|e| SnapshotError::Corrupt(e.to_string()))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(GzDecoder::new(buf)))
    } else {
        Ok(Box::new(buf))
    }
}

fn corrupt(e: io::Error) -> SnapshotError {
    SnapshotError::Corrupt(e.to_string())
}

/// Calls `each` with every checked entry of the archive in `reader`.
fn for_each_entry(
    reader: impl Read,
    limits: &Limits,
    mut each: impl FnMut(&SnapshotEntry, &mut tar::Entry<'_, Box<dyn Read + '_>>) -> Result<bool>,
) -> Result<()> {
    let mut archive = tar::Archive::new(decompressed(reader)?);
    let mut checker = Checker {
        limits,
        seen: HashSet::new(),
        total: 0,
    };
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        if let Some(checked) = checker.check(&entry)?
            && !each(&checked, &mut entry)?
        {
            return Ok(());
        }
    }
    Ok(())
}

/// Every entry of an archive, in archive order, each checked.
pub fn list(reader: impl Read, limits: &Limits) -> Result<Vec<SnapshotEntry>> {
    let mut out = Vec::new();
    for_each_entry(reader, limits, |e, _| {
        out.push(e.clone());
        Ok(true)
    })?;
    Ok(out)
}

/// Copies the file at `path` (normalised like entry paths) to `out` and returns its size, or
/// `None` if the archive holds no such file; entries before it are checked.
pub fn read_file(
    reader: impl Read,
    path: &str,
    limits: &Limits,
    out: &mut impl io::Write,
) -> Result<Option<u64>> {
    let wanted = check_entry_path(path.as_bytes(), limits)?;
    let mut found = None;
    for_each_entry(reader, limits, |e, entry| {
        if e.path != wanted {
            return Ok(true);
        }
        if e.kind == EntryKind::File {
            let n = io::copy(&mut entry.take(e.size), out).map_err(corrupt)?;
            found = Some(n);
        }
        Ok(false)
    })?;
    Ok(found)
}

/// Extracts the archive into `dest`, which must not exist yet (its parent must), and
/// returns the entries written.
pub fn extract(reader: impl Read, dest: &Path, limits: &Limits) -> Result<Vec<SnapshotEntry>> {
    fs::create_dir(dest).map_err(|e| SnapshotError::io(dest, e))?;
    let mut written = Vec::new();
    let mut links = Vec::new();
    for_each_entry(reader, limits, |e, entry| {
        match &e.kind {
            EntryKind::Dir => {
                real_dirs(dest, &e.path, true)?;
            }
            EntryKind::File => {
                real_dirs(dest, &e.path, false)?;
                let target = dest.join(&e.path);
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(if e.executable { 0o755 } else { 0o644 })
                    .open(&target)
                    .map_err(|err| SnapshotError::io(&target, err))?;
                let n = io::copy(&mut entry.take(e.size), &mut f).map_err(corrupt)?;
                if n != e.size {
                    return Err(SnapshotError::Corrupt(format!(
                        "{}: the archive ends inside the file",
                        e.path
                    )));
                }
                // The umask may have cleared bits; the executable bit is the snapshot's.
                let mode = if e.executable { 0o755 } else { 0o644 };
                f.set_permissions(fs::Permissions::from_mode(mode))
                    .map_err(|err| SnapshotError::io(&target, err))?;
            }
            EntryKind::Symlink { .. } => links.push(e.clone()),
        }
        written.push(e.clone());
        Ok(true)
    })?;
    for link in &links {
        if let EntryKind::Symlink { target } = &link.kind {
            real_dirs(dest, &link.path, false)?;
            let at = dest.join(&link.path);
            std::os::unix::fs::symlink(target, &at).map_err(|e| SnapshotError::io(&at, e))?;
        }
    }
    Ok(written)
}

/// Makes sure every directory above `rel` (and `rel` itself when `including`) is a real
/// directory under `dest`, creating missing ones; a link or file in the way is refused.
fn real_dirs(dest: &Path, rel: &str, including: bool) -> Result<()> {
    let parts: Vec<&str> = rel.split('/').collect();
    let upto = if including {
        parts.len()
    } else {
        parts.len() - 1
    };
    let mut at = dest.to_path_buf();
    for part in &parts[..upto] {
        at.push(part);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_dir() => {}
            Ok(_) => {
                return Err(SnapshotError::UnsafeEntry {
                    path: rel.to_string(),
                    reason: format!(
                        "{} is not a directory (a link or a file is in the way)",
                        at.strip_prefix(dest).unwrap_or(&at).display()
                    ),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&at).map_err(|e| SnapshotError::io(&at, e))?;
            }
            Err(e) => return Err(SnapshotError::io(&at, e)),
        }
    }
    Ok(())
}
