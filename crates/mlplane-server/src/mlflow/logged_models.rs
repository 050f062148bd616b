//! `logged-models/search` (MLflow 3 logged models). mlplane stores no logged models yet, so
//! every valid search answers an empty page.
//!
//! The MLflow 3 client searches logged models whenever it lists or downloads a run's
//! artifacts below the root (`runs:/<run_id>/<path>`, to merge in a model's artifacts), so
//! this answer is what keeps `list_artifacts(run_id, path)` and `download_artifacts` working.
//!
//! Invariants:
//! - experiment ids are validated like everywhere else (INVALID_PARAMETER_VALUE);
//! - the answer never invents models: `models` is always empty and there is no next page.

use super::error::MlflowResult;
use super::views::{SearchLoggedModels, SearchLoggedModelsResponse};
use super::{MlflowJson, experiment_id};
use axum::Json;

pub async fn search(
    MlflowJson(req): MlflowJson<SearchLoggedModels>,
) -> MlflowResult<Json<SearchLoggedModelsResponse>> {
    for id in &req.experiment_ids {
        experiment_id(id)?;
    }
    Ok(Json(SearchLoggedModelsResponse { models: Vec::new() }))
}
