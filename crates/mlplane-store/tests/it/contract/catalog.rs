//! Contract checks for workspaces and experiments.
//!
//! Invariants:
//! - each check starts from a fresh store and asserts on variants, not messages.

use super::*;
use mlplane_core::{LifecycleStage, RunId, ViewType};
use std::time::Duration;

pub async fn default_workspace_has_default_experiment_with_id_zero(store: Store) {
    let w = store
        .get_workspace(&default_ws())
        .await
        .expect("default workspace exists");
    assert_eq!(w.name, default_ws());
    let e = store
        .get_experiment(&default_ws(), ExperimentId(0))
        .await
        .expect("experiment 0");
    assert_eq!(e.name, "Default");
    assert_eq!(e.workspace, default_ws());
    assert_eq!(e.lifecycle_stage, LifecycleStage::Active);
    assert_eq!(e.artifact_location, "mlplane-artifacts:/default/0");
    let by_name = store
        .get_experiment_by_name(&default_ws(), "Default")
        .await
        .expect("by name");
    assert_eq!(by_name.id, ExperimentId(0));
    let all = store
        .list_experiments(&default_ws(), ViewType::All, &page(0, None))
        .await
        .expect("list");
    assert_eq!(all.items.len(), 1);
    assert_eq!(all.next_page_token, None);
}

pub async fn created_workspace_gets_its_own_default_experiment(store: Store) {
    let team = ws("team-a");
    let w = store
        .create_workspace(&team, "the a team")
        .await
        .expect("created");
    assert_eq!(w.name, team);
    assert_eq!(w.description, "the a team");
    assert!(w.created_at > 0);
    assert_eq!(store.get_workspace(&team).await.expect("get"), w);
    let exps = store
        .list_experiments(&team, ViewType::All, &page(0, None))
        .await
        .expect("list");
    assert_eq!(exps.items.len(), 1);
    let d = &exps.items[0];
    assert_eq!(d.name, "Default");
    assert_ne!(d.id, ExperimentId(0));
    assert_eq!(d.workspace, team);
    assert_eq!(
        d.artifact_location,
        format!("mlplane-artifacts:/team-a/{}", d.id)
    );
    expect_already_exists(
        store.create_workspace(&team, "").await,
        Entity::Workspace,
        "team-a",
    );
    // The default workspace still has only its own Default experiment.
    let dflt = store
        .list_experiments(&default_ws(), ViewType::All, &page(0, None))
        .await
        .expect("list");
    assert_eq!(
        dflt.items.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![ExperimentId(0)]
    );
}

pub async fn workspaces_page_in_name_order(store: Store) {
    for name in ["zeta", "alpha", "mid-1", "mid-0", "beta"] {
        store
            .create_workspace(&ws(name), "")
            .await
            .expect("created");
    }
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let p = store.list_workspaces(&page(2, token)).await.expect("page");
        assert!(p.items.len() <= 2);
        names.extend(p.items.into_iter().map(|w| w.name.to_string()));
        match p.next_page_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(
        names,
        ["alpha", "beta", "default", "mid-0", "mid-1", "zeta"]
    );
}

pub async fn unknown_workspace_is_not_found_everywhere(store: Store) {
    let nope = ws("nope");
    let run = fresh_run(&store).await;
    let id = run.info.id.clone();
    let ws_nf = Entity::Workspace;
    expect_not_found(store.get_workspace(&nope).await, ws_nf);
    expect_not_found(store.create_experiment(&nope, new_exp("x")).await, ws_nf);
    expect_not_found(store.get_experiment(&nope, ExperimentId(0)).await, ws_nf);
    expect_not_found(store.get_experiment_by_name(&nope, "Default").await, ws_nf);
    expect_not_found(
        store
            .list_experiments(&nope, ViewType::All, &page(0, None))
            .await,
        ws_nf,
    );
    expect_not_found(
        store.rename_experiment(&nope, ExperimentId(0), "y").await,
        ws_nf,
    );
    expect_not_found(
        store
            .set_experiment_tag(&nope, ExperimentId(0), tag("k", "v"))
            .await,
        ws_nf,
    );
    expect_not_found(
        store.create_run(&nope, new_run(ExperimentId(0), 1)).await,
        ws_nf,
    );
    expect_not_found(store.get_run(&nope, &id).await, ws_nf);
    expect_not_found(
        store
            .list_runs(&nope, &Default::default(), &page(0, None))
            .await,
        ws_nf,
    );
    expect_not_found(
        store.update_run(&nope, &id, Default::default()).await,
        ws_nf,
    );
    expect_not_found(
        store.log_batch(&nope, &id, LogBatch::default()).await,
        ws_nf,
    );
    expect_not_found(
        store.metric_history(&nope, &id, "m", &page(0, None)).await,
        ws_nf,
    );
    expect_not_found(store.append_log(&nope, &id, "x").await, ws_nf);
    expect_not_found(store.read_log(&nope, &id, 0, 10).await, ws_nf);
    expect_not_found(
        store
            .list_artifacts(&nope, &id, &ArtifactPath::root())
            .await,
        ws_nf,
    );
    expect_not_found(store.get_run(&nope, &RunId::generate()).await, ws_nf);
}

pub async fn experiment_names_are_unique_per_workspace(store: Store) {
    let a = create_exp(&store, &default_ws(), "a").await;
    expect_already_exists(
        store.create_experiment(&default_ws(), new_exp("a")).await,
        Entity::Experiment,
        "a",
    );
    let other = ws("other");
    store.create_workspace(&other, "").await.expect("workspace");
    let a2 = create_exp(&store, &other, "a").await;
    assert_ne!(a.id, a2.id);
    let b = create_exp(&store, &default_ws(), "b").await;
    expect_already_exists(
        store.rename_experiment(&default_ws(), b.id, "a").await,
        Entity::Experiment,
        "a",
    );
    // The failed rename left the name alone, and a deleted experiment still holds its name.
    assert_eq!(
        store
            .get_experiment(&default_ws(), b.id)
            .await
            .expect("get")
            .name,
        "b"
    );
    store
        .set_experiment_lifecycle(&default_ws(), a.id, LifecycleStage::Deleted)
        .await
        .expect("delete");
    expect_already_exists(
        store.create_experiment(&default_ws(), new_exp("a")).await,
        Entity::Experiment,
        "a",
    );
}

pub async fn experiment_ids_count_from_one_and_artifact_location_defaults(store: Store) {
    let e1 = create_exp(&store, &default_ws(), "first").await;
    let e2 = store
        .create_experiment(
            &default_ws(),
            NewExperiment {
                name: "second".into(),
                artifact_location: Some("s3://bucket/somewhere".into()),
                tags: vec![tag("team", "x"), tag("a", "1")],
            },
        )
        .await
        .expect("created");
    assert!(
        e1.id.0 >= 1,
        "experiment ids after 0 start at 1, got {}",
        e1.id
    );
    assert!(e2.id > e1.id);
    assert_eq!(
        e1.artifact_location,
        format!("mlplane-artifacts:/default/{}", e1.id)
    );
    assert_eq!(e2.artifact_location, "s3://bucket/somewhere");
    assert_eq!(e1.lifecycle_stage, LifecycleStage::Active);
    assert!(e1.created_at > 0 && e1.updated_at >= e1.created_at);
    assert_eq!(e2.tags, vec![tag("a", "1"), tag("team", "x")]);
    let got = store
        .get_experiment(&default_ws(), e2.id)
        .await
        .expect("get");
    assert_eq!(got, e2);
    let by_name = store
        .get_experiment_by_name(&default_ws(), "second")
        .await
        .expect("get");
    assert_eq!(by_name, e2);
    expect_not_found(
        store
            .get_experiment(&default_ws(), ExperimentId(999_999))
            .await,
        Entity::Experiment,
    );
    expect_not_found(
        store.get_experiment_by_name(&default_ws(), "nope").await,
        Entity::Experiment,
    );
}

pub async fn experiment_rename_and_tags_bump_updated_at(store: Store) {
    let e = create_exp(&store, &default_ws(), "old").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let renamed = store
        .rename_experiment(&default_ws(), e.id, "new")
        .await
        .expect("rename");
    assert_eq!(renamed.name, "new");
    assert!(renamed.updated_at > e.updated_at);
    assert_eq!(renamed.created_at, e.created_at);
    expect_not_found(
        store.get_experiment_by_name(&default_ws(), "old").await,
        Entity::Experiment,
    );

    tokio::time::sleep(Duration::from_millis(5)).await;
    store
        .set_experiment_tag(&default_ws(), e.id, tag("k", "v1"))
        .await
        .expect("tag");
    store
        .set_experiment_tag(&default_ws(), e.id, tag("k", "v2"))
        .await
        .expect("upsert");
    store
        .set_experiment_tag(&default_ws(), e.id, tag("a", "x"))
        .await
        .expect("tag");
    let tagged = store
        .get_experiment(&default_ws(), e.id)
        .await
        .expect("get");
    assert_eq!(tagged.tags, vec![tag("a", "x"), tag("k", "v2")]);
    assert!(tagged.updated_at > renamed.updated_at);

    tokio::time::sleep(Duration::from_millis(5)).await;
    store
        .delete_experiment_tag(&default_ws(), e.id, "k")
        .await
        .expect("delete tag");
    let untagged = store
        .get_experiment(&default_ws(), e.id)
        .await
        .expect("get");
    assert_eq!(untagged.tags, vec![tag("a", "x")]);
    assert!(untagged.updated_at > tagged.updated_at);

    tokio::time::sleep(Duration::from_millis(5)).await;
    let deleted = store
        .set_experiment_lifecycle(&default_ws(), e.id, LifecycleStage::Deleted)
        .await
        .expect("delete");
    assert!(deleted.updated_at > untagged.updated_at);
    expect_not_found(
        store
            .set_experiment_tag(&default_ws(), ExperimentId(424_242), tag("k", "v"))
            .await,
        Entity::Experiment,
    );
}

pub async fn missing_experiment_tag_cannot_be_deleted(store: Store) {
    let e = create_exp(&store, &default_ws(), "e").await;
    match store
        .delete_experiment_tag(&default_ws(), e.id, "never-set")
        .await
    {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
    expect_not_found(
        store
            .delete_experiment_tag(&default_ws(), ExperimentId(424_242), "k")
            .await,
        Entity::Experiment,
    );
}

pub async fn deleting_an_experiment_deletes_its_runs_and_restoring_brings_them_back(store: Store) {
    let e = create_exp(&store, &default_ws(), "e").await;
    let other = create_exp(&store, &default_ws(), "other").await;
    let r1 = store
        .create_run(&default_ws(), new_run(e.id, 1))
        .await
        .expect("run");
    let r2 = store
        .create_run(&default_ws(), new_run(e.id, 2))
        .await
        .expect("run");
    let keep = store
        .create_run(&default_ws(), new_run(other.id, 3))
        .await
        .expect("run");
    let deleted = store
        .set_experiment_lifecycle(&default_ws(), e.id, LifecycleStage::Deleted)
        .await
        .expect("delete");
    assert_eq!(deleted.lifecycle_stage, LifecycleStage::Deleted);
    for r in [&r1, &r2] {
        let got = store
            .get_run(&default_ws(), &r.info.id)
            .await
            .expect("run still readable");
        assert_eq!(got.info.lifecycle_stage, LifecycleStage::Deleted);
    }
    let kept = store
        .get_run(&default_ws(), &keep.info.id)
        .await
        .expect("run");
    assert_eq!(kept.info.lifecycle_stage, LifecycleStage::Active);
    expect_invalid_state(store.create_run(&default_ws(), new_run(e.id, 4)).await);

    let restored = store
        .set_experiment_lifecycle(&default_ws(), e.id, LifecycleStage::Active)
        .await
        .expect("restore");
    assert_eq!(restored.lifecycle_stage, LifecycleStage::Active);
    for r in [&r1, &r2] {
        let got = store.get_run(&default_ws(), &r.info.id).await.expect("run");
        assert_eq!(got.info.lifecycle_stage, LifecycleStage::Active);
    }
    store
        .create_run(&default_ws(), new_run(e.id, 5))
        .await
        .expect("runs can be created again");
}

pub async fn default_experiment_cannot_be_deleted(store: Store) {
    expect_invalid_state(
        store
            .set_experiment_lifecycle(&default_ws(), ExperimentId(0), LifecycleStage::Deleted)
            .await,
    );
    let team = ws("team");
    store.create_workspace(&team, "").await.expect("workspace");
    let d = store
        .get_experiment_by_name(&team, "Default")
        .await
        .expect("default of team");
    expect_invalid_state(
        store
            .set_experiment_lifecycle(&team, d.id, LifecycleStage::Deleted)
            .await,
    );
    let still = store.get_experiment(&team, d.id).await.expect("get");
    assert_eq!(still.lifecycle_stage, LifecycleStage::Active);
}

pub async fn deleting_twice_or_restoring_an_active_experiment_is_invalid_state(store: Store) {
    let e = create_exp(&store, &default_ws(), "e").await;
    expect_invalid_state(
        store
            .set_experiment_lifecycle(&default_ws(), e.id, LifecycleStage::Active)
            .await,
    );
    store
        .set_experiment_lifecycle(&default_ws(), e.id, LifecycleStage::Deleted)
        .await
        .expect("delete");
    expect_invalid_state(
        store
            .set_experiment_lifecycle(&default_ws(), e.id, LifecycleStage::Deleted)
            .await,
    );
    expect_not_found(
        store
            .set_experiment_lifecycle(
                &default_ws(),
                ExperimentId(777_777),
                LifecycleStage::Deleted,
            )
            .await,
        Entity::Experiment,
    );
}

pub async fn list_experiments_filters_by_view_in_id_order(store: Store) {
    let a = create_exp(&store, &default_ws(), "a").await;
    let b = create_exp(&store, &default_ws(), "b").await;
    let c = create_exp(&store, &default_ws(), "c").await;
    store
        .set_experiment_lifecycle(&default_ws(), b.id, LifecycleStage::Deleted)
        .await
        .expect("delete");
    let ids = |view| {
        let store = store.clone();
        async move {
            store
                .list_experiments(&default_ws(), view, &page(0, None))
                .await
                .expect("list")
                .items
                .into_iter()
                .map(|e| e.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        ids(ViewType::ActiveOnly).await,
        vec![ExperimentId(0), a.id, c.id]
    );
    assert_eq!(ids(ViewType::DeletedOnly).await, vec![b.id]);
    assert_eq!(
        ids(ViewType::All).await,
        vec![ExperimentId(0), a.id, b.id, c.id]
    );
}

pub async fn experiment_pages_cover_every_item_once(store: Store) {
    let mut expected = vec![ExperimentId(0)];
    for i in 0..10 {
        expected.push(create_exp(&store, &default_ws(), &format!("e{i}")).await.id);
    }
    let mut seen = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let p = store
            .list_experiments(&default_ws(), ViewType::ActiveOnly, &page(3, token))
            .await
            .expect("page");
        pages += 1;
        assert!(p.items.len() <= 3);
        seen.extend(p.items.iter().map(|e| e.id));
        match p.next_page_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    assert_eq!(pages, 4);
}
