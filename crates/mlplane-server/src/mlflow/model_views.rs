//! Wire shapes of MLflow 3 logged models (`service.proto`: `LoggedModel`, `CreateLoggedModel`,
//! `FinalizeLoggedModel`, `SearchLoggedModels`, ...) and the conversion from the domain type.
//!
//! Invariants:
//! - statuses go out as `LOGGED_MODEL_PENDING` / `LOGGED_MODEL_READY` /
//!   `LOGGED_MODEL_UPLOAD_FAILED`; the short names are accepted on the way in too;
//! - artifact URIs are shown with the `mlflow-artifacts:` scheme;
//! - unknown request fields are ignored, as MLflow's server does.

use super::int64::opt_i64;
use super::views::{KeyValue, mlflow_uri};
use mlplane_core::{LoggedModel, LoggedModelMetric, LoggedModelStatus, Param};
use serde::{Deserialize, Serialize};

/// MLflow's name of a model status.
pub fn status_name(s: LoggedModelStatus) -> &'static str {
    match s {
        LoggedModelStatus::Pending => "LOGGED_MODEL_PENDING",
        LoggedModelStatus::Ready => "LOGGED_MODEL_READY",
        LoggedModelStatus::UploadFailed => "LOGGED_MODEL_UPLOAD_FAILED",
    }
}

/// Parses an MLflow model status (`LOGGED_MODEL_READY` or `READY`).
pub fn parse_status(s: &str) -> Option<LoggedModelStatus> {
    LoggedModelStatus::parse(s.strip_prefix("LOGGED_MODEL_").unwrap_or(s))
}

pub fn to_params(kvs: Vec<KeyValue>) -> Vec<Param> {
    kvs.into_iter()
        .map(|p| Param {
            key: p.key,
            value: p.value,
        })
        .collect()
}

/// `POST logged-models`.
#[derive(Debug, Deserialize)]
pub struct CreateLoggedModel {
    #[serde(default)]
    pub experiment_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub model_type: Option<String>,
    #[serde(default)]
    pub source_run_id: Option<String>,
    #[serde(default)]
    pub params: Vec<KeyValue>,
    #[serde(default)]
    pub tags: Vec<KeyValue>,
}

/// Bodies that may repeat the path's `model_id`.
#[derive(Debug, Default, Deserialize)]
pub struct ModelRef {
    #[serde(default)]
    pub model_id: Option<String>,
}

/// `PATCH logged-models/{model_id}`.
#[derive(Debug, Deserialize)]
pub struct FinalizeLoggedModel {
    #[serde(flatten)]
    pub model: ModelRef,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub status_message: Option<String>,
}

/// `POST logged-models/{model_id}/params` and `PATCH logged-models/{model_id}/tags`.
#[derive(Debug, Deserialize)]
pub struct ModelKeyValues {
    #[serde(flatten)]
    pub model: ModelRef,
    #[serde(default)]
    pub params: Vec<KeyValue>,
    #[serde(default)]
    pub tags: Vec<KeyValue>,
}

/// One `order_by` entry of a search.
#[derive(Debug, Deserialize)]
pub struct ModelOrderBy {
    pub field_name: String,
    #[serde(default)]
    pub ascending: Option<bool>,
    #[serde(default)]
    pub dataset_name: Option<String>,
    #[serde(default)]
    pub dataset_digest: Option<String>,
}

/// One `datasets` entry of a search.
#[derive(Debug, Deserialize)]
pub struct DatasetFilterIn {
    #[serde(default)]
    pub dataset_name: Option<String>,
    #[serde(default)]
    pub dataset_digest: Option<String>,
}

/// `POST logged-models/search`.
#[derive(Debug, Deserialize)]
pub struct SearchLoggedModels {
    #[serde(default)]
    pub experiment_ids: Vec<String>,
    #[serde(default)]
    pub filter: Option<String>,
    #[serde(default)]
    pub datasets: Vec<DatasetFilterIn>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub max_results: Option<i64>,
    #[serde(default)]
    pub order_by: Vec<ModelOrderBy>,
    #[serde(default)]
    pub page_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SearchLoggedModelsResponse {
    pub models: Vec<LoggedModelView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// `GET logged-models/{model_id}/artifacts/directories`.
#[derive(Debug, Deserialize)]
pub struct ModelArtifactsQuery {
    #[serde(default)]
    pub artifact_directory_path: Option<String>,
}

/// `GET logged-models/{model_id}/artifacts/files` (the UI's download).
#[derive(Debug, Deserialize)]
pub struct ModelArtifactFileQuery {
    #[serde(default)]
    pub artifact_file_path: Option<String>,
}

/// `{"model": ...}`.
#[derive(Debug, Serialize)]
pub struct ModelResponse {
    pub model: LoggedModelView,
}

#[derive(Debug, Serialize)]
pub struct LoggedModelView {
    pub info: LoggedModelInfoView,
    pub data: LoggedModelDataView,
}

#[derive(Debug, Serialize)]
pub struct LoggedModelInfoView {
    pub model_id: String,
    pub experiment_id: String,
    pub name: String,
    pub artifact_uri: String,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    pub creation_timestamp_ms: i64,
    pub last_updated_timestamp_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_run_id: Option<String>,
    pub tags: Vec<KeyValue>,
    pub registrations: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct LoggedModelDataView {
    pub params: Vec<KeyValue>,
    pub metrics: Vec<ModelMetricView>,
}

/// A model's metric as MLflow's `Metric` message carries it.
#[derive(Debug, Serialize)]
pub struct ModelMetricView {
    pub key: String,
    #[serde(with = "mlplane_api::metric_value")]
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
    pub run_id: String,
    pub model_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_digest: Option<String>,
}

impl ModelMetricView {
    fn new(model_id: &str, m: LoggedModelMetric) -> Self {
        ModelMetricView {
            key: m.key,
            value: m.value,
            timestamp: m.timestamp,
            step: m.step,
            run_id: m.run_id.to_string(),
            model_id: model_id.to_string(),
            dataset_name: m.dataset_name,
            dataset_digest: m.dataset_digest,
        }
    }
}

impl From<LoggedModel> for LoggedModelView {
    fn from(m: LoggedModel) -> Self {
        let kv = |key: String, value: String| KeyValue { key, value };
        let id = m.id.to_string();
        let metrics = m
            .metrics
            .into_iter()
            .map(|x| ModelMetricView::new(&id, x))
            .collect();
        LoggedModelView {
            info: LoggedModelInfoView {
                model_id: id,
                experiment_id: m.experiment_id.to_string(),
                name: m.name,
                artifact_uri: mlflow_uri(&m.artifact_location),
                status: status_name(m.status),
                status_message: m.status_message,
                creation_timestamp_ms: m.created_ms,
                last_updated_timestamp_ms: m.updated_ms,
                model_type: m.model_type,
                source_run_id: m.source_run_id.map(|r| r.to_string()),
                tags: m.tags.into_iter().map(|t| kv(t.key, t.value)).collect(),
                registrations: Vec::new(),
            },
            data: LoggedModelDataView {
                params: m.params.into_iter().map(|p| kv(p.key, p.value)).collect(),
                metrics,
            },
        }
    }
}

/// `POST runs/outputs`: models a run produced.
#[derive(Debug, Deserialize)]
pub struct LogOutputs {
    #[serde(flatten)]
    pub run: super::views::RunRef,
    #[serde(default)]
    pub models: Vec<ModelOutputRef>,
}

/// One model of `runs/outputs`: its id and the step it was logged at (0 when left out).
#[derive(Debug, Deserialize)]
pub struct ModelOutputRef {
    #[serde(default)]
    pub model_id: Option<String>,
    #[serde(default, deserialize_with = "super::int64::opt_i64")]
    pub step: Option<i64>,
}
