//! Turns a client's upload stream into fixed-size blocks, counting (and optionally hashing)
//! on the way.
//!
//! Invariants:
//! - every byte the stream yields is counted (and, for [`Blocks::hashing`], hashed) exactly
//!   once, in order, before it is handed out in a block;
//! - the running size never passes `max_bytes` unnoticed: the chunk that crosses it makes
//!   [`Blocks::next_block`] fail with `TooLarge` before any of it is handed out;
//! - every block has exactly `block` bytes except the last, which has 1..=`block` bytes;
//! - [`Blocks::next_block`] is cancel-safe: its only await point is the body's `next()`,
//!   and all state lives in `self`, so a `select!` may drop it and call it again;
//! - at most one block plus one incoming chunk is held in memory (plus whatever the caller
//!   keeps of the blocks handed out).

use crate::error::{ArtifactError, Result};
use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use std::fmt::Display;

/// Cuts an upload stream into blocks of `block` bytes.
pub(crate) struct Blocks<S> {
    body: S,
    block: usize,
    buf: BytesMut,
    /// The unconsumed rest of the last chunk read from `body`.
    pending: Option<Bytes>,
    /// `None` when the caller hashes the blocks itself.
    hasher: Option<Sha256>,
    size: u64,
    max_bytes: u64,
    done: bool,
}

impl<S, E> Blocks<S>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: Display,
{
    /// Blocks that are counted and hashed here, chunk by chunk as they arrive.
    pub(crate) fn hashing(body: S, block: usize, max_bytes: u64) -> Self {
        Self::new(body, block, max_bytes, Some(Sha256::new()))
    }

    /// Blocks that are only counted; the caller hashes them (e.g. on a blocking thread).
    pub(crate) fn counting(body: S, block: usize, max_bytes: u64) -> Self {
        Self::new(body, block, max_bytes, None)
    }

    fn new(body: S, block: usize, max_bytes: u64, hasher: Option<Sha256>) -> Self {
        debug_assert!(block > 0, "block size is positive");
        Self {
            body,
            block,
            buf: BytesMut::new(),
            pending: None,
            hasher,
            size: 0,
            max_bytes,
            done: false,
        }
    }

    /// The next block, or `None` once the stream is exhausted.
    pub(crate) async fn next_block(&mut self) -> Result<Option<Bytes>> {
        loop {
            if let Some(mut chunk) = self.pending.take() {
                if self.buf.is_empty() && chunk.len() >= self.block {
                    // Zero-copy: a big chunk is cut into blocks directly.
                    let block = chunk.split_to(self.block);
                    if !chunk.is_empty() {
                        self.pending = Some(chunk);
                    }
                    return Ok(Some(block));
                }
                if self.buf.capacity() == 0 {
                    self.buf.reserve(self.block);
                }
                let room = self.block - self.buf.len();
                if chunk.len() >= room {
                    self.buf.extend_from_slice(&chunk[..room]);
                    chunk.advance(room);
                    if !chunk.is_empty() {
                        self.pending = Some(chunk);
                    }
                    return Ok(Some(self.take_buf()));
                }
                self.buf.extend_from_slice(&chunk);
            }
            if self.done {
                return Ok((!self.buf.is_empty()).then(|| self.take_buf()));
            }
            match self.body.next().await {
                None => self.done = true,
                Some(Err(e)) => return Err(ArtifactError::Body(e.to_string())),
                Some(Ok(chunk)) => {
                    self.size = self.size.saturating_add(chunk.len() as u64);
                    if self.size > self.max_bytes {
                        return Err(ArtifactError::TooLarge {
                            limit: self.max_bytes,
                        });
                    }
                    if let Some(h) = &mut self.hasher {
                        h.update(&chunk);
                    }
                    if !chunk.is_empty() {
                        self.pending = Some(chunk);
                    }
                }
            }
        }
    }

    /// Hands back the memory of a block that was consumed, to fill the next block without a
    /// fresh allocation (fresh memory costs a page fault per page when first written).
    pub(crate) fn recycle(&mut self, mut spare: BytesMut) {
        if self.buf.capacity() == 0 && spare.capacity() >= self.block {
            spare.clear();
            self.buf = spare;
        }
    }

    /// Size of everything read so far, and its lowercase hex sha256 if hashing.
    pub(crate) fn finish(self) -> (u64, Option<String>) {
        (self.size, self.hasher.map(|h| hex::encode(h.finalize())))
    }

    fn take_buf(&mut self) -> Bytes {
        std::mem::take(&mut self.buf).freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream;

    fn chunks(sizes: &[usize]) -> Vec<std::result::Result<Bytes, String>> {
        let mut n = 0u8;
        sizes
            .iter()
            .map(|&s| {
                let v: Vec<u8> = (0..s)
                    .map(|_| {
                        n = n.wrapping_add(1);
                        n
                    })
                    .collect();
                Ok(Bytes::from(v))
            })
            .collect()
    }

    async fn collect(sizes: &[usize], block: usize) -> (Vec<Bytes>, u64, String) {
        let mut b = Blocks::hashing(stream::iter(chunks(sizes)), block, u64::MAX);
        let mut out = Vec::new();
        while let Some(x) = b.next_block().await.expect("in-memory stream never fails") {
            out.push(x);
        }
        let (size, hash) = b.finish();
        (out, size, hash.expect("hashing blocks have a hash"))
    }

    #[tokio::test]
    async fn blocks_are_full_except_the_last_and_keep_every_byte() {
        for sizes in [
            &[][..],
            &[0, 0],
            &[3],
            &[10],
            &[7, 7, 7],
            &[25, 1],
            &[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
            &[9, 0, 31, 2],
        ] {
            let (blocks, size, hash) = collect(sizes, 10).await;
            let all: Vec<u8> = blocks.iter().flat_map(|b| b.to_vec()).collect();
            let expected: Vec<u8> = chunks(sizes)
                .into_iter()
                .flat_map(|c| c.expect("ok").to_vec())
                .collect();
            assert_eq!(all, expected, "{sizes:?}");
            assert_eq!(size, expected.len() as u64);
            assert_eq!(hash, hex::encode(Sha256::digest(&expected)));
            let n = blocks.len();
            for (i, b) in blocks.iter().enumerate() {
                assert!(!b.is_empty());
                if i + 1 < n {
                    assert_eq!(b.len(), 10, "{sizes:?}");
                }
            }
        }
    }

    #[tokio::test]
    async fn crossing_the_limit_fails_with_too_large() {
        let mut b = Blocks::counting(stream::iter(chunks(&[5, 5, 5])), 100, 12);
        let err = b.next_block().await.expect_err("limit is 12 bytes");
        assert!(
            matches!(err, ArtifactError::TooLarge { limit: 12 }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_body_exactly_at_the_limit_is_accepted() {
        let mut b = Blocks::counting(stream::iter(chunks(&[5, 5])), 100, 10);
        assert_eq!(
            b.next_block().await.expect("fits").map(|x| x.len()),
            Some(10)
        );
        assert!(b.next_block().await.expect("done").is_none());
    }
}
