//! Generated English text for the span scanner's bench: support tickets (prose) and HTML
//! transactional mails, with personal data at realistic density and the hard negatives that
//! surround it in real traffic (order and tracking numbers, prices, dates, times, versions,
//! UUIDs, hashes, ISBNs, inline CSS). Deterministic: a fixed seed, no files, no network.
//!
//! The shapes are the ones a hand-written regex handles too (the baseline must find the same
//! spans for the comparison to mean anything): no values split across `&nbsp;`, no two values
//! in one numeric run.

/// splitmix64: small, fast, good enough to vary text.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub(crate) fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }

    pub(crate) fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }

    fn from(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| char::from(alphabet[self.below(alphabet.len())]))
            .collect()
    }
}

const FIRST: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "oscar", "peggy", "trent", "victor", "walter", "amara", "chen", "fatima", "lukas",
];
const LAST: &[&str] = &[
    "smith", "jones", "miller", "garcia", "khan", "nguyen", "schmidt", "dubois", "rossi",
    "kowalski", "okafor", "tanaka", "silva", "novak", "ahmed", "brown",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "mail.example.org",
    "example.co.uk",
    "corp.example.net",
    "example.de",
];
const STREETS: &[&str] = &[
    "Maple",
    "Oak",
    "Elm",
    "Cedar",
    "Washington",
    "Lake",
    "Hill",
    "Park",
    "Sunset",
    "Highland",
];
const SUFFIXES: &[&str] = &["Street", "Avenue", "Road", "Lane", "Drive", "Court"];
const CITIES: &[&str] = &[
    "Springfield",
    "Riverton",
    "Fairview",
    "Madison",
    "Georgetown",
];
const PRODUCTS: &[&str] = &[
    "Wireless Mouse",
    "USB-C Cable (2 m)",
    "Noise-cancelling Headphones",
    "Coffee Grinder",
    "Running Shoes",
    "Desk Lamp",
    "Backpack 30L",
];

fn title(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// One person's data, consistent within a ticket or mail.
pub(crate) struct Person {
    pub(crate) first: String,
    pub(crate) last: String,
    pub(crate) email: String,
    pub(crate) phone: String,
}

impl Person {
    pub(crate) fn new(r: &mut Rng) -> Self {
        let (f, l) = (r.pick(FIRST), r.pick(LAST));
        let email = format!(
            "{f}{}{l}{}@{}",
            r.pick(&[".", "_", ""]),
            r.pick(&["", "", "7", "83"]),
            r.pick(DOMAINS)
        );
        Self {
            first: title(f),
            last: title(l),
            email,
            phone: phone(r),
        }
    }
}

pub(crate) fn phone(r: &mut Rng) -> String {
    let nanp = |r: &mut Rng| {
        (
            format!("{}{}", 2 + r.below(8), r.digits(2)),
            format!("{}{}", 2 + r.below(8), r.digits(2)),
            r.digits(4),
        )
    };
    match r.below(5) {
        0 => {
            let (a, b, c) = nanp(r);
            format!("({a}) {b}-{c}")
        }
        1 => {
            let (a, b, c) = nanp(r);
            format!("{a}-{b}-{c}")
        }
        2 => format!("+44 20 {} {}", r.digits(4), r.digits(4)),
        3 => format!("03{}-{}", r.digits(2), r.digits(7)),
        _ => format!("+92 3{} {}", r.digits(2), r.digits(7)),
    }
}

/// A Luhn-valid Visa number, grouped or not.
pub(crate) fn card(r: &mut Rng) -> String {
    let mut d: Vec<u8> = std::iter::once(4)
        .chain((0..14).map(|_| r.below(10) as u8))
        .collect();
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            let x = u32::from(x);
            if i % 2 == 0 {
                let y = x * 2;
                if y > 9 { y - 9 } else { y }
            } else {
                x
            }
        })
        .sum();
    d.push(((10 - sum % 10) % 10) as u8);
    let s: String = d.iter().map(|&x| char::from(b'0' + x)).collect();
    if r.below(2) == 0 {
        s
    } else {
        format!("{} {} {} {}", &s[..4], &s[4..8], &s[8..12], &s[12..])
    }
}

/// A German IBAN in print form.
pub(crate) fn iban(r: &mut Rng) -> String {
    let bban = r.digits(18);
    // mod-97 over BBAN + "DE00" with letters as numbers (D = 13, E = 14).
    let rearranged = format!("{bban}131400");
    let rem = rearranged
        .bytes()
        .fold(0u64, |acc, b| (acc * 10 + u64::from(b - b'0')) % 97);
    let s = format!("DE{:02}{bban}", 98 - rem);
    s.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn ipv4(r: &mut Rng) -> String {
    format!(
        "{}.{}.{}.{}",
        11 + r.below(180),
        r.below(256),
        r.below(256),
        1 + r.below(254)
    )
}

fn ipv6(r: &mut Rng) -> String {
    format!(
        "2001:db8:{:x}::{:x}",
        1 + r.below(0xfffe),
        1 + r.below(0xfffe)
    )
}

fn ssn(r: &mut Rng) -> String {
    format!(
        "{:03}-{:02}-{:04}",
        1 + r.below(665),
        1 + r.below(99),
        1 + r.below(9999)
    )
}

fn cnic(r: &mut Rng) -> String {
    format!(
        "{}{}-{}-{}",
        1 + r.below(7),
        r.digits(4),
        r.digits(7),
        r.digits(1)
    )
}

fn dob(r: &mut Rng) -> String {
    let (y, m, d) = (1940 + r.below(65), 1 + r.below(12), 1 + r.below(28));
    match r.below(3) {
        0 => format!("DOB: {d:02}/{m:02}/{y}"),
        1 => format!("born on {y}-{m:02}-{d:02}"),
        _ => format!("date of birth {d:02}.{m:02}.{y}"),
    }
}

fn address(r: &mut Rng) -> String {
    format!(
        "{} {} {}",
        1 + r.below(9800),
        r.pick(STREETS),
        r.pick(SUFFIXES)
    )
}

fn api_key(r: &mut Rng) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    if r.below(2) == 0 {
        format!("sk_live_{}", r.from(ALNUM, 24))
    } else {
        format!("AKIA{}", r.from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16))
    }
}

fn jwt(r: &mut Rng) -> String {
    const URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    format!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI{}In0.{}",
        r.from(URL, 24),
        r.from(URL, 43)
    )
}

fn order(r: &mut Rng) -> String {
    match r.below(3) {
        0 => format!("ORD-2024-{}", r.digits(6)),
        1 => format!("#{}", r.digits(6)),
        _ => r.digits(9),
    }
}

fn tracking(r: &mut Rng) -> String {
    format!("1Z{}", r.from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 16))
}

fn price(r: &mut Rng) -> String {
    format!("${}.{:02}", 1 + r.below(2000), r.below(100))
}

fn date(r: &mut Rng) -> String {
    format!("2024-{:02}-{:02}", 1 + r.below(12), 1 + r.below(28))
}

fn version(r: &mut Rng) -> String {
    format!("{}.{}.{}", 1 + r.below(9), r.below(20), r.below(40))
}

fn uuid(r: &mut Rng) -> String {
    let h = |r: &mut Rng, n| r.from(b"0123456789abcdef", n);
    format!(
        "{}-{}-4{}-a{}-{}",
        h(r, 8),
        h(r, 4),
        h(r, 3),
        h(r, 3),
        h(r, 12)
    )
}

/// One support-ticket sentence; about one in three carries personal data.
fn sentence(r: &mut Rng, p: &Person) -> String {
    match r.below(24) {
        0 => format!(
            "Please call me at {} or email {} before {}:{:02}.",
            p.phone,
            p.email,
            9 + r.below(8),
            r.below(60)
        ),
        1 => format!(
            "I was charged {} twice on my card ending {}; the full number is {}.",
            price(r),
            r.digits(4),
            card(r)
        ),
        2 => format!(
            "The app version {} crashes right after login from {}.",
            version(r),
            ipv4(r)
        ),
        3 => format!(
            "Refund to {} please, reference {}.",
            iban(r),
            order(r)
        ),
        4 => format!("For the verification: {} and SSN {}.", dob(r), ssn(r)),
        5 => format!(
            "Ship it to {}, {} instead of the old address.",
            address(r),
            r.pick(CITIES)
        ),
        6 => format!("Our key {} leaked in a log, please rotate it.", api_key(r)),
        7 => format!("The session token {} expired at 2024-03-15T10:30:00Z.", jwt(r)),
        8 => format!("CNIC {} attached for the KYC review.", cnic(r)),
        9 => format!("The VPN logs show {} connecting twice.", ipv6(r)),
        10 => format!(
            "Hi team, my order {} still has not arrived and tracking number {} shows no update since {}.",
            order(r),
            tracking(r),
            date(r)
        ),
        11 => format!(
            "The invoice for March shows {} items totalling {} including {}% tax.",
            2 + r.below(9),
            price(r),
            5 + r.below(20)
        ),
        12 => format!(
            "We updated to version {} and cleared the cache, but it still fails.",
            version(r)
        ),
        13 => format!(
            "Request id {} failed with status 500 after {} ms.",
            uuid(r),
            100 + r.below(4000)
        ),
        14 => format!(
            "The checksum {} matches the one on the download page.",
            r.from(b"0123456789abcdef", 40)
        ),
        15 => format!(
            "ISBN 978-3-16-{}-{} is listed as out of stock.",
            r.digits(6),
            r.below(10)
        ),
        16 => "Thanks for the quick response, the issue is resolved now and you can close the ticket.".to_owned(),
        17 => "I have tried clearing cookies, reinstalling the app and restarting my phone, nothing helped.".to_owned(),
        18 => format!(
            "The delivery window was {}:00 to {}:00 but nobody came by.",
            8 + r.below(3),
            12 + r.below(6)
        ),
        19 => "Could you also tell me whether the warranty covers water damage?".to_owned(),
        20 => format!(
            "Kind regards,\n{} {}\n",
            p.first, p.last
        ),
        21 => format!(
            "Our office is open Monday to Friday, 9 am to 5 pm, and closed on public holidays ({} this year).",
            3 + r.below(9)
        ),
        22 => format!(
            "The coupon SPRING{} did not apply at checkout, the total stayed at {}.",
            10 + r.below(40),
            price(r)
        ),
        _ => "It would be great if someone could look into this today, we have a launch tomorrow.".to_owned(),
    }
}

/// Support tickets, `bytes` long or a little more.
pub(crate) fn prose(seed: u64, bytes: usize) -> String {
    let mut r = Rng::new(seed);
    let mut out = String::with_capacity(bytes + 512);
    while out.len() < bytes {
        let p = Person::new(&mut r);
        out.push_str(&format!(
            "Subject: Problem with order {}\n\n",
            order(&mut r)
        ));
        for _ in 0..4 + r.below(6) {
            out.push_str(&sentence(&mut r, &p));
            out.push(' ');
        }
        out.push_str("\n\n");
    }
    out
}

/// Percent-encoded for a query value.
fn pct(s: &str) -> String {
    s.replace('@', "%40").replace('+', "%2B").replace(' ', "+")
}

/// One transactional mail as SendGrid's `content[].value` carries it.
pub(crate) fn mail(r: &mut Rng, p: &Person) -> String {
    let ord = order(r);
    let email_text = if r.below(4) == 0 {
        p.email.replace('@', "&#64;")
    } else {
        p.email.clone()
    };
    let mut rows = String::new();
    for _ in 0..1 + r.below(4) {
        rows.push_str(&format!(
            "<tr><td style=\"padding:8px 0;border-bottom:1px solid #eeeeee;\">{}</td><td align=\"center\" style=\"padding:8px 0;\">{}</td><td align=\"right\" style=\"padding:8px 0;\">{}</td></tr>",
            r.pick(PRODUCTS),
            1 + r.below(3),
            price(r)
        ));
    }
    format!(
        concat!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
            "<title>Your order {ord}</title><style>body{{font-family:Arial,Helvetica,sans-serif;margin:0;padding:0}}",
            ".btn{{background:#0066cc;color:#ffffff;padding:12px 24px;border-radius:4px;text-decoration:none}}</style></head>",
            "<body><table width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"background-color:#f4f4f4;\"><tr><td align=\"center\" style=\"padding:20px 0;\">",
            "<table width=\"600\" cellpadding=\"0\" cellspacing=\"0\" style=\"background:#ffffff;border:1px solid #e0e0e0;\">",
            "<tr><td style=\"padding:24px;font-size:16px;line-height:24px;color:#333333;\">",
            "<p>Hi {first},</p>",
            "<p>Thanks for your order {ord} placed on {date}. We&rsquo;ll ship it to {addr}, {city} within {days} business days.</p>",
            "<table width=\"100%\" cellpadding=\"0\" cellspacing=\"0\">{rows}</table>",
            "<p>Questions? Reply to this email or call us at {phone}. Your account email is ",
            "<a href=\"mailto:{email}\" style=\"color:#0066cc;\">{email_text}</a>.</p>",
            "<p style=\"text-align:center;\"><a class=\"btn\" href=\"https://track.example.com/c?u={email_pct}&amp;o={ord_pct}&amp;utm_source=email&amp;utm_medium=transactional&amp;utm_campaign=order_{n}\">Track your package</a></p>",
            "<p>Your payment of {total} was charged on {date}. Need to change something? Visit your account at ",
            "<a href=\"https://example.com/account?ref=mail&amp;lang=en\">example.com/account</a>.</p>",
            "</td></tr><tr><td style=\"padding:16px 24px;font-size:12px;line-height:18px;color:#999999;\">",
            "You received this email because you created an account at example.com. ",
            "<a href=\"https://example.com/unsubscribe?e={email_pct}&amp;t={token}\" style=\"color:#999999;\">Unsubscribe</a> &middot; ",
            "&copy; 2024 Example Inc., 100 Main Street, Springfield</td></tr></table></td></tr></table></body></html>\n"
        ),
        ord = ord,
        ord_pct = pct(&ord).replace('#', "%23"),
        first = p.first,
        date = date(r),
        addr = address(r),
        city = r.pick(CITIES),
        days = 2 + r.below(4),
        rows = rows,
        phone = p.phone,
        email = p.email,
        email_text = email_text,
        email_pct = pct(&p.email),
        n = r.digits(4),
        total = price(r),
        token = r.from(b"abcdef0123456789", 32),
    )
}

/// Transactional mails, `bytes` long or a little more.
pub(crate) fn html(seed: u64, bytes: usize) -> String {
    let mut r = Rng::new(seed);
    let mut out = String::with_capacity(bytes + 4096);
    while out.len() < bytes {
        let p = Person::new(&mut r);
        out.push_str(&mail(&mut r, &p));
    }
    out
}
