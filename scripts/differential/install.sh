#!/usr/bin/env bash
# Installs the real parsers of the differential suite: Debian's php-cli, php-illuminate-http
# (Laravel's Request), ruby + ruby-rack + ruby-webrick, ruby-actionpack (Rails'
# ActionDispatch) and golang-go; Flask/Werkzeug and Django from PyPI into a venv under target/;
# express, body-parser and qs from npm (package-lock.json). Idempotent: a second run is quick.
set -euo pipefail
cd "$(dirname "$0")"
need=()
command -v php >/dev/null 2>&1 || need+=(php-cli)
command -v ruby >/dev/null 2>&1 || need+=(ruby)
ruby -e 'require "rack"' >/dev/null 2>&1 || need+=(ruby-rack)
ruby -e 'require "webrick"' >/dev/null 2>&1 || need+=(ruby-webrick)
command -v go >/dev/null 2>&1 || need+=(golang-go)
[ -f /usr/share/php/Illuminate/Http/autoload.php ] || need+=(php-illuminate-http)
ruby -e 'require "action_dispatch"' >/dev/null 2>&1 || need+=(ruby-actionpack)
if [ "${#need[@]}" -gt 0 ]; then
    echo "differential: apt-get install ${need[*]}"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
VENV=../../target/differential/venv
# `grep -q` would stop reading early and break pip's pipe (a noisy traceback): read it all.
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/pip" freeze 2>/dev/null | grep -x 'Django==5.2.19' >/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements.txt
fi
if [ ! -d node/node_modules/express ]; then
    (cd node && npm ci --no-audit --no-fund --silent)
fi
mkdir -p ../../target/differential
for prog in echo struct; do
    GOCACHE="$(cd ../../target/differential && pwd)/gocache" GO111MODULE=off \
        go build -o "../../target/differential/go-$prog" "go/$prog.go"
done
echo "differential: parsers installed ($(php -r 'echo PHP_VERSION;') php, rack $(ruby -e 'require "rack"; print Rack.release'), actionpack $(ruby -e 'require "action_pack/version"; print ActionPack::VERSION::STRING'), $(go version | cut -d' ' -f3), node $(node --version))"
