//! Understanding a Home Assistant backup tar while it streams past: `backup.json`, the inner
//! archives, and proof that the archive is complete.

pub mod backup_json;
pub mod inner;
pub mod inspect;
pub mod securetar;

pub use backup_json::BackupJson;
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
