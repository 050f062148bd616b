//! The local-filesystem backend: artifacts are plain files under one root directory.
//!
//! Layout: `<root>/<object key>` for finished objects and `<root>/.staging/<uuid>` for uploads
//! in progress. `.staging` never collides with a key, because keys start with a workspace
//! name, which matches `^[a-z0-9][a-z0-9-]*$`.
//!
//! Invariants:
//! - an object becomes visible at its key only by `rename` of a complete, fsynced staging
//!   file, so readers never see a partial object; replacing a key swaps the inode, so an open
//!   reader keeps reading the old, complete version;
//! - every upload that does not finish (body error, `TooLarge`, disk error, or the caller
//!   dropping the future) removes its staging file: a guard deletes it on drop unless it was
//!   published, and the file is created under the same lock, so a create racing with the
//!   drop is refused rather than leaked;
//! - no read, write or delete follows a symbolic link below the root: each component of the
//!   key is checked with `symlink_metadata` first (and after directories are created), and a
//!   file that is opened for reading must be the same inode that was checked;
//! - the root itself is canonicalized once, when the store is opened;
//! - memory per transfer is bounded: an upload holds two blocks of `WRITE_BLOCK` bytes (one
//!   being written, one being filled), a download two mapped windows of `READ_CHUNK` bytes
//!   (one handed out, one mapped ahead);
//! - downloads memory-map the published file window by window; this relies on published
//!   files never being truncated or rewritten in place, which holds for everything mlplane
//!   does (uploads rename a new inode over the key, deletes unlink). A process outside
//!   mlplane that truncates a stored file during its download makes the server fault
//!   (`SIGBUS`), so nothing but mlplane may write below the store root;
//! - no thread of the blocking pool waits on the network: each block is written, and each
//!   chunk read, by its own short blocking task, so slow clients cannot exhaust the pool.

use crate::error::{ArtifactError, Result};
use crate::intake::Blocks;
use crate::{ArtifactKey, StoredObject};
use bytes::{Bytes, BytesMut};
use futures::Stream;
use futures::stream::BoxStream;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fmt::Display;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::task::JoinHandle;

/// Name of the directory, directly under the root, that holds uploads in progress.
pub(crate) const STAGING_DIR: &str = ".staging";
/// Bytes accumulated before each `write` of an upload.
const WRITE_BLOCK: usize = 2 * 1024 * 1024;
/// Bytes per chunk (memory-mapped window) of a download; a multiple of the page size.
const READ_CHUNK: usize = 2 * 1024 * 1024;
/// Largest single `write()` of an upload.
const WRITE_SLICE: usize = 512 * 1024;
/// Bytes written between two background syncs of an upload.
const EARLY_SYNC_EVERY: usize = 16 * 1024 * 1024;

/// A store rooted at one local directory.
#[derive(Debug)]
pub(crate) struct LocalStore {
    root: PathBuf,
    /// Names of the staging files of uploads in progress in this process.
    in_flight: InFlight,
}

/// Names of the staging files of uploads in progress.
type InFlight = Arc<Mutex<HashSet<String>>>;

impl LocalStore {
    /// Opens (creating if missing) the directory at `dir`.
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        if dir.as_os_str().is_empty() {
            return Err(ArtifactError::Config("empty artifact directory".into()));
        }
        fs::create_dir_all(dir)
            .map_err(|e| ArtifactError::Config(format!("cannot create {}: {e}", dir.display())))?;
        let root = fs::canonicalize(dir)
            .map_err(|e| ArtifactError::Config(format!("cannot resolve {}: {e}", dir.display())))?;
        if !root.is_dir() {
            return Err(ArtifactError::Config(format!(
                "{} is not a directory",
                root.display()
            )));
        }
        let store = Self {
            root,
            in_flight: Arc::default(),
        };
        store.staging_dir()?;
        Ok(store)
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The staging directory, created if missing; refused if it is not a plain directory.
    fn staging_dir(&self) -> Result<PathBuf> {
        let dir = self.root.join(STAGING_DIR);
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(ArtifactError::UnsafePath {
                    reason: format!("{STAGING_DIR} is a symbolic link"),
                });
            }
            Ok(m) if m.is_dir() => return Ok(dir),
            Ok(_) => {
                return Err(ArtifactError::Backend(format!(
                    "{STAGING_DIR} in the artifact root is not a directory"
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(ArtifactError::io("cannot inspect staging directory", &e)),
        }
        match fs::create_dir(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(dir),
            Err(e) => Err(ArtifactError::io("cannot create staging directory", &e)),
        }
    }

    pub(crate) async fn put_stream<S, E>(
        &self,
        key: &ArtifactKey,
        body: S,
        max_bytes: u64,
    ) -> Result<StoredObject>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + Unpin,
        E: Display,
    {
        let target = Target::new(&self.root, key)?;
        let mut staging = Staging::register(&self.root.join(STAGING_DIR), &self.in_flight);
        let file = blocking({
            let target = target.clone();
            let store = self.clone_handle();
            let (path, name) = (staging.path.clone(), staging.name.clone());
            move || {
                target.check_no_symlinks()?;
                store.staging_dir()?;
                Staging::create(&path, &name, &store.in_flight)
            }
        })
        .await?;

        let mut writer = BlockWriter::new(file);
        let mut blocks = Blocks::counting(body, WRITE_BLOCK, max_bytes);
        while let Some(block) = blocks.next_block().await? {
            if let Some(spare) = writer.write(block).await? {
                blocks.recycle(spare);
            }
        }
        let sha256 = writer.finish().await?;
        let (size, _) = blocks.finish();
        let staged = staging.path.clone();
        blocking(move || target.publish(&staged)).await?;
        staging.published = true;
        Ok(StoredObject { size, sha256 })
    }

    pub(crate) async fn get_stream(
        &self,
        key: &ArtifactKey,
    ) -> Result<(u64, BoxStream<'static, Result<Bytes>>)> {
        let target = Target::new(&self.root, key)?;
        let (file, size) = blocking(move || target.open_for_read()).await?;
        Ok((size, Box::pin(ChunkReader::start(file, size).into_stream())))
    }

    pub(crate) async fn delete(&self, key: &ArtifactKey) -> Result<()> {
        let target = Target::new(&self.root, key)?;
        blocking(move || {
            target.check_no_symlinks()?;
            match fs::symlink_metadata(&target.path) {
                // No file at the key: nothing to delete.
                Ok(m) if m.is_dir() => Ok(()),
                Ok(_) => match fs::remove_file(&target.path) {
                    Ok(()) => Ok(()),
                    Err(e) if is_not_found(&e) => Ok(()),
                    Err(e) => Err(ArtifactError::io("cannot delete artifact", &e)),
                },
                Err(e) if is_not_found(&e) => Ok(()),
                Err(e) => Err(ArtifactError::io("cannot inspect artifact", &e)),
            }
        })
        .await
    }

    pub(crate) async fn check(&self) -> Result<()> {
        let store = self.clone_handle();
        blocking(move || {
            let dir = store.staging_dir()?;
            let probe = dir.join(format!("probe-{}", uuid::Uuid::new_v4().simple()));
            let written = File::create_new(&probe).and_then(|mut f| f.write_all(b"ok"));
            let removed = fs::remove_file(&probe);
            written.map_err(|e| ArtifactError::io("artifact root is not writable", &e))?;
            match removed {
                Err(e) if !is_not_found(&e) => {
                    Err(ArtifactError::io("cannot remove readiness probe", &e))
                }
                _ => Ok(()),
            }
        })
        .await
    }

    pub(crate) async fn sweep_incomplete(&self) -> Result<u64> {
        let store = self.clone_handle();
        blocking(move || {
            let dir = store.staging_dir()?;
            let entries =
                fs::read_dir(&dir).map_err(|e| ArtifactError::io("cannot list staging", &e))?;
            let mut removed = 0u64;
            for entry in entries {
                let entry = entry.map_err(|e| ArtifactError::io("cannot list staging", &e))?;
                let name = entry.file_name();
                let live = name.to_str().is_some_and(|n| store.is_in_flight(n));
                if live {
                    continue;
                }
                let path = entry.path();
                let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
                let result = if is_dir {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                match result {
                    Ok(()) => removed += 1,
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(ArtifactError::io("cannot remove staging leftover", &e)),
                }
            }
            Ok(removed)
        })
        .await
    }

    fn is_in_flight(&self, name: &str) -> bool {
        self.in_flight
            .lock()
            .map(|set| set.contains(name))
            .unwrap_or(true)
    }

    /// A handle sharing this store's root and in-flight registry, for blocking closures.
    fn clone_handle(&self) -> LocalStore {
        LocalStore {
            root: self.root.clone(),
            in_flight: Arc::clone(&self.in_flight),
        }
    }
}

/// The file of one key under the root.
#[derive(Debug, Clone)]
struct Target {
    root: PathBuf,
    /// Components of the key below the root, in order.
    components: Vec<String>,
    /// `root` joined with every component.
    path: PathBuf,
    /// The object key, for messages.
    key: String,
}

impl Target {
    fn new(root: &Path, key: &ArtifactKey) -> Result<Self> {
        let components = key.components()?;
        let mut path = root.to_path_buf();
        path.extend(&components);
        Ok(Self {
            root: root.to_path_buf(),
            path,
            key: components.join("/"),
            components,
        })
    }

    /// Fails with `UnsafePath` if an existing component of the key is a symbolic link.
    /// Components that do not exist yet are fine (a put creates them).
    fn check_no_symlinks(&self) -> Result<()> {
        let mut path = self.root.clone();
        for (i, component) in self.components.iter().enumerate() {
            path.push(component);
            match fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(ArtifactError::UnsafePath {
                        reason: format!("{} is a symbolic link", self.components[..=i].join("/")),
                    });
                }
                Ok(_) => {}
                Err(e) if is_not_found(&e) => return Ok(()),
                Err(e) => return Err(ArtifactError::io("cannot inspect artifact path", &e)),
            }
        }
        Ok(())
    }

    fn not_found(&self) -> ArtifactError {
        ArtifactError::NotFound {
            key: self.key.clone(),
        }
    }

    /// Opens the file for reading after the symlink checks; returns it with its size.
    fn open_for_read(&self) -> Result<(File, u64)> {
        self.check_no_symlinks()?;
        let checked = match fs::symlink_metadata(&self.path) {
            Ok(m) if m.is_file() => m,
            Ok(m) if m.is_dir() => return Err(self.not_found()),
            Ok(_) => {
                return Err(ArtifactError::UnsafePath {
                    reason: format!("{} is not a regular file", self.key),
                });
            }
            Err(e) if is_not_found(&e) => return Err(self.not_found()),
            Err(e) => return Err(ArtifactError::io("cannot inspect artifact", &e)),
        };
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if is_not_found(&e) => return Err(self.not_found()),
            Err(e) => return Err(ArtifactError::io("cannot open artifact", &e)),
        };
        let opened = file
            .metadata()
            .map_err(|e| ArtifactError::io("cannot inspect artifact", &e))?;
        if !same_file(&checked, &opened) {
            return Err(ArtifactError::UnsafePath {
                reason: format!("{} changed while it was being opened", self.key),
            });
        }
        Ok((file, opened.len()))
    }

    /// Moves a complete staging file to this key, creating parent directories.
    fn publish(&self, staging: &Path) -> Result<()> {
        self.check_no_symlinks()?;
        let parent = self
            .path
            .parent()
            .expect("a target path has the root and at least five components above it");
        // A file where the key needs a directory, or the reverse, is the caller's conflict
        // (e.g. `a/b` and `a/b/c` in the same run), not a storage failure.
        fs::create_dir_all(parent).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory => {
                ArtifactError::UnsafePath {
                    reason: format!("a parent of {} is a file", self.key),
                }
            }
            _ => ArtifactError::io("cannot create artifact directory", &e),
        })?;
        // Check again: a link planted while the directories were created must not be followed.
        self.check_no_symlinks()?;
        if fs::symlink_metadata(&self.path).is_ok_and(|m| m.is_dir()) {
            return Err(ArtifactError::UnsafePath {
                reason: format!("{} is a directory", self.key),
            });
        }
        fs::rename(staging, &self.path)
            .map_err(|e| ArtifactError::io("cannot move upload into place", &e))?;
        // Make the rename durable; the object is already complete and visible either way.
        if let Err(e) = File::open(parent).and_then(|d| d.sync_all()) {
            tracing::warn!(error = %e, key = %self.key, "cannot sync artifact directory");
        }
        Ok(())
    }
}

/// The staging file of one upload, registered as in flight until dropped.
///
/// Dropping it unpublished removes the file. [`Staging::create`] and the drop both hold the
/// registry lock, so a create that runs after the drop (the caller gave up while the create
/// task was queued) sees the name unregistered and refuses instead of leaking a file.
struct Staging {
    path: PathBuf,
    name: String,
    in_flight: InFlight,
    published: bool,
}

impl Staging {
    fn register(dir: &Path, in_flight: &InFlight) -> Self {
        let name = uuid::Uuid::new_v4().simple().to_string();
        lock(in_flight).insert(name.clone());
        Self {
            path: dir.join(&name),
            name,
            in_flight: Arc::clone(in_flight),
            published: false,
        }
    }

    /// Creates the staging file of a registered upload.
    fn create(path: &Path, name: &str, in_flight: &InFlight) -> Result<File> {
        let registered = lock(in_flight);
        if !registered.contains(name) {
            return Err(ArtifactError::Body("upload abandoned".into()));
        }
        File::create_new(path).map_err(|e| ArtifactError::io("cannot create staging file", &e))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let mut registered = lock(&self.in_flight);
        registered.remove(&self.name);
        if !self.published {
            match fs::remove_file(&self.path) {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => tracing::warn!(error = %e, "cannot remove staging file"),
            }
        }
    }
}

fn lock(in_flight: &InFlight) -> MutexGuard<'_, HashSet<String>> {
    // The set stays consistent even if a holder panicked: every update is a single call.
    in_flight
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Writes blocks to the staging file and hashes them, on two blocking tasks per block that
/// run side by side, while the caller fills the next block. Blocks are written and hashed
/// strictly in order: the tasks of a block start only after those of the previous one
/// finished. Written blocks are handed back for reuse, so an upload cycles through two
/// buffers.
///
/// Past every `EARLY_SYNC_EVERY` bytes it also starts a background sync (if none is
/// running), so the disk works while the rest of the body arrives and the final sync has
/// little left to do.
struct BlockWriter {
    /// The file and hasher while no task holds them.
    idle: Option<(File, Sha256)>,
    /// The tasks of the previous block; they hand the file, the block and the hasher back.
    busy: Option<(WriteTask, JoinHandle<Sha256>)>,
    early_sync: Option<JoinHandle<()>>,
    unsynced: usize,
}

type WriteTask = JoinHandle<io::Result<(File, Bytes)>>;

impl BlockWriter {
    fn new(file: File) -> Self {
        Self {
            idle: Some((file, Sha256::new())),
            busy: None,
            early_sync: None,
            unsynced: 0,
        }
    }

    /// Waits for the previous block's tasks and takes back the file and hasher, and the
    /// previous block's memory if nothing else holds it.
    async fn take(&mut self) -> Result<(File, Sha256, Option<BytesMut>)> {
        let panicked = |e: tokio::task::JoinError| {
            ArtifactError::Backend(format!("artifact writer panicked: {e}"))
        };
        match self.busy.take() {
            Some((write, hash)) => {
                let hasher = hash.await.map_err(panicked)?;
                let (file, block) = write
                    .await
                    .map_err(panicked)?
                    .map_err(|e| ArtifactError::io("cannot write artifact", &e))?;
                Ok((file, hasher, block.try_into_mut().ok()))
            }
            None => match self.idle.take() {
                Some((file, hasher)) => Ok((file, hasher, None)),
                None => Err(ArtifactError::Backend(
                    "artifact writer used after a failed write".into(),
                )),
            },
        }
    }

    /// Starts writing and hashing `block`; returns the memory of the previous block.
    async fn write(&mut self, block: Bytes) -> Result<Option<BytesMut>> {
        let (mut file, mut hasher, spare) = self.take().await?;
        self.unsynced += block.len();
        if self.unsynced >= EARLY_SYNC_EVERY
            && self.early_sync.as_ref().is_none_or(|t| t.is_finished())
        {
            self.unsynced = 0;
            if let Ok(shared) = file.try_clone() {
                self.early_sync = Some(tokio::task::spawn_blocking(move || {
                    // Errors surface again, and are reported, at the final sync.
                    let _ = shared.sync_data();
                }));
            }
        }
        let for_hash = block.clone();
        let hash = tokio::task::spawn_blocking(move || {
            hasher.update(&for_hash);
            hasher
        });
        let write = tokio::task::spawn_blocking(move || {
            // Several moderate writes: on some kernels/VMs a single multi-MiB write() is
            // several times slower than the same bytes in <= 1 MiB writes.
            for slice in block.chunks(WRITE_SLICE) {
                file.write_all(slice)?;
            }
            Ok((file, block))
        });
        self.busy = Some((write, hash));
        Ok(spare)
    }

    /// Waits for the last block, syncs the file and returns the lowercase hex sha256.
    async fn finish(mut self) -> Result<String> {
        let (file, hasher, _) = self.take().await?;
        blocking(move || {
            file.sync_data()
                .map_err(|e| ArtifactError::io("cannot sync artifact", &e))?;
            Ok(hex::encode(hasher.finalize()))
        })
        .await
    }
}

/// Hands out a file in chunks of `READ_CHUNK` bytes, each a read-only memory map of that
/// window of the file, prepared on a blocking task one chunk ahead of the consumer.
///
/// A mapped chunk goes to the socket without first being copied into a buffer (one copy
/// per byte, page cache to socket, instead of two), and mapping a window whose pages are
/// cached costs no fresh memory. Each window is unmapped when the last handle to its chunk
/// is dropped, so at most two windows per download are mapped.
struct ChunkReader {
    /// The mapping of the next chunk; `None` once everything was handed out or one failed.
    next: Option<JoinHandle<(File, io::Result<Bytes>)>>,
    /// Offset of the chunk after the one in `next`.
    offset: u64,
    /// Bytes left to map after the chunk in `next`.
    left: u64,
}

impl ChunkReader {
    fn start(file: File, size: u64) -> Self {
        let mut reader = Self {
            next: None,
            offset: 0,
            left: size,
        };
        reader.read_next(file);
        reader
    }

    fn read_next(&mut self, file: File) {
        if self.left == 0 {
            return;
        }
        let want = usize::try_from(self.left).map_or(READ_CHUNK, |l| l.min(READ_CHUNK));
        let offset = self.offset;
        self.offset += want as u64;
        self.left -= want as u64;
        self.next = Some(tokio::task::spawn_blocking(move || {
            let chunk = map_chunk(&file, offset, want);
            (file, chunk)
        }));
    }

    fn into_stream(self) -> impl Stream<Item = Result<Bytes>> + Send + 'static {
        futures::stream::unfold(self, |mut reader| async move {
            let task = reader.next.take()?;
            let item = match task.await {
                Ok((file, Ok(chunk))) => {
                    reader.read_next(file);
                    Ok(chunk)
                }
                Ok((_, Err(e))) => Err(ArtifactError::io("cannot read artifact", &e)),
                Err(e) => Err(ArtifactError::Backend(format!(
                    "artifact reader panicked: {e}"
                ))),
            };
            Some((item, reader))
        })
    }
}

/// Maps `len` (> 0) bytes of `file` at `offset` (a multiple of the page size) read-only,
/// with its pages populated up front (one call instead of a page fault per few pages).
fn map_chunk(file: &File, offset: u64, len: usize) -> io::Result<Bytes> {
    // SAFETY: a mapping is only unsound if the file changes size or content while it is
    // mapped. Published objects are never written in place: an upload goes to a new staging
    // file that is renamed over the key, and a delete unlinks; both leave the inode that is
    // mapped here intact until the mapping is gone. Only a process outside mlplane truncating
    // a file under the store root could make the mapping fault (see the module invariants).
    let map = unsafe {
        memmap2::MmapOptions::new()
            .offset(offset)
            .len(len)
            .populate()
            .map(file)?
    };
    Ok(Bytes::from_owner(map))
}

fn is_not_found(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

#[cfg(unix)]
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    b.is_file() && a.len() == b.len()
}

/// Runs blocking filesystem work off the async runtime.
async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ArtifactError::Backend(format!("filesystem task panicked: {e}")))?
}
