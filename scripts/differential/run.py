#!/usr/bin/env python3
"""The differential suite: adversarial request shapes through piigate to real parsers.

Starts one echo upstream per parser recipients really run (Werkzeug/Flask, Django's
QueryDict, express with body-parser/qs, PHP's built-in server, Rack on WEBrick, Go's
net/http ParseForm), each answering with what it parsed (path, query, form, JSON, headers),
and one piigate in front of them. Per parser P, piigate has:

  /P/policed -> upstream /policed   rules on $..email, form:/query: email and user_email,
                                    header:x-user-email (action redact); cookie:sp kept
  /P/open    -> upstream /open      no rules
  /P         -> upstream /          no rules (a catch-all, the dangerous neighbour)

Every shape of the generated corpus (header duplications, encodings, separators, name
variants, path forms, content types, codings, over HTTP/1.1 and HTTP/2) carries a canary where
some reading of the request puts it under a name a rule names. A shape is

  refused  when piigate answered with its JSON error (nothing was forwarded),
  held     when it was forwarded and no parser read the canary under a named field (or, for
           path shapes, no plausible reading of the path the parser saw reaches /policed
           while the canary is visible),
  leaked   otherwise.

Controls are ordinary requests that must be forwarded and parsed as sent (a policed field
redacted, the other fields intact; on the open route the value itself).

Prints a table (shape class x parser: held / leaked / refused), writes it to
target/differential/last-run.md (and into docs/BOUNDARY.md with --update-docs), and exits 1
on any leak or failed control.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import h2.config
import h2.connection
import h2.events

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TARGET = ROOT / "target" / "differential"
CANARY = "zq7canaryx4"
NAMED_FIELDS = {"email", "user_email"}
NAMED_HEADER = "x-user-email"
PARSERS = ["flask", "django", "express", "php", "phpn", "laravel", "rack", "rails", "go", "gostruct"]
# The selectors of each policed route, as paths of member names a parser may read the canary
# under (`None`: `email` and `user_email` at any depth). Every route redacts.
ROUTE_RULES = {
    "policed": None,
    "query": [("email",), ("user_email",)],
    "form": [("email",), ("user_email",)],
    "json": [("email",), ("user_email",), ("user", "email")],
}
# Where a parser reports what it read: form and query fields, merged parameters (PHP's
# $_REQUEST, Flask's values, Rack/Rails params, Laravel's input(), express's req.param), a
# JSON body, the fields a Go struct bound, and a compressed body as an application inflating
# it with the first-stream idiom reads it (Flask's echo).
PARTS = ("form", "query", "params", "json", "bound", "inflated")


# ---------------------------------------------------------------------------------------------
# Shapes


@dataclass
class Shape:
    cls: str
    name: str
    method: str
    target: str  # with {P} for the parser's prefix
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    h1: bool = True
    h2: bool = True
    control: str | None = None  # "policed", "open" or "forwarded": must pass as sent
    raw_h1: bytes | None = None  # exact HTTP/1.1 bytes (with {P}); overrides the above
    authority: str | None = None  # h2 :authority when it must differ from the default


FORM = (b"content-type", b"application/x-www-form-urlencoded")
JSON_CT = (b"content-type", b"application/json")
C = CANARY

NAME_VARIANTS = [
    # (label, encoded name)
    ("plain", "email"),
    ("upper", "EMAIL"),
    ("title", "Email"),
    ("escaped_first", "%65mail"),
    ("escaped_mid", "e%6Dail"),
    ("escaped_lower_hex", "e%6dail"),
    ("double_escaped", "%2565mail"),
    ("plus_lead", "+email"),
    ("plus_trail", "email+"),
    ("space_lead", "%20email"),
    ("space_trail", "email%20"),
    ("tab_lead", "%09email"),
    ("nbsp_lead", "%C2%A0email"),
    ("nul_suffix", "email%00"),
    ("nul_mid", "email%00x"),
    ("brackets_empty", "email[]"),
    ("brackets_index", "email[0]"),
    ("brackets_key", "email[a]"),
    ("brackets_escaped", "email%5B%5D"),
    ("leading_bracket", "[email]"),
    ("leading_bracket_escaped", "%5Bemail%5D"),
    ("close_bracket", "email]"),
    ("open_bracket", "email["),
    ("inner_bracket", "e[m]ail"),
    ("php_dot", "user.email"),
    ("php_space", "user+email"),
    ("php_space_escaped", "user%20email"),
    ("php_open_bracket", "user[email"),
    ("php_dot_escaped", "user%2Eemail"),
    ("underscore", "user_email"),
    ("underscore_upper", "USER_EMAIL"),
    ("dotless_i", "ema%C4%B1l"),
    ("long_s", "u%C5%BFer_email"),
    ("kelvin", "user_email"),  # control-like: the real name
    ("overlong", "%C0%E5mail"),
    ("percent_u", "%u0065mail"),
    ("trailing_percent", "email%"),
    ("semicolon_name", "email;"),
]

PLACEMENTS = [
    ("alone", "{n}=" + C),
    ("after_pair", "a=1&{n}=" + C),
    ("dup_last", "{n}=safe&{n}=" + C),
    ("dup_first", "{n}=" + C + "&{n}=safe"),
]


def corpus() -> list[Shape]:
    shapes: list[Shape] = []

    def form(cls, name, body, headers=None, **kw):
        shapes.append(
            Shape(cls, name, "POST", "{P}/policed/x", [FORM] + (headers or []), body.encode(), **kw)
        )

    def query(cls, name, q, **kw):
        shapes.append(Shape(cls, name, "GET", "{P}/policed/x?" + q, [], b"", **kw))

    # Field names a framework folds, renames or trims, in every placement.
    for label, n in NAME_VARIANTS:
        for where, tpl in PLACEMENTS:
            form("form-name", f"{label}/{where}", tpl.format(n=n))
        for where, tpl in PLACEMENTS[:3]:
            query("query-name", f"{label}/{where}", tpl.format(n=n))

    # Pair separators and what hides a pair inside another.
    separators = [
        ("semicolon", "a=1;email=" + C),
        ("semicolon_space", "a=1; email=" + C),
        ("semicolon_first", "email=" + C + ";a=1"),
        ("html_amp", "a=1&amp;email=" + C),
        ("double_amp", "a=1&&email=" + C + "&"),
        ("leading_amp", "&email=" + C),
        ("encoded_amp", "a=1%26email%3D" + C),
        ("tab_separator", "a=1%09email=" + C),
        ("newline_separator", "a=1%0Aemail=" + C),
        ("question_mark", "a=1?email=" + C),
        ("name_without_value", "email&email=" + C),
        ("equals_in_value", "email==" + C),
        ("empty_name", "=" + C + "&email=" + C),
        ("comma", "a=1,email=" + C),
    ]
    for label, body in separators:
        form("separator", "form/" + label, body)
        query("separator", "query/" + label, body)

    # Escapes and encodings of values and names.
    encodings = [
        ("value_escaped", "email=%7A%71%37" + C[3:]),
        ("value_plus", "email=" + C + "+x"),
        ("value_invalid_escape", "email=" + C + "%zz"),
        ("value_percent_u", "email=%u007A" + C[1:]),
        ("value_latin1", "email=" + C + "%E9"),
        ("value_overlong", "email=" + C + "%C0%AE"),
        ("value_nul", "email=" + C + "%00"),
        ("name_latin1", "%E9mail=" + C),
        ("name_utf16", "e%00m%00a%00i%00l%00=" + C),
        ("value_double_escaped", "email=%257A" + C[1:]),
        ("value_crlf", "email=" + C + "%0D%0Ax-user-email:%20" + C),
    ]
    for label, body in encodings:
        form("encoding", "form/" + label, body)
        query("encoding", "query/" + label, body)

    # Content types: duplicated, listed, parametrised, mislabelled.
    fbody = ("email=" + C + "&plan=pro").encode()
    jbody = json.dumps({"email": C, "plan": "pro"}).encode()
    hidden = json.dumps({"x": "&email=" + C + "&", "plan": "pro"}).encode()
    ct = [
        ("form_then_json", [FORM, JSON_CT], fbody),
        ("json_then_form", [JSON_CT, FORM], fbody),
        ("json_then_form_hidden", [JSON_CT, FORM], hidden),
        ("form_then_json_json_body", [FORM, JSON_CT], jbody),
        ("text_then_form", [(b"content-type", b"text/plain"), FORM], fbody),
        ("listed_json_form", [(b"content-type", b"application/json, application/x-www-form-urlencoded")], hidden),
        ("listed_form_json", [(b"content-type", b"application/x-www-form-urlencoded, application/json")], fbody),
        ("listed_no_space", [(b"content-type", b"application/json,application/x-www-form-urlencoded")], hidden),
        ("charset_utf7", [(b"content-type", b"application/x-www-form-urlencoded; charset=utf-7")], b"email=+AHoAcQA3-canaryx4"),
        ("charset_latin1", [(b"content-type", b"application/x-www-form-urlencoded; charset=iso-8859-1")], fbody),
        ("charset_utf16", [(b"content-type", b"application/x-www-form-urlencoded; charset=utf-16")], fbody),
        ("charset_rfc2231", [(b"content-type", b"application/x-www-form-urlencoded; charset*=utf-8''utf-7")], fbody),
        ("charset_twice", [(b"content-type", b"application/x-www-form-urlencoded; charset=utf-8; charset=utf-7")], fbody),
        ("charset_quoted", [(b"content-type", b'application/x-www-form-urlencoded; charset="utf-8"')], fbody),
        ("charset_upper", [(b"content-type", b"APPLICATION/X-WWW-FORM-URLENCODED; CHARSET=UTF-8")], fbody),
        ("boundary_on_form", [(b"content-type", b"application/x-www-form-urlencoded; boundary=x")], fbody),
        ("space_before_semicolon", [(b"content-type", b"application/x-www-form-urlencoded ; charset=utf-8")], fbody),
        ("no_content_type_form", [], fbody),
        ("no_content_type_hidden", [], hidden),
        ("text_plain_form", [(b"content-type", b"text/plain")], fbody),
        ("text_plain_hidden", [(b"content-type", b"text/plain;charset=UTF-8")], hidden),
        ("form_label_json_body", [FORM], jbody),
        ("form_label_json_array", [FORM], json.dumps([{"email": C}]).encode()),
        ("json_label_form_body", [JSON_CT], fbody),
        ("json_utf16", [(b"content-type", b"application/json; charset=utf-16")], jbody.decode().encode("utf-16")),
        ("octet_stream_form", [(b"content-type", b"application/octet-stream")], fbody),
        ("multipart", [(b"content-type", b"multipart/form-data; boundary=XyZ")],
         ("--XyZ\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\n" + C + "\r\n--XyZ--\r\n").encode()),
        ("content_type_underscore", [JSON_CT, (b"content_type", b"application/x-www-form-urlencoded")], hidden),
        ("content_type_only_underscore", [(b"content_type", b"application/x-www-form-urlencoded")], fbody),
        ("vnd_json", [(b"content-type", b"application/vnd.api+json")], jbody),
    ]
    for label, hs, body in ct:
        shapes.append(Shape("content-type", label, "POST", "{P}/policed/x", hs, body))

    # Content codings.
    gz = gzip.compress(fbody)
    two_members = gzip.compress(b"plan=pro&") + gzip.compress(("email=" + C).encode())
    ce = [
        ("gzip", [FORM, (b"content-encoding", b"gzip")], gz),
        ("gzip_upper", [FORM, (b"content-encoding", b"GZIP")], gz),
        ("x_gzip", [FORM, (b"content-encoding", b"x-gzip")], gz),
        ("gzip_identity", [FORM, (b"content-encoding", b"gzip, identity")], gz),
        ("identity_gzip", [FORM, (b"content-encoding", b"identity,gzip")], gz),
        ("two_lines", [FORM, (b"content-encoding", b"gzip"), (b"content-encoding", b"identity")], gz),
        ("identity_only", [FORM, (b"content-encoding", b"identity")], fbody),
        ("deflate_raw", [FORM, (b"content-encoding", b"deflate")], zlib.compress(fbody)[2:-4]),
        ("two_members", [FORM, (b"content-encoding", b"gzip")], two_members),
        ("unknown", [FORM, (b"content-encoding", b"compress")], fbody),
        ("underscore", [FORM, (b"content_encoding", b"gzip")], gz),
        ("empty_elements", [FORM, (b"content-encoding", b" ,gzip,,")], gz),
    ]
    for label, hs, body in ce:
        shapes.append(Shape("content-encoding", label, "POST", "{P}/policed/x", hs, body))

    # Header names servers fold together.
    hdr = [
        ("dash", [(b"x-user-email", C.encode())]),
        ("underscore", [(b"x_user_email", C.encode())]),
        ("upper_underscore", [(b"X_USER_EMAIL", C.encode())]),
        ("both_spellings", [(b"x-user-email", b"safe"), (b"x_user_email", C.encode())]),
        ("both_spellings_reversed", [(b"x_user_email", C.encode()), (b"x-user-email", b"safe")]),
        ("mixed", [(b"x-user_email", C.encode())]),
        ("repeated", [(b"x-user-email", b"safe"), (b"x-user-email", C.encode())]),
        ("obs_text", [(b"x-user-email", C.encode() + b"\xe9")]),
        ("upper", [(b"X-User-Email", C.encode())]),
    ]
    for label, hs in hdr:
        h2_ok = not any(n != n.lower() for n, _ in hs)
        shapes.append(Shape("header", label, "POST", "{P}/policed/x", [FORM] + hs, b"plan=pro", h2=h2_ok))

    # Cookies: the policed route forwards only `sp` (kept as sent); the canary sits in other
    # cookies, behind separators and quoting servers read differently. Any parser that reads it
    # under a cookie other than `sp` is a leak (what `sp` carries is forwarded by design).
    ck = [
        ("comma_after_kept", "sp=ok, email=" + C),
        ("comma_no_space", "sp=ok,email=" + C),
        ("comma_before_kept", "email=" + C + ", sp=ok"),
        ("quoted_semicolon", 'sp="ok; email=' + C + '"'),
        ("quoted_comma", 'sp="ok, email=' + C + '"'),
        ("space_in_value", "sp=ok email=" + C),
        ("tab_in_value", "sp=ok\temail=" + C),
        ("no_space_after_semicolon", "sp=ok;email=" + C),
        ("other_first", "email=" + C + "; sp=ok"),
        ("rfc2109_version", '$Version="1"; sp=ok; $Path="/"; email=' + C),
        ("dollar_name", "$email=" + C + "; sp=ok"),
        ("case_variant", "SP=" + C + "; sp=ok"),
        ("php_dot_name", "s.p=" + C + "; sp=ok"),
        ("padded_name", " sp =ok; email=" + C),
        ("name_only", "sp; email=" + C),
        ("empty_name", "=" + C + "; sp=ok"),
        ("duplicate_kept", "sp=ok; sp=" + C.upper() + "x"),
        ("backslash", "sp=ok\\; email=" + C),
        ("encoded_separator", "sp=ok%3B%20email%3D" + C),
        ("non_ascii", "sp=ok\u00e9; email=" + C),
    ]
    for label, value in ck:
        v = value.encode("utf-8")
        shapes.append(Shape("cookie", label, "GET", "{P}/policed/x", [(b"cookie", v)], h2=True))
    shapes.append(Shape("cookie", "h2_crumbs", "GET", "{P}/policed/x",
                        [(b"cookie", b"sp=ok"), (b"cookie", ("email=" + C).encode())], h1=False))
    shapes.append(Shape("cookie", "two_lines_h1", "GET", "{P}/policed/x",
                        [(b"cookie", b"sp=ok"), (b"cookie", ("email=" + C).encode())], h2=False))
    shapes.append(Shape("cookie", "referer_query", "GET", "{P}/policed/x",
                        [(b"referer", ("https://shop.example/p?email=" + C).encode()),
                         (b"origin", ("https://shop.example/p?email=" + C).encode())]))
    shapes.append(Shape("cookie", "referrer_spelling", "GET", "{P}/policed/x",
                        [(b"referrer", ("https://shop.example/p?email=" + C).encode())]))

    # JSON bodies.
    js = [
        ("plain", '{"email":"%s"}' % C),
        ("escaped_key", '{"e\\u006dail":"%s"}' % C),
        ("escaped_value", '{"email":"\\u007a%s"}' % C[1:]),
        ("dup_last", '{"email":"safe","email":"%s"}' % C),
        ("dup_first", '{"email":"%s","email":"safe"}' % C),
        ("nested", '{"a":{"b":[{"email":"%s"}]}}' % C),
        ("array_value", '{"email":["%s"]}' % C),
        ("object_value", '{"email":{"v":"%s"}}' % C),
        ("bom", "\ufeff" + '{"email":"%s"}' % C),
        ("comment", '{"email":"%s"/*c*/}' % C),
        ("trailing_comma", '{"email":"%s",}' % C),
        ("nul_key", '{"email\\u0000":"%s"}' % C),
        ("lone_surrogate_key", '{"email\\ud800":"%s"}' % C),
        ("two_documents", '{"a":1}{"email":"%s"}' % C),
        ("whitespace", ' \r\n\t{ "email" : "%s" } ' % C),
        ("user_email", '{"user_email":"%s"}' % C),
    ]
    for label, body in js:
        shapes.append(Shape("json", label, "POST", "{P}/policed/x", [JSON_CT], body.encode("utf-8")))

    # Paths that try to reach /policed through a route without rules.
    paths = [
        "{P}/open/../policed/x",
        "{P}/open/%2e%2e/policed/x",
        "{P}/open/%2E%2e/policed/x",
        "{P}/open/.%2e/policed/x",
        "{P}/open/..%2fpoliced/x",
        "{P}/open/..%2Fpoliced/x",
        "{P}/open/..%5cpoliced/x",
        "{P}/open/..\\policed/x",
        "{P}/open/..;/policed/x",
        "{P}/open;x/../policed/x",
        "{P}/open/%252e%252e/policed/x",
        "{P}/open/..%252fpoliced/x",
        "{P}/open//../policed/x",
        "{P}/open/./../policed/x",
        "{P}/open/%c0%ae%c0%ae/policed/x",
        "{P}/open/%u002e%u002e/policed/x",
        "{P}/open/.%00./policed/x",
        "{P}//policed/x",
        "{P}/./policed/x",
        "{P}/POLICED/x",
        "{P}/Policed/x",
        "{P}/policed;x/x",
        "{P}/policed%3bx/x",
        "{P}/%70oliced/x",
        "{P}/policed%2fx",
        "{P}/x/../policed/x",
        "{P}/open/%2e%2e%2fpoliced/x",
    ]
    for p in paths:
        shapes.append(Shape("path", p[3:], "GET", p + "?email=" + C))

    # Methods and overrides: the policy does not depend on them.
    for m in ["GET", "PUT", "PATCH", "DELETE"]:
        shapes.append(Shape("method", m + "_form", m, "{P}/policed/x", [FORM], fbody))
    shapes.append(Shape("method", "method_override_field", "POST", "{P}/policed/x", [FORM], b"_method=PUT&" + fbody))
    shapes.append(Shape("method", "method_override_header", "POST", "{P}/policed/x",
                        [FORM, (b"x-http-method-override", b"PUT")], fbody))

    # HTTP/1.1-only framing: absolute-form, bare LF, Host disagreement.
    raw = [
        ("absolute_form", "POST http://gw{P}/policed/x HTTP/1.1\r\nhost: gw\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {L}\r\nconnection: close\r\n\r\n{B}"),
        ("absolute_form_other_host", "POST http://other{P}/policed/x HTTP/1.1\r\nhost: gw\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {L}\r\nconnection: close\r\n\r\n{B}"),
        ("absolute_form_open_climb", "GET http://gw{P}/open/../policed/x?email=" + C + " HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n"),
        ("bare_lf", "POST {P}/policed/x HTTP/1.1\nhost: gw\ncontent-type: application/x-www-form-urlencoded\ncontent-length: {L}\nconnection: close\n\n{B}"),
        ("content_type_after_body_headers", "POST {P}/policed/x HTTP/1.1\r\nhost: gw\r\ncontent-length: {L}\r\ncontent-type: text/plain\r\ncontent-type: application/x-www-form-urlencoded\r\nconnection: close\r\n\r\n{B}"),
        ("fragment", "GET {P}/policed/x?a=1#&email=" + C + " HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n"),
        ("content_length_twice", "POST {P}/policed/x HTTP/1.1\r\nhost: gw\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {L}\r\ncontent-length: {L}\r\nconnection: close\r\n\r\n{B}"),
        ("content_length_list", "POST {P}/policed/x HTTP/1.1\r\nhost: gw\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {L}, {L}\r\nconnection: close\r\n\r\n{B}"),
        ("content_length_and_chunked", "POST {P}/policed/x HTTP/1.1\r\nhost: gw\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{X}\r\n{B}\r\n0\r\n\r\n"),
        ("host_twice", "POST {P}/policed/x HTTP/1.1\r\nhost: gw\r\nhost: other\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {L}\r\nconnection: close\r\n\r\n{B}"),
        ("obs_fold_content_type", "POST {P}/policed/x HTTP/1.1\r\nhost: gw\r\ncontent-type: text/plain\r\n application/x-www-form-urlencoded\r\ncontent-length: {L}\r\nconnection: close\r\n\r\n{B}"),
        ("http10_form", "POST {P}/policed/x HTTP/1.0\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {L}\r\n\r\n{B}"),
    ]
    for label, tpl in raw:
        b = fbody.decode()
        raw_bytes = tpl.replace("{L}", str(len(b))).replace("{X}", format(len(b), "x")).replace("{B}", b)
        shapes.append(Shape("http1", label, "", "", h2=False, raw_h1=raw_bytes.encode()))

    # HTTP/2-only: the authority.
    shapes.append(Shape("http2", "authority_host_mismatch", "GET", "{P}/policed/x?email=" + C,
                        [(b"host", b"other")], h1=False))
    shapes.append(Shape("http2", "authority_userinfo", "GET", "{P}/policed/x?email=" + C, [], h1=False,
                        authority="u@gw"))
    shapes.append(Shape("http2", "cookie_crumbs", "POST", "{P}/policed/x",
                        [FORM, (b"cookie", b"a=1"), (b"cookie", ("email=" + C).encode())], b"plan=pro", h1=False))

    # Controls: ordinary requests, forwarded and parsed as sent.
    shapes += [
        Shape("control", "form", "POST", "{P}/policed/x", [FORM], fbody, control="policed"),
        Shape("control", "form_charset", "POST", "{P}/policed/x",
              [(b"content-type", b"application/x-www-form-urlencoded; charset=UTF-8")], fbody, control="policed"),
        Shape("control", "query", "GET", "{P}/policed/x?email=" + C + "&plan=pro", control="policed"),
        Shape("control", "json", "POST", "{P}/policed/x", [JSON_CT], jbody, control="policed"),
        Shape("control", "header", "POST", "{P}/policed/x", [FORM, (b"x-user-email", C.encode())],
              b"plan=pro", control="policed"),
        Shape("control", "gzip_form", "POST", "{P}/policed/x", [FORM, (b"content-encoding", b"gzip")], gz,
              control="policed"),
        Shape("control", "brackets", "POST", "{P}/policed/x", [FORM],
              ("items[0][sku]=a1&email=" + C + "&plan=pro").encode(), control="policed"),
        Shape("control", "open_form", "POST", "{P}/open/x", [FORM], fbody, control="open"),
        Shape("control", "open_query", "GET", "{P}/open/x?email=" + C + "&plan=pro", control="open"),
        Shape("control", "open_json", "POST", "{P}/open/x", [JSON_CT], jbody, control="open"),
        Shape("control", "open_path_normalised", "GET", "{P}/open/a/./b/../x?email=" + C + "&plan=pro",
              control="open"),
        Shape("control", "cookie_kept", "GET", "{P}/policed/x?plan=pro",
              [(b"cookie", ("site_session=" + C + "; sp=ok; last_login=" + C).encode())], control="policed"),
    ]

    # Parameter sources that frameworks merge: a rule on one source, the canary in another,
    # on routes whose only rules are `query:`, `form:` or JSON selectors (and the route with all).
    boundary = "XyZ"
    multipart = ("--XyZ\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\n" + C
                 + "\r\n--XyZ--\r\n").encode()
    J = lambda v: json.dumps(v, ensure_ascii=False).encode()  # noqa: E731
    sources = [
        ("query", "GET", "?email=" + C + "&plan=pro", [], b""),
        ("query_upper", "GET", "?EMAIL=" + C, [], b""),
        ("query_dotted", "GET", "?user.email=" + C, [], b""),
        ("query_nested", "GET", "?user[email]=" + C, [], b""),
        ("query_nested_upper", "GET", "?User[EMAIL]=" + C, [], b""),
        ("form", "POST", "", [FORM], ("email=" + C + "&plan=pro").encode()),
        ("form_upper", "POST", "", [FORM], ("EMAIL=" + C).encode()),
        ("form_dotted", "POST", "", [FORM], ("user.email=" + C).encode()),
        ("form_nested", "POST", "", [FORM], ("user[email]=" + C).encode()),
        ("form_on_get", "GET", "", [FORM], ("email=" + C).encode()),
        ("form_and_query", "POST", "?email=safe", [FORM], ("email=" + C).encode()),
        ("json", "POST", "", [JSON_CT], J({"email": C, "plan": "pro"})),
        ("json_upper", "POST", "", [JSON_CT], J({"EMAIL": C})),
        ("json_title", "POST", "", [JSON_CT], J({"Email": C})),
        ("json_dotless_i", "POST", "", [JSON_CT], J({"emaıl": C})),
        ("json_long_s", "POST", "", [JSON_CT], J({"u\u017fer_email": C})),
        ("json_dup_case", "POST", "", [JSON_CT], b'{"email":"safe","EMAIL":"' + C.encode() + b'"}'),
        ("json_nested", "POST", "", [JSON_CT], J({"user": {"email": C}})),
        ("json_nested_upper", "POST", "", [JSON_CT], J({"USER": {"EMAIL": C}})),
        ("json_vnd", "POST", "", [(b"content-type", b"application/vnd.api+json")], J({"email": C})),
        ("json_text_json", "POST", "", [(b"content-type", b"text/json")], J({"email": C})),
        ("json_text_x_json", "POST", "", [(b"content-type", b"text/x-json")], J({"email": C})),
        ("json_jsonrequest", "POST", "", [(b"content-type", b"application/jsonrequest")], J({"email": C})),
        ("jsonl_one_line", "POST", "", [(b"content-type", b"application/jsonl")], J({"email": C})),
        ("json_latin1", "POST", "", [(b"content-type", b"application/json; charset=iso-8859-1")], J({"email": C})),
        ("json_on_get", "GET", "", [JSON_CT], J({"email": C})),
        ("json_and_query", "POST", "?email=safe", [JSON_CT], J({"email": C})),
        ("multipart", "POST", "", [(b"content-type", ("multipart/form-data; boundary=" + boundary).encode())], multipart),
        ("multipart_upper", "POST", "", [(b"content-type", ("Multipart/Form-Data; boundary=" + boundary).encode())], multipart),
        ("form_latin1", "POST", "", [(b"content-type", b"application/x-www-form-urlencoded; charset=iso-8859-1")],
         ("email=" + C).encode()),
        ("unlabelled_form", "POST", "", [], ("email=" + C).encode()),
        ("text_plain_form", "POST", "", [(b"content-type", b"text/plain")], ("email=" + C).encode()),
        ("octet_stream_json", "POST", "", [(b"content-type", b"application/octet-stream")], J({"email": C})),
        # PHP without php.ini ($_REQUEST with variables_order EGPCS) and ASP.NET read cookies.
        ("cookie", "GET", "?plan=pro", [(b"cookie", ("email=" + C).encode())], b""),
        ("cookie_upper", "GET", "", [(b"cookie", ("sid=1; EMAIL=" + C).encode())], b""),
        ("cookie_dotted", "GET", "", [(b"cookie", ("user.email=" + C).encode())], b""),
        ("cookie_nested", "GET", "", [(b"cookie", ("user[email]=" + C).encode())], b""),
        ("cookie_escaped", "GET", "", [(b"cookie", ("e%6Dail=" + C).encode())], b""),
        ("cookie_comma", "GET", "", [(b"cookie", ("sid=1,email=" + C).encode())], b""),
        ("cookie_padded", "GET", "", [(b"cookie", ("sid=1;   email=" + C).encode())], b""),
        ("cookie_and_query", "GET", "?email=safe", [(b"cookie", ("email=" + C).encode())], b""),
    ]
    for route in ("query", "form", "json", "policed"):
        for label, method, q, hs, body in sources:
            shapes.append(Shape("merge", f"{route}/{label}", method, "{P}/" + route + "/x" + q, hs, body))

    # Shapes beyond the classes above: codings whose streams decoders end differently, JSON
    # keys escaped and cased at once, deep and conflicting brackets, framing variants.
    def gzm(b: bytes) -> bytes:
        return gzip.compress(b)

    def zlm(b: bytes) -> bytes:
        return zlib.compress(b)

    def gz_header(flag: int, field: bytes, data: bytes) -> bytes:
        """A gzip member with a name, comment or extra field (RFC 1952 §2.3)."""
        deflated = zlib.compressobj(6, zlib.DEFLATED, -15)
        body = deflated.compress(data) + deflated.flush()
        head = b"\x1f\x8b\x08" + bytes([flag]) + b"\x00\x00\x00\x00\x00\xff"
        if flag == 4:
            head += len(field).to_bytes(2, "little") + field
        else:
            head += field + b"\x00"
        tail = zlib.crc32(data).to_bytes(4, "little") + len(data).to_bytes(4, "little")
        return head + body + tail

    ec = ("email=" + C).encode()
    more = [
        # What surrounds the coded data, read as pairs by a recipient that does not decode.
        ("gzip_comment_pairs", "policed", [FORM, (b"content-encoding", b"gzip")],
         gz_header(16, b"&" + ec + b"&", b"plan=pro")),
        ("gzip_name_pairs", "policed", [FORM, (b"content-encoding", b"gzip")],
         gz_header(8, b"&" + ec + b"&", b"plan=pro")),
        ("gzip_extra_pairs", "policed", [FORM, (b"content-encoding", b"gzip")],
         gz_header(4, b"&" + ec + b"&", b"plan=pro")),
        ("gzip_stored_block", "query", [FORM, (b"content-encoding", b"gzip")],
         gzip.compress(b"plan=pro&" + ec, compresslevel=0)),
        # Content codings read to a different end by different decoders.
        ("two_members_hidden_first", "policed", [FORM, (b"content-encoding", b"gzip")],
         gzm(ec + b"&") + gzm(b"plan=pro")),
        ("two_members_json", "json", [JSON_CT, (b"content-encoding", b"gzip")],
         gzm(b'{"plan":"pro",') + gzm(('"email":"' + C + '"}').encode())),
        ("zlib_trailing_pairs", "policed", [FORM, (b"content-encoding", b"deflate")],
         zlm(b"plan=pro") + b"&" + ec),
        ("zlib_then_gzip", "policed", [FORM, (b"content-encoding", b"deflate")], zlm(b"plan=pro&") + gzm(ec)),
        ("gzip_then_garbage", "policed", [FORM, (b"content-encoding", b"gzip")], gzm(b"plan=pro&") + ec),
        ("gzip_twice_labelled_once", "policed", [FORM, (b"content-encoding", b"gzip")], gzm(gzm(ec))),
        ("gzip_listed_twice", "policed", [FORM, (b"content-encoding", b"gzip, gzip")], gzm(gzm(ec))),
        ("gzip_form_query_route", "query", [FORM, (b"content-encoding", b"gzip")], gzm(ec + b"&plan=pro")),
        ("gzip_json_query_route", "query", [JSON_CT, (b"content-encoding", b"gzip")],
         gzm(json.dumps({"email": C}).encode())),
        ("deflate_json_form_route", "form", [JSON_CT, (b"content-encoding", b"deflate")],
         zlm(json.dumps({"EMAIL": C}).encode())),
        # JSON keys escaped and cased at once, and under descendants.
        ("json_escaped_upper", "json", [JSON_CT], ('{"E\\u004dAIL":"' + C + '"}').encode()),
        ("json_escaped_dotless_i", "json", [JSON_CT], ('{"ema\\u0131l":"' + C + '"}').encode()),
        ("json_escaped_long_s", "json", [JSON_CT], ('{"u\\u017Fer_email":"' + C + '"}').encode()),
        ("json_nested_title", "json", [JSON_CT], J({"User": {"Email": C}})),
        ("json_deep_upper", "policed", [JSON_CT], J({"a": [{"b": {"EMAIL": C}}]})),
        ("ndjson_upper", "json", [(b"content-type", b"application/x-ndjson")],
         (json.dumps({"plan": "pro"}) + "\n" + json.dumps({"EMAIL": C}) + "\n").encode()),
        ("json_merge_patch", "json", [(b"content-type", b"application/merge-patch+json")], J({"email": C})),
        ("json_problem_type", "json", [(b"content-type", b"application/problem+json; charset=utf-8")],
         J({"Email": C})),
        # Brackets past qs's depth and array limits, scalar/array conflicts, encoded brackets.
        ("deep_brackets", "policed", [FORM], ("a[b][c][d][e][f][g][email]=" + C).encode()),
        ("index_past_array_limit", "policed", [FORM], ("email[25]=" + C).encode()),
        ("scalar_then_array", "policed", [FORM], ("email=safe&email[]=" + C).encode()),
        ("array_then_scalar", "policed", [FORM], ("email[]=safe&email=" + C).encode()),
        ("nested_encoded_brackets", "json", [FORM], ("user%5Bemail%5D=" + C).encode()),
        ("nested_upper_dotted", "json", [FORM], ("USER.EMAIL=" + C).encode()),
        ("nested_append", "json", [FORM], ("user[email][]=" + C).encode()),
        ("query_nested_index", "policed", [], b""),
        # Cookies in other spellings on the routes with parameter rules.
        ("cookie_quoted", "query", [(b"cookie", ('email="' + C + '"').encode())], b""),
        ("cookie_dollar_version", "query", [(b"cookie", ('$Version=1; email=' + C).encode())], b""),
        ("cookie_on_json_route", "json", [(b"cookie", ("user[email]=" + C).encode())], b""),
        ("cookie_two_headers", "form", [(b"cookie", b"sid=1"), (b"cookie", ("email=" + C).encode())], b""),
    ]
    for label, route, hs, body in more:
        method = "POST" if body else "GET"
        target = "{P}/" + route + "/x"
        if label == "query_nested_index":
            target += "?a[0][email]=" + C + "&a[1][EMAIL]=" + C
        shapes.append(Shape("beyond", label, method, target, hs, body))
    # Framing variants over HTTP/1.1.
    b = "email=" + C + "&plan=pro"
    framing = [
        ("chunked_form", "POST {P}/policed/x HTTP/1.1\r\nhost: gw\r\ncontent-type: application/x-www-form-urlencoded\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{X}\r\n{B}\r\n0\r\n\r\n"),
        ("chunk_extension", "POST {P}/policed/x HTTP/1.1\r\nhost: gw\r\ncontent-type: application/x-www-form-urlencoded\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{X};ext=1\r\n{B}\r\n0\r\n\r\n"),
        ("chunked_trailer_header", "POST {P}/policed/x HTTP/1.1\r\nhost: gw\r\ncontent-type: application/x-www-form-urlencoded\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{X}\r\n{B}\r\n0\r\nx-user-email: " + C + "\r\n\r\n"),
        ("transfer_coding_gzip", "POST {P}/policed/x HTTP/1.1\r\nhost: gw\r\ncontent-type: application/x-www-form-urlencoded\r\ntransfer-encoding: gzip, chunked\r\nconnection: close\r\n\r\n{X}\r\n{B}\r\n0\r\n\r\n"),
        ("content_length_plus", "POST {P}/policed/x HTTP/1.1\r\nhost: gw\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: +{L}\r\nconnection: close\r\n\r\n{B}"),
        ("content_length_zeros", "POST {P}/policed/x HTTP/1.1\r\nhost: gw\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 00{L}\r\nconnection: close\r\n\r\n{B}"),
        ("space_before_colon", "POST {P}/policed/x HTTP/1.1\r\nhost: gw\r\ncontent-type : text/plain\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {L}\r\nconnection: close\r\n\r\n{B}"),
        ("expect_continue", "POST {P}/policed/x HTTP/1.1\r\nhost: gw\r\ncontent-type: application/x-www-form-urlencoded\r\nexpect: 100-continue\r\ncontent-length: {L}\r\nconnection: close\r\n\r\n{B}"),
        ("query_route_chunked_form", "POST {P}/query/x HTTP/1.1\r\nhost: gw\r\ncontent-type: application/x-www-form-urlencoded\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{X}\r\n{B}\r\n0\r\n\r\n"),
        ("open_climb_fullwidth_slash", "GET {P}/open/..%EF%BC%8Fpoliced/x?email=" + C + " HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n"),
        ("open_climb_mixed_dots", "GET {P}/open/%2e./policed/x?email=" + C + " HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n"),
    ]
    for label, tpl in framing:
        raw_bytes = tpl.replace("{L}", str(len(b))).replace("{X}", format(len(b), "x")).replace("{B}", b)
        shapes.append(Shape("beyond", label, "", "", h2=False, raw_h1=raw_bytes.encode()))

    # The routes with one kind of rule still forward ordinary requests as sent.
    for route in ("query", "form", "json"):
        shapes += [
            Shape("control", route + "_route_query", "GET", "{P}/" + route + "/x?email=" + C + "&plan=pro",
                  control="policed"),
            Shape("control", route + "_route_form", "POST", "{P}/" + route + "/x", [FORM], fbody, control="policed"),
            Shape("control", route + "_route_json", "POST", "{P}/" + route + "/x", [JSON_CT], jbody,
                  control="policed"),
        ]
    shapes += [
        Shape("control", "query_route_text", "POST", "{P}/query/x", [(b"content-type", b"text/plain")],
              b"hello", control="forwarded"),
        Shape("control", "query_route_octets", "POST", "{P}/query/x",
              [(b"content-type", b"application/octet-stream")], bytes(range(256)), control="forwarded"),
        Shape("control", "query_route_unlabelled", "POST", "{P}/query/x", [], b"hello", control="forwarded"),
    ]
    return shapes


# ---------------------------------------------------------------------------------------------
# Clients


def free_ports(n: int) -> list[int]:
    """`n` distinct free ports: all held open until every one is chosen, so the kernel cannot
    hand the same port out twice."""
    held = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        held.append(s)
    ports = [s.getsockname()[1] for s in held]
    for s in held:
        s.close()
    return ports


def recv_all(sock: socket.socket, deadline: float) -> bytes:
    out = bytearray()
    while time.time() < deadline:
        sock.settimeout(max(0.05, deadline - time.time()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        if response_complete(bytes(out)):
            break
    return bytes(out)


def parse_h1(raw: bytes) -> tuple[int, bytes]:
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        return 0, b""
    lines = head.split(b"\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return 0, b""
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower()] = v.strip()
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = bytearray()
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            try:
                size = int(size_line.split(b";")[0], 16)
            except ValueError:
                break
            if size == 0:
                break
            body += rest[:size]
            rest = rest[size + 2:]
        return status, bytes(body)
    if b"content-length" in headers:
        return status, rest[: int(headers[b"content-length"])]
    return status, rest


def response_complete(raw: bytes) -> bool:
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    low = head.lower()
    if b"transfer-encoding: chunked" in low:
        return rest.endswith(b"0\r\n\r\n")
    for line in low.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(rest) >= int(line.split(b":")[1])
    return False


def h1_bytes(shape: Shape, prefix: str) -> bytes:
    if shape.raw_h1 is not None:
        return shape.raw_h1.replace(b"{P}", prefix.encode())
    target = shape.target.replace("{P}", prefix)
    out = bytearray(f"{shape.method} {target} HTTP/1.1\r\nhost: gw\r\n".encode("latin-1"))
    for k, v in shape.headers:
        out += k + b": " + v + b"\r\n"
    if shape.body or shape.method in ("POST", "PUT", "PATCH"):
        out += b"content-length: " + str(len(shape.body)).encode() + b"\r\n"
    out += b"connection: close\r\n\r\n" + shape.body
    return bytes(out)


def send_h1(addr, shape: Shape, prefix: str) -> tuple[int, bytes]:
    with socket.create_connection(addr, timeout=10) as s:
        s.sendall(h1_bytes(shape, prefix))
        return parse_h1(recv_all(s, time.time() + 10))


def send_h2(addr, shape: Shape, prefix: str) -> tuple[int, bytes]:
    cfg = h2.config.H2Configuration(
        client_side=True,
        validate_outbound_headers=False,
        normalize_outbound_headers=False,
        validate_inbound_headers=False,
    )
    conn = h2.connection.H2Connection(config=cfg)
    with socket.create_connection(addr, timeout=10) as s:
        conn.initiate_connection()
        s.sendall(conn.data_to_send())
        target = shape.target.replace("{P}", prefix)
        headers = [
            (b":method", shape.method.encode()),
            (b":scheme", b"http"),
            (b":authority", (shape.authority or "gw").encode()),
            (b":path", target.encode("latin-1")),
        ] + list(shape.headers)
        if shape.body and not any(k == b"content-length" for k, _ in shape.headers):
            # What HTTP/2 clients send when they know the length.
            headers.append((b"content-length", str(len(shape.body)).encode()))
        end = not shape.body
        conn.send_headers(1, headers, end_stream=end)
        if shape.body:
            window = conn.local_flow_control_window(1)
            conn.send_data(1, shape.body[: max(0, window)], end_stream=len(shape.body) <= window)
        s.sendall(conn.data_to_send())
        status, body, deadline = 0, bytearray(), time.time() + 10
        done = False
        while not done and time.time() < deadline:
            s.settimeout(max(0.05, deadline - time.time()))
            try:
                data = s.recv(65536)
            except socket.timeout:
                break
            if not data:
                break
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    status = int(dict(ev.headers).get(b":status", b"0"))
                elif isinstance(ev, h2.events.DataReceived):
                    body += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset, h2.events.ConnectionTerminated)):
                    done = True
            s.sendall(conn.data_to_send())
        return status, bytes(body)


# ---------------------------------------------------------------------------------------------
# Verdicts


def readings(path: str) -> set[str]:
    """Every path a plausible server could route `path` to."""
    out = {path}
    frontier = {path}
    for _ in range(3):
        nxt = set()
        for p in frontier:
            cands = [
                urllib.parse.unquote(p),
                p.replace("\\", "/"),
                "/".join(seg.split(";")[0] for seg in p.split("/")),
                remove_dots(p),
                p.lower(),
                "/".join(s for s in p.split("/") if s) if p.startswith("//") else p,
                p.replace("\x00", ""),
            ]
            for c in cands:
                c = "/" + c.lstrip("/") if c else "/"
                while "//" in c:
                    c = c.replace("//", "/")
                if c not in out:
                    out.add(c)
                    nxt.add(c)
        frontier = nxt
    return out


def remove_dots(p: str) -> str:
    stack: list[str] = []
    for seg in p.split("/"):
        if seg == "..":
            if stack:
                stack.pop()
        elif seg not in (".", ""):
            stack.append(seg)
    return "/" + "/".join(stack)


def reaches_policed(path: str) -> bool:
    return any(r == "/policed" or r.startswith("/policed/") for r in readings(path))


def contains_canary(v) -> bool:
    return CANARY in json.dumps(v, ensure_ascii=False).lower()


def fold(name) -> str:
    """A name as the most permissive recipient compares it (case, and the non-ASCII letters
    case-insensitive binders fold into `i`, `s` and `k`)."""
    text = str(name)
    for alias, letter in (("İ", "i"), ("ı", "i"), ("ſ", "s"), ("\u212a", "k")):
        text = text.replace(alias, letter)
    return text.lower()


def named_leak(parsed: dict, route: str) -> str | None:
    """Where the parser read the canary under a name the route's rules name, if anywhere."""
    rules = ROUTE_RULES[route]

    def anywhere(node, trail):
        if isinstance(node, dict):
            for k, val in node.items():
                if fold(k) in NAMED_FIELDS and contains_canary(val):
                    return f"{trail}.{k}"
                found = anywhere(val, f"{trail}.{k}")
                if found:
                    return found
        elif isinstance(node, list):
            for i, val in enumerate(node):
                found = anywhere(val, f"{trail}[{i}]")
                if found:
                    return found
        return None

    def along(node, path, trail):
        if not path:
            return trail if contains_canary(node) else None
        if isinstance(node, list):  # PHP and Rack arrays of duplicates
            for i, val in enumerate(node):
                found = along(val, path, f"{trail}[{i}]")
                if found:
                    return found
        if isinstance(node, dict):
            for k, val in node.items():
                if fold(k) == path[0]:
                    found = along(val, path[1:], f"{trail}.{k}")
                    if found:
                        return found
        return None

    for part in PARTS:
        if part == "bound" and route not in ("policed", "json"):
            continue  # a Go struct decodes any body; only JSON selectors speak for it
        node = parsed.get(part)
        if rules is None:
            found = anywhere(node, part)
        else:
            found = next((f for p in rules if (f := along(node, p, part))), None)
        if found:
            return found
    if route == "policed":
        for k, val in (parsed.get("headers") or {}).items():
            if str(k).lower().replace("_", "-") == NAMED_HEADER and CANARY in str(val).lower():
                return "header:" + k
    return None


def route_of(shape: Shape) -> str:
    """The route a shape is addressed to (`{P}/ROUTE/...`), as sent."""
    target = shape.target if shape.raw_h1 is None else shape.raw_h1.split(b" ")[1].decode("latin-1")
    rest = target.split("{P}", 1)[-1]
    first = rest.lstrip("/").split("/", 1)[0].split("?", 1)[0]
    return first if first in ROUTE_RULES else ""


def cookie_leak(parsed: dict) -> str | None:
    """A cookie other than the forwarded `sp` that a parser read with the canary, or the
    canary in a `Referer`/`Origin` that should have been reduced to its origin."""
    cookies = parsed.get("cookies") or {}
    if isinstance(cookies, dict):
        for k, v in cookies.items():
            if k != "sp" and contains_canary(v):
                return f"cookie:{k}"
    for k, v in (parsed.get("headers") or {}).items():
        if str(k).lower().replace("_", "-") in ("referer", "referrer", "origin") and CANARY in str(v).lower():
            return "header:" + k
    return None


def verdict(shape: Shape, status: int, body: bytes) -> tuple[str, str]:
    try:
        doc = json.loads(body) if body else None
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("error"), dict) and "code" in doc["error"]:
        if shape.control:
            return "failed", f"control refused: {doc['error']['code']}"
        return "refused", doc["error"]["code"]
    if not (isinstance(doc, dict) and "parser" in doc):
        if CANARY in body.decode("utf-8", "replace").lower():
            return "leaked", f"status {status}, unparsed body shows the canary"
        if shape.control:
            return "failed", f"control not parsed (status {status})"
        return "held", f"recipient answered {status} without a parse"
    if shape.control == "policed":
        if contains_canary({k: doc.get(k) for k in (*PARTS, "headers", "cookies")}):
            return "failed", "control: policed value arrived in clear"
        if shape.name == "cookie_kept" and (doc.get("cookies") or {}).get("sp") not in ("ok", ["ok"]):
            return "failed", "control: the kept cookie was not parsed as sent"
        if "plan" in shape.target + shape.body.decode("latin-1") and not contains_plan(doc):
            return "failed", "control: plan=pro not parsed as sent"
        return "held", "control"
    if shape.control == "open":
        if not contains_canary(doc):
            return "failed", "control: open-route value not parsed as sent"
        return "held", "control"
    if shape.control == "forwarded":
        return "held", "control"
    route = route_of(shape)
    where = (named_leak(doc, route) if route else None) or cookie_leak(doc)
    if where:
        return "leaked", where
    # Path shapes: a request piigate did not route to the policed route must not be read as
    # one for /policed with the canary visible. (On the policed route, a canary inside an
    # unnamed field, e.g. `a=1%26email%3D…`, is just text.)
    visible = contains_canary({k: doc.get(k) for k in ("form", "query", "json")})
    on_policed = shape.target.startswith("{P}/policed/") or (
        shape.raw_h1 is not None and b"{P}/policed/" in shape.raw_h1
    )
    if visible and not on_policed and reaches_policed(str(doc.get("path", ""))):
        return "leaked", "path " + str(doc.get("path"))
    return "held", ""


def contains_plan(doc) -> bool:
    text = json.dumps({k: doc.get(k) for k in PARTS})
    return '"plan": ["pro"]' in text or '"plan": "pro"' in text


# ---------------------------------------------------------------------------------------------
# Processes


def stop_group(p: subprocess.Popen, sig: int) -> None:
    """Signals the process group a parser was started in (see `start_parsers`)."""
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        pass


def start_parsers(venv_python: str) -> tuple[dict[str, int], list[subprocess.Popen]]:
    ports = dict(zip(PARSERS, free_ports(len(PARSERS))))
    cmds = {
        "flask": [venv_python, str(HERE / "python/flask_echo.py"), str(ports["flask"])],
        "django": [venv_python, str(HERE / "python/django_echo.py"), str(ports["django"])],
        "express": ["node", str(HERE / "node/express_echo.js"), str(ports["express"])],
        "php": ["php", "-S", f"127.0.0.1:{ports['php']}", str(HERE / "php/echo.php")],
        "phpn": ["php", "-n", "-S", f"127.0.0.1:{ports['phpn']}", str(HERE / "php/echo.php")],
        "laravel": ["php", "-S", f"127.0.0.1:{ports['laravel']}", str(HERE / "php/laravel.php")],
        "rack": ["ruby", str(HERE / "ruby/serve.rb"), str(ports["rack"])],
        "rails": ["ruby", str(HERE / "ruby/rails.rb"), str(ports["rails"])],
        "go": [str(TARGET / "go-echo"), str(ports["go"])],
        "gostruct": [str(TARGET / "go-struct"), str(ports["gostruct"])],
    }
    procs = []
    for name in PARSERS:
        env = dict(os.environ, PHP_CLI_SERVER_WORKERS="2")
        # Each parser in its own process group: `php -S` forks workers that outlive their parent.
        procs.append(subprocess.Popen(cmds[name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                                      start_new_session=True))
    deadline = time.time() + 60
    for name in PARSERS:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", ports[name]), timeout=1) as s:
                    s.sendall(b"GET /ready HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                    if parse_h1(recv_all(s, time.time() + 5))[0] == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise SystemExit(f"differential: the {name} echo server did not start")
            time.sleep(0.1)
    return ports, procs


def piigate_config(ports: dict[str, int], state: Path) -> str:
    keys = (ROOT / "keys.example").read_text()
    (state / "keys.toml").write_text(keys)
    out = [
        '[server]\nlisten = "127.0.0.1:0"\n[keys]\nfile = "keys.toml"\n',
        f'[store]\npath = "{state}/piigate.db"\n[audit]\npath = "{state}/audit.jsonl"\n',
        "[limits]\nmax_body_bytes = 65536\n",
    ]
    for name, port in ports.items():
        up = f"http://127.0.0.1:{port}"
        out.append(
            f"""
[[routes]]
name = "{name}_policed"
path_prefix = "/{name}/policed"
upstream = "{up}/policed"

[[routes.rules]]
select = ["$..email", "$..user_email", "form:email", "form:user_email", "query:email", "query:user_email", "header:x-user-email"]
action = "redact"

[[routes.rules]]
select = "cookie:sp"
action = "keep"

[[routes]]
name = "{name}_query"
path_prefix = "/{name}/query"
upstream = "{up}/query"

[[routes.rules]]
select = ["query:email", "query:user_email"]
action = "redact"

[[routes]]
name = "{name}_form"
path_prefix = "/{name}/form"
upstream = "{up}/form"

[[routes.rules]]
select = ["form:email", "form:user_email"]
action = "redact"

[[routes]]
name = "{name}_json"
path_prefix = "/{name}/json"
upstream = "{up}/json"

[[routes.rules]]
select = ["$.email", "$.user_email", "$.user.email"]
action = "redact"

[[routes]]
name = "{name}_open"
path_prefix = "/{name}/open"
upstream = "{up}/open"

[[routes]]
name = "{name}_root"
path_prefix = "/{name}"
upstream = "{up}"
"""
        )
    return "".join(out)


def start_piigate(binary: str, config: Path) -> tuple[subprocess.Popen, tuple[str, int]]:
    proc = subprocess.Popen(
        [binary, "serve", "--config", str(config), "--log-format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 30
    assert proc.stdout is not None
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("differential: piigate exited before listening")
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if v.get("message") == "Listening." and v.get("listener") == "proxy":
            host, port = v["addr"].rsplit(":", 1)
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, (host, int(port))
    raise SystemExit("differential: piigate did not report its address")


# ---------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--piigate", default=str(ROOT / "target/debug/piigate"))
    ap.add_argument("--python", default=str(TARGET / "venv/bin/python"))
    ap.add_argument("--update-docs", action="store_true", help="write the table into docs/BOUNDARY.md")
    ap.add_argument("--verbose", action="store_true", help="print every leak and failed control")
    args = ap.parse_args()

    shapes = corpus()
    runs = [(s, proto) for s in shapes for proto in ("h1", "h2") if getattr(s, proto)]
    adversarial = sum(1 for s, _ in runs if not s.control)
    started = time.time()
    ports, procs = start_parsers(args.python)
    state = Path(tempfile.mkdtemp(prefix="piigate-differential-"))
    (state / "proxy.toml").write_text(piigate_config(ports, state))
    gw, addr = start_piigate(args.piigate, state / "proxy.toml")
    results: dict[str, list] = {p: [] for p in PARSERS}
    try:

        def worker(parser):
            for shape, proto in runs:
                send = send_h1 if proto == "h1" else send_h2
                try:
                    status, body = send(addr, shape, "/" + parser)
                except OSError as e:
                    status, body = 0, str(e).encode()
                results[parser].append((shape, proto, status, body, *verdict(shape, status, body)))

        threads = [threading.Thread(target=worker, args=(p,)) for p in PARSERS]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        gw.terminate()
        for p in procs:
            stop_group(p, signal.SIGTERM)
        for p in [gw, *procs]:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        for p in procs:
            stop_group(p, signal.SIGKILL)  # workers left behind by their parent

    elapsed = time.time() - started
    table: dict[str, dict[str, list[int]]] = defaultdict(lambda: {p: [0, 0, 0] for p in PARSERS})
    problems = []
    for parser, rows in results.items():
        for shape, proto, status, body, v, why in rows:
            cell = table[shape.cls][parser]
            if v == "held":
                cell[0] += 1
            elif v == "refused":
                cell[2] += 1
            else:
                cell[1] += 1
                problems.append(f"{v}: {parser} {proto} {shape.cls}/{shape.name}: {why}")
    classes = sorted(table, key=lambda c: (c == "control", c))
    lines = [
        f"{adversarial} adversarial request shapes and {len(runs) - adversarial} controls "
        f"({len(shapes)} shapes over HTTP/1.1 and HTTP/2), each sent to {len(PARSERS)} parsers: "
        f"{sum(len(r) for r in results.values())} requests in {elapsed:.0f} s. Cells: held / leaked / refused.",
        "",
        "| shape class | " + " | ".join(PARSERS) + " |",
        "| --- |" + " --- |" * len(PARSERS),
    ]
    for c in classes:
        lines.append(f"| {c} | " + " | ".join("{} / {} / {}".format(*table[c][p]) for p in PARSERS) + " |")
    total = [sum(table[c][p][i] for c in classes for p in PARSERS) for i in range(3)]
    lines.append("")
    lines.append(f"Total: {total[0]} held, {total[1]} leaked or failed, {total[2]} refused.")
    text = "\n".join(lines)
    print(text)
    TARGET.mkdir(parents=True, exist_ok=True)
    (TARGET / "last-run.md").write_text(text + "\n")
    if problems:
        print("\n".join(problems[: None if args.verbose else 40]), file=sys.stderr)
    if args.update_docs:
        doc = ROOT / "docs/BOUNDARY.md"
        s = doc.read_text()
        begin, end = "<!-- differential:begin -->", "<!-- differential:end -->"
        if begin in s and end in s:
            s = s[: s.index(begin) + len(begin)] + "\n" + text + "\n" + s[s.index(end):]
            doc.write_text(s)
    print(f"{total[0] + total[2]} passed, {total[1]} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
