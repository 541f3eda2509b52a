#!/usr/bin/env python3
"""Drives one vendor's official Python SDK for the test person, with only its base URL changed.

    python3 server_py.py VENDOR BASE_URL        # e.g. segment http://127.0.0.1:8443/segment

Prints one JSON line: {"driver": ..., "calls": n, "sdk_errors": [...]} — the SDK calls made and
every failure the SDK itself reported (error callbacks, exceptions), so a run can tell "the
SDK believes it delivered" from "the upstream got it".
"""

import json
import logging
import os
import sys

P = json.load(open(os.path.join(os.path.dirname(__file__), "..", "person.json")))
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
PAGE_URL = ("https://shop.example.com/checkout/confirm?email=" + P["email"].replace("@", "%40")
            + "&uid=" + P["user_id"] + "&utm_source=newsletter")
REFERRER = "https://mail.example.net/inbox?to=" + P["email"].replace("@", "%40")
ADDRESS = {"street": P["street"], "city": P["city"], "postalCode": P["postal_code"],
           "country": P["country"]}
TRAITS = {"name": P["name"], "firstName": P["first_name"], "lastName": P["last_name"],
          "email": P["email"], "phone": P["phone"], "address": ADDRESS, "birthday": P["birthday"],
          "plan": "pro"}

errors = []
calls = 0


def call(fn, *args, **kwargs):
    global calls
    calls += 1
    try:
        return fn(*args, **kwargs)
    except Exception as e:  # the SDK's own failure report
        errors.append(f"{type(e).__name__}: {str(e)[:200]}")


def segment_like(analytics, base):
    """segment-analytics-python and rudder-sdk-python share the analytics-python API."""
    analytics.on_error = lambda e, batch: errors.append(f"on_error: {str(e)[:200]}")
    ctx = {"ip": P["ip"], "userAgent": UA, "locale": "nb-NO",
           "page": {"url": PAGE_URL, "referrer": REFERRER, "path": "/checkout/confirm",
                    "title": "Order confirmed"}}
    call(analytics.identify, P["user_id"], TRAITS, context=ctx)
    call(analytics.track, P["user_id"], "Order Completed",
         {"order_id": "ord-1043", "revenue": 42.5, "currency": "EUR", "email": P["email"],
          "shipping_address": ADDRESS}, context=ctx)
    call(analytics.page, P["user_id"], "Checkout", "Order confirmed",
         {"url": PAGE_URL, "referrer": REFERRER}, context=ctx)
    call(analytics.flush)
    call(analytics.shutdown)


def run_segment(base):
    import segment.analytics as analytics
    analytics.write_key = "seg_write_key_test"
    analytics.host = base
    segment_like(analytics, base)


def run_rudderstack(base):
    import rudderstack.analytics as analytics
    analytics.write_key = "rudder_write_key_test"
    analytics.dataPlaneUrl = base
    segment_like(analytics, base)


def run_posthog(base):
    from posthog import Posthog
    ph = Posthog("phc_test_project_key", host=base,
                 on_error=lambda e, batch: errors.append(f"on_error: {str(e)[:200]}"))
    props = {"email": P["email"], "name": P["name"], "phone": P["phone"]}
    call(ph.set, distinct_id=P["user_id"], properties=props)
    call(ph.capture, "order_completed", distinct_id=P["user_id"],
         properties={"$current_url": PAGE_URL, "$referrer": REFERRER, "$ip": P["ip"],
                     "order_id": "ord-1043", "revenue": 42.5, "email": P["email"],
                     "$set": {"city": P["city"]}})
    call(ph.alias, previous_id="anon-5d1e0b", distinct_id=P["user_id"])
    call(ph.flush)
    call(ph.shutdown)


def run_mixpanel(base):
    from mixpanel import Consumer, Mixpanel
    # Consumer(api_host=…) always builds https:// URLs; the endpoint URLs are the documented
    # way to point it elsewhere (the harness speaks plain HTTP on loopback).
    consumer = Consumer(events_url=base + "/track", people_url=base + "/engage",
                        groups_url=base + "/groups", import_url=base + "/import")
    mp = Mixpanel("mp_test_project_token", consumer=consumer)
    call(mp.track, P["user_id"], "Order Completed",
         {"$current_url": PAGE_URL, "$referrer": REFERRER, "email": P["email"],
          "order_id": "ord-1043", "revenue": 42.5, "ip": P["ip"]})
    call(mp.people_set, P["user_id"],
         {"$email": P["email"], "$name": P["name"], "$first_name": P["first_name"],
          "$last_name": P["last_name"], "$phone": P["phone"], "$city": P["city"],
          "address": P["street"], "birthday": P["birthday"]}, meta={"$ip": P["ip"]})
    # Not mp.alias: it always sends through a fresh default Consumer() to api.mixpanel.com,
    # whatever consumer the Mixpanel object was given (mixpanel/__init__.py, Mixpanel.alias),
    # so behind a proxy it bypasses the proxy.


def run_amplitude(base, batch=False):
    from amplitude import Amplitude, BaseEvent, Config, EventOptions, Identify

    def cb(event, code, message=None):
        if code != 200:
            errors.append(f"callback {code}: {str(message)[:200]}")

    url = base + ("/batch" if batch else "/2/httpapi")
    client = Amplitude("amp_test_api_key", Config(server_url=url, use_batch=batch, callback=cb))
    ident = Identify()
    for k, v in (("email", P["email"]), ("name", P["name"]), ("phone", P["phone"]),
                 ("city", P["city"]), ("street", P["street"]), ("birthday", P["birthday"])):
        ident.set(k, v)
    call(client.identify, ident, EventOptions(user_id=P["user_id"], ip=P["ip"],
                                              device_id="dev-3b9f", city=P["city"]))
    call(client.track, BaseEvent("Order Completed", user_id=P["user_id"], device_id="dev-3b9f",
                                 ip=P["ip"], event_properties={"order_id": "ord-1043",
                                                               "email": P["email"],
                                                               "page_url": PAGE_URL},
                                 user_properties={"email": P["email"], "name": P["name"]}))
    call(client.flush)
    call(client.shutdown)


def run_stripe(base):
    import stripe
    stripe.api_key = "sk_test_recorder_0000000000000000"
    stripe.api_base = base
    stripe.max_network_retries = 0
    address = {"line1": P["street"], "city": P["city"], "postal_code": P["postal_code"],
               "country": P["country"]}
    call(stripe.Customer.create, email=P["email"], name=P["name"], phone=P["phone"],
         address=address,
         description=f"{P['name']} <{P['email']}>, paid with card {P['card']}, tel {P['phone']}",
         metadata={"user_id": P["user_id"], "signup_ip": P["ip"], "birthday": P["birthday"]})
    call(stripe.PaymentIntent.create, amount=4250, currency="eur",
         customer="cus_recorder000001", receipt_email=P["email"],
         description=f"Order ord-1043 for {P['email']} (card {P['card']})",
         shipping={"name": P["name"], "phone": P["phone"], "address": address},
         metadata={"user_id": P["user_id"], "order_id": "ord-1043"})
    call(stripe.PaymentMethod.create, type="card",
         card={"token": "tok_visa"},
         billing_details={"name": P["name"], "email": P["email"], "phone": P["phone"],
                          "address": address})


def run_sendgrid(base):
    from sendgrid import SendGridAPIClient
    from sendgrid.helpers.mail import Mail, Personalization, To
    sg = SendGridAPIClient("SG.recorder-test-key", host=base)
    html = (f"<p>Hi {P['first_name']},</p><p>Thanks for your order, {P['name']}! We will call "
            f"you on <a href=\"tel:{P['phone_e164']}\">{P['phone']}</a> before delivery to "
            f"{P['street']}, {P['postal_code']} {P['city']}.</p><p>Receipt sent to "
            f"<a href=\"mailto:{P['email']}\">{P['email']}</a>. Card ending 4242 "
            f"({P['card']}) was charged.</p>")
    mail = Mail(from_email="orders@shop.example.com", to_emails=To(P["email"], P["name"]),
                subject=f"Your order, {P['first_name']}", html_content=html,
                plain_text_content=f"Hi {P['name']}, we will call {P['phone']}.")
    r = call(sg.send, mail)
    if r is not None and r.status_code != 202:
        errors.append(f"status {r.status_code}")
    # The template form proxy.toml's rules anticipate: dynamic_template_data and custom_args.
    mail = Mail(from_email="orders@shop.example.com")
    mail.template_id = "d-0123456789abcdef0123456789abcdef"
    pers = Personalization()
    pers.add_to(To(P["email"], P["name"]))
    pers.dynamic_template_data = {"first_name": P["first_name"], "phone": P["phone"],
                                  "date_of_birth": P["birthday"], "account_id": P["user_id"],
                                  "address": f"{P['street']}, {P['city']}"}
    pers.add_custom_arg(__import__("sendgrid.helpers.mail", fromlist=["CustomArg"])
                        .CustomArg("user_email", P["email"]))
    mail.add_personalization(pers)
    r = call(sg.send, mail)
    if r is not None and r.status_code != 202:
        errors.append(f"status {r.status_code}")


DRIVERS = {
    "segment": run_segment,
    "rudderstack": run_rudderstack,
    "posthog": run_posthog,
    "mixpanel": run_mixpanel,
    "amplitude": run_amplitude,
    "amplitude-batch": lambda base: run_amplitude(base, batch=True),
    "stripe": run_stripe,
    "sendgrid": run_sendgrid,
}


def main():
    vendor, base = sys.argv[1], sys.argv[2].rstrip("/")
    logging.basicConfig(level=logging.CRITICAL)  # SDK loggers would print the person's values
    DRIVERS[vendor](base)
    print(json.dumps({"driver": f"python:{vendor}", "calls": calls, "sdk_errors": errors}))


if __name__ == "__main__":
    main()
