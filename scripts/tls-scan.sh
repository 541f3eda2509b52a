#!/usr/bin/env bash
# Scan a piigate TLS listener with sslyze and assert its TLS posture:
#   TLS 1.3 accepted; SSL 2.0/3.0 and TLS 1.0/1.1/1.2 refused; no 0-RTT (early data);
#   no TLS compression; not vulnerable to Heartbleed, ROBOT, CCS injection; no insecure
#   renegotiation.
#
# It builds piigate, starts `piigate serve` on a free loopback port with a throwaway
# certificate (openssl, valid for one day), installs sslyze from PyPI into a virtualenv
# (target/tls-scan-venv, reused on later runs), scans, prints a Markdown summary (also
# written to target/tls-scan/summary.md, for docs/PROOF.md) and exits non-zero if any
# assertion fails. Needs: cargo, python3 (with venv), openssl, network access to PyPI on
# the first run.
#
# Usage: scripts/tls-scan.sh            (PIIGATE_TLS_SCAN_VENV overrides the venv path)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out="$root/target/tls-scan"
venv="${PIIGATE_TLS_SCAN_VENV:-$root/target/tls-scan-venv}"
mkdir -p "$out"
work=$(mktemp -d)
pid=""
cleanup() {
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "== build piigate"
cargo build --quiet --bin piigate
bin="$root/target/debug/piigate"

echo "== throwaway certificate"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$work/server.key" -out "$work/server.crt" 2>/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/proxy.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
[server.tls]
cert = "server.crt"
key = "server.key"

# A route so the config is complete; the scan never gets past TLS to use it.
[[routes]]
name = "scan"
path_prefix = "/scan"
upstream = "http://127.0.0.1:9"
TOML

echo "== start piigate on 127.0.0.1:$port"
env -u PIIGATE_KEYRING PIIGATE_STATE_DIR="$work" RUST_LOG=warn "$bin" serve --config "$work/proxy.toml" \
    >"$out/piigate.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null; then
        break
    fi
    sleep 0.1
done

echo "== sslyze (virtualenv $venv)"
if [[ ! -x "$venv/bin/sslyze" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check sslyze
fi
"$venv/bin/sslyze" --quiet --mozilla_config=disable --json_out="$out/sslyze.json" \
    --sslv2 --sslv3 --tlsv1 --tlsv1_1 --tlsv1_2 --tlsv1_3 \
    --early_data --compression --resum --heartbleed --robot --openssl_ccs --reneg \
    --fallback --elliptic_curves \
    "localhost:$port{127.0.0.1}" >/dev/null

echo "== verdict"
"$venv/bin/python" - "$out/sslyze.json" "$out/summary.md" <<'PY'
import json, sys, datetime

data = json.load(open(sys.argv[1]))
res = data["server_scan_results"][0]
if res.get("scan_status") != "COMPLETED":
    sys.exit(f"scan did not complete: {res.get('connectivity_error_trace')}")
scan = res["scan_result"]
rows, failed = [], []

def get(name):
    r = scan[name]
    if r.get("status") != "COMPLETED":
        failed.append(f"{name}: {r.get('status')} {r.get('error_reason')}")
        return None
    return r["result"]

def check(what, ok, detail):
    rows.append((what, "pass" if ok else "FAIL", detail))
    if not ok:
        failed.append(f"{what}: {detail}")

for name, label in [("ssl_2_0_cipher_suites", "SSL 2.0"), ("ssl_3_0_cipher_suites", "SSL 3.0"),
                    ("tls_1_0_cipher_suites", "TLS 1.0"), ("tls_1_1_cipher_suites", "TLS 1.1"),
                    ("tls_1_2_cipher_suites", "TLS 1.2")]:
    r = get(name)
    if r is not None:
        n = len(r["accepted_cipher_suites"])
        check(f"{label} refused", n == 0, f"{n} cipher suites accepted")
r = get("tls_1_3_cipher_suites")
if r is not None:
    names = [c["cipher_suite"]["name"] for c in r["accepted_cipher_suites"]]
    check("TLS 1.3 accepted", len(names) > 0, ", ".join(names) or "none")
r = get("tls_1_3_early_data")
if r is not None:
    check("no 0-RTT (early data)", not r["supports_early_data"], f"supports_early_data={r['supports_early_data']}")
r = get("tls_compression")
if r is not None:
    check("no TLS compression", not r["supports_compression"], f"supports_compression={r['supports_compression']}")
r = get("heartbleed")
if r is not None:
    check("not vulnerable to Heartbleed", not r["is_vulnerable_to_heartbleed"], "")
r = get("openssl_ccs_injection")
if r is not None:
    check("not vulnerable to CCS injection", not r["is_vulnerable_to_ccs_injection"], "")
r = get("robot")
if r is not None:
    check("not vulnerable to ROBOT", r["robot_result"].startswith("NOT_VULNERABLE"), r["robot_result"])
r = get("session_renegotiation")
if r is not None:
    check("no client-initiated renegotiation", not r["is_vulnerable_to_client_renegotiation_dos"],
          f"client renegotiation DoS={r['is_vulnerable_to_client_renegotiation_dos']}")
r = get("tls_fallback_scsv")
if r is not None:
    rows.append(("TLS_FALLBACK_SCSV", "info", f"supports_fallback_scsv={r['supports_fallback_scsv']} (no older version to fall back to)"))
r = get("session_resumption")
if r is not None:
    rows.append(("session resumption", "info", json.dumps({k: v for k, v in r.items() if not isinstance(v, (list, dict))})))
r = get("elliptic_curves")
if r is not None:
    curves = [c["name"] for c in r.get("supported_curves") or []]
    rows.append(("key exchange groups", "info", ", ".join(curves)))

version = data.get("sslyze_version", "?")
lines = [f"sslyze {version}, {datetime.date.today().isoformat()}, piigate TLS listener on loopback", "",
         "| check | result | detail |", "| --- | --- | --- |"]
lines += [f"| {w} | {s} | {d} |" for w, s, d in rows]
text = "\n".join(lines) + "\n"
open(sys.argv[2], "w").write(text)
print(text)
if failed:
    print("FAILED:\n  " + "\n  ".join(failed))
    sys.exit(1)
print("TLS scan passed.")
PY
