#!/usr/bin/env bash
# Makes SoftHSM2 (a software PKCS#11 token) available to the test suite and prints the lines
# to evaluate:
#
#     eval "$(bash scripts/softhsm-test.sh)"   # exports PIIGATE_TEST_PKCS11_MODULE, SOFTHSM2_CONF
#     cargo test
#
# Only `export …` lines go to stdout; progress goes to stderr. Installs Debian's `softhsm2`
# (needs root) when the module is missing. SOFTHSM2_CONF points at a token directory of its
# own under $PIIGATE_SOFTHSM_DIR (default /tmp/piigate-softhsm), never the system one; tests
# that need isolation create their own configuration and tokens with softhsm2-util.
set -euo pipefail

DIR="${PIIGATE_SOFTHSM_DIR:-/tmp/piigate-softhsm}"
log() { printf 'softhsm-test: %s\n' "$*" >&2; }

find_module() {
    local m
    for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so \
        /usr/local/lib/softhsm/libsofthsm2.so; do
        [ -e "$m" ] && { echo "$m"; return 0; }
    done
    return 1
}

if ! MODULE=$(find_module) || ! command -v softhsm2-util >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
        log "softhsm2 is not installed and this is not root: apt-get install softhsm2"
        exit 1
    fi
    log "installing softhsm2"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends softhsm2 >/dev/null
    MODULE=$(find_module)
fi
mkdir -p "$DIR/tokens"
cat >"$DIR/softhsm2.conf" <<EOF
directories.tokendir = $DIR/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
log "module $MODULE, tokens in $DIR/tokens"
echo "export PIIGATE_TEST_PKCS11_MODULE=$MODULE"
echo "export SOFTHSM2_CONF=$DIR/softhsm2.conf"
