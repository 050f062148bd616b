//! Packing a folder into a deterministic `.tar.gz` and computing its id.
//!
//! Invariants:
//! - entries are written in byte order of their `/`-separated relative paths, with mtime 0,
//!   uid/gid 0 and no user or group names; files are `0644` or `0755` (executable by its
//!   owner on disk), directories `0755`, links `0777`;
//! - a file whose size changes while it is read fails the pack instead of writing a broken
//!   archive;
//! - limits are checked before anything is written.

use crate::paths::link_stays_inside;
use crate::{Limits, Result, SnapshotError, SnapshotId};
use flate2::Compression;
use ignore::WalkBuilder;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// What [`pack`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackSummary {
    /// The sha256 of the archive's bytes.
    pub id: SnapshotId,
    /// Size of the archive, compressed.
    pub archive_bytes: u64,
    /// Regular files packed.
    pub files: usize,
    /// Bytes of file contents, before compression.
    pub content_bytes: u64,
    /// Relative paths of every entry, in archive order.
    pub paths: Vec<String>,
}

enum Kind {
    Dir,
    File { size: u64, executable: bool },
    Link { target: String },
}

struct Item {
    rel: String,
    abs: PathBuf,
    kind: Kind,
}

/// Packs `dir` into `out` as a deterministic gzip-compressed tar (see the crate docs).
pub fn pack(dir: &Path, limits: &Limits, out: impl Write) -> Result<PackSummary> {
    let items = walk(dir, limits)?;
    let hashing = HashingWriter {
        inner: out,
        hasher: Sha256::new(),
        count: 0,
    };
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(hashing, Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut files = 0;
    let mut content_bytes = 0;
    for item in &items {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        let io_err = |e| SnapshotError::io(&item.abs, e);
        match &item.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                tar.append_data(&mut h, &item.rel, io::empty())
                    .map_err(io_err)?;
            }
            Kind::File { size, executable } => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(if *executable { 0o755 } else { 0o644 });
                h.set_size(*size);
                let f = File::open(&item.abs).map_err(io_err)?;
                let exact = ExactReader {
                    inner: f.take(*size),
                    left: *size,
                };
                tar.append_data(&mut h, &item.rel, exact).map_err(io_err)?;
                files += 1;
                content_bytes += size;
            }
            Kind::Link { target } => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                tar.append_link(&mut h, &item.rel, target).map_err(io_err)?;
            }
        }
    }
    let gz = tar.into_inner().map_err(|e| SnapshotError::io(dir, e))?;
    let hashing = gz.finish().map_err(|e| SnapshotError::io(dir, e))?;
    let mut hashing = hashing;
    hashing
        .inner
        .flush()
        .map_err(|e| SnapshotError::io(dir, e))?;
    let id = SnapshotId::parse(&hex::encode(hashing.hasher.finalize()))
        .expect("a sha256 in hex is 64 hex characters");
    Ok(PackSummary {
        id,
        archive_bytes: hashing.count,
        files,
        content_bytes,
        paths: items.into_iter().map(|i| i.rel).collect(),
    })
}

/// Every entry to pack, sorted, with the limits checked.
fn walk(dir: &Path, limits: &Limits) -> Result<Vec<Item>> {
    let meta = std::fs::metadata(dir).map_err(|e| SnapshotError::io(dir, e))?;
    if !meta.is_dir() {
        return Err(SnapshotError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let walker = WalkBuilder::new(dir)
        .standard_filters(false)
        .git_ignore(true)
        .require_git(false)
        .parents(false)
        .add_custom_ignore_filename(".amlignore")
        .follow_links(false)
        .filter_entry(|e| e.file_name() != ".git")
        .build();
    let mut items = Vec::new();
    let mut total: u64 = 0;
    for entry in walker {
        let entry = entry.map_err(|e| match e.io_error() {
            Some(io) if !matches!(e, ignore::Error::WithPath { .. }) => {
                SnapshotError::io(dir, io::Error::new(io.kind(), io.to_string()))
            }
            _ => SnapshotError::Ignore(e.to_string()),
        })?;
        if entry.depth() == 0 {
            continue;
        }
        let abs = entry.path().to_path_buf();
        let rel_path = abs.strip_prefix(dir).unwrap_or(&abs);
        let rel = rel_path
            .to_str()
            .ok_or_else(|| SnapshotError::NotUtf8 { path: abs.clone() })?
            .to_string();
        if rel.len() > limits.max_path_len {
            return Err(SnapshotError::Limit {
                limit: "max_path_len",
                max: limits.max_path_len as u64,
                actual: rel.len() as u64,
                path: rel,
            });
        }
        let meta = std::fs::symlink_metadata(&abs).map_err(|e| SnapshotError::io(&abs, e))?;
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            total += meta.len();
            if total > limits.max_total_bytes {
                return Err(SnapshotError::Limit {
                    limit: "max_total_bytes",
                    max: limits.max_total_bytes,
                    actual: total,
                    path: rel,
                });
            }
            Kind::File {
                size: meta.len(),
                executable: meta.permissions().mode() & 0o100 != 0,
            }
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&abs).map_err(|e| SnapshotError::io(&abs, e))?;
            let target = target
                .to_str()
                .ok_or_else(|| SnapshotError::NotUtf8 { path: abs.clone() })?
                .to_string();
            if !link_stays_inside(&rel, &target) {
                return Err(SnapshotError::LinkEscapes { path: rel, target });
            }
            Kind::Link { target }
        } else {
            return Err(SnapshotError::Unsupported {
                path: rel,
                what: "a fifo, socket or device",
            });
        };
        items.push(Item { rel, abs, kind });
        if items.len() > limits.max_entries {
            let path = items.last().map(|i| i.rel.clone()).unwrap_or_default();
            return Err(SnapshotError::Limit {
                limit: "max_entries",
                max: limits.max_entries as u64,
                actual: items.len() as u64,
                path,
            });
        }
    }
    items.sort_by(|a, b| a.rel.as_bytes().cmp(b.rel.as_bytes()));
    Ok(items)
}

/// Counts and hashes what passes through to `inner`.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Yields exactly the announced number of bytes, or fails (the file shrank meanwhile).
struct ExactReader<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file changed size while it was packed",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}
