//! Payment card numbers (PANs).
//!
//! 13–19 digits, bare or grouped by single spaces or dashes (`4111 1111 1111 1111`,
//! `3782-822463-10005`) or by dots or slashes between groups of four, passing the Luhn
//! check and falling in an issuer (IIN) range that is issued at that length. Luhn alone
//! would accept one random digit run in ten; the IIN table removes most of the rest (no
//! scheme issues numbers starting `1`, so millisecond timestamps never match). Under a key
//! that says card (`hint`), any Luhn-valid 12–19 digit run counts.

/// `(low, high, lengths)` over the leading digits: `low..=high` compares the first
/// `digits(low)` digits; `lengths` are the PAN lengths issued in that range. From the schemes'
/// published IIN tables (ISO/IEC 7812 registrations).
const IIN: &[(u32, u32, &[u8])] = &[
    (4, 4, &[13, 16, 19]),           // Visa
    (51, 55, &[16]),                 // Mastercard
    (2221, 2720, &[16]),             // Mastercard 2-series
    (34, 34, &[15]),                 // American Express
    (37, 37, &[15]),                 // American Express
    (6011, 6011, &[16, 17, 18, 19]), // Discover
    (644, 649, &[16, 17, 18, 19]),   // Discover
    (65, 65, &[16, 17, 18, 19]),     // Discover, RuPay
    (62, 62, &[16, 17, 18, 19]),     // UnionPay (and Discover co-branded 622126-622925)
    (60, 60, &[16]),                 // RuPay
    (81, 82, &[16]),                 // RuPay
    (508, 508, &[16]),               // RuPay
    // JCB registers 3528-3589; issuer lists (and Faker) use the whole 35 block.
    (35, 35, &[16, 17, 18, 19]),                 // JCB
    (1800, 1800, &[15]),                         // JCB, legacy 15-digit
    (2131, 2131, &[15]),                         // JCB, legacy 15-digit
    (300, 305, &[14, 15, 16, 17, 18, 19]),       // Diners Club International
    (36, 36, &[14, 15, 16, 17, 18, 19]),         // Diners Club International
    (38, 39, &[14, 15, 16, 17, 18, 19]),         // Diners Club
    (2200, 2204, &[16, 17, 18, 19]),             // Mir
    (50, 50, &[12, 13, 14, 15, 16, 17, 18, 19]), // Maestro
    (56, 58, &[12, 13, 14, 15, 16, 17, 18, 19]), // Maestro
    (63, 63, &[12, 13, 14, 15, 16, 17, 18, 19]), // Maestro
    (67, 67, &[12, 13, 14, 15, 16, 17, 18, 19]), // Maestro
    (9792, 9792, &[16]),                         // Troy
];

/// Maestro BINs that issued 12-digit PANs, accepted as 12 bare digits. A random 12-digit id
/// matches one of these and Luhn about once in 10^4.
const MAESTRO_12: &[&[u8]] = &[
    b"5018", b"5020", b"5038", b"5893", b"6304", b"6759", b"6761", b"6762", b"6763",
];

const MAX: usize = 19;

/// Whether `s` is one card number.
pub(crate) fn is_card(s: &[u8], hint: bool) -> bool {
    check(s, hint, false)
}

/// Whether `s` is one card number where the text names a card just before it (`card
/// 566954923975`, `Karte …`): twelve bare digits count at any Maestro IIN, still with Luhn and
/// the issuer table.
pub(crate) fn is_card_named(s: &[u8]) -> bool {
    check(s, false, true)
}

fn check(s: &[u8], hint: bool, named: bool) -> bool {
    let mut digits = [0u8; MAX];
    let mut n = 0;
    let mut sep: Option<u8> = None;
    let mut prev_digit = false;
    let mut group = 0;
    for &b in s {
        match b {
            b'0'..=b'9' => {
                if n == MAX {
                    return false;
                }
                digits[n] = b - b'0';
                n += 1;
                group += 1;
                prev_digit = true;
            }
            b' ' | b'-' | b'.' | b'/' => {
                // One separator kind, single, between digits. Dots and slashes (how some
                // people and forms group a card) also separate dates, versions and ids, so
                // they only count between groups of four: `4242.4242.4242.4242`.
                if !prev_digit
                    || sep.is_some_and(|s| s != b)
                    || (matches!(b, b'.' | b'/') && group != 4)
                {
                    return false;
                }
                sep = Some(b);
                group = 0;
                prev_digit = false;
            }
            _ => return false,
        }
    }
    if !prev_digit || (matches!(sep, Some(b'.' | b'/')) && group > 4) {
        return false;
    }
    let d = &digits[..n];
    // Twelve bare digits are an order or tracking number far more often than a Maestro
    // card; grouped `4-4-4`, or under one of Maestro's best-known BINs, they are a card.
    let len_ok = (13..=19).contains(&n)
        || (n == 12
            && (hint || named || sep.is_some() || MAESTRO_12.iter().any(|b| s.starts_with(b))));
    len_ok && luhn(d) && (hint || iin_ok(d))
}

/// The Luhn (mod 10) check over digit values.
pub(crate) fn luhn(d: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &x) in d.iter().rev().enumerate() {
        let x = u32::from(x);
        sum += if i % 2 == 1 {
            let y = x * 2;
            if y > 9 { y - 9 } else { y }
        } else {
            x
        };
    }
    sum.is_multiple_of(10)
}

fn iin_ok(d: &[u8]) -> bool {
    let len = d.len();
    IIN.iter().any(|&(low, high, lengths)| {
        if !lengths.iter().any(|&l| usize::from(l) == len) {
            return false;
        }
        let width = digits_of(low);
        let prefix = d[..width]
            .iter()
            .fold(0u32, |acc, &x| acc * 10 + u32::from(x));
        (low..=high).contains(&prefix)
    })
}

fn digits_of(mut x: u32) -> usize {
    let mut n = 1;
    while x >= 10 {
        x /= 10;
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (value, hint, is a card)
    const CASES: &[(&str, bool, bool)] = &[
        // Published test PANs of each scheme, in the groupings people type.
        ("4111111111111111", false, true),
        ("4111 1111 1111 1111", false, true),
        ("4111-1111-1111-1111", false, true),
        ("5555555555554444", false, true),
        ("2223003122003222", false, true),
        ("378282246310005", false, true),
        ("3782 822463 10005", false, true),
        ("6011111111111117", false, true),
        ("3530111333300000", false, true),
        ("36227206271667", false, true),
        ("6200000000000005", false, true),
        // Visa 13- and 19-digit.
        ("4222222222222", false, true),
        ("4111111111111111110", false, true),
        // Luhn fails.
        ("4111111111111112", false, false),
        // Luhn passes, no scheme issues numbers starting 1 (millisecond timestamps).
        ("1700000000007", false, false),
        // Luhn passes, Amex length wrong.
        ("3782822463100005", false, false),
        // Luhn passes, Visa does not issue 15 digits (a FedEx-length tracking number).
        ("411111111111116", false, false),
        // Legacy 15-digit JCB.
        ("180000000000002", false, true),
        // Twelve-digit Maestro: only when grouped.
        ("5018 0000 0009", false, true),
        ("501800000009", false, true),
        ("561800000003", false, false),
        // Under a card key the issuer range is not required.
        ("1234567812345670", true, true),
        ("1234567812345670", false, false),
        // Dots and slashes between groups of four; elsewhere they separate other things.
        ("4242.4242.4242.4242", false, true),
        ("4242/4242/4242/4242", false, true),
        ("3782.822463.10005", false, false),
        ("4111.111111111111", false, false),
        // Mixed or doubled separators, letters, too short/long.
        ("4111 1111-1111 1111", false, false),
        ("4111  1111 1111 1111", false, false),
        ("4111 1111 1111 111x", false, false),
        ("4111111111", false, false),
        ("41111111111111111111", false, false),
        (" 4111111111111111", false, false),
        ("", false, false),
    ];

    #[test]
    fn table() {
        for &(s, hint, want) in CASES {
            assert_eq!(is_card(s.as_bytes(), hint), want, "{s} hint={hint}");
        }
    }
}
