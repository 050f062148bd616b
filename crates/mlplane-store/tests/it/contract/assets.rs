//! Contract checks for versioned assets: immutable versions, automatic numbering (also by
//! concurrent creators), `Latest`, listings, archiving, workspace isolation, and the files of
//! pending versions frozen by completion.
//!
//! Invariants:
//! - each check starts from a fresh store and asserts on variants, not messages.

use super::jobs::{job_name, submit};
use super::*;
use mlplane_core::{Asset, AssetFile, AssetKind, AssetVersionRef, NewAsset};

fn new_asset(kind: AssetKind, name: &str, version: Option<&str>) -> NewAsset {
    NewAsset {
        kind,
        name: name.into(),
        version: version.map(str::to_string),
        description: "iris measurements".into(),
        tags: vec![tag("source", "uci")],
        spec: r#"{"type":"uri_folder"}"#.into(),
        storage_uri: Some(format!("mlplane-artifacts:/assets/{name}")),
        source_job: None,
    }
}

async fn create(store: &Store, kind: AssetKind, name: &str, version: Option<&str>) -> Asset {
    store
        .create_asset(&default_ws(), new_asset(kind, name, version))
        .await
        .expect("asset version is created")
}

fn exact(v: &str) -> AssetVersionRef {
    AssetVersionRef::Exact(v.to_string())
}

fn versions(assets: &[Asset]) -> Vec<&str> {
    assets.iter().map(|a| a.version.as_str()).collect()
}

pub async fn asset_versions_are_immutable_and_numbered_automatically(store: Store) {
    let first = create(&store, AssetKind::Data, "iris", None).await;
    assert_eq!(first.version, "1");
    assert_eq!(first.kind, AssetKind::Data);
    assert_eq!(first.workspace, default_ws());
    assert_eq!(first.description, "iris measurements");
    assert_eq!(first.tags, vec![tag("source", "uci")]);
    assert_eq!(first.spec, r#"{"type":"uri_folder"}"#);
    assert_eq!(
        first.storage_uri.as_deref(),
        Some("mlplane-artifacts:/assets/iris")
    );
    assert_eq!((first.source_job.clone(), first.archived), (None, false));
    assert!(first.created_at > 0);
    create(&store, AssetKind::Data, "iris", Some("7")).await;
    create(&store, AssetKind::Data, "iris", Some("2024.01-beta")).await;
    let next = create(&store, AssetKind::Data, "iris", None).await;
    assert_eq!(
        next.version, "8",
        "the next integer after the highest numeric version"
    );
    expect_already_exists(
        store
            .create_asset(&default_ws(), new_asset(AssetKind::Data, "iris", Some("7")))
            .await,
        Entity::Asset,
        "data:iris:7",
    );
    let got = store
        .get_asset(&default_ws(), AssetKind::Data, "iris", &exact("1"))
        .await
        .expect("get");
    assert_eq!(got, first);
    expect_not_found(
        store
            .get_asset(&default_ws(), AssetKind::Data, "iris", &exact("99"))
            .await,
        Entity::Asset,
    );
    // Kinds number independently.
    assert_eq!(
        create(&store, AssetKind::Model, "iris", None).await.version,
        "1"
    );
    // Archived versions still count, so numbers are never handed out twice.
    store
        .set_asset_archived(&default_ws(), AssetKind::Data, "iris", "8", true)
        .await
        .expect("archive");
    assert_eq!(
        create(&store, AssetKind::Data, "iris", None).await.version,
        "9"
    );
}

pub async fn invalid_assets_are_refused(store: Store) {
    expect_invalid(
        store
            .create_asset(&default_ws(), new_asset(AssetKind::Data, ".hidden", None))
            .await,
        "name",
    );
    expect_invalid(
        store
            .create_asset(&default_ws(), new_asset(AssetKind::Data, "ok", Some("1/2")))
            .await,
        "version",
    );
    let mut big = new_asset(AssetKind::Environment, "env", None);
    big.spec = "x".repeat(mlplane_core::limits::MAX_SPEC_BYTES + 1);
    expect_invalid(store.create_asset(&default_ws(), big).await, "spec");
    let mut orphan = new_asset(AssetKind::Model, "m", None);
    orphan.source_job = Some(job_name("no-such-job"));
    expect_not_found(store.create_asset(&default_ws(), orphan).await, Entity::Job);
    let job = submit(&store, &default_ws(), "trainer", "cpu").await;
    let mut produced = new_asset(AssetKind::Model, "m", None);
    produced.source_job = Some(job.name.clone());
    let m = store
        .create_asset(&default_ws(), produced)
        .await
        .expect("model");
    assert_eq!(m.source_job, Some(job.name));
}

pub async fn latest_is_the_newest_version_not_archived(store: Store) {
    for v in ["1", "2", "3"] {
        create(&store, AssetKind::Component, "train", Some(v)).await;
    }
    let latest = |store: Store| async move {
        store
            .get_asset(
                &default_ws(),
                AssetKind::Component,
                "train",
                &AssetVersionRef::Latest,
            )
            .await
    };
    assert_eq!(latest(store.clone()).await.expect("latest").version, "3");
    let archived = store
        .set_asset_archived(&default_ws(), AssetKind::Component, "train", "3", true)
        .await
        .expect("archive");
    assert!(archived.archived);
    assert_eq!(latest(store.clone()).await.expect("latest").version, "2");
    for v in ["1", "2"] {
        store
            .set_asset_archived(&default_ws(), AssetKind::Component, "train", v, true)
            .await
            .expect("archive");
    }
    expect_not_found(latest(store.clone()).await, Entity::Asset);
    let restored = store
        .set_asset_archived(&default_ws(), AssetKind::Component, "train", "1", false)
        .await
        .expect("restore");
    assert!(!restored.archived);
    assert_eq!(latest(store.clone()).await.expect("latest").version, "1");
    expect_not_found(
        store
            .set_asset_archived(&default_ws(), AssetKind::Component, "train", "4", true)
            .await,
        Entity::Asset,
    );
}

pub async fn list_assets_shows_the_latest_version_of_each_name(store: Store) {
    create(&store, AssetKind::Data, "b", Some("1")).await;
    create(&store, AssetKind::Data, "a", Some("1")).await;
    create(&store, AssetKind::Data, "a", Some("2")).await;
    create(&store, AssetKind::Data, "c", Some("1")).await;
    create(&store, AssetKind::Data, "d", Some("1")).await;
    create(&store, AssetKind::Model, "a", Some("5")).await;
    store
        .set_asset_archived(&default_ws(), AssetKind::Data, "a", "2", true)
        .await
        .expect("archive a:2");
    store
        .set_asset_archived(&default_ws(), AssetKind::Data, "d", "1", true)
        .await
        .expect("archive d:1");
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let p = store
            .list_assets(&default_ws(), AssetKind::Data, false, &page(2, token))
            .await
            .expect("page");
        assert!(p.items.len() <= 2);
        seen.extend(p.items.iter().map(|a| format!("{}:{}", a.name, a.version)));
        token = p.next_page_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, vec!["a:1", "b:1", "c:1"]);
    let all = store
        .list_assets(&default_ws(), AssetKind::Data, true, &page(0, None))
        .await
        .expect("with archived");
    let all: Vec<String> = all
        .items
        .iter()
        .map(|a| format!("{}:{}", a.name, a.version))
        .collect();
    assert_eq!(all, vec!["a:2", "b:1", "c:1", "d:1"]);
    let models = store
        .list_assets(&default_ws(), AssetKind::Model, false, &page(0, None))
        .await
        .expect("models");
    assert_eq!(versions(&models.items), vec!["5"]);
}

pub async fn asset_versions_list_newest_first_and_page(store: Store) {
    for v in ["1", "2", "3", "4", "5"] {
        create(&store, AssetKind::Environment, "py", Some(v)).await;
    }
    create(&store, AssetKind::Environment, "other", Some("9")).await;
    store
        .set_asset_archived(&default_ws(), AssetKind::Environment, "py", "4", true)
        .await
        .expect("archive");
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let p = store
            .list_asset_versions(
                &default_ws(),
                AssetKind::Environment,
                "py",
                false,
                &page(2, token),
            )
            .await
            .expect("page");
        seen.extend(p.items.iter().map(|a| a.version.clone()));
        token = p.next_page_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, vec!["5", "3", "2", "1"]);
    let all = store
        .list_asset_versions(
            &default_ws(),
            AssetKind::Environment,
            "py",
            true,
            &page(0, None),
        )
        .await
        .expect("all");
    assert_eq!(versions(&all.items), vec!["5", "4", "3", "2", "1"]);
    let p = store
        .list_asset_versions(
            &default_ws(),
            AssetKind::Environment,
            "py",
            true,
            &page(1, None),
        )
        .await
        .expect("first");
    let token = p.next_page_token.expect("more");
    match store
        .list_asset_versions(
            &default_ws(),
            AssetKind::Environment,
            "other",
            true,
            &page(1, Some(token)),
        )
        .await
    {
        Err(StoreError::PageToken(_)) => {}
        other => panic!("a token of another listing must be refused, got {other:?}"),
    }
}

pub async fn concurrent_automatic_versions_are_distinct(store: Store) {
    create(&store, AssetKind::Model, "busy", Some("3")).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .create_asset(&default_ws(), new_asset(AssetKind::Model, "busy", None))
                    .await
                    .map(|a| a.version)
            })
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        let v = t.await.expect("task").expect("version created");
        got.push(v.parse::<i64>().expect("automatic versions are numbers"));
    }
    got.sort_unstable();
    assert_eq!(got, (4..=11).collect::<Vec<i64>>());
}

pub async fn assets_are_scoped_by_workspace(store: Store) {
    let other = ws("other");
    store.create_workspace(&other, "").await.expect("ws");
    create(&store, AssetKind::Data, "shared-name", None).await;
    let theirs = store
        .create_asset(&other, new_asset(AssetKind::Data, "shared-name", None))
        .await
        .expect("same name elsewhere");
    assert_eq!((theirs.version.as_str(), &theirs.workspace), ("1", &other));
    store
        .create_asset(&other, new_asset(AssetKind::Data, "only-there", None))
        .await
        .expect("asset");
    expect_not_found(
        store
            .get_asset(
                &default_ws(),
                AssetKind::Data,
                "only-there",
                &AssetVersionRef::Latest,
            )
            .await,
        Entity::Asset,
    );
    expect_not_found(
        store
            .set_asset_archived(&default_ws(), AssetKind::Data, "only-there", "1", true)
            .await,
        Entity::Asset,
    );
    expect_not_found(
        store
            .asset_lineage(&default_ws(), AssetKind::Data, "only-there", "1")
            .await,
        Entity::Asset,
    );
    let mine = store
        .list_assets(&default_ws(), AssetKind::Data, true, &page(0, None))
        .await
        .expect("list");
    assert_eq!(mine.items.len(), 1);
    let versions_here = store
        .list_asset_versions(
            &default_ws(),
            AssetKind::Data,
            "only-there",
            true,
            &page(0, None),
        )
        .await
        .expect("versions");
    assert!(versions_here.items.is_empty());
    expect_not_found(
        store
            .create_asset(&ws("nowhere"), new_asset(AssetKind::Data, "x", None))
            .await,
        Entity::Workspace,
    );
    expect_not_found(
        store
            .list_assets(&ws("nowhere"), AssetKind::Data, false, &page(0, None))
            .await,
        Entity::Workspace,
    );
}

/// Every asset kind, compute targets included, is stored, read back and listed apart from
/// the other kinds.
pub async fn every_asset_kind_is_stored_apart(store: Store) {
    for kind in AssetKind::ALL {
        let a = create(&store, kind, "same-name", None).await;
        assert_eq!((a.kind, a.version.as_str()), (kind, "1"));
    }
    for kind in AssetKind::ALL {
        let got = store
            .get_asset(&default_ws(), kind, "same-name", &AssetVersionRef::Latest)
            .await
            .expect("latest of the kind");
        assert_eq!(got.kind, kind);
        let listed = store
            .list_assets(&default_ws(), kind, false, &page(100, None))
            .await
            .expect("list");
        assert_eq!(listed.items.len(), 1, "{kind}: {:?}", listed.items);
    }
}
fn file(path: &str, size: u64, fill: char) -> AssetFile {
    AssetFile {
        path: ArtifactPath::parse(path).expect("valid path"),
        size,
        sha256: fill.to_string().repeat(64),
    }
}

pub async fn pending_asset_files_are_recorded_then_frozen_by_completion(store: Store) {
    let mut pending = new_asset(AssetKind::Data, "iris", None);
    pending.storage_uri = None;
    let a = store
        .create_asset(&default_ws(), pending)
        .await
        .expect("pending version");
    assert_eq!(a.storage_uri, None);
    let d = default_ws();
    let rec = |f: AssetFile| store.record_asset_file(&d, AssetKind::Data, "iris", "1", f);
    rec(file("b/iris.csv", 10, 'a')).await.expect("recorded");
    rec(file("a.txt", 3, 'b')).await.expect("recorded");
    rec(file("b/iris.csv", 12, 'c'))
        .await
        .expect("replaced by path");
    let files = store
        .asset_files(&d, AssetKind::Data, "iris", "1")
        .await
        .expect("listed");
    assert_eq!(
        files,
        vec![file("a.txt", 3, 'b'), file("b/iris.csv", 12, 'c')]
    );
    expect_invalid(
        rec(AssetFile {
            sha256: "XYZ".into(),
            ..file("c", 1, 'a')
        })
        .await,
        "sha256",
    );
    expect_not_found(
        store
            .record_asset_file(&d, AssetKind::Data, "iris", "9", file("c", 1, 'a'))
            .await,
        Entity::Asset,
    );
    expect_not_found(
        store
            .record_asset_file(
                &ws("other"),
                AssetKind::Data,
                "iris",
                "1",
                file("c", 1, 'a'),
            )
            .await,
        Entity::Workspace,
    );

    let done = store
        .complete_asset(
            &d,
            AssetKind::Data,
            "iris",
            "1",
            "mlplane:/default/assets/data/iris/1",
        )
        .await
        .expect("completed");
    assert_eq!(
        done.storage_uri.as_deref(),
        Some("mlplane:/default/assets/data/iris/1")
    );
    expect_invalid_state(rec(file("late.txt", 1, 'd')).await);
    expect_invalid_state(
        store
            .complete_asset(&d, AssetKind::Data, "iris", "1", "mlplane:/elsewhere")
            .await,
    );
    let after = store
        .get_asset(&d, AssetKind::Data, "iris", &exact("1"))
        .await
        .expect("read back");
    assert_eq!(
        after.storage_uri.as_deref(),
        Some("mlplane:/default/assets/data/iris/1")
    );
    assert_eq!(
        store
            .asset_files(&d, AssetKind::Data, "iris", "1")
            .await
            .expect("listed"),
        files,
        "completion froze the files"
    );

    // A version created with a storage location has no pending files to take.
    create(&store, AssetKind::Data, "remote", None).await;
    expect_invalid_state(
        store
            .record_asset_file(&d, AssetKind::Data, "remote", "1", file("x", 1, 'a'))
            .await,
    );
    // Environments have no files.
    let mut env = new_asset(AssetKind::Environment, "py", None);
    env.storage_uri = None;
    store.create_asset(&d, env).await.expect("environment");
    expect_invalid_state(
        store
            .record_asset_file(&d, AssetKind::Environment, "py", "1", file("x", 1, 'a'))
            .await,
    );
}
