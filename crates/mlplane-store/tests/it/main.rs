//! Integration tests of mlplane-store: the engine contract, run against SQLite always and
//! against PostgreSQL when `MLPLANE_TEST_PG_URL` names a server
//! (`scripts/pg-server.sh start DIR` starts a throwaway one).
//!
//! Every check is an async function in [`contract`] that takes a fresh, empty store.
//! [`contract_tests!`] turns each one into two tests, `sqlite_store::<name>` and
//! `pg_store::<name>`, so `cargo test -p mlplane-store --test it pg_` runs only Postgres.
//!
//! Invariants:
//! - a check only uses the `MetadataStore` trait, so it holds for every engine;
//! - both engines run exactly the same list of checks.

mod append_only;
mod checkpoints;
mod contract;
mod harness;
mod migrations;
mod perf;
mod pg_open;

/// One `#[tokio::test]` per engine for each listed `area::check`.
macro_rules! contract_tests {
    ($($area:ident :: $name:ident),* $(,)?) => {
        mod sqlite_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = crate::harness::sqlite_db().await;
                    crate::contract::$area::$name(db.store.clone()).await;
                }
            )*

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn reopening_keeps_data_and_page_tokens() {
                let db = crate::harness::sqlite_db().await;
                crate::contract::ops::reopening_keeps_data_and_page_tokens(
                    db.store.clone(),
                    &db.url,
                )
                .await;
            }
        }

        mod pg_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = crate::harness::pg_db().await else { return };
                    crate::contract::$area::$name(db.store.clone()).await;
                    db.drop_db().await;
                }
            )*

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn reopening_keeps_data_and_page_tokens() {
                let Some(db) = crate::harness::pg_db().await else { return };
                crate::contract::ops::reopening_keeps_data_and_page_tokens(
                    db.store.clone(),
                    &db.url,
                )
                .await;
                db.drop_db().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_opens_migrate_once() {
                let Some(db) = crate::harness::pg_db().await else { return };
                crate::contract::ops::concurrent_opens_migrate_once(&db.url).await;
                db.drop_db().await;
            }
        }
    };
}

contract_tests! {
    // searches
    search::run_filters_select_like_mlflow,
    search::run_orderings_put_missing_last_and_page_stably,
    search::search_results_carry_run_data_and_inputs,
    search::inputs_are_kept_once_per_dataset_and_context,
    search::search_tokens_only_continue_their_own_search,
    search::experiment_filters_and_orderings,
    // workspaces and experiments
    catalog::default_workspace_has_default_experiment_with_id_zero,
    catalog::created_workspace_gets_its_own_default_experiment,
    catalog::workspaces_page_in_name_order,
    catalog::unknown_workspace_is_not_found_everywhere,
    catalog::experiment_names_are_unique_per_workspace,
    catalog::experiment_ids_count_from_one_and_artifact_location_defaults,
    catalog::experiment_rename_and_tags_bump_updated_at,
    catalog::missing_experiment_tag_cannot_be_deleted,
    catalog::deleting_an_experiment_deletes_its_runs_and_restoring_brings_them_back,
    catalog::default_experiment_cannot_be_deleted,
    catalog::deleting_twice_or_restoring_an_active_experiment_is_invalid_state,
    catalog::list_experiments_filters_by_view_in_id_order,
    catalog::experiment_pages_cover_every_item_once,
    // paging
    paging::page_size_above_the_maximum_is_invalid,
    paging::zero_page_size_means_the_default,
    paging::tampered_page_token_is_refused,
    paging::page_token_from_another_listing_is_refused,
    // runs
    runs::run_gets_an_id_a_default_name_and_an_artifact_uri,
    runs::run_in_missing_or_deleted_experiment_is_refused,
    runs::parent_run_must_exist_in_the_same_workspace,
    runs::new_run_tags_are_stored_like_set_tags,
    runs::get_run_returns_sorted_params_tags_and_latest_metrics,
    runs::list_runs_orders_by_start_time_then_id_and_pages,
    runs::list_runs_filters_by_experiment_status_view_and_parent,
    run_changes::update_run_sets_end_time_for_terminal_statuses_only,
    run_changes::run_cannot_move_back_to_queued,
    run_changes::writes_to_a_deleted_run_are_invalid_state,
    run_changes::run_lifecycle_changes_are_idempotent,
    run_changes::missing_run_tag_cannot_be_deleted,
    run_changes::entities_of_other_workspaces_are_not_found,
    // metrics, params and tags
    metrics::param_with_same_value_is_a_no_op,
    metrics::param_with_different_value_is_rejected_and_batch_not_stored,
    metrics::tags_are_upserted,
    metrics::nan_and_infinities_round_trip,
    metrics::history_is_ordered_by_step_timestamp_then_insertion,
    metrics::history_pages_cover_every_point_once,
    metrics::unknown_metric_key_is_not_found,
    metrics::sampled_history_returns_every_point_when_few,
    metrics::sampled_history_rejects_zero_or_too_many_points,
    metrics::hundred_thousand_points_page_and_downsample,
    metrics::downsampled_history_is_the_m4_of_every_point_on_awkward_series,
    metrics::interval_sample_is_mlflows_on_dense_sparse_and_repeated_steps,
    metrics::concurrent_writers_lose_no_point,
    metrics::a_point_sent_again_is_stored_once,
    // logs and artifacts
    files::log_appends_return_the_length_and_read_back_in_order,
    files::log_reads_never_split_a_character,
    files::log_reads_span_chunks,
    files::log_offsets_past_the_end_or_inside_a_character_are_invalid,
    files::oversize_log_append_is_invalid,
    files::artifacts_are_recorded_replaced_and_deleted,
    files::artifact_listing_shows_direct_children,
    // model registry
    registry::registered_model_lifecycle,
    registry::versions_count_up_and_are_never_reused,
    registry::version_sources_must_name_an_existing_run,
    registry::version_run_id_must_exist_and_match_the_source,
    registry::concurrent_version_creation_numbers_each_once,
    registry::aliases_move_and_follow_deletes,
    registry::stage_transitions_archive_existing_versions,
    registry::rename_keeps_versions_tags_and_aliases,
    registry::search_filters_orders_and_pages,
    registry::registry_is_scoped_by_workspace,
    // logged models
    logged_models::logged_models_are_created_finalized_and_deleted,
    logged_models::logged_models_need_a_live_experiment_and_a_run_of_the_workspace,
    logged_models::logged_model_params_are_immutable_and_tags_replaceable,
    logged_models::logged_model_search_filters_orders_and_pages,
    logged_models::logged_model_metrics_come_from_run_batches_linked_to_the_model,
    logged_models::logged_model_search_filters_and_orders_by_metrics,
    logged_models::logged_model_artifacts_are_recorded_listed_and_deleted,
    logged_models::run_metrics_sent_again_with_a_model_id_are_stored_once,
    logged_models::run_outputs_record_the_models_a_run_produced,
    // jobs
    jobs::job_is_created_queued_with_its_run,
    jobs::duplicate_job_name_is_already_exists_and_creates_no_run,
    jobs::concurrent_creates_of_one_name_make_one_job_and_one_run,
    jobs::parent_job_must_exist_and_gives_the_run_its_parent,
    jobs::list_jobs_is_newest_first_filtered_and_paged,
    jobs::claim_takes_the_oldest_queued_job_of_the_compute_in_any_workspace,
    jobs::concurrent_claimers_never_get_the_same_job,
    job_status::transitions_check_the_current_status_and_sync_the_run,
    job_status::failed_job_fails_its_run_with_the_message,
    job_status::preparing_job_can_be_given_back_to_the_queue,
    job_status::cancel_is_immediate_when_queued_and_requested_when_held,
    job_status::unfinished_jobs_lists_what_workers_held,
    job_status::cancels_racing_claims_leave_every_job_in_one_consistent_state,
    jobs::job_io_is_recorded_replaced_and_feeds_lineage,
    jobs::jobs_are_scoped_by_workspace,
    // versioned assets
    assets::asset_versions_are_immutable_and_numbered_automatically,
    assets::invalid_assets_are_refused,
    assets::latest_is_the_newest_version_not_archived,
    assets::list_assets_shows_the_latest_version_of_each_name,
    assets::asset_versions_list_newest_first_and_page,
    assets::concurrent_automatic_versions_are_distinct,
    assets::assets_are_scoped_by_workspace,
    assets::every_asset_kind_is_stored_apart,
    assets::pending_asset_files_are_recorded_then_frozen_by_completion,
    // identities and grants
    auth::users_are_created_found_listed_and_names_are_unique,
    auth::deleting_a_user_revokes_its_tokens_and_drops_its_sessions_and_bindings,
    auth::tokens_round_trip_list_newest_first_and_revoke_once,
    auth::sessions_are_stored_by_digest_and_deleted,
    auth::expired_sessions_are_purged_and_live_ones_kept,
    auth::a_job_tokens_scope_is_stored_with_it,
    auth::role_bindings_are_per_workspace_idempotent_and_deletable,
    auth::service_principals_are_unique_and_deleting_one_revokes_its_tokens,
    auth::custom_roles_are_replaced_listed_and_deleting_one_drops_its_bindings,
    // secrets and the audit log
    secrets::secrets_are_created_replaced_listed_and_deleted,
    secrets::secrets_are_scoped_by_workspace,
    secrets::rotation_replaces_every_row_or_none,
    secrets::audit_log_lists_newest_first_filtered_and_paged,
    // operations
    ops::engine_pings_and_counts_operations,
    ops::close_makes_later_calls_unavailable,
    ops::cancelled_calls_leave_the_store_usable,
    ops::abandoned_reads_keep_the_read_pool_whole,
}
