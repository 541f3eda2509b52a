//! Request ids: a correlation handle for one request, shared by its log line and the
//! `x-piigate-request-id` response header (its own name: an upstream's `x-request-id` is the
//! recipient's handle for support and passes through untouched).
//!
//! The id is minted here, never taken from the client: a client-supplied id would be an
//! attacker-chosen string in every log line (and could itself carry personal data). It is a
//! per-process random prefix plus a counter, so ids from replicas do not collide and minting
//! one costs an atomic increment, not a call to the OS random generator.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use ring::rand::{SecureRandom, SystemRandom};

/// One request's id: 24 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId {
    prefix: u32,
    seq: u64,
}

static PREFIX: OnceLock<u32> = OnceLock::new();
static NEXT: AtomicU64 = AtomicU64::new(0);

impl RequestId {
    /// Header name the id is sent under.
    pub const HEADER: &'static str = "x-piigate-request-id";
    /// [`Self::HEADER`] as a header name (a constant: inserting it allocates nothing).
    pub const HEADER_NAME: http::HeaderName = http::HeaderName::from_static(Self::HEADER);

    /// Mints the next id of this process.
    pub fn next() -> Self {
        let prefix = *PREFIX.get_or_init(|| {
            let mut b = [0u8; 4];
            // A failing OS generator only makes ids of two replicas more likely to share a
            // prefix; the counter still keeps them unique within the process.
            let _ = SystemRandom::new().fill(&mut b);
            u32::from_le_bytes(b)
        });
        // Relaxed: uniqueness needs atomicity, not ordering with other memory.
        let seq = NEXT.fetch_add(1, Ordering::Relaxed);
        Self { prefix, seq }
    }

    /// The id as a header value.
    pub fn header_value(self) -> http::HeaderValue {
        // Hex digits are always a valid header value.
        http::HeaderValue::from_bytes(&self.hex())
            .unwrap_or_else(|_| unreachable!("hex is visible ASCII"))
    }

    /// The id's 24 lowercase hex digits.
    pub fn hex(self) -> [u8; 24] {
        let mut buf = [0u8; 24];
        self.write_hex(&mut buf);
        buf
    }

    fn write_hex(self, out: &mut [u8; 24]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let digits = (u128::from(self.prefix) << 64) | u128::from(self.seq);
        for (i, b) in out.iter_mut().enumerate() {
            let shift = 4 * (23 - i);
            *b = HEX[((digits >> shift) & 0xf) as usize];
        }
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 24];
        self.write_hex(&mut buf);
        // Hex digits are ASCII.
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_hex_and_share_the_process_prefix() {
        let a = RequestId::next();
        let b = RequestId::next();
        assert_ne!(a, b);
        let (sa, sb) = (a.to_string(), b.to_string());
        assert_eq!(sa.len(), 24);
        assert!(
            sa.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(sa[..8], sb[..8]);
        assert_eq!(a.header_value().to_str().ok(), Some(sa.as_str()));
    }

    #[test]
    fn layout_is_prefix_then_counter() {
        let id = RequestId {
            prefix: 0xdead_beef,
            seq: 0x1234,
        };
        assert_eq!(id.to_string(), "deadbeef0000000000001234");
    }
}
