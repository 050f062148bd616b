//! MLflow-style searches on PostgreSQL (runs and experiments), loading a page of runs with
//! their data, and recording run inputs (datasets).
//!
//! Invariants:
//! - filters and orderings are translated by `crate::search_sql`, values always bound;
//! - paging is by offset under a token bound to the whole search (`search_scope`);
//! - the data of a page of runs is loaded with five pipelined queries over `ANY($1)`.

use super::PgStore;
use super::catalog::{EXP_COLUMNS, experiment_row, with_tags};
use super::pool::Db;
use super::rows::{col, cursor_int, cursor_len, lock_live_run, require_workspace, view_stages};
use super::runs::{RUN_COLUMNS, run_row};
use crate::rules::{decode_input_tags, encode_input_tags, page_size};
use crate::search_sql::{self, Arg, Dialect, SqlParts};
use crate::types::search_scope;
use crate::{ExperimentSearch, Result, RunSearch, StoreError};
use mlplane_core::limits::MAX_PAGE_SIZE;
use mlplane_core::{
    Cursor, CursorValue, Dataset, DatasetInput, Experiment, LoggedModelId, Metric, ModelOutput,
    Page, PageRequest, Param, Run, RunId, RunInfo, Tag, WorkspaceName,
};
use std::collections::HashMap;
use tokio_postgres::types::ToSql;

/// The bound values of a search after the caller's own (`ws`, stages).
fn bound(parts: &SqlParts) -> Vec<Box<dyn ToSql + Sync + Send>> {
    parts
        .args
        .iter()
        .map(|a| -> Box<dyn ToSql + Sync + Send> {
            match a {
                Arg::Text(s) => Box::new(s.clone()),
                Arg::Real(f) => Box::new(*f),
            }
        })
        .collect()
}

fn page_slice<T>(items: &mut Vec<T>, n: usize) -> bool {
    let more = items.len() > n;
    items.truncate(n);
    more
}

impl PgStore {
    fn search_offset(&self, page: &PageRequest, scope: &str) -> Result<i64> {
        match &page.page_token {
            Some(t) => {
                let pos = self.codec.decode(t, scope)?;
                cursor_len(&pos, 1)?;
                let off = cursor_int(&pos, 0)?;
                if off < 0 {
                    return Err(mlplane_core::TokenError::Malformed.into());
                }
                Ok(off)
            }
            None => Ok(0),
        }
    }

    fn next_token(&self, scope: String, more: bool, offset: i64, n: usize) -> Option<String> {
        more.then(|| {
            self.codec.encode(&Cursor {
                scope,
                position: vec![CursorValue::Int(offset + n as i64)],
            })
        })
    }

    pub(super) async fn runs_search(
        &self,
        ws: &WorkspaceName,
        q: &RunSearch,
        page: &PageRequest,
    ) -> Result<Page<Run>> {
        let n = page_size(page, MAX_PAGE_SIZE)?;
        let scope = search_scope("search-runs", ws, q);
        let offset = self.search_offset(page, &scope)?;
        let parts = search_sql::runs(Dialect::Postgres, 2, &q.filter, &q.order_by);
        let mut sql = format!(
            "SELECT {} FROM runs r {} WHERE r.workspace = $1 AND r.lifecycle_stage = ANY($2::text[])",
            search_sql::qualified("r", RUN_COLUMNS),
            parts.joins.join(" ")
        );
        if !q.experiment_ids.is_empty() {
            let ids: Vec<String> = q.experiment_ids.iter().map(|e| e.0.to_string()).collect();
            sql.push_str(&format!(" AND r.experiment_id IN ({})", ids.join(",")));
        }
        for c in &parts.conditions {
            sql.push_str(" AND ");
            sql.push_str(c);
        }
        sql.push_str(&format!(
            " ORDER BY {} LIMIT {} OFFSET {offset}",
            parts.order.join(", "),
            n + 1
        ));
        let conn = self.pool.get().await?;
        let db = conn.db();
        require_workspace(db, ws).await?;
        let (wsn, stages) = (ws.as_str(), view_stages(q.view));
        let extra = bound(&parts);
        let mut args: Vec<&(dyn ToSql + Sync)> = vec![&wsn, &stages];
        args.extend(extra.iter().map(|b| b.as_ref() as &(dyn ToSql + Sync)));
        let rows = db.query_text(&sql, &args).await?;
        let mut infos = rows.iter().map(run_row).collect::<Result<Vec<_>>>()?;
        let more = page_slice(&mut infos, n);
        Ok(Page {
            items: with_data(db, infos).await?,
            next_page_token: self.next_token(scope, more, offset, n),
        })
    }

    pub(super) async fn experiments_search(
        &self,
        ws: &WorkspaceName,
        q: &ExperimentSearch,
        page: &PageRequest,
    ) -> Result<Page<Experiment>> {
        let n = page_size(page, MAX_PAGE_SIZE)?;
        let scope = search_scope("search-experiments", ws, q);
        let offset = self.search_offset(page, &scope)?;
        let parts = search_sql::experiments(Dialect::Postgres, 2, &q.filter, &q.order_by);
        let mut sql = format!(
            "SELECT {EXP_COLUMNS} FROM experiments e WHERE e.workspace = $1 AND e.lifecycle_stage = ANY($2::text[])"
        );
        for c in &parts.conditions {
            sql.push_str(" AND ");
            sql.push_str(c);
        }
        sql.push_str(&format!(
            " ORDER BY {} LIMIT {} OFFSET {offset}",
            parts.order.join(", "),
            n + 1
        ));
        let conn = self.pool.get().await?;
        let db = conn.db();
        require_workspace(db, ws).await?;
        let (wsn, stages) = (ws.as_str(), view_stages(q.view));
        let extra = bound(&parts);
        let mut args: Vec<&(dyn ToSql + Sync)> = vec![&wsn, &stages];
        args.extend(extra.iter().map(|b| b.as_ref() as &(dyn ToSql + Sync)));
        let rows = db.query_text(&sql, &args).await?;
        let mut items = rows
            .iter()
            .map(experiment_row)
            .collect::<Result<Vec<_>>>()?;
        let more = page_slice(&mut items, n);
        Ok(Page {
            items: with_tags(db, items).await?,
            next_page_token: self.next_token(scope, more, offset, n),
        })
    }

    pub(super) async fn inputs_log(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        inputs: &[DatasetInput],
    ) -> Result<()> {
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        lock_live_run(db, ws, id).await?;
        let row = db
            .query_one(
                "SELECT COALESCE(MAX(seq), -1) FROM run_inputs WHERE run_id = $1",
                &[&id.as_str()],
            )
            .await?;
        let mut seq: i64 = col(&row, 0)?;
        let st = db
            .stmt(
                "INSERT INTO run_inputs (run_id, name, digest, context, seq, source_type, source,
                 dataset_schema, dataset_profile, tags) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (run_id, name, digest, context) DO NOTHING",
            )
            .await?;
        for input in inputs {
            seq += 1;
            let d = &input.dataset;
            let tags = encode_input_tags(&input.tags);
            db.execute_stmt(
                &st,
                &[
                    &id.as_str(),
                    &d.name,
                    &d.digest,
                    &input.context(),
                    &seq,
                    &d.source_type,
                    &d.source,
                    &d.schema,
                    &d.profile,
                    &tags,
                ],
            )
            .await?;
        }
        tx.commit().await
    }

    /// Records models the run produced; see `MetadataStore::log_outputs`.
    pub(super) async fn outputs_log(
        &self,
        ws: &WorkspaceName,
        id: &RunId,
        outputs: &[ModelOutput],
    ) -> Result<()> {
        let conn = self.pool.get().await?;
        let tx = conn.begin().await?;
        let db = tx.db();
        lock_live_run(db, ws, id).await?;
        super::rows::lock_live_models(
            db,
            ws,
            outputs.iter().map(|o| o.model_id.as_str()).collect(),
        )
        .await?;
        let row = db
            .query_one(
                "SELECT COALESCE(MAX(seq), -1) FROM run_outputs WHERE run_id = $1",
                &[&id.as_str()],
            )
            .await?;
        let first: i64 = col::<i64>(&row, 0)? + 1;
        let model: Vec<&str> = outputs.iter().map(|o| o.model_id.as_str()).collect();
        let step: Vec<i64> = outputs.iter().map(|o| o.step).collect();
        // In the order given, so of two rows for one model the first wins.
        db.execute(
            "INSERT INTO run_outputs (run_id, model_id, step, seq)
             SELECT $1, m, s, $4 + n - 1
             FROM unnest($2::text[], $3::bigint[]) WITH ORDINALITY AS b(m, s, n)
             ORDER BY n
             ON CONFLICT (run_id, model_id) DO NOTHING",
            &[&id.as_str(), &model, &step, &first],
        )
        .await?;
        tx.commit().await
    }
}

/// Loads params, tags, latest metrics, inputs and outputs of each run, keeping the order
/// given.
pub(super) async fn with_data(db: Db<'_>, infos: Vec<RunInfo>) -> Result<Vec<Run>> {
    let ids: Vec<String> = infos.iter().map(|i| i.id.to_string()).collect();
    let index: HashMap<String, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), i))
        .collect();
    let params_st = db
        .stmt(
            "SELECT run_id, key, value FROM run_params WHERE run_id = ANY($1) ORDER BY run_id, key",
        )
        .await?;
    let tags_st = db
        .stmt("SELECT run_id, key, value FROM run_tags WHERE run_id = ANY($1) ORDER BY run_id, key")
        .await?;
    let metrics_st = db
        .stmt(
            "SELECT run_id, key, last_value, last_ts, last_step FROM metric_series
             WHERE run_id = ANY($1) AND count > 0 ORDER BY run_id, key",
        )
        .await?;
    let inputs_st = db
        .stmt(
            "SELECT run_id, name, digest, source_type, source, dataset_schema, dataset_profile, tags
             FROM run_inputs WHERE run_id = ANY($1) ORDER BY run_id, seq",
        )
        .await?;
    let outputs_st = db
        .stmt(
            "SELECT run_id, model_id, step FROM run_outputs WHERE run_id = ANY($1)
             ORDER BY run_id, seq",
        )
        .await?;
    let by_ids: [&(dyn ToSql + Sync); 1] = [&ids];
    // The five reads are pipelined on the connection.
    let (params, tags, metrics, inputs, outputs) = futures::try_join!(
        db.query_stmt(&params_st, &by_ids),
        db.query_stmt(&tags_st, &by_ids),
        db.query_stmt(&metrics_st, &by_ids),
        db.query_stmt(&inputs_st, &by_ids),
        db.query_stmt(&outputs_st, &by_ids),
    )?;
    let slot = |row: &tokio_postgres::Row| -> Result<usize> {
        let id: &str = col(row, 0)?;
        index
            .get(id)
            .copied()
            .ok_or_else(|| StoreError::Internal(format!("unexpected run '{id}' in result")))
    };
    let mut runs: Vec<Run> = infos
        .into_iter()
        .map(|info| Run {
            info,
            params: Vec::new(),
            tags: Vec::new(),
            metrics: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
        })
        .collect();
    for r in &params {
        runs[slot(r)?].params.push(Param {
            key: col(r, 1)?,
            value: col(r, 2)?,
        });
    }
    for r in &tags {
        runs[slot(r)?].tags.push(Tag {
            key: col(r, 1)?,
            value: col(r, 2)?,
        });
    }
    for r in &metrics {
        runs[slot(r)?].metrics.push(Metric {
            key: col(r, 1)?,
            value: col(r, 2)?,
            timestamp: col(r, 3)?,
            step: col(r, 4)?,
        });
    }
    for r in &inputs {
        let tags: &str = col(r, 7)?;
        runs[slot(r)?].inputs.push(DatasetInput {
            dataset: Dataset {
                name: col(r, 1)?,
                digest: col(r, 2)?,
                source_type: col(r, 3)?,
                source: col(r, 4)?,
                schema: col(r, 5)?,
                profile: col(r, 6)?,
            },
            tags: decode_input_tags(tags)?,
        });
    }
    for r in &outputs {
        let model: &str = col(r, 1)?;
        runs[slot(r)?].outputs.push(ModelOutput {
            model_id: LoggedModelId::parse(model).map_err(|_| {
                StoreError::Internal(format!("bad logged model id '{model}' in database"))
            })?,
            step: col(r, 2)?,
        });
    }
    Ok(runs)
}
