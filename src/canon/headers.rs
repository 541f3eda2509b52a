//! Header names and the request's authority, reduced to one reading.
//!
//! CGI, WSGI, Rack and PHP hand headers to applications as `HTTP_*` variables: `X-User-Id`
//! and `X_User_Id` both become `HTTP_X_USER_ID`, and which one wins when both arrive depends
//! on the server. A `header:` rule therefore covers both spellings (see
//! [`fold_header_name`]), and on a policed route a `_` spelling that collides with a header
//! that is present with `-`, or with a header the gateway itself reads (`Content-Type`,
//! `Host`, …), is refused: the gateway would act on one and the recipient on the other.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Uri};

use crate::error::{Ambiguity, RejectCode};

/// Headers whose meaning the gateway acts on; a `_` spelling of one is refused on a policed
/// route.
const READ_BY_GATEWAY: [&str; 11] = [
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "host",
    "cookie",
    "sec-gpc",
    "dnt",
    "expect",
    "connection",
    "te",
];

/// The name servers fold a header name to, compared as `-`: ASCII case and `_`/`-` ignored.
pub fn header_names_equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .all(|(x, y)| fold_header_byte(x) == fold_header_byte(y))
}

/// One byte of a header name as CGI-style servers read it (`_` as `-`, lower case).
pub const fn fold_header_byte(b: u8) -> u8 {
    match b {
        b'_' => b'-',
        _ => b.to_ascii_lowercase(),
    }
}

/// `name` with `_` read as `-` (header names are lower case already).
pub(crate) fn fold_header_name(name: &str) -> std::borrow::Cow<'_, str> {
    if name.contains('_') {
        std::borrow::Cow::Owned(name.replace('_', "-"))
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// Refuses `_` spellings that collide with another header of the request or with a header
/// the gateway reads. Allocates only when some name contains `_`.
///
/// # Errors
/// [`Ambiguity::HeaderSpelling`].
pub fn check_spellings(headers: &HeaderMap) -> Result<(), RejectCode> {
    let refuse = Err(RejectCode::AmbiguousRequest(Ambiguity::HeaderSpelling));
    let mut folded: Vec<(String, &HeaderName)> = Vec::new();
    for name in headers.keys() {
        if !name.as_str().contains('_') {
            continue;
        }
        let f = fold_header_name(name.as_str()).into_owned();
        if READ_BY_GATEWAY.contains(&f.as_str()) || headers.contains_key(f.as_str()) {
            return refuse;
        }
        if folded.iter().any(|(g, n)| *g == f && *n != name) {
            return refuse;
        }
        folded.push((f, name));
    }
    Ok(())
}

/// RFC 9113 §8.2.3: HTTP/2 may split `Cookie` into crumbs, which must be joined with `; `
/// before the request travels on as HTTP/1.1; servers that read one `Cookie` line would
/// see only the first. HTTP/1.1 clients that send several lines get the same treatment.
pub fn join_cookies(headers: &mut HeaderMap) {
    let mut all = headers.get_all(header::COOKIE).iter();
    if all.next().is_none() || all.next().is_none() {
        return;
    }
    let mut joined = Vec::new();
    for v in headers.get_all(header::COOKIE) {
        if !joined.is_empty() {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(v.as_bytes());
    }
    if let Ok(v) = HeaderValue::from_bytes(&joined) {
        headers.insert(header::COOKIE, v);
    }
}

/// The origin of an absolute `http(s)` URL, serialised as browsers serialise origins:
/// `scheme://host[:port]` (lower-case host, userinfo never kept, default port omitted). `None`
/// for anything else (a relative reference, another scheme, a URL that does not parse).
///
/// `Referer` carries the page's full URL (its path and query often hold an email, a reset
/// token, an order number) and `Origin` should carry only an origin; a route forwards either
/// reduced to this unless a `header:` rule names it (README, "First-party proxy hygiene").
pub(crate) fn origin_of(value: &[u8]) -> Option<String> {
    let uri = Uri::try_from(value).ok()?;
    let scheme = match uri.scheme_str()? {
        s if s.eq_ignore_ascii_case("https") => "https",
        s if s.eq_ignore_ascii_case("http") => "http",
        _ => return None,
    };
    let authority = uri.authority()?;
    let host = authority.host();
    if host.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(scheme.len() + 3 + host.len() + 6);
    out.push_str(scheme);
    out.push_str("://");
    out.extend(host.chars().map(|c| c.to_ascii_lowercase()));
    let default = if scheme == "https" { 443 } else { 80 };
    if let Some(port) = authority.port_u16().filter(|&p| p != default) {
        out.push(':');
        out.push_str(&port.to_string());
    }
    Some(out)
}

/// RFC 9113 §8.3.1 and RFC 9112 §3.2.2: when the target names an authority (HTTP/2
/// `:authority`, an absolute-form URI) and `Host` is present too, both must name the same
/// host and port; userinfo is never allowed in it.
///
/// # Errors
/// [`Ambiguity::AuthorityMismatch`].
pub(crate) fn check_authority<B>(req: &Request<B>) -> Result<(), RejectCode> {
    let refuse = Err(RejectCode::AmbiguousRequest(Ambiguity::AuthorityMismatch));
    let Some(authority) = req.uri().authority() else {
        return Ok(());
    };
    if authority.as_str().contains('@') {
        return refuse;
    }
    let Some(host) = req.headers().get(header::HOST) else {
        return Ok(());
    };
    let Ok(host) = host
        .to_str()
        .map_err(drop)
        .and_then(|h| h.parse::<http::uri::Authority>().map_err(drop))
    else {
        return refuse;
    };
    let default_port = default_port(req.uri());
    let same_host = authority
        .host()
        .trim_end_matches('.')
        .eq_ignore_ascii_case(host.host().trim_end_matches('.'));
    let port = |a: &http::uri::Authority| a.port_u16().or(default_port);
    if host.as_str().contains('@') || !same_host || port(authority) != port(&host) {
        return refuse;
    }
    Ok(())
}

fn default_port(uri: &Uri) -> Option<u16> {
    match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(names: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for n in names {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).expect("name"),
                HeaderValue::from_static("v"),
            );
        }
        h
    }

    #[test]
    fn underscore_spellings_that_collide_are_refused() {
        let refused = Err(RejectCode::AmbiguousRequest(Ambiguity::HeaderSpelling));
        assert_eq!(
            check_spellings(&headers(&["x-user-id", "x_user_id"])),
            refused
        );
        assert_eq!(check_spellings(&headers(&["content_type"])), refused);
        assert_eq!(check_spellings(&headers(&["x_a-b", "x-a_b"])), refused);
        assert_eq!(check_spellings(&headers(&["x_custom", "accept"])), Ok(()));
        assert_eq!(check_spellings(&headers(&["x-user-id"])), Ok(()));
    }

    #[test]
    fn header_names_fold_like_cgi() {
        assert!(header_names_equal("x-user-email", "X_User_Email"));
        assert!(!header_names_equal("x-user-email", "x-user-emails"));
    }

    #[test]
    fn cookie_crumbs_are_joined() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1"));
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        join_cookies(&mut h);
        assert_eq!(h.get_all(header::COOKIE).iter().count(), 1);
        assert_eq!(
            h.get(header::COOKIE).map(HeaderValue::as_bytes),
            Some(&b"a=1; b=2"[..])
        );
    }

    #[test]
    fn referers_reduce_to_their_origin() {
        for (url, origin) in [
            (
                "https://Shop.Example.com/checkout?email=a%40b.example&uid=u-1#top",
                Some("https://shop.example.com"),
            ),
            (
                "http://user:pw@site.example:8080/x",
                Some("http://site.example:8080"),
            ),
            ("https://site.example:443/", Some("https://site.example")),
            (
                "https://[2001:db8::1]:8443/p",
                Some("https://[2001:db8::1]:8443"),
            ),
            ("/relative?email=a", None),
            ("android-app://com.example/", None),
            ("null", None),
            ("https://site.example/a b", None),
        ] {
            assert_eq!(origin_of(url.as_bytes()).as_deref(), origin, "{url}");
        }
    }

    fn req(uri: &str, host: Option<&str>) -> Request<()> {
        let mut b = Request::builder().uri(uri);
        if let Some(h) = host {
            b = b.header(header::HOST, h);
        }
        b.body(()).expect("request")
    }

    #[test]
    fn authority_and_host_must_agree() {
        let refused = Err(RejectCode::AmbiguousRequest(Ambiguity::AuthorityMismatch));
        assert_eq!(check_authority(&req("https://gw/a", Some("gw"))), Ok(()));
        assert_eq!(
            check_authority(&req("https://GW:443/a", Some("gw."))),
            Ok(())
        );
        assert_eq!(check_authority(&req("/a", Some("other"))), Ok(()));
        assert_eq!(check_authority(&req("https://gw/a", None)), Ok(()));
        assert_eq!(
            check_authority(&req("https://gw/a", Some("other"))),
            refused
        );
        assert_eq!(
            check_authority(&req("https://gw/a", Some("gw:8443"))),
            refused
        );
        assert_eq!(check_authority(&req("https://u@gw/a", Some("gw"))), refused);
    }
}
