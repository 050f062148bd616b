#!/usr/bin/env bash
# bench/studio/run.sh: the studio bench (see run.mjs): builds the studio and the release
# binary, uses the bench's mlflow venv (.cache/bench-venv, made by bench/run.sh) or
# MLFLOW_BIN for the MLflow UI comparison, and writes bench/results-studio.md.
#   bash bench/studio/run.sh [--skip-mlflow] [--runs N] [--metrics N] [--points N] [--reps N]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/common.sh"
cd "$REPO"
apt_install chromium
build_studio
cargo build --release -p mlplane-cli >&2
mlflow="${MLFLOW_BIN:-$REPO/.cache/bench-venv/bin/mlflow}"
extra=()
if [ -x "$mlflow" ]; then extra+=(--mlflow "$mlflow"); else
    log "no mlflow at $mlflow (run bench/run.sh once, or set MLFLOW_BIN): MLflow UI skipped"; fi
node bench/studio/run.mjs --mlplane-bin "$CARGO_TARGET_DIR/release/mlplane" "${extra[@]}" "$@"
