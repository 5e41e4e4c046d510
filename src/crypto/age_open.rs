//! age decryption as a reader: what `recover`, a restore into Home Assistant and the drills read a
//! copy through. The header (age-encryption.org/v1) is parsed here and its MAC checked; the age
//! crate unwraps the file key with the kit's identities; the payload (ChaCha20-Poly1305 over 64
//! KiB chunks, age's STREAM) is opened in place with ring, as [`super::age_stream`] seals it, at
//! about the speed of the `age` command rather than the pure-Rust cipher's. Any file the `age`
//! command writes for an X25519 recipient is read (binary, not armored); a chunk that does not
//! authenticate, a file cut short or with bytes after its last chunk, fails the read.

use age::secrecy::ExposeSecret;
use age_core::format::{FileKey, Stanza};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use std::io::{self, BufRead, Read};

/// age's plaintext chunk size, and the tag each chunk carries.
const CHUNK: usize = 64 << 10;
const TAG: usize = 16;
/// A header larger than this is not one Lifeboat or the `age` command wrote for its recipients.
const MAX_HEADER: usize = 64 << 10;

/// Why an age file could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("not an age file: {0}")]
    NotAge(String),
    #[error(
        "not a complete age file: it ends inside its header (the copy was cut short; fetch it again or use another copy)"
    )]
    Incomplete,
    #[error("none of the identities given opens it (it was encrypted to other keys)")]
    NoIdentity,
    #[error("the age header was changed or is damaged (its MAC does not match)")]
    BadMac,
    #[error("reading it failed: {0}")]
    Io(#[from] io::Error),
}

fn not_age(why: &str) -> OpenError {
    OpenError::NotAge(why.to_owned())
}

/// Reads one header line (without its newline), counting what the header has used.
fn line<R: BufRead>(r: &mut R, raw: &mut Vec<u8>) -> Result<Vec<u8>, OpenError> {
    let start = raw.len();
    let limit = (MAX_HEADER - start.min(MAX_HEADER)) as u64;
    let n = r.by_ref().take(limit).read_until(b'\n', raw)?;
    // `n == 0`: nothing more was read, so the newline seen is the previous line's.
    if n == 0 || raw.last() != Some(&b'\n') {
        if raw.len() >= MAX_HEADER {
            return Err(not_age("its header is longer than 64 KiB"));
        }
        return Err(OpenError::Incomplete);
    }
    Ok(raw[start..raw.len() - 1].to_vec())
}

/// The header: its stanzas, the MAC, and the bytes the MAC covers.
struct Header {
    stanzas: Vec<Stanza>,
    mac: Vec<u8>,
    /// Everything up to and including `---`.
    covered: Vec<u8>,
}

fn parse_header<R: BufRead>(r: &mut R) -> Result<Header, OpenError> {
    let mut raw = Vec::new();
    if line(r, &mut raw)? != b"age-encryption.org/v1" {
        return Err(not_age("it does not start with age-encryption.org/v1"));
    }
    let mut stanzas = Vec::new();
    loop {
        let l = line(r, &mut raw)?;
        if let Some(mac) = l.strip_prefix(b"--- ") {
            let covered = raw[..raw.len() - l.len() - 1 + 3].to_vec();
            let mac = STANDARD_NO_PAD
                .decode(mac)
                .map_err(|_| not_age("its header MAC is not base64"))?;
            return Ok(Header {
                stanzas,
                mac,
                covered,
            });
        }
        let words = l
            .strip_prefix(b"-> ")
            .ok_or_else(|| not_age("a header line is neither a stanza nor its end"))?;
        let words = std::str::from_utf8(words).map_err(|_| not_age("a stanza is not text"))?;
        let mut words = words.split(' ');
        let tag = words
            .next()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| not_age("a stanza has no type"))?
            .to_owned();
        let args = words.map(str::to_owned).collect();
        let mut body = Vec::new();
        loop {
            let b = line(r, &mut raw)?;
            if b.len() > 64 {
                return Err(not_age("a stanza's body line is longer than 64 columns"));
            }
            body.extend_from_slice(&b);
            if b.len() < 64 {
                break;
            }
        }
        let body = STANDARD_NO_PAD
            .decode(&body)
            .map_err(|_| not_age("a stanza's body is not base64"))?;
        stanzas.push(Stanza { tag, args, body });
    }
}

/// The plaintext of an age file, read through.
pub struct AgeReader<R> {
    inner: R,
    key: LessSafeKey,
    /// Chunks opened so far: the STREAM nonce's counter.
    opened: u64,
    /// One chunk's ciphertext, opened in place; `plain` is the part not read yet.
    buf: Vec<u8>,
    plain: std::ops::Range<usize>,
    /// The first byte of the next chunk, read to learn that this one is not the last.
    carry: Option<u8>,
    /// The last chunk has been opened.
    done: bool,
}

impl<R: BufRead> AgeReader<R> {
    /// Reads the header of the age file `inner` and opens it with one of `identities`.
    ///
    /// # Errors
    /// [`OpenError`] saying why it cannot be opened.
    pub fn new(mut inner: R, identities: &[age::x25519::Identity]) -> Result<Self, OpenError> {
        let header = parse_header(&mut inner)?;
        let file_key = unwrap(&header.stanzas, identities)?;
        let ikm = file_key.expose_secret();
        let mac_key = age_core::primitives::hkdf(&[], b"header", ikm);
        let mac_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &mac_key);
        ring::hmac::verify(&mac_key, &header.covered, &header.mac)
            .map_err(|_| OpenError::BadMac)?;
        let mut nonce = [0u8; 16];
        inner
            .read_exact(&mut nonce)
            .map_err(|_| not_age("it ends before its payload"))?;
        let payload_key = age_core::primitives::hkdf(&nonce, b"payload", ikm);
        let key = UnboundKey::new(&CHACHA20_POLY1305, &payload_key)
            .map_err(|_| not_age("its payload key was refused"))?;
        Ok(Self {
            inner,
            key: LessSafeKey::new(key),
            opened: 0,
            buf: vec![0; CHUNK + TAG],
            plain: 0..0,
            carry: None,
            done: false,
        })
    }
}

/// The file key, from the first stanza one of `identities` opens.
fn unwrap(stanzas: &[Stanza], identities: &[age::x25519::Identity]) -> Result<FileKey, OpenError> {
    use age::Identity as _;
    for identity in identities {
        for stanza in stanzas {
            match identity.unwrap_stanza(stanza) {
                Some(Ok(key)) => return Ok(key),
                Some(Err(e)) => return Err(OpenError::NotAge(e.to_string())),
                None => {}
            }
        }
    }
    Err(OpenError::NoIdentity)
}

impl<R: Read> AgeReader<R> {
    /// Reads and opens the next chunk into `buf`.
    fn next_chunk(&mut self) -> io::Result<()> {
        let mut filled = 0;
        if let Some(b) = self.carry.take() {
            self.buf[0] = b;
            filled = 1;
        }
        while filled < self.buf.len() {
            match self.inner.read(&mut self.buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let last = if filled < self.buf.len() {
            true
        } else {
            let mut one = [0u8; 1];
            let n = loop {
                match self.inner.read(&mut one) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other?,
                }
            };
            self.carry = (n == 1).then_some(one[0]);
            n == 0
        };
        let damaged = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_owned());
        if filled < TAG {
            return Err(damaged("the age file is cut short"));
        }
        if last && filled == TAG && self.opened > 0 {
            return Err(damaged("the age file ends with an empty chunk"));
        }
        let mut nonce = [0u8; 12];
        nonce[3..11].copy_from_slice(&self.opened.to_be_bytes());
        nonce[11] = u8::from(last);
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut self.buf[..filled],
            )
            .map_err(|_| {
                damaged(
                    "a chunk of the age file does not authenticate: it was changed, damaged or cut",
                )
            })?
            .len();
        self.opened += 1;
        self.plain = 0..plain;
        self.done = last;
        Ok(())
    }
}

impl<R: Read> Read for AgeReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.plain.is_empty() {
            if self.done || out.is_empty() {
                return Ok(0);
            }
            self.next_chunk()?;
        }
        let n = out.len().min(self.plain.len());
        out[..n].copy_from_slice(&self.buf[self.plain.start..self.plain.start + n]);
        self.plain.start += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EncryptionSpec;
    use crate::crypto::age_stream::StreamEncryptor;
    use std::io::Write;

    fn identity() -> age::x25519::Identity {
        age::x25519::Identity::generate()
    }

    /// `plain` encrypted by Lifeboat's stream (pushed in odd pieces) to `to`.
    fn sealed(plain: &[u8], to: &age::x25519::Identity) -> Vec<u8> {
        let mut enc = StreamEncryptor::new(&EncryptionSpec {
            recipients: vec![to.to_public()],
            passphrase: None,
        })
        .unwrap();
        let mut out = Vec::new();
        for piece in plain.chunks(100_003) {
            out.extend_from_slice(&enc.push(piece).unwrap());
        }
        out.extend_from_slice(&enc.finish().unwrap());
        out
    }

    /// `plain` encrypted by the age crate (the reference) to `to`.
    fn by_age(plain: &[u8], to: &age::x25519::Identity) -> Vec<u8> {
        let recipient = to.to_public();
        let enc =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .unwrap();
        let mut out = Vec::new();
        let mut w = enc.wrap_output(&mut out).unwrap();
        w.write_all(plain).unwrap();
        w.finish().unwrap();
        out
    }

    fn open(file: &[u8], ids: &[age::x25519::Identity]) -> Result<Vec<u8>, String> {
        let mut r =
            AgeReader::new(std::io::BufReader::new(file), ids).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        r.read_to_end(&mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn opens_what_age_and_lifeboat_write_at_every_chunk_boundary() {
        let id = identity();
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 7] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            assert_eq!(
                open(&by_age(&plain, &id), std::slice::from_ref(&id)).unwrap(),
                plain,
                "{len}"
            );
            assert_eq!(
                open(&sealed(&plain, &id), std::slice::from_ref(&id)).unwrap(),
                plain,
                "{len}"
            );
        }
    }

    #[test]
    fn a_changed_cut_or_lengthened_file_and_a_wrong_key_are_refused() {
        let id = identity();
        let plain = vec![5u8; 2 * CHUNK + 10];
        let file = by_age(&plain, &id);
        assert!(
            open(&file, &[identity()])
                .unwrap_err()
                .contains("none of the identities"),
            "wrong key"
        );
        let mut flipped = file.clone();
        let at = flipped.len() - 100;
        flipped[at] ^= 1;
        assert!(
            open(&flipped, std::slice::from_ref(&id))
                .unwrap_err()
                .contains("does not authenticate")
        );
        // Cut at a chunk boundary: the chunk before is not marked last.
        let header = file.len() - plain.len() - 3 * TAG;
        let cut = &file[..header + 2 * (CHUNK + TAG)];
        assert!(
            open(cut, std::slice::from_ref(&id))
                .unwrap_err()
                .contains("does not authenticate")
        );
        let mut longer = file.clone();
        longer.extend_from_slice(&[0; TAG + 1]);
        assert!(open(&longer, std::slice::from_ref(&id)).is_err());
        // The header's MAC covers it.
        let text = String::from_utf8_lossy(&file[..header]).into_owned();
        let changed = text.replacen("X25519 ", "X25519  ", 1);
        let mut changed = changed.into_bytes();
        changed.extend_from_slice(&file[header..]);
        assert!(open(&changed, std::slice::from_ref(&id)).is_err());
        assert!(
            open(b"hello\n", &[id])
                .unwrap_err()
                .contains("not an age file"),
            "not age"
        );
    }

    #[test]
    fn a_file_of_only_the_first_header_line_is_an_error_not_a_panic() {
        let id = identity();
        for file in [
            &b"age-encryption.org/v1\n"[..],
            b"age-encryption.org/v1\n-> X25519 abc\n",
            b"age-encryption.org/v1\n-> X25519 abc\nAAAA",
            b"age-encryption.org/v1",
            b"",
        ] {
            let e = open(file, std::slice::from_ref(&id)).unwrap_err();
            assert!(e.contains("not a complete age file"), "{file:?}: {e}");
        }
    }
}
