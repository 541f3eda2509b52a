#!/usr/bin/env bash
# Dependency audit with cargo-deny (deny.toml): licences, bans, sources and, where the RustSec
# advisory database can be fetched, advisories.
#
#   scripts/audit.sh                 # installs cargo-deny if needed, then checks
#   AUDIT_ADVISORIES=0 scripts/audit.sh   # skip advisories (no network path to the database)
#
# cargo-deny is pinned and installed with `cargo install --locked`, so the audit tool itself is
# built from its own lockfile. The install is the slow part (a few minutes on 2 cores; see
# docs/BENCHMARKS.md "CI costs"); CI machines that keep ~/.cargo/bin pay it once.
#
# The advisories check clones the RustSec advisory database (a Git repository, not a crates.io
# package). Where that host is not reachable, AUDIT_ADVISORIES=auto (the default) reports the
# skip loudly and checks the rest; AUDIT_ADVISORIES=1 makes an unreachable database an error.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DENY_VERSION=0.20.2
AUDIT_ADVISORIES=${AUDIT_ADVISORIES:-auto}

have=$(cargo deny --version 2>/dev/null | awk '{print $2}' || true)
if [[ $have != "$CARGO_DENY_VERSION" ]]; then
    echo "== installing cargo-deny $CARGO_DENY_VERSION (found: ${have:-none})"
    start=$(date +%s)
    cargo install --locked --quiet cargo-deny --version "$CARGO_DENY_VERSION"
    echo "== cargo-deny installed in $(($(date +%s) - start)) s"
fi

echo "== cargo deny check bans licenses sources"
cargo deny --locked check bans licenses sources

case $AUDIT_ADVISORIES in
0) echo "== advisories: skipped (AUDIT_ADVISORIES=0)" ;;
1)
    echo "== cargo deny check advisories"
    cargo deny --locked check advisories
    ;;
auto)
    echo "== cargo deny check advisories"
    if ! cargo deny --locked fetch db >/tmp/piigate-deny-fetch.log 2>&1; then
        echo "!! advisories NOT checked: the RustSec advisory database could not be fetched"
        echo "!! ($(grep -m1 -i 'error' /tmp/piigate-deny-fetch.log || tail -1 /tmp/piigate-deny-fetch.log))"
        echo "!! run with network access to GitHub, or AUDIT_ADVISORIES=1 to make this fatal"
    else
        cargo deny --locked check --disable-fetch advisories
    fi
    ;;
*)
    echo "audit.sh: AUDIT_ADVISORIES must be 0, 1 or auto" >&2
    exit 2
    ;;
esac
echo "audit passed."
