//! Staging of multipart uploads (MLflow's proxy `mpu/create`, part `PUT`s, `mpu/complete`):
//! parts are streamed to files on local disk, then streamed, concatenated, into the
//! [`crate::ArtifactStore`] (local or S3) by the caller.
//!
//! Layout: `<dir>/<upload_id>/meta` (the owner and target written at create),
//! `<dir>/<upload_id>/part-<n>.<sha256>` (a complete, fsynced part, named by its etag) and
//! `<dir>/<upload_id>/.part-<n>-<nonce>` while a part is being written. Naming a part by its
//! hash means the bytes and the etag can never disagree, even when a client sends the same
//! part twice concurrently: complete picks the copy whose etag it was given.
//!
//! Invariants:
//! - an upload id is 32 lowercase hex characters from a random UUID; any other text is
//!   refused before the filesystem is touched, so an id never escapes `<dir>`;
//! - a part is visible only once complete: it is written to a temporary file, fsynced, then
//!   renamed to its final name; a failed or oversized part leaves nothing;
//! - parts are streamed in bounded blocks, never held whole in memory;
//! - the metadata file is opaque text chosen by the caller; this module only stores it.

use crate::error::{ArtifactError, Result};
use crate::intake::Blocks;
use bytes::Bytes;
use futures::Stream;
use futures::stream::BoxStream;
use std::fmt::Display;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Bytes written per block while staging a part, and read per chunk while concatenating.
const BLOCK: usize = 1 << 20;
const META: &str = "meta";

/// A staged part: its number, size and etag (lowercase hex sha256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedPart {
    pub number: u32,
    pub size: u64,
    pub etag: String,
}

/// The staging folder of multipart uploads; cheap to clone.
#[derive(Debug, Clone)]
pub struct PartStaging {
    dir: PathBuf,
}

impl PartStaging {
    /// Staging under `dir`, created on first use.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    /// Starts an upload with opaque `meta`; returns its id.
    pub async fn create(&self, meta: &str) -> Result<String> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = self.dir.join(&id);
        let meta = meta.to_string();
        blocking(move || {
            fs::create_dir_all(&dir).map_err(|e| ArtifactError::io("cannot create upload", &e))?;
            write_synced(&dir.join(META), meta.as_bytes())
        })
        .await?;
        Ok(id)
    }

    /// The upload's folder, or `NotFound` for an unknown or malformed id.
    fn upload_dir(&self, id: &str) -> Result<PathBuf> {
        let well_formed = id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let dir = self.dir.join(id);
        if well_formed && dir.join(META).is_file() {
            Ok(dir)
        } else {
            Err(ArtifactError::NotFound {
                key: format!("upload {}", id.escape_default()),
            })
        }
    }

    /// The metadata given at create.
    pub async fn meta(&self, id: &str) -> Result<String> {
        let path = self.upload_dir(id)?.join(META);
        blocking(move || {
            fs::read_to_string(&path).map_err(|e| ArtifactError::io("cannot read upload", &e))
        })
        .await
    }

    /// Streams one part to disk and returns it; earlier copies of the same number with other
    /// bytes are removed (best effort). More than `max_bytes` is `TooLarge` and leaves nothing.
    pub async fn put_part<S, E>(
        &self,
        id: &str,
        number: u32,
        body: S,
        max_bytes: u64,
    ) -> Result<StagedPart>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + Unpin,
        E: Display,
    {
        let dir = self.upload_dir(id)?;
        let tmp = dir.join(format!(".part-{number}-{}", uuid::Uuid::new_v4().simple()));
        let guard = TempFile(Some(tmp.clone()));
        let mut file = {
            let tmp = tmp.clone();
            blocking(move || {
                File::create_new(&tmp).map_err(|e| ArtifactError::io("cannot create part", &e))
            })
            .await?
        };
        let mut blocks = Blocks::hashing(body, BLOCK, max_bytes);
        while let Some(block) = blocks.next_block().await? {
            file = blocking(move || {
                file.write_all(&block)
                    .map_err(|e| ArtifactError::io("cannot write part", &e))?;
                Ok(file)
            })
            .await?;
        }
        let (size, sha) = blocks.finish();
        let etag = sha.unwrap_or_default();
        let name = part_name(number, &etag);
        blocking(move || {
            file.sync_all()
                .map_err(|e| ArtifactError::io("cannot sync part", &e))?;
            fs::rename(&tmp, dir.join(&name))
                .map_err(|e| ArtifactError::io("cannot publish part", &e))?;
            // Older copies of this part with other bytes are no longer wanted.
            let prefix = format!("part-{number}.");
            if let Ok(entries) = fs::read_dir(&dir) {
                for e in entries.flatten() {
                    let other = e.file_name();
                    let other = other.to_string_lossy();
                    if other.starts_with(&prefix) && other != name {
                        let _ = fs::remove_file(e.path());
                    }
                }
            }
            Ok(())
        })
        .await?;
        guard.disarm();
        Ok(StagedPart { number, size, etag })
    }

    /// The complete parts of an upload, by number (a number may appear with several etags
    /// while concurrent copies of it settle).
    pub async fn parts(&self, id: &str) -> Result<Vec<StagedPart>> {
        let dir = self.upload_dir(id)?;
        blocking(move || {
            let mut parts = Vec::new();
            let entries =
                fs::read_dir(&dir).map_err(|e| ArtifactError::io("cannot list upload", &e))?;
            for entry in entries {
                let entry = entry.map_err(|e| ArtifactError::io("cannot list upload", &e))?;
                let name = entry.file_name();
                let Some((number, etag)) = name
                    .to_str()
                    .and_then(|n| n.strip_prefix("part-"))
                    .and_then(|n| n.split_once('.'))
                    .and_then(|(n, e)| Some((n.parse::<u32>().ok()?, e.to_string())))
                else {
                    continue;
                };
                let size = entry
                    .metadata()
                    .map_err(|e| ArtifactError::io("cannot stat part", &e))?
                    .len();
                parts.push(StagedPart { number, size, etag });
            }
            parts.sort_by(|a, b| (a.number, &a.etag).cmp(&(b.number, &b.etag)));
            Ok(parts)
        })
        .await
    }

    /// The bytes of the given parts (number and etag, as [`Self::parts`] lists them), in that
    /// order, read in bounded chunks.
    pub fn concat(
        &self,
        id: &str,
        parts: Vec<(u32, String)>,
    ) -> Result<BoxStream<'static, Result<Bytes>>> {
        let dir = self.upload_dir(id)?;
        let names: Vec<String> = parts.iter().map(|(n, e)| part_name(*n, e)).collect();
        let state = (dir, names.into_iter(), None::<File>);
        let stream = futures::stream::try_unfold(state, |(dir, mut numbers, file)| async move {
            let mut file = match file {
                Some(f) => f,
                None => match numbers.next() {
                    None => return Ok(None),
                    Some(n) => {
                        let path = dir.join(n);
                        blocking(move || {
                            File::open(&path).map_err(|e| ArtifactError::io("cannot open part", &e))
                        })
                        .await?
                    }
                },
            };
            loop {
                let (f, chunk) = blocking(move || {
                    let mut buf = vec![0u8; BLOCK];
                    let n = read_full(&mut file, &mut buf)
                        .map_err(|e| ArtifactError::io("cannot read part", &e))?;
                    buf.truncate(n);
                    Ok((file, buf))
                })
                .await?;
                if !chunk.is_empty() {
                    return Ok(Some((Bytes::from(chunk), (dir, numbers, Some(f)))));
                }
                match numbers.next() {
                    None => return Ok(None),
                    Some(n) => {
                        let path = dir.join(n);
                        file = blocking(move || {
                            File::open(&path).map_err(|e| ArtifactError::io("cannot open part", &e))
                        })
                        .await?;
                    }
                }
            }
        });
        Ok(Box::pin(stream))
    }

    /// Removes an upload and its parts.
    pub async fn remove(&self, id: &str) -> Result<()> {
        let dir = self.upload_dir(id)?;
        blocking(move || match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ArtifactError::io("cannot remove upload", &e)),
        })
        .await
    }

    /// Removes uploads not modified for `age`; returns how many.
    pub async fn sweep_older_than(&self, age: Duration) -> Result<u64> {
        let dir = self.dir.clone();
        blocking(move || {
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
                Err(e) => return Err(ArtifactError::io("cannot list uploads", &e)),
            };
            let now = SystemTime::now();
            let mut removed = 0;
            for entry in entries.flatten() {
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| now.duration_since(t).ok())
                    .is_some_and(|d| d >= age);
                if old && fs::remove_dir_all(entry.path()).is_ok() {
                    removed += 1;
                }
            }
            Ok(removed)
        })
        .await
    }
}

/// The file name of a complete part.
fn part_name(number: u32, etag: &str) -> String {
    format!("part-{number}.{etag}")
}

/// Deletes a temporary part file on drop unless disarmed (failed or cancelled uploads).
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

fn write_synced(path: &Path, data: &[u8]) -> Result<()> {
    let mut f =
        File::create(path).map_err(|e| ArtifactError::io("cannot write upload file", &e))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .map_err(|e| ArtifactError::io("cannot write upload file", &e))
}

/// Reads until `buf` is full or the file ends.
fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ArtifactError::Backend(format!("filesystem task panicked: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn body(data: &[u8]) -> impl Stream<Item = std::result::Result<Bytes, String>> + Unpin {
        let chunks: Vec<_> = data
            .chunks(7000)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures::stream::iter(chunks)
    }

    #[tokio::test]
    async fn parts_are_staged_listed_concatenated_and_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let staging = PartStaging::new(&dir.path().join("mpu"));
        let id = staging.create("owner").await.expect("create");
        assert_eq!(staging.meta(&id).await.expect("meta"), "owner");
        let a = vec![1u8; 3 * BLOCK + 5];
        let b = vec![2u8; 10];
        let pb = staging
            .put_part(&id, 2, body(&b), 1 << 30)
            .await
            .expect("b");
        let pa = staging
            .put_part(&id, 1, body(&a), 1 << 30)
            .await
            .expect("a");
        assert_eq!(pa.size, a.len() as u64);
        assert_eq!(pb.etag.len(), 64);
        let listed = staging.parts(&id).await.expect("parts");
        assert_eq!(listed, vec![pa.clone(), pb]);
        // The same part again with other bytes replaces it.
        let pa2 = staging
            .put_part(&id, 1, body(&a[1..]), 1 << 30)
            .await
            .expect("a2");
        let listed = staging.parts(&id).await.expect("parts");
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0], pa2);
        let a = a[1..].to_vec();
        let mut all = Vec::new();
        let order = listed.iter().map(|p| (p.number, p.etag.clone())).collect();
        let mut s = staging.concat(&id, order).expect("concat");
        while let Some(chunk) = s.next().await {
            all.extend_from_slice(&chunk.expect("chunk"));
        }
        assert_eq!(all.len(), a.len() + b.len());
        assert_eq!(&all[a.len()..], &b[..]);
        assert!(matches!(
            staging.put_part(&id, 3, body(&a), 100).await,
            Err(ArtifactError::TooLarge { .. })
        ));
        assert_eq!(staging.parts(&id).await.expect("parts").len(), 2);
        staging.remove(&id).await.expect("remove");
        assert!(matches!(
            staging.meta(&id).await,
            Err(ArtifactError::NotFound { .. })
        ));
        for bad in ["../../etc", "", &"A".repeat(32), &id[..31]] {
            assert!(matches!(
                staging.put_part(bad, 1, body(b"x"), 10).await,
                Err(ArtifactError::NotFound { .. })
            ));
        }
    }

    #[tokio::test]
    async fn sweeping_removes_only_uploads_older_than_the_age() {
        let dir = tempfile::tempdir().expect("tempdir");
        let staging = PartStaging::new(&dir.path().join("mpu"));
        assert_eq!(
            staging
                .sweep_older_than(Duration::ZERO)
                .await
                .expect("empty"),
            0
        );
        let id = staging.create("m").await.expect("create");
        let day = Duration::from_secs(24 * 60 * 60);
        assert_eq!(staging.sweep_older_than(day).await.expect("sweep"), 0);
        assert!(staging.meta(&id).await.is_ok());
        assert_eq!(
            staging
                .sweep_older_than(Duration::ZERO)
                .await
                .expect("sweep"),
            1
        );
        assert!(staging.meta(&id).await.is_err());
    }
}
