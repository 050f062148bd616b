//! Contract checks for secrets and the audit log: sealed values are stored and handed back
//! as given, metadata never carries them, rotation is all or nothing, and the audit log
//! lists newest first with filters and signed page tokens.
//!
//! Invariants:
//! - each check starts from a fresh store and asserts on variants, not messages.

use super::*;
use mlplane_core::audit::{AuditOutcome, AuditQuery, NewAuditRecord};
use mlplane_core::secrets::{Rewrapped, SealedSecret, SecretName};
use mlplane_core::{PrincipalKind, WorkspaceName};

fn name(s: &str) -> SecretName {
    SecretName::parse(s).expect("test secret names are valid")
}

fn sealed(key: &str, nonce: u8, body: &[u8]) -> SealedSecret {
    SealedSecret {
        key_id: key.into(),
        nonce: vec![nonce; 24],
        ciphertext: body.to_vec(),
    }
}

pub async fn secrets_are_created_replaced_listed_and_deleted(store: Store) {
    let ws = default_ws();
    let (m, created) = store
        .put_secret(&ws, &name("db_password"), sealed("k1", 1, b"c1"), "alice")
        .await
        .expect("create");
    assert!(created);
    assert_eq!(m.name.as_str(), "db_password");
    assert_eq!(
        (m.created_by.as_str(), m.updated_by.as_str()),
        ("alice", "alice")
    );
    assert_eq!(m.key_id, "k1");
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let (m2, created) = store
        .put_secret(&ws, &name("db_password"), sealed("k1", 2, b"c2"), "bob")
        .await
        .expect("replace");
    assert!(!created);
    assert_eq!(m2.created_ms, m.created_ms);
    assert!(m2.updated_ms > m.updated_ms);
    assert_eq!(
        (m2.created_by.as_str(), m2.updated_by.as_str()),
        ("alice", "bob")
    );
    assert_eq!(
        store
            .sealed_secret(&ws, &name("db_password"))
            .await
            .expect("sealed"),
        sealed("k1", 2, b"c2")
    );
    store
        .put_secret(&ws, &name("api_key"), sealed("k1", 3, b"c3"), "bob")
        .await
        .expect("second");
    let names: Vec<String> = store
        .list_secrets(&ws)
        .await
        .expect("list")
        .into_iter()
        .map(|m| m.name.to_string())
        .collect();
    assert_eq!(names, ["api_key", "db_password"]);
    assert_eq!(
        store
            .get_secret(&ws, &name("api_key"))
            .await
            .expect("get")
            .updated_by,
        "bob"
    );
    store
        .delete_secret(&ws, &name("api_key"))
        .await
        .expect("delete");
    expect_not_found(
        store.get_secret(&ws, &name("api_key")).await,
        Entity::Secret,
    );
    expect_not_found(
        store.delete_secret(&ws, &name("api_key")).await,
        Entity::Secret,
    );
    expect_not_found(
        store.sealed_secret(&ws, &name("api_key")).await,
        Entity::Secret,
    );
}

pub async fn secrets_are_scoped_by_workspace(store: Store) {
    let other = ws("team-b");
    store.create_workspace(&other, "").await.expect("workspace");
    store
        .put_secret(&default_ws(), &name("s"), sealed("k", 1, b"a"), "x")
        .await
        .expect("put");
    expect_not_found(store.get_secret(&other, &name("s")).await, Entity::Secret);
    expect_not_found(
        store.sealed_secret(&other, &name("s")).await,
        Entity::Secret,
    );
    expect_not_found(
        store.delete_secret(&other, &name("s")).await,
        Entity::Secret,
    );
    assert!(store.list_secrets(&other).await.expect("list").is_empty());
    let missing = ws("nowhere");
    expect_not_found(
        store
            .put_secret(&missing, &name("s"), sealed("k", 1, b"a"), "x")
            .await,
        Entity::Workspace,
    );
    expect_not_found(store.list_secrets(&missing).await, Entity::Workspace);
    expect_not_found(
        store.get_secret(&missing, &name("s")).await,
        Entity::Workspace,
    );
}

pub async fn rotation_replaces_every_row_or_none(store: Store) {
    let other = ws("team-b");
    store.create_workspace(&other, "").await.expect("workspace");
    for (w, n, nonce) in [
        (default_ws(), "a", 1),
        (default_ws(), "b", 2),
        (other.clone(), "a", 3),
    ] {
        store
            .put_secret(&w, &name(n), sealed("old", nonce, b"x"), "x")
            .await
            .expect("put");
    }
    let all = store.all_sealed_secrets().await.expect("all");
    assert_eq!(all.len(), 3);
    let rewrap = |rows: &[(WorkspaceName, SecretName, SealedSecret)]| -> Vec<Rewrapped> {
        rows.iter()
            .map(|(w, n, s)| Rewrapped {
                workspace: w.clone(),
                name: n.clone(),
                old_nonce: s.nonce.clone(),
                sealed: sealed("new", s.nonce[0] + 10, b"y"),
            })
            .collect()
    };
    // One row changed after it was read: nothing is rotated.
    let plan = rewrap(&all);
    store
        .put_secret(&default_ws(), &name("b"), sealed("old", 9, b"z"), "x")
        .await
        .expect("change");
    expect_invalid_state(store.rewrap_secrets(plan).await);
    let keys: Vec<String> = store
        .all_sealed_secrets()
        .await
        .expect("all")
        .into_iter()
        .map(|(_, _, s)| s.key_id)
        .collect();
    assert_eq!(keys, ["old", "old", "old"]);
    // Read again: every row moves to the new key.
    let all = store.all_sealed_secrets().await.expect("all");
    assert_eq!(store.rewrap_secrets(rewrap(&all)).await.expect("rewrap"), 3);
    for (_, _, s) in store.all_sealed_secrets().await.expect("all") {
        assert_eq!(s.key_id, "new");
        assert_eq!(s.ciphertext, b"y");
    }
    assert_eq!(
        store
            .get_secret(&other, &name("a"))
            .await
            .expect("get")
            .key_id,
        "new"
    );
}

fn record(i: i64, ws: Option<&str>, actor: &str, action: &str) -> NewAuditRecord {
    NewAuditRecord {
        time_ms: 1_000 + i,
        actor_kind: PrincipalKind::User,
        actor_id: format!("id-{actor}"),
        actor_name: actor.into(),
        action: action.into(),
        target: format!("/api/v1/x/{i}"),
        workspace: ws.map(str::to_string),
        client_ip: Some("127.0.0.1".into()),
        request_id: format!("req-{i}"),
        method: "POST".into(),
        status: if i % 5 == 0 { 403 } else { 200 },
        outcome: if i % 5 == 0 {
            AuditOutcome::Denied
        } else {
            AuditOutcome::Allowed
        },
    }
}

pub async fn audit_log_lists_newest_first_filtered_and_paged(store: Store) {
    let mut all = Vec::new();
    for i in 0..25 {
        let ws = if i % 2 == 0 {
            Some("default")
        } else {
            Some("team-b")
        };
        let actor = if i % 3 == 0 { "alice" } else { "bob" };
        all.push(record(
            i,
            ws,
            actor,
            if i < 10 {
                "runs/write"
            } else {
                "secrets/write"
            },
        ));
    }
    store.append_audit(all[..5].to_vec()).await.expect("append");
    store.append_audit(all[5..].to_vec()).await.expect("append");
    let first = store
        .list_audit(&AuditQuery::default(), &page(0, None))
        .await
        .expect("list");
    assert_eq!(first.items.len(), 25);
    assert_eq!(first.items[0].record, all[24]);
    assert!(first.items.windows(2).all(|w| w[0].id > w[1].id));
    // Paging covers every record once, newest first.
    let q = AuditQuery {
        workspace: Some("default".into()),
        ..AuditQuery::default()
    };
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let p = store.list_audit(&q, &page(4, token)).await.expect("page");
        seen.extend(p.items.into_iter().map(|r| r.record.request_id));
        match p.next_page_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25)
        .rev()
        .filter(|i| i % 2 == 0)
        .map(|i| format!("req-{i}"))
        .collect();
    assert_eq!(seen, expected);
    // Filters combine.
    let q = AuditQuery {
        since_ms: Some(1_005),
        until_ms: Some(1_020),
        actor: Some("alice".into()),
        action: Some("secrets/write".into()),
        ..AuditQuery::default()
    };
    let ids: Vec<String> = store
        .list_audit(&q, &page(0, None))
        .await
        .expect("filtered")
        .items
        .into_iter()
        .map(|r| r.record.request_id)
        .collect();
    assert_eq!(ids, ["req-18", "req-15", "req-12"]);
    // By actor id as well as name.
    let q = AuditQuery {
        actor: Some("id-alice".into()),
        ..AuditQuery::default()
    };
    assert_eq!(
        store
            .list_audit(&q, &page(0, None))
            .await
            .expect("by id")
            .items
            .len(),
        9
    );
    // A token from another query is refused.
    let p = store
        .list_audit(&AuditQuery::default(), &page(2, None))
        .await
        .expect("page");
    let other = AuditQuery {
        workspace: Some("team-b".into()),
        ..AuditQuery::default()
    };
    let r = store.list_audit(&other, &page(2, p.next_page_token)).await;
    assert!(matches!(r, Err(StoreError::PageToken(_))), "{r:?}");
    expect_invalid(
        store
            .list_audit(&AuditQuery::default(), &page(100_000, None))
            .await,
        "max_results",
    );
}
