#!/usr/bin/env python3
"""Builds the free-text corpus that scores piigate's span scanner (src/detect/spans).

Every record is one text as a rule would hand it to ``scrub``: a support-ticket sentence, a
whole ticket, an HTML mail body or a URL, in one of several locales, with the byte offsets
(UTF-8) of every piece of personal data the generator put in it and its class. Hard negatives
sit in the same texts, unlabelled: order and ticket numbers, tracking ids (UPS, FedEx, USPS),
versions and build numbers, prices, hashes, timestamps (ISO, unix seconds and milliseconds),
ISBNs, UUIDs, ordinary dates and times, postcodes, MAC addresses, user agents, git remotes,
retina asset names, creditor references.

Values come from Faker (pinned in requirements.txt) and, for what Faker lacks, from the
generators of ``generate.py`` (Pakistani numbers and CNICs, PK IBANs, German and Indian
mobiles, JWTs, API keys), with the same redraw rules for Faker outputs that violate the real
format. Labels follow the scanner's span conventions: a date of birth is the date after the
keyword, not the keyword; an address is Faker's ``street_address`` (house number to street
word, with the unit line Faker adds); an email in a ``mailto:`` link and its text are two
spans.

Usage: python spans.py [--seed N] [--out spans.jsonl]
"""

import argparse
import collections
import datetime
import html as htmllib
import json
import random
import urllib.parse

import generate as g

LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "en_IN"]
IBAN_LOCALES = ["en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL", "pt_PT", "de_AT", "de_CH", "nl_BE", "fi_FI", "no_NO"]

BIRTH_FROM = datetime.date(1930, 1, 1)
BIRTH_TO = datetime.date(2009, 12, 31)
EVENTS_FROM = datetime.datetime(2019, 1, 1)
EVENTS_TO = datetime.datetime(2026, 6, 30)


class Doc:
    """Text under construction with labelled spans (UTF-8 byte offsets)."""

    def __init__(self):
        self.parts = []
        self.len = 0
        self.spans = []

    def add(self, s):
        self.parts.append(s)
        self.len += len(s.encode())
        return self

    def pii(self, raw, cls):
        start = self.len
        self.add(raw)
        self.spans.append([start, self.len, cls])
        return self

    def text(self):
        return "".join(self.parts)


class Corpus:
    def __init__(self, seed):
        self.gen = g.Gen(seed)  # Faker instances per locale and the PK/IN/DE generators
        self.rng = random.Random(seed + 1)
        self.records = []
        self.dropped = collections.Counter()

    def f(self, loc):
        return self.gen.fakers[loc]

    # --- positives ---------------------------------------------------------------------

    def email(self, loc):
        f = self.f(loc)
        kind = self.rng.choice(["email", "free_email", "company_email", "tagged", "upper", "dotted"])
        if kind == "tagged":
            local, dom = f.email().split("@")
            return f"{local}+{f.word()}@{dom}"
        if kind == "upper":
            return f.email().capitalize()
        if kind == "dotted":
            return f"{f.first_name().lower()}.{f.last_name().lower()}@{f.free_email_domain()}".replace(" ", "")
        return getattr(f, kind)()

    def phone(self, loc):
        r = self.rng.random()
        if loc == "en_IN" and r < 0.4:
            return self.gen.in_mobile()[0]
        if loc == "de_DE" and r < 0.3:
            return self.gen.de_mobile()[0]
        if r < 0.15:
            return self.gen.pk_mobile()[0]
        v, _ = self.gen.faker_phone(loc)
        return v

    def card(self):
        t = self.rng.choice(["visa16", "visa16", "visa13", "mastercard", "mastercard", "amex", "discover", "jcb16", "diners", "maestro"])
        num = self.f("en_US").credit_card_number(card_type=t)
        while num.startswith("0"):
            self.dropped["maestro PAN starting 0"] += 1
            num = self.f("en_US").credit_card_number(card_type=t)
        fmt = self.rng.choice(["bare", "space", "space", "dash"])
        if fmt != "bare":
            sep = " " if fmt == "space" else "-"
            if len(num) == 15 and num[0] == "3" and num[1] in "47":
                num = sep.join([num[:4], num[4:10], num[10:]])
            else:
                num = sep.join(num[i:i + 4] for i in range(0, len(num), 4))
        return num

    def iban(self):
        if self.rng.random() < 0.2:
            v = self.gen.pk_iban()
        else:
            v = self.f(self.rng.choice(IBAN_LOCALES)).iban()
        fmt = self.rng.choice(["compact", "print", "print", "lower"])
        if fmt == "print":
            v = " ".join(v[i:i + 4] for i in range(0, len(v), 4))
        elif fmt == "lower":
            v = v.lower()
        return v

    def ip(self):
        f = self.f("en_US")
        kind = self.rng.choice(["ipv4_public", "ipv4_public", "ipv4_private", "ipv6", "ipv6_compressed", "ipv4_mapped"])
        if kind == "ipv6_compressed":
            import ipaddress
            groups = f.ipv6().split(":")
            i = self.rng.randrange(0, 7)
            for j in range(i, min(8, i + self.rng.randrange(2, 5))):
                groups[j] = "0"
            return str(ipaddress.IPv6Address(":".join(groups)))
        if kind == "ipv4_mapped":
            return "::ffff:" + f.ipv4()
        return getattr(f, kind)()

    def ssn(self):
        v = self.f("en_US").ssn()
        return v if self.rng.random() < 0.85 else v.replace("-", " ")

    def cnic(self):
        return "-".join(self.gen.cnic())

    def jwt(self):
        before = len(self.gen.records)
        self.gen.jwts(1)
        return self.gen.records.pop()["value"] if len(self.gen.records) > before else None

    def api_key(self):
        self.gen.api_keys(1)
        return self.gen.records.pop()["value"]

    def dob(self, loc):
        """(text before the date, the date)."""
        d = self.f(loc).date_between(start_date=BIRTH_FROM, end_date=BIRTH_TO)
        if loc == "de_DE":
            kw = self.rng.choice(["Geburtsdatum: ", "geboren am ", "geb. ", "Geburtsdatum "])
            fmt = self.rng.choice(["%d.%m.%Y", "%d.%m.%Y", "%Y-%m-%d"])
        elif loc == "fr_FR":
            kw = self.rng.choice(["né le ", "née le ", "date de naissance : ", "Date de naissance: "])
            fmt = self.rng.choice(["%d/%m/%Y", "%d/%m/%Y", "%Y-%m-%d"])
        else:
            kw = self.rng.choice(["DOB: ", "DOB ", "D.O.B. ", "born on ", "born ", "Date of birth: ", "date of birth is ", "Birthdate: ", "birthday: "])
            fmt = {
                "en_US": ["%m/%d/%Y", "%B %d, %Y", "%Y-%m-%d", "%b %d, %Y"],
                "en_GB": ["%d/%m/%Y", "%d %B %Y", "%Y-%m-%d", "%d.%m.%Y"],
                "en_IN": ["%d-%m-%Y", "%d/%m/%Y", "%d %B %Y"],
            }[loc]
            fmt = self.rng.choice(fmt)
        s = d.strftime(fmt)
        if "%d" in fmt and " " in fmt and self.rng.random() < 0.5:
            s = s.replace(" 0", " ", 1) if fmt.startswith("%B") else (s[1:] if s.startswith("0") else s)
        return kw, s

    def address(self, loc):
        return self.f(loc).street_address()

    # --- hard negatives -----------------------------------------------------------------

    def neg(self, kind, loc="en_US"):
        f = self.f(loc)
        r = self.rng
        d = lambda n: self.gen.digits(n)
        return {
            "order": lambda: r.choice([f"#{d(6)}", f"ORD-{r.randrange(2019, 2026)}-{d(6)}", f"PO {d(10)}", d(9), f"INV-{r.randrange(2019, 2026)}-{d(4)}"]),
            "ticket": lambda: f"#{r.randrange(1000, 99999)}",
            "ups": lambda: "1Z" + "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(16)),
            "fedex": lambda: d(12),
            "usps": lambda: "9400 " + " ".join(d(4) for _ in range(4)) + " " + d(2),
            "version": lambda: r.choice([f"v{r.randrange(0, 5)}.{r.randrange(0, 30)}.{r.randrange(0, 10)}", f"{r.randrange(1, 20)}.{r.randrange(0, 10)}.{r.randrange(0, 300)}", f"version {r.randrange(1, 20)}.{r.randrange(0, 10)}.{r.randrange(0, 10)}.{r.randrange(1, 999)}", f"build 10.0.{r.randrange(10000, 22000)}.{r.randrange(1, 999)}"]),
            "price": lambda: r.choice(["${:,.2f}", "{:.2f} EUR", "€{:.2f}", "£{:,.2f}", "Rs. {:,.0f}"]).format(r.uniform(0.5, 25000)),
            "hash": lambda: r.choice([g.hashlib.sha1, g.hashlib.sha256, g.hashlib.md5])(r.randbytes(16)).hexdigest(),
            "iso": lambda: f.date_time_between(start_date=EVENTS_FROM, end_date=EVENTS_TO).isoformat() + r.choice(["Z", ".000Z", "+00:00", ""]),
            "unix": lambda: str(r.randrange(1_500_000_000, 1_800_000_000)) if r.random() < 0.5 else str(r.randrange(1_500_000_000_000, 1_800_000_000_000)),
            "isbn": lambda: r.choice([f.isbn10, f.isbn13])(),
            "uuid": lambda: str(g.uuid.UUID(int=r.getrandbits(128), version=4)),
            "date": lambda: f.date_between(start_date=EVENTS_FROM, end_date=EVENTS_TO).strftime(r.choice(["%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%B %d, %Y"])),
            "time": lambda: f"{r.randrange(0, 24):02d}:{r.randrange(0, 60):02d}",
            "postcode": lambda: f.postcode(),
            "percent": lambda: f"{r.randrange(1, 100)}%",
            "qty": lambda: f"{r.randrange(2, 20)} items",
            "coupon": lambda: "".join(r.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(r.choice([8, 10]))),
            "mac": f.mac_address,
            "ua": f.user_agent,
            "git": lambda: f"git@github.com:{f.user_name()}/{f.word()}.git",
            "retina": lambda: f"{f.word()}@{r.choice(['2x', '3x'])}.png",
            "creditor": lambda: "RF" + d(2) + " " + " ".join(d(4) for _ in range(3)),
            "zip4": lambda: f"{d(5)}-{d(4)}",
        }[kind]()

    NEG_KINDS = ["order", "ticket", "ups", "fedex", "usps", "version", "price", "hash", "iso", "unix", "isbn", "uuid", "date", "time", "postcode", "percent", "qty", "coupon", "mac", "ua", "git", "retina", "creditor", "zip4"]

    # --- texts --------------------------------------------------------------------------

    def value(self, cls, loc):
        return {
            "email": lambda: self.email(loc),
            "phone": lambda: self.phone(loc),
            "payment_card": self.card,
            "iban": self.iban,
            "ip_address": self.ip,
            "ssn": self.ssn,
            "cnic": self.cnic,
            "jwt": self.jwt,
            "api_key": self.api_key,
        }[cls]()

    def fill(self, doc, template, loc):
        """Expands `{p:class}` (a labelled value), `{n:kind}` (a hard negative), `{name}`."""
        i = 0
        while i < len(template):
            j = template.find("{", i)
            if j < 0:
                doc.add(template[i:])
                break
            doc.add(template[i:j])
            k = template.index("}", j)
            slot = template[j + 1:k]
            i = k + 1
            if slot == "name":
                doc.add(self.f(loc).name())
            elif slot == "city":
                doc.add(self.f(loc).city())
            elif slot == "company":
                doc.add(self.f(loc).company())
            elif slot.startswith("n:"):
                doc.add(self.neg(slot[2:], loc))
            elif slot == "p:dob":
                kw, date = self.dob(loc)
                doc.add(kw).pii(date, "date_of_birth")
            elif slot == "p:street_address":
                doc.pii(self.address(loc), "street_address")
            else:
                doc.pii(self.value(slot[2:], loc), slot[2:])

    def record(self, kind, loc, gen, doc):
        self.records.append({"kind": kind, "locale": loc, "gen": gen, "text": doc.text(), "spans": doc.spans})

    def sentences(self, n):
        for _ in range(n):
            loc = self.rng.choice(LOCALES)
            lang = {"de_DE": "de", "fr_FR": "fr"}.get(loc, "en")
            t = self.rng.choice(TEMPLATES[lang])
            doc = Doc()
            self.fill(doc, t, loc)
            self.record("plain", loc, f"sentence/{lang}", doc)

    def negatives(self, n):
        """Sentences with hard negatives only."""
        for _ in range(n):
            loc = self.rng.choice(LOCALES)
            lang = {"de_DE": "de", "fr_FR": "fr"}.get(loc, "en")
            doc = Doc()
            for _ in range(self.rng.randrange(1, 4)):
                kind = self.rng.choice(self.NEG_KINDS)
                self.fill(doc, self.rng.choice(NEGATIVE_TEMPLATES[lang]).replace("{n}", "{n:" + kind + "}"), loc)
                doc.add(" ")
            self.record("plain", loc, "negatives", doc)

    def tickets(self, n):
        for _ in range(n):
            loc = self.rng.choice(LOCALES)
            lang = {"de_DE": "de", "fr_FR": "fr"}.get(loc, "en")
            doc = Doc()
            f = self.f(loc)
            greet = {"en": "Hi team,", "de": "Hallo zusammen,", "fr": "Bonjour,"}[lang]
            doc.add(f"Subject: {self.rng.choice(SUBJECTS[lang])} {self.neg('ticket', loc)}\n\n{greet}\n\n")
            for _ in range(self.rng.randrange(2, 6)):
                pool = TEMPLATES[lang] if self.rng.random() < 0.6 else NEGATIVE_TEMPLATES[lang]
                t = self.rng.choice(pool)
                if "{n}" in t:
                    t = t.replace("{n}", "{n:" + self.rng.choice(self.NEG_KINDS) + "}")
                self.fill(doc, t, loc)
                doc.add(" " if self.rng.random() < 0.6 else "\n")
            sign = {"en": "Thanks,", "de": "Viele Grüße", "fr": "Cordialement,"}[lang]
            doc.add(f"\n\n{sign}\n{f.name()}\n")
            if self.rng.random() < 0.5:
                doc.pii(self.phone(loc), "phone").add("\n")
            if self.rng.random() < 0.4:
                doc.add("\n> On ").add(self.neg("date", loc)).add(", ").pii(f"support@{f.domain_name()}", "email").add(" wrote:\n> ")
                self.fill(doc, self.rng.choice(NEGATIVE_TEMPLATES[lang]).replace("{n}", "{n:order}"), loc)
                doc.add("\n")
            self.record("plain", loc, f"ticket/{lang}", doc)

    def mails(self, n):
        for _ in range(n):
            loc = self.rng.choice(LOCALES)
            self.record("html", loc, "html/mail", self.mail(loc))

    def mail(self, loc):
        f = self.f(loc)
        r = self.rng
        doc = Doc()
        e = lambda s: htmllib.escape(s, quote=True)
        doc.add('<!DOCTYPE html><html><head><meta charset="utf-8"><title>')
        doc.add(e(r.choice(["Your order", "Password reset", "Your ticket", "Welcome"])))
        doc.add(" ").add(self.neg("order", loc)).add('</title><style>body{font-family:Arial,sans-serif;font-size:14px}.x{padding:12px 24px;color:#333333}</style></head>')
        doc.add('<body><table width="600" cellpadding="0" cellspacing="0" style="border:1px solid #e0e0e0"><tr><td style="padding:24px;line-height:20px">')
        doc.add(f"<p>Hi {e(f.first_name())},</p>")
        email = self.email(loc)
        for _ in range(r.randrange(2, 6)):
            what = r.choice(["phone", "email_text", "email_entity", "address", "card", "ip", "dob", "iban", "neg", "neg", "neg", "mailto", "track", "nbsp_phone", "img"])
            doc.add("<p>")
            if what == "phone":
                doc.add("Call us or reply with your number, we have ").pii(e(self.phone(loc)), "phone").add(" on file.")
            elif what == "nbsp_phone":
                p = self.phone(loc)
                doc.add("Your mobile: ").pii(e(p).replace(" ", "&nbsp;"), "phone").add(".")
            elif what == "email_text":
                doc.add("Your account email is <b>").pii(e(email), "email").add("</b>.")
            elif what == "email_entity":
                doc.add("Write to ").pii(e(email).replace("@", r.choice(["&#64;", "&#x40;", "&commat;"])), "email").add(" anytime.")
            elif what == "mailto":
                doc.add('Contact <a href="mailto:').pii(e(email), "email").add('?subject=').add(urllib.parse.quote("Order " + self.neg("ticket", loc))).add('">').pii(e(email), "email").add("</a>.")
            elif what == "track":
                doc.add('<a href="https://t.example.com/c?u=').pii(urllib.parse.quote(email, safe=""), "email").add("&amp;o=").add(urllib.parse.quote(self.neg("order", loc), safe="")).add("&amp;utm_source=mail&amp;v=").add(self.neg("version", loc).replace(" ", "+")).add('">Track your order</a>')
            elif what == "address":
                a = self.address(loc)
                doc.add("Delivery to ").pii(e(a).replace("\n", "<br>"), "street_address").add(f", {e(f.city())}.")
            elif what == "card":
                doc.add("Card on file: ").pii(self.card(), "payment_card").add(".")
            elif what == "ip":
                doc.add("New sign-in from ").pii(self.ip(), "ip_address").add(" at ").add(self.neg("time", loc)).add(".")
            elif what == "dob":
                kw, date = self.dob(loc)
                doc.add(e(kw)).pii(date, "date_of_birth").add(".")
            elif what == "iban":
                doc.add("Refunds go to ").pii(self.iban(), "iban").add(".")
            elif what == "img":
                doc.add('<img src="https://cdn.example.com/').add(self.neg("retina", loc)).add('" width="120" height="40" alt="')
                doc.pii(e(email), "email").add('">')
            else:
                t = r.choice(NEGATIVE_TEMPLATES["en"]).replace("{n}", "{n:" + r.choice(self.NEG_KINDS) + "}")
                sub = Doc()
                self.fill(sub, t, loc)
                doc.add(e(sub.text()))
            doc.add("</p>")
        doc.add('<p style="font-size:11px;color:#999999">&copy; 2024 ').add(e(f.company())).add(' &middot; <a href="https://example.com/unsubscribe?e=')
        doc.pii(urllib.parse.quote(email, safe=""), "email").add('&amp;t=').add(self.neg("hash", loc)).add('">Unsubscribe</a></p></td></tr></table></body></html>')
        return doc

    def long_ids(self, n, seed):
        """Export lines holding one token of numbers longer than the scanner's run (128 bytes):
        groups joined by one separator, with a phone's shape (`0958/4242-4242`: a trunk `0`,
        twelve digits) across a `/` inside. Hard negatives, appended after the shuffled
        records with their own generator so that the records above stay as they were."""
        r = random.Random(seed)
        d = lambda k: "".join(r.choice("0123456789") for _ in range(k))
        for _ in range(n):
            join = r.choice(["-", "-", "."])
            groups = [d(r.choice([3, 4, 4, 5])) for _ in range(r.randrange(30, 40))]
            k = r.randrange(3, len(groups) - 3)
            groups[k] = "0" + d(3) + "/" + d(4)
            token = join.join(groups)
            doc = Doc()
            doc.add(r.choice(["Export ids ", "Batch ", "ref=", "Sync log: ids "])).add(token).add(r.choice([" done.", "\n", " (retry)"]))
            self.records.append({"kind": "plain", "locale": "en_GB", "gen": "negatives/long_ids", "text": doc.text(), "spans": doc.spans})

    def urls(self, n):
        for _ in range(n):
            loc = self.rng.choice(LOCALES)
            doc = Doc()
            r = self.rng
            doc.add(r.choice(["https://t.example.com/pixel.gif?", "https://shop.example.co.uk/account/settings?", "https://www.example.de/newsletter/confirm?", "https://api.example.com/v1/track?"]))
            params = r.sample(["email", "phone", "ip", "uid", "v", "ts", "ref", "card", "q", "name"], r.randrange(2, 6))
            for k, p in enumerate(params):
                if k:
                    doc.add("&")
                doc.add(p + "=")
                if p == "email":
                    doc.pii(urllib.parse.quote_plus(self.email(loc)), "email")
                elif p == "phone":
                    doc.pii(urllib.parse.quote_plus(self.phone(loc)), "phone")
                elif p == "ip":
                    doc.pii(urllib.parse.quote_plus(self.ip()), "ip_address")
                elif p == "card":
                    doc.pii(urllib.parse.quote_plus(self.card()), "payment_card")
                elif p == "uid":
                    doc.add(self.neg("uuid"))
                elif p == "v":
                    doc.add(urllib.parse.quote_plus(self.neg("version")))
                elif p == "ts":
                    doc.add(self.neg(r.choice(["unix", "iso"])).replace(":", "%3A").replace("+", "%2B"))
                elif p == "ref":
                    doc.add(urllib.parse.quote_plus(self.neg(r.choice(["order", "coupon", "ticket"]))))
                elif p == "name":
                    doc.add(urllib.parse.quote_plus(self.f(loc).name()))
                else:
                    doc.add(urllib.parse.quote_plus(self.f(loc).sentence()))
            if r.random() < 0.3:
                doc.add("#" + self.f(loc).word())
            self.record("url", loc, "url", doc)


TEMPLATES = {
    "en": [
        "Please call me at {p:phone} or email {p:email} before {n:time}.",
        "My new number is {p:phone}, the old one no longer works.",
        "Contact {p:email} for delivery questions about order {n:order}.",
        "Customer said to reach them on {p:phone} after 5pm.",
        "Refund {n:price} to {p:iban} please, reference {n:order}.",
        "I was charged twice on card {p:payment_card} for order {n:order}.",
        "The card {p:payment_card} was declined at {n:time} on {n:date}.",
        "Login from {p:ip_address} flagged by the fraud check, user agent {n:ua}.",
        "The VPN logs show {p:ip_address} connecting twice on {n:date}.",
        "For the verification: {p:dob} and SSN {p:ssn}.",
        "My SSN is {p:ssn} and my {p:dob}.",
        "CNIC {p:cnic} attached, please update my profile.",
        "Ship it to {p:street_address}, {city} instead of the old address.",
        "Our office moved to {p:street_address} last month.",
        "We leaked {p:api_key} in a public repo, please revoke it.",
        "The session token {p:jwt} expired at {n:iso}.",
        "Hi, I'm {name}, you can reach me at {p:email} or {p:phone}.",
        "Tracking {n:ups} still shows no update, my email is {p:email}.",
        "Forward the invoice for {n:price} to {p:email} and cc {p:email}.",
        "Wire the deposit to IBAN {p:iban} before {n:date}.",
        "{p:email} wrote: the package {n:fedex} never arrived.",
        "Please update my phone to {p:phone} and my address to {p:street_address}.",
    ],
    "de": [
        "Bitte rufen Sie mich unter {p:phone} an oder schreiben Sie an {p:email}.",
        "Meine neue Nummer ist {p:phone}, Bestellung {n:order}.",
        "Bitte überweisen Sie {n:price} auf {p:iban}.",
        "Lieferung bitte an {p:street_address}, {city}.",
        "Zur Prüfung: {p:dob}, Kundennummer {n:order}.",
        "Die Karte {p:payment_card} wurde am {n:date} abgelehnt.",
        "Anmeldung von {p:ip_address} um {n:time} blockiert.",
        "Kontakt: {p:email}, Tel. {p:phone}.",
    ],
    "fr": [
        "Merci de me rappeler au {p:phone} ou d'écrire à {p:email}.",
        "Mon nouveau numéro est le {p:phone}, commande {n:order}.",
        "Remboursez {n:price} sur {p:iban} s'il vous plaît.",
        "Livraison au {p:street_address}, {city}.",
        "Pour vérification : {p:dob}, dossier {n:ticket}.",
        "La carte {p:payment_card} a été refusée le {n:date}.",
        "Connexion depuis {p:ip_address} à {n:time} bloquée.",
        "Contact : {p:email}, tél. {p:phone}.",
    ],
}

NEGATIVE_TEMPLATES = {
    "en": [
        "Order {n} is still pending.",
        "The reference is {n}, please quote it.",
        "We updated the app to {n} yesterday.",
        "It cost {n} in the end.",
        "See the attached file ({n}).",
        "Logged at {n} by the worker.",
        "The label says {n} on the side.",
        "Ticket {n} was merged into this one.",
        "Checksum: {n}",
        "Our office is open 9 to 5, Monday to Friday, and the {n} item is back in stock.",
    ],
    "de": [
        "Bestellung {n} ist noch offen.",
        "Die Referenz lautet {n}.",
        "Kosten insgesamt {n}.",
        "Das Update auf {n} hat nicht geholfen.",
    ],
    "fr": [
        "La commande {n} est toujours en attente.",
        "La référence est {n}.",
        "Montant total : {n}.",
        "La mise à jour {n} n'a rien changé.",
    ],
}

SUBJECTS = {
    "en": ["Problem with my order", "Refund request", "Cannot log in", "Change of address", "Billing question"],
    "de": ["Problem mit meiner Bestellung", "Rückerstattung", "Adressänderung"],
    "fr": ["Problème de commande", "Demande de remboursement", "Changement d'adresse"],
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=20261206)
    ap.add_argument("--out", default="spans.jsonl")
    args = ap.parse_args()

    c = Corpus(args.seed)
    c.sentences(5000)
    c.negatives(1500)
    c.tickets(600)
    c.mails(500)
    c.urls(800)
    c.rng.shuffle(c.records)
    c.long_ids(60, args.seed + 2)

    with open(args.out, "w", encoding="utf-8") as out:
        for r in c.records:
            out.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n")
    labels = collections.Counter(s[2] for r in c.records for s in r["spans"])
    kinds = collections.Counter(r["kind"] for r in c.records)
    print(f"wrote {len(c.records)} texts ({sum(len(r['text'].encode()) for r in c.records)} bytes) to {args.out}")
    for k, v in sorted(kinds.items()):
        print(f"  {k:16} {v} texts")
    for label, count in sorted(labels.items()):
        print(f"  {label:16} {count}")
    for why, count in sorted((c.dropped + c.gen.dropped).items()):
        print(f"  dropped: {why}: {count}")


if __name__ == "__main__":
    main()
