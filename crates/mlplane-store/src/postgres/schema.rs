//! The PostgreSQL schema: embedded migrations and the rows every store starts with.
//!
//! Metrics are kept in two tables. `metric_series` has one row per (run, key) with the
//! point count, step range and the latest point, so `get_run` and downsampling never scan
//! points. `metrics` holds the points, keyed by
//! `(series_id, step, ts, seq)`, which is exactly the history order, so a page of history
//! is one index range scan. Keys and paths use the "C" collation so that listings sort by
//! bytes whatever the database locale (the same order SQLite uses).
//!
//! Invariants:
//! - migrations are applied in version order, each in its own transaction together with its
//!   `schema_migrations` row, under a session advisory lock, so concurrent starts apply each
//!   one exactly once;
//! - a migration, once released, is never edited: changes go into a new version;
//! - after [`migrate`] the `default` workspace exists with its `Default` experiment (id 0),
//!   and the page-token secret exists and never changes.

use super::pool::Conn;
use super::rows::{col, now_ms};
use crate::Result;

/// Key of the advisory lock that serializes migrations ("mlplane" in ASCII).
const MIGRATION_LOCK: i64 = 0x006d_6c70_6c61_6e65;

/// Name of the `meta` row holding the page-token secret.
const TOKEN_KEY: &str = "page_token_key";

/// The migrations, in increasing version order; numbers may have gaps (each missing
/// version is applied, whatever came before it).
const MIGRATIONS: &[(i64, &str)] = &[
    (1, V1),
    (2, V2),
    (3, V3),
    (4, V4),
    (5, V5),
    (6, V6),
    (8, V8),
    (9, V9),
    (10, V10),
    (11, V11),
    (12, V12),
    (13, V13),
    (14, V14),
    (15, V15),
];

/// Datasets a run read (MLflow log-inputs): one row per (dataset, context); tags are the
/// input tags as a JSON array of [key, value] pairs.
const V2: &str = r#"
CREATE TABLE run_inputs (
    run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id),
    name TEXT COLLATE "C" NOT NULL,
    digest TEXT COLLATE "C" NOT NULL,
    context TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    source_type TEXT NOT NULL,
    source TEXT NOT NULL,
    dataset_schema TEXT,
    dataset_profile TEXT,
    tags TEXT NOT NULL,
    PRIMARY KEY (run_id, name, digest, context)
);
-- Searches read params, tags and latest metrics by key first. Values stay out of the text
-- indexes: a B-tree entry must fit in a third of a page, and param values may not.
CREATE INDEX run_params_by_key ON run_params (key);
CREATE INDEX run_tags_by_key ON run_tags (key);
CREATE INDEX metric_series_by_key ON metric_series (key, last_value, run_id);
"#;

const V1: &str = r#"
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE workspaces (
    name TEXT COLLATE "C" PRIMARY KEY,
    description TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE SEQUENCE experiment_id_seq MINVALUE 0 START WITH 1;

CREATE TABLE experiments (
    id BIGINT PRIMARY KEY DEFAULT nextval('experiment_id_seq'),
    workspace TEXT COLLATE "C" NOT NULL REFERENCES workspaces (name),
    name TEXT COLLATE "C" NOT NULL,
    artifact_location TEXT NOT NULL,
    lifecycle_stage TEXT NOT NULL CHECK (lifecycle_stage IN ('active', 'deleted')),
    is_default BOOLEAN NOT NULL DEFAULT false,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (workspace, name)
);
ALTER SEQUENCE experiment_id_seq OWNED BY experiments.id;
CREATE INDEX experiments_by_workspace ON experiments (workspace, id);

CREATE TABLE experiment_tags (
    experiment_id BIGINT NOT NULL REFERENCES experiments (id),
    key TEXT COLLATE "C" NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (experiment_id, key)
);

CREATE TABLE runs (
    id TEXT COLLATE "C" PRIMARY KEY,
    workspace TEXT COLLATE "C" NOT NULL REFERENCES workspaces (name),
    experiment_id BIGINT NOT NULL REFERENCES experiments (id),
    name TEXT NOT NULL,
    user_name TEXT NOT NULL,
    status TEXT NOT NULL,
    start_time BIGINT NOT NULL,
    end_time BIGINT,
    lifecycle_stage TEXT NOT NULL CHECK (lifecycle_stage IN ('active', 'deleted')),
    parent_run_id TEXT COLLATE "C" REFERENCES runs (id),
    artifact_uri TEXT NOT NULL,
    log_bytes BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_workspace ON runs (workspace, start_time DESC, id);
CREATE INDEX runs_by_experiment ON runs (experiment_id, start_time DESC, id);
CREATE INDEX runs_by_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;

CREATE TABLE run_params (
    run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id),
    key TEXT COLLATE "C" NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);

CREATE TABLE run_tags (
    run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id),
    key TEXT COLLATE "C" NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);

CREATE TABLE metric_series (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id),
    key TEXT COLLATE "C" NOT NULL,
    count BIGINT NOT NULL DEFAULT 0,
    min_step BIGINT,
    max_step BIGINT,
    last_value DOUBLE PRECISION,
    last_step BIGINT,
    last_ts BIGINT,
    last_seq BIGINT,
    UNIQUE (run_id, key)
);

-- Each batch takes one number; its points get seq = number * 2^20 + position in the batch,
-- so seq grows with insertion order across batches without locking the series.
CREATE SEQUENCE metric_batch_seq;

-- No foreign key to metric_series: a point is only ever written in the transaction that
-- holds its series row locked, and checking a key per point would halve insert speed.
CREATE TABLE metrics (
    series_id BIGINT NOT NULL,
    step BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (series_id, step, ts, seq)
);

CREATE TABLE run_logs (
    run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id),
    start_offset BIGINT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (run_id, start_offset)
);

CREATE TABLE artifacts (
    run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id),
    path TEXT COLLATE "C" NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, path)
);
"#;

/// The model registry. Versions, tags and aliases hang off the model's surrogate id, so a
/// rename touches one row; `last_version` numbers versions without reusing any.
const V3: &str = r#"
CREATE TABLE registered_models (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace TEXT COLLATE "C" NOT NULL REFERENCES workspaces (name),
    name TEXT COLLATE "C" NOT NULL,
    description TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_version BIGINT NOT NULL DEFAULT 0,
    UNIQUE (workspace, name)
);

CREATE TABLE registered_model_tags (
    model_id BIGINT NOT NULL REFERENCES registered_models (id) ON DELETE CASCADE,
    key TEXT COLLATE "C" NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
);

CREATE TABLE model_versions (
    model_id BIGINT NOT NULL REFERENCES registered_models (id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    source TEXT NOT NULL,
    storage_location TEXT NOT NULL,
    run_id TEXT COLLATE "C",
    run_link TEXT NOT NULL,
    description TEXT NOT NULL,
    user_id TEXT NOT NULL,
    status TEXT NOT NULL,
    status_message TEXT NOT NULL,
    stage TEXT NOT NULL CHECK (stage IN ('None', 'Staging', 'Production', 'Archived')),
    logged_model_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (model_id, version)
);
CREATE INDEX model_versions_by_run ON model_versions (run_id) WHERE run_id IS NOT NULL;

CREATE TABLE model_version_tags (
    model_id BIGINT NOT NULL,
    version BIGINT NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (model_id, version, key),
    FOREIGN KEY (model_id, version) REFERENCES model_versions (model_id, version) ON DELETE CASCADE
);

CREATE TABLE model_aliases (
    model_id BIGINT NOT NULL REFERENCES registered_models (id) ON DELETE CASCADE,
    alias TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (model_id, alias),
    FOREIGN KEY (model_id, version) REFERENCES model_versions (model_id, version) ON DELETE CASCADE
);
"#;

/// MLflow 3 logged models, their params, tags and artifact records.
const V4: &str = r#"
CREATE TABLE logged_models (
    id TEXT COLLATE "C" PRIMARY KEY,
    workspace TEXT COLLATE "C" NOT NULL REFERENCES workspaces(name),
    experiment_id BIGINT NOT NULL REFERENCES experiments(id),
    name TEXT NOT NULL,
    model_type TEXT,
    source_run_id TEXT COLLATE "C" REFERENCES runs(id),
    status TEXT NOT NULL,
    status_message TEXT,
    lifecycle_stage TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    artifact_location TEXT NOT NULL
);
CREATE INDEX logged_models_by_experiment ON logged_models (workspace, experiment_id, created_at);
CREATE TABLE logged_model_params (
    model_id TEXT COLLATE "C" NOT NULL REFERENCES logged_models(id),
    key TEXT COLLATE "C" NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
);
CREATE TABLE logged_model_tags (
    model_id TEXT COLLATE "C" NOT NULL REFERENCES logged_models(id),
    key TEXT COLLATE "C" NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
);
CREATE TABLE logged_model_artifacts (
    model_id TEXT COLLATE "C" NOT NULL REFERENCES logged_models(id),
    path TEXT COLLATE "C" NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (model_id, path)
);
"#;

/// Jobs, their inputs and outputs, and versioned assets. Tags are JSON arrays of
/// `[key, value]` pairs (they never change after creation). `assets.version_num` is the
/// numeric value of an all-digit version, for numbering the next one. Claims read
/// `jobs_to_claim` and lock with `FOR UPDATE SKIP LOCKED`.
const V5: &str = r#"
CREATE TABLE jobs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace TEXT COLLATE "C" NOT NULL REFERENCES workspaces (name),
    name TEXT COLLATE "C" NOT NULL,
    experiment_id BIGINT NOT NULL REFERENCES experiments (id),
    run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id),
    kind TEXT NOT NULL,
    parent TEXT COLLATE "C",
    display_name TEXT NOT NULL,
    description TEXT NOT NULL,
    tags TEXT NOT NULL,
    compute TEXT COLLATE "C" NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('Queued', 'Preparing', 'Running', 'Finalizing',
        'CancelRequested', 'Completed', 'Failed', 'Canceled')),
    status_message TEXT,
    worker TEXT,
    attempt BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    ended_at BIGINT,
    UNIQUE (workspace, name)
);
CREATE INDEX jobs_to_claim ON jobs (status, compute, created_at, id);
CREATE INDEX jobs_by_workspace ON jobs (workspace, created_at DESC, id DESC);
CREATE INDEX jobs_by_parent ON jobs (workspace, parent) WHERE parent IS NOT NULL;

CREATE TABLE job_io (
    job_id BIGINT NOT NULL REFERENCES jobs (id),
    direction TEXT NOT NULL CHECK (direction IN ('input', 'output')),
    name TEXT COLLATE "C" NOT NULL,
    asset_kind TEXT,
    asset_name TEXT COLLATE "C",
    asset_version TEXT COLLATE "C",
    uri TEXT,
    PRIMARY KEY (job_id, direction, name)
);
CREATE INDEX job_io_by_asset ON job_io (asset_kind, asset_name, asset_version)
    WHERE asset_name IS NOT NULL;

CREATE TABLE assets (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace TEXT COLLATE "C" NOT NULL REFERENCES workspaces (name),
    kind TEXT NOT NULL CHECK (kind IN ('data', 'model', 'environment', 'component')),
    name TEXT COLLATE "C" NOT NULL,
    version TEXT COLLATE "C" NOT NULL,
    version_num BIGINT,
    description TEXT NOT NULL,
    tags TEXT NOT NULL,
    spec TEXT NOT NULL,
    storage_uri TEXT,
    source_job TEXT COLLATE "C",
    archived BOOLEAN NOT NULL DEFAULT false,
    created_at BIGINT NOT NULL,
    UNIQUE (workspace, kind, name, version)
);
CREATE INDEX assets_by_name ON assets (workspace, kind, name, created_at DESC, id DESC);
"#;

/// The files of data and model versions, stored in the artifact store under the version's
/// key; recorded while the version is pending, frozen once it is complete.
const V6: &str = r#"
CREATE TABLE asset_files (
    asset_id BIGINT NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    path TEXT COLLATE "C" NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (asset_id, path)
);
"#;

/// Compute targets are assets of kind `compute` (SQLite has no check on the kind).
const V8: &str = r#"
ALTER TABLE assets DROP CONSTRAINT IF EXISTS assets_kind_check;
ALTER TABLE assets ADD CONSTRAINT assets_kind_check
    CHECK (kind IN ('data', 'model', 'environment', 'component', 'compute'));
"#;

/// Applies missing migrations, ensures the starting rows and returns the page-token secret.
pub(super) async fn migrate(conn: &Conn) -> Result<Vec<u8>> {
    // Session-level lock: released explicitly below, or when the connection closes.
    conn.db()
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let result = migrate_locked(conn).await;
    let unlocked = conn
        .db()
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let key = result?;
    unlocked?;
    Ok(key)
}

async fn migrate_locked(conn: &Conn) -> Result<Vec<u8>> {
    conn.db()
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY,
            applied_at BIGINT NOT NULL
        )",
        )
        .await?;
    let applied: Vec<i64> = conn
        .db()
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await?
        .iter()
        .map(|r| col(r, 0))
        .collect::<Result<_>>()?;
    for (version, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        tracing::info!(version, "applying postgres migration");
        let tx = conn.begin().await?;
        tx.db().batch_execute(sql).await?;
        tx.db()
            .execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                &[version, &now_ms()],
            )
            .await?;
        tx.commit().await?;
    }
    ensure_rows(conn).await
}

async fn ensure_rows(conn: &Conn) -> Result<Vec<u8>> {
    let now = now_ms();
    let tx = conn.begin().await?;
    let db = tx.db();
    // 32 random bytes from two v4 UUIDs (PostgreSQL's strong random source), 244 random bits.
    db.execute(
        "INSERT INTO meta (key, value)
         VALUES ($1, decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'))
         ON CONFLICT (key) DO NOTHING",
        &[&TOKEN_KEY],
    )
    .await?;
    let row = db
        .query_one("SELECT value FROM meta WHERE key = $1", &[&TOKEN_KEY])
        .await?;
    let key: Vec<u8> = col(&row, 0)?;
    db.execute(
        "INSERT INTO workspaces (name, description, created_at) VALUES ('default', '', $1)
         ON CONFLICT (name) DO NOTHING",
        &[&now],
    )
    .await?;
    db.execute(
        "INSERT INTO experiments
             (id, workspace, name, artifact_location, lifecycle_stage, is_default, created_at, updated_at)
         VALUES (0, 'default', 'Default', 'mlplane-artifacts:/default/0', 'active', true, $1, $1)
         ON CONFLICT (id) DO NOTHING",
        &[&now],
    )
    .await?;
    tx.commit().await?;
    Ok(key)
}

/// `metric_series.unique_steps`: true when no two points of the series share a step (kept
/// conservatively by ingestion: it may turn false on an overlap it cannot rule out, never
/// true wrongly). With `count = max_step - min_step + 1` it means the series holds exactly
/// one point at every step of its range, so a downsampled read can compute which steps to
/// fetch instead of reading every point.
const V9: &str = r#"
ALTER TABLE metric_series ADD COLUMN unique_steps BOOLEAN NOT NULL DEFAULT true;
UPDATE metric_series SET unique_steps = ((SELECT COUNT(DISTINCT m.step) FROM metrics m WHERE m.series_id = metric_series.id) = metric_series.count);
"#;

/// Version 10: metrics of MLflow 3 logged models, run metrics logged with a `model_id`.
/// Keyed like MLflow's `logged_model_metrics` (model, key, timestamp, step, run); `float8`
/// keeps NaN and infinities.
const V10: &str = r#"
CREATE TABLE logged_model_metrics (
    model_id TEXT COLLATE "C" NOT NULL REFERENCES logged_models(id),
    key TEXT COLLATE "C" NOT NULL,
    ts BIGINT NOT NULL,
    step BIGINT NOT NULL,
    run_id TEXT COLLATE "C" NOT NULL REFERENCES runs(id),
    value DOUBLE PRECISION NOT NULL,
    dataset_name TEXT,
    dataset_digest TEXT,
    PRIMARY KEY (model_id, key, ts, step, run_id)
);
"#;

/// Version 11: identities and grants (users, service principals, API tokens stored as the
/// sha256 of their secret, web sessions, role bindings per workspace, custom roles).
const V11: &str = r#"
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    is_admin BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE service_principals (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    owner_kind TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    name TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    scopes TEXT NOT NULL,
    workspace TEXT,
    expires_at BIGINT,
    last_used_at BIGINT,
    revoked_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX api_tokens_by_owner ON api_tokens (owner_kind, owner_id);
CREATE TABLE sessions (
    id_sha256 TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    csrf_sha256 TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE TABLE role_bindings (
    workspace TEXT NOT NULL REFERENCES workspaces(name),
    principal_kind TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (workspace, principal_kind, principal_id, role)
);
CREATE INDEX role_bindings_by_principal ON role_bindings (principal_kind, principal_id);
CREATE TABLE custom_roles (
    name TEXT PRIMARY KEY,
    actions TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
"#;

/// Version 12: workspace secrets, sealed by `mlplane-secrets` (key id, nonce, ciphertext);
/// no plaintext column exists.
const V12: &str = r#"
CREATE TABLE secrets (
    workspace TEXT COLLATE "C" NOT NULL REFERENCES workspaces (name),
    name TEXT COLLATE "C" NOT NULL,
    key_id TEXT NOT NULL,
    nonce BYTEA NOT NULL,
    ciphertext BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (workspace, name)
);
"#;

/// Version 13: the append-only audit log; triggers refuse every UPDATE, DELETE and
/// TRUNCATE.
const V13: &str = r#"
CREATE TABLE audit_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time_ms BIGINT NOT NULL,
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
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
"#;

/// Version 14: logged models a run produced (MLflow 3 `runs/outputs`), one row per (run,
/// model) with the step it was logged at; `seq` keeps the order they were first logged.
const V14: &str = r#"
CREATE TABLE run_outputs (
    run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id),
    model_id TEXT COLLATE "C" NOT NULL REFERENCES logged_models (id),
    step BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (run_id, model_id)
);
"#;

/// Version 15: a job token's scope (its run, the assets it reads and writes), as the lines
/// of `mlplane_core::JobScope::encode`; other tokens have none.
const V15: &str = r#"
ALTER TABLE api_tokens ADD COLUMN job_scope TEXT;
"#;

#[cfg(test)]
mod tests {
    #[test]
    fn versions_increase() {
        assert!(super::MIGRATIONS.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
