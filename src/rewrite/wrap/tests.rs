//! Wrapped documents through the config compiler and the one payload entry point: the vendor
//! chains of docs/PRESETS.md, the one-reading rules, and properties of the codings.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use proptest::prelude::*;

use super::*;
use crate::config::{self, Route};
use crate::crypto::OsNonces;
use crate::error::{Ambiguity, WrapFault};
use crate::rewrite::{Format, rewrite_payload};

struct Keyring;

impl config::Env for Keyring {
    fn var(&self, name: &str) -> Option<String> {
        (name == "PIIGATE_KEYRING").then(|| include_str!("../../../keys.example").to_owned())
    }
}

/// A route with these `[[routes.rules]]` tables.
fn route(rules: &str) -> Arc<Route> {
    let text = format!(
        "[[routes]]\nname = \"r\"\npath_prefix = \"/r\"\nupstream = \"http://127.0.0.1:9\"\n{rules}"
    );
    match config::from_toml(&text, "test.toml", std::path::Path::new("."), &Keyring) {
        Ok(mut l) => l.config.routes.remove(0),
        Err(d) => panic!("config does not load:\n{d}"),
    }
}

/// The diagnostics a route with these rules is refused with.
fn refused(rules: &str) -> String {
    let text = format!(
        "[[routes]]\nname = \"r\"\npath_prefix = \"/r\"\nupstream = \"http://127.0.0.1:9\"\n{rules}"
    );
    match config::from_toml(&text, "test.toml", std::path::Path::new("."), &Keyring) {
        Ok(_) => panic!("config loads:\n{rules}"),
        Err(d) => d.to_string(),
    }
}

fn redact(select: &str) -> String {
    format!("[[routes.rules]]\nselect = {select:?}\naction = \"redact\"\nreplacement = \"R\"\n")
}

const LIMITS: Limits = Limits { max_depth: 64 };

/// The payload as the route forwards it (the input itself when unchanged).
fn police(route: &Route, format: Format, input: &str) -> Result<String, RewriteError> {
    let mut nonces = OsNonces::new();
    let mut cx = ApplyCx::new(&mut nonces);
    let mut out = Vec::new();
    match rewrite_payload(
        format,
        input.as_bytes(),
        route.plans(),
        &LIMITS,
        &mut cx,
        &mut out,
    )? {
        Outcome::Unchanged => {
            assert!(out.is_empty());
            Ok(input.to_owned())
        }
        Outcome::Rewritten => Ok(String::from_utf8(out).expect("UTF-8 out")),
    }
}

fn form_value<'a>(form: &'a str, name: &str) -> &'a str {
    form.split('&')
        .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {name} in {form}"))
}

fn percent_decode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("hex"));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).expect("utf8")
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._*".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

const EVENTS: &str = r#"[{"event":"$identify","properties":{"$current_url":"https://shop.example/x?email=ottilie%40example.org&utm=nl","email":"ottilie@example.org","token":"t"}},{"event":"Order","properties":{"email":"ottilie@example.org","plan":"pro"}}]"#;

#[test]
fn mixpanel_browser_form_data_is_base64_json_reencoded_as_it_came() {
    let r = route(&redact("form:data=>base64=>$[*].properties.email"));
    let input = format!(
        "data={}&verbose=1",
        percent_encode(&STANDARD.encode(EVENTS))
    );
    let out = police(&r, Format::Form, &input).expect("policed");
    assert!(out.ends_with("&verbose=1"), "{out}");
    let b64 = percent_decode(form_value(&out, "data"));
    assert!(
        b64.ends_with('=') || b64.len().is_multiple_of(4),
        "still padded: {b64}"
    );
    let json = String::from_utf8(STANDARD.decode(&b64).expect("standard base64")).expect("utf8");
    // Byte for byte the same document apart from the two emails.
    assert_eq!(
        json,
        EVENTS.replace(r#""email":"ottilie@example.org""#, r#""email":"R""#)
    );
}

/// A chain ending on `base64`: the decoded text is the value a `scrub` treats, re-encoded in
/// the alphabet and with the padding it came with; a text with nothing to replace stays byte
/// for byte; bytes that are not UTF-8 text are refused.
#[test]
fn base64_text_is_the_value_its_rule_treats() {
    let r = route(
        "[[routes.rules]]\nselect = \"$.attachments[*].content=>base64\"\naction = \"scrub\"\n\
         [[routes.rules]]\nselect = \"$.u=>base64url\"\naction = \"scrub\"\n",
    );
    // A length that needs padding, so an unpadded value says it has none.
    let csv = "id,email\n1,kai@example.org\n2,ORD-2024-000123 \n";
    assert!(!csv.len().is_multiple_of(3));
    let doc = |a: &str, u: &str| {
        format!(r#"{{"attachments":[{{"content":"{a}","type":"text/csv"}}],"u":"{u}"}}"#)
    };
    for (a, u) in [
        (STANDARD.encode(csv), URL_SAFE_NO_PAD.encode(csv)),
        (STANDARD_NO_PAD.encode(csv), URL_SAFE.encode(csv)),
    ] {
        let out = police(&r, Format::Json, &doc(&a, &u)).expect("policed");
        let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        let (a2, u2) = (
            v["attachments"][0]["content"].as_str().expect("content"),
            v["u"].as_str().expect("u"),
        );
        assert_eq!(a2.ends_with('='), a.ends_with('='), "{a2}");
        assert_eq!(u2.ends_with('='), u.ends_with('='), "{u2}");
        let a_engine = if a.ends_with('=') {
            STANDARD
        } else {
            STANDARD_NO_PAD
        };
        let u_engine = if u.ends_with('=') {
            URL_SAFE
        } else {
            URL_SAFE_NO_PAD
        };
        for text in [
            a_engine.decode(a2).expect("base64"),
            u_engine.decode(u2).expect("base64url"),
        ] {
            let text = String::from_utf8(text).expect("UTF-8");
            assert!(!text.contains("kai@example.org"), "{text}");
            assert!(
                text.starts_with("id,email\n1,") && text.ends_with("\n2,ORD-2024-000123 \n"),
                "{text}"
            );
        }
    }
    let clean = doc(
        &STANDARD.encode("id\n2\n"),
        &URL_SAFE_NO_PAD.encode("no one"),
    );
    assert_eq!(police(&r, Format::Json, &clean).expect("ok"), clean);
    let binary = doc(&STANDARD.encode(b"%PDF-1.4\n\xe2\xe3\xcf\xd3"), "");
    assert!(matches!(
        police(&r, Format::Json, &binary),
        Err(RewriteError::Wrapped(WrapFault::NotUtf8))
    ));
}

#[test]
fn unchanged_wrapped_values_are_forwarded_byte_for_byte() {
    let r = route(&redact("form:data=>base64=>$[*].properties.phone"));
    // Lower-case escapes and no padding evidence: kept exactly.
    let input = format!("data={}&x=%7e", STANDARD.encode(EVENTS).replace('+', "%2b"));
    assert_eq!(police(&r, Format::Form, &input).expect("ok"), input);
}

#[test]
fn base64_or_json_reads_both_of_mixpanels_spellings() {
    let r = route(&redact("form:data=>base64?=>$..email"));
    let plain = format!(
        "data={}",
        percent_encode(r#"{"properties":{"email":"e@x.org"}}"#)
    );
    let out = police(&r, Format::Form, &plain).expect("JSON text");
    assert_eq!(
        percent_decode(form_value(&out, "data")),
        r#"{"properties":{"email":"R"}}"#
    );
    let wrapped = format!(
        "data={}",
        percent_encode(&STANDARD.encode(r#"{"email":"e@x.org"}"#))
    );
    let out = police(&r, Format::Form, &wrapped).expect("base64 JSON");
    let b64 = percent_decode(form_value(&out, "data"));
    assert_eq!(STANDARD.decode(b64).expect("b64"), br#"{"email":"R"}"#);
}

#[test]
fn snowplow_cx_is_base64url_without_padding_and_stays_so() {
    let r = route(&redact("query:cx=>base64url=>$.data[*].data.email"));
    let doc = r#"{"schema":"iglu:x","data":[{"schema":"iglu:y","data":{"email":"ottilie@example.org","id":"u?~>!"}}]}"#;
    let cx = URL_SAFE_NO_PAD.encode(doc);
    assert!(
        !cx.len().is_multiple_of(4),
        "the fixture needs padding to be stripped"
    );
    let out = police(&r, Format::Query, &format!("e=ue&cx={cx}&tv=js")).expect("policed");
    let got = form_value(&out, "cx");
    assert!(!got.contains('=') && !got.contains('%'), "{got}");
    let json = URL_SAFE_NO_PAD.decode(got).expect("url-safe, unpadded");
    assert_eq!(json, doc.replace("ottilie@example.org", "R").as_bytes());
    assert!(out.starts_with("e=ue&cx=") && out.ends_with("&tv=js"));
}

#[test]
fn padding_follows_the_value_or_the_alphabets_convention() {
    // (alphabet, document, how it is written) → how the rewritten document must be written.
    // `{"e":"R","f":12}` is 16 bytes: it needs `==` when padded.
    let new = r#"{"e":"R","f":12}"#;
    let cases = [
        // The value was padded: stays padded.
        (false, r#"{"e":"abcd","f":12}"#, STANDARD, STANDARD),
        (true, r#"{"e":"abcd","f":12}"#, URL_SAFE, URL_SAFE),
        // Unpadded: stays unpadded, in either alphabet.
        (
            false,
            r#"{"e":"abcd","f":12}"#,
            STANDARD_NO_PAD,
            STANDARD_NO_PAD,
        ),
        (
            true,
            r#"{"e":"abcd","f":12}"#,
            URL_SAFE_NO_PAD,
            URL_SAFE_NO_PAD,
        ),
        // A length that needs no padding says nothing: the alphabet's convention.
        (false, r#"{"e":"abc","f":12}"#, STANDARD_NO_PAD, STANDARD),
        (true, r#"{"e":"abc","f":12}"#, URL_SAFE, URL_SAFE_NO_PAD),
    ];
    for (url_safe, doc, written, want) in cases {
        let r = route(&redact(&format!("query:d=>{}=>$.e", alphabet(url_safe))));
        let value = written.encode(doc);
        let out = police(&r, Format::Query, &format!("d={}", percent_encode(&value))).expect("ok");
        assert_eq!(
            percent_decode(form_value(&out, "d")),
            want.encode(new),
            "{doc} as {value}"
        );
    }
}

#[test]
fn urls_keep_everything_but_the_policed_parameters() {
    let r = route(&redact("$.context.page.url=>url=>query:email"));
    let doc = r#"{"context":{"page":{"url":"https:\/\/shop.example\/x?utm=a&email=o%40e.org&EMAIL=x#frag?email=y"}}}"#;
    let out = police(&r, Format::Json, doc).expect("policed");
    assert_eq!(
        out,
        r#"{"context":{"page":{"url":"https:\/\/shop.example\/x?utm=a&email=R&EMAIL=R#frag?email=y"}}}"#
    );
    // No query, or nothing selected in it: untouched.
    for unchanged in [
        r#"{"context":{"page":{"url":"https://shop.example/x"}}}"#,
        r#"{"context":{"page":{"url":"https://shop.example/x?utm=a#email=b"}}}"#,
        r#"{"context":{"page":{"url":""}}}"#,
    ] {
        assert_eq!(police(&r, Format::Json, unchanged).expect("ok"), unchanged);
    }
}

#[test]
fn a_query_string_value_may_start_with_a_question_mark() {
    let r = route(&redact("$.context.page.search=>query:uid"));
    let out = police(
        &r,
        Format::Json,
        r#"{"context":{"page":{"search":"?email=a&uid=u-1"}}}"#,
    )
    .expect("policed");
    assert_eq!(out, r#"{"context":{"page":{"search":"?email=a&uid=R"}}}"#);
}

#[test]
fn ga_dl_is_a_url_inside_a_query_parameter() {
    let r = route(&redact("query:dl=>url=>query:email"));
    let q = "v=2&dl=https%3A%2F%2Fshop.example%2Fcheckout%3Femail%3Dottilie%2540example.org%26uid%3Du1&en=x";
    let out = police(&r, Format::Query, q).expect("policed");
    assert_eq!(
        out,
        "v=2&dl=https%3A%2F%2Fshop.example%2Fcheckout%3Femail%3DR%26uid%3Du1&en=x"
    );
}

#[test]
fn snowplow_post_contexts_are_json_text_inside_a_json_string() {
    let r = route(&redact("$.data[*].co=>$.data[*].data.email"));
    let doc = r#"{"data":[{"e":"pv","co":"{\"schema\":\"c\",\"data\":[{\"schema\":\"u\",\"data\":{\"email\":\"o@e.org\",\"id\":7}}]}"}]}"#;
    let out = police(&r, Format::Json, doc).expect("policed");
    assert_eq!(out, doc.replace(r#"\"o@e.org\""#, r#"\"R\""#));
}

#[test]
fn chains_of_chains() {
    // Snowplow GET with `cx` holding a URL whose query names the person.
    let r = route(&redact(
        "query:cx=>base64url=>$.data[*].data.url=>url=>query:email",
    ));
    let doc = r#"{"data":[{"data":{"url":"https://a.example/?email=o%40e.org&x=1"}}]}"#;
    let out = police(
        &r,
        Format::Query,
        &format!("cx={}", URL_SAFE_NO_PAD.encode(doc)),
    )
    .expect("ok");
    let json = URL_SAFE_NO_PAD.decode(form_value(&out, "cx")).expect("b64");
    assert_eq!(
        std::str::from_utf8(&json).expect("utf8"),
        doc.replace("o%40e.org", "R")
    );
}

#[test]
fn chains_reaching_one_value_share_one_reading() {
    let r = route(&(redact("$.page.url=>url=>query:email") + &redact("$..url=>url=>query:uid")));
    let out = police(
        &r,
        Format::Json,
        r#"{"page":{"url":"/?email=a&uid=b&c=d"},"x":{"url":"?uid=e&email=f"}}"#,
    )
    .expect("policed");
    // Both chains police `$.page.url`; only the `..` chain reaches `$.x.url`.
    assert_eq!(
        out,
        r#"{"page":{"url":"/?email=R&uid=R&c=d"},"x":{"url":"?uid=R&email=f"}}"#
    );
    let d = refused(&(redact("$.page.url=>url=>query:email") + &redact("$..url=>base64=>$.x")));
    assert!(d.contains("reads a value as base64 then JSON that"), "{d}");
    let d = refused(&(redact("form:d=>base64=>$.a") + &redact("form:d=>$.b")));
    assert!(d.contains("error[bad_selector]"), "{d}");
}

#[test]
fn an_action_on_the_value_covers_what_is_inside_it() {
    let rules = redact("$.page.url=>url=>query:email")
        + "[[routes.rules]]\nselect = \"$.page\"\naction = \"drop\"\n";
    let r = route(&rules);
    assert_eq!(
        police(&r, Format::Json, r#"{"page":{"url":"?email=a"},"n":1}"#).expect("ok"),
        r#"{"n":1}"#
    );
}

#[test]
fn headers_and_json_in_forms_compile_to_wraps() {
    let r = route(&(redact("header:referer=>url=>query:email") + &redact("form:data=>$..email")));
    let header = r.fields.header.find_header("Referer").expect("header rule");
    assert!(
        matches!(&header.target, crate::policy::FieldTarget::Wrapped(w) if matches!(w.inner, Inner::Url(_)))
    );
    let out = police(&r, Format::Form, "data=%7B%22email%22%3A%22a%40b%22%7D").expect("ok");
    assert_eq!(out, "data=%7B%22email%22%3A%22R%22%7D");
}

/// (rules, format, payload, the refusal).
fn refusals() -> Vec<(String, Format, String, RewriteError)> {
    let b64 = redact("query:d=>base64=>$.e");
    let url = redact("$.u=>url=>query:e");
    let amb = RewriteError::Ambiguous;
    let bad = RewriteError::Wrapped;
    vec![
        (
            b64.clone(),
            Format::Query,
            "d=e30*".into(),
            bad(WrapFault::Base64),
        ),
        (
            b64.clone(),
            Format::Query,
            "d=e30%3D%3D%3D".into(),
            bad(WrapFault::Base64),
        ),
        (
            b64.clone(),
            Format::Query,
            "d=e3%3D0".into(),
            bad(WrapFault::Base64),
        ),
        (
            b64.clone(),
            Format::Query,
            "d=e30%3D%3D".into(),
            bad(WrapFault::Base64),
        ),
        (
            b64.clone(),
            Format::Query,
            "d=e".into(),
            bad(WrapFault::Base64),
        ),
        (
            b64.clone(),
            Format::Query,
            "d=e3_9".into(),
            amb(Ambiguity::WrappedBase64Alphabet),
        ),
        (
            redact("query:d=>base64url=>$.e"),
            Format::Query,
            "d=e3%2B9".into(),
            amb(Ambiguity::WrappedBase64Alphabet),
        ),
        (
            b64.clone(),
            Format::Query,
            "d=e30+".into(),
            amb(Ambiguity::WrappedBase64Whitespace),
        ),
        (
            b64.clone(),
            Format::Query,
            "d=e3%0A0".into(),
            amb(Ambiguity::WrappedBase64Whitespace),
        ),
        (
            b64.clone(),
            Format::Query,
            format!("d={}", STANDARD.encode([0xff, 0xfe, 0x7b])),
            bad(WrapFault::NotUtf8),
        ),
        (
            b64.clone(),
            Format::Query,
            format!("d={}", STANDARD.encode("{\"e\":")),
            bad(WrapFault::NotJson),
        ),
        (
            b64.clone(),
            Format::Query,
            format!("d={}", STANDARD.encode("\u{feff}{}")),
            bad(WrapFault::NotJson),
        ),
        (b64, Format::Query, "d=".into(), bad(WrapFault::NotJson)),
        (
            url.clone(),
            Format::Json,
            r#"{"u":"https://a/?e=1\n"}"#.into(),
            bad(WrapFault::Url),
        ),
        (
            url.clone(),
            Format::Json,
            r#"{"u":" https://a/?e=1"}"#.into(),
            bad(WrapFault::Url),
        ),
        (
            url.clone(),
            Format::Json,
            r#"{"u":"1http://a/?e=1"}"#.into(),
            bad(WrapFault::Url),
        ),
        (
            url.clone(),
            Format::Json,
            r#"{"u":"https%3A%2F%2Fa%2F%3Fe%3D1"}"#.into(),
            amb(Ambiguity::WrappedUrlEncodedQuery),
        ),
        (
            url.clone(),
            Format::Json,
            r#"{"u":"https://a/?x=1;e=2"}"#.into(),
            amb(Ambiguity::FieldSeparator),
        ),
        (
            url.clone(),
            Format::Json,
            r#"{"u":"https://a/?e=%zz"}"#.into(),
            bad(WrapFault::Query),
        ),
        (
            url,
            Format::Json,
            r#"{"u":{"e":1}}"#.into(),
            bad(WrapFault::NotText),
        ),
        (
            redact("$.co=>$.e"),
            Format::Json,
            r#"{"co":"{\"e\":"}"#.into(),
            bad(WrapFault::NotJson),
        ),
    ]
}

#[test]
fn values_that_do_not_decode_one_way_are_refused() {
    for (rules, format, payload, want) in refusals() {
        let r = route(&rules);
        assert_eq!(police(&r, format, &payload), Err(want), "{rules} {payload}");
    }
}

#[test]
fn numbers_and_null_hold_no_document() {
    let r = route(&redact("$.u=>url=>query:e"));
    for doc in [r#"{"u":null}"#, r#"{"u":12}"#, r#"{"u":true}"#] {
        assert_eq!(police(&r, Format::Json, doc).expect("ok"), doc);
    }
}

fn alphabet(url_safe: bool) -> &'static str {
    if url_safe { "base64url" } else { "base64" }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever bytes, whichever alphabet and padding: the value is read back as it was
    /// written, and its padding is recognised.
    #[test]
    fn base64_decoding_inverts_every_encoder(bytes in proptest::collection::vec(any::<u8>(), 0..64), url_safe: bool, padded: bool) {
        let text = encoder(url_safe, padded).encode(&bytes);
        let padding = check_base64(text.as_bytes(), url_safe).expect("accepted");
        let want = match (bytes.len() % 3, padded) {
            (0, _) => Padding::Unknown,
            (_, true) => Padding::Padded,
            (_, false) => Padding::Unpadded,
        };
        prop_assert_eq!(padding, want);
        prop_assert_eq!(decoder(url_safe).decode(&text).expect("decodes"), bytes);
    }

    /// Policing a wrapped document gives exactly the wrapped result of policing the document
    /// itself: the wrapping adds nothing and loses nothing.
    #[test]
    fn rewriting_inside_the_wrapping_equals_wrapping_the_rewrite(
        email in "[a-z]{1,8}@[a-z]{1,8}\\.org",
        other in "[ -~]{0,24}",
        n in 0u32..5,
        url_safe: bool,
        padded: bool,
    ) {
        let doc = serde_json::json!({"events": (0..n).map(|i| serde_json::json!({"email": email, "i": i, "o": other})).collect::<Vec<_>>(), "tail": other}).to_string();
        let plain = route(&redact("query:d=>$.events[*].email"));
        let wrapped = route(&redact(&format!("query:d=>{}=>$.events[*].email", alphabet(url_safe))));
        let mut expect = doc.clone();
        if let Ok(p) = police(&plain, Format::Query, &format!("d={}", percent_encode(&doc))) {
            expect = percent_decode(form_value(&p, "d"));
        }
        let value = encoder(url_safe, padded).encode(&doc);
        let out = police(&wrapped, Format::Query, &format!("d={}", percent_encode(&value))).expect("policed");
        let got_value = percent_decode(form_value(&out, "d"));
        let got = decoder(url_safe).decode(&got_value).expect("still base64 of its alphabet");
        let got = String::from_utf8(got).expect("utf8");
        prop_assert_eq!(got.as_str(), expect.as_str());
        if n == 0 {
            prop_assert_eq!(got_value, value);
        } else if !expect.len().is_multiple_of(3) {
            let pads = if !doc.len().is_multiple_of(3) { padded } else { !url_safe };
            prop_assert_eq!(got_value.ends_with('='), pads);
        }
    }

    /// A URL's query is rewritten exactly as the same query string on its own.
    #[test]
    fn a_urls_query_is_policed_like_a_query_string(
        path in "/[a-z/]{0,12}",
        pairs in proptest::collection::vec(("(email|uid|x|y)", "[a-zA-Z0-9%@.]{0,10}"), 0..5),
        fragment in proptest::option::of("[a-z?=&]{0,8}"),
    ) {
        let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", v.replace('%', "%25"))).collect();
        let query = query.join("&");
        let url = format!("https://a.example{path}?{query}{}", fragment.as_ref().map(|f| format!("#{f}")).unwrap_or_default());
        let in_url = route(&redact("$.u=>url=>query:email"));
        let alone = route(&redact("query:email"));
        let policed_query = police(&alone, Format::Query, &query).expect("query");
        let doc = serde_json::json!({ "u": url }).to_string();
        let out: serde_json::Value = serde_json::from_str(&police(&in_url, Format::Json, &doc).expect("url")).expect("json");
        let want = format!("https://a.example{path}?{policed_query}{}", fragment.map(|f| format!("#{f}")).unwrap_or_default());
        prop_assert_eq!(out["u"].as_str().expect("string"), want);
    }
}

/// The form layer of `[routes.body_coding]` (`form:data=>base64`): its plans, as the proxy
/// uses them for a body whose query names that value.
fn form_layer<'a>(route: &'a Route, value: &str) -> &'a crate::policy::FieldPlans {
    match route.body_coding.as_ref().and_then(|c| c.layer(value)) {
        Some(crate::policy::BodyLayer::Form(doc)) => &doc.plans,
        _ => panic!("no form layer for {value}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A document that comes as base64 in a form field (posthog-js `sendBeacon`) is policed
    /// exactly as the same document sent as a JSON body, by the same `$` rules, and comes
    /// out as base64 again with the padding it had; a second pass changes nothing.
    #[test]
    fn a_body_coded_form_document_is_policed_like_the_json_body(
        email in "[a-z]{1,8}@[a-z]{1,8}\\.org",
        other in "[ -~]{0,24}",
        text in "\\PC{0,12}",
        n in 0u32..4,
        padded: bool,
    ) {
        let r = route(&format!(
            "[routes.body_coding]\nparam = \"compression\"\nvalues = {{ base64 = \"form:data=>base64\" }}\n{}{}",
            redact("$..email"),
            redact("$..props=>$.email"),
        ));
        let inner = serde_json::json!({"email": email, "t": text}).to_string();
        let doc = serde_json::json!({
            "batch": (0..n).map(|i| serde_json::json!({"email": email, "i": i, "o": other, "props": inner})).collect::<Vec<_>>(),
            "api_key": other,
        })
        .to_string();
        let expect = police(&r, Format::Json, &doc).expect("JSON body");
        let value = encoder(false, padded).encode(&doc);
        let form = format!("data={}&ver=1", percent_encode(&value));
        let layer = crate::rewrite::Plans { json: &r.plan, fields: form_layer(&r, "base64") };
        let run = |input: &str| -> String {
            let mut nonces = OsNonces::new();
            let mut cx = ApplyCx::new(&mut nonces);
            let mut out = Vec::new();
            match rewrite_payload(Format::Form, input.as_bytes(), layer, &LIMITS, &mut cx, &mut out).expect("form") {
                Outcome::Unchanged => input.to_owned(),
                Outcome::Rewritten => String::from_utf8(out).expect("UTF-8"),
            }
        };
        let out = run(&form);
        prop_assert!(out.ends_with("&ver=1"));
        let got_value = percent_decode(form_value(&out, "data"));
        let got = String::from_utf8(decoder(false).decode(&got_value).expect("base64")).expect("UTF-8");
        prop_assert_eq!(&got, &expect);
        if !got.len().is_multiple_of(3) && !doc.len().is_multiple_of(3) {
            prop_assert_eq!(got_value.ends_with('='), padded);
        }
        prop_assert_eq!(run(&out), out);
    }
}

/// A query or form pair named like a JSON chain's place (`u` for `$..u=>url=>…`) is read as
/// that chain reads it, as merging frameworks (`$_REQUEST`, Rack `params`) would hand it to
/// the app; found by fuzzing (the chain's accepting id was taken for a rule's).
#[test]
fn a_parameter_named_by_a_json_chain_is_read_through_the_chain() {
    let r = route(&redact("$..u=>url=>query:e"));
    let out = police(&r, Format::Query, "u=h~Opa%2Fsa%3Fe%3Dx&k=1").expect("policed");
    let u = percent_decode(form_value(&out, "u"));
    assert!(u.ends_with("e=R"), "{out}");
    assert!(out.ends_with("&k=1"), "{out}");
}

/// The userinfo of a URL a chain selects is read by the route's detector like its path: an
/// address as the user name, percent-encoded or written with its `@` before the authority's
/// last `@`, or twice percent-encoded, is replaced; the host, path and query stay, and a user
/// name that is not personal data is forwarded as it came. A password is a password whatever
/// it looks like: it never leaves as it came.
#[test]
fn an_address_as_the_user_name_of_a_selected_url_is_policed_and_the_host_stays() {
    let r = route(&format!(
        "detect = \"enforce\"\n{}",
        redact("$.u=>url=>query:email")
    ));
    for url in [
        "https://kai%40example.org:pw@host.example/p?x=1",
        "https://deploy:kai%40example.org@host.example/p?x=1",
        "https://kai@example.org@host.example/p?x=1",
        "https://kai%2540example.org@host.example/p?x=1",
    ] {
        let doc = format!(r#"{{"u":"{url}"}}"#);
        let got = police(&r, Format::Json, &doc).expect("policed");
        let v: serde_json::Value = serde_json::from_str(&got).expect("JSON");
        let u = url::Url::parse(v["u"].as_str().expect("a URL")).expect("it parses");
        assert_eq!(u.host_str(), Some("host.example"), "{url} -> {u}");
        assert_eq!((u.path(), u.query()), ("/p", Some("x=1")), "{url} -> {u}");
        let user = percent_decode(&percent_decode(u.username()));
        let password = percent_decode(&percent_decode(u.password().unwrap_or_default()));
        assert!(!user.contains("kai@example.org"), "{url} -> {u}");
        assert!(!password.contains("kai@example.org"), "{url} -> {u}");
    }
    let plain = r#"{"u":"https://deploy@host.example/p?x=1"}"#;
    assert_eq!(police(&r, Format::Json, plain).expect("policed"), plain);
    let got = police(
        &r,
        Format::Json,
        r#"{"u":"https://deploy:pw@host.example/p?x=1"}"#,
    )
    .expect("policed");
    let v: serde_json::Value = serde_json::from_str(&got).expect("JSON");
    let u = url::Url::parse(v["u"].as_str().expect("a URL")).expect("it parses");
    assert_eq!(
        (u.username(), u.password(), u.host_str(), u.path()),
        (
            "deploy",
            Some("%5BREDACTED%3Apassword%5D"),
            Some("host.example"),
            "/p"
        )
    );
}
