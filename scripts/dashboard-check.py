"""Checks the Grafana dashboard: valid JSON, unique panel ids, and every metric its queries
name is one piigate exports (registered in src/telemetry/metrics.rs or process.rs), with the
suffixes Prometheus adds (_total for counters, _bucket/_sum/_count for histograms).

    python3 scripts/dashboard-check.py deploy/grafana/piigate.json
"""
import json
import re
import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
dash = json.loads(Path(sys.argv[1]).read_text())
src = (root / "src/telemetry/metrics.rs").read_text()
proc = (root / "src/telemetry/process.rs").read_text()

known = set()
for name in re.findall(r'register\(\s*"([a-z_]+)"', src):
    for suffix in ("", "_total", "_bucket", "_sum", "_count"):
        known.add(f"piigate_{name}{suffix}")
for name in re.findall(r'"(process_[a-z_]+)"', proc):
    known.update({name, name + "_total"})

ids = [p["id"] for p in dash["panels"]]
assert len(ids) == len(set(ids)), "panel ids must be unique"
used = set()
for p in dash["panels"]:
    for t in p.get("targets", []):
        used.update(re.findall(r"\b((?:piigate|process)_[a-z_]+)", t["expr"]))
unknown = sorted(used - known)
if unknown:
    sys.exit(f"dashboard queries metrics piigate does not export: {', '.join(unknown)}")
print(f"{sys.argv[1]}: {len(ids)} panels, {len(used)} metrics, all exported")
