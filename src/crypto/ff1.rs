//! FF1 format-preserving encryption (NIST SP 800-38G Rev. 1) over AES-256.
//!
//! The Feistel rounds come from the `fpe` crate (the maintained Rust FF1, checked here against
//! the NIST samples and every Wycheproof FF1 vector, see `tests/vectors.rs`). This module adds
//! what the standard requires and the crate leaves to the caller:
//!
//! - the Rev. 1 minimum domain, `radix^n >= 10^6`, refused with a typed error before any
//!   encryption (FF1 over small domains is open to known message-recovery attacks);
//! - key-length checks, so a bad key is an error, never a panic;
//! - no FF3/FF3-1 anywhere.
//!
//! Numerals are `u8` values in `0..radix` (radix at most 62 here), the tweak is caller-chosen
//! bytes; piigate binds the domain and field into it (see `policy::transform::fpe`).

use aes::{Aes128, Aes192, Aes256};
use fpe::ff1::{FF1, FlexibleNumeralString, NumeralStringError};

use crate::keys::SecretKey;

/// The NIST SP 800-38G Rev. 1 minimum domain size: `radix^minlen >= 10^6`.
pub const MIN_DOMAIN: u128 = 1_000_000;

/// Why an FF1 operation was refused. Never carries the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Ff1Error {
    /// The key is not 16, 24 or 32 bytes.
    #[error("FF1 key must be 16, 24 or 32 bytes")]
    KeySize,
    /// The radix is outside `2..=62` (piigate's alphabets).
    #[error("FF1 radix must be in 2..=62")]
    Radix,
    /// `radix^len < 10^6`: the value is too short for FF1 to be secure.
    #[error("value too short for FF1 (radix^length below 10^6)")]
    DomainTooSmall,
    /// A numeral is not below the radix.
    #[error("numeral outside the radix")]
    Numeral,
}

/// An FF1-AES-256 key for one radix. Zeroized on drop (inside `aes`).
pub struct Ff1Key {
    ff1: FF1<Aes256>,
    radix: u32,
}

// === impl Ff1Key ===

impl Ff1Key {
    /// Prepares FF1 with the derived `ff1` working key for `radix`.
    ///
    /// # Errors
    /// [`Ff1Error::Radix`] if `radix` is not in `2..=62`.
    pub fn new(working: &SecretKey, radix: u32) -> Result<Self, Ff1Error> {
        check_radix(radix)?;
        let ff1 = FF1::<Aes256>::new(working.expose(), radix).map_err(|_| Ff1Error::Radix)?;
        Ok(Self { ff1, radix })
    }

    /// The radix this key works in.
    pub fn radix(&self) -> u32 {
        self.radix
    }

    /// Encrypts `numerals` in place.
    ///
    /// # Errors
    /// [`Ff1Error::DomainTooSmall`] or [`Ff1Error::Numeral`]; the input is unchanged then.
    pub fn encrypt(&self, tweak: &[u8], numerals: &mut [u8]) -> Result<(), Ff1Error> {
        run(&self.ff1, self.radix, tweak, numerals, true)
    }

    /// Decrypts `numerals` in place.
    ///
    /// # Errors
    /// As [`Self::encrypt`].
    pub fn decrypt(&self, tweak: &[u8], numerals: &mut [u8]) -> Result<(), Ff1Error> {
        run(&self.ff1, self.radix, tweak, numerals, false)
    }
}

impl std::fmt::Debug for Ff1Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ff1Key(radix {}, <redacted>)", self.radix)
    }
}

/// Whether `radix^len` reaches the Rev. 1 minimum domain of 10^6.
pub(crate) fn domain_ok(radix: u32, len: usize) -> bool {
    let mut domain: u128 = 1;
    for _ in 0..len {
        domain = domain.saturating_mul(u128::from(radix));
        if domain >= MIN_DOMAIN {
            return true;
        }
    }
    false
}

/// Raw FF1 with an AES-128/192/256 key given as bytes: the primitive under test for the
/// known-answer vectors. Production code uses [`Ff1Key`] (AES-256 only).
///
/// # Errors
/// [`Ff1Error::KeySize`] for any other key length, plus those of [`Ff1Key::encrypt`].
pub fn raw(
    key: &[u8],
    radix: u32,
    tweak: &[u8],
    numerals: &mut [u8],
    encrypt: bool,
) -> Result<(), Ff1Error> {
    check_radix(radix)?;
    match key.len() {
        16 => run(
            &new_raw::<Aes128>(key, radix)?,
            radix,
            tweak,
            numerals,
            encrypt,
        ),
        24 => run(
            &new_raw::<Aes192>(key, radix)?,
            radix,
            tweak,
            numerals,
            encrypt,
        ),
        32 => run(
            &new_raw::<Aes256>(key, radix)?,
            radix,
            tweak,
            numerals,
            encrypt,
        ),
        _ => Err(Ff1Error::KeySize),
    }
}

fn new_raw<C>(key: &[u8], radix: u32) -> Result<FF1<C>, Ff1Error>
where
    C: aes::cipher::BlockCipher + aes::cipher::KeyInit,
{
    // Length checked by the caller, so `FF1::new`'s `from_slice` cannot panic.
    FF1::<C>::new(key, radix).map_err(|_| Ff1Error::Radix)
}

fn check_radix(radix: u32) -> Result<(), Ff1Error> {
    if (2..=62).contains(&radix) {
        Ok(())
    } else {
        Err(Ff1Error::Radix)
    }
}

fn run<C>(
    ff1: &FF1<C>,
    radix: u32,
    tweak: &[u8],
    numerals: &mut [u8],
    encrypt: bool,
) -> Result<(), Ff1Error>
where
    C: aes::cipher::BlockCipher + aes::cipher::BlockEncrypt + Clone,
{
    if numerals.iter().any(|&d| u32::from(d) >= radix) {
        return Err(Ff1Error::Numeral);
    }
    if !domain_ok(radix, numerals.len()) {
        return Err(Ff1Error::DomainTooSmall);
    }
    let ns =
        FlexibleNumeralString::from(numerals.iter().map(|&d| u16::from(d)).collect::<Vec<_>>());
    let res = if encrypt {
        ff1.encrypt(tweak, &ns)
    } else {
        ff1.decrypt(tweak, &ns)
    };
    let out: Vec<u16> = res
        .map_err(|e| match e {
            NumeralStringError::InvalidForRadix(_) => Ff1Error::Numeral,
            NumeralStringError::TooShort { .. } | NumeralStringError::TooLong { .. } => {
                Ff1Error::DomainTooSmall
            }
        })?
        .into();
    if out.len() != numerals.len() {
        return Err(Ff1Error::Numeral);
    }
    for (dst, src) in numerals.iter_mut().zip(out) {
        // FF1 output numerals are below the radix (<= 62), so they fit a byte.
        *dst = u8::try_from(src).map_err(|_| Ff1Error::Numeral)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_bound_matches_rev1() {
        assert!(!domain_ok(10, 5));
        assert!(domain_ok(10, 6));
        assert!(!domain_ok(36, 3));
        assert!(domain_ok(36, 4));
        assert!(!domain_ok(62, 3));
        assert!(domain_ok(62, 4));
    }

    #[test]
    fn round_trip_and_refusals() {
        let k = Ff1Key::new(&SecretKey::from_bytes([5; 32]), 10).expect("radix");
        let mut v = [4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
        let orig = v;
        k.encrypt(b"t", &mut v).expect("encrypt");
        assert_ne!(v, orig);
        k.decrypt(b"t", &mut v).expect("decrypt");
        assert_eq!(v, orig);
        let mut short = [1, 2, 3, 4, 5];
        assert_eq!(k.encrypt(b"", &mut short), Err(Ff1Error::DomainTooSmall));
        assert_eq!(short, [1, 2, 3, 4, 5]);
        let mut bad = [1, 2, 3, 4, 5, 10];
        assert_eq!(k.encrypt(b"", &mut bad), Err(Ff1Error::Numeral));
        assert_eq!(raw(&[0; 20], 10, b"", &mut v, true), Err(Ff1Error::KeySize));
    }
}
