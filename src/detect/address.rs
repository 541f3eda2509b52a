//! Street addresses — best effort.
//!
//! There is no checksum for an address, and a name-and-number grammar that covers every
//! country is a geocoder, not a prefilter. This recognises the common written shapes of the
//! locales piigate's users send, line by line (the value may hold a multi-line address):
//!
//! - house number first, then at least one name word, then a street-type word within six
//!   words (`742 Evergreen Terrace`, `12B Baker St.`, `81, boulevard de Nicolas`,
//!   `830, Zacharia Ganj`); the word list is the USPS Publication 28 suffixes plus British,
//!   French and Indian street words;
//! - German compounds ending in a street word, then the number (`Hauptstraße 5`,
//!   `Pieperring 97/14`, `Gunter-Paffrath-Platz 3`);
//! - a French street type first (`rue de la Paix`);
//! - a unit line (`Flat 3`, `Suite 400`, `H.No. 89`) followed by another line.
//!
//! It misses addresses without a street-type word (`10 Downing`) and can match product text
//! shaped like one (`5 Star Way`). docs/DETECTION.md records the measured rates.

/// Street-type words, lower case, sorted by bytes for binary search: USPS Publication 28
/// Appendix C1 suffixes and abbreviations, and British, French and Indian street words.
pub(crate) const STREET_WORDS: &[&str] = &[
    "allee",
    "alley",
    "allée",
    "aly",
    "annex",
    "arcade",
    "av",
    "ave",
    "avenue",
    "bayou",
    "bazaar",
    "bazar",
    "bd",
    "beach",
    "bend",
    "bluff",
    "bluffs",
    "blvd",
    "bottom",
    "boulevard",
    "branch",
    "bridge",
    "brook",
    "brooks",
    "burg",
    "burgs",
    "bypass",
    "camp",
    "canyon",
    "cape",
    "causeway",
    "center",
    "centers",
    "chemin",
    "chowk",
    "cir",
    "circle",
    "circles",
    "cliff",
    "cliffs",
    "close",
    "club",
    "colony",
    "common",
    "commons",
    "corner",
    "corners",
    "cours",
    "course",
    "court",
    "courts",
    "cove",
    "coves",
    "creek",
    "cres",
    "crescent",
    "crest",
    "crossing",
    "crossroad",
    "ct",
    "curve",
    "dale",
    "dam",
    "divide",
    "dr",
    "drive",
    "drives",
    "drove",
    "end",
    "estate",
    "estates",
    "expressway",
    "expy",
    "extension",
    "extensions",
    "fall",
    "falls",
    "ferry",
    "field",
    "fields",
    "flat",
    "flats",
    "ford",
    "fords",
    "forest",
    "forge",
    "forges",
    "fork",
    "forks",
    "fort",
    "freeway",
    "fwy",
    "ganj",
    "garden",
    "gardens",
    "gate",
    "gateway",
    "glen",
    "glens",
    "green",
    "greens",
    "grove",
    "groves",
    "harbor",
    "harbors",
    "haven",
    "heights",
    "highway",
    "hill",
    "hills",
    "hollow",
    "hts",
    "hwy",
    "hyde",
    "impasse",
    "inlet",
    "island",
    "islands",
    "isle",
    "junction",
    "junctions",
    "key",
    "keys",
    "knoll",
    "knolls",
    "lake",
    "lakes",
    "land",
    "landing",
    "lane",
    "light",
    "lights",
    "ln",
    "loaf",
    "lock",
    "locks",
    "lodge",
    "loop",
    "mall",
    "manor",
    "manors",
    "marg",
    "mead",
    "meadow",
    "meadows",
    "mews",
    "mill",
    "mills",
    "mission",
    "mohalla",
    "motorway",
    "mount",
    "mountain",
    "mountains",
    "nagar",
    "neck",
    "orchard",
    "oval",
    "overpass",
    "parade",
    "park",
    "parks",
    "parkway",
    "parkways",
    "pass",
    "passage",
    "path",
    "pike",
    "pine",
    "pines",
    "pkwy",
    "pl",
    "place",
    "plain",
    "plains",
    "plaza",
    "plz",
    "point",
    "points",
    "port",
    "ports",
    "prairie",
    "quai",
    "radial",
    "ramp",
    "ranch",
    "rapid",
    "rapids",
    "rd",
    "rest",
    "ridge",
    "ridges",
    "rise",
    "river",
    "road",
    "roads",
    "route",
    "row",
    "rue",
    "run",
    "sector",
    "shoal",
    "shoals",
    "shore",
    "shores",
    "skyway",
    "spring",
    "springs",
    "spur",
    "spurs",
    "sq",
    "square",
    "squares",
    "st",
    "station",
    "stravenue",
    "stream",
    "street",
    "streets",
    "summit",
    "ter",
    "terrace",
    "throughway",
    "trace",
    "track",
    "trafficway",
    "trail",
    "trailer",
    "trl",
    "tunnel",
    "turnpike",
    "underpass",
    "union",
    "unions",
    "valley",
    "valleys",
    "viaduct",
    "view",
    "views",
    "village",
    "villages",
    "ville",
    "vista",
    "voie",
    "walk",
    "walks",
    "wall",
    "way",
    "ways",
    "well",
    "wells",
    "wharf",
    "wynd",
    "yard",
    "zila",
];

/// French street types that open an address line.
pub(crate) const LEADING_TYPES: &[&str] = &[
    "rue",
    "boulevard",
    "bd",
    "avenue",
    "chemin",
    "impasse",
    "allée",
    "allee",
    "quai",
    "cours",
];

/// German street-name endings (lower case).
const DE_SUFFIXES: &[&str] = &[
    "straße", "strasse", "str.", "weg", "allee", "platz", "gasse", "ring", "damm", "ufer",
    "chaussee", "steig", "pfad", "markt", "graben", "stieg", "wall",
];

/// Unit or house prefixes that open a first line.
const UNIT_WORDS: &[&str] = &[
    "flat",
    "studio",
    "apartment",
    "apt",
    "suite",
    "unit",
    "h.no",
    "h.no.",
    "house",
];

const MAX_LEN: usize = 200;

/// Whether `s` looks like a street address (one or several lines).
pub(crate) fn is_street_address(s: &str) -> bool {
    if s.len() > MAX_LEN || !s.bytes().any(|b| b.is_ascii_alphabetic()) {
        return false;
    }
    let mut lines = s.split('\n').map(str::trim).filter(|l| !l.is_empty());
    let Some(first) = lines.next() else {
        return false;
    };
    if line(first) {
        return true;
    }
    if house_no(first) {
        return true;
    }
    let mut rest = lines.peekable();
    // `Flat 3` or a lone house number (`804`, `57/005`) above a street line.
    if (unit_line(first) || house_number(first))
        && rest
            .peek()
            .is_some_and(|l| l.chars().next().is_some_and(char::is_alphabetic))
    {
        return true;
    }
    rest.any(line)
}

fn line(l: &str) -> bool {
    number_first(l) || german(l) || french_type_first(l) || french_postcode(l)
}

/// `Rue de la Paix, 75002 Paris`, `Avenue des Champs-Élysées 75008 Paris`: a street type in
/// either case (the postcode and the town make a capital safe: `Place Vendôme 75001 Paris`
/// is an address, `Place order` is not), names and particles, a five-digit postcode and a
/// capitalised town.
fn french_postcode(l: &str) -> bool {
    let mut words = l.split_whitespace();
    if !words.next().is_some_and(|w| {
        LEADING_TYPES
            .iter()
            .chain(&["place", "route"])
            .any(|t| t.eq_ignore_ascii_case(w))
    }) {
        return false;
    }
    let mut names = 0;
    for w in words.by_ref().take(7) {
        let bare = clean(w);
        if bare.len() == 5 && bare.bytes().all(|b| b.is_ascii_digit()) {
            return names > 0
                && words
                    .next()
                    .is_some_and(|t| t.chars().next().is_some_and(char::is_uppercase));
        }
        // `l'Église`, `d'Alsace`: the name after the elided particle.
        let name = bare
            .strip_prefix("l'")
            .or_else(|| bare.strip_prefix("d'"))
            .unwrap_or(bare);
        if name.chars().next().is_some_and(char::is_uppercase) {
            names += 1;
        } else if !FR_PARTICLES.contains(&bare) {
            return false;
        }
    }
    false
}

/// Words between a French street type and the name (`rue de la Paix`), lower case.
const FR_PARTICLES: &[&str] = &["de", "du", "des", "la", "le", "les", "aux", "au", "et"];

fn clean(w: &str) -> &str {
    w.trim_matches(|c: char| c == ',' || c == '.' || c == ';')
}

pub(crate) fn house_number(w: &str) -> bool {
    let w = clean(w);
    let digits = w.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 6 {
        return false;
    }
    let rest = &w[digits..];
    // 12, 12B, 12/14, 12-14, 97/14a
    rest.is_empty()
        || (rest.len() == 1 && rest.as_bytes()[0].is_ascii_alphabetic())
        || ((rest.starts_with('/') || rest.starts_with('-'))
            && rest.len() > 1
            && rest[1..].bytes().all(|b| b.is_ascii_alphanumeric()))
}

pub(crate) fn is_street_word(w: &str) -> bool {
    let w = clean(w).as_bytes();
    let mut buf = [0u8; 16];
    if w.len() < 2 || w.len() > buf.len() {
        return false;
    }
    for (d, s) in buf.iter_mut().zip(w) {
        *d = s.to_ascii_lowercase();
    }
    let w = &buf[..w.len()];
    STREET_WORDS
        .binary_search_by(|s| s.as_bytes().cmp(w))
        .is_ok()
}

fn number_first(l: &str) -> bool {
    let mut words = l.split_whitespace();
    if !words.next().is_some_and(house_number) {
        return false;
    }
    let mut words = words.peekable();
    // French and Indian style: the street type right after the number (`81, rue de la Paix`).
    if words
        .peek()
        .is_some_and(|w| LEADING_TYPES.iter().any(|t| t.eq_ignore_ascii_case(w)))
    {
        words.next();
        return words.next().is_some();
    }
    // At least one name word before the street word: `2 way radio` is not an address.
    for (names, w) in words.take(6).enumerate() {
        if names > 0 && is_street_word(w) {
            return true;
        }
        if !w.chars().next().is_some_and(char::is_alphabetic) && !w.starts_with('\'') {
            return false;
        }
    }
    false
}

fn german(l: &str) -> bool {
    let mut words = l.split_whitespace().peekable();
    while let Some(w) = words.next() {
        let Some(&next) = words.peek() else {
            return false;
        };
        if w.chars().next().is_some_and(char::is_uppercase)
            && house_number(next)
            && DE_SUFFIXES
                .iter()
                .any(|s| w.len() > s.len() && ends_with_ci(w, s))
        {
            return true;
        }
    }
    false
}

/// Case-insensitive suffix test without allocating (`ß` has no ASCII case, so compare chars).
fn ends_with_ci(w: &str, suffix: &str) -> bool {
    let mut x = w.chars().rev().flat_map(char::to_lowercase);
    suffix.chars().rev().all(|c| x.next() == Some(c))
}

fn french_type_first(l: &str) -> bool {
    let mut words = l.split_whitespace();
    words
        .next()
        .is_some_and(|w| LEADING_TYPES.iter().any(|t| t.eq_ignore_ascii_case(w)))
        && words.count() >= 1
        && l.chars().next().is_some_and(char::is_lowercase)
}

/// Indian `H.No. 149, Ram Nagar`: the house-number abbreviation, a number, a name.
fn house_no(l: &str) -> bool {
    let mut words = l.split_whitespace();
    words
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case("h.no.") || w.eq_ignore_ascii_case("h.no"))
        && words.next().is_some_and(house_number)
        && words.next().is_some()
}

fn unit_line(l: &str) -> bool {
    let mut words = l.split_whitespace();
    let (Some(a), Some(b), None) = (words.next(), words.next(), words.next()) else {
        return false;
    };
    UNIT_WORDS.iter().any(|u| u.eq_ignore_ascii_case(a)) && house_number(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASES: &[(&str, bool)] = &[
        ("742 Evergreen Terrace", true),
        ("838 Washington Knolls Suite 508", true),
        ("0434 Laura Ferry", true),
        ("12B Baker St.", true),
        ("1600 Pennsylvania Avenue NW", true),
        ("33 Watson Brooks", true),
        ("81, boulevard de Nicolas", true),
        ("830, Zacharia Ganj", true),
        ("Hauptstraße 5", true),
        ("Hauptstr. 5", true),
        ("Pieperring 97/14", true),
        ("Gunter-Paffrath-Platz 3", true),
        ("boulevard Jeanne Delorme", true),
        ("rue de la Paix", true),
        ("Studio 12\nO'Neill Isle", true),
        ("Flat 3\n12 Smith Road", true),
        ("H.No. 89\nRajagopal Nagar", true),
        ("H.No. 149, Ram", true),
        ("804\nPau Ganj", true),
        ("57/005\nDara Ganj", true),
        ("rue Vincent", true),
        // A street named without a house number, found by its postcode and town.
        ("Rue de la Paix, 75002 Paris", true),
        ("Avenue des Champs-Élysées 75008 Paris", true),
        ("Place Vendôme 75001 Paris", true),
        ("Rue de l'Église, 69001 Lyon", true),
        ("Place order 75001 Paris", false),
        ("Avenue 75008 Paris", false),
        ("Rue de la Paix, 75002 paris", false),
        ("Réf. 75002 Paris", false),
        ("123 Main St\nSpringfield, IL 62701", true),
        // No word between the number and the street word.
        ("2 way radio", false),
        // No street word.
        ("10 Downing", false),
        ("3 items in cart", false),
        ("Order 12345 shipped", false),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)", false),
        ("Keyring 2", true),
        ("Free shipping on orders over 50", false),
        ("Place order", false),
        ("", false),
        ("12345", false),
    ];

    #[test]
    fn street_words_sorted_for_binary_search() {
        assert!(
            STREET_WORDS
                .windows(2)
                .all(|w| w[0].as_bytes() < w[1].as_bytes())
        );
    }

    #[test]
    fn table() {
        for &(s, want) in CASES {
            assert_eq!(is_street_address(s), want, "{s:?}");
        }
    }
}
