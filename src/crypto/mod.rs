//! Encryption of the backup stream with age, the keys that open it, and the emergency kit.

pub mod age_open;
pub mod age_stream;
pub mod enrol;
pub mod identity;
pub mod keyring;
pub mod kit;
pub mod vault;

pub use age_stream::{CryptoError, StreamEncryptor, recipient_fingerprint};
