//! Understanding a Home Assistant backup tar while it streams past: `backup.json`, the inner
//! archives, and proof that the archive is complete.

pub mod backup_json;
pub mod content;
pub mod guard;
pub mod inner;
pub mod inspect;
mod made;
pub mod pg_rows;
pub mod readiness;
pub mod securetar;

pub use backup_json::{BackupJson, BackupKind};
pub use inspect::{Inspection, Member, inspect};

/// Why an archive is not a usable Home Assistant backup.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("the archive is truncated: {0}")]
    Truncated(String),
    #[error("this is not a Home Assistant backup: {0}")]
    NotABackup(String),
    #[error("backup.json is invalid: {0}")]
    BadBackupJson(String),
    #[error("the backup would not restore: {0}")]
    WouldNotRestore(String),
    #[error("the archive is damaged: {0}")]
    Malformed(String),
}

/// A reader that hashes (SHA-256) and counts what passes through it.
pub struct HashingReader<R> {
    inner: R,
    hash: sha2::Sha256,
    size: u64,
}

impl<R> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        use sha2::Digest;
        Self {
            inner,
            hash: sha2::Sha256::new(),
            size: 0,
        }
    }

    /// Bytes read and their SHA-256 in hex.
    pub fn finish(self) -> (u64, String) {
        use sha2::Digest;
        (self.size, hex::encode(self.hash.finalize()))
    }
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// A reader that counts what passes through it.
pub(crate) struct Counting<R> {
    pub(crate) inner: R,
    pub(crate) count: u64,
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}
