#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests and benchmarks.
#
#   scripts/postgres.sh start   # prints `export DURABLE_POSTGRES_URL=...`; eval it
#   scripts/postgres.sh stop
#
# Installs PostgreSQL from the distribution's packages when no server binaries are found,
# creates a cluster under a temporary directory owned by an ordinary user (PostgreSQL
# refuses to run as root), listens on 127.0.0.1 on a free port, and trusts local
# connections (the cluster lives only as long as the test run). The state of a running
# cluster is kept in $DURABLE_PG_STATE (default /tmp/durable-postgres.state).
set -euo pipefail

STATE="${DURABLE_PG_STATE:-/tmp/durable-postgres.state}"

find_bin() {
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        if [[ -x "$dir/pg_ctl" && -x "$dir/initdb" ]]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

install_server() {
    echo "postgres.sh: installing PostgreSQL from the distribution's packages" >&2
    local sudo=""
    [[ "$(id -u)" -ne 0 ]] && sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q postgresql >&2 \
        || { $sudo apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q postgresql >&2; }
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
    if [[ -f "$STATE" ]]; then
        # shellcheck disable=SC1090
        source "$STATE"
        local check=()
        [[ "$(id -u)" -eq 0 ]] && check=(runuser -u "$PG_USER" --)
        if "${check[@]}" "$PG_BIN/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1; then
            echo "export DURABLE_POSTGRES_URL=$PG_URL"
            return 0
        fi
    fi
    local bin
    bin="$(find_bin)" || { install_server; bin="$(find_bin)"; } || {
        echo "postgres.sh: no PostgreSQL server binaries after installing" >&2
        exit 1
    }
    local run_as=()
    local user
    user="$(id -un)"
    if [[ "$(id -u)" -eq 0 ]]; then
        # PostgreSQL will not run as root: use the packages' `postgres` user.
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        user=postgres
        run_as=(runuser -u postgres --)
    fi
    local dir port
    dir="$(mktemp -d /tmp/durable-pg.XXXXXX)"
    chown "$user" "$dir"
    port="$(free_port)"
    "${run_as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200 -c fsync=on -c synchronous_commit=on" \
        start >&2 || {
        cat "$dir/server.log" >&2
        exit 1
    }
    local url="postgres://postgres@127.0.0.1:$port/postgres"
    cat >"$STATE" <<STATE_EOF
PG_BIN=$bin
PG_DATA=$dir/data
PG_DIR=$dir
PG_USER=$user
PG_URL=$url
STATE_EOF
    echo "export DURABLE_POSTGRES_URL=$url"
}

stop() {
    [[ -f "$STATE" ]] || return 0
    # shellcheck disable=SC1090
    source "$STATE"
    local run_as=()
    [[ "$(id -u)" -eq 0 ]] && run_as=(runuser -u "$PG_USER" --)
    "${run_as[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >&2 || true
    rm -rf "$PG_DIR" "$STATE"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *)
        echo "usage: scripts/postgres.sh start|stop" >&2
        exit 2
        ;;
esac
