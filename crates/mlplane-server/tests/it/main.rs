//! Integration tests of the HTTP edge: the app is built in-process over a SQLite file and a
//! local artifact folder in a temp dir, and called through `tower::ServiceExt::oneshot`.

mod api;
mod asset_files;
mod assets;
mod attacks;
mod auth;
mod env_files;
mod hostile;
mod job_tokens;
mod jobs;
mod log_stream;
mod mlflow;
mod mlflow_artifacts;
mod mlflow_logged_models;
mod mlflow_mpu;
mod mlflow_registry;
mod mlflow_search;
mod security;
mod snapshots;
mod studio;
mod support;
