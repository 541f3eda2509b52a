//! Fuzzing the content-coding decoders with a hard output cap.
//!
//! Invariants: no panic, no output past the cap (a bomb is `TooLarge`, never an allocation of
//! its decoded size), and whatever decodes re-encodes and decodes back to the same bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use piigate::codec::{Coding, CodecError};

const CAP: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&which, input)) = data.split_first() else { return };
    let coding = match which % 5 {
        0 => Coding::Gzip,
        1 => Coding::Deflate { zlib: true },
        2 => Coding::Deflate { zlib: false },
        3 => Coding::Brotli,
        _ => Coding::Zstd,
    };
    match coding.decode(input, CAP) {
        Ok((plain, actual)) => {
            assert!(plain.len() <= CAP);
            let again = actual.encode(&plain).expect("encoding in memory cannot fail");
            let (back, _) = actual.decode(&again, CAP).expect("our own encoding decodes");
            assert_eq!(back, plain);
        }
        Err(CodecError::TooLarge | CodecError::Corrupt | CodecError::Unsupported) => {}
    }
});
