"""Werkzeug/Flask echo upstream: answers with what Flask parsed from the request, and what an
application that inflates a compressed body itself reads from it."""

import io
import json
import sys
import urllib.parse
import zlib

from flask import Flask, request

app = Flask(__name__)


class KeepRaw:
    """Keeps the raw body for `inflated` before Flask consumes the stream."""

    def __init__(self, wsgi):
        self.wsgi = wsgi

    def __call__(self, environ, start_response):
        length = environ.get("CONTENT_LENGTH") or ""
        stream = environ["wsgi.input"]
        if length.isdigit():
            raw = stream.read(int(length))
        elif environ.get("wsgi.input_terminated"):
            raw = stream.read()
        else:
            raw = b""
        environ["echo.raw"] = raw
        environ["wsgi.input"] = io.BytesIO(raw)
        return self.wsgi(environ, start_response)


app.wsgi_app = KeepRaw(app.wsgi_app)


def inflated():
    """A compressed body as applications commonly inflate it (`zlib.decompressobj`, gzip or zlib
    header detected, deflate raw as a fallback): the first stream only, what follows ignored;
    then read as form pairs and JSON members."""
    coding = request.headers.get("Content-Encoding", "").strip().lower()
    if coding not in ("gzip", "x-gzip", "deflate"):
        return None
    raw = request.environ.get("echo.raw", b"")
    plain = None
    for wbits in (47, -15):
        try:
            plain = zlib.decompressobj(wbits).decompress(raw)
            break
        except zlib.error:
            continue
    if plain is None:
        return None
    text = plain.decode("utf-8", "replace")
    out = dict(urllib.parse.parse_qs(text, keep_blank_values=True))
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        out.update(doc)
    return out


@app.route("/", defaults={"rest": ""}, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@app.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def echo(rest):
    body = request.get_json(silent=True, force=False)
    return app.response_class(
        json.dumps(
            {
                "parser": "flask",
                "path": request.path,
                "query": request.args.to_dict(flat=False),
                "form": request.form.to_dict(flat=False),
                # request.values: the query and the form merged.
                "params": request.values.to_dict(flat=False),
                "cookies": request.cookies.to_dict(),
                "json": body,
                "inflated": inflated(),
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "cookies": request.cookies.to_dict(flat=False),
            }
        ),
        mimetype="application/json",
    )


if __name__ == "__main__":
    # Werkzeug's own server: it builds the WSGI environ (HTTP_* variables) itself.
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
