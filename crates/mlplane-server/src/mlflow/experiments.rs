//! `experiments/*`: create, get, get-by-name, update (rename), delete, restore and tags.

use super::error::MlflowResult;
use super::views::{
    CreateExperiment, Empty, ExperimentIdReq, ExperimentIdView, ExperimentNameReq,
    ExperimentResponse, ExperimentTagReq, UpdateExperiment, to_tags,
};
use super::{MlflowJson, MlflowQuery, Workspace, experiment_id};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use mlplane_core::{Invalid, LifecycleStage, NewExperiment, Tag, validate};

pub async fn create(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<CreateExperiment>,
) -> MlflowResult<Json<ExperimentIdView>> {
    // MLflow lets clients choose an artifact location; mlplane owns the layout, so it is
    // ignored for now.
    let new = NewExperiment {
        name: req.name,
        artifact_location: None,
        tags: to_tags(req.tags),
    };
    validate::new_experiment(&new)?;
    let e = s.store.create_experiment(&ws, new).await?;
    Ok(Json(ExperimentIdView {
        experiment_id: e.id.to_string(),
    }))
}

pub async fn get(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowQuery(q): MlflowQuery<ExperimentIdReq>,
) -> MlflowResult<Json<ExperimentResponse>> {
    let e = s
        .store
        .get_experiment(&ws, experiment_id(&q.experiment_id)?)
        .await?;
    Ok(Json(ExperimentResponse {
        experiment: e.into(),
    }))
}

pub async fn get_by_name(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowQuery(q): MlflowQuery<ExperimentNameReq>,
) -> MlflowResult<Json<ExperimentResponse>> {
    let e = s
        .store
        .get_experiment_by_name(&ws, &q.experiment_name)
        .await?;
    Ok(Json(ExperimentResponse {
        experiment: e.into(),
    }))
}

pub async fn update(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<UpdateExperiment>,
) -> MlflowResult<Json<Empty>> {
    let mut v = Vec::new();
    validate::experiment_name_into(&mut v, "new_name", &req.new_name);
    Invalid::check(v)?;
    let id = experiment_id(&req.experiment_id)?;
    s.store.rename_experiment(&ws, id, &req.new_name).await?;
    Ok(Json(Empty {}))
}

pub async fn delete(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<ExperimentIdReq>,
) -> MlflowResult<Json<Empty>> {
    set_stage(&s, &ws, &req.experiment_id, LifecycleStage::Deleted).await
}

pub async fn restore(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<ExperimentIdReq>,
) -> MlflowResult<Json<Empty>> {
    set_stage(&s, &ws, &req.experiment_id, LifecycleStage::Active).await
}

async fn set_stage(
    s: &AppState,
    ws: &mlplane_core::WorkspaceName,
    id: &str,
    stage: LifecycleStage,
) -> MlflowResult<Json<Empty>> {
    s.store
        .set_experiment_lifecycle(ws, experiment_id(id)?, stage)
        .await?;
    Ok(Json(Empty {}))
}

pub async fn set_tag(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<ExperimentTagReq>,
) -> MlflowResult<Json<Empty>> {
    let tag = Tag {
        key: req.key,
        value: req.value,
    };
    validate::tag(&tag)?;
    s.store
        .set_experiment_tag(&ws, experiment_id(&req.experiment_id)?, tag)
        .await?;
    Ok(Json(Empty {}))
}

pub async fn delete_tag(
    State(s): State<AppState>,
    Workspace(ws): Workspace,
    MlflowJson(req): MlflowJson<ExperimentTagReq>,
) -> MlflowResult<Json<Empty>> {
    s.store
        .delete_experiment_tag(&ws, experiment_id(&req.experiment_id)?, &req.key)
        .await?;
    Ok(Json(Empty {}))
}
