//! The closed set of PII classes and what each one means legally.
//!
//! A [`Class`] is what detection reports; the ledger and the report turn it into a CCPA
//! category (Cal. Civ. Code §1798.140(v)(1), letters A–K) and a [`Sensitivity`] (§1798.140(ae)).
//! The mapping lives here, in one exhaustive `match` per question, so adding a class forces a
//! decision on both. [`Class::as_str`] is a stable snake_case name: it becomes a metric label, a
//! config key and a report column, so names are never renamed, only added.
//!
//! [`ClassSet`] is a copyable bit set (one `u32`), so a compiled [`super::Detector`] can hold the
//! enabled classes without allocation and test membership with one AND.

use std::fmt;
use std::str::FromStr;

/// A kind of personal data. Variants in alphabetical order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// A person's age (key name only).
    Age,
    /// A secret API key of a known vendor shape (`sk_live_…`, `AKIA…`, `ghp_…`, `xoxb-…`, `AIza…`).
    ApiKey,
    /// A city or town (key name only).
    City,
    /// A Pakistani Computerised National Identity Card number, `12345-1234567-1`.
    Cnic,
    /// A date of birth: a date under a key that says so.
    DateOfBirth,
    /// A device or advertising identifier (key name only: `device_id`, `idfa`, `gaid`, …).
    DeviceId,
    /// A driver's licence number (key name only).
    DriverLicense,
    /// An email address.
    Email,
    /// Gender or sex (key name only).
    Gender,
    /// Latitude, longitude or coordinates (key name only).
    Geolocation,
    /// An International Bank Account Number (ISO 13616, mod-97 checked).
    Iban,
    /// An IPv4 or IPv6 address.
    IpAddress,
    /// A JSON Web Token (three base64url segments, a JSON header with `alg`).
    Jwt,
    /// A national identity or tax number other than CNIC and SSN (key name only).
    NationalId,
    /// A passport number (key name only).
    Passport,
    /// A password or passphrase (key name only).
    Password,
    /// A payment card number (Luhn and a known issuer range).
    PaymentCard,
    /// A person's name, given, family or full (key name only).
    PersonName,
    /// A telephone number, international or national format.
    Phone,
    /// A postal or ZIP code (key name only).
    PostalCode,
    /// A US Social Security number outside the SSA's never-issued ranges.
    Ssn,
    /// A street address: a house number and a street-type word (best effort).
    StreetAddress,
    /// An HTTP user agent string (key name only).
    UserAgent,
}

/// The CCPA categories of personal information, Cal. Civ. Code §1798.140(v)(1)(A)–(K).
/// Variants in statute order, so `as u8` follows the letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// (A) Identifiers: real name, alias, postal address, unique or online identifier, IP
    /// address, email address, account name, SSN, driver's licence, passport number.
    Identifiers,
    /// (B) Personal information listed in §1798.80(e): telephone number, bank account, credit
    /// or debit card number, other financial, medical or insurance information.
    CustomerRecords,
    /// (C) Characteristics of protected classifications (age, sex, …).
    ProtectedCharacteristics,
    /// (D) Commercial information: property, purchases, consuming histories.
    Commercial,
    /// (E) Biometric information.
    Biometric,
    /// (F) Internet or other electronic network activity information.
    NetworkActivity,
    /// (G) Geolocation data.
    Geolocation,
    /// (H) Audio, electronic, visual, thermal, olfactory or similar information.
    SensoryData,
    /// (I) Professional or employment-related information.
    Professional,
    /// (J) Education information.
    Education,
    /// (K) Inferences drawn to create a profile.
    Inferences,
}

/// Whether a class is "sensitive personal information" under §1798.140(ae). Variants in
/// alphabetical order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sensitivity {
    /// Personal information that is not sensitive under §1798.140(ae).
    Personal,
    /// Sensitive personal information (§1798.140(ae)): government identifiers, financial
    /// account and card numbers, account credentials, precise geolocation.
    Sensitive,
}

/// A set of classes, one bit each. `Copy`, no allocation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ClassSet(u32);

/// A class name that [`Class::from_str`] does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown PII class; expected one of the names listed in docs/DETECTION.md (e.g. `email`, `phone`, `payment_card`)"
)]
pub struct UnknownClass;

// === impl Class ===

impl Class {
    /// Every class, in declaration (alphabetical) order.
    pub const ALL: [Self; 23] = [
        Self::Age,
        Self::ApiKey,
        Self::City,
        Self::Cnic,
        Self::DateOfBirth,
        Self::DeviceId,
        Self::DriverLicense,
        Self::Email,
        Self::Gender,
        Self::Geolocation,
        Self::Iban,
        Self::IpAddress,
        Self::Jwt,
        Self::NationalId,
        Self::Passport,
        Self::Password,
        Self::PaymentCard,
        Self::PersonName,
        Self::Phone,
        Self::PostalCode,
        Self::Ssn,
        Self::StreetAddress,
        Self::UserAgent,
    ];

    /// Number of classes; sizes per-class counter arrays.
    pub const COUNT: usize = Self::ALL.len();

    /// Stable snake_case name: a metric label, a config key and a report column.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Age => "age",
            Self::ApiKey => "api_key",
            Self::City => "city",
            Self::Cnic => "cnic",
            Self::DateOfBirth => "date_of_birth",
            Self::DeviceId => "device_id",
            Self::DriverLicense => "driver_license",
            Self::Email => "email",
            Self::Gender => "gender",
            Self::Geolocation => "geolocation",
            Self::Iban => "iban",
            Self::IpAddress => "ip_address",
            Self::Jwt => "jwt",
            Self::NationalId => "national_id",
            Self::Passport => "passport",
            Self::Password => "password",
            Self::PaymentCard => "payment_card",
            Self::PersonName => "person_name",
            Self::Phone => "phone",
            Self::PostalCode => "postal_code",
            Self::Ssn => "ssn",
            Self::StreetAddress => "street_address",
            Self::UserAgent => "user_agent",
        }
    }

    /// Dense index in `0..Class::COUNT`, for per-class counter arrays.
    pub(crate) const fn index(self) -> usize {
        self as usize
    }

    /// The CCPA category this class belongs to. Where the statute lists a datum in two
    /// categories (an SSN is in both A and B), the first listing wins, so each class counts
    /// once in the report.
    pub const fn category(self) -> Category {
        match self {
            // (A): names, addresses, identifiers, online identifiers. Credentials are account
            // identifiers for the purpose of the report; §1798.140(ae)(1)(B) makes them sensitive.
            Self::ApiKey
            | Self::City
            | Self::Cnic
            | Self::DeviceId
            | Self::DriverLicense
            | Self::Email
            | Self::IpAddress
            | Self::Jwt
            | Self::NationalId
            | Self::Passport
            | Self::Password
            | Self::PersonName
            | Self::PostalCode
            | Self::Ssn
            | Self::StreetAddress => Category::Identifiers,
            // (B) via §1798.80(e): telephone number, bank account, card numbers.
            Self::Iban | Self::PaymentCard | Self::Phone => Category::CustomerRecords,
            // (C): age and sex are protected classifications; a birth date reveals age.
            Self::Age | Self::DateOfBirth | Self::Gender => Category::ProtectedCharacteristics,
            // (F): the browser and device a request came from.
            Self::UserAgent => Category::NetworkActivity,
            // (G)
            Self::Geolocation => Category::Geolocation,
        }
    }

    /// Whether this class is sensitive personal information (§1798.140(ae)).
    ///
    /// Read conservatively: card and account numbers count as sensitive even without the
    /// access code (ae)(1)(B) pairs them with, because a payload rarely shows whether one
    /// travels alongside. Coordinates count as precise geolocation because a value's precision
    /// cannot be judged from its key.
    pub(crate) const fn sensitivity(self) -> Sensitivity {
        match self {
            Self::ApiKey
            | Self::Cnic
            | Self::DriverLicense
            | Self::Geolocation
            | Self::Iban
            | Self::Jwt
            | Self::NationalId
            | Self::Passport
            | Self::Password
            | Self::PaymentCard
            | Self::Ssn => Sensitivity::Sensitive,
            Self::Age
            | Self::City
            | Self::DateOfBirth
            | Self::DeviceId
            | Self::Email
            | Self::Gender
            | Self::IpAddress
            | Self::PersonName
            | Self::Phone
            | Self::PostalCode
            | Self::StreetAddress
            | Self::UserAgent => Sensitivity::Personal,
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Class {
    type Err = UnknownClass;

    /// Parses the [`Class::as_str`] name (exact, lower case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(UnknownClass)
    }
}

// === impl Category ===

impl Category {
    /// Every category, A to K.
    pub const ALL: [Self; 11] = [
        Self::Identifiers,
        Self::CustomerRecords,
        Self::ProtectedCharacteristics,
        Self::Commercial,
        Self::Biometric,
        Self::NetworkActivity,
        Self::Geolocation,
        Self::SensoryData,
        Self::Professional,
        Self::Education,
        Self::Inferences,
    ];

    /// The statute's letter, `'A'` to `'K'`.
    pub const fn letter(self) -> char {
        (b'A' + self as u8) as char
    }

    /// Stable snake_case name, for metric labels and JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Identifiers => "identifiers",
            Self::CustomerRecords => "customer_records",
            Self::ProtectedCharacteristics => "protected_characteristics",
            Self::Commercial => "commercial",
            Self::Biometric => "biometric",
            Self::NetworkActivity => "network_activity",
            Self::Geolocation => "geolocation",
            Self::SensoryData => "sensory_data",
            Self::Professional => "professional",
            Self::Education => "education",
            Self::Inferences => "inferences",
        }
    }

    /// The heading a privacy notice uses for this category.
    pub const fn title(self) -> &'static str {
        match self {
            Self::Identifiers => "Identifiers",
            Self::CustomerRecords => {
                "Personal information categories listed in Cal. Civ. Code §1798.80(e)"
            }
            Self::ProtectedCharacteristics => "Characteristics of protected classifications",
            Self::Commercial => "Commercial information",
            Self::Biometric => "Biometric information",
            Self::NetworkActivity => "Internet or other electronic network activity information",
            Self::Geolocation => "Geolocation data",
            Self::SensoryData => "Sensory data",
            Self::Professional => "Professional or employment-related information",
            Self::Education => "Education information",
            Self::Inferences => "Inferences drawn from other personal information",
        }
    }
}

// === impl Sensitivity ===

impl Sensitivity {
    /// Stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Personal => "personal",
            Self::Sensitive => "sensitive",
        }
    }
}

// === impl ClassSet ===

impl ClassSet {
    /// No class.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Every class.
    pub const fn all() -> Self {
        Self((1u32 << Class::COUNT) - 1)
    }

    /// This set plus `class`.
    #[must_use]
    pub const fn with(self, class: Class) -> Self {
        Self(self.0 | 1 << class as u32)
    }

    /// This set minus `class`.
    #[must_use]
    pub const fn without(self, class: Class) -> Self {
        Self(self.0 & !(1 << class as u32))
    }

    /// Whether `class` is in the set.
    pub const fn contains(self, class: Class) -> bool {
        self.0 & (1 << class as u32) != 0
    }

    /// Whether the set has no class.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The classes in the set, in [`Class::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Class> {
        Class::ALL.into_iter().filter(move |c| self.contains(*c))
    }
}

impl FromIterator<Class> for ClassSet {
    fn from_iter<I: IntoIterator<Item = Class>>(iter: I) -> Self {
        iter.into_iter().fold(Self::empty(), Self::with)
    }
}

impl fmt::Debug for ClassSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Class::as_str))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for (i, class) in Class::ALL.into_iter().enumerate() {
            assert_eq!(class.index(), i, "ALL is in declaration order");
            assert_eq!(class.as_str().parse::<Class>(), Ok(class));
            assert!(
                class
                    .as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{class} is snake_case"
            );
        }
        assert_eq!(
            "Email".parse::<Class>(),
            Err(UnknownClass),
            "names are exact"
        );
    }

    /// The classes the brief names as sensitive (§1798.140(ae)) and their categories.
    const LEGAL: &[(Class, char, Sensitivity)] = &[
        (Class::Ssn, 'A', Sensitivity::Sensitive),
        (Class::Cnic, 'A', Sensitivity::Sensitive),
        (Class::Passport, 'A', Sensitivity::Sensitive),
        (Class::PaymentCard, 'B', Sensitivity::Sensitive),
        (Class::Iban, 'B', Sensitivity::Sensitive),
        (Class::Geolocation, 'G', Sensitivity::Sensitive),
        (Class::Email, 'A', Sensitivity::Personal),
        (Class::IpAddress, 'A', Sensitivity::Personal),
        // Telephone numbers are listed in §1798.80(e), not in (A).
        (Class::Phone, 'B', Sensitivity::Personal),
        (Class::DateOfBirth, 'C', Sensitivity::Personal),
        (Class::UserAgent, 'F', Sensitivity::Personal),
    ];

    #[test]
    fn legal_mapping() {
        for &(class, letter, sensitivity) in LEGAL {
            assert_eq!(class.category().letter(), letter, "{class}");
            assert_eq!(class.sensitivity(), sensitivity, "{class}");
        }
        assert_eq!(Category::Inferences.letter(), 'K');
    }

    #[test]
    fn class_set() {
        let set: ClassSet = [Class::Email, Class::Phone].into_iter().collect();
        assert!(set.contains(Class::Email) && !set.contains(Class::Iban));
        assert_eq!(
            set.without(Class::Email).iter().collect::<Vec<_>>(),
            [Class::Phone]
        );
        assert_eq!(ClassSet::all().iter().count(), Class::COUNT);
        assert!(ClassSet::empty().is_empty());
        assert_eq!(format!("{set:?}"), r#"{"email", "phone"}"#);
    }
}
