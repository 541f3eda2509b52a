#!/usr/bin/env bash
# Installs what scripts/load.sh and scripts/soak.sh need on a fresh Debian machine: nginx (the
# upstream and the baseline proxy, with its ssl and http_v2 modules), wrk (HTTP/1.1 load),
# h2load (HTTP/2 load), taskset, openssl, curl. Does nothing when they are all present.
#
#   bash scripts/load/install.sh
set -euo pipefail

# tool → the Debian package that provides it
declare -A PACKAGE=([nginx]=nginx [wrk]=wrk [h2load]=nghttp2-client [taskset]=util-linux
    [openssl]=openssl [curl]=curl [pgrep]=procps [python3]=python3)

missing=()
for tool in "${!PACKAGE[@]}"; do
    command -v "$tool" >/dev/null || missing+=("${PACKAGE[$tool]}")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    if ! command -v apt-get >/dev/null; then
        echo "load/install.sh: missing ${missing[*]} and no apt-get to install them" >&2
        exit 2
    fi
    SUDO=()
    if [[ $(id -u) -ne 0 ]]; then
        if ! command -v sudo >/dev/null; then
            echo "load/install.sh: missing ${missing[*]}; run as root or install sudo" >&2
            exit 2
        fi
        SUDO=(sudo)
    fi
    echo "load/install.sh: installing ${missing[*]}" >&2
    had_nginx=$(command -v nginx || true)
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
    # Debian's package starts a system nginx on port 80 where an init system lets it; the load
    # scripts run their own instances, so stop the one this script just caused.
    if [[ -z $had_nginx && -s /run/nginx.pid ]]; then
        "${SUDO[@]}" nginx -s quit 2>/dev/null || true
    fi
    for tool in "${!PACKAGE[@]}"; do
        if ! command -v "$tool" >/dev/null; then
            echo "load/install.sh: $tool still missing after installing ${PACKAGE[$tool]}" >&2
            exit 2
        fi
    done
fi
# The baseline proxy serves TLS 1.3 and HTTP/2: the build must have both modules.
if ! nginx -V 2>&1 | grep -q -- --with-http_v2_module ||
    ! nginx -V 2>&1 | grep -q -- --with-http_ssl_module; then
    echo "load/install.sh: this nginx lacks the ssl or http_v2 module" >&2
    exit 2
fi
