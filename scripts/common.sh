# common.sh: shared setup for run.sh and test.sh (sourced, not executed).
# Installs nothing by itself; provides helpers that install idempotently.

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Build outputs and tools live outside the clone when possible, so a fresh clone reuses them;
# a machine without this cache simply builds from scratch.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mlplane/target}"
export MLPLANE_TOOLS_DIR="${MLPLANE_TOOLS_DIR:-$HOME/.cache/mlplane/tools}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        log "need root for: $*"; return 1; fi
}

APT_UPDATED=""
# apt_install PKG... : installs Debian packages that are missing.
apt_install() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ -z "$APT_UPDATED" ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
    log "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_rust() {
    if ! command -v cargo >/dev/null; then
        log "cargo not found: installing Rust with rustup"
        apt_install curl ca-certificates
        curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
        # shellcheck disable=SC1091
        . "$HOME/.cargo/env"
    fi
    apt_install gcc libc6-dev pkg-config
}

UV_VERSION="0.13.9"
# ensure_uv: installs uv (used to build job environments) into a venv under the tools dir.
ensure_uv() {
    local venv="$MLPLANE_TOOLS_DIR/uv"
    if [ ! -x "$venv/bin/uv" ]; then
        log "installing uv $UV_VERSION into $venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q "uv==$UV_VERSION"
    fi
}

# ensure_node: Node.js 18+ and npm (builds the studio); Debian's packages when missing or old.
ensure_node() {
    if command -v node >/dev/null && command -v npm >/dev/null \
        && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 18 ]; then
        return 0
    fi
    log "Node.js 18+ not found: installing nodejs and npm"
    apt_install nodejs npm
}

# build_studio: `npm ci` (skipped while node_modules matches the lockfile) and `npm run build`
# in studio/, so the next cargo build embeds studio/dist into the binary.
build_studio() {
    ensure_node
    local dir="$REPO/studio" stamp="$REPO/studio/node_modules/.mlplane-lock-sha256"
    local want
    want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        log "installing the studio's npm packages (npm ci)"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) && echo "$want" >"$stamp"
    fi
    log "building the studio (npm run build)"
    (cd "$dir" && npm run --silent build >/dev/null)
}
