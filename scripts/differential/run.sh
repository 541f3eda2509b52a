#!/usr/bin/env bash
# The differential suite (docs/BOUNDARY.md): installs the parsers, builds piigate, sends the
# adversarial corpus through it to every parser, prints the table, fails on any leak.
#
#     bash scripts/differential/run.sh                 # as CI runs it
#     bash scripts/differential/run.sh --update-docs   # also refresh the table in docs/BOUNDARY.md
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/differential/install.sh
cargo build --locked --bin piigate
exec target/differential/venv/bin/python scripts/differential/run.py "$@"
