#!/usr/bin/env bash
# mlflow-tests.sh: run the unmodified MLflow Python client against an mlplane binary.
# Builds nothing: expects $MLPLANE_BIN (default ${CARGO_TARGET_DIR:-target}/debug/mlplane).
# Usage: scripts/mlflow-tests.sh [--install-only] [pytest args...]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
MLFLOW_VERSION="3.17.2"
SKLEARN_VERSION="1.9.1"
HTTPX_VERSION="0.28.1"
JSONSCHEMA_VERSION="4.25.1"
VENV="${MLPLANE_CACHE:-$HOME/.cache/mlplane}/mlflow-venv"
log() { printf '==> %s\n' "$*" >&2; }

venv_ready() {
    [ -x "$VENV/bin/python" ] &&
        "$VENV/bin/python" - "$MLFLOW_VERSION" "$SKLEARN_VERSION" "$HTTPX_VERSION" "$JSONSCHEMA_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
assert version("mlflow") == sys.argv[1]
assert version("scikit-learn") == sys.argv[2]
assert version("httpx") == sys.argv[3]
assert version("jsonschema") == sys.argv[4]
version("pytest")
PY
}

if ! venv_ready; then
    log "creating MLflow client venv at $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "mlflow==$MLFLOW_VERSION" "scikit-learn==$SKLEARN_VERSION" "httpx==$HTTPX_VERSION" "jsonschema==$JSONSCHEMA_VERSION" pytest
fi

if [ "${1:-}" = "--install-only" ]; then
    log "venv ready: $VENV"
    exit 0
fi

export MLPLANE_BIN="${MLPLANE_BIN:-${CARGO_TARGET_DIR:-target}/debug/mlplane}"
if [ ! -x "$MLPLANE_BIN" ]; then
    log "mlplane binary not found at $MLPLANE_BIN (build it with: cargo build -p mlplane-cli)"
    exit 1
fi
MLPLANE_BIN="$(cd "$(dirname "$MLPLANE_BIN")" && pwd)/$(basename "$MLPLANE_BIN")"
log "running MLflow client tests against $MLPLANE_BIN"
export PYTHONDONTWRITEBYTECODE=1
exec "$VENV/bin/python" -m pytest -p no:cacheprovider python/tests "$@"
