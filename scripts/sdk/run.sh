#!/usr/bin/env bash
# The vendors' own clients, through piigate, against a recording upstream.
#
#     bash scripts/sdk/run.sh                     # server SDKs + hand-written vendor requests
#     bash scripts/sdk/run.sh --browser           # … and the browser SDKs in headless Chromium
#     bash scripts/sdk/run.sh --direct            # straight to the recorder: what the SDKs send
#     bash scripts/sdk/run.sh --via URL --recorder-port N
#                                                 # through a piigate you run yourself, whose
#                                                 # routes /<vendor> point at 127.0.0.1:N/<vendor>
#     bash scripts/sdk/run.sh --config FILE       # another policy (same @…@ placeholders as
#                                                 # scripts/sdk/piigate.toml.in)
#     bash scripts/sdk/run.sh --presets           # the policy with the shipped vendor presets
#                                                 # (scripts/sdk/presets.toml.in)
#     bash scripts/sdk/run.sh --fail-on-leak      # exit 1 if any person value arrives in clear
#     bash scripts/sdk/run.sh --fail-on-loss      # exit 1 if a request was refused, did not
#                                                 # arrive, or arrived unparseable
#     bash scripts/sdk/run.sh --debug             # the debug binary (`cargo build`) instead
#                                                 # of release
#     bash scripts/sdk/run.sh --prebuilt          # target/debug/piigate as it is, no build:
#                                                 # the binary `cargo test` left (CI)
#     bash scripts/sdk/run.sh --only posthog-js,segment-node
#     bash scripts/sdk/run.sh --direct --save-fixtures tests/data/sdk
#
# Installs the SDKs first (scripts/sdk/install.sh: pinned, from npm/PyPI/Debian, under
# target/sdk/), builds piigate (release) unless --direct or --via, starts the recorder (and
# piigate with scripts/sdk/piigate.toml.in), runs every client one after the other, and
# prints per client: requests piigate received (sent), recorded by the upstream (recv), of
# those parseable as the vendor would parse them (pars), and which of the test person's
# values arrived in clear in the body, the query, the Cookie header, the Referer, or
# elsewhere. Recordings and results.json go to target/sdk/runs/<mode>/.
set -euo pipefail
cd "$(dirname "$0")/../.."
args=()
browser=""
build=1
profile=release
for a in "$@"; do
    case "$a" in
        --browser) browser=--browser; args+=("$a") ;;
        --direct) build=0; args+=(--mode direct) ;;
        --via) build=0; args+=("$a") ;;
        --debug) profile=debug; args+=(--binary target/debug/piigate) ;;
        --prebuilt) build=0; args+=(--binary target/debug/piigate) ;;
        --presets) args+=(--config scripts/sdk/presets.toml.in) ;;
        *) args+=("$a") ;;
    esac
done
t0=$(date +%s)
bash scripts/sdk/install.sh $browser
t1=$(date +%s)
if [ "$build" = 1 ]; then
    if [ "$profile" = release ]; then cargo build --release --locked --quiet; else cargo build --locked --quiet; fi
fi
t2=$(date +%s)
rc=0
python3 scripts/sdk/run.py "${args[@]}" || rc=$?
t3=$(date +%s)
echo "timings: install $((t1 - t0)) s, build $((t2 - t1)) s, run $((t3 - t2)) s"
exit $rc
