//! Where copies go. One small contract, [`Store`], that every kind of destination meets. Each
//! kind is one folder in [`kinds`] (its options, validation, URL form, label, secrets and store):
//! OpenDAL serves S3, Azure and folders ([`opendal_store`], [`folder`]); WebDAV, SFTP, SMB and the
//! rclone program (Google Drive, OneDrive, Dropbox and the rest) are streaming clients, each its
//! kind's `store`, on one shared frame ([`staged`]: temp-then-rename, listing, deletes).
//! [`retry`] is the one policy for trying a request again, as a layer around a store of either
//! family.
//! [`parts`] carries a stream of unknown length to a store that must know each object's size
//! first (rclone), in parts of a known size, and reads a copy stored so back as one stream.
//! [`build`] opens one through its kind, [`layout`] names the objects and [`manifest`] is the small JSON
//! that makes a copy exist; [`names`] holds every name read from a destination to the names
//! Lifeboat writes, so nothing outside the destination is ever read or deleted. Every failure has one status ([`StoreErrorKind`]) that decides what
//! happens next: passing failures are retried, refused settings wait for new ones.
//!
//! # Behavior (the contract every store keeps)
//! - A writer's data becomes visible at its path only when [`ObjectWriter::finish`] succeeds;
//!   dropping or aborting a writer never leaves a complete-looking object.
//! - `delete` of a missing object succeeds; `list` of a missing prefix is empty.
//! - Errors say whether trying again may help ([`StoreError::is_retryable`]).

pub mod build;
pub mod dav_xml;
pub mod folder;
pub mod kind;
pub mod kinds;
pub mod layout;
pub mod manifest;
pub mod mount_guard;
pub mod names;
pub mod opendal_store;
pub mod parts;
pub mod pinned_tls;
pub mod probe;
pub mod retry;
pub mod staged;

use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;
use tokio::io::AsyncRead;

pub use build::{open, open_with};
pub use kind::Kind;
pub use manifest::Manifest;

/// A streaming upload in progress.
#[async_trait]
pub trait ObjectWriter: Send {
    /// Appends a chunk.
    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError>;
    /// Commits the object; only now does it exist. Returns the parts it was stored in, in
    /// order, when the store had to send it in parts ([`parts`]); empty when it is the one
    /// object at its path, as for every upload whose size was given.
    async fn finish(self: Box<Self>) -> Result<Vec<manifest::Part>, StoreError>;
    /// Throws the upload away (multipart aborted, temp file removed).
    async fn abort(self: Box<Self>) -> Result<(), StoreError>;
}

/// A place that holds objects.
#[async_trait]
pub trait Store: Send + Sync {
    /// Opens a streaming writer. `size` is the object's exact size in bytes when it is known in
    /// advance (it sizes multipart parts, and rclone needs it to stream to drives that cannot
    /// take an upload of unknown length); a writer given one may refuse other lengths. Without
    /// it, a store that must know each object's size first stores the stream in parts of a
    /// known size ([`parts`]) and says so when it finishes.
    async fn writer(
        &self,
        path: &str,
        size: Option<u64>,
    ) -> Result<Box<dyn ObjectWriter>, StoreError>;
    /// Streams an object back.
    async fn reader(&self, path: &str) -> Result<Box<dyn AsyncRead + Send + Unpin>, StoreError>;
    /// Reads a small object whole, refusing one larger than `limit` bytes.
    async fn read_small(&self, path: &str, limit: u64) -> Result<Vec<u8>, StoreError>;
    /// Writes a small object whole.
    async fn write_small(&self, path: &str, data: Vec<u8>) -> Result<(), StoreError>;
    /// Names of the objects directly under the destination's root.
    async fn list(&self) -> Result<Vec<String>, StoreError>;
    /// Removes an object; a missing one is not an error.
    async fn delete(&self, path: &str) -> Result<(), StoreError>;
    /// Names of uploads that were started and never finished or thrown away (their writer was
    /// cut off: a crash, a kill, a power cut), as [`Store::delete`] takes them. Stores whose
    /// unfinished uploads are invisible, or cleared by the service itself, have none.
    async fn unfinished(&self) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
    /// How the server proves who it is, for people (the SFTP host key pinned or remembered);
    /// `None` where TLS or the local disk answers for it.
    fn trust(&self) -> Option<String> {
        None
    }
    /// What happened since the last call that a run should mention, taken once: rclone's own
    /// retries after a cloud's rate limits, say.
    fn remarks(&self) -> Vec<String> {
        Vec::new()
    }
    /// A digest of settings kept outside the options (see [`Destination::settings_now`]).
    fn outside_settings(&self) -> Option<String> {
        None
    }
    /// Whether it writes a stream of unknown length in parts ([`parts`]), so deleting a copy
    /// must look for them; the others never hold any.
    fn holds_parts(&self) -> bool {
        false
    }
}

/// How long a destination may go silent (take no data, answer nothing) before it is given up
/// for the run; the others go on without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience {
    pub silence: std::time::Duration,
}

impl Default for Patience {
    fn default() -> Self {
        Self {
            silence: std::time::Duration::from_secs(120),
        }
    }
}

/// What kind of failure a store reported: one status each, which decides what happens next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    NotFound,
    /// Credentials refused or missing permission: fix the settings.
    Denied,
    /// The settings cannot work (bad endpoint, missing container…).
    Config,
    /// No room left there (a full disk, a quota).
    Full,
    /// The service could not be reached or failed in passing.
    Unavailable,
    Other,
}

impl StoreErrorKind {
    /// The status word history, the retry queue and Home Assistant use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Denied => "denied",
            Self::Config => "misconfigured",
            Self::Full => "full",
            Self::Unavailable => "passing",
            Self::Other => "failed",
        }
    }

    /// Trying again with the same settings cannot help: the person must fix them first.
    pub fn needs_new_settings(self) -> bool {
        matches!(self, Self::Denied | Self::Config)
    }

    /// Whether trying again may succeed: a passing failure may pass, and room can be made
    /// (retention, a person). Every other kind fails the same way the next time.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Unavailable | Self::Full)
    }
}

/// Words that say a store is out of room, whatever the protocol (ENOSPC, HTTP 507, SMB
/// `STATUS_DISK_FULL`, SFTP `NO_SPACE_ON_FILESYSTEM`, S3 quota errors).
fn says_full(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "no space left",
        "disk full",
        "disk_full",
        "insufficient storage",
        "insufficientstorage",
        "quota exceeded",
        "quotaexceeded",
        "no_space_on_filesystem",
        "not enough space",
        "quota has been exceeded",
        "quotalimitreached",
        "insufficient_space",
        "storage_limit_exceeded",
    ]
    .iter()
    .any(|w| m.contains(w))
}

/// `e`'s message followed by each error under it that says something new ("error sending
/// request: … dns error: failed to lookup address information …"): the words a person needs are
/// often two layers down.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut at = e.source();
    while let Some(err) = at {
        let said = err.to_string();
        if !out.contains(&said) {
            out = format!("{out}: {said}");
        }
        at = err.source();
    }
    out
}

/// A destination failure, classified where it leaves the backend. Its kind alone decides
/// whether it is tried again ([`StoreErrorKind::is_retryable`]).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    pub kind: StoreErrorKind,
    pub message: String,
    /// The cause in a person's terms, when the store could read it from the protocol's own
    /// answer (S3's `InvalidAccessKeyId`, SMB's `STATUS_LOGON_FAILURE`, a WebDAV 401…); the
    /// destination test ([`probe::cause_of`]) takes it over any reading of the words.
    pub said: Option<probe::Cause>,
}

impl StoreError {
    /// An error of the given kind, unless the message says the store is out of room (whichever
    /// layer noticed): then it is [`StoreErrorKind::Full`].
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> Self {
        let message = message.into();
        let kind = if says_full(&message) {
            StoreErrorKind::Full
        } else {
            kind
        };
        Self {
            kind,
            message,
            said: None,
        }
    }

    /// The same error, with the cause the protocol's answer gave.
    #[must_use]
    pub fn because(mut self, cause: probe::Cause) -> Self {
        self.said = Some(cause);
        self
    }

    /// A passing failure: the service could not be reached or broke off; trying again may help.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::Unavailable, message)
    }

    /// No room left: worth trying again once room is made.
    pub fn full(message: impl Into<String>) -> Self {
        Self {
            kind: StoreErrorKind::Full,
            message: message.into(),
            said: None,
        }
    }

    /// Whether trying again later may succeed (its kind says).
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }
}

/// A configured destination: its name, where it is (for people), and its store.
#[derive(Clone)]
pub struct Destination {
    pub name: String,
    pub kind: Kind,
    pub location: String,
    /// What `lifeboat recover --from` takes to reach it (never a secret: credentials come from
    /// the environment).
    pub url: String,
    /// Which copies to keep there.
    pub retention: crate::retention::Policy,
    pub store: Arc<dyn Store>,
    /// A digest of its settings, secrets included (never the secrets): a destination that refused
    /// its settings is tried again once this changes.
    pub settings: String,
    /// The signing keys its manifests are judged by (not given, until the caller says).
    pub trust: crate::signing::Trusted,
}

impl Destination {
    /// The settings digest as it stands now: the options' ([`Destination::settings`]), and, for a
    /// kind whose settings live partly elsewhere (an rclone remote's section in rclone.conf), a
    /// digest of those too, so connecting a drive again on the dashboard counts as new settings.
    pub fn settings_now(&self) -> String {
        match self.store.outside_settings() {
            Some(outside) => format!("{}+{outside}", self.settings),
            None => self.settings.clone(),
        }
    }
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Destination")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("location", &self.location)
            .field("retention", &self.retention.to_string())
            .finish_non_exhaustive()
    }
}

/// Multipart part size for an upload of about `size` bytes: S3's smallest part (5 MiB) until the
/// object would need more than 9 000 parts (S3 allows 10 000; the rest is headroom for age's
/// overhead), larger after that. Every part being filled, queued or sent is held in memory, so the
/// smallest part that fits keeps a run's memory low (backups up to about 43 GiB use 5 MiB).
/// A size not known in advance gets 8 MiB parts: room for 78 GiB.
pub fn part_size(size: Option<u64>) -> usize {
    const MIB: u64 = 1 << 20;
    const MIN: u64 = 5 * MIB;
    let Some(size) = size else {
        return 8 << 20;
    };
    // age adds 16 bytes per 64 KiB chunk plus a header.
    let stored = size + size.div_ceil(64 * 1024) * 16 + 4096;
    let part = stored.div_ceil(9000).div_ceil(MIB) * MIB;
    usize::try_from(part.max(MIN)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_out_of_room_says_full_whatever_the_protocol() {
        for m in [
            "No space left on device (os error 28)",
            "HTTP 507 Insufficient Storage",
            "STATUS_DISK_FULL",
            "QuotaExceeded: the bucket's quota",
        ] {
            let e = StoreError::new(StoreErrorKind::Other, m);
            assert_eq!(e.kind, StoreErrorKind::Full, "{m}");
            assert!(e.is_retryable());
            assert_eq!(StoreError::unavailable(m).kind, StoreErrorKind::Full, "{m}");
        }
        let denied = StoreError::new(StoreErrorKind::Denied, "HTTP 403");
        assert_eq!(denied.kind.as_str(), "denied");
        assert!(denied.kind.needs_new_settings());
        assert!(!StoreErrorKind::Full.needs_new_settings());
    }

    #[test]
    fn part_size_respects_the_part_limit() {
        const MIB: u64 = 1 << 20;
        assert_eq!(part_size(None), 8 << 20);
        assert_eq!(part_size(Some(100 * MIB)), 5 << 20);
        assert_eq!(part_size(Some(40 << 30)), 5 << 20);
        assert!(part_size(Some(50 << 30)) > 5 << 20);
        for gib in [1u64, 70, 78, 100, 500, 5000] {
            let size = gib << 30;
            let part = part_size(Some(size)) as u64;
            let stored = size + size.div_ceil(65536) * 16 + 4096;
            assert!(
                stored.div_ceil(part) <= 10_000,
                "{gib} GiB needs {} parts",
                stored.div_ceil(part)
            );
            assert_eq!(part % MIB, 0);
        }
    }
}
