#!/usr/bin/env python3
"""Runs the vendors' own clients against a recording upstream, through piigate or directly,
and reports per client what was sent, what arrived, whether the vendor could parse it, and
which of the test person's values arrived in clear (and where: body, query, cookie, referer).

Called by run.sh (which installs what is needed); see run.sh for the options.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import analyze  # noqa: E402

SDK = os.path.join(ROOT, "target", "sdk")
PY = os.path.join(SDK, "venv", "bin", "python")
NODE_MODULES = os.path.join(SDK, "node", "node_modules")

# (client, route, argv after the interpreter, the source of the request shape)
SERVER = [
    ("segment-python", "segment", [PY, "drivers/server_py.py", "segment"]),
    ("segment-node", "segment", ["node", "drivers/server_node.mjs", "segment-node"]),
    ("rudderstack-python", "rudderstack", [PY, "drivers/server_py.py", "rudderstack"]),
    ("posthog-python", "posthog", [PY, "drivers/server_py.py", "posthog"]),
    ("posthog-node", "posthog", ["node", "drivers/server_node.mjs", "posthog-node"]),
    ("mixpanel-python", "mixpanel", [PY, "drivers/server_py.py", "mixpanel"]),
    ("amplitude-python", "amplitude", [PY, "drivers/server_py.py", "amplitude"]),
    ("amplitude-python-batch", "amplitude", [PY, "drivers/server_py.py", "amplitude-batch"]),
    ("stripe-python", "stripe", [PY, "drivers/server_py.py", "stripe"]),
    ("sendgrid-python", "sendgrid", [PY, "drivers/server_py.py", "sendgrid"]),
    ("ga4-mp (hand)", "ga4", [PY, "drivers/handwritten.py", "ga4"]),
    ("gtag-collect (hand)", "ga4", [PY, "drivers/handwritten.py", "gtag"]),
    ("meta-capi (hand)", "meta", [PY, "drivers/handwritten.py", "meta"]),
    ("segment-pixel (hand)", "segment", [PY, "drivers/handwritten.py", "segment-pixel"]),
    ("mixpanel-get (hand)", "mixpanel", [PY, "drivers/handwritten.py", "mixpanel-get"]),
    ("snowplow-get (hand)", "snowplow", [PY, "drivers/handwritten.py", "snowplow-get"]),
]
BROWSER = [
    ("mixpanel-browser", "mixpanel", "mixpanel"),
    ("posthog-js", "posthog", "posthog"),
    ("analytics-next", "segment", "segment"),
    ("snowplow-browser", "snowplow", "snowplow"),
]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_http(url, secs=30):
    end = time.time() + secs
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return  # an answer, whatever its status
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"run: {url} did not come up")


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def read_lines(path, start, end):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for i, l in enumerate(f) if start <= i < end]


def piigate_lines(log, start):
    """The access-log lines (route, status, code) written since line `start`."""
    out = []
    for i, line in enumerate(open(log, encoding="utf-8", errors="replace")):
        if i < start:
            continue
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        f = ev.get("fields", ev)
        if f.get("message") in ("Request forwarded.", "Request rejected."):
            out.append({"route": f.get("route"), "status": f.get("status"), "code": f.get("code")})
    return out


def build_site(dest):
    """The test pages and the SDK bundles, as the site would serve them."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(os.path.join(HERE, "site"), dest)
    nm = NODE_MODULES
    copies = {
        "vendor/mixpanel-snippet.js": "mixpanel-browser/dist/mixpanel-jslib-snippet.min.js",
        "vendor/mixpanel.js": "mixpanel-browser/dist/mixpanel.min.js",
        "vendor/posthog.js": "posthog-js/dist/array.full.js",
        "vendor/snowplow.js": "@snowplow/browser-tracker/dist/index.umd.min.js",
        "analytics.js/v1/seg_write_key_test/analytics.min.js":
            "@segment/analytics-next/dist/umd/standalone.js",
    }
    for d, s in copies.items():
        os.makedirs(os.path.dirname(os.path.join(dest, d)), exist_ok=True)
        shutil.copy(os.path.join(nm, s), os.path.join(dest, d))
    # analytics-next's standalone build loads its chunks from <cdn>/analytics-next/bundles/.
    shutil.copytree(os.path.join(nm, "@segment/analytics-next/dist/umd"),
                    os.path.join(dest, "analytics-next", "bundles"))
    with open(os.path.join(dest, "person.js"), "w", encoding="utf-8") as f:
        f.write("window.PERSON = " + json.dumps(analyze.load_person(), ensure_ascii=False) + ";\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["direct", "piigate", "via"], default="piigate")
    ap.add_argument("--via", help="an already running piigate whose routes point at the recorder")
    ap.add_argument("--recorder-port", type=int, default=0)
    ap.add_argument("--config", default=os.path.join(HERE, "piigate.toml.in"))
    ap.add_argument("--browser", action="store_true", help="also the browser SDKs")
    ap.add_argument("--only", help="comma-separated client names")
    ap.add_argument("--out", help="directory for the recordings and results")
    ap.add_argument("--save-fixtures", help="write each client's recorded requests here")
    ap.add_argument("--fail-on-leak", action="store_true")
    ap.add_argument("--fail-on-loss", action="store_true",
                    help="exit 1 if a request was refused, lost or arrived unparseable")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "piigate"))
    ap.add_argument("--expect", help="JSON file: per client, the values a policy hands over in "
                    "clear on purpose and the refusals it makes on purpose, each with its reason")
    a = ap.parse_args()

    mode = "via" if a.via else a.mode
    if mode == "piigate" and not os.path.isfile(a.binary):
        sys.exit(f"run.py: no piigate binary at {a.binary} (cargo build, or cargo test for target/debug)")
    out = a.out or os.path.join(SDK, "runs", mode)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    rec_file = os.path.join(out, "recorded.jsonl")
    procs = []

    def stop():
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()

    try:
        site = os.path.join(out, "site")
        build_site(site) if a.browser else os.makedirs(site)
        rport = a.recorder_port or free_port()
        procs.append(subprocess.Popen(
            [sys.executable, os.path.join(HERE, "recorder.py"), "--port", str(rport),
             "--out", rec_file, "--site", site], stderr=subprocess.DEVNULL))
        recorder = f"http://127.0.0.1:{rport}"
        wait_http(recorder + "/site/")  # 404 is an answer too
        log = None
        if mode == "direct":
            front = recorder
        elif mode == "via":
            front = a.via.rstrip("/")
        else:
            work = os.path.join(out, "piigate")
            os.makedirs(work)
            shutil.copy(os.path.join(ROOT, "keys.example"), os.path.join(work, "keys.toml"))
            pport, aport = free_port(), free_port()
            cfg = open(a.config).read().replace("@RECORDER@", recorder) \
                .replace("@PROXY_PORT@", str(pport)).replace("@ADMIN_PORT@", str(aport))
            open(os.path.join(work, "proxy.toml"), "w").write(cfg)
            log = os.path.join(out, "piigate.log")
            procs.append(subprocess.Popen(
                [os.path.abspath(a.binary), "serve", "--config", "proxy.toml", "--log-format", "json"],
                cwd=work, stdout=open(log + ".out", "w"), stderr=open(log, "w")))
            wait_http(f"http://127.0.0.1:{aport}/healthz")
            front = f"http://127.0.0.1:{pport}"

        env = dict(os.environ, SDK_NODE_MODULES=NODE_MODULES)
        person = analyze.load_person()
        runs = []
        clients = [(c, r, argv, False) for c, r, argv in SERVER]
        if a.browser:
            clients += [(c, r, ["node", "drivers/browser.mjs", page], True)
                        for c, r, page in BROWSER]
        only = set(a.only.split(",")) if a.only else None
        for client, route, argv, in_browser in clients:
            if only and client not in only:
                continue
            before = count_lines(rec_file)
            log_before = count_lines(log) if log else 0
            t0 = time.time()
            # A browser client gets the site's origin (the page names the vendor paths).
            arg = front if in_browser else f"{front}/{route}"
            try:
                r = subprocess.run(argv + [arg], cwd=HERE, env=env, capture_output=True,
                                   text=True, timeout=180)
                line = (r.stdout.strip().splitlines() or ["{}"])[-1]
                try:
                    drv = json.loads(line)
                except ValueError:
                    drv = {"calls": 0, "sdk_errors": [f"driver exit {r.returncode}: "
                                                      + r.stderr[-300:]]}
            except subprocess.TimeoutExpired:
                drv = {"calls": 0, "sdk_errors": ["driver timed out"]}
            secs = time.time() - t0
            time.sleep(0.3)
            recs = [x for x in read_lines(rec_file, before, count_lines(rec_file))]
            recs = [x for x in recs if x["vendor"] == route]
            sent = None
            refused = []
            if log:
                lines = [l for l in piigate_lines(log, log_before) if l["route"] == route]
                sent = len(lines)
                refused = [f"{l['status']} {l['code']}" for l in lines if l["code"]]
            reports = [analyze.analyze(x, person) for x in recs]
            runs.append({"client": client, "route": route, "seconds": round(secs, 1),
                         "driver": drv, "sent": sent if sent is not None else len(recs),
                         "recorded": len(recs), "refused": refused,
                         "parseable": sum(1 for x in reports if x.parseable),
                         "parse_errors": sorted({e for x in reports for e in x.parse_errors}),
                         "encodings": sorted({e for x in reports for e in x.encodings}),
                         "hits": [dict(h.__dict__, seq=x["seq"]) for x, rep in zip(recs, reports)
                                  for h in rep.hits]})
            # Per client, for `analyze.py --summary DIR` (and as fixtures when asked).
            name = client.replace(" (hand)", "-hand")
            for base in filter(None, (os.path.join(out, "clients"), a.save_fixtures)):
                d = os.path.join(base, route)
                os.makedirs(d, exist_ok=True)
                with open(os.path.join(d, f"{name}.jsonl"), "w", encoding="utf-8") as f:
                    for x in recs:
                        f.write(json.dumps(x, ensure_ascii=False) + "\n")
        json.dump({"mode": mode, "runs": runs}, open(os.path.join(out, "results.json"), "w"),
                  indent=1, ensure_ascii=False)
    finally:
        stop()

    leak = print_table(mode, runs)
    print(f"\nrecordings: {rec_file}\nresults:    {os.path.join(out, 'results.json')}")
    expect = json.load(open(a.expect)) if a.expect else {}
    lost = []
    for r in runs:
        e = expect.get(r["client"], {})
        allowed = e.get("refused", {})
        refusals = [x.split(" ", 1)[-1] for x in r["refused"]]
        unexpected = [x for x in refusals if x not in allowed]
        if (unexpected or r["recorded"] < r["sent"] - len(refusals)
                or r["parseable"] < r["recorded"] or r["sent"] == 0
                or (r["driver"].get("sdk_errors") and not refusals)):
            lost.append(r["client"])
    if expect:
        # What the policy hands over on purpose (a processor's declared fields) or cannot
        # police yet (free text) is listed with its reason; anything else is a leak.
        leak = False
        for r in runs:
            clear = expect.get(r["client"], {}).get("clear", {})
            extra = sorted({h["kind"] for h in r["hits"]} - set(clear))
            if extra:
                print(f"run: {r['client']}: {', '.join(extra)} in clear, not expected",
                      file=sys.stderr)
                leak = True
        seen = {r["client"]: r for r in runs}
        for client, e in expect.items():
            if client.startswith("_"):
                continue
            r = seen.get(client)
            kinds = {h["kind"] for h in r["hits"]} if r else set()
            codes = {x.split(" ", 1)[-1] for x in r["refused"]} if r else set()
            for kind, why in e.get("clear", {}).items():
                state = "" if kind in kinds or not r else " (not seen this run: update the file?)"
                print(f"expected in clear: {client}: {kind} — {why}{state}")
            for code, why in e.get("refused", {}).items():
                state = "" if code in codes or not r else " (not seen this run: update the file?)"
                print(f"expected refusal: {client}: {code} — {why}{state}")
    # Direct, every client sends the person in clear: a client with no finding means the
    # analyzer went blind to its format, and a clean run through piigate would prove nothing.
    blind = [r["client"] for r in runs if not r["hits"]] if mode == "direct" else []
    failed = False
    if blind:
        print("run: the analyzer found none of the person's values sent direct by: "
              + ", ".join(blind), file=sys.stderr)
        failed = True
    if a.fail_on_leak and leak:
        print("run: person values reached the upstream in clear", file=sys.stderr)
        failed = True
    if a.fail_on_loss and lost:
        print("run: requests refused, lost, unparseable or failed in the SDK: "
              + ", ".join(lost), file=sys.stderr)
        failed = True
    sys.exit(1 if failed else 0)


SHORT = {"user_id": "uid", "name": "name", "email": "email", "phone": "phone", "ip": "ip",
         "address": "addr", "birthday": "dob", "card": "card", "session_cookie": "sess"}


def print_table(mode, runs):
    kinds = ["body", "query", "cookie", "referer", "other"]
    print(f"\n== {mode}: per client — the test person's values the upstream got in clear, by where")
    print("   (sent: requests piigate received, or the recorder got when direct; recv: recorded"
          " upstream; pars: of those, parseable as the vendor parses them)")
    hdr = (f"{'client':<23}{'sent':>5}{'recv':>5}{'pars':>5}  {'body':<38}{'query':<26}"
           f"{'cookie':<18}{'referer':<12}other")
    print(hdr)
    leak = False
    for r in runs:
        where = {k: set() for k in kinds}
        for h in r["hits"]:
            loc = h["location"]
            k = loc if loc in where else "other"
            short = SHORT.get(h["kind"], h["kind"])
            where[k].add(short if k != "other" else f"{short}@{loc}")
        leak |= any(where.values())
        c = {k: ",".join(sorted(v)) or "-" for k, v in where.items()}
        print(f"{r['client']:<23}{r['sent']:>5}{r['recorded']:>5}{r['parseable']:>5}  "
              f"{c['body']:<38}{c['query']:<26}{c['cookie']:<18}{c['referer']:<12}{c['other']}")
        notes = []
        if r["refused"]:
            notes.append("refused: " + ", ".join(f"{x} ×{r['refused'].count(x)}"
                                                 for x in sorted(set(r["refused"]))))
        if r["driver"].get("sdk_errors"):
            notes.append(f"sdk errors: {len(r['driver']['sdk_errors'])} "
                         f"({r['driver']['sdk_errors'][0][:90]})")
        if r["parse_errors"]:
            notes.append("unparseable: " + "; ".join(r["parse_errors"]))
        for n in notes:
            print(f"{'':<25}{n}")
    return leak


if __name__ == "__main__":
    main()
