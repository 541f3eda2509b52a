//! Table-driven tests for the selector parser.

use super::*;

fn name(n: &str) -> Test {
    Test::Name(n.into())
}

fn child(tests: Vec<Test>) -> Step {
    Step {
        axis: Axis::Child,
        tests,
    }
}

fn desc(tests: Vec<Test>) -> Step {
    Step {
        axis: Axis::Descendant,
        tests,
    }
}

/// Selectors that parse, with the steps they must produce.
fn accepted() -> Vec<(&'static str, Vec<Step>)> {
    vec![
        // The root alone selects the whole document.
        ("$", vec![]),
        // The common case: member-name shorthand chain.
        (
            "$.user.email",
            vec![child(vec![name("user")]), child(vec![name("email")])],
        ),
        // Shorthand allows `_`, digits after the first char, and any non-ASCII character.
        ("$._id2", vec![child(vec![name("_id2")])]),
        ("$.é日本", vec![child(vec![name("é日本")])]),
        // Bracketed names carry characters shorthand cannot: spaces, dashes, dots, `$`.
        ("$['a b']", vec![child(vec![name("a b")])]),
        ("$[\"user-id\"]", vec![child(vec![name("user-id")])]),
        ("$['$email']", vec![child(vec![name("$email")])]),
        ("$['a.b']", vec![child(vec![name("a.b")])]),
        // RFC 9535 escapes decode: keys match on their decoded form.
        ("$['\\u0065mail']", vec![child(vec![name("email")])]),
        ("$['it\\'s']", vec![child(vec![name("it's")])]),
        (
            "$[\"say \\\"hi\\\"\"]",
            vec![child(vec![name("say \"hi\"")])],
        ),
        // A quote of the other kind needs no escape.
        ("$[\"it's\"]", vec![child(vec![name("it's")])]),
        // Surrogate pairs combine into one scalar value.
        ("$['\\uD83D\\uDE00']", vec![child(vec![name("😀")])]),
        ("$['a\\/b\\\\c\\t']", vec![child(vec![name("a/b\\c\t")])]),
        // Empty name is a legal member name.
        ("$['']", vec![child(vec![name("")])]),
        // Wildcards in both spellings.
        ("$.*", vec![child(vec![Test::Wildcard])]),
        ("$[*]", vec![child(vec![Test::Wildcard])]),
        // Indexes; 0 is fine, u32::MAX is the largest we keep.
        (
            "$.batch[0].userId",
            vec![
                child(vec![name("batch")]),
                child(vec![Test::Index(0)]),
                child(vec![name("userId")]),
            ],
        ),
        ("$[4294967295]", vec![child(vec![Test::Index(u32::MAX)])]),
        // Descendant segments in every form.
        ("$..email", vec![desc(vec![name("email")])]),
        ("$..*", vec![desc(vec![Test::Wildcard])]),
        ("$..[0]", vec![desc(vec![Test::Index(0)])]),
        ("$..['e-mail']", vec![desc(vec![name("e-mail")])]),
        (
            "$.a..b.c",
            vec![
                child(vec![name("a")]),
                desc(vec![name("b")]),
                child(vec![name("c")]),
            ],
        ),
        // Unions, mixing kinds, with RFC 9535 blanks inside brackets.
        ("$['a','b']", vec![child(vec![name("a"), name("b")])]),
        (
            "$[ 0 , 'x' ,* ]",
            vec![child(vec![Test::Index(0), name("x"), Test::Wildcard])],
        ),
        // Blanks are allowed before a segment (RFC 9535 `segments = *(S segment)`).
        (
            "$ .a\n['b']",
            vec![child(vec![name("a")]), child(vec![name("b")])],
        ),
    ]
}

/// Selectors that must be refused: (text, offset, a fragment of the message).
const REFUSED: &[(&str, usize, &str)] = &[
    // Nothing at all.
    ("", 0, "empty selector"),
    // Forgetting the root is the most common mistake.
    ("user.email", 0, "starts with `$`"),
    ("$user", 1, "expected `.`, `..` or `[`"),
    // A dash in a shorthand name: point at it and suggest brackets.
    ("$.user-id", 6, "needs brackets"),
    // Negative indexes need the array length.
    ("$.a[-1]", 4, "negative indexes are not supported"),
    // Slices and filters: refused with the reason.
    ("$.a[0:2]", 5, "slices are not supported"),
    ("$.a[:2]", 4, "slices are not supported"),
    ("$.a[?@.x]", 4, "filter selectors"),
    // RFC 9535 forbids leading zeros.
    ("$[01]", 2, "leading zeros"),
    ("$[4294967296]", 2, "larger than"),
    // Broken brackets and strings.
    ("$[]", 1, "empty brackets"),
    ("$['a'", 1, "unclosed `[`"),
    ("$['a]", 2, "unterminated string"),
    ("$['a' 'b']", 6, "expected `,` or `]`"),
    ("$[a]", 2, "expected a quoted name"),
    // Escapes: unknown, short hex, lone surrogates (RFC 9535 rejects them), raw control chars.
    ("$['\\x']", 3, "invalid escape"),
    ("$['\\u12']", 3, "four hex digits"),
    ("$['\\uD800']", 3, "lone surrogate"),
    ("$['\\uDC00x']", 3, "lone surrogate"),
    ("$['\\uD800\\u0041']", 3, "lone surrogate"),
    ("$['a\u{1}']", 4, "control character"),
    // `\"` is not an escape inside single quotes.
    ("$['\\\"']", 3, "invalid escape"),
    // Dots followed by nothing useful.
    ("$.", 2, "ends after a dot"),
    ("$. a", 2, "whitespace after `.`"),
    ("$.[0]", 2, "write `[` without the dot"),
    ("$.1a", 2, "cannot start with a digit"),
    ("$...a", 3, "expected a member name"),
    // Whitespace around the whole query is not part of RFC 9535.
    (" $.a", 0, "starts with `$`"),
    ("$.a ", 3, "whitespace at the end"),
    // Offsets count characters, not bytes: `é` is two bytes but one character.
    ("$.é-x", 3, "needs brackets"),
];

#[test]
fn accepts_the_supported_subset() {
    for (text, steps) in accepted() {
        let got = parse(text).unwrap_or_else(|e| panic!("{text:?} refused: {e}"));
        assert_eq!(got.steps, steps, "{text:?}");
        // The normalized form parses back to the same path.
        let again = parse(&got.to_string()).unwrap_or_else(|e| panic!("{got} refused: {e}"));
        assert_eq!(again, got, "{text:?} round trip through {got}");
    }
}

#[test]
fn refuses_with_located_messages() {
    for &(text, offset, fragment) in REFUSED {
        let err = match parse(text) {
            Ok(p) => panic!("{text:?} accepted as {p:?}"),
            Err(e) => e,
        };
        assert!(
            err.message.contains(fragment),
            "{text:?}: message {:?} lacks {fragment:?}",
            err.message
        );
        assert_eq!(err.offset, offset, "{text:?}: {err}");
    }
}

#[test]
fn display_escapes_names() {
    let p = parse("$['it\\'s', 'a\\\\b', '\\u0001']..*[3]").expect("parses");
    assert_eq!(p.to_string(), "$['it\\'s','a\\\\b','\\u0001']..[*][3]");
}
