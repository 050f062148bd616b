//! Limits on sizes and counts, shared by every interface (REST, CLI, MLflow protocol).
//!
//! They follow MLflow's own limits where MLflow has one, so MLflow clients never meet a
//! stricter server than the one they were written for. `docs/LIMITS.md` lists them for users.

/// Longest metric, param or tag key, in characters.
pub const MAX_KEY_LEN: usize = 250;
/// Longest param value, in characters.
pub const MAX_PARAM_VALUE_LEN: usize = 6000;
/// Longest run or experiment tag value, in characters.
pub const MAX_TAG_VALUE_LEN: usize = 5000;
/// Longest experiment name, in characters.
pub const MAX_EXPERIMENT_NAME_LEN: usize = 500;
/// Longest run name, in characters.
pub const MAX_RUN_NAME_LEN: usize = 250;
/// Longest user name recorded on a run, in characters.
pub const MAX_USER_LEN: usize = 250;
/// Longest workspace name, in characters.
pub const MAX_WORKSPACE_NAME_LEN: usize = 63;
/// Most metrics in one batch.
pub const MAX_BATCH_METRICS: usize = 1000;
/// Most params in one batch.
pub const MAX_BATCH_PARAMS: usize = 100;
/// Most tags in one batch.
pub const MAX_BATCH_TAGS: usize = 100;
/// Most items (metrics + params + tags) in one batch.
pub const MAX_BATCH_TOTAL: usize = 1000;
/// Most items per page of any list.
pub const MAX_PAGE_SIZE: usize = 50_000;
/// Default items per page of a list when the caller gives none.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Most points per page of metric history.
pub const MAX_HISTORY_PAGE: usize = 100_000;
/// Most points a downsampled history may ask for.
pub const MAX_DOWNSAMPLE_POINTS: usize = 10_000;
/// Longest artifact path, in bytes.
pub const MAX_ARTIFACT_PATH_LEN: usize = 1024;
/// Longest single artifact path component, in bytes.
pub const MAX_ARTIFACT_COMPONENT_LEN: usize = 255;
/// Largest single run-log append, in bytes.
pub const MAX_LOG_APPEND_BYTES: usize = 1 << 20;
/// Most bytes returned by one run-log read.
pub const MAX_LOG_READ_BYTES: usize = 4 << 20;
/// Longest dataset name, in chars.
pub const MAX_DATASET_NAME_LEN: usize = 500;
/// Longest dataset digest, in chars.
pub const MAX_DATASET_DIGEST_LEN: usize = 36;
/// Longest dataset source type, in chars.
pub const MAX_DATASET_SOURCE_TYPE_LEN: usize = 36;
/// Largest dataset source description, in bytes.
pub const MAX_DATASET_SOURCE_BYTES: usize = 65_535;
/// Largest dataset schema, in bytes.
pub const MAX_DATASET_SCHEMA_BYTES: usize = 1_048_575;
/// Largest dataset profile, in bytes.
pub const MAX_DATASET_PROFILE_BYTES: usize = 16_777_215;
/// Longest dataset input tag key, in chars.
pub const MAX_INPUT_TAG_KEY_LEN: usize = 255;
/// Longest dataset input tag value, in chars.
pub const MAX_INPUT_TAG_VALUE_LEN: usize = 500;
/// Most datasets in one `log-inputs` call.
pub const MAX_INPUTS_PER_CALL: usize = 1000;
/// Longest logged model name, in characters (MLflow's limit).
pub const MAX_LOGGED_MODEL_NAME_LEN: usize = 500;
/// Most logged models one search returns per page (MLflow's limit).
pub const MAX_LOGGED_MODEL_PAGE: usize = 50;
/// Most parts of one multipart artifact upload (S3's limit).
pub const MAX_UPLOAD_PARTS: u32 = 10_000;
/// Largest part of a multipart artifact upload, in bytes (S3's limit, 5 GiB).
pub const MAX_UPLOAD_PART_BYTES: u64 = 5 << 30;
/// Age after which an unfinished multipart upload is removed at server start, in seconds.
pub const STALE_UPLOAD_SECS: u64 = 24 * 60 * 60;
/// Longest job name, in characters (`^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$`).
pub const MAX_JOB_NAME_LEN: usize = 100;
/// Longest job display name, in characters.
pub const MAX_JOB_DISPLAY_NAME_LEN: usize = 250;
/// Longest job or asset description, in characters.
pub const MAX_JOB_DESCRIPTION_LEN: usize = 5000;
/// Longest compute target name, in characters (same alphabet as job names).
pub const MAX_COMPUTE_NAME_LEN: usize = 100;
/// Longest worker id recorded on a claimed job, in characters.
pub const MAX_WORKER_LEN: usize = 255;
/// Longest job status message, in characters.
pub const MAX_STATUS_MESSAGE_LEN: usize = 5000;
/// Largest job or asset spec (canonical JSON text), in bytes.
pub const MAX_SPEC_BYTES: usize = 1 << 20;
/// Most tags on a job or an asset version.
pub const MAX_JOB_TAGS: usize = 100;
/// Longest asset name, in characters (`^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$`).
pub const MAX_ASSET_NAME_LEN: usize = 255;
/// Longest asset version, in characters (`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`).
pub const MAX_ASSET_VERSION_LEN: usize = 64;
/// Longest asset storage URI or job input/output URI, in bytes.
pub const MAX_URI_BYTES: usize = 4096;
/// Most inputs and outputs recorded for one job in one call.
pub const MAX_JOB_IO_PER_CALL: usize = 1000;
