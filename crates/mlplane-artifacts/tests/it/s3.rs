//! The S3 backend against a real S3-protocol server: s3s-fs, started once per test.
//!
//! The binary is `$MLPLANE_S3S_FS_BIN` or `<repo>/.cache/tools/bin/s3s-fs`
//! (`scripts/s3-server.sh install` puts it there).
//!
//! Invariants:
//! - each test owns its s3s-fs process and data directory; the process is killed on drop;
//! - a missing binary skips the test with a notice, unless `MLPLANE_REQUIRE_S3=1`, which
//!   turns it into a failure;
//! - after a failed upload the object is not found, neither through the API nor as a file
//!   in the server's data directory.

use crate::support::{self, MIB, key};
use mlplane_artifacts::{ArtifactError, ArtifactStore, S3Config};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BUCKET: &str = "mlplane-test";
const PREFIX: &str = "tenant-a/artifacts";
const ACCESS_KEY: &str = "AKIATEST";
const SECRET_KEY: &str = "SECRETTEST";

/// A running s3s-fs process serving a temporary directory.
struct S3Server {
    child: Child,
    endpoint: String,
    data: tempfile::TempDir,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl S3Server {
    fn config(&self, secret: &str) -> S3Config {
        S3Config {
            endpoint: Some(self.endpoint.clone()),
            access_key_id: ACCESS_KEY.to_string(),
            secret_access_key: secret.to_string(),
            region: "us-east-1".to_string(),
        }
    }

    fn store(&self) -> ArtifactStore {
        ArtifactStore::s3(BUCKET, PREFIX, self.config(SECRET_KEY)).expect("s3 store")
    }

    /// Where s3s-fs keeps the object of `key`.
    fn file_of(&self, key: &mlplane_artifacts::ArtifactKey) -> PathBuf {
        self.data
            .path()
            .join(BUCKET)
            .join(PREFIX)
            .join(key.object_key())
    }

    /// Files s3s-fs keeps for multipart uploads that were neither completed nor aborted.
    fn pending_upload_files(&self) -> Vec<String> {
        std::fs::read_dir(self.data.path())
            .expect("list data dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.starts_with(".upload"))
            .collect()
    }
}

fn s3s_fs_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("MLPLANE_S3S_FS_BIN") {
        return Some(PathBuf::from(bin)).filter(|p| p.is_file());
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    Some(repo.join(".cache/tools/bin/s3s-fs")).filter(|p| p.is_file())
}

/// Starts s3s-fs, or returns `None` (after printing why) when the test should be skipped.
fn start(test: &str) -> Option<S3Server> {
    let Some(bin) = s3s_fs_binary() else {
        let required = std::env::var("MLPLANE_REQUIRE_S3").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "MLPLANE_REQUIRE_S3=1 but the s3s-fs binary was not found \
             (set MLPLANE_S3S_FS_BIN or run `scripts/s3-server.sh install`)"
        );
        eprintln!(
            "skipping {test}: s3s-fs not installed (run `scripts/s3-server.sh install`, \
             or set MLPLANE_S3S_FS_BIN)"
        );
        return None;
    };
    let mut last_error = String::new();
    for _attempt in 0..3 {
        match try_start(&bin) {
            Ok(server) => return Some(server),
            Err(e) => last_error = e,
        }
    }
    panic!("cannot start s3s-fs from {}: {last_error}", bin.display());
}

fn try_start(bin: &Path) -> Result<S3Server, String> {
    let data = tempfile::tempdir().map_err(|e| e.to_string())?;
    std::fs::create_dir(data.path().join(BUCKET)).map_err(|e| e.to_string())?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let child = Command::new(bin)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
        .arg(data.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let mut server = S3Server {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
        data,
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!("s3s-fs exited early with {status}"));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(server);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err("s3s-fs did not start listening within 15s".into())
}

macro_rules! s3_server {
    ($test:literal) => {
        match start($test) {
            Some(server) => server,
            None => return,
        }
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_round_trip_reports_size_and_sha256_of_the_bytes() {
    let server = s3_server!("s3_round_trip_reports_size_and_sha256_of_the_bytes");
    let store = server.store();
    store.check().await.expect("bucket answers");
    let k = key("models/weird name (1)/ünïcode.bin");
    let stored = store
        .put_stream(&k, support::body(b"hello s3"), 1024)
        .await
        .expect("upload");
    assert_eq!(stored.size, 8);
    assert_eq!(stored.sha256, support::sha256_hex(b"hello s3"));
    assert_eq!(
        support::read_all(&store, &k).await.expect("read"),
        b"hello s3"
    );
    assert_eq!(
        std::fs::read(server.file_of(&k)).expect("object in the bucket at the key layout"),
        b"hello s3"
    );
    let empty = key("empty.txt");
    let stored = store
        .put_stream(&empty, support::body(b""), 0)
        .await
        .expect("empty upload");
    assert_eq!((stored.size, stored.sha256), (0, support::sha256_hex(b"")));
    assert!(
        support::read_all(&store, &empty)
            .await
            .expect("read")
            .is_empty()
    );
    assert_eq!(store.describe(), format!("s3://{BUCKET}/{PREFIX}"));
    assert!(
        !format!("{store:?}").contains(SECRET_KEY),
        "debug leaks the secret"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_multipart_upload_of_40_mib_is_byte_identical() {
    let server = s3_server!("s3_multipart_upload_of_40_mib_is_byte_identical");
    let store = server.store();
    let k = key("big/data.bin");
    let len = 40 * MIB + 4321;
    let stored = store
        .put_stream(&k, support::generated(len, 11), u64::MAX)
        .await
        .expect("multipart upload");
    assert_eq!(stored, support::expected(len, 11));
    support::assert_generated(&store, &k, len, 11).await;
    let on_disk = std::fs::metadata(server.file_of(&k)).expect("object file");
    assert_eq!(on_disk.len(), len as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_upload_of_failing_stream_leaves_nothing_visible() {
    let server = s3_server!("s3_upload_of_failing_stream_leaves_nothing_visible");
    let store = server.store();
    // Fails before the first part is full, and in the middle of a multipart upload.
    for (i, ok_len) in [1000, 20 * MIB + 3].into_iter().enumerate() {
        let k = key(&format!("broken-{i}.bin"));
        let err = store
            .put_stream(&k, support::failing_after(ok_len, 12), u64::MAX)
            .await
            .expect_err("the body fails");
        assert!(matches!(err, ArtifactError::Body(_)), "{err:?}");
        support::assert_not_found(&store, &k).await;
        assert!(!server.file_of(&k).exists(), "no object file for {k}");
        assert_eq!(
            server.pending_upload_files(),
            Vec::<String>::new(),
            "parts aborted"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_upload_beyond_max_bytes_is_too_large_and_leaves_nothing() {
    let server = s3_server!("s3_upload_beyond_max_bytes_is_too_large_and_leaves_nothing");
    let store = server.store();
    let k = key("too-large.bin");
    let err = store
        .put_stream(&k, support::generated(30 * MIB, 13), 20 * MIB as u64)
        .await
        .expect_err("over the limit");
    assert!(matches!(err, ArtifactError::TooLarge { .. }), "{err:?}");
    support::assert_not_found(&store, &k).await;
    assert_eq!(
        server.pending_upload_files(),
        Vec::<String>::new(),
        "parts aborted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_delete_removes_the_object_and_is_idempotent() {
    let server = s3_server!("s3_delete_removes_the_object_and_is_idempotent");
    let store = server.store();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_missing_object_is_not_found() {
    let server = s3_server!("s3_missing_object_is_not_found");
    let store = server.store();
    support::assert_not_found(&store, &key("nope.txt")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_wrong_secret_key_is_refused() {
    let server = s3_server!("s3_wrong_secret_key_is_refused");
    let store = ArtifactStore::s3(BUCKET, PREFIX, server.config("WRONGSECRET")).expect("store");
    let k = key("denied.txt");
    let err = store
        .put_stream(&k, support::body(b"x"), 10)
        .await
        .expect_err("wrong secret must not upload");
    assert!(matches!(err, ArtifactError::Backend(_)), "{err:?}");
    assert!(
        !err.to_string().contains("WRONGSECRET"),
        "error leaks the secret: {err}"
    );
    assert!(
        store.check().await.is_err(),
        "check with a wrong secret fails"
    );
    assert!(!server.file_of(&k).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_check_fails_for_a_missing_bucket() {
    let server = s3_server!("s3_check_fails_for_a_missing_bucket");
    let store = ArtifactStore::s3("no-such-bucket", "", server.config(SECRET_KEY)).expect("store");
    assert!(store.check().await.is_err());
    assert_eq!(store.describe(), "s3://no-such-bucket");
}

#[test]
fn s3_config_debug_hides_the_secret() {
    let cfg = S3Config {
        endpoint: None,
        access_key_id: "AKIA".into(),
        secret_access_key: "TOPSECRET".into(),
        region: "eu-west-1".into(),
    };
    assert!(!format!("{cfg:?}").contains("TOPSECRET"));
}

#[test]
fn s3_store_refuses_bad_bucket_and_prefix() {
    let cfg = || S3Config {
        endpoint: Some("http://127.0.0.1:1".into()),
        access_key_id: "AKIA".into(),
        secret_access_key: "S".into(),
        region: "us-east-1".into(),
    };
    assert!(matches!(
        ArtifactStore::s3("", "", cfg()),
        Err(ArtifactError::Config(_))
    ));
    assert!(matches!(
        ArtifactStore::s3("b", "a/../x", cfg()),
        Err(ArtifactError::Config(_))
    ));
    let ok = ArtifactStore::s3("b", "/p/q/", cfg()).expect("slashes are trimmed");
    assert_eq!(ok.describe(), "s3://b/p/q");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_dropped_multipart_upload_is_aborted() {
    use bytes::Bytes;
    use futures::StreamExt;
    let server = s3_server!("s3_dropped_multipart_upload_is_aborted");
    let store = server.store();
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
    // Two full parts start the multipart upload and the third stays incomplete, so once
    // both parts are stored no part is in flight: s3s-fs, like S3, would keep a part that
    // finishes after the abort.
    for _ in 0..20 {
        tx.send(Ok(Bytes::from(vec![9u8; MIB])))
            .await
            .expect("send");
    }
    wait_until(|| {
        let files = server.pending_upload_files();
        files.iter().filter(|f| f.contains(".part-")).count() == 2
    })
    .await;
    upload.abort();
    let _ = upload.await;
    wait_until(|| server.pending_upload_files().is_empty()).await;
    support::assert_not_found(&store, &k).await;
}

async fn wait_until(mut cond: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached within 10s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_staged_parts_concatenate_into_one_model_object() {
    use mlplane_artifacts::{ArtifactKey, ArtifactOwner, PartStaging};
    use mlplane_core::{ArtifactPath, ExperimentId, LoggedModelId, WorkspaceName};

    let server = s3_server!("s3_staged_parts_concatenate_into_one_model_object");
    let store = server.store();
    let staging_dir = tempfile::tempdir().expect("staging dir");
    let staging = PartStaging::new(staging_dir.path());
    let id = staging.create("meta").await.expect("upload");
    let parts: Vec<Vec<u8>> = (0..3u8)
        .map(|i| {
            (0..(3 * MIB as u32 + 17))
                .map(|j| (j % 253) as u8 ^ i)
                .collect()
        })
        .collect();
    let mut order = Vec::new();
    for (i, p) in parts.iter().enumerate().rev() {
        let body = futures::stream::iter(
            p.chunks(64 * 1024)
                .map(|c| Ok::<_, String>(bytes::Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        );
        let staged = staging
            .put_part(&id, i as u32 + 1, body, u64::MAX)
            .await
            .expect("part");
        order.push((staged.number, staged.etag));
    }
    order.sort();
    let k = ArtifactKey {
        workspace: WorkspaceName::default_workspace(),
        experiment_id: ExperimentId(7),
        owner: ArtifactOwner::Model(LoggedModelId::generate()),
        path: ArtifactPath::parse("model.pkl").expect("path"),
    };
    let stored = store
        .put_stream(&k, staging.concat(&id, order).expect("concat"), u64::MAX)
        .await
        .expect("upload of the concatenation");
    let all = parts.concat();
    assert_eq!(stored.sha256, support::sha256_hex(&all));
    assert_eq!(support::read_all(&store, &k).await.expect("read"), all);
    assert!(k.object_key().contains("/models/m-"));
    assert!(server.file_of(&k).is_file());
    staging.remove(&id).await.expect("remove");
}
