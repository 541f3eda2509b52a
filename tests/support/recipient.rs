//! What a recipient can read out of a request: every text it would decode, however deeply a
//! value is wrapped (gzip, percent-encoding, JSON strings, base64 in either alphabet), and the
//! recorded SDK requests of `tests/data/sdk/` to replay.

use std::io::Read;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};

use super::Recorded;

/// One request as an SDK sent it (`tests/data/sdk/*/*.jsonl`).
#[derive(Debug, Clone)]
pub struct SdkRequest {
    pub method: http::Method,
    /// Path and query as sent.
    pub target: String,
    /// Headers as sent, minus those the client library sets itself (Host, Content-Length,
    /// Connection).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The recorded requests of one client.
pub fn sdk_requests(file: &str) -> Vec<SdkRequest> {
    let text = std::fs::read_to_string(super::repo(&format!("tests/data/sdk/{file}")))
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("fixture line is JSON");
            let path = v["path"].as_str().expect("path");
            let target = match v["query"].as_str() {
                Some(q) => format!("{path}?{q}"),
                None => path.to_owned(),
            };
            let headers = v["headers"]
                .as_array()
                .expect("headers")
                .iter()
                .filter_map(|h| {
                    let name = h[0].as_str()?;
                    let skip = ["host", "content-length", "connection", "transfer-encoding"];
                    (!skip.contains(&name.to_ascii_lowercase().as_str())).then(|| {
                        (
                            name.to_owned(),
                            h[1].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                })
                .collect();
            let body = base64::engine::general_purpose::STANDARD
                .decode(v["body_b64"].as_str().unwrap_or_default())
                .expect("body_b64");
            SdkRequest {
                method: v["method"]
                    .as_str()
                    .expect("method")
                    .parse()
                    .expect("method"),
                target,
                headers,
                body,
            }
        })
        .collect()
}

/// The test person's values, as `scripts/sdk/person.json` lists them under `find`.
pub fn person_values() -> Vec<String> {
    let text = std::fs::read_to_string(super::repo("scripts/sdk/person.json")).expect("person");
    let v: serde_json::Value = serde_json::from_str(&text).expect("person is JSON");
    v["find"]
        .as_object()
        .expect("find")
        .values()
        .flat_map(|list| list.as_array().cloned().unwrap_or_default())
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

/// Every text a recipient could decode out of `bytes`: the bytes themselves, and recursively
/// what gzip, percent-decoding, HTML character references, JSON strings and base64 runs
/// (either alphabet) decode to.
pub fn views(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    expand(bytes, 0, &mut out);
    out
}

fn expand(bytes: &[u8], depth: usize, out: &mut Vec<String>) {
    if depth > 8 || bytes.is_empty() {
        return;
    }
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut plain = Vec::new();
        if flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut plain)
            .is_ok()
        {
            expand(&plain, depth + 1, out);
        }
        return;
    }
    let text = String::from_utf8_lossy(bytes).into_owned();
    if out.contains(&text) {
        return;
    }
    out.push(text.clone());
    if text.contains('%') || text.contains('+') {
        let decoded = percent_decode(&text);
        if decoded != text.as_bytes() {
            expand(&decoded, depth + 1, out);
        }
    }
    if text.contains('&') {
        let decoded = html_unescape(&text);
        if decoded != text {
            expand(decoded.as_bytes(), depth + 1, out);
        }
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        let mut strings = Vec::new();
        json_strings(&v, &mut strings);
        for s in strings {
            expand(s.as_bytes(), depth + 1, out);
        }
    }
    for run in base64_runs(&text) {
        for engine in [&STD, &URL] {
            if let Ok(plain) = engine.decode(run.trim_end_matches('='))
                && (std::str::from_utf8(&plain).is_ok() || plain.starts_with(&[0x1f, 0x8b]))
            {
                expand(&plain, depth + 1, out);
            }
        }
    }
}

fn json_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| json_strings(x, out)),
        serde_json::Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.push(k.clone());
            json_strings(x, out);
        }),
        _ => {}
    }
}

fn base64_runs(text: &str) -> Vec<&str> {
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_' | '=');
    text.split(|c: char| !is_b64(c))
        .filter(|r| r.len() >= 12)
        .collect()
}

/// What a browser shows for HTML character references: decimal and hex references and the
/// named ones mail templates and SDKs write; anything else stays as written.
pub fn html_unescape(text: &str) -> String {
    const NAMED: &[(&str, char)] = &[
        ("amp", '&'),
        ("lt", '<'),
        ("gt", '>'),
        ("quot", '"'),
        ("apos", '\''),
        ("nbsp", '\u{a0}'),
        ("commat", '@'),
        ("period", '.'),
        ("ensp", '\u{2002}'),
        ("emsp", '\u{2003}'),
        ("thinsp", '\u{2009}'),
    ];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest[1..].split_once(';').and_then(|(name, _)| {
            let c = if let Some(num) = name.strip_prefix('#') {
                match num.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => num.parse().ok(),
                }
                .and_then(char::from_u32)
            } else {
                NAMED.iter().find(|(n, _)| *n == name).map(|&(_, c)| c)
            }?;
            Some((c, name.len() + 2))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Form-style percent-decoding (`+` is a space); invalid escapes stay as they are.
pub fn percent_decode(text: &str) -> Vec<u8> {
    let hex = |c: u8| char::from(c).to_digit(16);
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (
            b[i],
            b.get(i + 1).and_then(|&c| hex(c)),
            b.get(i + 2).and_then(|&c| hex(c)),
        ) {
            (b'+', _, _) => out.push(b' '),
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 2;
            }
            (c, _, _) => out.push(c),
        }
        i += 1;
    }
    out
}

/// Every view of what the upstream received: target, each header, body.
pub fn request_views(r: &Recorded) -> Vec<String> {
    let mut all = views(r.uri.as_bytes());
    for (name, value) in &r.headers {
        all.push(name.as_str().to_owned());
        all.extend(views(value.as_bytes()));
    }
    all.extend(views(&r.body));
    all
}

/// Panics naming the value and where it was found if any of `values` appears, ignoring case,
/// in any view of what the upstream received.
pub fn assert_none_in_clear(label: &str, r: &Recorded, values: &[String]) {
    for view in request_views(r) {
        let lower = view.to_lowercase();
        for v in values {
            if lower.contains(&v.to_lowercase()) {
                panic!("{label}: {v:?} reached the upstream in clear in: {view}");
            }
        }
    }
}
