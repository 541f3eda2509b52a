//! A route's detection policy (`detect`, `[routes.detect_actions]`): the detector and, in
//! `enforce` mode, one action per class.

use super::actions::{RuleCtx, compile_action};
use crate::config::diag::{Diagnostics, Source};
use crate::config::reader::At;
use crate::config::spec::{RouteSpec, RuleSpec};
use crate::detect::{Class, Detector};
use crate::policy::action::{ECHO_TREATMENTS, RedactAction, ScrubAction};
use crate::policy::{Action, DetectMode, DetectPolicy};

/// The natural normalisation of a class for `tokenize` and `hash` when a `detect_actions`
/// entry does not name one.
pub(super) fn class_normalize(class: Class, action: &str) -> Option<&'static str> {
    match (action, class) {
        ("tokenize" | "hash", Class::Email) => Some("email"),
        ("tokenize" | "hash", Class::Phone) => Some("phone"),
        ("hash", Class::DateOfBirth) => Some("date_of_birth"),
        ("hash", Class::City) => Some("city"),
        ("hash", Class::PostalCode) => Some("zip"),
        ("hash", Class::Gender) => Some("gender"),
        _ => None,
    }
}

/// A route's detection policy: the detector and, in `enforce` mode, one action per class —
/// the class's `detect_actions` entry, else `default`, else `redact` with
/// `[REDACTED:<class>]`. Entries are validated like rules (same options, same messages).
pub(super) fn detect_policy(
    mode: DetectMode,
    r: &RouteSpec,
    cx: &RuleCtx<'_>,
    src: Source<'_>,
    d: &mut Diagnostics,
) -> Option<DetectPolicy> {
    let detector = Detector::default();
    if mode == DetectMode::Observe {
        // Echoes are only counted: the treatment is never applied.
        return Some(DetectPolicy {
            mode,
            detector,
            actions: Vec::new(),
            echo: Some(Action::Scrub(ScrubAction::echoes_only([], Action::Keep))),
        });
    }
    let entries = r
        .detect_actions
        .as_ref()
        .map_or(&[][..], |t| &t.entries[..]);
    let entry = |name: &str| {
        entries
            .iter()
            .find(|(k, _)| k.value == name)
            .map(|(_, e)| e)
    };
    let errors_before = d.error_count();
    // Report each entry's problems once: compile every entry loudly first.
    for (key, spec) in entries {
        if key.value == "echo" {
            check_echo(spec, cx, src, d);
            continue;
        }
        let class = key.value.parse::<Class>().ok();
        let spec = detect_spec(spec, class);
        if let Some(a) = spec.action.as_ref()
            && a.value == "reveal"
        {
            d.error(
                src,
                a.span.clone(),
                "bad_action",
                "`reveal` decrypts; detected values can only be protected, kept or dropped",
            );
            continue;
        }
        let _ = compile_action(&spec, cx, src, d);
    }
    if d.error_count() > errors_before {
        return None;
    }
    let mut actions = Vec::with_capacity(Class::COUNT);
    for class in Class::ALL {
        let spec = entry(class.as_str()).or_else(|| entry("default"));
        let action = match spec {
            Some(spec) => {
                let spec = detect_spec(spec, Some(class));
                let a = compile_action(&spec, cx, src, &mut Diagnostics::new())?;
                // Under an opt-out a detected identifier is never kept in clear.
                if cx.strict && a.is_keep() {
                    Action::Drop
                } else {
                    a
                }
            }
            None => Action::Redact(RedactAction {
                replacement: format!("[REDACTED:{}]", class.as_str()).into(),
            }),
        };
        actions.push(action);
    }
    // `text`: what a leaf gets when the detector found the data inside free text (`scrub`:
    // only the spans). Without it, the class's action replaces the whole leaf.
    let mut echo = None;
    let echo_entry = entry("echo");
    if let Some(spec) = entry("text") {
        let a = compile_action(&detect_spec(spec, None), cx, src, &mut Diagnostics::new())?;
        // Echoes in the leaves the detector found nothing in get that scrub's treatments
        // (and none with its `echo = "off"`); compiled again, since actions hold their keys.
        if let Action::Scrub(_) = a {
            let again = compile_action(&detect_spec(spec, None), cx, src, &mut Diagnostics::new())?;
            if let Action::Scrub(s) = again {
                echo = s.into_echoes_only().map(Action::Scrub);
            }
        }
        actions.push(if cx.strict && a.is_keep() {
            Action::Drop
        } else {
            a
        });
    } else {
        echo = Some(Action::Scrub(echo_scrub(entries, cx, src)?));
    }
    // `echo`: one treatment for every echo in those leaves, or `off`.
    if let Some(spec) = echo_entry {
        echo = match spec.action.as_ref().map(|a| a.value.as_str()) {
            Some("off") => None,
            _ => Some(Action::Scrub(echo_scrub_with(spec, cx, src)?)),
        };
    }
    Some(DetectPolicy {
        mode,
        detector,
        actions,
        echo,
    })
}

/// `detect_actions.echo`: `off`, or one of `scrub`'s echo treatments (a table may add that
/// action's options). Reported once, here.
fn check_echo(spec: &RuleSpec, cx: &RuleCtx<'_>, src: Source<'_>, d: &mut Diagnostics) {
    let Some(action) = spec.action.as_ref() else {
        return;
    };
    if !ECHO_TREATMENTS.contains(&action.value.as_str()) {
        d.error(
            src,
            action.span.clone(),
            "bad_action",
            format!(
                "`echo` in `detect_actions` takes one of {}",
                ECHO_TREATMENTS.join(", ")
            ),
        );
        return;
    }
    if action.value != "off" {
        let _ = compile_action(&detect_spec(spec, None), cx, src, d);
    }
}

/// `detect_actions.echo = "<treatment>"`: every echo in a leaf the detector found nothing in
/// gets that treatment, made concrete for the class of the rule that selected the value.
fn echo_scrub_with(spec: &RuleSpec, cx: &RuleCtx<'_>, src: Source<'_>) -> Option<ScrubAction> {
    let build = |class: Option<Class>| -> Option<Action> {
        let a = compile_action(&detect_spec(spec, class), cx, src, &mut Diagnostics::new())?;
        Some(match a {
            Action::Keep if cx.strict => Action::Redact(RedactAction {
                replacement: class
                    .map_or_else(
                        || "[REDACTED]".to_owned(),
                        |c| format!("[REDACTED:{}]", c.as_str()),
                    )
                    .into(),
            }),
            a => a,
        })
    };
    let mut treatments = Vec::with_capacity(Class::COUNT);
    for class in Class::ALL {
        treatments.push((class, build(Some(class))?));
    }
    Some(ScrubAction::echoes_only(treatments, build(None)?))
}

/// Without a `text` scrub, an echo of a selected value in a leaf the detector found nothing
/// in gets the action a leaf of the value's class would get, where that action can stand for
/// a span (`encrypt`, `keep`, `mask`, `redact`, `tokenize`), else `redact` with
/// `[REDACTED:<class>]`; an echo of a value whose rule has no class gets `default` on the
/// same terms, else `[REDACTED]`.
fn echo_scrub(
    entries: &[(At<String>, RuleSpec)],
    cx: &RuleCtx<'_>,
    src: Source<'_>,
) -> Option<ScrubAction> {
    let entry = |name: &str| {
        entries
            .iter()
            .find(|(k, _)| k.value == name)
            .map(|(_, e)| e)
    };
    let span_action = |spec: Option<&RuleSpec>, class: Option<Class>| -> Option<Action> {
        let redact = Action::Redact(RedactAction {
            replacement: class
                .map_or_else(
                    || "[REDACTED]".to_owned(),
                    |c| format!("[REDACTED:{}]", c.as_str()),
                )
                .into(),
        });
        let Some(spec) = spec else {
            return Some(redact);
        };
        let a = compile_action(&detect_spec(spec, class), cx, src, &mut Diagnostics::new())?;
        Some(match a {
            Action::Keep if cx.strict => redact,
            Action::Encrypt(_)
            | Action::Keep
            | Action::Mask(_)
            | Action::Redact(_)
            | Action::Tokenize(_) => a,
            _ => redact,
        })
    };
    let mut treatments = Vec::with_capacity(Class::COUNT);
    for class in Class::ALL {
        let spec = entry(class.as_str()).or_else(|| entry("default"));
        treatments.push((class, span_action(spec, Some(class))?));
    }
    let echo = span_action(entry("default"), None)?;
    Some(ScrubAction::echoes_only(treatments, echo))
}

/// A `detect_actions` entry made concrete for one class: `redact` says which class it
/// replaced, `tokenize`/`hash` normalise by class unless told otherwise.
pub(super) fn detect_spec(spec: &RuleSpec, class: Option<Class>) -> RuleSpec {
    let mut spec = spec.clone();
    let Some(action) = spec.action.clone() else {
        return spec;
    };
    if let Some(class) = class {
        if action.value == "redact" && spec.option("replacement").is_none() {
            spec.set_text(
                "replacement",
                At {
                    value: format!("[REDACTED:{}]", class.as_str()),
                    span: action.span.clone(),
                },
            );
        }
        if spec.option("normalize").is_none()
            && let Some(n) = class_normalize(class, &action.value)
        {
            spec.set_text(
                "normalize",
                At {
                    value: n.to_owned(),
                    span: action.span.clone(),
                },
            );
        }
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ROUTE, diagnose};
    use super::detect_spec;
    use crate::config::reader::At;
    use crate::config::spec::RuleSpec;
    use crate::detect::Class;

    fn enforce(entries: &str) -> String {
        format!("{ROUTE}detect = \"enforce\"\n[routes.detect_actions]\n{entries}")
    }

    #[test]
    fn detected_values_can_be_protected_but_never_revealed() {
        assert_eq!(
            diagnose(&enforce("email = \"reveal\"\n")),
            [
                "7:9 error[bad_action]: `reveal` decrypts; detected values can only be protected, \
              kept or dropped"
            ]
        );
    }

    #[test]
    fn entries_are_checked_like_rules_once_each() {
        assert_eq!(
            diagnose(&enforce(
                "email = { action = \"mask\", prefix = \"x\" }\ndefault = \"tokenise\"\n"
            )),
            [
                "7:37 error[bad_option]: `prefix` does not apply to action `mask`",
                "8:11 error[bad_action]: unknown action `tokenise`",
            ]
        );
        assert_eq!(
            diagnose(&enforce("email = \"tokenize\"\ndefault = \"drop\"\n")),
            Vec::<String>::new()
        );
    }

    #[test]
    fn an_entry_is_made_concrete_for_its_class() {
        let entry = |action: &str| RuleSpec {
            action: Some(At {
                value: action.to_owned(),
                span: 0..0,
            }),
            ..RuleSpec::default()
        };
        let text = |spec: &RuleSpec, name: &str| spec.text(name).map(|v| v.value.clone());
        let redact = detect_spec(&entry("redact"), Some(Class::Email));
        assert_eq!(
            text(&redact, "replacement").as_deref(),
            Some("[REDACTED:email]")
        );
        let phone = detect_spec(&entry("tokenize"), Some(Class::Phone));
        assert_eq!(text(&phone, "normalize").as_deref(), Some("phone"));
        let dob = detect_spec(&entry("hash"), Some(Class::DateOfBirth));
        assert_eq!(text(&dob, "normalize").as_deref(), Some("date_of_birth"));
        // An option the operator set wins over the class's.
        let mut own = entry("tokenize");
        own.set_text(
            "normalize",
            At {
                value: "none".to_owned(),
                span: 0..0,
            },
        );
        let own = detect_spec(&own, Some(Class::Email));
        assert_eq!(text(&own, "normalize").as_deref(), Some("none"));
        assert_eq!(
            text(
                &detect_spec(&entry("mask"), Some(Class::Email)),
                "normalize"
            ),
            None
        );
    }
}
