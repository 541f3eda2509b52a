#!/usr/bin/env bash
# Property-based API testing of the admin API from its own OpenAPI document.
#
#     bash scripts/schemathesis.sh
#
# Builds piigate, starts it on loopback with a throwaway config and admin token, and runs
# schemathesis (PyPI, in a venv under target/) twice: with the token (every check: no 5xx,
# responses match the schema) and without it (every /v1 call must be refused, never 5xx).
# Exits non-zero on any finding (CI runs it: .ci/run). About 30 s of testing, plus ~30 s for
# the first install.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=target/schemathesis-venv
if [ ! -x "$VENV/bin/schemathesis" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "schemathesis==4.32.5"
fi
cargo build --quiet --locked
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
WORK=$(mktemp -d)
PID=
trap 'if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; fi; rm -rf "$WORK"' EXIT
cp keys.example "$WORK/keys.toml"
cat > "$WORK/proxy.toml" <<TOML
[server]
listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:$PORT"
token_env = "ST_ADMIN_TOKEN"
[keys]
file = "keys.toml"
[[routes]]
name = "seg"
path_prefix = "/seg"
upstream = "http://127.0.0.1:9"
subject = "\$.userId"
[[routes.rules]]
select = "\$.userId"
action = "tokenize"
[[routes.rules]]
select = "\$..phone"
action = "encrypt"
TOML
export ST_ADMIN_TOKEN=schemathesis-token
PIIGATE_STATE_DIR="$WORK" ./target/debug/piigate serve --config "$WORK/proxy.toml" 2>"$WORK/log" &
PID=$!
# Ready when the admin listener answers (Python rather than curl: the only HTTP client a
# fresh machine is sure to have).
if ! python3 - "$PORT" <<'PY'
import sys, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=1)
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
then
    echo "schemathesis.sh: piigate did not start:" >&2
    cat "$WORK/log" >&2
    exit 1
fi

echo "== with the token"
"$VENV/bin/schemathesis" run http://127.0.0.1:$PORT/v1/openapi.json \
    --checks all --max-examples 50 \
    -H "Authorization: Bearer $ST_ADMIN_TOKEN"

echo "== without the token (refusals only, never a server error)"
"$VENV/bin/schemathesis" run http://127.0.0.1:$PORT/v1/openapi.json \
    --checks not_a_server_error --max-examples 20
echo "schemathesis: passed"
