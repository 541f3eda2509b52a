#!/usr/bin/env bash
# Installs the vendor SDK harness under target/sdk/ (never committed), from the lock files:
#   target/sdk/venv          Python server SDKs   (requirements.lock: pinned, hashed)
#   target/sdk/node          Node server + browser SDKs, playwright-core (package-lock.json)
# and, with --browser, Debian's chromium (apt; `npx playwright install` cannot download here).
# Idempotent: a lock file newer than its install re-installs.
#
#     bash scripts/sdk/install.sh [--browser]
set -euo pipefail
cd "$(dirname "$0")"
HERE=$PWD
SDK=$HERE/../../target/sdk
mkdir -p "$SDK"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "== installing Debian nodejs and npm"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
if [ "${1:-}" = "--browser" ] && ! command -v chromium >/dev/null 2>&1; then
    echo "== installing Debian chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

stamp() { [ -f "$1" ] && [ "$1" -nt "$2" ]; }
if ! stamp "$SDK/venv/.installed" requirements.lock; then
    echo "== Python SDKs (requirements.lock)"
    rm -rf "$SDK/venv"
    python3 -m venv "$SDK/venv"
    "$SDK/venv/bin/pip" install --quiet --require-hashes --no-deps -r requirements.lock
    touch "$SDK/venv/.installed"
fi
if ! stamp "$SDK/node/.installed" package-lock.json; then
    echo "== Node SDKs (package-lock.json)"
    rm -rf "$SDK/node"
    mkdir -p "$SDK/node"
    cp package.json package-lock.json "$SDK/node/"
    (cd "$SDK/node" && npm ci --silent --no-audit --no-fund --ignore-scripts)
    touch "$SDK/node/.installed"
fi
