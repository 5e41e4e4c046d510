//! [`Store`] over SMB2/3 (a NAS share, a Windows share, Samba on a Raspberry Pi), in pure Rust
//! (the `smb2` crate): user and password sign-in, signing and encryption as the server asks.
//!
//! - Uploads stream (pipelined WRITEs, a bounded window) into a hidden temporary file in the
//!   destination folder, are flushed to the server's disk and renamed over the real name in one
//!   step, so a copy is never half there under its own name.
//! - One signed-in session is kept and shared; a broken one is replaced at the next request.
//!   Writers and readers hold their own handle on that session, so they never block the rest.
//! - A wrong password is a permanent refusal (SMB servers lock accounts that keep guessing), and a
//!   server that quietly answers a named account with a guest session is refused too.

use super::layout::{self, partial_name};
use super::{ObjectWriter, Store, StoreError, StoreErrorKind};
use crate::config::SmbSpec;
use async_trait::async_trait;
use bytes::Bytes;
use smb2::{ClientConfig, ErrorKind, RenameOptions, SmbClient, Tree};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncRead;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// `//host:port/share`, for messages.
fn endpoint(s: &SmbSpec) -> String {
    format!("//{}:{}/{}", s.host, s.port, s.share)
}

/// Where `name` sits in the share: inside the destination's folder.
fn in_folder(s: &SmbSpec, name: &str) -> String {
    match s.path.trim_matches('/') {
        "" => name.to_owned(),
        root => format!("{root}/{name}"),
    }
}

/// A signed-in session and the share it is connected to.
struct Session {
    client: SmbClient,
    tree: Tree,
}

/// An SMB share folder as a store.
pub struct SmbStore {
    /// Shared with the store's writers, which rename through it.
    inner: Arc<Inner>,
}

struct Inner {
    settings: SmbSpec,
    /// How long a request may go unanswered (a NAS may first spin up a sleeping disk).
    silence: Duration,
    session: tokio::sync::Mutex<Option<Session>>,
    root_ready: tokio::sync::OnceCell<()>,
}

impl SmbStore {
    /// A store for `settings` that gives up on a server silent for `silence`. Nothing is
    /// contacted yet.
    pub fn new(settings: SmbSpec, silence: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings,
                silence,
                session: tokio::sync::Mutex::new(None),
                root_ready: tokio::sync::OnceCell::new(),
            }),
        }
    }
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

impl Inner {
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
                ),
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

    /// Classifies an SMB failure, saying what to fix where the user can.
    fn classify(&self, what: &str, e: &smb2::Error) -> StoreError {
        let s = &self.settings;
        match e.kind() {
            ErrorKind::AuthRequired | ErrorKind::GuestSessionRefused => StoreError::new(
                StoreErrorKind::Denied,
                format!(
                    "{what}: {} refused the sign-in of {:?}: check the user name, the password \
                     and the domain",
                    s.host, s.username
                ),
            ),
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
            ErrorKind::DiskFull => StoreError::new(
                StoreErrorKind::Other,
                format!("{what}: the share is full: free space on the NAS or keep fewer copies"),
            ),
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

    /// Creates the destination folder and its parents once.
    async fn ensure_root(&self) -> Result<(), StoreError> {
        self.root_ready
            .get_or_try_init(|| async {
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
            })
            .await
            .copied()
    }

    /// Renames `from` over `to` in one step.
    async fn rename(&self, from: &str, to: &str) -> Result<(), StoreError> {
        let (f, t) = (from.to_owned(), to.to_owned());
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

    async fn delete_path(&self, path: &str) -> Result<(), StoreError> {
        let p = path.to_owned();
        let deleted = self
            .with(
                &format!("deleting {path}"),
                Box::new(move |c, t| Box::pin(async move { c.delete_file(t, &p).await })),
            )
            .await;
        match deleted {
            Err(e) if e.kind == StoreErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

/// A file being uploaded on its own handle.
struct SmbWriter {
    store: Arc<Inner>,
    file: Option<smb2::FileWriter>,
    temp: String,
    real: String,
}

impl SmbWriter {
    fn gone(&self) -> StoreError {
        StoreError::new(
            StoreErrorKind::Other,
            format!("uploading {}: the upload ended", self.real),
        )
    }
}

#[async_trait]
impl ObjectWriter for SmbWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        let what = format!("uploading {}", self.real);
        let Some(f) = self.file.as_mut() else {
            return Err(self.gone());
        };
        if let Err(e) = f.write_chunk(&chunk).await {
            return Err(self.store.classify(&what, &e));
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<(), StoreError> {
        let Some(f) = self.file.take() else {
            return Err(self.gone());
        };
        // `finish` flushes to the server's disk before it closes the handle.
        f.finish()
            .await
            .map_err(|e| self.store.classify(&format!("uploading {}", self.real), &e))?;
        self.store.rename(&self.temp, &self.real).await
    }

    async fn abort(mut self: Box<Self>) -> Result<(), StoreError> {
        if let Some(f) = self.file.take() {
            // Never fails: it drains what is in flight and closes the handle.
            let _ = f.abort().await;
        }
        self.store.delete_path(&self.temp).await
    }
}

#[async_trait]
impl Store for SmbStore {
    async fn writer(
        &self,
        path: &str,
        _size_hint: Option<u64>,
    ) -> Result<Box<dyn ObjectWriter>, StoreError> {
        let s = &self.inner;
        s.ensure_root().await?;
        let temp = in_folder(&s.settings, &partial_name(path));
        let t = temp.clone();
        let file = s
            .with(
                &format!("creating {temp}"),
                Box::new(move |c, tree| {
                    Box::pin(async move { c.create_file_writer(tree, &t).await })
                }),
            )
            .await?;
        Ok(Box::new(SmbWriter {
            store: Arc::clone(s),
            file: Some(file),
            temp,
            real: in_folder(&s.settings, path),
        }))
    }

    async fn reader(&self, path: &str) -> Result<Box<dyn AsyncRead + Send + Unpin>, StoreError> {
        let s = &self.inner;
        let p = in_folder(&s.settings, path);
        let download = s
            .with(
                &format!("reading {path}"),
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

    async fn read_small(&self, path: &str, limit: u64) -> Result<Vec<u8>, StoreError> {
        let s = &self.inner;
        let p = in_folder(&s.settings, path);
        let name = path.to_owned();
        let read = s
            .with(
                &format!("reading {path}"),
                Box::new(move |c, t| {
                    Box::pin(async move {
                        let info = c.stat(t, &p).await?;
                        if info.size > limit {
                            return Ok(Err(info.size));
                        }
                        c.read_file_pipelined(t, &p).await.map(Ok)
                    })
                }),
            )
            .await?;
        read.map_err(|len| {
            StoreError::new(
                StoreErrorKind::Other,
                format!("{name} is {len} bytes, more than the {limit} expected"),
            )
        })
    }

    async fn write_small(&self, path: &str, data: Vec<u8>) -> Result<(), StoreError> {
        let s = &self.inner;
        s.ensure_root().await?;
        let temp = in_folder(&s.settings, &partial_name(path));
        let t = temp.clone();
        s.with(
            &format!("uploading {path}"),
            Box::new(move |c, tree| {
                Box::pin(async move { c.write_file(tree, &t, &data).await.map(|_| ()) })
            }),
        )
        .await?;
        s.rename(&temp, &in_folder(&s.settings, path)).await
    }

    async fn list(&self) -> Result<Vec<String>, StoreError> {
        Ok(layout::only(self.inner.files().await?, false))
    }

    async fn unfinished(&self) -> Result<Vec<String>, StoreError> {
        Ok(layout::only(self.inner.files().await?, true))
    }

    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        let s = &self.inner;
        s.delete_path(&in_folder(&s.settings, path)).await
    }
}

impl Inner {
    /// Names of the files in the folder, uploads in progress among them.
    async fn files(&self) -> Result<Vec<String>, StoreError> {
        let root = self.settings.path.trim_matches('/').to_owned();
        let listed = self
            .with(
                &format!("listing {}", endpoint(&self.settings)),
                Box::new(move |c, t| Box::pin(async move { c.list_directory(t, &root).await })),
            )
            .await;
        match listed {
            Ok(entries) => Ok(entries
                .into_iter()
                .filter(|e| !e.is_directory)
                .map(|e| e.name)
                .collect()),
            Err(e) if e.kind == StoreErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
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
        assert_eq!(in_folder(&settings(""), "a.tar.age"), "a.tar.age");
        assert_eq!(in_folder(&settings("/ha/lifeboat/"), "a"), "ha/lifeboat/a");
        assert_eq!(endpoint(&settings("ha")), "//nas.local:445/backups");
    }
}
