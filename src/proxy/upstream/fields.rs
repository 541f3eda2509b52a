//! An upstream response's fields as the bytes they arrived in.
//!
//! Most responses go back to the client with the fields they came with, less this hop's. A
//! `HeaderName`, a checked `HeaderValue` and a hashed map entry built for each field, only to
//! be walked once when the answer's head is written, were the largest piece of the shell's
//! work per request (docs/BENCHMARKS.md). [`RawFields`] keeps the head as it arrived instead:
//! piigate's own HTTP/1.1 server writes the fields from it, and a header map is built only
//! when something must read or change them (response rules, `Set-Cookie` policing, a
//! `Connection` that names other fields, an answer that goes out through hyper).
//!
//! The bytes were read by httparse's strict grammar and checked for bare LF before they get
//! here ([`super::wire::parse_head`]): every line ends in CRLF, every name is a token, no name
//! has whitespace before its colon, no line is folded. The walk below relies on that.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// A response head's fields, unparsed.
#[derive(Debug, Clone)]
pub struct RawFields {
    /// The whole head: status line, field lines, the empty line — or, once the fields to
    /// pass on have been gathered ([`gather`]), those first, each on its line.
    head: Bytes,
    /// Where the first field line starts.
    start: usize,
    /// Where the gathered fields end; the head's length when they were not gathered.
    end: usize,
    /// What a passing look at the names found ([`RawFields::SET_COOKIE`], ...).
    found: u8,
    /// Whether a `Date` is among them.
    date: bool,
}

impl RawFields {
    /// A `Set-Cookie` field: policed on every route, so read through a map.
    pub const SET_COOKIE: u8 = 1;
    /// A `Connection` that names fields other than `close` and `keep-alive`: those go too.
    pub const CONNECTION_NAMES_OTHERS: u8 = 1 << 1;
    /// The gateway's request id field, which the gateway's own replaces.
    pub const REQUEST_ID: u8 = 1 << 2;

    /// The fields of `head` (a whole head that [`super::wire::parse_head`] accepted), its
    /// first field line at `start`; `end`, where [`gather`] left the fields it gathered (or
    /// the head's length); `found`, what the parse saw in them; `date`, a `Date` among them.
    pub(super) fn new(head: Bytes, start: usize, end: usize, found: u8, date: bool) -> Self {
        Self {
            head,
            start,
            end,
            found,
            date,
        }
    }

    /// Whether they can be passed on as they are ([`RawFields::passed_on`]): nothing in them
    /// needs reading or rewriting.
    pub fn pass_as_they_are(&self) -> bool {
        self.found == 0
    }

    /// The field lines a proxy passes on, one after the other, each ending in CRLF: all but
    /// the hop-by-hop ones ([`is_hop_by_hop`]), names in lower case, in the order they
    /// came. Only when [`RawFields::pass_as_they_are`] (else empty).
    pub fn passed_on(&self) -> &[u8] {
        if self.pass_as_they_are() {
            self.head.get(self.start..self.end).unwrap_or_default()
        } else {
            &[]
        }
    }

    /// Whether a `Date` field is passed on.
    pub fn has_date(&self) -> bool {
        self.date && self.pass_as_they_are()
    }

    /// Every field line, in order: its name and its value (leading and trailing whitespace
    /// left out), as they arrived.
    pub fn lines(&self) -> Lines<'_> {
        Lines {
            rest: self.head.get(self.start..self.end).unwrap_or_default(),
        }
    }

    /// The fields the response's reader keeps, in a map as [`super::wire::parse_head`] built
    /// it before: all but the framing fields, `Keep-Alive`, and a `Connection` that lists
    /// only `close` or `keep-alive` (this hop's, read there); when they could be passed on
    /// as they are, this hop's other fields are already gone too (as `strip_hop_by_hop`
    /// removes them). Appended to `headers`.
    ///
    /// # Errors
    /// A name or value the `http` crate refuses (httparse's token and value grammar is the
    /// same, so never in practice).
    pub fn append_to(&self, headers: &mut HeaderMap) -> Result<(), http::Error> {
        // Room for the two fields every answer gets after these: the request id, and the
        // `Content-Length` the reader or hyper sets. Without it a typical response's map
        // (three fields passed on) was full and grew, rehashing, for the request id.
        headers.reserve(self.lines().count() + ADDED_AFTER);
        for (name, value) in self.lines() {
            if read_by_the_parse(name, value) {
                continue;
            }
            let name = match common_name(name) {
                Some(name) => name,
                None => HeaderName::from_bytes(name)?,
            };
            let value = HeaderValue::from_maybe_shared(self.head.slice_ref(value))?;
            headers.append(name, value);
        }
        Ok(())
    }
}

/// Fields an answer gets after the upstream's: the request id and its `Content-Length`.
const ADDED_AFTER: usize = 2;

/// The standard field names most heads carry, found by length and a case-blind compare.
///
/// `HeaderName::from_bytes` lower-cases every name into a scratch buffer and then searches
/// the whole standard table: for the few names nearly every request and response carries,
/// that was most of building their fields. The result is the same name it would return.
pub(crate) fn common_name(raw: &[u8]) -> Option<HeaderName> {
    let is = |name: &[u8]| raw.eq_ignore_ascii_case(name);
    Some(match raw.len() {
        4 if is(b"host") => header::HOST,
        4 if is(b"date") => header::DATE,
        6 if is(b"server") => header::SERVER,
        6 if is(b"accept") => header::ACCEPT,
        10 if is(b"user-agent") => header::USER_AGENT,
        12 if is(b"content-type") => header::CONTENT_TYPE,
        13 if is(b"cache-control") => header::CACHE_CONTROL,
        14 if is(b"content-length") => header::CONTENT_LENGTH,
        _ => return None,
    })
}

/// Gathers the fields to pass on at the front of the field section of `head`, from `start`,
/// each as its name (lower-cased), colon, whitespace and value, then CRLF: `passed` holds the
/// name's and the value's places in the head (name start, name length, value start, value
/// length), in order. Returns where they end.
///
/// Done in place: each line moves only towards the front (what is left out is dropped, and a
/// line never grows), so a writer then copies them out in one piece.
pub(crate) fn gather(
    head: &mut [u8],
    start: usize,
    passed: impl Iterator<Item = (usize, usize, usize, usize)>,
) -> usize {
    let mut to = start;
    for (ns, nl, vs, vl) in passed {
        let line = ns..vs + vl;
        let len = line.len();
        head.copy_within(line, to);
        head[to..to + nl].make_ascii_lowercase();
        head[to + len] = b'\r';
        head[to + len + 1] = b'\n';
        to += len + 2;
    }
    to
}

/// Whether the response's reader takes the field in itself rather than passing it on: the
/// framing fields, `Keep-Alive`, and a `Connection` with no names but `close` and
/// `keep-alive`.
fn read_by_the_parse(name: &[u8], value: &[u8]) -> bool {
    let is = |want: &[u8]| name.eq_ignore_ascii_case(want);
    match name.len() {
        17 => is(b"transfer-encoding"),
        14 => is(b"content-length"),
        10 if is(b"keep-alive") => true,
        10 if is(b"connection") => !names_others(value),
        _ => false,
    }
}

/// Whether a `Connection` value names a field other than `close` and `keep-alive`.
pub(crate) fn names_others(value: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .any(|t| {
            !t.is_empty()
                && !t.eq_ignore_ascii_case(b"close")
                && !t.eq_ignore_ascii_case(b"keep-alive")
        })
}

/// Whether `name` is one of the hop-by-hop fields a proxy never passes on (RFC 9110 §7.6.1),
/// or one the gateway recomputes (`Content-Length`): the names `strip_hop_by_hop` removes
/// from a response, ASCII case ignored.
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    hop_bit(name) & HOP_BY_HOP != 0
}

/// Every hop-by-hop field's bit in [`hop_bit`] (`Content-Length` included).
pub(crate) const HOP_BY_HOP: u16 = (1 << 10) - 1;
/// The fields a request going upstream never carries: [`HOP_BY_HOP`], and the client's
/// `Host` and `Expect`.
pub(crate) const UPSTREAM_REQUEST: u16 = (1 << 12) - 1;
/// `Content-Length`'s bit.
pub(crate) const CONTENT_LENGTH_BIT: u16 = 1 << 9;

/// The one table of the fields a message loses at this hop: `name`'s bit (ASCII case
/// ignored), or 0. The bits below [`HOP_BY_HOP`]'s end are the hop-by-hop fields; then
/// `Host` and `Expect`, which only a request going upstream loses. `upstream::STRIPPED`
/// holds the same names as header names, each at its bit's place.
pub(crate) fn hop_bit(name: &[u8]) -> u16 {
    let is = |want: &[u8]| name.eq_ignore_ascii_case(want);
    match name.len() {
        10 if is(b"connection") => 1,
        10 if is(b"keep-alive") => 1 << 1,
        16 if is(b"proxy-connection") => 1 << 2,
        18 if is(b"proxy-authenticate") => 1 << 3,
        19 if is(b"proxy-authorization") => 1 << 4,
        2 if is(b"te") => 1 << 5,
        7 if is(b"trailer") => 1 << 6,
        17 if is(b"transfer-encoding") => 1 << 7,
        7 if is(b"upgrade") => 1 << 8,
        14 if is(b"content-length") => 1 << 9,
        4 if is(b"host") => 1 << 10,
        6 if is(b"expect") => 1 << 11,
        _ => 0,
    }
}

/// The field lines of a [`RawFields`].
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    /// What is left of the head, from the start of a line.
    rest: &'a [u8],
}

impl<'a> Iterator for Lines<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let end = memchr::memchr(b'\n', self.rest)?;
        // Every line ends in CRLF (checked by the parse): the line is what comes before.
        let line = &self.rest[..end.saturating_sub(1)];
        self.rest = &self.rest[end + 1..];
        if line.is_empty() {
            // The empty line that ends the head.
            self.rest = &[];
            return None;
        }
        let colon = memchr::memchr(b':', line)?;
        let value = line[colon + 1..].trim_ascii();
        Some((&line[..colon], value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::upstream::wire::parse_head;
    use bytes::BytesMut;
    use proptest::prelude::*;

    fn fields(head: &str) -> RawFields {
        parse_head(&mut BytesMut::from(head.as_bytes()), false)
            .expect("valid")
            .expect("whole")
            .fields
    }

    #[test]
    fn lines_are_names_and_values_without_whitespace_around_them() {
        let f = fields(
            "HTTP/1.1 200 OK\r\nContent-Type:text/plain \r\nX-A:  1\t\r\nx-a: \r\nDate: d\r\n\r\n",
        );
        let lines: Vec<(&[u8], &[u8])> = f.lines().collect();
        assert_eq!(
            lines,
            [
                (&b"content-type"[..], &b"text/plain"[..]),
                (b"x-a", b"1"),
                (b"x-a", b""),
                (b"date", b"d"),
            ]
        );
        assert!(f.pass_as_they_are());
        assert_eq!(
            f.passed_on(),
            b"content-type:text/plain\r\nx-a:  1\r\nx-a: \r\ndate: d\r\n"
        );
        assert!(f.has_date());
    }

    #[test]
    fn a_writer_passes_on_all_but_this_hop_s_fields() {
        let f = fields(
            "HTTP/1.1 200 OK\r\nServer: s\r\nConnection: keep-alive\r\nTE: x\r\n\
             Content-Length: 0\r\nUpgrade: u\r\nProxy-Authenticate: p\r\nDATE:d \r\n\r\n",
        );
        assert_eq!(f.passed_on(), b"server: s\r\ndate:d\r\n");
        assert!(f.has_date());
        let f = fields("HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nDate: d\r\n\r\n");
        assert_eq!(f.passed_on(), b"");
        assert!(!f.has_date());
        let many: String = (0..90).map(|i| format!("x-{i}: v\r\n")).collect();
        let f = fields(&format!("HTTP/1.1 200 OK\r\n{many}\r\n"));
        assert_eq!(f.passed_on(), many.as_bytes());
    }

    #[test]
    fn a_response_map_has_room_for_the_request_id_and_length_without_growing() {
        let f = fields(
            "HTTP/1.1 200 OK\r\nServer: s\r\nDate: d\r\nContent-Type: application/json\r\n\
             Content-Length: 11\r\nConnection: keep-alive\r\n\r\n",
        );
        let mut map = HeaderMap::new();
        f.append_to(&mut map).expect("valid");
        assert_eq!(map.len(), 3);
        // The request id and the length.
        assert!(
            map.capacity() >= map.len() + 2,
            "capacity {} for {} fields and two more",
            map.capacity(),
            map.len()
        );
    }

    #[test]
    fn what_must_be_read_is_flagged() {
        assert!(!fields("HTTP/1.1 200 OK\r\nX-Piigate-Request-Id: 1\r\n\r\n").pass_as_they_are());
        assert!(!fields("HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\n\r\n").pass_as_they_are());
        assert!(!fields("HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\n\r\n").pass_as_they_are());
        assert!(
            fields("HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\nKeep-Alive: timeout=5\r\n\r\n")
                .pass_as_they_are()
        );
    }

    #[test]
    fn hop_by_hop_names_are_those_the_strip_removes() {
        let mut map = HeaderMap::new();
        for name in [
            "Connection",
            "KEEP-ALIVE",
            "proxy-connection",
            "Proxy-Authenticate",
            "proxy-authorization",
            "TE",
            "Trailer",
            "transfer-encoding",
            "Upgrade",
            "content-length",
        ] {
            assert!(is_hop_by_hop(name.as_bytes()), "{name}");
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("a name"),
                HeaderValue::from_static("x"),
            );
        }
        crate::proxy::upstream::strip_hop_by_hop(&mut map);
        assert!(map.is_empty());
        for name in ["host", "te2", "trailers", "content-type", "date", "expect"] {
            assert!(!is_hop_by_hop(name.as_bytes()), "{name}");
        }
    }

    /// A field name httparse and the `http` crate both accept, in mixed case.
    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("Content-Type".to_owned()),
            Just("content-length".to_owned()),
            Just("Transfer-Encoding".to_owned()),
            Just("Connection".to_owned()),
            Just("Keep-Alive".to_owned()),
            Just("Set-Cookie".to_owned()),
            Just("DATE".to_owned()),
            Just("x-a".to_owned()),
            Just("X-A".to_owned()),
            "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}",
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("close".to_owned()),
            Just("keep-alive, x-a".to_owned()),
            Just("5".to_owned()),
            Just("chunked".to_owned()),
            "[ \t]{0,2}[!-~]([ -~\t]{0,10}[!-~])?[ \t]{0,2}",
        ]
    }

    proptest! {
        /// Whatever the head, the map built from the raw fields is the map the parse built
        /// before, field for field and in order: names as the `http` crate spells them,
        /// duplicates kept, this hop's own fields left out.
        #[test]
        fn the_raw_fields_make_the_map_the_parse_made(
            fields in proptest::collection::vec((name(), value()), 0..12),
        ) {
            let mut text = String::from("HTTP/1.1 200 OK\r\n");
            for (n, v) in &fields {
                text.push_str(&format!("{n}:{v}\r\n"));
            }
            text.push_str("\r\n");
            let Ok(Some(head)) = parse_head(&mut BytesMut::from(text.as_bytes()), false) else {
                // Refused (framing): nothing to compare.
                return Ok(());
            };
            let mut got = HeaderMap::new();
            head.fields.append_to(&mut got).expect("valid");
            let mut want = HeaderMap::new();
            for (n, v) in &fields {
                let v = v.trim_matches([' ', '\t']);
                if read_by_the_parse(n.as_bytes(), v.as_bytes())
                    || (head.fields.pass_as_they_are() && is_hop_by_hop(n.as_bytes()))
                {
                    continue;
                }
                want.append(
                    HeaderName::from_bytes(n.as_bytes()).expect("a name"),
                    HeaderValue::from_str(v).expect("a value"),
                );
            }
            let got: Vec<_> = got.iter().collect();
            let want: Vec<_> = want.iter().collect();
            prop_assert_eq!(got, want);
            // The lines are httparse's fields, byte for byte.
            let mut parsed = [httparse::EMPTY_HEADER; 16];
            let mut res = httparse::Response::new(&mut parsed);
            res.parse(text.as_bytes()).expect("parsed once already");
            let theirs: Vec<(&[u8], &[u8])> =
                res.headers.iter().map(|h| (h.name.as_bytes(), h.value)).collect();
            if !head.fields.pass_as_they_are() {
                let ours: Vec<(&[u8], &[u8])> = head.fields.lines().collect();
                prop_assert_eq!(&ours, &theirs);
            }
            // What a writer passes on is every line but this hop's, as read by httparse.
            if head.fields.pass_as_they_are() {
                let passed = head.fields.passed_on().to_vec();
                let mut again = b"HTTP/1.1 200 OK\r\n".to_vec();
                again.extend_from_slice(&passed);
                again.extend_from_slice(b"\r\n");
                let mut reparsed = [httparse::EMPTY_HEADER; 16];
                let mut res = httparse::Response::new(&mut reparsed);
                res.parse(&again).expect("what is passed on parses");
                let passed: Vec<(Vec<u8>, &[u8])> = res
                    .headers
                    .iter()
                    .map(|h| (h.name.as_bytes().to_vec(), h.value))
                    .collect();
                let want: Vec<(Vec<u8>, &[u8])> = theirs
                    .into_iter()
                    .filter(|(n, _)| !is_hop_by_hop(n))
                    .map(|(n, v)| (n.to_ascii_lowercase(), v))
                    .collect();
                prop_assert_eq!(passed, want);
            }
        }
    }
}
