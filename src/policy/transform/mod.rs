//! Value transforms behind the `fpe`, `hash`, `generalize` and `tokenize` actions.
//!
//! Each submodule is pure (text in, text out, caller-owned buffers) and owns its options type
//! with a `validate`/`parse` function the config compiler calls at load time, so a bad option
//! set is refused before any request is served.

pub mod fpe;
pub mod generalize;
pub mod hash;
pub mod normalize;

/// The config spellings of a closed option type's variants, in its `ALL` order, read from its
/// `as_str`: the lists the config reference and diagnostics print cannot drift from the parser.
macro_rules! config_names {
    ($n:expr) => {{
        let mut names = [""; $n];
        let mut i = 0;
        while i < $n {
            names[i] = Self::ALL[i].as_str();
            i += 1;
        }
        names
    }};
}
use config_names;
