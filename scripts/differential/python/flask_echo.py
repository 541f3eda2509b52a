"""Werkzeug/Flask echo upstream: answers with what Flask parsed from the request."""

import json
import sys

from flask import Flask, request

app = Flask(__name__)


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
                "json": body,
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "cookies": request.cookies.to_dict(flat=False),
            }
        ),
        mimetype="application/json",
    )


if __name__ == "__main__":
    # Werkzeug's own server: it builds the WSGI environ (HTTP_* variables) itself.
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
