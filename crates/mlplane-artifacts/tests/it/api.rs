//! The public surface: key layout, error messages, and the auto traits the server relies on.
//!
//! Invariants:
//! - the futures of `ArtifactStore` are `Send`, so they can run inside axum handlers;
//! - error messages are lowercase with no trailing period.

use crate::support::{self, key};
use bytes::Bytes;
use futures::stream::BoxStream;
use mlplane_artifacts::{ArtifactError, ArtifactKey, ArtifactStore};

fn assert_send<T: Send>(_: &T) {}
fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}

#[test]
fn store_is_shareable_and_its_futures_are_send() {
    assert_send_sync_clone::<ArtifactStore>();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ArtifactStore::local(dir.path()).expect("store");
    let k = key("a.txt");
    let body: BoxStream<'static, Result<Bytes, std::io::Error>> =
        Box::pin(futures::stream::empty());
    assert_send(&store.put_stream(&k, body, 10));
    assert_send(&store.get_stream(&k));
    assert_send(&store.delete(&k));
    assert_send(&store.check());
    assert_send(&store.sweep_incomplete());
}

#[test]
fn object_keys_follow_the_documented_layout() {
    let k: ArtifactKey = key("plots/loss curve.png");
    assert_eq!(
        k.object_key(),
        "default/7/0123456789abcdef0123456789abcdef/artifacts/plots/loss curve.png"
    );
    assert_eq!(k.to_string(), k.object_key());
}

#[test]
fn error_messages_are_lowercase_without_trailing_period() {
    let errors = [
        ArtifactError::NotFound { key: "k".into() },
        ArtifactError::TooLarge { limit: 5 },
        ArtifactError::UnsafePath { reason: "r".into() },
        ArtifactError::Body("b".into()),
        ArtifactError::Config("c".into()),
        ArtifactError::Backend("d".into()),
    ];
    for e in errors {
        let msg = e.to_string();
        assert!(msg.starts_with(|c: char| c.is_lowercase()), "{msg}");
        assert!(!msg.ends_with('.'), "{msg}");
    }
}

#[tokio::test]
async fn hash_matches_a_known_vector() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ArtifactStore::local(dir.path()).expect("store");
    let stored = store
        .put_stream(&key("abc.txt"), support::body(b"abc"), 3)
        .await
        .expect("upload");
    assert_eq!(
        stored.sha256,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}
