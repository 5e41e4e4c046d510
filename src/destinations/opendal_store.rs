//! [`Store`] over an OpenDAL operator: S3-compatible, Azure Blob and local folders all stream
//! through it (multipart parts, Azure blocks, or a temp file renamed on commit).

use super::{ObjectWriter, Store, StoreError, StoreErrorKind, part_size};
use async_trait::async_trait;
use bytes::Bytes;
use opendal::{ErrorKind, Operator};
use tokio::io::AsyncRead;
use tokio_util::compat::FuturesAsyncReadCompatExt;

/// Parts uploaded at once per upload; memory is about part size × this.
const UPLOAD_CONCURRENCY: usize = 2;
/// Read-back chunk size and concurrency.
const READ_CHUNK: usize = 8 << 20;
const READ_CONCURRENCY: usize = 2;

/// A store backed by an OpenDAL operator (already rooted at the destination's prefix).
pub struct OpendalStore {
    op: Operator,
}

impl OpendalStore {
    /// Wraps an operator.
    pub fn new(op: Operator) -> Self {
        Self { op }
    }
}

/// Classifies an OpenDAL error where it leaves the backend.
pub fn classify(e: &opendal::Error) -> StoreError {
    let kind = match e.kind() {
        ErrorKind::NotFound => StoreErrorKind::NotFound,
        ErrorKind::PermissionDenied => StoreErrorKind::Denied,
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
    StoreError {
        kind,
        retryable: e.is_temporary() || kind == StoreErrorKind::Unavailable,
        message: format!("{hint}{e}"),
    }
}

fn err(e: opendal::Error) -> StoreError {
    classify(&e)
}

struct OpendalWriter {
    inner: opendal::Writer,
}

#[async_trait]
impl ObjectWriter for OpendalWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        self.inner.write(chunk).await.map_err(err)
    }

    async fn finish(mut self: Box<Self>) -> Result<(), StoreError> {
        self.inner.close().await.map(|_| ()).map_err(err)
    }

    async fn abort(mut self: Box<Self>) -> Result<(), StoreError> {
        self.inner.abort().await.map_err(err)
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
            .op
            .writer_with(path)
            .chunk(part_size(size_hint))
            .concurrent(UPLOAD_CONCURRENCY)
            .await
            .map_err(err)?;
        Ok(Box::new(OpendalWriter { inner }))
    }

    async fn reader(&self, path: &str) -> Result<Box<dyn AsyncRead + Send + Unpin>, StoreError> {
        let len = self.op.stat(path).await.map_err(err)?.content_length();
        let reader = self
            .op
            .reader_with(path)
            .chunk(READ_CHUNK)
            .concurrent(READ_CONCURRENCY)
            .await
            .map_err(err)?;
        let stream = reader.into_futures_async_read(0..len).await.map_err(err)?;
        Ok(Box::new(stream.compat()))
    }

    async fn read_small(&self, path: &str, limit: u64) -> Result<Vec<u8>, StoreError> {
        let len = self.op.stat(path).await.map_err(err)?.content_length();
        if len > limit {
            return Err(StoreError::new(
                StoreErrorKind::Other,
                format!("{path} is {len} bytes, more than the {limit} expected"),
            ));
        }
        Ok(self.op.read(path).await.map_err(err)?.to_vec())
    }

    async fn write_small(&self, path: &str, data: Vec<u8>) -> Result<(), StoreError> {
        self.op.write(path, data).await.map(|_| ()).map_err(err)
    }

    async fn list(&self) -> Result<Vec<String>, StoreError> {
        match self.op.list("/").await {
            Ok(entries) => Ok(entries
                .into_iter()
                .filter(|e| e.metadata().is_file())
                .map(|e| e.name().to_owned())
                .collect()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(err(e)),
        }
    }

    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        match self.op.delete(path).await {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(err(e)),
            _ => Ok(()),
        }
    }
}
