//! Finding the data subjects of a payload before it is rewritten.
//!
//! A route's `subject` selector names where each event's person id is (`$.userId`,
//! `$.batch[*].userId`). The rewriter needs, before its single pass, which byte ranges belong to
//! which person, because an event's `userId` may come after the fields it covers. This
//! pre-pass walks only the subject path with serde_json's borrowed `RawValue`s (whose text is a
//! slice of the input, so its offset is exact) and returns one [`Scope`] per match: the element
//! of the path's last `[*]` (one batch event), or the whole document when the path has none.
//!
//! Subject paths are restricted to child steps (`.name`, `['name']`, `[*]`, `[N]`): a person's
//! scope must be a well-defined enclosing value.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::{Format, RewriteError};
use crate::policy::fold::members_equal;
use crate::policy::selector::{Axis, JsonPath, Test};

/// One person's part of a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Byte range of the scope in the payload.
    pub start: usize,
    /// End of the range (exclusive).
    pub end: usize,
    /// The subject id as the payload spells it (a string's decoded text, a number's spelling).
    pub subject: String,
}

/// Whether `path` can name a subject (child steps only, one test each).
pub(crate) fn is_subject_path(path: &JsonPath) -> bool {
    !path.steps.is_empty()
        && path
            .steps
            .iter()
            .all(|s| s.axis == Axis::Child && s.tests.len() == 1)
}

/// The scopes of every subject in a payload of `format`: each line of an NDJSON body is a
/// document of its own (offsets stay those of the whole body); forms and query strings carry
/// no JSON subject, so their values use the route's keys.
///
/// # Errors
/// [`RewriteError::Malformed`] when a JSON document (or line) is not JSON.
pub(crate) fn find_payload_scopes(
    format: Format,
    input: &[u8],
    path: &JsonPath,
) -> Result<Vec<Scope>, RewriteError> {
    match format.json_lines() {
        None => Ok(Vec::new()),
        Some(false) => find_scopes(input, path),
        Some(true) => {
            let mut found = Vec::new();
            let mut start = 0;
            for line in input.split(|b| *b == b'\n') {
                if !line.iter().all(u8::is_ascii_whitespace) {
                    let scopes = find_scopes(line, path)?;
                    found.extend(scopes.into_iter().map(|s| Scope {
                        start: s.start + start,
                        end: s.end + start,
                        subject: s.subject,
                    }));
                }
                start += line.len() + 1;
            }
            Ok(found)
        }
    }
}

/// The scopes of every subject in `input` (valid JSON; the rewriter validates it anyway).
/// Matches whose value is not a string or number, or is empty, are ignored: those events have
/// no subject and use the route's keys.
///
/// # Errors
/// [`RewriteError::Malformed`] when the payload is not JSON.
pub(crate) fn find_scopes(input: &[u8], path: &JsonPath) -> Result<Vec<Scope>, RewriteError> {
    let bad = |_| RewriteError::Malformed {
        offset: 0,
        reason: "invalid JSON",
    };
    let root: &RawValue = serde_json::from_slice(input).map_err(bad)?;
    let base = input.as_ptr() as usize;
    let span = |r: &RawValue| {
        let s = r.get().as_ptr() as usize - base;
        (s, s + r.get().len())
    };
    let last_star = path
        .steps
        .iter()
        .rposition(|s| matches!(s.tests[0], Test::Wildcard));
    // (node, scope of the node so far)
    let mut frontier: Vec<(&RawValue, (usize, usize))> = vec![(root, (0, input.len()))];
    for (i, step) in path.steps.iter().enumerate() {
        let mut next = Vec::new();
        for (node, scope) in frontier {
            let text = node.get().trim_start();
            match &step.tests[0] {
                Test::Name(name) if text.starts_with('{') => {
                    let Entries(entries) = serde_json::from_str(node.get()).map_err(bad)?;
                    next.extend(
                        entries
                            .into_iter()
                            // Folded, as the rewriter selects members: a recipient that
                            // binds `USERID` to `userId` reads the same person.
                            .filter(|(k, _)| members_equal(k, name))
                            .map(|(_, v)| (v, scope)),
                    );
                }
                Test::Index(n) if text.starts_with('[') => {
                    let items: Vec<&RawValue> = serde_json::from_str(node.get()).map_err(bad)?;
                    if let Some(v) = items.get(*n as usize) {
                        next.push((*v, scope));
                    }
                }
                Test::Wildcard if text.starts_with('[') => {
                    let items: Vec<&RawValue> = serde_json::from_str(node.get()).map_err(bad)?;
                    next.extend(items.into_iter().map(|v| {
                        let sc = if Some(i) == last_star { span(v) } else { scope };
                        (v, sc)
                    }));
                }
                Test::Wildcard if text.starts_with('{') => {
                    let Entries(entries) = serde_json::from_str(node.get()).map_err(bad)?;
                    next.extend(entries.into_iter().map(|(_, v)| {
                        let sc = if Some(i) == last_star { span(v) } else { scope };
                        (v, sc)
                    }));
                }
                _ => {}
            }
        }
        frontier = next;
    }
    let mut scopes: Vec<Scope> = Vec::new();
    for (value, (start, end)) in frontier {
        let subject = match serde_json::from_str::<serde_json::Value>(value.get()) {
            Ok(serde_json::Value::String(s)) => s,
            Ok(serde_json::Value::Number(_)) => value.get().trim().to_owned(),
            _ => continue,
        };
        // The first id found in a scope names it.
        if subject.is_empty() || scopes.iter().any(|s| s.start == start) {
            continue;
        }
        scopes.push(Scope {
            start,
            end,
            subject,
        });
    }
    scopes.sort_by_key(|s| s.start);
    Ok(scopes)
}

/// Object members in order, duplicates kept, keys decoded.
struct Entries<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<Cow<'de, str>, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::selector::parse;

    fn scopes(doc: &str, path: &str) -> Vec<(String, String)> {
        find_scopes(doc.as_bytes(), &parse(path).expect("path"))
            .expect("json")
            .into_iter()
            .map(|s| (doc[s.start..s.end].to_owned(), s.subject))
            .collect()
    }

    #[test]
    fn batch_elements_are_scopes() {
        let doc = r#"{"batch":[{"traits":{"email":"a@x"},"userId":"u1"}, {"userId":42,"e":1},{"anonymousId":"z"}]}"#;
        assert_eq!(
            scopes(doc, "$.batch[*].userId"),
            [
                (
                    r#"{"traits":{"email":"a@x"},"userId":"u1"}"#.to_owned(),
                    "u1".to_owned()
                ),
                (r#"{"userId":42,"e":1}"#.to_owned(), "42".to_owned()),
            ]
        );
    }

    #[test]
    fn a_top_level_subject_covers_the_document() {
        let doc = r#"{"traits":{"email":"a@x"},"user\u0049d":"u1"}"#;
        assert_eq!(scopes(doc, "$.userId"), [(doc.to_owned(), "u1".to_owned())]);
        assert!(scopes(r#"{"userId":null}"#, "$.userId").is_empty());
        assert!(scopes(r#"{"userId":""}"#, "$.userId").is_empty());
        // Member names fold as the rewriter folds them; the first spelling names the scope.
        let doc = r#"{"USERID":"u2","userId":"u3"}"#;
        assert_eq!(scopes(doc, "$.userId"), [(doc.to_owned(), "u2".to_owned())]);
    }

    #[test]
    fn only_child_paths_name_subjects() {
        assert!(is_subject_path(&parse("$.batch[*].userId").expect("p")));
        assert!(!is_subject_path(&parse("$..userId").expect("p")));
        assert!(!is_subject_path(&parse("$").expect("p")));
    }
}
