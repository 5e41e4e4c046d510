//! Streaming readers for SecureTar, the encryption Home Assistant puts on every inner archive of a
//! protected backup. All three versions (facts: `HOME_ASSISTANT.md` §6):
//!
//! - v1: `salt[16]` then AES-128-CBC (PKCS7); key = SHA-256 applied 100 times to the password,
//!   first 16 bytes; IV = SHA-256 applied 100 times to `key ‖ salt`, first 16 bytes.
//! - v2: a 48-byte header (`SecureTar`, version 2, plaintext size, salt), then the v1 body.
//! - v3: a 136-byte header (`SecureTar`, version 3, plaintext size, root salt, validation salt,
//!   validation key, derivation salt, secretstream header); root key = Argon2id(t=8, m=16 MiB,
//!   p=1); the validation key proves the password; the file key opens an XChaCha20-Poly1305
//!   secretstream of 1 MiB chunks whose last one is tagged FINAL.
//!
//! Each reader is an `io::Read` over the encrypted bytes that yields the inner `.tar.gz`, holding at
//! most one chunk. A wrong password, a truncated stream and damaged bytes are told apart where the
//! format allows it.

use crate::secret::Secret;
use aes::Aes128;
use blake2::Blake2bMac;
use blake2::digest::{Mac, consts::U32};
use cbc::cipher::{BlockDecryptMut, KeyIvInit, generic_array::GenericArray};
use dryoc::dryocstream::{DryocStream, Pull, Tag};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::{Mutex, PoisonError};

const MAGIC: &[u8; 9] = b"SecureTar";
const V3_CHUNK: usize = 1 << 20;
const V3_ABYTES: usize = 17;
const PERSONAL: &[u8] = b"SecureTarv3";
/// Ciphertext read per step for v1/v2 (a multiple of the AES block).
const CBC_STEP: usize = 64 * 1024;

/// Why an inner archive could not be decrypted.
#[derive(Debug, thiserror::Error)]
pub enum SecureTarError {
    #[error("the Home Assistant backup key is wrong for this archive")]
    WrongKey,
    #[error("the encrypted archive is truncated: {0}")]
    Truncated(String),
    #[error("the encrypted archive is damaged: {0}")]
    Damaged(String),
    #[error("SecureTar version {0} is not one Lifeboat knows")]
    UnknownVersion(u8),
    #[error("reading the encrypted archive failed: {0}")]
    Io(#[from] io::Error),
}

/// The SecureTar version of an inner archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
    V3,
}

/// A Home Assistant backup key (the whole emergency-kit string, dashes included), with the v3 root
/// keys already derived from it: deriving one costs 16 MiB and a noticeable fraction of a second,
/// and one archive's writer reuses the salts for every member.
pub struct BackupKey {
    password: Secret,
    roots: Mutex<HashMap<[u8; 16], [u8; 32]>>,
}

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackupKey(***)")
    }
}

impl BackupKey {
    /// A key from its text.
    pub fn new(password: Secret) -> Self {
        Self {
            password,
            roots: Mutex::new(HashMap::new()),
        }
    }

    /// A fingerprint for manifests and the key ledger.
    pub fn fingerprint(&self) -> String {
        ha_key_fingerprint(self.password.expose())
    }

    fn aes_key_iv(&self, salt: &[u8; 16]) -> ([u8; 16], [u8; 16]) {
        let mut k = Sha256::digest(self.password.expose().as_bytes());
        for _ in 1..100 {
            k = Sha256::digest(k);
        }
        let mut key = [0u8; 16];
        key.copy_from_slice(&k[..16]);
        let mut seed = Vec::with_capacity(32);
        seed.extend_from_slice(&key);
        seed.extend_from_slice(salt);
        let mut iv = Sha256::digest(&seed);
        for _ in 1..100 {
            iv = Sha256::digest(iv);
        }
        let mut out = [0u8; 16];
        out.copy_from_slice(&iv[..16]);
        (key, out)
    }

    fn root_key(&self, root_salt: &[u8; 16]) -> Result<[u8; 32], SecureTarError> {
        if let Some(k) = self
            .roots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(root_salt)
        {
            return Ok(*k);
        }
        let params = argon2::Params::new(16 * 1024, 8, 1, Some(32))
            .map_err(|e| SecureTarError::Damaged(e.to_string()))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut root = [0u8; 32];
        argon
            .hash_password_into(self.password.expose().as_bytes(), root_salt, &mut root)
            .map_err(|e| SecureTarError::Damaged(e.to_string()))?;
        self.roots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(*root_salt, root);
        Ok(root)
    }
}

/// The fingerprint of a Home Assistant backup key: `ha:` and 16 hex digits of its SHA-256.
pub fn ha_key_fingerprint(key: &str) -> String {
    format!("ha:{}", &hex::encode(Sha256::digest(key.as_bytes()))[..16])
}

/// Keyed BLAKE2b-256 of the empty message, as PyNaCl's `blake2b(b"", key, salt, person)`.
fn blake2b_keyed(key: &[u8; 32], salt: &[u8; 16]) -> Result<[u8; 32], SecureTarError> {
    let mac = Blake2bMac::<U32>::new_with_salt_and_personal(key, salt, PERSONAL)
        .map_err(|e| SecureTarError::Damaged(e.to_string()))?;
    let out = mac.finalize().into_bytes();
    let mut k = [0u8; 32];
    k.copy_from_slice(&out);
    Ok(k)
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn exact<const N: usize>(r: &mut impl Read, what: &str) -> Result<[u8; N], SecureTarError> {
    let mut b = [0u8; N];
    if read_full(r, &mut b)? != N {
        return Err(SecureTarError::Truncated(format!(
            "the {what} is cut short"
        )));
    }
    Ok(b)
}

enum Body {
    Cbc {
        dec: Box<cbc::Decryptor<Aes128>>,
        /// The last decrypted block, held back until we know whether it carries the padding.
        held: Option<[u8; 16]>,
        pending: Vec<u8>,
    },
    Stream {
        stream: DryocStream<Pull>,
        finished: bool,
    },
}

/// Decrypted bytes of one inner archive.
pub struct Decrypting<R> {
    inner: R,
    body: Body,
    version: Version,
    expected_size: Option<u64>,
    produced: u64,
    out: Vec<u8>,
    out_pos: usize,
    checked_start: bool,
    done: bool,
}

/// Opens an inner archive for decryption: reads and checks its header (and, for v3, the key).
///
/// # Errors
/// [`SecureTarError::WrongKey`] when v3's validation key does not match, others for a bad header.
pub fn decrypt<R: Read>(mut inner: R, key: &BackupKey) -> Result<Decrypting<R>, SecureTarError> {
    let first: [u8; 16] = exact(&mut inner, "header")?;
    let (version, expected_size, body) = if &first[..9] == MAGIC {
        if first[10..16].iter().any(|&b| b != 0) {
            return Err(SecureTarError::Damaged(
                "the header's reserved bytes are not zero".into(),
            ));
        }
        let meta: [u8; 16] = exact(&mut inner, "header")?;
        let mut size = [0u8; 8];
        size.copy_from_slice(&meta[..8]);
        let size = u64::from_be_bytes(size);
        match first[9] {
            2 => {
                let salt: [u8; 16] = exact(&mut inner, "header")?;
                (Version::V2, Some(size), cbc_body(key, &salt))
            }
            3 => {
                let init: [u8; 104] = exact(&mut inner, "header")?;
                let part = |a: usize| {
                    let mut s = [0u8; 16];
                    s.copy_from_slice(&init[a..a + 16]);
                    s
                };
                let (root_salt, validation_salt, derivation_salt) = (part(0), part(16), part(64));
                let root = key.root_key(&root_salt)?;
                if blake2b_keyed(&root, &validation_salt)?[..] != init[32..64] {
                    return Err(SecureTarError::WrongKey);
                }
                let file_key = blake2b_keyed(&root, &derivation_salt)?;
                let mut header = [0u8; 24];
                header.copy_from_slice(&init[80..104]);
                let stream = DryocStream::init_pull(&file_key, &header);
                (
                    Version::V3,
                    Some(size),
                    Body::Stream {
                        stream,
                        finished: false,
                    },
                )
            }
            v => return Err(SecureTarError::UnknownVersion(v)),
        }
    } else {
        (Version::V1, None, cbc_body(key, &first))
    };
    Ok(Decrypting {
        inner,
        body,
        version,
        expected_size,
        produced: 0,
        out: Vec::new(),
        out_pos: 0,
        checked_start: false,
        done: false,
    })
}

fn cbc_body(key: &BackupKey, salt: &[u8; 16]) -> Body {
    let (k, iv) = key.aes_key_iv(salt);
    Body::Cbc {
        dec: Box::new(cbc::Decryptor::<Aes128>::new(&k.into(), &iv.into())),
        held: None,
        pending: Vec::new(),
    }
}

impl<R: Read> Decrypting<R> {
    /// The archive's SecureTar version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The plaintext size the header promises (v2, v3).
    pub fn expected_size(&self) -> Option<u64> {
        self.expected_size
    }

    /// Decrypts the next piece into `self.out`; false at the end.
    fn step(&mut self) -> Result<bool, SecureTarError> {
        self.out.clear();
        self.out_pos = 0;
        if self.done {
            return Ok(false);
        }
        match &mut self.body {
            Body::Cbc { dec, held, pending } => {
                let start = pending.len();
                pending.resize(start + CBC_STEP, 0);
                let n = read_full(&mut self.inner, &mut pending[start..])?;
                pending.truncate(start + n);
                let at_end = n < CBC_STEP;
                let whole = pending.len() / 16 * 16;
                let mut blocks: Vec<[u8; 16]> = pending[..whole]
                    .chunks_exact(16)
                    .map(|c| {
                        let mut b = GenericArray::clone_from_slice(c);
                        dec.decrypt_block_mut(&mut b);
                        b.into()
                    })
                    .collect();
                pending.drain(..whole);
                if at_end && !pending.is_empty() {
                    return Err(SecureTarError::Truncated(
                        "the ciphertext is not a whole number of blocks".into(),
                    ));
                }
                if let Some(h) = held.take() {
                    blocks.insert(0, h);
                }
                if !at_end {
                    *held = blocks.pop();
                    for b in &blocks {
                        self.out.extend_from_slice(b);
                    }
                    self.produced += self.out.len() as u64;
                    return Ok(true);
                }
                let Some(last) = blocks.pop() else {
                    return Err(SecureTarError::Truncated("there is no ciphertext".into()));
                };
                for b in &blocks {
                    self.out.extend_from_slice(b);
                }
                // v2 says how much plaintext there is: a shorter body is a cut, not bad padding.
                let available = self.produced + self.out.len() as u64 + 16;
                if let Some(expected) = self.expected_size
                    && available <= expected
                {
                    return Err(SecureTarError::Truncated(format!(
                        "the body ends after {available} of the {expected} bytes its header promises"
                    )));
                }
                let pad = usize::from(last[15]);
                if pad == 0 || pad > 16 || last[16 - pad..].iter().any(|&b| usize::from(b) != pad) {
                    // With CBC a wrong key shows up as garbage padding.
                    return Err(if self.produced == 0 && self.out.is_empty() {
                        SecureTarError::WrongKey
                    } else {
                        SecureTarError::Damaged(
                            "the final block's padding is invalid (wrong key or damaged data)"
                                .into(),
                        )
                    });
                }
                self.out.extend_from_slice(&last[..16 - pad]);
                self.done = true;
            }
            Body::Stream { stream, finished } => {
                let mut chunk = vec![0u8; V3_CHUNK + V3_ABYTES];
                let n = read_full(&mut self.inner, &mut chunk)?;
                if n == 0 {
                    if !*finished {
                        return Err(SecureTarError::Truncated(
                            "the final chunk is missing".into(),
                        ));
                    }
                    self.done = true;
                    return Ok(!self.out.is_empty());
                }
                if *finished {
                    return Err(SecureTarError::Damaged(
                        "data follows the final chunk".into(),
                    ));
                }
                // The input ended early: with the promised size known, that is a cut.
                if let Some(expected) = self.expected_size
                    && n < chunk.len()
                    && self.produced + (n.saturating_sub(V3_ABYTES) as u64) < expected
                {
                    return Err(SecureTarError::Truncated(format!(
                        "the stream ends after {} of the {expected} bytes its header promises",
                        self.produced + n.saturating_sub(V3_ABYTES) as u64
                    )));
                }
                let (plain, tag): (Vec<u8>, Tag) = stream
                    .pull_to_vec(&chunk[..n], None)
                    .map_err(|_| SecureTarError::Damaged("a chunk failed authentication".into()))?;
                if tag == Tag::Final {
                    *finished = true;
                } else if n < chunk.len() {
                    return Err(SecureTarError::Truncated(
                        "the stream ends before its final chunk".into(),
                    ));
                }
                self.out = plain;
            }
        }
        self.produced += self.out.len() as u64;
        let ended = self.done || matches!(self.body, Body::Stream { finished: true, .. });
        if ended
            && let Some(expected) = self.expected_size
            && expected != self.produced
        {
            return Err(SecureTarError::Damaged(format!(
                "the header promises {expected} bytes but {} decrypted",
                self.produced
            )));
        }
        Ok(true)
    }

    /// Checks the first decrypted bytes look like a gzip stream or a tar.
    fn check_start(&mut self) -> Result<(), SecureTarError> {
        let head = &self.out[self.out_pos..];
        let gzip = head.len() >= 3 && head[..3] == [0x1f, 0x8b, 0x08];
        let tar = head.len() >= 262 && &head[257..262] == b"ustar";
        if !gzip && !tar {
            return Err(SecureTarError::WrongKey);
        }
        self.checked_start = true;
        Ok(())
    }
}

impl<R: Read> Read for Decrypting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_pos >= self.out.len() {
            match self.step() {
                Ok(true) => {}
                Ok(false) => return Ok(0),
                Err(e) => return Err(io::Error::other(e)),
            }
        }
        if !self.checked_start {
            self.check_start().map_err(io::Error::other)?;
        }
        let n = buf.len().min(self.out.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

/// The [`SecureTarError`] inside an `io::Error` from [`Decrypting`], if that is what it is.
pub fn unwrap_error(e: &io::Error) -> Option<&SecureTarError> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<SecureTarError>())
}

/// Whether `key` opens the inner archive that starts with `head` (its first bytes, at least the
/// header and a few hundred bytes of body). v3 proves it with its validation key; v1/v2 by the
/// first decrypted bytes being a gzip or tar start.
///
/// # Errors
/// [`SecureTarError`] when the header itself is unusable.
pub fn key_fits(head: &[u8], key: &BackupKey) -> Result<bool, SecureTarError> {
    let mut r = head;
    let first: [u8; 16] = exact(&mut r, "header")?;
    let salt = if &first[..9] == MAGIC {
        match first[9] {
            2 => {
                let _meta: [u8; 16] = exact(&mut r, "header")?;
                exact::<16>(&mut r, "header")?
            }
            3 => {
                return match decrypt(head, key) {
                    Ok(_) => Ok(true),
                    Err(SecureTarError::WrongKey) => Ok(false),
                    Err(e) => Err(e),
                };
            }
            v => return Err(SecureTarError::UnknownVersion(v)),
        }
    } else {
        first
    };
    let (k, iv) = key.aes_key_iv(&salt);
    let mut dec = cbc::Decryptor::<Aes128>::new(&k.into(), &iv.into());
    let mut plain = Vec::with_capacity(272);
    for block in r.chunks_exact(16).take(17) {
        let mut b = GenericArray::clone_from_slice(block);
        dec.decrypt_block_mut(&mut b);
        plain.extend_from_slice(&b);
    }
    let gzip = plain.len() >= 3 && plain[..3] == [0x1f, 0x8b, 0x08];
    let tar = plain.len() >= 262 && &plain[257..262] == b"ustar";
    Ok(gzip || tar)
}
