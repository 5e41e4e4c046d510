//! age encryption as a push stream: the pipeline pushes plaintext chunks in and gets ciphertext
//! chunks out, to hash and fan out. Nothing is buffered beyond age's own 64 KiB chunk.
//!
//! The output is a standard age file: the `age` and `rage` command-line tools decrypt it with the
//! identity from the emergency kit, no Lifeboat needed.

use crate::config::EncryptionSpec;
use age::secrecy::SecretString;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

/// Why encryption failed.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("no age recipient or passphrase is configured")]
    NoRecipients,
    #[error("age refused the recipients: {0}")]
    Setup(String),
    #[error("encrypting failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Where age writes its output: a buffer the pipeline drains after every push.
#[derive(Clone, Default)]
struct Drain(Arc<Mutex<Vec<u8>>>);

impl Drain {
    /// The ciphertext so far; the buffer left behind has room for as much again, so the next
    /// push writes without growing it (growing copies everything written so far).
    fn take(&self) -> Bytes {
        let mut buf = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let room = buf.len() + AGE_CHUNK;
        Bytes::from(std::mem::replace(&mut *buf, Vec::with_capacity(room)))
    }
}

/// age's plaintext chunk size: what one ciphertext chunk may add beyond a push.
const AGE_CHUNK: usize = 64 << 10;

impl Write for Drain {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An age encryption in progress.
pub struct StreamEncryptor {
    writer: age::stream::StreamWriter<Drain>,
    drain: Drain,
}

impl StreamEncryptor {
    /// Starts an age file for the configured recipients or passphrase.
    ///
    /// # Errors
    /// [`CryptoError::NoRecipients`] when neither is set, [`CryptoError::Setup`] when age refuses.
    pub fn new(spec: &EncryptionSpec) -> Result<Self, CryptoError> {
        let encryptor = if let Some(pass) = &spec.passphrase {
            age::Encryptor::with_user_passphrase(SecretString::from(pass.expose().to_owned()))
        } else if spec.recipients.is_empty() {
            return Err(CryptoError::NoRecipients);
        } else {
            age::Encryptor::with_recipients(
                spec.recipients.iter().map(|r| r as &dyn age::Recipient),
            )
            .map_err(|e| CryptoError::Setup(e.to_string()))?
        };
        let drain = Drain::default();
        let writer = encryptor.wrap_output(drain.clone())?;
        Ok(Self { writer, drain })
    }

    /// Encrypts `plain` and returns whatever ciphertext is ready (often empty for small pushes).
    ///
    /// # Errors
    /// [`CryptoError::Io`] from age.
    pub fn push(&mut self, plain: &[u8]) -> Result<Bytes, CryptoError> {
        self.writer.write_all(plain)?;
        Ok(self.drain.take())
    }

    /// Ends the age file and returns the last ciphertext.
    ///
    /// # Errors
    /// [`CryptoError::Io`] from age.
    pub fn finish(self) -> Result<Bytes, CryptoError> {
        let drain = self.writer.finish()?;
        Ok(drain.take())
    }
}

/// A short, stable fingerprint of a recipient for manifests and the key ledger:
/// `age1:` and the first 16 hex digits of the SHA-256 of the recipient string.
pub fn recipient_fingerprint(recipient: &age::x25519::Recipient) -> String {
    let digest = Sha256::digest(recipient.to_string().as_bytes());
    format!("age1:{}", &hex::encode(digest)[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn round_trips_through_age() {
        let id = age::x25519::Identity::generate();
        let spec = EncryptionSpec {
            recipients: vec![id.to_public()],
            passphrase: None,
        };
        let mut enc = StreamEncryptor::new(&spec).unwrap();
        let plain: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut out = Vec::new();
        for chunk in plain.chunks(70_000) {
            out.extend_from_slice(&enc.push(chunk).unwrap());
        }
        out.extend_from_slice(&enc.finish().unwrap());
        let dec = age::Decryptor::new(&out[..]).unwrap();
        let mut r = dec
            .decrypt(std::iter::once(&id as &dyn age::Identity))
            .unwrap();
        let mut back = Vec::new();
        r.read_to_end(&mut back).unwrap();
        assert_eq!(back, plain);
    }

    #[test]
    fn a_passphrase_copy_decrypts_with_the_passphrase_only() {
        let spec = EncryptionSpec {
            recipients: Vec::new(),
            passphrase: Some(crate::secret::Secret::new("correct horse battery staple")),
        };
        let mut enc = StreamEncryptor::new(&spec).unwrap();
        let mut out = enc.push(b"home assistant backup").unwrap().to_vec();
        out.extend_from_slice(&enc.finish().unwrap());
        let decrypt = |pass: &str| {
            let id = age::scrypt::Identity::new(SecretString::from(pass.to_owned()));
            let dec = age::Decryptor::new(&out[..]).unwrap();
            dec.decrypt(std::iter::once(&id as &dyn age::Identity))
                .map(|mut r| {
                    let mut v = Vec::new();
                    r.read_to_end(&mut v).unwrap();
                    v
                })
        };
        assert_eq!(
            decrypt("correct horse battery staple").unwrap(),
            b"home assistant backup"
        );
        assert!(decrypt("wrong").is_err());
    }

    #[test]
    fn fingerprints_are_stable_and_short() {
        let r: age::x25519::Recipient =
            "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
                .parse()
                .unwrap();
        let f = recipient_fingerprint(&r);
        assert_eq!(f.len(), 5 + 16);
        assert_eq!(f, recipient_fingerprint(&r));
    }
}
