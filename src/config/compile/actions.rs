//! One rule's action, built against its kind's declaration ([`crate::policy::ActionKind`]): the
//! options it accepts with their defaults, the side it belongs to, the keys it needs.

use super::keys::{KeySource, NO_KEYRING_HELP, NOT_CONFIGURED};
use crate::config::diag::{Diagnostics, Source};
use crate::config::spec::{OptionValue, RuleSpec};
use crate::detect::Class;
use crate::detect::spans::TextKind;
use crate::keys::Keyring;
use crate::policy::Action;
use crate::policy::action::{
    ActionKind, BuildError, ECHO_TREATMENTS, EncryptAction, EncryptDeterministicAction, FpeAction,
    FpeMode, GeneralizeAction, HashAction, MaskAction, Normalize, OptionDefault, RedactAction,
    RevealAction, SCRUB_CLASSES, SPAN_TREATMENTS, ScrubAction, Side, TokenizeAction,
};
use crate::policy::transform::fpe::{FpeAlphabet, FpeSpec};
use crate::policy::transform::generalize::GeneralizeTo;
use crate::policy::transform::hash::HashSpec;
use crate::policy::transform::hash::{HashField, HashPreset};

/// What compiling one rule needs to know about its route.
pub(super) struct RuleCtx<'a> {
    pub(super) side: Side,
    pub(super) domain: &'a str,
    pub(super) keys: &'a KeySource,
    /// `rotate_pseudonyms_every`, in seconds.
    pub(super) rotation: Option<u64>,
    /// Compiling the opt-out (`on_opt_out = "strict"`) variant: linkable actions become `drop`.
    pub(super) strict: bool,
    /// Compiling the route's inverse (`reveal --route`): reversible actions become their
    /// reversal at the same selectors, every other action `keep`.
    pub(super) inverse: bool,
    /// The route names a data subject (subject-scoped keys).
    pub(super) subject: bool,
}

/// A rule's `fpe` options (shared by `fpe`, `reveal` with fpe options, and the inverse).
pub(super) fn fpe_spec(opts: &Options<'_>, d: &mut Diagnostics) -> Option<FpeSpec> {
    Some(FpeSpec {
        alphabet: opts.choice("alphabet", FpeAlphabet::parse, d)??,
        keep_last: opts.usize("keep_last").unwrap_or(0),
        luhn: opts.flag("luhn"),
        min_length: opts.usize("min_length"),
    })
}

/// The reversal of a request action for `reveal --route`, at the rule's own selectors: `fpe`
/// decrypts with the rule's options and key. Envelopes (`encrypt`, `encrypt_deterministic`)
/// name their kind and key, so the reveal plans open them wherever they are, these paths
/// included (`ops::reveal_for` runs them next; inside chains from a JSON body see
/// [`inverse_in_body_chain`]); every other action cannot be reversed and leaves the value
/// as it is (`keep`).
pub(super) fn inverse_action(
    opts: &Options<'_>,
    cx: &RuleCtx<'_>,
    d: &mut Diagnostics,
) -> Option<Action> {
    let ring = cx.keys.ring.as_ref()?;
    Some(match opts.kind {
        ActionKind::Fpe => {
            let spec = fpe_spec(opts, d)?;
            let key_id = opts.rule.text("key_id").map(|k| k.value.as_str());
            FpeAction::new(ring, cx.domain, spec, key_id, FpeMode::Reveal)
                .map(Action::Fpe)
                .ok()?
        }
        _ => Action::Keep,
    })
}

/// The inverse of rule `r` at the end of a chain that starts in a JSON body
/// (`$.co=>$.data[*].email`, `$.b=>base64=>$.e`, `$.url=>url=>query:e`): envelopes open here,
/// because the reveal plans that run next see the string holding them as one leaf and cannot
/// reach inside. `None`: compile the
/// rule's inverse as anywhere else. (A chain from a form or query field needs no such thing:
/// the reveal plans read those fields' documents as the route does.)
pub(super) fn inverse_in_body_chain(r: &RuleSpec, cx: &RuleCtx<'_>) -> Option<Action> {
    let ring = cx.keys.ring.as_ref().filter(|_| cx.inverse)?;
    let kind = ActionKind::parse(r.action.as_ref()?.value.as_str())?;
    matches!(kind, ActionKind::Encrypt | ActionKind::EncryptDeterministic)
        .then(|| Action::Reveal(RevealAction::new(ring, cx.domain)))
}

pub(super) fn compile_action(
    r: &RuleSpec,
    cx: &RuleCtx<'_>,
    src: Source<'_>,
    d: &mut Diagnostics,
) -> Option<Action> {
    let (side, domain, keys) = (cx.side, cx.domain, cx.keys);
    let src = r.source(src);
    let action = r.action.as_ref()?;
    let name = action.value.as_str();
    let Some(kind) = ActionKind::parse(name) else {
        let names: Vec<&str> = ActionKind::ALL.iter().map(|k| k.as_str()).collect();
        let diag = d.error(
            src,
            action.span.clone(),
            "bad_action",
            format!("unknown action `{name}`"),
        );
        match crate::config::diag::did_you_mean(name, &names) {
            Some(s) => diag.help(format!("did you mean `{s}`?")),
            None => diag.help(format!("expected one of: {}", names.join(", "))),
        };
        return None;
    };
    // `reveal` takes `fpe`'s options to open FPE values, which `alphabet` marks; a plain
    // reveal takes none.
    let fpe_reveal = kind == ActionKind::Reveal && r.option("alphabet").is_some();
    let allowed = match kind {
        ActionKind::Reveal if !fpe_reveal => &[][..],
        _ => kind.options(),
    };
    // Options each action accepts; anything else set on the rule is an error, not ignored.
    let mut ok = true;
    for (opt, value) in &r.options {
        if !allowed.iter().any(|o| o.name == *opt) {
            d.error(
                src,
                value.span(),
                "bad_option",
                format!("`{opt}` does not apply to action `{name}`"),
            );
            ok = false;
        }
    }
    match (side, kind.side()) {
        (Side::Response, Side::Request) => {
            d.error(
                src,
                action.span.clone(),
                "bad_action",
                format!("response rules can only `reveal`, not `{name}`"),
            );
            return None;
        }
        (Side::Request, Side::Response) => {
            d.error(
                src,
                action.span.clone(),
                "bad_action",
                "`reveal` belongs in [[routes.response_rules]]: decrypting on the way out would send cleartext",
            );
            return None;
        }
        _ => {}
    }
    if !ok {
        return None;
    }
    let key_id = r.text("key_id");
    if cx.subject
        && let Some(k) = key_id
    {
        d.error(
            src,
            k.span.clone(),
            "bad_option",
            "`key_id` cannot be combined with a route `subject`: subject keys always derive from the primary key",
        );
        return None;
    }
    let opts = Options {
        rule: r,
        kind,
        src,
        action_span: action.span.clone(),
    };
    if cx.inverse {
        return inverse_action(&opts, cx, d);
    }
    // Under an opt-out (`on_opt_out = "strict"`), nothing linkable leaves: identifiers that
    // would be tokenized, hashed or deterministically encrypted are dropped instead.
    if cx.strict && kind.linkable() {
        return Some(Action::Drop);
    }
    let ring = |d: &mut Diagnostics| -> Option<&Keyring> {
        match &keys.ring {
            Some(r) => Some(r),
            None => {
                let diag = d.error(
                    src,
                    action.span.clone(),
                    "no_keyring",
                    format!("action `{name}` needs a keyring, but {}", keys.missing),
                );
                // A keyring with errors has its own diagnostics; the keygen help is for none.
                if keys.missing == NOT_CONFIGURED {
                    diag.help(NO_KEYRING_HELP);
                }
                None
            }
        }
    };
    let built = |d: &mut Diagnostics, res: Result<Action, BuildError>| -> Option<Action> {
        match res {
            Ok(a) => Some(a),
            Err(BuildError::NoPrimaryKey) => {
                if !keys.no_primary_reported.replace(true) {
                    let (line, col) = crate::keys::line_col(src.text, action.span.start);
                    d.push_diag(crate::config::Diagnostic {
                        severity: crate::config::Severity::Error,
                        code: "no_primary_key",
                        file: keys.origin.clone(),
                        line: 0,
                        col: 0,
                        message: format!(
                            "the keyring has no key with status = \"primary\", which new tokens \
                             and envelopes need (first needed by action `{name}` at {}:{line}:{col})",
                            src.name
                        ),
                        help: Some(
                            "mark one key status = \"primary\"; `piigate keygen --keyring FILE` \
                             makes the first key of a new keyring primary"
                                .into(),
                        ),
                    });
                }
                None
            }
            Err(e) => {
                let span = match &e {
                    BuildError::UnknownKey(_) | BuildError::RetiredKey(_) => {
                        key_id.map_or(action.span.clone(), |k| k.span.clone())
                    }
                    _ => action.span.clone(),
                };
                d.error(src, span, "bad_action", format!("action `{name}`: {e}"));
                None
            }
        }
    };
    let key_id = key_id.map(|k| k.value.as_str());
    let fpe = |d: &mut Diagnostics, mode: FpeMode| -> Option<Action> {
        let ring = ring(d)?;
        let spec = fpe_spec(&opts, d)?;
        built(
            d,
            FpeAction::new(ring, domain, spec, key_id, mode).map(Action::Fpe),
        )
    };
    Some(match kind {
        ActionKind::Drop => Action::Drop,
        ActionKind::Keep => Action::Keep,
        ActionKind::Tokenize => {
            let ring = ring(d)?;
            let normalize = opts
                .choice("normalize", Normalize::parse, d)?
                .unwrap_or(Normalize::None);
            let prefix = opts.text("prefix").unwrap_or_default();
            if prefix.len() > 32
                || !prefix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                d.error(
                    src,
                    opts.span("prefix"),
                    "bad_value",
                    "`prefix` must be at most 32 characters of letters, digits, `_` or `-`",
                );
                return None;
            }
            let made = TokenizeAction::new(ring, domain, normalize, prefix, key_id);
            let made = match cx.rotation {
                Some(p) => made.and_then(|t| t.rotating(ring, domain, key_id, p)),
                None => made,
            };
            built(d, made.map(Action::Tokenize))?
        }
        ActionKind::Encrypt => {
            let ring = ring(d)?;
            built(d, EncryptAction::new(ring, domain).map(Action::Encrypt))?
        }
        ActionKind::EncryptDeterministic => {
            let ring = ring(d)?;
            built(
                d,
                EncryptDeterministicAction::new(ring, domain).map(Action::EncryptDeterministic),
            )?
        }
        ActionKind::Fpe => fpe(d, FpeMode::Encrypt)?,
        ActionKind::Reveal if fpe_reveal => fpe(d, FpeMode::Reveal)?,
        ActionKind::Reveal => Action::Reveal(RevealAction::new(ring(d)?, domain)),
        ActionKind::Hash => {
            let preset = opts.choice("preset", HashPreset::parse, d)??;
            let field = opts.choice("normalize", HashField::parse, d)??;
            let default_country_code = match r.uint("default_country_code") {
                Some(c) => match u16::try_from(c.value) {
                    Ok(v) if (1..=999).contains(&v) => Some(v),
                    _ => {
                        d.error(
                            src,
                            c.span.clone(),
                            "bad_value",
                            "`default_country_code` must be a calling code between 1 and 999",
                        );
                        return None;
                    }
                },
                None => None,
            };
            built(
                d,
                HashAction::new(HashSpec {
                    preset,
                    field,
                    default_country_code,
                })
                .map(Action::Hash),
            )?
        }
        ActionKind::Generalize => {
            let to = opts.choice("to", GeneralizeTo::parse, d)??;
            Action::Generalize(GeneralizeAction { to })
        }
        ActionKind::Mask => Action::Mask(MaskAction {
            keep_last: opts.usize("keep_last").unwrap_or(0),
        }),
        ActionKind::Redact => Action::Redact(RedactAction {
            replacement: opts.text("replacement").unwrap_or_default().into(),
        }),
        ActionKind::Scrub => {
            let text = opts.choice("text", text_kind, d)??;
            // A span's treatment: an ordinary action built like a rule's, with what the class
            // implies (a card masked to its last four, an email tokenized as an email).
            let treatment = |d: &mut Diagnostics, choice: &str, class: Option<Class>| {
                // Under an opt-out nothing linkable or clear leaves: such spans are redacted.
                let choice = match choice {
                    "tokenize" | "keep" if cx.strict => "redact",
                    c => c,
                };
                Some(match choice {
                    "encrypt" => {
                        let ring = ring(d)?;
                        built(d, EncryptAction::new(ring, domain).map(Action::Encrypt))?
                    }
                    "keep" => Action::Keep,
                    "mask" => Action::Mask(MaskAction { keep_last: 4 }),
                    "tokenize" => {
                        let ring = ring(d)?;
                        let normalize = span_normalize(class);
                        let made = TokenizeAction::new(ring, domain, normalize, "tok_", None);
                        let made = match cx.rotation {
                            Some(p) => made.and_then(|t| t.rotating(ring, domain, None, p)),
                            None => made,
                        };
                        built(d, made.map(Action::Tokenize))?
                    }
                    _ => Action::Redact(RedactAction {
                        replacement: match class {
                            Some(c) => format!("[REDACTED:{}]", c.as_str()).into(),
                            None => "[REDACTED]".into(),
                        },
                    }),
                })
            };
            let mut treatments = Vec::with_capacity(SCRUB_CLASSES.len());
            for class in SCRUB_CLASSES {
                let choice = opts.choice(class.as_str(), span_treatment, d)??;
                treatments.push((class, treatment(d, choice, Some(class))?));
            }
            let echo = match opts.choice("echo", echo_treatment, d)?? {
                "off" => None,
                choice => Some(treatment(d, choice, None)?),
            };
            Action::Scrub(ScrubAction::new(text, treatments, echo))
        }
    })
}

fn text_kind(s: &str) -> Option<TextKind> {
    Some(match s {
        "auto" => TextKind::Auto,
        "html" => TextKind::Html,
        "plain" => TextKind::Plain,
        "url" => TextKind::Url,
        _ => return None,
    })
}

/// How a span's `tokenize` normalises its value: emails and phones as such (as
/// `detect_actions` does), so a token in the text equals the token of the same value in a field.
fn span_normalize(class: Option<Class>) -> Normalize {
    match class {
        Some(Class::Email) => Normalize::Email,
        Some(Class::Phone) => Normalize::Phone,
        _ => Normalize::None,
    }
}

fn span_treatment(s: &str) -> Option<&'static str> {
    SPAN_TREATMENTS.iter().find(|t| **t == s).copied()
}

fn echo_treatment(s: &str) -> Option<&'static str> {
    ECHO_TREATMENTS.iter().find(|t| **t == s).copied()
}

/// A rule's options read against its action kind's declaration: a value set on the rule, else
/// the declared default.
pub(super) struct Options<'r> {
    rule: &'r RuleSpec,
    kind: ActionKind,
    src: Source<'r>,
    action_span: std::ops::Range<usize>,
}

impl<'r> Options<'r> {
    fn default(&self, name: &str) -> OptionDefault {
        self.kind
            .option(name)
            .map_or(OptionDefault::Unset(""), |o| o.default)
    }

    /// Where the option is written (the action's span when it is not).
    fn span(&self, name: &str) -> std::ops::Range<usize> {
        self.rule
            .option(name)
            .map_or_else(|| self.action_span.clone(), OptionValue::span)
    }

    fn text(&self, name: &str) -> Option<&'r str> {
        match (self.rule.text(name), self.default(name)) {
            (Some(v), _) => Some(v.value.as_str()),
            (None, OptionDefault::Text(t)) => Some(t),
            (None, _) => None,
        }
    }

    fn usize(&self, name: &str) -> Option<usize> {
        let v = match (self.rule.uint(name), self.default(name)) {
            (Some(v), _) => v.value,
            (None, OptionDefault::Uint(n)) => n,
            (None, _) => return None,
        };
        Some(usize::try_from(v).unwrap_or(usize::MAX))
    }

    fn flag(&self, name: &str) -> bool {
        match (self.rule.flag(name), self.default(name)) {
            (Some(v), _) => v.value,
            (None, OptionDefault::Bool(b)) => b,
            (None, _) => false,
        }
    }

    /// A choice option parsed by `parse`. `None`: an error was reported (an unknown value, or
    /// a required option missing); `Some(None)`: unset, with no default.
    fn choice<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Option<T>,
        d: &mut Diagnostics,
    ) -> Option<Option<T>> {
        let values = self.kind.option(name).map_or(&[][..], |o| o.values);
        let Some(text) = self.text(name) else {
            if self.default(name) == OptionDefault::Required {
                let diag = d.error(
                    self.src,
                    self.action_span.clone(),
                    "missing_key",
                    format!("`{}` needs `{name}`", self.kind.as_str()),
                );
                if !values.is_empty() {
                    diag.help(format!("one of: {}", values.join(", ")));
                }
                return None;
            }
            return Some(None);
        };
        match parse(text) {
            Some(v) => Some(Some(v)),
            None => {
                d.error(
                    self.src,
                    self.span(name),
                    "bad_value",
                    format!(
                        "`{name} = \"{text}\"` is not a value `{}` takes",
                        self.kind.as_str()
                    ),
                )
                .help(format!("one of: {}", values.join(", ")));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{KEYS, ROUTE, compile, compile_in, diagnose};
    use crate::config::DEFAULT_KEYRING_ENV;

    /// A route with one request rule on `$.v`: `action` then `extra` lines.
    fn rule(action: &str, extra: &str) -> String {
        format!("{ROUTE}[[routes.rules]]\nselect = [\"$.v\"]\naction = \"{action}\"\n{extra}")
    }

    #[test]
    fn an_unknown_action_suggests_the_nearest_or_lists_them_all() {
        let c = compile(&rule("tokenise", ""));
        assert_eq!(
            c.lines(),
            ["7:10 error[bad_action]: unknown action `tokenise`"]
        );
        assert_eq!(c.help("bad_action"), Some("did you mean `tokenize`?"));
        let c = compile(&rule("scramble", ""));
        assert_eq!(
            c.help("bad_action"),
            Some(
                "expected one of: drop, encrypt, encrypt_deterministic, fpe, generalize, hash, \
                 keep, mask, redact, reveal, scrub, tokenize"
            )
        );
    }

    #[test]
    fn an_option_the_action_does_not_declare_is_an_error_at_the_option() {
        assert_eq!(
            diagnose(&rule("mask", "prefix = \"p\"\nkeep_last = 4\n")),
            ["8:10 error[bad_option]: `prefix` does not apply to action `mask`"]
        );
        // A plain `reveal` takes no options; one with `alphabet` takes fpe's.
        let text = format!(
            "{ROUTE}[[routes.response_rules]]\nselect = [\"$.v\"]\naction = \"reveal\"\nkeep_last = 4\n"
        );
        assert_eq!(
            diagnose(&text),
            ["8:13 error[bad_option]: `keep_last` does not apply to action `reveal`"]
        );
    }

    #[test]
    fn each_action_belongs_to_one_side() {
        let text = format!(
            "{ROUTE}[[routes.response_rules]]\nselect = [\"$.v\"]\naction = \"tokenize\"\n"
        );
        assert_eq!(
            diagnose(&text),
            ["7:10 error[bad_action]: response rules can only `reveal`, not `tokenize`"]
        );
        assert_eq!(
            diagnose(&rule("reveal", "")),
            [
                "7:10 error[bad_action]: `reveal` belongs in [[routes.response_rules]]: decrypting \
              on the way out would send cleartext"
            ]
        );
    }

    #[test]
    fn required_and_chosen_options_name_their_allowed_values() {
        let c = compile(&rule("hash", ""));
        assert_eq!(
            c.lines(),
            ["7:10 error[missing_key]: `hash` needs `preset`"]
        );
        assert!(
            c.help("missing_key")
                .is_some_and(|h| h.starts_with("one of: "))
        );
        let c = compile(&rule("hash", "preset = \"md5\"\nnormalize = \"email\"\n"));
        assert_eq!(
            c.lines(),
            ["8:10 error[bad_value]: `preset = \"md5\"` is not a value `hash` takes"]
        );
        assert!(
            c.help("bad_value")
                .is_some_and(|h| h.starts_with("one of: "))
        );
    }

    #[test]
    fn option_values_are_bounded() {
        assert_eq!(
            diagnose(&rule("tokenize", "prefix = \"a b\"\n")),
            [
                "8:10 error[bad_value]: `prefix` must be at most 32 characters of letters, digits, \
              `_` or `-`"
            ]
        );
        let hash = |code: u32| {
            rule(
                "hash",
                &format!(
                    "preset = \"google\"\nnormalize = \"phone\"\ndefault_country_code = {code}\n"
                ),
            )
        };
        assert_eq!(
            diagnose(&hash(1000)),
            [
                "10:24 error[bad_value]: `default_country_code` must be a calling code between 1 \
              and 999"
            ]
        );
        assert_eq!(diagnose(&hash(44)), Vec::<String>::new());
    }

    #[test]
    fn keyed_actions_need_a_keyring_and_usable_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = compile_in(
            &rule("encrypt", ""),
            dir.path(),
            &[(DEFAULT_KEYRING_ENV, "")],
        );
        assert_eq!(
            c.lines(),
            [
                "7:10 error[no_keyring]: action `encrypt` needs a keyring, but no keyring is \
              configured"
            ]
        );
        assert!(
            c.help("no_keyring")
                .is_some_and(|h| h.contains("piigate keygen"))
        );
        let lines = diagnose(&rule("tokenize", "key_id = \"k0\"\n"));
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(
            lines[0].starts_with("8:10 error[bad_action]: action `tokenize`: "),
            "{lines:#?}"
        );
        assert!(lines[0].contains("k0"), "{lines:#?}");
        let subject = format!("{}key_id = \"k1\"\n", rule("tokenize", ""));
        let subject = subject.replacen("upstream", "subject = \"$.u\"\nupstream", 1);
        let lines = diagnose(&format!("[store]\nsubject_key_id = \"k1\"\n{subject}"));
        assert_eq!(
            lines,
            [
                "11:10 error[bad_option]: `key_id` cannot be combined with a route `subject`: \
              subject keys always derive from the primary key"
            ]
        );
    }

    #[test]
    fn a_keyring_without_a_primary_key_is_reported_once_at_the_keyring() {
        let dir = tempfile::tempdir().expect("tempdir");
        let no_primary = KEYS.replace("\"primary\"", "\"active\"");
        let text = format!(
            "{}[[routes.rules]]\nselect = [\"$.w\"]\naction = \"encrypt\"\n",
            rule("tokenize", "")
        );
        let c = compile_in(&text, dir.path(), &[(DEFAULT_KEYRING_ENV, &no_primary)]);
        assert_eq!(
            c.lines(),
            [
                "0:0 error[no_primary_key]: the keyring has no key with status = \"primary\", which \
              new tokens and envelopes need (first needed by action `tokenize` at t.toml:7:10)"
            ]
        );
        let d = c.diagnostics.iter().find(|d| d.code == "no_primary_key");
        assert_eq!(d.map(|d| d.file.as_str()), Some("$PIIGATE_KEYRING"));
    }
}
