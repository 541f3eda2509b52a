//! Value transforms behind the `fpe`, `hash` and `generalize` actions.
//!
//! Each submodule is pure (text in, text out, caller-owned buffers) and owns its options type
//! with a `validate`/`parse` function the config compiler calls at load time, so a bad option
//! set is refused before any request is served.

pub mod fpe;
pub mod generalize;
pub mod hash;
