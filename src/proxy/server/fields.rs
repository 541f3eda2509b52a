//! A client request's fields as the bytes they arrived in.
//!
//! On a route that reads no request field (no rules, no body read: piigate as a plain shell)
//! the fields go upstream as the client sent them, less this hop's. A `HeaderName`, a checked
//! `HeaderValue` and a hashed map entry built for each, only for the map to be looked up by
//! name, stripped and walked once when the upstream head is written, were the largest piece
//! of the shell's work per request left (docs/BENCHMARKS.md). [`RequestFields`] keeps the head
//! as it arrived instead, as the response side's `upstream::fields` does: the upstream
//! request's writer copies the lines to pass on from it ([`RequestFields::write_passed_on`]),
//! and a header map is built from it ([`RequestFields::to_map`]) as soon as anything must
//! read fields by name (a route with field rules, cookies or a subject to read, a request
//! its route must canonicalise, HTTP/2 upstream). A route whose rules read only the body
//! needs its `Content-Type` alone: [`RequestFields::body_type_only`] says when the fields may
//! all stay as they arrived, the body is read by [`RequestFields::content_type`], and a reader
//! that takes a map gets the type alone in one ([`RequestFields::type_into`]).
//!
//! Only a plain request is kept this way ([`super::wire::read_request_head`] decides): one
//! `Host`, origin-form, no `Transfer-Encoding`, one `Content-Length` at most, a `Connection`
//! that names nothing but `close` and `keep-alive`, and none of the fields the request path
//! looks up by name (`Cookie`, `traceparent`, `Sec-GPC`, `DNT`, `Referer`, `Referrer`,
//! `Origin`). Its bytes passed httparse's strict grammar (every name a token, no whitespace
//! before a colon, no folded line, no bare CR), and every field line ends in CRLF right after
//! its value: the line walk below relies on both.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::proxy::upstream::fields::common_name;

/// A plain request's fields, unparsed.
#[derive(Debug, Clone)]
pub struct RequestFields {
    /// The whole head, as it arrived.
    head: Bytes,
    /// Where the first field line starts.
    start: u32,
    /// Where the last field line ends (after its CRLF).
    end: u32,
    /// The lines between those that do not go upstream.
    skips: Skips,
    /// Where the `Host` value lies.
    host: (u32, u32),
    /// The one `Content-Length`, read.
    length: Option<u64>,
    /// Where the body's type lies, as the parse saw it.
    body_type: BodyType,
}

impl RequestFields {
    /// The fields of `head` from `start` to `end` (names in lower case), of which `skips`
    /// do not go upstream; the `Host` value at `host`.
    pub(super) fn new(
        head: Bytes,
        (start, end): (u32, u32),
        skips: Skips,
        host: (u32, u32),
        length: Option<u64>,
        body_type: BodyType,
    ) -> Self {
        Self {
            head,
            start,
            end,
            skips,
            host,
            length,
            body_type,
        }
    }

    /// Appends the field lines a request going upstream carries to `out`, each ending in
    /// CRLF: all but the hop-by-hop ones, `Host`, `Content-Length` and `Expect`, names in
    /// lower case, in the order they came.
    pub fn write_passed_on(&self, out: &mut Vec<u8>) {
        let mut at = self.start as usize;
        for &(from, to) in self.skips.all() {
            out.extend_from_slice(self.head.get(at..from as usize).unwrap_or_default());
            at = to as usize;
        }
        out.extend_from_slice(self.head.get(at..self.end as usize).unwrap_or_default());
    }

    /// The `Host` value, as it arrived.
    pub fn host(&self) -> &[u8] {
        let (at, len) = (self.host.0 as usize, self.host.1 as usize);
        self.head.get(at..at + len).unwrap_or_default()
    }

    /// The request's `Content-Length`, when it has one.
    pub fn content_length(&self) -> Option<u64> {
        self.length
    }

    /// Every field the request arrived with, in a map as the parse builds it for a request it
    /// does not keep plain.
    ///
    /// # Errors
    /// A name or value the `http` crate refuses (httparse's token and value grammar is the
    /// same, so never in practice).
    pub fn to_map(&self) -> Result<HeaderMap, http::Error> {
        let all = self.all();
        let mut headers = HeaderMap::with_capacity(all.iter().filter(|&&b| b == b'\n').count());
        for (name, line) in lines(all) {
            let name_ = match common_name(name) {
                Some(name) => name,
                None => HeaderName::from_bytes(name)?,
            };
            // After the colon: whitespace, the value, CRLF.
            let value = line[name.len() + 1..line.len() - 2].trim_ascii_start();
            headers.append(
                name_,
                HeaderValue::from_maybe_shared(self.head.slice_ref(value))?,
            );
        }
        Ok(headers)
    }

    /// Whether a route that reads no field by name but its body's type may leave every field
    /// as it arrived: `false` when the request needs the whole map's treatment instead. That
    /// is, when it has a `Content-Encoding` (decoded and rewritten), a `Content-Type` more
    /// than once or not in its canonical spelling (refused, or rewritten, by
    /// [`crate::canon::content::canonicalize`]), a name with an underscore (read against the
    /// other names by [`crate::canon::headers::check_spellings`]) or a body but no
    /// `Content-Type` (given the beacon type). On any other request both checks leave the
    /// fields as they are, and its type is [`Self::content_type`].
    pub fn body_type_only(&self) -> bool {
        if self.body_type.others {
            return false;
        }
        // An underscore anywhere in the lines (a value may hold one: an iPhone's
        // `User-Agent` does) is looked for in the names, line by line.
        let all = self.all();
        if memchr::memchr(b'_', all).is_some() && lines(all).any(|(name, _)| name.contains(&b'_')) {
            return false;
        }
        match self.content_type() {
            Some(value) => crate::canon::content::is_canonical(value),
            None => self.length.is_none_or(|n| n == 0),
        }
    }

    /// The (first) `Content-Type` value, as it arrived.
    pub fn content_type(&self) -> Option<&[u8]> {
        let (at, len) = self.body_type.at?;
        self.head.get(at as usize..(at + len) as usize)
    }

    /// Puts the `Content-Type` in `headers` (for a reader that takes a map); `Ok(false)` when
    /// the request has none.
    ///
    /// # Errors
    /// A value the `http` crate refuses (httparse's value grammar is the same, so never in
    /// practice).
    pub fn type_into(&self, headers: &mut HeaderMap) -> Result<bool, http::Error> {
        let Some(value) = self.content_type() else {
            return Ok(false);
        };
        let value = HeaderValue::from_maybe_shared(self.head.slice_ref(value))?;
        headers.insert(http::header::CONTENT_TYPE, value);
        Ok(true)
    }

    fn all(&self) -> &[u8] {
        self.head
            .get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

/// Each field line of `fields` (lines as [`RequestFields`] holds them): its name, and the
/// whole line with its CRLF.
fn lines(mut fields: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    std::iter::from_fn(move || {
        // Plain byte loops: a line is a few dozen bytes, shorter than `memchr`'s set-up pays
        // for.
        let colon = fields.iter().position(|&b| b == b':')?;
        let lf = colon + fields[colon..].iter().position(|&b| b == b'\n')?;
        let (line, rest) = fields.split_at(lf + 1);
        fields = rest;
        Some((&line[..colon], line))
    })
}

/// What the parse saw of the fields that say what a plain request's body is: where the first
/// `Content-Type` value lies, and whether there are others (a second `Content-Type`, a
/// `Content-Encoding`) that only the map's checks read.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct BodyType {
    at: Option<(u32, u32)>,
    others: bool,
}

impl BodyType {
    /// A `Content-Type` whose value is `len` bytes at `at`.
    pub(super) fn saw_type(&mut self, at: u32, len: u32) {
        match self.at {
            None => self.at = Some((at, len)),
            Some(_) => self.others = true,
        }
    }

    /// A `Content-Encoding`.
    pub(super) fn saw_encoding(&mut self) {
        self.others = true;
    }
}

/// The stretches of a plain request's field lines that do not go upstream (the hop-by-hop
/// lines, `Host`, `Content-Length`, `Expect`), adjacent lines joined into one stretch: a
/// request has one to three of them, so a few are kept inline, and a request with more is not
/// kept plain.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Skips {
    /// Start and end (after the CRLF) of each, in order.
    at: [(u32, u32); Self::MAX],
    len: u8,
}

impl Skips {
    const MAX: usize = 4;

    /// Adds the line from `from` to `to`, which comes after every line added before;
    /// `false` when there is no room.
    pub(super) fn push(&mut self, from: u32, to: u32) -> bool {
        let n = self.len as usize;
        match n.checked_sub(1).map(|last| &mut self.at[last]) {
            Some(last) if last.1 == from => last.1 = to,
            _ if n < Self::MAX => {
                self.at[n] = (from, to);
                self.len += 1;
            }
            _ => return false,
        }
        true
    }

    fn all(&self) -> &[(u32, u32)] {
        &self.at[..self.len as usize]
    }
}
