//! Checks that transfers stream with bounded buffers, using a counting global allocator.
//!
//! This lives in the unit-test binary on purpose: the allocator counts every allocation of
//! the process, and this binary runs only a few small tests next to this one.
//!
//! Invariants:
//! - a 100 MiB upload or download through the local store never has more than
//!   `LIMIT` bytes more allocated than before it started.

use crate::{ArtifactKey, ArtifactOwner, ArtifactStore};
use bytes::Bytes;
use futures::StreamExt;
use mlplane_core::{ArtifactPath, ExperimentId, RunId, WorkspaceName};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, plus a count of live bytes and its peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the same arguments; the counters do not
// change what is allocated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let grow = new_size - layout.size();
                let live = LIVE.fetch_add(grow, Ordering::Relaxed) + grow;
                PEAK.fetch_max(live, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: usize = 1024 * 1024;
/// Allowed growth of live heap bytes during a 100 MiB transfer.
const LIMIT: usize = 24 * MIB;

/// Runs `f` and returns how far the live heap grew above its starting point.
async fn peak_growth<F: std::future::Future<Output = ()>>(f: F) -> usize {
    let start = LIVE.load(Ordering::Relaxed);
    PEAK.store(start, Ordering::Relaxed);
    f.await;
    PEAK.load(Ordering::Relaxed).saturating_sub(start)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mib_transfer_uses_bounded_memory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ArtifactStore::local(dir.path()).expect("local store");
    let key = ArtifactKey {
        workspace: WorkspaceName::default_workspace(),
        experiment_id: ExperimentId(1),
        owner: ArtifactOwner::Run(RunId::generate()),
        path: ArtifactPath::parse("big.bin").expect("valid path"),
    };
    // One 64 KiB chunk, shared by reference count: the body itself allocates nothing.
    let chunk = Bytes::from(vec![0x5Au8; 64 * 1024]);
    let len = 100 * MIB;

    let up = peak_growth(async {
        let body =
            futures::stream::iter((0..len / chunk.len()).map(|_| Ok::<_, String>(chunk.clone())));
        let stored = store
            .put_stream(&key, body, u64::MAX)
            .await
            .expect("upload");
        assert_eq!(stored.size, len as u64);
    })
    .await;

    let down = peak_growth(async {
        let (size, mut chunks) = store.get_stream(&key).await.expect("download");
        let mut n = 0u64;
        while let Some(c) = chunks.next().await {
            n += c.expect("chunk").len() as u64;
        }
        assert_eq!(n, size);
    })
    .await;

    assert!(up < LIMIT, "upload grew the heap by {} MiB", up / MIB);
    assert!(down < LIMIT, "download grew the heap by {} MiB", down / MIB);
}
