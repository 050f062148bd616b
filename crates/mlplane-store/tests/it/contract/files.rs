//! Contract checks for run logs and artifact metadata.
//!
//! Invariants:
//! - each check starts from a fresh store and asserts on variants, not messages.

use super::*;
use mlplane_core::RunId;
use mlplane_core::limits::MAX_LOG_APPEND_BYTES;

/// The whole log of a run, read `max` bytes at a time.
async fn read_all(store: &Store, id: &RunId, max: usize) -> String {
    let mut out = String::new();
    let mut offset = 0;
    loop {
        let c = store
            .read_log(&default_ws(), id, offset, max)
            .await
            .expect("read");
        assert_eq!(c.offset, offset);
        assert!(c.data.len() <= max);
        assert_eq!(c.next_offset, offset + c.data.len() as u64);
        if c.data.is_empty() {
            return out;
        }
        out.push_str(&c.data);
        offset = c.next_offset;
    }
}

pub async fn log_appends_return_the_length_and_read_back_in_order(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    let empty = store
        .read_log(&default_ws(), id, 0, 100)
        .await
        .expect("read empty");
    assert_eq!((empty.data.as_str(), empty.next_offset), ("", 0));
    assert_eq!(
        store
            .append_log(&default_ws(), id, "hello ")
            .await
            .expect("append"),
        6
    );
    assert_eq!(
        store
            .append_log(&default_ws(), id, "wörld\n")
            .await
            .expect("append"),
        13
    );
    assert_eq!(
        store
            .append_log(&default_ws(), id, "")
            .await
            .expect("empty append"),
        13
    );
    let all = store
        .read_log(&default_ws(), id, 0, 1 << 20)
        .await
        .expect("read");
    assert_eq!(all.data, "hello wörld\n");
    assert_eq!(all.next_offset, 13);
    let tail = store
        .read_log(&default_ws(), id, 6, 1 << 20)
        .await
        .expect("read");
    assert_eq!(tail.data, "wörld\n");
    assert_eq!(tail.offset, 6);
    let end = store
        .read_log(&default_ws(), id, 13, 10)
        .await
        .expect("read at end");
    assert_eq!((end.data.as_str(), end.next_offset), ("", 13));
    // Text PostgreSQL cannot hold in TEXT columns still round-trips.
    store
        .append_log(&default_ws(), id, "nul\0byte\n")
        .await
        .expect("append");
    assert_eq!(
        read_all(&store, id, 1 << 20).await,
        "hello wörld\nnul\0byte\n"
    );
}

pub async fn log_reads_never_split_a_character(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    let text = "aé€😀b€é😀😀x";
    store
        .append_log(&default_ws(), id, text)
        .await
        .expect("append");
    for max in 4..=8 {
        assert_eq!(read_all(&store, id, max).await, text, "max_bytes {max}");
    }
    // Too small for the next character: nothing, not half of it.
    let c = store.read_log(&default_ws(), id, 1, 1).await.expect("read");
    assert_eq!((c.data.as_str(), c.next_offset), ("", 1));
    let c = store.read_log(&default_ws(), id, 1, 3).await.expect("read");
    assert_eq!(c.data, "é");
    assert_eq!(c.next_offset, 3);
}

pub async fn log_reads_span_chunks(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    let mut expected = String::new();
    for i in 0..200 {
        let line = format!("line {i} ünïcödé\n");
        expected.push_str(&line);
        let len = store
            .append_log(&default_ws(), id, &line)
            .await
            .expect("append");
        assert_eq!(len, expected.len() as u64);
    }
    for max in [1_000, 37, 4096, 1 << 20] {
        assert_eq!(read_all(&store, id, max).await, expected, "max_bytes {max}");
    }
    // A read starting inside a chunk and ending inside a later one.
    let start = expected.find("line 10 ").expect("line 10") + 3;
    let c = store
        .read_log(&default_ws(), id, start as u64, 500)
        .await
        .expect("read");
    let mut end = (start + 500).min(expected.len());
    while !expected.is_char_boundary(end) {
        end -= 1;
    }
    assert_eq!(c.data, &expected[start..end]);
}

pub async fn log_offsets_past_the_end_or_inside_a_character_are_invalid(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    expect_invalid(store.read_log(&default_ws(), id, 1, 10).await, "offset");
    store
        .append_log(&default_ws(), id, "é€")
        .await
        .expect("append");
    expect_invalid(store.read_log(&default_ws(), id, 6, 10).await, "offset");
    expect_invalid(store.read_log(&default_ws(), id, 1, 10).await, "offset");
    expect_invalid(store.read_log(&default_ws(), id, 3, 10).await, "offset");
    assert_eq!(
        store
            .read_log(&default_ws(), id, 2, 10)
            .await
            .expect("read")
            .data,
        "€"
    );
}

pub async fn oversize_log_append_is_invalid(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    let big = "x".repeat(MAX_LOG_APPEND_BYTES + 1);
    match store.append_log(&default_ws(), id, &big).await {
        Err(StoreError::Invalid(_)) => {}
        other => panic!("expected Invalid, got {other:?}"),
    }
    let max = "y".repeat(MAX_LOG_APPEND_BYTES);
    let len = store
        .append_log(&default_ws(), id, &max)
        .await
        .expect("append at the limit");
    assert_eq!(len, MAX_LOG_APPEND_BYTES as u64);
}

pub async fn artifacts_are_recorded_replaced_and_deleted(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    let path = ArtifactPath::parse("model/weights.bin").expect("path");
    expect_not_found(
        store.get_artifact(&default_ws(), id, &path).await,
        Entity::Artifact,
    );
    let first = artifact("model/weights.bin", 10);
    store
        .record_artifact(&default_ws(), id, first.clone())
        .await
        .expect("record");
    assert_eq!(
        store
            .get_artifact(&default_ws(), id, &path)
            .await
            .expect("get"),
        first
    );
    let second = ArtifactEntry {
        created_at: first.created_at + 1,
        ..artifact("model/weights.bin", 20)
    };
    store
        .record_artifact(&default_ws(), id, second.clone())
        .await
        .expect("replace");
    assert_eq!(
        store
            .get_artifact(&default_ws(), id, &path)
            .await
            .expect("get"),
        second
    );
    let listing = store
        .list_artifacts(
            &default_ws(),
            id,
            &ArtifactPath::parse_dir("model").expect("dir"),
        )
        .await
        .expect("list");
    assert_eq!(listing.files, vec![second]);
    store
        .delete_artifact(&default_ws(), id, &path)
        .await
        .expect("delete");
    expect_not_found(
        store.get_artifact(&default_ws(), id, &path).await,
        Entity::Artifact,
    );
    expect_not_found(
        store.delete_artifact(&default_ws(), id, &path).await,
        Entity::Artifact,
    );
    // Artifacts belong to their run.
    store
        .record_artifact(&default_ws(), id, artifact("mine", 1))
        .await
        .expect("record");
    let other = fresh_run(&store).await;
    let mine = ArtifactPath::parse("mine").expect("path");
    expect_not_found(
        store
            .get_artifact(&default_ws(), &other.info.id, &mine)
            .await,
        Entity::Artifact,
    );
}

pub async fn artifact_listing_shows_direct_children(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    let paths = [
        "a.txt",
        "b/c.txt",
        "b/d/e.txt",
        "b/d/f/g.txt",
        "b/f.txt",
        "b0/x.txt",
        "bz.txt",
        "b.txt",
        "Z/upper.txt",
        "ü/x",
    ];
    for (i, p) in paths.iter().enumerate() {
        store
            .record_artifact(&default_ws(), id, artifact(p, i as u64))
            .await
            .expect("record");
    }
    let list = |dir: &str| {
        let store = store.clone();
        let id = id.clone();
        let dir = ArtifactPath::parse_dir(dir).expect("dir");
        async move {
            let l = store
                .list_artifacts(&default_ws(), &id, &dir)
                .await
                .expect("list");
            let files: Vec<String> = l.files.iter().map(|f| f.path.to_string()).collect();
            (files, l.dirs)
        }
    };
    assert_eq!(
        list("").await,
        (
            vec!["a.txt".to_string(), "b.txt".into(), "bz.txt".into()],
            vec!["Z".to_string(), "b".into(), "b0".into(), "ü".into()]
        )
    );
    assert_eq!(
        list("b").await,
        (
            vec!["b/c.txt".to_string(), "b/f.txt".into()],
            vec!["d".to_string()]
        )
    );
    assert_eq!(list("b/").await, list("b").await);
    assert_eq!(
        list("b/d").await,
        (vec!["b/d/e.txt".to_string()], vec!["f".to_string()])
    );
    assert_eq!(list("ü").await, (vec!["ü/x".to_string()], vec![]));
    assert_eq!(list("nothing/here").await, (vec![], vec![]));
    let entry = store
        .list_artifacts(&default_ws(), id, &ArtifactPath::root())
        .await
        .expect("list")
        .files
        .into_iter()
        .find(|f| f.path.as_str() == "bz.txt")
        .expect("bz.txt listed");
    assert_eq!(entry, artifact("bz.txt", 6));
}
