#!/usr/bin/env bash
# Durable Functions' real clients, for the tests that drive them against our HTTP API
# (tests/tests/df_clients.rs).
#
#   scripts/df-clients.sh install   # idempotent; prints where they are
#   scripts/df-clients.sh path      # prints the folder, installs nothing
#
# Installs, into the ignored folder .df-clients/ of the checkout:
#   python/  the Python client `azure-functions-durable` and its dependencies, pinned in
#            tests/df-clients/requirements.txt (`pip install --target`);
#   node/    the JavaScript client `durable-functions`, pinned by
#            tests/df-clients/node/package-lock.json (`npm ci`).
# Each part is reinstalled only when its pin file changed since the last install. Needs
# python3 with pip, and node with npm (both on the project's machines).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${DURABLE_DF_CLIENTS_DIR:-$ROOT/.df-clients}"
PINS="$ROOT/tests/df-clients"

fingerprint() {
    cat "$@" | sha256sum | cut -d' ' -f1
}

install_python() {
    local want have=""
    want="$(fingerprint "$PINS/requirements.txt")"
    [[ -f "$DIR/python/.installed" ]] && have="$(cat "$DIR/python/.installed")"
    if [[ "$want" == "$have" ]]; then
        return 0
    fi
    echo "df-clients.sh: installing the Python client into $DIR/python" >&2
    rm -rf "$DIR/python"
    mkdir -p "$DIR/python"
    python3 -m pip install --quiet --disable-pip-version-check --no-warn-conflicts \
        --target "$DIR/python" -r "$PINS/requirements.txt" >&2
    echo "$want" >"$DIR/python/.installed"
}

install_node() {
    local want have=""
    want="$(fingerprint "$PINS/node/package.json" "$PINS/node/package-lock.json")"
    [[ -f "$DIR/node/.installed" ]] && have="$(cat "$DIR/node/.installed")"
    if [[ "$want" == "$have" ]]; then
        return 0
    fi
    echo "df-clients.sh: installing the JavaScript client into $DIR/node" >&2
    rm -rf "$DIR/node"
    mkdir -p "$DIR/node"
    cp "$PINS/node/package.json" "$PINS/node/package-lock.json" "$DIR/node/"
    npm ci --prefix "$DIR/node" --no-audit --no-fund --loglevel=error >&2
    echo "$want" >"$DIR/node/.installed"
}

case "${1:-}" in
    install)
        install_python
        install_node
        echo "$DIR"
        ;;
    path) echo "$DIR" ;;
    *)
        echo "usage: scripts/df-clients.sh install|path" >&2
        exit 2
        ;;
esac
