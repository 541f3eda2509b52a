//! The invariants of [`SpanScanner`], checked on any input: the oracle the property tests and
//! the `spans` fuzz target share.
//!
//! 1. Spans are in order, disjoint, inside the text and on character boundaries, and `find`
//!    and `scrub` agree on them.
//! 2. Every byte outside a span is copied unchanged.
//! 3. A replacement made of markup and delimiter characters leaves the document's structure as
//!    it was: the same bytes between segments (tags, attribute names, comment delimiters), the
//!    same kinds of segments, and in a URL the same delimiters.
//! 4. A replacement that keeps every span writes nothing.

use super::{Echo, Origin, Replacement, SpanScanner, TextKind, html, sniff};

/// Replacement text with every character that could break a context.
const NASTY: &str = "<x a=\"b\" c='d'>&amp; e=f `g` ?h#i/j</x>-->]]>";

/// Panics with a description when an invariant does not hold for `text`.
pub fn invariants(scanner: &SpanScanner, text: &str, kind: TextKind, echo: Option<&Echo>) {
    let mut spans = Vec::new();
    let n = scanner.find(text, kind, echo, |sp| {
        spans.push((sp.start, sp.end, sp.origin))
    });
    assert_eq!(n, spans.len());
    let mut at = 0;
    for &(s, e, _) in &spans {
        assert!(
            at <= s && s < e && e <= text.len(),
            "span {s}..{e} after {at}"
        );
        assert!(
            text.is_char_boundary(s) && text.is_char_boundary(e),
            "span {s}..{e}"
        );
        at = e;
    }

    // 2. Outside spans, the input.
    let out = scrub_with(scanner, text, kind, echo, "R", spans.len());
    let mut expect = String::new();
    let mut at = 0;
    for &(s, e, _) in &spans {
        expect.push_str(&text[at..s]);
        expect.push('R');
        at = e;
    }
    expect.push_str(&text[at..]);
    assert_eq!(out, expect, "bytes outside spans changed");

    // 3. Structure.
    let out = scrub_with(scanner, text, kind, echo, NASTY, spans.len());
    let kind = sniff(text.as_bytes(), kind);
    assert_eq!(
        structure(&out, kind),
        structure(text, kind),
        "a replacement changed the document's structure"
    );
    if kind == TextKind::Url {
        let delims = url_delimiters(text);
        let inside: usize = spans
            .iter()
            .map(|&(s, e, _)| delims[s..e].iter().filter(|&&d| d).count())
            .sum();
        assert_eq!(inside, 0, "a span took a URL delimiter");
        let count = |d: Vec<bool>| d.into_iter().filter(|&d| d).count();
        assert_eq!(
            count(url_delimiters(&out)),
            count(delims),
            "a replacement added a URL delimiter"
        );
    }

    // 4. Keep writes nothing.
    let mut buf = Vec::new();
    let done = scanner
        .scrub(
            text,
            kind,
            echo,
            |_, _| Ok::<_, ()>(Replacement::Keep),
            &mut buf,
        )
        .unwrap_or_default();
    assert!(buf.is_empty() && done.replaced == 0);
}

/// Which bytes of `url` its parser reads as delimiters: every `/ ? #`, and in the query and
/// the fragment every `&` and the first `=` of each parameter (a later one, as base64 padding,
/// is part of the value). Before the first `?` or `#` a URL parser reads `&` and `=` as any
/// other byte: in the authority they may be part of a password.
fn url_delimiters(url: &str) -> Vec<bool> {
    let mut params = false;
    let mut named = false;
    url.bytes()
        .map(|b| match b {
            b'?' | b'#' => {
                params = true;
                named = false;
                true
            }
            b'&' if params => {
                named = false;
                true
            }
            b'/' => true,
            b'=' if params && !named => {
                named = true;
                true
            }
            _ => false,
        })
        .collect()
}

/// `text` with every span replaced by `with`.
pub fn scrub_with(
    scanner: &SpanScanner,
    text: &str,
    kind: TextKind,
    echo: Option<&Echo>,
    with: &str,
    expect_spans: usize,
) -> String {
    let mut out = Vec::new();
    let done = scanner
        .scrub(
            text,
            kind,
            echo,
            |sp, buf| {
                debug_assert!(matches!(sp.origin, Origin::Class(_) | Origin::Echo(_)));
                buf.extend_from_slice(with.as_bytes());
                Ok::<_, ()>(Replacement::Replaced)
            },
            &mut out,
        )
        .unwrap_or_default();
    assert_eq!(done.spans, expect_spans, "find and scrub disagree");
    if done.replaced == 0 {
        assert!(out.is_empty(), "nothing replaced but output written");
        return text.to_owned();
    }
    String::from_utf8(out).expect("the output of UTF-8 input is UTF-8")
}

/// The bytes of `doc` outside every segment, with a marker per segment and the segments'
/// contexts.
fn structure(doc: &str, kind: TextKind) -> (Vec<u8>, Vec<super::Ctx>) {
    let raw = doc.as_bytes();
    let mut m = Vec::new();
    let mut ctxs = Vec::new();
    let mut at = 0;
    html::segments(raw, kind, None, &mut |seg: super::Seg| {
        m.extend_from_slice(&raw[at..seg.start]);
        m.push(0);
        ctxs.push(seg.kind.ctx);
        at = seg.end;
    });
    m.extend_from_slice(&raw[at..]);
    (m, ctxs)
}
