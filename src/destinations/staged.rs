//! The frame the file-like stores share (WebDAV, SFTP, SMB, rclone), after OpenDAL's
//! per-service layout: each kind only says how to do a handful of file operations on its server
//! ([`Remote`]); this frame turns them into a [`Store`] that keeps the contract the same way for
//! every kind:
//! - an upload is written under a temporary name beside its object ([`layout::partial_name`]) and
//!   renamed into place only once it is finished, so a cut-off upload never looks like an object,
//!   and the leftovers of one are found again ([`Store::unfinished`]);
//! - a stream of unknown length to a server that must know each file's size first
//!   ([`Remote::takes_unknown_length`]) goes up in parts of a known size ([`super::parts`]), each
//!   staged and renamed like any file; the parts of a copy that never got its manifest are
//!   leftovers too;
//! - the destination folder is created once, on first write;
//! - deleting what is not there succeeds; a folder that is not there lists empty;
//! - every whole request (listing, reading a manifest, writing one, deleting, opening) is tried
//!   again under the one retry policy, as a layer around the frame ([`Staged`] is
//!   [`Retrying`]`<`[`Frame`]`>`): a time limit per attempt, and another attempt after a failure
//!   that may pass (a dropped connection), so one reset does not fail a run. A streamed upload is
//!   not sent again; its final move is, under the same policy.

use super::manifest::Part;
use super::parts::{PART_SIZE, PartedWriter};
use super::retry::{Policy, Retrying};
use super::{ObjectWriter, Store, StoreError, StoreErrorKind, layout};
use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;
use tokio::io::AsyncRead;

/// A file being written on the server.
#[async_trait]
pub trait RemoteFile: Send {
    /// Appends a chunk.
    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError>;
    /// Ends the file: everything written is on the server (its disk, where it can tell).
    async fn close(self: Box<Self>) -> Result<(), StoreError>;
    /// Stops writing; the frame then removes the file.
    async fn discard(self: Box<Self>);
}

/// What a file-like server offers, on names inside the destination's folder.
#[async_trait]
pub trait Remote: Send + Sync + 'static {
    /// Creates the destination folder and its parents when missing.
    async fn make_folder(&self) -> Result<(), StoreError>;
    /// Starts writing the file `name`, which will be `size` bytes long when that is known.
    async fn create(
        &self,
        name: &str,
        size: Option<u64>,
    ) -> Result<Box<dyn RemoteFile>, StoreError>;
    /// Writes the small file `name` whole.
    async fn put(&self, name: &str, data: Bytes) -> Result<(), StoreError>;
    /// Renames `from` onto `to`, replacing what is there; `written` says how `from` was made.
    async fn rename(&self, from: &str, to: &str, written: Written) -> Result<(), StoreError>;
    /// Removes `name`; [`StoreErrorKind::NotFound`] when it is not there.
    async fn remove(&self, name: &str) -> Result<(), StoreError>;
    /// The names of the files in the folder; [`StoreErrorKind::NotFound`] when there is none.
    async fn names(&self) -> Result<Vec<String>, StoreError>;
    /// Streams the file `name`.
    async fn open(&self, name: &str) -> Result<Box<dyn AsyncRead + Send + Unpin>, StoreError>;
    /// Reads the small file `name` whole, refusing one larger than `limit` bytes.
    async fn read(&self, name: &str, limit: u64) -> Result<Vec<u8>, StoreError>;
    /// Whether [`Remote::create`] streams a file whose size it is not told without keeping it
    /// anywhere first. rclone does not: for backends that need the size up front (OneDrive,
    /// WebDAV…) `rcat` spools the whole stream to a temporary file, so such streams are sent in
    /// parts of a known size instead ([`super::parts`]).
    fn takes_unknown_length(&self) -> bool {
        true
    }
    /// How the server proves who it is, for people (see [`Store::trust`]).
    fn trust(&self) -> Option<String> {
        None
    }
    /// What happened on the way that a run should mention (see [`Store::remarks`]).
    fn remarks(&self) -> Vec<String> {
        Vec::new()
    }
    /// Settings kept outside the options (see [`Store::outside_settings`]).
    fn outside_settings(&self) -> Option<String> {
        None
    }
}

/// How a file under a temporary name was written (a server may keep the two differently: WebDAV
/// writes a streamed upload in segments when asked to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// By [`Remote::create`].
    Streamed,
    /// By [`Remote::put`].
    Put,
}

/// A folder listing with more entries than this is refused (a folder of backups holds hundreds).
pub const MAX_LISTING_ENTRIES: usize = 100_000;

/// A folder listing whose names add up to more bytes than this is refused (100 000 names of 160
/// bytes; Lifeboat's own are under 100).
pub const MAX_LISTING_NAME_BYTES: usize = 16 << 20;

/// How much of a folder's listing a [`Remote`] reads before it refuses it: a hostile or broken
/// server may send names without end, and the listing is read one answer of the server at a
/// time, never whole (WebDAV's body has its own cap, [`super::dav_xml::MAX_BODY`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListingCap {
    /// Entries of any kind (files, folders, `.` and `..`).
    pub entries: usize,
    /// The bytes of every entry's name together.
    pub name_bytes: usize,
}

impl ListingCap {
    /// [`MAX_LISTING_ENTRIES`] and [`MAX_LISTING_NAME_BYTES`].
    pub const DEFAULT: Self = Self {
        entries: MAX_LISTING_ENTRIES,
        name_bytes: MAX_LISTING_NAME_BYTES,
    };
}

impl Default for ListingCap {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A listing being read under its [`ListingCap`]: every entry is counted as it arrives, and the
/// first one over the cap ends the listing with a permanent error naming the cap.
pub struct CappedListing {
    cap: ListingCap,
    what: String,
    entries: usize,
    name_bytes: usize,
    files: Vec<String>,
}

impl CappedListing {
    /// An empty listing of `what` (`//nas/share/folder`, for the message), under `cap`.
    pub fn new(cap: ListingCap, what: impl Into<String>) -> Self {
        Self {
            cap,
            what: what.into(),
            entries: 0,
            name_bytes: 0,
            files: Vec::new(),
        }
    }

    /// Counts the entry `name`, keeping it when it is a file.
    ///
    /// # Errors
    /// [`StoreErrorKind::Other`], not retryable, once the listing passes its cap.
    pub fn take(&mut self, name: String, file: bool) -> Result<(), StoreError> {
        self.entries += 1;
        self.name_bytes = self.name_bytes.saturating_add(name.len());
        let over = if self.entries > self.cap.entries {
            format!("more than {} entries", self.cap.entries)
        } else if self.name_bytes > self.cap.name_bytes {
            format!("more than {} bytes of names", self.cap.name_bytes)
        } else {
            if file {
                self.files.push(name);
            }
            return Ok(());
        };
        Err(StoreError::new(
            StoreErrorKind::Other,
            format!(
                "the listing of {} has {over}: refused, not read further (the cap is {} entries \
                 and {} bytes of names); a folder of backups holds far fewer, so the server is \
                 not answering as it should, or the folder holds much else: give Lifeboat a \
                 folder of its own",
                self.what, self.cap.entries, self.cap.name_bytes
            ),
        ))
    }

    /// The files listed.
    pub fn files(self) -> Vec<String> {
        self.files
    }
}

/// The retry policy the frame's stores run under (see [`Policy`]).
pub type Small = Policy;

/// A [`Store`] on a [`Remote`]: the [`Frame`], its whole requests tried again under the one
/// policy ([`Retrying`]).
pub type Staged<R> = Retrying<Frame<R>>;

impl<R: Remote> Retrying<Frame<R>> {
    /// The store on `remote`, its requests run by `policy`.
    pub fn new(remote: R, policy: Policy) -> Self {
        Retrying::around(Frame::new(remote, policy), policy)
    }
}

/// The frame on a [`Remote`], each request sent once: retrying is the layer's
/// ([`Retrying`]), but for the move that commits a streamed upload, which only the upload can
/// send again.
pub struct Frame<R> {
    remote: Arc<R>,
    folder_ready: Arc<tokio::sync::OnceCell<()>>,
    policy: Policy,
    /// The size of the parts a stream of unknown length is sent in, where it must be.
    part_size: usize,
}

impl<R: Remote> Frame<R> {
    /// The frame on `remote`; `policy` runs the commit of a streamed upload.
    pub fn new(remote: R, policy: Policy) -> Self {
        Self {
            remote: Arc::new(remote),
            folder_ready: Arc::default(),
            policy,
            part_size: PART_SIZE,
        }
    }

    /// The frame, sending streams of unknown length in parts of `part_size` bytes where it must
    /// (tests use small parts).
    pub fn with_part_size(mut self, part_size: usize) -> Self {
        self.part_size = part_size.max(1);
        self
    }

    async fn make_folder(&self) -> Result<(), StoreError> {
        self.folder_ready
            .get_or_try_init(|| self.remote.make_folder())
            .await
            .copied()
    }

    async fn names(&self) -> Result<Vec<String>, StoreError> {
        match self.remote.names().await {
            Err(e) if e.kind == StoreErrorKind::NotFound => Ok(Vec::new()),
            other => other,
        }
    }
}

impl<R> Clone for Frame<R> {
    /// The same frame on the same remote (what a stream sent in parts sends each part through).
    fn clone(&self) -> Self {
        Self {
            remote: Arc::clone(&self.remote),
            folder_ready: Arc::clone(&self.folder_ready),
            policy: self.policy,
            part_size: self.part_size,
        }
    }
}

/// Moves `temp` onto `real`, the last step of a streamed upload, which the layer cannot send
/// again: tried again here, under the same policy. A retry that finds `temp` gone looks for
/// `real`, since the first attempt may have been carried out with its answer lost.
async fn commit<R: Remote>(
    remote: &R,
    policy: Policy,
    temp: &str,
    real: &str,
) -> Result<(), StoreError> {
    let tries = std::sync::atomic::AtomicU32::new(0);
    policy
        .run(&format!("moving {real} into place"), || async {
            let again = tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0;
            match remote.rename(temp, real, Written::Streamed).await {
                Err(e) if again && e.kind == StoreErrorKind::NotFound => {
                    let names = remote.names().await?;
                    if names.iter().any(|n| n == real) && !names.iter().any(|n| n == temp) {
                        Ok(())
                    } else {
                        Err(e)
                    }
                }
                other => other,
            }
        })
        .await
}

/// Removes `name`, a missing one being no failure.
async fn remove<R: Remote>(remote: &R, name: &str) -> Result<(), StoreError> {
    match remote.remove(name).await {
        Err(e) if e.kind == StoreErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// An upload under its temporary name.
struct StagedWriter<R> {
    remote: Arc<R>,
    policy: Policy,
    file: Option<Box<dyn RemoteFile>>,
    temp: String,
    real: String,
}

impl<R> StagedWriter<R> {
    fn ended(&self) -> StoreError {
        StoreError::new(
            StoreErrorKind::Other,
            format!("uploading {}: the upload ended", self.real),
        )
    }
}

#[async_trait]
impl<R: Remote> ObjectWriter for StagedWriter<R> {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        match self.file.as_mut() {
            Some(f) => f.write(chunk).await,
            None => Err(self.ended()),
        }
    }

    async fn finish(mut self: Box<Self>) -> Result<Vec<Part>, StoreError> {
        let Some(f) = self.file.take() else {
            return Err(self.ended());
        };
        f.close().await?;
        commit(self.remote.as_ref(), self.policy, &self.temp, &self.real).await?;
        Ok(Vec::new())
    }

    async fn abort(mut self: Box<Self>) -> Result<(), StoreError> {
        if let Some(f) = self.file.take() {
            f.discard().await;
        }
        let remote = self.remote.as_ref();
        let what = format!("deleting {}", self.temp);
        self.policy.run(&what, || remove(remote, &self.temp)).await
    }
}

#[async_trait]
impl<R: Remote> Store for Frame<R> {
    async fn writer(
        &self,
        path: &str,
        size: Option<u64>,
    ) -> Result<Box<dyn ObjectWriter>, StoreError> {
        self.make_folder().await?;
        if size.is_none() && !self.remote.takes_unknown_length() {
            return Ok(Box::new(PartedWriter::new(
                self.clone(),
                self.policy,
                path,
                self.part_size,
            )));
        }
        let temp = layout::partial_name(path);
        let file = self.remote.create(&temp, size).await?;
        Ok(Box::new(StagedWriter {
            remote: Arc::clone(&self.remote),
            policy: self.policy,
            file: Some(file),
            temp,
            real: path.to_owned(),
        }))
    }

    async fn reader(&self, path: &str) -> Result<Box<dyn AsyncRead + Send + Unpin>, StoreError> {
        self.remote.open(path).await
    }

    async fn read_small(&self, path: &str, limit: u64) -> Result<Vec<u8>, StoreError> {
        self.remote.read(path, limit).await
    }

    /// Written whole under its temporary name and moved into place; the layer sends both again.
    async fn write_small(&self, path: &str, data: Vec<u8>) -> Result<(), StoreError> {
        self.make_folder().await?;
        let temp = layout::partial_name(path);
        self.remote.put(&temp, Bytes::from(data)).await?;
        self.remote.rename(&temp, path, Written::Put).await
    }

    async fn list(&self) -> Result<Vec<String>, StoreError> {
        Ok(layout::only(self.names().await?, false))
    }

    /// Uploads under their temporary names, and the parts of copies that have no manifest
    /// (a run cut off between its first part and its manifest).
    async fn unfinished(&self) -> Result<Vec<String>, StoreError> {
        let names = self.names().await?;
        let mut out = super::parts::unclaimed(&names);
        out.extend(layout::only(names, true));
        Ok(out)
    }

    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        remove(self.remote.as_ref(), path).await
    }

    fn trust(&self) -> Option<String> {
        self.remote.trust()
    }

    fn remarks(&self) -> Vec<String> {
        self.remote.remarks()
    }

    fn outside_settings(&self) -> Option<String> {
        self.remote.outside_settings()
    }

    fn holds_parts(&self) -> bool {
        !self.remote.takes_unknown_length()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 38: a listing is counted as it arrives and refused at its first entry over the cap,
    /// by entries or by bytes of names, with a permanent error naming the cap.
    #[test]
    fn a_listing_over_its_cap_is_refused_at_the_first_entry_over() {
        let cap = ListingCap {
            entries: 3,
            name_bytes: 10,
        };
        let mut l = CappedListing::new(cap, "//nas/share/f");
        l.take(".".into(), false).unwrap();
        l.take("a".into(), true).unwrap();
        l.take("b".into(), true).unwrap();
        let e = l.take("c".into(), true).unwrap_err();
        assert!(!e.is_retryable() && e.kind == StoreErrorKind::Other);
        assert!(
            e.message.contains("//nas/share/f has more than 3 entries"),
            "{e}"
        );
        let mut l = CappedListing::new(cap, "f");
        l.take("123456".into(), true).unwrap();
        let e = l.take("12345".into(), true).unwrap_err();
        assert!(e.message.contains("more than 10 bytes of names"), "{e}");
        let mut l = CappedListing::new(cap, "f");
        for n in ["..", "x", "y"] {
            l.take(n.into(), n != "..").unwrap();
        }
        assert_eq!(l.files(), ["x", "y"]);
        assert_eq!(ListingCap::default().entries, 100_000);
    }
}
