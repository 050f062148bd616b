//! Contract checks for page sizes and page tokens, shared by every listing.
//!
//! Invariants:
//! - each check starts from a fresh store and asserts on variants, not messages.

use super::*;
use mlplane_core::limits::{DEFAULT_PAGE_SIZE, MAX_HISTORY_PAGE, MAX_PAGE_SIZE};
use mlplane_core::{TokenError, ViewType};
use mlplane_store::RunQuery;

pub async fn page_size_above_the_maximum_is_invalid(store: Store) {
    let run = fresh_run(&store).await;
    let id = &run.info.id;
    store
        .log_batch(
            &default_ws(),
            id,
            metrics_batch(vec![metric("m", 0, 0, 1.0)]),
        )
        .await
        .expect("batch");
    let too_many = page(MAX_PAGE_SIZE + 1, None);
    expect_invalid(store.list_workspaces(&too_many).await, "max_results");
    expect_invalid(
        store
            .list_experiments(&default_ws(), ViewType::All, &too_many)
            .await,
        "max_results",
    );
    expect_invalid(
        store
            .list_runs(&default_ws(), &RunQuery::default(), &too_many)
            .await,
        "max_results",
    );
    // History has its own, larger, maximum.
    store
        .metric_history(&default_ws(), id, "m", &too_many)
        .await
        .expect("history pages may exceed the list maximum");
    store
        .metric_history(&default_ws(), id, "m", &page(MAX_HISTORY_PAGE, None))
        .await
        .expect("history page at its maximum");
    expect_invalid(
        store
            .metric_history(&default_ws(), id, "m", &page(MAX_HISTORY_PAGE + 1, None))
            .await,
        "max_results",
    );
    store
        .list_runs(
            &default_ws(),
            &RunQuery::default(),
            &page(MAX_PAGE_SIZE, None),
        )
        .await
        .expect("list page at its maximum");
}

pub async fn zero_page_size_means_the_default(store: Store) {
    for i in 0..DEFAULT_PAGE_SIZE + 5 {
        create_exp(&store, &default_ws(), &format!("e{i:04}")).await;
    }
    let p = store
        .list_experiments(&default_ws(), ViewType::All, &page(0, None))
        .await
        .expect("page");
    assert_eq!(p.items.len(), DEFAULT_PAGE_SIZE);
    let next = store
        .list_experiments(&default_ws(), ViewType::All, &page(0, p.next_page_token))
        .await
        .expect("second page");
    assert_eq!(next.items.len(), 6);
    assert_eq!(next.next_page_token, None);
}

/// Flips one character of a token into another base64url character.
fn tamper(token: &str, at: usize) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let i = at % chars.len();
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

pub async fn tampered_page_token_is_refused(store: Store) {
    for i in 0..4 {
        create_exp(&store, &default_ws(), &format!("e{i}")).await;
    }
    let first = store
        .list_experiments(&default_ws(), ViewType::All, &page(2, None))
        .await
        .expect("page");
    let token = first.next_page_token.expect("more pages");
    for at in [0, 3, token.len() / 2, token.len() - 1] {
        let bad = tamper(&token, at);
        match store
            .list_experiments(&default_ws(), ViewType::All, &page(2, Some(bad)))
            .await
        {
            Err(StoreError::PageToken(_)) => {}
            other => panic!("tampered token at {at} accepted: {other:?}"),
        }
    }
    for garbage in ["", "!!!", "AAAA", "not a token at all"] {
        match store
            .list_experiments(&default_ws(), ViewType::All, &page(2, Some(garbage.into())))
            .await
        {
            Err(StoreError::PageToken(_)) => {}
            other => panic!("garbage token {garbage:?} accepted: {other:?}"),
        }
    }
    // The genuine token still works.
    store
        .list_experiments(&default_ws(), ViewType::All, &page(2, Some(token)))
        .await
        .expect("genuine token");
}

pub async fn page_token_from_another_listing_is_refused(store: Store) {
    for i in 0..4 {
        create_exp(&store, &default_ws(), &format!("e{i}")).await;
    }
    let exp_token = store
        .list_experiments(&default_ws(), ViewType::ActiveOnly, &page(2, None))
        .await
        .expect("page")
        .next_page_token
        .expect("more pages");
    let wrong_scope = |r: Result<_, StoreError>| match r {
        Err(StoreError::PageToken(TokenError::WrongScope)) => {}
        other => panic!("expected PageToken(WrongScope), got {other:?}"),
    };
    wrong_scope(
        store
            .list_experiments(
                &default_ws(),
                ViewType::All,
                &page(2, Some(exp_token.clone())),
            )
            .await
            .map(|_| ()),
    );
    wrong_scope(
        store
            .list_runs(
                &default_ws(),
                &RunQuery::default(),
                &page(2, Some(exp_token.clone())),
            )
            .await
            .map(|_| ()),
    );
    wrong_scope(
        store
            .list_workspaces(&page(2, Some(exp_token.clone())))
            .await
            .map(|_| ()),
    );
    let team = ws("team");
    store.create_workspace(&team, "").await.expect("workspace");
    wrong_scope(
        store
            .list_experiments(&team, ViewType::ActiveOnly, &page(2, Some(exp_token)))
            .await
            .map(|_| ()),
    );

    // Run tokens are bound to their filters, history tokens to their run and key.
    let exp = create_exp(&store, &default_ws(), "runs").await;
    for t in 0..3 {
        store
            .create_run(&default_ws(), new_run(exp.id, t))
            .await
            .expect("run");
    }
    let q = RunQuery {
        experiment_ids: vec![exp.id],
        ..RunQuery::default()
    };
    let run_token = store
        .list_runs(&default_ws(), &q, &page(1, None))
        .await
        .expect("runs")
        .next_page_token
        .expect("more runs");
    wrong_scope(
        store
            .list_runs(
                &default_ws(),
                &RunQuery::default(),
                &page(1, Some(run_token.clone())),
            )
            .await
            .map(|_| ()),
    );
    store
        .list_runs(&default_ws(), &q, &page(1, Some(run_token)))
        .await
        .expect("same query accepts its token");

    let run = fresh_run(&store).await;
    let points = (0..5)
        .map(|s| metric("a", s, s, 0.0))
        .chain((0..5).map(|s| metric("b", s, s, 0.0)));
    store
        .log_batch(&default_ws(), &run.info.id, metrics_batch(points.collect()))
        .await
        .expect("batch");
    let h_token = store
        .metric_history(&default_ws(), &run.info.id, "a", &page(2, None))
        .await
        .expect("history")
        .next_page_token
        .expect("more points");
    wrong_scope(
        store
            .metric_history(&default_ws(), &run.info.id, "b", &page(2, Some(h_token)))
            .await
            .map(|_| ()),
    );
}
