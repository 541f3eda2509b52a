#!/usr/bin/env bash
# End-to-end load: piigate against nginx as a plain pass-through, on the same local upstream,
# in one run (issue 3 "End to end", issue 8 item 5). Writes the table into docs/BENCHMARKS.md.
#
#   scripts/load.sh                      # full matrix, ~13 min on the 2-core dev machine
#   RUNS=1 DURATION=5 WRITE_DOCS=0 scripts/load.sh    # quick look, docs untouched
#
# What runs, all on loopback:
#   upstream   nginx, 1 worker, answers every request with {"ok":true}
#   nginx      nginx, 1 worker, proxy_pass to the upstream (keep-alive pool), TLS 1.3 on a 2nd port
#   piigate    target/release/piigate with the typical policy (scripts/load/piigate.toml.in)
# and per point: `direct` (wrk → upstream, the ceiling), `nginx`, and each piigate variant.
# Bodies are the rewrite benches' 1 KB track event and 16 KB batch (examples/load_payloads.rs).
#
# The load generator (wrk, one thread) is pinned to LOAD_CPU and every server to SERVER_CPU, so
# they never compete for a core; unpinned, results swing by ±50 % on a 2-core machine. Each
# point is warmed up, then measured RUNS times; the table shows the median of the runs.
#
# Knobs (environment): LOAD_CPU SERVER_CPU DURATION WARMUP RUNS CONNS SIZES TRANSPORTS
# VARIANTS WRITE_DOCS. VARIANTS are piigate set-ups, space-separated, from:
#   ws        [server] runtime = "work_stealing" (the multi-thread runtime), RUST_LOG=info
#   ws-warn   the same with RUST_LOG=warn (no per-request log line)
#   pc        [server] runtime = "per_core" (one current-thread runtime per core), RUST_LOG=info
#   pc-warn   the same with RUST_LOG=warn
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

LOAD_CPU=${LOAD_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
RUNS=${RUNS:-3}
CONNS=${CONNS:-32}
SIZES=${SIZES:-"1k 16k"}
TRANSPORTS=${TRANSPORTS:-"http tls"}
VARIANTS=${VARIANTS:-"ws ws-warn pc pc-warn"}
WRITE_DOCS=${WRITE_DOCS:-1}
NICE=${NICE:--20}

UPSTREAM_PORT=18080
NGINX_PORT=18081
NGINX_TLS_PORT=18444
PIIGATE_PORT=18091
ADMIN_PORT=19901

for tool in nginx wrk taskset openssl curl python3; do
    if ! command -v "$tool" >/dev/null; then
        echo "load.sh: $tool not found; on Debian: apt-get install -y nginx wrk util-linux openssl curl" >&2
        exit 2
    fi
done

RUN=$(mktemp -d /tmp/piigate-load.XXXXXX)
mkdir -p "$RUN/nginx-tmp"
RESULTS=$RUN/results.jsonl
: >"$RESULTS"
PIDS=()

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# Command prefixes: one core each, at priority NICE. (Arrays, not functions, so that `$!` of a
# backgrounded server is the server itself: nice and taskset exec it.)
ON_SERVER=(nice -n "$NICE" taskset -c "$SERVER_CPU")
ON_LOAD=(nice -n "$NICE" taskset -c "$LOAD_CPU")

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Waits until a TCP port accepts connections (max ~10 s).
wait_port() {
    local port=$1 i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "load.sh: nothing listening on port $port" >&2
    return 1
}

render() { # template output: fills the @…@ placeholders
    sed -e "s|@RUN@|$RUN|g" -e "s|@UPSTREAM_PORT@|$UPSTREAM_PORT|g" \
        -e "s|@NGINX_PORT@|$NGINX_PORT|g" -e "s|@NGINX_TLS_PORT@|$NGINX_TLS_PORT|g" \
        -e "s|@PIIGATE_PORT@|$PIIGATE_PORT|g" -e "s|@ADMIN_PORT@|$ADMIN_PORT|g" \
        -e "s|@CERT@|$RUN/cert.pem|g" -e "s|@KEY@|$RUN/key.pem|g" \
        -e "s|@KEYS@|$ROOT/keys.example|g" "$1" >"$2"
}

log "building piigate (release) and the payloads"
cargo build --release --locked --quiet --bin piigate
cargo run --release --locked --quiet --example load_payloads -- "$RUN/payloads" >&2
declare -A BODY=([1k]="$RUN/payloads/track-1k.json" [16k]="$RUN/payloads/batch-16k.json")

# One self-signed ECDSA P-256 certificate, served by both nginx and piigate.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$RUN/key.pem" -out "$RUN/cert.pem" 2>/dev/null

render scripts/load/upstream.nginx.conf "$RUN/upstream.conf"
render scripts/load/proxy.nginx.conf "$RUN/proxy.conf"
"${ON_SERVER[@]}" nginx -p "$RUN" -c "$RUN/upstream.conf" &
UPSTREAM_MASTER=$!
PIDS+=("$UPSTREAM_MASTER")
"${ON_SERVER[@]}" nginx -p "$RUN" -c "$RUN/proxy.conf" &
NGINX_MASTER=$!
PIDS+=("$NGINX_MASTER")
wait_port "$UPSTREAM_PORT"
wait_port "$NGINX_PORT"
wait_port "$NGINX_TLS_PORT"

# Sanity: TLS 1.3 on nginx's TLS port.
if ! openssl s_client -connect "127.0.0.1:$NGINX_TLS_PORT" -tls1_3 </dev/null 2>/dev/null |
    grep -q 'TLSv1.3'; then
    echo "load.sh: nginx did not negotiate TLS 1.3" >&2
    exit 1
fi

# wrk_once SIZE URL SECONDS: one wrk run, pinned to the load core; prints wrk's summary line.
wrk_once() {
    local size=$1 url=$2 secs=$3 out line
    out=$(WRK_BODY=${BODY[$size]} "${ON_LOAD[@]}" \
        wrk -t1 -c"$CONNS" -d"${secs}s" --timeout 5s -s scripts/load/post.lua "$url")
    line=$(grep '^WRKJSON ' <<<"$out" | sed 's/^WRKJSON //')
    if [[ -z $line ]]; then
        echo "load.sh: wrk printed no summary for $url:" >&2
        echo "$out" >&2
        exit 1
    fi
    echo "$line"
}

# start_piigate VARIANT TRANSPORT INDEX: renders its config (port PIIGATE_PORT+INDEX, admin
# ADMIN_PORT+INDEX), starts it pinned to the server core, waits for /readyz.
start_piigate() {
    local variant=$1 transport=$2 k=$3 runtime level conf tls_block=""
    case $variant in
    ws) runtime=work_stealing level=info ;;
    ws-warn) runtime=work_stealing level=warn ;;
    pc) runtime=per_core level=info ;;
    pc-warn) runtime=per_core level=warn ;;
    *)
        echo "load.sh: unknown variant $variant" >&2
        exit 2
        ;;
    esac
    conf=$RUN/piigate-$variant-$transport.toml
    if [[ $transport == tls ]]; then
        tls_block="[server.tls]\ncert = \"$RUN/cert.pem\"\nkey = \"$RUN/key.pem\""
    fi
    mkdir -p "$RUN/state-$variant-$transport"
    sed -e "s|@RUNTIME_LINE@|runtime = \"$runtime\"|" -e "s|@TLS_BLOCK@|$tls_block|" \
        -e "s|@STATE@|$RUN/state-$variant-$transport|g" \
        -e "s|@PIIGATE_PORT@|$((PIIGATE_PORT + k))|g" -e "s|@ADMIN_PORT@|$((ADMIN_PORT + k))|g" \
        scripts/load/piigate.toml.in >"$RUN/piigate.tmpl"
    render "$RUN/piigate.tmpl" "$conf"
    # The access log goes to a file, as it would in production (one line per request at info).
    RUST_LOG=$level "${ON_SERVER[@]}" target/release/piigate serve --config "$conf" \
        2>"$RUN/piigate-$variant-$transport.log" &
    PIDS+=($!)
    SERVER_PID["piigate-$variant/$transport"]=$!
    local i
    for i in $(seq 1 100); do
        if curl -fsS "http://127.0.0.1:$((ADMIN_PORT + k))/readyz" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "load.sh: piigate ($variant, $transport) did not become ready; its log:" >&2
    cat "$RUN/piigate-$variant-$transport.log" >&2
    exit 1
}

# check_piigate LABEL INDEX: the policy really ran (actions counted), nothing was rejected.
check_piigate() {
    local label=$1 k=$2 metrics
    metrics=$(curl -fsS "http://127.0.0.1:$((ADMIN_PORT + k))/metrics")
    if ! grep -q '^piigate_actions_applied_total{.*action="tokenize".*} [1-9]' <<<"$metrics"; then
        echo "load.sh: piigate ($label) applied no tokenize action" >&2
        exit 1
    fi
    if grep -q '^piigate_rejections_total{.*} [1-9]' <<<"$metrics"; then
        echo "load.sh: piigate ($label) rejected requests:" >&2
        grep '^piigate_rejections_total' <<<"$metrics" >&2
        exit 1
    fi
}

# cpu_ticks PID…: user + system CPU time of these processes (all threads), in clock ticks.
cpu_ticks() {
    local p total=0 t
    for p in "$@"; do
        t=$(awk '{print $14 + $15}' "/proc/$p/stat")
        total=$((total + t))
    done
    echo "$total"
}

# Every server runs for the whole measurement; only the one under load does work. Targets of a
# point are measured in turn within each round (direct, nginx, piigate…, then again), so a
# change in background load over the run hits all of them alike instead of one block.
declare -A URL=()
declare -A SERVER_PID=()
declare -a PIIGATE_LABELS=()
k=0
for transport in $TRANSPORTS; do
    for variant in $VARIANTS; do
        start_piigate "$variant" "$transport" "$k"
        URL["piigate-$variant/$transport"]="$([[ $transport == tls ]] && echo https || echo http)://127.0.0.1:$((PIIGATE_PORT + k))/segment/v1/track"
        PIIGATE_LABELS+=("$variant/$transport/$k")
        k=$((k + 1))
    done
done
# The CPU a point costs is read from the process that serves it: the upstream's nginx worker
# for `direct`, the proxy's nginx worker for `nginx`, piigate's process for piigate.
SERVER_PID["direct/http"]=$(pgrep -P "$UPSTREAM_MASTER" | tr '\n' ' ')
SERVER_PID["nginx/http"]=$(pgrep -P "$NGINX_MASTER" | tr '\n' ' ')
SERVER_PID["nginx/tls"]=${SERVER_PID["nginx/http"]}
HZ=$(getconf CLK_TCK)
URL["direct/http"]="http://127.0.0.1:$UPSTREAM_PORT/v1/track"
URL["nginx/http"]="http://127.0.0.1:$NGINX_PORT/segment/v1/track"
URL["nginx/tls"]="https://127.0.0.1:$NGINX_TLS_PORT/segment/v1/track"

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED=$(date -u +%Y-%m-%dT%H:%MZ)
for transport in $TRANSPORTS; do
    for size in $SIZES; do
        targets=()
        [[ $transport == http ]] && targets+=(direct)
        targets+=(nginx)
        for variant in $VARIANTS; do targets+=("piigate-$variant"); done
        log "$size over $transport: ${targets[*]}; ${WARMUP}s warm-up each, then $RUNS rounds of ${DURATION}s"
        for target in "${targets[@]}"; do
            wrk_once "$size" "${URL[$target/$transport]}" "$WARMUP" >/dev/null
        done
        for i in $(seq 1 "$RUNS"); do
            for target in "${targets[@]}"; do
                # shellcheck disable=SC2086 # a list of pids
                before=$(cpu_ticks ${SERVER_PID[$target/$transport]})
                line=$(wrk_once "$size" "${URL[$target/$transport]}" "$DURATION")
                # shellcheck disable=SC2086
                after=$(cpu_ticks ${SERVER_PID[$target/$transport]})
                printf '{"size":"%s","transport":"%s","target":"%s","run":%d,"cpu_s":%s,"wrk":%s}\n' \
                    "$size" "$transport" "$target" "$i" \
                    "$(python3 -c "print(($after - $before) / $HZ)")" "$line" >>"$RESULTS"
            done
        done
    done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
for label in "${PIIGATE_LABELS[@]}"; do
    check_piigate "${label%/*}" "${label##*/}"
done

CMD="LOAD_CPU=$LOAD_CPU SERVER_CPU=$SERVER_CPU NICE=$NICE DURATION=$DURATION WARMUP=$WARMUP RUNS=$RUNS CONNS=$CONNS SIZES=\"$SIZES\" TRANSPORTS=\"$TRANSPORTS\" VARIANTS=\"$VARIANTS\" scripts/load.sh"
MACHINE="$(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -1)), $(free -g | awk '/^Mem:/{print $2}') GiB, Linux $(uname -r); $(nginx -v 2>&1 | sed 's/^nginx version: //'), wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'), $(rustc --version | cut -d' ' -f1-2); load average (1/5/15 min) before the run: $LOAD_BEFORE, after: $LOAD_AFTER"
WRITE_ARGS=()
[[ $WRITE_DOCS == 1 ]] && WRITE_ARGS=(--write docs/BENCHMARKS.md)
python3 scripts/load/report.py --results "$RESULTS" --started "$STARTED" --machine "$MACHINE" \
    --command "$CMD" --conns "$CONNS" --duration "$DURATION" --runs "$RUNS" "${WRITE_ARGS[@]}"
cp "$RESULTS" "${RESULTS_OUT:-/tmp/piigate-load-results.jsonl}"
log "raw results: ${RESULTS_OUT:-/tmp/piigate-load-results.jsonl}"
