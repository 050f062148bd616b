#!/usr/bin/env bash
# run.sh: build mlplane and start the server with embedded defaults
# (SQLite metadata and local artifacts under ./mlplane-data), listening on 127.0.0.1:5050.
# Override with MLPLANE_PORT, MLPLANE_DATA_DIR, MLPLANE_DATABASE_URL, MLPLANE_ARTIFACTS_URI.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO"
ensure_rust
log "building mlplane (release)"
cargo build --release -p mlplane-cli
export MLPLANE_DATA_DIR="${MLPLANE_DATA_DIR:-$REPO/mlplane-data}"
log "starting: API at http://127.0.0.1:${MLPLANE_PORT:-5050}/api/v1 (OpenAPI: /api/v1/openapi.json)"
exec "$CARGO_TARGET_DIR/release/mlplane" server "$@"
