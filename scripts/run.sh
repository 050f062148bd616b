#!/usr/bin/env bash
# run.sh: build the studio (web UI) and mlplane, and start the server with embedded defaults
# (SQLite metadata and local artifacts under ./mlplane-data), listening on 127.0.0.1:5050.
# Override with MLPLANE_PORT, MLPLANE_DATA_DIR, MLPLANE_DATABASE_URL, MLPLANE_ARTIFACTS_URI.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO"
ensure_rust
build_studio
log "building mlplane (release)"
cargo build --release -p mlplane-cli
export MLPLANE_DATA_DIR="${MLPLANE_DATA_DIR:-$REPO/mlplane-data}"
log "starting: studio at http://127.0.0.1:${MLPLANE_PORT:-5050}/studio/, API at /api/v1 (OpenAPI: /api/v1/openapi.json)"
exec "$CARGO_TARGET_DIR/release/mlplane" server "$@"
