#!/usr/bin/env python3
"""Reads h2load's report on stdin and prints the load script's one-line JSON summary.

h2load gives totals and a mean request time, not percentiles: p50/p99 stay null for HTTP/2.
Fails (exit 1) when the report has no totals.
"""

import json
import re
import sys

UNIT_US = {"us": 1.0, "ms": 1e3, "s": 1e6}


def duration_us(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * UNIT_US[m.group(2)]


def main():
    out = sys.stdin.read()
    fin = re.search(r"finished in ([\d.]+(?:us|ms|s)), ([\d.]+) req/s", out)
    req = re.search(
        r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored",
        out,
    )
    status = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", out)
    if not (fin and req and status):
        sys.exit(1)
    done = int(req.group(3))
    print(
        json.dumps(
            {
                "requests": done,
                "duration_us": int(duration_us(fin.group(1))),
                "socket_errors": int(req.group(5)) + int(req.group(6)),
                "non2xx": int(status.group(2)) + int(status.group(3)) + int(status.group(4)),
                "p50_us": None,
                "p99_us": None,
                "mean_us": duration_us(mean.group(1)) if mean else None,
            }
        )
    )


if __name__ == "__main__":
    main()
