//! Contract checks for the model registry: models, versions, tags, aliases, stages and
//! searches.
//!
//! Invariants:
//! - each check starts from a fresh store and asserts on variants, not messages.

use super::*;
use mlplane_core::registry::{
    ModelSource, ModelVersion, NewModelVersion, NewRegisteredModel, Stage, VersionStatus,
    parse_model_source,
};
use mlplane_core::search::{SearchKind, parse_order_by, parse_registry_filter};
use mlplane_store::RegistryQuery;

fn new_model(name: &str) -> NewRegisteredModel {
    NewRegisteredModel {
        name: name.into(),
        description: String::new(),
        user_id: "alice".into(),
        tags: vec![],
    }
}

fn new_version(name: &str, source: &str) -> NewModelVersion {
    NewModelVersion {
        name: name.into(),
        source: source.into(),
        parsed: parse_model_source(source).expect("test sources are valid"),
        run_id: None,
        run_link: String::new(),
        description: String::new(),
        user_id: "alice".into(),
        tags: vec![],
        model_id: None,
        logged_model_location: None,
    }
}

fn query(kind: SearchKind, filter: &str, order: &[&str]) -> RegistryQuery {
    let order: Vec<String> = order.iter().map(|s| s.to_string()).collect();
    RegistryQuery {
        filter: parse_registry_filter(filter, kind).expect("test filters parse"),
        order_by: parse_order_by(&order, kind).expect("test order_by parses"),
    }
}

/// A model with `n` versions registered from one run's `model` directory.
async fn model_with_versions(store: &Store, name: &str, n: usize) -> Vec<ModelVersion> {
    let run = fresh_run(store).await;
    store
        .create_registered_model(&default_ws(), new_model(name))
        .await
        .expect("model created");
    let mut out = Vec::new();
    for _ in 0..n {
        let v = store
            .create_model_version(
                &default_ws(),
                new_version(name, &format!("runs:/{}/model", run.info.id)),
            )
            .await
            .expect("version created");
        out.push(v);
    }
    out
}

pub async fn registered_model_lifecycle(store: Store) {
    let mut m = new_model("fraud");
    m.description = "catches fraud".into();
    m.tags = vec![tag("team", "risk")];
    let created = store
        .create_registered_model(&default_ws(), m)
        .await
        .expect("created");
    assert_eq!(created.name, "fraud");
    assert_eq!(created.description, "catches fraud");
    assert_eq!(created.tags, vec![tag("team", "risk")]);
    assert!(created.created_ms > 0);
    assert!(created.latest_versions.is_empty());
    let got = store
        .get_registered_model(&default_ws(), "fraud")
        .await
        .expect("get");
    assert_eq!(got, created);
    let updated = store
        .update_registered_model(&default_ws(), "fraud", "new text")
        .await
        .expect("update");
    assert_eq!(updated.description, "new text");
    store
        .set_registered_model_tag(&default_ws(), "fraud", tag("team", "ops"))
        .await
        .expect("set tag");
    store
        .set_registered_model_tag(&default_ws(), "fraud", tag("tier", "1"))
        .await
        .expect("set tag");
    store
        .delete_registered_model_tag(&default_ws(), "fraud", "tier")
        .await
        .expect("delete tag");
    expect_not_found(
        store
            .delete_registered_model_tag(&default_ws(), "fraud", "tier")
            .await,
        Entity::RegisteredModel,
    );
    let got = store
        .get_registered_model(&default_ws(), "fraud")
        .await
        .expect("get");
    assert_eq!(got.tags, vec![tag("team", "ops")]);
    expect_already_exists(
        store
            .create_registered_model(&default_ws(), new_model("fraud"))
            .await,
        Entity::RegisteredModel,
        "fraud",
    );
    store
        .delete_registered_model(&default_ws(), "fraud")
        .await
        .expect("delete");
    expect_not_found(
        store.get_registered_model(&default_ws(), "fraud").await,
        Entity::RegisteredModel,
    );
    expect_not_found(
        store.delete_registered_model(&default_ws(), "fraud").await,
        Entity::RegisteredModel,
    );
}

pub async fn versions_count_up_and_are_never_reused(store: Store) {
    let vs = model_with_versions(&store, "m", 3).await;
    assert_eq!(
        vs.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let v = &vs[0];
    assert_eq!(v.status, VersionStatus::Ready);
    assert_eq!(v.stage, Stage::None);
    assert!(v.run_id.is_some());
    assert!(
        v.storage_location.ends_with("/artifacts/model"),
        "{}",
        v.storage_location
    );
    store
        .delete_model_version(&default_ws(), "m", 3)
        .await
        .expect("delete");
    expect_not_found(
        store.get_model_version(&default_ws(), "m", 3).await,
        Entity::ModelVersion,
    );
    let run = v.run_id.clone().expect("run id");
    let next = store
        .create_model_version(
            &default_ws(),
            new_version("m", &format!("runs:/{run}/model")),
        )
        .await
        .expect("created");
    assert_eq!(next.version, 4);
    let updated = store
        .update_model_version(&default_ws(), "m", 4, "four")
        .await
        .expect("update");
    assert_eq!(updated.description, "four");
    store
        .set_model_version_tag(&default_ws(), "m", 4, tag("k", "v"))
        .await
        .expect("tag");
    assert_eq!(
        store
            .get_model_version(&default_ws(), "m", 4)
            .await
            .expect("get")
            .tags,
        vec![tag("k", "v")]
    );
    store
        .delete_model_version_tag(&default_ws(), "m", 4, "k")
        .await
        .expect("delete tag");
    expect_not_found(
        store
            .delete_model_version_tag(&default_ws(), "m", 4, "k")
            .await,
        Entity::ModelVersion,
    );
    expect_not_found(
        store
            .create_model_version(
                &default_ws(),
                new_version("nope", &format!("runs:/{run}/model")),
            )
            .await,
        Entity::RegisteredModel,
    );
}

pub async fn version_sources_must_name_an_existing_run(store: Store) {
    let run = fresh_run(&store).await;
    store
        .create_registered_model(&default_ws(), new_model("m"))
        .await
        .expect("model");
    let missing = mlplane_core::RunId::generate();
    expect_invalid(
        store
            .create_model_version(
                &default_ws(),
                new_version("m", &format!("runs:/{missing}/model")),
            )
            .await,
        "source",
    );
    let wrong_exp = format!(
        "mlflow-artifacts:/default/999/{}/artifacts/model",
        run.info.id
    );
    expect_invalid(
        store
            .create_model_version(&default_ws(), new_version("m", &wrong_exp))
            .await,
        "source",
    );
    let other_ws = format!(
        "mlflow-artifacts:/other/{}/{}/artifacts/model",
        run.info.experiment_id, run.info.id
    );
    expect_invalid(
        store
            .create_model_version(&default_ws(), new_version("m", &other_ws))
            .await,
        "source",
    );
    let logged = new_version("m", "models:/m-0123456789abcdef0123456789abcdef");
    assert!(matches!(logged.parsed, ModelSource::LoggedModel { .. }));
    expect_invalid(
        store.create_model_version(&default_ws(), logged).await,
        "source",
    );
    let ok = format!(
        "mlflow-artifacts:/default/{}/{}/artifacts/model",
        run.info.experiment_id, run.info.id
    );
    let v = store
        .create_model_version(&default_ws(), new_version("m", &ok))
        .await
        .expect("created");
    assert_eq!(v.version, 1, "refused versions take no number");
    assert_eq!(v.source, ok);
    assert_eq!(v.run_id.as_ref(), Some(&run.info.id));
}

pub async fn version_run_id_must_exist_and_match_the_source(store: Store) {
    let run = fresh_run(&store).await;
    let other = fresh_run(&store).await;
    store
        .create_registered_model(&default_ws(), new_model("m"))
        .await
        .expect("model");
    let mut v = new_version("m", &format!("runs:/{}/model", run.info.id));
    v.run_id = Some(other.info.id.clone());
    expect_invalid(store.create_model_version(&default_ws(), v).await, "run_id");
    let mut v = new_version(
        "m",
        "mlflow-artifacts:/default/0/models/m-0123456789abcdef0123456789abcdef/artifacts",
    );
    v.run_id = Some(mlplane_core::RunId::generate());
    expect_invalid(store.create_model_version(&default_ws(), v).await, "run_id");
    let mut v = new_version(
        "m",
        "mlflow-artifacts:/default/0/models/m-0123456789abcdef0123456789abcdef/artifacts",
    );
    v.run_id = Some(run.info.id.clone());
    let created = store
        .create_model_version(&default_ws(), v)
        .await
        .expect("logged model artifacts with an existing run");
    assert_eq!(created.run_id.as_ref(), Some(&run.info.id));
    expect_invalid(
        store
            .create_model_version(
                &default_ws(),
                new_version(
                    "m",
                    "mlflow-artifacts:/default/999/models/m-0123456789abcdef0123456789abcdef/artifacts",
                ),
            )
            .await,
        "source",
    );
}

pub async fn concurrent_version_creation_numbers_each_once(store: Store) {
    let run = fresh_run(&store).await;
    store
        .create_registered_model(&default_ws(), new_model("busy"))
        .await
        .expect("model");
    let source = format!("runs:/{}/model", run.info.id);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            let source = source.clone();
            tokio::spawn(async move {
                store
                    .create_model_version(&default_ws(), new_version("busy", &source))
                    .await
                    .map(|v| v.version)
            })
        })
        .collect();
    let mut numbers = Vec::new();
    for t in tasks {
        numbers.push(t.await.expect("task").expect("version created"));
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=16).collect::<Vec<i64>>());
}

pub async fn aliases_move_and_follow_deletes(store: Store) {
    model_with_versions(&store, "m", 2).await;
    store
        .set_model_alias(&default_ws(), "m", "champion", 1)
        .await
        .expect("set");
    let v = store
        .get_model_version_by_alias(&default_ws(), "m", "champion")
        .await
        .expect("by alias");
    assert_eq!(v.version, 1);
    assert_eq!(v.aliases, vec!["champion".to_string()]);
    store
        .set_model_alias(&default_ws(), "m", "champion", 2)
        .await
        .expect("move");
    let v = store
        .get_model_version_by_alias(&default_ws(), "m", "champion")
        .await
        .expect("by alias");
    assert_eq!(v.version, 2);
    let m = store
        .get_registered_model(&default_ws(), "m")
        .await
        .expect("model");
    assert_eq!(m.aliases.len(), 1);
    assert_eq!(m.aliases[0].version, 2);
    expect_not_found(
        store.set_model_alias(&default_ws(), "m", "x", 9).await,
        Entity::ModelVersion,
    );
    store
        .delete_model_alias(&default_ws(), "m", "champion")
        .await
        .expect("delete");
    expect_not_found(
        store
            .get_model_version_by_alias(&default_ws(), "m", "champion")
            .await,
        Entity::ModelAlias,
    );
    expect_not_found(
        store
            .delete_model_alias(&default_ws(), "m", "champion")
            .await,
        Entity::ModelAlias,
    );
    store
        .set_model_alias(&default_ws(), "m", "b", 2)
        .await
        .expect("set");
    store
        .delete_model_version(&default_ws(), "m", 2)
        .await
        .expect("delete version");
    expect_not_found(
        store
            .get_model_version_by_alias(&default_ws(), "m", "b")
            .await,
        Entity::ModelAlias,
    );
}

pub async fn stage_transitions_archive_existing_versions(store: Store) {
    model_with_versions(&store, "m", 3).await;
    for v in [1, 2] {
        store
            .transition_model_version_stage(&default_ws(), "m", v, Stage::Production, false)
            .await
            .expect("to production");
    }
    let v3 = store
        .transition_model_version_stage(&default_ws(), "m", 3, Stage::Production, true)
        .await
        .expect("to production, archiving");
    assert_eq!(v3.stage, Stage::Production);
    for v in [1, 2] {
        let got = store
            .get_model_version(&default_ws(), "m", v)
            .await
            .expect("get");
        assert_eq!(got.stage, Stage::Archived);
    }
    let latest = store
        .latest_model_versions(&default_ws(), "m", &[])
        .await
        .expect("latest");
    assert_eq!(
        latest
            .iter()
            .map(|v| (v.stage, v.version))
            .collect::<Vec<_>>(),
        vec![(Stage::Production, 3), (Stage::Archived, 2)]
    );
    let prod = store
        .latest_model_versions(&default_ws(), "m", &[Stage::Production])
        .await
        .expect("latest");
    assert_eq!(prod.len(), 1);
    let m = store
        .get_registered_model(&default_ws(), "m")
        .await
        .expect("model");
    assert_eq!(m.latest_versions.len(), 2);
    store
        .transition_model_version_stage(&default_ws(), "m", 1, Stage::Staging, true)
        .await
        .expect("to staging");
    assert_eq!(
        store
            .get_model_version(&default_ws(), "m", 3)
            .await
            .expect("get")
            .stage,
        Stage::Production
    );
}

pub async fn rename_keeps_versions_tags_and_aliases(store: Store) {
    model_with_versions(&store, "old", 2).await;
    store
        .set_registered_model_tag(&default_ws(), "old", tag("a", "b"))
        .await
        .expect("tag");
    store
        .set_model_alias(&default_ws(), "old", "prod", 2)
        .await
        .expect("alias");
    store
        .create_registered_model(&default_ws(), new_model("taken"))
        .await
        .expect("other");
    expect_already_exists(
        store
            .rename_registered_model(&default_ws(), "old", "taken")
            .await,
        Entity::RegisteredModel,
        "taken",
    );
    let m = store
        .rename_registered_model(&default_ws(), "old", "new")
        .await
        .expect("rename");
    assert_eq!(m.name, "new");
    assert_eq!(m.tags, vec![tag("a", "b")]);
    assert_eq!(m.aliases.len(), 1);
    expect_not_found(
        store.get_registered_model(&default_ws(), "old").await,
        Entity::RegisteredModel,
    );
    let v = store
        .get_model_version_by_alias(&default_ws(), "new", "prod")
        .await
        .expect("alias follows");
    assert_eq!((v.name.as_str(), v.version), ("new", 2));
}

pub async fn search_filters_orders_and_pages(store: Store) {
    for name in ["abc-1", "abc-2", "xyz", "ABC-3"] {
        let mut m = new_model(name);
        if name == "xyz" {
            m.tags = vec![tag("team", "t1")];
        }
        store
            .create_registered_model(&default_ws(), m)
            .await
            .expect("create");
    }
    let k = SearchKind::RegisteredModels;
    let names = |p: &mlplane_core::Page<mlplane_core::registry::RegisteredModel>| {
        p.items.iter().map(|m| m.name.clone()).collect::<Vec<_>>()
    };
    let all = store
        .search_registered_models(&default_ws(), &query(k, "", &[]), &page(0, None))
        .await
        .expect("all");
    assert_eq!(names(&all), vec!["ABC-3", "abc-1", "abc-2", "xyz"]);
    let like = store
        .search_registered_models(
            &default_ws(),
            &query(k, "name LIKE 'abc%'", &[]),
            &page(0, None),
        )
        .await
        .expect("like");
    assert_eq!(names(&like), vec!["abc-1", "abc-2"]);
    let ilike = store
        .search_registered_models(
            &default_ws(),
            &query(k, "name ILIKE 'abc%'", &["name DESC"]),
            &page(0, None),
        )
        .await
        .expect("ilike");
    assert_eq!(names(&ilike), vec!["abc-2", "abc-1", "ABC-3"]);
    let tagged = store
        .search_registered_models(
            &default_ws(),
            &query(k, "tags.team = 't1'", &[]),
            &page(0, None),
        )
        .await
        .expect("tag");
    assert_eq!(names(&tagged), vec!["xyz"]);
    // What the MLflow client appends to every model search: models without the tag stay.
    let untagged = store
        .search_registered_models(
            &default_ws(),
            &query(
                k,
                "name LIKE 'abc%' AND tag.`mlflow.prompt.is_prompt` != 'true' AND tags.team != 't2'",
                &[],
            ),
            &page(0, None),
        )
        .await
        .expect("absent tags");
    assert_eq!(names(&untagged), vec!["abc-1", "abc-2"]);
    let q = query(k, "name != 'xyz'", &[]);
    let first = store
        .search_registered_models(&default_ws(), &q, &page(2, None))
        .await
        .expect("page 1");
    assert_eq!(names(&first), vec!["ABC-3", "abc-1"]);
    let token = first.next_page_token.clone().expect("more");
    let second = store
        .search_registered_models(&default_ws(), &q, &page(2, Some(token.clone())))
        .await
        .expect("page 2");
    assert_eq!(names(&second), vec!["abc-2"]);
    assert_eq!(second.next_page_token, None);
    let other = query(k, "name = 'xyz'", &[]);
    assert!(matches!(
        store
            .search_registered_models(&default_ws(), &other, &page(2, Some(token)))
            .await,
        Err(StoreError::PageToken(_))
    ));
    expect_invalid(
        store
            .search_registered_models(&default_ws(), &q, &page(1001, None))
            .await,
        "max_results",
    );

    // Versions.
    let vs = model_with_versions(&store, "mv", 3).await;
    let run = vs[0].run_id.clone().expect("run");
    let kv = SearchKind::ModelVersions;
    let versions = |p: &mlplane_core::Page<ModelVersion>| {
        p.items
            .iter()
            .map(|v| (v.name.clone(), v.version))
            .collect::<Vec<_>>()
    };
    let by_name = store
        .search_model_versions(
            &default_ws(),
            &query(kv, "name = 'mv'", &[]),
            &page(0, None),
        )
        .await
        .expect("by name");
    assert_eq!(
        versions(&by_name),
        vec![("mv".into(), 3), ("mv".into(), 2), ("mv".into(), 1)]
    );
    let asc = store
        .search_model_versions(
            &default_ws(),
            &query(
                kv,
                &format!("run_id = '{run}' AND version_number >= 2"),
                &["version_number ASC"],
            ),
            &page(0, None),
        )
        .await
        .expect("by run");
    assert_eq!(versions(&asc), vec![("mv".into(), 2), ("mv".into(), 3)]);
    let none = store
        .search_model_versions(
            &default_ws(),
            &query(kv, "name = 'nope'", &[]),
            &page(0, None),
        )
        .await
        .expect("missing model");
    assert!(none.items.is_empty());
    let src = store
        .search_model_versions(
            &default_ws(),
            &query(kv, "source_path LIKE 'runs:/%'", &[]),
            &page(2, None),
        )
        .await
        .expect("by source");
    assert_eq!(src.items.len(), 2);
    assert!(src.next_page_token.is_some());
}

pub async fn registry_is_scoped_by_workspace(store: Store) {
    let a = ws("a");
    let b = ws("b");
    store.create_workspace(&a, "").await.expect("a");
    store.create_workspace(&b, "").await.expect("b");
    store
        .create_registered_model(&a, new_model("shared-name"))
        .await
        .expect("in a");
    expect_not_found(
        store.get_registered_model(&b, "shared-name").await,
        Entity::RegisteredModel,
    );
    expect_not_found(
        store.delete_registered_model(&b, "shared-name").await,
        Entity::RegisteredModel,
    );
    store
        .create_registered_model(&b, new_model("shared-name"))
        .await
        .expect("same name in b");
    let found = store
        .search_registered_models(
            &b,
            &query(SearchKind::RegisteredModels, "", &[]),
            &page(0, None),
        )
        .await
        .expect("search b");
    assert_eq!(found.items.len(), 1);
    // A run of the default workspace cannot be registered from workspace a.
    let run = fresh_run(&store).await;
    expect_invalid(
        store
            .create_model_version(
                &a,
                new_version("shared-name", &format!("runs:/{}/model", run.info.id)),
            )
            .await,
        "source",
    );
    expect_not_found(
        store
            .get_registered_model(&ws("nowhere"), "shared-name")
            .await,
        Entity::Workspace,
    );
}
