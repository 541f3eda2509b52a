//! `application/x-www-form-urlencoded` payloads: request bodies (Stripe, Mixpanel) and query
//! strings (Universal-Analytics-style collectors).
//!
//! Pairs are `name=value` separated by `&`; names and values are percent-decoded (`+` is a
//! space) and must be UTF-8. Every pair is validated — an invalid percent-escape anywhere is
//! refused, because a payload we cannot read cannot be policed — but only selected pairs are
//! decoded and rewritten; every other byte is copied as it came. A dropped pair takes one `&`
//! with it.
//!
//! The grammar is the one every common server reads the same way (docs/BOUNDARY.md), so the
//! pairs piigate polices are the pairs the recipient sees. Refused as ambiguous:
//! - a raw `;` anywhere: Rack 2 splits query strings on it, older Django and Werkzeug split
//!   forms on it, everyone else reads it as text;
//! - a name with leading or trailing whitespace (`+email`, `email%20`: PHP and Rack strip
//!   leading spaces, PHP turns trailing ones into `_`), a control character (PHP cuts names
//!   at NUL), or a `%` left after decoding (`%2565mail` is `email` to a server that decodes
//!   twice);
//! - brackets outside `name[key]…[key]` (`[email]` is `email` to Rack and `qs`, `a]` and
//!   `a[b` are renamed differently by PHP, Rack and `qs`).
//!
//! Names are matched as the most permissive server folds them
//! ([`FieldPlan::find`](crate::policy::FieldPlan::find)): case, `.` and space as `_`, dotted
//! children; and a pair is looked up wherever a framework that merges parameter sources
//! would find its rule ([`Params`]): its own source's rules, the other source's, the route's
//! JSON selectors.
//!
//! Pairs no rule names follow the plan's [`Unselected`](crate::policy::Unselected) policy:
//! with detection, the value is classified with the field name's hint and counted under
//! `form:NAME` / `query:NAME` (bracket indices as `[*]`), then forwarded (`observe`) or
//! treated with the class's action (`enforce`); in allow-list mode the pair is dropped. A
//! name that is itself data (a part of it the detector classifies, or a selected value
//! recurring in it) takes its pair with it in `enforce`, as a JSON member's does.

use super::wrap::rewrite_wrapped;
use super::{Limits, Outcome, RewriteError};
use crate::canon::percent::{self, Plus};
use crate::detect::Class;
use crate::error::Ambiguity;
use crate::policy::names::{HintCache, push_field_name};
use crate::policy::params::{Params, Selected};
use crate::policy::wrap::Wrap;
use crate::policy::{
    Action, Applied, ApplyCx, DetectMode, DetectPolicy, FieldTarget, Leaf, LeafKind,
};

/// Rewrites the pairs `params` selects, appending the result to `out`.
///
/// Returns [`Outcome::Unchanged`] (and leaves `out` alone) when nothing changed.
///
/// # Errors
/// [`RewriteError::Malformed`] for an invalid percent-escape or non-UTF-8 text, a JSON error
/// from a `=>` field, or an action failure.
pub fn rewrite_form(
    input: &[u8],
    params: Params<'_>,
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
    out: &mut Vec<u8>,
) -> Result<Outcome, RewriteError> {
    super::appending(out, |out| run(input, params, limits, cx, out))
}

/// The decoded values of the pairs whose name a server may read as `name` (equal, or folded
/// as the most permissive server folds names, or a child `name[…]` / `name.…`), each with
/// whether its name is exactly `name`. The whole input is checked in the form grammar.
///
/// # Errors
/// [`RewriteError::Ambiguous`] and [`RewriteError::Malformed`] as [`rewrite_form`] refuses.
pub fn values_named(input: &[u8], name: &str) -> Result<Vec<(bool, String)>, RewriteError> {
    if memchr::memchr(b';', input).is_some() {
        return Err(RewriteError::Ambiguous(Ambiguity::FieldSeparator));
    }
    let mut out = Vec::new();
    let mut name_buf = Vec::new();
    let mut value = Vec::new();
    for pair in Pairs::new(input) {
        if pair.is_empty() {
            continue;
        }
        let text = pair.read_name(&mut name_buf)?;
        if crate::policy::field_covers(name, text) {
            out.push((text == name, pair.read_value(&mut value)?.to_owned()));
        } else {
            pair.validate_value()?;
        }
    }
    Ok(out)
}

/// The `&`-separated pairs of a form in order, as they came: empty ones included, so a form
/// of `n` `&`s has `n + 1` pairs.
struct Pairs<'a> {
    input: &'a [u8],
    /// Where the next pair starts; past the end when all are read.
    start: usize,
}

impl<'a> Pairs<'a> {
    fn new(input: &'a [u8]) -> Self {
        Self { input, start: 0 }
    }
}

impl<'a> Iterator for Pairs<'a> {
    type Item = Pair<'a>;

    fn next(&mut self) -> Option<Pair<'a>> {
        let (input, start) = (self.input, self.start);
        if start > input.len() {
            return None;
        }
        let end = memchr::memchr(b'&', &input[start..]).map_or(input.len(), |i| start + i);
        self.start = end + 1;
        let pair = &input[start..end];
        let (name, value) = match memchr::memchr(b'=', pair) {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        Some(Pair {
            start,
            end,
            name,
            value,
        })
    }
}

/// One pair of a form: `input[start..end]`, its raw name and (after the first `=`, else
/// empty) its raw value.
#[derive(Clone, Copy)]
struct Pair<'a> {
    start: usize,
    end: usize,
    name: &'a [u8],
    value: &'a [u8],
}

impl Pair<'_> {
    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Where the value starts in the input (for error offsets).
    fn value_at(&self) -> usize {
        self.start + self.name.len() + 1
    }

    /// The decoded name, in `buf`: UTF-8 that every common server reads as written.
    fn read_name<'b>(&self, buf: &'b mut Vec<u8>) -> Result<&'b str, RewriteError> {
        decode(self.name, self.start, buf)?;
        let text = std::str::from_utf8(buf)
            .map_err(|_| malformed(self.start, "form field name is not UTF-8"))?;
        if !is_plain_name(text) {
            return Err(RewriteError::Ambiguous(Ambiguity::FieldName));
        }
        Ok(text)
    }

    /// The decoded value, in `buf`, as UTF-8 text.
    fn read_value<'b>(&self, buf: &'b mut Vec<u8>) -> Result<&'b str, RewriteError> {
        let at = self.value_at();
        decode(self.value, at, buf)?;
        std::str::from_utf8(buf).map_err(|_| malformed(at, "form value is not UTF-8"))
    }

    /// Checks the value's percent-escapes without decoding it.
    fn validate_value(&self) -> Result<(), RewriteError> {
        validate(self.value, self.value_at())
    }
}

fn run(
    input: &[u8],
    params: Params<'_>,
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
    out: &mut Vec<u8>,
) -> Result<Outcome, RewriteError> {
    let mut name = Vec::new();
    let mut value = Vec::new();
    let mut text = Vec::new();
    let mut wrapped = Vec::new();
    let mut path = String::new();
    let unselected = &params.own().unselected;
    if memchr::memchr(b';', input).is_some() {
        return Err(RewriteError::Ambiguous(Ambiguity::FieldSeparator));
    }
    let mut changed = false;
    // Output is the kept and replaced pairs joined by `&`; with nothing dropped or replaced
    // that is exactly the input, so the copy only starts at the first change.
    let mut emitted_any = false;
    let mut pending_from = 0; // input offset from which unchanged pairs are not yet emitted
    for pair in Pairs::new(input) {
        let Pair { start, end, .. } = pair;
        let name_text = pair.read_name(&mut name)?;
        let selected = params.find(name_text).filter(|_| !pair.is_empty());
        // A name that is data (`metadata[alice@example.com]=vip`) goes with its value, or is
        // counted in clear (`observe`), whatever the value holds. That holds for a pair a rule
        // selects too (a rule on `ep.*` treats the value, not the name a site wrote after the
        // dot), unless the rule is `keep`, which declares the pair whole.
        let name_data = match (&unselected.detect, selected) {
            (Some(detect), sel) if !cx.collecting() && !sel.is_some_and(keeps) => {
                name_finding(detect, cx, name_text).map(|found| (&**detect, found))
            }
            _ => None,
        };
        let edit = match (selected, name_data) {
            (_, Some((detect, (class, path_class)))) => {
                pair.validate_value()?;
                path.clear();
                path.push_str(&unselected.root);
                push_field_name(&mut path, &detect.detector, name_text);
                if let Some(c) = path_class {
                    cx.detected.record(&path, c);
                }
                if detect.mode == DetectMode::Observe {
                    cx.observe_value(class);
                    Edit::Keep
                } else {
                    cx.withhold(class);
                    Edit::Drop
                }
            }
            (None, None)
                if !unselected.active() || (pair.is_empty() && unselected.detect.is_none()) =>
            {
                pair.validate_value()?;
                Edit::Keep
            }
            (None, None) => match &unselected.detect {
                // The first pass of a scrubbing route collects what rules select.
                _ if cx.collecting() => {
                    pair.validate_value()?;
                    Edit::Keep
                }
                None => {
                    // Allow-list mode without detection: gone unread (but still validated).
                    pair.validate_value()?;
                    cx.withhold(None);
                    Edit::Drop
                }
                Some(_) if pair.is_empty() => {
                    pair.validate_value()?;
                    Edit::Keep
                }
                Some(detect) => {
                    let value_text = pair.read_value(&mut value)?;
                    let hint = cx
                        .hints
                        .get_or_insert_with(HintCache::new)
                        .hint(&detect.detector, name_text.as_bytes())
                        .unwrap_or_default();
                    match detect.detector.classify_hinted(hint, value_text) {
                        None if unselected.drop => Edit::Drop,
                        // Nothing of a class: perhaps values the request's rules selected.
                        None => match detect.echoes_in(value_text, cx) {
                            None => Edit::Keep,
                            Some(counts) => {
                                for class in counts.classes() {
                                    path.clear();
                                    path.push_str(&unselected.root);
                                    push_field_name(&mut path, &detect.detector, name_text);
                                    cx.detected.record(&path, class);
                                }
                                match detect.echo_action() {
                                    None => {
                                        counts.spans().for_each(|c| cx.observe_value(c));
                                        Edit::Keep
                                    }
                                    Some(action) => {
                                        text.clear();
                                        let leaf = Leaf {
                                            text: value_text,
                                            kind: LeafKind::String,
                                            field: name_text,
                                        };
                                        Edit::from(cx.treat(action, None, &leaf, &mut text)?)
                                    }
                                }
                            }
                        },
                        Some(hit) => {
                            let class = hit.class;
                            path.clear();
                            path.push_str(&unselected.root);
                            push_field_name(&mut path, &detect.detector, name_text);
                            cx.detected.record(&path, class);
                            match detect.action_for(hit) {
                                _ if unselected.drop => {
                                    cx.withhold(Some(class));
                                    Edit::Drop
                                }
                                None => {
                                    cx.observe(class);
                                    Edit::Keep
                                }
                                Some(action) => {
                                    text.clear();
                                    let leaf = Leaf {
                                        text: value_text,
                                        kind: LeafKind::String,
                                        field: name_text,
                                    };
                                    let mut applied =
                                        cx.treat(action, Some(class), &leaf, &mut text)?;
                                    // A `scrub` that found none of what the detector saw must
                                    // not forward it: the class's action takes the whole value.
                                    if applied == Applied::Kept
                                        && matches!(action, Action::Scrub(_))
                                        && let Some(whole) = detect.action(class)
                                    {
                                        text.clear();
                                        applied = cx.treat(whole, Some(class), &leaf, &mut text)?;
                                    }
                                    Edit::from(applied)
                                }
                            }
                        }
                    }
                }
            },
            (Some(selected), _) => {
                let value_text = pair.read_value(&mut value)?;
                text.clear();
                match target(selected) {
                    Target::Whole(action, class) => {
                        let leaf = Leaf {
                            text: value_text,
                            kind: LeafKind::String,
                            field: name_text,
                        };
                        Edit::from(cx.treat(action, class, &leaf, &mut text)?)
                    }
                    Target::Wrapped(wrap) => {
                        match rewrite_wrapped(value_text, wrap, limits, cx, &mut text)? {
                            Outcome::Unchanged => Edit::Keep,
                            Outcome::Rewritten => {
                                // The value comes back percent-encoded as it was where it
                                // did not change.
                                wrapped.clear();
                                encode_like(pair.value, &value, &text, &mut wrapped);
                                Edit::ReplaceEncoded
                            }
                        }
                    }
                }
            }
        };
        match edit {
            Edit::Keep => {}
            Edit::Drop | Edit::Replace | Edit::ReplaceEncoded => {
                if !changed {
                    out.reserve(input.len() + text.len());
                    changed = true;
                }
                // Unchanged pairs before this one, as they came (their `&`s included).
                if pending_from < start {
                    emit(out, &input[pending_from..start - 1], &mut emitted_any);
                }
                if matches!(edit, Edit::Replace | Edit::ReplaceEncoded) {
                    if emitted_any {
                        out.push(b'&');
                    }
                    out.extend_from_slice(pair.name);
                    out.push(b'=');
                    if matches!(edit, Edit::Replace) {
                        encode(&text, out);
                    } else {
                        out.extend_from_slice(&wrapped);
                    }
                    emitted_any = true;
                }
                pending_from = end + 1;
            }
        }
    }
    if !changed {
        return Ok(Outcome::Unchanged);
    }
    if pending_from <= input.len() {
        emit(out, &input[pending_from..], &mut emitted_any);
    }
    Ok(Outcome::Rewritten)
}

/// What a field name is when it is data, on a route with detection: a part of it (the base,
/// or a bracket key: `metadata[4242 4242 4242 4242]`, each also after its first dot:
/// `ep.4242 4242 4242 4242`) the detector classifies as a value, or
/// a value the request's rules select, recurring in it. `(class for the ledger, class for the
/// report)`; the report needs one, an echo of a rule without a class has none.
fn name_finding(
    detect: &DetectPolicy,
    cx: &mut ApplyCx<'_>,
    name: &str,
) -> Option<(Option<Class>, Option<Class>)> {
    let hints = cx.hints.get_or_insert_with(HintCache::new);
    for part in name.split(['[', ']']).filter(|p| !p.is_empty()) {
        // A dotted name is also read after its first dot: GA4's `ep.<name>`, `up.<name>`.
        let after_dot = part.split_once('.').map(|(_, rest)| rest);
        for text in std::iter::once(part).chain(after_dot.filter(|r| !r.is_empty())) {
            if let Some(Some(class)) = hints.name_class(&detect.detector, text.as_bytes()) {
                return Some((Some(class), Some(class)));
            }
        }
    }
    let counts = detect.echoes_in(name, cx)?;
    let class = counts.spans().next().flatten();
    Some((class, counts.classes().next()))
}

/// Whether every common server reads `name` as written: no whitespace at its ends, no
/// control character, no `%`, and brackets only as `base[key]…[key]` with a non-empty base.
pub(crate) fn is_plain_name(name: &str) -> bool {
    if name.is_empty() {
        return true;
    }
    let open = if name.is_ascii() {
        // Every name of most forms: one pass over the bytes. ASCII whitespace other than the
        // space is a control character, refused either way.
        let b = name.as_bytes();
        if b[0] == b' ' || b[b.len() - 1] == b' ' {
            return false;
        }
        let mut open = None;
        for (i, &c) in b.iter().enumerate() {
            match c {
                0..=0x1f | 0x7f | b'%' => return false,
                b'[' | b']' if open.is_none() => open = Some(i),
                _ => {}
            }
        }
        open
    } else {
        if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
            return false;
        }
        if name.chars().any(|c| c.is_control() || c == '%') {
            return false;
        }
        name.find(['[', ']'])
    };
    let Some(open) = open else {
        return true;
    };
    if open == 0 || name.as_bytes()[open] == b']' {
        return false;
    }
    // `[key]` groups to the end, keys without brackets.
    let mut rest = &name[open..];
    while !rest.is_empty() {
        let Some(inner) = rest.strip_prefix('[') else {
            return false;
        };
        let Some(close) = inner.find(']') else {
            return false;
        };
        if inner[..close].contains('[') {
            return false;
        }
        rest = &inner[close + 1..];
    }
    true
}

/// What a selected pair's value goes through.
enum Target<'a> {
    Whole(&'a Action, Option<crate::detect::Class>),
    Wrapped(&'a Wrap),
}

fn target(selected: Selected<'_>) -> Target<'_> {
    match selected {
        Selected::Field(rule) => match &rule.target {
            FieldTarget::Whole(action) => Target::Whole(action, rule.class),
            FieldTarget::Wrapped(wrap) => Target::Wrapped(wrap),
        },
        Selected::Json(rule) => Target::Whole(&rule.action, rule.class),
        Selected::Wrapped(wrap) => Target::Wrapped(wrap),
    }
}

/// Whether the rule a pair falls under forwards it as it came (`keep`).
fn keeps(selected: Selected<'_>) -> bool {
    matches!(target(selected), Target::Whole(action, _) if action.is_keep())
}

fn emit(out: &mut Vec<u8>, bytes: &[u8], emitted_any: &mut bool) {
    if *emitted_any {
        out.push(b'&');
    }
    out.extend_from_slice(bytes);
    *emitted_any = true;
}

enum Edit {
    Drop,
    Keep,
    /// Replace the value with `text`, percent-encoded.
    Replace,
    /// Replace the value with bytes already encoded for the form.
    ReplaceEncoded,
}

impl From<Applied> for Edit {
    fn from(applied: Applied) -> Self {
        match applied {
            Applied::Kept => Self::Keep,
            Applied::Dropped => Self::Drop,
            Applied::Replaced => Self::Replace,
        }
    }
}

fn malformed(offset: usize, reason: &'static str) -> RewriteError {
    RewriteError::Malformed { offset, reason }
}

/// Checks percent-escapes without decoding.
fn validate(raw: &[u8], at: usize) -> Result<(), RewriteError> {
    percent::validate(raw).map_err(|p| malformed(at + p, "invalid percent-escape"))
}

/// Percent-decodes `raw` (with `+` as space) into `out`.
fn decode(raw: &[u8], at: usize, out: &mut Vec<u8>) -> Result<(), RewriteError> {
    percent::decode_into(raw, Plus::Space, out)
        .map_err(|p| malformed(at + p, "invalid percent-escape"))
}

/// Appends the encoded value for `new`, the rewritten text of a value whose raw (encoded)
/// bytes were `raw` (decoded: `old`): the raw bytes before the first and after the last
/// difference are kept (each decoded byte is one raw unit: `%XX`, `+` or itself), only the
/// middle goes through [`encode`]. A wrapped document keeps its spelling where it did not
/// change.
fn encode_like(raw: &[u8], old: &[u8], new: &[u8], out: &mut Vec<u8>) {
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let unit = |at: usize| if raw[at] == b'%' { 3 } else { 1 };
    let mut head = 0;
    for _ in 0..prefix {
        head += unit(head);
    }
    let mut tail = head;
    for _ in prefix..old.len() - suffix {
        tail += unit(tail);
    }
    out.extend_from_slice(&raw[..head]);
    encode(&new[prefix..new.len() - suffix], out);
    out.extend_from_slice(&raw[tail..]);
}

/// The form serializer (WHATWG URL §5.2): unreserved bytes stay, space becomes `+`, the rest
/// is `%XX`.
fn encode(text: &[u8], out: &mut Vec<u8>) {
    for &b in text {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => out.push(b),
            b' ' => out.push(b'+'),
            _ => out.extend_from_slice(&percent::encode_byte(b)),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::crypto::OsNonces;

    /// The char-by-char reading of [`is_plain_name`] (its non-ASCII path) for every name.
    fn plain_by_chars(name: &str) -> bool {
        if name.is_empty() {
            return true;
        }
        if name.starts_with(char::is_whitespace)
            || name.ends_with(char::is_whitespace)
            || name.chars().any(|c| c.is_control() || c == '%')
        {
            return false;
        }
        let Some(open) = name.find(['[', ']']) else {
            return true;
        };
        if open == 0 || name.as_bytes()[open] == b']' {
            return false;
        }
        let mut rest = &name[open..];
        while !rest.is_empty() {
            let Some(inner) = rest.strip_prefix('[') else {
                return false;
            };
            let Some(close) = inner.find(']') else {
                return false;
            };
            if inner[..close].contains('[') {
                return false;
            }
            rest = &inner[close + 1..];
        }
        true
    }

    proptest! {
        /// The byte loop for ASCII names refuses exactly what the char-by-char reading does.
        #[test]
        fn ascii_names_are_judged_as_char_by_char(
            name in "([a-z_.\\[\\] %\t\r\n\x00\x7f]|é){0,12}"
        ) {
            prop_assert_eq!(is_plain_name(&name), plain_by_chars(&name), "{:?}", name);
        }
    }
    use crate::policy::action::RedactAction;
    use crate::policy::{Automaton, FieldPlan, FieldRule, Plan, Rule, selector};

    fn redact() -> Action {
        Action::Redact(RedactAction {
            replacement: "[R]".into(),
        })
    }

    fn plan(rules: Vec<(&str, FieldTarget)>) -> FieldPlan {
        FieldPlan {
            rules: rules
                .into_iter()
                .map(|(n, target)| FieldRule {
                    name: n.into(),
                    target,
                    class: None,
                })
                .collect(),
            ..FieldPlan::default()
        }
    }

    fn json_plan(path: &str) -> Plan {
        let p = selector::parse(path).expect("selector");
        Plan::new(
            Automaton::build(&[(p, 0)]).expect("automaton"),
            vec![Rule::new(redact())],
        )
    }

    fn run(input: &str, plan: &FieldPlan) -> Result<String, RewriteError> {
        let mut nonces = OsNonces::new();
        let mut cx = ApplyCx::new(&mut nonces);
        let mut out = Vec::new();
        let limits = Limits { max_depth: 64 };
        match rewrite_form(
            input.as_bytes(),
            Params::only(plan),
            &limits,
            &mut cx,
            &mut out,
        )? {
            Outcome::Unchanged => {
                assert!(out.is_empty());
                Ok(input.to_owned())
            }
            Outcome::Rewritten => Ok(String::from_utf8(out).expect("ascii")),
        }
    }

    // (input, expected) with a plan that redacts `email` and `address`, drops `ip`.
    const CASES: &[(&str, &str)] = &[
        ("email=a%40b.com&plan=pro", "email=%5BR%5D&plan=pro"),
        // Nothing selected: forwarded as it came, odd spellings included.
        ("plan=pro&x=%7e&&y", "plan=pro&x=%7e&&y"),
        // Every duplicate is handled.
        ("email=x&email=y", "email=%5BR%5D&email=%5BR%5D"),
        // A name covers its bracket children, however the brackets are spelled.
        (
            "address%5Bline1%5D=1+Main+St&address[city]=X&addresses=keep",
            "address%5Bline1%5D=%5BR%5D&address[city]=%5BR%5D&addresses=keep",
        ),
        // Drops take exactly one `&` with them.
        ("ip=1.2.3.4&a=1", "a=1"),
        ("a=1&ip=1.2.3.4", "a=1"),
        ("a=1&ip=1.2.3.4&b=2", "a=1&b=2"),
        ("ip=1&ip=2", ""),
        ("ip=1&email=e&b=2", "email=%5BR%5D&b=2"),
        // A selected name without `=` still gets a value.
        ("email&b=2", "email=%5BR%5D&b=2"),
    ];

    #[test]
    fn rewrites_selected_pairs_only() {
        let p = plan(vec![
            ("email", FieldTarget::Whole(redact())),
            ("address", FieldTarget::Whole(redact())),
            ("ip", FieldTarget::Whole(Action::Drop)),
        ]);
        for (input, want) in CASES {
            assert_eq!(run(input, &p).as_deref(), Ok(*want), "{input}");
        }
    }

    #[test]
    fn invalid_escapes_are_refused_even_when_unselected() {
        let p = plan(vec![("email", FieldTarget::Whole(redact()))]);
        for bad in ["a=%zz", "a=%4", "a=%", "%G1=x", "email=%ff"] {
            assert!(
                matches!(run(bad, &p), Err(RewriteError::Malformed { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn names_servers_read_differently_are_refused() {
        let p = plan(vec![("email", FieldTarget::Whole(redact()))]);
        let refused = |input: &str| run(input, &p);
        for (input, why) in [
            ("a=1;email=x", Ambiguity::FieldSeparator),
            ("email=x;", Ambiguity::FieldSeparator),
            ("+email=x", Ambiguity::FieldName),
            ("email+=x", Ambiguity::FieldName),
            ("%20email=x", Ambiguity::FieldName),
            ("email%09=x", Ambiguity::FieldName),
            ("email%00x=x", Ambiguity::FieldName),
            ("%2565mail=x", Ambiguity::FieldName),
            ("[email]=x", Ambiguity::FieldName),
            ("email]=x", Ambiguity::FieldName),
            ("email[=x", Ambiguity::FieldName),
            ("e[m]ail=x", Ambiguity::FieldName),
            ("a[b[c]]=x", Ambiguity::FieldName),
        ] {
            assert_eq!(refused(input), Err(RewriteError::Ambiguous(why)), "{input}");
        }
        // Folded spellings are policed, not refused.
        for input in [
            "EMAIL=x",
            "Email=x",
            "e%6Dail=x",
            "email[]=x",
            "email[a][]=x",
            "email.x=x",
        ] {
            let out = run(input, &p).expect("accepted");
            assert!(out.ends_with("=%5BR%5D"), "{input} -> {out}");
        }
        // Ordinary names pass as they are.
        for input in ["ep.page=1", "a[b][0]=1", "=empty", "first+name=x", "x="] {
            assert_eq!(run(input, &p).as_deref(), Ok(input), "{input}");
        }
    }

    #[test]
    fn json_inside_a_field() {
        let p = plan(vec![(
            "data",
            FieldTarget::Wrapped(Box::new(crate::policy::Wrap {
                codings: Box::new([]),
                inner: crate::policy::Inner::Json(json_plan("$..['$email']")),
            })),
        )]);
        let input = "data=%7B%22event%22%3A%22x%22%2C%22properties%22%3A%7B%22%24email%22%3A%22a%40b.c%22%7D%7D&verbose=1";
        let out = run(input, &p).expect("rewritten");
        let value = out
            .strip_prefix("data=")
            .and_then(|s| s.strip_suffix("&verbose=1"))
            .expect("shape");
        let mut decoded = Vec::new();
        decode(value.as_bytes(), 0, &mut decoded).expect("decodes");
        assert_eq!(
            String::from_utf8(decoded).expect("utf8"),
            r#"{"event":"x","properties":{"$email":"[R]"}}"#
        );
        assert_eq!(
            run("data=not+json", &p),
            Err(RewriteError::Wrapped(crate::error::WrapFault::NotJson))
        );
    }

    #[test]
    fn a_selected_field_named_by_personal_data_goes_unless_its_rule_keeps_it() {
        use crate::detect::Detector;
        use crate::policy::{DetectPolicy, Unselected};
        // `ep.<name>` is the event parameter a rule on `ep` treats; the name after the dot is
        // the site's, and a recipient reads it as written.
        let mut p = plan(vec![
            ("ep", FieldTarget::Whole(redact())),
            ("address", FieldTarget::Whole(Action::Keep)),
        ]);
        p.unselected = Unselected {
            detect: Some(std::sync::Arc::new(DetectPolicy {
                mode: DetectMode::Enforce,
                detector: Detector::default(),
                actions: Class::ALL.iter().map(|_| redact()).collect(),
                echo: None,
            })),
            drop: false,
            root: "query:".into(),
        };
        let input = "en=page_view&ep.ottilie%40example.org=1&ep.plan=gold&ep.4242+4242+4242+4242=x&address[ottilie%40example.org]=1";
        let out = run(input, &p).expect("policed");
        assert_eq!(
            out,
            "en=page_view&ep.plan=%5BR%5D&address[ottilie%40example.org]=1"
        );
    }

    #[test]
    fn a_field_named_by_personal_data_goes_on_a_detect_route() {
        use crate::detect::Detector;
        use crate::policy::{DetectPolicy, Treatment, Unselected};
        let detect = |mode| {
            let actions = match mode {
                DetectMode::Observe => Vec::new(),
                DetectMode::Enforce => Class::ALL.iter().map(|_| redact()).collect(),
            };
            std::sync::Arc::new(DetectPolicy {
                mode,
                detector: Detector::default(),
                actions,
                echo: None,
            })
        };
        let mut p = plan(Vec::new());
        p.unselected = Unselected {
            detect: Some(detect(DetectMode::Enforce)),
            drop: false,
            root: "form:".into(),
        };
        let input = "amount=1000&metadata[ottilie%40example.org]=vip&metadata[4242+4242+4242+4242]=&metadata%5Bplan%5D=gold&DE89370400440532013000=1&order[ORD-2024-000123]=2";
        let mut nonces = OsNonces::new();
        let mut cx = ApplyCx::new(&mut nonces);
        let mut out = Vec::new();
        let limits = Limits { max_depth: 64 };
        rewrite_form(
            input.as_bytes(),
            Params::only(&p),
            &limits,
            &mut cx,
            &mut out,
        )
        .expect("policed");
        assert_eq!(
            String::from_utf8(out).expect("ascii"),
            "amount=1000&metadata%5Bplan%5D=gold&order[ORD-2024-000123]=2"
        );
        // Three values withheld, nothing else treated.
        assert_eq!(cx.disclosed.total(), 3);
        // The card and the IBAN: one category (customer records).
        assert_eq!(
            cx.disclosed
                .get(Some(Class::PaymentCard), Treatment::Dropped),
            2
        );
        let paths: Vec<String> = cx
            .detected
            .entries()
            .map(|(p, _, _)| p.to_owned())
            .collect();
        assert!(
            paths
                .iter()
                .all(|p| !p.contains("4242") && !p.contains('@')),
            "{paths:?}"
        );
        // Observe forwards it and counts it.
        p.unselected.detect = Some(detect(DetectMode::Observe));
        assert_eq!(run(input, &p).expect("forwarded"), input);
    }
}
