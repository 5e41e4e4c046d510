//! Age key pairs that Lifeboat makes itself. The public half encrypts every copy; the private half
//! is shown once, printed in the emergency kit, and then gone from the box — unless the person
//! chose to keep it sealed with a passphrase of their own, for restore drills and restores from the
//! dashboard. What stays behind is enough to ask "do you still have it?": a digest of the key's
//! last group, never the group itself.

use crate::secret::Secret;
use age::secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// Characters in a group of the key as printed for copying by hand; the last group is what the
/// kit check asks for.
pub const GROUP: usize = 6;
/// The shortest passphrase accepted for sealing a private key.
pub const MIN_PASSPHRASE: usize = crate::secret::MIN_PASSPHRASE;
/// scrypt work factor for sealing (N = 2^15, 32 MiB): about a second on a Raspberry Pi 4.
const SEAL_WORK_FACTOR: u8 = 15;
/// The most expensive seal accepted when unsealing (a hostile vault cannot ask for hours of work).
const MAX_UNSEAL_WORK_FACTOR: u8 = 18;

/// Why a key could not be made, sealed or unsealed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("the passphrase is too short: use at least {MIN_PASSPHRASE} characters")]
    WeakPassphrase,
    #[error("the two passphrases differ")]
    PassphrasesDiffer,
    #[error("that passphrase does not open the sealed key")]
    WrongPassphrase,
    #[error("the sealed key is damaged: {0}")]
    Damaged(String),
    #[error("{0}")]
    NotAnIdentity(String),
}

/// A key pair just made (or read from a kit): it holds the private half.
pub struct KeyPair {
    identity: age::x25519::Identity,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("recipient", &self.recipient().to_string())
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    /// A new random key pair.
    pub fn generate() -> Self {
        Self {
            identity: age::x25519::Identity::generate(),
        }
    }

    /// The key pair whose private key (`AGE-SECRET-KEY-1…`) appears in `text`: an identity file,
    /// a kit, or the key typed by hand in its printed groups (spaces are ignored).
    ///
    /// # Errors
    /// [`IdentityError::NotAnIdentity`] when no valid private key is found.
    pub fn find_in(text: &str) -> Result<Self, IdentityError> {
        let upper = text.to_ascii_uppercase();
        for (at, _) in upper.match_indices("AGE-SECRET-KEY-1") {
            // The key may be printed in groups: gather bech32 characters across spaces.
            let key: String = upper[at..]
                .chars()
                .filter(|c| *c != ' ')
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            if let Ok(identity) = key.parse::<age::x25519::Identity>() {
                return Ok(Self { identity });
            }
        }
        Err(IdentityError::NotAnIdentity(
            "no age private key (AGE-SECRET-KEY-1…) found: paste the whole line from the kit"
                .into(),
        ))
    }

    /// The public half, which copies are encrypted to.
    pub fn recipient(&self) -> age::x25519::Recipient {
        self.identity.to_public()
    }

    /// The private key as one line (`AGE-SECRET-KEY-1…`), the form `age -i` reads.
    pub fn secret(&self) -> Secret {
        Secret::new(self.identity.to_string().expose_secret())
    }

    /// The private key in groups for copying by hand: the last group is [`GROUP`] characters.
    pub fn groups(&self) -> Vec<String> {
        groups(self.secret().expose())
    }

    /// The identity, for decrypting.
    pub fn identity(&self) -> &age::x25519::Identity {
        &self.identity
    }

    /// What the vault keeps to check the kit later: a digest of the last group.
    pub fn check_digest(&self) -> String {
        let groups = self.groups();
        check_digest(
            &self.recipient().to_string(),
            groups.last().map_or("", String::as_str),
        )
    }

    /// The private key encrypted with `passphrase`: an armored age file, which the `age` command
    /// opens too (`age -d`, then type the passphrase).
    ///
    /// # Errors
    /// [`IdentityError::WeakPassphrase`] for a short passphrase.
    pub fn seal(&self, passphrase: &Secret) -> Result<String, IdentityError> {
        if passphrase.expose().chars().count() < MIN_PASSPHRASE {
            return Err(IdentityError::WeakPassphrase);
        }
        let mut recipient =
            age::scrypt::Recipient::new(SecretString::from(passphrase.expose().to_owned()));
        recipient.set_work_factor(SEAL_WORK_FACTOR);
        let text = format!(
            "# Lifeboat: private key of {}\n{}\n",
            self.recipient(),
            self.identity.to_string().expose_secret()
        );
        age::encrypt_and_armor(&recipient, text.as_bytes())
            .map_err(|e| IdentityError::Damaged(e.to_string()))
    }

    /// Opens a key sealed by [`KeyPair::seal`].
    ///
    /// # Errors
    /// [`IdentityError::WrongPassphrase`], or [`IdentityError::Damaged`].
    pub fn unseal(sealed: &str, passphrase: &Secret) -> Result<Self, IdentityError> {
        let mut identity =
            age::scrypt::Identity::new(SecretString::from(passphrase.expose().to_owned()));
        identity.set_max_work_factor(MAX_UNSEAL_WORK_FACTOR);
        let plain = age::decrypt(&identity, sealed.as_bytes()).map_err(|e| match e {
            age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
                IdentityError::WrongPassphrase
            }
            other => IdentityError::Damaged(other.to_string()),
        })?;
        let text = String::from_utf8(plain).map_err(|e| IdentityError::Damaged(e.to_string()))?;
        Self::find_in(&text).map_err(|_| IdentityError::Damaged("it holds no private key".into()))
    }
}

/// `key` in groups: the last group [`GROUP`] characters, the others too, counted from the end,
/// the first one holding the `AGE-SECRET-KEY-1` prefix and what is left over.
pub fn groups(key: &str) -> Vec<String> {
    let chars: Vec<char> = key.chars().collect();
    let prefix = "AGE-SECRET-KEY-1".len().min(chars.len());
    let body = &chars[prefix..];
    let lead = body.len() % GROUP;
    let mut out = vec![chars[..prefix + lead].iter().collect::<String>()];
    out.extend(body[lead..].chunks(GROUP).map(|c| c.iter().collect()));
    out
}

/// The digest kept for the kit check of the key whose public half is `recipient`.
pub fn check_digest(recipient: &str, last_group: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"lifeboat kit check v1\n");
    h.update(recipient.as_bytes());
    h.update(b"\n");
    h.update(last_group.trim().to_ascii_uppercase().as_bytes());
    hex::encode(h.finalize())
}

/// Checks a new passphrase and its confirmation; an empty pair means "keep no sealed copy".
///
/// # Errors
/// [`IdentityError::PassphrasesDiffer`] or [`IdentityError::WeakPassphrase`].
pub fn chosen_passphrase(
    first: Option<&str>,
    again: Option<&str>,
) -> Result<Option<Secret>, IdentityError> {
    let first = first.unwrap_or_default();
    let again = again.unwrap_or_default();
    if first.is_empty() && again.is_empty() {
        return Ok(None);
    }
    if first != again {
        return Err(IdentityError::PassphrasesDiffer);
    }
    if first.chars().count() < MIN_PASSPHRASE {
        return Err(IdentityError::WeakPassphrase);
    }
    Ok(Some(Secret::new(first)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_groups_rebuild_the_key_and_end_in_a_full_group() {
        let pair = KeyPair::generate();
        let groups = pair.groups();
        assert_eq!(groups.concat(), pair.secret().expose());
        assert!(groups[0].starts_with("AGE-SECRET-KEY-1"));
        assert!(groups[1..].iter().all(|g| g.len() == GROUP), "{groups:?}");
    }

    #[test]
    fn a_key_typed_in_groups_or_lower_case_is_found() {
        let pair = KeyPair::generate();
        let typed = format!("my kit says:\n{}\n", pair.groups().join(" ")).to_lowercase();
        let found = KeyPair::find_in(&typed).unwrap();
        assert_eq!(found.recipient(), pair.recipient());
        assert!(KeyPair::find_in("AGE-SECRET-KEY-1NOPE").is_err());
    }

    #[test]
    fn the_check_digest_needs_the_right_last_group() {
        let pair = KeyPair::generate();
        let r = pair.recipient().to_string();
        let last = pair.groups().last().cloned().unwrap();
        assert_eq!(check_digest(&r, &last.to_lowercase()), pair.check_digest());
        assert_eq!(check_digest(&r, &format!(" {last} ")), pair.check_digest());
        assert_ne!(check_digest(&r, "QQQQQQ"), pair.check_digest());
    }

    #[test]
    fn a_sealed_key_opens_only_with_its_passphrase() {
        let pair = KeyPair::generate();
        let pass = Secret::new("correct horse battery");
        let sealed = pair.seal(&pass).unwrap();
        assert!(sealed.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
        assert!(!sealed.contains(pair.secret().expose()));
        let back = KeyPair::unseal(&sealed, &pass).unwrap();
        assert_eq!(back.recipient(), pair.recipient());
        assert!(matches!(
            KeyPair::unseal(&sealed, &Secret::new("wrong horse battery")),
            Err(IdentityError::WrongPassphrase)
        ));
        assert!(matches!(
            pair.seal(&Secret::new("short")),
            Err(IdentityError::WeakPassphrase)
        ));
    }

    #[test]
    fn passphrases_are_confirmed() {
        assert!(chosen_passphrase(None, Some("")).unwrap().is_none());
        assert!(matches!(
            chosen_passphrase(Some("a long passphrase"), Some("a long passphrasf")),
            Err(IdentityError::PassphrasesDiffer)
        ));
        assert!(matches!(
            chosen_passphrase(Some("short"), Some("short")),
            Err(IdentityError::WeakPassphrase)
        ));
        assert!(
            chosen_passphrase(Some("a long passphrase"), Some("a long passphrase"))
                .unwrap()
                .is_some()
        );
    }
}
