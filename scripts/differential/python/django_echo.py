"""Django echo upstream: answers with what Django's QueryDict and request parsed.

Served by wsgiref (the standard library's WSGI server), which builds the environ the way CGI
does: every header becomes HTTP_<NAME> with '-' read as '_'.
"""

import json
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="differential-suite-only",
    MIDDLEWARE=[],
    DATA_UPLOAD_MAX_NUMBER_FIELDS=10000,
)
django.setup()

from django.http import HttpResponse  # noqa: E402
from django.urls import re_path  # noqa: E402


def echo(request):
    parsed_json = None
    if request.content_type == "application/json":
        try:
            parsed_json = json.loads(request.body)
        except ValueError:
            parsed_json = None
    try:
        form = {k: v for k, v in request.POST.lists()}
    except Exception:  # an unparsable body: Django raises on access
        form = {}
    headers = {
        k[5:].lower().replace("_", "-"): v for k, v in request.META.items() if k.startswith("HTTP_")
    }
    return HttpResponse(
        json.dumps(
            {
                "parser": "django",
                "path": request.path,
                "query": {k: v for k, v in request.GET.lists()},
                "form": form,
                "cookies": dict(request.COOKIES),
                "json": parsed_json,
                "headers": headers,
                "cookies": dict(request.COOKIES),
            }
        ),
        content_type="application/json",
    )


urlpatterns = [re_path(r"^.*$", echo)]


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


if __name__ == "__main__":
    from django.core.wsgi import get_wsgi_application

    make_server("127.0.0.1", int(sys.argv[1]), get_wsgi_application(), handler_class=Quiet).serve_forever()
