//! Fuzzing the upstream response reader: the HTTP/1.1 head parser and the body decoders.
//!
//! Invariants: no panic; a body never yields more bytes than arrived after its head; a
//! `Content-Length` body that ends has exactly that many bytes; and the outcome does not depend
//! on how the bytes were cut into reads (the whole input at once and the same input a few
//! bytes at a time read the same head and the same body, or both fail).

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use piigate::proxy::upstream::wire::{Decoded, Decoder, Framing, parse_head};

/// What a connection reading `input`, `step` bytes per read, makes of it.
#[derive(Debug, PartialEq)]
enum Outcome {
    Refused,
    Incomplete,
    Read {
        status: u16,
        framing: Framing,
        body: Vec<u8>,
        ended: bool,
        left: usize,
    },
}

fn read(input: &[u8], head_request: bool, step: usize) -> Outcome {
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let mut feed = |buf: &mut BytesMut| {
        let n = step.min(input.len() - fed);
        buf.extend_from_slice(&input[fed..fed + n]);
        fed += n;
        n > 0
    };
    let head = loop {
        match parse_head(&mut buf, head_request) {
            Ok(Some(h)) if h.interim => {}
            Ok(Some(h)) => break h,
            Ok(None) => {
                if !feed(&mut buf) {
                    return Outcome::Incomplete;
                }
            }
            Err(_) => return Outcome::Refused,
        }
    };
    let after_head = buf.len() + (input.len() - fed);
    let mut d = Decoder::new(head.framing);
    let mut body = Vec::new();
    let ended = loop {
        match d.decode(&mut buf) {
            Ok(Decoded::Data(b)) => {
                assert!(!b.is_empty(), "no empty data pieces");
                body.extend_from_slice(&b);
            }
            Ok(Decoded::Done) => break true,
            Ok(Decoded::More) => {
                if !feed(&mut buf) {
                    match d.eof() {
                        Ok(()) => continue,
                        Err(_) => break false,
                    }
                }
            }
            Err(_) => return Outcome::Refused,
        }
    };
    assert!(body.len() <= after_head);
    if let (Framing::Length(n), true) = (head.framing, ended) {
        assert_eq!(body.len() as u64, n);
    }
    Outcome::Read {
        status: head.parts.status.as_u16(),
        framing: head.framing,
        body,
        ended,
        left: buf.len() + (input.len() - fed),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, input)) = data.split_first() else {
        return;
    };
    let head_request = flags & 1 != 0;
    let step = usize::from(flags >> 1) % 16 + 1;
    let whole = read(input, head_request, input.len().max(1));
    let pieces = read(input, head_request, step);
    assert_eq!(whole, pieces, "the outcome depends on read boundaries");
});
