use super::*;

/// `(text, kind, expected spans as (class, decoded value))`
type Case = (&'static str, TextKind, &'static [(Class, &'static str)]);

const CASES: &[Case] = &[
    // Bare numbers the words before them name, and the same digits after words that say
    // they are something else.
    (
        "Please call me at 6395254361 tomorrow; my new number is 7630310486.",
        TextKind::Plain,
        &[(Class::Phone, "6395254361"), (Class::Phone, "7630310486")],
    ),
    (
        "reach me at alice@example.com or 6395254361. Merci de me rappeler au 0494098690.",
        TextKind::Plain,
        &[
            (Class::Email, "alice@example.com"),
            (Class::Phone, "6395254361"),
            (Class::Phone, "0494098690"),
        ],
    ),
    (
        "The card 566954923975 was declined; die Karte 676305539287 auch.",
        TextKind::Plain,
        &[
            (Class::PaymentCard, "566954923975"),
            (Class::PaymentCard, "676305539287"),
        ],
    ),
    (
        "Order number 6395254361, PO 0485835879, tracking 566954923975, invoice 7630310486. \
         Total 266436683751, card 566954923976.",
        TextKind::Plain,
        &[],
    ),
    // Percent-encoded phones in a query: `%2B49` is not `49%`, and an extension is read
    // through the decoding too.
    (
        "https://t.example/p?phone=%2B49%280%292323+490539&alt=%28335%29821-7940x464&off=15%",
        TextKind::Url,
        &[
            (Class::Phone, "+49(0)2323 490539"),
            (Class::Phone, "(335)821-7940x464"),
        ],
    ),
    // Addresses over two lines, with the unit word before the number.
    (
        "Ship it to Flat 59Y\nBrett Mountains, West Paula, or Studio 3\r\nShaun Avenue.",
        TextKind::Plain,
        &[
            (Class::StreetAddress, "Flat 59Y\nBrett Mountains"),
            (Class::StreetAddress, "Studio 3\r\nShaun Avenue"),
        ],
    ),
    (
        "Delivery to H.No. 89, Mitra Marg, Rajkot, or 94/729\nMorar Road, Pune.",
        TextKind::Plain,
        &[
            (Class::StreetAddress, "H.No. 89, Mitra Marg"),
            (Class::StreetAddress, "94/729\nMorar Road"),
        ],
    ),
    (
        "Order 512047601 ships in 5\nWorking Days. Flat 5 fee, see Table 4\nSummary.",
        TextKind::Plain,
        &[],
    ),
    (
        "Tel. 0465356908. Kosten insgesamt 266436683751.",
        TextKind::Plain,
        &[(Class::Phone, "0465356908")],
    ),
    (
        "https://t.example.com/p?ts=1551602803&phone=6395254361&card=566954923975&ref=7630310486",
        TextKind::Url,
        &[
            (Class::Phone, "6395254361"),
            (Class::PaymentCard, "566954923975"),
        ],
    ),
    // Plain text: every class, and the hard negatives next to them.
    (
        "Please call me at 0300-1234567 tomorrow or +44 20 7946 0958.",
        TextKind::Plain,
        &[
            (Class::Phone, "0300-1234567"),
            (Class::Phone, "+44 20 7946 0958"),
        ],
    ),
    (
        "Call (415) 555-0100 after 5pm, ext 415-555-0100x123 works too",
        TextKind::Plain,
        &[
            (Class::Phone, "(415) 555-0100"),
            (Class::Phone, "415-555-0100x123"),
        ],
    ),
    (
        "reach me: alice@example.com, or 'bob.o'brien@example.ie'",
        TextKind::Plain,
        &[
            (Class::Email, "alice@example.com"),
            (Class::Email, "bob.o'brien@example.ie"),
        ],
    ),
    (
        "clone git@github.com:org/repo.git and logo@2x.png",
        TextKind::Plain,
        &[],
    ),
    // An address that is a whole segment of a path is one; a URL's user or a remote is not.
    (
        "see https://shop.example/users/kai@example.org/settings, ssh://git@host.example/r \
         and /u/kai%40example.org/x; not https://cdn.example/npm/react@18.2.0/umd",
        TextKind::Plain,
        &[
            (Class::Email, "kai@example.org"),
            (Class::Email, "kai@example.org"),
        ],
    ),
    (
        "https://shop.example/users/kai@example.org/settings?tab=2",
        TextKind::Url,
        &[(Class::Email, "kai@example.org")],
    ),
    (
        "card 4111 1111 1111 1111 declined, then 5555555555554444 worked",
        TextKind::Plain,
        &[
            (Class::PaymentCard, "4111 1111 1111 1111"),
            (Class::PaymentCard, "5555555555554444"),
        ],
    ),
    (
        "CNIC 35202-1234567-1 and SSN 536-22-8726 attached",
        TextKind::Plain,
        &[
            (Class::Cnic, "35202-1234567-1"),
            (Class::Ssn, "536-22-8726"),
        ],
    ),
    (
        "login from 203.0.113.9:443 and 2001:db8::1, also [::ffff:192.0.2.1]",
        TextKind::Plain,
        &[
            (Class::IpAddress, "203.0.113.9"),
            (Class::IpAddress, "2001:db8::1"),
            (Class::IpAddress, "::ffff:192.0.2.1"),
        ],
    ),
    (
        "pay to DE89 3704 0044 0532 0130 00 or GB82WEST12345698765432.",
        TextKind::Plain,
        &[
            (Class::Iban, "DE89 3704 0044 0532 0130 00"),
            (Class::Iban, "GB82WEST12345698765432"),
        ],
    ),
    (
        "IBAN DE89-3704-0044-0532-0130-00; or GB82.WEST.1234.5698.7654.32. Not DE89-3704-0044.",
        TextKind::Plain,
        &[
            (Class::Iban, "DE89-3704-0044-0532-0130-00"),
            (Class::Iban, "GB82.WEST.1234.5698.7654.32"),
        ],
    ),
    (
        "leaked AKIAIOSFODNN7EXAMPLE and sk_live_4eC39HqLyjWDarjtT1zdp7dc here",
        TextKind::Plain,
        &[
            (Class::ApiKey, "AKIAIOSFODNN7EXAMPLE"),
            (Class::ApiKey, "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
        ],
    ),
    (
        "token eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c.",
        TextKind::Plain,
        &[(
            Class::Jwt,
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        )],
    ),
    (
        "DOB: 15/03/1985. I was born on March 3, 1990; Geburtsdatum 01.02.1970, né le 4 May 1977",
        TextKind::Plain,
        &[
            (Class::DateOfBirth, "15/03/1985"),
            (Class::DateOfBirth, "March 3, 1990"),
            (Class::DateOfBirth, "01.02.1970"),
            (Class::DateOfBirth, "4 May 1977"),
        ],
    ),
    (
        "Ship to 742 Evergreen Terrace, Springfield or 12B Baker St. London; Hauptstraße 5 in Berlin; 12 rue de la Paix",
        TextKind::Plain,
        &[
            (Class::StreetAddress, "742 Evergreen Terrace"),
            (Class::StreetAddress, "12B Baker St."),
            (Class::StreetAddress, "Hauptstraße 5"),
            (Class::StreetAddress, "12 rue de la Paix"),
        ],
    ),
    (
        "838 Washington Knolls Suite 508 and 1600 Pennsylvania Avenue NW",
        TextKind::Plain,
        &[
            (Class::StreetAddress, "838 Washington Knolls Suite 508"),
            (Class::StreetAddress, "1600 Pennsylvania Avenue NW"),
        ],
    ),
    // Hard negatives.
    (
        "Order 123456789 total $1,234.56 on 2024-01-15 at 10:30, v1.2.3 build 10.0.0.1.5, \
         version 1.2.3.4, tracking 1Z999AA10123456784 and 9400 1234 5678 9012 3456 78, \
         ISBN 978-3-16-148410-0, uuid 550e8400-e29b-41d4-a716-446655440000, \
         sha 9f86d081884c7d659a2feaa0c55ad015, ts 1700000000123, 2024-03-15T10:30:00Z, \
         Ref RF90 0655 7196 3023, 3 items in cart, 5 Simple Ways to save, born in 1985",
        TextKind::Plain,
        &[],
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:1.9.6.20) Gecko/20100101 Firefox/3.8 Chrome/120.0.0.0",
        TextKind::Plain,
        &[],
    ),
    // Two values in one run.
    (
        "numbers 0300 1234567 0301 7654321 and 4111 1111 1111 1111 5555 5555 5555 4444",
        TextKind::Plain,
        &[
            (Class::Phone, "0300 1234567"),
            (Class::Phone, "0301 7654321"),
            (Class::PaymentCard, "4111 1111 1111 1111"),
            (Class::PaymentCard, "5555 5555 5555 4444"),
        ],
    ),
    // Percent-encoded in plain text (a URL pasted into a ticket).
    (
        "see https://x.example/unsub?e=alice%40example.com&u=1",
        TextKind::Plain,
        &[(Class::Email, "alice@example.com")],
    ),
    // HTML: references, mailto, attributes, and markup that is not text.
    (
        r#"<p style="font-size:14px">Hi, write to <a href="mailto:alice@example.com?subject=Hi">alice&#64;example.com</a> or bob&commat;example.org, call 0300&nbsp;1234567</p>"#,
        TextKind::Html,
        &[
            (Class::Email, "alice@example.com"),
            (Class::Email, "alice@example.com"),
            (Class::Email, "bob@example.org"),
            (Class::Phone, "0300\u{a0}1234567"),
        ],
    ),
    (
        r#"<img alt="card 4111111111111111" src="https://t.example/o.gif?email=bob%40example.org&amp;id=42"><td width="600">x</td>"#,
        TextKind::Html,
        &[
            (Class::PaymentCard, "4111111111111111"),
            (Class::Email, "bob@example.org"),
        ],
    ),
    (
        "Alice Smith <alice@example.com> wrote: <!-- 203.0.113.9 -->",
        TextKind::Html,
        &[
            (Class::Email, "alice@example.com"),
            (Class::IpAddress, "203.0.113.9"),
        ],
    ),
    // A whole URL: query values, `+` as space.
    (
        "https://t.example/track?phone=%2B44+20+7946+0958&email=alice%40example.com&ip=203.0.113.9",
        TextKind::Url,
        &[
            (Class::Phone, "+44 20 7946 0958"),
            (Class::Email, "alice@example.com"),
            (Class::IpAddress, "203.0.113.9"),
        ],
    ),
    // In a URL a literal `&` or `=` is a delimiter, never part of a local part.
    (
        "https://t.example/?a=1&email=alice@example.com",
        TextKind::Url,
        &[(Class::Email, "alice@example.com")],
    ),
    // Files named after the person: the extension ends the address or the number and stays.
    (
        "see report-jane.doe@example.org.csv and jane.doe@example.org.pdf, \
         +44 20 7946 0958.txt, call-02079460958.pdf or rec_+442079460958.TXT",
        TextKind::Plain,
        &[
            (Class::Email, "report-jane.doe@example.org"),
            (Class::Email, "jane.doe@example.org"),
            (Class::Phone, "+44 20 7946 0958"),
            (Class::Phone, "02079460958"),
            (Class::Phone, "+442079460958"),
        ],
    ),
    (
        "<a href=\"https://files.example/dl/jane.doe@example.org.pdf?x=1\">jane.doe@example.org.pdf</a>",
        TextKind::Html,
        &[
            (Class::Email, "jane.doe@example.org"),
            (Class::Email, "jane.doe@example.org"),
        ],
    ),
    // A list of numbers longer than one value's groups: each value in it.
    (
        "Phones: +44 20 7946 0958   +44 20 7946 0959   +44 20 7946 0960 / 0300 1234567 0301 7654321 0302 1111111",
        TextKind::Plain,
        &[
            (Class::Phone, "+44 20 7946 0958"),
            (Class::Phone, "+44 20 7946 0959"),
            (Class::Phone, "+44 20 7946 0960"),
            (Class::Phone, "0300 1234567"),
            (Class::Phone, "0301 7654321"),
            (Class::Phone, "0302 1111111"),
        ],
    ),
    (
        "Cards 4242 4242 4242 4242 5555 5555 5555 4444 4000 0566 5566 5556, ref 1 2 3 4 5 6 7 8 9 10 11 12 13 14",
        TextKind::Plain,
        &[
            (Class::PaymentCard, "4242 4242 4242 4242"),
            (Class::PaymentCard, "5555 5555 5555 4444"),
            (Class::PaymentCard, "4000 0566 5566 5556"),
        ],
    ),
    // Values two spaces apart (a column), and a table of numbers longer than any value: each
    // value is still found.
    (
        " +44 20 7946 0958  0300&nbsp;1234567  536-22-8726  +44 20 7946 0958 . 2001:db8::1 ",
        TextKind::Html,
        &[
            (Class::Phone, "+44 20 7946 0958"),
            (Class::Phone, "0300\u{a0}1234567"),
            (Class::Ssn, "536-22-8726"),
            (Class::Phone, "+44 20 7946 0958"),
            (Class::IpAddress, "2001:db8::1"),
        ],
    ),
    (
        "+44 20 7946 0950 +44 20 7946 0951 +44 20 7946 0952 +44 20 7946 0953 +44 20 7946 0954 \
         +44 20 7946 0955 +44 20 7946 0956 +44 20 7946 0957 +44 20 7946 0958",
        TextKind::Plain,
        &[
            (Class::Phone, "+44 20 7946 0950"),
            (Class::Phone, "+44 20 7946 0951"),
            (Class::Phone, "+44 20 7946 0952"),
            (Class::Phone, "+44 20 7946 0953"),
            (Class::Phone, "+44 20 7946 0954"),
            (Class::Phone, "+44 20 7946 0955"),
            (Class::Phone, "+44 20 7946 0956"),
            (Class::Phone, "+44 20 7946 0957"),
            (Class::Phone, "+44 20 7946 0958"),
        ],
    ),
    // French streets written without a house number, found by the postcode and the town.
    (
        "Livraison rue de la Paix, 75002 Paris demain, ou avenue des Champs-Élysées 75008 Paris. \
         Siège : Rue de l'Église, 69001 Lyon.",
        TextKind::Plain,
        &[
            (Class::StreetAddress, "rue de la Paix, 75002 Paris"),
            (
                Class::StreetAddress,
                "avenue des Champs-Élysées 75008 Paris",
            ),
            (Class::StreetAddress, "Rue de l'Église, 69001 Lyon"),
        ],
    ),
    (
        "<p>Livraison&nbsp;: place Vendôme 75001 Paris</p>",
        TextKind::Html,
        &[(Class::StreetAddress, "place Vendôme 75001 Paris")],
    ),
    // A postcode and a town without a street, a lesson, a street type with no name, a town in
    // lower case: no address.
    (
        "Réf. 75002 Paris, cours de Python 75001 Paris, la rue 75002 Paris, \
         rue de la paix 75002 paris, envoyé de mon iPhone 75002 Paris, Order 12345 Shipped.",
        TextKind::Plain,
        &[],
    ),
    // File names that hold no person: asset names, codes, versions, and an invoice number
    // the word before it names.
    (
        "logo@2x.png, icon@3x.webp, ORD-2024-000123.pdf, invoice-02079460958.pdf, \
         IMG_20240115_1234.jpg, v1.2.3.tar, release-2.4.1.tgz, report-2024.csv",
        TextKind::Plain,
        &[],
    ),
];

fn spans(
    s: &SpanScanner,
    text: &str,
    kind: TextKind,
    echo: Option<&Echo>,
) -> Vec<(Origin, String)> {
    let mut v = Vec::new();
    s.find(text, kind, echo, |sp| {
        v.push((sp.origin, sp.value.to_owned()))
    });
    v
}

#[test]
fn table() {
    let s = SpanScanner::default();
    let mut failures = Vec::new();
    for &(text, kind, want) in CASES {
        let got = spans(&s, text, kind, None);
        let want: Vec<_> = want
            .iter()
            .map(|&(c, v)| (Origin::Class(c), v.to_owned()))
            .collect();
        if got != want {
            failures.push(format!("{text}\n  got  {got:?}\n  want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn redact(text: &str, kind: TextKind, echo: Option<&Echo>) -> String {
    let s = SpanScanner::default();
    let mut out = Vec::new();
    let done = s
        .scrub(
            text,
            kind,
            echo,
            |sp, buf| {
                buf.extend_from_slice(
                    match sp.origin {
                        Origin::Class(c) => format!("[{c}]").into_bytes(),
                        Origin::Echo(t) => format!("[echo {}]", t.0).into_bytes(),
                    }
                    .as_slice(),
                );
                Ok::<_, ()>(Replacement::Replaced)
            },
            &mut out,
        )
        .expect("infallible");
    if done.replaced == 0 {
        assert!(out.is_empty());
        return text.to_owned();
    }
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn scrub_encodes_for_the_context() {
    assert_eq!(
        redact(
            r#"<a href="mailto:alice@example.com">alice&#64;example.com</a>"#,
            TextKind::Html,
            None
        ),
        r#"<a href="mailto:%5Bemail%5D">[email]</a>"#
    );
    assert_eq!(
        redact(
            "https://t.example/?e=alice%40example.com&x=1",
            TextKind::Url,
            None
        ),
        "https://t.example/?e=%5Bemail%5D&x=1"
    );
    assert_eq!(
        redact("mail alice%40example.com now", TextKind::Plain, None),
        "mail %5Bemail%5D now"
    );
    assert_eq!(
        redact(
            "<script>var e='alice@example.com'</script>",
            TextKind::Html,
            None
        ),
        "<script>var e='[email]'</script>"
    );
    assert_eq!(redact("no pii here", TextKind::Plain, None), "no pii here");
}

#[test]
fn references_in_text_without_tags_are_read_as_html_would_show_them() {
    // A mail part or a note a dashboard renders as HTML shows `&#64;` as `@`.
    let got = redact(
        "write to kai&#64;example.org, KAI&#X40;example.org or kai&commat;example.org; \
         R&D, AT&amp;T and a&b;c stay",
        TextKind::Auto,
        None,
    );
    assert_eq!(
        got,
        "write to [email], [email] or [email]; R&D, AT&amp;T and a&b;c stay"
    );
}

#[test]
fn keep_leaves_the_text_unchanged() {
    let s = SpanScanner::default();
    let mut out = Vec::new();
    let done = s
        .scrub(
            "alice@example.com",
            TextKind::Plain,
            None,
            |_, _| Ok::<_, ()>(Replacement::Keep),
            &mut out,
        )
        .expect("infallible");
    assert_eq!((done.spans, done.replaced), (1, 0));
    assert!(out.is_empty());
}

#[test]
fn auto_sniffs_the_kind() {
    assert_eq!(
        sniff(b"https://a.example/?q=1", TextKind::Auto),
        TextKind::Url
    );
    assert_eq!(
        sniff(b"see https://a.example/ now", TextKind::Auto),
        TextKind::Plain
    );
    assert_eq!(sniff(b"<p>hi</p>", TextKind::Auto), TextKind::Html);
    assert_eq!(sniff(b"a < b", TextKind::Auto), TextKind::Plain);
}

fn echo(values: &[(&str, EchoKind)]) -> Echo {
    let mut b = EchoBuilder::new(EchoLimits::default());
    for (i, &(v, k)) in values.iter().enumerate() {
        assert!(b.add(v, k, EchoTag(i as u32)), "{v}");
    }
    b.build()
}

#[test]
fn echoes_whole_words_in_every_encoding() {
    let e = echo(&[
        ("Alice Smith", EchoKind::PersonName),
        ("u_48213", EchoKind::Value),
        ("Jürgen Müller", EchoKind::PersonName),
        ("Will Stone", EchoKind::PersonName),
    ]);
    let got = redact(
        "Dear ALICE SMITH, alice, Smithson, u_48213 u_482130, J&uuml;rgen M%C3%BCLLER, \
         you will see Will, JÜRGEN",
        TextKind::Html,
        Some(&e),
    );
    assert_eq!(
        got,
        // The full name matched across the reference and the percent escapes; the span was
        // partly percent-encoded, so its replacement is too.
        "Dear [echo 0], [echo 0], Smithson, [echo 1] u_482130, %5Becho%202%5D, \
         you will see [echo 3], [echo 2]"
    );
    let got = redact(
        "https://x.example/?to=Alice+Smith&n=smith",
        TextKind::Url,
        Some(&e),
    );
    assert_eq!(got, "https://x.example/?to=%5Becho+0%5D&n=%5Becho+0%5D");
}

#[test]
fn echoes_after_and_before_non_ascii_spaces_and_punctuation() {
    let e = echo(&[
        ("Ottilie Brandvold", EchoKind::PersonName),
        ("Émile Zola", EchoKind::PersonName),
    ]);
    // No-break spaces (written, and as references), a thin and an ideographic space,
    // typographic quotes and dashes separate words.
    let got = redact(
        "<p>Hi&nbsp;Ottilie&#160;Brandvold, \u{a0}Ottilie\u{2009}Brandvold\u{3000}\
         \u{201c}Ottilie\u{201d}\u{2014}Brandvold\u{a0}Émile</p>",
        TextKind::Html,
        Some(&e),
    );
    // (The full name is one needle with an ASCII space; across another space each part is
    // found on its own, and across a space a reader folds to one, as the full name: the
    // thin space.)
    assert_eq!(
        got,
        "<p>Hi&nbsp;[echo 0]&#160;[echo 0], \u{a0}[echo 0]\u{3000}\
         \u{201c}[echo 0]\u{201d}\u{2014}[echo 0]\u{a0}[echo 1]</p>"
    );
    // Letters do not: a name inside a longer word, written in any script, is not the name.
    let got = redact(
        "ÉOttilie Ottilieé Brandvoldß émile Zolaé",
        TextKind::Plain,
        Some(&e),
    );
    assert_eq!(got, "ÉOttilie Ottilieé Brandvoldß [echo 1] Zolaé");
}

#[test]
fn echo_and_detected_spans_merge() {
    let e = echo(&[
        ("alice@example.com", EchoKind::Value),
        ("Smith", EchoKind::PersonName),
    ]);
    // The echo wins a tie; a detected span covering an echo keeps the longer attribution.
    assert_eq!(
        redact(
            "to alice@example.com and smith@example.com",
            TextKind::Plain,
            Some(&e)
        ),
        "to [echo 0] and [email]"
    );
}

#[test]
fn echo_bounds() {
    let mut b = EchoBuilder::new(EchoLimits {
        max_values: 2,
        ..EchoLimits::default()
    });
    assert!(
        !b.add("abc", EchoKind::Value, EchoTag(0)),
        "shorter than min_len"
    );
    assert!(
        !b.add("Al", EchoKind::PersonName, EchoTag(0)),
        "fewer than 3 letters"
    );
    assert!(b.add("abcd", EchoKind::Value, EchoTag(0)));
    assert!(b.add("Bob Lee", EchoKind::PersonName, EchoTag(1)));
    assert!(!b.add("efgh", EchoKind::Value, EchoTag(2)), "max_values");
    // A value already collected (in any case) takes no room, past the bound or not.
    assert!(b.add("ABCD", EchoKind::Value, EchoTag(0)));
    assert!(b.add("Bob Lee", EchoKind::PersonName, EchoTag(1)));
    // A new part of a known name is a new needle: past the bound, it is skipped.
    assert!(!b.add("Bob Fox", EchoKind::PersonName, EchoTag(1)));
    assert!(
        !b.add(&"x".repeat(300), EchoKind::Value, EchoTag(2)),
        "max_len"
    );
    let e = b.build();
    assert_eq!(e.needles(), 4);
    assert_eq!(
        e.skipped(),
        3,
        "efgh, Bob Fox, the long value; not the short ones"
    );
}

/// Many copies of a few values (a batch of one person's events) never reach the bounds, so
/// values collected after them are still searched for.
#[test]
fn repeated_values_take_no_room() {
    let mut b = EchoBuilder::new(EchoLimits::default());
    for _ in 0..500 {
        assert!(b.add("Ann Ray", EchoKind::PersonName, EchoTag(1)));
        assert!(b.add("u_48213", EchoKind::Value, EchoTag(0)));
    }
    assert!(b.add("Zoe Quill", EchoKind::PersonName, EchoTag(1)));
    let e = b.build();
    assert_eq!(e.skipped(), 0);
    assert_eq!(e.needles(), 7, "each name whole and by part, the id, once");
    assert_eq!(
        redact("Zoe met Ann (u_48213)", TextKind::Plain, Some(&e)),
        "[echo 1] met [echo 1] ([echo 0])"
    );
}

/// Segments with escapes decode in a small buffer when they fit and in chunks when they do
/// not: an echo is found the same on either side of that size.
#[test]
fn echo_in_escaped_segments_of_any_length() {
    let e = echo(&[("Alice Smith", EchoKind::PersonName)]);
    for pad in (200..320).step_by(3) {
        let text = format!("{}&amp; Alice Smith &amp;", "x ".repeat(pad / 2));
        let got = redact(&text, TextKind::Html, Some(&e));
        assert!(
            got.contains("[echo 0]") && !got.contains("Alice"),
            "pad {pad}: {got}"
        );
    }
}

/// An echo far into a long segment with escapes crosses decoded-chunk edges.
#[test]
fn echo_across_decoded_chunks() {
    let e = echo(&[("Alice Smith", EchoKind::PersonName)]);
    for pad in [2030usize, 2040, 2045, 1790, 1800, 4000] {
        let text = format!("{}&amp; Alice Smith &amp;", "x ".repeat(pad / 2));
        let got = redact(&text, TextKind::Html, Some(&e));
        assert!(
            got.contains("[echo 0]") && !got.contains("Alice"),
            "pad {pad}"
        );
    }
}

mod properties {
    use proptest::prelude::*;

    use super::super::*;

    /// Personal data in the shapes the detectors claim, some written escaped.
    const PII: &[&str] = &[
        "alice@example.com",
        "0300-1234567",
        "+44 20 7946 0958",
        "4111 1111 1111 1111",
        "DE89 3704 0044 0532 0130 00",
        "203.0.113.9",
        "2001:db8::1",
        "536-22-8726",
        "35202-1234567-1",
        "AKIAIOSFODNN7EXAMPLE",
        "742 Evergreen Terrace",
        "DOB: 15/03/1985",
        "alice&#64;example.com",
        "bob%40example.org",
        "0300&nbsp;1234567",
        "Alice Smith",
        "alice%EF%BC%A0example.com",
        "alice&amp;#64;example.com",
        "alice\\u0040example.com",
        "?u=YWxpY2VAZXhhbXBsZS5jb20=",
    ];

    /// Everything around it, including the bytes that trigger candidates.
    const FILLER: &[&str] = &[
        "the",
        "order",
        "Hello",
        "123",
        "v1.2.3",
        "$19.99",
        "2024-01-15",
        "#4521",
        ",",
        ".",
        " ",
        "\n",
        "-",
        "_",
        ":",
        "&amp;",
        "&",
        "%",
        "+",
        "é",
        "ß",
        "x",
        "@",
        "(",
        ")",
        "=",
        "?",
        "/",
        "'",
        "\"",
        "<",
        ">",
        "\\",
        "u0040",
        "%EF%BC%A0",
        "9",
        "Street",
        "born",
    ];

    const TAGS: &[&str] = &[
        "<p>",
        "</p>",
        "<br/>",
        "<td width=600>",
        "<a href=\"https://t.example/c?e=bob%40example.org&amp;u=7\">",
        "<a href='mailto:alice@example.com'>",
        "</a>",
        "<img alt=\"Alice Smith 0300-1234567\" src=x.png>",
        "<!-- 203.0.113.9 -->",
        "<script>var e='alice@example.com';</script>",
        "<style>p{font-size:14px}</style>",
        "<input value=alice@example.com>",
        "<iframe srcdoc=\"&lt;p&gt;alice&amp;#64;example.com&lt;/p&gt;\">",
        "<script type=\"application/ld+json\">{\"email\":\"alice\\u0040example.com\"}</script>",
        "<a href=\"https://t.example/c?u=YWxpY2VAZXhhbXBsZS5jb20%3D&amp;s=1\">",
    ];

    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                3 => prop::sample::select(FILLER),
                1 => prop::sample::select(PII).prop_map(|p| &*format!(" {p} ").leak()),
            ],
            0..40,
        )
        .prop_map(|v| v.join(""))
    }

    fn html() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                3 => prop::sample::select(FILLER).prop_map(str::to_owned),
                1 => prop::sample::select(PII).prop_map(|p| format!(" {p} ")),
                2 => prop::sample::select(TAGS).prop_map(str::to_owned),
            ],
            0..40,
        )
        .prop_map(|v| v.join(""))
    }

    fn url() -> impl Strategy<Value = String> {
        let value = prop_oneof![
            prop::sample::select(PII).prop_map(|p| p.replace(' ', "+").replace('@', "%40")),
            prop::sample::select(FILLER)
                .prop_map(|f| { f.replace(['&', '=', '?', '#', ' ', '\n', '"', '<', '>'], "") }),
        ];
        prop::collection::vec(
            (prop::sample::select(&["e", "q", "to", "ip"][..]), value),
            0..6,
        )
        .prop_map(|kv| {
            let q: Vec<_> = kv.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("https://t.example/p/a@b?{}#top", q.join("&"))
        })
    }

    fn kind() -> impl Strategy<Value = TextKind> {
        prop::sample::select(
            &[
                TextKind::Auto,
                TextKind::Html,
                TextKind::Plain,
                TextKind::Url,
            ][..],
        )
    }

    /// Scrubs with a fixed replacement; the output, and the spans as found.
    fn scrubbed(text: &str, kind: TextKind, with: &str) -> (String, Vec<(usize, usize)>) {
        let s = SpanScanner::default();
        let mut spans = Vec::new();
        s.find(text, kind, None, |sp| spans.push((sp.start, sp.end)));
        (
            check::scrub_with(&s, text, kind, None, with, spans.len()),
            spans,
        )
    }

    fn names() -> Echo {
        let mut b = EchoBuilder::new(EchoLimits::default());
        b.add("Alice Smith", EchoKind::PersonName, EchoTag(0));
        b.add("u_48213", EchoKind::Value, EchoTag(1));
        b.add("bob@example.org", EchoKind::Value, EchoTag(2));
        b.build()
    }

    proptest! {
        // 512 cases in CI; `PROPTEST_CASES=100000` for a longer hunt.
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512)
        ))]

        /// Any text, read as any kind: the invariants of `check` (spans well formed, bytes
        /// outside them unchanged, structure kept whatever the replacement).
        #[test]
        fn invariants_hold_on_any_text(text in ".{0,200}", kind in kind(), with_echo: bool) {
            let e = names();
            check::invariants(&SpanScanner::default(), &text, kind, with_echo.then_some(&e));
        }

        /// Same, on text made of personal data and the bytes that trigger candidates.
        #[test]
        fn invariants_hold_on_dense_text(text in text(), doc in html(), u in url(), kind in kind()) {
            let e = names();
            let s = SpanScanner::default();
            for t in [&text, &doc, &u] {
                check::invariants(&s, t, kind, None);
                check::invariants(&s, t, kind, Some(&e));
            }
        }

        /// In a URL, the replacement adds no byte a URL may not hold.
        #[test]
        fn url_replacements_are_url_safe(u in url()) {
            let (out, _) = scrubbed(&u, TextKind::Url, "a b&c=d?e#f/g\"<>");
            prop_assert!(out.bytes().all(|b| b >= 0x80 || (b.is_ascii_graphic() && !b"\"<>".contains(&b))), "{}", out);
        }

        /// Redaction is idempotent: what it leaves holds nothing the scanner finds.
        #[test]
        fn redaction_is_idempotent(text in text(), doc in html(), u in url()) {
            for (t, kind) in [(&text, TextKind::Plain), (&doc, TextKind::Html), (&u, TextKind::Url)] {
                let (once, _) = scrubbed(t, kind, "[REDACTED]");
                let (twice, spans) = scrubbed(&once, kind, "[REDACTED]");
                prop_assert!(spans.is_empty(), "{:?} left {:?} in {:?}", t, spans, once);
                prop_assert_eq!(&twice, &once);
            }
        }
    }
}

#[test]
fn a_value_in_parentheses_after_a_short_number_is_found_without_them() {
    let s = SpanScanner::default();
    for (t, want) in [
        (
            "Card ending 4242 (4242 4242 4242 4242) was charged.",
            "4242 4242 4242 4242",
        ),
        (
            "Card (4242 4242 4242 4242) was charged.",
            "4242 4242 4242 4242",
        ),
        ("Call 1 (415) 555-0199 today", "1 (415) 555-0199"),
        ("Call (415) 555-0199 today", "(415) 555-0199"),
    ] {
        let mut found = Vec::new();
        s.find(t, TextKind::Plain, None, |sp| {
            found.push(&t[sp.start..sp.end])
        });
        assert_eq!(found, [want], "{t}");
    }
}

#[test]
fn a_replacement_inside_a_tag_left_open_keeps_the_structure() {
    // Found by the `spans` fuzz target: a mail whose link quote never closes.
    let text = "<p>Write to <a href=\u{22}mailt\u{fffd}\u{15e}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}40exampleapril>alice&#64;exampne.com</a>, card 4111 1111 1111 1111</p>";
    check::invariants(&SpanScanner::default(), text, TextKind::Html, None);
}

#[test]
fn echoes_of_a_tag_left_open_never_cover_its_syntax() {
    // Found by the `spans` fuzz target: the words of a mail whose link quote never closes,
    // echoed back (`<a`, `href="mailto:…`), once covered the tag's own syntax.
    let text = "Write to <a href=\"mailto:alice@example.com?subject=Hi Alice</a>, +44 20 7946 0958";
    let mut b = EchoBuilder::new(EchoLimits::default());
    for (i, w) in text.split_whitespace().enumerate() {
        let k = if i % 2 == 0 {
            EchoKind::PersonName
        } else {
            EchoKind::Value
        };
        b.add(w, k, EchoTag(i as u32));
    }
    let e = b.build();
    check::invariants(&SpanScanner::default(), text, TextKind::Html, Some(&e));
    let out = check::scrub_with(
        &SpanScanner::default(),
        text,
        TextKind::Html,
        Some(&e),
        "R",
        spans(&SpanScanner::default(), text, TextKind::Html, Some(&e)).len(),
    );
    assert!(out.contains("<a href=\""), "{out}");
    assert!(!out.contains("alice@example.com"), "{out}");
}

#[test]
fn a_replacement_after_an_end_tag_left_open_cannot_close_it() {
    // Found by the `spans` fuzz target: an end tag whose quote never closes was read as text,
    // and a replacement holding a quote and a `>` closed it into a tag.
    let text = "<p>Wrim\">alple.c\u{fffd}~om</aard 4111 href=\"ZZAAAAAAAAAA\u{fffd}::>";
    check::invariants(&SpanScanner::default(), text, TextKind::Html, None);
    let text = "x </a y=\"1 z=\"2 w=\"3 mail a@b.co >";
    check::invariants(&SpanScanner::default(), text, TextKind::Html, None);
}

#[test]
fn a_span_covering_an_odd_tag_name_keeps_the_tag() {
    // Found by the `spans` fuzz target: an email covering the whole name of a tag no element
    // has; its replacement began with a non-letter and the tag became text.
    for text in [
        "<p>Write to <a\u{fffd}\u{fffd}ailt\u{fffd}lice&#64;exampne.comi/a>, cr 4ad1p>",
        "Alice <alice@example.com> wrote",
    ] {
        check::invariants(&SpanScanner::default(), text, TextKind::Html, None);
        let out = check::scrub_with(
            &SpanScanner::default(),
            text,
            TextKind::Html,
            None,
            "[R]",
            spans(&SpanScanner::default(), text, TextKind::Html, None).len(),
        );
        assert!(!out.contains("example"), "{out}");
    }
}

/// Each span found in `text`, as written, with its class.
fn found(text: &str, kind: TextKind) -> Vec<(Origin, &str)> {
    let mut v = Vec::new();
    SpanScanner::default().find(text, kind, None, |sp| {
        v.push((sp.origin, &text[sp.start..sp.end]))
    });
    v
}

#[test]
fn a_number_alone_on_the_line_under_a_signature_is_a_phone() {
    let phone = |v: &'static str| vec![(Origin::Class(Class::Phone), v)];
    for (text, want) in [
        ("Thanks,\nVihaan Chopra\n7979865097\n", phone("7979865097")),
        (
            "It works now.\r\n\r\nBest regards,\r\nNicole Smith\r\n4517554797  \r\n\r\n> On 09.12.2025",
            phone("4517554797"),
        ),
        (
            "Viele Grüße\nIng. Marie-Luise Rudolph B.Sc.\n1712345678",
            phone("1712345678"),
        ),
        (
            "Cordialement,\nEmmanuelle de la Michaud\n6175356642\n",
            phone("6175356642"),
        ),
        ("Cheers!\n5119161779", phone("5119161779")),
    ] {
        assert_eq!(found(text, TextKind::Plain), want, "{text:?}");
    }
}

#[test]
fn a_number_on_a_line_of_its_own_without_a_signature_above_is_not_a_phone() {
    for text in [
        // A label, not a name, above the number.
        "Order number:\n7979865097\n",
        "Hi team,\nTracking\n7979865097\n",
        // Not alone on its line.
        "Thanks,\nVihaan Chopra\nOrder 7979865097\n",
        "Thanks,\nVihaan Chopra\n7979865097 is the order\n",
        // A blank line between the signature and the number.
        "Thanks,\nVihaan Chopra\n\n7979865097\n",
        // A sentence that thanks, then a name-like line.
        "Thanks for the update.\nInvoice Total\n7979865097\n",
        // Too short or too long for a phone; a date.
        "Thanks,\nVihaan Chopra\n79798650\n",
        "Thanks,\nVihaan Chopra\n79798650977979865\n",
        "Thanks,\nVihaan Chopra\n2019-02-10\n",
    ] {
        assert_eq!(found(text, TextKind::Plain), [], "{text:?}");
    }
}

#[test]
fn an_address_broken_by_a_br_is_found_in_both_text_nodes_and_the_tag_kept() {
    let street = Origin::Class(Class::StreetAddress);
    for (text, first, second) in [
        (
            "<p>Delivery to Flat 76E<br>Smith Walk, Robertshire.</p>",
            "Flat 76E",
            "Smith Walk",
        ),
        (
            "<p>Delivery to H.No. 285<br/>Mann Path, Satna.</p>",
            "H.No. 285",
            "Mann Path",
        ),
        (
            "<p>Delivery to 80/05<BR />\n  Sarraf Ganj, Madurai.</p>",
            "80/05",
            "Sarraf Ganj",
        ),
    ] {
        assert_eq!(
            found(text, TextKind::Html),
            [(street, first), (street, second)],
            "{text}"
        );
        check::invariants(&SpanScanner::default(), text, TextKind::Html, None);
        let out = redact(text, TextKind::Html, None);
        let (from, to) = (
            text.find(first).expect("first part") + first.len(),
            text.find(second).expect("second part"),
        );
        let br = &text[from..to];
        assert!(
            out.contains(&format!("[street_address]{br}[street_address]")),
            "{out}"
        );
    }
    // The scan of the second text node resumes after the street.
    assert_eq!(
        found(
            "<p>Flat 76E<br>Smith Walk, call 0300 1234567</p>",
            TextKind::Html
        ),
        [
            (street, "Flat 76E"),
            (street, "Smith Walk"),
            (Origin::Class(Class::Phone), "0300 1234567")
        ]
    );
}

#[test]
fn a_number_before_another_tag_than_br_is_not_joined_to_the_next_text() {
    for text in [
        "<td>Flat 76E</td><td>Smith Walk</td>",
        "<p>Flat 76E<span>Smith Walk</span></p>",
        "<p>Flat 76E<br class=\"x\">Smith Walk</p>",
        "<p>Flat 76E<br><br>Smith Walk</p>",
        "<p>Qty 5<br>Total, incl. VAT</p>",
        "<p>Qty 5<br></p>",
    ] {
        assert_eq!(found(text, TextKind::Html), [], "{text}");
    }
}

/// The spans a text should yield, with their decoded values.
type Found = &'static [(Origin, &'static str)];

#[test]
fn look_alike_characters_are_read_as_a_reader_folds_them() {
    // Fullwidth forms, a fullwidth phone, an address split by invisible characters: found in
    // every kind of text, and the value handed out is the folded one.
    let cases: &[(&str, TextKind, Found)] = &[
        (
            "Write to ottilie\u{ff20}example\u{ff0e}org today.",
            TextKind::Plain,
            &[(Origin::Class(Class::Email), "ottilie@example.org")],
        ),
        (
            "<p>Please call me at \u{ff16}\u{ff13}\u{ff19}\u{ff15}\u{ff12}\u{ff15}\u{ff14}\u{ff13}\u{ff16}\u{ff11} tomorrow</p>",
            TextKind::Html,
            &[(Origin::Class(Class::Phone), "6395254361")],
        ),
        (
            "<a href=\"mailto:otti\u{200b}lie@exam\u{ad}ple.org\">otti\u{2060}lie@example.org</a>",
            TextKind::Html,
            &[
                (Origin::Class(Class::Email), "ottilie@example.org"),
                (Origin::Class(Class::Email), "ottilie@example.org"),
            ],
        ),
        (
            "https://shop.example/u?email=ottilie\u{fe6b}example.org",
            TextKind::Url,
            &[(Origin::Class(Class::Email), "ottilie@example.org")],
        ),
    ];
    for (text, kind, want) in cases {
        let mut got = Vec::new();
        SpanScanner::default().find(text, *kind, None, |sp| {
            got.push((sp.origin, sp.value.to_owned()))
        });
        let want: Vec<_> = want.iter().map(|(o, v)| (*o, v.to_string())).collect();
        assert_eq!(got, want, "{text:?}");
    }
    // The replacement covers the look-alikes (the invisible characters inside the span too)
    // and nothing around them.
    assert_eq!(
        redact(
            "<p>Mail \u{200b}otti\u{200b}lie\u{ff20}example\u{ff0e}org\u{200b}.</p>",
            TextKind::Html,
            None
        ),
        "<p>Mail \u{200b}[email].</p>"
    );
}

#[test]
fn a_folded_reading_never_changes_the_markup() {
    // `＜` and `＆` are not `<` and `&` to an HTML parser: a folded `＜b＞` is no tag and the
    // replacement sits where the address was, in the same text node.
    let t = "<p>\u{ff1c}b\u{ff1e} ottilie\u{ff20}example.org \u{ff06}amp;</p>";
    assert_eq!(
        redact(t, TextKind::Html, None),
        "<p>\u{ff1c}b\u{ff1e} [email] \u{ff06}amp;</p>"
    );
    // Text without anything to fold is read once, as before.
    assert_eq!(
        redact("Tromsø — Ottilie, 9008", TextKind::Plain, None),
        "Tromsø — Ottilie, 9008"
    );
}

#[test]
fn a_word_split_by_inline_markup_is_read_whole_and_each_piece_replaced() {
    for (text, want) in [
        (
            "<p>Mail ottilie<wbr>@example.org now</p>",
            "<p>Mail [email]<wbr>[email] now</p>",
        ),
        (
            "<p>ottilie<span style=\"color:red\">@</span>example.org</p>",
            "<p>[email]<span style=\"color:red\">[email]</span>[email]</p>",
        ),
        (
            "<p>call me at 639<!-- x -->525<b>4361</b> today</p>",
            "<p>call me at [phone]<!-- x -->[phone]<b>[phone]</b> today</p>",
        ),
        // Block markup and line breaks separate words: nothing joins across them.
        (
            "<td>639</td><td>5254361</td><p>ottilie</p><p>@example.org</p>",
            "<td>639</td><td>5254361</td><p>ottilie</p><p>@example.org</p>",
        ),
    ] {
        assert_eq!(redact(text, TextKind::Html, None), want, "{text}");
    }
    let text = "<p>ottilie<wbr>@example.org</p>";
    let mut got = Vec::new();
    SpanScanner::default().find(text, TextKind::Html, None, |sp| {
        got.push(sp.value.to_owned())
    });
    // Each piece of the split word is a span handed the whole value.
    assert_eq!(got, ["ottilie@example.org", "ottilie@example.org"]);
}

#[test]
fn data_in_the_markup_splitting_a_word_is_still_found_on_its_own() {
    // The link's address is the first reading's span; the word around the tag is the
    // second reading's, in two pieces: nothing of either stays.
    let t = "<p>#4521<a href=\"https://t.example/c?e=bob%40example.org&amp;u=7\">the</a></p>";
    let out = redact(t, TextKind::Html, None);
    assert!(!out.contains("bob"), "{out}");
    assert_eq!(redact(&out, TextKind::Html, None), out, "idempotent");
}

#[test]
fn an_escape_escaped_twice_in_a_url_is_read_as_the_inner_url_reads_it() {
    // A redirect target in a link's parameter: `%2540` is `@` to the page it leads to.
    let t = "<a href=\"https://t.example/c?redirect=https%3A%2F%2Fshop.example%2Fu%3Femail%3Dottilie%2540example.org%26n%3D1\">x</a>";
    let mut got = Vec::new();
    SpanScanner::default().find(t, TextKind::Html, None, |sp| {
        got.push((sp.origin, sp.value.to_owned()))
    });
    assert_eq!(
        got,
        [(
            Origin::Class(Class::Email),
            "ottilie@example.org".to_owned()
        )]
    );
    let out = redact(t, TextKind::Html, None);
    assert!(!out.contains("ottilie"), "{out}");
    assert!(out.contains("%26n%3D1\">x</a>"), "{out}");
    // A percent sign escaped once (`100%25`) stays as it is.
    let t = "https://t.example/p?d=100%25+off&n=1";
    assert_eq!(redact(t, TextKind::Url, None), t);
}

#[test]
fn the_end_of_a_sentence_after_a_link_is_not_a_word_going_on() {
    // A second reading scans the whole text again: a mail's `</a>.` or `</b>. Next` must not
    // ask for one.
    let s = SpanScanner::default();
    for t in [
        "<p>Mail <a href=\"mailto:a@b.example\">ottilie@example.org</a>.</p>",
        "<p>Your order <b>ORD-1</b>. Thanks, <b>Shop</b>&nbsp;team</p>",
    ] {
        assert!(s.hits(t, TextKind::Html, None).removed.is_empty(), "{t}");
    }
    for t in [
        "<p>ottilie@example<b>.org</b></p>",
        "<p>ottilie<b>&#64;example.org</b></p>",
    ] {
        assert!(!s.hits(t, TextKind::Html, None).removed.is_empty(), "{t}");
        assert_eq!(found(t, TextKind::Html).len(), 2, "{t}");
    }
}

#[test]
fn a_value_after_an_unclosed_parenthesis_or_a_bracket_is_found() {
    let s = SpanScanner::default();
    for (t, want) in [
        ("x (536-22-8726 ", &["536-22-8726"][..]),
        ("::(536-22-8726 ", &["536-22-8726"]),
        ("[REDACTED](536-22-8726 ", &["536-22-8726"]),
        ("[label](4242 4242 4242 4242)", &["4242 4242 4242 4242"]),
        ("(4242 4242 4242 4242", &["4242 4242 4242 4242"]),
        ("Call (415) 555-0199 today", &["(415) 555-0199"]),
    ] {
        for kind in [TextKind::Plain, TextKind::Html] {
            let mut found = Vec::new();
            s.find(t, kind, None, |sp| found.push(&t[sp.start..sp.end]));
            assert_eq!(found, want, "{t} ({kind:?})");
        }
    }
}

/// Found by `redaction_is_idempotent`: the `[REDACTED]` left for `::` made the digits after
/// it read as a value the first pass had not found.
#[test]
fn what_a_replacement_leaves_reads_like_the_text_it_replaced() {
    let s = SpanScanner::default();
    let t = "::(9 536-22-8726 ";
    let mut spans = Vec::new();
    s.find(t, TextKind::Html, None, |sp| spans.push((sp.start, sp.end)));
    let mut once = String::new();
    let mut at = 0;
    for (a, b) in spans {
        once.push_str(&t[at..a]);
        once.push_str("[REDACTED]");
        at = b;
    }
    once.push_str(&t[at..]);
    let mut again = Vec::new();
    s.find(&once, TextKind::Html, None, |sp| {
        again.push(sp.value.to_owned())
    });
    assert!(again.is_empty(), "{once:?} still holds {again:?}");
}

#[test]
fn escapes_a_recipient_decodes_are_read_as_it_decodes_them() {
    type Want = Vec<(Origin, String)>;
    let email = |v: &'static str| vec![(Origin::Class(Class::Email), v.to_owned())];
    let at = "ottilie@example.org";
    let cases: Vec<(&str, TextKind, Want)> = vec![
        // A look-alike, percent-encoded or as a numeric reference.
        (
            "https://shop.example/a?c=ottilie%EF%BC%A0example%ef%bc%8eorg&n=1",
            TextKind::Url,
            email(at),
        ),
        (
            "<a href=\"mailto:ottilie%EF%BC%A0example.org\">write</a>",
            TextKind::Html,
            email(at),
        ),
        (
            "mail ottilie&#xFF20;example.org",
            TextKind::Plain,
            email(at),
        ),
        // JSON-LD, and a JSON text, with string escapes.
        (
            "<script type=\"application/ld+json\">{\"email\":\"ottilie\\u0040example\\u002Eorg\"}</script>",
            TextKind::Html,
            email(at),
        ),
        (
            "{\"email\":\"ottilie\\u0040example.org\"}",
            TextKind::Plain,
            email(at),
        ),
        // A reference escaped twice, as an iframe's `srcdoc` holds a document.
        (
            "<iframe srcdoc=\"&lt;p&gt;ottilie&amp;#64;example.org&lt;/p&gt;\"></iframe>",
            TextKind::Html,
            email(at),
        ),
        // A URL's parameter that is base64 of text: the value handed out is the text.
        (
            "https://t.example/c?u=b3R0aWxpZUBleGFtcGxlLm9yZw%3D%3D&s=1",
            TextKind::Url,
            email(at),
        ),
        (
            "https://t.example/c?d=dG89b3R0aWxpZUBleGFtcGxlLm9yZyZsPW4",
            TextKind::Url,
            email("to=ottilie@example.org&l=n"),
        ),
        // The same parameter in a link's `href`, and in a link written in plain text.
        (
            "<p><a href=\"https://t.example/c?s=1&amp;u=b3R0aWxpZUBleGFtcGxlLm9yZw==\">x</a></p>",
            TextKind::Html,
            email(at),
        ),
        (
            "Open https://t.example/c?u=b3R0aWxpZUBleGFtcGxlLm9yZw== to confirm.",
            TextKind::Plain,
            email(at),
        ),
        // Escapes escaped once more, in plain text and in a link: a look-alike and an `@`.
        (
            "contact ottilie%25EF%25BC%25A0example.org today",
            TextKind::Plain,
            email(at),
        ),
        (
            "contact ottilie%2540example.org today",
            TextKind::Plain,
            email(at),
        ),
        (
            "<a href=\"https://shop.example/?e=ottilie%25ef%25bc%25a0example.org\">x</a>",
            TextKind::Html,
            email(at),
        ),
    ];
    for (text, kind, want) in cases {
        let mut got = Vec::new();
        SpanScanner::default().find(text, kind, None, |sp| {
            got.push((sp.origin, sp.value.to_owned()))
        });
        assert_eq!(got, want, "{text:?}");
        let out = redact(text, kind, None);
        assert!(!out.contains("ottilie") && !out.contains("b3R0"), "{out}");
    }
    // A padded base64 parameter is replaced whole: no `=` of its padding is left behind.
    for (text, kind, want) in [
        (
            "<p><a href=\"https://t.example/c?s=1&amp;u=b3R0aWxpZUBleGFtcGxlLm9yZw==\">x</a></p>",
            TextKind::Html,
            "<p><a href=\"https://t.example/c?s=1&amp;u=%5Bemail%5D\">x</a></p>",
        ),
        (
            "Open https://t.example/c?u=b3R0aWxpZUBleGFtcGxlLm9yZw%3D%3D&s=1 now",
            TextKind::Plain,
            "Open https://t.example/c?u=%5Bemail%5D&s=1 now",
        ),
    ] {
        assert_eq!(redact(text, kind, None), want, "{text:?}");
    }
    // What needs none of it is read once, as before: other escapes of non-ASCII, `&amp;`
    // before a parameter, a `\u` of markup, ids and base64 of text without personal data.
    for (text, kind) in [
        (
            "https://shop.example/caf%C3%A9?q=%E2%82%AC&amp;n=1",
            TextKind::Url,
        ),
        (
            "<a href=\"/a?x=1&amp;utm_source=mail&amp;c=2\">x</a>",
            TextKind::Html,
        ),
        (
            "<script>var s = \"\\u003cb\\u003e \\u00e9\";</script>",
            TextKind::Html,
        ),
        (
            "https://t.example/c?id=9f86d081884c7d65&m=aGVsbG8gd29ybGQsIGNhbXBhaWduIDc%3D&sig=q83vEjRWeJq83vEj",
            TextKind::Url,
        ),
        (
            "<a href=\"https://t.example/c?m=aGVsbG8gd29ybGQsIGNhbXBhaWduIDc%3D&amp;sig=q83vEjRWeJq83vEj\">x</a>",
            TextKind::Html,
        ),
        (
            "See https://t.example/c?m=aGVsbG8gd29ybGQsIGNhbXBhaWduIDc= and 100%25 of it.",
            TextKind::Plain,
        ),
    ] {
        assert_eq!(redact(text, kind, None), text, "{text}");
    }
}

#[test]
fn a_replacement_inside_a_document_escaped_twice_is_escaped_twice() {
    // The `srcdoc` attribute is decoded, then parsed as HTML: a replacement with markup in it
    // must reach the inner document as text.
    let t = "<iframe srcdoc=\"&lt;p&gt;ottilie&amp;#64;example.org&lt;/p&gt;\"></iframe>";
    let s = SpanScanner::default();
    let mut out = Vec::new();
    s.scrub(
        t,
        TextKind::Html,
        None,
        |_, buf| {
            buf.extend_from_slice(b"<b>&\"");
            Ok::<_, ()>(Replacement::Replaced)
        },
        &mut out,
    )
    .expect("infallible");
    assert_eq!(
        String::from_utf8(out).expect("UTF-8"),
        "<iframe srcdoc=\"&lt;p&gt;&amp;lt;b&amp;gt;&amp;amp;&amp;quot;&lt;/p&gt;\"></iframe>"
    );
}

proptest::proptest! {
    /// A file named by an address or a number, in any of the ways people name files, with
    /// any known extension: exactly the address or the number is found, the extension and the
    /// word before it stay outside the span.
    #[test]
    fn a_file_extension_ends_the_value_it_follows(
        value in proptest::sample::select(&[
            ("jane.doe@example.org", Class::Email),
            ("kai_01@mail.example.co.uk", Class::Email),
            ("+44 20 7946 0958", Class::Phone),
            ("+442079460958", Class::Phone),
            ("020 7946 0958", Class::Phone),
            ("(415) 555-0199", Class::Phone),
        ][..]),
        ext in proptest::sample::select(&[
            "pdf", "PDF", "csv", "txt", "docx", "xlsx", "json", "png", "mp3", "vcf", "eml",
        ][..]),
        glue in proptest::sample::select(&["", " ", "call-", "rec_", "see "][..]),
        tail in proptest::sample::select(&["", " today", ", thanks", "\"", ")"][..]),
    ) {
        let (v, class) = value;
        // `-` and `_` glue only a number that starts with a digit or `+`, and an address
        // takes them into its local part: those combinations are other cases.
        proptest::prop_assume!(
            !(glue.ends_with(['-', '_']) && (class == Class::Email || v.starts_with('(')))
        );
        let text = format!("{glue}{v}.{ext}{tail}");
        let mut found = Vec::new();
        SpanScanner::default().find(&text, TextKind::Plain, None, |sp| {
            found.push((sp.origin, text[sp.start..sp.end].to_owned()));
        });
        proptest::prop_assert_eq!(found, vec![(Origin::Class(class), v.to_owned())], "{}", text);
    }
}

#[test]
fn a_urls_password_is_a_span_wherever_the_url_is_written() {
    let pw = |text: &str, kind: TextKind| {
        let mut got = Vec::new();
        SpanScanner::default().find(text, kind, None, |sp| {
            got.push((sp.origin, text[sp.start..sp.end].to_owned()))
        });
        got
    };
    let password = |v: &str| (Origin::Class(Class::Password), v.to_owned());
    for (text, kind, want) in [
        (
            "Use https://deploy:s3cret@db.example.com/x to log in.",
            TextKind::Plain,
            vec![password("s3cret")],
        ),
        (
            "https://deploy:s3cret@db.example.com/x?step=2",
            TextKind::Url,
            vec![password("s3cret")],
        ),
        (
            "<a href=\"https://admin:hunter2@10.0.0.5:8080/\">db</a>",
            TextKind::Html,
            vec![password("hunter2")],
        ),
        (
            "<p>postgres://app:p%40ss@db.internal/app</p>",
            TextKind::Html,
            vec![password("p%40ss")],
        ),
        // The user name is an address: the address and the password.
        (
            "https://ottilie@example.org:pw@shop.example/",
            TextKind::Plain,
            vec![
                (
                    Origin::Class(Class::Email),
                    "ottilie@example.org".to_owned(),
                ),
                password("pw"),
            ],
        ),
    ] {
        assert_eq!(pw(text, kind), want, "{text}");
    }
    // A replacement cannot end the userinfo: it is percent-encoded as in a URL.
    let redacted = |t: &str, kind: TextKind| {
        check::scrub_with(
            &SpanScanner::default(),
            t,
            kind,
            None,
            "[REDACTED:password]",
            1,
        )
    };
    let t = "Use https://deploy:s3cret@db.example.com/x now";
    let out = redacted(t, TextKind::Plain);
    assert_eq!(
        out,
        "Use https://deploy:%5BREDACTED%3Apassword%5D@db.example.com/x now"
    );
    let u = url::Url::parse(out.split(' ').nth(1).expect("the URL")).expect("parses");
    assert_eq!(u.host_str(), Some("db.example.com"));
    assert_eq!(u.username(), "deploy");
    assert_eq!(u.password(), Some("%5BREDACTED%3Apassword%5D"));
    // A password holding `&` and `=` is the URL parser's whole password (it hands `=` over
    // escaped), and goes whole.
    let t = "https://deploy:s3&cr=et@db.example.com/x?e=1";
    assert_eq!(
        url::Url::parse(t).expect("parses").password(),
        Some("s3&cr%3Det")
    );
    let u = url::Url::parse(&redacted(t, TextKind::Url)).expect("parses");
    assert_eq!(u.password(), Some("%5BREDACTED%3Apassword%5D"));
    assert_eq!(u.query(), Some("e=1"));
}

#[test]
fn a_token_longer_than_a_run_without_a_space_yields_the_values_inside_it() {
    let filler = "1234-5678-".repeat(14);
    let text = format!("ids {filler}+442079460958/4242424242424242/2024-01-01 and 0300 1234567");
    assert!(text.split(' ').nth(1).expect("token").len() > 128);
    let mut got = Vec::new();
    SpanScanner::default().find(&text, TextKind::Plain, None, |sp| {
        got.push((sp.origin, text[sp.start..sp.end].to_owned()))
    });
    assert_eq!(
        got,
        [
            (Origin::Class(Class::Phone), "+442079460958".to_owned()),
            (
                Origin::Class(Class::PaymentCard),
                "4242424242424242".to_owned()
            ),
            (Origin::Class(Class::Phone), "0300 1234567".to_owned()),
        ]
    );
    // Bounded: a token of a megabyte is read once through.
    let long = "12-".repeat(350_000);
    assert_eq!(redact(&long, TextKind::Plain, None), long);
}

#[test]
fn a_long_token_written_with_escapes_yields_the_values_inside_it() {
    let filler = "1234-5678-".repeat(14);
    let mut missed = Vec::new();
    for (text, kind) in [
        (
            format!("ids {filler}%2B442079460958/4242424242424242/1 ok"),
            TextKind::Plain,
        ),
        (
            format!(
                "ids {}&#43;442079460958&#47;4242424242424242 ok",
                filler.replace('-', "&#45;")
            ),
            TextKind::Plain,
        ),
        (
            format!(
                "ids {}%2B442079460958%2F4242424242424242 ok",
                filler.replace('-', "%2D")
            ),
            TextKind::Plain,
        ),
        (
            format!("<p>ids {filler}&#43;442079460958/4242&#45;4242&#45;4242&#45;4242</p>"),
            TextKind::Html,
        ),
        (
            format!(
                "<p>ids {}&#43;442079460958/4242424242424242</p>",
                filler.replace('-', "&#45;")
            ),
            TextKind::Html,
        ),
        (
            format!(
                "https://t.example/?ids={}%2B442079460958%2F4242424242424242",
                filler.replace('-', "%2D")
            ),
            TextKind::Url,
        ),
        (
            format!("https://t.example/?ids={filler}%2B442079460958-4242424242424242"),
            TextKind::Url,
        ),
    ] {
        let got: Vec<String> = spans(&SpanScanner::default(), &text, kind, None)
            .into_iter()
            .map(|(_, v)| v.chars().filter(char::is_ascii_digit).collect())
            .collect();
        if !(got.iter().any(|v| v == "442079460958") && got.iter().any(|v| v == "4242424242424242"))
        {
            missed.push(format!("{text}: {got:?}"));
        }
    }
    assert!(missed.is_empty(), "{}", missed.join("\n"));
    // Bounded: a token of a megabyte and more, written with escapes, is read once through.
    for long in ["12&#45;".repeat(200_000), "12%2D".repeat(250_000)] {
        assert_eq!(redact(&long, TextKind::Plain, None), long);
    }
}

proptest::proptest! {
    /// A long token read through escapes yields the values its plain spelling yields: each
    /// `-` and `/` written `%2D` and `%2F`, or `&#45;` and `&#47;`.
    #[test]
    fn a_long_token_yields_the_same_values_plain_or_escaped(
        groups in proptest::collection::vec(
            proptest::prop_oneof!["[0-9]{2,5}", "4242424242424242", "\\+442079460958"], 30..50),
        seps in proptest::collection::vec(proptest::prop_oneof!["-", "/"], 50),
        entity in proptest::bool::ANY,
    ) {
        let mut token = String::new();
        for (g, sep) in groups.iter().zip(&seps) {
            if !token.is_empty() {
                token.push_str(sep);
            }
            token.push_str(g);
        }
        proptest::prop_assume!(token.len() > 130);
        let escaped = if entity {
            token.replace('-', "&#45;").replace('/', "&#47;").replace('+', "&#43;")
        } else {
            token.replace('-', "%2D").replace('/', "%2F").replace('+', "%2B")
        };
        let values = |t: &str| -> Vec<String> {
            spans(&SpanScanner::default(), &format!("ids {t} ok"), TextKind::Plain, None)
                .into_iter()
                .map(|(_, v)| v)
                .collect()
        };
        proptest::prop_assert_eq!(values(&token), values(&escaped));
    }
}

#[test]
fn string_escapes_in_a_json_text_holding_markup_are_read_in_its_text_nodes() {
    let text = r#"{"html":"<p>Write <b>ottilie\u0040example.org</b> or call</p>"}"#;
    for kind in [TextKind::Auto, TextKind::Html] {
        assert_eq!(
            found(text, kind),
            [(Origin::Class(Class::Email), r"ottilie\u0040example.org")],
            "{kind:?}"
        );
    }
    // An HTML document's text nodes keep `\u0040` as written: its reader does not decode it.
    assert!(found(r"<p>Write ottilie\u0040example.org</p>", TextKind::Html).is_empty());
}

#[test]
fn a_piece_of_a_longer_number_inside_a_long_token_is_no_value() {
    // A phone's shape (`0958/4242-4242`: a trunk `0`, twelve digits) joined by the same `-`
    // to the groups around it is a piece of an id; the card after it, joined by a `/`, is a
    // value of its own, as are values that hold no separator or start with `+`.
    let filler = "1234-5678-".repeat(14);
    for (text, want) in [
        (format!("ids {filler}0958/4242-4242-77 ok"), vec![]),
        (format!("ids {filler}0958/4242-4242 ok"), vec![]),
        (format!("ids 0958/4242-4242-{filler}77 ok"), vec![]),
        (
            format!("ids {filler}7946-0958/4242-4242-4242-4242 ok"),
            vec![(Origin::Class(Class::PaymentCard), "4242-4242-4242-4242")],
        ),
        (
            format!("ids {filler}+44-20-7946-0958/4242-4242-4242-4242 ok"),
            vec![
                (Origin::Class(Class::Phone), "+44-20-7946-0958"),
                (Origin::Class(Class::PaymentCard), "4242-4242-4242-4242"),
            ],
        ),
        (
            format!("ids {filler}02079460958/0300-1234567/4242424242424242 ok"),
            vec![
                (Origin::Class(Class::Phone), "02079460958"),
                (Origin::Class(Class::Phone), "0300-1234567"),
                (Origin::Class(Class::PaymentCard), "4242424242424242"),
            ],
        ),
    ] {
        assert!(text.split(' ').nth(1).expect("token").len() > 128);
        assert_eq!(found(&text, TextKind::Plain), want, "{text}");
    }
    // Written alone, the same shape is a phone number (a German area code and extension).
    assert_eq!(
        found("Tel. 0958/4242-4242", TextKind::Plain),
        [(Origin::Class(Class::Phone), "0958/4242-4242")]
    );
}

#[test]
fn a_urls_password_holding_ampersands_is_one_span_and_keeps_the_urls_delimiters() {
    let s = SpanScanner::default();
    for (text, want) in [
        // In the authority a URL parser reads `&` and `=` as a password's bytes.
        ("https://u:p&w=1@db.example.com/x", vec!["p&w=1"]),
        // The last escaped `@` ends the userinfo, across a literal `&`.
        ("https://u:a%40b&c%40db.example.com/x", vec!["a@b&c"]),
        // A URL inside a parameter ends at the parameter's `&`.
        (
            "https://t.example/r?next=https://u:pw@db.example.com/&n=1",
            vec!["pw"],
        ),
        // A NUL ends an authority: no host is read through one (found by the fuzz target).
        (
            "https://t.exame.comcocomcom:\0\0\0\0\0\0\0=alice%40exam---------------------\
             ----------------ple.com&card=%40exam.7",
            vec![],
        ),
    ] {
        let got: Vec<String> = spans(&s, text, TextKind::Url, None)
            .into_iter()
            .filter(|(o, _)| *o == Origin::Class(Class::Password))
            .map(|(_, v)| v)
            .collect();
        assert_eq!(got, want, "{text}");
        check::invariants(&s, text, TextKind::Url, None);
        check::invariants(&s, text, TextKind::Plain, None);
    }
}

#[test]
fn a_bare_double_colon_is_a_separator_not_an_address() {
    for text in ["Shop :: Cart", "a :: ", "x ::\u{fffd}::>"] {
        assert!(found(text, TextKind::Plain).is_empty(), "{text}");
    }
    for (text, want) in [
        ("from fe80::1 ok", "fe80::1"),
        ("AAAA:: ok", "AAAA::"),
        ("at ::1 now", "::1"),
    ] {
        assert_eq!(
            found(text, TextKind::Plain),
            [(Origin::Class(Class::IpAddress), want)],
            "{text}"
        );
    }
}

#[test]
fn an_end_tag_ends_at_the_first_gt_after_an_attribute_without_a_value() {
    // A browser reads `</p a=>` to its first `>`; what follows is text, whatever quotes a
    // replacement later in it writes (found by the fuzz target).
    let text = "<r>x</aard 4111ef=>alp /aard 4111ef=\"ZZAAAAAAAAAA 10.0.0.5";
    assert_eq!(
        found(text, TextKind::Html),
        [(Origin::Class(Class::IpAddress), "10.0.0.5")]
    );
    check::invariants(&SpanScanner::default(), text, TextKind::Html, None);
    let out = redact(text, TextKind::Html, None);
    assert!(out.ends_with("=\"ZZAAAAAAAAAA [ip_address]"), "{out}");
}

#[test]
fn a_twice_escaped_percent_inside_markup_that_splits_a_word_is_read_with_the_markup() {
    // The `%25` of a link inside a loose tag that joins `im` and `0` was a second edit inside
    // the tag's gap: the reading's edits overlapped and slicing panicked (found by the fuzz
    // target).
    let text = "\0\0\0im<a hre//=m!\u{6}A\u{1e}\u{1e}//t.example.ce.co.cxm/p?mail=%253012. \
                0alice%\u{fffd}\u{0}2e%31384 013.\0\0\0\0\0\u{fffd}82+4958d:>0\r\u{1}\0\0\0im\
                <a href\"=mail\u{fffd}";
    for kind in [TextKind::Html, TextKind::Auto] {
        check::invariants(&SpanScanner::default(), text, kind, None);
    }
    let text = "Write im<a title=x href=https://t.example/p?m=%2540>0 or 4242 4242 4242 4242";
    check::invariants(&SpanScanner::default(), text, TextKind::Html, None);
}
/// A number's run ends at a space, so a value whose next token starts with digits glued to
/// something else (an address's local part, `2nd`) is still found, and so is that token.
#[test]
fn a_value_is_found_before_a_token_that_starts_with_digits() {
    let cases: &[(&str, &[(&str, Class)])] = &[
        (
            " 0300-1234567 123@the.the",
            &[
                ("0300-1234567", Class::Phone),
                ("123@the.the", Class::Email),
            ],
        ),
        (
            "call 0300-1234567 12@example.org",
            &[
                ("0300-1234567", Class::Phone),
                ("12@example.org", Class::Email),
            ],
        ),
        (
            "ring +44 20 7946 0958 2nd floor",
            &[("+44 20 7946 0958", Class::Phone)],
        ),
        (
            "from 203.0.113.9 3rd attempt",
            &[("203.0.113.9", Class::IpAddress)],
        ),
        (
            "card 4111 1111 1111 1111 1st",
            &[("4111 1111 1111 1111", Class::PaymentCard)],
        ),
    ];
    finds_exactly_and_leaves_nothing(cases);
}
/// A date written with separators beside a value in one run of numbers is a token of its own:
/// the value is found whichever side the date is on, and a date of birth still is one.
#[test]
fn a_date_beside_a_value_in_a_run_of_numbers_does_not_hide_it() {
    let cases: &[(&str, &[(&str, Class)])] = &[
        (
            " 0300-1234567 2024-01-15",
            &[("0300-1234567", Class::Phone)],
        ),
        (
            " 0300-1234567 15/03/1985 x",
            &[("0300-1234567", Class::Phone)],
        ),
        (
            " 2024-01-15 0300-1234567",
            &[("0300-1234567", Class::Phone)],
        ),
        (
            "born 15/03/1985 0300-1234567",
            &[
                ("15/03/1985", Class::DateOfBirth),
                ("0300-1234567", Class::Phone),
            ],
        ),
        (
            " 0300-1234567 2024-01-15::",
            &[("0300-1234567", Class::Phone), ("15::", Class::IpAddress)],
        ),
        (
            " 0300-1234567 2024-01-15. 2001:db8::1 ",
            &[
                ("0300-1234567", Class::Phone),
                ("2001:db8::1", Class::IpAddress),
            ],
        ),
        (
            " 2024-01-15. 0300-1234567",
            &[("0300-1234567", Class::Phone)],
        ),
        (
            " 0300-1234567 2024-01-15- 2001:db8::1 ",
            &[
                ("0300-1234567", Class::Phone),
                ("2001:db8::1", Class::IpAddress),
            ],
        ),
        (
            " 0300-1234567 15.03.1985. 1",
            &[("0300-1234567", Class::Phone)],
        ),
    ];
    finds_exactly_and_leaves_nothing(cases);
}

/// Each text, read as plain text, holds exactly the spans listed (value, class) in order, and
/// what redacting them leaves holds none.
fn finds_exactly_and_leaves_nothing(cases: &[(&str, &[(&str, Class)])]) {
    for (text, want) in cases {
        let mut found = Vec::new();
        SpanScanner::default().find(text, TextKind::Plain, None, |sp| {
            found.push((&text[sp.start..sp.end], sp.origin));
        });
        let want: Vec<_> = want.iter().map(|&(v, c)| (v, Origin::Class(c))).collect();
        assert_eq!(found, want, "{text:?}");
        let s = SpanScanner::default();
        let once = check::scrub_with(&s, text, TextKind::Plain, None, "[REDACTED]", want.len());
        let mut again = 0;
        s.find(&once, TextKind::Plain, None, |_| again += 1);
        assert_eq!(again, 0, "{once:?}");
    }
}
