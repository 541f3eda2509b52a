//! A client request's fields as the bytes they arrived in.
//!
//! On a route that reads no request field (no rules, no body read: piigate as a plain shell)
//! the fields go upstream as the client sent them, less this hop's. A `HeaderName`, a checked
//! `HeaderValue` and a hashed map entry built for each, only for the map to be looked up by
//! name, stripped and walked once when the upstream head is written, were the largest piece
//! of the shell's work per request left (docs/BENCHMARKS.md). [`RequestFields`] keeps them in
//! the head's own buffer instead, as the response side's `upstream::fields` does: the fields
//! to pass on gathered at the front at parse time, the ones only this hop reads after them.
//! A header map is built from them ([`RequestFields::to_map`]) as soon as anything must read
//! fields by name (a route with rules, a route that reads bodies).
//!
//! Only a plain request is kept this way ([`super::wire`] decides): one `Host`, origin-form,
//! no `Transfer-Encoding`, one `Content-Length` at most, a `Connection` that names nothing but
//! `close` and `keep-alive`, and none of the fields the request path looks up by name
//! (`Cookie`, `traceparent`, `Sec-GPC`, `DNT`, `Referer`, `Referrer`, `Origin`). Its bytes
//! passed httparse's strict grammar, and every line ends in CRLF right after its value.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::proxy::upstream::fields::common_name;

/// A plain request's fields, unparsed.
#[derive(Debug, Clone)]
pub struct RequestFields {
    /// The whole head: request line, then the fields to pass on (names in lower case), then
    /// this hop's own, each line ending in CRLF, then what is left of the original lines.
    head: Bytes,
    /// Where the first field line starts.
    start: u32,
    /// Where the fields to pass on end and this hop's own start.
    aside: u32,
    /// Where this hop's own end.
    end: u32,
    /// Where the `Host` value lies.
    host: (u32, u32),
    /// The one `Content-Length`, read.
    length: Option<u64>,
}

impl RequestFields {
    /// The fields of `head`, laid out as [`RequestFields`] says.
    pub(super) fn new(
        head: Bytes,
        (start, aside, end): (u32, u32, u32),
        host: (u32, u32),
        length: Option<u64>,
    ) -> Self {
        Self {
            head,
            start,
            aside,
            end,
            host,
            length,
        }
    }

    /// The field lines a request going upstream carries, each ending in CRLF: all but the
    /// hop-by-hop ones, `Host`, `Content-Length` and `Expect`, names in lower case, in the
    /// order they came.
    pub fn passed_on(&self) -> &[u8] {
        self.head
            .get(self.start as usize..self.aside as usize)
            .unwrap_or_default()
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
    /// does not keep plain. Names are the same, values the same bytes; fields of different
    /// names may come in another order.
    ///
    /// # Errors
    /// A name or value the `http` crate refuses (httparse's token and value grammar is the
    /// same, so never in practice).
    pub fn to_map(&self) -> Result<HeaderMap, http::Error> {
        let all = self
            .head
            .get(self.start as usize..self.end as usize)
            .unwrap_or_default();
        let mut headers = HeaderMap::with_capacity(all.iter().filter(|&&b| b == b'\n').count());
        for (name, value) in lines(all) {
            let name = match common_name(name) {
                Some(name) => name,
                None => HeaderName::from_bytes(name)?,
            };
            headers.append(
                name,
                HeaderValue::from_maybe_shared(self.head.slice_ref(value))?,
            );
        }
        Ok(headers)
    }
}

/// The name and value of each line of `fields` (lines as [`RequestFields`] lays them out).
fn lines(mut fields: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    std::iter::from_fn(move || {
        let colon = fields.iter().position(|&b| b == b':')?;
        let lf = colon + fields[colon..].iter().position(|&b| b == b'\n')?;
        let name = &fields[..colon];
        // The line ends in CRLF right after the value; only whitespace precedes it.
        let value = fields[colon + 1..lf - 1].trim_ascii_start();
        fields = &fields[lf + 1..];
        Some((name, value))
    })
}
