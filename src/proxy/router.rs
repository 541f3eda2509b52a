//! Picks the route for a request: host (when the route names one) and the longest path prefix
//! on whole segments. No match means 404: piigate only ever reaches configured upstreams.

use std::sync::Arc;

use crate::config::Route;

/// The routes of one configuration generation.
#[derive(Debug)]
pub struct Router {
    routes: Vec<Arc<Route>>,
    /// Whether any route names a host.
    names_hosts: bool,
}

impl Router {
    /// Builds the router.
    pub fn new(routes: Vec<Arc<Route>>) -> Self {
        let names_hosts = routes.iter().any(|r| r.host.is_some());
        Self {
            routes,
            names_hosts,
        }
    }

    /// Whether any route names a host: if none does, [`Router::find`] never reads one, and
    /// the request's is not looked for.
    pub fn names_hosts(&self) -> bool {
        self.names_hosts
    }

    /// The best route for `host` (lower-case, no port) and `path`, with the path left after the
    /// prefix is stripped (always starting with `/`).
    pub fn find<'p>(&self, host: Option<&str>, path: &'p str) -> Option<(usize, &'p str)> {
        let mut best: Option<(usize, &'p str, (usize, bool))> = None;
        for (i, r) in self.routes.iter().enumerate() {
            if let Some(h) = &r.host
                && host != Some(h.as_str())
            {
                continue;
            }
            let Some(rest) = strip_prefix(path, &r.path_prefix) else {
                continue;
            };
            // Longer prefixes win; at equal length a route that names the host wins.
            let rank = (r.path_prefix.len(), r.host.is_some());
            if best.as_ref().is_none_or(|(_, _, b)| rank > *b) {
                best = Some((i, rest, rank));
            }
        }
        best.map(|(r, rest, _)| (r, rest))
    }
}

impl Router {
    /// Forward-proxy matching: the route whose `host` is `host`. When several routes share the
    /// host, the longest `path_prefix` that matches wins, else the first in file order. The
    /// path is not stripped: a proxied client sends the upstream's own paths.
    pub(crate) fn find_forward<'p>(&self, host: &str, path: &'p str) -> Option<(usize, &'p str)> {
        let mut first = None;
        let mut best: Option<(usize, usize)> = None;
        for (i, r) in self.routes.iter().enumerate() {
            if r.host.as_deref() != Some(host) {
                continue;
            }
            first.get_or_insert(i);
            if strip_prefix(path, &r.path_prefix).is_some()
                && best.is_none_or(|(_, len)| r.path_prefix.len() > len)
            {
                best = Some((i, r.path_prefix.len()));
            }
        }
        best.map(|(i, _)| i).or(first).map(|i| (i, path))
    }

    /// Whether any route names `host` (forward-proxy CONNECT admission).
    pub(crate) fn knows_host(&self, host: &str) -> bool {
        self.routes.iter().any(|r| r.host.as_deref() == Some(host))
    }
}

/// `path` minus `prefix`, if the prefix matches on a segment boundary. ASCII case is ignored:
/// servers that route case-insensitively (express by default, IIS) would otherwise read
/// `/TRACK` as the policed `/track` while a catch-all route forwarded it unpoliced.
fn strip_prefix<'p>(path: &'p str, prefix: &str) -> Option<&'p str> {
    if prefix == "/" {
        return Some(path);
    }
    let head = path.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = &path[prefix.len()..];
    if rest.is_empty() {
        Some("/")
    } else if rest.starts_with('/') {
        Some(rest)
    } else {
        None
    }
}

/// The request's host, lower-cased, without port: the URI authority (HTTP/2, absolute-form)
/// or else the `Host` header, which must parse as an authority.
pub(crate) fn request_host<B>(req: &http::Request<B>) -> Option<Host> {
    match req.uri().authority() {
        Some(a) => Some(Host(super::slab::lowercase(host_of(a.as_str()).as_bytes()))),
        None => host_field(req.headers().get(http::header::HOST)?.as_bytes()),
    }
}

/// The host a `Host` field's `raw` value names, lower-cased, without port; `None` when it does
/// not parse as an authority.
pub(crate) fn host_field(raw: &[u8]) -> Option<Host> {
    // Lower-cased as it is copied, then parsed: case changes neither whether an authority
    // parses nor where its host lies, and the host is then a slice of the same copy (one copy
    // per request, not two).
    let lower = super::slab::lowercase(raw);
    let a = http::uri::Authority::from_maybe_shared(lower.clone()).ok()?;
    let host = host_of(a.as_str());
    let at = (host.as_ptr() as usize).wrapping_sub(a.as_str().as_ptr() as usize);
    let end = at.saturating_add(host.len());
    Some(Host(match lower.get(at..end) {
        Some(cut) if cut == host.as_bytes() => lower.slice(at..end),
        _ => super::slab::lowercase(host.as_bytes()),
    }))
}

/// The host of a parsed authority without its trailing dots: what `Authority::host` returns
/// (after the last `@`; a bracketed IPv6 literal whole; else up to the first `:`), found with
/// plain byte loops (an authority is ASCII and a few bytes long: `memchr`'s set-up and
/// `str`'s generic character searches each cost more than the whole scan).
fn host_of(authority: &str) -> &str {
    let b = authority.as_bytes();
    let start = b.iter().rposition(|&c| c == b'@').map_or(0, |at| at + 1);
    let rest = &b[start..];
    let len = if rest.first() == Some(&b'[') {
        rest.iter()
            .position(|&c| c == b']')
            .map_or(rest.len(), |at| at + 1)
    } else {
        rest.iter().position(|&c| c == b':').unwrap_or(rest.len())
    };
    let mut end = start + len;
    while end > start && b[end - 1] == b'.' {
        end -= 1;
    }
    // Cut at ASCII bytes of an ASCII string: always a character boundary.
    authority.get(start..end).unwrap_or_default()
}

/// A request's host as [`request_host`] found it (cut from the thread's slab: no allocation).
#[derive(Debug, Clone)]
pub struct Host(bytes::Bytes);

impl Host {
    /// The host name (ASCII: an authority holds nothing else).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // (prefix, path, expected rest)
    const CASES: &[(&str, &str, Option<&str>)] = &[
        ("/segment", "/segment/v1/batch", Some("/v1/batch")),
        ("/segment", "/segment", Some("/")),
        // Not a segment boundary: /segmentation is another route's business.
        ("/segment", "/segmentation", None),
        ("/", "/anything", Some("/anything")),
        ("/a/b", "/a/b/c", Some("/c")),
        ("/a/b", "/a", None),
        // Case-insensitive, as the most permissive recipient routes.
        ("/segment", "/SEGMENT/v1", Some("/v1")),
    ];

    #[test]
    fn the_host_is_read_as_the_authority_reads_it() {
        for raw in [
            "gw",
            "GW.example.",
            "gw:8080",
            "user@gw:1",
            "a@b@gw",
            "[::1]:443",
            "[::1]",
            "gw..",
            "1.2.3.4:80",
        ] {
            let a: http::uri::Authority = raw.parse().expect("an authority");
            assert_eq!(host_of(a.as_str()), a.host().trim_end_matches('.'), "{raw}");
        }
    }

    #[test]
    fn a_host_header_is_read_lower_cased_without_port_or_trailing_dots() {
        let host = |value: &str| {
            let req = http::Request::builder()
                .uri("/x")
                .header(http::header::HOST, value)
                .body(())
                .expect("a request");
            request_host(&req).map(|h| h.as_str().to_owned())
        };
        assert_eq!(host("GW.Example.:8080").as_deref(), Some("gw.example"));
        assert_eq!(host("User@GW:1").as_deref(), Some("gw"));
        assert_eq!(host("[::1]:443").as_deref(), Some("[::1]"));
        assert_eq!(host("gw..").as_deref(), Some("gw"));
        // Not an authority: no host, as before.
        assert_eq!(host("gw/path"), None);
        let absolute = http::Request::builder()
            .uri("http://API.Example:81/x")
            .body(())
            .expect("a request");
        assert_eq!(
            request_host(&absolute)
                .map(|h| h.as_str().to_owned())
                .as_deref(),
            Some("api.example")
        );
    }

    #[test]
    fn prefix_matching_respects_segments() {
        for (prefix, path, want) in CASES {
            assert_eq!(strip_prefix(path, prefix), *want, "{prefix} vs {path}");
        }
    }
}
