//! [`Store`] over an OpenDAL operator: S3-compatible, Azure Blob and local folders all stream
//! through it (multipart parts, Azure blocks, or a temp file flushed, renamed on commit, and its
//! folder flushed). Whole requests are tried again by the one retry policy around the store
//! ([`layered`]); only inside a stream, which that layer cannot send again, does OpenDAL's own
//! retry layer resend a part or resume a read where it broke off.

use super::manifest::Part;
use super::names;
use super::probe::Cause;
use super::retry::{Policy, Retrying};
use super::{ObjectWriter, Patience, Store, StoreError, StoreErrorKind, part_size};
use crate::secret::Secret;
use async_trait::async_trait;
use bytes::Bytes;
use opendal::layers::{RetryLayer, TimeoutLayer};
use opendal::{ErrorKind, Operator};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncRead;
use tokio_util::compat::FuturesAsyncReadCompatExt;

/// A listing with more objects than this is refused (a folder of backups holds hundreds).
const MAX_LISTED: usize = 100_000;

/// Parts uploaded at once per upload. OpenDAL holds one part being filled and one ready besides,
/// so an upload holds up to part size × (this + 2): 15 MiB with one. A second in flight would hide
/// the round trip that ends each part, but measured through a shaped link it bought 2 % at
/// 50 Mbit/s and 7 % at 200 Mbit/s (40 ms round trip) for 5 MiB more per upload: on a home uplink
/// and a Raspberry Pi, memory is worth more.
const UPLOAD_CONCURRENCY: usize = 1;
// Reads are one streaming request for the whole object, not ranges. Ranged reads pay the
// server's cost of a request for every range: against s3s-fs it is some 40 ms whatever the size
// (1 MiB ranges, one at a time, 24 MiB/s; 16 MiB ranges 108 MiB/s; one stream 168 MiB/s), and
// read-back of a 1 GiB copy in 1 MiB ranges three at once took 16 s where one stream takes half
// that. A stream also holds no range in the HTTP client's buffers, and OpenDAL's retry layer
// resumes a broken stream where it stopped, so nothing is read twice.

/// A store backed by an OpenDAL operator (already rooted at the destination's prefix).
pub struct OpendalStore {
    /// For whole requests, each sent once (the retry layer around the store sends them again).
    op: Operator,
    /// For streams: `op` with OpenDAL's retry layer, which resends a part of an upload and
    /// resumes a read where it broke off.
    streams: Operator,
    /// Credentials that must never appear in an error (a SAS token travels in request URLs).
    secrets: Vec<Secret>,
    /// For a local folder: the folder to flush after a rename, so that a committed copy survives
    /// a power cut or a pulled USB disk (the file itself is flushed before its rename).
    sync_dir: Option<PathBuf>,
}

impl OpendalStore {
    /// Wraps an operator, `streams` being the same with retries inside a stream; `secrets` are
    /// scrubbed from every error message.
    pub fn new(op: Operator, streams: Operator, secrets: Vec<Secret>) -> Self {
        Self {
            op,
            streams,
            secrets,
            sync_dir: None,
        }
    }

    /// Flushes `dir` after every commit (local folders).
    #[must_use]
    pub fn syncing(mut self, dir: PathBuf) -> Self {
        self.sync_dir = Some(dir);
        self
    }

    fn err(&self, e: opendal::Error) -> StoreError {
        let mut out = classify(&e);
        out.message = redact(&out.message, &self.secrets);
        out
    }

    async fn size(&self, path: &str) -> Result<u64, StoreError> {
        let meta = self.op.stat(path).await.map_err(|e| self.err(e))?;
        Ok(meta.content_length())
    }
}

/// Removes secrets, and any URL signature, from a message.
pub fn redact(message: &str, secrets: &[Secret]) -> String {
    let mut out = message.to_owned();
    for s in secrets.iter().filter(|s| s.expose().len() >= 4) {
        out = out.replace(s.expose(), "***");
    }
    // Signed URLs (Azure SAS, S3 presigned) carry their signature as a query parameter.
    for key in ["sig=", "X-Amz-Signature=", "X-Amz-Credential="] {
        let mut from = 0;
        while let Some(pos) = out[from..].find(key) {
            let start = from + pos + key.len();
            let end = out[start..]
                .find(|c: char| c == '&' || c == ',' || c == '"' || c.is_whitespace())
                .map_or(out.len(), |e| start + e);
            out.replace_range(start..end, "***");
            from = start + 3;
        }
    }
    out
}

/// Classifies an OpenDAL error where it leaves the backend. An error OpenDAL marks temporary (a
/// 5xx, a dropped connection) and gives no kind of its own is a passing failure; a not-found, a
/// refusal or a bad configuration keeps its kind, and so is not tried again, whatever its mark.
/// The message carries every error underneath (the lookup or the refused connection that made
/// "error sending request"), and the cause is read from the service's own error code.
pub fn classify(e: &opendal::Error) -> StoreError {
    let io = io_kind(e);
    let kind = match e.kind() {
        ErrorKind::NotFound => StoreErrorKind::NotFound,
        ErrorKind::PermissionDenied => StoreErrorKind::Denied,
        _ if io == Some(std::io::ErrorKind::PermissionDenied) => StoreErrorKind::Denied,
        ErrorKind::ConfigInvalid | ErrorKind::Unsupported => StoreErrorKind::Config,
        ErrorKind::RateLimited => StoreErrorKind::Unavailable,
        _ if e.is_temporary() => StoreErrorKind::Unavailable,
        _ => StoreErrorKind::Other,
    };
    let hint = match kind {
        StoreErrorKind::Denied => "the credentials were refused or lack permission: ",
        StoreErrorKind::NotFound => "not found: ",
        _ => "",
    };
    let message = format!("{hint}{}", super::error_chain(e));
    let said = service_cause(&message).or(match io {
        Some(std::io::ErrorKind::ConnectionRefused) => Some(Cause::Refused),
        Some(std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem) => {
            Some(Cause::NoWrite)
        }
        _ => None,
    });
    let out = StoreError::new(kind, message);
    match said {
        Some(c) => out.because(c),
        None => out,
    }
}

/// The kind of the first I/O error under `e`, if any (a refused connection, a folder that may
/// not be written).
fn io_kind(e: &opendal::Error) -> Option<std::io::ErrorKind> {
    let mut at: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = at {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        at = err.source();
    }
    None
}

/// The cause an S3 or Azure error code names (the code is in the answer OpenDAL quotes). Azure's
/// `AuthorizationFailure` is left to the step: Azurite answers it to a wrong account key, Azure
/// to a signed-in request its rules refuse.
fn service_cause(message: &str) -> Option<Cause> {
    const CODES: [(&str, Cause); 7] = [
        ("InvalidAccessKeyId", Cause::Credentials),
        ("SignatureDoesNotMatch", Cause::Credentials),
        ("AuthenticationFailed", Cause::Credentials),
        ("InvalidAuthenticationInfo", Cause::Credentials),
        ("NoSuchBucket", Cause::Missing),
        ("ContainerNotFound", Cause::Missing),
        ("AuthorizationPermissionMismatch", Cause::NoWrite),
    ];
    CODES
        .iter()
        .find(|(code, _)| message.contains(code))
        .map(|(_, cause)| *cause)
}

struct OpendalWriter {
    inner: opendal::Writer,
    secrets: Vec<Secret>,
    sync_dir: Option<PathBuf>,
}

/// Makes a rename in `dir` durable.
async fn sync_dir(dir: Option<&Path>) -> Result<(), StoreError> {
    let Some(dir) = dir else { return Ok(()) };
    let done = async { tokio::fs::File::open(dir).await?.sync_all().await }.await;
    done.map_err(|e| StoreError::unavailable(format!("flushing {} to disk: {e}", dir.display())))
}

impl OpendalWriter {
    fn err(&self, e: opendal::Error) -> StoreError {
        let mut out = classify(&e);
        out.message = redact(&out.message, &self.secrets);
        out
    }
}

#[async_trait]
impl ObjectWriter for OpendalWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        let r = self.inner.write(chunk).await;
        r.map_err(|e| self.err(e))
    }

    async fn finish(mut self: Box<Self>) -> Result<Vec<Part>, StoreError> {
        let r = self.inner.close().await;
        r.map_err(|e| self.err(e))?;
        sync_dir(self.sync_dir.as_deref()).await?;
        Ok(Vec::new())
    }

    async fn abort(mut self: Box<Self>) -> Result<(), StoreError> {
        let r = self.inner.abort().await;
        r.map_err(|e| self.err(e))
    }
}

#[async_trait]
impl Store for OpendalStore {
    async fn writer(
        &self,
        path: &str,
        size_hint: Option<u64>,
    ) -> Result<Box<dyn ObjectWriter>, StoreError> {
        let inner = self
            .streams
            .writer_with(names::inside(path)?)
            .chunk(part_size(size_hint))
            .concurrent(UPLOAD_CONCURRENCY)
            .await
            .map_err(|e| self.err(e))?;
        Ok(Box::new(OpendalWriter {
            inner,
            secrets: self.secrets.clone(),
            sync_dir: self.sync_dir.clone(),
        }))
    }

    async fn reader(&self, path: &str) -> Result<Box<dyn AsyncRead + Send + Unpin>, StoreError> {
        let len = self.size(names::inside(path)?).await?;
        let reader = self.streams.reader(path).await.map_err(|e| self.err(e))?;
        let stream = reader
            .into_futures_async_read(0..len)
            .await
            .map_err(|e| self.err(e))?;
        Ok(Box::new(stream.compat()))
    }

    async fn read_small(&self, path: &str, limit: u64) -> Result<Vec<u8>, StoreError> {
        use futures::TryStreamExt;
        let too_big = |len: u64| {
            StoreError::new(
                StoreErrorKind::Other,
                format!("{path} is {len} bytes, more than the {limit} expected"),
            )
        };
        let len = self.size(names::inside(path)?).await?;
        if len > limit {
            return Err(too_big(len));
        }
        let mut out = Vec::new();
        if len == 0 {
            return Ok(out);
        }
        // Only the bytes the size said, read under the limit whatever the server sends.
        let reader = self.op.reader(path).await.map_err(|e| self.err(e))?;
        let mut stream = reader
            .into_bytes_stream(0..len)
            .await
            .map_err(|e| self.err(e))?;
        while let Some(piece) = stream
            .try_next()
            .await
            .map_err(|e| StoreError::unavailable(format!("reading {path}: {e}")))?
        {
            if (out.len() + piece.len()) as u64 > limit {
                return Err(too_big((out.len() + piece.len()) as u64));
            }
            out.extend_from_slice(&piece);
        }
        Ok(out)
    }

    async fn write_small(&self, path: &str, data: Vec<u8>) -> Result<(), StoreError> {
        let path = names::inside(path)?;
        self.op.write(path, data).await.map_err(|e| self.err(e))?;
        sync_dir(self.sync_dir.as_deref()).await
    }

    async fn list(&self) -> Result<Vec<String>, StoreError> {
        use futures::TryStreamExt;
        let mut lister = match self.op.lister("/").await {
            Ok(l) => l,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.err(e)),
        };
        // Page by page, refusing a listing no folder of backups makes.
        let mut names = Vec::new();
        let mut seen = 0usize;
        loop {
            let entry = match lister.try_next().await {
                Ok(Some(entry)) => entry,
                Ok(None) => return Ok(names),
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(self.err(e)),
            };
            seen += 1;
            if seen > MAX_LISTED {
                return Err(StoreError::new(
                    StoreErrorKind::Other,
                    format!(
                        "the listing holds more than {MAX_LISTED} objects: refused; a folder of \
                         backups holds hundreds, so point the destination at a folder of its own"
                    ),
                ));
            }
            if entry.metadata().is_file() {
                names.push(entry.name().to_owned());
            }
        }
    }

    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        match self.op.delete(names::inside(path)?).await {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(self.err(e)),
            _ => Ok(()),
        }
    }
}

/// An OpenDAL operator with time limits, as a store that scrubs `secrets` from its errors, its
/// whole requests tried again under the one policy ([`retrying`]).
pub(super) fn layered(
    op: opendal::Result<Operator>,
    secrets: Vec<Secret>,
    patience: Patience,
) -> Result<Retrying<OpendalStore>, StoreError> {
    Ok(retrying(timed(op, secrets, patience)?, patience))
}

/// `store` under the one retry policy, as `patience` sets it.
pub(super) fn retrying(store: OpendalStore, patience: Patience) -> Retrying<OpendalStore> {
    Retrying::around(store, Policy::patient(patience.silence))
}

/// An OpenDAL operator with time limits (each request, and each step of a stream, may take up to
/// `patience.silence`), as a store that scrubs `secrets` from its errors. Its streams resend a
/// part and resume a read by OpenDAL's retry layer: only there is the part, or the place where
/// the read broke off, still known.
pub(super) fn timed(
    op: opendal::Result<Operator>,
    secrets: Vec<Secret>,
    patience: Patience,
) -> Result<OpendalStore, StoreError> {
    let op = op.map_err(|e| classify(&e))?.layer(
        TimeoutLayer::new()
            .with_timeout(patience.silence)
            .with_io_timeout(patience.silence),
    );
    let streams = op.clone().layer(
        RetryLayer::new()
            .with_max_times(4)
            .with_jitter()
            .with_min_delay(Duration::from_millis(200)),
    );
    Ok(OpendalStore::new(op, streams, secrets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_and_known_secrets_are_scrubbed() {
        let msg = "PermissionDenied at write, uri: http://h/c/o?sv=2021&sig=AbC%2Fdef%3D&se=2026 key=topsecretkey";
        let out = redact(msg, &[Secret::new("topsecretkey")]);
        assert!(
            !out.contains("AbC%2Fdef") && !out.contains("topsecretkey"),
            "{out}"
        );
        assert!(
            out.contains("sig=***&se=2026") && out.contains("key=***"),
            "{out}"
        );
    }
}
