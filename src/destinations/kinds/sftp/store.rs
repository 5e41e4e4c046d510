//! [`Store`](super::Store) over SFTP (any SSH server: a NAS, a Raspberry Pi at a friend's, a VPS), in pure Rust
//! (russh + russh-sftp): password or key sign-in, and the server's host key checked every time.
//!
//! - Host keys: a pinned `host_key` (an OpenSSH public key line or its `SHA256:` fingerprint) is
//!   enforced. Without one, the first key seen is trusted and written to the known-hosts file in
//!   Lifeboat's data folder (the log and the panel show it); from then on a different key is
//!   refused, which is what a man in the middle looks like.
//! - Uploads stream into a hidden temporary file, are flushed to the server's disk (`fsync`, when
//!   the server offers it) and renamed into place, on the frame every file-like store shares
//!   ([`super::staged`]), which also tries a dropped small request again.
//! - One SSH connection is kept and shared; a broken one is replaced at the next request.

use super::staged::{CappedListing, ListingCap, Remote, RemoteFile, Small, Staged, Written};
use super::{StoreError, StoreErrorKind};
use crate::destinations::kinds::sftp::{SftpAuth, SftpSpec};
use crate::destinations::probe::Cause;
use crate::secret::Secret;
use async_trait::async_trait;
use bytes::Bytes;
use russh::client;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg};
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::client::fs::File;
use russh_sftp::client::{RawSftpSession, SftpSession};
use russh_sftp::protocol::StatusCode;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Checks the server's host key during the handshake, remembering why it refused.
struct HostCheck {
    endpoint: String,
    pin: Option<String>,
    known_hosts: Option<PathBuf>,
    refusal: Arc<Mutex<Option<String>>>,
}

impl HostCheck {
    fn refuse(&self, why: String) -> bool {
        if let Ok(mut r) = self.refusal.lock() {
            *r = Some(why);
        }
        false
    }

    fn judge(&self, seen: &str) -> bool {
        if let Some(pin) = &self.pin {
            if seen == pin {
                return true;
            }
            return self.refuse(format!(
                "the server's host key is {seen}, not the pinned {pin}: if the server was \
                 reinstalled, pin its new key; otherwise someone may be in between"
            ));
        }
        let Some(file) = &self.known_hosts else {
            tracing::warn!(
                "trusting {} host key {seen} for this run only (no data folder to remember it)",
                self.endpoint
            );
            return true;
        };
        match known_key(file, &self.endpoint) {
            Ok(Some(known)) if known == seen => true,
            Ok(Some(known)) => self.refuse(format!(
                "the server's host key changed from {known} (trusted since first use) to {seen}: \
                 if the server was reinstalled, set host_key to the new key; otherwise someone \
                 may be in between"
            )),
            Ok(None) => match remember_key(file, &self.endpoint, seen) {
                Ok(()) => {
                    tracing::warn!(
                        "trusting {} on first use: host key {seen} (set host_key to pin it)",
                        self.endpoint
                    );
                    true
                }
                Err(e) => self.refuse(format!(
                    "cannot remember the host key in {}: {e}",
                    file.display()
                )),
            },
            Err(e) => self.refuse(format!("cannot read {}: {e}", file.display())),
        }
    }
}

impl client::Handler for HostCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKey,
    ) -> Result<bool, Self::Error> {
        Ok(self.judge(&key.fingerprint(HashAlg::Sha256).to_string()))
    }
}

/// How a destination's server proves who it is, for people: the SFTP host key pinned, or trusted
/// on first use and remembered.
#[derive(Debug, Clone)]
pub struct HostKeyTrust {
    /// `host:port`.
    pub endpoint: String,
    pub pinned: Option<String>,
    pub known_hosts: Option<PathBuf>,
}

impl HostKeyTrust {
    /// How the server of `spec` is trusted.
    pub fn of(spec: &SftpSpec) -> Self {
        Self {
            endpoint: format!("{}:{}", spec.host, spec.port),
            pinned: spec.host_key.clone(),
            known_hosts: spec.known_hosts.clone(),
        }
    }

    /// One line saying which host key is accepted and why.
    pub fn describe(&self) -> String {
        if let Some(pin) = &self.pinned {
            return format!("Host key {pin} (pinned)");
        }
        let Some(file) = &self.known_hosts else {
            return "Host key trusted for each command only (no data folder)".to_owned();
        };
        match known_key(file, &self.endpoint) {
            Ok(Some(key)) => format!(
                "Host key {key}, trusted on first use: compare it with the server's \
                 (ssh-keygen -lf on its host key) and set host_key to pin it"
            ),
            Ok(None) => "Host key not seen yet: the first one seen will be trusted".to_owned(),
            Err(e) => format!("Cannot read {}: {e}", file.display()),
        }
    }
}

/// The host key a server offers, read without trusting it (so a person can compare it with the
/// server's own before it is pinned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedKey {
    /// `ssh-ed25519`.
    pub algorithm: String,
    /// `SHA256:…`, as `ssh-keygen -lf` prints it.
    pub fingerprint: String,
    /// The OpenSSH public key line (`ssh-ed25519 AAAA…`), to pin.
    pub line: String,
}

/// Takes the server's key and refuses it, so nothing else is sent.
struct KeyReader(Arc<Mutex<Option<russh::keys::PublicKey>>>);

impl client::Handler for KeyReader {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKey,
    ) -> Result<bool, Self::Error> {
        if let Ok(mut seen) = self.0.lock() {
            *seen = Some(key.clone());
        }
        Ok(false)
    }
}

/// The host key the server at `host:port` offers. The handshake stops at the key: no credentials
/// are sent and nothing is remembered.
///
/// # Errors
/// A [`StoreError`] (unavailable) when the server cannot be reached within `wait` or offers no key.
pub async fn offered_host_key(
    host: &str,
    port: u16,
    wait: Duration,
) -> Result<OfferedKey, StoreError> {
    let seen = Arc::new(Mutex::new(None));
    let config = Arc::new(client::Config::default());
    let connecting = client::connect(config, (host, port), KeyReader(Arc::clone(&seen)));
    let said = match tokio::time::timeout(wait, connecting).await {
        Err(_) => format!("{host}:{port} did not answer within {wait:?}"),
        Ok(Err(e)) => format!("cannot connect to {host}:{port}: {e}"),
        Ok(Ok(_)) => format!("{host}:{port} was let in without its key being checked"),
    };
    let key = seen.lock().ok().and_then(|mut k| k.take());
    let Some(key) = key else {
        return Err(StoreError::unavailable(said));
    };
    let line = key.to_openssh().map_err(|e| {
        StoreError::unavailable(format!(
            "{host}:{port} offered a key that cannot be written: {e}"
        ))
    })?;
    Ok(OfferedKey {
        algorithm: key.algorithm().as_str().to_owned(),
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
        line,
    })
}

/// The fingerprint remembered for `endpoint`, if any. Lines are `host:port SHA256:…`.
fn known_key(file: &std::path::Path, endpoint: &str) -> std::io::Result<Option<String>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(text.lines().find_map(|l| {
        let (who, key) = l.split_once(' ')?;
        (who == endpoint).then(|| key.trim().to_owned())
    }))
}

fn remember_key(file: &std::path::Path, endpoint: &str, key: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(file)?;
    writeln!(f, "{endpoint} {key}")?;
    f.sync_all()
}

/// A live connection: the SSH session (kept so the channel stays open) and SFTP over it.
struct Conn {
    ssh: client::Handle<HostCheck>,
    sftp: SftpSession,
}

/// An SFTP folder as a store.
pub struct Sftp {
    settings: SftpSpec,
    /// How long a request may go unanswered.
    silence: Duration,
    conn: tokio::sync::Mutex<Option<Arc<Conn>>>,
    /// How much of the folder's listing is read before it is refused.
    listing_cap: ListingCap,
}

/// The store for `settings`, giving up on a server silent for `silence`. Nothing is contacted yet.
pub fn store(settings: SftpSpec, silence: Duration) -> Staged<Sftp> {
    store_capped(settings, silence, ListingCap::DEFAULT)
}

/// [`store`], refusing a listing over `cap` rather than [`ListingCap::DEFAULT`] (tests use a small
/// cap so as not to plant 100 000 files).
pub fn store_capped(settings: SftpSpec, silence: Duration, cap: ListingCap) -> Staged<Sftp> {
    Staged::new(
        Sftp {
            settings,
            silence,
            conn: tokio::sync::Mutex::new(None),
            listing_cap: cap,
        },
        Small::patient(silence),
    )
}

impl Sftp {
    fn endpoint(&self) -> String {
        format!("{}:{}", self.settings.host, self.settings.port)
    }

    /// Where `name` is on the server; a name that is not one name inside the folder (`..`,
    /// `a/b`) is refused, never sent.
    fn path(&self, name: &str) -> Result<String, StoreError> {
        let name = super::names::single(name)?;
        let root = self.settings.path.trim_end_matches('/');
        Ok(if root.is_empty() {
            name.to_owned()
        } else {
            format!("{root}/{name}")
        })
    }

    /// The shared connection, made (again) when there is none or it broke.
    async fn conn(&self) -> Result<Arc<Conn>, StoreError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.ssh.is_closed()) {
            return Ok(Arc::clone(c));
        }
        let c = Arc::new(self.connect().await?);
        *slot = Some(Arc::clone(&c));
        Ok(c)
    }

    /// Forgets a connection that failed, so the next request makes a new one.
    async fn forget(&self, e: &StoreError) {
        if e.kind == StoreErrorKind::Unavailable {
            *self.conn.lock().await = None;
        }
    }

    async fn connect(&self) -> Result<Conn, StoreError> {
        let s = &self.settings;
        let endpoint = self.endpoint();
        let refusal = Arc::new(Mutex::new(None));
        let check = HostCheck {
            endpoint: endpoint.clone(),
            pin: s.host_key.clone(),
            known_hosts: s.known_hosts.clone(),
            refusal: Arc::clone(&refusal),
        };
        let config = Arc::new(client::Config {
            inactivity_timeout: Some(Duration::from_secs(300)),
            keepalive_interval: Some(Duration::from_secs(30)),
            ..client::Config::default()
        });
        let connecting = client::connect(config, (s.host.as_str(), s.port), check);
        let mut ssh = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Err(_) => {
                return Err(StoreError::unavailable(format!(
                    "{endpoint} did not answer within {CONNECT_TIMEOUT:?}"
                )));
            }
            Ok(Err(e)) => {
                let refused = refusal.lock().ok().and_then(|mut r| r.take());
                return Err(match refused {
                    Some(why) => {
                        StoreError::new(StoreErrorKind::Config, why).because(Cause::Certificate)
                    }
                    None => StoreError::unavailable(format!(
                        "cannot connect to {endpoint}: {}",
                        crate::destinations::error_chain(&e)
                    )),
                });
            }
            Ok(Ok(h)) => h,
        };
        let signed_in = match &s.auth {
            SftpAuth::Password(p) => ssh
                .authenticate_password(&s.username, p.expose())
                .await
                .map_err(|e| StoreError::unavailable(format!("signing in to {endpoint}: {e}")))?,
            SftpAuth::Key { path, passphrase } => {
                let text = tokio::fs::read_to_string(path).await.map_err(|e| {
                    StoreError::new(
                        StoreErrorKind::Config,
                        format!("cannot read the private key {}: {e}", path.display()),
                    )
                })?;
                let key = russh::keys::decode_secret_key(
                    &text,
                    passphrase.as_ref().map(Secret::expose),
                )
                .map_err(|e| {
                    StoreError::new(
                        StoreErrorKind::Config,
                        format!(
                            "the private key {} cannot be used: {e} (ed25519 and ECDSA keys in \
                             OpenSSH format work; a key with a passphrase needs \
                             private_key_passphrase)",
                            path.display()
                        ),
                    )
                })?;
                ssh.authenticate_publickey(
                    &s.username,
                    PrivateKeyWithHashAlg::new(Arc::new(key), None),
                )
                .await
                .map_err(|e| StoreError::unavailable(format!("signing in to {endpoint}: {e}")))?
            }
        };
        if !signed_in.success() {
            return Err(StoreError::new(
                StoreErrorKind::Denied,
                format!(
                    "{endpoint} refused the credentials of {}: check the user name and the \
                     password or key",
                    s.username
                ),
            )
            .because(Cause::Credentials));
        }
        let channel = ssh.channel_open_session().await.map_err(|e| {
            StoreError::unavailable(format!("opening a channel on {endpoint}: {e}"))
        })?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(|e| StoreError::unavailable(format!("starting SFTP on {endpoint}: {e}")))?;
        let sftp = SftpSession::new(channel.into_stream()).await.map_err(|e| {
            StoreError::new(
                StoreErrorKind::Config,
                format!("{endpoint} does not offer SFTP: {e}"),
            )
        })?;
        sftp.set_timeout(self.silence.as_secs().max(1));
        Ok(Conn { ssh, sftp })
    }

    /// Runs one SFTP request on the shared connection, replacing the connection if it broke.
    async fn with<T, F, Fut>(&self, what: &str, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Arc<Conn>) -> Fut,
        Fut: std::future::Future<Output = Result<T, SftpError>>,
    {
        let c = self.conn().await?;
        match f(c).await {
            Ok(v) => Ok(v),
            Err(e) => {
                let e = sftp_error(what, e);
                self.forget(&e).await;
                Err(e)
            }
        }
    }

    /// Lists `root` one READDIR answer at a time into `listing`, which refuses it past its cap.
    /// The SFTP client's own `read_dir` keeps all a server sends and offers no way to stop, so the
    /// listing has an SFTP session of its own on the connection (a channel opened and closed
    /// here), spoken at the protocol's level; each answer is at most the client's packet size.
    async fn list_capped(
        &self,
        c: &Conn,
        what: &str,
        root: &str,
        mut listing: CappedListing,
    ) -> Result<Vec<String>, StoreError> {
        let endpoint = self.endpoint();
        let channel = c.ssh.channel_open_session().await.map_err(|e| {
            StoreError::unavailable(format!("{what}: opening a channel on {endpoint}: {e}"))
        })?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(|e| StoreError::unavailable(format!("{what}: starting SFTP: {e}")))?;
        let raw = RawSftpSession::new(channel.into_stream());
        raw.set_timeout(self.silence.as_secs().max(1));
        let listed = async {
            raw.init().await.map_err(|e| sftp_error(what, e))?;
            let handle = raw
                .opendir(root)
                .await
                .map_err(|e| sftp_error(what, e))?
                .handle;
            let read = async {
                loop {
                    match raw.readdir(handle.as_str()).await {
                        Ok(answer) => {
                            for f in answer.files {
                                let file = f.attrs.file_type().is_file();
                                listing.take(f.filename, file)?;
                            }
                        }
                        Err(SftpError::Status(s)) if s.status_code == StatusCode::Eof => {
                            return Ok(());
                        }
                        Err(e) => return Err(sftp_error(what, e)),
                    }
                }
            }
            .await;
            // The session ends below whatever this answers.
            let _ = raw.close(handle).await;
            read
        }
        .await;
        let _ = raw.close_session();
        listed.map(|()| listing.files())
    }

    /// Creates the destination folder and its parents.
    async fn make_root(&self) -> Result<(), StoreError> {
        let root = self.settings.path.trim_end_matches('/');
        let mut at = String::new();
        for part in root.split('/') {
            if part.is_empty() {
                at.push('/');
                continue;
            }
            at.push_str(part);
            let dir = at.clone();
            let exists = self
                .with(&format!("looking at {dir}"), |c| async move {
                    match c.sftp.metadata(dir).await {
                        Ok(m) => Ok(m.is_dir()),
                        Err(SftpError::Status(s)) if s.status_code == StatusCode::NoSuchFile => {
                            Ok(false)
                        }
                        Err(e) => Err(e),
                    }
                })
                .await?;
            if !exists {
                let dir = at.clone();
                self.with(&format!("creating the folder {dir}"), |c| async move {
                    c.sftp.create_dir(dir).await
                })
                .await?;
            }
            at.push('/');
        }
        Ok(())
    }

    /// Renames `from` onto `to`, replacing it. SFTP's own rename refuses an existing target with
    /// a generic failure; only then is the target removed and the rename tried again, so a
    /// failure of any other kind never costs the object already there.
    async fn rename_path(&self, from: &str, to: &str) -> Result<(), StoreError> {
        let what = format!("moving {to} into place");
        let (f, t) = (from.to_owned(), to.to_owned());
        let Err(first) = self
            .with(&what, |c| async move { c.sftp.rename(f, t).await })
            .await
        else {
            return Ok(());
        };
        let target_exists = match self.size(to).await {
            Ok(_) => true,
            Err(e) if e.kind == StoreErrorKind::NotFound => false,
            Err(e) => return Err(e),
        };
        if first.kind != StoreErrorKind::Other || !target_exists {
            return Err(first);
        }
        self.delete_path(to).await?;
        let (f, t) = (from.to_owned(), to.to_owned());
        self.with(&what, |c| async move { c.sftp.rename(f, t).await })
            .await
    }

    async fn delete_path(&self, path: &str) -> Result<(), StoreError> {
        let p = path.to_owned();
        self.with(&format!("deleting {path}"), |c| async move {
            c.sftp.remove_file(p).await
        })
        .await
    }

    async fn size(&self, path: &str) -> Result<u64, StoreError> {
        let p = path.to_owned();
        let m = self
            .with(&format!("looking at {path}"), |c| async move {
                c.sftp.metadata(p).await
            })
            .await?;
        Ok(m.len())
    }

    /// Creates a file, keeping the connection it lives on.
    async fn create_file(&self, path: &str) -> Result<(Arc<Conn>, File), StoreError> {
        let p = path.to_owned();
        self.with(&format!("creating {path}"), |c| async move {
            let f = c.sftp.create(p).await?;
            Ok((c, f))
        })
        .await
    }

    /// Opens a file for reading, keeping the connection it lives on.
    async fn open_file(&self, path: &str) -> Result<SftpReader, StoreError> {
        let p = self.path(path)?;
        self.with(&format!("reading {path}"), |c| async move {
            let file = c.sftp.open(p).await?;
            Ok(SftpReader { _conn: c, file })
        })
        .await
    }
}

/// Classifies an SFTP failure.
fn sftp_error(what: &str, e: SftpError) -> StoreError {
    match &e {
        SftpError::Status(s) => {
            let kind = match s.status_code {
                StatusCode::NoSuchFile => StoreErrorKind::NotFound,
                StatusCode::PermissionDenied => StoreErrorKind::Denied,
                StatusCode::NoConnection | StatusCode::ConnectionLost => {
                    return StoreError::unavailable(format!("{what}: {e}"));
                }
                _ => StoreErrorKind::Other,
            };
            let hint = match kind {
                StoreErrorKind::NotFound => "not found: ",
                StoreErrorKind::Denied => "the account lacks permission: ",
                _ => "",
            };
            let out = StoreError::new(kind, format!("{what}: {hint}{e}"));
            // Signed in already: a refusal now is a right the account lacks there.
            match kind {
                StoreErrorKind::Denied => out.because(Cause::NoWrite),
                _ => out,
            }
        }
        SftpError::IO(text) if broke_off(text) => StoreError::unavailable(format!(
            "{what}: the connection to the SFTP server broke off ({text})"
        )),
        SftpError::IO(_) | SftpError::Timeout => StoreError::unavailable(format!("{what}: {e}")),
        // The client says a dropped session in other variants too ("sender dropped").
        _ if broke_off(&e.to_string()) => StoreError::unavailable(format!(
            "{what}: the connection to the SFTP server broke off ({e})"
        )),
        _ => StoreError::new(StoreErrorKind::Other, format!("{what}: {e}")),
    }
}

/// Whether the SFTP client's words mean the SSH connection dropped: its request channel or its
/// session closing is how that shows.
fn broke_off(text: &str) -> bool {
    ["sender dropped", "channel closed", "session closed"]
        .iter()
        .any(|w| text.contains(w))
}

fn io_error(what: &str, e: &std::io::Error) -> StoreError {
    let text = e.to_string();
    if broke_off(&text) {
        return StoreError::unavailable(format!(
            "{what}: the connection to the SFTP server broke off ({text})"
        ));
    }
    if text == "Timeout" || e.kind() == std::io::ErrorKind::TimedOut {
        return StoreError::unavailable(format!(
            "{what}: the SFTP server did not answer in time (Timeout)"
        ));
    }
    StoreError::unavailable(format!("{what}: {e}"))
}

/// A file being uploaded; it keeps its connection alive.
struct SftpFile {
    _conn: Arc<Conn>,
    file: File,
    what: String,
}

#[async_trait]
impl RemoteFile for SftpFile {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        self.file
            .write_all(&chunk)
            .await
            .map_err(|e| io_error(&self.what, &e))
    }

    async fn close(mut self: Box<Self>) -> Result<(), StoreError> {
        let what = &self.what;
        self.file.flush().await.map_err(|e| io_error(what, &e))?;
        // On the server's disk before it gets its name; servers without fsync@openssh.com
        // answer that they do not support it, which is not a failure of the upload.
        if let Err(e) = self.file.sync_all().await {
            tracing::debug!("{what}: the server cannot fsync ({e})");
        }
        self.file.shutdown().await.map_err(|e| io_error(what, &e))
    }

    async fn discard(self: Box<Self>) {}
}

/// A file being read; it keeps its connection alive.
struct SftpReader {
    _conn: Arc<Conn>,
    file: File,
}

impl AsyncRead for SftpReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.file).poll_read(cx, buf)
    }
}

#[async_trait]
impl Remote for Sftp {
    fn trust(&self) -> Option<String> {
        Some(HostKeyTrust::of(&self.settings).describe())
    }

    async fn make_folder(&self) -> Result<(), StoreError> {
        self.make_root().await
    }

    async fn create(
        &self,
        name: &str,
        _size: Option<u64>,
    ) -> Result<Box<dyn RemoteFile>, StoreError> {
        let path = self.path(name)?;
        let (conn, file) = self.create_file(&path).await?;
        Ok(Box::new(SftpFile {
            _conn: conn,
            file,
            what: format!("uploading {path}"),
        }))
    }

    async fn put(&self, name: &str, data: Bytes) -> Result<(), StoreError> {
        let mut file = self.create(name, Some(data.len() as u64)).await?;
        file.write(data).await?;
        file.close().await
    }

    async fn rename(&self, from: &str, to: &str, _: Written) -> Result<(), StoreError> {
        self.rename_path(&self.path(from)?, &self.path(to)?).await
    }

    async fn remove(&self, name: &str) -> Result<(), StoreError> {
        self.delete_path(&self.path(name)?).await
    }

    async fn names(&self) -> Result<Vec<String>, StoreError> {
        let root = match self.settings.path.trim_end_matches('/') {
            "" => ".".to_owned(),
            r => r.to_owned(),
        };
        let what = format!("listing {root}");
        let c = self.conn().await?;
        let listing = CappedListing::new(self.listing_cap, format!("{}/{root}", self.endpoint()));
        let listed = self.list_capped(&c, &what, &root, listing).await;
        if let Err(e) = &listed {
            self.forget(e).await;
        }
        listed
    }

    async fn open(&self, name: &str) -> Result<Box<dyn AsyncRead + Send + Unpin>, StoreError> {
        Ok(Box::new(self.open_file(name).await?))
    }

    async fn read(&self, name: &str, limit: u64) -> Result<Vec<u8>, StoreError> {
        use tokio::io::AsyncReadExt;
        let full = self.path(name)?;
        let too_big = |len: u64| {
            StoreError::new(
                StoreErrorKind::Other,
                format!("{name} is {len} bytes, more than the {limit} expected"),
            )
        };
        let len = self.size(&full).await?;
        if len > limit {
            return Err(too_big(len));
        }
        // Read under the limit whatever size the server claimed.
        let mut out = Vec::new();
        self.open_file(name)
            .await?
            .take(limit + 1)
            .read_to_end(&mut out)
            .await
            .map_err(|e| io_error(&format!("reading {name}"), &e))?;
        if out.len() as u64 > limit {
            return Err(too_big(out.len() as u64));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_connection_is_said_as_one_whichever_words_the_client_uses() {
        for words in ["session closed", "channel closed", "sender dropped"] {
            for e in [
                sftp_error("uploading x", SftpError::IO(words.into())),
                io_error("uploading x", &std::io::Error::other(words)),
            ] {
                assert!(e.is_retryable(), "{words}");
                assert!(
                    e.to_string()
                        .contains("the connection to the SFTP server broke off"),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn a_first_key_is_remembered_and_a_changed_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sftp_known_hosts");
        let check = HostCheck {
            endpoint: "nas:22".into(),
            pin: None,
            known_hosts: Some(file.clone()),
            refusal: Arc::default(),
        };
        assert!(check.judge("SHA256:first"));
        assert!(check.judge("SHA256:first"));
        assert!(!check.judge("SHA256:other"));
        let why = check.refusal.lock().unwrap().clone().unwrap();
        assert!(
            why.contains("changed from SHA256:first") && why.contains("to SHA256:other"),
            "{why}"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Another server is a different entry.
        let other = HostCheck {
            endpoint: "nas:2222".into(),
            ..check
        };
        assert!(other.judge("SHA256:other"));
    }

    #[test]
    fn the_trusted_host_key_is_told_as_pinned_or_first_used() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sftp_known_hosts");
        let trust = HostKeyTrust {
            endpoint: "nas:22".into(),
            pinned: None,
            known_hosts: Some(file.clone()),
        };
        assert!(
            trust.describe().contains("not seen yet"),
            "{}",
            trust.describe()
        );
        remember_key(&file, "nas:22", "SHA256:first").unwrap();
        let said = trust.describe();
        assert!(
            said.starts_with("Host key SHA256:first, trusted on first use"),
            "{said}"
        );
        let pinned = HostKeyTrust {
            pinned: Some("SHA256:pin".into()),
            ..trust
        };
        assert_eq!(pinned.describe(), "Host key SHA256:pin (pinned)");
    }
}
