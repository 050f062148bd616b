#!/usr/bin/env bash
# studio-tests.sh: the studio's browser tests. Builds the studio (and, without MLPLANE_BIN, the
# debug binary), installs Debian's chromium when missing, then runs studio/tests/run.mjs:
# the real `mlplane` on a free 127.0.0.1 port, seeded through the REST API, driven by
# playwright-core in headless Chromium. Screenshots go to .cache/studio-test-output/.
# studio/tests/auth.mjs then runs the sign-in tests against a second server with `--auth on`.
# Env: MLPLANE_BIN (binary to test), MLPLANE_UV (uv for the job test), STUDIO_RUNS (default
# 10000), STUDIO_POINTS (default 1000000).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO"
apt_install chromium
build_studio
if [ -z "${MLPLANE_BIN:-}" ]; then
    ensure_rust
    log "building mlplane (debug) with the studio embedded"
    cargo build -p mlplane-cli
    MLPLANE_BIN="$CARGO_TARGET_DIR/debug/mlplane"
fi
if [ -z "${MLPLANE_UV:-}" ] && [ -x "$MLPLANE_TOOLS_DIR/uv/bin/uv" ]; then
    export MLPLANE_UV="$MLPLANE_TOOLS_DIR/uv/bin/uv"
fi
export MLPLANE_BIN
export STUDIO_OUT="${STUDIO_OUT:-$REPO/.cache/studio-test-output}"
mkdir -p "$STUDIO_OUT"
status=0
node studio/tests/run.mjs "$@" || status=$?
node studio/tests/auth.mjs "$@" || status=$?
exit "$status"
