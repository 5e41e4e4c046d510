//! The key vault: Home Assistant backup keys (every one ever seen, so old backups stay checkable
//! and restorable after a key rotation), sealed at rest in the data folder.
//!
//! Sealing: the vault (`vault.age`) is an age file encrypted to a machine identity kept beside it
//! in `vault.key`. The add-on's manifest excludes `vault.key` from Home Assistant's backups, so a
//! backup of this add-on carries the vault only sealed, never the key that opens it — the keys
//! themselves belong in the emergency kit. Both files are created owner-only and replaced
//! atomically (a new temporary file under a random name, fsync, rename).

use crate::archive::securetar::ha_key_fingerprint;
use crate::crypto::identity::{self, IdentityError, KeyPair};
use crate::crypto::recipient_fingerprint;
use crate::secret::Secret;
use crate::signing::{PublicKey, SignerInfo, SigningKey};
use age::secrecy::ExposeSecret;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The sealed vault's file name in the data folder.
pub const VAULT_FILE: &str = "vault.age";
/// The sealing identity's file name (excluded from Home Assistant's backups).
pub const KEY_FILE: &str = "vault.key";

/// Why the vault could not be used.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the vault at {0} cannot be opened with its key (was vault.key lost or replaced?); import the keys again from your emergency kit"
    )]
    Sealed(PathBuf),
    #[error("the vault is damaged: {0}")]
    Damaged(String),
    #[error("no key in the vault is sealed with a passphrase: use the private key from the kit")]
    NothingSealed,
    #[error("the key vault could not be opened (Lifeboat's log says why)")]
    NotOpen,
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

/// One Home Assistant backup key, as the vault keeps it.
#[derive(Clone, Serialize, Deserialize)]
struct StoredKey {
    key: String,
    added: DateTime<Utc>,
    /// `home-assistant` (read from HA's backup settings), `import`, or `options`.
    origin: String,
}

/// An age key pair Lifeboat made: its public half, and what lets the kit check ask for the
/// private half without keeping it.
#[derive(Clone, Serialize, Deserialize)]
struct StoredAgeKey {
    recipient: String,
    made: DateTime<Utc>,
    /// [`identity::check_digest`] of the private key's last group.
    check: String,
    /// The private key sealed with the person's passphrase, when they chose to keep it here.
    #[serde(default)]
    sealed: Option<String>,
    /// Made elsewhere (`age-keygen`) and registered here for the kit check, not made here.
    #[serde(default)]
    registered: bool,
}

/// A manifest signing key: one this box made (with its seed), or a public half the person
/// brought from an earlier box's kit, so that box's copies count as this home's.
#[derive(Clone, Serialize, Deserialize)]
struct StoredSigner {
    public: String,
    added: DateTime<Utc>,
    /// The private seed (hex), for a key made here.
    #[serde(default)]
    seed: Option<String>,
}

#[derive(Default, Serialize, Deserialize)]
struct Contents {
    format: u32,
    ha_keys: Vec<StoredKey>,
    #[serde(default)]
    age_keys: Vec<StoredAgeKey>,
    #[serde(default)]
    signers: Vec<StoredSigner>,
}

/// A key as listed (no secret).
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub fingerprint: String,
    pub added: DateTime<Utc>,
    pub origin: String,
}

/// An age key Lifeboat made, as listed (no secret).
#[derive(Debug, Clone, Serialize)]
pub struct AgeKeyInfo {
    pub recipient: String,
    pub fingerprint: String,
    pub made: DateTime<Utc>,
    /// Whether its private half is kept here, sealed with a passphrase.
    pub sealed: bool,
    /// Made elsewhere and registered here for the kit check.
    pub registered: bool,
}

/// The opened vault.
pub struct Vault {
    dir: PathBuf,
    identity: age::x25519::Identity,
    contents: Contents,
}

/// Home Assistant's emergency-kit keys (`XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX`) found in `text`.
pub fn keys_in_kit(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for word in text.split(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',') {
        let groups: Vec<&str> = word.split('-').collect();
        let shaped = groups.len() == 7
            && groups.iter().all(|g| {
                g.len() == 4
                    && g.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            });
        if shaped && !found.iter().any(|k| k == word) {
            found.push(word.to_owned());
        }
    }
    found
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> VaultError + '_ {
    move |source| VaultError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The vault's contents as sealed in `path`, or `None` when there is no vault yet.
fn read_contents(
    identity: &age::x25519::Identity,
    path: &Path,
) -> Result<Option<Contents>, VaultError> {
    let sealed = match std::fs::read(path) {
        Ok(sealed) => sealed,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    let dec = age::Decryptor::new(&sealed[..]).map_err(|e| VaultError::Damaged(e.to_string()))?;
    let mut r = dec
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .map_err(|_| VaultError::Sealed(path.to_owned()))?;
    let mut plain = Vec::new();
    r.read_to_end(&mut plain)
        .map_err(|e| VaultError::Damaged(e.to_string()))?;
    serde_json::from_slice(&plain)
        .map(Some)
        .map_err(|e| VaultError::Damaged(e.to_string()))
}

/// Writes a file owner-only and atomically: a new temporary file of its own (two writers at once
/// never share one, and it is removed if anything fails), fsync, rename, fsync of the folder.
fn write_private(path: &Path, data: &[u8]) -> Result<(), VaultError> {
    crate::scratch::replace(path, data).map_err(io(path))
}

impl Vault {
    /// Opens the vault in `dir`, creating the sealing key and an empty vault on first use.
    ///
    /// # Errors
    /// [`VaultError`] when the files cannot be read or written, or the vault cannot be unsealed.
    pub fn open(dir: &Path) -> Result<Self, VaultError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let key_path = dir.join(KEY_FILE);
        let vault_path = dir.join(VAULT_FILE);
        let identity = match std::fs::read_to_string(&key_path) {
            Ok(text) => text
                .lines()
                .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
                .and_then(|l| l.parse().ok())
                .ok_or_else(|| {
                    VaultError::Damaged(format!("{} holds no age identity", key_path.display()))
                })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if vault_path.exists() {
                    return Err(VaultError::Sealed(vault_path));
                }
                let id = age::x25519::Identity::generate();
                let text = format!(
                    "# Seals Lifeboat's key vault on this machine. Not a backup key: it is never backed up.\n{}\n",
                    id.to_string().expose_secret()
                );
                write_private(&key_path, text.as_bytes())?;
                id
            }
            Err(e) => return Err(io(&key_path)(e)),
        };
        let contents = read_contents(&identity, &vault_path)?.unwrap_or(Contents {
            format: 1,
            ..Contents::default()
        });
        Ok(Self {
            dir: dir.to_owned(),
            identity,
            contents,
        })
    }

    /// Writes the vault, first taking in what another opening of it (a command run beside the
    /// daemon, a second runner) filed since this one read it: nothing in the vault is ever
    /// removed, so the union is what both meant, and neither clobbers the other's keys.
    fn save(&mut self) -> Result<(), VaultError> {
        self.refresh()?;
        let plain =
            serde_json::to_vec(&self.contents).map_err(|e| VaultError::Damaged(e.to_string()))?;
        let enc = age::Encryptor::with_recipients(std::iter::once(
            &self.identity.to_public() as &dyn age::Recipient
        ))
        .map_err(|e| VaultError::Damaged(e.to_string()))?;
        let mut sealed = Vec::new();
        let mut w = enc
            .wrap_output(&mut sealed)
            .map_err(|e| VaultError::Damaged(e.to_string()))?;
        w.write_all(&plain)
            .map_err(|e| VaultError::Damaged(e.to_string()))?;
        w.finish().map_err(|e| VaultError::Damaged(e.to_string()))?;
        write_private(&self.dir.join(VAULT_FILE), &sealed)
    }

    /// Takes in what was filed in the vault's file since it was read (see [`Vault::save`]).
    fn refresh(&mut self) -> Result<(), VaultError> {
        let Some(disk) = read_contents(&self.identity, &self.dir.join(VAULT_FILE))? else {
            return Ok(());
        };
        for k in disk.ha_keys {
            if !self.contents.ha_keys.iter().any(|m| m.key == k.key) {
                self.contents.ha_keys.push(k);
            }
        }
        for k in disk.age_keys {
            if !self
                .contents
                .age_keys
                .iter()
                .any(|m| m.recipient == k.recipient)
            {
                self.contents.age_keys.push(k);
            }
        }
        for k in disk.signers {
            if !self.contents.signers.iter().any(|m| m.public == k.public) {
                self.contents.signers.push(k);
            }
        }
        Ok(())
    }

    /// Adds a Home Assistant backup key; returns whether it was new. Keys are never removed, so a
    /// rotation keeps the old ones for the backups made with them.
    ///
    /// # Errors
    /// [`VaultError`] when the vault cannot be written.
    pub fn add_ha_key(
        &mut self,
        key: &Secret,
        origin: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, VaultError> {
        let key = key.expose().trim();
        if key.is_empty() || self.contents.ha_keys.iter().any(|k| k.key == key) {
            return Ok(false);
        }
        self.contents.ha_keys.push(StoredKey {
            key: key.to_owned(),
            added: now,
            origin: origin.to_owned(),
        });
        self.save()?;
        Ok(true)
    }

    /// Every Home Assistant backup key, newest first.
    pub fn ha_keys(&self) -> Vec<Secret> {
        self.contents
            .ha_keys
            .iter()
            .rev()
            .map(|k| Secret::new(k.key.as_str()))
            .collect()
    }

    /// Files a key pair Lifeboat made, once the person has shown they hold its private half;
    /// `sealed` is the private key sealed with their passphrase, if they want it kept here.
    ///
    /// # Errors
    /// [`VaultError`] when the vault cannot be written.
    pub fn add_age_key(
        &mut self,
        pair: &KeyPair,
        sealed: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), VaultError> {
        self.file_age_key(pair, sealed, false, now)
    }

    /// Files a key pair made elsewhere (its public half already in the options), so the kit
    /// check can ask for it too; `sealed` as for [`Vault::add_age_key`].
    ///
    /// # Errors
    /// [`VaultError`] when the vault cannot be written.
    pub fn register_age_key(
        &mut self,
        pair: &KeyPair,
        sealed: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), VaultError> {
        self.file_age_key(pair, sealed, true, now)
    }

    fn file_age_key(
        &mut self,
        pair: &KeyPair,
        sealed: Option<String>,
        registered: bool,
        now: DateTime<Utc>,
    ) -> Result<(), VaultError> {
        let recipient = pair.recipient().to_string();
        self.contents.age_keys.retain(|k| k.recipient != recipient);
        self.contents.age_keys.push(StoredAgeKey {
            recipient,
            made: now,
            check: pair.check_digest(),
            sealed,
            registered,
        });
        self.save()
    }

    /// The public halves of the key pairs Lifeboat made, oldest first: every copy is encrypted
    /// to all of them (with the options' recipients).
    pub fn recipients(&self) -> Vec<age::x25519::Recipient> {
        self.contents
            .age_keys
            .iter()
            .filter_map(|k| k.recipient.parse().ok())
            .collect()
    }

    /// The key pairs Lifeboat made, without secrets, oldest first.
    pub fn age_keys(&self) -> Vec<AgeKeyInfo> {
        self.contents
            .age_keys
            .iter()
            .filter_map(|k| {
                let r: age::x25519::Recipient = k.recipient.parse().ok()?;
                Some(AgeKeyInfo {
                    recipient: k.recipient.clone(),
                    fingerprint: recipient_fingerprint(&r),
                    made: k.made,
                    sealed: k.sealed.is_some(),
                    registered: k.registered,
                })
            })
            .collect()
    }

    /// Whether `last_group` is the last group of the newest age key's private half.
    pub fn check_age_group(&self, last_group: &str) -> Option<bool> {
        let k = self.contents.age_keys.last()?;
        Some(identity::check_digest(&k.recipient, last_group) == k.check)
    }

    /// Whether `last_group` is the last group of the newest Home Assistant key.
    pub fn check_ha_group(&self, last_group: &str) -> Option<bool> {
        let k = self.contents.ha_keys.last()?;
        Some(crate::crypto::kit::last_group(&k.key).eq_ignore_ascii_case(last_group.trim()))
    }

    /// Opens every private key sealed with `passphrase`.
    ///
    /// # Errors
    /// [`VaultError::NothingSealed`], or the passphrase opens none of them.
    pub fn unseal(&self, passphrase: &Secret) -> Result<Vec<KeyPair>, VaultError> {
        let sealed: Vec<&String> = self
            .contents
            .age_keys
            .iter()
            .filter_map(|k| k.sealed.as_ref())
            .collect();
        if sealed.is_empty() {
            return Err(VaultError::NothingSealed);
        }
        let mut opened = Vec::new();
        let mut last_error = None;
        for s in sealed {
            match KeyPair::unseal(s, passphrase) {
                Ok(p) => opened.push(p),
                Err(e) => last_error = Some(e),
            }
        }
        match (opened.is_empty(), last_error) {
            (true, Some(e)) => Err(e.into()),
            _ => Ok(opened),
        }
    }

    /// This box's manifest signing key: the newest made here, or a new one made from `seed`
    /// (fresh randomness, from the caller) and filed.
    ///
    /// # Errors
    /// [`VaultError`] when the vault cannot be written or the stored key is damaged.
    pub fn signing_key(
        &mut self,
        now: DateTime<Utc>,
        seed: &[u8; 32],
    ) -> Result<SigningKey, VaultError> {
        // Another opening of the vault may have made the key already: there is one per box.
        self.refresh()?;
        if let Some(sealed) = self
            .contents
            .signers
            .iter()
            .rev()
            .find_map(|k| k.seed.as_ref())
        {
            return SigningKey::from_sealed(&Secret::new(sealed.as_str()))
                .map_err(|e| VaultError::Damaged(e.to_string()));
        }
        let key = SigningKey::from_seed(seed).map_err(|e| VaultError::Damaged(e.to_string()))?;
        self.contents.signers.push(StoredSigner {
            public: key.public().to_string(),
            added: now,
            seed: Some(key.sealed_form().expose().to_owned()),
        });
        self.save()?;
        Ok(key)
    }

    /// Trusts copies signed by `key` (from an earlier box's kit); returns whether it was new.
    ///
    /// # Errors
    /// [`VaultError`] when the vault cannot be written.
    pub fn trust_signer(&mut self, key: PublicKey, now: DateTime<Utc>) -> Result<bool, VaultError> {
        let public = key.to_string();
        if self.contents.signers.iter().any(|k| k.public == public) {
            return Ok(false);
        }
        self.contents.signers.push(StoredSigner {
            public,
            added: now,
            seed: None,
        });
        self.save()?;
        Ok(true)
    }

    /// The public halves of every signing key this home has used: the keys its copies are
    /// judged by.
    pub fn signer_keys(&self) -> Vec<PublicKey> {
        self.contents
            .signers
            .iter()
            .filter_map(|k| PublicKey::parse(&k.public).ok())
            .collect()
    }

    /// Every signing key this home has used, oldest first, without secrets.
    pub fn signers(&self) -> Vec<SignerInfo> {
        self.contents
            .signers
            .iter()
            .filter_map(|k| {
                let key = PublicKey::parse(&k.public).ok()?;
                Some(SignerInfo {
                    public: k.public.clone(),
                    fingerprint: key.fingerprint(),
                    added: k.added,
                    own: k.seed.is_some(),
                })
            })
            .collect()
    }

    /// The keys, without their secrets.
    pub fn list(&self) -> Vec<KeyInfo> {
        self.contents
            .ha_keys
            .iter()
            .map(|k| KeyInfo {
                fingerprint: ha_key_fingerprint(&k.key),
                added: k.added,
                origin: k.origin.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "DDTV-CESF-QLHM-PM8S-AHHS-BF6M-5044";

    #[test]
    fn keys_survive_reopening_and_are_sealed_at_rest() {
        let dir = tempfile::tempdir().unwrap();
        let t = Utc::now();
        let mut v = Vault::open(dir.path()).unwrap();
        assert!(v.add_ha_key(&Secret::new(KEY), "import", t).unwrap());
        assert!(
            !v.add_ha_key(&Secret::new(KEY), "import", t).unwrap(),
            "no duplicates"
        );
        v.add_ha_key(
            &Secret::new("AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-0000"),
            "home-assistant",
            t,
        )
        .unwrap();
        let v = Vault::open(dir.path()).unwrap();
        let keys: Vec<String> = v.ha_keys().iter().map(|k| k.expose().to_owned()).collect();
        assert_eq!(
            keys,
            ["AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-0000", KEY],
            "newest first, old kept"
        );
        assert_eq!(v.list()[0].fingerprint, ha_key_fingerprint(KEY));
        let sealed = std::fs::read(dir.path().join(VAULT_FILE)).unwrap();
        assert!(
            !String::from_utf8_lossy(&sealed).contains("DDTV"),
            "the vault holds the key in the clear"
        );
        #[cfg(unix)]
        for f in [VAULT_FILE, KEY_FILE] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }

    /// Issue 38: the box's signing key is made once, kept sealed, and the same after reopening;
    /// a key brought from an old kit is trusted beside it but never signs.
    #[test]
    fn the_signing_key_is_made_once_and_kept_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let t = Utc::now();
        let mut v = Vault::open(dir.path()).unwrap();
        let k = v.signing_key(t, &[7; 32]).unwrap();
        let again = v.signing_key(t, &[8; 32]).unwrap();
        assert_eq!(k.public(), again.public(), "a second key was made");
        let old = SigningKey::from_seed(&[1; 32]).unwrap().public();
        assert!(v.trust_signer(old, t).unwrap());
        assert!(!v.trust_signer(old, t).unwrap());
        let mut v = Vault::open(dir.path()).unwrap();
        assert_eq!(v.signing_key(t, &[9; 32]).unwrap().public(), k.public());
        let listed: Vec<(String, bool)> =
            v.signers().into_iter().map(|s| (s.public, s.own)).collect();
        assert_eq!(
            listed,
            [(k.public().to_string(), true), (old.to_string(), false)]
        );
        let sealed = std::fs::read(dir.path().join(VAULT_FILE)).unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains(&hex::encode([7u8; 32])));
    }

    /// Two openings of one vault (the daemon and a command beside it, or two runners): what each
    /// files survives the other's writes, and the box has one signing key, not one per opening.
    #[test]
    fn two_openings_of_one_vault_keep_each_others_keys() {
        let dir = tempfile::tempdir().unwrap();
        let t = Utc::now();
        let mut a = Vault::open(dir.path()).unwrap();
        let mut b = Vault::open(dir.path()).unwrap();
        let ka = a.signing_key(t, &[1; 32]).unwrap();
        let kb = b.signing_key(t, &[2; 32]).unwrap();
        assert_eq!(
            ka.public(),
            kb.public(),
            "each opening made a key of its own"
        );
        b.add_ha_key(&Secret::new(KEY), "import", t).unwrap();
        a.trust_signer(SigningKey::from_seed(&[3; 32]).unwrap().public(), t)
            .unwrap();
        let v = Vault::open(dir.path()).unwrap();
        assert_eq!(v.ha_keys().len(), 1, "b's key was clobbered by a's write");
        assert_eq!(v.signers().len(), 2);
    }

    /// Issue 38: two writers at once each write a temporary file of their own; the vault is
    /// always one of theirs, whole, and no temporary file is left behind.
    #[test]
    fn writers_at_once_never_share_a_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join(VAULT_FILE);
        // A link planted under the old fixed name is not followed.
        let outside = dir.path().join("outside");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&outside, target.with_extension("partial")).unwrap();
        let big = |b: u8| vec![b; 4 << 20];
        std::thread::scope(|s| {
            for b in [b'a', b'b', b'c', b'd'] {
                let target = &target;
                s.spawn(move || {
                    for _ in 0..5 {
                        write_private(target, &big(b)).unwrap();
                    }
                });
            }
        });
        let got = std::fs::read(&target).unwrap();
        assert_eq!(got.len(), 4 << 20);
        assert!(got.iter().all(|x| *x == got[0]), "two writers' bytes mixed");
        assert!(!outside.exists(), "the planted link was followed");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_vault_without_its_key_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let mut v = Vault::open(dir.path()).unwrap();
        v.add_ha_key(&Secret::new(KEY), "import", Utc::now())
            .unwrap();
        std::fs::remove_file(dir.path().join(KEY_FILE)).unwrap();
        let err = Vault::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("emergency kit"), "{err}");
    }

    #[test]
    fn made_keys_are_kept_public_checkable_and_optionally_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let t = Utc::now();
        let pair = KeyPair::generate();
        let pass = Secret::new("a passphrase for drills");
        {
            let mut v = Vault::open(dir.path()).unwrap();
            assert!(v.check_age_group("ABCDEF").is_none(), "no key, no check");
            assert!(matches!(v.unseal(&pass), Err(VaultError::NothingSealed)));
            v.add_age_key(&pair, Some(pair.seal(&pass).unwrap()), t)
                .unwrap();
        }
        let v = Vault::open(dir.path()).unwrap();
        assert_eq!(v.recipients(), [pair.recipient()]);
        let last = pair.groups().last().cloned().unwrap();
        assert_eq!(v.check_age_group(&last), Some(true));
        assert_eq!(v.check_age_group("QQQQQQ"), Some(false));
        assert!(v.age_keys()[0].sealed);
        let opened = v.unseal(&pass).unwrap();
        assert_eq!(opened[0].recipient(), pair.recipient());
        assert!(v.unseal(&Secret::new("not the passphrase")).is_err());
        let sealed = std::fs::read(dir.path().join(VAULT_FILE)).unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains(&last));
    }

    #[test]
    fn the_ha_key_check_takes_its_last_group() {
        let dir = tempfile::tempdir().unwrap();
        let mut v = Vault::open(dir.path()).unwrap();
        assert!(v.check_ha_group("5044").is_none());
        v.add_ha_key(&Secret::new(KEY), "import", Utc::now())
            .unwrap();
        assert_eq!(v.check_ha_group(" 5044 "), Some(true));
        assert_eq!(v.check_ha_group("BF6M"), Some(false));
    }

    #[test]
    fn kit_keys_are_found_in_text() {
        let kit = format!(
            "Home Assistant emergency kit\nDate: 2026-11-23\nEncryption key:\n{KEY}\nnot-a-key ABCD-EFGH"
        );
        assert_eq!(keys_in_kit(&kit), [KEY]);
        assert!(keys_in_kit("ddtv-cesf-qlhm-pm8s-ahhs-bf6m-5044").is_empty());
    }
}
