#!/usr/bin/env bash
# test.sh: install what the tests need and run every test: formatting, lints, unit and
# integration tests (SQLite always; PostgreSQL and S3 against real servers started here).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO"
started=$(date +%s)
ensure_rust
apt_install postgresql python3 python3-venv

log "installing s3s-fs (S3-protocol server for the artifact tests)"
bash scripts/s3-server.sh install
export MLPLANE_S3S_FS_BIN="$MLPLANE_TOOLS_DIR/bin/s3s-fs"

log "preparing the MLflow client venv (compatibility tests)"
bash scripts/mlflow-tests.sh --install-only

log "installing uv (job environment tests)"
ensure_uv
export MLPLANE_UV="$MLPLANE_TOOLS_DIR/uv/bin/uv" MLPLANE_REQUIRE_UV=1

log "building the studio (embedded by the next cargo build)"
build_studio
apt_install chromium

log "checking format"
cargo fmt --all -- --check

log "building tests"
cargo build --workspace --all-targets --locked

log "linting"
cargo clippy --workspace --all-targets --locked -- -D warnings

PGDIR="$(mktemp -d /tmp/mlplane-pg.XXXXXX)"
cleanup() { bash scripts/pg-server.sh stop "$PGDIR" >/dev/null 2>&1 || true; }
trap cleanup EXIT
log "starting PostgreSQL on 127.0.0.1"
MLPLANE_TEST_PG_URL="$(bash scripts/pg-server.sh start "$PGDIR")"
export MLPLANE_TEST_PG_URL MLPLANE_REQUIRE_PG=1 MLPLANE_REQUIRE_S3=1

log "running tests"
cargo test --workspace --locked --no-fail-fast -- --test-threads 2

log "running the unmodified mlflow client against mlplane"
MLPLANE_BIN="$CARGO_TARGET_DIR/debug/mlplane" bash scripts/mlflow-tests.sh -q
log "running the studio's browser tests (Playwright, headless Chromium)"
MLPLANE_BIN="$CARGO_TARGET_DIR/debug/mlplane" bash scripts/studio-tests.sh
log "all tests passed in $(( $(date +%s) - started ))s"
