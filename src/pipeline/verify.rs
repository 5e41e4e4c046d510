//! Read-back: stream each stored copy back from its destination and compare its size and SHA-256
//! with what was computed while encrypting, so the stored bytes are exactly the verified ones.
//!
//! It starts when the upload has ended, on every kind of destination, because only then is there
//! a stored object to read: S3's multipart parts and Azure's blocks are not readable until the
//! upload is completed (`CompleteMultipartUpload`, `Put Block List`), and a WebDAV `PUT` is one
//! request whose file appears when it ends. The file-like stores (a folder, SFTP, SMB, rclone)
//! write under a temporary name renamed into place at the end ([`crate::destinations::staged`]);
//! the rename is the last thing that can fail, so what is read is the object as renamed. Reading
//! happens on the runtime while the hash is taken on a blocking thread, one buffer behind, so the
//! two overlap.

use crate::destinations::manifest::Part;
use crate::destinations::{Destination, parts};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

/// Why a copy failed its read-back.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("reading the copy back failed: {0}")]
    Read(String),
    #[error(
        "the stored copy differs: expected {expected_size} bytes with sha-256 {expected_sha256}, read {size} bytes with sha-256 {sha256}"
    )]
    Mismatch {
        expected_size: u64,
        expected_sha256: String,
        size: u64,
        sha256: String,
    },
}

/// Size and SHA-256 of an object as stored.
///
/// # Errors
/// [`VerifyError::Read`] when it cannot be read to its end.
pub async fn digest(
    destination: &Destination,
    object: &str,
    parts: &[Part],
) -> Result<(u64, String), VerifyError> {
    digest_at(destination, object, parts, None).await
}

/// Like [`digest`], reading at most `rate` bytes per second when given (re-verification shares
/// the home's uplink with everything else).
async fn digest_at(
    destination: &Destination,
    object: &str,
    parts: &[Part],
    rate: Option<u64>,
) -> Result<(u64, String), VerifyError> {
    let started = tokio::time::Instant::now();
    let mut reader = parts::open(destination.store.clone(), object, parts)
        .await
        .map_err(|e| VerifyError::Read(e.to_string()))?;
    // Buffers go to the hashing thread and come back to be read into again: three in all.
    let (to_hash, mut hashing) = tokio::sync::mpsc::channel::<Vec<u8>>(1);
    let (give_back, mut given_back) = tokio::sync::mpsc::channel::<Vec<u8>>(3);
    let hasher = tokio::task::spawn_blocking(move || {
        let mut hash = Sha256::new();
        while let Some(buf) = hashing.blocking_recv() {
            hash.update(&buf);
            // Dropped when the reader has stopped taking them back.
            let _ = give_back.try_send(buf);
        }
        hex::encode(hash.finalize())
    });
    let mut size = 0u64;
    loop {
        let mut buf = given_back
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(READ_BUF));
        buf.resize(READ_BUF, 0);
        let n = reader
            .read(&mut buf)
            .await
            .map_err(|e| VerifyError::Read(e.to_string()))?;
        if n == 0 {
            break;
        }
        buf.truncate(n);
        size += n as u64;
        if to_hash.send(buf).await.is_err() {
            break;
        }
        if let Some(rate) = rate.filter(|r| *r > 0) {
            let due = std::time::Duration::from_secs_f64(size as f64 / rate as f64);
            tokio::time::sleep_until(started + due).await;
        }
    }
    drop(to_hash);
    let sha256 = hasher
        .await
        .map_err(|e| VerifyError::Read(format!("hashing failed: {e}")))?;
    Ok((size, sha256))
}

/// How much one read of a copy being read back asks for.
const READ_BUF: usize = 128 * 1024;

/// Reads a copy back (its object, or its `parts` end to end) and checks it.
///
/// # Errors
/// [`VerifyError`] when it cannot be read or differs.
pub async fn read_back(
    destination: &Destination,
    object: &str,
    parts: &[Part],
    expected_size: u64,
    expected_sha256: &str,
) -> Result<(), VerifyError> {
    read_back_at(
        destination,
        object,
        parts,
        expected_size,
        expected_sha256,
        None,
    )
    .await
}

/// Like [`read_back`], reading at most `rate` bytes per second when given.
///
/// # Errors
/// [`VerifyError`] when it cannot be read or differs.
pub async fn read_back_at(
    destination: &Destination,
    object: &str,
    parts: &[Part],
    expected_size: u64,
    expected_sha256: &str,
    rate: Option<u64>,
) -> Result<(), VerifyError> {
    let (size, sha256) = digest_at(destination, object, parts, rate).await?;
    if size != expected_size || sha256 != expected_sha256 {
        return Err(VerifyError::Mismatch {
            expected_size,
            expected_sha256: expected_sha256.to_owned(),
            size,
            sha256,
        });
    }
    Ok(())
}
