//! Sealing and unsealing private keys with a passphrase off the request threads: scrypt is slow on
//! purpose (a good part of a second on a Pi), so it runs on the blocking pool, and either step
//! fails in words a person can act on.

use crate::crypto::identity::{IdentityError, KeyPair};
use crate::crypto::keyring::Keyring;
use crate::crypto::vault::VaultError;
use crate::secret::Secret;
use tokio::task::JoinError;

/// Why sealing or unsealing did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The blocking task did not finish (it panicked or Lifeboat is stopping).
    #[error("{0}")]
    Stopped(#[from] JoinError),
    /// No sealed key opens with the passphrase, or the vault could not be read.
    #[error("{0}.")]
    Unseal(#[from] VaultError),
    /// The passphrase is too weak, or the key could not be sealed.
    #[error("{0}.")]
    Seal(#[from] IdentityError),
}

/// The private keys sealed with `passphrase`.
///
/// # Errors
/// [`SealError`] when none opens, or the task did not finish.
pub async fn unseal(keys: &Keyring, passphrase: Secret) -> Result<Vec<KeyPair>, SealError> {
    let keys = keys.clone();
    Ok(tokio::task::spawn_blocking(move || keys.unseal(&passphrase)).await??)
}

/// The pair with its private half sealed with `passphrase`, when one was chosen.
///
/// # Errors
/// [`SealError`] when the passphrase is refused, or the task did not finish.
pub async fn seal(
    pair: KeyPair,
    passphrase: Option<Secret>,
) -> Result<(KeyPair, Option<String>), SealError> {
    let sealed = tokio::task::spawn_blocking(move || {
        let sealed = passphrase.map(|p| pair.seal(&p)).transpose();
        sealed.map(|sealed| (pair, sealed))
    })
    .await??;
    Ok(sealed)
}
