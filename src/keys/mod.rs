//! The keyring: versioned master keys and the working keys derived from them.
//!
//! Master keys are 32 random bytes with an id and a [`KeyStatus`]. They live only in
//! [`SecretKey`], which zeroizes on drop and never prints. Working keys for a purpose and a
//! pseudonymisation domain are derived once, at config compile time, by [`derive::derive`].

pub mod derive;
mod keyring;
mod location;
pub mod pkcs11;
mod secret;
mod subject;

pub use derive::Purpose;
pub use keyring::{
    KeyId, KeyStatus, Keyring, KeyringError, KeyringFile, MasterKey, generate_entry, wrapped_entry,
};
pub(crate) use location::line_col;
pub use secret::SecretKey;
pub use subject::SubjectSecret;
