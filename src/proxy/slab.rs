//! Short byte strings of a request — the request id, a `Content-Length`, the upstream target —
//! cut from one buffer per thread instead of one allocation each.
//!
//! `http` keeps header values and paths in `Bytes`; building one from a fresh `Vec` costs an
//! allocation (two for a number). Here each is written at the end of the thread's `BytesMut`
//! and split off as a shared slice of it. Once every slice of a buffer has been dropped,
//! `reserve` finds the buffer unique and starts over at its beginning, so a steady request
//! stream allocates nothing here; while slices are still alive (requests in flight) a new
//! buffer of [`CHUNK`] bytes is started.

use std::cell::RefCell;

use bytes::{BufMut, Bytes, BytesMut};
use http::HeaderValue;
use http::uri::PathAndQuery;

/// Size of each buffer: a few hundred request ids and lengths.
const CHUNK: usize = 8 * 1024;

thread_local! {
    static SLAB: RefCell<BytesMut> = RefCell::new(BytesMut::with_capacity(CHUNK));
}

/// `len` bytes written by `write`, as a slice of this thread's buffer.
fn cut(len: usize, write: impl FnOnce(&mut BytesMut)) -> Bytes {
    SLAB.with_borrow_mut(|slab| {
        slab.reserve(len);
        write(slab);
        slab.split().freeze()
    })
}

/// `n` in decimal, as a header value.
pub(crate) fn decimal(n: u64) -> HeaderValue {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut rest = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    header_value(&digits[i..])
}

/// `visible` (visible ASCII, as request ids and numbers are) as a header value.
pub(crate) fn header_value(visible: &[u8]) -> HeaderValue {
    let bytes = cut(visible.len(), |b| b.put_slice(visible));
    HeaderValue::from_maybe_shared(bytes).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// `s` with ASCII letters lower-cased.
pub(crate) fn lowercase(s: &[u8]) -> Bytes {
    cut(s.len(), |b| {
        // Copied whole, then lower-cased in place: a byte at a time, each write checked its
        // room again (several times the cost of the copy).
        let at = b.len();
        b.put_slice(s);
        b[at..].make_ascii_lowercase();
    })
}

/// The concatenation of `parts` as a request target.
///
/// # Errors
/// When the result is not a valid path and query.
pub(crate) fn path_and_query(parts: &[&str]) -> Result<PathAndQuery, http::uri::InvalidUri> {
    let len = parts.iter().map(|p| p.len()).sum();
    let bytes = cut(len, |b| {
        for p in parts {
            b.put_slice(p.as_bytes());
        }
    });
    PathAndQuery::from_maybe_shared(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_whole_and_independent() {
        let a = decimal(0);
        let b = decimal(1_234_567);
        let c = decimal(u64::MAX);
        let d = header_value(b"0123456789abcdef01234567");
        let pq = path_and_query(&["/base", "/v1/track", "?", "a=1"]).expect("valid");
        assert_eq!(a, "0");
        assert_eq!(b, "1234567");
        assert_eq!(c, u64::MAX.to_string().as_str());
        assert_eq!(d, "0123456789abcdef01234567");
        assert_eq!(pq.as_str(), "/base/v1/track?a=1");
        // Many more than a buffer holds, all kept alive: each stays what it was.
        let many: Vec<HeaderValue> = (0..2_000_u64).map(decimal).collect();
        for (i, v) in many.iter().enumerate() {
            assert_eq!(v.to_str().ok(), Some(i.to_string().as_str()));
        }
        assert!(path_and_query(&["/a b"]).is_err());
    }
}
