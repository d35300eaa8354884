#!/usr/bin/env bash
# Browser tests of the embedded flow page: headless Debian Chromium driven by playwright-core,
# against a real openova-flow-server that the tests start (and restart) on a loopback port.
#
#   bash tests/ui/run.sh
#
# Installs what is missing (Chromium and Node.js from Debian, playwright-core with `npm ci`),
# builds the server and flowctl unless OPENOVA_FLOW_SERVER_BIN / FLOWCTL_BIN name them, runs every tests/ui/*.test.mjs
# with node's test runner. The tests stop the server themselves and write only to temporary
# folders; with FLOW_UI_SCREENSHOT=<file.png> they also save a screenshot of the page there
# (scripts/screenshot refreshes docs/ui-screenshot.png that way). Honours CARGO_TARGET_DIR and
# CHROMIUM_BIN.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "run.sh: $* missing and not root; install it: apt-get install -y $*" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
export CHROMIUM_BIN="${CHROMIUM_BIN:-/usr/bin/chromium}"
[ -x "$CHROMIUM_BIN" ] || apt_install chromium

(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
if [ -z "${OPENOVA_FLOW_SERVER_BIN:-}" ]; then
    (cd "$root" && cargo build --quiet -p openova-flow-server)
    export OPENOVA_FLOW_SERVER_BIN="$target/debug/openova-flow-server"
fi
# critical.test.mjs compares the page with `flowctl critical-path`.
if [ -z "${FLOWCTL_BIN:-}" ]; then
    (cd "$root" && cargo build --quiet -p flowctl)
    export FLOWCTL_BIN="$target/debug/flowctl"
fi

cd "$here"
exec node --test --test-concurrency=1 .
