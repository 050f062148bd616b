//! Contract checks for identities and grants: users, service principals, API tokens,
//! sessions, role bindings and custom roles.
//!
//! Invariants:
//! - each check starts from a fresh store and asserts on variants and fields, not messages.

use super::*;
use mlplane_core::PrincipalKind;
use mlplane_store::auth::{
    ApiTokenRecord, CustomRole, PrincipalRef, RoleBinding, ServicePrincipalRecord, SessionRecord,
    UserRecord,
};

fn user(id: &str, name: &str) -> UserRecord {
    UserRecord {
        id: id.into(),
        name: name.into(),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        is_admin: false,
        created_at: now_ms(),
    }
}

fn owner(kind: PrincipalKind, id: &str) -> PrincipalRef {
    PrincipalRef {
        kind,
        id: id.into(),
    }
}

fn token(id: &str, owner: PrincipalRef, created_at: i64) -> ApiTokenRecord {
    ApiTokenRecord {
        id: id.into(),
        owner,
        name: format!("token {id}"),
        secret_sha256: "ab".repeat(32),
        scopes: vec!["runs/*".into(), "models/read".into()],
        workspace: Some("default".into()),
        expires_at: Some(created_at + 60_000),
        last_used_at: None,
        revoked_at: None,
        created_at,
        job_scope: None,
    }
}

fn binding(ws: &str, p: &PrincipalRef, role: &str) -> RoleBinding {
    RoleBinding {
        workspace: ws.into(),
        principal: p.clone(),
        role: role.into(),
        created_at: now_ms(),
    }
}

pub async fn users_are_created_found_listed_and_names_are_unique(store: Store) {
    let alice = store
        .create_user(user("u1", "alice"))
        .await
        .expect("create");
    assert_eq!(store.get_user("u1").await.expect("get"), alice);
    assert_eq!(store.find_user("alice").await.expect("find"), alice);
    expect_already_exists(
        store.create_user(user("u2", "alice")).await,
        Entity::User,
        "alice",
    );
    store.create_user(user("u3", "bob")).await.expect("bob");
    let names: Vec<String> = store
        .list_users()
        .await
        .expect("list")
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    expect_not_found(store.get_user("nobody").await, Entity::User);
    expect_not_found(store.find_user("nobody").await, Entity::User);
    store
        .set_user_password("u1", "$argon2id$new")
        .await
        .expect("password");
    assert_eq!(
        store
            .get_user("u1")
            .await
            .expect("get")
            .password_hash
            .as_deref(),
        Some("$argon2id$new")
    );
    expect_not_found(store.set_user_password("nobody", "x").await, Entity::User);
}

pub async fn deleting_a_user_revokes_its_tokens_and_drops_its_sessions_and_bindings(store: Store) {
    store
        .create_user(user("u1", "alice"))
        .await
        .expect("create");
    let me = owner(PrincipalKind::User, "u1");
    store
        .create_token(token("t1", me.clone(), now_ms()))
        .await
        .expect("token");
    store
        .create_session(SessionRecord {
            id_sha256: "s1".into(),
            user_id: "u1".into(),
            csrf_sha256: "c1".into(),
            expires_at: now_ms() + 60_000,
            created_at: now_ms(),
        })
        .await
        .expect("session");
    store
        .set_role_binding(binding("default", &me, "Reader"))
        .await
        .expect("bind");
    store.delete_user("u1").await.expect("delete");
    expect_not_found(store.get_user("u1").await, Entity::User);
    assert!(
        store
            .get_token("t1")
            .await
            .expect("token row stays")
            .revoked_at
            .is_some()
    );
    expect_not_found(store.get_session("s1").await, Entity::Session);
    assert!(
        store
            .role_bindings_of(&me)
            .await
            .expect("bindings")
            .is_empty()
    );
    expect_not_found(store.delete_user("u1").await, Entity::User);
    // The name is free again, under a new id.
    store.create_user(user("u9", "alice")).await.expect("again");
}

pub async fn tokens_round_trip_list_newest_first_and_revoke_once(store: Store) {
    let me = owner(PrincipalKind::User, "u1");
    let other = owner(PrincipalKind::ServicePrincipal, "sp1");
    let t0 = now_ms();
    let a = store
        .create_token(token("ta", me.clone(), t0))
        .await
        .expect("a");
    store
        .create_token(token("tb", me.clone(), t0 + 1))
        .await
        .expect("b");
    store
        .create_token(token("tc", other.clone(), t0))
        .await
        .expect("c");
    assert_eq!(store.get_token("ta").await.expect("get"), a);
    let ids: Vec<String> = store
        .list_tokens(&me)
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["tb", "ta"]);
    store.touch_token("ta", t0 + 5).await.expect("touch");
    assert_eq!(
        store.get_token("ta").await.expect("get").last_used_at,
        Some(t0 + 5)
    );
    store.revoke_token("ta", t0 + 10).await.expect("revoke");
    store
        .revoke_token("ta", t0 + 20)
        .await
        .expect("revoke again");
    assert_eq!(
        store.get_token("ta").await.expect("get").revoked_at,
        Some(t0 + 10)
    );
    expect_not_found(store.revoke_token("nope", t0).await, Entity::ApiToken);
    expect_not_found(store.get_token("nope").await, Entity::ApiToken);
    assert_eq!(store.revoke_tokens_of(&me, t0 + 30).await.expect("all"), 1);
    assert_eq!(
        store.get_token("tb").await.expect("b").revoked_at,
        Some(t0 + 30)
    );
    assert!(store.get_token("tc").await.expect("c").revoked_at.is_none());
}

pub async fn sessions_are_stored_by_digest_and_deleted(store: Store) {
    let s = SessionRecord {
        id_sha256: "d1".into(),
        user_id: "u1".into(),
        csrf_sha256: "c1".into(),
        expires_at: now_ms() + 1000,
        created_at: now_ms(),
    };
    store.create_session(s.clone()).await.expect("create");
    assert_eq!(store.get_session("d1").await.expect("get"), s);
    store.delete_session("d1").await.expect("delete");
    expect_not_found(store.get_session("d1").await, Entity::Session);
}

pub async fn expired_sessions_are_purged_and_live_ones_kept(store: Store) {
    let now = now_ms();
    for (id, expires_at) in [("old", now - 1), ("edge", now), ("live", now + 60_000)] {
        store
            .create_session(SessionRecord {
                id_sha256: id.into(),
                user_id: "u1".into(),
                csrf_sha256: "c".into(),
                expires_at,
                created_at: now - 10,
            })
            .await
            .expect("create");
    }
    assert_eq!(store.purge_expired_sessions(now).await.expect("purge"), 2);
    expect_not_found(store.get_session("old").await, Entity::Session);
    expect_not_found(store.get_session("edge").await, Entity::Session);
    assert_eq!(
        store.get_session("live").await.expect("live").expires_at,
        now + 60_000
    );
    assert_eq!(store.purge_expired_sessions(now).await.expect("again"), 0);
}

pub async fn a_job_tokens_scope_is_stored_with_it(store: Store) {
    let job = owner(PrincipalKind::Job, "default/j1");
    let scope = mlplane_core::JobScope {
        run_id: "0123456789abcdef0123456789abcdef".into(),
        experiment_id: "7".into(),
        reads: vec![
            mlplane_core::ScopedAsset::new("data", "train"),
            mlplane_core::ScopedAsset::new("environments", "py"),
        ],
        writes: vec![mlplane_core::ScopedAsset::new("models", "clf")],
    };
    let mut t = token("tj", job.clone(), now_ms());
    t.job_scope = Some(scope.clone());
    store.create_token(t.clone()).await.expect("create");
    assert_eq!(store.get_token("tj").await.expect("get"), t);
    let listed = store.list_tokens(&job).await.expect("list");
    assert_eq!(listed[0].job_scope.as_ref(), Some(&scope));
    store
        .create_token(token("tn", job, now_ms()))
        .await
        .expect("plain");
    assert_eq!(store.get_token("tn").await.expect("get").job_scope, None);
}

pub async fn role_bindings_are_per_workspace_idempotent_and_deletable(store: Store) {
    store
        .create_workspace(&ws("team-a"), "")
        .await
        .expect("workspace");
    let alice = owner(PrincipalKind::User, "u1");
    let ci = owner(PrincipalKind::ServicePrincipal, "sp1");
    store
        .set_role_binding(binding("team-a", &alice, "Owner"))
        .await
        .expect("bind");
    store
        .set_role_binding(binding("team-a", &alice, "Owner"))
        .await
        .expect("again");
    store
        .set_role_binding(binding("default", &alice, "Reader"))
        .await
        .expect("bind");
    store
        .set_role_binding(binding("team-a", &ci, "Contributor"))
        .await
        .expect("bind");
    expect_not_found(
        store
            .set_role_binding(binding("missing", &alice, "Owner"))
            .await,
        Entity::Workspace,
    );
    let in_a = store.list_role_bindings(&ws("team-a")).await.expect("list");
    assert_eq!(in_a.len(), 2);
    let of_alice: Vec<(String, String)> = store
        .role_bindings_of(&alice)
        .await
        .expect("of")
        .into_iter()
        .map(|b| (b.workspace, b.role))
        .collect();
    assert_eq!(
        of_alice,
        [
            ("default".into(), "Reader".into()),
            ("team-a".into(), "Owner".into())
        ]
    );
    store
        .delete_role_binding(&ws("team-a"), &alice, "Owner")
        .await
        .expect("delete");
    expect_not_found(
        store
            .delete_role_binding(&ws("team-a"), &alice, "Owner")
            .await,
        Entity::RoleBinding,
    );
    assert_eq!(
        store
            .list_role_bindings(&ws("team-a"))
            .await
            .expect("list")
            .len(),
        1
    );
}

pub async fn service_principals_are_unique_and_deleting_one_revokes_its_tokens(store: Store) {
    let sp = ServicePrincipalRecord {
        id: "sp1".into(),
        name: "ci".into(),
        description: "pipelines".into(),
        created_at: now_ms(),
    };
    store
        .create_service_principal(sp.clone())
        .await
        .expect("create");
    assert_eq!(store.get_service_principal("sp1").await.expect("get"), sp);
    assert_eq!(store.find_service_principal("ci").await.expect("find"), sp);
    expect_already_exists(
        store
            .create_service_principal(ServicePrincipalRecord {
                id: "sp2".into(),
                ..sp.clone()
            })
            .await,
        Entity::ServicePrincipal,
        "ci",
    );
    assert_eq!(store.list_service_principals().await.expect("list"), [sp]);
    let me = owner(PrincipalKind::ServicePrincipal, "sp1");
    store
        .create_token(token("t1", me.clone(), now_ms()))
        .await
        .expect("token");
    store.delete_service_principal("sp1").await.expect("delete");
    assert!(
        store
            .get_token("t1")
            .await
            .expect("row")
            .revoked_at
            .is_some()
    );
    expect_not_found(
        store.get_service_principal("sp1").await,
        Entity::ServicePrincipal,
    );
    expect_not_found(
        store.delete_service_principal("sp1").await,
        Entity::ServicePrincipal,
    );
}

pub async fn custom_roles_are_replaced_listed_and_deleting_one_drops_its_bindings(store: Store) {
    let r = store
        .put_custom_role(CustomRole {
            name: "run-logger".into(),
            actions: vec!["runs/*".into(), "experiments/read".into()],
            created_at: 1,
        })
        .await
        .expect("put");
    assert_eq!(r.actions, ["runs/*", "experiments/read"]);
    let r2 = store
        .put_custom_role(CustomRole {
            name: "run-logger".into(),
            actions: vec!["runs/read".into()],
            created_at: 2,
        })
        .await
        .expect("replace");
    assert_eq!(
        (r2.actions.as_slice(), r2.created_at),
        (&["runs/read".to_string()][..], 1)
    );
    assert_eq!(store.list_custom_roles().await.expect("list"), [r2]);
    let alice = owner(PrincipalKind::User, "u1");
    store
        .set_role_binding(binding("default", &alice, "run-logger"))
        .await
        .expect("bind");
    store
        .delete_custom_role("run-logger")
        .await
        .expect("delete");
    assert!(store.role_bindings_of(&alice).await.expect("of").is_empty());
    expect_not_found(store.delete_custom_role("run-logger").await, Entity::Role);
    expect_invalid_state(
        store
            .put_custom_role(CustomRole {
                name: "x".into(),
                actions: vec!["runs/read\nusers/admin".into()],
                created_at: 1,
            })
            .await,
    );
}
