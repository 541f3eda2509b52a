#!/usr/bin/env bash
# Short fuzzing run of every target, starting from the seed corpora kept in fuzz/seeds/.
#
#     bash scripts/fuzz-smoke.sh            # 10 s per target
#     FUZZ_SECONDS=300 bash scripts/fuzz-smoke.sh
#
# cargo-fuzz needs nightly-only compiler flags (sanitizers). The machine has a stable toolchain
# only, so RUSTC_BOOTSTRAP=1 lets it accept them — for fuzzing builds only, never for the
# gateway itself. A crash leaves its input in fuzz/artifacts/<target>/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-10}"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --version 0.13.2 --locked
fi
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
for target in rewrite_json form codec config selector boundary wrap spans upstream_response request_head; do
    mkdir -p "corpus/$target"
    cp -n seeds/"$target"/* "corpus/$target/" 2>/dev/null || true
    echo "== fuzz $target (${SECONDS_PER_TARGET}s)"
    cargo fuzz run -O "$target" -- -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 2>&1 \
        | grep -E '^(Done|stat::number_of_executed_units|==[0-9]+== ERROR|SUMMARY)' || true
    if [ -n "$(ls -A "artifacts/$target" 2>/dev/null)" ]; then
        echo "fuzz: $target found a crash: fuzz/artifacts/$target/" >&2
        exit 1
    fi
done
echo "fuzz smoke: passed"
