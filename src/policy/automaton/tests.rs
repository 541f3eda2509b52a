//! Table-driven tests for the selector automaton.

use super::*;
use crate::policy::selector::parse;

#[derive(Debug, Clone, Copy)]
enum L {
    N(&'static str),
    I(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Nothing at or below can match: the rewriter skips the subtree.
    Dead,
    /// Not selected, but something below might be.
    Live,
    /// Selected by this rule.
    Accept(RuleId),
}

use Expect::*;
use L::{I, N};

fn build(selectors: &[(&str, RuleId)]) -> Automaton {
    let paths: Vec<_> = selectors
        .iter()
        .map(|&(s, r)| (parse(s).unwrap_or_else(|e| panic!("{s}: {e}")), r))
        .collect();
    Automaton::build(&paths).expect("builds")
}

fn walk(a: &Automaton, labels: &[L]) -> Expect {
    let mut s = a.start();
    for l in labels {
        if a.accepting(s).is_some() {
            break;
        }
        s = match *l {
            N(n) => {
                let by_name = a.on_name(s, n.as_bytes());
                if !a.name_may_matter(s, n.as_bytes()) {
                    assert_eq!(by_name, a.on_other_name(s), "{n}: ruled out, yet an exit");
                }
                if !a.name_sensitive(s) {
                    assert_eq!(
                        by_name,
                        a.on_other_name(s),
                        "insensitive state ignores names"
                    );
                }
                by_name
            }
            I(i) => {
                let by_index = a.on_index(s, i);
                if !a.index_sensitive(s) {
                    assert_eq!(by_index, a.on_other_index(s));
                }
                by_index
            }
        };
    }
    match a.accepting(s) {
        Some(r) => Accept(r),
        None if a.is_dead(s) => Dead,
        None => Live,
    }
}

type Case = (&'static [(&'static str, RuleId)], &'static [L], Expect);

const CASES: &[Case] = &[
    // The root selector accepts before any label is read.
    (&[("$", 0)], &[], Accept(0)),
    // A plain chain: the prefix is live, the end accepts, a sibling is dead.
    (&[("$.user.email", 0)], &[N("user")], Live),
    (&[("$.user.email", 0)], &[N("user"), N("email")], Accept(0)),
    (&[("$.user.email", 0)], &[N("account")], Dead),
    // Names are compared folded, as case-insensitive binders (Go, .NET, Jackson) read them:
    // case and the non-ASCII aliases of `i`, `s` and `k`; not `_` for `-`, not a prefix.
    (&[("$.email", 0)], &[N("Email")], Accept(0)),
    (&[("$.email", 0)], &[N("EMAIL")], Accept(0)),
    (&[("$.email", 0)], &[N("emaıl")], Accept(0)),
    (&[("$.email", 0)], &[N("EMAİL")], Accept(0)),
    (&[("$.Email", 0)], &[N("email")], Accept(0)),
    (&[("$.sk", 0)], &[N("ſ\u{212A}")], Accept(0)),
    (&[("$.e_mail", 0)], &[N("e-mail")], Dead),
    (&[("$.email", 0)], &[N("emai")], Dead),
    (&[("$['user-email']", 0)], &[N("USER-EMAIL")], Accept(0)),
    (
        &[("$['abcdefghijklmnopqr']", 0)],
        &[N("ABCDEFGHIJKLMNOPQR")],
        Accept(0),
    ),
    (
        &[("$['abcdefghijklmnopqr']", 0)],
        &[N("ABCDEFGHIJKLMNOPQS")],
        Dead,
    ),
    (&[("$['straße']", 0)], &[N("STRAßE")], Accept(0)),
    (&[("$['σας']", 0)], &[N("ΣΑΣ")], Accept(0)),
    // Two selectors whose names fold alike select the same members; the first rule wins.
    (&[("$.email", 2), ("$.EMAIL", 1)], &[N("Email")], Accept(1)),
    // Under a `..name` search the folded spellings exit too.
    (&[("$..email", 0)], &[N("a"), N("EMAIL")], Accept(0)),
    // A name selector never matches an array index, and an index never matches a name.
    (&[("$.a[0]", 0)], &[N("a"), N("0")], Dead),
    (&[("$.a[0]", 0)], &[N("a"), I(0)], Accept(0)),
    (&[("$.a[0]", 0)], &[N("a"), I(1)], Dead),
    // Wildcards match both names and indexes.
    (&[("$.*.id", 0)], &[I(7), N("id")], Accept(0)),
    (&[("$.*.id", 0)], &[N("x"), N("id")], Accept(0)),
    // Descendant: any depth, including directly below the root.
    (&[("$..email", 0)], &[N("email")], Accept(0)),
    (
        &[("$..email", 0)],
        &[N("a"), I(3), N("b"), N("email")],
        Accept(0),
    ),
    // Under a descendant step nothing is ever dead: an `email` may be deeper.
    (&[("$..email", 0)], &[N("a"), I(3), N("b")], Live),
    // `..` in the middle only starts after its prefix.
    (&[("$.a..id", 0)], &[N("b"), N("id")], Dead),
    (
        &[("$.a..id", 0)],
        &[N("a"), N("x"), I(0), N("id")],
        Accept(0),
    ),
    // `..*` selects every child of the root: the outermost selected node is depth 1.
    (&[("$..*", 0)], &[N("x")], Accept(0)),
    // `..[0]` selects first elements at any depth, not names.
    (&[("$..[0]", 0)], &[N("a"), I(0)], Accept(0)),
    (&[("$..[0]", 0)], &[N("a"), N("0")], Live),
    // Lowest rule id wins when two selectors end on the same node, whatever the order given.
    (&[("$.a", 3), ("$..a", 1)], &[N("a")], Accept(1)),
    (&[("$..a", 1), ("$.a", 3)], &[N("a")], Accept(1)),
    // Outermost wins: once `$.a` accepts, the walk stops and `$.a.b`'s rule is never reached.
    (&[("$.a.b", 0), ("$.a", 5)], &[N("a"), N("b")], Accept(5)),
    // Two rules on different nodes share a prefix state.
    (
        &[("$.u.email", 0), ("$.u.phone", 1)],
        &[N("u"), N("phone")],
        Accept(1),
    ),
    // Unions: either name, either index.
    (&[("$['a','b'].x", 0)], &[N("b"), N("x")], Accept(0)),
    (&[("$[0,2]", 0)], &[I(2)], Accept(0)),
    (&[("$[0,2]", 0)], &[I(1)], Dead),
    // Indexes above u32 never match a spelled index but do match wildcards.
    (&[("$[*]", 0)], &[I(u64::MAX)], Accept(0)),
    (&[("$[4294967295]", 0)], &[I(4_294_967_296)], Dead),
    // Name fingerprints cover every byte: same length, one byte different, at each position
    // class (short, 4..7, 8..16 with overlapping loads, longer than 16 compared in full).
    (&[("$.abc", 0)], &[N("axc")], Dead),
    (&[("$.abcde", 0)], &[N("abXde")], Dead),
    (&[("$['abcdefghijk']", 0)], &[N("abcdefgXijk")], Dead),
    (&[("$['abcdefghijk']", 0)], &[N("abcdefghijk")], Accept(0)),
    (
        &[("$['abcdefghijklmnopqr']", 0)],
        &[N("abcdefghiXklmnopqr")],
        Dead,
    ),
    (
        &[("$['abcdefghijklmnopqr']", 0)],
        &[N("abcdefghijklmnopqr")],
        Accept(0),
    ),
    // Non-ASCII and empty names.
    (&[("$['é']", 0)], &[N("é")], Accept(0)),
    (&[("$['']", 0)], &[N("")], Accept(0)),
    // A descendant and a child selector on different rules, nested: the first to accept wins.
    (
        &[("$..email", 0), ("$.user", 1)],
        &[N("user"), N("email")],
        Accept(1),
    ),
    (
        &[("$..email", 0), ("$.user.x", 1)],
        &[N("user"), N("email")],
        Accept(0),
    ),
];

#[test]
fn walks() {
    for (n, &(selectors, labels, expect)) in CASES.iter().enumerate() {
        let a = build(selectors);
        assert_eq!(
            walk(&a, labels),
            expect,
            "case {n}: {selectors:?} {labels:?}"
        );
    }
}

#[test]
fn lowered_fingerprints_equal_fingerprints_of_lowered_names() {
    let names = [
        "a",
        "AB",
        "aBc",
        "EMAIL",
        "e@Z[`{",
        "AbCdEfGh",
        "ABCDEFGHIJKLMNOP",
        "_-.~09",
    ];
    for n in names {
        let lowered = n.to_ascii_lowercase();
        assert_eq!(
            lower_print(fingerprint(n.as_bytes())),
            fingerprint(lowered.as_bytes()),
            "{n}"
        );
    }
    // Every ASCII byte in every lane.
    for b in 0u8..0x80 {
        let w = [b; 16];
        let lowered = w.to_ascii_lowercase();
        assert_eq!(
            lower_print(fingerprint(&w)),
            fingerprint(&lowered),
            "{b:#x}"
        );
    }
}

/// `name_column` reads a short name's ASCII-ness off its fingerprint: one non-ASCII byte at
/// any position of any length up to 16 must show in the high bits, and none may show for an
/// ASCII name.
#[test]
fn fingerprints_show_every_non_ascii_byte_of_a_short_name() {
    for len in 0..=16usize {
        let ascii = vec![b'z'; len];
        let (a, b) = fingerprint(&ascii);
        assert_eq!((a | b) & HIGH_BITS, 0, "ASCII, {len} bytes");
        for at in 0..len {
            let mut name = ascii.clone();
            name[at] = 0x80;
            let (a, b) = fingerprint(&name);
            assert_ne!((a | b) & HIGH_BITS, 0, "byte {at} of {len}");
        }
    }
}

/// Keys with a non-ASCII byte still fold before the lookup, at every length class of the
/// fingerprint and past it: the Kelvin sign (three bytes) spells `k`, the long s spells `s`.
#[test]
fn non_ascii_spellings_of_short_names_reach_their_rule() {
    for (selector, key, expect) in [
        ("$.k", "\u{212A}", Accept(0)),
        ("$.sku", "\u{212A}", Dead),
        ("$.kind", "\u{212A}ind", Accept(0)),
        ("$.tasks", "ta\u{17F}ks", Accept(0)),
        ("$.userkey", "user\u{212A}ey", Accept(0)),
        // 16 bytes as spelled, 14 folded.
        ("$.abcdefghijklmk", "abcdefghijklm\u{212A}", Accept(0)),
        // 17 bytes as spelled, 15 folded.
        ("$.abcdefghijklmnk", "abcdefghijklmn\u{212A}", Accept(0)),
        ("$.abcdefghijklmnk", "abcdefghijklmn\u{212A}x", Dead),
    ] {
        let a = build(&[(selector, 0)]);
        assert_eq!(walk(&a, &[N(key)]), expect, "{selector} {key}");
    }
}
#[test]
fn length_masks_admit_every_spelling() {
    let a = build(&[("$.kiss", 0)]);
    let s = a.start();
    for spelled in ["kiss", "KISS", "\u{212A}iss", "\u{212A}ıſſ", "kıss", "KİSS"] {
        assert!(a.name_may_matter(s, spelled.as_bytes()), "{spelled}");
        assert_eq!(
            a.accepting(a.on_name(s, spelled.as_bytes())),
            Some(0),
            "{spelled}"
        );
    }
}

#[test]
fn empty_matches_nothing() {
    let a = Automaton::empty();
    assert!(a.is_dead(a.start()));
    assert_eq!(walk(&a, &[N("x")]), Dead);
    let built = Automaton::build(&[]).expect("builds");
    assert!(built.is_dead(built.start()));
}

#[test]
fn state_count_stays_small_for_typical_policies() {
    let a = build(&[
        ("$.userId", 0),
        ("$.batch[*].userId", 0),
        ("$..email", 1),
        ("$.batch[*].traits.phone", 2),
        ("$.batch[*].context.ip", 3),
        ("$..['$email']", 1),
    ]);
    assert!(a.state_count() < 32, "{} states", a.state_count());
}

#[test]
fn pathological_policies_are_refused_not_exploded() {
    // Each `..` selector with a distinct tail doubles the reachable subsets.
    let mut paths = Vec::new();
    for i in 0..40 {
        let p = parse(&format!("$..a{i}..*..b{i}.c")).expect("parses");
        paths.push((p, i));
    }
    match Automaton::build(&paths) {
        Ok(a) => assert!(a.state_count() <= MAX_STATES),
        Err(e) => assert!(e.to_string().contains("automaton states")),
    }
}

/// Spellings of `name` a client may send that fold to it: each character in either case, and
/// `i`, `s`, `k` sometimes as their non-ASCII aliases.
fn respell(name: &str, picks: &[u8]) -> String {
    name.chars()
        .zip(picks.iter().cycle())
        .map(|(c, &p)| match (c, p % 4) {
            ('i', 3) => 'ı',
            ('i', 2) => 'İ',
            ('s', 3) => 'ſ',
            ('k', 3) => '\u{212A}',
            (c, 1) => c.to_ascii_uppercase(),
            (c, _) => c,
        })
        .collect()
}

const NAME_POOL: &[&str] = &[
    "email",
    "title",
    "total",
    "Email",
    "kiss",
    "sku",
    "id",
    "ip",
    "",
    "$email",
    "_k",
    "9lives",
    "élan",
    "ſtop",
    "İd",
    "\u{212A}ey",
    "émail",
    "price",
    "e",
    "ema",
];

proptest::proptest! {
    /// The length and first-byte filter never rules out a key that leads anywhere but "other
    /// name", in any state, for any spelling: what it skips, a comparison would have skipped.
    #[test]
    fn name_filter_never_rules_out_an_exit(
        picks in proptest::collection::vec(0usize..NAME_POOL.len(), 1..4),
        descendant in proptest::collection::vec(proptest::bool::ANY, 4),
        keys in proptest::collection::vec(
            (0usize..NAME_POOL.len(), proptest::collection::vec(proptest::num::u8::ANY, 1..8)),
            1..24,
        ),
        junk in proptest::collection::vec("[a-zA-Z0-9_$ıİſ\u{212A}é]{0,7}", 0..8),
    ) {
        let selectors: Vec<String> = picks
            .iter()
            .zip(descendant.iter().cycle())
            .map(|(&p, &d)| {
                let name = NAME_POOL[p];
                if d { format!("$..['{name}']") } else { format!("$.a['{name}']") }
            })
            .collect();
        let paths: Vec<_> = selectors
            .iter()
            .enumerate()
            .map(|(r, s)| (parse(s).expect("parses"), r as RuleId))
            .collect();
        let a = Automaton::build(&paths).expect("builds");
        let spellings: Vec<String> = keys
            .iter()
            .map(|(n, p)| respell(NAME_POOL[*n], p))
            .chain(junk)
            .collect();
        for s in 0..a.state_count() as StateId {
            for key in &spellings {
                if !a.name_may_matter(s, key.as_bytes()) {
                    proptest::prop_assert_eq!(
                        a.on_name(s, key.as_bytes()),
                        a.on_other_name(s),
                        "state {} key {:?} selectors {:?}", s, key, selectors
                    );
                }
            }
        }
    }
}
