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
//!   dropping the future) removes its staging file: the writer thread owns the file and
//!   deletes it unless it was told the body is complete;
//! - no read, write or delete follows a symbolic link below the root: each component of the
//!   key is checked with `symlink_metadata` first (and after directories are created), and a
//!   file that is opened for reading must be the same inode that was checked;
//! - the root itself is canonicalized once, when the store is opened;
//! - memory per transfer is bounded: uploads hold at most `WRITE_QUEUE + 2` blocks of
//!   `WRITE_BLOCK` bytes, downloads at most `READ_QUEUE + 1` chunks of `READ_CHUNK` bytes.

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
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Name of the directory, directly under the root, that holds uploads in progress.
pub(crate) const STAGING_DIR: &str = ".staging";
/// Bytes accumulated before each `write` of an upload.
const WRITE_BLOCK: usize = 2 * 1024 * 1024;
/// Blocks queued between the receiving task and the writer thread.
const WRITE_QUEUE: usize = 2;
/// Bytes per chunk of a download.
const READ_CHUNK: usize = 1024 * 1024;
/// Bytes written between two background syncs of an upload.
const EARLY_SYNC_EVERY: usize = 16 * 1024 * 1024;
/// Chunks read ahead of the consumer of a download.
const READ_QUEUE: usize = 2;

/// A store rooted at one local directory.
#[derive(Debug)]
pub(crate) struct LocalStore {
    root: PathBuf,
    /// Names of the staging files of uploads in progress in this process.
    in_flight: Arc<Mutex<HashSet<String>>>,
}

/// A message from the receiving task to the writer thread of an upload.
enum WriteMsg {
    /// The next bytes of the body.
    Data(Bytes),
    /// The body is complete: sync and publish the file.
    Finish,
}

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
        let staging_dir = blocking({
            let target = target.clone();
            let store = self.clone_handle();
            move || {
                target.check_no_symlinks()?;
                store.staging_dir()
            }
        })
        .await?;

        let name = uuid::Uuid::new_v4().simple().to_string();
        let staging = StagingFile::register(staging_dir.join(&name), name, &self.in_flight);
        let (tx, rx) = mpsc::channel::<WriteMsg>(WRITE_QUEUE);
        let writer = tokio::task::spawn_blocking(move || write_and_publish(rx, staging, &target));

        let mut blocks = Blocks::counting(body, WRITE_BLOCK, max_bytes);
        let received: Result<()> = async {
            while let Some(block) = blocks.next_block().await? {
                if tx.send(WriteMsg::Data(block)).await.is_err() {
                    // The writer stopped early; its own error is reported below.
                    return Ok(());
                }
            }
            // A closed channel here also means the writer failed, reported below.
            let _ = tx.send(WriteMsg::Finish).await;
            Ok(())
        }
        .await;
        // Dropping the sender without `Finish` tells the writer to discard the staging file.
        drop(tx);
        let written = writer
            .await
            .map_err(|e| ArtifactError::Backend(format!("upload writer panicked: {e}")));
        received?;
        let sha256 = written??;
        let (size, _) = blocks.finish();
        Ok(StoredObject { size, sha256 })
    }

    pub(crate) async fn get_stream(
        &self,
        key: &ArtifactKey,
    ) -> Result<(u64, BoxStream<'static, Result<Bytes>>)> {
        let target = Target::new(&self.root, key)?;
        let (file, size) = blocking(move || target.open_for_read()).await?;
        let (tx, rx) = mpsc::channel::<Result<Bytes>>(READ_QUEUE);
        tokio::task::spawn_blocking(move || read_into(file, size, &tx));
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Ok((size, Box::pin(stream)))
    }

    pub(crate) async fn delete(&self, key: &ArtifactKey) -> Result<()> {
        let target = Target::new(&self.root, key)?;
        blocking(move || {
            target.check_no_symlinks()?;
            match fs::symlink_metadata(&target.path) {
                Ok(m) if m.is_dir() => Err(ArtifactError::NotFound {
                    key: target.key.clone(),
                }),
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
        fs::create_dir_all(parent)
            .map_err(|e| ArtifactError::io("cannot create artifact directory", &e))?;
        // Check again: a link planted while the directories were created must not be followed.
        self.check_no_symlinks()?;
        if fs::symlink_metadata(&self.path).is_ok_and(|m| m.is_dir()) {
            return Err(ArtifactError::Backend(format!(
                "a directory already exists at {}",
                self.key
            )));
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

/// The staging file of one upload; unregisters itself from the in-flight set on drop.
struct StagingFile {
    path: PathBuf,
    name: String,
    in_flight: Arc<Mutex<HashSet<String>>>,
}

impl StagingFile {
    fn register(path: PathBuf, name: String, in_flight: &Arc<Mutex<HashSet<String>>>) -> Self {
        if let Ok(mut set) = in_flight.lock() {
            set.insert(name.clone());
        }
        Self {
            path,
            name,
            in_flight: Arc::clone(in_flight),
        }
    }
}

impl Drop for StagingFile {
    fn drop(&mut self) {
        if let Ok(mut set) = self.in_flight.lock() {
            set.remove(&self.name);
        }
    }
}

/// The writer thread of an upload: writes blocks to the staging file until `Finish`, then
/// syncs and publishes it. Removes the staging file on every path that does not publish.
fn write_and_publish(
    rx: mpsc::Receiver<WriteMsg>,
    staging: StagingFile,
    target: &Target,
) -> Result<String> {
    let result = write_staged(rx, &staging.path)
        .and_then(|sha256| target.publish(&staging.path).map(|()| sha256));
    if result.is_err() {
        match fs::remove_file(&staging.path) {
            Ok(()) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => tracing::warn!(error = %e, "cannot remove staging file"),
        }
    }
    result
}

/// Writes the body to a new file at `path`, hashing it, and syncs it; returns the lowercase
/// hex sha256. Fails if the body is abandoned.
///
/// Hashing here rather than in the receiving task spreads the work over two cores: the
/// runtime receives and copies, this thread hashes and writes.
///
/// Past `EARLY_SYNC_EVERY` bytes, a helper thread syncs the file in the background each
/// time another `EARLY_SYNC_EVERY` bytes were written, so the disk works while the rest of
/// the body arrives and the final sync has little left to do.
fn write_staged(mut rx: mpsc::Receiver<WriteMsg>, path: &Path) -> Result<String> {
    let mut file =
        File::create_new(path).map_err(|e| ArtifactError::io("cannot create staging file", &e))?;
    let sha256 = std::thread::scope(|scope| {
        let mut hasher = Sha256::new();
        let mut early_sync: Option<std::sync::mpsc::SyncSender<()>> = None;
        let mut unsynced = 0usize;
        loop {
            match rx.blocking_recv() {
                Some(WriteMsg::Data(block)) => {
                    file.write_all(&block)
                        .map_err(|e| ArtifactError::io("cannot write artifact", &e))?;
                    hasher.update(&block);
                    unsynced += block.len();
                    if unsynced >= EARLY_SYNC_EVERY {
                        unsynced = 0;
                        if early_sync.is_none() {
                            early_sync = spawn_early_sync(scope, &file);
                        }
                        if let Some(tx) = &early_sync {
                            // A full queue means a sync is already pending; it covers these bytes.
                            let _ = tx.try_send(());
                        }
                    }
                }
                Some(WriteMsg::Finish) => break,
                // The upload was abandoned; the caller reports why.
                None => return Err(ArtifactError::Body("upload abandoned".into())),
            }
        }
        // Dropping the sender (here or on an early return) stops the syncer; the scope
        // waits for it.
        drop(early_sync);
        Ok(hex::encode(hasher.finalize()))
    })?;
    file.sync_data()
        .map_err(|e| ArtifactError::io("cannot sync artifact", &e))?;
    Ok(sha256)
}

/// Starts the background syncer of [`write_staged`]; `None` if the file cannot be shared,
/// in which case everything is synced at the end.
fn spawn_early_sync<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    file: &File,
) -> Option<std::sync::mpsc::SyncSender<()>> {
    let clone = file.try_clone().ok()?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
    scope.spawn(move || {
        while rx.recv().is_ok() {
            // Errors surface again, and are reported, at the final sync.
            let _ = clone.sync_data();
        }
    });
    Some(tx)
}

/// The reader thread of a download: sends `size` bytes of `file` in chunks.
fn read_into(mut file: File, size: u64, tx: &mpsc::Sender<Result<Bytes>>) {
    let mut left = size;
    while left > 0 {
        let want = usize::try_from(left).map_or(READ_CHUNK, |l| l.min(READ_CHUNK));
        let mut buf = BytesMut::zeroed(want);
        let item = match read_full(&mut file, &mut buf) {
            Ok(n) if n == want => {
                left -= want as u64;
                Ok(buf.freeze())
            }
            Ok(_) => Err(ArtifactError::Backend(
                "artifact file ended before its size".into(),
            )),
            Err(e) => Err(ArtifactError::io("cannot read artifact", &e)),
        };
        let failed = item.is_err();
        if tx.blocking_send(item).is_err() || failed {
            return;
        }
    }
}

/// Reads until `buf` is full or the file ends; returns the number of bytes read.
fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
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
