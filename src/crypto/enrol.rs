//! Key enrolment, the one path the dashboard and `lifeboat keys generate` share: a new age key
//! pair (its private half sealed with a passphrase when one is chosen) is shown once; it is kept —
//! filed in the vault through the [`Keyring`] — only when its last group is typed back, proof that
//! it was written down or printed; and that proof is recorded as a passed kit check.

use super::identity::{IdentityError, KeyPair};
use super::keyring::Keyring;
use super::kit::last_group;
use super::vault::VaultError;
use crate::history::History;
use crate::secret::Secret;
use chrono::{DateTime, Utc};

/// What the kit check records when an enrolment is confirmed.
pub const CONFIRMED: &str = "a new age key was made and its last group typed back";

/// Why a key was not enrolled.
#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    #[error(
        "that is not the key's last group; nothing was kept (look at the sheet: the last group of \
         the private key, AGE-SECRET-KEY-1…)"
    )]
    WrongGroup,
    #[error(transparent)]
    Seal(#[from] IdentityError),
    #[error("the new key could not be kept: {0}")]
    Keep(#[from] VaultError),
}

/// A key pair shown once and waiting to be confirmed.
pub struct Enrolment {
    pair: KeyPair,
    sealed: Option<String>,
}

impl Enrolment {
    /// Makes a new key pair, its private half sealed with `passphrase` when one is given. Sealing
    /// runs scrypt (most of a second on a Pi): call this off async threads.
    ///
    /// # Errors
    /// [`EnrolError::Seal`] when the passphrase is too weak.
    pub fn begin(passphrase: Option<&Secret>) -> Result<Self, EnrolError> {
        let pair = KeyPair::generate();
        let sealed = passphrase.map(|p| pair.seal(p)).transpose()?;
        Ok(Self { pair, sealed })
    }

    /// The pair to show, once.
    pub fn pair(&self) -> &KeyPair {
        &self.pair
    }

    /// Whether its private half is sealed here too.
    pub fn is_sealed(&self) -> bool {
        self.sealed.is_some()
    }

    /// Whether `typed` is the private key's last group (case and spaces around it aside).
    pub fn is_last_group(&self, typed: &str) -> bool {
        typed
            .trim()
            .eq_ignore_ascii_case(&last_group(self.pair.secret().expose()))
    }

    /// Keeps the pair when `typed` is its last group: see [`Enrolment::keep`].
    ///
    /// # Errors
    /// [`EnrolError::WrongGroup`], or as [`Enrolment::keep`].
    pub async fn confirm(
        self,
        typed: &str,
        keys: &Keyring,
        history: &History,
        now: DateTime<Utc>,
    ) -> Result<KeyPair, EnrolError> {
        if !self.is_last_group(typed) {
            return Err(EnrolError::WrongGroup);
        }
        self.keep(keys, history, now).await
    }

    /// Files the pair in the vault (copies are encrypted to it from now on) and records the kit
    /// check it passed; a kit check that cannot be recorded is only logged.
    ///
    /// # Errors
    /// [`EnrolError::Keep`] when the vault cannot take it: nothing changed.
    pub async fn keep(
        self,
        keys: &Keyring,
        history: &History,
        now: DateTime<Utc>,
    ) -> Result<KeyPair, EnrolError> {
        keys.keep(&self.pair, self.sealed, now)?;
        if let Err(e) = history.record_kit_check(now, true, CONFIRMED).await {
            tracing::warn!("recording the kit check: {e}");
        }
        Ok(self.pair)
    }
}
