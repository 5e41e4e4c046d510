//! [`Store`] over a local folder (a USB disk, `/share`, a mounted NAS share). OpenDAL does the
//! writing (a temp file, flushed, renamed, the folder flushed), but only writing makes the folder:
//! listing, reading and deleting in a folder that is not there find nothing and create nothing, so
//! looking at an unplugged disk never leaves an empty folder where it was mounted.

use super::opendal_store::{OpendalStore, retrying, timed};
use super::retry::Retrying;
use super::{ObjectWriter, Patience, Store, StoreError, StoreErrorKind};
use async_trait::async_trait;
use opendal::Operator;
use std::path::PathBuf;
use tokio::io::AsyncRead;
use tokio::sync::OnceCell;

pub use super::layout::LOCAL_PARTIAL_DIR;

/// A local folder as a store.
pub struct FolderStore {
    path: PathBuf,
    patience: Patience,
    /// Made at the first write (making it creates the folder).
    inner: OnceCell<Retrying<OpendalStore>>,
}

impl FolderStore {
    /// A store for the folder at `path`. Nothing is touched yet.
    pub fn new(path: PathBuf, patience: Patience) -> Self {
        Self {
            path,
            patience,
            inner: OnceCell::new(),
        }
    }

    /// The OpenDAL store, once the folder exists or is about to be written.
    async fn open(&self) -> Result<&Retrying<OpendalStore>, StoreError> {
        self.inner
            .get_or_try_init(|| async {
                let builder = opendal::services::Fs::default()
                    .root(&self.path.to_string_lossy())
                    .atomic_write_dir(&self.path.join(LOCAL_PARTIAL_DIR).to_string_lossy());
                let store = timed(Operator::new(builder), Vec::new(), self.patience)?;
                Ok(retrying(store.syncing(self.path.clone()), self.patience))
            })
            .await
    }

    /// The store when the folder is there; `None` when it is not (nothing to read).
    async fn existing(&self) -> Result<Option<&Retrying<OpendalStore>>, StoreError> {
        if let Some(s) = self.inner.get() {
            return Ok(Some(s));
        }
        match tokio::fs::metadata(&self.path).await {
            Ok(m) if m.is_dir() => self.open().await.map(Some),
            Ok(_) => Err(StoreError::new(
                StoreErrorKind::Config,
                format!("{} is a file, not a folder", self.path.display()),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::new(
                StoreErrorKind::Other,
                format!("cannot look at {}: {e}", self.path.display()),
            )),
        }
    }

    fn missing(&self, path: &str) -> StoreError {
        StoreError::new(
            StoreErrorKind::NotFound,
            format!("{path}: {} does not exist", self.path.display()),
        )
    }
}

#[async_trait]
impl Store for FolderStore {
    async fn writer(
        &self,
        path: &str,
        size_hint: Option<u64>,
    ) -> Result<Box<dyn ObjectWriter>, StoreError> {
        self.open().await?.writer(path, size_hint).await
    }

    async fn reader(&self, path: &str) -> Result<Box<dyn AsyncRead + Send + Unpin>, StoreError> {
        match self.existing().await? {
            Some(s) => s.reader(path).await,
            None => Err(self.missing(path)),
        }
    }

    async fn read_small(&self, path: &str, limit: u64) -> Result<Vec<u8>, StoreError> {
        match self.existing().await? {
            Some(s) => s.read_small(path, limit).await,
            None => Err(self.missing(path)),
        }
    }

    async fn write_small(&self, path: &str, data: Vec<u8>) -> Result<(), StoreError> {
        self.open().await?.write_small(path, data).await
    }

    async fn list(&self) -> Result<Vec<String>, StoreError> {
        match self.existing().await? {
            Some(s) => s.list().await,
            None => Ok(Vec::new()),
        }
    }

    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        match self.existing().await? {
            Some(s) => s.delete(path).await,
            None => Ok(()),
        }
    }

    async fn unfinished(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.path.join(LOCAL_PARTIAL_DIR);
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(cannot_list(&dir, &e)),
        };
        let mut names = Vec::new();
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|e| cannot_list(&dir, &e))?
        {
            if let Some(name) = entry.file_name().to_str() {
                names.push(format!("{LOCAL_PARTIAL_DIR}/{name}"));
            }
        }
        Ok(names)
    }
}

fn cannot_list(dir: &std::path::Path, e: &std::io::Error) -> StoreError {
    StoreError::new(
        StoreErrorKind::Other,
        format!("cannot list {}: {e}", dir.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_writing_makes_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usb").join("ha");
        let store = FolderStore::new(path.clone(), Patience::default());
        assert!(store.list().await.unwrap().is_empty());
        assert_eq!(
            store.read_small("a.json", 10).await.unwrap_err().kind,
            StoreErrorKind::NotFound
        );
        assert!(store.reader("a.tar.age").await.is_err());
        store.delete("a.json").await.unwrap();
        assert!(!dir.path().join("usb").exists(), "nothing was made");

        store.write_small("a.json", b"{}".to_vec()).await.unwrap();
        assert_eq!(store.list().await.unwrap(), ["a.json"]);
        assert_eq!(store.read_small("a.json", 10).await.unwrap(), b"{}");
    }
}
