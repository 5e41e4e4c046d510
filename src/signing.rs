//! Lifeboat's signing keys: an Ed25519 key each box makes for itself (kept sealed in the vault)
//! signs every manifest it writes, so a manifest planted on a destination — which is someone
//! else's computer — cannot pass for a copy this home made. The public halves are printed in the
//! emergency kit; whoever holds the kit can tell a real copy from a forged one.
//!
//! Text form of a public key: `lifeboat-sign:` and 64 hex digits. Its fingerprint, as listings
//! show it: `sign:` and the first 16 hex digits of its SHA-256.

use crate::secret::Secret;
use chrono::{DateTime, Utc};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use sha2::{Digest as _, Sha256};
use std::sync::{Arc, PoisonError, RwLock};

/// What a public key's text form starts with.
pub const PUBLIC_PREFIX: &str = "lifeboat-sign:";

/// Why a key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error(
        "{0:?} is not a Lifeboat signing key: it is `lifeboat-sign:` and 64 hex digits, as the emergency kit prints it"
    )]
    NotAPublicKey(String),
    #[error("the sealed signing key is damaged: {0}")]
    Damaged(String),
}

/// The public half: checks signatures.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Reads the text form (spaces and line breaks inside it, as a printed kit may split it, are
    /// ignored).
    ///
    /// # Errors
    /// [`SigningError::NotAPublicKey`] saying what the form is.
    pub fn parse(text: &str) -> Result<Self, SigningError> {
        let bad = || SigningError::NotAPublicKey(text.chars().take(80).collect());
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let hex_part = compact.strip_prefix(PUBLIC_PREFIX).ok_or_else(bad)?;
        let mut key = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut key).map_err(|_| bad())?;
        Ok(Self(key))
    }

    /// The short name listings and the kit show.
    pub fn fingerprint(&self) -> String {
        format!("sign:{}", &hex::encode(Sha256::digest(self.0))[..16])
    }

    /// Whether `signature` is this key's over `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(message, signature)
            .is_ok()
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PUBLIC_PREFIX}{}", hex::encode(self.0))
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.fingerprint())
    }
}

/// Every signing public key found in `text` (a kit, a file of keys), once each, in order.
pub fn public_keys_in(text: &str) -> Vec<PublicKey> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices(PUBLIC_PREFIX) {
        // The kit prints the hex in groups: gather hex digits across spaces until 64.
        let mut hex_digits = String::with_capacity(64);
        for c in text[at + PUBLIC_PREFIX.len()..].chars() {
            if c.is_ascii_hexdigit() {
                hex_digits.push(c);
                if hex_digits.len() == 64 {
                    break;
                }
            } else if c != ' ' {
                break;
            }
        }
        if let Ok(k) = PublicKey::parse(&format!("{PUBLIC_PREFIX}{hex_digits}"))
            && !found.contains(&k)
        {
            found.push(k);
        }
    }
    found
}

/// 32 bytes of fresh randomness for a new key (from the kernel: the static binary needs no
/// /dev), or `None` when there is none to be had.
pub fn fresh_seed() -> Option<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).ok().map(|()| seed)
}

/// A manifest signing key, as listed (no secret).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SignerInfo {
    /// `lifeboat-sign:…`
    pub public: String,
    pub fingerprint: String,
    pub added: DateTime<Utc>,
    /// Made on this box (it signs); otherwise brought from an earlier box's kit.
    pub own: bool,
}

/// The private half: signs. Never printed (its Debug shows only the fingerprint).
pub struct SigningKey {
    pair: Ed25519KeyPair,
    seed: Secret,
    public: PublicKey,
}

impl SigningKey {
    /// The key made from a 32-byte seed (fresh randomness, from the caller).
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, SigningError> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|e| SigningError::Damaged(e.to_string()))?;
        let mut public = [0u8; 32];
        public.copy_from_slice(pair.public_key().as_ref());
        Ok(Self {
            pair,
            seed: Secret::new(hex::encode(seed)),
            public: PublicKey(public),
        })
    }

    /// The key as the vault keeps it (the seed's hex).
    ///
    /// # Errors
    /// [`SigningError::Damaged`] when it is not 64 hex digits.
    pub fn from_sealed(seed_hex: &Secret) -> Result<Self, SigningError> {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(seed_hex.expose(), &mut seed)
            .map_err(|_| SigningError::Damaged("the seed is not 64 hex digits".into()))?;
        Self::from_seed(&seed)
    }

    /// What the vault keeps (inside its seal).
    pub fn sealed_form(&self) -> &Secret {
        &self.seed
    }

    pub fn public(&self) -> PublicKey {
        self.public
    }

    /// The signature over `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.public.fingerprint())
    }
}

/// The signing keys a reader trusts, shared: the daemon's destinations and its key ring hold the
/// same one, so a key imported from an old kit counts at once. `None` inside means nobody said
/// (a laptop's `lifeboat recover` given no kit): signatures are then checked for tampering but
/// not for whose they are, and listings say so.
#[derive(Clone, Default)]
pub struct Trusted(Arc<RwLock<Option<Vec<PublicKey>>>>);

impl Trusted {
    /// Trusts exactly `keys`.
    pub fn keys(keys: Vec<PublicKey>) -> Self {
        Self(Arc::new(RwLock::new(Some(keys))))
    }

    /// Adds a key (to a set that was not given, it makes one).
    pub fn add(&self, key: PublicKey) {
        let mut guard = self.0.write().unwrap_or_else(PoisonError::into_inner);
        let keys = guard.get_or_insert_with(Vec::new);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }

    /// Whether anyone said which keys to trust.
    pub fn is_given(&self) -> bool {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// `Some(true)` when `key` is trusted, `Some(false)` when it is not, `None` when nobody said.
    pub fn trusts(&self, key: &PublicKey) -> Option<bool> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|keys| keys.contains(key))
    }

    /// The trusted keys (empty when nobody said).
    pub fn list(&self) -> Vec<PublicKey> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_default()
    }
}

impl std::fmt::Debug for Trusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0.read().unwrap_or_else(PoisonError::into_inner) {
            Some(keys) => f.debug_list().entries(keys).finish(),
            None => f.write_str("not given"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_seed(&[n; 32]).unwrap()
    }

    #[test]
    fn a_signature_checks_with_its_key_only_and_only_for_its_message() {
        let (a, b) = (key(1), key(2));
        let sig = a.sign(b"manifest");
        assert!(a.public().verifies(b"manifest", &sig));
        assert!(!a.public().verifies(b"manifest!", &sig));
        assert!(!b.public().verifies(b"manifest", &sig));
        assert!(!a.public().verifies(b"manifest", &sig[..63]));
    }

    #[test]
    fn the_text_form_round_trips_and_is_found_in_a_printed_kit() {
        let k = key(3).public();
        let text = k.to_string();
        assert!(text.starts_with(PUBLIC_PREFIX) && text.len() == PUBLIC_PREFIX.len() + 64);
        assert_eq!(PublicKey::parse(&text).unwrap(), k);
        // As the kit prints it: hex in groups of eight.
        let hex_part = &text[PUBLIC_PREFIX.len()..];
        let grouped: Vec<&str> = (0..8).map(|i| &hex_part[i * 8..i * 8 + 8]).collect();
        let kit = format!(
            "Signing keys\n  {PUBLIC_PREFIX} {}\n  {}\n",
            grouped.join(" "),
            key(4).public()
        );
        assert_eq!(public_keys_in(&kit), vec![k, key(4).public()]);
        assert!(PublicKey::parse("lifeboat-sign:abcd").is_err());
        assert!(PublicKey::parse(&text.replace(PUBLIC_PREFIX, "age1")).is_err());
    }

    #[test]
    fn the_private_half_never_prints() {
        let k = key(5);
        let shown = format!("{k:?} {:?}", k.sealed_form());
        assert!(!shown.contains(&hex::encode([5u8; 32])), "{shown}");
        assert!(shown.contains(&k.public().fingerprint()));
    }

    #[test]
    fn trust_not_given_is_not_the_same_as_trusting_nobody() {
        let t = Trusted::default();
        assert_eq!(t.trusts(&key(1).public()), None);
        let t = Trusted::keys(Vec::new());
        assert_eq!(t.trusts(&key(1).public()), Some(false));
        t.add(key(1).public());
        assert_eq!(t.trusts(&key(1).public()), Some(true));
    }
}
