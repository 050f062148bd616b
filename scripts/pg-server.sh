#!/usr/bin/env bash
# pg-server.sh: run a throwaway PostgreSQL server for the mlplane-store contract suite.
#
# Installs nothing: PostgreSQL comes from the system packages (`apt-get install postgresql`,
# done by the Makefile). The server listens on 127.0.0.1 only, trusts local connections,
# and trades durability for speed (fsync off), so it is for tests, never for data.
#
# Subcommands:
#   start DIR     initdb into DIR/data and start the server on a free port; prints the URL
#                 postgres://postgres@127.0.0.1:PORT/postgres on stdout (logs: DIR/server.log)
#   stop DIR      stop the server started in DIR and remove DIR
#   url DIR       print the URL of the server running in DIR
#
# Typical use:
#   dir=$(mktemp -d); export MLPLANE_TEST_PG_URL=$(scripts/pg-server.sh start "$dir")
#   cargo test -p mlplane-store --test it; scripts/pg-server.sh stop "$dir"
set -euo pipefail

usage() {
    sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

die() {
    echo "pg-server.sh: $*" >&2
    exit 1
}

pg_bin() {
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
    if [[ -z "$bin" || ! -x "$bin/initdb" ]]; then
        die "postgresql is not installed (apt-get install postgresql)"
    fi
    echo "$bin"
}

# Runs a command as the postgres user (initdb refuses to run as root).
as_postgres() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    # Ask the kernel for a free port; fall back to a random high port.
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    else
        echo $((20000 + RANDOM % 20000))
    fi
}

cmd_start() {
    local dir="${1:-}"
    [[ -n "$dir" ]] || die "start needs a directory"
    local bin
    bin=$(pg_bin)
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if [[ -f "$dir/port" ]] && as_postgres "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        die "a server is already running in $dir"
    fi
    if [[ "$(id -u)" == 0 ]]; then
        chown postgres:postgres "$dir"
        # The postgres user must be able to reach DIR: open up parents that are not.
        local p="$dir"
        while [[ "$p" != "/" ]]; do
            p="$(dirname "$p")"
            if ! runuser -u postgres -- test -x "$p"; then
                echo "pg-server.sh: letting the postgres user traverse $p (chmod o+x)" >&2
                chmod o+x "$p"
            fi
        done
    fi
    if [[ ! -d "$dir/data" ]]; then
        as_postgres "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 \
            --no-sync >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    fi
    local port tries=0
    while :; do
        port=$(free_port)
        if as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
            -o "-p $port -c listen_addresses=127.0.0.1 -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            start >/dev/null; then
            break
        fi
        tries=$((tries + 1))
        if [[ $tries -ge 3 ]]; then
            tail -20 "$dir/server.log" >&2 || true
            die "could not start postgres"
        fi
    done
    echo "$port" >"$dir/port"
    echo "postgres://postgres@127.0.0.1:$port/postgres"
}

cmd_stop() {
    local dir="${1:-}"
    [[ -n "$dir" ]] || die "stop needs a directory"
    [[ -d "$dir" ]] || return 0
    local bin
    bin=$(pg_bin)
    if [[ -d "$dir/data" ]]; then
        as_postgres "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

cmd_url() {
    local dir="${1:-}"
    [[ -f "$dir/port" ]] || die "no server was started in '$dir'"
    echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres"
}

case "${1:-}" in
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    url) shift; cmd_url "$@" ;;
    -h|--help|help|"") usage ;;
    *) echo "unknown subcommand: $1" >&2; usage >&2; exit 2 ;;
esac
