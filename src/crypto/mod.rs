//! Encryption of the backup stream with age.

pub mod age_stream;
pub mod kit;
pub mod vault;

pub use age_stream::{CryptoError, StreamEncryptor, recipient_fingerprint};
