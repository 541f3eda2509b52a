//! Key-name classification: what a member name says about its value.
//!
//! Payloads name the same thing in many styles (`emailAddress`, `email_address`, `E-Mail`,
//! `$email`, `contact_email`). [`normalize`] folds a name into lower-case words — splitting on
//! `_ - . $ @ : /` and spaces, at camelCase and acronym boundaries (`IPAddress` → `ip address`)
//! and between letters and digits (`line1` → `line 1`) — into a fixed stack buffer, so
//! classifying a key never allocates. [`analyse`] then reads the words:
//!
//! 1. a table of whole names that are unambiguous only as a whole (`ip`, `dob`, `lat`, `pan`);
//! 2. stop words that turn a PII name into metadata about it (`email_verified`, `phone_type`,
//!    `has_email`, `card_last4`): no class;
//! 3. word rules, most specific first (`email address` is an email, not a street address).
//!
//! The bare word `name` is deliberately not a person's name: analytics payloads use it for
//! events, pages, products and plans far more often than for people. `first_name`,
//! `full_name`, `customer_name` and the like are. Operators name `$.traits.name` in a rule.
//!
//! Besides a class, a key can carry a *hint* for ambiguous values: under `version` a
//! dotted quad is a version, not an IPv4 address; under `cnic` thirteen bare digits are a CNIC.

use super::Class;

/// Longest normalised key we classify; longer names are not PII names in practice.
const MAX_KEY: usize = 64;
/// Most words we look at in a key.
const MAX_WORDS: usize = 8;

/// What a key says about its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct KeyInfo {
    /// The class the name announces, if any.
    pub(crate) class: Option<Class>,
    /// The name says the value is a version or build number (`version`, `app_version`,
    /// `os_ver`, `build`): dotted numbers under it are not IP addresses or phones.
    pub(crate) version: bool,
}

/// A key folded into lower-case words, in a fixed buffer.
pub(crate) struct Words {
    buf: [u8; MAX_KEY],
    /// `(start, end)` of each word in `buf`.
    spans: [(u8, u8); MAX_WORDS],
    count: usize,
}

impl Words {
    fn get(&self, i: usize) -> &[u8] {
        let (s, e) = self.spans[i];
        &self.buf[s as usize..e as usize]
    }

    fn len(&self) -> usize {
        self.count
    }

    /// Whether the words are exactly `phrase` (words separated by single spaces).
    fn is(&self, phrase: &str) -> bool {
        let mut parts = phrase.split(' ');
        for i in 0..self.count {
            match parts.next() {
                Some(p) if p.as_bytes() == self.get(i) => {}
                _ => return false,
            }
        }
        parts.next().is_none()
    }

    /// Whether any word equals one of `set`.
    fn any(&self, set: &[&str]) -> bool {
        (0..self.count).any(|i| set.iter().any(|w| w.as_bytes() == self.get(i)))
    }

    /// Index of the first word equal to one of `set`.
    fn position(&self, set: &[&str]) -> Option<usize> {
        (0..self.count).find(|&i| set.iter().any(|w| w.as_bytes() == self.get(i)))
    }

    /// Whether word `i` exists and equals one of `set`.
    fn at(&self, i: usize, set: &[&str]) -> bool {
        i < self.count && set.iter().any(|w| w.as_bytes() == self.get(i))
    }

    /// Whether two consecutive words are `a` then one of `b`.
    fn pair(&self, a: &[&str], b: &[&str]) -> bool {
        (1..self.count).any(|i| self.at(i - 1, a) && self.at(i, b))
    }

    /// Renders the words joined by `_` (tests and docs only).
    #[cfg(test)]
    fn joined(&self) -> String {
        (0..self.count)
            .map(|i| String::from_utf8_lossy(self.get(i)).into_owned())
            .collect::<Vec<_>>()
            .join("_")
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sep,
    Lower,
    Upper,
    Digit,
}

fn kind(b: u8) -> Kind {
    match b {
        b'a'..=b'z' => Kind::Lower,
        b'A'..=b'Z' => Kind::Upper,
        b'0'..=b'9' => Kind::Digit,
        // Non-ASCII bytes (`straße`, `teléfono`) stay inside words.
        0x80..=0xff => Kind::Lower,
        _ => Kind::Sep,
    }
}

/// Folds `key` into lower-case words. `None` if it has no word, more than [`MAX_WORDS`] words
/// or more than [`MAX_KEY`] bytes of words.
pub(crate) fn normalize(key: &str) -> Option<Words> {
    let bytes = key.as_bytes();
    let mut w = Words {
        buf: [0; MAX_KEY],
        spans: [(0, 0); MAX_WORDS],
        count: 0,
    };
    let mut len = 0usize;
    let mut start: Option<usize> = None;
    let mut prev = Kind::Sep;
    for (i, &b) in bytes.iter().enumerate() {
        let k = kind(b);
        let boundary = match (prev, k) {
            (_, Kind::Sep) => true,
            (Kind::Lower, Kind::Upper) | (Kind::Lower | Kind::Upper, Kind::Digit) => true,
            (Kind::Digit, Kind::Lower | Kind::Upper) => true,
            // `IPAddress`: the last capital of a run starts the next word.
            (Kind::Upper, Kind::Upper) => bytes.get(i + 1).is_some_and(u8::is_ascii_lowercase),
            _ => false,
        };
        if boundary {
            if let Some(s) = start.take() {
                close(&mut w, s, len)?;
            }
        }
        if k != Kind::Sep {
            if len == MAX_KEY {
                return None;
            }
            if start.is_none() {
                start = Some(len);
            }
            w.buf[len] = b.to_ascii_lowercase();
            len += 1;
        }
        prev = k;
    }
    if let Some(s) = start {
        close(&mut w, s, len)?;
    }
    (w.count > 0).then_some(w)
}

fn close(w: &mut Words, start: usize, end: usize) -> Option<()> {
    if w.count == MAX_WORDS {
        return None;
    }
    // Both fit in u8: MAX_KEY is 64.
    w.spans[w.count] = (u8::try_from(start).ok()?, u8::try_from(end).ok()?);
    w.count += 1;
    Some(())
}

/// Whole names that classify only when they are the entire key.
const WHOLE: &[(&str, Class)] = &[
    ("ip", Class::IpAddress),
    ("ipv 4", Class::IpAddress),
    ("ipv 6", Class::IpAddress),
    ("ua", Class::UserAgent),
    ("dob", Class::DateOfBirth),
    ("lat", Class::Geolocation),
    ("lng", Class::Geolocation),
    ("lon", Class::Geolocation),
    ("long", Class::Geolocation),
    ("latlng", Class::Geolocation),
    ("pan", Class::PaymentCard),
    ("mail", Class::Email),
    ("tel", Class::Phone),
    ("cell", Class::Phone),
    ("fax", Class::Phone),
    ("sex", Class::Gender),
    ("age", Class::Age),
    ("pin", Class::Password),
    ("pwd", Class::Password),
    ("nic", Class::Cnic),
    ("nid", Class::NationalId),
    ("tin", Class::NationalId),
    ("plz", Class::PostalCode),
    ("zip", Class::PostalCode),
    ("fname", Class::PersonName),
    ("lname", Class::PersonName),
    ("addr", Class::StreetAddress),
    ("line 1", Class::StreetAddress),
    ("line 2", Class::StreetAddress),
    ("address line 1", Class::StreetAddress),
    ("address line 2", Class::StreetAddress),
    ("access token", Class::ApiKey),
    ("refresh token", Class::ApiKey),
    ("id token", Class::ApiKey),
    ("auth token", Class::ApiKey),
    ("session token", Class::ApiKey),
    ("bearer token", Class::ApiKey),
    ("authorization", Class::ApiKey),
];

/// A last word that makes the key *about* the PII rather than the PII itself.
const STOP_LAST: &[&str] = &[
    "verified",
    "valid",
    "validated",
    "confirmed",
    "count",
    "enabled",
    "disabled",
    "consent",
    "optin",
    "opt",
    "opted",
    "subscribed",
    "status",
    "type",
    "types",
    "format",
    "hash",
    "hashed",
    "md",
    "sha",
    "length",
    "len",
    "provider",
    "domain",
    "country",
    "brand",
    "network",
    "issuer",
    "expiry",
    "exp",
    "expiration",
    "month",
    "year",
    "last",
    "mask",
    "masked",
    "token",
    "tokenized",
    "encrypted",
    "hint",
    "label",
    "template",
    "field",
    "flag",
    "policy",
    "required",
    "visible",
    "preference",
    "preferences",
    "changed",
    "updated",
    "sent",
    "bounced",
    "error",
    "errors",
    "prefix",
    "extension",
    "ext",
    "kind",
    "category",
    "reset",
    "strength",
    "group",
    "range",
    "bucket",
    "segment",
    "version",
    "at",
    "on",
    "url",
    "uri",
    "link",
];

/// A first word that makes the key a flag or a count.
const STOP_FIRST: &[&str] = &[
    "is", "has", "num", "count", "total", "max", "min", "allow", "enable", "show", "hide", "send",
    "require", "no", "number", "len",
];

/// Words that mean "version" (only suppress, never classify).
const VERSION: &[&str] = &[
    "version", "ver", "build", "release", "revision", "rev", "semver",
];

/// Words before `name` that make it a person's name.
const PERSON_NAME: &[&str] = &[
    "first",
    "last",
    "full",
    "given",
    "family",
    "middle",
    "maiden",
    "customer",
    "contact",
    "billing",
    "shipping",
    "cardholder",
    "holder",
    "recipient",
    "person",
    "real",
    "legal",
    "display",
    "nick",
    "sender",
    "patient",
    "member",
    "owner",
    "user",
    "account",
    "buyer",
    "passenger",
    "guest",
    "employee",
    "student",
    "parent",
    "spouse",
    "emergency",
];

/// Words before `address` that make it something other than a postal address.
const NOT_POSTAL: &[&str] = &[
    "server", "host", "wallet", "web", "url", "bitcoin", "btc", "eth", "contract", "memory",
    "base", "ip", "email", "mail", "e", "mac", "remote", "network", "net", "node", "bind",
    "listen", "proxy", "public", "private", "local", "socket", "peer", "token",
];

/// Reads a member name; see the module doc for the rules.
pub(crate) fn analyse(key: &str) -> KeyInfo {
    let Some(w) = normalize(key) else {
        return KeyInfo::default();
    };
    let version = w.any(VERSION);
    KeyInfo {
        class: if version { None } else { classify(&w) },
        version,
    }
}

fn classify(w: &Words) -> Option<Class> {
    if let Some(&(_, class)) = WHOLE.iter().find(|(name, _)| w.is(name)) {
        return Some(class);
    }
    let n = w.len();
    if w.at(n - 1, STOP_LAST)
        || (n > 1 && w.at(0, STOP_FIRST))
        || w.any(&["opt", "optin", "optout"])
    {
        return None;
    }
    let c = |class| Some(class);
    // Most specific first: a word that names a format beats the generic `address`/`number`.
    if w.any(&[
        "email",
        "emails",
        "emailaddress",
        "emailaddr",
        "email1",
        "email2",
    ]) || w.pair(&["e"], &["mail", "mails"])
        || (n > 1 && w.at(n - 1, &["mail"]) && !w.any(&["voice", "snail"]))
    {
        return c(Class::Email);
    }
    if w.any(&["ssn", "ssns"])
        || w.pair(&["social"], &["security", "insurance"])
        || w.any(&["socialsecurity"])
    {
        return c(Class::Ssn);
    }
    if w.any(&["cnic", "nadra", "cnicnumber"]) || (n > 1 && w.at(0, &["nic"])) {
        return c(Class::Cnic);
    }
    if w.any(&["iban", "ibans"]) {
        return c(Class::Iban);
    }
    if w.any(&["passport", "passportno", "passportnumber"]) {
        return c(Class::Passport);
    }
    if (w.any(&["driver", "drivers", "driving"]) && w.any(&["license", "licence", "lic", "dl"]))
        || w.any(&["driverlicense", "driverslicense", "drivinglicence"])
        || w.is("dl number")
        || w.is("dl no")
    {
        return c(Class::DriverLicense);
    }
    if w.pair(
        &["national", "state"],
        &["id", "identity", "identifier", "insurance", "number"],
    ) || w.pair(
        &["id", "identity", "identification"],
        &["card", "number", "no"],
    ) || w.pair(&["tax"], &["id", "number", "identifier", "no"])
        || w.any(&[
            "nationalid",
            "aadhaar",
            "aadhar",
            "nino",
            "taxid",
            "personnummer",
            "steuerid",
            "itin",
        ])
    {
        return c(Class::NationalId);
    }
    if w.pair(&["date", "day"], &["of"]) && w.any(&["birth"])
        || w.pair(&["birth", "born"], &["date", "day", "on"])
        || w.pair(&["date"], &["birth"])
        || w.any(&[
            "dob",
            "birthdate",
            "birthday",
            "birthdt",
            "geburtsdatum",
            "dateofbirth",
        ])
    {
        return c(Class::DateOfBirth);
    }
    if (w.any(&["card", "cc", "credit", "debit"])
        && w.any(&["number", "num", "no", "nr", "pan", "card"])
        && !w.any(&[
            "gift", "loyalty", "library", "sim", "id", "business", "report", "rewards", "name",
            "holder",
        ]))
        || w.any(&[
            "ccnum",
            "ccnumber",
            "creditcard",
            "cardnumber",
            "cardno",
            "debitcard",
        ])
    {
        return c(Class::PaymentCard);
    }
    if w.any(&[
        "phone",
        "phones",
        "telephone",
        "mobile",
        "cellphone",
        "msisdn",
        "whatsapp",
        "phonenumber",
        "mobilenumber",
        "phoneno",
        "telefon",
        "telefono",
        "telephono",
        "handy",
        "tel",
        "fax",
    ]) || w.pair(&["cell"], &["phone", "number", "no"])
        || w.pair(&["contact"], &["number", "no"])
    {
        return c(Class::Phone);
    }
    if w.any(&[
        "password",
        "passwd",
        "passphrase",
        "passcode",
        "pwd",
        "pword",
    ]) {
        return c(Class::Password);
    }
    if w.any(&[
        "apikey",
        "apisecret",
        "secretkey",
        "accesskey",
        "clientsecret",
    ]) || w.pair(
        &["api", "secret", "access", "private", "signing"],
        &["key", "secret"],
    ) || w.pair(&["client", "app", "consumer", "webhook"], &["secret"])
    {
        return c(Class::ApiKey);
    }
    if w.any(&["ip", "ipaddress", "ipaddr", "ipv", "ips"])
        || w.pair(&["remote"], &["addr", "address"])
        || w.pair(&["forwarded"], &["for"])
    {
        return c(Class::IpAddress);
    }
    if w.any(&["useragent"]) || w.pair(&["user"], &["agent"]) {
        return c(Class::UserAgent);
    }
    if w.any(&[
        "idfa",
        "idfv",
        "gaid",
        "adid",
        "imei",
        "udid",
        "deviceid",
        "aaid",
        "advertisingid",
    ]) || w.pair(
        &["device", "advertising", "android", "ad", "vendor"],
        &["id", "identifier"],
    ) || w.pair(&["mac"], &["address", "addr"])
    {
        return c(Class::DeviceId);
    }
    if w.any(&[
        "latitude",
        "longitude",
        "geolocation",
        "coordinates",
        "coords",
        "latlng",
        "latlon",
        "gps",
        "geo",
    ]) || (n > 1 && w.at(n - 1, &["lat", "lng", "lon"]))
    {
        return c(Class::Geolocation);
    }
    if w.any(&["zip", "zipcode", "postcode", "postalcode", "plz"])
        || w.pair(&["postal", "post"], &["code"])
    {
        return c(Class::PostalCode);
    }
    if w.any(&[
        "street",
        "streetaddress",
        "address1",
        "address2",
        "addressline",
        "housenumber",
    ]) || (w
        .position(&["address", "addresses", "addr"])
        .is_some_and(|i| i == 0 || !w.at(i - 1, NOT_POSTAL)))
        || w.pair(&["house"], &["number", "no"])
    {
        return c(Class::StreetAddress);
    }
    if w.any(&["city", "town", "hometown"]) {
        return c(Class::City);
    }
    if w.any(&[
        "firstname",
        "lastname",
        "fullname",
        "surname",
        "forename",
        "givenname",
        "familyname",
        "middlename",
        "nickname",
        "maidenname",
        "displayname",
    ]) || w
        .position(&["name"])
        .is_some_and(|i| i > 0 && w.at(i - 1, PERSON_NAME))
        || w.pair(&["name"], &["on"])
    {
        return c(Class::PersonName);
    }
    if w.any(&["gender", "sex"]) {
        return c(Class::Gender);
    }
    if w.any(&["age"]) {
        return c(Class::Age);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (key, normalised words)
    const NORMALIZE: &[(&str, &str)] = &[
        ("emailAddress", "email_address"),
        ("email_address", "email_address"),
        ("E-Mail", "e_mail"),
        ("$email", "email"),
        // Acronym runs end before the capital that starts the next word.
        ("IPAddress", "ip_address"),
        ("userID", "user_id"),
        ("line1", "line_1"),
        ("context.ip", "context_ip"),
        ("  first  name ", "first_name"),
        ("SSN", "ssn"),
        // Non-ASCII stays inside a word.
        ("straße", "straße"),
    ];

    #[test]
    fn normalizes_naming_styles() {
        for &(key, want) in NORMALIZE {
            let got = normalize(key).map(|w| w.joined());
            assert_eq!(got.as_deref(), Some(want), "{key}");
        }
        assert!(normalize("").is_none());
        assert!(normalize("$_-.").is_none());
        assert!(normalize(&"a".repeat(65)).is_none(), "too long");
        assert!(normalize("a b c d e f g h i").is_none(), "too many words");
    }

    /// (key, class)
    const CLASSES: &[(&str, Option<Class>)] = &[
        ("email", Some(Class::Email)),
        ("emailAddress", Some(Class::Email)),
        ("email_address", Some(Class::Email)),
        ("E-Mail", Some(Class::Email)),
        ("$email", Some(Class::Email)),
        ("contact_email", Some(Class::Email)),
        ("userEmails", Some(Class::Email)),
        // Metadata about an email is not an email.
        ("email_verified", None),
        ("emailOptIn", None),
        ("has_email", None),
        ("email_domain", None),
        ("phone_number", Some(Class::Phone)),
        ("phoneNumber", Some(Class::Phone)),
        ("mobile", Some(Class::Phone)),
        ("tel", Some(Class::Phone)),
        ("contact_number", Some(Class::Phone)),
        ("phone_type", None),
        ("dob", Some(Class::DateOfBirth)),
        ("date_of_birth", Some(Class::DateOfBirth)),
        ("dateOfBirth", Some(Class::DateOfBirth)),
        ("birthdate", Some(Class::DateOfBirth)),
        ("birth_date", Some(Class::DateOfBirth)),
        ("birthday", Some(Class::DateOfBirth)),
        ("first_name", Some(Class::PersonName)),
        ("firstName", Some(Class::PersonName)),
        ("last_name", Some(Class::PersonName)),
        ("surname", Some(Class::PersonName)),
        ("full_name", Some(Class::PersonName)),
        ("name_on_card", Some(Class::PersonName)),
        // `name` alone names products, pages and events in analytics payloads.
        ("name", None),
        ("product_name", None),
        ("event_name", None),
        ("ssn", Some(Class::Ssn)),
        ("social_security_number", Some(Class::Ssn)),
        ("cnic", Some(Class::Cnic)),
        ("cnic_number", Some(Class::Cnic)),
        ("national_id", Some(Class::NationalId)),
        ("nationalId", Some(Class::NationalId)),
        ("id_card_number", Some(Class::NationalId)),
        ("ip", Some(Class::IpAddress)),
        ("ip_address", Some(Class::IpAddress)),
        ("ipAddress", Some(Class::IpAddress)),
        ("client_ip", Some(Class::IpAddress)),
        ("ip_country", None),
        ("user_agent", Some(Class::UserAgent)),
        ("userAgent", Some(Class::UserAgent)),
        ("address", Some(Class::StreetAddress)),
        ("billing_address", Some(Class::StreetAddress)),
        ("street", Some(Class::StreetAddress)),
        ("line1", Some(Class::StreetAddress)),
        ("server_address", None),
        ("mac_address", Some(Class::DeviceId)),
        ("zip", Some(Class::PostalCode)),
        ("postcode", Some(Class::PostalCode)),
        ("postalCode", Some(Class::PostalCode)),
        ("zip_code", Some(Class::PostalCode)),
        ("city", Some(Class::City)),
        ("card_number", Some(Class::PaymentCard)),
        ("cardNumber", Some(Class::PaymentCard)),
        ("credit_card", Some(Class::PaymentCard)),
        ("card_brand", None),
        ("gift_card_number", None),
        ("iban", Some(Class::Iban)),
        ("passport", Some(Class::Passport)),
        ("passport_number", Some(Class::Passport)),
        ("drivers_license_number", Some(Class::DriverLicense)),
        ("gender", Some(Class::Gender)),
        ("lat", Some(Class::Geolocation)),
        ("lng", Some(Class::Geolocation)),
        ("latitude", Some(Class::Geolocation)),
        ("location_lat", Some(Class::Geolocation)),
        ("deviceId", Some(Class::DeviceId)),
        ("advertisingId", Some(Class::DeviceId)),
        ("password", Some(Class::Password)),
        ("password_hash", None),
        ("api_key", Some(Class::ApiKey)),
        ("access_token", Some(Class::ApiKey)),
        ("age", Some(Class::Age)),
        // Words that merely contain a PII word are other words.
        ("page", None),
        ("usage", None),
        ("description", None),
        ("timestamp", None),
        ("anonymousId", None),
        ("userId", None),
        ("version", None),
        ("app_version", None),
    ];

    #[test]
    fn classifies_names() {
        for &(key, want) in CLASSES {
            assert_eq!(analyse(key).class, want, "{key}");
        }
    }

    #[test]
    fn version_hint() {
        for key in ["version", "app_version", "osVersion", "build", "sdk_ver"] {
            assert!(analyse(key).version, "{key}");
        }
        assert!(!analyse("ip").version);
    }
}
