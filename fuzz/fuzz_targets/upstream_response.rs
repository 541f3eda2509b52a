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

/// The connection's side: `input` arriving `step` bytes per read.
struct Wire<'a> {
    input: &'a [u8],
    fed: usize,
    step: usize,
}

impl Wire<'_> {
    /// One read into `buf`; false at the end of the input.
    fn read(&mut self, buf: &mut BytesMut) -> bool {
        let n = self.step.min(self.left());
        buf.extend_from_slice(&self.input[self.fed..self.fed + n]);
        self.fed += n;
        n > 0
    }

    fn left(&self) -> usize {
        self.input.len() - self.fed
    }
}

fn read(input: &[u8], head_request: bool, step: usize) -> Outcome {
    let mut buf = BytesMut::new();
    let mut wire = Wire {
        input,
        fed: 0,
        step,
    };
    let head = loop {
        match parse_head(&mut buf, head_request) {
            Ok(Some(h)) if h.interim => {}
            Ok(Some(h)) => break h,
            Ok(None) => {
                if !wire.read(&mut buf) {
                    return Outcome::Incomplete;
                }
            }
            Err(_) => return Outcome::Refused,
        }
    };
    let after_head = buf.len() + wire.left();
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
                if !wire.read(&mut buf) {
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
        left: buf.len() + wire.left(),
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
