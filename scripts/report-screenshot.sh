#!/usr/bin/env bash
# Renders piigate's HTML disclosure report in headless Chromium, checks that its tables are
# there and filled, and writes docs/report.png.
#
#     bash scripts/report-screenshot.sh            # writes docs/report.png
#     OUT=/tmp/r.png bash scripts/report-screenshot.sh
#
# Installs what is missing: Debian's `chromium` (apt, as root) and `playwright-core` (npm, in
# target/report-screenshot/, never committed). Then: builds piigate, starts a throwaway
# upstream (python3) and piigate on loopback with four routes (observe, enforce, allow-list,
# opt-out block), sends traffic, loads /report with the admin token and asserts:
#   - the notice table has the eleven CCPA categories A-K, and category A reads "Yes";
#   - one per-recipient table per route that received data, with non-zero cells;
#   - the undeclared-fields table lists detected paths with their class;
#   - the opt-out table counts the blocked request;
#   - every table is laid out (non-zero size) and no PII value appears on the page.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/docs/report.png}
NODE_DIR=$ROOT/target/report-screenshot

if ! command -v chromium >/dev/null 2>&1; then
    echo "== installing Debian chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "== installing Debian nodejs and npm"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -d "$NODE_DIR/node_modules/playwright-core" ]; then
    echo "== installing playwright-core"
    mkdir -p "$NODE_DIR"
    (cd "$NODE_DIR" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund playwright-core@1)
fi
echo "== building piigate"
cargo build --quiet

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(free_port)
PROXY=$(free_port)
ADMIN=$(free_port)

# An upstream that answers 200 to anything.
cat > "$WORK/upstream.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def _ok(self):
        n = int(self.headers.get("content-length") or 0)
        self.rfile.read(n)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", "11")
        self.end_headers()
        self.wfile.write(b'{"ok":true}')
    do_POST = do_GET = do_PUT = _ok
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$WORK/upstream.py" "$UP" &
PIDS+=($!)

cp keys.example "$WORK/keys.toml"
cat > "$WORK/proxy.toml" <<TOML
[server]
listen = "127.0.0.1:$PROXY"
[admin]
listen = "127.0.0.1:$ADMIN"
token_env = "REPORT_ADMIN_TOKEN"
[keys]
file = "keys.toml"
[state]
dir = "."

[[routes]]
name = "segment"
path_prefix = "/segment"
upstream = "http://127.0.0.1:$UP"
purpose = "analytics"
detect = "observe"
[[routes.rules]]
select = "\$.batch[*].userId"
action = "tokenize"
[[routes.rules]]
select = "\$.batch[*].traits.email"
action = "tokenize"
normalize = "email"
[[routes.rules]]
select = "\$.batch[*].context.ip"
action = "generalize"
to = "ip/24"

[[routes]]
name = "zendesk"
path_prefix = "/zendesk"
upstream = "http://127.0.0.1:$UP"
purpose = "processor"
detect = "enforce"
[routes.detect_actions]
phone = { action = "mask", keep_last = 4 }
[[routes.rules]]
select = "\$.ticket.requester.email"
action = "encrypt"

[[routes]]
name = "meta-capi"
path_prefix = "/meta"
upstream = "http://127.0.0.1:$UP"
purpose = "sale_or_share"
unknown_fields = "drop"
detect = "observe"
on_opt_out = "block"
[[routes.rules]]
select = ["\$.data[*].event_name", "\$.data[*].event_time"]
action = "keep"
[[routes.rules]]
select = "\$.data[*].user_data.em"
action = "hash"
preset = "meta"
normalize = "email"
class = "email"   # \`em\` says nothing to the key classifier: name the class
TOML
export REPORT_ADMIN_TOKEN="report-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
(cd "$WORK" && exec "$ROOT/target/debug/piigate" serve --config proxy.toml 2>"$WORK/log") &
PIDS+=($!)
# Both must be listening before traffic: a request that reaches piigate before the upstream
# listens gets a 502, and the run would fail on a race rather than on the report.
wait_for() {
    for _ in $(seq 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
    echo "FAIL: nothing answered at $1 within 30 s" >&2
    tail -n 20 "$WORK/log" >&2 || true
    exit 1
}
wait_for "http://127.0.0.1:$UP/"
wait_for "http://127.0.0.1:$ADMIN/healthz"

echo "== sending traffic"
# On a non-2xx answer, say which request failed and what piigate said (its errors and log
# lines carry no request values), instead of a bare curl exit code.
post() {
    local code
    code=$(curl -s -o "$WORK/answer" -w '%{http_code}' -X POST -H 'content-type: application/json' "$@")
    if [ "${code:0:1}" != 2 ]; then
        echo "FAIL: POST $1 answered $code: $(head -c 400 "$WORK/answer")" >&2
        tail -n 20 "$WORK/log" >&2 || true
        exit 1
    fi
}
for i in 1 2 3; do
    post "http://127.0.0.1:$PROXY/segment/v1/batch" --data "{\"batch\":[{\"type\":\"identify\",\"userId\":\"u$i\",\"traits\":{\"email\":\"ann$i@example.com\",\"phone\":\"+1 415 555 01$i$i\"},\"context\":{\"ip\":\"203.0.113.$i\",\"userAgent\":\"Mozilla/5.0 (X11; Linux x86_64)\"}},{\"type\":\"track\",\"userId\":\"u$i\",\"event\":\"Signed Up\",\"properties\":{\"contact_email\":\"billing$i@example.org\",\"plan\":\"pro\"}}]}"
    post "http://127.0.0.1:$PROXY/zendesk/api/v2/tickets" --data "{\"ticket\":{\"requester\":{\"email\":\"ann$i@example.com\",\"name\":\"Ann Lee\"},\"subject\":\"Call me back on +92 300 123456$i\",\"custom\":{\"card\":\"4111 1111 1111 1111\"}}}"
    post "http://127.0.0.1:$PROXY/meta/v18/events" --data "{\"data\":[{\"event_name\":\"Purchase\",\"event_time\":1767225600,\"user_data\":{\"em\":\"ann$i@example.com\",\"ph\":\"+14155550100\",\"client_ip_address\":\"198.51.100.$i\"},\"custom_data\":{\"value\":42}}]}"
done
curl -s -o /dev/null -X POST -H 'content-type: application/json' -H 'sec-gpc: 1' \
    "http://127.0.0.1:$PROXY/meta/v18/events" --data '{"data":[]}'

echo "== rendering /report in headless Chromium"
mkdir -p "$(dirname "$OUT")"
cat > "$WORK/shot.cjs" <<'JS'
const { chromium } = require(process.env.NODE_DIR + '/node_modules/playwright-core');
(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const fail = (m) => { console.error('FAIL: ' + m); process.exitCode = 1; };
  try {
    const page = await browser.newPage({
      viewport: { width: 1280, height: 900 },
      // A browser user would type the token into the Basic prompt; this is the same thing.
      httpCredentials: { username: 'officer', password: process.env.REPORT_ADMIN_TOKEN },
    });
    const resp = await page.goto(process.env.REPORT_URL, { waitUntil: 'load' });
    if (resp.status() !== 200) fail('status ' + resp.status());
    const rows = (sel) => page.$$eval(sel, (els) => els.map((e) => e.innerText));
    const notice = await rows('#notice table tbody tr');
    if (notice.length !== 11) fail('notice rows: ' + notice.length);
    if (!/Identifiers\s+Yes[^]*Yes meta-capi/.test(notice[0] || '')) fail('category A row: ' + notice[0]);
    const recipients = await page.$$('#recipients table');
    if (recipients.length < 3) fail('recipient tables: ' + recipients.length);
    const fields = await rows('#fields table tbody tr');
    const text = fields.join('\n');
    for (const want of ['$.batch[*].properties.contact_email', 'email', '$.ticket.subject', 'phone',
                        '$.data[*].user_data.client_ip_address']) {
      if (!text.includes(want)) fail('undeclared fields lack ' + want);
    }
    const optout = await rows('#opt-out table tbody tr');
    if (!/meta-capi[\s\S]*\b1\b/.test(optout.join('\n'))) fail('opt-out row: ' + optout.join(' | '));
    for (const t of await page.$$('table')) {
      const box = await t.boundingBox();
      if (!box || box.width < 200 || box.height < 20) fail('table not laid out');
    }
    const html = await page.content();
    for (const value of ['ann1@example.com', 'billing2@example.org', '4111 1111', '300 123456', '198.51.100']) {
      if (html.includes(value)) fail('a value is on the page: ' + value);
    }
    await page.screenshot({ path: process.env.OUT, fullPage: true });
    console.log(`tables: notice ${notice.length} rows, ${recipients.length} recipients, ` +
                `${fields.length} undeclared fields, opt-out ${optout.length} rows`);
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
JS
NODE_DIR=$NODE_DIR OUT=$OUT REPORT_URL="http://127.0.0.1:$ADMIN/report" \
    node "$WORK/shot.cjs"
if grep -q "$REPORT_ADMIN_TOKEN" "$WORK/log"; then
    echo "FAIL: the admin token appears in piigate's log" >&2
    exit 1
fi
echo "report-screenshot: passed ($OUT)"
