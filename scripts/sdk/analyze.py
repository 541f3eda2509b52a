#!/usr/bin/env python3
"""Finds the test person's values in recorded requests, in every form the recipient decodes.

Each request is taken apart the way the vendor would read it: the query string and the body
(after Content-Encoding, or a gzip stream recognised by its magic bytes, or posthog-js's
`compression=gzip-js|base64` query parameter), form fields, JSON leaves (escapes decoded),
base64 / base64url strings that decode to JSON or text, URLs and their query parameters,
percent-encoding, the Cookie header's pairs, Referer and Origin, every other header. A value
is reported at the deepest place it was found, with the chain of decodings that led there,
e.g. `query > form:data > base64 > json:$.properties.$email`.

    python3 analyze.py RECORDINGS.jsonl [--person person.json] [--json]

Library use (run.py): `analyze(record, person) -> Report`.
"""

import base64
import binascii
import gzip
import json
import re
import sys
import urllib.parse
import zlib
from dataclasses import dataclass, field

FORM_RE = re.compile(r"^[^\s{}\"<>=&]+=[^\s{}\"<>]*$")
B64_RE = re.compile(r"^[A-Za-z0-9+/_-]{12,}={0,2}$")
# Per vendor: fields that carry a wrapped document; a request whose wrapped field does not
# decode is not parseable by the vendor either.
WRAPPED = {"mixpanel": ("data",), "snowplow": ("cx", "ue_px", "co", "ue_pr"),
           "segment": ("data",), "posthog": ("data",)}


@dataclass
class Hit:
    kind: str       # person.json `find` key: email, phone, name, …
    value: str      # the needle that matched
    location: str   # body | query | cookie | referer | origin | path | header:NAME
    chain: str      # how it was reached: "gzip > json:$.batch[0].traits.email"


@dataclass
class Report:
    hits: list = field(default_factory=list)
    parse_errors: list = field(default_factory=list)
    encodings: list = field(default_factory=list)   # e.g. "body:gzip(content-encoding)"

    @property
    def parseable(self):
        return not self.parse_errors


def needles(person):
    """Every needle in its plain, percent-encoded and JSON-escaped spellings, longest first."""
    found = set()
    for k, vs in person["find"].items():
        for v in vs:
            for form in (v, urllib.parse.quote(v, safe=""), urllib.parse.quote_plus(v),
                         json.dumps(v)[1:-1]):
                found.add((k, v, form.casefold()))
    return sorted(found, key=lambda x: (-len(x[2]), x[2]))


def printable(s):
    if not s:
        return False
    bad = sum(1 for c in s if (ord(c) < 32 and c not in "\t\r\n") or c == "\ufffd")
    return bad == 0


def b64_decode(s):
    """Standard or URL-safe alphabet, padded or not; None unless it decodes strictly."""
    t = s.strip()
    if not B64_RE.match(t):
        return None
    alt = "-_" if ("-" in t or "_" in t) else "+/"
    if alt == "-_" and ("+" in t or "/" in t):
        return None
    t = t.rstrip("=")
    t += "=" * (-len(t) % 4)
    try:
        return base64.b64decode(t, altchars=alt.encode(), validate=True)
    except (binascii.Error, ValueError):
        return None


def gunzip(b):
    try:
        return gzip.decompress(b)
    except (OSError, EOFError, zlib.error):
        return None


def json_leaves(doc, path="$"):
    if isinstance(doc, dict):
        for k, v in doc.items():
            key = f"{path}.{k}" if re.match(r"^[A-Za-z_$][\w$]*$", k) else f"{path}[{json.dumps(k)}]"
            yield key + "#key", k
            yield from json_leaves(v, key)
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from json_leaves(v, f"{path}[{i}]")
    elif isinstance(doc, str):
        yield path, doc
    elif doc is not None and not isinstance(doc, bool):
        yield path, json.dumps(doc)


class Walker:
    def __init__(self, person, report, location):
        self.needles = needles(person)
        self.report = report
        self.location = location

    def found(self, text):
        """Needles in the text, longest first; a match blanks its span so that a shorter
        needle inside it (the first name inside the email, the national number inside the
        E.164 phone) is not counted again. Names match as whole words."""
        t = text.casefold()
        out = set()
        for k, v, n in self.needles:
            if k == "name":
                m = re.search(r"(?<![\w])" + re.escape(n) + r"(?![\w])", t)
                if m is None:
                    continue
                i = m.start()
            else:
                i = t.find(n)
                if i < 0:
                    continue
            out.add((k, v))
            t = t.replace(n, "\0" * len(n))
        return out

    def text(self, s, chain, depth=0, form_hint=False):
        """Explores a string. A string that decomposes (JSON, form, URL, base64, percent) is
        fully covered by its parts, so only the parts report: each value is named at the
        deepest place it sits. Returns the hits found here or below."""
        parts = self.children(s, chain, depth, form_hint) if depth < 10 else None
        if parts is not None:
            return parts
        here = self.found(s)
        for k, v in sorted(here):
            self.report.hits.append(Hit(k, v, self.location, " > ".join(chain) or "(raw)"))
        return here

    def bytes_(self, b, chain, depth=0, form_hint=False):
        if b[:2] == b"\x1f\x8b":
            d = gunzip(b)
            if d is None:
                self.report.parse_errors.append(f"{self.location}: gzip magic but no gzip stream")
                return set()
            self.report.encodings.append(f"{self.location}: gzip (magic bytes)")
            return self.bytes_(d, chain + ["gzip"], depth + 1, form_hint)
        try:
            s = b.decode("utf-8")
        except UnicodeDecodeError:
            s = b.decode("latin-1")
            chain = chain + ["latin-1"]
        return self.text(s, chain, depth, form_hint)

    def children(self, s, chain, depth, form_hint):
        """The hits of the parts the string decomposes into, or None for a leaf."""
        st = s.strip()
        if st[:1] in "{[":
            try:
                doc = json.loads(st)
            except ValueError:
                doc = None
            if isinstance(doc, (dict, list)):
                out = set()
                for p, leaf in json_leaves(doc):
                    out |= self.text(leaf, chain + [f"json:{p}"], depth + 1)
                return out
        if re.match(r"^https?://[^\s]*$", st):
            u = urllib.parse.urlsplit(st)
            out = self.text(f"{u.scheme}://{u.netloc}{urllib.parse.unquote(u.path)}",
                            chain + ["url"], depth + 10)
            if u.query:
                out |= self.form(u.query, chain + ["url?"], depth + 1)
            if u.fragment:
                out |= self.text(u.fragment, chain + ["url#"], depth + 1)
            return out
        raw = None if form_hint else b64_decode(st)
        if raw is not None:
            alpha = "base64url" if re.search(r"[-_]", st) else "base64"
            if raw[:2] == b"\x1f\x8b":
                return self.bytes_(raw, chain + [alpha], depth + 1)
            try:
                d = raw.decode("utf-8")
            except UnicodeDecodeError:
                d = None
            if d is not None and printable(d):
                return self.text(d, chain + [alpha], depth + 1)
        lines = st.splitlines()
        if len(lines) > 1 and all(FORM_RE.match(l) for l in lines if l):
            # gtag batches hits: one query string per line.
            out = set()
            for i, l in enumerate(lines):
                out |= self.form(l, chain + [f"line[{i}]"], depth + 1)
            return out
        if form_hint or FORM_RE.match(st):
            return self.form(st, chain, depth + 1)
        if "%" in st:
            d = urllib.parse.unquote(st)
            if d != st:
                return self.text(d, chain + ["percent"], depth + 1)
        return None

    def form(self, s, chain, depth):
        out = set()
        try:
            pairs = urllib.parse.parse_qsl(s, keep_blank_values=True, strict_parsing=True,
                                           errors="strict")
        except (ValueError, UnicodeDecodeError):
            return self.text_plain_percent(s, chain, depth)
        for k, v in pairs:
            out |= self.text(k, chain + [f"form-name:{k}"], 99)
            out |= self.text(v, chain + [f"form:{k}"], depth + 1)
        return out

    def text_plain_percent(self, s, chain, depth):
        d = urllib.parse.unquote_plus(s)
        return self.text(d, chain + ["percent"], 99 if d == s else depth + 1)


def header_map(rec):
    m = {}
    for k, v in rec["headers"]:
        m.setdefault(k.lower(), []).append(v)
    return m


def analyze(rec, person):
    rep = Report()
    hm = header_map(rec)
    vendor = rec.get("vendor", "")
    query = rec.get("query") or ""
    qpairs = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    # Path and query.
    Walker(person, rep, "path").text(urllib.parse.unquote(rec["path"]), [])
    if query:
        Walker(person, rep, "query").form(query, [], 0)
    # Headers.
    for name, values in hm.items():
        for v in values:
            if name == "cookie":
                w = Walker(person, rep, "cookie")
                for pair in v.split(";"):
                    k, _, val = pair.strip().partition("=")
                    w.text(val, [f"cookie:{k}"], 1)
            elif name in ("referer", "origin"):
                Walker(person, rep, name).text(v, [])
            elif name not in ("host", "content-length", "content-type"):
                Walker(person, rep, f"header:{name}").text(v, [])
    # Body.
    body = base64.b64decode(rec.get("body_b64") or "")
    if body:
        ctype = (hm.get("content-type") or [""])[0].lower()
        cenc = (hm.get("content-encoding") or [""])[0].lower()
        chain = []
        if cenc in ("gzip", "x-gzip"):
            d = gunzip(body)
            if d is None:
                rep.parse_errors.append("body: content-encoding gzip does not decode")
                return rep
            body, chain = d, ["gzip(content-encoding)"]
            rep.encodings.append("body: gzip (Content-Encoding)")
        elif cenc and cenc != "identity":
            rep.encodings.append(f"body: {cenc} (Content-Encoding, not decoded here)")
        comp = qpairs.get("compression")
        if comp == "gzip-js":
            rep.encodings.append("body: gzip (compression=gzip-js query)")
            if body[:2] != b"\x1f\x8b":
                rep.parse_errors.append("body: compression=gzip-js but not a gzip stream")
        elif comp == "base64":
            rep.encodings.append("body: form data=base64 (compression=base64 query)")
        elif body[:2] == b"\x1f\x8b" and not chain:
            rep.encodings.append("body: gzip stream, signalled by magic bytes only")
        is_form = "form-urlencoded" in ctype
        w = Walker(person, rep, "body")
        w.bytes_(body, chain, 0, form_hint=is_form)
        # Can the vendor parse it?
        try:
            raw = gunzip(body) if body[:2] == b"\x1f\x8b" else body
            text = raw.decode("utf-8")
            if is_form or comp == "base64":
                pairs = dict(urllib.parse.parse_qsl(text, keep_blank_values=True,
                                                    strict_parsing=True))
                for f in WRAPPED.get(vendor, ()):
                    if f in pairs:
                        check_wrapped(pairs[f], f, rep, "body")
            elif "json" in ctype or "text/plain" in ctype or not ctype:
                if text.strip():
                    if "\n" in text.strip() and vendor == "ga4":
                        # gtag batches: one query string per line, each as GA reads it.
                        for line in text.splitlines():
                            urllib.parse.parse_qsl(line, keep_blank_values=True,
                                                   strict_parsing=bool(line), errors="strict")
                    else:
                        doc = json.loads(text)
                        for ev in (doc.get("data") or []) if isinstance(doc, dict) else []:
                            if isinstance(ev, dict):
                                for f in WRAPPED.get(vendor, ()):
                                    if f in ev and vendor == "snowplow":
                                        check_wrapped(ev[f], f, rep, "body")
        except (ValueError, UnicodeDecodeError, AttributeError, TypeError) as e:
            rep.parse_errors.append(f"body: {type(e).__name__}")
    for f in WRAPPED.get(vendor, ()):
        if f in qpairs:
            check_wrapped(qpairs[f], f, rep, "query")
    return rep


def check_wrapped(value, name, rep, where):
    raw = b64_decode(value)
    if raw is None:
        try:
            json.loads(value)  # Mixpanel also accepts plain JSON in `data`
            rep.encodings.append(f"{where}: {name} = JSON")
            return
        except ValueError:
            rep.parse_errors.append(f"{where}: {name} neither base64 nor JSON")
            return
    alpha = ("base64url" if re.search(r"[-_]", value) else
             "base64" if re.search(r"[+/]", value) else "base64 (either alphabet)")
    pad = ("padded" if value.endswith("=") else
           "unpadded" if len(value) % 4 else "length needs no padding")
    try:
        json.loads(raw.decode("utf-8"))
        rep.encodings.append(f"{where}: {name} = {alpha} ({pad}) JSON")
    except (ValueError, UnicodeDecodeError):
        rep.parse_errors.append(f"{where}: {name} base64 but not JSON")


def load_person(path=None):
    import os
    return json.load(open(path or os.path.join(os.path.dirname(__file__), "person.json")))


def summary(paths, person):
    """Per client file: endpoints with their content types and encodings, and each value's
    places with array indices folded to [*] (the shape docs/PRESETS.md is written from)."""
    import glob
    import os
    files = []
    for p in paths:
        files += sorted(glob.glob(os.path.join(p, "*", "*.jsonl"))) if os.path.isdir(p) else [p]
    print("# Where the test person's values sit, per client\n")
    print("Generated by `python3 scripts/sdk/analyze.py --summary tests/data/sdk` from the recorded")
    print("requests beside this file (see README.md here and docs/PRESETS.md). Per client: each")
    print("endpoint with its content type, coding and query keys, the encodings found, then every")
    print("place a value of the person sits (array indices folded to `[*]`) and which values.\n")
    for f in files:
        recs = [json.loads(l) for l in open(f, encoding="utf-8")]
        print(f"### {os.path.relpath(f)}\n")
        ends = {}
        places = {}
        for rec in recs:
            rep = analyze(rec, person)
            hm = header_map(rec)
            q = rec.get("query")
            qkeys = ",".join(k for k, _ in urllib.parse.parse_qsl(q or "", keep_blank_values=True))
            key = (rec["method"], rec["path"], (hm.get("content-type") or ["-"])[0],
                   (hm.get("content-encoding") or ["-"])[0], qkeys)
            e = ends.setdefault(key, set())
            e.update(rep.encodings)
            for h in rep.hits:
                chain = re.sub(r"\[\d+\]", "[*]", h.chain)
                chain = re.sub(r"line\[\*\]", "line", chain)
                places.setdefault((h.location, chain), set()).add(h.kind)
        for (m, path, ct, ce, qk), enc in ends.items():
            print(f"- `{m} {path}` content-type `{ct}`, content-encoding `{ce}`"
                  + (f", query keys `{qk}`" if qk else "")
                  + ("; " + "; ".join(sorted(enc)) if enc else ""))
        print()
        for (loc, chain), kinds in sorted(places.items()):
            print(f"  - {loc}: `{chain}` — {', '.join(sorted(kinds))}")
        print()


def main():
    args = sys.argv[1:]
    if args and args[0] == "--summary":
        summary(args[1:], load_person())
        return
    person = load_person(args[args.index("--person") + 1] if "--person" in args else None)
    as_json = "--json" in args
    for line in open(args[0], encoding="utf-8"):
        rec = json.loads(line)
        rep = analyze(rec, person)
        if as_json:
            print(json.dumps({"seq": rec["seq"], "vendor": rec["vendor"], "method": rec["method"],
                              "path": rec["path"], "parseable": rep.parseable,
                              "parse_errors": rep.parse_errors, "encodings": rep.encodings,
                              "hits": [h.__dict__ for h in rep.hits]}, ensure_ascii=False))
            continue
        print(f"#{rec['seq']} {rec['vendor']} {rec['method']} {rec['path']}"
              f"{' parseable' if rep.parseable else ' NOT PARSEABLE ' + str(rep.parse_errors)}")
        for e in sorted(set(rep.encodings)):
            print(f"    encoding  {e}")
        for h in rep.hits:
            print(f"    {h.kind:<14} {h.location:<10} {h.chain}")


if __name__ == "__main__":
    main()
