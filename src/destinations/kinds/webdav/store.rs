//! [`Store`](super::Store) over WebDAV (Nextcloud, ownCloud, a NAS's WebDAV service, Apache, nginx, rclone…),
//! spoken directly with reqwest so uploads stream: OpenDAL's WebDAV writer holds a whole object in
//! memory, which a backup of several GiB cannot afford.
//!
//! - An upload is one chunked PUT to a hidden temporary name (`.lifeboat-partial-…`), moved onto
//!   its real name (`MOVE`, `Overwrite: T`) only when the server has accepted all of it.
//! - Servers or proxies that cap a request's size (HTTP 413, the classic Nextcloud-behind-a-proxy
//!   failure) are served in segments: with `segment_mb` set, an object is written as numbered
//!   pieces inside a `<name>.segments` folder, moved into place whole. Listing, reading and
//!   deleting treat that folder as the one object it holds.
//! - Small requests (listing, manifests, moves, deletes) are retried on passing failures, by the
//!   frame every file-like store shares ([`super::staged`]).

use super::dav_xml::{self, Entry};
use super::names;
use super::staged::{Remote, RemoteFile, Small, Staged, Written};
use super::{StoreError, StoreErrorKind};
use crate::destinations::probe::Cause;
use crate::secret::Secret;
use async_trait::async_trait;
use bytes::Bytes;
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncRead;
use tokio::task::JoinHandle;
use url::Url;

/// The folder suffix of an object stored in segments.
pub const SEGMENTS_SUFFIX: &str = ".segments";
/// Pieces queued for an upload in flight; memory is about this × the pipeline's chunk (1 MiB).
const QUEUED_CHUNKS: usize = 4;
/// What is escaped in a name: everything but RFC 3986's unreserved characters.
const NAME: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Settings for a WebDAV store.
#[derive(Clone)]
pub struct WebdavSettings {
    /// The folder copies go into (its parents are created when missing).
    pub url: Url,
    pub username: String,
    pub password: Secret,
    /// Write objects in pieces of this many bytes (for servers that cap a request's size).
    pub segment: Option<u64>,
    /// The HTTP clients; TLS pinning, when asked for, is already configured in them.
    pub clients: Clients,
    /// How long an upload may take no data before it is given up.
    pub silence: Duration,
}

struct Inner {
    client: reqwest::Client,
    upload_client: reqwest::Client,
    /// Always ends with `/`.
    base: Url,
    username: String,
    password: Secret,
    segment: Option<u64>,
    silence: Duration,
}

/// A WebDAV folder, as the store frame's [`Remote`].
pub struct Dav {
    inner: Arc<Inner>,
}

/// The store for `settings`. Nothing is contacted yet.
pub fn store(settings: WebdavSettings) -> Staged<Dav> {
    let silence = settings.silence;
    Staged::new(
        Dav {
            inner: Arc::new(Inner::new(settings)),
        },
        Small::patient(answer_time(silence)),
    )
}

impl Inner {
    fn new(settings: WebdavSettings) -> Self {
        let mut base = settings.url;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Self {
            client: settings.clients.requests,
            upload_client: settings.clients.uploads,
            base,
            username: settings.username,
            password: settings.password,
            segment: settings.segment,
            silence: settings.silence,
        }
    }
}

/// The HTTP clients of a WebDAV store: patient with slow servers, never forever.
#[derive(Clone)]
pub struct Clients {
    /// For everything but uploads: an answer (or the next piece of a download) may take two and
    /// a half times the store's patience, as a server may first wake a sleeping disk.
    pub requests: reqwest::Client,
    /// For uploads, which last as long as the backup takes to send: a request's read timeout
    /// would count the whole upload, so the upload watches for silence itself ([`Upload`]).
    pub uploads: reqwest::Client,
}

/// Two and a half times the store's patience: how long an answer may take.
fn answer_time(silence: Duration) -> Duration {
    silence * 5 / 2
}

/// The clients for a store given up after `silence`.
///
/// # Errors
/// A `Config` error when the TLS settings cannot be built.
pub fn clients(
    tls: Option<&rustls::ClientConfig>,
    silence: Duration,
) -> Result<Clients, StoreError> {
    let build = |read_timeout: Option<Duration>| {
        let mut b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .user_agent(concat!("lifeboat/", env!("CARGO_PKG_VERSION")));
        if let Some(t) = read_timeout {
            b = b.read_timeout(t);
        }
        if let Some(tls) = tls {
            b = b.tls_backend_preconfigured(tls.clone());
        }
        b.build().map_err(|e| {
            StoreError::new(
                StoreErrorKind::Config,
                format!("cannot set up the HTTP client: {e}"),
            )
        })
    };
    Ok(Clients {
        requests: build(Some(answer_time(silence)))?,
        uploads: build(None)?,
    })
}

impl Inner {
    /// The URL of a name directly under the base (a trailing `/` for folders); a name that is
    /// not one name inside the folder (`..`, `a/b`) is refused, never sent.
    fn url(&self, name: &str, folder: bool) -> Result<Url, StoreError> {
        let name = names::single(name)?;
        let mut u = self.base.clone();
        let encoded: String = percent_encoding::utf8_percent_encode(name, NAME).collect();
        let path = format!(
            "{}{encoded}{}",
            self.base.path(),
            if folder { "/" } else { "" }
        );
        u.set_path(&path);
        Ok(u)
    }

    fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        self.signed(self.client.request(method, url))
    }

    /// A streaming `PUT`, on the client without a read timeout.
    fn upload_request(&self, url: Url) -> reqwest::RequestBuilder {
        self.signed(self.upload_client.put(url))
    }

    fn signed(&self, b: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        b.basic_auth(&self.username, Some(self.password.expose()))
    }

    /// Sends a request; error statuses become errors, except those in `ok` (a 404 on delete,
    /// say). Passing failures are tried again by the frame ([`Small`]).
    async fn send(
        &self,
        what: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
        ok: &[StatusCode],
    ) -> Result<reqwest::Response, StoreError> {
        match build().send().await {
            Ok(r) if r.status().is_success() || ok.contains(&r.status()) => Ok(r),
            Ok(r) => Err(status_error(what, r.status(), self.segment.is_some())),
            Err(e) => Err(transport_error(what, &e)),
        }
    }

    /// Names of the objects in the folder, uploads in progress among them; a segmented object's
    /// collection is named as the object.
    async fn names(&self) -> Result<Vec<String>, StoreError> {
        let Some(entries) = self.propfind(&self.base, 1).await? else {
            return Ok(Vec::new());
        };
        Ok(entries
            .into_iter()
            .filter(|e| dav_xml::is_child(&e.href, self.base.path()))
            .filter_map(|e| {
                let name = dav_xml::last_segment(&e.href)?;
                if e.collection {
                    name.strip_suffix(SEGMENTS_SUFFIX).map(str::to_owned)
                } else {
                    Some(name)
                }
            })
            .collect())
    }

    /// `PROPFIND` with depth 0 or 1; `None` when the resource does not exist.
    async fn propfind(&self, url: &Url, depth: u8) -> Result<Option<Vec<Entry>>, StoreError> {
        let body = dav_xml::PROPFIND_BODY;
        let resp = self
            .send(
                &format!("listing {}", url.path()),
                || {
                    self.request(dav("PROPFIND"), url.clone())
                        .header("Depth", depth.to_string())
                        .header("Content-Type", "application/xml; charset=utf-8")
                        .body(body)
                },
                &[StatusCode::NOT_FOUND],
            )
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let text = read_capped(resp, dav_xml::MAX_BODY, "the server's listing").await?;
        dav_xml::parse_multistatus(&text)
            .map(Some)
            .map_err(|e| StoreError::new(StoreErrorKind::Other, format!("{}: {e}", url.path())))
    }

    /// Makes sure the base folder exists, creating it and any missing parents.
    async fn make_root(&self) -> Result<(), StoreError> {
        if self.propfind(&self.base, 0).await?.is_some() {
            return Ok(());
        }
        // Walk up to the deepest folder that exists, then create the rest downwards.
        let mut missing = vec![self.base.clone()];
        while let Some(up) = parent(missing.last().unwrap_or(&self.base)) {
            if self.propfind(&up, 0).await?.is_some() {
                break;
            }
            missing.push(up);
        }
        for url in missing.iter().rev() {
            self.send(
                &format!("creating the folder {}", url.path()),
                || self.request(dav("MKCOL"), url.clone()),
                &[StatusCode::METHOD_NOT_ALLOWED],
            )
            .await?;
        }
        Ok(())
    }

    /// Moves a temporary name onto its real one, replacing what was there.
    async fn move_onto(&self, from: &Url, to: &Url) -> Result<(), StoreError> {
        self.send(
            &format!("moving {} into place", to.path()),
            || {
                self.request(dav("MOVE"), from.clone())
                    .header("Destination", to.as_str())
                    .header("Overwrite", "T")
            },
            &[],
        )
        .await
        .map(|_| ())
    }

    async fn delete_url(&self, url: &Url) -> Result<(), StoreError> {
        self.send(
            &format!("deleting {}", url.path()),
            || self.request(Method::DELETE, url.clone()),
            &[StatusCode::NOT_FOUND],
        )
        .await
        .map(|_| ())
    }

    /// The segment URLs of `name`, in order, when it is stored in segments.
    async fn segments(&self, name: &str) -> Result<Option<Vec<Url>>, StoreError> {
        let folder = self.url(&format!("{}{SEGMENTS_SUFFIX}", names::single(name)?), true)?;
        let Some(entries) = self.propfind(&folder, 1).await? else {
            return Ok(None);
        };
        let mut names: Vec<String> = entries
            .into_iter()
            .filter(|e| !e.collection && dav_xml::is_child(&e.href, folder.path()))
            .filter_map(|e| dav_xml::last_segment(&e.href))
            // Lifeboat numbers its segments; anything else in the folder is not one of them.
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .collect();
        names.sort();
        Ok(Some(
            names
                .iter()
                .map(|n| {
                    let mut u = folder.clone();
                    u.set_path(&format!("{}{n}", folder.path()));
                    u
                })
                .collect(),
        ))
    }

    /// Opens a GET for streaming; `None` on 404.
    async fn get(&self, url: &Url) -> Result<Option<reqwest::Response>, StoreError> {
        let r = self
            .send(
                &format!("reading {}", url.path()),
                || self.request(Method::GET, url.clone()),
                &[StatusCode::NOT_FOUND],
            )
            .await?;
        Ok((r.status() != StatusCode::NOT_FOUND).then_some(r))
    }
}

/// Reads a response's body whole, refusing one larger than `cap` bytes (said as `what`): a
/// server's answer is read under a limit, whatever it claims to be.
async fn read_capped(resp: reqwest::Response, cap: u64, what: &str) -> Result<String, StoreError> {
    if let Some(len) = resp.content_length().filter(|l| *l > cap) {
        return Err(too_long(what, len, cap));
    }
    let mut out = Vec::new();
    let mut body = resp.bytes_stream();
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(|e| transport_error(&format!("reading {what}"), &e))?;
        if (out.len() + piece.len()) as u64 > cap {
            return Err(too_long(what, (out.len() + piece.len()) as u64, cap));
        }
        out.extend_from_slice(&piece);
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn too_long(what: &str, len: u64, cap: u64) -> StoreError {
    StoreError::new(
        StoreErrorKind::Other,
        format!(
            "{what} is more than {cap} bytes ({len} so far): refused; a folder of backups is \
             listed in far less, so the server (or something in front of it) is not answering \
             as a WebDAV server should"
        ),
    )
}

/// A WebDAV method. The names are valid HTTP tokens, so this cannot fail; were it to, OPTIONS
/// changes nothing on the server and the request's answer says so.
fn dav(name: &'static str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap_or(Method::OPTIONS)
}

/// The folder above `url`, while it stays on the same server.
fn parent(url: &Url) -> Option<Url> {
    let path = url.path().trim_end_matches('/');
    let cut = path.rfind('/')?;
    if cut == 0 {
        return None;
    }
    let mut p = url.clone();
    p.set_path(&path[..=cut]);
    Some(p)
}

/// Classifies an HTTP status where it leaves the server.
fn status_error(what: &str, status: StatusCode, segmented: bool) -> StoreError {
    let code = status.as_u16();
    let (kind, hint) = match code {
        401 => (
            StoreErrorKind::Denied,
            "the credentials were refused: check username and password (Nextcloud: an app \
             password from Settings → Security)"
                .to_owned(),
        ),
        403 => (
            StoreErrorKind::Denied,
            "the credentials were refused or lack permission to write there".to_owned(),
        ),
        404 => (StoreErrorKind::NotFound, "not found".to_owned()),
        409 => (
            StoreErrorKind::Config,
            "a parent folder is missing or is a file".to_owned(),
        ),
        413 if segmented => (
            StoreErrorKind::Config,
            "the server, or a proxy in front of it, refused a request this large: lower \
             segment_mb below its limit"
                .to_owned(),
        ),
        413 => (
            StoreErrorKind::Config,
            "the server, or a proxy in front of it, caps the size of a request: set segment_mb \
             on this destination (50 suits most proxies) to upload in pieces"
                .to_owned(),
        ),
        507 => (
            StoreErrorKind::Full,
            "the server has no space left for it".to_owned(),
        ),
        408 | 423 | 425 | 429 | 500 | 502 | 503 | 504 => (
            StoreErrorKind::Unavailable,
            "the server failed in passing".to_owned(),
        ),
        _ => (StoreErrorKind::Other, "unexpected answer".to_owned()),
    };
    let e = StoreError::new(kind, format!("{what}: HTTP {code}: {hint}"));
    match code {
        401 => e.because(Cause::Credentials),
        507 => e.because(Cause::Full),
        _ => e,
    }
}

/// Classifies a transport failure (no answer, or the answer broke off).
fn transport_error(what: &str, e: &reqwest::Error) -> StoreError {
    // reqwest's message carries the URL, which holds no credentials (those go in a header).
    let mut detail = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        detail = format!("{detail}: {c}");
        cause = c.source();
    }
    if e.is_builder() {
        return StoreError::new(StoreErrorKind::Config, format!("{what}: {detail}"));
    }
    if detail.contains("certificate") {
        return StoreError::new(
            StoreErrorKind::Config,
            format!(
                "{what}: the server's certificate is not trusted: {detail}; if it is your own \
                 server's self-signed certificate, pin it with certificate_sha256"
            ),
        )
        .because(Cause::Certificate);
    }
    StoreError::unavailable(format!(
        "{what}: the server could not be reached or broke off: {detail}"
    ))
}

/// One PUT in flight, fed through a bounded channel.
struct Upload {
    tx: Option<mpsc::Sender<Result<Bytes, std::io::Error>>>,
    task: Option<JoinHandle<Result<(), StoreError>>>,
    /// How long the request may take no data.
    silence: Duration,
}

impl Upload {
    fn start(inner: &Arc<Inner>, url: Url) -> Self {
        let (tx, rx) = mpsc::channel(QUEUED_CHUNKS);
        let silence = inner.silence;
        let inner = Arc::clone(inner);
        let task = tokio::spawn(async move {
            let what = format!("uploading {}", url.path());
            let resp = inner
                .upload_request(url)
                .body(reqwest::Body::wrap_stream(rx))
                .send()
                .await
                .map_err(|e| transport_error(&what, &e))?;
            let status = resp.status();
            if status.is_success() {
                Ok(())
            } else {
                Err(status_error(&what, status, inner.segment.is_some()))
            }
        });
        Self {
            tx: Some(tx),
            task: Some(task),
            silence,
        }
    }

    /// The request's own outcome, once it has ended.
    async fn outcome(&mut self) -> Result<(), StoreError> {
        let Some(task) = self.task.take() else {
            return Err(StoreError::new(
                StoreErrorKind::Other,
                "the upload already ended",
            ));
        };
        task.await.unwrap_or_else(|e| {
            Err(StoreError::new(
                StoreErrorKind::Other,
                format!("the upload task failed: {e}"),
            ))
        })
    }

    async fn send(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        let sent = match self.tx.as_mut() {
            Some(tx) => tokio::time::timeout(self.silence, tx.send(Ok(chunk)))
                .await
                .map(|r| r.is_ok()),
            None => Ok(false),
        };
        match sent {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(_) => {
                // The connection is stuck: no byte has gone out for that long.
                let why = format!(
                    "the server took no data for {} s: the upload was given up",
                    self.silence.as_secs()
                );
                return Err(self.give_up(why));
            }
        }
        // The request ended early (refused, or the connection dropped): say why.
        self.tx = None;
        match self.outcome().await {
            Err(e) => Err(e),
            Ok(()) => Err(StoreError::unavailable(
                "the server answered before the upload was complete",
            )),
        }
    }

    async fn finish(mut self) -> Result<(), StoreError> {
        self.tx = None;
        let wait = answer_time(self.silence);
        match tokio::time::timeout(wait, self.outcome()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(self.give_up(format!(
                "the server did not answer within {} s of the upload's end",
                wait.as_secs()
            ))),
        }
    }

    /// Breaks off a request that went silent, and says why.
    fn give_up(&mut self, why: String) -> StoreError {
        self.tx = None;
        if let Some(task) = self.task.take() {
            task.abort();
        }
        StoreError::unavailable(why)
    }

    /// Breaks the request off, so the server never sees a complete body.
    async fn cancel(mut self) {
        if let Some(mut tx) = self.tx.take() {
            let _ = tx.try_send(Err(std::io::Error::other("upload aborted")));
        }
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// An upload: one streaming PUT, or numbered segments in the temporary folder.
struct DavFile {
    inner: Arc<Inner>,
    /// The file, or the folder of segments.
    temp: Url,
    current: Option<Upload>,
    /// Bytes in the current segment, and the next segment's number.
    in_segment: u64,
    next_segment: u32,
}

impl DavFile {
    fn segment_url(&self, n: u32) -> Url {
        let mut u = self.temp.clone();
        u.set_path(&format!("{}{n:06}", self.temp.path()));
        u
    }

    fn open_next(&mut self) -> &mut Upload {
        let url = if self.inner.segment.is_some() {
            let u = self.segment_url(self.next_segment);
            self.next_segment += 1;
            u
        } else {
            self.temp.clone()
        };
        self.in_segment = 0;
        self.current.insert(Upload::start(&self.inner, url))
    }
}

#[async_trait]
impl RemoteFile for DavFile {
    async fn write(&mut self, mut chunk: Bytes) -> Result<(), StoreError> {
        let Some(limit) = self.inner.segment else {
            let upload = match self.current.as_mut() {
                Some(u) => u,
                None => self.open_next(),
            };
            return upload.send(chunk).await;
        };
        while !chunk.is_empty() {
            let room = limit - self.in_segment;
            let piece =
                chunk.split_to(usize::try_from(room).unwrap_or(usize::MAX).min(chunk.len()));
            let len = piece.len() as u64;
            let upload = match self.current.as_mut() {
                Some(u) => u,
                None => self.open_next(),
            };
            upload.send(piece).await?;
            self.in_segment += len;
            if self.in_segment >= limit
                && let Some(full) = self.current.take()
            {
                full.finish().await?;
            }
        }
        Ok(())
    }

    async fn close(mut self: Box<Self>) -> Result<(), StoreError> {
        // An empty object still takes its one request; a last segment that just filled up is
        // already finished.
        if self.current.is_none() && (self.inner.segment.is_none() || self.next_segment == 0) {
            self.open_next();
        }
        match self.current.take() {
            Some(upload) => upload.finish().await,
            None => Ok(()),
        }
    }

    async fn discard(mut self: Box<Self>) {
        if let Some(u) = self.current.take() {
            u.cancel().await;
        }
    }
}

impl Dav {
    /// Where `name` is while it is written: a file, or with segments a folder.
    fn streamed(&self, name: &str) -> Result<Url, StoreError> {
        if self.inner.segment.is_some() {
            self.inner
                .url(&format!("{}{SEGMENTS_SUFFIX}", names::single(name)?), true)
        } else {
            self.inner.url(name, false)
        }
    }
}

#[async_trait]
impl Remote for Dav {
    async fn make_folder(&self) -> Result<(), StoreError> {
        self.inner.make_root().await
    }

    async fn create(
        &self,
        name: &str,
        _size: Option<u64>,
    ) -> Result<Box<dyn RemoteFile>, StoreError> {
        let inner = &self.inner;
        let temp = self.streamed(name)?;
        if inner.segment.is_some() {
            inner
                .send(
                    &format!("creating {}", temp.path()),
                    || inner.request(dav("MKCOL"), temp.clone()),
                    &[StatusCode::METHOD_NOT_ALLOWED],
                )
                .await?;
        }
        Ok(Box::new(DavFile {
            inner: Arc::clone(inner),
            temp,
            current: None,
            in_segment: 0,
            next_segment: 0,
        }))
    }

    async fn put(&self, name: &str, data: Bytes) -> Result<(), StoreError> {
        let inner = &self.inner;
        let url = inner.url(name, false)?;
        inner
            .send(
                &format!("uploading {name}"),
                || inner.request(Method::PUT, url.clone()).body(data.clone()),
                &[],
            )
            .await
            .map(drop)
    }

    async fn rename(&self, from: &str, to: &str, written: Written) -> Result<(), StoreError> {
        let inner = &self.inner;
        match written {
            Written::Streamed => {
                inner
                    .move_onto(&self.streamed(from)?, &self.streamed(to)?)
                    .await
            }
            Written::Put => {
                inner
                    .move_onto(&inner.url(from, false)?, &inner.url(to, false)?)
                    .await
            }
        }
    }

    async fn remove(&self, name: &str) -> Result<(), StoreError> {
        let inner = &self.inner;
        inner.delete_url(&inner.url(name, false)?).await?;
        inner
            .delete_url(&inner.url(&format!("{}{SEGMENTS_SUFFIX}", names::single(name)?), true)?)
            .await
    }

    async fn names(&self) -> Result<Vec<String>, StoreError> {
        self.inner.names().await
    }

    async fn open(&self, name: &str) -> Result<Box<dyn AsyncRead + Send + Unpin>, StoreError> {
        let inner = &self.inner;
        let urls = match inner.get(&inner.url(name, false)?).await? {
            Some(resp) => {
                let stream = resp.bytes_stream().map_err(std::io::Error::other);
                return Ok(Box::new(tokio_util::io::StreamReader::new(stream)));
            }
            None => inner.segments(name).await?.ok_or_else(|| {
                StoreError::new(StoreErrorKind::NotFound, format!("not found: {name}"))
            })?,
        };
        let inner = Arc::clone(inner);
        let stream = futures::stream::iter(urls)
            .then(move |url| {
                let inner = Arc::clone(&inner);
                async move {
                    match inner.get(&url).await {
                        Ok(Some(r)) => Ok(r.bytes_stream().map_err(std::io::Error::other)),
                        Ok(None) => Err(std::io::Error::other(format!(
                            "segment {} vanished while reading",
                            url.path()
                        ))),
                        Err(e) => Err(std::io::Error::other(e)),
                    }
                }
            })
            .try_flatten();
        Ok(Box::new(tokio_util::io::StreamReader::new(Box::pin(
            stream,
        ))))
    }

    async fn read(&self, name: &str, limit: u64) -> Result<Vec<u8>, StoreError> {
        let inner = &self.inner;
        let too_big = |len: u64| {
            StoreError::new(
                StoreErrorKind::Other,
                format!("{name} is {len} bytes, more than the {limit} expected"),
            )
        };
        let Some(resp) = inner.get(&inner.url(name, false)?).await? else {
            if inner.segments(name).await?.is_some() {
                return Err(StoreError::new(
                    StoreErrorKind::Other,
                    format!("{name} is stored in pieces, more than the {limit} bytes expected"),
                ));
            }
            return Err(StoreError::new(
                StoreErrorKind::NotFound,
                format!("not found: {name}"),
            ));
        };
        if let Some(len) = resp.content_length().filter(|l| *l > limit) {
            return Err(too_big(len));
        }
        let mut out = Vec::new();
        let mut body = resp.bytes_stream();
        while let Some(piece) = body.next().await {
            let piece = piece.map_err(|e| transport_error(&format!("reading {name}"), &e))?;
            out.extend_from_slice(&piece);
            if out.len() as u64 > limit {
                return Err(too_big(out.len() as u64));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_stop_at_the_server() {
        let u = Url::parse("https://h/remote.php/dav/files/a/").unwrap();
        let p = parent(&u).unwrap();
        assert_eq!(p.path(), "/remote.php/dav/files/");
        let top = Url::parse("https://h/backups/").unwrap();
        assert!(parent(&top).is_none());
    }

    #[test]
    fn names_are_encoded_under_the_base() {
        let inner = Inner::new(WebdavSettings {
            url: Url::parse("http://h/dav/HA backups").unwrap(),
            username: "u".into(),
            password: Secret::new("p"),
            segment: None,
            clients: clients(None, Duration::from_secs(1)).unwrap(),
            silence: Duration::from_secs(1),
        });
        assert_eq!(
            inner.url("a b.tar.age", false).unwrap().as_str(),
            "http://h/dav/HA%20backups/a%20b.tar.age"
        );
        assert!(
            inner
                .url("x.segments", true)
                .unwrap()
                .as_str()
                .ends_with("/x.segments/")
        );
    }

    #[test]
    fn a_name_that_leaves_the_folder_is_never_a_url() {
        let inner = Inner::new(WebdavSettings {
            url: Url::parse("http://h/dav/HA backups/").unwrap(),
            username: "u".into(),
            password: Secret::new("p"),
            segment: None,
            clients: clients(None, Duration::from_secs(1)).unwrap(),
            silence: Duration::from_secs(1),
        });
        for bad in ["..", ".", "", "../x", "/abs", "a/../../b", "..\\x"] {
            assert!(inner.url(bad, false).is_err(), "{bad:?}");
        }
        // What is not a dot segment stays a name inside the folder, encoded.
        assert_eq!(
            inner.url("%2e%2e", false).unwrap().as_str(),
            "http://h/dav/HA%20backups/%252e%252e"
        );
    }

    /// A server that answers every request with a `207` whose body never ends below `size`.
    async fn endless_listing(size: usize) -> Url {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n")
                        && conn.read(&mut byte).await.is_ok_and(|n| n == 1)
                    {
                        head.push(byte[0]);
                    }
                    // Take the request's body too, so closing the connection resets nothing.
                    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                    let body = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|n| n.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    let mut skip = vec![0u8; body];
                    let _ = conn.read_exact(&mut skip).await;
                    let _ = conn
                        .write_all(
                            b"HTTP/1.1 207 Multi-Status\r\nContent-Type: application/xml\r\n\
                              Connection: close\r\n\r\n<d:multistatus xmlns:d=\"DAV:\">",
                        )
                        .await;
                    let filler = vec![b' '; 1 << 20];
                    let mut sent = 0;
                    while sent < size && conn.write_all(&filler).await.is_ok() {
                        sent += filler.len();
                    }
                    let _ = conn.write_all(b"</d:multistatus>").await;
                    let _ = conn.shutdown().await;
                    let _ = conn.read_to_end(&mut Vec::new()).await;
                });
            }
        });
        Url::parse(&format!("http://{at}/dav/")).unwrap()
    }

    #[tokio::test]
    async fn a_listing_larger_than_the_cap_is_refused_not_read_whole() {
        let cap = usize::try_from(dav_xml::MAX_BODY).unwrap();
        let inner = Inner::new(WebdavSettings {
            url: endless_listing(cap + (1 << 20)).await,
            username: "u".into(),
            password: Secret::new("p"),
            segment: None,
            clients: clients(None, Duration::from_secs(10)).unwrap(),
            silence: Duration::from_secs(10),
        });
        let e = inner.names().await.unwrap_err();
        assert!(
            e.message.contains("the server's listing is more than"),
            "{e}"
        );
    }

    #[test]
    fn statuses_are_classified() {
        assert_eq!(
            status_error("x", StatusCode::UNAUTHORIZED, false).kind,
            StoreErrorKind::Denied
        );
        let e = status_error("x", StatusCode::PAYLOAD_TOO_LARGE, false);
        assert!(e.message.contains("segment_mb") && !e.is_retryable());
        assert!(status_error("x", StatusCode::SERVICE_UNAVAILABLE, false).is_retryable());
        let full = status_error("x", StatusCode::INSUFFICIENT_STORAGE, false);
        assert_eq!(full.kind, StoreErrorKind::Full);
        // 401 is the credentials; 403 may be a right to write that is missing (the step says).
        let said = |s| status_error("x", s, false).said;
        assert_eq!(said(StatusCode::UNAUTHORIZED), Some(Cause::Credentials));
        assert_eq!(said(StatusCode::FORBIDDEN), None);
        // A proxy's cap on one request is not a full server.
        assert_ne!(said(StatusCode::PAYLOAD_TOO_LARGE), Some(Cause::Full));
    }
}
