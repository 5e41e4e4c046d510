//! age encryption as a push stream: the pipeline pushes plaintext chunks in and gets ciphertext
//! chunks out, to hash and fan out. Nothing is held beyond one 64 KiB chunk of plaintext and the
//! ciphertext of the latest push.
//!
//! The output is a standard age file (age-encryption.org/v1): the `age` and `rage` command-line
//! tools decrypt it with the identity from the emergency kit, no Lifeboat needed. The age crate
//! wraps the file key into the recipients' stanzas; the header around them, its MAC and the
//! payload (ChaCha20-Poly1305 over 64 KiB chunks, age's STREAM) are written here with ring, whose
//! assembly seals 1.75 times as fast as the pure-Rust cipher the age crate uses on this machine's
//! x86-64, and has ARMv8 code that the age crate's Poly1305 lacks. Decryption stays with the age
//! crate, and the tests below decrypt what is written here with it.

use crate::config::EncryptionSpec;
use crate::pages::{PageBuf, Pages};
use age::Recipient as _;
use age::secrecy::{ExposeSecret, SecretString};
use age_core::format::{FileKey, Stanza};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use bytes::Bytes;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use sha2::{Digest, Sha256};

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

/// age's plaintext chunk size.
const CHUNK: usize = 64 << 10;
/// Room for the ciphertext of one push of the pipeline's 1 MiB chunks: age adds 16 bytes per
/// 64 KiB, one chunk held back from the push before may go out with it, and the header comes
/// first. A larger push grows the buffer.
const ROOM: usize = (1 << 20) + (128 << 10);
/// Ciphertext buffers kept for reuse: a part sent lets go of five at once.
const SPARES: usize = 8;

/// An age encryption in progress.
pub struct StreamEncryptor {
    key: LessSafeKey,
    /// Chunks sealed so far: the STREAM nonce's counter.
    sealed: u64,
    /// Plaintext not sealed yet (at most one chunk): a chunk is sealed only once it is known
    /// whether it is the last, which age marks in its nonce.
    held: Vec<u8>,
    /// Ciphertext ready to hand out (the header and payload nonce first).
    out: PageBuf,
    /// Where `out` comes from: the destinations hold the ciphertext until its part is sent.
    pages: Pages,
    /// The header and payload nonce's length.
    header_len: u64,
}

impl StreamEncryptor {
    /// Starts an age file for the configured recipients or passphrase.
    ///
    /// # Errors
    /// [`CryptoError::NoRecipients`] when neither is set, [`CryptoError::Setup`] when age refuses
    /// or the system has no randomness to give.
    pub fn new(spec: &EncryptionSpec) -> Result<Self, CryptoError> {
        let no_randomness = |e| CryptoError::Setup(format!("the system gave no randomness: {e}"));
        let file_key =
            FileKey::try_init_with_mut(|k| getrandom::getrandom(k)).map_err(no_randomness)?;
        let mut nonce = [0u8; 16];
        getrandom::getrandom(&mut nonce).map_err(no_randomness)?;

        let stanzas = if let Some(pass) = &spec.passphrase {
            age::scrypt::Recipient::new(SecretString::from(pass.expose().to_owned()))
                .wrap_file_key(&file_key)
                .map_err(|e| CryptoError::Setup(e.to_string()))?
                .0
        } else if spec.recipients.is_empty() {
            return Err(CryptoError::NoRecipients);
        } else {
            let mut all = Vec::new();
            for recipient in &spec.recipients {
                let (stanzas, _labels) = recipient
                    .wrap_file_key(&file_key)
                    .map_err(|e| CryptoError::Setup(e.to_string()))?;
                all.extend(stanzas);
            }
            all
        };

        Self::start(&file_key, &stanzas, nonce)
    }

    /// Writes the header for `stanzas` (the file key wrapped for each recipient) and `nonce`, and
    /// keys the payload.
    fn start(file_key: &FileKey, stanzas: &[Stanza], nonce: [u8; 16]) -> Result<Self, CryptoError> {
        let ikm = file_key.expose_secret();
        let header = header(stanzas, &age_core::primitives::hkdf(&[], b"header", ikm));
        let payload_key = age_core::primitives::hkdf(&nonce, b"payload", ikm);
        let key = UnboundKey::new(&CHACHA20_POLY1305, &payload_key)
            .map_err(|_| CryptoError::Setup("the payload key was refused".into()))?;

        let pages = Pages::new(ROOM, SPARES);
        let mut out = pages.buf()?;
        out.extend_from_slice(&header)?;
        out.extend_from_slice(&nonce)?;
        Ok(Self {
            key: LessSafeKey::new(key),
            sealed: 0,
            held: Vec::with_capacity(CHUNK),
            header_len: out.len() as u64,
            out,
            pages,
        })
    }

    /// The size of the whole age file for `plain` bytes of plaintext: the header, then every
    /// 64 KiB chunk with its 16-byte tag (one chunk, maybe empty, at the least).
    pub fn stored_size(&self, plain: u64) -> u64 {
        let chunk = CHUNK as u64;
        let chunks = plain.div_ceil(chunk).max(1);
        self.header_len + plain + chunks * 16
    }

    /// Encrypts `plain` and returns whatever ciphertext is ready (often empty for small pushes).
    ///
    /// # Errors
    /// [`CryptoError::Io`] when there is no memory for the ciphertext.
    pub fn push(&mut self, plain: &[u8]) -> Result<Bytes, CryptoError> {
        let mut rest = plain;
        if self.held.len() + rest.len() > CHUNK {
            // More follows the held chunk, so it is not the last: fill it up and seal it.
            if !self.held.is_empty() {
                let (fill, after) = rest.split_at(CHUNK - self.held.len());
                self.held.extend_from_slice(fill);
                rest = after;
                let held = std::mem::take(&mut self.held);
                self.seal(&held, false)?;
                self.held = held;
                self.held.clear();
            }
            while rest.len() > CHUNK {
                let (chunk, after) = rest.split_at(CHUNK);
                self.seal(chunk, false)?;
                rest = after;
            }
        }
        self.held.extend_from_slice(rest);
        self.take()
    }

    /// Ends the age file and returns the last ciphertext.
    ///
    /// # Errors
    /// [`CryptoError::Io`] when there is no memory for the ciphertext.
    pub fn finish(mut self) -> Result<Bytes, CryptoError> {
        let held = std::mem::take(&mut self.held);
        self.seal(&held, true)?;
        self.take()
    }

    /// Appends one sealed chunk: the plaintext copied once into the output, sealed in place there,
    /// its tag after it.
    fn seal(&mut self, plain: &[u8], last: bool) -> Result<(), CryptoError> {
        // age's STREAM nonce: an 11-byte big-endian chunk counter, then 1 for the last chunk.
        let mut nonce = [0u8; 12];
        nonce[3..11].copy_from_slice(&self.sealed.to_be_bytes());
        nonce[11] = u8::from(last);
        self.out.reserve(plain.len() + 16)?;
        let room = &mut self.out.spare_mut()[..plain.len()];
        room.copy_from_slice(plain);
        let tag = self
            .key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), room)
            .map_err(|_| std::io::Error::other("ChaCha20-Poly1305 refused a chunk"))?;
        self.out.advance(plain.len());
        self.out.extend_from_slice(tag.as_ref())?;
        self.sealed += 1;
        Ok(())
    }

    /// The ciphertext so far, leaving a fresh buffer behind.
    fn take(&mut self) -> Result<Bytes, CryptoError> {
        if self.out.is_empty() {
            return Ok(Bytes::new());
        }
        Ok(std::mem::replace(&mut self.out, self.pages.buf()?).freeze())
    }
}

/// The age header: the version line, the recipients' stanzas, and `---` with the header's MAC
/// (HMAC-SHA256 under `mac_key`, over everything before it up to and including `---`).
fn header(stanzas: &[Stanza], mac_key: &[u8; 32]) -> Vec<u8> {
    let mut h = b"age-encryption.org/v1\n".to_vec();
    for stanza in stanzas {
        h.extend_from_slice(b"->");
        for word in std::iter::once(&stanza.tag).chain(&stanza.args) {
            h.push(b' ');
            h.extend_from_slice(word.as_bytes());
        }
        h.push(b'\n');
        // The body in unpadded base64, 64 columns a line; the last line is always shorter,
        // empty when need be.
        let body = STANDARD_NO_PAD.encode(&stanza.body);
        for line in body.as_bytes().chunks(64) {
            h.extend_from_slice(line);
            h.push(b'\n');
        }
        if body.len() % 64 == 0 {
            h.push(b'\n');
        }
    }
    h.extend_from_slice(b"---");
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, mac_key);
    let mac = ring::hmac::sign(&key, &h);
    h.push(b' ');
    h.extend_from_slice(STANDARD_NO_PAD.encode(mac.as_ref()).as_bytes());
    h.push(b'\n');
    h
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

    fn to(id: &age::x25519::Identity) -> EncryptionSpec {
        EncryptionSpec {
            recipients: vec![id.to_public()],
            passphrase: None,
        }
    }

    #[test]
    fn round_trips_through_age() {
        let id = age::x25519::Identity::generate();
        let spec = to(&id);
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

    /// rclone is told this size before the first byte: it must be exact at every edge.
    #[test]
    fn the_stored_size_is_known_before_encrypting() {
        let two = EncryptionSpec {
            recipients: vec![
                age::x25519::Identity::generate().to_public(),
                age::x25519::Identity::generate().to_public(),
            ],
            passphrase: None,
        };
        let pass = EncryptionSpec {
            recipients: Vec::new(),
            passphrase: Some(crate::secret::Secret::new("a passphrase")),
        };
        for spec in [&two, &pass] {
            for plain in [
                0usize,
                1,
                CHUNK - 1,
                CHUNK,
                CHUNK + 1,
                3 * CHUNK,
                (3 << 20) + 5,
            ] {
                let mut enc = StreamEncryptor::new(spec).unwrap();
                let expected = enc.stored_size(plain as u64);
                let data = vec![7u8; plain];
                let mut got = 0;
                for piece in data.chunks(1 << 20) {
                    got += enc.push(piece).unwrap().len();
                }
                got += enc.finish().unwrap().len();
                assert_eq!(got as u64, expected, "{plain} bytes");
            }
        }
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

    fn decrypt(file: &[u8], id: &age::x25519::Identity) -> Vec<u8> {
        let dec = age::Decryptor::new(file).unwrap();
        let mut r = dec
            .decrypt(std::iter::once(id as &dyn age::Identity))
            .unwrap();
        let mut back = Vec::new();
        r.read_to_end(&mut back).unwrap();
        back
    }

    #[test]
    fn every_length_around_age_chunk_edges_decrypts_with_the_age_crate() {
        let id = age::x25519::Identity::generate();
        let spec = to(&id);
        let plain: Vec<u8> = (0..(3 * CHUNK + 7) as u32)
            .map(|i| (i % 253) as u8)
            .collect();
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 7] {
            for push in [1000, CHUNK, CHUNK + 1, 1 << 20] {
                let mut enc = StreamEncryptor::new(&spec).unwrap();
                let mut out = Vec::new();
                for piece in plain[..len].chunks(push) {
                    out.extend_from_slice(&enc.push(piece).unwrap());
                }
                out.extend_from_slice(&enc.push(&[]).unwrap());
                out.extend_from_slice(&enc.finish().unwrap());
                assert_eq!(decrypt(&out, &id), &plain[..len], "{len} bytes in {push}s");
                // One sealed chunk per started 64 KiB (one, empty, for nothing), 16 bytes each.
                let chunks = len.div_ceil(CHUNK).max(1);
                let header_end = out.windows(4).position(|w| w == b"--- ").unwrap();
                let payload = out.len()
                    - out[header_end..].iter().position(|b| *b == b'\n').unwrap()
                    - header_end
                    - 1;
                assert_eq!(payload, 16 + len + 16 * chunks, "{len} bytes in {push}s");
            }
        }
    }

    #[test]
    fn each_recipient_opens_the_file_and_a_stranger_does_not() {
        let ids: Vec<_> = (0..3).map(|_| age::x25519::Identity::generate()).collect();
        let spec = EncryptionSpec {
            recipients: ids.iter().map(age::x25519::Identity::to_public).collect(),
            passphrase: None,
        };
        let mut enc = StreamEncryptor::new(&spec).unwrap();
        let mut out = enc.push(b"three keys, one file").unwrap().to_vec();
        out.extend_from_slice(&enc.finish().unwrap());
        for id in &ids {
            assert_eq!(decrypt(&out, id), b"three keys, one file");
        }
        let stranger = age::x25519::Identity::generate();
        let dec = age::Decryptor::new(&out[..]).unwrap();
        assert!(
            dec.decrypt(std::iter::once(&stranger as &dyn age::Identity))
                .is_err()
        );
    }

    #[test]
    fn a_stanza_body_filling_whole_lines_ends_with_an_empty_line_and_parses() {
        // 48 bytes are exactly one 64-column line of base64: age then wants an empty line after.
        let id = age::x25519::Identity::generate();
        let file_key = FileKey::init_with_mut(|k| k.copy_from_slice(&[9; 16]));
        let (mut stanzas, _) = id.to_public().wrap_file_key(&file_key).unwrap();
        stanzas.push(Stanza {
            tag: "lifeboat-test".into(),
            args: vec!["x".into()],
            body: vec![7; 48],
        });
        let mut enc = StreamEncryptor::start(&file_key, &stanzas, [3; 16]).unwrap();
        let mut out = enc.push(b"grease").unwrap().to_vec();
        out.extend_from_slice(&enc.finish().unwrap());
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("-> lifeboat-test x\nBwcH"), "{text}");
        assert!(text.contains("BwcH\n\n---"), "{text}");
        assert_eq!(decrypt(&out, &id), b"grease");
    }

    #[test]
    fn a_tampered_header_is_refused() {
        let id = age::x25519::Identity::generate();
        let spec = to(&id);
        let mut enc = StreamEncryptor::new(&spec).unwrap();
        let mut out = enc.push(b"payload").unwrap().to_vec();
        out.extend_from_slice(&enc.finish().unwrap());
        let at = out.windows(3).position(|w| w == b"---").unwrap() - 2;
        out[at] ^= 1;
        let refused = age::Decryptor::new(&out[..])
            .map(|d| {
                d.decrypt(std::iter::once(&id as &dyn age::Identity))
                    .is_err()
            })
            .unwrap_or(true);
        assert!(refused);
    }

    #[test]
    fn fingerprints_are_stable_and_short() {
        let r: age::x25519::Recipient =
            "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
                .parse()
                .unwrap();
        // printf %s age1ql3z…mcac8p | sha256sum | cut -c1-16
        assert_eq!(recipient_fingerprint(&r), "age1:cf7e568231315068");
    }
}
