//! Fuzzing the client request reader of piigate's HTTP/1.1 server: the request head parser
//! and the body decoders as a connection uses them.
//!
//! Invariants: no panic; the framing handed on is the one the fields say, exactly one way
//! (a chunked request carries no `Content-Length`, a sized one exactly one agreeing field and
//! no `Transfer-Encoding`); a body never yields more bytes than arrived after its head and a
//! sized body that ends has exactly its length; and the outcome does not depend on how the
//! bytes were cut into reads (the whole input at once and the same input a few bytes at a time
//! read the same requests, or both refuse). Pipelined requests are read one after the other.
//! The reading that keeps a plain request's fields as the bytes they arrived in (the shell's
//! path) reads the same requests, with the same fields, as the reading into a header map.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use piigate::proxy::server::wire::{Decoded, Decoder, Framing, HeadError, read_request_head};

/// The largest head, small so that the limit is reached.
const MAX_HEAD: usize = 2048;

/// What a connection reading `input`, `step` bytes per read, makes of one request.
#[derive(Debug, PartialEq)]
enum Request {
    Refused(HeadError),
    BodyRefused,
    Incomplete,
    Read {
        method: String,
        target: String,
        framing: Framing,
        keep_alive: bool,
        fields: Vec<(String, Vec<u8>)>,
        body: Vec<u8>,
    },
}

/// The connection's side: `input` arriving `step` bytes per read.
struct Wire<'a> {
    input: &'a [u8],
    fed: usize,
    step: usize,
}

impl Wire<'_> {
    fn read(&mut self, buf: &mut BytesMut) -> bool {
        let n = self.step.min(self.input.len() - self.fed);
        buf.extend_from_slice(&self.input[self.fed..self.fed + n]);
        self.fed += n;
        n > 0
    }

    fn left(&self) -> usize {
        self.input.len() - self.fed
    }
}

fn read_one(buf: &mut BytesMut, wire: &mut Wire<'_>, plain: bool) -> Request {
    let head = loop {
        match read_request_head(buf, MAX_HEAD, plain) {
            Ok(Some(h)) => break h,
            Ok(None) => {
                assert!(buf.len() < MAX_HEAD, "a partial head past the limit waits");
                if !wire.read(buf) {
                    return Request::Incomplete;
                }
            }
            Err(e) => return Request::Refused(e),
        }
    };
    let map = match &head.fields {
        Some(kept) => {
            assert!(plain, "fields kept as bytes only when asked");
            assert!(head.parts.headers.is_empty(), "kept fields are not in the map too");
            kept.to_map().expect("a plain head's fields make a map")
        }
        None => head.parts.headers.clone(),
    };
    let fields = &map;
    let lengths: Vec<_> = fields.get_all("content-length").iter().collect();
    match head.framing {
        Framing::Chunked => {
            assert!(lengths.is_empty(), "chunked and a length");
            assert!(fields.contains_key("transfer-encoding"));
        }
        Framing::Length(n) => {
            assert!(!fields.contains_key("transfer-encoding"));
            assert_eq!(lengths.len(), 1);
            let v: u64 = lengths[0].to_str().expect("digits").parse().expect("digits");
            assert_eq!(v, n);
        }
        Framing::Empty => {
            assert!(!fields.contains_key("transfer-encoding"));
            assert!(lengths.len() <= 1);
        }
        Framing::Close => panic!("a request is never read until close"),
    }
    let after_head = buf.len() + wire.left();
    let mut d = Decoder::new(head.framing);
    let mut body = Vec::new();
    loop {
        match d.decode(buf) {
            Ok(Decoded::Data(b)) => {
                assert!(!b.is_empty(), "no empty data pieces");
                body.extend_from_slice(&b);
            }
            Ok(Decoded::Done) => break,
            Ok(Decoded::More) => {
                if !wire.read(buf) {
                    return Request::Incomplete;
                }
            }
            Err(_) => return Request::BodyRefused,
        }
    }
    assert!(body.len() <= after_head);
    if let Framing::Length(n) = head.framing {
        assert_eq!(body.len() as u64, n);
    }
    Request::Read {
        method: head.parts.method.to_string(),
        target: head.parts.uri.to_string(),
        framing: head.framing,
        keep_alive: head.keep_alive,
        fields: map
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect(),
        body,
    }
}

/// Every request a connection reads from `input`, until one is refused, incomplete or asks
/// to close.
fn read_all(input: &[u8], step: usize, plain: bool) -> Vec<Request> {
    let mut buf = BytesMut::new();
    let mut wire = Wire {
        input,
        fed: 0,
        step,
    };
    let mut out = Vec::new();
    loop {
        let r = read_one(&mut buf, &mut wire, plain);
        let more = matches!(r, Request::Read { keep_alive: true, .. });
        out.push(r);
        if !more || out.len() >= 8 {
            return out;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, input)) = data.split_first() else {
        return;
    };
    let step = usize::from(flags) % 16 + 1;
    let plain = flags & 0x10 != 0;
    let whole = read_all(input, input.len().max(1), false);
    let pieces = read_all(input, step, plain);
    assert_eq!(
        whole, pieces,
        "the outcome depends on read boundaries or on the plain reading"
    );
});
