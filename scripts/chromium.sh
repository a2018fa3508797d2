#!/usr/bin/env bash
# Headless Chromium and ChromeDriver, for the dashboard's browser tests
# (tests/tests/dashboard_browser.rs).
#
#   scripts/chromium.sh install   # idempotent; prints `export DURABLE_CHROMIUM=... DURABLE_CHROMEDRIVER=...`
#   scripts/chromium.sh path      # the same line, installs nothing (fails when one is missing)
#
# Installs the distribution's `chromium` and `chromium-driver` packages with apt when
# /usr/bin/chromium or /usr/bin/chromedriver is missing (as root, or through sudo). The
# printed line can be eval'ed; the tests find both programs at those paths by default.
set -euo pipefail

CHROMIUM="${DURABLE_CHROMIUM:-/usr/bin/chromium}"
CHROMEDRIVER="${DURABLE_CHROMEDRIVER:-/usr/bin/chromedriver}"

installed() {
    [[ -x "$CHROMIUM" && -x "$CHROMEDRIVER" ]]
}

install() {
    installed && return 0
    echo "chromium.sh: installing chromium and chromium-driver from the distribution's packages" >&2
    local sudo=""
    [[ "$(id -u)" -ne 0 ]] && sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium chromium-driver >&2 \
        || { $sudo apt-get update -q >&2 \
            && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium chromium-driver >&2; }
    installed || {
        echo "chromium.sh: $CHROMIUM or $CHROMEDRIVER is still missing after installing" >&2
        exit 1
    }
}

print() {
    echo "export DURABLE_CHROMIUM=$CHROMIUM DURABLE_CHROMEDRIVER=$CHROMEDRIVER"
    echo "chromium.sh: $("$CHROMIUM" --version 2>/dev/null || echo chromium); $("$CHROMEDRIVER" --version 2>/dev/null | cut -d' ' -f1-2)" >&2
}

case "${1:-}" in
    install)
        install
        print
        ;;
    path)
        installed || {
            echo "chromium.sh: $CHROMIUM or $CHROMEDRIVER is missing; run scripts/chromium.sh install" >&2
            exit 1
        }
        print
        ;;
    *)
        echo "usage: scripts/chromium.sh install|path" >&2
        exit 2
        ;;
esac
