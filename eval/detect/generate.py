#!/usr/bin/env python3
"""Builds the labelled corpus that scores piigate's PII detectors.

Every record is one JSON leaf as the rewriter would see it: the nearest member name (``key``,
or null), the string value, and the label assigned *at generation time* (a class name from
``src/detect/class.rs`` or null for a hard negative). ``gen`` names the generator so misses can
be traced back to a format.

Values come from Faker across en_US, en_GB, de_DE, fr_FR, en_IN and (for Pakistan) our own
generators following the official formats, since Faker has no ur_PK locale and its en_PK
locale reuses US phone formats:

- PK mobiles: ``03XX-NNNNNNN`` / ``+92 3XX NNNNNNN`` / ``03XXNNNNNNN`` (PTA numbering plan,
  operator codes 300-349 and 355); PK landlines ``0AA-NNNNNNN(N)``.
- CNIC: ``PPPPP-NNNNNNN-G`` (NADRA; first digit is the province 1-7, last digit odd for men,
  even for women).
- PK IBAN: ``PK`` + check digits + 4-letter bank code + 16 digits.

Faker's Maestro prefixes include ``0604``, which no card scheme issues; those PANs are
redrawn. Faker's Maestro numbers are all 12 digits long, which real Maestro cards rarely are;
they are kept.

Faker's de_DE and en_IN phone templates fill area codes with random digits and so emit
strings such as ``00669 074391`` or ``3533740681`` that no German or Indian numbering plan
allows (``00`` is the international prefix; Indian numbers without the trunk ``0`` are
mobiles starting 6-9). Those outputs are dropped and counted in the summary; every other Faker
output is kept as it comes.

Positives appear under a key that names their class (in many naming styles) 70% of the time
and under a neutral key (``value``, ``note``, ``field_7``) otherwise, so the score reflects
both key-assisted and value-only detection. Classes a value alone cannot reveal (date of
birth, bare 13-digit CNIC, bare 9-digit SSN, bare national phone numbers) are only generated
under keys that say so, because that is the only case the detector claims.

Usage: python generate.py [--seed N] [--out corpus.jsonl]
"""

import argparse
import base64
import collections
import datetime
import hashlib
import hmac
import ipaddress
import json
import random
import re
import string
import uuid

from faker import Faker

LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "en_IN"]

# Fixed date ranges: Faker's "this decade" and "date of birth" helpers are relative to today,
# which would change the corpus from one day to the next.
BIRTH_FROM = datetime.date(1930, 1, 1)
BIRTH_TO = datetime.date(2009, 12, 31)
EVENTS_FROM = datetime.datetime(2019, 1, 1)
EVENTS_TO = datetime.datetime(2026, 6, 30)

NEUTRAL_KEYS = ["value", "data", "note", "text", "field_7", "v", "input", "attr", "payload_value", "extra"]

# Keys per class, in the naming styles real payloads use.
CLASS_KEYS = {
    "email": ["email", "emailAddress", "email_address", "E-Mail", "$email", "contact_email", "userEmail", "billing_email"],
    "phone": ["phone", "phone_number", "phoneNumber", "mobile", "tel", "contact_number", "mobile_phone", "$phone", "whatsapp"],
    "payment_card": ["card_number", "cardNumber", "cc_number", "pan", "credit_card", "creditCardNumber"],
    "iban": ["iban", "IBAN", "bank_iban", "payout_iban", "ibanNumber"],
    "ip_address": ["ip", "ip_address", "ipAddress", "client_ip", "remote_addr", "context.ip", "x_forwarded_for"],
    "cnic": ["cnic", "cnic_number", "CNIC", "nic", "national_id", "nationalId"],
    "ssn": ["ssn", "SSN", "social_security_number", "socialSecurityNumber"],
    "date_of_birth": ["dob", "date_of_birth", "dateOfBirth", "birthdate", "birth_date", "birthday", "DOB"],
    "jwt": ["token", "id_token_value", "authorization_value", "jwt"],
    "api_key": ["key", "credential", "secret_value", "stripe_key", "aws_key"],
    "street_address": ["address", "street", "street_address", "address1", "line1", "shipping_address", "billingAddress"],
    "person_name": ["first_name", "firstName", "last_name", "lastName", "surname", "full_name", "fullName", "customer_name", "given_name"],
    "city": ["city", "City", "town", "billing_city"],
    "postal_code": ["zip", "zipcode", "zip_code", "postcode", "postal_code", "postalCode"],
    "gender": ["gender", "Gender", "sex"],
    "user_agent": ["user_agent", "userAgent", "ua", "context.userAgent"],
    "geolocation": ["lat", "lng", "latitude", "longitude", "location_lat"],
}

# Realistic keys for hard negatives.
NEGATIVE_KEYS = {
    "uuid": ["anonymousId", "messageId", "session_id", "request_id", "id"],
    "hex": ["sha", "commit", "checksum", "hash", "etag", "object_id"],
    "timestamp": ["timestamp", "sentAt", "receivedAt", "created_at", "updated_at", "date", "delivery_date", "expires"],
    "order": ["order_id", "orderId", "invoice", "sku", "reference", "cart_id", "transaction_id"],
    "version": ["version", "app_version", "sdk_version", "os_version", "build", "library.version"],
    "price": ["price", "revenue", "total", "amount", "discount", "tax"],
    "tracking": ["tracking_number", "trackingNumber", "shipment", "awb"],
    "text": ["event", "title", "description", "category", "product_name", "name", "label", "campaign", "path", "url", "referrer", "search"],
}


class Gen:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.fakers = {}
        for i, loc in enumerate(LOCALES + ["es_ES", "it_IT", "nl_NL", "pl_PL", "pt_PT", "de_AT", "de_CH", "nl_BE", "fi_FI", "no_NO", "en_PK"]):
            f = Faker(loc)
            f.seed_instance(seed * 100 + i)
            self.fakers[loc] = f
        self.records = []
        self.dropped = collections.Counter()

    def f(self, loc=None):
        return self.fakers[loc or self.rng.choice(LOCALES)]

    def add(self, key, value, label, gen):
        self.records.append({"key": key, "value": value, "label": label, "gen": gen})

    def key_for(self, label, keyed=0.7):
        if self.rng.random() < keyed:
            return self.rng.choice(CLASS_KEYS[label])
        return self.rng.choice(NEUTRAL_KEYS)

    def digits(self, n):
        return "".join(self.rng.choice(string.digits) for _ in range(n))

    # --- positives -------------------------------------------------------------------

    def emails(self, n):
        for _ in range(n):
            f = self.f()
            kind = self.rng.choice(["email", "free_email", "company_email", "safe_email", "tagged", "upper"])
            if kind == "tagged":
                local, dom = f.email().split("@")
                v = f"{local}+{f.word()}@{dom}"
            elif kind == "upper":
                v = f.email().capitalize()
            else:
                v = getattr(f, kind)()
            self.add(self.key_for("email"), v, "email", f"email/{kind}")

    def pk_mobile(self):
        op = self.rng.choice([f"30{d}" for d in range(10)] + [f"31{d}" for d in range(10)] + [f"32{d}" for d in range(5)] + [f"33{d}" for d in range(10)] + [f"34{d}" for d in range(10)] + ["355"])
        sub = self.digits(7)
        fmt = self.rng.choice(["dash", "intl_space", "bare", "e164", "space", "intl_dash"])
        return {
            "dash": f"0{op}-{sub}",
            "intl_space": f"+92 {op} {sub}",
            "bare": f"0{op}{sub}",
            "e164": f"+92{op}{sub}",
            "space": f"0{op} {sub}",
            "intl_dash": f"+92-{op}-{sub}",
        }[fmt], f"phone/pk_mobile_{fmt}"

    def pk_landline(self):
        area, n = self.rng.choice([("42", 8), ("21", 8), ("51", 7), ("91", 7), ("61", 7), ("41", 7)])
        sub = self.digits(n)
        if self.rng.random() < 0.5:
            return f"0{area}-{sub}", "phone/pk_landline"
        return f"+92 {area} {sub}", "phone/pk_landline_intl"

    def in_mobile(self):
        m = self.rng.choice("6789") + self.digits(9)
        fmt = self.rng.choice(["intl_space", "e164", "split", "trunk", "bare"])
        return {
            "intl_space": f"+91 {m[:5]} {m[5:]}",
            "e164": f"+91{m}",
            "split": f"{m[:5]} {m[5:]}",
            "trunk": f"0{m}",
            "bare": m,
        }[fmt], f"phone/in_mobile_{fmt}"

    def de_mobile(self):
        pre = self.rng.choice(["151", "152", "160", "162", "170", "171", "172", "173", "175", "176", "177", "178", "179"])
        sub = self.digits(self.rng.choice([7, 8]))
        fmt = self.rng.choice(["national", "intl", "slash"])
        return {"national": f"0{pre} {sub}", "intl": f"+49 {pre} {sub}", "slash": f"0{pre}/{sub}"}[fmt], f"phone/de_mobile_{fmt}"

    def faker_phone(self, loc):
        for _ in range(50):
            v = self.fakers[loc].phone_number()
            national = re.sub(r"\D", "", v)
            if loc in ("de_DE", "en_IN") and not v.startswith("+") and national.startswith("00"):
                self.dropped[f"{loc} phone starting 00"] += 1
                continue
            if loc == "en_IN" and not v.startswith("+") and len(national) == 10 and national[0] in "012345":
                self.dropped[f"{loc} 10-digit phone starting 0-5"] += 1
                continue
            return v, f"phone/faker_{loc}"
        raise RuntimeError("no phone")

    def phones(self, n):
        for _ in range(n):
            r = self.rng.random()
            if r < 0.45:
                v, gen = self.faker_phone(self.rng.choice(["en_US", "en_GB", "de_DE", "fr_FR", "en_IN"]))
            elif r < 0.75:
                v, gen = self.pk_mobile()
            elif r < 0.82:
                v, gen = self.pk_landline()
            elif r < 0.92:
                v, gen = self.in_mobile()
            else:
                v, gen = self.de_mobile()
            # Bare national digits without a trunk prefix are only claimed under a phone key.
            bare_no_trunk = re.fullmatch(r"[1-9]\d{6,11}", v) is not None
            key = self.rng.choice(CLASS_KEYS["phone"]) if bare_no_trunk else self.key_for("phone")
            self.add(key, v, "phone", gen)
        # A few US numbers as bare digits under phone keys (the key-hint path).
        for _ in range(n // 20):
            v = self.rng.choice("23456789") + self.digits(2) + self.rng.choice("23456789") + self.digits(6)
            self.add(self.rng.choice(CLASS_KEYS["phone"]), v, "phone", "phone/us_bare_keyed")

    def cards(self, n):
        types = ["visa16", "visa13", "visa19", "mastercard", "amex", "discover", "jcb15", "jcb16", "diners", "maestro"]
        for _ in range(n):
            t = self.rng.choice(types)
            num = self.f("en_US").credit_card_number(card_type=t)
            while num.startswith("0"):
                # Faker's Maestro list includes a `0604` prefix; no scheme issues PANs starting 0.
                self.dropped["maestro PAN starting 0"] += 1
                num = self.f("en_US").credit_card_number(card_type=t)
            fmt = self.rng.choice(["bare", "bare", "space", "dash"])
            if fmt != "bare":
                sep = " " if fmt == "space" else "-"
                if len(num) == 15 and num[0] == "3" and num[1] in "47":
                    num = sep.join([num[:4], num[4:10], num[10:]])
                else:
                    num = sep.join(num[i:i + 4] for i in range(0, len(num), 4))
            self.add(self.key_for("payment_card"), num, "payment_card", f"card/{t}_{fmt}")

    def pk_iban(self):
        bank = self.rng.choice(["SCBL", "HABB", "MUCB", "UNIL", "ALFH", "MEZN", "BAHL", "NBPA"])
        acct = self.digits(16)
        bban = bank + acct
        check = 98 - int(to_digits(bban + "PK00")) % 97
        return f"PK{check:02d}{bban}"

    def ibans(self, n):
        locs = ["en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL", "pt_PT", "de_AT", "de_CH", "nl_BE", "fi_FI", "no_NO"]
        for _ in range(n):
            if self.rng.random() < 0.2:
                v, src = self.pk_iban(), "pk"
            else:
                loc = self.rng.choice(locs)
                v, src = self.fakers[loc].iban(), loc
            fmt = self.rng.choice(["compact", "compact", "print", "lower"])
            if fmt == "print":
                v = " ".join(v[i:i + 4] for i in range(0, len(v), 4))
            elif fmt == "lower":
                v = v.lower()
            self.add(self.key_for("iban"), v, "iban", f"iban/{src}_{fmt}")

    def ips(self, n):
        f = self.f("en_US")
        for _ in range(n):
            kind = self.rng.choice(["ipv4", "ipv4_private", "ipv4_public", "ipv6", "ipv6", "ipv6_compressed", "ipv4_mapped"])
            if kind == "ipv6_compressed":
                # Zero a run of groups so the canonical text form uses `::`.
                groups = f.ipv6().split(":")
                i = self.rng.randrange(0, 7)
                for j in range(i, min(8, i + self.rng.randrange(2, 5))):
                    groups[j] = "0"
                v = str(ipaddress.IPv6Address(":".join(groups)))
            elif kind == "ipv4_mapped":
                v = "::ffff:" + f.ipv4()
            else:
                v = getattr(f, kind)()
            self.add(self.key_for("ip_address"), v, "ip_address", f"ip/{kind}")

    def cnic(self):
        province = self.rng.choice("1234567")
        gender = self.rng.choice("0123456789")
        return f"{province}{self.digits(4)}", self.digits(7), gender

    def cnics(self, n):
        for _ in range(n):
            a, b, g = self.cnic()
            if self.rng.random() < 0.75:
                self.add(self.key_for("cnic"), f"{a}-{b}-{g}", "cnic", "cnic/dashed")
            else:
                self.add(self.rng.choice(CLASS_KEYS["cnic"]), f"{a}{b}{g}", "cnic", "cnic/bare_keyed")

    def ssns(self, n):
        for _ in range(n):
            v = self.f("en_US").ssn()
            r = self.rng.random()
            if r < 0.7:
                self.add(self.key_for("ssn"), v, "ssn", "ssn/dashed")
            elif r < 0.8:
                self.add(self.key_for("ssn"), v.replace("-", " "), "ssn", "ssn/spaced")
            else:
                self.add(self.rng.choice(CLASS_KEYS["ssn"]), v.replace("-", ""), "ssn", "ssn/bare_keyed")

    def dobs(self, n):
        fmts = ["%Y-%m-%d", "%Y/%m/%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y%m%d", "%B %d, %Y", "%d %B %Y", "%d-%b-%Y", "%Y-%m-%dT00:00:00Z"]
        for _ in range(n):
            d = self.f().date_between(start_date=BIRTH_FROM, end_date=BIRTH_TO)
            fmt = self.rng.choice(fmts)
            self.add(self.rng.choice(CLASS_KEYS["date_of_birth"]), d.strftime(fmt), "date_of_birth", f"dob/{fmt}")

    def jwts(self, n):
        for _ in range(n):
            f = self.f()
            alg = self.rng.choice(["HS256", "RS256", "ES256", "none"])
            header = {"alg": alg, "typ": "JWT"}
            if self.rng.random() < 0.3:
                header["kid"] = uuid.UUID(int=self.rng.getrandbits(128)).hex
            claims = {"sub": str(uuid.UUID(int=self.rng.getrandbits(128))), "email": f.email(), "iat": self.rng.randrange(1_600_000_000, 1_800_000_000)}
            h = b64u(json.dumps(header, separators=(",", ":")).encode())
            p = b64u(json.dumps(claims, separators=(",", ":")).encode())
            if alg == "none":
                sig = ""
            elif alg == "HS256":
                sig = b64u(hmac.new(self.rng.randbytes(32), f"{h}.{p}".encode(), hashlib.sha256).digest())
            else:
                sig = b64u(self.rng.randbytes(256 if alg == "RS256" else 64))
            self.add(self.key_for("jwt"), f"{h}.{p}.{sig}", "jwt", f"jwt/{alg}")

    def api_keys(self, n):
        alnum = string.ascii_letters + string.digits
        upper = string.ascii_uppercase + string.digits
        url = alnum + "_-"
        hexd = "0123456789abcdef"

        def r(chars, k):
            return "".join(self.rng.choice(chars) for _ in range(k))

        shapes = [
            ("stripe", lambda: self.rng.choice(["sk_live_", "sk_test_", "rk_live_"]) + r(alnum, self.rng.choice([24, 99]))),
            ("aws", lambda: self.rng.choice(["AKIA", "ASIA"]) + r(upper, 16)),
            ("github", lambda: self.rng.choice(["ghp_", "gho_", "ghs_"]) + r(alnum, 36)),
            ("slack", lambda: self.rng.choice(["xoxb-", "xoxp-"]) + f"{self.digits(11)}-{self.digits(12)}-{r(alnum, 24)}"),
            ("google", lambda: "AIza" + r(url, 35)),
            ("sendgrid", lambda: "SG." + r(url, 22) + "." + r(url, 43)),
            ("gitlab", lambda: "glpat-" + r(url, 20)),
            ("shopify", lambda: "shpat_" + r(hexd, 32)),
        ]
        for _ in range(n):
            name, mk = self.rng.choice(shapes)
            self.add(self.key_for("api_key"), mk(), "api_key", f"api_key/{name}")

    def addresses(self, n):
        for _ in range(n):
            loc = self.rng.choice(LOCALES)
            f = self.fakers[loc]
            v = f.street_address() if self.rng.random() < 0.8 else f.address()
            self.add(self.key_for("street_address"), v, "street_address", f"address/{loc}")

    def free_text(self, n):
        templates = [
            "Please call me at {} tomorrow",
            "New number: {}",
            "Contact {} for delivery questions.",
            "Customer said to reach them on {} after 5pm",
            "Refund to {} requested",
            "Login from {} flagged by fraud check",
        ]
        makers = [
            ("phone", lambda: self.pk_mobile()[0]),
            ("phone", lambda: self.faker_phone("en_US")[0]),
            ("email", lambda: self.f().email()),
            ("payment_card", lambda: group4(self.f("en_US").credit_card_number(card_type="visa16"))),
            ("ip_address", lambda: self.f("en_US").ipv4_public()),
            ("cnic", lambda: "-".join(self.cnic())),
        ]
        for _ in range(n):
            label, mk = self.rng.choice(makers)
            v = self.rng.choice(templates).format(mk())
            self.add(self.rng.choice(["message", "subject", "comment", "notes", "description"]), v, label, f"text/{label}")

    def key_only(self, n):
        for _ in range(n):
            f = self.f()
            label = self.rng.choice(["person_name", "city", "postal_code", "gender", "user_agent", "geolocation"])
            v = {
                "person_name": lambda: self.rng.choice([f.first_name, f.last_name, f.name])(),
                "city": f.city,
                "postal_code": f.postcode,
                "gender": lambda: self.rng.choice(["female", "male", "non-binary", "F", "M"]),
                "user_agent": f.user_agent,
                "geolocation": lambda: str(self.rng.choice([f.latitude, f.longitude])()),
            }[label]()
            self.add(self.rng.choice(CLASS_KEYS[label]), v, label, f"key/{label}")

    # --- hard negatives ---------------------------------------------------------------

    def negatives(self, n):
        f = self.f("en_US")
        makers = {
            "uuid": lambda: str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "hex": lambda: self.rng.choice([hashlib.sha1, hashlib.sha256, hashlib.md5])(self.rng.randbytes(16)).hexdigest(),
            "object_id": lambda: self.rng.randbytes(12).hex(),
            "iso_datetime": lambda: f.date_time_between(start_date=EVENTS_FROM, end_date=EVENTS_TO).isoformat() + self.rng.choice(["Z", ".000Z", "+00:00", ""]),
            "iso_date": lambda: f.date_between(start_date=EVENTS_FROM, end_date=EVENTS_TO).isoformat(),
            "date_dmy": lambda: f.date_between(start_date=EVENTS_FROM, end_date=EVENTS_TO).strftime(self.rng.choice(["%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y"])),
            "unix_s": lambda: str(self.rng.randrange(1_500_000_000, 1_800_000_000)),
            "unix_ms": lambda: str(self.rng.randrange(1_500_000_000_000, 1_800_000_000_000)),
            "time": lambda: f.date_time_between(start_date=EVENTS_FROM, end_date=EVENTS_TO).strftime("%H:%M:%S"),
            "order": lambda: self.rng.choice(["ORD-", "INV-", "#", "PO", "A", ""]) + self.rng.choice([self.digits(6), f"{self.rng.randrange(2019, 2026)}-{self.digits(6)}", self.digits(9), self.digits(12)]),
            "version": lambda: self.rng.choice([
                f"{self.rng.randrange(0, 20)}.{self.rng.randrange(0, 30)}.{self.rng.randrange(0, 200)}",
                f"v{self.rng.randrange(0, 5)}.{self.rng.randrange(0, 30)}.{self.rng.randrange(0, 10)}",
                f"{self.rng.randrange(1, 20)}.{self.rng.randrange(0, 10)}.{self.rng.randrange(0, 10)}.{self.rng.randrange(1, 9)}.{self.rng.randrange(1, 9)}",
                f"{self.rng.randrange(1, 4)}.{self.rng.randrange(0, 10)}.{self.rng.randrange(0, 10)}-beta.{self.rng.randrange(1, 9)}",
            ]),
            "dotted_version": lambda: f"{self.rng.randrange(1, 20)}.{self.rng.randrange(0, 10)}.{self.rng.randrange(0, 10)}.{self.rng.randrange(0, 9999)}",
            "price": lambda: self.rng.choice(["{:.2f}", "${:,.2f}", "{:,.2f} EUR", "€{:.2f}"]).format(self.rng.uniform(0.5, 25000)),
            "sha": lambda: hashlib.sha256(self.rng.randbytes(8)).hexdigest(),
            "tracking_ups": lambda: "1Z" + "".join(self.rng.choice(string.ascii_uppercase + string.digits) for _ in range(16)),
            "tracking_fedex": lambda: self.digits(self.rng.choice([12, 15])),
            "tracking_usps": lambda: "9400 " + " ".join(self.digits(4) for _ in range(4)) + " " + self.digits(2),
            "digits_luhn_fail": self.luhn_failing_digits,
            "isbn": lambda: self.rng.choice([f.isbn10, f.isbn13])(),
            "zip4": lambda: f"{self.digits(5)}-{self.digits(4)}",
            "mac": f.mac_address,
            "user_agent_text": f.user_agent,
            "url": lambda: self.rng.choice([f.url, f.uri, f.image_url])(),
            "sentence": f.sentence,
            "product": lambda: f"{f.color_name()} {f.word().title()} {self.rng.choice(['T-Shirt', 'Sneaker', 'Mug', 'Backpack'])}",
            "company": f.company,
            "word": f.word,
            "event": lambda: self.rng.choice(["Order Completed", "Product Viewed", "Checkout Started", "Signed Up", "Page Viewed"]),
            "locale": f.locale,
            "currency": f.currency_code,
            "bool": lambda: self.rng.choice(["true", "false"]),
            "retina_asset": lambda: f"{f.word()}@{self.rng.choice(['2x', '3x'])}.png",
            "git_remote": lambda: f"git@github.com:{f.user_name()}/{f.word()}.git",
            "npm_scope": lambda: f"@{f.word()}/{f.word()}",
            "creditor_ref": lambda: "RF" + self.digits(2) + " " + " ".join(self.digits(4) for _ in range(3)),
            "piigate_token": lambda: "tok_k1_" + b64u(self.rng.randbytes(16)),
            "coupon": lambda: "".join(self.rng.choice(string.ascii_uppercase + string.digits) for _ in range(self.rng.choice([8, 10, 12]))),
            "numeric_id": lambda: str(self.rng.randrange(1, 10**self.rng.choice([4, 6, 7, 8, 9, 10, 11]))),
            "time_range": lambda: f"{self.rng.randrange(8, 12)}:00-{self.rng.randrange(13, 20)}:00",
        }
        kinds = list(makers)
        for _ in range(n):
            kind = self.rng.choice(kinds)
            key_kind = {
                "uuid": "uuid", "hex": "hex", "object_id": "hex", "sha": "hex",
                "iso_datetime": "timestamp", "iso_date": "timestamp", "date_dmy": "timestamp", "unix_s": "timestamp", "unix_ms": "timestamp", "time": "timestamp", "time_range": "timestamp",
                "order": "order", "numeric_id": "order", "coupon": "order", "digits_luhn_fail": "order", "zip4": "order",
                "version": "version", "dotted_version": "version",
                "price": "price",
                "tracking_ups": "tracking", "tracking_fedex": "tracking", "tracking_usps": "tracking",
            }.get(kind, "text")
            key = self.rng.choice(NEGATIVE_KEYS[key_kind]) if self.rng.random() < 0.8 else self.rng.choice(NEUTRAL_KEYS)
            self.add(key, makers[kind](), None, f"neg/{kind}")

    def luhn_failing_digits(self):
        while True:
            v = self.rng.choice("123456789") + self.digits(self.rng.randrange(12, 19))
            if not luhn(v):
                return v


def group4(num):
    return " ".join(num[i:i + 4] for i in range(0, len(num), 4))


def luhn(s):
    total = 0
    for i, ch in enumerate(reversed(s)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def to_digits(s):
    return "".join(str(int(c, 36)) for c in s)


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--out", default="corpus.jsonl")
    args = ap.parse_args()

    g = Gen(args.seed)
    g.emails(1500)
    g.phones(2000)
    g.cards(1200)
    g.ibans(1000)
    g.ips(1400)
    g.cnics(1000)
    g.ssns(600)
    g.dobs(600)
    g.jwts(250)
    g.api_keys(300)
    g.addresses(800)
    g.free_text(600)
    g.key_only(900)
    g.negatives(7000)
    g.rng.shuffle(g.records)

    with open(args.out, "w", encoding="utf-8") as out:
        for r in g.records:
            out.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n")
    labels = collections.Counter(r["label"] or "none" for r in g.records)
    print(f"wrote {len(g.records)} records to {args.out}")
    for label, count in sorted(labels.items()):
        print(f"  {label:16} {count}")
    for why, count in sorted(g.dropped.items()):
        print(f"  dropped: {why}: {count}")


if __name__ == "__main__":
    main()
