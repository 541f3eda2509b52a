#!/usr/bin/env python3
"""A recording upstream for the vendor SDK harness.

Every request is written, exactly as it arrived, as one JSON line: method, raw target path,
raw query string, every header in arrival order with its original spelling, and the body's
bytes (base64; a chunked body is de-chunked and marked so). Each answer has the shape the
vendor's SDK expects, so the SDK reports success and does not retry.

The first path segment names the vendor (`/mixpanel/track`, `/segment/v1/batch`): piigate's
routes point at `http://127.0.0.1:PORT/<vendor>`, and a direct run points the SDK at the same
URL, so both runs record the same paths. `/site/…` serves the static test page (not recorded),
so the browser page and the vendor endpoints share one origin whether piigate sits in between
or not.

    python3 recorder.py --port 0 --out requests.jsonl --port-file port [--site DIR]
"""

import argparse
import base64
import json
import mimetypes
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
SITE_SESSION = "site_session=sess-7Hq2LmZ9xK4; Path=/; HttpOnly; SameSite=Lax"


def posthog_flags():
    return {
        "featureFlags": {},
        "featureFlagPayloads": {},
        "errorsWhileComputingFlags": False,
        "flags": {},
        "requestId": "00000000-0000-4000-8000-000000000000",
        "quotaLimited": [],
        "sessionRecording": False,
        "supportedCompression": ["gzip", "gzip-js"],
        "autocapture_opt_out": True,
        "capturePerformance": False,
        "heatmaps": False,
        "surveys": False,
        "siteApps": [],
        "toolbarParams": {},
        "isAuthenticated": False,
        "config": {"enable_collect_everything": False},
    }


def answer(vendor, rest, query, body, headers):
    """(status, content type, body bytes, extra headers) for a recorded request."""
    q = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    js = "application/json"
    if vendor == "mixpanel":
        if rest.startswith("/flags") or rest.startswith("/decide"):
            return 200, js, b'{"flags":{}}', []
        # The Python SDK (in the form body) and the browser SDK (in the query) ask for
        # `verbose=1` and check `status`; without it Mixpanel answers a bare 1.
        form = {}
        if "form-urlencoded" in (headers.get("content-type") or ""):
            form = dict(urllib.parse.parse_qsl(body.decode("latin-1"), keep_blank_values=True))
        if q.get("verbose") == "1" or form.get("verbose") == "1":
            return 200, js, b'{"status":1,"error":null}', []
        return 200, "text/plain", b"1", []
    if vendor == "posthog":
        if rest.startswith("/flags") or rest.startswith("/decide"):
            return 200, js, json.dumps(posthog_flags()).encode(), []
        if rest.startswith("/array/") and rest.endswith("/config"):
            return 200, js, b'{"token":"phc_test","supportedCompression":["gzip","gzip-js"]}', []
        if rest.startswith("/array/") and rest.endswith("/config.js"):
            return 200, "application/javascript", b"", []
        return 200, js, b'{"status":1}', []
    if vendor == "segment":
        if rest.startswith("/v1/projects/") and rest.endswith("/settings"):
            return 200, js, b"{}", []  # the page passes its own settings (cdnSettings)
        return 200, js, b'{"success":true}', []
    if vendor == "rudderstack":
        return 200, "text/plain", b"OK", []
    if vendor == "amplitude":
        n = 0
        try:
            n = len(json.loads(body or b"{}").get("events", []))
        except (ValueError, AttributeError):
            pass
        out = {"code": 200, "events_ingested": n, "payload_size_bytes": len(body),
               "server_upload_time": int(time.time() * 1000)}
        return 200, js, json.dumps(out).encode(), []
    if vendor == "stripe":
        kinds = {"customers": ("cus", "customer"), "payment_intents": ("pi", "payment_intent"),
                 "charges": ("ch", "charge"), "payment_methods": ("pm", "payment_method")}
        parts = [p for p in rest.split("/") if p]
        prefix, obj = kinds.get(parts[1] if len(parts) > 1 else "", ("obj", "unknown"))
        out = {"id": prefix + "_recorder000001", "object": obj, "livemode": False}
        return 200, js, json.dumps(out).encode(), [("Request-Id", "req_recorder000001")]
    if vendor == "sendgrid":
        return 202, None, b"", [("X-Message-Id", "recorder-000001")]
    if vendor == "snowplow":
        if rest == "/i":
            return 200, "image/gif", GIF, []
        return 200, "text/plain", b"ok", []
    if vendor == "ga4":
        if rest.startswith("/g/collect"):
            return 204, None, b"", []
        return 204, None, b"", []
    if vendor == "meta":
        out = {"events_received": 1, "messages": [], "fbtrace_id": "Arecorder000001"}
        return 200, js, json.dumps(out).encode(), []
    return 200, js, b"{}", []


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "recorder"
    sys_version = ""

    def _body(self):
        te = (self.headers.get("transfer-encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out), True
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("content-length") or 0)
        return (self.rfile.read(n) if n else b""), False

    def _site(self, rest):
        root = self.server.site
        rel = urllib.parse.unquote(rest.split("?", 1)[0]).lstrip("/") or "index.html"
        path = os.path.realpath(os.path.join(root, rel))
        if root is None or not path.startswith(os.path.realpath(root) + os.sep) \
                or not os.path.isfile(path):
            self._send(404, "text/plain", b"not found", [])
            return
        ctype = mimetypes.guess_type(path)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype == "application/javascript":
            ctype += "; charset=utf-8"
        with open(path, "rb") as f:
            data = f.read()
        extra = [("Cache-Control", "no-store")]
        if rel.endswith(".html"):
            # The site's own session cookie: a first-party proxy on the same origin receives it.
            extra.append(("Set-Cookie", SITE_SESSION))
        self._send(200, ctype, data, extra)

    def _send(self, status, ctype, data, extra):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        origin = self.headers.get("origin")
        if origin:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Credentials", "true")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _handle(self):
        body, chunked = self._body()
        target = self.path
        path, _, query = target.partition("?")
        parts = path.split("/", 2)
        vendor = parts[1] if len(parts) > 1 else ""
        rest = "/" + (parts[2] if len(parts) > 2 else "")
        if vendor == "site":
            self._site(rest)
            return
        if self.command == "OPTIONS":
            self._send(204, None, b"", [
                ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
                ("Access-Control-Allow-Headers",
                 self.headers.get("access-control-request-headers") or "*")])
            return
        rec = {
            "vendor": vendor,
            "method": self.command,
            "path": path,
            "query": query if "?" in target else None,
            "version": self.request_version,
            "headers": [[k, v] for k, v in self.headers.items()],
            "chunked": chunked,
            "body_b64": base64.b64encode(body).decode(),
        }
        with self.server.lock:
            self.server.seq += 1
            rec = {"seq": self.server.seq, **rec}
            self.server.out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            self.server.out.flush()
        status, ctype, data, extra = answer(vendor, rest, query, body, self.headers)
        self._send(status, ctype, data, extra)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle

    def log_message(self, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--port-file")
    ap.add_argument("--site")
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Recorder)
    srv.daemon_threads = True
    srv.lock = threading.Lock()
    srv.seq = 0
    srv.out = open(a.out, "a", encoding="utf-8")
    srv.site = a.site
    port = srv.server_address[1]
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.replace(a.port_file + ".tmp", a.port_file)
    print(f"recorder listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
