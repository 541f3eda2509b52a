//! The closed set of action kinds and what each declares: its config name (also its metric
//! label and access-log field), its options with their types and defaults, which side of the
//! exchange it works on, whether its output is linkable, and how the disclosure ledger records
//! an application of it.
//!
//! This is the one declaration the config compiler (keys, option checks, defaults), the
//! README's action table (checked by a test), the metrics and the access log derive from. To
//! add an action: a variant in [`with_action_kinds!`], its `Action` variant and `apply` arm,
//! its options in [`ActionKind::options`], its side, linkability and treatment below, and its
//! constructor in the config compiler — the exhaustive matches point to each place.

use super::scrub::{ECHO_TREATMENTS, SPAN_TREATMENTS, TEXT_KINDS, default_treatment};
use crate::detect::Class;
use crate::policy::disclosure::Treatment;
use crate::policy::transform::fpe::FpeAlphabet;
use crate::policy::transform::generalize::GeneralizeTo;
use crate::policy::transform::hash::{HashField, HashPreset};
use crate::policy::transform::normalize::Normalize;

/// Calls `$then!` with every action kind as `Variant config_name`, after the tokens given: the
/// one list of kinds. [`ActionKind`] is generated from it, and so are the access log's
/// per-kind counts (`telemetry::events::RequestDone`), so neither can miss a kind.
macro_rules! with_action_kinds {
    ($then:ident!($($args:tt)*)) => {
        $then! {
            $($args)*;
            Drop drop,
            Encrypt encrypt,
            EncryptDeterministic encrypt_deterministic,
            Fpe fpe,
            Generalize generalize,
            Hash hash,
            Keep keep,
            Mask mask,
            Redact redact,
            Reveal reveal,
            Scrub scrub,
            Tokenize tokenize
        }
    };
}
pub(crate) use with_action_kinds;

macro_rules! define_action_kinds {
    (; $($variant:ident $name:ident),*) => {
        /// The kind of an action, for counting and metric labels (a bounded set).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ActionKind {
            $(
                #[doc = concat!("`", stringify!($name), "`")]
                $variant,
            )*
        }

        impl ActionKind {
            /// Every kind, in index order.
            pub const ALL: [Self; Self::COUNT] = [$(Self::$variant),*];
            /// Number of kinds.
            pub const COUNT: usize = [$(stringify!($name)),*].len();

            /// The config spelling, also the metric label and the access log's field name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => stringify!($name),)*
                }
            }
        }
    };
}
with_action_kinds!(define_action_kinds!());

/// Where an action may stand: request rules protect what leaves, response rules reveal what
/// comes back to the owner's app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `[[routes.rules]]` and `detect_actions`.
    Request,
    /// `[[routes.response_rules]]`.
    Response,
}

/// How an option is written in `proxy.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionType {
    /// `true` or `false`.
    Bool,
    /// A string.
    Text,
    /// A non-negative integer.
    Uint,
}

/// What an action does when an option is not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionDefault {
    /// This value.
    Bool(bool),
    /// The rule is refused without it.
    Required,
    /// This value.
    Text(&'static str),
    /// This value.
    Uint(u64),
    /// No value: what the action does then, in words.
    Unset(&'static str),
}

/// One option an action kind accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionOption {
    /// The key in the rule's table.
    pub name: &'static str,
    /// How it is written.
    pub ty: OptionType,
    /// The values it accepts, when it is a choice (empty: any value of its type the action
    /// validates).
    pub values: &'static [&'static str],
    /// What happens when it is not set.
    pub default: OptionDefault,
}

const fn option(
    name: &'static str,
    ty: OptionType,
    values: &'static [&'static str],
    default: OptionDefault,
) -> ActionOption {
    ActionOption {
        name,
        ty,
        values,
        default,
    }
}

const KEY_ID: ActionOption = option(
    "key_id",
    OptionType::Text,
    &[],
    OptionDefault::Unset("the primary key"),
);

/// `fpe`'s options; `reveal` takes the same to open FPE values.
const FPE_OPTIONS: &[ActionOption] = &[
    option(
        "alphabet",
        OptionType::Text,
        &FpeAlphabet::NAMES,
        OptionDefault::Text("digits"),
    ),
    option("keep_last", OptionType::Uint, &[], OptionDefault::Uint(0)),
    option("luhn", OptionType::Bool, &[], OptionDefault::Bool(false)),
    option(
        "min_length",
        OptionType::Uint,
        &[],
        OptionDefault::Unset("each value is checked as it comes"),
    ),
    KEY_ID,
];

const GENERALIZE_OPTIONS: &[ActionOption] = &[option(
    "to",
    OptionType::Text,
    &GeneralizeTo::NAMES,
    OptionDefault::Required,
)];

const HASH_OPTIONS: &[ActionOption] = &[
    option(
        "preset",
        OptionType::Text,
        &HashPreset::NAMES,
        OptionDefault::Required,
    ),
    option(
        "normalize",
        OptionType::Text,
        &HashField::NAMES,
        OptionDefault::Required,
    ),
    option(
        "default_country_code",
        OptionType::Uint,
        &[],
        OptionDefault::Unset("phone values carry their calling code"),
    ),
];

const MASK_OPTIONS: &[ActionOption] = &[option(
    "keep_last",
    OptionType::Uint,
    &[],
    OptionDefault::Uint(4),
)];

const REDACT_OPTIONS: &[ActionOption] = &[option(
    "replacement",
    OptionType::Text,
    &[],
    OptionDefault::Text("[REDACTED]"),
)];

/// `scrub`'s options: how to read the text, what echoes of selected values get, and a
/// treatment per span class (named as the class), in the order of [`SCRUB_CLASSES`].
const SCRUB_OPTIONS: &[ActionOption] = &[
    option(
        "text",
        OptionType::Text,
        TEXT_KINDS,
        OptionDefault::Text("auto"),
    ),
    option(
        "echo",
        OptionType::Text,
        ECHO_TREATMENTS,
        OptionDefault::Text("redact"),
    ),
    span_option(Class::ApiKey),
    span_option(Class::Cnic),
    span_option(Class::DateOfBirth),
    span_option(Class::Email),
    span_option(Class::Iban),
    span_option(Class::IpAddress),
    span_option(Class::Jwt),
    span_option(Class::PaymentCard),
    span_option(Class::Phone),
    span_option(Class::Ssn),
    span_option(Class::StreetAddress),
];

/// The span classes `scrub` takes a treatment for, each an option named as the class.
pub const SCRUB_CLASSES: [Class; 11] = [
    Class::ApiKey,
    Class::Cnic,
    Class::DateOfBirth,
    Class::Email,
    Class::Iban,
    Class::IpAddress,
    Class::Jwt,
    Class::PaymentCard,
    Class::Phone,
    Class::Ssn,
    Class::StreetAddress,
];

const fn span_option(class: Class) -> ActionOption {
    option(
        class.as_str(),
        OptionType::Text,
        SPAN_TREATMENTS,
        OptionDefault::Text(default_treatment(class)),
    )
}

const TOKENIZE_OPTIONS: &[ActionOption] = &[
    option(
        "normalize",
        OptionType::Text,
        &Normalize::NAMES,
        OptionDefault::Text("none"),
    ),
    option("prefix", OptionType::Text, &[], OptionDefault::Text("tok_")),
    KEY_ID,
];

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
    /// The kind a config spelling names.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The options this kind accepts; any other option set on its rule is an error.
    pub const fn options(self) -> &'static [ActionOption] {
        match self {
            Self::Drop | Self::Encrypt | Self::EncryptDeterministic | Self::Keep => &[],
            Self::Fpe | Self::Reveal => FPE_OPTIONS,
            Self::Generalize => GENERALIZE_OPTIONS,
            Self::Hash => HASH_OPTIONS,
            Self::Mask => MASK_OPTIONS,
            Self::Redact => REDACT_OPTIONS,
            Self::Scrub => SCRUB_OPTIONS,
            Self::Tokenize => TOKENIZE_OPTIONS,
        }
    }

    /// One of this kind's options by name.
    pub fn option(self, name: &str) -> Option<&'static ActionOption> {
        self.options().iter().find(|o| o.name == name)
    }

    /// Which rules may use this kind.
    pub const fn side(self) -> Side {
        match self {
            Self::Reveal => Side::Response,
            Self::Drop
            | Self::Encrypt
            | Self::EncryptDeterministic
            | Self::Fpe
            | Self::Generalize
            | Self::Hash
            | Self::Keep
            | Self::Mask
            | Self::Redact
            | Self::Scrub
            | Self::Tokenize => Side::Request,
        }
    }

    /// Whether equal inputs give equal outputs a recipient can join on (tokens, hashes,
    /// deterministic envelopes, FPE). Under an opt-out (`on_opt_out = "strict"`) such a rule
    /// drops its values instead: "sharing" under CCPA is about linkability. (`scrub` is not:
    /// under an opt-out its linkable span treatments become `redact`.)
    pub const fn linkable(self) -> bool {
        match self {
            Self::EncryptDeterministic | Self::Fpe | Self::Hash | Self::Tokenize => true,
            Self::Drop
            | Self::Encrypt
            | Self::Generalize
            | Self::Keep
            | Self::Mask
            | Self::Redact
            | Self::Reveal
            | Self::Scrub => false,
        }
    }

    /// Index into [`ActionCounts`](super::ActionCounts).
    pub(crate) const fn index(self) -> usize {
        self as usize
    }

    /// Whether an application with result `applied` counts as an applied action (access log,
    /// metrics): every one does, except a `reveal` that opened nothing (the value was no
    /// envelope, or did not open) and a `scrub` that replaced nothing — they changed nothing.
    pub const fn counts(self, applied: Applied) -> bool {
        !matches!((self, applied), (Self::Reveal | Self::Scrub, Applied::Kept))
    }

    /// What an application of this kind with result `applied` did to the value, as the
    /// disclosure ledger records it; `None` for the response path (`reveal`), which discloses
    /// nothing, and for `scrub`, whose spans are recorded one by one under their own class and
    /// treatment (the rest of the text is no value of a class).
    pub const fn treatment(self, applied: Applied) -> Option<Treatment> {
        match (self, applied) {
            (Self::Reveal | Self::Scrub, _) => None,
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

/// Every option any action accepts, once, with how it is written: the keys a rule's table may
/// hold besides `select`, `action` and `class`.
pub fn option_keys() -> impl Iterator<Item = (&'static str, OptionType)> {
    let mut seen: Vec<&'static str> = Vec::new();
    ActionKind::ALL
        .into_iter()
        .flat_map(ActionKind::options)
        .filter_map(move |o| {
            if seen.contains(&o.name) {
                return None;
            }
            seen.push(o.name);
            Some((o.name, o.ty))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_options_are_declared_consistently() {
        for (i, k) in ActionKind::ALL.into_iter().enumerate() {
            assert_eq!(k.index(), i, "ALL is in index order");
            assert_eq!(ActionKind::parse(k.as_str()), Some(k));
        }
        // An option name means one thing everywhere: the config reader reads it once.
        for k in ActionKind::ALL {
            for o in k.options() {
                let (_, ty) = option_keys().find(|(n, _)| *n == o.name).expect("listed");
                assert_eq!(ty, o.ty, "`{}` of `{}`", o.name, k.as_str());
                if let OptionDefault::Text(v) = o.default
                    && !o.values.is_empty()
                {
                    assert!(o.values.contains(&v), "default of `{}`", o.name);
                }
            }
        }
        assert!(ActionKind::Tokenize.linkable() && !ActionKind::Encrypt.linkable());
        // `scrub` names one option per span class, after the class.
        for class in SCRUB_CLASSES {
            let o = ActionKind::Scrub
                .option(class.as_str())
                .expect("a treatment option");
            assert_eq!(o.values, SPAN_TREATMENTS);
        }
        assert_eq!(
            ActionKind::Scrub.options().len(),
            SCRUB_CLASSES.len() + 2,
            "text, echo and one per class"
        );
    }

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
            (K::Scrub, A::Replaced, None),
        ];
        for (k, a, want) in cases {
            assert_eq!(k.treatment(a), want, "{k:?} {a:?}");
        }
    }
}
