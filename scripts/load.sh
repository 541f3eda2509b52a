#!/usr/bin/env bash
# End-to-end load: piigate without rules (the shell) and with the typical policy against nginx
# as a plain pass-through, all in front of the same local upstream, in one run. Prints RPS, p50,
# p99 and — the primary figure — CPU time per request for every point, the ratios to nginx and
# whether each target is met, and writes the table into docs/BENCHMARKS.md.
#
#   scripts/load.sh                                   # the full matrix, ~25 min
#   RUNS=1 DURATION=5 WRITE_DOCS=0 scripts/load.sh    # a quick look, docs untouched
#   scripts/load.sh scaling                           # one vs two workers on both cores
#   PROFILE=dev RUNS=1 DURATION=1 WARMUP=1 SIZES=1k WRITE_DOCS=0 scripts/load.sh
#                                                     # CI's smoke: the script works, debug build
#
# Needs nginx, wrk and h2load: scripts/load/install.sh installs them (apt-get) when missing.
#
# What runs, all on loopback:
#   upstream   nginx, 1 worker, answers every request with {"ok":true}
#   nginx      nginx, WORKERS workers, proxy_pass to the upstream (keep-alive pool), TLS 1.3
#              and HTTP/2 on a second port
#   shell      target/release/piigate, the same route without rules (bodies stream through)
#   policy     target/release/piigate with the typical policy (scripts/load/piigate.toml.in)
# and per point `direct` (the load generator straight at the upstream: the ceiling).
# Bodies are the rewrite benches' payloads (examples/load_payloads.rs): `1k` a track event, `16k`
# a batch of many people's events (as a server-side SDK flushes them), `16kp` a batch of one
# person's events (as a browser or mobile SDK flushes them: ids and traits repeat).
#
# Transports: http (HTTP/1.1, wrk), tls (HTTP/1.1 over TLS 1.3, wrk), h2 (HTTP/2 over TLS 1.3,
# h2load; to the gateway only, the upstream leg stays HTTP/1.1 as for nginx).
#
# CPU per request is each server's own user + system time over a run (/proc/PID/stat, all
# threads; the upstream's for `direct`) divided by the requests it answered. On a shared
# machine RPS says how much of a core a server managed to get; CPU per request says what a
# request costs, and moves far less when neighbours compile. Servers are measured in turn
# within each round (direct, nginx, shell, policy, then again) so a change in background load
# hits all of them alike; a point's figures are the medians over RUNS rounds.
#
# Pinning: the load generator on LOAD_CPU, every server on SERVER_CPU (one core each), at nice
# NICE. `scaling` instead lets every process use both cores. Where the kernel groups processes
# by session (sched_autogroup_enabled = 1, the default on many distributions) nice only ranks
# processes within their session: other sessions' builds still take an equal share of the
# cores, and RPS then measures that share. AUTOGROUP_NICE=-20 (root) raises this session's
# whole group for the run and restores it after; it starves everything else, so it is off by
# default. CPU per request does not need it.
#
# Knobs (environment): LOAD_CPU SERVER_CPU NICE AUTOGROUP_NICE DURATION WARMUP RUNS CONNS SIZES TRANSPORTS
# SERVERS SCALING_SERVERS RUNTIME WORKERS LOG WRITE_DOCS PROFILE PIIGATE_BIN BASE_BIN PAYLOADS (a
# directory with the bodies already written, to skip building them) PORT_BASE.
#   PORT_BASE the first of the ports the run binds (default 18080; it uses PORT_BASE to
#             PORT_BASE+1830): another value lets a second run share the machine
#   SERVERS   space-separated, from: direct nginx shell policy (default: all four). A piigate
#             server may carry a runtime suffix (shell-ws, policy-pc) to compare shapes, and
#             `-base` to run BASE_BIN instead of PIIGATE_BIN (an A/B of two builds).
#   RUNTIME   piigate's [server] runtime when the server names none (default: the product's)
#   LOG       piigate's RUST_LOG (default warn: no access-log line, as nginx runs here)
#   SCALING_SERVERS  the piigate servers of `scaling` (default: shell policy), suffixes as above
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

MODE=${1:-matrix}
LOAD_CPU=${LOAD_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
RUNS=${RUNS:-3}
CONNS=${CONNS:-32}
SIZES=${SIZES:-"1k 16k 16kp"}
TRANSPORTS=${TRANSPORTS:-"http tls h2"}
SERVERS=${SERVERS:-"direct nginx shell policy"}
SCALING_SERVERS=${SCALING_SERVERS:-"shell policy"}
RUNTIME=${RUNTIME:-}
WORKERS=${WORKERS:-1}
LOG=${LOG:-warn}
WRITE_DOCS=${WRITE_DOCS:-1}
NICE=${NICE:--20}
AUTOGROUP_NICE=${AUTOGROUP_NICE:-}
# PROFILE=dev: the debug build (a smoke of the script itself, e.g. after `cargo test` built it;
# its numbers mean nothing).
PROFILE=${PROFILE:-release}
PROFILE_DIR=$PROFILE
[[ $PROFILE == dev ]] && PROFILE_DIR=debug
PIIGATE_BIN=${PIIGATE_BIN:-target/$PROFILE_DIR/piigate}

# Every port is an offset from PORT_BASE, so two runs on one machine can stay apart.
PORT_BASE=${PORT_BASE:-18080}
UPSTREAM_PORT=$PORT_BASE
NGINX_PORT=$((PORT_BASE + 1))
NGINX_TLS_PORT=$((PORT_BASE + 364))
PIIGATE_PORT=$((PORT_BASE + 11))
ADMIN_PORT=$((PORT_BASE + 1821))

# nginx, wrk, h2load, taskset, openssl, curl: installed with apt-get when missing.
bash scripts/load/install.sh

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

AUTOGROUP_WAS=""
if [[ -n $AUTOGROUP_NICE && -w /proc/self/autogroup ]]; then
    AUTOGROUP_WAS=$(awk '{print $3}' /proc/self/autogroup)
    echo "$AUTOGROUP_NICE" >"/proc/$$/autogroup"
    trap 'cleanup; echo "$AUTOGROUP_WAS" >"/proc/$$/autogroup"' EXIT
fi

if [[ $MODE == scaling ]]; then
    # Every process may use both cores: the load generator shares them with the servers.
    ALL_CPUS=0-$(($(nproc) - 1))
    ON_SERVER=(nice -n "$NICE" taskset -c "$ALL_CPUS")
    ON_LOAD=(nice -n "$NICE" taskset -c "$ALL_CPUS")
else
    ON_SERVER=(nice -n "$NICE" taskset -c "$SERVER_CPU")
    ON_LOAD=(nice -n "$NICE" taskset -c "$LOAD_CPU")
fi

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

render() { # template output [nginx workers]: fills the @…@ placeholders
    sed -e "s|@RUN@|$RUN|g" -e "s|@UPSTREAM_PORT@|$UPSTREAM_PORT|g" \
        -e "s|@NGINX_PORT@|$NGINX_PORT|g" -e "s|@NGINX_TLS_PORT@|$NGINX_TLS_PORT|g" \
        -e "s|@PIIGATE_PORT@|$PIIGATE_PORT|g" -e "s|@ADMIN_PORT@|$ADMIN_PORT|g" \
        -e "s|@WORKERS@|${3:-1}|g" \
        -e "s|@CERT@|$RUN/cert.pem|g" -e "s|@KEY@|$RUN/key.pem|g" \
        -e "s|@KEYS@|$ROOT/keys.example|g" "$1" >"$2"
}

if [[ $PIIGATE_BIN == "target/$PROFILE_DIR/piigate" ]]; then
    log "building piigate ($PROFILE)"
    cargo build --profile "$PROFILE" --locked --quiet --bin piigate
fi
PAYLOADS=${PAYLOADS:-$RUN/payloads}
if [[ ! -f $PAYLOADS/person-16k.json ]]; then
    cargo run --profile "$PROFILE" --locked --quiet --example load_payloads -- "$PAYLOADS" >&2
fi
declare -A BODY=([1k]="$PAYLOADS/track-1k.json" [16k]="$PAYLOADS/batch-16k.json"
    [16kp]="$PAYLOADS/person-16k.json")

# One self-signed ECDSA P-256 certificate, served by both nginx and piigate.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$RUN/key.pem" -out "$RUN/cert.pem" 2>/dev/null

declare -A URL=()
declare -A SERVER_PID=()
PIIGATE_ADMINS=()

# start_nginx NAME TEMPLATE WORKERS: starts an nginx master (its pid in NGINX_MASTER); its
# workers' pids go in SERVER_PID[NAME] (the master does no request work).
start_nginx() {
    local name=$1 template=$2 workers=$3 master i
    render "$template" "$RUN/$name.conf" "$workers"
    "${ON_SERVER[@]}" nginx -p "$RUN" -c "$RUN/$name.conf" &
    master=$!
    NGINX_MASTER=$master
    PIDS+=("$master")
    for i in $(seq 1 100); do
        if [[ $(pgrep -c -P "$master" || true) -ge $workers ]]; then break; fi
        sleep 0.1
    done
    SERVER_PID[$name]=$(pgrep -P "$master" | tr '\n' ' ')
}

# start_piigate NAME RULES RUNTIME WORKERS TLS INDEX: renders its config (port
# PIIGATE_PORT+INDEX, admin ADMIN_PORT+INDEX), starts it, waits for /readyz.
start_piigate() {
    local name=$1 rules=$2 runtime=$3 workers=$4 tls=$5 k=$6 conf tls_block="" runtime_line=""
    local bin=$PIIGATE_BIN
    [[ $name == *-base* ]] && bin=${BASE_BIN:?BASE_BIN names the binary of -base servers}
    conf=$RUN/$name.toml
    if [[ $tls == tls ]]; then
        tls_block="[server.tls]\ncert = \"$RUN/cert.pem\"\nkey = \"$RUN/key.pem\""
    fi
    [[ -n $runtime ]] && runtime_line="runtime = \"$runtime\""
    runtime_line="$runtime_line\nworkers = $workers"
    mkdir -p "$RUN/state-$name"
    sed -e "s|@RUNTIME_LINE@|$runtime_line|" -e "s|@TLS_BLOCK@|$tls_block|" \
        -e "s|@STATE@|$RUN/state-$name|g" \
        -e "s|@PIIGATE_PORT@|$((PIIGATE_PORT + k))|g" -e "s|@ADMIN_PORT@|$((ADMIN_PORT + k))|g" \
        scripts/load/piigate.toml.in >"$RUN/piigate.tmpl"
    if [[ $rules == none ]]; then
        # The shell: the same route, every rule removed (bodies stream through unparsed).
        sed -i '/^\[\[routes.rules\]\]/,$d' "$RUN/piigate.tmpl"
    fi
    render "$RUN/piigate.tmpl" "$conf"
    RUST_LOG=$LOG "${ON_SERVER[@]}" "$bin" serve --config "$conf" \
        2>"$RUN/$name.log" &
    PIDS+=($!)
    SERVER_PID[$name]=$!
    local i
    for i in $(seq 1 100); do
        if curl -fsS "http://127.0.0.1:$((ADMIN_PORT + k))/readyz" >/dev/null 2>&1; then
            PIIGATE_ADMINS+=("$name/$rules/$((ADMIN_PORT + k))")
            return 0
        fi
        sleep 0.1
    done
    echo "load.sh: piigate ($name) did not become ready; its log:" >&2
    cat "$RUN/$name.log" >&2
    exit 1
}

# check_piigate NAME RULES ADMIN_PORT: the policy really ran (actions counted) and nothing was
# rejected.
check_piigate() {
    local name=$1 rules=$2 port=$3 metrics
    metrics=$(curl -fsS "http://127.0.0.1:$port/metrics")
    if [[ $rules == typical ]] &&
        ! grep -q '^piigate_actions_applied_total{.*action="tokenize".*} [1-9]' <<<"$metrics"; then
        echo "load.sh: piigate ($name) applied no tokenize action" >&2
        exit 1
    fi
    if grep -q '^piigate_rejections_total{.*} [1-9]' <<<"$metrics"; then
        echo "load.sh: piigate ($name) rejected requests:" >&2
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

# load_once TRANSPORT SIZE URL SECONDS: one run of the load generator, pinned; prints one JSON
# object {requests, duration_us, errors, p50_us, p99_us, mean_us} (h2load reports no
# percentiles: p50/p99 are left out for h2).
load_once() {
    local transport=$1 size=$2 url=$3 secs=$4 out line
    if [[ $transport == h2 ]]; then
        local streams=$((CONNS / 8))
        out=$("${ON_LOAD[@]}" h2load -t1 -c8 -m"$streams" -D"$secs" --warm-up-time=1 \
            -H 'content-type: application/json' -d "${BODY[$size]}" "$url" 2>&1) || true
        line=$(python3 scripts/load/h2load.py <<<"$out") || {
            echo "load.sh: h2load failed for $url:" >&2
            echo "$out" >&2
            exit 1
        }
    else
        out=$(WRK_BODY=${BODY[$size]} "${ON_LOAD[@]}" \
            wrk -t1 -c"$CONNS" -d"${secs}s" --timeout 5s -s scripts/load/post.lua "$url")
        line=$(grep '^WRKJSON ' <<<"$out" | sed 's/^WRKJSON //')
        if [[ -z $line ]]; then
            echo "load.sh: wrk printed no summary for $url:" >&2
            echo "$out" >&2
            exit 1
        fi
    fi
    echo "$line"
}

# measure POINT_SIZE TRANSPORT TARGET… : warm-up, then RUNS rounds over the targets.
measure() {
    local size=$1 transport=$2 scenario=$3
    shift 3
    local targets=("$@") target i before after line
    log "$scenario: $size over $transport: ${targets[*]}; ${WARMUP}s warm-up each, then $RUNS rounds of ${DURATION}s"
    for target in "${targets[@]}"; do
        load_once "$transport" "$size" "${URL[$target/$transport]}" "$WARMUP" >/dev/null
    done
    for i in $(seq 1 "$RUNS"); do
        for target in "${targets[@]}"; do
            # shellcheck disable=SC2086 # a list of pids
            before=$(cpu_ticks ${SERVER_PID[$target]})
            line=$(load_once "$transport" "$size" "${URL[$target/$transport]}" "$DURATION")
            # shellcheck disable=SC2086
            after=$(cpu_ticks ${SERVER_PID[$target]})
            printf '{"scenario":"%s","size":"%s","transport":"%s","target":"%s","run":%d,"cpu_s":%s,"load":%s}\n' \
                "$scenario" "$size" "$transport" "$target" "$i" \
                "$(python3 -c "print(($after - $before) / $HZ)")" "$line" >>"$RESULTS"
        done
    done
}

HZ=$(getconf CLK_TCK)
render scripts/load/upstream.nginx.conf "$RUN/upstream.conf"
"${ON_SERVER[@]}" nginx -p "$RUN" -c "$RUN/upstream.conf" &
UPSTREAM_MASTER=$!
PIDS+=("$UPSTREAM_MASTER")
wait_port "$UPSTREAM_PORT"
SERVER_PID[direct]=$(pgrep -P "$UPSTREAM_MASTER" | tr '\n' ' ')
URL[direct/http]="http://127.0.0.1:$UPSTREAM_PORT/v1/track"

# piigate_spec NAME: the rules and runtime a piigate server name stands for.
piigate_spec() {
    local name=$1 rules runtime=$RUNTIME
    case $name in
    shell*) rules=none ;;
    policy*) rules=typical ;;
    *) return 1 ;;
    esac
    case $name in
    *-ws | *-ws-*) runtime=work_stealing ;;
    *-pc | *-pc-*) runtime=per_core ;;
    esac
    echo "$rules ${runtime:-default}"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED=$(date -u +%Y-%m-%dT%H:%MZ)
if [[ $MODE == scaling ]]; then
    # One vs two workers for nginx and piigate (shell and policy), 1 KB over HTTP/1.1, every
    # process free to use both cores (the load generator included).
    k=0
    for w in 1 2; do
        start_nginx "nginx-w$w" scripts/load/proxy.nginx.conf "$w"
        wait_port "$NGINX_PORT"
        URL[nginx-w$w/http]="http://127.0.0.1:$NGINX_PORT/segment/v1/track"
        names=("nginx-w$w")
        for s in $SCALING_SERVERS; do
            read -r rules runtime < <(piigate_spec "$s")
            [[ $runtime == default ]] && runtime=""
            start_piigate "$s-w$w" "$rules" "$runtime" "$w" http "$k"
            URL[$s-w$w/http]="http://127.0.0.1:$((PIIGATE_PORT + k))/segment/v1/track"
            names+=("$s-w$w")
            k=$((k + 1))
        done
        measure 1k http "scaling" "${names[@]}"
        # nginx listens on fixed ports: stop this one before the next worker count.
        kill "$NGINX_MASTER" 2>/dev/null || true
        wait "$NGINX_MASTER" 2>/dev/null || true
    done
else
    start_nginx nginx scripts/load/proxy.nginx.conf "$WORKERS"
    wait_port "$NGINX_PORT"
    wait_port "$NGINX_TLS_PORT"
    # Sanity: TLS 1.3 and h2 on nginx's TLS port.
    if ! openssl s_client -connect "127.0.0.1:$NGINX_TLS_PORT" -tls1_3 -alpn h2 </dev/null 2>/dev/null |
        grep -q 'ALPN protocol: h2'; then
        echo "load.sh: nginx did not negotiate TLS 1.3 with h2" >&2
        exit 1
    fi
    URL[nginx/http]="http://127.0.0.1:$NGINX_PORT/segment/v1/track"
    URL[nginx/tls]="https://127.0.0.1:$NGINX_TLS_PORT/segment/v1/track"
    URL[nginx/h2]="https://127.0.0.1:$NGINX_TLS_PORT/segment/v1/track"
    # One piigate per server and listener kind (plain, TLS), started up front.
    k=0
    for s in $SERVERS; do
        spec=$(piigate_spec "$s") || continue
        read -r rules runtime <<<"$spec"
        [[ $runtime == default ]] && runtime=""
        # Only the listeners a transport uses: an idle policy server fails the check below.
        if [[ " $TRANSPORTS " == *" http "* ]]; then
            start_piigate "$s" "$rules" "$runtime" "$WORKERS" plain "$k"
            URL[$s/http]="http://127.0.0.1:$((PIIGATE_PORT + k))/segment/v1/track"
            k=$((k + 1))
        fi
        if [[ " $TRANSPORTS " == *" tls "* || " $TRANSPORTS " == *" h2 "* ]]; then
            start_piigate "$s-tls" "$rules" "$runtime" "$WORKERS" tls "$k"
            URL[$s-tls/tls]="https://127.0.0.1:$((PIIGATE_PORT + k))/segment/v1/track"
            URL[$s-tls/h2]=${URL[$s-tls/tls]}
            k=$((k + 1))
        fi
    done
    for transport in $TRANSPORTS; do
        for size in $SIZES; do
            targets=()
            for s in $SERVERS; do
                case $s in
                direct) [[ $transport == http ]] && targets+=(direct) ;;
                nginx) targets+=(nginx) ;;
                *) if [[ $transport == http ]]; then targets+=("$s"); else targets+=("$s-tls"); fi ;;
                esac
            done
            measure "$size" "$transport" matrix "${targets[@]}"
        done
    done
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
for entry in "${PIIGATE_ADMINS[@]}"; do
    IFS=/ read -r name rules port <<<"$entry"
    check_piigate "$name" "$rules" "$port"
done

if [[ $MODE == scaling ]]; then
    CMD="NICE=$NICE${AUTOGROUP_NICE:+ AUTOGROUP_NICE=$AUTOGROUP_NICE} DURATION=$DURATION WARMUP=$WARMUP RUNS=$RUNS CONNS=$CONNS SCALING_SERVERS=\"$SCALING_SERVERS\"${RUNTIME:+ RUNTIME=$RUNTIME} LOG=$LOG scripts/load.sh scaling"
else
    CMD="LOAD_CPU=$LOAD_CPU SERVER_CPU=$SERVER_CPU NICE=$NICE${AUTOGROUP_NICE:+ AUTOGROUP_NICE=$AUTOGROUP_NICE} DURATION=$DURATION WARMUP=$WARMUP RUNS=$RUNS CONNS=$CONNS SIZES=\"$SIZES\" TRANSPORTS=\"$TRANSPORTS\" SERVERS=\"$SERVERS\"${RUNTIME:+ RUNTIME=$RUNTIME} WORKERS=$WORKERS LOG=$LOG scripts/load.sh"
fi
MACHINE="$(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -1)), $(free -g | awk '/^Mem:/{print $2}') GiB, Linux $(uname -r); $(nginx -v 2>&1 | sed 's/^nginx version: //'), wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'), $(h2load --version 2>&1 | head -1 | awk '{print $1, $2}'), $(rustc --version | cut -d' ' -f1-2); load average (1/5/15 min) before the run: $LOAD_BEFORE, after: $LOAD_AFTER; sched_autogroup_enabled $(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo -)"
WRITE_ARGS=()
[[ $WRITE_DOCS == 1 ]] && WRITE_ARGS=(--write docs/BENCHMARKS.md)
python3 scripts/load/report.py --mode "$MODE" --results "$RESULTS" --started "$STARTED" \
    --machine "$MACHINE" --command "$CMD" --conns "$CONNS" --duration "$DURATION" \
    --runs "$RUNS" "${WRITE_ARGS[@]}"
cp "$RESULTS" "${RESULTS_OUT:-/tmp/piigate-load-results.jsonl}"
log "raw results: ${RESULTS_OUT:-/tmp/piigate-load-results.jsonl}"
