#!/usr/bin/env bash
# bench/studio/run.sh: the studio bench (see run.mjs): builds the studio and the release
# binary (or uses MLPLANE_BIN), and for the MLflow UI comparison runs `mlflow server` from
# MLFLOW_BIN, else the bench's venv (.cache/bench-venv, made by bench/run.sh), else the
# MLflow tests' venv (~/.cache/mlplane/mlflow-venv, made by scripts/mlflow-tests.sh).
# Writes bench/results-studio.md (--out FILE for another place); exits non-zero when the
# MLflow comparison was asked for and failed (the report then says why).
#   bash bench/studio/run.sh [--skip-mlflow] [--runs N] [--metrics N] [--points N] [--reps N] [--out FILE]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/common.sh"
cd "$REPO"
apt_install chromium
build_studio
bin="${MLPLANE_BIN:-}"
if [ -z "$bin" ]; then
    ensure_rust
    cargo build --release -p mlplane-cli >&2
    bin="$CARGO_TARGET_DIR/release/mlplane"
fi
extra=()
case " $* " in
*" --skip-mlflow "*) ;;
*)
    mlflow="${MLFLOW_BIN:-}"
    for m in "$REPO/.cache/bench-venv/bin/mlflow" "${MLPLANE_CACHE:-$HOME/.cache/mlplane}/mlflow-venv/bin/mlflow"; do
        if [ -z "$mlflow" ] && [ -x "$m" ]; then mlflow="$m"; fi
    done
    if [ -n "$mlflow" ] && [ -x "$mlflow" ]; then extra+=(--mlflow "$mlflow"); else
        log "no mlflow found (run bench/run.sh once, or set MLFLOW_BIN): MLflow UI skipped"; fi
    ;;
esac
node bench/studio/run.mjs --mlplane-bin "$bin" "${extra[@]}" "$@"
