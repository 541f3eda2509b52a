//! What happens to values no rule selects: detection (`detect = "observe" | "enforce"`) and
//! allow-list mode (`unknown_fields = "drop"`).
//!
//! Rules name fields; everything else is *unselected*. By default it leaves untouched and
//! unexamined, which is what keeps the engine's dead-subtree skipping fast. A route can ask for
//! more, and then — only then — the rewriter walks the unselected parts too:
//!
//! - **observe**: every unselected string or number leaf is classified
//!   ([`crate::detect::Detector`]); what is found is counted per normalised field path and
//!   class, and forwarded unchanged;
//! - **enforce**: a classified leaf gets the route's action for its class (default
//!   `redact` with `[REDACTED:<class>]`) — or, for a leaf where the detector found the data
//!   inside free text, the route's `text` action when it names one (`scrub`: only the spans
//!   are replaced, the rest of the text stays);
//! - **echoes**, both modes: a string leaf the detector found nothing in is searched for the
//!   values the request's rules selected (a name from `$.user.name` in `$.properties.note`);
//!   `observe` counts each such span (`clear`) under the leaf's path and the value's class,
//!   `enforce` replaces it as `scrub` would;
//! - **allow-list** (`drop`): members and elements no selector reaches are removed; with
//!   detection on, what they held is still classified, so the report shows which undeclared
//!   fields arrived (treatment `dropped`).
//!
//! Detection never looks at a selected value: a rule always wins. Field paths and the
//! per-request name cache are in [`super::names`].

use std::sync::Arc;

use crate::detect::{Class, Detection, Detector, Source};

use super::action::{Action, ApplyCx};

/// Detection mode of a route. Variants in alphabetical order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectMode {
    /// Detected leaves get the route's action for their class.
    Enforce,
    /// Detected leaves are counted and forwarded unchanged.
    Observe,
}

/// A route's detection policy, built once at config compile time.
#[derive(Debug)]
pub struct DetectPolicy {
    /// Observe or enforce.
    pub mode: DetectMode,
    /// The detector (classes enabled, free-text scanning).
    pub detector: Detector,
    /// `enforce`: the action for each class, indexed by [`Class::index`]; one more entry, when
    /// present, is the action for leaves whose data was found inside free text
    /// (`detect_actions.text`). Empty in `observe`.
    pub actions: Vec<Action>,
    /// What an unselected string leaf the detector found nothing in gets where a value the
    /// request's rules selected recurs in it: an echo-only `scrub`
    /// ([`super::action::ScrubAction::echoes_only`]). `observe` counts those spans with it and changes
    /// nothing; `enforce` applies it. `None`: such leaves are not searched.
    pub echo: Option<Action>,
}

/// The spans of one leaf that echo selected values, per class of the rule that selected each
/// (the last slot: rules without a class).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoCounts(pub [u32; Class::COUNT + 1]);

/// The policy for unselected values of one plan. `Default`: untouched, unexamined.
#[derive(Debug, Clone)]
pub struct Unselected {
    /// Detection, shared by every plan of the route.
    pub detect: Option<Arc<DetectPolicy>>,
    /// Allow-list mode: unselected members, elements and fields are removed.
    pub drop: bool,
    /// How field paths of this plan start: `$` for a body, `form:`/`query:` for fields,
    /// `form:data=>$` for JSON inside a field.
    pub root: Box<str>,
}

impl Default for Unselected {
    fn default() -> Self {
        Self {
            detect: None,
            drop: false,
            root: "$".into(),
        }
    }
}

impl Unselected {
    /// Whether unselected values need any work (otherwise the engine skips them).
    pub fn active(&self) -> bool {
        self.detect.is_some() || self.drop
    }

    /// The same policy with another path root.
    pub(crate) fn rooted(&self, root: &str) -> Self {
        Self {
            detect: self.detect.clone(),
            drop: self.drop,
            root: root.into(),
        }
    }
}

impl DetectPolicy {
    /// The enforce-mode action for `class` (`None` in observe mode).
    pub fn action(&self, class: Class) -> Option<&Action> {
        match self.mode {
            DetectMode::Observe => None,
            DetectMode::Enforce => self.actions.get(class.index()),
        }
    }

    /// The enforce-mode action for what detection found: the free-text action for data found
    /// inside a longer text, when the route names one, else the class's.
    pub fn action_for(&self, found: Detection) -> Option<&Action> {
        match (self.mode, found.source) {
            (DetectMode::Observe, _) => None,
            (DetectMode::Enforce, Source::Text) => self
                .actions
                .get(Class::COUNT)
                .or_else(|| self.actions.get(found.class.index())),
            (DetectMode::Enforce, _) => self.actions.get(found.class.index()),
        }
    }

    /// Whether this policy looks for the request's selected values: in unselected leaves, or
    /// with a `scrub` on free text.
    pub fn echoes(&self) -> bool {
        self.echo.is_some()
            || matches!(self.actions.get(Class::COUNT), Some(Action::Scrub(s)) if s.echoes())
    }

    /// Whether unselected leaves the detector finds nothing in are searched for the
    /// request's selected values.
    pub fn echoes_in_leaves(&self) -> bool {
        matches!(&self.echo, Some(Action::Scrub(s)) if s.echoes())
    }

    /// Whether the free-text action (`detect_actions.text`) is a `scrub` that looks for the
    /// request's selected values.
    pub fn text_echoes(&self) -> bool {
        matches!(self.actions.get(Class::COUNT), Some(Action::Scrub(s)) if s.echoes())
    }

    /// The spans of `text` (an unselected leaf the detector found nothing in) that echo a
    /// value the request's rules selected, counted per class; `None` when there are none or
    /// they are not looked for. Changes and counts nothing.
    pub fn echoes_in(&self, text: &str, cx: &mut ApplyCx<'_>) -> Option<EchoCounts> {
        let Some(Action::Scrub(scrub)) = &self.echo else {
            return None;
        };
        // During a one pass the values are not all known yet: the pass is redone.
        cx.searching();
        if !cx.has_echo() {
            return None;
        }
        let mut counts = EchoCounts([0; Class::COUNT + 1]);
        let n = scrub.find_echoes(text, cx, |class| {
            counts.0[class.map_or(Class::COUNT, Class::index)] += 1;
        });
        (n > 0).then_some(counts)
    }

    /// The action for a leaf [`Self::echoes_in`] found echoes in: `None` in observe mode
    /// (the spans are counted as forwarded in clear).
    pub fn echo_action(&self) -> Option<&Action> {
        match self.mode {
            DetectMode::Observe => None,
            DetectMode::Enforce => self.echo.as_ref(),
        }
    }
}

impl EchoCounts {
    /// The classes with at least one span (rules without a class are not among them).
    pub fn classes(&self) -> impl Iterator<Item = Class> + '_ {
        Class::ALL.iter().copied().filter(|c| self.0[c.index()] > 0)
    }

    /// Every span's class, one entry per span (`None`: the rule named no class).
    pub fn spans(&self) -> impl Iterator<Item = Option<Class>> + '_ {
        Class::ALL
            .iter()
            .map(|&c| (Some(c), self.0[c.index()]))
            .chain(std::iter::once((None, self.0[Class::COUNT])))
            .flat_map(|(c, n)| std::iter::repeat_n(c, n as usize))
    }
}
