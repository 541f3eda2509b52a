//! Key material newtype.

use std::fmt;

use zeroize::Zeroizing;

/// 32 bytes of key material. Zeroized on drop; `Debug` is redacted; no `Display`, no
/// `Serialize`, no `Clone`: a key is moved into the one place that uses it.
pub struct SecretKey(Zeroizing<[u8; 32]>);

impl SecretKey {
    /// Wraps raw bytes. The caller should zeroize its own copy.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The raw bytes, for handing to a primitive's key constructor.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let k = SecretKey::from_bytes([0x41; 32]);
        let shown = format!("{k:?}");
        assert_eq!(shown, "SecretKey(<redacted>)");
        assert!(!shown.contains("41"));
    }
}
