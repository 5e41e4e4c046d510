//! [`Store`](super::Store) over SMB2/3 (a NAS share, a Windows share, Samba on a Raspberry Pi), in pure Rust
//! (the `smb2` crate): user and password sign-in, signing and encryption as the server asks.
//!
//! - Uploads stream (pipelined WRITEs, a bounded window) into a hidden temporary file in the
//!   destination folder, are flushed to the server's disk and renamed over the real name in one
//!   step, so a copy is never half there under its own name — on the frame every file-like store
//!   shares ([`super::staged`]), which also tries a dropped small request again.
//! - One signed-in session is kept and shared; a broken one is replaced at the next request.
//!   Writers and readers hold their own handle on that session, so they never block the rest.
//! - A wrong password is a permanent refusal (SMB servers lock accounts that keep guessing), and a
//!   server that quietly answers a named account with a guest session is refused too.

use super::staged::{CappedListing, ListingCap, Remote, RemoteFile, Small, Staged, Written};
use super::{StoreError, StoreErrorKind};
use crate::destinations::kinds::smb::SmbSpec;
use crate::destinations::probe::Cause;
use async_trait::async_trait;
use bytes::Bytes;
use smb2::{ClientConfig, ErrorKind, RenameOptions, SmbClient, Tree};
use std::time::Duration;
use tokio::io::AsyncRead;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// `//host:port/share`, for messages.
fn endpoint(s: &SmbSpec) -> String {
    format!("//{}:{}/{}", s.host, s.port, s.share)
}

/// Where `name` sits in the share: inside the destination's folder. A name that is not one
/// name inside it (`..`, `a/b`, `..\\x`: SMB's separator is the backslash) is refused, never sent.
fn in_folder(s: &SmbSpec, name: &str) -> Result<String, StoreError> {
    let name = super::names::single(name)?;
    Ok(match s.path.trim_matches('/') {
        "" => name.to_owned(),
        root => format!("{root}/{name}"),
    })
}

/// A signed-in session and the share it is connected to.
struct Session {
    client: SmbClient,
    tree: Tree,
}

/// An SMB share folder, as the store frame's [`Remote`].
pub struct Smb {
    settings: SmbSpec,
    /// How long a request may go unanswered (a NAS may first spin up a sleeping disk).
    silence: Duration,
    session: tokio::sync::Mutex<Option<Session>>,
    /// How much of the folder's listing is read before it is refused.
    listing_cap: ListingCap,
}

/// The store for `settings`, giving up on a server silent for `silence`. Nothing is contacted yet.
pub fn store(settings: SmbSpec, silence: Duration) -> Staged<Smb> {
    store_capped(settings, silence, ListingCap::DEFAULT)
}

/// [`store`], refusing a listing over `cap` rather than [`ListingCap::DEFAULT`] (tests use a small
/// cap so as not to plant 100 000 files).
pub fn store_capped(settings: SmbSpec, silence: Duration, cap: ListingCap) -> Staged<Smb> {
    Staged::new(
        Smb {
            settings,
            silence,
            session: tokio::sync::Mutex::new(None),
            listing_cap: cap,
        },
        Small::patient(silence),
    )
}

/// An operation on the shared session: it gets the client and the share for its duration.
type Op<'a, T> = Box<
    dyn for<'s> FnOnce(
            &'s mut SmbClient,
            &'s mut Tree,
        ) -> futures::future::BoxFuture<'s, Result<T, smb2::Error>>
        + Send
        + 'a,
>;

impl Smb {
    async fn connect(&self) -> Result<Session, StoreError> {
        let s = &self.settings;
        let endpoint = endpoint(s);
        let config = ClientConfig {
            addr: format!("{}:{}", s.host, s.port),
            timeout: CONNECT_TIMEOUT,
            username: s.username.clone(),
            password: s.password.expose().to_owned(),
            domain: s.domain.clone(),
            response_timeout: Some(self.silence),
            ..ClientConfig::default()
        };
        let connecting = SmbClient::connect(config);
        let mut client = match tokio::time::timeout(CONNECT_TIMEOUT * 2, connecting).await {
            Err(_) => {
                return Err(StoreError::unavailable(format!(
                    "{endpoint} did not answer within {:?}",
                    CONNECT_TIMEOUT * 2
                )));
            }
            Ok(r) => r.map_err(|e| self.classify(&format!("signing in to {endpoint}"), &e))?,
        };
        let tree = client
            .connect_share(&s.share)
            .await
            .map_err(|e| match e.kind() {
                ErrorKind::NotFound => StoreError::new(
                    StoreErrorKind::Config,
                    format!(
                        "{} has no share named {:?}: check the share name (not the folder inside it)",
                        s.host, s.share
                    ),
                )
                .because(Cause::Missing),
                _ => self.classify(&format!("opening the share {endpoint}"), &e),
            })?;
        Ok(Session { client, tree })
    }

    /// Runs `op` on the shared session, signing in first when there is none, and dropping a
    /// session whose connection broke so the next request makes a new one.
    async fn with<T>(&self, what: &str, op: Op<'_, T>) -> Result<T, StoreError> {
        let mut slot = self.session.lock().await;
        if slot.as_ref().is_none_or(|s| s.client.is_disconnected()) {
            *slot = Some(self.connect().await?);
        }
        let Some(session) = slot.as_mut() else {
            return Err(StoreError::unavailable(format!("{what}: no session")));
        };
        match op(&mut session.client, &mut session.tree).await {
            Ok(v) => Ok(v),
            Err(e) => {
                let err = self.classify(what, &e);
                if err.kind == StoreErrorKind::Unavailable {
                    *slot = None;
                }
                Err(err)
            }
        }
    }

    fn classify(&self, what: &str, e: &smb2::Error) -> StoreError {
        classify(&self.settings, what, e)
    }
}

/// Classifies an SMB failure, saying what to fix where the user can.
fn classify(s: &SmbSpec, what: &str, e: &smb2::Error) -> StoreError {
    if let Some(cause) = connect_cause(e) {
        let tried = match e {
            smb2::Error::ConnectFailed { attempts, .. } => attempts
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            _ => String::new(),
        };
        return StoreError::unavailable(format!("{what}: {e} ({tried})")).because(cause);
    }
    match e.kind() {
        ErrorKind::AuthRequired | ErrorKind::GuestSessionRefused => StoreError::new(
            StoreErrorKind::Denied,
            format!(
                "{what}: {} refused the sign-in of {:?}: check the user name, the password \
                     and the domain",
                s.host, s.username
            ),
        )
        .because(Cause::Credentials),
        ErrorKind::AccessDenied | ErrorKind::SigningRequired => StoreError::new(
            StoreErrorKind::Denied,
            format!(
                "{what}: the account {:?} lacks permission ({e})",
                s.username
            ),
        ),
        ErrorKind::NotFound => {
            StoreError::new(StoreErrorKind::NotFound, format!("{what}: not found"))
        }
        ErrorKind::DiskFull => StoreError::full(format!(
            "{what}: the share is full: free space on the NAS or keep fewer copies"
        )),
        ErrorKind::InvalidName => StoreError::new(
            StoreErrorKind::Config,
            format!("{what}: the server cannot store this name ({e})"),
        ),
        ErrorKind::ConnectionLost
        | ErrorKind::TimedOut
        | ErrorKind::SessionExpired
        | ErrorKind::Io
        | ErrorKind::SharingViolation => StoreError::unavailable(format!("{what}: {e}")),
        _ if e.is_retryable() => StoreError::unavailable(format!("{what}: {e}")),
        _ => StoreError::new(StoreErrorKind::Other, format!("{what}: {e}")),
    }
}

/// Why no connection was made, when every address tried said the same: refused (nothing listens
/// there), or none to try (the name did not resolve).
fn connect_cause(e: &smb2::Error) -> Option<Cause> {
    let smb2::Error::ConnectFailed { attempts, .. } = e else {
        return None;
    };
    if attempts.is_empty() {
        return Some(Cause::NameNotFound);
    }
    attempts
        .iter()
        .all(|a| a.error_kind == Some(std::io::ErrorKind::ConnectionRefused))
        .then_some(Cause::Refused)
}

impl Smb {
    /// Creates the destination folder and its parents.
    async fn make_root(&self) -> Result<(), StoreError> {
        let mut at = String::new();
        for part in self.settings.path.split('/').filter(|p| !p.is_empty()) {
            if !at.is_empty() {
                at.push('/');
            }
            at.push_str(part);
            let dir = at.clone();
            self.with(
                &format!("creating the folder {dir}"),
                Box::new(move |c, t| {
                    Box::pin(async move {
                        match c.create_directory(t, &dir).await {
                            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
                            other => other,
                        }
                    })
                }),
            )
            .await?;
        }
        Ok(())
    }
}

/// A file being uploaded on its own handle.
struct SmbFile {
    file: smb2::FileWriter,
    what: String,
    /// For classifying its failures.
    settings: SmbSpec,
}

#[async_trait]
impl RemoteFile for SmbFile {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        self.file
            .write_chunk(&chunk)
            .await
            .map_err(|e| classify(&self.settings, &self.what, &e))
    }

    async fn close(self: Box<Self>) -> Result<(), StoreError> {
        // `finish` flushes to the server's disk before it closes the handle.
        let Self {
            file,
            what,
            settings,
        } = *self;
        file.finish()
            .await
            .map(drop)
            .map_err(|e| classify(&settings, &what, &e))
    }

    async fn discard(self: Box<Self>) {
        // Never fails: it drains what is in flight and closes the handle.
        let _ = self.file.abort().await;
    }
}

#[async_trait]
impl Remote for Smb {
    async fn make_folder(&self) -> Result<(), StoreError> {
        self.make_root().await
    }

    async fn create(
        &self,
        name: &str,
        _size: Option<u64>,
    ) -> Result<Box<dyn RemoteFile>, StoreError> {
        let path = in_folder(&self.settings, name)?;
        let p = path.clone();
        let file = self
            .with(
                &format!("creating {path}"),
                Box::new(move |c, tree| {
                    Box::pin(async move { c.create_file_writer(tree, &p).await })
                }),
            )
            .await?;
        Ok(Box::new(SmbFile {
            file,
            what: format!("uploading {path}"),
            settings: self.settings.clone(),
        }))
    }

    async fn put(&self, name: &str, data: Bytes) -> Result<(), StoreError> {
        let t = in_folder(&self.settings, name)?;
        self.with(
            &format!("uploading {name}"),
            Box::new(move |c, tree| {
                Box::pin(async move { c.write_file(tree, &t, &data).await.map(|_| ()) })
            }),
        )
        .await
    }

    async fn rename(&self, from: &str, to: &str, _: Written) -> Result<(), StoreError> {
        let (f, t) = (
            in_folder(&self.settings, from)?,
            in_folder(&self.settings, to)?,
        );
        self.with(
            &format!("moving {to} into place"),
            Box::new(move |c, tree| {
                Box::pin(async move {
                    let replace = RenameOptions::new().replace_if_exists(true);
                    c.rename_with(tree, &f, &t, replace).await
                })
            }),
        )
        .await
    }

    async fn remove(&self, name: &str) -> Result<(), StoreError> {
        let p = in_folder(&self.settings, name)?;
        self.with(
            &format!("deleting {name}"),
            Box::new(move |c, t| Box::pin(async move { c.delete_file(t, &p).await })),
        )
        .await
    }

    /// One QUERY_DIRECTORY answer at a time (each at most the client's 64 KiB buffer), counted
    /// against the cap as it comes: the client's `list_directory` would keep all a server sends.
    async fn names(&self) -> Result<Vec<String>, StoreError> {
        let root = self.settings.path.trim_matches('/').to_owned();
        let mut listing = CappedListing::new(
            self.listing_cap,
            format!("{}/{root}", endpoint(&self.settings)),
        );
        self.with(
            &format!("listing {}", endpoint(&self.settings)),
            Box::new(move |c, t| {
                Box::pin(async move {
                    let mut reader = c.open_directory_reader(t, &root).await?;
                    while let Some(batch) = reader.next_batch().await? {
                        for e in batch {
                            if let Err(over) = listing.take(e.name, !e.is_directory) {
                                // Dropping the reader would close the handle too, unanswered.
                                let _ = reader.close().await;
                                return Ok(Err(over));
                            }
                        }
                    }
                    Ok(Ok(listing.files()))
                })
            }),
        )
        .await?
    }

    async fn open(&self, name: &str) -> Result<Box<dyn AsyncRead + Send + Unpin>, StoreError> {
        let p = in_folder(&self.settings, name)?;
        let download = self
            .with(
                &format!("reading {name}"),
                Box::new(move |c, t| Box::pin(async move { c.open_file_download(t, &p).await })),
            )
            .await?;
        // The download keeps a bounded number of READs in flight on its own handle.
        let chunks = futures::stream::unfold(download, |mut d| async move {
            let next = d.next_chunk().await?;
            Some((next.map(Bytes::from).map_err(std::io::Error::other), d))
        });
        Ok(Box::new(tokio_util::io::StreamReader::new(Box::pin(
            chunks,
        ))))
    }

    async fn read(&self, name: &str, limit: u64) -> Result<Vec<u8>, StoreError> {
        let p = in_folder(&self.settings, name)?;
        let what = format!("reading {name}");
        let too_big = |len: u64| {
            StoreError::new(
                StoreErrorKind::Other,
                format!("{name} is {len} bytes, more than the {limit} expected"),
            )
        };
        let mut download = self
            .with(
                &what,
                Box::new(move |c, t| Box::pin(async move { c.open_file_download(t, &p).await })),
            )
            .await?;
        if let Some(len) = download.info().map(|i| i.size).filter(|l| *l > limit) {
            return Err(too_big(len));
        }
        // Read under the limit whatever size the server claimed.
        let mut out = Vec::new();
        while let Some(chunk) = download.next_chunk().await {
            let chunk = chunk.map_err(|e| self.classify(&what, &e))?;
            if (out.len() + chunk.len()) as u64 > limit {
                return Err(too_big((out.len() + chunk.len()) as u64));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn settings(path: &str) -> SmbSpec {
        SmbSpec {
            host: "nas.local".into(),
            port: 445,
            share: "backups".into(),
            path: path.into(),
            username: "ha".into(),
            password: Secret::new("pw"),
            domain: String::new(),
        }
    }

    #[test]
    fn names_sit_in_the_folder_inside_the_share() {
        assert_eq!(in_folder(&settings(""), "a.tar.age").unwrap(), "a.tar.age");
        assert_eq!(
            in_folder(&settings("/ha/lifeboat/"), "a").unwrap(),
            "ha/lifeboat/a"
        );
        for bad in ["..", "../x", "..\\x", "", "/abs"] {
            assert!(in_folder(&settings("ha"), bad).is_err(), "{bad:?}");
        }
        assert_eq!(endpoint(&settings("ha")), "//nas.local:445/backups");
    }
}
