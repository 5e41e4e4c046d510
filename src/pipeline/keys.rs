//! The keys a run uses: what copies are encrypted to now, and the Home Assistant keys that open a
//! protected backup (a key Home Assistant used is kept in the vault for good first).

use super::plan::Refusal;
use super::runner::Runner;
use crate::archive::securetar::BackupKey;
use crate::config::EncryptionSpec;
use crate::secret::Secret;
use crate::source::Pending;
use std::sync::Arc;

impl Runner {
    /// Stores a key Home Assistant used in the vault (kept for good: a rotation must not orphan
    /// older backups) and returns every key at hand: the one the source made the backup with
    /// first, then the vault's newest first, then the options'.
    pub(super) async fn keys_for(&self, pending: &Pending) -> Arc<Vec<BackupKey>> {
        let keys = self.keys.clone();
        let now = self.clock.now();
        let key: Option<Secret> = pending.ha_key.clone();
        let joined = tokio::task::spawn_blocking(move || {
            if let Some(k) = &key
                && let Err(e) = keys.remember_ha_key(k, "home-assistant", now)
            {
                tracing::warn!("keeping Home Assistant's backup key in the vault: {e}");
            }
            keys.ha_keys()
        })
        .await;
        let known = joined.unwrap_or_else(|_| self.keys.options_ha_keys.clone());
        Arc::new(
            pending
                .ha_key
                .iter()
                .chain(known.iter())
                .map(|k| BackupKey::new(k.clone()))
                .collect(),
        )
    }

    /// What copies are encrypted to now (see [`crate::crypto::keyring::Keyring::encryption`]).
    ///
    /// # Errors
    /// [`Refusal::NoKey`] when there is no key at all.
    pub async fn encryption_now(&self) -> Result<EncryptionSpec, Refusal> {
        let keys = self.keys.clone();
        let spec = tokio::task::spawn_blocking(move || keys.encryption())
            .await
            .unwrap_or_else(|_| self.keys.options.clone());
        if spec.has_no_key() {
            return Err(Refusal::NoKey);
        }
        Ok(spec)
    }
}
