#!/usr/bin/env bash
# bench/run.sh: the single entry point of the mlplane vs mlflow benchmark.
#
#   bash bench/run.sh            full run, writes bench/results.md
#   bash bench/run.sh --quick    smaller sizes (smoke test), writes .cache/bench-results-quick.md
#   bash bench/run.sh --jobs     the jobs workload only (mlplane alone, needs uv), writes bench/results-jobs.md
#
# Any other arguments are passed to the bench binary (see `--help` of mlplane-bench),
# e.g. `--skip-mlflow` or `--inflight 8`.
#
# Steps: build the release binaries of mlplane and of the bench, create the mlflow venv
# under .cache/bench-venv if it is missing or holds another mlflow version, then run the
# bench, which starts and stops every server itself.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
# Same build cache as scripts/run.sh and scripts/test.sh.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mlplane/target}"

MLFLOW_VERSION="${MLFLOW_VERSION:-3.17.2}"
VENV="$REPO/.cache/bench-venv"
PYTHON="${PYTHON:-python3}"

quick=0
for a in "$@"; do
    [[ "$a" == "--quick" ]] && quick=1
done

echo "== building release binaries (mlplane, mlplane-bench)" >&2
cargo build --release -p mlplane-cli -p mlplane-bench >&2

# The venv is reused when it already has the wanted mlflow; otherwise it is (re)built.
have=""
if [[ -x "$VENV/bin/mlflow" ]]; then
    have="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("mlflow"))' 2>/dev/null || true)"
fi
if [[ "$have" != "$MLFLOW_VERSION" ]]; then
    echo "== creating $VENV with mlflow==$MLFLOW_VERSION (was: ${have:-none})" >&2
    rm -rf "$VENV"
    mkdir -p "$REPO/.cache"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip >&2
    if ! "$VENV/bin/pip" install --quiet "mlflow==$MLFLOW_VERSION" >&2; then
        echo "== mlflow==$MLFLOW_VERSION is not available; installing the newest mlflow 3.x" >&2
        "$VENV/bin/pip" install --quiet "mlflow>=3,<4" >&2
    fi
fi
echo "== $("$VENV/bin/mlflow" --version)" >&2

out="bench/results.md"
for a in "$@"; do
    [[ "$a" == "--jobs" ]] && export MLPLANE_UV="${MLPLANE_UV:-$HOME/.cache/mlplane/tools/uv/bin/uv}"
done
if [[ $quick == 1 ]]; then
    out=".cache/bench-results-quick.md"
fi

exec "$CARGO_TARGET_DIR/release/mlplane-bench" \
    --mlplane-bin "$CARGO_TARGET_DIR/release/mlplane" \
    --mlflow-bin "$VENV/bin/mlflow" \
    --work-dir "$REPO/.cache/bench-work" \
    --out "$out" \
    "$@"
