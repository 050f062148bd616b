//! The two HTTP dialects the bench speaks: mlflow's REST API (`/api/2.0/mlflow/...`) and
//! mlplane's native API (`/api/v1/workspaces/default/...`). Each workload asks this module
//! for a URL and a pre-serialized body, so both servers get the same payloads and the
//! workloads themselves stay dialect-free.
//!
//! Invariants:
//! - a log-batch body carries exactly the metrics it is given, in the same JSON shape for
//!   both dialects (`{"key","value","timestamp","step"}`); mlflow's body adds `run_id`;
//! - bodies are built before a timed section starts, never inside it.

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use reqwest::{Client, Url};
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Mlflow,
    Mlplane,
}

/// A server's base URL plus the client that talks to it.
#[derive(Clone)]
pub struct Api {
    pub dialect: Dialect,
    pub client: Client,
    base: String,
    /// What comes before `{experiment_id}/{run_id}/artifacts/` in a proxy artifact path:
    /// empty for mlflow, the workspace (`default/`) for mlplane's MLflow API.
    artifact_prefix: String,
}

/// One metric observation, as sent.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    pub key: &'static str,
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
}

impl Api {
    pub fn new(dialect: Dialect, client: Client, port: u16) -> Self {
        Self {
            dialect,
            client,
            base: format!("http://127.0.0.1:{port}"),
            artifact_prefix: String::new(),
        }
    }

    /// mlplane spoken to through its MLflow API: the same calls as `mlflow server`, with
    /// artifact paths under the served workspace.
    pub fn mlflow_on_mlplane(client: Client, port: u16) -> Self {
        Self {
            artifact_prefix: "default/".into(),
            ..Self::new(Dialect::Mlflow, client, port)
        }
    }

    pub fn health_url(&self) -> String {
        match self.dialect {
            Dialect::Mlflow => format!("{}/health", self.base),
            Dialect::Mlplane => format!("{}/healthz", self.base),
        }
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Url {
        let base = match self.dialect {
            Dialect::Mlflow => format!("{}{path}", self.base),
            Dialect::Mlplane => format!("{}/api/v1/workspaces/default{path}", self.base),
        };
        Url::parse_with_params(&base, query).expect("invariant: bench URLs are well-formed")
    }

    /// Creates an experiment and returns its id.
    pub async fn create_experiment(&self, name: &str) -> Result<String> {
        let body = serde_json::json!({ "name": name }).to_string();
        let url = match self.dialect {
            Dialect::Mlflow => self.url("/api/2.0/mlflow/experiments/create", &[]),
            Dialect::Mlplane => self.url("/experiments", &[]),
        };
        let v = post_json(&self.client, url, body.into()).await?;
        v["experiment_id"]
            .as_str()
            .map(str::to_string)
            .context("create experiment: no experiment_id in the response")
    }

    /// URL and body of a create-run request in `experiment_id`.
    pub fn create_run_request(&self, experiment_id: &str) -> (Url, Bytes) {
        let body = serde_json::json!({
            "experiment_id": experiment_id,
            "start_time": now_ms(),
        })
        .to_string();
        let url = match self.dialect {
            Dialect::Mlflow => self.url("/api/2.0/mlflow/runs/create", &[]),
            Dialect::Mlplane => self.url("/runs", &[]),
        };
        (url, body.into())
    }

    /// Creates a run and returns its id.
    pub async fn create_run(&self, experiment_id: &str) -> Result<String> {
        let (url, body) = self.create_run_request(experiment_id);
        let v = post_json(&self.client, url, body).await?;
        let id = match self.dialect {
            Dialect::Mlflow => v.pointer("/run/info/run_id"),
            Dialect::Mlplane => v.pointer("/info/run_id"),
        };
        id.and_then(|s| s.as_str())
            .map(str::to_string)
            .context("create run: no run_id in the response")
    }

    /// URL and body of a log-batch request of `points` into `run_id`.
    pub fn log_batch_request(&self, run_id: &str, points: &[Point]) -> (Url, Bytes) {
        let mut s = String::with_capacity(64 + points.len() * 80);
        match self.dialect {
            Dialect::Mlflow => {
                let _ = write!(s, r#"{{"run_id":"{run_id}","metrics":["#);
            }
            Dialect::Mlplane => s.push_str(r#"{"metrics":["#),
        }
        for (i, p) in points.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(
                s,
                r#"{{"key":"{}","value":{:?},"timestamp":{},"step":{}}}"#,
                p.key, p.value, p.timestamp, p.step
            );
        }
        s.push_str("]}");
        let url = match self.dialect {
            Dialect::Mlflow => self.url("/api/2.0/mlflow/runs/log-batch", &[]),
            Dialect::Mlplane => self.url(&format!("/runs/{run_id}/batch"), &[]),
        };
        (url, s.into())
    }

    /// URL of one page of the full history of `key` in `run_id`.
    pub fn history_url(
        &self,
        run_id: &str,
        key: &str,
        max_results: usize,
        page_token: Option<&str>,
    ) -> Url {
        let max = max_results.to_string();
        let mut q: Vec<(&str, &str)> = match self.dialect {
            Dialect::Mlflow => vec![("run_id", run_id), ("metric_key", key)],
            Dialect::Mlplane => vec![("key", key)],
        };
        q.push(("max_results", &max));
        if let Some(t) = page_token {
            q.push(("page_token", t));
        }
        match self.dialect {
            Dialect::Mlflow => self.url("/api/2.0/mlflow/metrics/get-history", &q),
            Dialect::Mlplane => self.url(&format!("/runs/{run_id}/metric-history"), &q),
        }
    }

    /// URL of a downsampled history of `key` in `run_id` with at most `max_points` points.
    pub fn sampled_url(&self, run_id: &str, key: &str, max_points: usize) -> Url {
        let max = max_points.to_string();
        match self.dialect {
            Dialect::Mlflow => self.url(
                "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
                &[
                    ("run_ids", run_id),
                    ("metric_key", key),
                    ("max_results", &max),
                ],
            ),
            Dialect::Mlplane => self.url(
                &format!("/runs/{run_id}/metric-history/sampled"),
                &[("key", key), ("max_points", &max)],
            ),
        }
    }

    /// URL of artifact `file` of run `run_id` (in experiment `experiment_id`).
    pub fn artifact_url(&self, experiment_id: &str, run_id: &str, file: &str) -> Url {
        match self.dialect {
            Dialect::Mlflow => self.url(
                &format!(
                    "/api/2.0/mlflow-artifacts/artifacts/{}{experiment_id}/{run_id}/artifacts/{file}",
                    self.artifact_prefix
                ),
                &[],
            ),
            Dialect::Mlplane => self.url(&format!("/runs/{run_id}/artifacts/{file}"), &[]),
        }
    }
}

impl Api {
    /// URL and body of a `runs/search` (MLflow dialect only; mlplane's native API has no
    /// filter language).
    pub fn search_runs_request(
        &self,
        experiment_id: &str,
        filter: &str,
        order_by: &[&str],
        max_results: usize,
    ) -> Option<(Url, Bytes)> {
        match self.dialect {
            Dialect::Mlflow => {
                let body = serde_json::json!({
                    "experiment_ids": [experiment_id],
                    "filter": filter,
                    "order_by": order_by,
                    "max_results": max_results,
                })
                .to_string();
                Some((self.url("/api/2.0/mlflow/runs/search", &[]), body.into()))
            }
            Dialect::Mlplane => None,
        }
    }

    /// URL and body of a log-batch carrying params and tags as well as metrics.
    pub fn log_run_data_request(
        &self,
        run_id: &str,
        metrics: &[Point],
        params: &[(&str, String)],
    ) -> (Url, Bytes) {
        let kv = |pairs: &[(&str, String)]| -> Vec<serde_json::Value> {
            pairs
                .iter()
                .map(|(k, v)| serde_json::json!({"key": k, "value": v}))
                .collect()
        };
        let ms: Vec<serde_json::Value> = metrics
            .iter()
            .map(|p| serde_json::json!({"key": p.key, "value": p.value, "timestamp": p.timestamp, "step": p.step}))
            .collect();
        let mut body = serde_json::json!({"metrics": ms, "params": kv(params)});
        let url = match self.dialect {
            Dialect::Mlflow => {
                body["run_id"] = serde_json::json!(run_id);
                self.url("/api/2.0/mlflow/runs/log-batch", &[])
            }
            Dialect::Mlplane => self.url(&format!("/runs/{run_id}/batch"), &[]),
        };
        (url, body.to_string().into())
    }
}

/// POSTs a JSON body and parses a JSON answer, failing on a non-2xx status.
async fn post_json(client: &Client, url: Url, body: Bytes) -> Result<serde_json::Value> {
    let resp = client
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = resp.status();
    let text = resp.text().await?;
    if !status.is_success() {
        bail!("POST {url}: HTTP {status}: {}", clip(&text));
    }
    serde_json::from_str(&text).with_context(|| format!("POST {url}: response is not JSON"))
}

/// The first 300 characters of a response body, for error messages.
pub fn clip(s: &str) -> String {
    s.chars().take(300).collect()
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
