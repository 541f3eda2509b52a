//! Selector chains: a place in the request, then `=>` steps that decode the value found there
//! and select inside what it decodes to.
//!
//! ```text
//! chain   = place *( "=>" step )
//! place   = jsonpath / "form:" NAME / "query:" NAME / "header:" NAME / "cookie:" NAME
//! step    = coding / jsonpath / "query:" NAME
//! coding  = "base64" / "base64url" / "base64?" / "base64url?" / "url"
//! ```
//!
//! A step after a place (or after another document step) reads that value as a new document:
//!
//! - `$…` — the text is JSON (`form:data=>$..email`, `$.co=>$.data[*].data.email`);
//! - `query:NAME` — the text is a query string (`a=1&b=2`, one leading `?` allowed:
//!   analytics-next's `context.page.search`);
//! - `url` then `query:NAME` — the text is a URL; its query component is read
//!   (`$.context.page.url=>url=>query:email`);
//! - `base64` / `base64url` then a document step — the text is base64 of that document, in the
//!   standard (`+/`) or URL-safe (`-_`) alphabet, padded or not;
//! - `base64?` / `base64url?` then `$…` — JSON text as it is when it starts with `{` or `[`,
//!   else base64 of it (Mixpanel reads `data` both ways: its browser SDK sends base64, its
//!   Python SDK plain JSON).
//! - `base64` / `base64url` last — the text is base64 of a text (a mail attachment's
//!   content): the rule's action applies to the decoded text as one value
//!   (`$.attachments[*].content=>base64` with `scrub`).
//!
//! Codings nest (`base64=>base64=>$…`) and documents chain (`$.co=>$.url=>url=>query:email`).
//! Parsing is purely syntactic; whether a place suits the side (request or response) is the
//! config compiler's business. Offsets are in characters of the selector as typed, like
//! [`SelectorError::offset`], so diagnostics can point into the config file.

use std::fmt;

use super::{JsonPath, SelectorError, parse};

/// The most steps one chain may have: a bound for the config, never reached by real payloads
/// (the deepest vendor chain, Snowplow's base64url context in a query, has two).
pub const MAX_STEPS: usize = 8;

/// A parsed selector: where the value is, and how to read inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// The place in the request.
    pub place: Place,
    /// Decoding and selection steps after the place, outermost first, with the character
    /// offset each starts at.
    pub steps: Vec<(ChainStep, usize)>,
}

/// Where a chain starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A JSON path into the body.
    Json(JsonPath),
    /// A form field of the body.
    Form(String),
    /// A parameter of the request's query string.
    Query(String),
    /// A request header.
    Header(String),
    /// A cookie of the `Cookie` header (exact name or `*` pattern); its value is read
    /// percent-decoded, as the frameworks that set such cookies read it.
    Cookie(String),
}

/// One `=>` step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainStep {
    /// `base64`, `base64url` (with `?`: or JSON text as it is).
    Base64 {
        /// The URL-safe alphabet (`-_`) rather than the standard one (`+/`).
        url_safe: bool,
        /// `base64?`: a value starting with `{` or `[` is the JSON text itself.
        or_json: bool,
    },
    /// `url`: the value is a URL; the next step selects in its query.
    Url,
    /// `$…`: the value is a JSON document.
    Json(JsonPath),
    /// `query:NAME`: the value is a query string.
    Query(String),
}

impl ChainStep {
    /// Whether the step selects inside a document (rather than decoding one).
    pub const fn is_document(&self) -> bool {
        matches!(self, Self::Json(_) | Self::Query(_))
    }
}

/// Parses a selector, chain or not. A selector without `=>` is a chain without steps.
///
/// # Errors
/// [`SelectorError`] at the first problem, with a message that says how to fix it.
pub fn parse_chain(text: &str) -> Result<Chain, SelectorError> {
    let parts = split(text)?;
    let mut parts = parts.into_iter();
    let Some((first, at)) = parts.next() else {
        return fail(0, "empty selector");
    };
    let place = place(first, at)?;
    let mut steps = Vec::new();
    for (part, at) in parts {
        steps.push((step(part, at)?, at));
    }
    check_order(&steps, text.chars().count())?;
    Ok(Chain { place, steps })
}

fn fail<T>(offset: usize, message: impl Into<String>) -> Result<T, SelectorError> {
    Err(SelectorError {
        offset,
        message: message.into(),
    })
}

/// Splits at every `=>` outside JSONPath string literals, trimming blanks around each part.
/// Returns each part with its character offset.
fn split(text: &str) -> Result<Vec<(&str, usize)>, SelectorError> {
    let mut parts = Vec::new();
    let mut start = 0; // byte offset of the current part
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            // Quotes only open string literals inside a JSONPath part.
            '\'' | '"' if text[start..].trim_start().starts_with('$') => quote = Some(c),
            '=' if chars.peek().is_some_and(|&(_, n)| n == '>') => {
                parts.push(trimmed(text, start, i)?);
                chars.next();
                start = i + 2;
            }
            _ => {}
        }
    }
    parts.push(trimmed(text, start, text.len())?);
    if parts.len() > MAX_STEPS + 1 {
        return fail(
            parts[MAX_STEPS + 1].1,
            format!("a selector may have at most {MAX_STEPS} `=>` steps"),
        );
    }
    Ok(parts)
}

/// `text[from..to]` without surrounding blanks, with its character offset; empty is an error.
fn trimmed(text: &str, from: usize, to: usize) -> Result<(&str, usize), SelectorError> {
    let raw = &text[from..to];
    let lead = raw.len() - raw.trim_start().len();
    let part = raw.trim();
    let at = text[..from + lead].chars().count();
    if part.is_empty() {
        return fail(
            at,
            "empty step; `=>` must sit between a place and a step, e.g. `form:data=>base64=>$.email`",
        );
    }
    Ok((part, at))
}

fn json(part: &str, at: usize) -> Result<JsonPath, SelectorError> {
    parse(part).map_err(|e| SelectorError {
        offset: at + e.offset,
        message: e.message,
    })
}

fn field_name(rest: &str, at: usize, prefix: &str) -> Result<String, SelectorError> {
    let name = rest.trim();
    if name.is_empty() {
        return fail(
            at,
            format!("`{prefix}` needs a field name, e.g. \"{prefix}email\""),
        );
    }
    Ok(name.to_owned())
}

fn place(part: &str, at: usize) -> Result<Place, SelectorError> {
    if part.starts_with('$') {
        return json(part, at).map(Place::Json);
    }
    if let Some(rest) = part.strip_prefix("form:") {
        return field_name(rest, at, "form:").map(Place::Form);
    }
    if let Some(rest) = part.strip_prefix("query:") {
        return field_name(rest, at, "query:").map(Place::Query);
    }
    if let Some(rest) = part.strip_prefix("header:") {
        return field_name(rest, at, "header:").map(Place::Header);
    }
    if let Some(rest) = part.strip_prefix("cookie:") {
        return field_name(rest, at, "cookie:").map(Place::Cookie);
    }
    if coding(part).is_some() {
        return fail(
            at,
            format!(
                "`{part}` decodes a value; start with the place that holds it, e.g. `form:data=>{part}=>$.email`"
            ),
        );
    }
    fail(
        at,
        "a selector starts with `$` (JSON), `form:NAME`, `query:NAME`, `header:NAME` or `cookie:NAME`",
    )
}

fn coding(part: &str) -> Option<ChainStep> {
    Some(match part {
        "base64" => ChainStep::Base64 {
            url_safe: false,
            or_json: false,
        },
        "base64url" => ChainStep::Base64 {
            url_safe: true,
            or_json: false,
        },
        "base64?" => ChainStep::Base64 {
            url_safe: false,
            or_json: true,
        },
        "base64url?" => ChainStep::Base64 {
            url_safe: true,
            or_json: true,
        },
        "url" => ChainStep::Url,
        _ => return None,
    })
}

fn step(part: &str, at: usize) -> Result<ChainStep, SelectorError> {
    if let Some(c) = coding(part) {
        return Ok(c);
    }
    if part.starts_with('$') {
        return json(part, at).map(ChainStep::Json);
    }
    if let Some(rest) = part.strip_prefix("query:") {
        return field_name(rest, at, "query:").map(ChainStep::Query);
    }
    if part.starts_with("form:") {
        return fail(
            at,
            "inside a value, a query string or form is read with `query:NAME` (one grammar for both)",
        );
    }
    for place in ["header:", "cookie:"] {
        if part.starts_with(place) {
            return fail(
                at,
                format!("`{place}` is a place in the request, not a step inside a value"),
            );
        }
    }
    fail(
        at,
        "expected a step: `base64`, `base64url`, `base64?`, `base64url?`, `url`, a JSONPath `$…` or `query:NAME`",
    )
}

/// Codings must lead to a document: `url` to `query:`, `base64?` to `$…`, and a chain cannot
/// end on a coding.
fn check_order(steps: &[(ChainStep, usize)], end: usize) -> Result<(), SelectorError> {
    for (n, (s, at)) in steps.iter().enumerate() {
        let next = steps.get(n + 1).map(|(s, _)| s);
        let next_at = steps.get(n + 1).map_or(end, |&(_, a)| a);
        match s {
            ChainStep::Url => match next {
                Some(ChainStep::Query(_)) => {}
                Some(_) => {
                    return fail(
                        next_at,
                        "after `url` comes the query parameter to select, e.g. `url=>query:email`",
                    );
                }
                None => {
                    return fail(
                        *at,
                        "`url` must be followed by the query parameter to select, e.g. `=>url=>query:email`",
                    );
                }
            },
            ChainStep::Base64 { or_json: true, .. } => match next {
                Some(ChainStep::Json(_)) => {}
                _ => {
                    return fail(
                        *at,
                        "`base64?` (JSON or base64 JSON) must be followed by a JSONPath, e.g. `=>base64?=>$.email`",
                    );
                }
            },
            // A chain ending on `base64`: the decoded text is the value.
            ChainStep::Base64 { .. } | ChainStep::Json(_) | ChainStep::Query(_) => {}
        }
    }
    Ok(())
}

// === impl Display ===

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Json(p) => write!(f, "{p}"),
            Self::Form(n) => write!(f, "form:{n}"),
            Self::Query(n) => write!(f, "query:{n}"),
            Self::Header(n) => write!(f, "header:{n}"),
            Self::Cookie(n) => write!(f, "cookie:{n}"),
        }
    }
}

impl fmt::Display for ChainStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Base64 { url_safe, or_json } => {
                f.write_str(if *url_safe { "base64url" } else { "base64" })?;
                if *or_json {
                    f.write_str("?")?;
                }
                Ok(())
            }
            Self::Url => f.write_str("url"),
            Self::Json(p) => write!(f, "{p}"),
            Self::Query(n) => write!(f, "query:{n}"),
        }
    }
}

/// The normalised form: JSONPaths in bracket notation, `=>` without blanks. Parses back to the
/// same chain (offsets aside).
impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.place)?;
        for (s, _) in &self.steps {
            write!(f, "=>{s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(text: &str) -> Vec<String> {
        let c = parse_chain(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        std::iter::once(c.place.to_string())
            .chain(c.steps.iter().map(|(s, _)| s.to_string()))
            .collect()
    }

    #[test]
    fn vendor_chains_parse() {
        for (text, want) in [
            ("$.email", vec!["$['email']"]),
            ("form:email", vec!["form:email"]),
            (
                "form:data=>$..['$email']",
                vec!["form:data", "$..['$email']"],
            ),
            (
                "form:data=>base64=>$[*].properties.email",
                vec!["form:data", "base64", "$[*]['properties']['email']"],
            ),
            (
                "form:data => base64? => $..['$email']",
                vec!["form:data", "base64?", "$..['$email']"],
            ),
            (
                "query:cx=>base64url=>$.data[*].data.email",
                vec!["query:cx", "base64url", "$['data'][*]['data']['email']"],
            ),
            (
                "$.context.page.url=>url=>query:email",
                vec!["$['context']['page']['url']", "url", "query:email"],
            ),
            (
                "$.data[*].co=>$.data[*].data.email",
                vec!["$['data'][*]['co']", "$['data'][*]['data']['email']"],
            ),
            (
                "query:dl=>url=>query:email",
                vec!["query:dl", "url", "query:email"],
            ),
            (
                "$.context.page.search=>query:uid",
                vec!["$['context']['page']['search']", "query:uid"],
            ),
            (
                "header:referer=>url=>query:email",
                vec!["header:referer", "url", "query:email"],
            ),
            (
                "cookie:mp_*_mixpanel=>$.distinct_id",
                vec!["cookie:mp_*_mixpanel", "$['distinct_id']"],
            ),
            // `=>` inside a quoted name is part of the name.
            (
                "$['a=>b']=>url=>query:x",
                vec!["$['a=>b']", "url", "query:x"],
            ),
        ] {
            assert_eq!(steps(text), want, "{text}");
        }
    }

    #[test]
    fn display_parses_back() {
        for text in [
            "form:data=>base64url?=>$..x",
            "$.a['b c']=>base64=>$.d=>url=>query:e",
            "query:q=>query:r",
        ] {
            let c = parse_chain(text).expect("parses");
            let again = parse_chain(&c.to_string()).expect("normal form parses");
            assert_eq!(c.place, again.place);
            let a: Vec<_> = c.steps.iter().map(|(s, _)| s).collect();
            let b: Vec<_> = again.steps.iter().map(|(s, _)| s).collect();
            assert_eq!(a, b);
        }
    }

    #[test]
    fn a_chain_may_end_on_base64_whose_text_is_the_value() {
        for text in ["$.attachments[*].content=>base64", "form:f=>base64url"] {
            let chain = parse_chain(text).expect(text);
            assert!(matches!(
                chain.steps.last(),
                Some((ChainStep::Base64 { or_json: false, .. }, _))
            ));
            let again = parse_chain(&chain.to_string()).expect("its spelling parses");
            assert_eq!(again.place, chain.place);
            assert_eq!(
                again.steps.iter().map(|(s, _)| s).collect::<Vec<_>>(),
                chain.steps.iter().map(|(s, _)| s).collect::<Vec<_>>()
            );
        }
        // `base64?` means JSON or base64 of JSON: it still needs the JSONPath.
        assert!(parse_chain("form:d=>base64?").is_err());
    }

    #[test]
    fn misordered_chains_are_refused_where_they_go_wrong() {
        for (text, at, needle) in [
            ("base64=>$.a", 0, "start with the place"),
            ("form:data=>", 11, "empty step"),
            ("$.u=>url", 5, "`url` must be followed"),
            ("$.u=>url=>$.a", 10, "after `url`"),
            (
                "form:d=>base64?=>query:x",
                8,
                "must be followed by a JSONPath",
            ),
            ("form:d=>form:x", 8, "`query:NAME`"),
            ("form:d=>header:x", 8, "not a step"),
            ("form:d=>cookie:x", 8, "not a step"),
            ("form:d=>gzip=>$.a", 8, "expected a step"),
            ("form:", 0, "needs a field name"),
            ("$.a=>$.b[", 9, "unclosed"),
            ("body:x", 0, "a selector starts with"),
        ] {
            let e = parse_chain(text).expect_err(text);
            assert_eq!(e.offset, at, "{text}: {e}");
            assert!(e.message.contains(needle), "{text}: {}", e.message);
        }
        let long = format!("form:d{}=>$.a", "=>base64".repeat(MAX_STEPS));
        assert!(parse_chain(&long).is_err());
    }
}
