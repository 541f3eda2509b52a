#!/usr/bin/env python3
"""Hand-written requests for vendors whose ingestion API has no installable official client
here (or whose client is a browser tag), written from the vendor's API reference:

  ga4            Measurement Protocol POST /mp/collect (developers.google.com/analytics/devguides/
                 collection/protocol/ga4/reference, …/ga4/uid-data) — user_id,
                 user_properties, user_data (user-provided data, sha256_* fields left for the
                 gateway to hash), event params with page_location.
  gtag           gtag.js's own collection hits, GET and POST /g/collect with the query
                 parameters gtag sends (v, tid, cid, uid, dl, dr, dt, en, ep.*, up.*); a POST
                 body carries one hit per line. Not a documented API: the shape is gtag.js's.
  meta           Conversions API POST /v21.0/{pixel_id}/events (developers.facebook.com/docs/
                 marketing-api/conversions-api/parameters/customer-information-parameters) —
                 user_data em/ph/fn/ln/ct/zp/db/external_id as the app has them before hashing
                 (Meta wants SHA-256 of the normalised value; left to the gateway),
                 client_ip_address, client_user_agent, fbc/fbp, event_source_url.
  segment-pixel  Segment's Pixel API GET /v1/pixel/{call}?data=<base64 JSON>
                 (segment.com/docs/connections/sources/catalog/libraries/server/pixel-tracking-api).
  mixpanel-get   Mixpanel's ingestion GET /track?data=<base64 JSON> (the legacy/pixel form the
                 browser library still accepts, developer.mixpanel.com/reference/track-event).
  snowplow-get   Snowplow tracker protocol GET /i with ue_px and cx base64url JSON
                 (docs.snowplow.io/docs/events/tracker-protocol).

    python3 handwritten.py VENDOR BASE_URL

Prints {"driver": ..., "calls": n, "sdk_errors": [...]}: a non-2xx answer counts as an error.
"""

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

P = json.load(open(os.path.join(os.path.dirname(__file__), "..", "person.json")))
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
PAGE_URL = ("https://shop.example.com/checkout/confirm?email=" + urllib.parse.quote(P["email"])
            + "&uid=" + P["user_id"] + "&utm_source=newsletter")
REFERRER = "https://mail.example.net/inbox?to=" + urllib.parse.quote(P["email"])
NOW = int(time.time())
errors = []
calls = 0


def send(method, url, body=None, ctype=None, headers=()):
    global calls
    calls += 1
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("User-Agent", UA)
    if ctype:
        req.add_header("Content-Type", ctype)
    for k, v in headers:
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            r.read()
    except urllib.error.HTTPError as e:
        errors.append(f"status {e.code}: {e.read()[:160].decode('utf-8', 'replace')}")
    except OSError as e:
        errors.append(f"{type(e).__name__}: {e}")


def jdump(o):
    return json.dumps(o, separators=(",", ":"), ensure_ascii=False).encode()


def b64(o, url=False):
    raw = jdump(o)
    return (base64.urlsafe_b64encode(raw).rstrip(b"=") if url else base64.b64encode(raw)).decode()


def ga4(base):
    body = {
        "client_id": "1183956261.1764997200",
        "user_id": P["user_id"],
        "timestamp_micros": NOW * 1_000_000,
        "user_properties": {"email": {"value": P["email"]}, "city": {"value": P["city"]},
                            "customer_tier": {"value": "gold"}},
        # User-provided data (developers.google.com/analytics/devguides/collection/ga4/
        # uid-data): Google wants SHA-256 hex of the normalised value in the sha256_* fields;
        # an app behind piigate leaves that to the gateway (`hash` with preset "google"), so
        # the values arrive here in clear.
        "user_data": {
            "sha256_email_address": [P["email"]],
            "sha256_phone_number": [P["phone_e164"]],
            "address": [{"sha256_first_name": P["first_name"],
                         "sha256_last_name": P["last_name"],
                         "sha256_street": P["street"], "city": P["city"],
                         "postal_code": P["postal_code"], "country": P["country"]}],
        },
        "events": [
            {"name": "purchase",
             "params": {"transaction_id": "ord-1043", "value": 42.5, "currency": "EUR",
                        "page_location": PAGE_URL, "page_referrer": REFERRER,
                        "email": P["email"], "phone": P["phone"],
                        "session_id": "1764997200", "engagement_time_msec": 1200}},
            {"name": "sign_up", "params": {"method": "email", "customer_name": P["name"]}},
        ],
    }
    send("POST", base + "/mp/collect?measurement_id=G-TEST12345&api_secret=secret_test_0001",
         jdump(body), "application/json")


def gtag(base):
    q = [("v", "2"), ("tid", "G-TEST12345"), ("gtm", "45je5ca1v9"), ("_p", "1764997200123"),
         ("cid", "1183956261.1764997200"), ("ul", "nb-no"), ("sr", "1280x800"),
         ("uid", P["user_id"]), ("_s", "1"), ("sid", "1764997200"), ("sct", "1"), ("seg", "1"),
         ("dl", PAGE_URL), ("dr", REFERRER), ("dt", f"Order confirmed – {P['name']}"),
         ("en", "page_view"), ("ep.email", P["email"]), ("up.customer_email", P["email"]),
         ("up.phone", P["phone"]), ("epn.value", "42.5")]
    send("GET", base + "/g/collect?" + urllib.parse.urlencode(q),
         headers=[("Referer", PAGE_URL)])
    # Batched hits: shared parameters in the query, one event per body line.
    shared = [x for x in q if x[0] not in ("en", "ep.email", "epn.value")]
    lines = [urllib.parse.urlencode([("en", "purchase"), ("ep.transaction_id", "ord-1043"),
                                     ("ep.customer_email", P["email"]), ("epn.value", "42.5")]),
             urllib.parse.urlencode([("en", "user_engagement"), ("_et", "1200"),
                                     ("ep.address", f"{P['street']}, {P['city']}")])]
    send("POST", base + "/g/collect?" + urllib.parse.urlencode(shared),
         "\r\n".join(lines).encode(), "text/plain;charset=UTF-8",
         headers=[("Referer", PAGE_URL)])


def meta(base):
    body = {"data": [{
        "event_name": "Purchase", "event_time": NOW, "action_source": "website",
        "event_id": "ord-1043", "event_source_url": PAGE_URL,
        "user_data": {
            "em": [P["email"]], "ph": [P["phone"]], "fn": [P["first_name"]],
            "ln": [P["last_name"]], "ct": [P["city"]], "zp": [P["postal_code"]],
            "country": [P["country"].lower()], "db": [P["birthday"].replace("-", "")],
            "external_id": [P["user_id"]], "client_ip_address": P["ip"],
            "client_user_agent": UA, "fbc": "fb.1.1764997200000.IwAR2x",
            "fbp": "fb.1.1764997200000.1183956261",
        },
        "custom_data": {"value": 42.5, "currency": "EUR", "order_id": "ord-1043"},
    }]}
    send("POST", base + "/v21.0/1234567890123456/events?access_token=EAAtest000",
         jdump(body), "application/json")


def segment_pixel(base):
    for call, msg in (
        ("identify", {"writeKey": "seg_write_key_test", "userId": P["user_id"],
                      "traits": {"email": P["email"], "name": P["name"], "phone": P["phone"]},
                      "context": {"ip": P["ip"], "page": {"url": PAGE_URL}}}),
        ("track", {"writeKey": "seg_write_key_test", "userId": P["user_id"],
                   "event": "Email Opened", "properties": {"email": P["email"]}}),
    ):
        send("GET", base + f"/v1/pixel/{call}?data=" + urllib.parse.quote(b64(msg)))


def mixpanel_get(base):
    ev = {"event": "Email Opened", "properties": {
        "token": "mp_test_project_token", "distinct_id": P["user_id"], "$email": P["email"],
        "$current_url": PAGE_URL, "ip": P["ip"], "time": NOW}}
    send("GET", base + "/track?ip=1&verbose=1&data=" + urllib.parse.quote(b64(ev)))


def snowplow_get(base):
    ue = {"schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
          "data": {"schema": "iglu:com.example/newsletter_signup/jsonschema/1-0-0",
                   "data": {"email": P["email"], "name": P["name"]}}}
    cx = {"schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0",
          "data": [{"schema": "iglu:com.example/user/jsonschema/1-0-0",
                    "data": {"user_id": P["user_id"], "email": P["email"],
                             "phone": P["phone"]}}]}
    q = [("e", "ue"), ("ue_px", b64(ue, url=True)), ("cx", b64(cx, url=True)),
         ("tv", "js-4.10.1"), ("p", "web"), ("aid", "shop"), ("uid", P["user_id"]),
         ("url", PAGE_URL), ("refr", REFERRER), ("eid", "6f2c1a3e-1b7c-4e59-9c1e-0b0c0e0d0a01"),
         ("dtm", str(NOW * 1000)), ("stm", str(NOW * 1000))]
    send("GET", base + "/i?" + urllib.parse.urlencode(q))


DRIVERS = {"ga4": ga4, "gtag": gtag, "meta": meta, "segment-pixel": segment_pixel,
           "mixpanel-get": mixpanel_get, "snowplow-get": snowplow_get}

if __name__ == "__main__":
    vendor, base = sys.argv[1], sys.argv[2].rstrip("/")
    DRIVERS[vendor](base)
    print(json.dumps({"driver": f"http:{vendor}", "calls": calls, "sdk_errors": errors}))
