#!/usr/bin/env bash
# Validates the shipped deployment files with real validators, offline.
#
#     bash scripts/deploy-check.sh
#
# Kubernetes: each overlay under deploy/kubernetes/overlays is rendered with kubectl's built-in
# kustomize and every object is validated against the Kubernetes OpenAPI schemas bundled in the
# PyPI package kubernetes-validate (in a venv under target/; no schema download), in strict mode
# (an unknown or misspelt field is an error), for 1.29 (the first release with native sidecars)
# and the newest bundled release. The proxy.toml each overlay ships is then run through
# `piigate check`, with a fresh keyring, an admin token, a PostgreSQL URL and a scratch state
# directory standing in for the Secrets and the volume.
#
# systemd: `systemd-analyze verify` on deploy/systemd/piigate.service in a scratch root holding
# the built binary and the host's unit files; any output (even a warning such as an unknown
# key) fails. `systemd-analyze security --offline` prints the exposure score.
#
# Prometheus: `promtool check rules` and `promtool test rules` (Debian `prometheus`) on the
# alert rules in deploy/prometheus/, and the Grafana dashboard must be JSON whose queries name
# only metrics piigate exports (scripts/dashboard-check.py).
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "deploy-check: $* missing and not root; install: apt-get install $*" >&2
        exit 1
    fi
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

command -v systemd-analyze >/dev/null || apt_install systemd
if ! command -v kubectl >/dev/null; then
    echo "deploy-check: kubectl (with its built-in kustomize) is needed to render the overlays" >&2
    exit 1
fi
VENV=target/deploy-venv
if [ ! -x "$VENV/bin/kubernetes-validate" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "kubernetes-validate==1.37.0"
fi
cargo build --quiet --locked --bin piigate
BIN=$PWD/target/debug/piigate
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "== kubernetes: render and validate the overlays"
for overlay in deploy/kubernetes/overlays/*/; do
    name=$(basename "$overlay")
    kubectl kustomize "$overlay" >"$WORK/$name.yaml"
    for version in 1.29.0 1.37.0; do
        "$VENV/bin/kubernetes-validate" --strict --quiet -k "$version" "$WORK/$name.yaml"
    done
    kinds=$(grep -c '^kind:' "$WORK/$name.yaml")
    echo "$name: $kinds objects valid against the Kubernetes 1.29 and 1.37 schemas (strict)"

    # The proxy.toml the overlay mounts must pass `piigate check` as the pod would run it.
    "$VENV/bin/python" - "$WORK/$name.yaml" "$WORK/$name.toml" <<'PY'
import sys, yaml
for doc in yaml.safe_load_all(open(sys.argv[1])):
    if doc and doc.get("kind") == "ConfigMap" and "proxy.toml" in doc.get("data", {}):
        open(sys.argv[2], "w").write(doc["data"]["proxy.toml"])
        break
else:
    sys.exit("no ConfigMap with proxy.toml")
PY
    mkdir -p "$WORK/$name-state"
    keyring=$("$BIN" keygen --id k1)
    env -i PATH="$PATH" PIIGATE_KEYRING="$keyring" PIIGATE_ADMIN_TOKEN=deploy-check-token \
        PIIGATE_POSTGRES_URL="postgres://piigate@127.0.0.1:5432/piigate?sslmode=require" \
        PIIGATE_STATE_DIR="$WORK/$name-state" \
        "$BIN" check --config "$WORK/$name.toml" | sed "s|$WORK/||g"
done

for version in 1.29.0 1.37.0; do
    "$VENV/bin/kubernetes-validate" --strict --quiet -k "$version" deploy/kubernetes/secret.example.yaml
done
echo "secret.example.yaml: valid"

echo "== systemd: systemd-analyze verify"
root=$WORK/root
mkdir -p "$root/usr/local/bin" "$root/bin" "$root/etc/systemd/system" "$root/usr/lib/systemd"
install -m 0755 "$BIN" "$root/usr/local/bin/piigate"
[ -x /bin/kill ] || apt_install procps
install -m 0755 /bin/kill "$root/bin/kill"   # ExecReload=/bin/kill (procps)
cp -r /usr/lib/systemd/system "$root/usr/lib/systemd/"
cp deploy/systemd/piigate.service "$root/etc/systemd/system/"
if ! out=$(systemd-analyze verify --root="$root" /etc/systemd/system/piigate.service 2>&1) \
    || [ -n "$out" ]; then
    echo "$out" >&2
    echo "deploy-check: systemd-analyze verify failed or warned" >&2
    exit 1
fi
echo "piigate.service: verified (no warnings)"
systemd-analyze security --offline=yes --root="$root" piigate.service 2>/dev/null | tail -1

if [ -d deploy/prometheus ]; then
    echo "== prometheus: promtool check rules"
    command -v promtool >/dev/null || apt_install prometheus
    promtool check rules deploy/prometheus/piigate.rules.yaml
    (cd deploy/prometheus && promtool test rules piigate.rules.test.yaml)
    "$VENV/bin/python" scripts/dashboard-check.py deploy/grafana/piigate.json
fi
echo "deploy-check: passed"
