#!/usr/bin/env bash
# s3-server.sh: install and run s3s-fs, a small S3-protocol server backed by a directory.
#
# Used by the mlplane-artifacts S3 tests (they start their own s3s-fs process from the
# installed binary) and by developers who want a local S3 endpoint.
#
# Subcommands:
#   install              build s3s-fs into $REPO/.cache/tools (idempotent)
#   run [DIR] [PORT]     run s3s-fs in the foreground on 127.0.0.1:PORT (default 9000),
#                        serving DIR (default $REPO/.cache/s3-data); creates bucket "mlplane"
#   path                 print the path of the installed binary
#
# Environment:
#   S3S_FS_VERSION       version to install (default 0.14.1, the newest that builds on Rust 1.95)
#   S3_ACCESS_KEY / S3_SECRET_KEY   credentials for `run` (default AKIATEST / SECRETTEST)
#   S3_BUCKET            bucket created by `run` (default mlplane)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${MLPLANE_TOOLS_DIR:-$REPO/.cache/tools}"
BIN="$TOOLS/bin/s3s-fs"
VERSION="${S3S_FS_VERSION:-0.14.1}"

usage() {
    sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

cmd_install() {
    if [[ -x "$BIN" ]]; then
        echo "s3s-fs already installed at $BIN"
        return 0
    fi
    mkdir -p "$TOOLS"
    echo "installing s3s-fs $VERSION into $TOOLS (this can take several minutes)"
    cargo install s3s-fs --version "$VERSION" --features binary --locked --root "$TOOLS" \
        || cargo install s3s-fs --version "$VERSION" --features binary --root "$TOOLS"
    echo "installed $BIN"
}

cmd_run() {
    local dir="${1:-$REPO/.cache/s3-data}"
    local port="${2:-9000}"
    local bucket="${S3_BUCKET:-mlplane}"
    if [[ ! -x "$BIN" ]]; then
        echo "s3s-fs is not installed; run: $0 install" >&2
        exit 1
    fi
    mkdir -p "$dir/$bucket"
    echo "s3s-fs serving $dir on http://127.0.0.1:$port (bucket: $bucket)"
    echo "export MLPLANE_S3_ENDPOINT=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=${S3_ACCESS_KEY:-AKIATEST} AWS_SECRET_ACCESS_KEY=${S3_SECRET_KEY:-SECRETTEST} AWS_REGION=us-east-1"
    exec "$BIN" --host 127.0.0.1 --port "$port" \
        --access-key "${S3_ACCESS_KEY:-AKIATEST}" --secret-key "${S3_SECRET_KEY:-SECRETTEST}" \
        "$dir"
}

case "${1:-}" in
    install) cmd_install ;;
    run) shift; cmd_run "$@" ;;
    path) echo "$BIN" ;;
    -h|--help|help|"") usage ;;
    *) echo "unknown subcommand: $1" >&2; usage >&2; exit 2 ;;
esac
