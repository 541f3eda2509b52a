#!/usr/bin/env bash
# Regenerates the detection corpus from its seed and prints precision/recall per class.
#
#   eval/detect/run.sh            # regenerate eval/detect/corpus.jsonl, then score it
#   eval/detect/run.sh --no-gen   # score the committed corpus only (no network needed)
#
# Faker is installed into eval/detect/.venv from requirements.txt (pinned, so the corpus is
# byte-for-byte reproducible). The Rust scorer is examples/detect_eval.rs; the same scoring
# code backs the `detect::corpus_meets_per_class_targets` regression test.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [[ "${1:-}" != "--no-gen" ]]; then
    if [[ ! -x "$here/.venv/bin/python" ]]; then
        python3 -m venv "$here/.venv"
        "$here/.venv/bin/pip" install --quiet -r "$here/requirements.txt"
    fi
    "$here/.venv/bin/python" "$here/generate.py" --out "$here/corpus.jsonl"
    if ! git -C "$root" diff --quiet -- eval/detect/corpus.jsonl 2>/dev/null; then
        echo "note: the regenerated corpus differs from the committed one (git diff eval/detect/corpus.jsonl)"
    fi
fi
cd "$root"
cargo run --quiet --release --example detect_eval -- "$here/corpus.jsonl" --misses "${MISSES:-60}"
