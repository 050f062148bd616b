//! Embedded SQLite migrations, applied in order at open.
//!
//! Invariants:
//! - a migration is never edited once released; changes come as a new entry;
//! - `schema_migrations` holds one row per applied version.

/// `(version, sql)` in increasing version order; numbers may have gaps (a version is
/// applied when its row is missing, whatever came before it).
pub const MIGRATIONS: &[(i64, &str)] = &[
    (1, V1),
    (2, V2),
    (3, V3),
    (4, V4),
    (5, V5),
    (6, V6),
    (9, V9),
    (10, V10),
    (11, V11),
    (12, V12),
    (13, V13),
    (14, V14),
    (15, V15),
    (16, V16),
];

const V1: &str = r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE workspaces (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE TABLE experiments (
    id INTEGER PRIMARY KEY,
    workspace TEXT NOT NULL REFERENCES workspaces(name),
    name TEXT NOT NULL,
    artifact_location TEXT NOT NULL,
    lifecycle_stage TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (workspace, name)
);
CREATE TABLE experiment_tags (
    experiment_id INTEGER NOT NULL REFERENCES experiments(id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (experiment_id, key)
) WITHOUT ROWID;
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL REFERENCES workspaces(name),
    experiment_id INTEGER NOT NULL REFERENCES experiments(id),
    name TEXT NOT NULL,
    user_id TEXT NOT NULL,
    status TEXT NOT NULL,
    start_time INTEGER NOT NULL,
    end_time INTEGER,
    lifecycle_stage TEXT NOT NULL,
    parent_run_id TEXT,
    artifact_uri TEXT NOT NULL
);
CREATE INDEX runs_by_workspace ON runs (workspace, start_time DESC, id);
CREATE INDEX runs_by_experiment ON runs (experiment_id, start_time DESC, id);
CREATE TABLE run_params (
    run_id TEXT NOT NULL REFERENCES runs(id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE TABLE run_tags (
    run_id TEXT NOT NULL REFERENCES runs(id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE TABLE metric_series (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id),
    key TEXT NOT NULL,
    count INTEGER NOT NULL,
    min_step INTEGER NOT NULL,
    max_step INTEGER NOT NULL,
    last_value REAL,
    last_bits INTEGER NOT NULL,
    last_step INTEGER NOT NULL,
    last_ts INTEGER NOT NULL,
    UNIQUE (run_id, key)
);
-- Values are stored as the IEEE-754 bits of the f64 (SQLite turns NaN into NULL and -0.0
-- into 0), so every value round-trips exactly; metric_series.last_value keeps a REAL copy of
-- the latest value (NULL for NaN) for filtering.
CREATE TABLE metrics (
    series_id INTEGER NOT NULL,
    step INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (series_id, step, ts, seq)
) WITHOUT ROWID;
CREATE TABLE run_logs (
    run_id TEXT NOT NULL REFERENCES runs(id),
    start_offset INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, start_offset)
) WITHOUT ROWID;
CREATE TABLE artifacts (
    run_id TEXT NOT NULL REFERENCES runs(id),
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, path)
) WITHOUT ROWID;
"#;

/// Run inputs (datasets) and the key-first indexes searches read.
const V2: &str = r#"
-- Datasets a run read (MLflow log-inputs): one row per (dataset, context); tags are the
-- input tags as a JSON array of [key, value] pairs.
CREATE TABLE run_inputs (
    run_id TEXT NOT NULL REFERENCES runs(id),
    name TEXT NOT NULL,
    digest TEXT NOT NULL,
    context TEXT NOT NULL,
    seq INTEGER NOT NULL,
    source_type TEXT NOT NULL,
    source TEXT NOT NULL,
    dataset_schema TEXT,
    dataset_profile TEXT,
    tags TEXT NOT NULL,
    PRIMARY KEY (run_id, name, digest, context)
) WITHOUT ROWID;
-- Searches read params, tags and latest metrics by key first; the indexes cover the run id.
CREATE INDEX run_params_by_key ON run_params (key, value);
CREATE INDEX run_tags_by_key ON run_tags (key, value);
CREATE INDEX metric_series_by_key ON metric_series (key, last_value, run_id);
"#;

/// The model registry. Versions, tags and aliases hang off the model's surrogate id, so a
/// rename touches one row; `last_version` numbers versions without reusing any.
const V3: &str = r#"
CREATE TABLE registered_models (
    id INTEGER PRIMARY KEY,
    workspace TEXT NOT NULL REFERENCES workspaces(name),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_version INTEGER NOT NULL DEFAULT 0,
    UNIQUE (workspace, name)
);
CREATE TABLE registered_model_tags (
    model_id INTEGER NOT NULL REFERENCES registered_models(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
) WITHOUT ROWID;
CREATE TABLE model_versions (
    model_id INTEGER NOT NULL REFERENCES registered_models(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    source TEXT NOT NULL,
    storage_location TEXT NOT NULL,
    run_id TEXT,
    run_link TEXT NOT NULL,
    description TEXT NOT NULL,
    user_id TEXT NOT NULL,
    status TEXT NOT NULL,
    status_message TEXT NOT NULL,
    stage TEXT NOT NULL,
    logged_model_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (model_id, version)
);
CREATE INDEX model_versions_by_run ON model_versions (run_id);
CREATE TABLE model_version_tags (
    model_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (model_id, version, key),
    FOREIGN KEY (model_id, version) REFERENCES model_versions(model_id, version) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE TABLE model_aliases (
    model_id INTEGER NOT NULL REFERENCES registered_models(id) ON DELETE CASCADE,
    alias TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (model_id, alias),
    FOREIGN KEY (model_id, version) REFERENCES model_versions(model_id, version) ON DELETE CASCADE
) WITHOUT ROWID;
"#;

/// MLflow 3 logged models, their params, tags and artifact records.
const V4: &str = r#"
CREATE TABLE logged_models (
    id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL REFERENCES workspaces(name),
    experiment_id INTEGER NOT NULL REFERENCES experiments(id),
    name TEXT NOT NULL,
    model_type TEXT,
    source_run_id TEXT REFERENCES runs(id),
    status TEXT NOT NULL,
    status_message TEXT,
    lifecycle_stage TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    artifact_location TEXT NOT NULL
);
CREATE INDEX logged_models_by_experiment ON logged_models (workspace, experiment_id, created_at);
CREATE TABLE logged_model_params (
    model_id TEXT NOT NULL REFERENCES logged_models(id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
) WITHOUT ROWID;
CREATE TABLE logged_model_tags (
    model_id TEXT NOT NULL REFERENCES logged_models(id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
) WITHOUT ROWID;
CREATE TABLE logged_model_artifacts (
    model_id TEXT NOT NULL REFERENCES logged_models(id),
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (model_id, path)
) WITHOUT ROWID;
"#;

/// Jobs, their inputs and outputs, and versioned assets. Tags are JSON arrays of
/// `[key, value]` pairs (they never change after creation). `assets.version_num` is the
/// numeric value of an all-digit version, for numbering the next one.
const V5: &str = r#"
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    workspace TEXT NOT NULL REFERENCES workspaces(name),
    name TEXT NOT NULL,
    experiment_id INTEGER NOT NULL REFERENCES experiments(id),
    run_id TEXT NOT NULL REFERENCES runs(id),
    kind TEXT NOT NULL,
    parent TEXT,
    display_name TEXT NOT NULL,
    description TEXT NOT NULL,
    tags TEXT NOT NULL,
    compute TEXT NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    status_message TEXT,
    worker TEXT,
    attempt INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    ended_at INTEGER,
    UNIQUE (workspace, name)
);
CREATE INDEX jobs_to_claim ON jobs (status, compute, created_at, id);
CREATE INDEX jobs_by_workspace ON jobs (workspace, created_at DESC, id DESC);
CREATE INDEX jobs_by_parent ON jobs (workspace, parent) WHERE parent IS NOT NULL;
CREATE TABLE job_io (
    job_id INTEGER NOT NULL REFERENCES jobs(id),
    direction TEXT NOT NULL,
    name TEXT NOT NULL,
    asset_kind TEXT,
    asset_name TEXT,
    asset_version TEXT,
    uri TEXT,
    PRIMARY KEY (job_id, direction, name)
) WITHOUT ROWID;
CREATE INDEX job_io_by_asset ON job_io (asset_kind, asset_name, asset_version)
    WHERE asset_name IS NOT NULL;
CREATE TABLE assets (
    id INTEGER PRIMARY KEY,
    workspace TEXT NOT NULL REFERENCES workspaces(name),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    version_num INTEGER,
    description TEXT NOT NULL,
    tags TEXT NOT NULL,
    spec TEXT NOT NULL,
    storage_uri TEXT,
    source_job TEXT,
    archived INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    UNIQUE (workspace, kind, name, version)
);
CREATE INDEX assets_by_name ON assets (workspace, kind, name, created_at DESC, id DESC);
"#;

/// Version 6: the files of data and model versions, stored in the artifact store under the
/// version's key; recorded while the version is pending, frozen once it is complete.
const V6: &str = r#"
CREATE TABLE asset_files (
    asset_id INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (asset_id, path)
) WITHOUT ROWID;
"#;

/// `metric_series.unique_steps`: 1 when no two points of the series share a step (kept
/// conservatively by ingestion: it may turn false on an overlap it cannot rule out, never
/// true wrongly). With `count = max_step - min_step + 1` it means the series holds exactly
/// one point at every step of its range, so a downsampled read can compute which steps to
/// fetch instead of reading every point.
const V9: &str = r#"
ALTER TABLE metric_series ADD COLUMN unique_steps INTEGER NOT NULL DEFAULT 1;
UPDATE metric_series SET unique_steps = ((SELECT COUNT(DISTINCT m.step) FROM metrics m WHERE m.series_id = metric_series.id) = metric_series.count);
"#;

/// Version 10: metrics of MLflow 3 logged models, run metrics logged with a `model_id`.
/// Keyed like MLflow's `logged_model_metrics` (model, key, timestamp, step, run); values are
/// stored as their f64 bits so NaN, infinities and -0.0 round-trip.
const V10: &str = r#"
CREATE TABLE logged_model_metrics (
    model_id TEXT NOT NULL REFERENCES logged_models(id),
    key TEXT NOT NULL,
    ts INTEGER NOT NULL,
    step INTEGER NOT NULL,
    run_id TEXT NOT NULL REFERENCES runs(id),
    value_bits INTEGER NOT NULL,
    dataset_name TEXT,
    dataset_digest TEXT,
    PRIMARY KEY (model_id, key, ts, step, run_id)
) WITHOUT ROWID;
"#;

/// Version 11: identities and grants (users, service principals, API tokens stored as the
/// sha256 of their secret, web sessions, role bindings per workspace, custom roles).
const V11: &str = r#"
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    is_admin INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE service_principals (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    owner_kind TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    name TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    scopes TEXT NOT NULL,
    workspace TEXT,
    expires_at INTEGER,
    last_used_at INTEGER,
    revoked_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX api_tokens_by_owner ON api_tokens (owner_kind, owner_id);
CREATE TABLE sessions (
    id_sha256 TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    csrf_sha256 TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE TABLE role_bindings (
    workspace TEXT NOT NULL REFERENCES workspaces(name),
    principal_kind TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (workspace, principal_kind, principal_id, role)
) WITHOUT ROWID;
CREATE INDEX role_bindings_by_principal ON role_bindings (principal_kind, principal_id);
CREATE TABLE custom_roles (
    name TEXT PRIMARY KEY,
    actions TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
"#;

/// Version 12: workspace secrets, sealed by `mlplane-secrets` (key id, nonce, ciphertext);
/// no plaintext column exists.
const V12: &str = r#"
CREATE TABLE secrets (
    workspace TEXT NOT NULL REFERENCES workspaces(name),
    name TEXT NOT NULL,
    key_id TEXT NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (workspace, name)
) WITHOUT ROWID;
"#;

/// Version 13: the append-only audit log; triggers refuse every UPDATE and DELETE.
const V13: &str = r#"
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ms INTEGER NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    workspace TEXT,
    client_ip TEXT,
    request_id TEXT NOT NULL,
    method TEXT NOT NULL,
    status INTEGER NOT NULL,
    outcome TEXT NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"#;

/// Version 14: logged models a run produced (MLflow 3 `runs/outputs`), one row per (run,
/// model) with the step it was logged at; `seq` keeps the order they were first logged.
const V14: &str = r#"
CREATE TABLE run_outputs (
    run_id TEXT NOT NULL REFERENCES runs(id),
    model_id TEXT NOT NULL REFERENCES logged_models(id),
    step INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (run_id, model_id)
) WITHOUT ROWID;
"#;

/// Version 15: a job token's scope (its run, the assets it reads and writes), as the lines
/// of `mlplane_core::JobScope::encode`; other tokens have none.
const V15: &str = r#"
ALTER TABLE api_tokens ADD COLUMN job_scope TEXT;
"#;

/// Version 16: runs get an integer key, `runs.num`, and the tables searches and run reads
/// go through (params, tags, metric series, inputs, outputs) are keyed by it instead of the
/// 32-character run id: their b-trees hold a small integer per entry, so key lookups and
/// the id lists a search builds compare integers. Other tables keep referencing `runs(id)`,
/// which stays unique. `metric_series` is clustered by `(run_num, key)`, so the lookup a
/// search's metric filter or ordering makes, and a run's latest metrics, read one b-tree;
/// its `id` (what `metrics.series_id` holds) stays, unique. Applied with foreign keys off (see `migrate_with`): each table is
/// rebuilt, copied and renamed, then checked with `foreign_key_check`.
const V16: &str = r#"
CREATE TABLE runs_v16 (
    num INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    workspace TEXT NOT NULL REFERENCES workspaces(name),
    experiment_id INTEGER NOT NULL REFERENCES experiments(id),
    name TEXT NOT NULL,
    user_id TEXT NOT NULL,
    status TEXT NOT NULL,
    start_time INTEGER NOT NULL,
    end_time INTEGER,
    lifecycle_stage TEXT NOT NULL,
    parent_run_id TEXT,
    artifact_uri TEXT NOT NULL
);
INSERT INTO runs_v16 (id, workspace, experiment_id, name, user_id, status, start_time,
    end_time, lifecycle_stage, parent_run_id, artifact_uri)
SELECT id, workspace, experiment_id, name, user_id, status, start_time, end_time,
    lifecycle_stage, parent_run_id, artifact_uri FROM runs ORDER BY start_time, id;
DROP TABLE runs;
ALTER TABLE runs_v16 RENAME TO runs;
CREATE INDEX runs_by_workspace ON runs (workspace, start_time DESC, id);
CREATE INDEX runs_by_experiment ON runs (experiment_id, start_time DESC, id);

CREATE TABLE run_params_v16 (
    run_num INTEGER NOT NULL REFERENCES runs(num),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_num, key)
) WITHOUT ROWID;
INSERT INTO run_params_v16 SELECT r.num, p.key, p.value FROM run_params p JOIN runs r ON r.id = p.run_id;
DROP TABLE run_params;
ALTER TABLE run_params_v16 RENAME TO run_params;
CREATE INDEX run_params_by_key ON run_params (key, value);

CREATE TABLE run_tags_v16 (
    run_num INTEGER NOT NULL REFERENCES runs(num),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_num, key)
) WITHOUT ROWID;
INSERT INTO run_tags_v16 SELECT r.num, t.key, t.value FROM run_tags t JOIN runs r ON r.id = t.run_id;
DROP TABLE run_tags;
ALTER TABLE run_tags_v16 RENAME TO run_tags;
CREATE INDEX run_tags_by_key ON run_tags (key, value);

CREATE TABLE metric_series_v16 (
    id INTEGER NOT NULL UNIQUE,
    run_num INTEGER NOT NULL REFERENCES runs(num),
    key TEXT NOT NULL,
    count INTEGER NOT NULL,
    min_step INTEGER NOT NULL,
    max_step INTEGER NOT NULL,
    last_value REAL,
    last_bits INTEGER NOT NULL,
    last_step INTEGER NOT NULL,
    last_ts INTEGER NOT NULL,
    unique_steps INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (run_num, key)
) WITHOUT ROWID;
INSERT INTO metric_series_v16 (id, run_num, key, count, min_step, max_step, last_value,
    last_bits, last_step, last_ts, unique_steps)
SELECT m.id, r.num, m.key, m.count, m.min_step, m.max_step, m.last_value, m.last_bits,
    m.last_step, m.last_ts, m.unique_steps FROM metric_series m JOIN runs r ON r.id = m.run_id;
DROP TABLE metric_series;
ALTER TABLE metric_series_v16 RENAME TO metric_series;
CREATE INDEX metric_series_by_key ON metric_series (key, last_value, run_num);

CREATE TABLE run_inputs_v16 (
    run_num INTEGER NOT NULL REFERENCES runs(num),
    name TEXT NOT NULL,
    digest TEXT NOT NULL,
    context TEXT NOT NULL,
    seq INTEGER NOT NULL,
    source_type TEXT NOT NULL,
    source TEXT NOT NULL,
    dataset_schema TEXT,
    dataset_profile TEXT,
    tags TEXT NOT NULL,
    PRIMARY KEY (run_num, name, digest, context)
) WITHOUT ROWID;
INSERT INTO run_inputs_v16 SELECT r.num, i.name, i.digest, i.context, i.seq, i.source_type,
    i.source, i.dataset_schema, i.dataset_profile, i.tags FROM run_inputs i JOIN runs r ON r.id = i.run_id;
DROP TABLE run_inputs;
ALTER TABLE run_inputs_v16 RENAME TO run_inputs;

CREATE TABLE run_outputs_v16 (
    run_num INTEGER NOT NULL REFERENCES runs(num),
    model_id TEXT NOT NULL REFERENCES logged_models(id),
    step INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (run_num, model_id)
) WITHOUT ROWID;
INSERT INTO run_outputs_v16 SELECT r.num, o.model_id, o.step, o.seq FROM run_outputs o JOIN runs r ON r.id = o.run_id;
DROP TABLE run_outputs;
ALTER TABLE run_outputs_v16 RENAME TO run_outputs;
"#;

#[cfg(test)]
mod tests {
    #[test]
    fn versions_increase() {
        assert!(super::MIGRATIONS.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
