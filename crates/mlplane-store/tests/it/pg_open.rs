//! Opening a Postgres store fails cleanly, without a server: an unreachable server is
//! `Unavailable` (never a panic or a hang), a malformed URL is `Config`, and neither
//! message shows the password.
//!
//! Invariants:
//! - these tests need no database and always run.

use mlplane_store::StoreError;

#[tokio::test]
async fn unreachable_postgres_is_unavailable_and_hides_the_password() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    match mlplane_store::open("postgres://user:hunter2@127.0.0.1:1/db").await {
        Err(StoreError::Unavailable(m)) => assert!(!m.contains("hunter2"), "{m}"),
        Err(e) => panic!("expected Unavailable, got {e:?}"),
        Ok(_) => panic!("connected to a server that does not exist"),
    }
}

#[tokio::test]
async fn malformed_postgres_url_is_a_config_error() {
    match mlplane_store::open("postgres://user:hunter2@127.0.0.1:notaport/db").await {
        Err(StoreError::Config(m)) => assert!(!m.contains("hunter2"), "{m}"),
        Err(e) => panic!("expected Config, got {e:?}"),
        Ok(_) => panic!("a malformed URL was accepted"),
    }
}
