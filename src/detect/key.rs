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

mod vocab;

use super::Class;
use vocab::Roles;
use vocab::*;

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

/// A key folded into lower-case words: each word's roles, and the whole key packed for the
/// [`WHOLE`] lookup. Built on the stack; no word text is kept.
pub(crate) struct Words {
    roles: [Roles; MAX_WORDS],
    /// Union of `roles`.
    all: Roles,
    count: usize,
    /// The words joined by single spaces, packed (see [`pack`]), if that fits in 16 bytes.
    joined: Option<u128>,
}

impl Words {
    /// Whether any word plays a role in `mask`: one AND with the union of all words' roles.
    fn has(&self, mask: Roles) -> bool {
        self.all & mask != 0
    }

    /// Whether word `i` exists and plays a role in `mask`.
    fn at(&self, i: usize, mask: Roles) -> bool {
        i < self.count && self.roles[i] & mask != 0
    }

    /// Index of the first word playing a role in `mask`.
    fn position(&self, mask: Roles) -> Option<usize> {
        self.roles[..self.count].iter().position(|r| r & mask != 0)
    }

    /// Whether two consecutive words play `a` then `b`.
    fn pair(&self, a: Roles, b: Roles) -> bool {
        (1..self.count).any(|i| self.roles[i - 1] & a != 0 && self.roles[i] & b != 0)
    }
}

/// Accumulates up to 16 bytes into a big-endian `u128`; `None` once longer.
#[derive(Clone, Copy)]
struct Packer {
    acc: u128,
    len: usize,
}

impl Packer {
    const fn new() -> Self {
        Self { acc: 0, len: 0 }
    }

    fn push(&mut self, b: u8) {
        if self.len < 16 {
            self.acc = self.acc << 8 | u128::from(b);
        }
        self.len += 1;
    }

    /// The packed value, zero-padded on the right, or `None` past 16 bytes.
    fn finish(self) -> Option<u128> {
        (self.len <= 16).then(|| {
            if self.len == 0 {
                0
            } else {
                self.acc << (8 * (16 - self.len))
            }
        })
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

/// Folds `key` into lower-case words and looks each up in the vocabulary. `None` if it has no
/// word, more than [`MAX_WORDS`] words or more than [`MAX_KEY`] bytes of words.
pub(crate) fn normalize(key: &str) -> Option<Words> {
    let bytes = key.as_bytes();
    let mut w = Words {
        roles: [0; MAX_WORDS],
        all: 0,
        count: 0,
        joined: None,
    };
    let mut joined = Packer::new();
    let mut word = Packer::new();
    let mut in_word = false;
    let mut len = 0usize;
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
        if boundary && in_word {
            close(&mut w, word)?;
            word = Packer::new();
            in_word = false;
        }
        if k != Kind::Sep {
            if len == MAX_KEY {
                return None;
            }
            if !in_word && w.count > 0 {
                joined.push(b' ');
            }
            let lower = b.to_ascii_lowercase();
            word.push(lower);
            joined.push(lower);
            in_word = true;
            len += 1;
        }
        prev = k;
    }
    if in_word {
        close(&mut w, word)?;
    }
    w.joined = joined.finish();
    (w.count > 0).then_some(w)
}

/// Records a finished word's roles: a binary search within its first letter's bucket.
fn close(w: &mut Words, word: Packer) -> Option<()> {
    if w.count == MAX_WORDS {
        return None;
    }
    w.roles[w.count] = word.finish().map_or(0, |p| {
        let first = (p >> 120) as u8;
        if !first.is_ascii_lowercase() {
            return 0;
        }
        let i = usize::from(first - b'a');
        let bucket = &PACKED_VOCAB[usize::from(INDEX[i])..usize::from(INDEX[i + 1])];
        bucket
            .binary_search_by(|(v, _)| v.cmp(&p))
            .map_or(0, |j| bucket[j].1)
    });
    w.all |= w.roles[w.count];
    w.count += 1;
    Some(())
}

/// Whole names (words joined by spaces) that classify only as the entire key, sorted by
/// bytes for binary search.
const WHOLE: &[(&str, Class)] = &[
    ("access token", Class::ApiKey),
    ("addr", Class::StreetAddress),
    ("address line 1", Class::StreetAddress),
    ("address line 2", Class::StreetAddress),
    ("age", Class::Age),
    ("auth token", Class::ApiKey),
    ("authorization", Class::ApiKey),
    ("bearer token", Class::ApiKey),
    ("cell", Class::Phone),
    ("dl no", Class::DriverLicense),
    ("dl number", Class::DriverLicense),
    ("dob", Class::DateOfBirth),
    ("fax", Class::Phone),
    ("fname", Class::PersonName),
    ("id token", Class::ApiKey),
    ("ip", Class::IpAddress),
    ("ipv 4", Class::IpAddress),
    ("ipv 6", Class::IpAddress),
    ("lat", Class::Geolocation),
    ("latlng", Class::Geolocation),
    ("line 1", Class::StreetAddress),
    ("line 2", Class::StreetAddress),
    ("lname", Class::PersonName),
    ("lng", Class::Geolocation),
    ("lon", Class::Geolocation),
    ("long", Class::Geolocation),
    ("mail", Class::Email),
    ("nic", Class::Cnic),
    ("nid", Class::NationalId),
    ("pan", Class::PaymentCard),
    ("pin", Class::Password),
    ("plz", Class::PostalCode),
    ("pwd", Class::Password),
    ("refresh token", Class::ApiKey),
    ("session token", Class::ApiKey),
    ("sex", Class::Gender),
    ("tel", Class::Phone),
    ("tin", Class::NationalId),
    ("ua", Class::UserAgent),
    ("zip", Class::PostalCode),
];

/// A word of up to 16 bytes as a big-endian, zero-padded `u128` (see [`Packer`]): integer order is byte order
/// (words hold no zero bytes), so table lookups compare integers instead of calling `memcmp`.
const fn pack_const(s: &str) -> u128 {
    let b = s.as_bytes();
    assert!(b.len() <= 16, "vocabulary words fit in 16 bytes");
    let mut x = 0u128;
    let mut i = 0;
    while i < 16 {
        x = x << 8 | if i < b.len() { b[i] as u128 } else { 0 };
        i += 1;
    }
    x
}

const PACKED_VOCAB: [(u128, vocab::Roles); VOCAB.len()] = {
    let mut out = [(0, 0); VOCAB.len()];
    let mut i = 0;
    while i < VOCAB.len() {
        out[i] = (pack_const(VOCAB[i].0), VOCAB[i].1);
        i += 1;
    }
    out
};

/// `INDEX[c]..INDEX[c + 1]` is the range of [`PACKED_VOCAB`] whose words start with
/// `b'a' + c`.
const INDEX: [u16; 27] = {
    let mut index = [0u16; 27];
    let mut c = 0;
    let mut i = 0;
    while c < 26 {
        while i < PACKED_VOCAB.len() && ((PACKED_VOCAB[i].0 >> 120) as u8) < b'a' + c as u8 {
            i += 1;
        }
        index[c] = i as u16;
        c += 1;
    }
    index[26] = PACKED_VOCAB.len() as u16;
    index
};

const PACKED_WHOLE: [(u128, Class); WHOLE.len()] = {
    let mut out = [(0, Class::Age); WHOLE.len()];
    let mut i = 0;
    while i < WHOLE.len() {
        out[i] = (pack_const(WHOLE[i].0), WHOLE[i].1);
        i += 1;
    }
    out
};

/// Reads a member name; see the module doc for the rules.
pub(crate) fn analyse(key: &str) -> KeyInfo {
    let Some(w) = normalize(key) else {
        return KeyInfo::default();
    };
    let version = w.has(VERSION);
    KeyInfo {
        class: if version { None } else { classify(&w) },
        version,
    }
}

fn classify(w: &Words) -> Option<Class> {
    if let Some(joined) = w.joined
        && let Ok(i) = PACKED_WHOLE.binary_search_by(|(name, _)| name.cmp(&joined))
    {
        return Some(PACKED_WHOLE[i].1);
    }
    let n = w.count;
    // Most keys (`timestamp`, `sku`, `price`) contain no word any rule knows.
    if w.all == 0 {
        return None;
    }
    if w.at(n - 1, STOP_LAST) || (n > 1 && w.at(0, STOP_FIRST)) || w.has(OPT) {
        return None;
    }
    // Most specific first: a word that names a format beats the generic `address`/`number`.
    let class =
        if w.has(EMAIL) || w.pair(E, MAIL) || (n > 1 && w.at(n - 1, MAIL) && !w.has(VOICE_SNAIL)) {
            Class::Email
        } else if w.has(SSN) || w.pair(SOCIAL, SECURITY_INS) {
            Class::Ssn
        } else if w.has(CNIC) || (n > 1 && w.at(0, NIC)) {
            Class::Cnic
        } else if w.has(IBAN) {
            Class::Iban
        } else if w.has(PASSPORT) {
            Class::Passport
        } else if (w.has(DRIVER) && w.has(LICENSE)) || w.has(DRIVERLICENSE) {
            Class::DriverLicense
        } else if w.pair(NATIONAL_STATE, NATIONAL_SECOND)
            || w.pair(ID_FIRST, ID_SECOND)
            || w.pair(TAX, TAX_SECOND)
            || w.has(NATIONALID)
        {
            Class::NationalId
        } else if (w.pair(DATE_DAY, OF) && w.has(BIRTH))
            || w.pair(BIRTH_BORN, DATE_DAY_ON)
            || w.pair(DATE, BIRTH)
            || w.has(DOB)
        {
            Class::DateOfBirth
        } else if (w.has(CARD_WORD) && w.has(CARD_NUM) && !w.has(CARD_EXCL)) || w.has(CARDNUM) {
            Class::PaymentCard
        } else if w.has(PHONE) || w.pair(CELL, CELL_SECOND) || w.pair(CONTACT, CONTACT_SECOND) {
            Class::Phone
        } else if w.has(PASSWORD) {
            Class::Password
        } else if w.has(APIKEY) || w.pair(KEY_FIRST, KEY_SECOND) || w.pair(SECRET_FIRST, SECRET) {
            Class::ApiKey
        } else if w.has(IP) || w.pair(REMOTE, ADDR_ADDRESS) || w.pair(FORWARDED, FOR) {
            Class::IpAddress
        } else if w.has(USERAGENT) || w.pair(USER, AGENT) {
            Class::UserAgent
        } else if w.has(DEVICEID) || w.pair(DEVICE_FIRST, ID_IDENT) || w.pair(MAC, ADDR_ADDRESS) {
            Class::DeviceId
        } else if w.has(GEO) || (n > 1 && w.at(n - 1, LATLNG)) {
            Class::Geolocation
        } else if w.has(ZIP) || w.pair(POSTAL, CODE) {
            Class::PostalCode
        } else if w.has(STREET)
            || w.position(ADDRESS)
                .is_some_and(|i| i == 0 || !w.at(i - 1, NOT_POSTAL))
            || w.pair(HOUSE, NUMBER_NO)
        {
            Class::StreetAddress
        } else if w.has(CITY) {
            Class::City
        } else if w.has(NAMEWORD)
            || w.position(NAME)
                .is_some_and(|i| i > 0 && w.at(i - 1, PERSON_NAME))
            || w.pair(NAME, ON)
        {
            Class::PersonName
        } else if w.has(GENDER) {
            Class::Gender
        } else if w.has(AGE) {
            Class::Age
        } else {
            return None;
        };
    Some(class)
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
            let got = normalize(key).and_then(|w| w.joined).map(|p| {
                let bytes = p.to_be_bytes();
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(16);
                String::from_utf8_lossy(&bytes[..end]).replace(' ', "_")
            });
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
    fn tables_sorted_for_binary_search() {
        assert!(
            VOCAB
                .windows(2)
                .all(|w| w[0].0.as_bytes() < w[1].0.as_bytes())
        );
        assert!(
            WHOLE
                .windows(2)
                .all(|w| w[0].0.as_bytes() < w[1].0.as_bytes())
        );
    }

    #[test]
    fn version_hint() {
        for key in ["version", "app_version", "osVersion", "build", "sdk_ver"] {
            assert!(analyse(key).version, "{key}");
        }
        assert!(!analyse("ip").version);
    }
}
