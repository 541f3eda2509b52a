//! `fpe`: FF1 over the numerals of a value, keeping its shape.
//!
//! A value is read as a sequence of *numerals* (characters of the alphabet) and *separators*
//! (space, `-`, `.`, `/`, `(`, `)`, `+`), which stay exactly where they were. Any other
//! character makes the value invalid: the action then fails and the proxy rejects the request,
//! so a clear value never leaves because it had an unexpected shape.
//!
//! ```text
//! 4111-1111-1111-1111  keep_last = 4, luhn = true  →  7302-4859-2061-1111 (passes Luhn)
//! ```
//!
//! - `keep_last = k`: the last `k` numerals stay in clear (e.g. a card's last four).
//! - `luhn = true` (digits only): the input must pass the Luhn check; one numeral (the last
//!   one not kept) is not encrypted but *recomputed* so that the output passes Luhn too. Decryption
//!   recomputes the original the same way, so the scheme stays a bijection on Luhn-valid numbers.
//!   The cost is one digit of domain (log10 of the output space drops by 1).
//! - The FF1 tweak is `"pgf1" ‖ be64(len(domain)) ‖ domain ‖ field`: the same number in another
//!   field or another recipient's domain encrypts differently (and the key is per domain too).
//! - Domain: the encrypted numerals must number at least `minlen` with `radix^minlen ≥ 10^6`
//!   (NIST SP 800-38G Rev. 1). A shorter value is refused ([`FpeError::TooShort`]); at config time
//!   [`FpeSpec::validate`] refuses option sets whose declared `min_length` cannot meet it.
//!
//! FPE output names no key id (there is no room for one). Reversal uses the key the config names
//! (`key_id`, default: the primary key), so rotating the primary without pinning `key_id` makes
//! older FPE values unrecoverable: see `docs/CRYPTO.md`.

use crate::crypto::Ff1Key;
use crate::crypto::ff1::{Ff1Error, domain_ok};

/// Maximum numerals in one value: bounds the bignum work per field.
pub const MAX_NUMERALS: usize = 64;

/// Which characters are numerals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FpeAlphabet {
    /// `0-9` (radix 10). Config: `alphabet = "digits"` (default).
    Digits,
    /// `0-9a-z`, case-insensitive on input, case kept on output (radix 36).
    /// Config: `alphabet = "alphanumeric"`. A value mixing upper- and lower-case letters is
    /// invalid (its case could not be restored).
    Alphanumeric,
    /// `0-9A-Za-z`, case-sensitive (radix 62). Config: `alphabet = "alphanumeric_cased"`.
    AlphanumericCased,
}

/// The `fpe` options, as the config compiler fills them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FpeSpec {
    /// Which characters are encrypted.
    pub alphabet: FpeAlphabet,
    /// Numerals at the end left in clear.
    pub keep_last: usize,
    /// Recompute a Luhn-valid output (digits only).
    pub luhn: bool,
    /// The shortest value (in numerals) the field may carry, if the operator declares it; used
    /// to refuse impossible option sets at config load.
    pub min_length: Option<usize>,
}

/// A config-time problem with `fpe` options. Messages say how to fix it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FpeConfigError {
    /// `luhn = true` with a non-digit alphabet.
    #[error("`luhn = true` needs `alphabet = \"digits\"`")]
    LuhnNeedsDigits,
    /// `keep_last` is not below [`MAX_NUMERALS`].
    #[error("`keep_last` must be below {MAX_NUMERALS}")]
    KeepLastTooLarge,
    /// The declared `min_length` leaves too few encrypted numerals.
    #[error(
        "values of {min_length} characters leave {encrypted} encrypted after keep_last/luhn; \
         FF1 needs {needed} (radix^n >= 10^6, NIST SP 800-38G Rev. 1): lower keep_last or \
         use another action"
    )]
    DomainTooSmall {
        /// Declared shortest value.
        min_length: usize,
        /// Numerals left to encrypt.
        encrypted: usize,
        /// Numerals FF1 needs at this radix.
        needed: usize,
    },
}

/// Why one value could not be transformed. Never carries the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FpeError {
    /// Fewer numerals than the FF1 minimum domain allows.
    TooShort,
    /// A character outside the alphabet and separators, mixed letter case (radix 36), more than
    /// [`MAX_NUMERALS`] numerals, or a Luhn-invalid input with `luhn = true`.
    Invalid,
}

/// The working transform: an FF1 key plus the options.
#[derive(Debug)]
pub struct FpeCipher {
    key: Ff1Key,
    spec: FpeSpec,
}

// === impl FpeAlphabet ===

impl FpeAlphabet {
    /// Every alphabet.
    pub const ALL: [Self; 3] = [Self::Digits, Self::Alphanumeric, Self::AlphanumericCased];
    /// The config spellings, in [`Self::ALL`] order.
    pub const NAMES: [&'static str; 3] = super::config_names!(3);

    /// Parses the config spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// The config spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Digits => "digits",
            Self::Alphanumeric => "alphanumeric",
            Self::AlphanumericCased => "alphanumeric_cased",
        }
    }

    /// The FF1 radix.
    pub const fn radix(self) -> u32 {
        match self {
            Self::Digits => 10,
            Self::Alphanumeric => 36,
            Self::AlphanumericCased => 62,
        }
    }

    /// The smallest numeral count with `radix^n >= 10^6`.
    pub(crate) fn min_numerals(self) -> usize {
        (1..=MAX_NUMERALS)
            .find(|&n| domain_ok(self.radix(), n))
            .unwrap_or(MAX_NUMERALS)
    }
}

// === impl FpeSpec ===

impl Default for FpeSpec {
    fn default() -> Self {
        Self {
            alphabet: FpeAlphabet::Digits,
            keep_last: 0,
            luhn: false,
            min_length: None,
        }
    }
}

impl FpeSpec {
    /// Checks an option set at config load. Returns the shortest value (in numerals) that the
    /// action will accept at run time; shorter values fail with [`FpeError::TooShort`].
    ///
    /// # Errors
    /// Every [`FpeConfigError`] case.
    pub fn validate(&self) -> Result<usize, FpeConfigError> {
        if self.luhn && self.alphabet != FpeAlphabet::Digits {
            return Err(FpeConfigError::LuhnNeedsDigits);
        }
        if self.keep_last >= MAX_NUMERALS {
            return Err(FpeConfigError::KeepLastTooLarge);
        }
        let needed = self.alphabet.min_numerals();
        let overhead = self.keep_last + usize::from(self.luhn);
        if let Some(min_length) = self.min_length {
            let encrypted = min_length.saturating_sub(overhead);
            if encrypted < needed {
                return Err(FpeConfigError::DomainTooSmall {
                    min_length,
                    encrypted,
                    needed,
                });
            }
        }
        Ok(needed + overhead)
    }
}

// === impl FpeCipher ===

impl FpeCipher {
    /// Builds the transform from a derived `ff1` working key.
    ///
    /// # Errors
    /// The option set's [`FpeConfigError`], if any.
    pub fn new(working: &crate::keys::SecretKey, spec: FpeSpec) -> Result<Self, FpeConfigError> {
        spec.validate()?;
        let key = Ff1Key::new(working, spec.alphabet.radix())
            // The alphabets' radixes (10, 36, 62) are all valid.
            .map_err(|_| FpeConfigError::LuhnNeedsDigits)?;
        Ok(Self { key, spec })
    }

    /// The options.
    pub fn spec(&self) -> &FpeSpec {
        &self.spec
    }

    /// Encrypts `text`, appending the result (same length, same separators) to `out`.
    /// `numerals` and `tweak` are reused scratch buffers.
    ///
    /// # Errors
    /// [`FpeError`]; `out` is then unchanged.
    pub fn encrypt(
        &self,
        text: &str,
        domain: &str,
        field: &str,
        numerals: &mut Vec<u8>,
        tweak: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<(), FpeError> {
        self.run(text, domain, field, numerals, tweak, out, true)
    }

    /// Reverses [`Self::encrypt`] (the owner's reveal path).
    ///
    /// # Errors
    /// [`FpeError`]; `out` is then unchanged.
    pub fn decrypt(
        &self,
        text: &str,
        domain: &str,
        field: &str,
        numerals: &mut Vec<u8>,
        tweak: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<(), FpeError> {
        self.run(text, domain, field, numerals, tweak, out, false)
    }

    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        text: &str,
        domain: &str,
        field: &str,
        numerals: &mut Vec<u8>,
        tweak: &mut Vec<u8>,
        out: &mut Vec<u8>,
        encrypt: bool,
    ) -> Result<(), FpeError> {
        let alphabet = self.spec.alphabet;
        let upper = parse_numerals(alphabet, text, numerals)?;
        let n = numerals.len();
        let overhead = self.spec.keep_last + usize::from(self.spec.luhn);
        if n > MAX_NUMERALS {
            return Err(FpeError::Invalid);
        }
        if n < overhead || !domain_ok(alphabet.radix(), n - overhead) {
            return Err(FpeError::TooShort);
        }
        // With Luhn, the input must be valid on both paths: a plaintext so we can recompute its
        // check position after decryption, a ciphertext because we made it so.
        if self.spec.luhn && !luhn_valid(numerals) {
            return Err(FpeError::Invalid);
        }
        let enc_len = n - overhead;
        write_tweak(domain, field, tweak);
        let res = if encrypt {
            self.key.encrypt(tweak, &mut numerals[..enc_len])
        } else {
            self.key.decrypt(tweak, &mut numerals[..enc_len])
        };
        res.map_err(|e| match e {
            Ff1Error::DomainTooSmall => FpeError::TooShort,
            _ => FpeError::Invalid,
        })?;
        if self.spec.luhn {
            luhn_fix(numerals, enc_len);
        }
        // Write back: numerals in order, separators where they were.
        let mut i = 0;
        for b in text.bytes() {
            match numeral_of(alphabet, b) {
                Some(_) => {
                    out.push(char_of(alphabet, numerals[i], upper));
                    i += 1;
                }
                None => out.push(b),
            }
        }
        Ok(())
    }
}

/// Separators kept in place.
fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.' | b'/' | b'(' | b')' | b'+')
}

fn numeral_of(alphabet: FpeAlphabet, b: u8) -> Option<u8> {
    match (alphabet, b) {
        (_, b'0'..=b'9') => Some(b - b'0'),
        (FpeAlphabet::Alphanumeric, b'a'..=b'z') => Some(b - b'a' + 10),
        (FpeAlphabet::Alphanumeric, b'A'..=b'Z') => Some(b - b'A' + 10),
        (FpeAlphabet::AlphanumericCased, b'A'..=b'Z') => Some(b - b'A' + 10),
        (FpeAlphabet::AlphanumericCased, b'a'..=b'z') => Some(b - b'a' + 36),
        _ => None,
    }
}

fn char_of(alphabet: FpeAlphabet, d: u8, upper: bool) -> u8 {
    match (alphabet, d) {
        (_, 0..=9) => b'0' + d,
        (FpeAlphabet::Alphanumeric, _) if upper => b'A' + d - 10,
        (FpeAlphabet::Alphanumeric, _) => b'a' + d - 10,
        (_, 10..=35) => b'A' + d - 10,
        _ => b'a' + d - 36,
    }
}

/// Reads the numerals of `text` into `out`; returns whether letters are upper-case (radix 36).
fn parse_numerals(alphabet: FpeAlphabet, text: &str, out: &mut Vec<u8>) -> Result<bool, FpeError> {
    out.clear();
    let (mut lower, mut upper) = (false, false);
    for b in text.bytes() {
        if let Some(d) = numeral_of(alphabet, b) {
            lower |= b.is_ascii_lowercase();
            upper |= b.is_ascii_uppercase();
            out.push(d);
        } else if !is_separator(b) {
            return Err(FpeError::Invalid);
        }
    }
    if alphabet == FpeAlphabet::Alphanumeric && lower && upper {
        return Err(FpeError::Invalid);
    }
    Ok(upper)
}

fn write_tweak(domain: &str, field: &str, buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend_from_slice(b"pgf1");
    buf.extend_from_slice(&(domain.len() as u64).to_be_bytes());
    buf.extend_from_slice(domain.as_bytes());
    buf.extend_from_slice(field.as_bytes());
}

/// Luhn sum of `digits` (rightmost is the check digit), mod 10.
fn luhn_sum(digits: &[u8]) -> u32 {
    digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum::<u32>()
        % 10
}

/// Whether `digits` passes the Luhn (mod 10) check.
pub(crate) fn luhn_valid(digits: &[u8]) -> bool {
    !digits.is_empty() && luhn_sum(digits) == 0
}

/// Sets `digits[pos]` to the unique value that makes the whole sequence Luhn-valid. (At any
/// position the Luhn weight map is a bijection on 0..=9, so exactly one value works.)
fn luhn_fix(digits: &mut [u8], pos: usize) {
    for d in 0..10 {
        digits[pos] = d;
        if luhn_sum(digits) == 0 {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;

    fn cipher(spec: FpeSpec) -> FpeCipher {
        FpeCipher::new(&SecretKey::from_bytes([9; 32]), spec).expect("valid spec")
    }

    fn enc(c: &FpeCipher, text: &str, field: &str) -> Result<String, FpeError> {
        let (mut n, mut t, mut out) = (Vec::new(), Vec::new(), Vec::new());
        c.encrypt(text, "crm", field, &mut n, &mut t, &mut out)?;
        Ok(String::from_utf8(out).expect("ascii"))
    }

    fn dec(c: &FpeCipher, text: &str, field: &str) -> Result<String, FpeError> {
        let (mut n, mut t, mut out) = (Vec::new(), Vec::new(), Vec::new());
        c.decrypt(text, "crm", field, &mut n, &mut t, &mut out)?;
        Ok(String::from_utf8(out).expect("ascii"))
    }

    #[test]
    fn card_keeps_shape_last_four_and_luhn() {
        let c = cipher(FpeSpec {
            keep_last: 4,
            luhn: true,
            ..FpeSpec::default()
        });
        let pan = "4111-1111-1111-1111";
        let ct = enc(&c, pan, "card").expect("encrypt");
        assert_eq!(ct.len(), pan.len());
        assert!(ct.ends_with("-1111"));
        assert_eq!(ct.as_bytes()[4], b'-');
        assert_ne!(ct, pan);
        let digits: Vec<u8> = ct
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect();
        assert!(luhn_valid(&digits), "{ct}");
        assert_eq!(dec(&c, &ct, "card").expect("decrypt"), pan);
        // Another field gives another output.
        assert_ne!(enc(&c, pan, "card2").expect("encrypt"), ct);
        // A Luhn-invalid input is refused, not passed through.
        assert_eq!(
            enc(&c, "4111 1111 1111 1112", "card"),
            Err(FpeError::Invalid)
        );
    }

    #[test]
    fn refusals() {
        let c = cipher(FpeSpec::default());
        assert_eq!(enc(&c, "12345", "f"), Err(FpeError::TooShort));
        assert_eq!(enc(&c, "123456x", "f"), Err(FpeError::Invalid));
        assert!(enc(&c, "123456", "f").is_ok());
        let k = cipher(FpeSpec {
            keep_last: 4,
            ..FpeSpec::default()
        });
        assert_eq!(enc(&k, "123456789", "f"), Err(FpeError::TooShort));
        let a = cipher(FpeSpec {
            alphabet: FpeAlphabet::Alphanumeric,
            ..FpeSpec::default()
        });
        assert_eq!(enc(&a, "AbCdEf", "f"), Err(FpeError::Invalid));
        let up = enc(&a, "AB12-CD34", "f").expect("upper");
        assert!(up.bytes().all(|b| !b.is_ascii_lowercase()));
        assert_eq!(dec(&a, &up, "f").expect("decrypt"), "AB12-CD34");
    }

    #[test]
    fn config_validation() {
        let spec = FpeSpec {
            keep_last: 4,
            luhn: true,
            min_length: Some(10),
            ..FpeSpec::default()
        };
        assert!(matches!(
            spec.validate(),
            Err(FpeConfigError::DomainTooSmall {
                encrypted: 5,
                needed: 6,
                ..
            })
        ));
        let ok = FpeSpec {
            min_length: Some(16),
            ..spec
        };
        assert_eq!(ok.validate(), Ok(11));
        let bad = FpeSpec {
            alphabet: FpeAlphabet::AlphanumericCased,
            luhn: true,
            ..FpeSpec::default()
        };
        assert_eq!(bad.validate(), Err(FpeConfigError::LuhnNeedsDigits));
    }
}
