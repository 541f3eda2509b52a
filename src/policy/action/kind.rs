//! The closed set of action kinds: what each is called in the config and in metric labels,
//! and how an application of it is recorded in the disclosure ledger.

use crate::policy::disclosure::Treatment;

/// The kind of an action, for counting and metric labels (a bounded set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionKind {
    /// [`Action::Drop`]
    Drop,
    /// [`Action::Encrypt`]
    Encrypt,
    /// [`Action::EncryptDeterministic`]
    EncryptDeterministic,
    /// [`Action::Fpe`]
    Fpe,
    /// [`Action::Generalize`]
    Generalize,
    /// [`Action::Hash`]
    Hash,
    /// [`Action::Keep`]
    Keep,
    /// [`Action::Mask`]
    Mask,
    /// [`Action::Redact`]
    Redact,
    /// [`Action::Reveal`]
    Reveal,
    /// [`Action::Tokenize`]
    Tokenize,
}

/// What an action did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Remove the member or element.
    Dropped,
    /// Leave the original bytes untouched (nothing to do, e.g. `reveal` on a non-envelope).
    Kept,
    /// Replace the value with the text written to `out`.
    Replaced,
}

impl ActionKind {
    /// Number of kinds.
    pub const COUNT: usize = 11;
    /// Every kind, in index order.
    pub const ALL: [Self; Self::COUNT] = [
        Self::Drop,
        Self::Encrypt,
        Self::EncryptDeterministic,
        Self::Fpe,
        Self::Generalize,
        Self::Hash,
        Self::Keep,
        Self::Mask,
        Self::Redact,
        Self::Reveal,
        Self::Tokenize,
    ];

    /// The config spelling, also the metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Drop => "drop",
            Self::Encrypt => "encrypt",
            Self::EncryptDeterministic => "encrypt_deterministic",
            Self::Fpe => "fpe",
            Self::Generalize => "generalize",
            Self::Hash => "hash",
            Self::Keep => "keep",
            Self::Mask => "mask",
            Self::Redact => "redact",
            Self::Reveal => "reveal",
            Self::Tokenize => "tokenize",
        }
    }

    /// Index into [`ActionCounts`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Whether an application with result `applied` counts as an applied action (access log,
    /// metrics): every one does, except a `reveal` that opened nothing (the value was no
    /// envelope, or did not open) — it changed nothing.
    pub const fn counts(self, applied: Applied) -> bool {
        !matches!((self, applied), (Self::Reveal, Applied::Kept))
    }

    /// What an application of this kind with result `applied` did to the value, as the
    /// disclosure ledger records it; `None` for the response path (`reveal`), which discloses
    /// nothing.
    pub const fn treatment(self, applied: Applied) -> Option<Treatment> {
        match (self, applied) {
            (Self::Reveal, _) => None,
            (_, Applied::Dropped) | (Self::Drop, _) => Some(Treatment::Dropped),
            (Self::Keep, _) | (_, Applied::Kept) => Some(Treatment::Clear),
            (Self::Tokenize, Applied::Replaced) => Some(Treatment::Tokenized),
            (Self::Encrypt | Self::EncryptDeterministic | Self::Fpe, Applied::Replaced) => {
                Some(Treatment::Encrypted)
            }
            (Self::Hash, Applied::Replaced) => Some(Treatment::Hashed),
            (Self::Mask, Applied::Replaced) => Some(Treatment::Masked),
            (Self::Generalize, Applied::Replaced) => Some(Treatment::Generalized),
            (Self::Redact, Applied::Replaced) => Some(Treatment::Redacted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn treatments_follow_the_action_and_its_result() {
        use ActionKind as K;
        use Applied as A;
        let cases = [
            (K::Tokenize, A::Replaced, Some(Treatment::Tokenized)),
            (K::Fpe, A::Replaced, Some(Treatment::Encrypted)),
            (
                K::EncryptDeterministic,
                A::Replaced,
                Some(Treatment::Encrypted),
            ),
            // `hash` drops a value it cannot normalise: it did not leave.
            (K::Hash, A::Dropped, Some(Treatment::Dropped)),
            (K::Drop, A::Dropped, Some(Treatment::Dropped)),
            (K::Keep, A::Kept, Some(Treatment::Clear)),
            (K::Reveal, A::Replaced, None),
        ];
        for (k, a, want) in cases {
            assert_eq!(k.treatment(a), want, "{k:?} {a:?}");
        }
    }
}
