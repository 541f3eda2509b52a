#!/usr/bin/env bash
# Soak: steady load against piigate for SOAK_SECONDS (default 600) while sampling its resident
# memory every INTERVAL seconds from /proc; writes the series and a verdict (flat / growing) to
# docs/BENCHMARKS.md ("Soak" section).
#
#   scripts/soak.sh                          # 10 minutes
#   SOAK_SECONDS=60 WRITE_DOCS=0 scripts/soak.sh   # a quick look, docs untouched
#
# Same set-up as scripts/load.sh: nginx upstream answering {"ok":true}, piigate with the
# typical policy (scripts/load/piigate.toml.in) at RUST_LOG=info (the log goes to /dev/null: the
# formatting and the write still happen, the disk does not fill), wrk pinned to LOAD_CPU and the
# servers to SERVER_CPU, all at nice NICE (default -20). Requests alternate the 1 KB event and
# the 16 KB batch.
#
# Verdict: the first WARM_SECONDS (default 60) are warm-up (pools, allocator arenas, buffers
# grow to their working size). After that, "flat" when the last minute's median RSS is within
# max(5 %, 4 MiB) of the first post-warm-up minute's median, "growing" otherwise; the slope of
# a least-squares line over the post-warm-up samples is reported too.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

LOAD_CPU=${LOAD_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
SOAK_SECONDS=${SOAK_SECONDS:-600}
INTERVAL=${INTERVAL:-10}
WARM_SECONDS=${WARM_SECONDS:-60}
CONNS=${CONNS:-32}
RUNTIME=${RUNTIME:-work_stealing}
WRITE_DOCS=${WRITE_DOCS:-1}
NICE=${NICE:--20}

UPSTREAM_PORT=18180
PIIGATE_PORT=18191
ADMIN_PORT=19991

# nginx, wrk, taskset, curl: installed with apt-get when missing.
bash scripts/load/install.sh

RUN=$(mktemp -d /tmp/piigate-soak.XXXXXX)
mkdir -p "$RUN/nginx-tmp"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT
ON_SERVER=(nice -n "$NICE" taskset -c "$SERVER_CPU")
ON_LOAD=(nice -n "$NICE" taskset -c "$LOAD_CPU")
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

render() {
    sed -e "s|@RUN@|$RUN|g" -e "s|@UPSTREAM_PORT@|$UPSTREAM_PORT|g" \
        -e "s|@PIIGATE_PORT@|$PIIGATE_PORT|g" -e "s|@ADMIN_PORT@|$ADMIN_PORT|g" \
        -e "s|@RUNTIME_LINE@|runtime = \"$RUNTIME\"|" -e "s|@TLS_BLOCK@||" -e "s|@STATE@|$RUN|g" \
        -e "s|@KEYS@|$ROOT/keys.example|g" "$1" >"$2"
}

log "building piigate (release) and the payloads"
cargo build --release --locked --quiet --bin piigate
cargo run --release --locked --quiet --example load_payloads -- "$RUN/payloads" >&2

render scripts/load/upstream.nginx.conf "$RUN/upstream.conf"
render scripts/load/piigate.toml.in "$RUN/piigate.toml"
"${ON_SERVER[@]}" nginx -p "$RUN" -c "$RUN/upstream.conf" &
PIDS+=($!)
RUST_LOG=info "${ON_SERVER[@]}" target/release/piigate serve --config "$RUN/piigate.toml" \
    2>/dev/null &
PIIGATE=$!
PIDS+=("$PIIGATE")
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null

rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$PIIGATE/status"; }
requests_total() {
    curl -fsS "http://127.0.0.1:$ADMIN_PORT/metrics" |
        awk '/^piigate_requests_total\{/{s += $2} END {printf "%d\n", s}'
}

SERIES=$RUN/series.tsv
printf 't_s\trss_kib\trequests\n' >"$SERIES"
printf '0\t%s\t%s\n' "$(rss_kib)" "$(requests_total)" >>"$SERIES"
log "soak: ${SOAK_SECONDS}s, sampling RSS every ${INTERVAL}s (piigate pid $PIIGATE)"
STARTED=$(date -u +%Y-%m-%dT%H:%MZ)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
WRK_BODY=$RUN/payloads/track-1k.json WRK_BODY2=$RUN/payloads/batch-16k.json \
    "${ON_LOAD[@]}" wrk -t1 -c"$CONNS" -d"${SOAK_SECONDS}s" --timeout 5s \
    -s scripts/load/soak.lua "http://127.0.0.1:$PIIGATE_PORT/segment/v1/track" >"$RUN/wrk.out" &
WRK=$!
PIDS+=("$WRK")
t=0
while ((t < SOAK_SECONDS)); do
    sleep "$INTERVAL"
    t=$((t + INTERVAL))
    if ! kill -0 "$PIIGATE" 2>/dev/null; then
        echo "soak.sh: piigate exited during the soak" >&2
        exit 1
    fi
    printf '%d\t%s\t%s\n' "$t" "$(rss_kib)" "$(requests_total)" >>"$SERIES"
done
wait "$WRK"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
SUMMARY=$(grep '^WRKJSON ' "$RUN/wrk.out" | sed 's/^WRKJSON //')
# After the load: RSS once idle, to see what is given back.
sleep 5
IDLE_RSS=$(rss_kib)

CMD="LOAD_CPU=$LOAD_CPU SERVER_CPU=$SERVER_CPU NICE=$NICE SOAK_SECONDS=$SOAK_SECONDS INTERVAL=$INTERVAL CONNS=$CONNS RUNTIME=$RUNTIME scripts/soak.sh"
MACHINE="$(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -1)), Linux $(uname -r); load average (1/5/15 min) before: $LOAD_BEFORE, after: $LOAD_AFTER"
python3 - "$SERIES" "$STARTED" "$MACHINE" "$CMD" "$SUMMARY" "$IDLE_RSS" "$WARM_SECONDS" \
    "$([[ $WRITE_DOCS == 1 ]] && echo docs/BENCHMARKS.md)" <<'PY'
import json, statistics, sys

series, started, machine, cmd, summary, idle, warm, out = sys.argv[1:9]
rows = [l.split("\t") for l in open(series, encoding="utf-8").read().splitlines()[1:]]
rows = [(int(t), int(r), int(q)) for t, r, q in rows]
warm = int(warm)
w = json.loads(summary)
after = [(t, r) for t, r, _ in rows if t >= warm]
first = statistics.median(r for t, r in after if t < warm + 60)
last_t = after[-1][0]
last = statistics.median(r for t, r in after if t > last_t - 60)
n = len(after)
mt = sum(t for t, _ in after) / n
mr = sum(r for _, r in after) / n
slope = sum((t - mt) * (r - mr) for t, r in after) / sum((t - mt) ** 2 for t, _ in after)
growth = last - first
flat = abs(growth) <= max(0.05 * first, 4096)
verdict = "flat" if flat else "growing"
rps = w["requests"] / (w["duration_us"] / 1e6)

lines = [
    f"Run {started} by `scripts/soak.sh`: {machine}.",
    "",
    "```sh",
    cmd,
    "```",
    "",
    f"**Verdict: {verdict}.** After the {warm} s warm-up, the median RSS of the first minute was "
    f"{first / 1024:.1f} MiB and of the last minute {last / 1024:.1f} MiB "
    f"({growth / 1024:+.1f} MiB, {100 * growth / first:+.1f} %); least-squares slope "
    f"{slope * 3600 / 1024:+.2f} MiB/hour. RSS 5 s after the load stopped: {int(idle) / 1024:.1f} MiB.",
    "",
    f"Load: {w['requests']:,} requests in {w['duration_us'] / 1e6:.0f} s ({rps:,.0f}/s, 1 KB event "
    f"and 16 KB batch alternating), p50 {w['p50_us'] / 1000:.2f} ms, p99 {w['p99_us'] / 1000:.2f} ms, "
    f"max {w['max_us'] / 1000:.1f} ms; socket errors {w['socket_errors']}, non-2xx {w['non2xx']}.",
    "",
    "RSS every sample (t in s: MiB; requests/s over the interval in brackets):",
    "",
    "```text",
]
prev = None
cells = []
for t, r, q in rows:
    rate = "" if prev is None else f" [{(q - prev[1]) / (t - prev[0]):,.0f}/s]"
    cells.append(f"{t:>4}: {r / 1024:6.1f}{rate}")
    prev = (t, q)
for i in range(0, len(cells), 4):
    lines.append("   ".join(cells[i:i + 4]))
lines += ["```"]
block = "\n".join(lines)
print(block)
if out:
    begin, end = "<!-- soak.sh:begin -->", "<!-- soak.sh:end -->"
    doc = open(out, encoding="utf-8").read()
    if begin in doc and end in doc:
        head, rest = doc.split(begin, 1)
        _, tail = rest.split(end, 1)
        doc = head + begin + "\n" + block + "\n" + end + tail
    else:
        doc = doc.rstrip("\n") + "\n\n## Soak\n\n" + begin + "\n" + block + "\n" + end + "\n"
    open(out, "w", encoding="utf-8").write(doc)
    print(f"written to {out}", file=sys.stderr)
PY
