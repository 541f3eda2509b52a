#!/usr/bin/env bash
# Ensures a throwaway PostgreSQL server is running on loopback for the test suite and prints the
# line to evaluate:
#
#     eval "$(bash scripts/postgres-test.sh)"      # exports PIIGATE_TEST_POSTGRES_URL (and _CA)
#     cargo test
#     bash scripts/postgres-test.sh stop           # optional; the cluster is disposable
#
# Only `export …` lines go to stdout; progress goes to stderr. Idempotent: a second run
# reuses the running cluster. Order of preference for the server binaries: PostgreSQL already on
# PATH or under /usr/lib/postgresql/*/bin; otherwise Debian's `postgresql` package is installed
# (needs root). The cluster trusts local connections, listens on 127.0.0.1 only, runs with
# fsync=off (test data only) and lives in $PIIGATE_PG_DIR (default /tmp/piigate-pg). If openssl
# is available the server also offers TLS with a throwaway CA, exported as
# PIIGATE_TEST_POSTGRES_CA for the TLS test (clients choose TLS with sslmode=require).
set -euo pipefail

PORT="${PIIGATE_PG_PORT:-54329}"
DIR="${PIIGATE_PG_DIR:-/tmp/piigate-pg}"
DB="${PIIGATE_PG_DB:-piigate_test}"
USER_NAME="piigate"
URL="postgres://${USER_NAME}@127.0.0.1:${PORT}/${DB}"

log() { printf 'postgres-test: %s\n' "$*" >&2; }

find_bindir() {
    local d
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return 0
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ]; then
            echo "$d"
            return 0
        fi
    done
    return 1
}

# Runs a server binary as an unprivileged user: PostgreSQL refuses to run as root.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        if command -v runuser >/dev/null 2>&1; then
            runuser -u postgres -- "$@"
        else
            su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
        fi
    else
        "$@"
    fi
}

BINDIR="$(find_bindir || true)"

if [ "${1:-start}" = "stop" ]; then
    if [ -n "$BINDIR" ] && [ -f "$DIR/data/postmaster.pid" ]; then
        as_owner "$BINDIR/pg_ctl" -D "$DIR/data" -m fast -w stop >&2
    fi
    exit 0
fi

if [ -z "$BINDIR" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        log "no PostgreSQL binaries found and not root: install Debian's postgresql package"
        exit 1
    fi
    log "installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
    BINDIR="$(find_bindir)"
fi
log "using $BINDIR"

if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin postgres
fi

mkdir -p "$DIR"
if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$DIR"
fi

if [ ! -f "$DIR/data/PG_VERSION" ]; then
    log "initdb in $DIR/data"
    as_owner "$BINDIR/initdb" -D "$DIR/data" -U "$USER_NAME" --auth=trust \
        --encoding=UTF8 --no-locale >"$DIR/initdb.log" 2>&1 || {
        cat "$DIR/initdb.log" >&2
        exit 1
    }
fi

# A throwaway CA and a server certificate for localhost / 127.0.0.1 (ECDSA P-256).
SSL_OPTS=""
if command -v openssl >/dev/null 2>&1; then
    if [ ! -f "$DIR/server.crt" ]; then
        log "creating a test CA and server certificate"
        (
            cd "$DIR"
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                -keyout ca.key -out ca.crt -days 3650 -subj "/CN=piigate test CA" 2>/dev/null
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
            printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" \
                "basicConstraints=CA:FALSE" "extendedKeyUsage=serverAuth" >server.ext
            openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
                -out server.crt -days 3650 -extfile server.ext 2>/dev/null
            chmod 600 server.key ca.key
        )
        if [ "$(id -u)" -eq 0 ]; then
            chown postgres "$DIR/server.key" "$DIR/server.crt"
        fi
    fi
    SSL_OPTS="-c ssl=on -c ssl_cert_file=$DIR/server.crt -c ssl_key_file=$DIR/server.key"
fi

if ! as_owner "$BINDIR/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    log "starting on 127.0.0.1:$PORT"
    as_owner "$BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$DIR \
-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 $SSL_OPTS" \
        start >&2 || {
        tail -n 50 "$DIR/server.log" >&2
        exit 1
    }
fi

PSQL="$BINDIR/psql"
if ! "$PSQL" -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
    log "creating database $DB"
    "$PSQL" -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" -d postgres -qc "CREATE DATABASE $DB" >&2
fi

log "ready: $URL"
echo "export PIIGATE_TEST_POSTGRES_URL=$URL"
if [ -n "$SSL_OPTS" ]; then
    echo "export PIIGATE_TEST_POSTGRES_CA=$DIR/ca.crt"
fi
