//! The write side of a local upload: aligned block memory, the staging file's two handles
//! (page cache and `O_DIRECT`), and the writer that writes and hashes blocks beside the
//! caller filling the next one.
//!
//! Invariants:
//! - bytes reach the file in order at increasing offsets, each exactly once, and the hash
//!   sees them in the same order;
//! - direct writes cover whole `DIRECT_ALIGN` units from `DIRECT_ALIGN`-aligned memory at
//!   `DIRECT_ALIGN`-aligned offsets only; everything else goes through the page cache, and
//!   a refused direct write is redone through it;
//! - [`BlockWriter::finish`] returns only after every block's write finished and one
//!   `fdatasync` of the file ran after them.

use super::{blocking, same_file};
use crate::error::{ArtifactError, Result};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io;
use std::path::Path;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Bytes accumulated before each write of an upload.
pub(super) const WRITE_BLOCK: usize = 2 * 1024 * 1024;
/// Largest single `write()` of an upload through the page cache.
const WRITE_SLICE: usize = 512 * 1024;
/// Largest single direct write of an upload.
const DIRECT_SLICE: usize = 2 * 1024 * 1024;
/// Alignment of memory, file offsets and lengths of direct writes: the logical block size
/// of common disks is 512 or 4096 bytes.
const DIRECT_ALIGN: usize = 4096;
/// Bytes written between two background syncs of an upload through the page cache.
const EARLY_SYNC_EVERY: usize = 16 * 1024 * 1024;

/// The staging file of one upload, open twice: for plain (page-cache) writes, and, where
/// the filesystem supports it, for direct writes that bypass the page cache.
pub(super) struct StagingFiles {
    pub(super) buffered: File,
    /// `O_DIRECT` handle of the same file; `None` where the filesystem refuses direct I/O
    /// (e.g. tmpfs), after the first refused write, or off Linux.
    pub(super) direct: Option<File>,
    /// Bytes written so far; the offset of the next block.
    pub(super) written: u64,
}

impl StagingFiles {
    /// Writes `block` at the end of what was written so far.
    ///
    /// Whole multiples of `DIRECT_ALIGN` go through the direct handle: the disk reads them
    /// straight from the block's memory, so no copy into the page cache is made and the
    /// final sync has only metadata (and an unaligned tail) left to write. The unaligned
    /// tail of the last block, and everything on filesystems without direct I/O, is written
    /// through the page cache. A direct write the filesystem refuses (`EINVAL`) is retried
    /// through the page cache, and the direct handle is dropped for the rest of the upload.
    fn write_block(&mut self, block: &[u8]) -> io::Result<()> {
        let aligned = if self.direct.is_some() {
            block.len() - block.len() % DIRECT_ALIGN
        } else {
            0
        };
        for slice in block[..aligned].chunks(DIRECT_SLICE) {
            let offset = self.written;
            let direct = self.direct.as_ref().map(|f| write_all_at(f, slice, offset));
            match direct {
                Some(Ok(())) => {}
                Some(Err(e)) if e.raw_os_error() == Some(EINVAL) => {
                    tracing::debug!(error = %e, "direct write refused; writing through the page cache");
                    self.direct = None;
                    write_all_at(&self.buffered, slice, offset)?;
                }
                Some(Err(e)) => return Err(e),
                None => write_all_at(&self.buffered, slice, offset)?,
            }
            self.written += slice.len() as u64;
        }
        // Several moderate writes: on some kernels/VMs a single multi-MiB write() is several
        // times slower than the same bytes in <= 1 MiB writes.
        for slice in block[aligned..].chunks(WRITE_SLICE) {
            write_all_at(&self.buffered, slice, self.written)?;
            self.written += slice.len() as u64;
        }
        Ok(())
    }

    /// Whether blocks still go through the page cache (and so leave dirty pages to sync).
    fn is_buffered(&self) -> bool {
        self.direct.is_none()
    }
}

#[cfg(unix)]
fn write_all_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(buf, offset)
}

#[cfg(not(unix))]
fn write_all_at(mut file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(buf)
}

#[cfg(target_os = "linux")]
const EINVAL: i32 = libc::EINVAL;
#[cfg(not(target_os = "linux"))]
const EINVAL: i32 = 22;

/// Opens the freshly created staging file at `path` a second time with `O_DIRECT`, if the
/// filesystem allows it and the path still names the same file as `created`.
#[cfg(target_os = "linux")]
pub(super) fn open_direct(path: &Path, created: &File) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let direct = fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT | libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    let same = match (created.metadata(), direct.metadata()) {
        (Ok(a), Ok(b)) => same_file(&a, &b),
        _ => false,
    };
    same.then_some(direct)
}

#[cfg(not(target_os = "linux"))]
pub(super) fn open_direct(_path: &Path, _created: &File) -> Option<File> {
    None
}

/// One block of an upload, in memory that starts on a `DIRECT_ALIGN` boundary (what
/// direct writes need), with room for `WRITE_BLOCK` bytes.
pub(super) struct AlignedBlock {
    mem: Vec<u8>,
    /// Offset of the first aligned byte in `mem`.
    start: usize,
    len: usize,
}

impl AlignedBlock {
    pub(super) fn new() -> Self {
        let mem = vec![0u8; WRITE_BLOCK + DIRECT_ALIGN];
        // Moving the Vec does not move its heap memory, so the offset stays aligned.
        let start = (DIRECT_ALIGN - mem.as_ptr() as usize % DIRECT_ALIGN) % DIRECT_ALIGN;
        Self { mem, start, len: 0 }
    }

    /// The unfilled part.
    pub(super) fn room(&mut self) -> &mut [u8] {
        &mut self.mem[self.start + self.len..self.start + WRITE_BLOCK]
    }

    /// Marks `n` more bytes of [`Self::room`] as filled.
    pub(super) fn filled(&mut self, n: usize) {
        self.len = (self.len + n).min(WRITE_BLOCK);
    }

    fn bytes(&self) -> &[u8] {
        &self.mem[self.start..self.start + self.len]
    }

    pub(super) fn is_full(&self) -> bool {
        self.len == WRITE_BLOCK
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn clear(&mut self) {
        self.len = 0;
    }
}

/// Writes blocks to the staging file and hashes them, on two blocking tasks per block that
/// run side by side, while the caller fills the next block. Blocks are written and hashed
/// strictly in order: the tasks of a block start only after those of the previous one
/// finished. Written blocks are handed back for reuse, so an upload cycles through two
/// buffers (no fresh memory is faulted in after the first two blocks).
///
/// When blocks go through the page cache, past every `EARLY_SYNC_EVERY` bytes it also
/// starts a background sync (if none is running), so the disk works while the rest of the
/// body arrives and the final sync has little left to do. Direct writes need none.
pub(super) struct BlockWriter {
    /// The files and hasher while no task holds them.
    idle: Option<(StagingFiles, Sha256)>,
    /// The tasks of the previous block; they hand the files, the block and the hasher back.
    busy: Option<(WriteTask, JoinHandle<Sha256>)>,
    early_sync: Option<JoinHandle<()>>,
    unsynced: usize,
}

type WriteTask = JoinHandle<io::Result<(StagingFiles, Arc<AlignedBlock>)>>;

impl BlockWriter {
    pub(super) fn new(files: StagingFiles) -> Self {
        Self {
            idle: Some((files, Sha256::new())),
            busy: None,
            early_sync: None,
            unsynced: 0,
        }
    }

    /// Waits for the previous block's tasks and takes back the files and hasher, and the
    /// previous block's memory.
    async fn take(&mut self) -> Result<(StagingFiles, Sha256, Option<AlignedBlock>)> {
        let panicked = |e: tokio::task::JoinError| {
            ArtifactError::Backend(format!("artifact writer panicked: {e}"))
        };
        match self.busy.take() {
            Some((write, hash)) => {
                let hasher = hash.await.map_err(panicked)?;
                let (files, block) = write
                    .await
                    .map_err(panicked)?
                    .map_err(|e| ArtifactError::io("cannot write artifact", &e))?;
                // Both tasks have returned, so this is the last handle to the block.
                Ok((files, hasher, Arc::into_inner(block)))
            }
            None => match self.idle.take() {
                Some((files, hasher)) => Ok((files, hasher, None)),
                None => Err(ArtifactError::Backend(
                    "artifact writer used after a failed write".into(),
                )),
            },
        }
    }

    /// Starts writing and hashing `block`; returns empty memory for the next block (the
    /// previous block's, or fresh memory for the second block).
    pub(super) async fn write(&mut self, block: AlignedBlock) -> Result<AlignedBlock> {
        let (mut files, mut hasher, spare) = self.take().await?;
        self.unsynced += block.len;
        if files.is_buffered()
            && self.unsynced >= EARLY_SYNC_EVERY
            && self.early_sync.as_ref().is_none_or(|t| t.is_finished())
        {
            self.unsynced = 0;
            if let Ok(shared) = files.buffered.try_clone() {
                self.early_sync = Some(tokio::task::spawn_blocking(move || {
                    // Errors surface again, and are reported, at the final sync.
                    let _ = shared.sync_data();
                }));
            }
        }
        let block = Arc::new(block);
        let for_hash = Arc::clone(&block);
        let hash = tokio::task::spawn_blocking(move || {
            hasher.update(for_hash.bytes());
            hasher
        });
        let write = tokio::task::spawn_blocking(move || {
            files.write_block(block.bytes())?;
            Ok((files, block))
        });
        self.busy = Some((write, hash));
        let mut spare = spare.unwrap_or_else(AlignedBlock::new);
        spare.clear();
        Ok(spare)
    }

    /// Waits for the last block, syncs the file and returns the lowercase hex sha256.
    pub(super) async fn finish(mut self) -> Result<String> {
        let (files, hasher, _) = self.take().await?;
        blocking(move || {
            // Data written through either handle belongs to the same inode; one sync covers
            // both, and the file's size and allocation.
            files
                .buffered
                .sync_data()
                .map_err(|e| ArtifactError::io("cannot sync artifact", &e))?;
            Ok(hex::encode(hasher.finalize()))
        })
        .await
    }
}
