#!/usr/bin/env python3
"""Turns scripts/load.sh's raw wrk results into the Markdown table of docs/BENCHMARKS.md.

Reads one JSON object per line ({"size","transport","target","run","wrk":{…}}), takes the
median of the runs per point, puts each piigate variant next to nginx on the same point and
checks issue 3's end-to-end targets. With --write FILE, replaces the text between the
`<!-- load.sh:begin -->` and `<!-- load.sh:end -->` markers of FILE (appending an "End to end"
section with the markers when there are none); otherwise prints the table.
"""

import argparse
import json
import statistics
import sys
from collections import defaultdict

BEGIN = "<!-- load.sh:begin -->"
END = "<!-- load.sh:end -->"

# Issue 3: piigate RPS ≥ this × nginx's on the same point; p99 ≤ 1.25 × nginx's everywhere.
RPS_TARGET = {("1k", "http"): 0.9, ("1k", "tls"): 1.0, ("16k", "http"): 0.6}
P99_TARGET = 1.25
SIZE_LABEL = {"1k": "1 KB event", "16k": "16 KB batch"}
TRANSPORT_LABEL = {"http": "HTTP/1.1", "tls": "HTTP/1.1 + TLS 1.3"}


def ms(us):
    return f"{us / 1000:.2f} ms"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--started", required=True)
    ap.add_argument("--machine", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--conns", required=True)
    ap.add_argument("--duration", required=True)
    ap.add_argument("--runs", required=True)
    ap.add_argument("--write")
    a = ap.parse_args()

    runs = defaultdict(list)
    order = []
    with open(a.results, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            key = (r["size"], r["transport"], r["target"])
            if key not in runs:
                order.append(key)
            runs[key].append(dict(r["wrk"], cpu_s=r.get("cpu_s")))

    points = {}
    for key, rs in runs.items():
        rps = [w["requests"] / (w["duration_us"] / 1e6) for w in rs]
        points[key] = {
            "rps": statistics.median(rps),
            "rps_min": min(rps),
            "rps_max": max(rps),
            "p50": statistics.median(w["p50_us"] for w in rs),
            "p99": statistics.median(w["p99_us"] for w in rs),
            "errors": sum(w["socket_errors"] + w["non2xx"] for w in rs),
            # Server CPU time per request, over all runs: robust against a busy machine, where
            # RPS only says how much of its core the server managed to get.
            "cpu_us": (
                1e6 * sum(w["cpu_s"] for w in rs) / sum(w["requests"] for w in rs)
                if all(w.get("cpu_s") is not None for w in rs)
                else None
            ),
        }

    lines = [
        f"Run {a.started} by `scripts/load.sh`: {a.machine}.",
        "",
        "```sh",
        a.command,
        "```",
        "",
        f"wrk, 1 thread, {a.conns} keep-alive connections, {a.duration} s per run, median of "
        f"{a.runs} runs after a warm-up (RPS range over the runs in brackets). Ratios are "
        "against nginx on the same point. CPU/req is the serving process's user + system CPU "
        "time per request (the upstream's nginx for `direct`, the proxy for the others; clock "
        "ticks summed over all runs): on a shared machine RPS also depends on how much of its "
        "core a server got, CPU/req much less. ✅/❌ is issue 3's target for that point "
        f"(RPS ≥ 0.9× on 1 KB, ≥ 1.0× with TLS 1.3, ≥ 0.6× on 16 KB; p99 ≤ {P99_TARGET}×).",
        "",
        "| payload | transport | server | RPS | p50 | p99 | CPU/req | RPS ÷ nginx | p99 ÷ nginx | CPU ÷ nginx | errors |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    misses = []
    for key in order:
        size, transport, target = key
        p = points[key]
        base = points.get((size, transport, "nginx"))
        rps_ratio = p99_ratio = cpu_ratio = ""
        if base and target.startswith("piigate"):
            rr = p["rps"] / base["rps"]
            pr = p["p99"] / base["p99"]
            goal = RPS_TARGET.get((size, transport))
            mark = "" if goal is None else (" ✅" if rr >= goal else " ❌")
            rps_ratio = f"{rr:.2f}×{mark}"
            p99_ratio = f"{pr:.2f}×{' ✅' if pr <= P99_TARGET else ' ❌'}"
            if p["cpu_us"] and base["cpu_us"]:
                cpu_ratio = f"{p['cpu_us'] / base['cpu_us']:.2f}×"
            if goal is not None and rr < goal:
                misses.append(f"{target} {size} {transport}: RPS {rr:.2f}× < {goal}×")
            if pr > P99_TARGET:
                misses.append(f"{target} {size} {transport}: p99 {pr:.2f}× > {P99_TARGET}×")
        cpu = "" if p["cpu_us"] is None else f"{p['cpu_us']:.0f} µs"
        lines.append(
            f"| {SIZE_LABEL.get(size, size)} | {TRANSPORT_LABEL.get(transport, transport)} "
            f"| {target} | {p['rps']:,.0f} [{p['rps_min']:,.0f}–{p['rps_max']:,.0f}] "
            f"| {ms(p['p50'])} | {ms(p['p99'])} | {cpu} "
            f"| {rps_ratio} | {p99_ratio} | {cpu_ratio} | {p['errors']} |"
        )
    lines.append("")
    if misses:
        lines.append("Targets missed in this run: " + "; ".join(misses) + ".")
    else:
        lines.append("Every target was met in this run.")
    table = "\n".join(lines)

    if not a.write:
        print(table)
        return
    with open(a.write, encoding="utf-8") as f:
        doc = f.read()
    block = f"{BEGIN}\n{table}\n{END}"
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        doc = head + block + tail
    else:
        doc = doc.rstrip("\n") + "\n\n## End to end\n\n" + block + "\n"
    with open(a.write, "w", encoding="utf-8") as f:
        f.write(doc)
    print(table)
    print(f"written to {a.write}", file=sys.stderr)


if __name__ == "__main__":
    main()
