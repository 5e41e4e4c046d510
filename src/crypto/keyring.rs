//! Every key this box knows of, in one place for the dashboard: the options' recipients,
//! passphrase and Home Assistant keys, and the vault's (Home Assistant keys seen or imported, age
//! key pairs made here). It answers the questions the emergency-kit page asks: what are copies
//! encrypted to now, does this typed group match the kit, which private keys does this passphrase
//! unseal, and does every stored copy have its keys at hand.

use crate::config::EncryptionSpec;
use crate::crypto::identity::KeyPair;
use crate::crypto::recipient_fingerprint;
use crate::crypto::vault::{AgeKeyInfo, KeyInfo, Vault, VaultError};
use crate::history::KeyLedger;
use crate::secret::Secret;
use crate::signing::{PublicKey, SignerInfo, SigningKey, Trusted};
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex, PoisonError};

/// Why a key pair made elsewhere was not registered.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("that private key belongs to {0}, which is not among the options' recipients")]
    NotARecipient(String),
    #[error("the key vault could not be opened at start; Lifeboat's log says why")]
    NoVault,
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// The options' keys and the vault.
#[derive(Clone)]
pub struct Keyring {
    /// `None` when the vault could not be opened (the reason is in the log).
    pub vault: Option<Arc<Mutex<Vault>>>,
    /// The options' recipients or passphrase.
    pub options: EncryptionSpec,
    /// The options' Home Assistant keys.
    pub options_ha_keys: Vec<Secret>,
    /// The manifest signing keys this home has used (the vault's; not given without a vault,
    /// so copies are then checked for tampering only). Destinations share it.
    pub trusted: Trusted,
}

/// How a kit check went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KitAnswer {
    pub ok: bool,
    /// What was asked and how each answer went (never the answers).
    pub detail: String,
}

/// What one entry of the key ledger needs, judged against the keys at hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerVerdict {
    /// The Home Assistant key the backups need is in the vault (or none is needed).
    pub ha_key_at_hand: bool,
    /// The age keys the copies are locked to that are still among today's keys.
    pub locks_in_use: Vec<String>,
    /// The ones that are not: their kit pages must be kept.
    pub locks_retired: Vec<String>,
}

impl Keyring {
    /// The key ring over `vault` (if it could be opened) and the options' keys.
    pub fn new(
        vault: Option<Arc<Mutex<Vault>>>,
        options: EncryptionSpec,
        options_ha_keys: Vec<Secret>,
    ) -> Self {
        let trusted = match &vault {
            Some(v) => Trusted::keys(
                v.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .signer_keys(),
            ),
            None => Trusted::default(),
        };
        Self {
            vault,
            options,
            options_ha_keys,
            trusted,
        }
    }

    /// This box's manifest signing key, made on first use from `seed` (fresh randomness). `None`
    /// without a vault, or when it cannot be written (logged): copies are then made unsigned.
    pub fn signing_key(&self, now: DateTime<Utc>, seed: &[u8; 32]) -> Option<SigningKey> {
        let made = self.with(|v| match v.signing_key(now, seed) {
            Ok(k) => Some(k),
            Err(e) => {
                tracing::error!("the manifest signing key: {e}; copies are made unsigned");
                None
            }
        })?;
        self.trusted.add(made.public());
        Some(made)
    }

    /// Trusts copies signed by `key` (brought from an earlier box's kit), at once and for good;
    /// returns whether it was new.
    ///
    /// # Errors
    /// [`VaultError`] when the vault cannot be written (or there is none).
    pub fn trust_signer(&self, key: PublicKey, now: DateTime<Utc>) -> Result<bool, VaultError> {
        let new = self
            .with(|v| Some(v.trust_signer(key, now)))
            .ok_or(VaultError::NotOpen)??;
        self.trusted.add(key);
        Ok(new)
    }

    /// Every manifest signing key this home has used, oldest first.
    pub fn signers(&self) -> Vec<SignerInfo> {
        self.with(|v| v.signers())
    }

    fn with<T: Default>(&self, f: impl FnOnce(&mut Vault) -> T) -> T {
        self.vault.as_ref().map_or_else(T::default, |v| {
            f(&mut v.lock().unwrap_or_else(PoisonError::into_inner))
        })
    }

    /// What copies are encrypted to now.
    pub fn encryption(&self) -> EncryptionSpec {
        self.options.with_made(self.with(|v| v.recipients()))
    }

    /// Whether a new key may be made here (not while the options encrypt with a passphrase, which
    /// age cannot mix with keys).
    pub fn can_make_keys(&self) -> bool {
        self.options.passphrase.is_none() && self.vault.is_some()
    }

    /// Every Home Assistant key, the vault's newest first, then the options' not in it.
    pub fn ha_keys(&self) -> Vec<Secret> {
        let mut keys = self.with(|v| v.ha_keys());
        for k in &self.options_ha_keys {
            if !keys.iter().any(|x| x.expose() == k.expose()) {
                keys.push(k.clone());
            }
        }
        keys
    }

    /// Files a Home Assistant key in the vault (kept for good: a rotation must not orphan older
    /// backups); returns whether it was new. Without a vault there is nowhere to file it.
    ///
    /// # Errors
    /// [`VaultError`] when the vault cannot be written.
    pub fn remember_ha_key(
        &self,
        key: &Secret,
        origin: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, VaultError> {
        match &self.vault {
            Some(v) => v
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .add_ha_key(key, origin, now),
            None => Ok(false),
        }
    }

    /// The vault's Home Assistant keys, without secrets.
    pub fn ha_key_list(&self) -> Vec<KeyInfo> {
        self.with(|v| v.list())
    }

    /// The age key pairs made here, without secrets.
    pub fn age_keys(&self) -> Vec<AgeKeyInfo> {
        self.with(|v| v.age_keys())
    }

    /// Whether some private key is kept here sealed with a passphrase.
    pub fn has_sealed(&self) -> bool {
        self.age_keys().iter().any(|k| k.sealed)
    }

    /// Files a key pair the person confirmed they hold.
    ///
    /// # Errors
    /// [`VaultError`] when the vault cannot be written (or could not be opened).
    pub fn keep(
        &self,
        pair: &KeyPair,
        sealed: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), VaultError> {
        let v = self
            .vault
            .as_ref()
            .ok_or_else(|| VaultError::Damaged("the vault could not be opened at start".into()))?;
        v.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add_age_key(pair, sealed, now)
    }

    /// Registers a key pair made elsewhere for the kit check: its public half must be one of the
    /// options' recipients.
    ///
    /// # Errors
    /// [`RegisterError`], in words for a person.
    pub fn register(
        &self,
        pair: &KeyPair,
        sealed: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), RegisterError> {
        if !self.options.recipients.contains(&pair.recipient()) {
            return Err(RegisterError::NotARecipient(pair.recipient().to_string()));
        }
        let v = self.vault.as_ref().ok_or(RegisterError::NoVault)?;
        Ok(v.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .register_age_key(pair, sealed, now)?)
    }

    /// Opens the private keys sealed with `passphrase`.
    ///
    /// # Errors
    /// [`VaultError`] when none is sealed or the passphrase opens none.
    pub fn unseal(&self, passphrase: &Secret) -> Result<Vec<KeyPair>, VaultError> {
        match &self.vault {
            Some(v) => v
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .unseal(passphrase),
            None => Err(VaultError::NothingSealed),
        }
    }

    /// What the kit check asks for: the last group of the newest age key made here, and of the
    /// newest Home Assistant key in the vault.
    pub fn check_asks(&self) -> (bool, bool) {
        self.with(|v| (!v.age_keys().is_empty(), !v.list().is_empty()))
    }

    /// Checks typed last groups against the kit: every key the check can ask about must be
    /// answered, and answered right.
    pub fn check(&self, age_group: &str, ha_group: &str) -> KitAnswer {
        let (age, ha) = self.with(|v| (v.check_age_group(age_group), v.check_ha_group(ha_group)));
        let mut parts = Vec::new();
        let mut ok = true;
        for (what, verdict) in [("age key", age), ("Home Assistant key", ha)] {
            match verdict {
                Some(true) => parts.push(format!("{what}: last group right")),
                Some(false) => {
                    ok = false;
                    parts.push(format!("{what}: last group wrong"));
                }
                None => {}
            }
        }
        if parts.is_empty() {
            return KitAnswer {
                ok: false,
                detail: "nothing to check: no key made here and no Home Assistant key in the vault"
                    .into(),
            };
        }
        KitAnswer {
            ok,
            detail: parts.join("; "),
        }
    }

    /// Judges one entry of the key ledger against the keys at hand.
    pub fn judge(&self, keys: &KeyLedger) -> LedgerVerdict {
        let vault_fps: Vec<String> = self
            .ha_key_list()
            .into_iter()
            .map(|k| k.fingerprint)
            .collect();
        let now: Vec<String> = self
            .encryption()
            .recipients
            .iter()
            .map(recipient_fingerprint)
            .collect();
        let (locks_in_use, locks_retired) = keys
            .recipients
            .iter()
            .cloned()
            .partition(|r| now.contains(r));
        LedgerVerdict {
            ha_key_at_hand: match &keys.ha_key {
                Some(fp) => vault_fps.contains(fp),
                None => !keys.protected,
            },
            locks_in_use,
            locks_retired,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::securetar::ha_key_fingerprint;

    const KEY: &str = "DDTV-CESF-QLHM-PM8S-AHHS-BF6M-5044";

    fn keyring(dir: &std::path::Path) -> Keyring {
        Keyring::new(
            Some(Arc::new(Mutex::new(Vault::open(dir).unwrap()))),
            EncryptionSpec {
                recipients: Vec::new(),
                passphrase: None,
            },
            Vec::new(),
        )
    }

    /// Without a vault, trusting a key says the vault is not open (it said "no key is sealed with
    /// a passphrase", which was about something else).
    #[test]
    fn trusting_a_key_without_a_vault_says_the_vault_is_not_open() {
        let k = Keyring::new(
            None,
            EncryptionSpec {
                recipients: Vec::new(),
                passphrase: None,
            },
            Vec::new(),
        );
        let key = crate::signing::SigningKey::from_seed(&[1; 32])
            .unwrap()
            .public();
        let e = k.trust_signer(key, Utc::now()).unwrap_err();
        assert!(e.to_string().contains("could not be opened"), "{e}");
    }

    #[test]
    fn the_check_asks_what_it_can_verify_and_needs_every_answer_right() {
        let dir = tempfile::tempdir().unwrap();
        let k = keyring(dir.path());
        assert_eq!(k.check_asks(), (false, false));
        assert!(!k.check("", "").ok, "nothing to check is not a pass");
        let pair = KeyPair::generate();
        k.keep(&pair, None, Utc::now()).unwrap();
        k.with(|v| v.add_ha_key(&Secret::new(KEY), "import", Utc::now()).ok());
        assert_eq!(k.check_asks(), (true, true));
        let last = pair.groups().pop().unwrap();
        let right = k.check(&last, "5044");
        assert!(right.ok, "{right:?}");
        assert!(!right.detail.contains(&last), "the answer is not recorded");
        let half = k.check(&last, "0000");
        assert!(!half.ok && half.detail.contains("Home Assistant key: last group wrong"));
        assert_eq!(k.encryption().recipients, [pair.recipient()]);
    }

    #[test]
    fn a_key_from_the_options_can_be_registered_for_the_check_and_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let mut k = keyring(dir.path());
        let mine = KeyPair::generate();
        k.options.recipients = vec![mine.recipient()];
        let stranger = KeyPair::generate();
        assert!(k.register(&stranger, None, Utc::now()).is_err());
        assert!(k.age_keys().is_empty());
        k.register(&mine, None, Utc::now()).unwrap();
        assert!(k.age_keys()[0].registered);
        assert_eq!(k.check_asks(), (true, false));
        assert!(k.check(&mine.groups().pop().unwrap(), "").ok);
        assert_eq!(k.encryption().recipients, [mine.recipient()], "not twice");
    }

    #[test]
    fn the_ledger_says_which_keys_are_at_hand() {
        let dir = tempfile::tempdir().unwrap();
        let k = keyring(dir.path());
        let pair = KeyPair::generate();
        k.keep(&pair, None, Utc::now()).unwrap();
        k.with(|v| v.add_ha_key(&Secret::new(KEY), "import", Utc::now()).ok());
        let fp = recipient_fingerprint(&pair.recipient());
        let good = KeyLedger {
            protected: true,
            ha_key: Some(ha_key_fingerprint(KEY)),
            recipients: vec![fp.clone(), "age:old".into()],
            passphrase: false,
        };
        let v = k.judge(&good);
        assert!(v.ha_key_at_hand);
        assert_eq!(v.locks_in_use, [fp]);
        assert_eq!(v.locks_retired, ["age:old"]);
        let unknown = KeyLedger {
            ha_key: None,
            ..good.clone()
        };
        assert!(!k.judge(&unknown).ha_key_at_hand);
        let plain = KeyLedger {
            protected: false,
            ha_key: None,
            ..good
        };
        assert!(k.judge(&plain).ha_key_at_hand, "nothing needed");
    }
}
