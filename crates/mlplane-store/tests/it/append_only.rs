//! The audit log is append-only at the engine level: SQL run directly against the database,
//! bypassing the store, cannot change or remove a record (SQLite and PostgreSQL triggers).
//!
//! Invariants:
//! - each test appends through the store, then tries UPDATE and DELETE (and TRUNCATE on
//!   PostgreSQL) on its own connection and reads the records back unchanged.

use mlplane_core::audit::{AuditOutcome, AuditQuery, NewAuditRecord};
use mlplane_core::{PageRequest, PrincipalKind};

fn one() -> NewAuditRecord {
    NewAuditRecord {
        time_ms: 1,
        actor_kind: PrincipalKind::Local,
        actor_id: "local".into(),
        actor_name: "local".into(),
        action: "runs/write".into(),
        target: "/api/v1/workspaces/default/runs".into(),
        workspace: Some("default".into()),
        client_ip: None,
        request_id: "r1".into(),
        method: "POST".into(),
        status: 201,
        outcome: AuditOutcome::Allowed,
    }
}

async fn still_there(store: &crate::harness::Store) {
    let page = store
        .list_audit(&AuditQuery::default(), &PageRequest::default())
        .await
        .expect("list");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].record, one());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_audit_log_refuses_update_and_delete() {
    let db = crate::harness::sqlite_db().await;
    db.store.append_audit(vec![one()]).await.expect("append");
    let path = db.url.trim_start_matches("sqlite://").to_string();
    let conn = rusqlite::Connection::open(&path).expect("open");
    for sql in [
        "UPDATE audit_log SET actor_name = 'mallory'",
        "DELETE FROM audit_log",
    ] {
        let e = conn.execute(sql, []).expect_err(sql);
        assert!(e.to_string().contains("append-only"), "{sql}: {e}");
    }
    drop(conn);
    still_there(&db.store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_audit_log_refuses_update_delete_and_truncate() {
    let Some(db) = crate::harness::pg_db().await else {
        return;
    };
    db.store.append_audit(vec![one()]).await.expect("append");
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    let task = tokio::spawn(conn);
    for sql in [
        "UPDATE audit_log SET actor_name = 'mallory'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let e = client.batch_execute(sql).await.expect_err(sql);
        let shown = format!("{e:?}");
        assert!(shown.contains("append-only"), "{sql}: {shown}");
    }
    drop(client);
    let _ = task.await;
    still_there(&db.store).await;
    db.drop_db().await;
}
