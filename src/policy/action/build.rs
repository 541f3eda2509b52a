//! Building actions at config time: every key is derived here, never per value.

use super::{
    EncryptAction, EncryptDeterministicAction, FpeAction, FpeMode, HashAction, Normalize,
    RevealAction, TokenRotation, TokenizeAction,
};
use crate::crypto::{DetSealer, EnvelopeOpener, EnvelopeSealer, TokenKey};
use crate::keys::{KeyStatus, Keyring, MasterKey, Purpose, derive};
use crate::policy::transform::fpe::{FpeCipher, FpeConfigError, FpeSpec};
use crate::policy::transform::hash::{HashConfigError, HashSpec};

/// Why an action could not be built from config. Messages say how to fix it and never contain
/// key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The action seals new data but no key is primary.
    #[error(
        "the keyring has no key with status = \"primary\"; mark one key primary to encrypt or \
         tokenize"
    )]
    NoPrimaryKey,
    /// `key_id` names a key the keyring does not hold.
    #[error("key id `{0}` is not in the keyring")]
    UnknownKey(String),
    /// `key_id` names a retired key.
    #[error("key `{0}` is retired; retired keys are refused for every operation")]
    RetiredKey(String),
    /// Bad `fpe` options.
    #[error("fpe: {0}")]
    Fpe(#[from] FpeConfigError),
    /// Bad `hash` options.
    #[error("hash: {0}")]
    Hash(#[from] HashConfigError),
}

/// The key that seals new data: `key_id` if given (it must not be retired), else the primary.
fn sealing_key<'k>(
    keyring: &'k Keyring,
    key_id: Option<&str>,
) -> Result<&'k MasterKey, BuildError> {
    match key_id {
        None => keyring.primary().ok_or(BuildError::NoPrimaryKey),
        Some(id) => {
            let k = keyring
                .get(id)
                .ok_or_else(|| BuildError::UnknownKey(id.to_owned()))?;
            if k.status() == KeyStatus::Retired {
                return Err(BuildError::RetiredKey(id.to_owned()));
            }
            Ok(k)
        }
    }
}

impl TokenizeAction {
    /// Tokenizes in `domain` with the primary key, or with `key_id` during a rotation overlap
    /// (keep issuing the old tokens until recipients have re-keyed their joins).
    ///
    /// # Errors
    /// [`BuildError::NoPrimaryKey`], [`BuildError::UnknownKey`], [`BuildError::RetiredKey`].
    pub fn new(
        keyring: &Keyring,
        domain: &str,
        normalize: Normalize,
        prefix: &str,
        key_id: Option<&str>,
    ) -> Result<Self, BuildError> {
        let k = sealing_key(keyring, key_id)?;
        Ok(Self {
            key: TokenKey::new(
                k.id().clone(),
                &derive::derive(k.secret(), Purpose::Token, domain),
            ),
            normalize,
            prefix: prefix.into(),
            rotation: None,
        })
    }

    /// Rotates the token key every `period_secs` (retention by period).
    ///
    /// # Errors
    /// As [`Self::new`].
    pub(crate) fn rotating(
        mut self,
        keyring: &Keyring,
        domain: &str,
        key_id: Option<&str>,
        period_secs: u64,
    ) -> Result<Self, BuildError> {
        let k = sealing_key(keyring, key_id)?;
        self.rotation = Some(TokenRotation::new(
            k.id().clone(),
            derive::derive(k.secret(), Purpose::Token, domain),
            period_secs,
        ));
        Ok(self)
    }
}

impl EncryptAction {
    /// Seals with the primary key's `aead` working key for `domain`.
    ///
    /// # Errors
    /// [`BuildError::NoPrimaryKey`].
    pub fn new(keyring: &Keyring, domain: &str) -> Result<Self, BuildError> {
        let k = sealing_key(keyring, None)?;
        Ok(Self {
            sealer: EnvelopeSealer::new(
                k.id().clone(),
                &derive::derive(k.secret(), Purpose::Aead, domain),
            ),
            domain: domain.into(),
        })
    }
}

impl EncryptDeterministicAction {
    /// Seals with the primary key's `siv` working key for `domain`.
    ///
    /// # Errors
    /// [`BuildError::NoPrimaryKey`].
    pub fn new(keyring: &Keyring, domain: &str) -> Result<Self, BuildError> {
        let k = sealing_key(keyring, None)?;
        Ok(Self {
            sealer: DetSealer::new(
                k.id().clone(),
                &derive::derive(k.secret(), Purpose::Siv, domain),
            ),
            domain: domain.into(),
        })
    }
}

impl RevealAction {
    /// Opens `pge1` and `pgd1` envelopes of `domain` under every non-retired key.
    pub fn new(keyring: &Keyring, domain: &str) -> Self {
        Self {
            opener: EnvelopeOpener::for_domain(keyring, domain),
            domain: domain.into(),
        }
    }
}

impl FpeAction {
    /// FF1 in `domain` with the `ff1` working key of `key_id` (default: the primary key).
    ///
    /// FPE output cannot name its key, so the reveal side must use the same key: pin `key_id`
    /// on both rules before rotating the primary.
    ///
    /// # Errors
    /// [`BuildError::Fpe`] for an option set [`FpeSpec::validate`] refuses, and the key errors.
    pub fn new(
        keyring: &Keyring,
        domain: &str,
        spec: FpeSpec,
        key_id: Option<&str>,
        mode: FpeMode,
    ) -> Result<Self, BuildError> {
        spec.validate()?;
        let k = sealing_key(keyring, key_id)?;
        let cipher = FpeCipher::new(&derive::derive(k.secret(), Purpose::Ff1, domain), spec)?;
        Ok(Self {
            cipher,
            domain: domain.into(),
            mode,
        })
    }
}

impl HashAction {
    /// Validates and wraps the options.
    ///
    /// # Errors
    /// [`BuildError::Hash`] for an option set [`HashSpec::validate`] refuses.
    pub fn new(spec: HashSpec) -> Result<Self, BuildError> {
        spec.validate()?;
        Ok(Self { spec })
    }
}
