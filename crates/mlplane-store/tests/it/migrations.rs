//! Upgrades: a database made before migration 5 (jobs and assets) gets it and migration 6
//! (asset files, which reference assets) at the next open, on both engines, and keeps its
//! data; so does one made before migration 9 (which marks the metric series that hold one
//! point per step), and one made before migration 15 (job token scopes). (Gaps in the numbering are covered by the unit test
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
