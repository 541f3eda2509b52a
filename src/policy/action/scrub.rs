//! `scrub`: the personal data *inside* a text value, each span replaced by its class's
//! treatment, every other byte kept.
//!
//! A mail body, a ticket description or a URL is not personal data as a whole; the email,
//! phone or card inside it is. [`ScrubAction`] runs the span scanner
//! ([`crate::detect::spans`]) over the leaf and hands each span to the action configured for
//! its class — one of the ordinary actions, built at config time with the route's keys, and
//! taken through the same per-value step ([`ApplyCx::treat`]) as a selected field: the access
//! log counts the span's action, the disclosure ledger counts the span under its class and
//! treatment, and a deterministic treatment memoises exactly as it does for a field.
//!
//! Values the request's other rules select (a person's name, an email, a user id) are also
//! found where they recur in the text — see [`crate::detect::spans::Echo`]. The rewriter
//! collects them in a first pass over the document ([`ApplyCx::collecting`]) so the order of
//! the fields does not matter. A span that echoes one is counted under the class of the rule
//! that selected the value and gets that class's treatment when it is a span class (an email
//! is an email wherever it was found), else the `echo` treatment (a name, a user id).

use super::{Action, ActionError, ActionKind, Applied, ApplyCx, Leaf, LeafKind};
use crate::detect::spans::{EchoTag, Origin, Replacement, SPAN_CLASSES, SpanScanner, TextKind};
use crate::detect::{Class, ClassSet};

/// The treatments a span may get: actions that write a replacement for a value without
/// reading anything else, or `keep` (found, counted `clear`, left as it is).
pub const SPAN_TREATMENTS: &[&str] = &["encrypt", "keep", "mask", "redact", "tokenize"];

/// `echo` also accepts `off`: selected values are not looked for in the text.
pub const ECHO_TREATMENTS: &[&str] = &["encrypt", "keep", "mask", "off", "redact", "tokenize"];

/// How the text is read (`text` option).
pub const TEXT_KINDS: &[&str] = &["auto", "html", "plain", "url"];

/// The default treatment of a span class when the rule names none: cards and IBANs are masked
/// to their last four (what support staff need to tell two apart), everything else is
/// redacted with its class named. Neither needs a key, so `scrub` works on a route without a
/// keyring.
pub const fn default_treatment(class: Class) -> &'static str {
    match class {
        Class::PaymentCard | Class::Iban => "mask",
        _ => "redact",
    }
}

/// `scrub`: find spans, treat each by class.
#[derive(Debug)]
pub struct ScrubAction {
    scanner: SpanScanner,
    text: TextKind,
    /// Per class, by [`Class::index`]: the treatment of a span of it (`None`: not scanned).
    treatments: Vec<Option<Action>>,
    /// The treatment of a span that echoes a selected value; `None`: echoes are not looked for.
    echo: Option<Box<Action>>,
}

impl ScrubAction {
    /// A scrub with a treatment per span class (classes without one are not looked for) and
    /// an optional echo treatment. Treatments must be among [`SPAN_TREATMENTS`]' kinds.
    pub fn new(
        text: TextKind,
        treatments: impl IntoIterator<Item = (Class, Action)>,
        echo: Option<Action>,
    ) -> Self {
        let mut by_class: Vec<Option<Action>> = (0..Class::COUNT).map(|_| None).collect();
        let mut classes = ClassSet::empty();
        for (class, action) in treatments {
            if SPAN_CLASSES.contains(class) {
                classes = classes.with(class);
                by_class[class.index()] = Some(action);
            }
        }
        // A URL's password gives whoever reads it the account: every scrub removes it,
        // whatever the rule names (no treatment would leave it in clear).
        by_class[Class::Password.index()] = Some(password_treatment());
        classes = classes.with(Class::Password);
        Self {
            scanner: SpanScanner::new(classes),
            text,
            treatments: by_class,
            echo: echo.map(Box::new),
        }
    }

    /// A scrub of the request's selected values only: no class is looked for, and an echo
    /// of a value whose rule has a class gets that class's entry of `treatments` (any class,
    /// span class or not), every other echo `echo`. What a detecting route does with the
    /// unselected leaves the detector found nothing in
    /// ([`crate::policy::DetectPolicy::echo`]).
    pub fn echoes_only(
        treatments: impl IntoIterator<Item = (Class, Action)>,
        echo: Action,
    ) -> Self {
        let mut by_class: Vec<Option<Action>> = (0..Class::COUNT).map(|_| None).collect();
        for (class, action) in treatments {
            by_class[class.index()] = Some(action);
        }
        Self {
            scanner: SpanScanner::new(ClassSet::empty()),
            text: TextKind::Auto,
            treatments: by_class,
            echo: Some(Box::new(echo)),
        }
    }

    /// The same scrub looking for the request's selected values only (its treatments and
    /// `echo` kept), or `None` when it does not look for them.
    pub fn into_echoes_only(self) -> Option<Self> {
        self.echo.is_some().then(|| Self {
            scanner: SpanScanner::new(ClassSet::empty()),
            ..self
        })
    }

    /// Whether selected values are looked for in the text.
    pub fn echoes(&self) -> bool {
        self.echo.is_some()
    }

    /// Calls `f` with the class (of the rule that selected it) of every span of `text` that
    /// echoes a value this request's rules selected, and returns how many there are. Changes
    /// and counts nothing; 0 when the request selected nothing.
    pub fn find_echoes(
        &self,
        text: &str,
        cx: &mut ApplyCx<'_>,
        mut f: impl FnMut(Option<Class>),
    ) -> usize {
        if self.echoes() {
            cx.searching();
        }
        let Some(echo) = cx.echo.as_ref().filter(|_| self.echoes()) else {
            return 0;
        };
        let mut n = 0;
        self.scanner.find(text, self.text, Some(echo), |span| {
            if let Origin::Echo(tag) = span.origin {
                n += 1;
                f(echo_class(tag));
            }
        });
        n
    }

    /// The action spans of `class` get, if the class is scanned.
    pub fn treatment(&self, class: Class) -> Option<&Action> {
        self.treatments.get(class.index()).and_then(Option::as_ref)
    }

    /// Scrubs `leaf` into `out` (plain text; the rewriter encodes it). [`Applied::Kept`] when
    /// no span was replaced: the original bytes are forwarded.
    pub(super) fn apply(
        &self,
        leaf: &Leaf<'_>,
        cx: &mut ApplyCx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Applied, ActionError> {
        if leaf.kind == LeafKind::Bool {
            return Ok(Applied::Kept);
        }
        if self.echoes() {
            cx.searching();
        }
        // The echo set lives in `cx`; the spans' treatments need `cx` too. A span is no
        // value a rule selected.
        let echo = cx.echo.take();
        let paused = cx.pause_feed();
        let scrubbed: Result<_, ActionError> = self.scanner.scrub(
            leaf.text,
            self.text,
            echo.as_ref().filter(|_| self.echoes()),
            |span, buf| {
                let (action, class) = match span.origin {
                    Origin::Class(c) => (self.treatment(c), Some(c)),
                    // An echo of a value of a class the scanner knows (an email) is that
                    // class's span; the echo treatment is for the rest (names, ids).
                    Origin::Echo(tag) => {
                        let class = echo_class(tag);
                        let own = class.and_then(|c| self.treatments.get(c.index())?.as_ref());
                        (own.or(self.echo.as_deref()), class)
                    }
                };
                let Some(action) = action else {
                    return Ok(Replacement::Keep);
                };
                let sub = Leaf {
                    text: span.value,
                    kind: LeafKind::String,
                    field: leaf.field,
                };
                Ok(match cx.treat(action, class, &sub, buf)? {
                    Applied::Kept => Replacement::Keep,
                    // A treatment that drops a value removes the span (`buf` is empty).
                    Applied::Dropped | Applied::Replaced => Replacement::Replaced,
                })
            },
            out,
        );
        cx.resume_feed(paused);
        cx.echo = echo;
        Ok(if scrubbed?.replaced == 0 {
            Applied::Kept
        } else {
            Applied::Replaced
        })
    }
}

/// What a URL's password gets wherever a `scrub` or detection finds it: `[REDACTED:password]`.
pub fn password_treatment() -> Action {
    Action::Redact(super::RedactAction {
        replacement: "[REDACTED:password]".into(),
    })
}

/// The tag an echoed value carries: its rule's class (`0`: unclassified).
pub(crate) fn echo_tag(class: Option<Class>) -> EchoTag {
    EchoTag(class.map_or(0, |c| c.index() as u32 + 1))
}

fn echo_class(tag: EchoTag) -> Option<Class> {
    (tag.0 as usize)
        .checked_sub(1)
        .and_then(|i| Class::ALL.get(i).copied())
}

/// Whether a value this action treats is worth looking for in scrubbed text: actions that
/// protect a value do; `keep` forwards it anyway, `reveal` is the response path and `scrub`'s
/// own text is no single value.
pub(crate) fn echo_source(kind: ActionKind) -> bool {
    !matches!(
        kind,
        ActionKind::Keep | ActionKind::Reveal | ActionKind::Scrub
    )
}
