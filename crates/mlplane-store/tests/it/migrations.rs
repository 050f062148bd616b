//! Upgrades: a database made before migration 5 (jobs and assets) gets it and migration 6
//! (asset files, which reference assets) at the next open, on both engines, and keeps its
//! data; so does one made before migration 9 (which marks the metric series that hold one
//! point per step), one made before migration 15 (job token scopes), and one made before
//! migration 16 (integer run keys, SQLite only). (Gaps in the numbering are covered by the unit test
//! in `sqlite/mod.rs`.)
//!
//! Invariants:
//! - the "old" database is made by opening a current one and removing what versions 5 and 6
//!   added, which is exactly the state a pre-5 release leaves behind.

use crate::contract::jobs::new_job;
use crate::contract::{default_ws, new_run, now_ms};
use mlplane_core::ExperimentId;

const UNDO_V5: &str = "DROP TABLE asset_files; DROP TABLE job_io; DROP TABLE jobs; \
                       DROP TABLE assets; DELETE FROM schema_migrations WHERE version IN (5, 6);";

async fn check_upgraded(store: &crate::harness::Store, run_id: &mlplane_core::RunId) {
    store
        .get_run(&default_ws(), run_id)
        .await
        .expect("data from before the upgrade is kept");
    let job = store
        .create_job(
            &default_ws(),
            new_job(Some("after-upgrade"), ExperimentId(0), "cpu"),
        )
        .await
        .expect("jobs work after the upgrade");
    assert_eq!(job.name.as_str(), "after-upgrade");
    let asset = mlplane_core::NewAsset {
        kind: mlplane_core::AssetKind::Data,
        name: "after-upgrade".into(),
        version: None,
        description: String::new(),
        tags: vec![],
        spec: "{}".into(),
        storage_uri: None,
        source_job: None,
    };
    store
        .create_asset(&default_ws(), asset)
        .await
        .expect("assets work after the upgrade");
    let file = mlplane_core::AssetFile {
        path: mlplane_core::ArtifactPath::parse("a.csv").expect("path"),
        size: 1,
        sha256: "0".repeat(64),
    };
    store
        .record_asset_file(
            &default_ws(),
            mlplane_core::AssetKind::Data,
            "after-upgrade",
            "1",
            file,
        )
        .await
        .expect("asset files work after the upgrade");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_database_from_before_jobs_gets_migration_5() {
    let db = crate::harness::sqlite_db().await;
    let run = db
        .store
        .create_run(&default_ws(), new_run(ExperimentId(0), now_ms()))
        .await
        .expect("run");
    db.store.close().await;
    let path = db.url.trim_start_matches("sqlite://").to_string();
    let conn = rusqlite::Connection::open(&path).expect("open the file");
    conn.execute_batch(UNDO_V5).expect("undo version 5");
    let versions: Vec<i64> = conn
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("versions");
    // Versions after 5 (other features' migrations) may be present.
    let upto5: Vec<i64> = versions.into_iter().filter(|v| *v <= 5).collect();
    assert_eq!(upto5, vec![1, 2, 3, 4]);
    drop(conn);
    let store = mlplane_store::open(&db.url).await.expect("reopens");
    check_upgraded(&store, &run.info.id).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_database_from_before_jobs_gets_migration_5() {
    let Some(db) = crate::harness::pg_db().await else {
        return;
    };
    let run = db
        .store
        .create_run(&default_ws(), new_run(ExperimentId(0), now_ms()))
        .await
        .expect("run");
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client.batch_execute(UNDO_V5).await.expect("undo version 5");
    let store = mlplane_store::open(&db.url).await.expect("reopens");
    check_upgraded(&store, &run.info.id).await;
    let rows = client
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .expect("versions");
    let versions: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    let upto5: Vec<i64> = versions.into_iter().filter(|v| *v <= 5).collect();
    assert_eq!(upto5, vec![1, 2, 3, 4, 5]);
    store.close().await;
    drop(client);
    db.drop_db().await;
}

/// Undoes migration 9 (the column added last, so dropping it restores the old table).
const UNDO_V9: &str = "ALTER TABLE metric_series DROP COLUMN unique_steps; \
                       DELETE FROM schema_migrations WHERE version = 9;";

/// Logs a series with one point per step and one that has as many points as steps in its
/// range but repeats one step (so only the migration's count can tell them apart).
async fn log_series_for_v9(store: &crate::harness::Store) -> mlplane_core::RunId {
    use crate::contract::{metric, metrics_batch};
    let run = store
        .create_run(&default_ws(), new_run(ExperimentId(0), now_ms()))
        .await
        .expect("run");
    let id = run.info.id;
    let dense: Vec<_> = (0..100).map(|s| metric("dense", s, s, s as f64)).collect();
    // Step 70 moves to step 50 with its own value: a second point there, not an exact
    // repeat (which would be stored once).
    let repeated: Vec<_> = (0..100)
        .map(|s| (if s == 70 { 50 } else { s }, s))
        .map(|(step, s)| metric("repeated", step, step, s as f64))
        .collect();
    for b in [dense, repeated] {
        store
            .log_batch(&default_ws(), &id, metrics_batch(b))
            .await
            .expect("batch");
    }
    id
}

/// After the upgrade both series sample as MLflow does (the repeated one must not be read
/// as one point per step).
async fn check_v9(store: &crate::harness::Store, id: &mlplane_core::RunId) {
    let steps = |v: Vec<mlplane_core::MetricPoint>| v.iter().map(|p| p.step).collect::<Vec<_>>();
    let dense = store
        .metric_history_interval(&default_ws(), id, "dense", 5, None, None)
        .await
        .expect("dense sample");
    assert_eq!(steps(dense), vec![0, 20, 40, 60, 99]);
    let repeated = store
        .metric_history_interval(&default_ws(), id, "repeated", 100, Some(49), Some(52))
        .await
        .expect("repeated sample");
    assert_eq!(steps(repeated), vec![49, 50, 50, 51, 52]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_database_from_before_migration_9_gets_it() {
    let db = crate::harness::sqlite_db().await;
    let id = log_series_for_v9(&db.store).await;
    db.store.close().await;
    let path = db.url.trim_start_matches("sqlite://").to_string();
    let conn = rusqlite::Connection::open(&path).expect("open the file");
    conn.execute_batch(UNDO_V9).expect("undo version 9");
    drop(conn);
    let store = mlplane_store::open(&db.url).await.expect("reopens");
    check_v9(&store, &id).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_database_from_before_migration_9_gets_it() {
    let Some(db) = crate::harness::pg_db().await else {
        return;
    };
    let id = log_series_for_v9(&db.store).await;
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client.batch_execute(UNDO_V9).await.expect("undo version 9");
    let store = mlplane_store::open(&db.url).await.expect("reopens");
    check_v9(&store, &id).await;
    store.close().await;
    drop(client);
    db.drop_db().await;
}

const UNDO_V15: &str = "ALTER TABLE api_tokens DROP COLUMN job_scope; \
                        DELETE FROM schema_migrations WHERE version = 15;";

fn plain_token(id: &str) -> mlplane_store::auth::ApiTokenRecord {
    mlplane_store::auth::ApiTokenRecord {
        id: id.into(),
        owner: mlplane_store::auth::PrincipalRef {
            kind: mlplane_core::PrincipalKind::Job,
            id: "default/old-job".into(),
        },
        name: "job old-job".into(),
        secret_sha256: "0".repeat(64),
        scopes: vec!["runs/write".into()],
        workspace: Some("default".into()),
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
        created_at: now_ms(),
        job_scope: None,
    }
}

/// A token stored before migration 15 reads back without a scope; new ones keep theirs.
async fn check_v15(store: &crate::harness::Store) {
    let old = store.get_token("t-old").await.expect("old token");
    let mut want = plain_token("t-old");
    want.created_at = 5;
    assert_eq!(old, want);
    let mut t = plain_token("t-new");
    t.created_at = old.created_at;
    t.job_scope = Some(mlplane_core::JobScope {
        run_id: "r".into(),
        experiment_id: "1".into(),
        ..Default::default()
    });
    store.create_token(t.clone()).await.expect("new token");
    assert_eq!(store.get_token("t-new").await.expect("new"), t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_database_from_before_migration_15_gets_it() {
    let db = crate::harness::sqlite_db().await;
    let mut t = plain_token("t-old");
    t.created_at = 5;
    db.store.create_token(t).await.expect("token");
    db.store.close().await;
    let path = db.url.trim_start_matches("sqlite://").to_string();
    let conn = rusqlite::Connection::open(&path).expect("open the file");
    conn.execute_batch(UNDO_V15).expect("undo version 15");
    drop(conn);
    let store = mlplane_store::open(&db.url).await.expect("reopens");
    check_v15(&store).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_database_from_before_migration_15_gets_it() {
    let Some(db) = crate::harness::pg_db().await else {
        return;
    };
    let mut t = plain_token("t-old");
    t.created_at = 5;
    db.store.create_token(t).await.expect("token");
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
        .batch_execute(UNDO_V15)
        .await
        .expect("undo version 15");
    let store = mlplane_store::open(&db.url).await.expect("reopens");
    check_v15(&store).await;
    store.close().await;
    drop(client);
    db.drop_db().await;
}

/// Undoes migration 16: the tables keyed by `runs.num` go back to the run id, and `runs`
/// loses its integer key (the layout every release before 16 has). Run with foreign keys
/// off, children first, then `runs`.
const UNDO_V16: &str = r#"
PRAGMA foreign_keys=OFF;
CREATE TABLE runs_old (
    id TEXT PRIMARY KEY, workspace TEXT NOT NULL REFERENCES workspaces(name),
    experiment_id INTEGER NOT NULL REFERENCES experiments(id), name TEXT NOT NULL,
    user_id TEXT NOT NULL, status TEXT NOT NULL, start_time INTEGER NOT NULL,
    end_time INTEGER, lifecycle_stage TEXT NOT NULL, parent_run_id TEXT,
    artifact_uri TEXT NOT NULL);
INSERT INTO runs_old SELECT id, workspace, experiment_id, name, user_id, status, start_time,
    end_time, lifecycle_stage, parent_run_id, artifact_uri FROM runs;
CREATE TABLE p_old (run_id TEXT NOT NULL REFERENCES runs(id), key TEXT NOT NULL,
    value TEXT NOT NULL, PRIMARY KEY (run_id, key)) WITHOUT ROWID;
INSERT INTO p_old SELECT r.id, p.key, p.value FROM run_params p JOIN runs r ON r.num = p.run_num;
DROP TABLE run_params; ALTER TABLE p_old RENAME TO run_params;
CREATE INDEX run_params_by_key ON run_params (key, value);
CREATE TABLE t_old (run_id TEXT NOT NULL REFERENCES runs(id), key TEXT NOT NULL,
    value TEXT NOT NULL, PRIMARY KEY (run_id, key)) WITHOUT ROWID;
INSERT INTO t_old SELECT r.id, t.key, t.value FROM run_tags t JOIN runs r ON r.num = t.run_num;
DROP TABLE run_tags; ALTER TABLE t_old RENAME TO run_tags;
CREATE INDEX run_tags_by_key ON run_tags (key, value);
CREATE TABLE m_old (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs(id),
    key TEXT NOT NULL, count INTEGER NOT NULL, min_step INTEGER NOT NULL,
    max_step INTEGER NOT NULL, last_value REAL, last_bits INTEGER NOT NULL,
    last_step INTEGER NOT NULL, last_ts INTEGER NOT NULL,
    unique_steps INTEGER NOT NULL DEFAULT 1, UNIQUE (run_id, key));
INSERT INTO m_old SELECT m.id, r.id, m.key, m.count, m.min_step, m.max_step, m.last_value,
    m.last_bits, m.last_step, m.last_ts, m.unique_steps FROM metric_series m JOIN runs r ON r.num = m.run_num;
DROP TABLE metric_series; ALTER TABLE m_old RENAME TO metric_series;
CREATE INDEX metric_series_by_key ON metric_series (key, last_value, run_id);
CREATE TABLE i_old (run_id TEXT NOT NULL REFERENCES runs(id), name TEXT NOT NULL,
    digest TEXT NOT NULL, context TEXT NOT NULL, seq INTEGER NOT NULL,
    source_type TEXT NOT NULL, source TEXT NOT NULL, dataset_schema TEXT,
    dataset_profile TEXT, tags TEXT NOT NULL,
    PRIMARY KEY (run_id, name, digest, context)) WITHOUT ROWID;
INSERT INTO i_old SELECT r.id, i.name, i.digest, i.context, i.seq, i.source_type, i.source,
    i.dataset_schema, i.dataset_profile, i.tags FROM run_inputs i JOIN runs r ON r.num = i.run_num;
DROP TABLE run_inputs; ALTER TABLE i_old RENAME TO run_inputs;
CREATE TABLE o_old (run_id TEXT NOT NULL REFERENCES runs(id),
    model_id TEXT NOT NULL REFERENCES logged_models(id), step INTEGER NOT NULL,
    seq INTEGER NOT NULL, PRIMARY KEY (run_id, model_id)) WITHOUT ROWID;
INSERT INTO o_old SELECT r.id, o.model_id, o.step, o.seq FROM run_outputs o JOIN runs r ON r.num = o.run_num;
DROP TABLE run_outputs; ALTER TABLE o_old RENAME TO run_outputs;
DROP TABLE runs; ALTER TABLE runs_old RENAME TO runs;
CREATE INDEX runs_by_workspace ON runs (workspace, start_time DESC, id);
CREATE INDEX runs_by_experiment ON runs (experiment_id, start_time DESC, id);
DELETE FROM schema_migrations WHERE version = 16;
"#;

/// Runs with everything keyed by run: params, tags, metrics, inputs, outputs, a child run.
async fn runs_for_v16(store: &crate::harness::Store) -> Vec<mlplane_core::RunId> {
    use crate::contract::{metric, metrics_batch, param, tag};
    use mlplane_core::{Dataset, DatasetInput, ModelOutput, NewLoggedModel};
    let ws = default_ws();
    let mut ids = Vec::new();
    for i in 0..3i64 {
        let mut nr = new_run(ExperimentId(0), now_ms() + i);
        nr.parent_run_id = ids.first().cloned();
        let id = store.create_run(&ws, nr).await.expect("run").info.id;
        let mut b = metrics_batch(
            (0..10)
                .map(|s| metric("loss", s, s, (i * s) as f64))
                .collect(),
        );
        b.params = vec![param("lr", &format!("0.{i}")), param("opt", "adam")];
        b.tags = vec![tag("team", if i == 1 { "b" } else { "a" })];
        store.log_batch(&ws, &id, b).await.expect("batch");
        let input = DatasetInput {
            dataset: Dataset {
                name: format!("d{i}"),
                digest: "abc".into(),
                source_type: "local".into(),
                source: "{}".into(),
                schema: None,
                profile: None,
            },
            tags: vec![tag(DatasetInput::CONTEXT_TAG, "training")],
        };
        store
            .log_inputs(&ws, &id, vec![input])
            .await
            .expect("inputs");
        let model = store
            .create_logged_model(
                &ws,
                NewLoggedModel {
                    experiment_id: ExperimentId(0),
                    name: Some(format!("m{i}")),
                    model_type: None,
                    source_run_id: Some(id.clone()),
                    params: vec![],
                    tags: vec![],
                },
            )
            .await
            .expect("model");
        let out = ModelOutput {
            model_id: model.id,
            step: i,
        };
        store
            .log_outputs(&ws, &id, vec![out])
            .await
            .expect("outputs");
        ids.push(id);
    }
    ids
}

/// What a search and each run read back as: compared before and after the upgrade.
async fn v16_view(store: &crate::harness::Store, ids: &[mlplane_core::RunId]) -> String {
    let ws = default_ws();
    let q = mlplane_store::RunSearch {
        experiment_ids: vec![ExperimentId(0)],
        view: mlplane_core::ViewType::ActiveOnly,
        filter: mlplane_core::search::parse_run_filter(
            "params.opt = 'adam' and metrics.loss >= 0 and tags.team = 'a'",
        )
        .expect("filter"),
        order_by: mlplane_core::search::parse_order_by(
            &["metrics.loss DESC".to_string()],
            mlplane_core::search::SearchKind::Runs,
        )
        .expect("order"),
    };
    let found = store
        .search_runs(&ws, &q, &crate::contract::page(10, None))
        .await
        .expect("search");
    let mut out = format!("{:?}", found.items);
    for id in ids {
        let run = store.get_run(&ws, id).await.expect("run");
        out.push_str(&format!("{run:?}"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_database_from_before_migration_16_gets_it() {
    let db = crate::harness::sqlite_db().await;
    let ids = runs_for_v16(&db.store).await;
    let before = v16_view(&db.store, &ids).await;
    assert!(before.contains("team"), "{before}");
    db.store.close().await;
    let path = db.url.trim_start_matches("sqlite://").to_string();
    let conn = rusqlite::Connection::open(&path).expect("open the file");
    conn.execute_batch(UNDO_V16).expect("undo version 16");
    drop(conn);
    let store = mlplane_store::open(&db.url).await.expect("reopens");
    assert_eq!(v16_view(&store, &ids).await, before);
    // Writes keep working on the new keys, and new runs get their own.
    let b = crate::contract::metrics_batch(vec![crate::contract::metric("loss", 10, 10, 1.0)]);
    store
        .log_batch(&default_ws(), &ids[2], b)
        .await
        .expect("batch after the upgrade");
    let run = store
        .create_run(&default_ws(), new_run(ExperimentId(0), now_ms()))
        .await
        .expect("run after the upgrade");
    assert!(run.params.is_empty() && run.metrics.is_empty());
    let after = store.get_run(&default_ws(), &ids[2]).await.expect("run");
    assert_eq!(after.metrics[0].step, 10);
    store.close().await;
}
