//! Subject-scoped keys: a data subject's tokens and ciphertexts depend on a per-person secret.
//!
//! A route with `subject = "$.userId"` names the person each event is about. For every person in
//! a request the proxy fetches (or creates) their secret from the store, and
//! [`SubjectKeys::derive`] turns the route's working keys plus that secret into per-person keys.
//! Destroying the secret (erasure) makes every token and envelope of that person unlinkable and
//! unopenable at once: crypto-shredding.
//!
//! Which values belong to which person is a byte range of the payload ([`SubjectScopes`]): for
//! `$.batch[*].userId` each batch element is one scope; for `$.userId` the whole document. The
//! rewriter tells [`super::ApplyCx`] the offset of each leaf; values outside every scope use the
//! route's domain keys, as they would without a subject.

use crate::crypto::siv::DetSealer;
use crate::crypto::{EnvelopeOpener, EnvelopeSealer, TokenKey};
use crate::keys::SubjectSecret;
use crate::keys::derive::derive;
use crate::keys::{KeyId, Keyring, Purpose, SecretKey};

/// The route's working keys that subject keys are derived from (primary key, route domain).
#[derive(Debug)]
pub struct SubjectBases {
    kid: KeyId,
    token: SecretKey,
    aead: SecretKey,
    siv: SecretKey,
}

/// One person's keys for one route, for the length of a request.
#[derive(Debug)]
pub struct SubjectKeys {
    /// Generation of the secret they come from.
    pub generation: u64,
    /// Tokens for this person.
    pub token: TokenKey,
    /// This person's token working key (period-rotated tokens derive from it).
    pub token_base: SecretKey,
    /// `pgs1.` envelopes.
    pub sealer: EnvelopeSealer,
    /// `pgsd1.` envelopes.
    pub det: DetSealer,
    /// Opens this person's envelopes.
    pub opener: EnvelopeOpener,
}

/// Which byte ranges of a payload belong to which person.
#[derive(Debug, Default)]
pub struct SubjectScopes {
    /// `(start, end, index into keys)`, sorted by start, disjoint.
    pub ranges: Vec<(usize, usize, usize)>,
    /// The keys of each distinct person.
    pub keys: Vec<SubjectKeys>,
}

impl SubjectBases {
    /// The bases for `domain` under the keyring's primary key; `None` without one.
    pub fn new(keyring: &Keyring, domain: &str) -> Option<Self> {
        let k = keyring.primary()?;
        Some(Self {
            kid: k.id().clone(),
            token: derive(k.secret(), Purpose::Token, domain),
            aead: derive(k.secret(), Purpose::Aead, domain),
            siv: derive(k.secret(), Purpose::Siv, domain),
        })
    }
}

impl SubjectKeys {
    /// Derives one person's keys: each is `HKDF(route key ‖ secret, generation)`, so neither a
    /// copy of the store nor the keyring alone rebuilds them.
    pub fn derive(bases: &SubjectBases, secret: &SubjectSecret) -> Self {
        let g = secret.generation();
        let aead = secret.derive(&bases.aead);
        let siv = secret.derive(&bases.siv);
        let mut opener = EnvelopeOpener::new();
        opener.add_subject(&bases.kid, g, &aead, &siv);
        Self {
            generation: g,
            token: TokenKey::new(bases.kid.clone(), &secret.derive(&bases.token)),
            token_base: secret.derive(&bases.token),
            sealer: EnvelopeSealer::subject(bases.kid.clone(), g, &aead),
            det: DetSealer::subject(bases.kid.clone(), g, &siv),
            opener,
        }
    }
}

impl SubjectScopes {
    /// The person whose range contains `offset`.
    pub fn at(&self, offset: usize) -> Option<&SubjectKeys> {
        let i = self.ranges.partition_point(|r| r.0 <= offset);
        let (start, end, k) = *self.ranges.get(i.checked_sub(1)?)?;
        (start <= offset && offset < end).then(|| &self.keys[k])
    }
}
