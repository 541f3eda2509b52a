//! Credentials: JSON Web Tokens and vendor API keys.
//!
//! Both are recognised by shape, not entropy: a JWT is three base64url segments whose first
//! decodes to a JSON object with an `alg` member (RFC 7515 §4.1.1); an API key starts with a
//! prefix its vendor documents for exactly this kind of scanning (`sk_live_`, `AKIA`, `ghp_`,
//! `xoxb-`, `AIza`, …) followed by a body of the documented alphabet and length. Entropy
//! scoring would flag every UUID, hash and piigate token in a payload.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Longest JWT header we decode, in base64url characters; real headers are under 200.
const MAX_HEADER: usize = 512;

/// Whether `s` is one JWS compact serialisation (`header.payload.signature`).
pub(crate) fn is_jwt(s: &[u8]) -> bool {
    // `{"` encodes to `eyJ`; every JSON header starts that way unless it has leading spaces.
    if !s.starts_with(b"eyJ") || s.len() < 20 {
        return false;
    }
    let mut segs = s.split(|&b| b == b'.');
    let (Some(h), Some(p), Some(sig), None) = (segs.next(), segs.next(), segs.next(), segs.next())
    else {
        return false;
    };
    // The signature is empty only for `alg: none`, which still carries claims.
    if h.is_empty()
        || p.is_empty()
        || h.len() > MAX_HEADER
        || ![h, p, sig].iter().all(|x| b64url(x))
    {
        return false;
    }
    let mut buf = [0u8; MAX_HEADER * 3 / 4 + 3];
    let Ok(n) = URL_SAFE_NO_PAD.decode_slice(h, &mut buf) else {
        return false;
    };
    let header = trim(&buf[..n]);
    header.first() == Some(&b'{')
        && header.last() == Some(&b'}')
        && memchr::memmem::find(header, b"\"alg\"").is_some()
}

fn b64url(s: &[u8]) -> bool {
    s.iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &s[start..end]
}

/// The alphabet of a key body.
#[derive(Clone, Copy)]
enum Body {
    /// `[A-Za-z0-9]`
    Alnum,
    /// `[A-Z0-9]`
    UpperAlnum,
    /// `[A-Za-z0-9_-]`
    Url,
    /// `[A-Za-z0-9-]`
    AlnumDash,
    /// `[a-f0-9]`
    Hex,
}

/// `(prefix, body alphabet, min body length, max body length)`: prefixes vendors document.
const KEYS: &[(&[u8], Body, usize, usize)] = &[
    // Stripe secret and restricted keys, webhook signing secrets.
    (b"sk_live_", Body::Alnum, 16, 247),
    (b"sk_test_", Body::Alnum, 16, 247),
    (b"rk_live_", Body::Alnum, 16, 247),
    (b"rk_test_", Body::Alnum, 16, 247),
    (b"whsec_", Body::Alnum, 24, 64),
    // AWS access key ids (long-term and temporary).
    (b"AKIA", Body::UpperAlnum, 16, 16),
    (b"ASIA", Body::UpperAlnum, 16, 16),
    // GitHub tokens.
    (b"ghp_", Body::Alnum, 36, 36),
    (b"gho_", Body::Alnum, 36, 36),
    (b"ghu_", Body::Alnum, 36, 36),
    (b"ghs_", Body::Alnum, 36, 36),
    (b"ghr_", Body::Alnum, 36, 36),
    (b"github_pat_", Body::Url, 70, 100),
    // GitLab personal access tokens.
    (b"glpat-", Body::Url, 20, 20),
    // Slack bot, user, app-level, refresh and config tokens.
    (b"xoxb-", Body::AlnumDash, 20, 255),
    (b"xoxp-", Body::AlnumDash, 20, 255),
    (b"xoxa-", Body::AlnumDash, 20, 255),
    (b"xoxr-", Body::AlnumDash, 20, 255),
    (b"xoxe-", Body::AlnumDash, 20, 255),
    (b"xapp-", Body::AlnumDash, 20, 255),
    // Google API keys.
    (b"AIza", Body::Url, 35, 35),
    // npm, PyPI, OpenAI, Anthropic, Shopify, Mailgun.
    (b"npm_", Body::Alnum, 36, 36),
    (b"pypi-", Body::Url, 50, 250),
    (b"sk-proj-", Body::Url, 40, 200),
    (b"sk-ant-", Body::Url, 40, 200),
    (b"shpat_", Body::Hex, 32, 32),
    (b"shpss_", Body::Hex, 32, 32),
    (b"key-", Body::Hex, 32, 32),
];

/// Whether `s` is one API key of a documented vendor shape.
pub(crate) fn is_api_key(s: &[u8]) -> bool {
    if s.len() < 20 {
        return false;
    }
    if is_sendgrid(s) {
        return true;
    }
    KEYS.iter().any(|&(prefix, body, min, max)| {
        s.starts_with(prefix) && {
            let b = &s[prefix.len()..];
            (min..=max).contains(&b.len()) && b.iter().all(|&c| in_body(body, c))
        }
    })
}

/// SendGrid: `SG.` + 22 + `.` + 43, base64url alphabet.
fn is_sendgrid(s: &[u8]) -> bool {
    s.len() == 69
        && s.starts_with(b"SG.")
        && s[25] == b'.'
        && s[3..25]
            .iter()
            .chain(&s[26..])
            .all(|&c| in_body(Body::Url, c))
}

fn in_body(body: Body, c: u8) -> bool {
    match body {
        Body::Alnum => c.is_ascii_alphanumeric(),
        Body::UpperAlnum => c.is_ascii_uppercase() || c.is_ascii_digit(),
        Body::Url => c.is_ascii_alphanumeric() || c == b'_' || c == b'-',
        Body::AlnumDash => c.is_ascii_alphanumeric() || c == b'-',
        Body::Hex => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &[(&str, bool)] = &[
        // jwt.io's HS256 example.
        (
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
            true,
        ),
        // `alg: none` with an empty signature.
        ("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", true),
        // Header decodes to JSON without `alg` ({"typ":"JWT"}).
        ("eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ4In0.c2ln", false),
        // Two segments, four segments, bad alphabet.
        ("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0", false),
        ("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.a.b", false),
        ("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.a+b/", false),
        // Looks like base64 but does not decode to an object.
        ("eyJhbGciOiJub25l.eyJzdWIiOiJ4In0.abc", false),
        // A piigate envelope.
        ("pge1.AAECAwQFBgcICQoLDA0ODxAREhMUFRYX.abc", false),
    ];

    const KEY: &[(&str, bool)] = &[
        ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", true),
        ("AKIAIOSFODNN7EXAMPLE", true),
        ("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", true),
        ("xoxb-2637282-29371882-abcdEFGHijklMNOP", true),
        ("AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe", true),
        ("glpat-abcdefghij0123456789", true),
        (
            "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",
            true,
        ),
        // Prefix with the wrong body length or alphabet.
        ("AKIAIOSFODNN7EXAMPL", false),
        ("AKIAiosfodnn7example", false),
        ("ghp_short", false),
        ("sk_live_", false),
        // Publishable keys are public by design.
        ("pk_live_4eC39HqLyjWDarjtT1zdp7dc", false),
        // piigate tokens and common ids.
        ("tok_k1_aGVsbG8gd29ybGQgaGVsbG8", false),
        ("550e8400-e29b-41d4-a716-446655440000", false),
    ];

    #[test]
    fn tables() {
        for &(s, want) in JWT {
            assert_eq!(is_jwt(s.as_bytes()), want, "{s}");
        }
        for &(s, want) in KEY {
            assert_eq!(is_api_key(s.as_bytes()), want, "{s}");
        }
    }
}
