//! Fresh, empty stores for the contract suite: a SQLite file in a temporary directory, or
//! a new PostgreSQL database on the server named by `MLPLANE_TEST_PG_URL`.
//!
//! Invariants:
//! - every test gets its own store and nothing is shared between tests;
//! - Postgres tests never touch the database named in the URL except to create and drop
//!   their own `t_<random>` database;
//! - without `MLPLANE_TEST_PG_URL` a Postgres test is skipped with a notice, unless
//!   `MLPLANE_REQUIRE_PG=1`, in which case it fails.

use mlplane_core::RunId;
use mlplane_store::MetadataStore;
use std::sync::Arc;

pub type Store = Arc<dyn MetadataStore>;

/// A store on a SQLite file, with the directory that must outlive it.
pub struct SqliteDb {
    pub store: Store,
    pub url: String,
    _dir: tempfile::TempDir,
}

pub async fn sqlite_db() -> SqliteDb {
    let dir = tempfile::tempdir().expect("a temporary directory can be created");
    let url = format!("sqlite://{}/m.db", dir.path().display());
    let store = mlplane_store::open(&url).await.expect("sqlite store opens");
    SqliteDb {
        store,
        url,
        _dir: dir,
    }
}

/// A store on a fresh Postgres database, dropped by [`PgDb::drop_db`].
pub struct PgDb {
    pub store: Store,
    pub url: String,
    admin_url: String,
    name: String,
}

/// The server URL for Postgres tests, or `None` when they are to be skipped.
fn pg_admin_url() -> Option<String> {
    match std::env::var("MLPLANE_TEST_PG_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_string()),
        _ => {
            if std::env::var("MLPLANE_REQUIRE_PG").as_deref() == Ok("1") {
                panic!("MLPLANE_REQUIRE_PG=1 but MLPLANE_TEST_PG_URL is not set");
            }
            eprintln!(
                "note: skipping postgres contract test, MLPLANE_TEST_PG_URL is not set \
                 (start a server with scripts/pg-server.sh start DIR)"
            );
            None
        }
    }
}

/// `url` with its database name replaced by `db`.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[host_start..].find('/') {
        Some(slash) => &base[..host_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("MLPLANE_TEST_PG_URL accepts connections");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

pub async fn pg_db() -> Option<PgDb> {
    let admin_url = pg_admin_url()?;
    let name = format!("t_{}", RunId::generate());
    let client = admin(&admin_url).await;
    let mut attempt = 0;
    // CREATE DATABASE can fail transiently while another test copies the template.
    loop {
        match client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
        {
            Ok(()) => break,
            Err(e) if attempt < 5 => {
                attempt += 1;
                eprintln!("retrying CREATE DATABASE {name}: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => panic!("cannot create test database {name}: {e}"),
        }
    }
    let url = with_database(&admin_url, &name);
    let store = mlplane_store::open(&url)
        .await
        .expect("postgres store opens");
    Some(PgDb {
        store,
        url,
        admin_url,
        name,
    })
}

impl PgDb {
    /// Closes the store and drops its database.
    pub async fn drop_db(self) {
        self.store.close().await;
        drop(self.store);
        let client = admin(&self.admin_url).await;
        if let Err(e) = client
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await
        {
            eprintln!("note: cannot drop test database {}: {e}", self.name);
        }
    }
}

#[test]
fn database_name_is_replaced_in_urls() {
    assert_eq!(
        with_database("postgres://u@h:5/postgres", "t_1"),
        "postgres://u@h:5/t_1"
    );
    assert_eq!(
        with_database("postgres://u@h:5", "t_1"),
        "postgres://u@h:5/t_1"
    );
    assert_eq!(
        with_database("postgresql://u:p@h/db?sslmode=disable", "t_1"),
        "postgresql://u:p@h/t_1?sslmode=disable"
    );
}
