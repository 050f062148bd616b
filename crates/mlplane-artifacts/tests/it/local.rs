//! The local-filesystem backend: round trips, atomicity, limits, symlink refusal, sweeping.
//!
//! Invariants:
//! - after any failed upload, the key is not found and `<root>/.staging` is empty;
//! - a symbolic link anywhere below the root makes get, put and delete fail with
//!   `UnsafePath`, and nothing outside the root is read or written.

use crate::support::{self, MIB, key};
use bytes::Bytes;
use futures::StreamExt;
use mlplane_artifacts::{ArtifactError, ArtifactStore};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn store() -> (tempfile::TempDir, ArtifactStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ArtifactStore::local(dir.path()).expect("open local store");
    (dir, store)
}

fn staging_entries(root: &Path) -> Vec<PathBuf> {
    fs::read_dir(root.join(".staging"))
        .expect("staging dir exists")
        .map(|e| e.expect("dir entry").path())
        .collect()
}

/// `<root>/default/7/<run>/artifacts`, created.
fn artifacts_dir(root: &Path) -> PathBuf {
    let dir = root
        .join("default")
        .join("7")
        .join("0123456789abcdef0123456789abcdef")
        .join("artifacts");
    fs::create_dir_all(&dir).expect("create artifacts dir");
    dir
}

fn assert_unsafe<T>(result: Result<T, ArtifactError>, what: &str) {
    match result {
        Err(ArtifactError::UnsafePath { reason }) => {
            assert!(
                reason.contains("symbolic link"),
                "{what}: reason {reason:?}"
            )
        }
        Err(e) => panic!("{what}: expected UnsafePath, got error {e:?}"),
        Ok(_) => panic!("{what}: expected UnsafePath, got success"),
    }
}

#[tokio::test]
async fn round_trip_reports_size_and_sha256_of_the_bytes() {
    let (dir, store) = store();
    let k = key("models/weird name (1)/ünïcode.bin");
    let stored = store
        .put_stream(&k, support::body(b"hello artifacts"), 1024)
        .await
        .expect("upload");
    assert_eq!(stored.size, 15);
    assert_eq!(stored.sha256, support::sha256_hex(b"hello artifacts"));
    assert_eq!(
        support::read_all(&store, &k).await.expect("read"),
        b"hello artifacts"
    );
    let on_disk = dir.path().join(k.object_key());
    assert_eq!(
        fs::read(on_disk).expect("file at the key layout"),
        b"hello artifacts"
    );
    assert!(staging_entries(dir.path()).is_empty());
}

#[tokio::test]
async fn empty_body_is_stored_as_an_empty_object() {
    let (_dir, store) = store();
    let k = key("empty.txt");
    let stored = store
        .put_stream(&k, futures::stream::empty::<Result<Bytes, String>>(), 0)
        .await
        .expect("upload");
    assert_eq!(stored.size, 0);
    assert_eq!(stored.sha256, support::sha256_hex(b""));
    assert!(
        support::read_all(&store, &k)
            .await
            .expect("read")
            .is_empty()
    );
}

#[tokio::test]
async fn large_upload_in_many_blocks_is_byte_identical() {
    let (_dir, store) = store();
    let k = key("big/data.bin");
    let len = 40 * MIB + 12_345;
    let stored = store
        .put_stream(&k, support::generated(len, 1), u64::MAX)
        .await
        .expect("upload");
    assert_eq!(stored, support::expected(len, 1));
    support::assert_generated(&store, &k, len, 1).await;
}

/// Sizes on either side of 4 KiB pages and of the 2 MiB write blocks all come back byte for
/// byte, with the right size and hash, and leave no staging file.
#[tokio::test]
async fn sizes_around_pages_and_blocks_round_trip() {
    let (dir, store) = store();
    for (i, len) in [
        1,
        4095,
        4096,
        4097,
        2 * MIB - 1,
        2 * MIB,
        2 * MIB + 1,
        2 * MIB + 4096,
        5 * MIB + 123,
    ]
    .into_iter()
    .enumerate()
    {
        let k = key(&format!("sizes/{len}.bin"));
        let seed = 100 + i as u64;
        let stored = store
            .put_stream(&k, support::generated(len, seed), u64::MAX)
            .await
            .unwrap_or_else(|e| panic!("upload of {len} bytes: {e}"));
        assert_eq!(stored, support::expected(len, seed), "{len} bytes");
        support::assert_generated(&store, &k, len, seed).await;
        let on_disk = fs::metadata(dir.path().join(k.object_key())).expect("stored file");
        assert_eq!(on_disk.len(), len as u64, "{len} bytes on disk");
    }
    assert!(staging_entries(dir.path()).is_empty());
}

/// A store on tmpfs (`/dev/shm`, where fsync is a no-op and direct I/O is refused) keeps
/// every guarantee. Runs where `/dev/shm` exists (Linux).
#[tokio::test]
async fn a_store_on_tmpfs_round_trips_and_leaves_nothing_on_failure() {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() {
        eprintln!("no /dev/shm here; nothing to check");
        return;
    }
    let dir = tempfile::tempdir_in(shm).expect("temp dir in /dev/shm");
    let store = ArtifactStore::local(dir.path()).expect("open store in /dev/shm");
    let k = key("shm/data.bin");
    let len = 4 * MIB + 777;
    let stored = store
        .put_stream(&k, support::generated(len, 9), u64::MAX)
        .await
        .expect("upload to tmpfs");
    assert_eq!(stored, support::expected(len, 9));
    support::assert_generated(&store, &k, len, 9).await;

    let failed = store
        .put_stream(
            &key("shm/broken.bin"),
            support::failing_after(3 * MIB, 9),
            u64::MAX,
        )
        .await;
    assert!(matches!(failed, Err(ArtifactError::Body(_))), "{failed:?}");
    assert!(matches!(
        store.get_stream(&key("shm/broken.bin")).await,
        Err(ArtifactError::NotFound { .. })
    ));
    assert!(staging_entries(dir.path()).is_empty());
}

#[tokio::test]
async fn downloads_come_in_chunks_of_at_most_two_mib() {
    let (_dir, store) = store();
    let k = key("chunks.bin");
    let len = 6 * MIB + 5;
    store
        .put_stream(&k, support::generated(len, 2), u64::MAX)
        .await
        .expect("upload");
    let (size, chunks) = store.get_stream(&k).await.expect("download");
    let sizes: Vec<usize> = chunks
        .map(|c| c.expect("chunk").len())
        .collect::<Vec<_>>()
        .await;
    assert_eq!(size, len as u64);
    assert_eq!(sizes, vec![2 * MIB, 2 * MIB, 2 * MIB, 5]);
    support::assert_generated(&store, &k, len, 2).await;
}

/// Downloads hand out memory-mapped windows of the file: a download in progress must keep
/// yielding the version it started with, whole, when the key is replaced and then deleted.
#[tokio::test]
async fn a_download_keeps_its_version_when_the_key_is_replaced_and_deleted() {
    let (dir, store) = store();
    let k = key("moving.bin");
    let len = 7 * MIB + 123;
    store
        .put_stream(&k, support::generated(len, 3), u64::MAX)
        .await
        .expect("upload");
    let (size, mut chunks) = store.get_stream(&k).await.expect("download");
    let first = chunks.next().await.expect("a first chunk").expect("chunk");
    store
        .put_stream(&k, support::generated(len, 4), u64::MAX)
        .await
        .expect("replace");
    let second = chunks.next().await.expect("a second chunk").expect("chunk");
    store.delete(&k).await.expect("delete");
    assert!(
        fs::read_dir(artifacts_dir(dir.path()))
            .expect("artifacts dir")
            .next()
            .is_none(),
        "the deleted object is gone from the tree"
    );
    let mut all = [first, second].concat();
    while let Some(chunk) = chunks.next().await {
        all.extend_from_slice(&chunk.expect("chunk after the delete"));
    }
    assert_eq!(size, len as u64);
    assert_eq!(all.len(), len);
    assert_eq!(support::sha256_hex(&all), support::expected(len, 3).sha256);
}

#[tokio::test]
async fn upload_replaces_an_existing_object() {
    let (_dir, store) = store();
    let k = key("replace.txt");
    store
        .put_stream(&k, support::body(b"old"), 10)
        .await
        .expect("first");
    store
        .put_stream(&k, support::body(b"newer"), 10)
        .await
        .expect("second");
    assert_eq!(support::read_all(&store, &k).await.expect("read"), b"newer");
}

#[tokio::test]
async fn upload_of_failing_stream_leaves_nothing_visible() {
    let (dir, store) = store();
    for (i, ok_len) in [0, 1000, 5 * MIB + 7].into_iter().enumerate() {
        let k = key(&format!("broken-{i}.bin"));
        let err = store
            .put_stream(&k, support::failing_after(ok_len, 3), u64::MAX)
            .await
            .expect_err("the body fails");
        match err {
            ArtifactError::Body(msg) => assert!(msg.contains("connection reset"), "{msg}"),
            other => panic!("expected a body error, got {other:?}"),
        }
        support::assert_not_found(&store, &k).await;
        assert!(staging_entries(dir.path()).is_empty(), "staging cleaned");
    }
}

#[tokio::test]
async fn failing_upload_keeps_the_previous_object() {
    let (_dir, store) = store();
    let k = key("keep.txt");
    store
        .put_stream(&k, support::body(b"good"), 10)
        .await
        .expect("first");
    store
        .put_stream(&k, support::failing_after(3 * MIB, 4), u64::MAX)
        .await
        .expect_err("the body fails");
    assert_eq!(support::read_all(&store, &k).await.expect("read"), b"good");
}

#[tokio::test]
async fn upload_beyond_max_bytes_is_too_large_and_leaves_nothing() {
    let (dir, store) = store();
    let k = key("too/large.bin");
    let err = store
        .put_stream(&k, support::generated(5 * MIB, 5), 3 * MIB as u64)
        .await
        .expect_err("over the limit");
    assert!(
        matches!(err, ArtifactError::TooLarge { limit } if limit == 3 * MIB as u64),
        "{err:?}"
    );
    support::assert_not_found(&store, &k).await;
    assert!(staging_entries(dir.path()).is_empty());
    // Exactly at the limit is fine.
    let stored = store
        .put_stream(&k, support::generated(MIB, 5), MIB as u64)
        .await
        .expect("at the limit");
    assert_eq!(stored.size, MIB as u64);
}

#[tokio::test]
async fn dropped_upload_removes_its_staging_file() {
    let (dir, store) = store();
    let k = key("dropped.bin");
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, String>>(4);
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
    .boxed();
    let upload = tokio::spawn({
        let store = store.clone();
        let k = k.clone();
        async move { store.put_stream(&k, body, u64::MAX).await }
    });
    for _ in 0..3 {
        tx.send(Ok(Bytes::from(vec![7u8; MIB])))
            .await
            .expect("send");
    }
    wait_until(|| staging_entries(dir.path()).len() == 1).await;
    upload.abort();
    let _ = upload.await;
    wait_until(|| staging_entries(dir.path()).is_empty()).await;
    support::assert_not_found(&store, &k).await;
}

#[tokio::test]
async fn sweep_removes_staging_leftovers_but_not_uploads_in_progress() {
    let (dir, store) = store();
    let staging = dir.path().join(".staging");
    fs::write(staging.join("leftover-1"), b"partial").expect("plant leftover");
    fs::write(staging.join("leftover-2"), b"partial").expect("plant leftover");
    fs::create_dir(staging.join("leftover-dir")).expect("plant leftover dir");

    // An upload in progress, paused after its first block was written.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, String>>(4);
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
    .boxed();
    let k = key("in-progress.bin");
    let upload = tokio::spawn({
        let store = store.clone();
        let k = k.clone();
        async move { store.put_stream(&k, body, u64::MAX).await }
    });
    tx.send(Ok(Bytes::from(vec![1u8; 3 * MIB])))
        .await
        .expect("send");
    wait_until(|| staging_entries(dir.path()).len() == 4).await;

    assert_eq!(store.sweep_incomplete().await.expect("sweep"), 3);
    assert_eq!(
        staging_entries(dir.path()).len(),
        1,
        "the live upload is kept"
    );

    tx.send(Ok(Bytes::from(vec![2u8; 10]))).await.expect("send");
    drop(tx);
    let stored = upload.await.expect("join").expect("upload completes");
    assert_eq!(stored.size, 3 * MIB as u64 + 10);
    assert!(staging_entries(dir.path()).is_empty());
    assert_eq!(store.sweep_incomplete().await.expect("sweep"), 0);
}

#[tokio::test]
async fn delete_removes_the_object_and_is_idempotent() {
    let (_dir, store) = store();
    let k = key("gone.txt");
    store
        .put_stream(&k, support::body(b"bye"), 10)
        .await
        .expect("upload");
    store.delete(&k).await.expect("delete");
    support::assert_not_found(&store, &k).await;
    store
        .delete(&k)
        .await
        .expect("deleting a missing object succeeds");
}

#[tokio::test]
async fn missing_object_is_not_found() {
    let (_dir, store) = store();
    support::assert_not_found(&store, &key("nope.txt")).await;
    support::assert_not_found(&store, &key("no/such/dir/file.txt")).await;
}

#[tokio::test]
async fn directory_and_file_prefix_are_not_found() {
    let (_dir, store) = store();
    store
        .put_stream(&key("dir/file.txt"), support::body(b"x"), 10)
        .await
        .expect("upload");
    support::assert_not_found(&store, &key("dir")).await;
    support::assert_not_found(&store, &key("dir/file.txt/below")).await;
}

#[tokio::test]
async fn file_and_directory_at_the_same_path_conflict_without_leftovers() {
    let (dir, store) = store();
    store
        .put_stream(&key("a/b"), support::body(b"file"), 10)
        .await
        .expect("file a/b");
    let below_file = store
        .put_stream(&key("a/b/c"), support::body(b"x"), 10)
        .await;
    assert!(
        matches!(below_file, Err(ArtifactError::UnsafePath { .. })),
        "{below_file:?}"
    );
    store
        .put_stream(&key("d/e/f"), support::body(b"deep"), 10)
        .await
        .expect("file d/e/f");
    let over_dir = store.put_stream(&key("d/e"), support::body(b"x"), 10).await;
    assert!(
        matches!(over_dir, Err(ArtifactError::UnsafePath { .. })),
        "{over_dir:?}"
    );
    assert!(staging_entries(dir.path()).is_empty());
    assert_eq!(
        support::read_all(&store, &key("a/b")).await.expect("kept"),
        b"file"
    );
}

#[tokio::test]
async fn root_path_is_refused() {
    let (_dir, store) = store();
    let mut k = key("x");
    k.path = mlplane_core::ArtifactPath::root();
    let err = store
        .put_stream(&k, support::body(b"x"), 10)
        .await
        .expect_err("root is a directory");
    assert!(matches!(err, ArtifactError::UnsafePath { .. }), "{err:?}");
}

#[cfg(unix)]
#[tokio::test]
async fn symlinked_directory_inside_the_root_is_refused() {
    let (dir, store) = store();
    let outside = tempfile::tempdir().expect("outside dir");
    fs::write(outside.path().join("secret.txt"), b"secret").expect("outside file");
    std::os::unix::fs::symlink(outside.path(), artifacts_dir(dir.path()).join("evil"))
        .expect("plant dir symlink");

    assert_unsafe(store.get_stream(&key("evil/secret.txt")).await, "get");
    assert_unsafe(
        store
            .put_stream(&key("evil/planted.txt"), support::body(b"x"), 10)
            .await,
        "put",
    );
    assert_unsafe(
        store
            .put_stream(&key("evil/new/deeper.txt"), support::body(b"x"), 10)
            .await,
        "put below",
    );
    assert_unsafe(store.delete(&key("evil/secret.txt")).await, "delete");
    let mut names: Vec<_> = fs::read_dir(outside.path())
        .expect("list outside")
        .map(|e| e.expect("entry").file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["secret.txt"],
        "nothing written outside the root"
    );
    assert_eq!(
        fs::read(outside.path().join("secret.txt")).expect("read"),
        b"secret"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn symlinked_file_inside_the_root_is_refused() {
    let (dir, store) = store();
    let outside = tempfile::tempdir().expect("outside dir");
    let secret = outside.path().join("secret.txt");
    fs::write(&secret, b"secret").expect("outside file");
    std::os::unix::fs::symlink(&secret, artifacts_dir(dir.path()).join("link.txt"))
        .expect("plant file symlink");

    assert_unsafe(store.get_stream(&key("link.txt")).await, "get");
    assert_unsafe(
        store
            .put_stream(&key("link.txt"), support::body(b"overwritten"), 100)
            .await,
        "put",
    );
    assert_unsafe(store.delete(&key("link.txt")).await, "delete");
    assert_eq!(
        fs::read(&secret).expect("read"),
        b"secret",
        "target untouched"
    );
    assert!(staging_entries(dir.path()).is_empty());
}

#[cfg(unix)]
#[tokio::test]
async fn symlinked_workspace_directory_is_refused() {
    let (dir, store) = store();
    let outside = tempfile::tempdir().expect("outside dir");
    std::os::unix::fs::symlink(outside.path(), dir.path().join("default"))
        .expect("plant workspace symlink");
    assert_unsafe(
        store
            .put_stream(&key("a.txt"), support::body(b"x"), 10)
            .await,
        "put",
    );
    assert_unsafe(store.get_stream(&key("a.txt")).await, "get");
    assert_eq!(fs::read_dir(outside.path()).expect("list").count(), 0);
}

#[cfg(unix)]
#[tokio::test]
async fn symlinked_staging_directory_is_refused() {
    let (dir, store) = store();
    let outside = tempfile::tempdir().expect("outside dir");
    fs::remove_dir(dir.path().join(".staging")).expect("remove staging");
    std::os::unix::fs::symlink(outside.path(), dir.path().join(".staging"))
        .expect("plant staging symlink");
    let err = store
        .put_stream(&key("a.txt"), support::body(b"x"), 10)
        .await
        .expect_err("staging is a link");
    assert!(matches!(err, ArtifactError::UnsafePath { .. }), "{err:?}");
    assert_eq!(fs::read_dir(outside.path()).expect("list").count(), 0);
}

#[tokio::test]
async fn uris_open_local_stores_and_describe_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let nested = dir.path().join("a/b/artifacts");
    let by_uri =
        ArtifactStore::from_uri(&format!("file://{}", nested.display())).expect("file uri");
    assert!(nested.is_dir(), "missing dirs are created");
    let canonical = fs::canonicalize(&nested).expect("canonical");
    assert_eq!(by_uri.describe(), format!("local:{}", canonical.display()));
    let by_path = ArtifactStore::from_uri(&nested.display().to_string()).expect("plain path");
    assert_eq!(by_path.describe(), by_uri.describe());
    by_uri.check().await.expect("writable root is ready");

    for bad in ["", "ftp://host/x", "file://relative/x"] {
        assert!(
            matches!(ArtifactStore::from_uri(bad), Err(ArtifactError::Config(_))),
            "{bad:?} accepted"
        );
    }
}

#[tokio::test]
async fn clones_share_the_same_store() {
    let (_dir, store) = store();
    let other = store.clone();
    let k = key("shared.txt");
    store
        .put_stream(&k, support::body(b"one"), 10)
        .await
        .expect("upload");
    assert_eq!(support::read_all(&other, &k).await.expect("read"), b"one");
}

async fn wait_until(mut cond: impl FnMut() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached within 5s");
}

/// Not a pass/fail test (timing on shared CI machines is noisy): run it by hand with
/// `cargo test --release -p mlplane-artifacts --test it -- --ignored --nocapture throughput`.
/// Prints the median and best of eight rounds for each of: plain write+fsync,
/// `put_stream`, plain read, `get_stream`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn throughput_of_100_mib_compared_to_a_plain_copy() {
    use std::io::{Read, Write};
    use std::time::Instant;
    let (dir, store) = store();
    let len = 100 * MIB;
    let data = Bytes::from(vec![0xA5u8; len]);
    let k = key("bench.bin");
    let mut times: [Vec<Duration>; 4] = Default::default();
    let mut cpu = [Duration::ZERO; 4];
    for round in 0..8 {
        let plain = dir.path().join(format!("plain-{round}.bin"));
        // Alternate which goes first: the first write of fresh memory is often faster.
        for step in [round % 2, 1 - round % 2] {
            if step == 0 {
                let t = Instant::now();
                let c = process_cpu();
                let mut f = fs::File::create(&plain).expect("create");
                for chunk in data.chunks(64 * 1024) {
                    f.write_all(chunk).expect("write");
                }
                f.sync_data().expect("sync");
                drop(f);
                times[0].push(t.elapsed());
                cpu[0] += process_cpu() - c;
            } else {
                // Upload in 64 KiB chunks, like an HTTP body.
                let chunks: Vec<Result<Bytes, String>> = (0..len)
                    .step_by(64 * 1024)
                    .map(|o| Ok(data.slice(o..(o + 64 * 1024).min(len))))
                    .collect();
                let t = Instant::now();
                let c = process_cpu();
                store
                    .put_stream(&k, futures::stream::iter(chunks), u64::MAX)
                    .await
                    .expect("upload");
                times[1].push(t.elapsed());
                cpu[1] += process_cpu() - c;
            }
        }

        let t = Instant::now();
        let c = process_cpu();
        let mut f = fs::File::open(&plain).expect("open");
        let mut buf = vec![0u8; 64 * 1024];
        while f.read(&mut buf).expect("read") > 0 {}
        times[2].push(t.elapsed());
        cpu[2] += process_cpu() - c;

        let t = Instant::now();
        let c = process_cpu();
        let (_, mut s) = store.get_stream(&k).await.expect("download");
        let mut n = 0;
        while let Some(c) = s.next().await {
            n += c.expect("chunk").len();
        }
        times[3].push(t.elapsed());
        cpu[3] += process_cpu() - c;
        assert_eq!(n, len);
        fs::remove_file(&plain).expect("remove");
    }
    for t in &mut times {
        t.sort();
    }
    let median = |i: usize| times[i][times[i].len() / 2];
    let best = |i: usize| times[i][0];
    let pct = |plain: Duration, ours: Duration| 100.0 * plain.as_secs_f64() / ours.as_secs_f64();
    for (what, plain, ours) in [("write+fsync", 0, 1), ("read", 2, 3)] {
        println!(
            "{what}: median plain {:?} ours {:?} ({:.0}% of plain speed); best plain {:?} ours {:?} ({:.0}%); cpu plain {:?} ours {:?}",
            median(plain),
            median(ours),
            pct(median(plain), median(ours)),
            best(plain),
            best(ours),
            pct(best(plain), best(ours)),
            cpu[plain] / 8,
            cpu[ours] / 8,
        );
    }
}

/// CPU time (user + system) of this process so far, from `/proc/self/stat` (Linux only;
/// zero elsewhere). Used by the throughput report, which is noisy on shared machines.
fn process_cpu() -> Duration {
    let Ok(stat) = fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the command name (which may contain spaces) start at state (field 3).
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12] // utime, stime (fields 14, 15)
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}
