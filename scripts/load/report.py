#!/usr/bin/env python3
"""Turns scripts/load.sh's raw results into the Markdown of docs/BENCHMARKS.md.

Reads one JSON object per line ({"scenario","size","transport","target","run","cpu_s",
"load":{…}}), takes the median of the runs per point, puts the shell (piigate without rules)
and the typical policy next to nginx on the same point and checks the end-to-end targets.
With --write FILE, replaces the text between the mode's markers in FILE (appending them when
absent); otherwise prints the text.
"""

import argparse
import json
import statistics
import sys
from collections import defaultdict

MARKERS = {
    "matrix": ("<!-- load.sh:begin -->", "<!-- load.sh:end -->"),
    "scaling": ("<!-- load.sh scaling:begin -->", "<!-- load.sh scaling:end -->"),
}
SIZE_LABEL = {"1k": "1 KB event", "16k": "16 KB batch", "16kp": "16 KB batch, one person"}
TRANSPORT_LABEL = {
    "http": "HTTP/1.1",
    "tls": "HTTP/1.1 + TLS 1.3",
    "h2": "HTTP/2 + TLS 1.3",
}

# The targets: (what, size, transport, goal, sense).
SHELL_CPU = 0.9
POLICY_RPS = {
    ("1k", "http"): 0.9,
    ("1k", "tls"): 1.0,
    ("16k", "http"): 0.6,
    ("16k", "tls"): 0.6,
    ("16kp", "http"): 0.6,
    ("16kp", "tls"): 0.6,
}
POLICY_P99 = {("1k", "http"): 1.25, ("1k", "tls"): 1.25}


def ms(us):
    return "" if us is None else f"{us / 1000:.2f} ms"


def load_points(path):
    runs = defaultdict(list)
    order = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            key = (r["size"], r["transport"], r["target"])
            if key not in runs:
                order.append(key)
            runs[key].append(dict(r["load"], cpu_s=r.get("cpu_s")))
    points = {}
    for key, rs in runs.items():
        rps = [w["requests"] / (w["duration_us"] / 1e6) for w in rs]
        cpu = [1e6 * w["cpu_s"] / w["requests"] for w in rs if w["requests"]]
        p50 = [w["p50_us"] for w in rs if w.get("p50_us") is not None]
        p99 = [w["p99_us"] for w in rs if w.get("p99_us") is not None]
        mean = [w["mean_us"] for w in rs if w.get("mean_us") is not None]
        points[key] = {
            "rps": statistics.median(rps),
            "rps_min": min(rps),
            "rps_max": max(rps),
            "p50": statistics.median(p50) if p50 else None,
            "p99": statistics.median(p99) if p99 else None,
            "mean": statistics.median(mean) if mean else None,
            "cpu_us": statistics.median(cpu) if cpu else None,
            "errors": sum(w["socket_errors"] + w["non2xx"] for w in rs),
        }
    return order, points


def kind(target):
    """direct, nginx, shell or policy, whatever the suffix (-tls, -pc, -w2…)."""
    for k in ("direct", "nginx", "shell", "policy"):
        if target.startswith(k):
            return k
    return target


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def fmt_ratio(r):
    return "" if r is None else f"{r:.2f}×"


def matrix(order, points):
    lines = [
        "| payload | transport | server | CPU/req | RPS | p50 | p99 | CPU ÷ nginx | RPS ÷ nginx | p99 ÷ nginx | errors |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    checks = []
    for key in order:
        size, transport, target = key
        p = points[key]
        base = next(
            (points[k] for k in order if k[:2] == key[:2] and kind(k[2]) == "nginx"), None
        )
        direct = points.get((size, "http", "direct"))
        cpu_r = rps_r = p99_r = None
        if base and kind(target) in ("shell", "policy"):
            cpu_r = ratio(p["cpu_us"], base["cpu_us"])
            rps_r = ratio(p["rps"], base["rps"])
            p99_r = ratio(p["p99"], base["p99"])
        latency = ms(p["p50"]) if p["p50"] is not None else ""
        if p["p50"] is None and p["mean"] is not None:
            latency = f"{ms(p['mean'])} (mean)"
        cpu = "" if p["cpu_us"] is None else f"{p['cpu_us']:.1f} µs"
        lines.append(
            f"| {SIZE_LABEL.get(size, size)} | {TRANSPORT_LABEL.get(transport, transport)} "
            f"| {target} | {cpu} | {p['rps']:,.0f} [{p['rps_min']:,.0f}–{p['rps_max']:,.0f}] "
            f"| {latency} | {ms(p['p99'])} | {fmt_ratio(cpu_r)} | {fmt_ratio(rps_r)} "
            f"| {fmt_ratio(p99_r)} | {p['errors']} |"
        )
        point = f"{SIZE_LABEL.get(size, size)}, {TRANSPORT_LABEL.get(transport, transport)}"
        # With every server on one core the RPS a proxy reaches is set by its CPU per request
        # plus the upstream's; this is the RPS ratio its CPU figures imply, for noisy runs.
        implied = None
        if base and direct and p["cpu_us"] and base["cpu_us"] and direct["cpu_us"]:
            implied = (base["cpu_us"] + direct["cpu_us"]) / (p["cpu_us"] + direct["cpu_us"])
        if kind(target) == "shell" and cpu_r is not None:
            checks.append(
                (f"{target}: CPU/req ÷ nginx", point, cpu_r, f"≤ {SHELL_CPU}×", cpu_r <= SHELL_CPU, None)
            )
        if kind(target) == "policy":
            goal = POLICY_RPS.get((size, transport))
            if goal is not None and rps_r is not None:
                checks.append(
                    (f"{target}: RPS ÷ nginx", point, rps_r, f"≥ {goal:g}×", rps_r >= goal, implied)
                )
            goal = POLICY_P99.get((size, transport))
            if goal is not None and p99_r is not None:
                checks.append(
                    (f"{target}: p99 ÷ nginx", point, p99_r, f"≤ {goal:g}×", p99_r <= goal, None)
                )
    lines += [
        "",
        "| target | point | measured | goal | met | RPS ratio its CPU implies |",
        "| --- | --- | ---: | ---: | :---: | ---: |",
    ]
    for what, point, got, goal, met, implied in checks:
        lines.append(
            f"| {what} | {point} | {got:.2f}× | {goal} | {'✅' if met else '❌'} "
            f"| {fmt_ratio(implied)} |"
        )
    met = sum(1 for c in checks if c[4])
    lines += ["", f"Targets met in this run: {met} of {len(checks)}."]
    return lines


def scaling(order, points):
    lines = [
        "| server | workers | CPU/req | RPS | p99 | RPS, 2 ÷ 1 workers | RPS ÷ nginx (same workers) | CPU ÷ nginx |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    by = {}
    for key in order:
        name, _, w = key[2].rpartition("-w")
        by[(name, int(w))] = points[key]
    for (name, w), p in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][0] != "nginx", kv[0][0])):
        one = by.get((name, 1))
        base = by.get(("nginx", w))
        scale = ratio(p["rps"], one["rps"]) if (one and w == 2) else None
        vs = ratio(p["rps"], base["rps"]) if (base and name != "nginx") else None
        cpu_vs = ratio(p["cpu_us"], base["cpu_us"]) if (base and name != "nginx") else None
        lines.append(
            f"| {name} | {w} | {p['cpu_us']:.1f} µs | {p['rps']:,.0f} [{p['rps_min']:,.0f}–{p['rps_max']:,.0f}] "
            f"| {ms(p['p99'])} | {fmt_ratio(scale)} | {fmt_ratio(vs)} | {fmt_ratio(cpu_vs)} |"
        )
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", default="matrix", choices=sorted(MARKERS))
    ap.add_argument("--results", required=True)
    ap.add_argument("--started", required=True)
    ap.add_argument("--machine", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--conns", required=True)
    ap.add_argument("--duration", required=True)
    ap.add_argument("--runs", required=True)
    ap.add_argument("--write")
    a = ap.parse_args()

    order, points = load_points(a.results)
    lines = [
        f"Run {a.started} by `scripts/load.sh`: {a.machine}.",
        "",
        "```sh",
        a.command,
        "```",
        "",
        f"{a.conns} keep-alive connections (wrk, one thread; h2load: 8 connections × "
        f"{int(a.conns) // 8} streams), {a.duration} s per run, medians of {a.runs} rounds "
        "that alternate the servers (RPS range in brackets). CPU/req is the serving process's "
        "user + system CPU time per request (all its threads; the upstream's for `direct`). "
        "Ratios are against nginx on the same point.",
        "",
    ]
    lines += matrix(order, points) if a.mode == "matrix" else scaling(order, points)
    text = "\n".join(lines)

    if not a.write:
        print(text)
        return
    begin, end = MARKERS[a.mode]
    with open(a.write, encoding="utf-8") as f:
        doc = f.read()
    block = f"{begin}\n{text}\n{end}"
    if begin in doc and end in doc:
        head, rest = doc.split(begin, 1)
        _, tail = rest.split(end, 1)
        doc = head + block + tail
    else:
        doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    with open(a.write, "w", encoding="utf-8") as f:
        f.write(doc)
    print(text)
    print(f"written to {a.write}", file=sys.stderr)


if __name__ == "__main__":
    main()
